// File types: lookup by name, alias and id as llama-quantize accepts them, the
// list of valid names, the known-but-unsupported IQ mixes, imatrix requirements.
#include "kvant/kv_mix.h"

#include <string.h>

#include "kv_test.h"

static void test_find_names_aliases_ids(void **state) {
    (void)state;
    static const struct {
        const char *in;
        kv_ftype want;
    } CASES[] = {
        {"Q4_K_M", KV_FTYPE_Q4_K_M}, {"q4_k_m", KV_FTYPE_Q4_K_M}, {"Q4_K", KV_FTYPE_Q4_K_M},
        {"q3_k", KV_FTYPE_Q3_K_M},   {"Q5_k", KV_FTYPE_Q5_K_M},   {"15", KV_FTYPE_Q4_K_M},
        {"0", KV_FTYPE_ALL_F32},     {"f32", KV_FTYPE_ALL_F32},   {"32", KV_FTYPE_BF16},
        {"bf16", KV_FTYPE_BF16},     {"7", KV_FTYPE_Q8_0},        {"21", KV_FTYPE_Q2_K_S},
        {"copy", KV_FTYPE_COPY},     {"TQ1_0", KV_FTYPE_TQ1_0},   {"37", KV_FTYPE_TQ2_0},
        {"iq4_xs", KV_FTYPE_IQ4_XS}, {"25", KV_FTYPE_IQ4_NL},     {"iq2_xxs", KV_FTYPE_IQ2_XXS},
        {"19", KV_FTYPE_IQ2_XXS},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const kv_ftype_info *f = kv_ftype_find(CASES[i].in);
        if (!f)
            fail_msg("'%s' not found", CASES[i].in);
        assert_int_equal(f->id, CASES[i].want);
    }
    static const char *const UNKNOWN[] = {"", "Q4_K_X", "15x", " 15", "-1", "4", "33", "+15",
                                          "99999999999999999999", "ALL"};
    for (size_t i = 0; i < sizeof UNKNOWN / sizeof UNKNOWN[0]; i++)
        assert_null(kv_ftype_find(UNKNOWN[i]));
    assert_null(kv_ftype_find(NULL));
    assert_string_equal(kv_ftype_name(KV_FTYPE_Q4_K_M), "Q4_K_M");
    assert_string_equal(kv_ftype_name((kv_ftype)5), "?");
}

static void test_parse_messages(void **state) {
    (void)state;
    kv_ftype f = KV_FTYPE_ALL_F32;
    kv_err err = {0};
    assert_int_equal(kv_ftype_parse("q5_k_s", &f, &err), KV_OK);
    assert_int_equal(f, KV_FTYPE_Q5_K_S);
    assert_int_equal(kv_ftype_parse("Q4_K_X", &f, &err), KV_ERR_INVALID);
    assert_int_equal(f, KV_FTYPE_Q5_K_S); // untouched on failure
    assert_non_null(strstr(err.msg, "'Q4_K_X'"));
    assert_non_null(strstr(err.msg, "Q4_K_M"));
    assert_non_null(strstr(err.msg, "COPY"));
    assert_int_equal(kv_ftype_parse("31", &f, &err), KV_OK); // by id
    assert_int_equal(f, KV_FTYPE_IQ1_M);
    assert_int_equal(kv_ftype_parse("iq2_xxs", &f, &err), KV_OK);
    assert_int_equal(f, KV_FTYPE_IQ2_XXS);
    assert_int_equal(kv_ftype_parse(NULL, &f, NULL), KV_ERR_INVALID);
}

static void test_list_names(void **state) {
    (void)state;
    char buf[512];
    const size_t n = kv_ftype_list_names(buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    assert_non_null(strstr(buf, "F32, F16, BF16"));
    assert_non_null(strstr(buf, "Q4_K_M"));
    assert_non_null(strstr(buf, "TQ2_0"));
    assert_non_null(strstr(buf, "IQ2_XXS"));
    assert_non_null(strstr(buf, "IQ1_M"));
    char small[10];
    assert_int_equal(kv_ftype_list_names(small, sizeof small), n);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, buf, sizeof small - 1);
    assert_int_equal(kv_ftype_list_names(NULL, 0), n);
}

// Every supported name in the list parses back to a supported file type, and
// each row's bits per weight is its base type's.
static void test_table_consistent(void **state) {
    (void)state;
    char buf[512];
    kv_ftype_list_names(buf, sizeof buf);
    int n_names = 0;
    for (char *tok = strtok(buf, ", "); tok; tok = strtok(NULL, ", ")) {
        kv_ftype f;
        assert_int_equal(kv_ftype_parse(tok, &f, NULL), KV_OK);
        assert_string_equal(kv_ftype_name(f), tok);
        n_names++;
    }
    assert_int_equal(n_names, 33); // 32 file types and COPY
    for (int id = -1; id < 64; id++) {
        const kv_ftype_info *f = kv_ftype_get((kv_ftype)id);
        if (!f || f->id == KV_FTYPE_COPY)
            continue;
        const kv_type_traits *t = kv_type_get((uint32_t)f->base_type);
        assert_non_null(t);
        assert_true(f->bpw == 8.0 * (double)t->type_size / t->block_size);
        assert_ptr_equal(kv_ftype_find(f->name), f);
    }
}

static void test_imatrix_required(void **state) {
    (void)state;
    static const kv_ftype NEED[] = {KV_FTYPE_Q2_K_S, KV_FTYPE_IQ2_XXS, KV_FTYPE_IQ2_XS,
                                    KV_FTYPE_IQ2_S,  KV_FTYPE_IQ1_S,   KV_FTYPE_IQ1_M};
    int n_need = 0;
    for (int id = -1; id < 64; id++) {
        if (!kv_ftype_get((kv_ftype)id))
            continue;
        bool need = false;
        for (size_t i = 0; i < sizeof NEED / sizeof NEED[0]; i++)
            need |= NEED[i] == (kv_ftype)id;
        assert_int_equal(kv_ftype_needs_imatrix((kv_ftype)id), need);
        n_need += need;
    }
    assert_int_equal(n_need, 6);
    kv_err err = {0};
    assert_int_equal(kv_ftype_check_imatrix(KV_FTYPE_Q2_K_S, false, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "Q2_K_S"));
    assert_non_null(strstr(err.msg, "importance matrix"));
    assert_non_null(strstr(err.msg, "kvant imatrix"));
    assert_int_equal(kv_ftype_check_imatrix(KV_FTYPE_Q2_K_S, true, &err), KV_OK);
    assert_int_equal(kv_ftype_check_imatrix(KV_FTYPE_Q2_K, false, &err), KV_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_names_aliases_ids),
        cmocka_unit_test(test_parse_messages),
        cmocka_unit_test(test_list_names),
        cmocka_unit_test(test_table_consistent),
        cmocka_unit_test(test_imatrix_required),
    };
    return cmocka_run_group_tests_name("quant_ftype", tests, NULL, NULL);
}
