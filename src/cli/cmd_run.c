// kvant run: generate text from a prompt, or continue text interactively, with
// the model's sampler settings; speeds go to stderr at the end.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kvant/kv_generate.h"
#include "kvant/kv_model.h"
#include "kvant/kv_tokenizer.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant run [-m] MODEL.gguf [PROMPT] [options]\n\n"
            "Generates a continuation of PROMPT and streams it to stdout. Without a prompt,\n"
            "reads lines from stdin and lets the model continue each one (interactive).\n\n"
            "  -m, --model F         the model (GGUF)\n"
            "  -f, --file F          read the prompt from a file\n"
            "  -n, --n-predict N     tokens to generate (default 128; -1: until end of text)\n"
            "  --temp T              temperature (default 0.8; 0: greedy)\n"
            "  --top-k K             keep the K most likely tokens (default 40; 0: off)\n"
            "  --top-p P             nucleus sampling (default 0.95; 1: off)\n"
            "  --min-p P             drop tokens below P x the top probability (default 0.05)\n"
            "  --repeat-penalty R    penalise repeated tokens (default 1.0: off)\n"
            "  --repeat-last-n N     tokens the penalties look back over (default 64)\n"
            "  --frequency-penalty F, --presence-penalty P   (default 0: off)\n"
            "  --seed S              random seed (default: from the clock)\n"
            "  --stop S              stop before this text (repeatable)\n"
            "  --ignore-eos          keep generating after end-of-text\n"
            "  -c, --ctx-size N      context length (default: the model's)\n"
            "  -t, --threads N       threads (default: all CPUs)\n"
            "  --no-display-prompt   print only the generated text\n");
}

typedef struct {
    const char *model, *prompt, *file;
    kv_gen_params gen;
    const char *stops[KV_GEN_MAX_STOP];
    int32_t n_ctx, n_threads;
    bool display_prompt, seed_set;
} run_opts;

static bool print_text(void *user, const char *text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

static int parse(int argc, char **argv, run_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (kv_cli_is_help(a)) {
            help(stdout);
            return -1;
        } else if (!strcmp(a, "--no-display-prompt")) {
            o->display_prompt = false, takes = false;
        } else if (!strcmp(a, "--ignore-eos")) {
            o->gen.ignore_eos = true, takes = false;
        } else if (!v && a[0] == '-' && a[1]) {
            return kv_cli_usage_error("run", "unknown or incomplete option '%s'", a);
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) o->file = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) o->gen.n_predict = atoi(v);
        else if (!strcmp(a, "--temp")) o->gen.sample.temp = (float)atof(v);
        else if (!strcmp(a, "--top-k")) o->gen.sample.top_k = atoi(v);
        else if (!strcmp(a, "--top-p")) o->gen.sample.top_p = (float)atof(v);
        else if (!strcmp(a, "--min-p")) o->gen.sample.min_p = (float)atof(v);
        else if (!strcmp(a, "--repeat-penalty")) o->gen.sample.penalty_repeat = (float)atof(v);
        else if (!strcmp(a, "--repeat-last-n")) o->gen.sample.penalty_last_n = atoi(v);
        else if (!strcmp(a, "--frequency-penalty")) o->gen.sample.penalty_freq = (float)atof(v);
        else if (!strcmp(a, "--presence-penalty")) o->gen.sample.penalty_present = (float)atof(v);
        else if (!strcmp(a, "--seed")) o->gen.sample.seed = strtoull(v, NULL, 10), o->seed_set = true;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) o->n_ctx = atoi(v);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) o->n_threads = atoi(v);
        else if (!strcmp(a, "--stop")) {
            if (o->gen.n_stop >= KV_GEN_MAX_STOP)
                return kv_cli_usage_error("run", "at most %d --stop strings", KV_GEN_MAX_STOP);
            o->stops[o->gen.n_stop++] = v;
        } else if (a[0] == '-' && a[1]) {
            return kv_cli_usage_error("run", "unknown option '%s'", a);
        } else {
            takes = false;
            if (!o->model) o->model = a;
            else if (!o->prompt) o->prompt = a;
            else return kv_cli_usage_error("run", "unexpected argument '%s'", a);
        }
        if (takes)
            i++;
    }
    if (!o->model)
        return kv_cli_usage_error("run", "missing MODEL");
    if (o->prompt && o->file)
        return kv_cli_usage_error("run", "give PROMPT or -f FILE, not both");
    o->gen.stop = o->stops;
    return 0;
}

