// kvant quantize of the demo model against llama-quantize: for every file type in
// the golden record, with and without the importance matrix, every tensor's type,
// shape and digest and the metadata must match. Also: one-step convert to a
// quantized type, and thread-count independence.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_golden.h"
#include "kv_test.h"
#include "kvant/kv_convert.h"

static char *g_dir;
static char g_f32[4200];

static int setup(void **state) {
    (void)state;
    if (!kv_test_shared())
        return 0;
    g_dir = kv_test_tmpdir();
    snprintf(g_f32, sizeof g_f32, "%s/f32.gguf", g_dir);
    kv_convert_opts o = {.outtype = "f32"};
    kv_err err = {0};
    if (kv_convert_hf(kv_test_shared_path("models/kjv-llama-7m"), g_f32, &o, NULL, &err) != KV_OK) {
        fprintf(stderr, "convert to F32 failed: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    kv_test_rmdir(g_dir);
    return 0;
}

// The imatrix paths are recorded as given to each tool; the golden shows bare names.
static const char *const PATH_KEYS[] = {"quantize.imatrix.file", "quantize.imatrix.dataset", NULL};

static int quantize_one(const char *type, bool imatrix, int n_threads, const char *out) {
    kv_quantize_opts o = {0};
    kv_err err = {0};
    if (kv_ftype_parse(type, &o.plan.ftype, &err) != KV_OK) {
        fprintf(stderr, "%s: %s\n", type, err.msg);
        return 1;
    }
    o.plan.n_threads = n_threads;
    if (imatrix)
        o.plan.imatrix_path = kv_test_shared_path("testdata/golden/kjv-llama-7m.imatrix.dat");
    if (kv_quantize_gguf(g_f32, out, &o, NULL, &err) != KV_OK) {
        fprintf(stderr, "quantize %s: %s\n", type, err.msg);
        return 1;
    }
    return 0;
}

static void run_section(const char *section, bool imatrix) {
    KV_NEED_SHARED();
    json_t *sec = json_object_get(kv_golden(), section);
    assert_non_null(sec);
    const char *type;
    json_t *v;
    int failed = 0, n = 0;
    char out[4300];
    snprintf(out, sizeof out, "%s/q.gguf", g_dir);
    json_object_foreach(sec, type, v) {
        (void)v;
        n++;
        int bad = quantize_one(type, imatrix, 2, out);
        if (!bad)
            bad = kv_golden_compare(out, section, type, true, PATH_KEYS);
        print_message("%s %s: %s\n", section, type, bad ? "DIFFERS" : "matches");
        failed += bad ? 1 : 0;
    }
    print_message("%s: %d of %d file types match llama.cpp\n", section, n - failed, n);
    assert_int_equal(failed, 0);
}

static void test_quantize(void **s) { (void)s; run_section("quantize", false); }
static void test_quantize_imatrix(void **s) { (void)s; run_section("quantize_imatrix", true); }

static bool same_file(const char *a, const char *b) {
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

static void test_threads_identical(void **s) {
    (void)s;
    KV_NEED_SHARED();
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/t1.gguf", g_dir);
    snprintf(b, sizeof b, "%s/t2.gguf", g_dir);
    assert_int_equal(quantize_one("Q4_K_M", true, 1, a), 0);
    assert_int_equal(quantize_one("Q4_K_M", true, 2, b), 0);
    assert_true(same_file(a, b));
}

static void test_convert_one_step(void **s) {
    (void)s;
    KV_NEED_SHARED();
    char out[4300];
    snprintf(out, sizeof out, "%s/onestep.gguf", g_dir);
    kv_convert_opts o = {.outtype = "q4_k_m"};
    kv_err err = {0};
    kv_status st = kv_convert_hf(kv_test_shared_path("models/kjv-llama-7m"), out, &o, NULL, &err);
    if (st != KV_OK)
        fail_msg("convert: %s", err.msg);
    assert_int_equal(kv_golden_compare(out, "quantize", "Q4_K_M", false, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize),
        cmocka_unit_test(test_quantize_imatrix),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_convert_one_step),
    };
    return cmocka_run_group_tests_name("golden_quantize", tests, setup, teardown);
}
