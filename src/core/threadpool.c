// Persistent pthread workers for parallel loops (see kv_threadpool.h). Workers
// take chunks of the index range from a shared atomic counter; the caller works
// as thread 0. Between loops a worker first spins on the loop counter for a
// short while (up to SPIN_NS_MAX: a forward pass posts a loop every few microseconds, and
// a futex sleep and wake-up costs more than that), then sleeps on a condition
// variable; the caller likewise spins, then sleeps, waiting for the last worker.
// The sleepers count and the mutex make the hand-over free of lost wake-ups:
// whoever goes to sleep re-checks the condition under the mutex, and whoever
// changes it takes the mutex before signalling when someone may sleep.
#define _POSIX_C_SOURCE 200809L // clock_gettime, sysconf
#include "kvant/kv_threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h> // sysconf

typedef struct {
    kv_threadpool *tp;
    int index;
} worker_arg;

struct kv_threadpool {
    int n_threads;
    pthread_t *threads;
    worker_arg *args;
    int n_started;

    pthread_mutex_t mu;
    pthread_cond_t wake; // a new loop (or stop) is posted
    pthread_cond_t done; // the last worker finished the loop
    atomic_uint_fast64_t generation;
    atomic_bool stop;
    atomic_int n_busy;   // workers still inside the current loop
    atomic_int sleepers; // workers waiting on `wake`
    uint64_t caller_spin; // the caller's spin budget (ns), see spin_until

    // the current loop
    kv_parallel_fn fn;
    void *arg;
    int64_t n;
    int64_t chunk;
    atomic_int_fast64_t next;
};

static void run_chunks(kv_threadpool *tp, int thread) {
    for (;;) {
        int64_t begin = atomic_fetch_add(&tp->next, tp->chunk);
        if (begin >= tp->n)
            return;
        int64_t end = tp->n - begin < tp->chunk ? tp->n : begin + tp->chunk;
        tp->fn(tp->arg, begin, end, thread);
    }
}

#define SPIN_NS_MAX 200000 // 0.2 ms
#define SPIN_NS_MIN 2000

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

// Spins until done(tp, v) or *budget nanoseconds pass; returns done's answer.
// The budget adapts: it doubles after a spin that paid off and shrinks to a
// quarter after one that did not, so on a CPU crowded with other work (where
// the thread we wait for is not running) the pool soon stops burning time
// that thread could use and sleeps instead.
static bool spin_until(kv_threadpool *tp, bool (*done)(kv_threadpool *, uint64_t), uint64_t v,
                       uint64_t *budget) {
    uint64_t start = 0;
    for (unsigned i = 0;; i++) {
        if (done(tp, v)) {
            *budget = *budget * 2 > SPIN_NS_MAX ? SPIN_NS_MAX : *budget * 2 + SPIN_NS_MIN;
            return true;
        }
        cpu_relax();
        if ((i & 63) == 63) {
            const uint64_t t = now_ns();
            if (start == 0)
                start = t;
            else if (t - start > *budget) {
                *budget /= 4;
                return false;
            }
        }
    }
}

static bool posted(kv_threadpool *tp, uint64_t seen) {
    return atomic_load(&tp->generation) != seen || atomic_load(&tp->stop);
}

static bool finished(kv_threadpool *tp, uint64_t unused) {
    (void)unused;
    return atomic_load(&tp->n_busy) == 0;
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    kv_threadpool *tp = wa->tp;
    uint64_t seen = 0, budget = SPIN_NS_MAX;
    for (;;) {
        if (!spin_until(tp, posted, seen, &budget)) {
            pthread_mutex_lock(&tp->mu);
            atomic_fetch_add(&tp->sleepers, 1);
            while (!posted(tp, seen))
                pthread_cond_wait(&tp->wake, &tp->mu);
            atomic_fetch_sub(&tp->sleepers, 1);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop))
            break;
        seen = atomic_load(&tp->generation);
        run_chunks(tp, wa->index);
        if (atomic_fetch_sub(&tp->n_busy, 1) == 1) { // the last one out wakes the caller
            pthread_mutex_lock(&tp->mu);
            pthread_cond_signal(&tp->done);
            pthread_mutex_unlock(&tp->mu);
        }
    }
    return NULL;
}

