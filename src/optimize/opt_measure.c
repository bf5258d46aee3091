// What optimize measures: quantizing a candidate, its KL divergence against the
// base on held-out text, its speed (the kvant bench code) and the machine.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kvant/kv_bench.h"
#include "kvant/kv_convert.h"
#include "kvant/kv_eval.h"
#include "kvant/kv_mix.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"
#include "optimize/optimize_int.h"

// Splits "name=TYPE" lines into --tensor-type patterns anchored on the whole name.
static kv_status overrides(const char *lines, char ***out, size_t *n_out, kv_err *err) {
    *out = NULL;
    *n_out = 0;
    if (!lines || !*lines)
        return KV_OK;
    size_t n = 0;
    for (const char *s = lines; *s; s++)
        n += *s == '\n';
    n++;
    char **v = calloc(n, sizeof *v);
    if (!v)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %zu tensor types", n);
    size_t k = 0;
    const char *s = lines;
    while (*s && k < n) {
        size_t len = strcspn(s, "\n");
        char *pat = malloc(2 * len + 8);
        if (!pat) {
            for (size_t i = 0; i < k; i++)
                free(v[i]);
            free(v);
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for tensor types");
        }
        char *d = pat;
        *d++ = '^';
        const char *eq = memchr(s, '=', len);
        for (const char *c = s; c < s + len; c++) {
            if (c == eq) {
                *d++ = '$';
            } else if (*c == '.' && (!eq || c < eq)) {
                *d++ = '\\';
            }
            *d++ = *c;
        }
        *d = 0;
        if (len)
            v[k++] = pat;
        else
            free(pat);
        s += len;
        if (*s == '\n')
            s++;
    }
    *out = v;
    *n_out = k;
    return KV_OK;
}

kv_status kv__opt_quantize(const kv__opt_run *o, const char *ftype, const char *tensor_types,
                           const char *out_path, kv_err *err) {
    kv_quantize_opts q;
    memset(&q, 0, sizeof q);
    kv_mix_options mix;
    kv_mix_options_init(&mix);
    kv_status st = kv_ftype_parse(ftype, &q.plan.ftype, err);
    if (st != KV_OK)
        return st;
    char **pats = NULL;
    size_t n_pats = 0;
    st = overrides(tensor_types, &pats, &n_pats, err);
    if (st != KV_OK)
        return st;
    mix.has_imatrix = o->imatrix[0] != 0;
    mix.tensor_types = (const char *const *)pats;
    mix.n_tensor_types = n_pats;
    q.plan.mix = &mix;
    q.plan.imatrix_path = o->imatrix[0] ? o->imatrix : NULL;
    q.plan.n_threads = o->n_threads;
    st = kv_quantize_gguf(o->base, out_path, &q, NULL, err);
    for (size_t i = 0; i < n_pats; i++)
        free(pats[i]);
    free(pats);
    return st;
}

static kv_status open_ctx(const kv__opt_run *o, const char *path, int n_ctx, kv_model **m,
                          kv_ctx **c, kv_err *err) {
    *m = NULL;
    *c = NULL;
    kv_status st = kv_model_open(path, m, err);
    if (st != KV_OK)
        return st;
    kv_ctx_params cp = kv_ctx_default_params();
    cp.n_ctx = cp.n_batch = cp.n_outputs_max = n_ctx;
    cp.n_threads = o->n_threads;
    st = kv_ctx_new(*m, &cp, c, err);
    if (st != KV_OK) {
        kv_model_close(*m);
        *m = NULL;
    }
    return st;
}

static int32_t bos_of(const kv_model *m) {
    kv_vocab *v = NULL;
    kv_err e;
    if (kv_vocab_from_gguf(kv_model_gguf(m), &v, &e) != KV_OK)
        return -1;
    int32_t b = kv_vocab_add_bos(v) ? kv_vocab_bos(v) : -1;
    kv_vocab_free(v);
    return b;
}

kv_status kv__opt_kld(const kv__opt_run *o, const char *path, const char *logits, int n_chunks,
                      double *ppl, double *kld_mean, double *kld_p99, double *same_top,
                      kv_err *err) {
    kv_model *m = NULL;
    kv_ctx *c = NULL;
    kv_status st = open_ctx(o, path, o->n_ctx, &m, &c, err);
    if (st != KV_OK)
        return st;
    kv_kld_params kp = {logits, n_chunks > 0 ? n_chunks : -1, bos_of(m), NULL, NULL};
    kv_kld_stats s;
    st = kv_eval_kld(c, &kp, &s, err);
    if (st == KV_OK) {
        if (ppl)
            *ppl = s.ppl;
        if (kld_mean)
            *kld_mean = s.kld_mean;
        if (kld_p99)
            *kld_p99 = s.kld_p99;
        if (same_top)
            *same_top = s.same_top;
    }
    kv_ctx_free(c);
    kv_model_close(m);
    return st;
}

