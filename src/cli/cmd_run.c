// kvant run: generate text from a prompt, or interactively: a chat in the
// model's chat template when it has one kvant recognises (or --chat-template
// names one), plain continuation of each line otherwise. Speeds go to stderr.
#define _POSIX_C_SOURCE 200809L // strndup
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kvant/kv_chat.h"
#include "kvant/kv_generate.h"
#include "kvant/kv_gotmpl.h"
#include "kvant/kv_jinja.h"
#include "kvant/kv_model.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant run [-m] MODEL.gguf|NAME [PROMPT] [options]\n\n"
            "NAME: a model in the store (kvant list) when no file of that name exists.\n"
            "Generates a continuation of PROMPT and streams it to stdout. Without a prompt,\n"
            "reads lines from stdin (interactive): when the model has a chat template\n"
            "(tokenizer.chat_template, run by kvant's Jinja interpreter, or else one of the\n"
            "families kvant recognises) or --chat-template names a family, each line is a\n"
            "user message in a conversation and the model replies; otherwise the model\n"
            "continues each line as plain text. A note on stderr says which mode is in use.\n\n"
            "  -m, --model F         the model (GGUF), or a model's name in the store\n"
            "  --store DIR           the model store (default $KVANT_MODELS, ...)\n"
            "  --ollama-store DIR    an existing Ollama store, read only\n"
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
            "  --format json         write one JSON object: sampling keeps the text valid JSON\n"
            "                        and generation stops when the object closes (a reply cut\n"
            "                        by -n is incomplete)\n"
            "  -c, --ctx-size N      context length (default: the model's)\n"
            "  -t, --threads N       threads (default: all CPUs)\n"
            "  --no-display-prompt   print only the generated text\n"
            "  --chat-template NAME  chat in this template family, whatever the model says:\n"
            "                        llama2, llama3, chatml, mistral, gemma, phi3, zephyr or\n"
            "                        plain (System:/User:/Assistant: lines)\n"
            "  --system TEXT         the conversation's system message (chat mode)\n"
            "  --cache-type-k T, --cache-type-v T   what the KV cache stores keys and\n"
            "                        values as: f16 (default), f32, q8_0 or q4_0\n"
            KV_CLI_REPACK_HELP
            "  --draft F             speculative decoding with draft model F (same vocabulary)\n"
            "  --lookup N            speculative decoding by looking up n-grams of up to N\n"
            "                        tokens in the prompt and output (no draft model)\n"
            "  --draft-max N         most tokens guessed per step (default 8)\n"
            "                        (--draft and --lookup exclude each other)\n"
            "                        Output is what the model alone gives (greedy: the same\n"
            "                        text; sampled: the same distribution); stderr reports\n"
            "                        how many guesses were accepted\n"
            "  --verbose-prompt      print each prompt as the template renders it, on stderr\n"
            "                        (a line: \"rendered prompt: \" and a JSON string)\n"
            "A model from the store (kvant create) brings its Modelfile's SYSTEM, PARAMETER\n"
            "values (temperature, top_k, top_p, min_p, seed, num_predict, num_ctx, stop,\n"
            "repeat_penalty, repeat_last_n, frequency_penalty, presence_penalty) and TEMPLATE\n"
            "(a Go template, kv_gotmpl's subset: used for PROMPT too, as Ollama does); the\n"
            "options above replace them.\n");
}

