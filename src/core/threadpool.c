// Persistent pthread workers for parallel loops (see kv_threadpool.h). Workers
// sleep on a condition variable between loops and take chunks of the index
// range from a shared atomic counter; the caller works as thread 0.
#include "kvant/kv_threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
    uint64_t generation;
    bool stop;
    int n_busy; // workers still inside the current loop

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

static void *worker_main(void *p) {
    worker_arg *wa = p;
    kv_threadpool *tp = wa->tp;
    uint64_t seen = 0;
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        while (tp->generation == seen && !tp->stop)
            pthread_cond_wait(&tp->wake, &tp->mu);
        if (tp->stop)
            break;
        seen = tp->generation;
        pthread_mutex_unlock(&tp->mu);
        run_chunks(tp, wa->index);
        pthread_mutex_lock(&tp->mu);
        if (--tp->n_busy == 0)
            pthread_cond_signal(&tp->done);
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

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
    tp->stop = true;
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
    pthread_mutex_lock(&tp->mu);
    tp->fn = fn;
    tp->arg = arg;
    tp->n = n;
    tp->chunk = chunk;
    atomic_store(&tp->next, 0);
    tp->n_busy = tp->n_threads - 1;
    tp->generation++;
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);

    run_chunks(tp, 0);

    pthread_mutex_lock(&tp->mu);
    while (tp->n_busy > 0)
        pthread_cond_wait(&tp->done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
}
