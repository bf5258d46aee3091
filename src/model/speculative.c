// Speculative decoding's proposers: n-gram lookup in the history (the most
// recent earlier occurrence of its longest suffix of up to lookup_n tokens, and
// the tokens that followed it), or a draft model that catches up with the
// history in its own context and samples guesses one at a time. The target's
// check of the guesses is generate.c's spec loop.
#include "kvant/kv_speculative.h"

#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"
#include "model/spec_int.h"

kv_spec_params kv_spec_default_params(void) {
    kv_spec_params p = {NULL, 8, 3};
    return p;
}

kv_status kv_spec_new(const kv_spec_params *p, int32_t n_vocab, kv_spec **out, kv_err *err) {
    *out = NULL;
    if (p->n_draft < 1 || p->n_draft > KV_SPEC_MAX_DRAFT)
        return KV_FAIL(err, KV_ERR_INVALID, "draft length %d is outside 1..%d", p->n_draft,
                       KV_SPEC_MAX_DRAFT);
    if (!p->draft && (p->lookup_n < 1 || p->lookup_n > KV_SPEC_MAX_LOOKUP))
        return KV_FAIL(err, KV_ERR_INVALID, "lookup n-gram length %d is outside 1..%d",
                       p->lookup_n, KV_SPEC_MAX_LOOKUP);
    if (p->draft) {
        int64_t dv = kv_model_hparams(kv_ctx_model(p->draft))->n_vocab;
        if (dv != n_vocab)
            return KV_FAIL(err, KV_ERR_INVALID,
                           "the draft model has %lld tokens in its vocabulary, the model %d",
                           (long long)dv, n_vocab);
    }
    kv_spec *s = calloc(1, sizeof *s);
    if (!s)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for speculative decoding");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->scratch = malloc((size_t)n_vocab * sizeof *s->scratch);
    if (p->draft)
        s->q = malloc((size_t)p->n_draft * (size_t)n_vocab * sizeof *s->q);
    if (!s->scratch || (p->draft && !s->q)) {
        kv_spec_free(s);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for speculative decoding");
    }
    *out = s;
    return KV_OK;
}

void kv_spec_free(kv_spec *s) {
    if (!s)
        return;
    kv_sample_free(s->ds);
    free(s->hist);
    free(s->dtok);
    free(s->q);
    free(s->scratch);
    free(s);
}

void kv_spec_reset(kv_spec *s) {
    s->n_hist = 0;
    s->base = 0;
}

// Room for n tokens in *a (capacity *cap).
static kv_status grow(int32_t **a, int32_t *cap, int64_t n, kv_err *err) {
    if (n <= *cap)
        return KV_OK;
    if (n > INT32_MAX / 2)
        return KV_FAIL(err, KV_ERR_LIMIT, "speculative decoding: %lld tokens of history",
                       (long long)n);
    int32_t c = *cap > 0 ? *cap : 256;
    while (c < n)
        c *= 2;
    int32_t *b = realloc(*a, (size_t)c * sizeof *b);
    if (!b)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %d tokens of history", c);
    *a = b;
    *cap = c;
    return KV_OK;
}

kv_status kv__spec_push(kv_spec *s, int32_t token, kv_err *err) {
    kv_status st = grow(&s->hist, &s->cap_hist, (int64_t)s->n_hist + 1, err);
    if (st == KV_OK)
        s->hist[s->n_hist++] = token;
    return st;
}

kv_status kv__spec_begin(kv_spec *s, int32_t n0, const int32_t *prompt, int64_t n_prompt,
                         const kv_sample_params *sp, kv_err *err) {
    if (n0 >= s->base && n0 - s->base <= s->n_hist) {
        s->n_hist = n0 - s->base; // the sequence kept a prefix of what we saw
    } else {                      // unknown tokens before the prompt: start after them
        s->n_hist = 0;
        s->base = n0;
    }
    kv_status st = grow(&s->hist, &s->cap_hist, (int64_t)s->n_hist + n_prompt, err);
    if (st != KV_OK)
        return st;
    memcpy(s->hist + s->n_hist, prompt, (size_t)n_prompt * sizeof *prompt);
    s->n_hist += (int32_t)n_prompt;
    s->draft_off = false;
    s->sampled = sp->temp > 0.0f;
    kv_sample_free(s->ds);
    s->ds = NULL;
    if (!s->p.draft)
        return KV_OK;
    kv_sample_params dp = *sp;
    dp.penalty_last_n = 0;
    dp.seed = sp->seed ^ 0x5bd1e995a5a5a5a5ull; // its own draws
    return kv_sample_new(&dp, s->n_vocab, &s->ds, err);
}

