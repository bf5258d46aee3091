// kvant perplexity: llama-perplexity's measurement of a model on a text, and the
// KL divergence / top-token agreement of a model against a base model's logits.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kvant/kv_eval.h"
#include "kvant/kv_model.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant perplexity [-m] MODEL.gguf -f TEXT [options]\n\n"
            "Perplexity the way llama-perplexity computes it, so figures compare: the text is\n"
            "tokenized whole, cut into chunks of N tokens with BOS first, and the second half\n"
            "of each chunk is scored.\n\n"
            "  -f, --file F          the text\n"
            "  -c, --ctx-size N      tokens per chunk (default 512)\n"
            "  -b, --batch-size N    tokens per decode call (default: N of -c)\n"
            "  --chunks N            evaluate only the first N chunks\n"
            "  -t, --threads N       threads (default: all CPUs)\n"
            "  --kld-base FILE       also save this (base) model's logits to FILE\n"
            "  --kld FILE            compare with the base logits in FILE (made with --kld-base;\n"
            "                        llama.cpp's --kl-divergence-base files work too): PPL ratio,\n"
            "                        KL divergence and its percentiles, delta-p, same top token.\n"
            "                        The text and chunking come from FILE; -f is not needed.\n"
            "  --cache-type-k T, --cache-type-v T   what the KV cache stores keys and\n"
            "                        values as: f16 (default), f32, q8_0 or q4_0\n"
            KV_CLI_REPACK_HELP
            "  -q, --quiet           no per-chunk figures\n");
}

typedef struct {
    const char *model, *file, *kld_base, *kld;
    int32_t n_ctx, n_batch, n_chunks, n_threads;
    bool quiet;
    int n_printed;
    kv_type type_k, type_v; // --cache-type-k/-v
} ppl_opts;

static void chunk_progress(void *user, uint64_t done, uint64_t total, const char *label) {
    ppl_opts *o = (ppl_opts *)user;
    (void)done;
    (void)total;
    if (o->quiet || !label)
        return;
    printf("%s%s", o->n_printed++ ? "," : "", label);
    if (o->n_printed % 8 == 0)
        printf("\n");
    fflush(stdout);
}

static int parse(int argc, char **argv, ppl_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (kv_cli_is_help(a)) {
            help(stdout);
            return -1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = true;
            continue;
        } else if (a[0] != '-' || !a[1]) {
            if (o->model)
                return kv_cli_usage_error("perplexity", "unexpected argument '%s'", a);
            o->model = a;
            continue;
        } else if (!v) {
            return kv_cli_usage_error("perplexity", "unknown or incomplete option '%s'", a);
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) o->file = v;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) o->n_ctx = atoi(v);
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) o->n_batch = atoi(v);
        else if (!strcmp(a, "--chunks")) o->n_chunks = atoi(v);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) o->n_threads = atoi(v);
        else if (!strcmp(a, "--kld-base")) o->kld_base = v;
        else if (!strcmp(a, "--kld")) o->kld = v;
        else if (kv_cli_is_repack_opt(a)) {
            int rc = kv_cli_repack_opt("perplexity", a, v);
            if (rc)
                return rc;
        }
        else if (!strcmp(a, "--cache-type-k") || !strcmp(a, "--cache-type-v")) {
            int rc = kv_cli_cache_type("perplexity", a, v, a[13] == 'k' ? &o->type_k : &o->type_v);
            if (rc)
                return rc;
        }
        else
            return kv_cli_usage_error("perplexity", "unknown option '%s'", a);
        i++;
    }
    if (!o->model)
        return kv_cli_usage_error("perplexity", "missing MODEL");
    if (!o->file && !o->kld)
        return kv_cli_usage_error("perplexity", "missing -f TEXT");
    if (o->kld && o->kld_base)
        return kv_cli_usage_error("perplexity", "--kld and --kld-base do not go together");
    if (o->n_ctx < 0 || o->n_batch < 0)
        return kv_cli_usage_error("perplexity", "-c and -b must be positive");
    return 0;
}

static void print_kld(const kv_kld_stats *s) {
    printf("\n====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", s->ppl, s->ppl_unc);
    printf("Mean PPL(base)                : %10.6f ± %10.6f\n", s->ppl_base, s->ppl_base_unc);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * s->log_ppl_cor);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", s->log_ppl_ratio,
           s->log_ppl_ratio_unc);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", s->ppl_ratio, s->ppl_ratio_unc);
    printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", s->ppl_diff, s->ppl_diff_unc);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f ± %10.6f\n", s->kld_mean, s->kld_unc);
    const struct { const char *n; float v; } k[] = {
        {"Maximum", s->kld_max}, {"99.9%  ", s->kld_p999}, {"99.0%  ", s->kld_p99},
        {"Median ", s->kld_median}, {"10.0%  ", s->kld_p10}, {" 5.0%  ", s->kld_p05},
        {" 1.0%  ", s->kld_p01}, {"Minimum", s->kld_min}};
    for (size_t i = 0; i < sizeof k / sizeof *k; i++)
        printf("%s KLD: %10.6f\n", k[i].n, k[i].v);
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %8.3f ± %6.3f %%\n", 100 * s->p_diff_mean, 100 * s->p_diff_unc);
    const struct { const char *n; float v; } d[] = {
        {"Maximum", s->p_diff_max}, {"99.9%  ", s->p_diff_p999}, {"99.0%  ", s->p_diff_p99},
        {"95.0%  ", s->p_diff_p95}, {"90.0%  ", s->p_diff_p90}, {"75.0%  ", s->p_diff_p75},
        {"Median ", s->p_diff_median}, {"25.0%  ", s->p_diff_p25}, {"10.0%  ", s->p_diff_p10},
        {" 5.0%  ", s->p_diff_p05}, {" 1.0%  ", s->p_diff_p01}, {" 0.1%  ", s->p_diff_p001},
        {"Minimum", s->p_diff_min}};
    for (size_t i = 0; i < sizeof d / sizeof *d; i++)
        printf("%s Δp: %8.3f%%\n", d[i].n, 100 * d[i].v);
    printf("RMS Δp    : %8.3f ± %6.3f %%\n", 100 * s->p_diff_rms, 100 * s->p_diff_rms_unc);
    printf("Same top p: %8.3f ± %6.3f %%\n", 100 * s->same_top, 100 * s->same_top_unc);
}

