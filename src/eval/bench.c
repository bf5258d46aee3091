// Prompt-processing and generation timings in llama-bench's manner: a warm-up,
// then timed repetitions, each on an emptied KV cache, summarised over the
// per-repetition tokens/s. Random token ids come from a seeded generator, so
// runs are repeatable. The memory bandwidth test is in bench_mem.c and the
// model description in bench_model.c.
#define _POSIX_C_SOURCE 200809L
#include "kvant/kv_bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

kv_bench_params kv_bench_default_params(void) {
    kv_bench_params p = {0};
    p.n_reps = 5;
    p.warmup = true;
    p.bos = -1;
    p.seed = 1;
    return p;
}

void kv_bench_stats(const double *v, int32_t n, double *mean, double *sd) {
    *mean = 0.0;
    *sd = 0.0;
    if (n < 1)
        return;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += v[i];
    const double m = sum / n;
    *mean = m;
    if (n < 2)
        return;
    double ss = 0.0;
    for (int32_t i = 0; i < n; i++)
        ss += (v[i] - m) * (v[i] - m);
    *sd = sqrt(ss / (n - 1));
}

// ---- one run ----

typedef struct {
    kv_ctx *c;
    int32_t n_tokens; // prompt length, or generated tokens
    int32_t n_batch;  // tokens per decode call
    int32_t bos;
    int32_t n_vocab;
    uint64_t rng;
    int32_t *tokens; // n_tokens ids, drawn before each run
    int32_t n_depth; // cells of sequence 0 kept before each run
} bench_job;

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void draw_tokens(bench_job *j, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        j->tokens[i] = (int32_t)(splitmix64(&j->rng) % (uint64_t)j->n_vocab);
    if (j->bos >= 0)
        j->tokens[0] = j->bos;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Decodes tokens[0..n) in calls of up to `step` tokens, each call with logits for
// its last token only.
static kv_status decode_steps(const bench_job *j, int32_t n, int32_t step, kv_err *err) {
    for (int32_t done = 0; done < n;) {
        const int32_t k = n - done < step ? n - done : step;
        const kv_batch b = {.n_tokens = k, .tokens = j->tokens + done};
        kv_status st = kv_ctx_decode(j->c, &b, err);
        if (st != KV_OK)
            return st;
        done += k;
    }
    return KV_OK;
}

// One run of n tokens on an emptied cache (but for the depth's cells); *ns gets
// its wall time.
static kv_status run_once(bench_job *j, int32_t n, uint64_t *ns, kv_err *err) {
    draw_tokens(j, n);
    if (j->n_depth > 0) {
        kv_status st = kv_ctx_seq_rm(j->c, 0, j->n_depth, -1, err);
        if (st != KV_OK)
            return st;
    } else {
        kv_ctx_seq_clear(j->c, -1);
    }
    const uint64_t t0 = now_ns();
    kv_status st = decode_steps(j, n, j->n_batch, err);
    *ns = now_ns() - t0;
    return st;
}

// ---- a test: warm-up and repetitions ----

static kv_status check(const kv_ctx *c, int32_t n, int32_t n_batch, const kv_bench_params *p,
                       const char *what, kv_err *err) {
    if (n < 1)
        return KV_FAIL(err, KV_ERR_INVALID, "bench: %s of %d tokens; need at least 1", what, n);
    if (p->n_reps < 1 || p->n_reps > KV_BENCH_MAX_REPS)
        return KV_FAIL(err, KV_ERR_INVALID, "bench: %d repetitions is outside 1..%d", p->n_reps,
                       KV_BENCH_MAX_REPS);
    if (n_batch < 1)
        return KV_FAIL(err, KV_ERR_INVALID, "bench: batch of %d tokens; need at least 1", n_batch);
    if (p->n_depth < 0)
        return KV_FAIL(err, KV_ERR_INVALID, "bench: depth of %d tokens", p->n_depth);
    if ((int64_t)n + p->n_depth > kv_ctx_n_ctx(c))
        return KV_FAIL(err, KV_ERR_LIMIT,
                       "bench: %s of %d tokens at depth %d needs a context of %lld, it has %d",
                       what, n, p->n_depth, (long long)n + p->n_depth, kv_ctx_n_ctx(c));
    if (n_batch > kv_ctx_n_batch(c))
        return KV_FAIL(err, KV_ERR_LIMIT, "bench: batches of %d tokens exceed the context's %d",
                       n_batch, kv_ctx_n_batch(c));
    return KV_OK;
}

static void summarise(kv_bench_result *r, int32_t n_tokens) {
    double ns[KV_BENCH_MAX_REPS];
    for (int32_t i = 0; i < r->n_reps; i++) {
        const uint64_t t = r->samples_ns[i] ? r->samples_ns[i] : 1;
        ns[i] = (double)t;
        r->samples_ts[i] = 1e9 * n_tokens / (double)t;
    }
    kv_bench_stats(ns, r->n_reps, &r->avg_ns, &r->stddev_ns);
    kv_bench_stats(r->samples_ts, r->n_reps, &r->avg_ts, &r->stddev_ts);
}

// Runs a test: n tokens per run in calls of n_batch; warm_n tokens for the warm-up.
static kv_status run_test(kv_ctx *c, int32_t n, int32_t n_batch, int32_t warm_n,
                          const kv_bench_params *p, const char *name, kv_bench_result *out,
                          kv_err *err) {
    const kv_hparams *hp = kv_model_hparams(kv_ctx_model(c));
    bench_job j = {.c = c, .n_tokens = n, .n_batch = n_batch, .n_vocab = (int32_t)hp->n_vocab,
                   .rng = p->seed};
    j.bos = p->bos < j.n_vocab ? p->bos : -1;
    j.tokens = malloc((size_t)n * sizeof *j.tokens);
    if (!j.tokens)
        return KV_FAIL(err, KV_ERR_NOMEM, "bench: out of memory for %d token ids", n);
    out->n_reps = p->n_reps;
    out->n_batch = n_batch;
    out->n_depth = p->n_depth;
    kv_status st = KV_OK;
    uint64_t ns = 0;
    if (p->n_depth > 0) { // the depth's tokens, once, untimed, in the prompt's batches
        j.tokens = realloc(j.tokens, (size_t)(n > p->n_depth ? n : p->n_depth) * sizeof *j.tokens);
        if (!j.tokens)
            return KV_FAIL(err, KV_ERR_NOMEM, "bench: out of memory for %d token ids", p->n_depth);
        draw_tokens(&j, p->n_depth);
        kv_ctx_seq_clear(c, -1);
        const int32_t step = kv_ctx_n_batch(c);
        st = decode_steps(&j, p->n_depth, step, err);
        j.n_depth = p->n_depth;
    }
    if (st == KV_OK && p->warmup) {
        if (p->progress)
            p->progress(p->progress_user, name, 0, p->n_reps);
        st = run_once(&j, warm_n, &ns, err);
    }
    for (int32_t r = 0; r < p->n_reps && st == KV_OK; r++) {
        if (p->progress)
            p->progress(p->progress_user, name, r + 1, p->n_reps);
        st = run_once(&j, n, &out->samples_ns[r], err);
    }
    free(j.tokens);
    if (st == KV_OK)
        summarise(out, n);
    return st;
}

kv_status kv_bench_prompt(kv_ctx *c, int32_t n_prompt, const kv_bench_params *p,
                          kv_bench_result *out, kv_err *err) {
    *out = (kv_bench_result){.n_prompt = n_prompt};
    int32_t n_batch = p->n_batch > 0 ? p->n_batch : kv_ctx_n_batch(c);
    if (n_batch > n_prompt && n_prompt > 0)
        n_batch = n_prompt;
    kv_status st = check(c, n_prompt, n_batch, p, "prompt", err);
    if (st != KV_OK)
        return st;
    char name[32];
    snprintf(name, sizeof name, "pp%d", n_prompt);
    return run_test(c, n_prompt, n_batch, n_prompt, p, name, out, err);
}

kv_status kv_bench_gen(kv_ctx *c, int32_t n_gen, const kv_bench_params *p, kv_bench_result *out,
                       kv_err *err) {
    *out = (kv_bench_result){.n_gen = n_gen};
    kv_status st = check(c, n_gen, 1, p, "generation", err);
    if (st != KV_OK)
        return st;
    char name[32];
    snprintf(name, sizeof name, "tg%d", n_gen);
    return run_test(c, n_gen, 1, 1, p, name, out, err);
}
