// Sampling: penalties -> top-k -> top-p -> min-p -> temperature -> draw, the
// order of llama.cpp's default chain. Candidates are ordered by logit and then
// by token id, so ties never depend on the sort. The generator is xoshiro256**
// seeded through splitmix64, so a seed gives the same draws everywhere.
#include "kvant/kv_sample.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t id;
    float logit;
} cand;

struct kv_sampler {
    kv_sample_params p;
    int32_t n_vocab;
    cand *c;          // n_vocab candidates
    int32_t *counts;  // occurrences of each token in the history
    int32_t *hist;    // ring of the last penalty_last_n accepted tokens
    int32_t n_hist;
    int32_t hist_head; // next slot to write
    uint64_t rng[4];
};

kv_sample_params kv_sample_default_params(void) {
    kv_sample_params p = {0};
    p.temp = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.min_keep = 1;
    p.penalty_last_n = 64;
    p.penalty_repeat = 1.0f;
    return p;
}

// ---- random numbers ----

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t s[4]) {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

// Uniform in [0, 1) with 53 random bits.
static double next_unit(uint64_t s[4]) { return (double)(next_u64(s) >> 11) * 0x1.0p-53; }

static void seed_rng(kv_sampler *s) {
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
}

// ---- lifecycle ----

kv_status kv_sample_new(const kv_sample_params *p, int32_t n_vocab, kv_sampler **out, kv_err *err) {
    *out = NULL;
    if (n_vocab < 1)
        return KV_FAIL(err, KV_ERR_INVALID, "sampler vocabulary of %d tokens", n_vocab);
    if (p->penalty_last_n < 0 || p->penalty_last_n > KV_SAMPLE_MAX_LAST_N)
        return KV_FAIL(err, KV_ERR_INVALID, "penalty_last_n %d is outside 0..%d",
                       p->penalty_last_n, KV_SAMPLE_MAX_LAST_N);
    if (p->min_keep < 1 || !(p->penalty_repeat > 0.0f) || isnan(p->temp) || isnan(p->top_p) ||
        isnan(p->min_p) || isnan(p->penalty_freq) || isnan(p->penalty_present))
        return KV_FAIL(err, KV_ERR_INVALID,
                       "sampler parameters out of range (min_keep %d, repeat penalty %g)",
                       p->min_keep, (double)p->penalty_repeat);
    kv_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a sampler");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
    s->hist = malloc((size_t)(p->penalty_last_n > 0 ? p->penalty_last_n : 1) * sizeof *s->hist);
    if (!s->c || !s->counts || !s->hist) {
        kv_sample_free(s);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a sampler of %d tokens", n_vocab);
    }
    seed_rng(s);
    *out = s;
    return KV_OK;
}

void kv_sample_free(kv_sampler *s) {
    if (!s)
        return;
    free(s->c);
    free(s->counts);
    free(s->hist);
    free(s);
}

void kv_sample_reset(kv_sampler *s) {
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    s->n_hist = 0;
    s->hist_head = 0;
    seed_rng(s);
}

void kv_sample_accept(kv_sampler *s, int32_t token) {
    const int32_t cap = s->p.penalty_last_n;
    if (cap == 0 || token < 0 || token >= s->n_vocab)
        return;
    if (s->n_hist == cap) // full: the oldest token leaves the window
        s->counts[s->hist[s->hist_head]]--;
    else
        s->n_hist++;
    s->hist[s->hist_head] = token;
    s->counts[token]++;
    s->hist_head = (s->hist_head + 1) % cap;
}

// ---- the chain ----

// a ranks before b: higher logit, then lower id.
static bool better(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_cand(const void *pa, const void *pb) {
    const cand *a = pa;
    const cand *b = pb;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

static void apply_penalties(kv_sampler *s) {
    const kv_sample_params *p = &s->p;
    if (p->penalty_last_n == 0 ||
        (p->penalty_repeat == 1.0f && p->penalty_freq == 0.0f && p->penalty_present == 0.0f))
        return;
    for (int32_t t = 0; t < s->n_vocab; t++) {
        const int32_t n = s->counts[t];
        if (n == 0)
            continue;
        float *l = &s->c[t].logit;
        // Dividing a negative logit would raise it: multiply those instead.
        if (*l <= 0.0f)
            *l *= p->penalty_repeat;
        else
            *l /= p->penalty_repeat;
        *l -= (float)n * p->penalty_freq + p->penalty_present;
    }
}

static void sift_down(cand *h, int32_t n, int32_t i) {
    for (;;) {
        int32_t worst = i;
        const int32_t l = 2 * i + 1;
        const int32_t r = l + 1;
        if (l < n && better(&h[worst], &h[l]))
            worst = l;
        if (r < n && better(&h[worst], &h[r]))
            worst = r;
        if (worst == i)
            return;
        cand tmp = h[i];
        h[i] = h[worst];
        h[worst] = tmp;
        i = worst;
    }
}

// Moves the k best candidates to the front, sorted; O(n log k).
static void select_top_k(cand *c, int32_t n, int32_t k) {
    // c[0..k) is a heap with the worst kept candidate at its root.
    for (int32_t i = k / 2 - 1; i >= 0; i--)
        sift_down(c, k, i);
    for (int32_t i = k; i < n; i++) {
        if (better(&c[i], &c[0])) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    }
    qsort(c, (size_t)k, sizeof *c, cmp_cand);
}

// Keeps the smallest prefix (of sorted candidates) whose probability reaches top_p.
static int32_t cut_top_p(const cand *c, int32_t n, float top_p, int32_t min_keep) {
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)c[i].logit - (double)c[0].logit);
    double cum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        cum += exp((double)c[i].logit - (double)c[0].logit) / sum;
        if (cum >= (double)top_p && i + 1 >= min_keep)
            return i + 1;
    }
    return n;
}