// Chunk length: -c, or the base file's for --kld; never longer than the model's.
static kv_status plan_ctx(const kv_model *m, ppl_opts *o, kv_err *err) {
    if (o->kld) {
        kv_logits_file *lf = NULL;
        kv_status st = kv_logits_open(o->kld, &lf, err);
        if (st != KV_OK)
            return st;
        o->n_ctx = kv_logits_n_ctx(lf);
        kv_logits_close(lf);
    } else if (o->n_ctx == 0) {
        o->n_ctx = 512;
    }
    int64_t train = kv_model_hparams(m)->n_ctx_train;
    if (train > 0 && o->n_ctx > train)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "context of %d tokens is longer than the model's %lld (%s)", o->n_ctx,
                       (long long)train, o->model);
    if (o->n_batch == 0 || o->n_batch > o->n_ctx)
        o->n_batch = o->n_ctx;
    return KV_OK;
}

static kv_status run_ppl(kv_ctx *c, const kv_vocab *v, ppl_opts *o, kv_err *err) {
    char *text = NULL;
    size_t len = 0;
    kv_status st = kv_cli_read_text(o->file, &text, &len, err);
    kv_token *ids = NULL;
    int64_t n = 0;
    if (st == KV_OK)
        st = kv_tokenize_alloc(v, text, len, true, true, &ids, &n, err);
    free(text);
    if (st != KV_OK)
        return st;
    if (!o->quiet)
        printf("%s: %lld tokens, chunks of %d\n", o->file, (long long)n, o->n_ctx);
    kv_ppl_params p = {o->n_ctx, o->n_chunks > 0 ? o->n_chunks : -1,
                       kv_vocab_add_bos(v) ? kv_vocab_bos(v) : -1, o->kld_base, chunk_progress, o};
    kv_ppl_result r;
    st = kv_eval_perplexity(c, ids, n, &p, &r, err);
    free(ids);
    if (st == KV_OK)
        printf("%sFinal estimate: PPL = %.4f +/- %.5f (%d chunks, %lld tokens scored)\n",
               o->n_printed ? "\n" : "", r.ppl, r.ppl_unc, r.n_chunks, (long long)r.n_scored);
    if (st == KV_OK && o->kld_base)
        printf("saved base logits to %s\n", o->kld_base);
    return st;
}

int kv_cli_perplexity(int argc, char **argv) {
    ppl_opts o;
    memset(&o, 0, sizeof o);
    o.type_k = o.type_v = KV_TYPE_F16;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    kv_err err = {0};
    kv_model *m = NULL;
    kv_vocab *v = NULL;
    kv_ctx *c = NULL;
    kv_status st = kv_model_open(o.model, &m, &err);
    if (st == KV_OK)
        kv_cli_repack_note("perplexity", m);
    if (st == KV_OK && !kv_model_hparams(m)->causal_attn) // bert: no next-token head
        st = KV_FAIL(&err, KV_ERR_UNSUPPORTED, "%s: architecture '%s' is an embedding model; "
                     "perplexity needs a model that predicts the next token", o.model,
                     kv_model_hparams(m)->arch);
    if (st == KV_OK)
        st = kv_vocab_from_gguf(kv_model_gguf(m), &v, &err);
    if (st == KV_OK)
        st = plan_ctx(m, &o, &err);
    kv_ctx_params cp = kv_ctx_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_batch = o.n_batch;
    cp.n_outputs_max = o.n_batch;
    cp.n_threads = o.n_threads;
    cp.type_k = o.type_k;
    cp.type_v = o.type_v;
    if (st == KV_OK)
        st = kv_ctx_new(m, &cp, &c, &err);
    if (st == KV_OK && o.kld) {
        kv_kld_params kp = {o.kld, o.n_chunks > 0 ? o.n_chunks : -1,
                            kv_vocab_add_bos(v) ? kv_vocab_bos(v) : -1, chunk_progress, &o};
        kv_kld_stats s;
        st = kv_eval_kld(c, &kp, &s, &err);
        if (st == KV_OK)
            print_kld(&s);
    } else if (st == KV_OK) {
        st = run_ppl(c, v, &o, &err);
    }
    kv_ctx_free(c);
    kv_vocab_free(v);
    kv_model_close(m);
    return st == KV_OK ? 0 : kv_cli_fail("perplexity", &err);
}