static void print_speed(const kv_gen_result *r) {
    fprintf(stderr, "\nprompt: %d tokens in %.3f s (%.1f tokens/s); generation: %d tokens in %.3f s "
                    "(%.1f tokens/s); stop: %s\n",
            r->n_prompt, r->t_prompt_s, r->t_prompt_s > 0 ? r->n_prompt / r->t_prompt_s : 0.0,
            r->n_gen, r->t_gen_s, r->t_gen_s > 0 ? r->n_gen / r->t_gen_s : 0.0,
            kv_gen_stop_name(r->stop));
}

// One prompt, one continuation.
static kv_status run_once(kv_ctx *c, const kv_vocab *v, const char *text, size_t len,
                          run_opts *o, kv_err *err) {
    kv_token *ids = NULL;
    int64_t n = 0;
    kv_status st = kv_tokenize_alloc(v, text, len, true, true, &ids, &n, err);
    if (st == KV_OK && n == 0)
        st = KV_FAIL(err, KV_ERR_INVALID, "the prompt is empty");
    if (st == KV_OK && o->display_prompt)
        print_text(NULL, text, len);
    kv_gen_result r;
    if (st == KV_OK)
        st = kv_generate(c, v, 0, ids, n, &o->gen, &r, err);
    free(ids);
    if (st == KV_OK) {
        printf("\n");
        print_speed(&r);
    }
    return st;
}

// Reads lines; the model continues each one on the same context (cleared when full).
static kv_status run_interactive(kv_ctx *c, const kv_vocab *v, run_opts *o, kv_err *err) {
    bool tty = isatty(STDIN_FILENO);
    static const char *const NL[] = {"\n"};
    if (o->gen.n_stop == 0) { // a turn ends at the end of the line the model writes
        o->gen.stop = NL;
        o->gen.n_stop = 1;
    }
    char line[8192];
    bool first = true;
    while (true) {
        if (tty)
            fprintf(stderr, "> "), fflush(stderr);
        if (!fgets(line, sizeof line, stdin))
            return KV_OK;
        size_t len = strcspn(line, "\n");
        if (len == 0)
            continue;
        kv_token *ids = NULL;
        int64_t n = 0;
        kv_status st = kv_tokenize_alloc(v, line, len, first, true, &ids, &n, err);
        if (st == KV_OK && kv_ctx_seq_pos_max(c, 0) + 1 + n + 8 > kv_ctx_n_ctx(c)) {
            fprintf(stderr, "(context full: starting over)\n");
            kv_ctx_seq_clear(c, 0);
            free(ids);
            st = kv_tokenize_alloc(v, line, len, true, true, &ids, &n, err);
        }
        kv_gen_result r;
        if (st == KV_OK && n > 0) {
            print_text(NULL, line, len);
            st = kv_generate(c, v, 0, ids, n, &o->gen, &r, err);
            printf("\n");
        }
        free(ids);
        if (st != KV_OK)
            return st;
        first = false;
    }
}

int kv_cli_run(int argc, char **argv) {
    run_opts o;
    memset(&o, 0, sizeof o);
    o.gen = kv_gen_default_params();
    o.display_prompt = true;
    o.gen.on_text = print_text;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (!o.seed_set)
        o.gen.sample.seed = (uint64_t)time(NULL);
    kv_err err = {0};
    char *text = NULL;
    size_t len = o.prompt ? strlen(o.prompt) : 0;
    if (o.file && kv_cli_read_text(o.file, &text, &len, &err) != KV_OK)
        return kv_cli_fail("run", &err);
    kv_model *m = NULL;
    kv_ctx *c = NULL;
    kv_vocab *v = NULL;
    kv_status st = kv_model_open(o.model, &m, &err);
    if (st == KV_OK)
        st = kv_vocab_from_gguf(kv_model_gguf(m), &v, &err);
    kv_ctx_params cp = kv_ctx_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_threads = o.n_threads;
    if (st == KV_OK)
        st = kv_ctx_new(m, &cp, &c, &err);
    if (st == KV_OK && (o.prompt || text))
        st = run_once(c, v, text ? text : o.prompt, len, &o, &err);
    else if (st == KV_OK)
        st = run_interactive(c, v, &o, &err);
    kv_ctx_free(c);
    kv_vocab_free(v);
    kv_model_close(m);
    free(text);
    return st == KV_OK ? 0 : kv_cli_fail("run", &err);
}