typedef struct {
    const char *model, *prompt, *file, *system;
    kv_gen_params gen;
    kv_chat_tmpl tmpl;
    bool tmpl_set; // --chat-template given
    const char *stops[KV_GEN_MAX_STOP];
    int32_t n_ctx, n_threads;
    bool display_prompt, seed_set;
    const char *draft;          // --draft
    kv_spec_params spec;        // --lookup, --draft-max
    bool spec_on;
    bool lookup_set;            // --lookup given (an error beside --draft)
    kv_type type_k, type_v;     // --cache-type-k/-v
    bool stops_default;   // stops holds the Modelfile's: a --stop replaces them
    bool verbose_prompt;  // --verbose-prompt
    kv_gotmpl *gotmpl;    // the Modelfile's TEMPLATE, or NULL
    json_t *params;       // the Modelfile's PARAMETER values (stop strings borrow from it)
    char *mf_system;      // the Modelfile's SYSTEM
    json_t *mf_msgs;      // the Modelfile's MESSAGEs (a JSON array), or NULL
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
        } else if (!strcmp(a, "--verbose-prompt")) {
            o->verbose_prompt = true, takes = false;
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
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "--draft")) o->draft = v, o->spec_on = true;
        else if (kv_cli_is_repack_opt(a)) {
            int rc = kv_cli_repack_opt("run", a, v);
            if (rc)
                return rc;
        }
        else if (!strcmp(a, "--cache-type-k") || !strcmp(a, "--cache-type-v")) {
            int rc = kv_cli_cache_type("run", a, v, a[13] == 'k' ? &o->type_k : &o->type_v);
            if (rc)
                return rc;
        }
        else if (!strcmp(a, "--lookup") || !strcmp(a, "--draft-max")) {
            char *end = NULL;
            long n = v ? strtol(v, &end, 10) : 0;
            int32_t lim = a[2] == 'l' ? KV_SPEC_MAX_LOOKUP : KV_SPEC_MAX_DRAFT;
            if (!v || *end || n < 1 || n > lim)
                return kv_cli_usage_error("run", "%s '%s': a number of 1..%d", a, v ? v : "",
                                          (int)lim);
            if (a[2] == 'l')
                o->spec.lookup_n = (int32_t)n, o->spec_on = o->lookup_set = true;
            else
                o->spec.n_draft = (int32_t)n;
        }
        else if (!strcmp(a, "--format")) {
            if (strcmp(v, "json") != 0)
                return kv_cli_usage_error("run", "--format '%s': only json is known", v);
            o->gen.json_object = true;
        }
        else if (!strcmp(a, "--chat-template")) {
            kv_err e = {0};
            if (kv_chat_from_name(v, &o->tmpl, &e) != KV_OK)
                return kv_cli_usage_error("run", "%s", e.msg);
            o->tmpl_set = true;
        } else if (!strcmp(a, "--stop")) {
            if (o->stops_default)
                o->gen.n_stop = 0, o->stops_default = false;
            if (o->gen.n_stop >= KV_GEN_MAX_STOP - 1) // chat mode adds the end-of-turn text
                return kv_cli_usage_error("run", "at most %d --stop strings",
                                          KV_GEN_MAX_STOP - 1);
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
    if (o->draft && o->lookup_set) // one proposer per run: never one silently ignored
        return kv_cli_usage_error("run", "give --draft F or --lookup N, not both");
    o->gen.stop = o->stops;
    return 0;
}

// ---- a store model's Modelfile ----

static bool num(const json_t *v, double lo, double hi, double *out) {
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi))
        return false;
    *out = json_number_value(v);
    return true;
}

// The Modelfile's PARAMETER values into o (before the options, which replace
// them); a value of the wrong type or out of range is skipped with a warning.
static void apply_params(run_opts *o, const char *name) {
    const char *k;
    json_t *v;
    kv_sample_params *s = &o->gen.sample;
    json_object_foreach(o->params, k, v) {
        double d = 0;
        bool ok = true;
        if (!strcmp(k, "temperature") && (ok = num(v, 0, 100, &d))) s->temp = (float)d;
        else if (!strcmp(k, "top_k") && (ok = num(v, 0, INT32_MAX, &d))) s->top_k = (int32_t)d;
        else if (!strcmp(k, "top_p") && (ok = num(v, 0, 1, &d))) s->top_p = (float)d;
        else if (!strcmp(k, "min_p") && (ok = num(v, 0, 1, &d))) s->min_p = (float)d;
        else if (!strcmp(k, "seed") && (ok = num(v, 0, 9e15, &d)))
            s->seed = (uint64_t)d, o->seed_set = true;
        else if (!strcmp(k, "num_predict") && (ok = num(v, INT32_MIN, INT32_MAX, &d)))
            o->gen.n_predict = (int32_t)d;
        else if (!strcmp(k, "num_ctx") && (ok = num(v, 1, 1 << 20, &d))) o->n_ctx = (int32_t)d;
        else if (!strcmp(k, "repeat_penalty") && (ok = num(v, 0, 100, &d)))
            s->penalty_repeat = (float)d;
        else if (!strcmp(k, "repeat_last_n") && (ok = num(v, -1, 65536, &d)))
            s->penalty_last_n = (int32_t)d;
        else if (!strcmp(k, "frequency_penalty") && (ok = num(v, -100, 100, &d)))
            s->penalty_freq = (float)d;
        else if (!strcmp(k, "presence_penalty") && (ok = num(v, -100, 100, &d)))
            s->penalty_present = (float)d;
        else if (!strcmp(k, "stop")) {
            ok = json_is_array(v) && json_array_size(v) < KV_GEN_MAX_STOP;
            for (size_t i = 0; ok && i < json_array_size(v); i++) {
                const json_t *x = json_array_get(v, i);
                ok = json_is_string(x) && json_string_length(x) <= KV_GEN_MAX_STOP_LEN;
            }
            for (size_t i = 0; ok && i < json_array_size(v); i++)
                if (json_string_length(json_array_get(v, i)) > 0)
                    o->stops[o->gen.n_stop++] = json_string_value(json_array_get(v, i));
            o->stops_default = ok && o->gen.n_stop > 0;
        }
        if (!ok)
            fprintf(stderr, "kvant run: model '%s': PARAMETER %s has a bad value; ignored\n",
                    name, k);
    }
}