void kv__spec_end(kv_spec *s) {
    kv_sample_free(s->ds);
    s->ds = NULL;
}

const float *kv__spec_q(const kv_spec *s, int32_t i) {
    return s->q_valid ? s->q + (size_t)i * (size_t)s->n_vocab : NULL;
}

// ---- n-gram lookup ----

int32_t kv_spec_lookup(const int32_t *h, int32_t n, int32_t ngram, int32_t max_k, int32_t *out) {
    for (int32_t g = ngram < n ? ngram : n - 1; g >= 1; g--) {
        // the latest earlier occurrence of h[n-g..n) starting at i, followed by a token
        for (int32_t i = n - g - 1; i >= 0; i--) {
            if (memcmp(h + i, h + n - g, (size_t)g * sizeof *h) != 0)
                continue;
            int32_t k = 0;
            while (k < max_k && i + g + k < n)
                out[k] = h[i + g + k], k++;
            return k;
        }
    }
    return 0;
}

// ---- draft model ----

// Decodes tokens[0..n) into the draft's sequence 0 after its cells, with logits for the last.
static kv_status draft_decode(kv_spec *s, const int32_t *tokens, int32_t n, kv_err *err) {
    kv_ctx *d = s->p.draft;
    const int32_t nb = kv_ctx_n_batch(d);
    for (int32_t i = 0; i < n; i += nb) {
        const int32_t m = n - i < nb ? n - i : nb;
        kv_batch b = {m, tokens + i, NULL, NULL, NULL};
        kv_status st = kv_ctx_decode(d, &b, err);
        if (st != KV_OK)
            return st;
        s->d_last = m - 1;
    }
    kv_status st = grow(&s->dtok, &s->cap_dtok, (int64_t)s->n_dtok + n, err);
    if (st == KV_OK) {
        memcpy(s->dtok + s->n_dtok, tokens, (size_t)n * sizeof *tokens);
        s->n_dtok += n;
    }
    return st;
}

// Brings the draft's cells to the history: keeps the common prefix, decodes the rest.
static kv_status draft_sync(kv_spec *s, kv_err *err) {
    int32_t j = 0;
    while (j < s->n_dtok && j < s->n_hist && s->dtok[j] == s->hist[j])
        j++;
    if (j == s->n_hist && j > 0) // logits of the last history token are needed: redo it
        j--;
    kv_status st = kv_ctx_seq_rm(s->p.draft, 0, j, -1, err);
    if (st != KV_OK)
        return st;
    s->n_dtok = j;
    return draft_decode(s, s->hist + j, s->n_hist - j, err);
}

static kv_status draft_model(kv_spec *s, int32_t max_k, int32_t *k, kv_err *err) {
    kv_ctx *d = s->p.draft;
    if (s->n_hist + max_k > kv_ctx_n_ctx(d)) { // no room: the target goes on alone
        s->draft_off = true;
        return KV_OK;
    }
    kv_status st = draft_sync(s, err);
    for (int32_t i = 0; st == KV_OK && i < max_k; i++) {
        const float *logits = kv_ctx_logits(d, s->d_last);
        if (!logits)
            break;
        float *q = s->q + (size_t)i * (size_t)s->n_vocab;
        int32_t t = kv_sample_draft(s->ds, logits, q);
        if (t < 0)
            break;
        s->drafts[(*k)++] = t;
        if (i + 1 < max_k)
            st = draft_decode(s, &t, 1, err);
    }
    return st;
}

kv_status kv__spec_propose(kv_spec *s, int32_t max_k, int32_t *k, kv_err *err) {
    *k = 0;
    s->q_valid = false;
    if (max_k > s->p.n_draft)
        max_k = s->p.n_draft;
    if (max_k < 1 || s->n_hist < 1)
        return KV_OK;
    if (!s->p.draft) {
        *k = kv_spec_lookup(s->hist, s->n_hist, s->p.lookup_n, max_k, s->drafts);
        return KV_OK;
    }
    if (s->draft_off)
        return KV_OK;
    kv_status st = draft_model(s, max_k, k, err);
    s->q_valid = st == KV_OK && *k > 0 && s->sampled; // a greedy draft fills no q rows
    return st;
}