// Keeps candidates whose probability is at least min_p times the top one's.
static int32_t cut_min_p(const cand *c, int32_t n, float min_p, int32_t min_keep) {
    const float threshold = c[0].logit + logf(min_p);
    int32_t keep = 0;
    while (keep < n && (c[keep].logit >= threshold || keep < min_keep))
        keep++;
    return keep;
}

static int32_t draw(kv_sampler *s, const cand *c, int32_t n) {
    const double inv_temp = 1.0 / (double)s->p.temp;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += exp(((double)c[i].logit - (double)c[0].logit) * inv_temp);
    const double u = next_unit(s->rng) * sum;
    double cum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        cum += exp(((double)c[i].logit - (double)c[0].logit) * inv_temp);
        if (u < cum)
            return c[i].id;
    }
    return c[n - 1].id;
}

// Candidates for every token, NaN logits at -inf, penalties applied.
static void fill(kv_sampler *s, const float *logits) {
    for (int32_t t = 0; t < s->n_vocab; t++) {
        s->c[t].id = t;
        s->c[t].logit = isnan(logits[t]) ? -INFINITY : logits[t];
    }
    apply_penalties(s);
}

// The greedy choice among candidates c[0..n).
static int32_t greedy(const kv_sampler *s, int32_t n) {
    int32_t best = 0;
    for (int32_t t = 1; t < n; t++)
        if (better(&s->c[t], &s->c[best]))
            best = t;
    return s->c[best].id;
}

// The chain before the draw over candidates c[0..n) (n >= 1, in id order):
// sorts and cuts them; returns how many remain at the front (1 when nothing
// has any probability: the first is taken).
static int32_t cut_chain(kv_sampler *s, int32_t n) {
    if (s->p.top_k > 0 && s->p.top_k < n) {
        select_top_k(s->c, n, s->p.top_k);
        n = s->p.top_k;
    } else {
        qsort(s->c, (size_t)n, sizeof *s->c, cmp_cand);
    }
    if (s->c[0].logit == -INFINITY)
        return 1;
    const int32_t min_keep = s->p.min_keep < n ? s->p.min_keep : n;
    if (s->p.top_p < 1.0f)
        n = cut_top_p(s->c, n, s->p.top_p, min_keep);
    if (s->p.min_p > 0.0f)
        n = cut_min_p(s->c, n, s->p.min_p, min_keep);
    return n;
}

// The chain over candidates c[0..n) (n >= 1, in id order).
static int32_t pick(kv_sampler *s, int32_t n) {
    if (!(s->p.temp > 0.0f))
        return greedy(s, n);
    n = cut_chain(s, n);
    return n == 1 ? s->c[0].id : draw(s, s->c, n);
}

int32_t kv_sample_next(kv_sampler *s, const float *logits) {
    fill(s, logits);
    return pick(s, s->n_vocab);
}

// Greedy under allow: only a token that would beat the best so far needs asking.
static int32_t best_allowed(kv_sampler *s, kv_sample_allow_fn allow, void *user) {
    int32_t best = -1;
    for (int32_t t = 0; t < s->n_vocab; t++)
        if ((best < 0 || better(&s->c[t], &s->c[best])) && allow(user, t))
            best = t;
    return best;
}

