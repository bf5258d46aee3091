// Embeddings: the final hidden states of a text's tokens (after the output
// norm), pooled and scaled to unit length, as Ollama's /api/embed returns them:
// the mean over the tokens, or the first token's ([CLS]) when the model's
// pooling_type says CLS. One context of one sequence, decoded in chunks of the
// batch size; an encoder (bert: non-causal attention) in one batch of n_ctx.
#include "serve/embed_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct kv__embedder {
    kv_ctx *ctx;
    int32_t n_ctx;
    int32_t n_batch;
    int64_t n_embd;
    bool cls; // pool the first token's state, not the mean
    int32_t *pos;
    int8_t *out;
    double *sum;
};

kv_status kv__embedder_new(const kv_model *m, int32_t n_ctx, kv_threadpool *pool,
                           kv__embedder **out, kv_err *err) {
    *out = NULL;
    kv__embedder *e = calloc(1, sizeof *e);
    if (!e)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the embedding context");
    kv_ctx_params p = kv_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_seq_max = 1;
    p.pool = pool;
    p.logits = false;
    p.embeddings = true;
    const kv_hparams *hp = kv_model_hparams(m);
    if (!hp->causal_attn) { // every token sees the whole input: one batch
        p.n_batch = n_ctx;
        p.n_outputs_max = n_ctx;
    }
    e->cls = hp->pooling_type == 2;
    kv_status st = kv_ctx_new(m, &p, &e->ctx, err);
    if (st != KV_OK) {
        free(e);
        return st;
    }
    e->n_ctx = kv_ctx_n_ctx(e->ctx);
    e->n_batch = kv_ctx_n_batch(e->ctx);
    e->n_embd = kv_model_hparams(m)->n_embd;
    e->pos = calloc((size_t)e->n_batch, sizeof *e->pos);
    e->out = calloc((size_t)e->n_batch, sizeof *e->out);
    e->sum = calloc((size_t)e->n_embd, sizeof *e->sum);
    if (!e->pos || !e->out || !e->sum) {
        kv__embedder_free(e);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the embedding context");
    }
    memset(e->out, 1, (size_t)e->n_batch);
    *out = e;
    return KV_OK;
}

void kv__embedder_free(kv__embedder *e) {
    if (!e)
        return;
    kv_ctx_free(e->ctx);
    free(e->pos);
    free(e->out);
    free(e->sum);
    free(e);
}

kv_status kv__embed_tokens(kv__embedder *e, const int32_t *tokens, int32_t n, float *out,
                           kv_err *err) {
    if (n < 1 || n > e->n_ctx)
        return KV_FAIL(err, KV_ERR_LIMIT, "input has %d tokens, the context holds 1..%d", n,
                       e->n_ctx);
    kv_ctx_seq_clear(e->ctx, 0);
    memset(e->sum, 0, (size_t)e->n_embd * sizeof *e->sum);
    for (int32_t off = 0; off < n; off += e->n_batch) {
        int32_t k = n - off < e->n_batch ? n - off : e->n_batch;
        for (int32_t i = 0; i < k; i++)
            e->pos[i] = off + i;
        kv_batch b = {.n_tokens = k, .tokens = tokens + off, .pos = e->pos, .logits = e->out};
        kv_status st = kv_ctx_decode(e->ctx, &b, err);
        if (st != KV_OK)
            return st;
        for (int32_t i = 0; i < k; i++) {
            const float *h = kv_ctx_hidden(e->ctx, i, true);
            if (!h)
                return KV_FAIL(err, KV_ERR_INVALID,
                               "the context kept no hidden state for "
                               "token %d",
                               off + i);
            for (int64_t d = 0; d < e->n_embd && (!e->cls || off + i == 0); d++)
                e->sum[d] += h[d];
        }
    }
    double norm = 0;
    for (int64_t d = 0; d < e->n_embd; d++) {
        e->sum[d] /= e->cls ? 1 : n;
        norm += e->sum[d] * e->sum[d];
    }
    norm = sqrt(norm);
    for (int64_t d = 0; d < e->n_embd; d++)
        out[d] = (float)(norm > 0 ? e->sum[d] / norm : 0);
    kv_ctx_seq_clear(e->ctx, 0);
    return KV_OK;
}