// The store model's SYSTEM, PARAMETER and TEMPLATE layers into o.
static void apply_modelfile(run_opts *o, const char *name) {
    char *params = NULL, *tmpl = NULL, *msgs = NULL;
    kv_cli_model_layers(name, &o->mf_system, &params, &tmpl, &msgs);
    if (msgs) {
        o->mf_msgs = json_loads(msgs, 0, NULL);
        if (!json_is_array(o->mf_msgs)) {
            fprintf(stderr, "kvant run: model '%s': its messages layer is not a JSON array; "
                            "ignored\n", name);
            json_decref(o->mf_msgs);
            o->mf_msgs = NULL;
        }
        free(msgs);
    }
    if (params) {
        o->params = json_loads(params, 0, NULL);
        if (json_is_object(o->params))
            apply_params(o, name);
        else
            fprintf(stderr, "kvant run: model '%s': its params layer is not a JSON object; "
                            "ignored\n", name);
    }
    if (o->mf_system)
        o->system = o->mf_system;
    kv_err err = {0};
    if (tmpl && kv_gotmpl_parse(tmpl, strlen(tmpl), &o->gotmpl, &err) != KV_OK)
        fprintf(stderr, "kvant run: model '%s': its TEMPLATE cannot run (%s); using the GGUF's "
                        "chat template\n", name, err.msg);
    free(params);
    free(tmpl);
}

static void print_prompt(const run_opts *o, const char *text, size_t len) {
    if (!o->verbose_prompt)
        return;
    json_t *s = json_stringn(text, len);
    char *j = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    fprintf(stderr, "rendered prompt: %s\n", j ? j : "(not UTF-8)");
    free(j);
    json_decref(s);
}

static void print_speed(const kv_gen_result *r, bool spec) {
    fprintf(stderr, "\nprompt: %d tokens in %.3f s (%.1f tokens/s); generation: %d tokens in %.3f s "
                    "(%.1f tokens/s); stop: %s\n",
            r->n_prompt, r->t_prompt_s, r->t_prompt_s > 0 ? r->n_prompt / r->t_prompt_s : 0.0,
            r->n_gen, r->t_gen_s, r->t_gen_s > 0 ? r->n_gen / r->t_gen_s : 0.0,
            kv_gen_stop_name(r->stop));
    if (spec)
        fprintf(stderr, "speculative: %d drafted, %d accepted (%.1f %%)\n", r->n_drafted,
                r->n_accepted, r->n_drafted > 0 ? 100.0 * r->n_accepted / r->n_drafted : 0.0);
}