static kv_status bench(const kv__opt_run *o, const char *path, double *pp, double *tg,
                       kv_err *err) {
    const kv_opt_params *p = o->p;
    *pp = *tg = 0;
    if (p->bench_reps < 0)
        return KV_OK;
    int n_prompt = p->bench_prompt > 0 ? p->bench_prompt : 64;
    int n_gen = p->bench_gen > 0 ? p->bench_gen : 32;
    int n = n_prompt > n_gen ? n_prompt : n_gen;
    kv_model *m = NULL;
    kv_ctx *c = NULL;
    kv_status st = open_ctx(o, path, n, &m, &c, err);
    if (st != KV_OK)
        return st;
    kv_bench_params bp = kv_bench_default_params();
    bp.n_reps = p->bench_reps > 0 ? p->bench_reps : 2;
    bp.bos = bos_of(m);
    kv_bench_result r;
    st = kv_bench_prompt(c, n_prompt, &bp, &r, err);
    if (st == KV_OK) {
        *pp = r.avg_ts;
        st = kv_bench_gen(c, n_gen, &bp, &r, err);
        if (st == KV_OK)
            *tg = r.avg_ts;
    }
    kv_ctx_free(c);
    kv_model_close(m);
    return st;
}

kv_status kv__opt_measure(const kv__opt_run *o, kv_opt_variant *v, kv_err *err) {
    struct stat sb;
    if (stat(v->path, &sb) != 0)
        return KV_FAIL(err, KV_ERR_IO, "%s: missing after quantizing", v->path);
    v->size = (uint64_t)sb.st_size;
    v->bpw = o->r->n_params ? 8.0 * (double)v->size / (double)o->r->n_params : 0;
    kv_status st = kv__opt_kld(o, v->path, o->logits, -1, &v->ppl, &v->kld_mean, &v->kld_p99,
                               &v->same_top, err);
    if (st != KV_OK)
        return st;
    // RAM: the file (mapped) plus an F16 KV cache of one evaluation context.
    kv_model *m = NULL;
    st = kv_model_open(v->path, &m, err);
    if (st != KV_OK)
        return st;
    const kv_hparams *h = kv_model_hparams(m);
    uint64_t kv = 2ull * 2 * (uint64_t)h->n_layer * (uint64_t)o->n_ctx *
                  (uint64_t)(h->n_head_kv * (h->n_embd_head_k + h->n_embd_head_v) / 2);
    v->ram = v->size + kv;
    kv_model_close(m);
    return bench(o, v->path, &v->pp_tps, &v->tg_tps, err);
}

static kv_status tokens_of(const kv_model *m, const char *text, size_t len, kv_token **ids,
                           int64_t *n, kv_err *err) {
    kv_vocab *v = NULL;
    kv_status st = kv_vocab_from_gguf(kv_model_gguf(m), &v, err);
    if (st == KV_OK)
        st = kv_tokenize_alloc(v, text, len, true, true, ids, n, err);
    kv_vocab_free(v);
    return st;
}

kv_status kv__opt_base_logits(const kv__opt_run *o, const char *text, size_t len, int n_chunks,
                              const char *out_path, double *ppl, kv_err *err) {
    kv_model *m = NULL;
    kv_ctx *c = NULL;
    kv_token *ids = NULL;
    int64_t n = 0;
    kv_status st = open_ctx(o, o->base, o->n_ctx, &m, &c, err);
    if (st == KV_OK)
        st = tokens_of(m, text, len, &ids, &n, err);
    if (st == KV_OK) {
        kv_ppl_params pp = {o->n_ctx, n_chunks > 0 ? n_chunks : -1, bos_of(m), out_path, NULL, NULL};
        kv_ppl_result r;
        st = kv_eval_perplexity(c, ids, n, &pp, &r, err);
        if (st == KV_OK && ppl)
            *ppl = r.ppl;
    }
    free(ids);
    kv_ctx_free(c);
    kv_model_close(m);
    return st;
}

kv_status kv__opt_imatrix(const kv__opt_run *o, const char *out_path, kv_err *err) {
    kv_model *m = NULL;
    kv_ctx *c = NULL;
    kv_token *ids = NULL;
    int64_t n = 0;
    kv_status st = open_ctx(o, o->base, o->n_ctx, &m, &c, err);
    if (st == KV_OK)
        st = tokens_of(m, o->calib_text, o->calib_len, &ids, &n, err);
    if (st == KV_OK) {
        int nc = o->p->n_chunks_calib > 0 ? o->p->n_chunks_calib : -1;
        kv_imatrix_params ip = {o->n_ctx, nc, bos_of(m), false, "optimize-calibration", NULL, NULL};
        st = kv_eval_imatrix(c, ids, n, &ip, out_path, NULL, err);
    }
    free(ids);
    kv_ctx_free(c);
    kv_model_close(m);
    return st;
}

void kv__opt_machine(kv__opt_run *o, const kv_model *m) {
    kv_opt_result *r = o->r;
    snprintf(r->simd, sizeof r->simd, "%s", kv_model_kernels_name(m));
    snprintf(r->cpu, sizeof r->cpu, "?");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            const char *colon = strchr(line, ':');
            if (colon && (!strncmp(line, "model name", 10) || !strncmp(line, "Model", 5))) {
                const char *s = colon + 1;
                while (*s == ' ' || *s == '\t')
                    s++;
                snprintf(r->cpu, sizeof r->cpu, "%.*s", (int)strcspn(s, "\n"), s);
                break;
            }
        }
        fclose(f);
    }
    r->n_threads = o->n_threads;
    size_t size = kv_bench_bandwidth_size();
    if (size > ((size_t)256 << 20))
        size = (size_t)256 << 20;
    kv_err e;
    int nt = o->n_threads > 0 ? o->n_threads : 1;
    if (kv_bench_bandwidth(size, nt, 2, &r->bw_gbs, &e) != KV_OK)
        r->bw_gbs = 0;
}
