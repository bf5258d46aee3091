// Perplexity the way llama-perplexity computes it: chunks of n_ctx tokens with
// BOS first, the second half of each chunk scored, the log-softmax with its
// maximum in float and its sum in double, and the same error estimate. Also
// the chunk runner shared with the KL-divergence driver.
#include "kvant/kv_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "eval/eval_int.h"

double kv_eval_nll(const float *logits, int32_t n_vocab, int32_t token) {
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] > max)
            max = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++)
        sum += expf(logits[i] - max);
    return -((double)(logits[token] - max) - log(sum));
}

void kv_ppl_add(kv_ppl_acc *a, double nll) {
    a->sum_nll += nll;
    a->sum_nll2 += nll * nll;
    a->count++;
}

void kv_ppl_value(const kv_ppl_acc *a, double *ppl, double *unc) {
    *ppl = 0.0;
    *unc = 0.0;
    if (a->count < 1)
        return;
    const double mean = a->sum_nll / (double)a->count;
    const double var = a->sum_nll2 / (double)a->count - mean * mean;
    *ppl = exp(mean);
    if (var > 0.0 && a->count > 1)
        *unc = *ppl * sqrt(var / (double)(a->count - 1));
}

kv_status kv_ppl_plan_make(int64_t n_tokens, int32_t n_ctx, int32_t n_chunks_max,
                           kv_ppl_plan *out, kv_err *err) {
    if (n_ctx < 4 || n_ctx > KV_CTX_MAX_CTX)
        return KV_FAIL(err, KV_ERR_INVALID, "perplexity context %d is outside 4..%d", n_ctx,
                       KV_CTX_MAX_CTX);
    if (n_tokens < 2 * (int64_t)n_ctx)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "the text has %lld tokens; a context of %d needs at least %lld",
                       (long long)n_tokens, n_ctx, 2 * (long long)n_ctx);
    int64_t n = n_tokens / n_ctx;
    if (n_chunks_max >= 0 && n > n_chunks_max)
        n = n_chunks_max;
    if (n > INT32_MAX)
        n = INT32_MAX;
    out->n_ctx = n_ctx;
    out->n_chunks = (int32_t)n;
    out->first = n_ctx / 2;
    return KV_OK;
}

// ---- chunk runner ----

kv_status kv__eval_chunk(kv_ctx *c, const int32_t *tokens, int32_t n_ctx, int32_t bos,
                         int32_t *scratch, kv__row_fn row, void *user, kv_err *err) {
    int32_t *toks = scratch;
    int32_t *pos = scratch + n_ctx;
    int8_t *want = (int8_t *)(scratch + 2 * n_ctx);
    const int32_t first = n_ctx / 2;
    for (int32_t i = 0; i < n_ctx; i++) {
        toks[i] = tokens[i];
        pos[i] = i;
        want[i] = i >= first && i <= n_ctx - 2;
    }
    if (bos >= 0)
        toks[0] = bos;
    kv_ctx_seq_clear(c, 0);
    const int32_t n_batch = kv_ctx_n_batch(c);
    for (int32_t b0 = 0; b0 < n_ctx; b0 += n_batch) {
        const int32_t n = n_ctx - b0 < n_batch ? n_ctx - b0 : n_batch;
        kv_batch b = {n, toks + b0, pos + b0, NULL, want + b0};
        kv_status st = kv_ctx_decode(c, &b, err);
        if (st != KV_OK)
            return st;
        for (int32_t i = 0; i < n; i++)
            if (want[b0 + i])
                row(user, b0 + i, kv_ctx_logits(c, i));
    }
    return KV_OK;
}

// ---- perplexity driver ----

typedef struct {
    const int32_t *tokens; // of this chunk, as in the text
    int32_t n_vocab;
    kv_ppl_acc acc;
    uint16_t *enc;         // an encoded row, when saving logits
    kv_out *out;
    kv_status st;
    kv_err *err;
} ppl_state;

static void ppl_row(void *user, int32_t j, const float *logits) {
    ppl_state *s = user;
    const int32_t next = s->tokens[j + 1];
    if (!s->out) {
        kv_ppl_add(&s->acc, kv_eval_nll(logits, s->n_vocab, next));
        return;
    }
    // llama-perplexity takes the nll from the encoding when it saves logits.
    kv_ppl_add(&s->acc, kv_kld_encode_row(logits, s->n_vocab, next, s->enc));
    if (s->st == KV_OK)
        s->st = kv_out_write(s->out, s->enc, (size_t)kv_kld_row_words(s->n_vocab) * 2, s->err);
}

static kv_status check_ctx(const kv_ctx *c, int32_t n_ctx, kv_err *err) {
    if (kv_ctx_n_ctx(c) < n_ctx)
        return KV_FAIL(err, KV_ERR_INVALID, "the context holds %d tokens; chunks need %d",
                       kv_ctx_n_ctx(c), n_ctx);
    return KV_OK;
}

kv_status kv_eval_perplexity(kv_ctx *c, const int32_t *tokens, int64_t n_tokens,
                             const kv_ppl_params *p, kv_ppl_result *out, kv_err *err) {
    kv_ppl_plan plan = {0, 0, 0};
    kv_status st = kv_ppl_plan_make(n_tokens, p->n_ctx, p->n_chunks, &plan, err);
    if (st == KV_OK)
        st = check_ctx(c, plan.n_ctx, err);
    if (st != KV_OK)
        return st;
    const int32_t n_vocab = (int32_t)kv_model_hparams(kv_ctx_model(c))->n_vocab;
    ppl_state s = {.n_vocab = n_vocab, .err = err};
    kv_out file = {0};
    int32_t *scratch = malloc((size_t)plan.n_ctx * 3 * sizeof *scratch);
    s.enc = p->save_logits ? calloc((size_t)kv_kld_row_words(n_vocab), sizeof *s.enc) : NULL;
    if (!scratch || (p->save_logits && !s.enc)) {
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (p->save_logits) {
        st = kv__logits_write_header(&file, p->save_logits, plan.n_ctx, n_vocab, plan.n_chunks,
                                     tokens, err);
        s.out = &file;
    }
    for (int32_t i = 0; i < plan.n_chunks && st == KV_OK; i++) {
        s.tokens = tokens + (int64_t)i * plan.n_ctx;
        st = kv__eval_chunk(c, s.tokens, plan.n_ctx, p->bos, scratch, ppl_row, &s, err);
        if (st == KV_OK)
            st = s.st;
        if (st == KV_OK && p->progress) {
            double ppl, unc;
            char label[64];
            kv_ppl_value(&s.acc, &ppl, &unc);
            snprintf(label, sizeof label, "[%d]%.4f", i + 1, ppl);
            p->progress(p->progress_user, (uint64_t)i + 1, (uint64_t)plan.n_chunks, label);
        }
    }
    if (st == KV_OK && p->save_logits)
        st = kv_out_commit(&file, err);
    if (st == KV_OK) {
        kv_ppl_value(&s.acc, &out->ppl, &out->ppl_unc);
        out->n_scored = s.acc.count;
        out->n_chunks = plan.n_chunks;
    }
done:
    if (p->save_logits)
        kv_out_abort(&file);
    free(s.enc);
    free(scratch);
    return st;
}
