// Memory bandwidth, measured as generation sees it: several threads stream
// through a buffer much larger than the last-level cache, reading every word
// once per run. The buffer is filled first (by the same threads, so its pages
// exist and sit near them); the best of a few runs is the figure.
#define _POSIX_C_SOURCE 200809L
#include "kvant/kv_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kvant/kv_threadpool.h"

#define MIB ((size_t)1 << 20)
#define PIECE_WORDS (MIB / sizeof(uint64_t)) // the pool hands out 1 MiB pieces
#define SINK_STRIDE 8                        // uint64 per thread: one cache line apart

// Largest cache size sysfs reports for cpu0 (bytes), 0 when it says nothing.
static size_t llc_size(void) {
    size_t best = 0;
    for (int i = 0; i < 8; i++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        unsigned long v = 0;
        char unit = 0;
        if (fscanf(f, "%lu%c", &v, &unit) >= 1) {
            size_t bytes = (size_t)v * (unit == 'K' ? 1024u : unit == 'M' ? MIB : 1u);
            if (bytes > best)
                best = bytes;
        }
        fclose(f);
    }
    return best;
}

size_t kv_bench_bandwidth_size(void) {
    size_t size = 2 * llc_size();
    if (size < 512 * MIB)
        size = 512 * MIB;
    if (size > 2048 * MIB)
        size = 2048 * MIB;
    const long pages = sysconf(_SC_AVPHYS_PAGES);
    const long page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) {
        const size_t quarter = (size_t)pages / 4 * (size_t)page;
        if (size > quarter)
            size = quarter;
    }
    if (size < 64 * MIB)
        size = 64 * MIB;
    return size & ~(MIB - 1);
}

typedef struct {
    uint64_t *buf;
    size_t n_words;
    uint64_t sink[KV_THREADPOOL_MAX_THREADS * SINK_STRIDE];
} bw_job;

static void fill_pieces(void *arg, int64_t begin, int64_t end, int thread) {
    bw_job *j = arg;
    size_t w0 = (size_t)begin * PIECE_WORDS;
    size_t w1 = (size_t)end * PIECE_WORDS;
    if (w1 > j->n_words)
        w1 = j->n_words;
    for (size_t i = w0; i < w1; i++)
        j->buf[i] = i * 0x9e3779b97f4a7c15u;
}

// Four independent sums, so the loop is bound by loads, not by one add chain.
static void read_pieces(void *arg, int64_t begin, int64_t end, int thread) {
    bw_job *j = arg;
    size_t w0 = (size_t)begin * PIECE_WORDS;
    size_t w1 = (size_t)end * PIECE_WORDS;
    if (w1 > j->n_words)
        w1 = j->n_words;
    const uint64_t *p = j->buf;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = w0;
    for (; i + 4 <= w1; i += 4) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
    }
    for (; i < w1; i++)
        a0 += p[i];
    // Stored where the caller can see it, so the reads cannot be optimised away.
    j->sink[(size_t)thread * SINK_STRIDE] += a0 ^ a1 ^ a2 ^ a3;
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

kv_status kv_bench_bandwidth(size_t size, int n_threads, int n_runs, double *gbs, kv_err *err) {
    *gbs = 0.0;
    if (size < MIB || n_runs < 1 || n_threads < 1 || n_threads > KV_THREADPOOL_MAX_THREADS)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "bandwidth: %zu bytes, %d threads, %d runs; need >= 1 MiB, 1..%d threads "
                       "and >= 1 run",
                       size, n_threads, n_runs, KV_THREADPOOL_MAX_THREADS);
    bw_job *j = calloc(1, sizeof *j);
    if (!j)
        return KV_FAIL(err, KV_ERR_NOMEM, "bandwidth: out of memory");
    j->n_words = size / sizeof(uint64_t);
    j->buf = malloc(j->n_words * sizeof(uint64_t));
    kv_threadpool *tp = NULL;
    kv_status st = KV_OK;
    if (!j->buf)
        st = KV_FAIL(err, KV_ERR_NOMEM, "bandwidth: cannot allocate a buffer of %zu MiB",
                     size / MIB);
    if (st == KV_OK)
        st = kv_threadpool_new(n_threads, &tp, err);
    if (st == KV_OK) {
        const int64_t n_pieces = (int64_t)((j->n_words + PIECE_WORDS - 1) / PIECE_WORDS);
        kv_threadpool_parallel_for(tp, n_pieces, 1, fill_pieces, j);
        double best = 0.0;
        for (int r = 0; r < n_runs; r++) {
            const double t0 = seconds();
            kv_threadpool_parallel_for(tp, n_pieces, 1, read_pieces, j);
            const double dt = seconds() - t0;
            if (dt > 0 && (double)(j->n_words * sizeof(uint64_t)) / dt > best)
                best = (double)(j->n_words * sizeof(uint64_t)) / dt;
        }
        *gbs = best / 1e9;
    }
    kv_threadpool_free(tp);
    free(j->buf);
    free(j);
    return st;
}
