// kvant logits: the raw logits of a token sequence and a greedy continuation, for
// comparing kvant's forward pass with an independent reference
// (tests/reference/forward.py).
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kvant/kv_model.h"

#define MAX_TOKENS 4096

static void help(FILE *f) {
    fprintf(f, "usage: kvant logits MODEL.gguf --tokens ID,ID,... [options]\n\n"
               "Runs the token ids as one batch and writes every position's logits as\n"
               "little-endian float32 rows (n_tokens x n_vocab) to --out; then generates\n"
               "--greedy N tokens by argmax and prints their ids, one line.\n\n"
               "  --tokens LIST   comma-separated token ids (at most 4096)\n"
               "  -o, --out FILE  where the logits go (default: not written)\n"
               "  --greedy N      tokens to generate greedily (default 0)\n"
               "  -t, --threads N threads (default: all CPUs)\n"
               "  --cache-type-k T, --cache-type-v T   what the KV cache stores (f32, f16,\n"
               "                  q8_0, q4_0; default f16, as llama.cpp)\n"
               "  --repack on|off|auto  weights repacked at load for the prompt kernels\n"
               "                  (default auto: on where the kernels have such a layout)\n"
               "  --repack-cache on|off|DIR  the repacked weights kept in a file that later\n"
               "                  loads map: beside the model (on) or in DIR; default off\n");
}

static int parse_tokens(const char *s, int32_t *out, int32_t *n) {
    *n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX || *n >= MAX_TOKENS || (*end && *end != ','))
            return -1;
        out[(*n)++] = (int32_t)v;
        s = *end ? end + 1 : end;
    }
    return *n > 0 ? 0 : -1;
}

static int32_t argmax(const float *x, int64_t n) {
    int32_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = (int32_t)i;
    return best;
}

static kv_status write_rows(const char *path, const kv_ctx *c, int32_t n, int64_t n_vocab,
                            kv_err *err) {
    kv_out o;
    kv_status st = kv_out_open(&o, path, err);
    for (int32_t i = 0; i < n && st == KV_OK; i++)
        st = kv_out_write(&o, kv_ctx_logits(c, i), sizeof(float) * (size_t)n_vocab, err);
    if (st != KV_OK) {
        kv_out_abort(&o);
        return st;
    }
    return kv_out_commit(&o, err);
}

static kv_status run(const char *model, const int32_t *toks, int32_t n, const char *out,
                     int32_t n_greedy, int32_t n_threads, kv_type type_k, kv_type type_v,
                     kv_err *err) {
    kv_model *m = NULL;
    kv_ctx *c = NULL;
    kv_status st = kv_model_open(model, &m, err);
    if (st != KV_OK)
        return st;
    kv_cli_repack_note("logits", m);
    const int64_t n_vocab = kv_model_hparams(m)->n_vocab;
    for (int32_t i = 0; i < n; i++)
        if (toks[i] >= n_vocab) {
            st = KV_FAIL(err, KV_ERR_INVALID, "token %d is over the vocabulary (%lld)", toks[i],
                         (long long)n_vocab);
            goto done;
        }
    kv_ctx_params p = kv_ctx_default_params();
    p.n_ctx = n + n_greedy + 1;
    p.n_batch = n;
    p.n_threads = n_threads;
    p.type_k = type_k;
    p.type_v = type_v;
    st = kv_ctx_new(m, &p, &c, err);
    int8_t want[MAX_TOKENS];
    memset(want, 1, sizeof want);
    kv_batch b = {n, toks, NULL, NULL, want};
    if (st == KV_OK)
        st = kv_ctx_decode(c, &b, err);
    if (st == KV_OK && out)
        st = write_rows(out, c, n, n_vocab, err);
    int32_t next = st == KV_OK ? argmax(kv_ctx_logits(c, n - 1), n_vocab) : 0;
    for (int32_t i = 0; st == KV_OK && i < n_greedy; i++) {
        printf("%s%d", i ? " " : "", next);
        kv_batch g = {1, &next, NULL, NULL, NULL};
        if (i + 1 < n_greedy && (st = kv_ctx_decode(c, &g, err)) == KV_OK)
            next = argmax(kv_ctx_logits(c, 0), n_vocab);
    }
    if (n_greedy > 0)
        printf("\n");
done:
    kv_ctx_free(c);
    kv_model_close(m);
    return st;
}

int kv_cli_logits(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *list = NULL;
    int32_t n_greedy = 0, n_threads = 0;
    kv_type type_k = KV_TYPE_F16, type_v = KV_TYPE_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (kv_cli_is_help(a)) {
            help(stdout);
            return 0;
        } else if (a[0] != '-') {
            model = a;
            continue;
        } else if (!v) {
            return kv_cli_usage_error("logits", "unknown or incomplete option '%s'", a);
        } else if (!strcmp(a, "--tokens")) list = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--greedy")) n_greedy = atoi(v);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) n_threads = atoi(v);
        else if (!strcmp(a, "--cache-type-k") || !strcmp(a, "--cache-type-v")) {
            int rc = kv_cli_cache_type("logits", a, v, a[13] == 'k' ? &type_k : &type_v);
            if (rc)
                return rc;
        } else if (kv_cli_is_repack_opt(a)) {
            int rc = kv_cli_repack_opt("logits", a, v);
            if (rc)
                return rc;
        } else
            return kv_cli_usage_error("logits", "unknown option '%s'", a);
        i++;
    }
    static int32_t toks[MAX_TOKENS];
    int32_t n = 0;
    if (!model || !list)
        return kv_cli_usage_error("logits", "MODEL and --tokens are required");
    if (parse_tokens(list, toks, &n) != 0)
        return kv_cli_usage_error("logits", "--tokens wants 1..%d comma-separated ids", MAX_TOKENS);
    if (n_greedy < 0 || n_greedy > 4096)
        return kv_cli_usage_error("logits", "--greedy wants 0..4096");
    kv_err err = {0};
    kv_status st = run(model, toks, n, out, n_greedy, n_threads, type_k, type_v, &err);
    return st == KV_OK ? 0 : kv_cli_fail("logits", &err);
}