// One prompt, one continuation.
static kv_status run_once(kv_ctx *c, const kv_vocab *v, const char *text, size_t len,
                          run_opts *o, kv_err *err) {
    kv_token *ids = NULL;
    int64_t n = 0;
    char *rendered = NULL, *user = NULL;
    kv_status st = KV_OK;
    if (o->gotmpl) { // as Ollama: the prompt is a user message in the Modelfile's template
        user = strndup(text, len);
        kv_chat_msg m[2] = {{KV_CHAT_ROLE_SYSTEM, o->system}, {KV_CHAT_ROLE_USER, user}};
        bool sys = o->system && *o->system;
        st = user ? kv_gotmpl_render(o->gotmpl, sys ? m : m + 1, sys ? 2 : 1, &rendered, &len, err)
                  : KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the prompt");
    }
    const char *prompt = rendered ? rendered : text;
    if (st == KV_OK) {
        print_prompt(o, prompt, len);
        st = kv_tokenize_alloc(v, prompt, len, true, true, &ids, &n, err);
    }
    free(user);
    if (st == KV_OK && n == 0)
        st = KV_FAIL(err, KV_ERR_INVALID, "the prompt is empty");
    if (st == KV_OK && o->display_prompt)
        print_text(NULL, prompt, len);
    kv_gen_result r;
    if (st == KV_OK)
        st = kv_generate(c, v, 0, ids, n, &o->gen, &r, err);
    free(ids);
    free(rendered);
    if (st == KV_OK) {
        printf("\n");
        print_speed(&r, o->gen.spec != NULL);
    }
    return st;
}