// ---- the thread-count setting ----

int kv_threads_default(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > KV_THREADPOOL_MAX_THREADS ? KV_THREADPOOL_MAX_THREADS : (int)n;
}

kv_status kv_threads_resolve(int n, const char *what, int *out, kv_err *err) {
    if (n < 0 || n > KV_THREADPOOL_MAX_THREADS)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "%s %d is outside 0..%d (0: one per CPU, up to %d)", what, n,
                       KV_THREADPOOL_MAX_THREADS, KV_THREADPOOL_MAX_THREADS);
    *out = n == 0 ? kv_threads_default() : n;
    return KV_OK;
}

// ---- the pool ----

kv_status kv_threadpool_new(int n_threads, kv_threadpool **out, kv_err *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > KV_THREADPOOL_MAX_THREADS)
        return KV_FAIL(err, KV_ERR_INVALID, "thread count %d is outside 1..%d", n_threads,
                       KV_THREADPOOL_MAX_THREADS);
    kv_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the thread pool");
    tp->n_threads = n_threads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->wake, NULL);
    pthread_cond_init(&tp->done, NULL);
    atomic_init(&tp->next, 0);
    atomic_init(&tp->generation, 0);
    atomic_init(&tp->stop, false);
    atomic_init(&tp->n_busy, 0);
    atomic_init(&tp->sleepers, 0);
    tp->caller_spin = SPIN_NS_MAX;
    if (n_threads > 1) {
        tp->threads = calloc((size_t)n_threads - 1, sizeof *tp->threads);
        tp->args = calloc((size_t)n_threads - 1, sizeof *tp->args);
        if (!tp->threads || !tp->args) {
            kv_threadpool_free(tp);
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %d threads", n_threads);
        }
    }
    for (int i = 0; i < n_threads - 1; i++) {
        tp->args[i] = (worker_arg){tp, i + 1};
        int rc = pthread_create(&tp->threads[i], NULL, worker_main, &tp->args[i]);
        if (rc != 0) {
            kv_threadpool_free(tp);
            return KV_FAIL(err, KV_ERR_NOMEM, "cannot start worker thread %d of %d: %s", i + 1,
                           n_threads, strerror(rc));
        }
        tp->n_started++;
    }
    *out = tp;
    return KV_OK;
}

void kv_threadpool_free(kv_threadpool *tp) {
    if (!tp)
        return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, true);
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 0; i < tp->n_started; i++)
        pthread_join(tp->threads[i], NULL);
    pthread_cond_destroy(&tp->done);
    pthread_cond_destroy(&tp->wake);
    pthread_mutex_destroy(&tp->mu);
    free(tp->args);
    free(tp->threads);
    free(tp);
}

int kv_threadpool_n_threads(const kv_threadpool *tp) { return tp ? tp->n_threads : 1; }

void kv_threadpool_parallel_for(kv_threadpool *tp, int64_t n, int64_t grain, kv_parallel_fn fn,
                                void *arg) {
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (!tp || tp->n_threads == 1 || n <= grain) {
        fn(arg, 0, n, 0);
        return;
    }
    // About four chunks per thread balances uneven work without much overhead.
    int64_t chunk = (n + 4 * (int64_t)tp->n_threads - 1) / (4 * (int64_t)tp->n_threads);
    if (chunk < grain)
        chunk = grain;
    // Workers read the loop after they see the new generation (seq_cst atomics).
    tp->fn = fn;
    tp->arg = arg;
    tp->n = n;
    tp->chunk = chunk;
    atomic_store(&tp->next, 0);
    atomic_store(&tp->n_busy, tp->n_threads - 1);
    atomic_fetch_add(&tp->generation, 1);
    if (atomic_load(&tp->sleepers) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->wake);
        pthread_mutex_unlock(&tp->mu);
    }

    run_chunks(tp, 0);

    if (!spin_until(tp, finished, 0, &tp->caller_spin)) {
        pthread_mutex_lock(&tp->mu);
        while (atomic_load(&tp->n_busy) > 0)
            pthread_cond_wait(&tp->done, &tp->mu);
        pthread_mutex_unlock(&tp->mu);
    }
}
