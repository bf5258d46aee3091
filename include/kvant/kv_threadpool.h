// A pool of persistent worker threads that runs parallel loops over index
// ranges. The calling thread takes part as thread 0; workers sleep between
// loops. Work is handed out in chunks, so any split gives the same results as
// long as each index's work does not depend on which thread runs it.
#ifndef KV_THREADPOOL_H
#define KV_THREADPOOL_H

#include <stdint.h>

#include "kvant/kv_status.h"

// The one limit on threads, for every setting that takes a count (contexts,
// quantization, serve, bench).
#define KV_THREADPOOL_MAX_THREADS 256

// The default thread count: the online CPUs, at least 1 and at most
// KV_THREADPOOL_MAX_THREADS. Thread-safe.
int kv_threads_default(void);

// A requested thread count n resolved to the count to use: 0 means
// kv_threads_default(), 1..KV_THREADPOOL_MAX_THREADS is kept. Anything else fails
// with KV_ERR_INVALID, the message naming `what` (e.g. "--threads") and the limit.
kv_status kv_threads_resolve(int n, const char *what, int *out, kv_err *err);

typedef struct kv_threadpool kv_threadpool;

// Body of a parallel loop: handles indexes [begin, end). `thread` is in
// [0, n_threads) and is unique among the calls running at the same time, so it
// can pick per-thread scratch.
typedef void (*kv_parallel_fn)(void *arg, int64_t begin, int64_t end, int thread);

// Starts n_threads - 1 workers (n_threads in 1..KV_THREADPOOL_MAX_THREADS; 1 runs
// everything on the caller). On failure *out is NULL and err says why.
kv_status kv_threadpool_new(int n_threads, kv_threadpool **out, kv_err *err);
// Stops and joins the workers. Accepts NULL.
void kv_threadpool_free(kv_threadpool *tp);

int kv_threadpool_n_threads(const kv_threadpool *tp);

// Runs fn over [0, n) in chunks of at least `grain` indexes (grain >= 1) and
// returns when every chunk is done. tp may be NULL (runs on the caller). One
// loop at a time: not reentrant, and not to be called from two threads at once.
void kv_threadpool_parallel_for(kv_threadpool *tp, int64_t n, int64_t grain, kv_parallel_fn fn,
                                void *arg);

#endif
