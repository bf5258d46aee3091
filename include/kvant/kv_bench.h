// Speed measurements made the way llama-bench makes them, so the figures
// compare: prompt processing (random token ids decoded in batches on an emptied
// sequence) and generation (single-token decodes starting from BOS), each after
// a warm-up, repeated, summarised as the mean and sample standard deviation of
// the per-repetition tokens/s. Also the machine's memory bandwidth (a streaming
// read) and the generation speed it allows. Printing is left to `kvant bench`.
#ifndef KV_BENCH_H
#define KV_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_model.h"
#include "kvant/kv_status.h"

#define KV_BENCH_MAX_REPS 100 // repetitions of one test

// Called before each run of a test: rep 0 is the warm-up, 1..n_reps the timed runs.
typedef void (*kv_bench_progress_fn)(void *user, const char *test, int32_t rep, int32_t n_reps);

typedef struct {
    int32_t n_reps;  // timed repetitions, 1..KV_BENCH_MAX_REPS (default 5)
    int32_t n_batch; // prompt tokens per decode call; 0 (default): the context's n_batch
    bool warmup;     // one untimed run first (default true): the whole prompt for the
                     // prompt test, a single token for generation (as llama-bench)
    int32_t bos;     // first token of every run; < 0: a random one (default: -1)
    uint64_t seed;   // of the random token ids (default 1)
    kv_bench_progress_fn progress; // may be NULL
    void *progress_user;
    int32_t n_depth; // tokens in sequence 0's cache before each timed run (llama-bench's
                     // -d): decoded once, untimed; each run then adds its tokens after
                     // them (default 0)
} kv_bench_params;

kv_bench_params kv_bench_default_params(void);

// One test's timings. Exactly one of n_prompt and n_gen is non-zero.
typedef struct {
    int32_t n_prompt;
    int32_t n_gen;
    int32_t n_batch; // tokens per decode call (1 for generation)
    int32_t n_depth; // tokens already in the cache during the runs
    int32_t n_reps;
    uint64_t samples_ns[KV_BENCH_MAX_REPS]; // wall time of each repetition
    double samples_ts[KV_BENCH_MAX_REPS];   // tokens / second of each repetition
    double avg_ns, stddev_ns;
    double avg_ts, stddev_ts; // over samples_ts, as llama-bench's avg_ts / stddev_ts
} kv_bench_result;

// Mean and sample standard deviation (divided by n - 1) of v[0..n); *sd is 0
// when n < 2 and both are 0 when n < 1. llama-bench's avg/stdev, computed in two
// passes so that large, close values do not cancel.
void kv_bench_stats(const double *v, int32_t n, double *mean, double *sd);

// Prompt processing: each run empties every sequence of c, then decodes n_prompt
// tokens of sequence 0 in calls of n_batch tokens (the first token is p->bos when
// >= 0, the rest random ids of the vocabulary); only the last token of each call
// gets logits. c needs n_ctx >= n_prompt and n_batch >= the batch used. Errors:
// KV_ERR_INVALID for bad counts, KV_ERR_LIMIT when the context is too small,
// KV_ERR_NOMEM, or whatever kv_ctx_decode says. Leaves the cache filled.
kv_status kv_bench_prompt(kv_ctx *c, int32_t n_prompt, const kv_bench_params *p,
                          kv_bench_result *out, kv_err *err);

// Generation: each run empties every sequence of c, then makes n_gen decode
// calls of one token (the first p->bos when >= 0, then random ids). c needs
// n_ctx >= n_gen. Errors as kv_bench_prompt.
kv_status kv_bench_gen(kv_ctx *c, int32_t n_gen, const kv_bench_params *p, kv_bench_result *out,
                       kv_err *err);

// ---- memory bandwidth ----

// A buffer size for kv_bench_bandwidth: twice the last-level cache, at least
// 512 MiB, at most 2 GiB and at most a quarter of the memory that is free now
// (but never under 64 MiB). Reads sysfs; thread-safe.
size_t kv_bench_bandwidth_size(void);

// Reads a buffer of size bytes (allocated, filled and freed here) with n_threads
// threads, each streaming through its own contiguous part, n_runs times;
// *gbs is the best run's rate in 1e9 bytes per second. KV_ERR_INVALID for
// size < 1 MiB, n_threads outside 1..KV_THREADPOOL_MAX_THREADS or n_runs < 1;
// KV_ERR_NOMEM when the buffer cannot be had. Not thread-safe against itself
// (measures the machine).
kv_status kv_bench_bandwidth(size_t size, int n_threads, int n_runs, double *gbs, kv_err *err);

// ---- the model ----

typedef struct {
    uint64_t size;            // bytes of all tensors in the file (llama-bench's model_size)
    uint64_t n_params;        // elements of all tensors (model_n_params)
    uint64_t bytes_per_token; // weight bytes one decoded token reads: every matrix and
                              // norm, one row of token_embd (all of it when it is
                              // the output too); the KV cache is not counted
    char size_label[16];      // n_params rounded: "7M", "162M", "1.1B"
    char ftype[32];           // general.file_type's name ("Q4_K_M"), "?" when absent
    char type[96];            // "<arch> <size_label> <ftype>", llama-bench's model_type
    int32_t bos;              // the BOS token when the tokenizer adds one, else -1
} kv_bench_model;

// Describes m for a benchmark report. Reads the GGUF tensor table and
// tokenizer keys; a model whose tokenizer cannot be read gets bos -1.
void kv_bench_describe(const kv_model *m, kv_bench_model *out);

#endif
