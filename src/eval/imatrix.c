// Importance matrices as llama-imatrix computes them: for each weight the products
// see, sum x^2 per input column over every activation row (float, as llama.cpp),
// count rows per column and products (ncall); the file stores sum / count * ncall.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_eval.h"
#include "kvant/kv_imatrix.h"

#define IM_MIN_ROWS 16 // llama-imatrix ignores products with fewer activation rows

typedef struct {
    char *name;
    int64_t n;
    float *sum;      // sum of x^2 per column
    int64_t *count;  // rows seen per column
    int32_t ncall;
} im_entry;

typedef struct {
    im_entry *e;
    size_t n, cap;
    bool process_output;
    bool failed;     // out of memory, a width change, or a non-finite sum
    char bad[128];
} im_acc;

static im_entry *find_or_add(im_acc *a, const char *name, int64_t n) {
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->e[i].name, name) == 0)
            return a->e[i].n == n ? &a->e[i] : NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        im_entry *ne = realloc(a->e, cap * sizeof *ne);
        if (!ne)
            return NULL;
        a->e = ne;
        a->cap = cap;
    }
    im_entry *e = &a->e[a->n];
    memset(e, 0, sizeof *e);
    size_t len = strlen(name) + 1;
    e->name = malloc(len);
    e->sum = calloc((size_t)n, sizeof *e->sum);
    e->count = calloc((size_t)n, sizeof *e->count);
    if (!e->name || !e->sum || !e->count) {
        free(e->name), free(e->sum), free(e->count);
        return NULL;
    }
    memcpy(e->name, name, len);
    e->n = n;
    a->n++;
    return e;
}

// The context's matmul hook: x (n_rows, n_in) is the input of weight `tensor`.
static void collect(void *user, const char *tensor, const float *x, int64_t n_rows, int64_t n_in) {
    im_acc *a = (im_acc *)user;
    bool wanted = strncmp(tensor, "blk.", 4) == 0 ||
                  (a->process_output && strcmp(tensor, "output.weight") == 0);
    if (!wanted || n_rows < IM_MIN_ROWS || a->failed)
        return;
    im_entry *e = find_or_add(a, tensor, n_in);
    if (!e) {
        a->failed = true;
        snprintf(a->bad, sizeof a->bad, "%s", tensor);
        return;
    }
    e->ncall++;
    for (int64_t r = 0; r < n_rows; r++) {
        const float *row = x + r * n_in;
        for (int64_t j = 0; j < n_in; j++) {
            e->sum[j] += row[j] * row[j];
            e->count[j]++;
        }
    }
}

static void acc_free(im_acc *a) {
    for (size_t i = 0; i < a->n; i++)
        free(a->e[i].name), free(a->e[i].sum), free(a->e[i].count);
    free(a->e);
}

// Decodes one chunk (BOS first) in batches; adds the second half's NLL to ppl.
static kv_status run_chunk(kv_ctx *c, const int32_t *chunk, const kv_imatrix_params *p,
                           int32_t *buf, int8_t *want, kv_ppl_acc *ppl, kv_err *err) {
    int32_t n_ctx = p->n_ctx, first = n_ctx / 2, nb = kv_ctx_n_batch(c);
    int32_t n_vocab = (int32_t)kv_model_hparams(kv_ctx_model(c))->n_vocab;
    memcpy(buf, chunk, (size_t)n_ctx * sizeof *buf);
    if (p->bos >= 0)
        buf[0] = p->bos;
    kv_ctx_seq_clear(c, 0);
    for (int32_t i = 0; i < n_ctx; i += nb) {
        int32_t k = n_ctx - i < nb ? n_ctx - i : nb;
        for (int32_t j = 0; j < k; j++)
            want[j] = (int8_t)(i + j >= first && i + j < n_ctx - 1);
        kv_batch b = {k, buf + i, NULL, NULL, want};
        kv_status st = kv_ctx_decode(c, &b, err);
        if (st != KV_OK)
            return st;
        for (int32_t j = 0; j < k; j++)
            if (want[j])
                kv_ppl_add(ppl, kv_eval_nll(kv_ctx_logits(c, j), n_vocab, chunk[i + j + 1]));
    }
    return KV_OK;
}

static kv_status save(const im_acc *a, int32_t n_chunks, const kv_imatrix_params *p,
                      const char *out_path, kv_err *err) {
    kv_imatrix_entry *es = calloc(a->n ? a->n : 1, sizeof *es);
    float **vals = calloc(a->n ? a->n : 1, sizeof *vals);
    kv_status st = (es && vals) ? KV_OK : KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; st == KV_OK && i < a->n; i++) {
        const im_entry *e = &a->e[i];
        if (!(vals[n] = malloc((size_t)e->n * sizeof(float)))) {
            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
            break;
        }
        for (int64_t j = 0; j < e->n; j++) // llama-imatrix: value / count * ncall
            vals[n][j] = e->count[j] ? e->sum[j] / (float)e->count[j] * (float)e->ncall : 0.0f;
        es[n] = (kv_imatrix_entry){e->name, e->ncall, (int32_t)e->n, vals[n]};
        n++;
    }
    if (st == KV_OK)
        st = kv_imatrix_save(out_path, es, n, n_chunks, p->dataset, err);
    for (size_t i = 0; vals && i < n; i++)
        free(vals[i]);
    free(vals);
    free(es);
    return st;
}

kv_status kv_eval_imatrix(kv_ctx *c, const int32_t *tokens, int64_t n_tokens,
                          const kv_imatrix_params *p, const char *out_path, kv_ppl_result *res,
                          kv_err *err) {
    kv_ppl_plan plan = {0, 0, 0};
    kv_status st = kv_ppl_plan_make(n_tokens, p->n_ctx, p->n_chunks, &plan, err);
    if (st != KV_OK)
        return st;
    int32_t *buf = malloc((size_t)p->n_ctx * sizeof *buf);
    int8_t *want = malloc((size_t)kv_ctx_n_batch(c));
    im_acc a = {0};
    a.process_output = p->process_output;
    kv_ppl_acc ppl = {0};
    if (!buf || !want)
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a chunk of %d tokens", p->n_ctx);
    kv_ctx_set_matmul_hook(c, collect, &a);
    for (int32_t i = 0; st == KV_OK && i < plan.n_chunks; i++) {
        st = run_chunk(c, tokens + (int64_t)i * p->n_ctx, p, buf, want, &ppl, err);
        if (st == KV_OK && a.failed)
            st = KV_FAIL(err, KV_ERR_NOMEM, "importance matrix: cannot collect for '%s'", a.bad);
        if (st == KV_OK && p->progress) {
            double v, u;
            char label[48];
            kv_ppl_value(&ppl, &v, &u);
            snprintf(label, sizeof label, "[%d]%.4f", i + 1, v);
            p->progress(p->progress_user, (uint64_t)i + 1, (uint64_t)plan.n_chunks, label);
        }
    }
    kv_ctx_set_matmul_hook(c, NULL, NULL);
    kv_ctx_seq_clear(c, 0);
    if (st == KV_OK)
        st = save(&a, plan.n_chunks, p, out_path, err);
    if (st == KV_OK && res) {
        kv_ppl_value(&ppl, &res->ppl, &res->ppl_unc);
        res->n_scored = ppl.count;
        res->n_chunks = plan.n_chunks;
    }
    acc_free(&a);
    free(buf);
    free(want);
    return st;
}
