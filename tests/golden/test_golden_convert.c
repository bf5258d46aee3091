// kvant convert of the demo model against llama.cpp's convert_hf_to_gguf.py:
// every tensor's type, shape and digest, and every metadata value, per outtype.
#include <stdio.h>
#include <stdlib.h>

#include "kv_golden.h"
#include "kv_test.h"
#include "kvant/kv_convert.h"
#include "kvant/kv_gguf.h"

static void convert_and_compare(const char *outtype, const char *golden_entry, int n_threads) {
    KV_NEED_SHARED();
    char *dir = kv_test_tmpdir();
    assert_non_null(dir);
    char out[4200];
    snprintf(out, sizeof out, "%s/model.gguf", dir);
    kv_convert_opts o = {.outtype = outtype, .plan = {.n_threads = n_threads}};
    kv_err err = {0};
    kv_status st = kv_convert_hf(kv_test_shared_path("models/kjv-llama-7m"), out, &o, NULL, &err);
    if (st != KV_OK)
        fail_msg("convert failed: %s", err.msg);
    // general.name and friends are descriptive: compared all the same, as kvant
    // derives them from the folder name the way llama.cpp does.
    int bad = kv_golden_compare(out, "convert", golden_entry, true, NULL);
    assert_int_equal(bad, 0);
    kv_test_rmdir(dir);
}

static void test_f32(void **s) { (void)s; convert_and_compare("f32", "F32", 2); }
static void test_f16(void **s) { (void)s; convert_and_compare("f16", "F16", 2); }
static void test_bf16(void **s) { (void)s; convert_and_compare("bf16", "BF16", 1); }
static void test_q8_0(void **s) { (void)s; convert_and_compare("q8_0", "Q8_0", 2); }
static void test_q8_0_one_thread(void **s) { (void)s; convert_and_compare("Q8_0", "Q8_0", 1); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),  cmocka_unit_test(test_f16),
        cmocka_unit_test(test_bf16), cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_q8_0_one_thread),
    };
    return cmocka_run_group_tests_name("golden_convert", tests, NULL, NULL);
}
