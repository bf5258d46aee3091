// Thread pool: every index runs exactly once for any thread count, chunk size
// and loop size; thread ids stay in range; many short loops in a row work.
#define _POSIX_C_SOURCE 200809L // sysconf
#include "kvant/kv_threadpool.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_test.h"

typedef struct {
    atomic_int *hits;
    int n_threads;
    atomic_int bad_thread;
} count_job;

static void count_run(void *arg, int64_t b, int64_t e, int thread) {
    count_job *j = arg;
    if (thread < 0 || thread >= j->n_threads || b >= e)
        atomic_fetch_add(&j->bad_thread, 1);
    for (int64_t i = b; i < e; i++)
        atomic_fetch_add(&j->hits[i], 1);
}

static void check_cover(kv_threadpool *tp, int n_threads, int64_t n, int64_t grain) {
    atomic_int *hits = calloc((size_t)(n > 0 ? n : 1), sizeof *hits);
    assert_non_null(hits);
    count_job j = {hits, n_threads, 0};
    kv_threadpool_parallel_for(tp, n, grain, count_run, &j);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(atomic_load(&hits[i]), 1);
    assert_int_equal(atomic_load(&j.bad_thread), 0);
    free(hits);
}

static void test_cover_all_sizes(void **state) {
    (void)state;
    const int64_t sizes[] = {0, 1, 2, 3, 7, 64, 1000, 4097};
    const int64_t grains[] = {1, 3, 16, 5000};
    for (int nt = 1; nt <= 4; nt++) {
        kv_threadpool *tp = NULL;
        assert_int_equal(kv_threadpool_new(nt, &tp, NULL), KV_OK);
        assert_int_equal(kv_threadpool_n_threads(tp), nt);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++)
                check_cover(tp, nt, sizes[s], grains[g]);
        kv_threadpool_free(tp);
    }
}

static void test_null_pool_runs_inline(void **state) {
    (void)state;
    check_cover(NULL, 1, 100, 1);
}

static void sum_run(void *arg, int64_t b, int64_t e, int thread) {
    (void)thread;
    atomic_llong *sum = arg;
    long long s = 0;
    for (int64_t i = b; i < e; i++)
        s += i;
    atomic_fetch_add(sum, s);
}

static void test_many_short_loops(void **state) {
    (void)state;
    kv_threadpool *tp = NULL;
    assert_int_equal(kv_threadpool_new(3, &tp, NULL), KV_OK);
    for (int rep = 0; rep < 2000; rep++) {
        atomic_llong sum = 0;
        const int64_t n = 1 + rep % 37;
        kv_threadpool_parallel_for(tp, n, 1, sum_run, &sum);
        assert_int_equal(atomic_load(&sum), n * (n - 1) / 2);
    }
    kv_threadpool_free(tp);
}

static void test_bad_thread_count(void **state) {
    (void)state;
    kv_threadpool *tp = (kv_threadpool *)1;
    kv_err err;
    assert_int_equal(kv_threadpool_new(0, &tp, &err), KV_ERR_INVALID);
    assert_null(tp);
    assert_non_null(strstr(err.msg, "thread count 0"));
    assert_int_equal(kv_threadpool_new(KV_THREADPOOL_MAX_THREADS + 1, &tp, &err), KV_ERR_INVALID);
    kv_threadpool_free(NULL);
}

// The one thread-count setting: 0 means the default (the online CPUs, within the
// limit), 1..KV_THREADPOOL_MAX_THREADS is kept, anything else is an error that
// names the setting and the limit.
static void test_thread_count_setting(void **state) {
    (void)state;
    const int def = kv_threads_default();
    assert_in_range(def, 1, KV_THREADPOOL_MAX_THREADS);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus >= 1 && cpus <= KV_THREADPOOL_MAX_THREADS)
        assert_int_equal(def, cpus);
    kv_err err = {0};
    int n = -1;
    assert_int_equal(kv_threads_resolve(0, "--threads", &n, &err), KV_OK);
    assert_int_equal(n, def);
    assert_int_equal(kv_threads_resolve(3, "--threads", &n, &err), KV_OK);
    assert_int_equal(n, 3);
    assert_int_equal(kv_threads_resolve(KV_THREADPOOL_MAX_THREADS, "--threads", &n, &err), KV_OK);
    assert_int_equal(n, KV_THREADPOOL_MAX_THREADS);
    n = 7;
    assert_int_equal(kv_threads_resolve(KV_THREADPOOL_MAX_THREADS + 1, "--threads", &n, &err),
                     KV_ERR_INVALID);
    assert_int_equal(n, 7);
    assert_non_null(strstr(err.msg, "--threads 257 is outside 0..256"));
    assert_int_equal(kv_threads_resolve(-1, "n_threads", &n, NULL), KV_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cover_all_sizes),
        cmocka_unit_test(test_null_pool_runs_inline),
        cmocka_unit_test(test_many_short_loops),
        cmocka_unit_test(test_bad_thread_count),
        cmocka_unit_test(test_thread_count_setting),
    };
    return cmocka_run_group_tests_name("core_threadpool", tests, NULL, NULL);
}