// Reads lines; the model continues each one on the same context (cleared when full).
static kv_status run_continue(kv_ctx *c, const kv_vocab *v, run_opts *o, kv_err *err) {
    bool tty = isatty(STDIN_FILENO);
    static const char *const NL[] = {"\n"};
    // A turn ends at the end of the line the model writes; a JSON reply, when its object closes.
    if (o->gen.n_stop == 0 && !o->gen.json_object) {
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

// ---- chat mode ----

// A conversation on sequence 0: its messages (text owned) and the tokens of the
// last prompt, which the sequence holds first (then what the model replied).
typedef struct {
    kv_chat_tmpl tmpl;    // the family (the renderer when jinja is NULL, and the end text)
    const kv_jinja *jinja; // the model's own template, or NULL
    const kv_gotmpl *gotmpl; // the Modelfile's TEMPLATE (before jinja), or NULL
    bool verbose;         // --verbose-prompt
    const char *eos;      // the model's EOS text; may be NULL
    kv_chat_msg *msgs;
    size_t n_msgs, cap_msgs;
    kv_token *prev;
    int64_t n_prev;
    char *reply;          // this turn's assistant text
    size_t n_reply, cap_reply;
    bool oom;
} chat;

// A kv_gen_text_fn: prints the reply and keeps it.
static bool chat_text(void *user, const char *text, size_t len) {
    chat *ch = user;
    print_text(NULL, text, len);
    if (len + 1 > ch->cap_reply - ch->n_reply) {
        size_t cap = ch->cap_reply ? ch->cap_reply : 256;
        while (len + 1 > cap - ch->n_reply)
            cap *= 2;
        char *p = realloc(ch->reply, cap);
        if (!p) {
            ch->oom = true;
            return false;
        }
        ch->reply = p, ch->cap_reply = cap;
    }
    memcpy(ch->reply + ch->n_reply, text, len);
    ch->n_reply += len;
    ch->reply[ch->n_reply] = '\0';
    return true;
}

// Appends a message with a copy of text[0..len).
static kv_status chat_push(chat *ch, kv_chat_role role, const char *text, size_t len,
                           kv_err *err) {
    if (ch->n_msgs == ch->cap_msgs) {
        size_t cap = ch->cap_msgs ? 2 * ch->cap_msgs : 16;
        kv_chat_msg *m = realloc(ch->msgs, cap * sizeof *m);
        if (!m)
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %zu chat messages", cap);
        ch->msgs = m, ch->cap_msgs = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a %zu-byte message", len);
    memcpy(copy, text, len);
    copy[len] = '\0';
    ch->msgs[ch->n_msgs++] = (kv_chat_msg){role, copy};
    return KV_OK;
}

// Drops every message after the first keep.
static void chat_truncate(chat *ch, size_t keep) {
    while (ch->n_msgs > keep)
        free((char *)ch->msgs[--ch->n_msgs].content);
}

static void chat_free(chat *ch) {
    chat_truncate(ch, 0);
    free(ch->msgs);
    free(ch->prev);
    free(ch->reply);
}

// The whole conversation, rendered with the assistant's turn opened, as tokens
// (BOS as the vocabulary says, control tokens parsed).
static kv_status chat_tokens(const chat *ch, const kv_vocab *v, kv_token **ids, int64_t *n,
                             kv_err *err) {
    char *text = NULL;
    size_t len = 0;
    kv_status st = ch->gotmpl ? kv_gotmpl_render(ch->gotmpl, ch->msgs, ch->n_msgs, &text, &len, err)
                   : ch->jinja ? kv_jinja_render_vocab(ch->jinja, v, ch->msgs, ch->n_msgs, true,
                                                       &text, &len, err)
                               : kv_chat_render(ch->tmpl, ch->msgs, ch->n_msgs, true, ch->eos,
                                                &text, &len, err);
    if (st == KV_OK && ch->verbose) {
        json_t *s = json_stringn(text, len);
        char *j = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        fprintf(stderr, "rendered prompt: %s\n", j ? j : "(not UTF-8)");
        free(j);
        json_decref(s);
    }
    if (st == KV_OK)
        st = kv_tokenize_alloc(v, text, len, true, true, ids, n, err);
    free(text);
    return st;
}

// The conversation's tokens for this turn; when they do not fit the context,
// the conversation starts over from the system message and the last line.
static kv_status chat_prompt(kv_ctx *c, const kv_vocab *v, chat *ch, size_t first,
                             kv_token **ids, int64_t *n, kv_err *err) {
    kv_status st = chat_tokens(ch, v, ids, n, err);
    if (st == KV_OK && *n + 8 > kv_ctx_n_ctx(c) && ch->n_msgs > first + 1) {
        fprintf(stderr, "(context full: starting over)\n");
        kv_chat_msg last = ch->msgs[--ch->n_msgs];
        chat_truncate(ch, first);
        ch->msgs[ch->n_msgs++] = last;
        free(*ids);
        *ids = NULL;
        st = chat_tokens(ch, v, ids, n, err);
    }
    return st;
}

// One user line: renders the conversation, keeps the cached tokens it shares
// with the last prompt, decodes the rest and generates the reply, which joins
// the conversation.
static kv_status chat_turn(kv_ctx *c, const kv_vocab *v, run_opts *o, chat *ch, size_t first,
                           const char *line, size_t len, kv_err *err) {
    kv_token *ids = NULL;
    int64_t n = 0;
    kv_status st = chat_push(ch, KV_CHAT_ROLE_USER, line, len, err);
    if (st == KV_OK)
        st = chat_prompt(c, v, ch, first, &ids, &n, err);
    if (st == KV_OK && n == 0)
        st = KV_FAIL(err, KV_ERR_INVALID, "the conversation renders as no tokens");
    if (st != KV_OK) {
        free(ids);
        return st;
    }
    int64_t keep = 0;
    while (keep < ch->n_prev && keep < n && ch->prev[keep] == ids[keep])
        keep++;
    if (keep == n) // at least one token goes in, to get logits
        keep--;
    st = kv_ctx_seq_rm(c, 0, (int32_t)keep, -1, err);
    const char *stops[KV_GEN_MAX_STOP];
    kv_gen_params gp = o->gen;
    memcpy(stops, o->stops, gp.n_stop * sizeof *stops);
    // a template of no known family ends its turns with EOS, if anything
    const char *end = (ch->jinja || ch->gotmpl) && ch->tmpl == KV_CHAT_PLAIN ? (ch->eos ? ch->eos : "")
                                                            : kv_chat_end_text(ch->tmpl, ch->eos);
    if (*end && strlen(end) <= KV_GEN_MAX_STOP_LEN)
        stops[gp.n_stop++] = end;
    gp.stop = stops;
    gp.on_text = chat_text;
    gp.user = ch;
    ch->n_reply = 0;
    kv_gen_result r;
    if (st == KV_OK)
        st = kv_generate(c, v, 0, ids + keep, n - keep, &gp, &r, err);
    if (st == KV_OK && ch->oom)
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the reply");
    if (st == KV_OK)
        st = chat_push(ch, KV_CHAT_ROLE_ASSISTANT, ch->reply ? ch->reply : "", ch->n_reply, err);
    free(ch->prev);
    ch->prev = st == KV_OK ? ids : NULL;
    ch->n_prev = st == KV_OK ? n : 0;
    if (st != KV_OK)
        free(ids);
    if (st == KV_OK) {
        printf("\n");
        fflush(stdout);
        fprintf(stderr,
                "(%lld prompt tokens, %lld reused; %d generated, %.1f tokens/s; stop: %s)\n",
                (long long)(n - keep), (long long)keep, r.n_gen,
                r.t_gen_s > 0 ? r.n_gen / r.t_gen_s : 0.0, kv_gen_stop_name(r.stop));
    }
    return st;
}

// Reads lines; each is a user message and the model replies in template tmpl.
static kv_status run_chat(kv_ctx *c, const kv_vocab *v, run_opts *o, kv_chat_tmpl tmpl,
                          const kv_jinja *jinja, kv_err *err) {
    chat ch = {.tmpl = o->gotmpl ? KV_CHAT_PLAIN : tmpl,
               .jinja = jinja,
               .gotmpl = o->gotmpl,
               .verbose = o->verbose_prompt,
               .eos = kv_vocab_text(v, kv_vocab_eos(v), NULL)};
    bool has_system = o->system && *o->system;
    kv_status st = KV_OK;
    if (has_system)
        st = chat_push(&ch, KV_CHAT_ROLE_SYSTEM, o->system, strlen(o->system), err);
    // the Modelfile's MESSAGEs follow the system message, as in Ollama
    for (size_t i = 0; st == KV_OK && i < json_array_size(o->mf_msgs); i++) {
        const json_t *e = json_array_get(o->mf_msgs, i);
        const char *r = json_string_value(json_object_get(e, "role")),
                   *t = json_string_value(json_object_get(e, "content"));
        kv_chat_role role = !r                        ? KV_CHAT_ROLE_TOOL
                            : !strcmp(r, "system")    ? KV_CHAT_ROLE_SYSTEM
                            : !strcmp(r, "user")      ? KV_CHAT_ROLE_USER
                            : !strcmp(r, "assistant") ? KV_CHAT_ROLE_ASSISTANT
                                                      : KV_CHAT_ROLE_TOOL;
        if (t && role != KV_CHAT_ROLE_TOOL)
            st = chat_push(&ch, role, t, strlen(t), err);
    }
    size_t first = ch.n_msgs;
    bool tty = isatty(STDIN_FILENO);
    char line[8192];
    while (st == KV_OK) {
        if (tty)
            fprintf(stderr, "> "), fflush(stderr);
        if (!fgets(line, sizeof line, stdin))
            break;
        size_t len = strcspn(line, "\n");
        if (len > 0)
            st = chat_turn(c, v, o, &ch, first, line, len, err);
    }
    chat_free(&ch);
    return st;
}

// Chat when a template is named or the model has one kvant recognises, plain
// continuation otherwise; a note on stderr says which.
static kv_status run_interactive(kv_ctx *c, const kv_model *m, const kv_vocab *v, run_opts *o,
                                 kv_err *err) {
    if (o->gotmpl && !o->tmpl_set) {
        fprintf(stderr, "kvant run: chat mode, the Modelfile's TEMPLATE\n");
        return run_chat(c, v, o, KV_CHAT_PLAIN, NULL, err);
    }
    bool has = false;
    kv_chat_tmpl t = o->tmpl_set ? o->tmpl : kv_chat_detect_gguf(kv_model_gguf(m), &has);
    kv_jinja *j = NULL;
    kv_err jerr = {0};
    if (!o->tmpl_set && has && kv_jinja_from_gguf(kv_model_gguf(m), &j, &jerr) != KV_OK)
        fprintf(stderr, "kvant run: cannot run the model's chat template (%s); using the %s "
                        "family\n", jerr.msg, kv_chat_name(t));
    if (j) {
        fprintf(stderr, "kvant run: chat mode, the model's tokenizer.chat_template (Jinja, "
                        "family %s)\n",
                kv_chat_name(t));
        kv_status st = run_chat(c, v, o, t, j, err);
        kv_jinja_free(j);
        return st;
    }
    if (o->tmpl_set || t != KV_CHAT_PLAIN) {
        fprintf(stderr, "kvant run: chat mode, template %s (%s)\n", kv_chat_name(t),
                o->tmpl_set ? "--chat-template" : "the model's tokenizer.chat_template");
        return run_chat(c, v, o, t, NULL, err);
    }
    fprintf(stderr, "kvant run: plain continuation mode (%s)%s\n",
            has ? "the model's chat template is not one kvant knows; try --chat-template"
                : "the model has no chat template",
            o->system ? "; --system is ignored" : "");
    return run_continue(c, v, o, err);
}

// The draft model's context (--draft) as long as the target's, and the proposer.
static kv_status open_spec(run_opts *o, const kv_ctx *c, kv_model **dm, kv_ctx **dc,
                           kv_spec **spec, kv_err *err) {
    kv_status st = KV_OK;
    if (o->draft) {
        char path[4096];
        st = kv_model_open(kv_cli_model_path(o->draft, path, sizeof path), dm, err);
        if (st == KV_OK)
            kv_cli_repack_note("run", *dm);
        kv_ctx_params dp = kv_ctx_default_params();
        dp.n_ctx = kv_ctx_n_ctx(c);
        dp.n_threads = o->n_threads;
        dp.type_k = o->type_k;
        dp.type_v = o->type_v;
        if (st == KV_OK)
            st = kv_ctx_new(*dm, &dp, dc, err);
        o->spec.draft = *dc;
    }
    if (st == KV_OK)
        st = kv_spec_new(&o->spec, (int32_t)kv_model_hparams(kv_ctx_model(c))->n_vocab, spec, err);
    if (st == KV_OK && o->gen.json_object)
        fprintf(stderr, "kvant run: --format json generates without speculative decoding\n");
    return st;
}

static void run_opts_free(run_opts *o) {
    kv_gotmpl_free(o->gotmpl);
    json_decref(o->params);
    free(o->mf_system);
    json_decref(o->mf_msgs);
}

static void run_opts_init(run_opts *o) {
    memset(o, 0, sizeof *o);
    o->gen = kv_gen_default_params();
    o->spec = kv_spec_default_params();
    o->type_k = o->type_v = KV_TYPE_F16;
    o->display_prompt = true;
    o->gen.on_text = print_text;
}

int kv_cli_run(int argc, char **argv) {
    run_opts o;
    run_opts_init(&o);
    int rc = kv_cli_store_option("run", &argc, argv, false);
    if (rc != 0)
        return rc;
    rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    // again over the store model's Modelfile values, so that the options replace them
    const char *name = o.model;
    run_opts_init(&o);
    apply_modelfile(&o, name);
    parse(argc, argv, &o);
    char store_path[4096];
    o.model = kv_cli_model_path(o.model, store_path, sizeof store_path);
    if (!o.seed_set)
        o.gen.sample.seed = (uint64_t)time(NULL);
    kv_err err = {0};
    char *text = NULL;
    size_t len = o.prompt ? strlen(o.prompt) : 0;
    if (o.file && kv_cli_read_text(o.file, &text, &len, &err) != KV_OK) {
        run_opts_free(&o);
        return kv_cli_fail("run", &err);
    }
    kv_model *m = NULL;
    kv_ctx *c = NULL;
    kv_vocab *v = NULL;
    kv_status st = kv_model_open(o.model, &m, &err);
    if (st == KV_OK)
        kv_cli_repack_note("run", m);
    if (st == KV_OK && !kv_model_hparams(m)->causal_attn) // bert: an encoder
        st = KV_FAIL(&err, KV_ERR_UNSUPPORTED, "%s: architecture '%s' is an embedding model; it "
                     "does not generate (kvant serve answers /api/embed with it)", o.model,
                     kv_model_hparams(m)->arch);
    if (st == KV_OK)
        st = kv_vocab_from_gguf(kv_model_gguf(m), &v, &err);
    kv_ctx_params cp = kv_ctx_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_threads = o.n_threads;
    cp.type_k = o.type_k;
    cp.type_v = o.type_v;
    if (st == KV_OK)
        st = kv_ctx_new(m, &cp, &c, &err);
    kv_model *dm = NULL;
    kv_ctx *dc = NULL;
    kv_spec *spec = NULL;
    if (st == KV_OK && o.spec_on)
        st = open_spec(&o, c, &dm, &dc, &spec, &err);
    o.gen.spec = spec;
    if (st == KV_OK && (o.prompt || text))
        st = run_once(c, v, text ? text : o.prompt, len, &o, &err);
    else if (st == KV_OK)
        st = run_interactive(c, m, v, &o, &err);
    kv_spec_free(spec);
    kv_ctx_free(dc);
    kv_model_close(dm);
    kv_ctx_free(c);
    kv_vocab_free(v);
    kv_model_close(m);
    free(text);
    run_opts_free(&o);
    return st == KV_OK ? 0 : kv_cli_fail("run", &err);
}