// With top-k on, the k best allowed tokens are usually among the few best of all:
// sorts the TOP_K_REACH * k best and moves the allowed ones, in order, to the
// front. Returns k when that found k of them (the same k, in the same order, as
// filtering everything first would give), else 0 and s->c is no longer whole.
#define TOP_K_REACH 4
static int32_t top_k_allowed(kv_sampler *s, kv_sample_allow_fn allow, void *user) {
    const int32_t k = s->p.top_k;
    if (k <= 0 || k > s->n_vocab / TOP_K_REACH)
        return 0;
    select_top_k(s->c, s->n_vocab, TOP_K_REACH * k);
    int32_t n = 0;
    for (int32_t i = 0; i < TOP_K_REACH * k && n < k; i++)
        if (allow(user, s->c[i].id))
            s->c[n++] = s->c[i];
    return n == k ? k : 0;
}

int32_t kv_sample_next_allowed(kv_sampler *s, const float *logits, kv_sample_allow_fn allow,
                               void *user) {
    fill(s, logits);
    if (!(s->p.temp > 0.0f))
        return best_allowed(s, allow, user);
    int32_t n = top_k_allowed(s, allow, user);
    if (n == 0) {
        fill(s, logits); // top_k_allowed may have reordered and overwritten candidates
        for (int32_t t = 0; t < s->n_vocab; t++)
            if (allow(user, t))
                s->c[n++] = s->c[t];
    }
    return n > 0 ? pick(s, n) : -1;
}

// ---- speculative decoding: the distribution as a vector, rejection sampling ----

// probs (n_vocab) = the distribution kv_sample_next draws from for these logits
// (one-hot on the greedy choice at temperature <= 0).
static void dense_probs(kv_sampler *s, const float *logits, float *probs) {
    fill(s, logits);
    memset(probs, 0, (size_t)s->n_vocab * sizeof *probs);
    if (!(s->p.temp > 0.0f)) {
        probs[greedy(s, s->n_vocab)] = 1.0f;
        return;
    }
    const int32_t n = cut_chain(s, s->n_vocab);
    const double inv_temp = 1.0 / (double)s->p.temp;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += exp(((double)s->c[i].logit - (double)s->c[0].logit) * inv_temp);
    for (int32_t i = 0; i < n; i++)
        probs[s->c[i].id] =
            (float)(exp(((double)s->c[i].logit - (double)s->c[0].logit) * inv_temp) / sum);
}

// A draw from weights w (n_vocab, >= 0, not all 0); -1 when all are 0.
static int32_t draw_dense(kv_sampler *s, const float *w) {
    double sum = 0.0;
    int32_t last = -1;
    for (int32_t t = 0; t < s->n_vocab; t++)
        if (w[t] > 0.0f) {
            sum += (double)w[t];
            last = t;
        }
    if (last < 0)
        return -1;
    const double u = next_unit(s->rng) * sum;
    double cum = 0.0;
    for (int32_t t = 0; t < s->n_vocab; t++) {
        cum += w[t] > 0.0f ? (double)w[t] : 0.0;
        if (w[t] > 0.0f && u < cum)
            return t;
    }
    return last;
}

int32_t kv_sample_draft(kv_sampler *s, const float *logits, float *q) {
    if (!(s->p.temp > 0.0f)) {
        fill(s, logits);
        return greedy(s, s->n_vocab);
    }
    dense_probs(s, logits, q);
    return draw_dense(s, q);
}

int32_t kv_sample_verify(kv_sampler *s, const float *logits, int32_t draft, const float *q,
                         float *scratch) {
    if (!(s->p.temp > 0.0f))
        return kv_sample_next(s, logits); // p is one-hot: accepted exactly when it is draft
    float *p = scratch;
    dense_probs(s, logits, p);
    const double qx = q ? (double)q[draft] : 1.0;
    // accept with probability min(1, p(x) / q(x))
    if (qx > 0.0 && next_unit(s->rng) * qx < (double)p[draft])
        return draft;
    // else draw from max(0, p - q), normalized
    for (int32_t t = 0; t < s->n_vocab; t++) {
        const float r = p[t] - (q ? q[t] : (t == draft ? 1.0f : 0.0f));
        p[t] = r > 0.0f ? r : 0.0f;
    }
    const int32_t t = draw_dense(s, p);
    return t >= 0 ? t : kv_sample_next(s, logits); // p == q to rounding: p itself
}
