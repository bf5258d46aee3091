// The repack cache's header reader (model/repack_cache.c): a file written for
// a key checks clean against that key and hands back the matrices'
// checksums; each broken input (empty, short, foreign magic, another format
// version, absurd tensor count, wrong header size, truncated header or data,
// trailing bytes, a flipped header byte) and each stale one (another kvant,
// kernel table, model file or layout, a differing tensor entry) fails with its
// status and a message naming the file and the reason. The data checksum sees
// one flipped byte and the length.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/model_int.h"

#define PATH "dir/m.gguf.amx.kvrepack"

static const kv__repack_entry ENTRIES[2] = {
    {0x1111, 2, 64, 16, 0, 0, 128},
    {0x2222, 14, 256, 8, 4096, 128, 192},
};

static kv__repack_key base_key(void) {
    kv__repack_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.version, sizeof k.version, "1.2.3");
    snprintf(k.table, sizeof k.table, "amx");
    k.layout = 0x1234;
    k.model_size = 1000;
    k.model_mtime_s = 1700000000;
    k.model_mtime_ns = 5;
    k.model_hash = 0xabcdef;
    k.n_tensors = 2;
    k.data_size = 320;
    k.tensors = ENTRIES;
    return k;
}

// A cache file for k with made-up packed rows: *n bytes, malloc'd.
static uint8_t *file_for(const kv__repack_key *k, size_t *n) {
    const size_t h = kv__repack_cache_header_size(k->n_tensors);
    *n = h + k->data_size;
    uint8_t *p = calloc(1, *n);
    assert_non_null(p);
    for (size_t i = 0; i < k->data_size; i++)
        p[h + i] = (uint8_t)(i * 7 + 1);
    uint64_t sums[2];
    for (uint64_t i = 0; i < k->n_tensors; i++)
        sums[i] = kv__repack_cache_sum(p + h + k->tensors[i].off, k->tensors[i].size);
    kv__repack_cache_header(k, sums, p);
    return p;
}

static void expect_fail(const uint8_t *p, size_t n, const kv__repack_key *want, kv_status st,
                        const char *frag) {
    uint64_t sums[2];
    kv_err err = {0};
    assert_int_equal(kv__repack_cache_check(PATH, p, n, want, sums, &err), st);
    if (!strstr(err.msg, frag) || strncmp(err.msg, PATH ": ", strlen(PATH) + 2) != 0)
        fail_msg("message '%s' lacks the path or '%s'", err.msg, frag);
}

static void test_good(void **state) {
    (void)state;
    const kv__repack_key k = base_key();
    size_t n;
    uint8_t *p = file_for(&k, &n);
    assert_int_equal(n, 4096 + 320);
    uint64_t sums[2];
    kv_err err = {0};
    assert_int_equal(kv__repack_cache_check(PATH, p, n, &k, sums, &err), KV_OK);
    assert_true(sums[0] == kv__repack_cache_sum(p + 4096, 128));
    assert_true(sums[1] == kv__repack_cache_sum(p + 4096 + 128, 192));
    free(p);
}

static void test_broken(void **state) {
    (void)state;
    const kv__repack_key k = base_key();
    size_t n;
    uint8_t *p = file_for(&k, &n);
    uint8_t *q = malloc(n + 1);
    assert_non_null(q);
    expect_fail(p, 0, &k, KV_ERR_TRUNCATED, "truncated: 0 bytes");
    expect_fail(p, 100, &k, KV_ERR_TRUNCATED, "shorter than a repack cache header");
    expect_fail(p, 2000, &k, KV_ERR_TRUNCATED, "the header alone is 4096");
    expect_fail(p, n - 1, &k, KV_ERR_TRUNCATED, "truncated: the header says 320 bytes");
    memcpy(q, p, n);
    q[n] = 0;
    expect_fail(q, n + 1, &k, KV_ERR_FORMAT, "corrupt: the header says 320 bytes");
#define MUTATE(off, val, st, frag)                                                                 \
    do {                                                                                           \
        memcpy(q, p, n);                                                                           \
        q[off] = (uint8_t)(val);                                                                   \
        expect_fail(q, n, &k, st, frag);                                                           \
    } while (0)
    MUTATE(0, 'X', KV_ERR_FORMAT, "not a kvant repack cache");
    MUTATE(8, 2, KV_ERR_UNSUPPORTED, "format version 2, this kvant reads 1");
    MUTATE(127, 0x40, KV_ERR_LIMIT, "tensors in the repack cache, at most");
    MUTATE(17, 0x20, KV_ERR_FORMAT, "header size 8192, expected 4096");
    MUTATE(40, 'x', KV_ERR_FORMAT, "header's checksum");
    MUTATE(136 + 64 + 16, 0x99, KV_ERR_FORMAT, "header's checksum");
    MUTATE(4000, 1, KV_ERR_FORMAT, "header's checksum"); // the padding is covered too
#undef MUTATE
    free(q);
    free(p);
}

// A file written for one key and read for another, each field in turn.
static void test_stale(void **state) {
    (void)state;
    const kv__repack_key want = base_key();
    static const struct {
        int field;
        kv_status st;
        const char *frag;
    } cases[] = {
        {0, KV_ERR_FORMAT, "stale: written by kvant 1.2.2, this is kvant 1.2.3"},
        {1, KV_ERR_FORMAT, "stale: packed for the 'avx512' kernels, not 'amx'"},
        {2, KV_ERR_FORMAT, "stale: the 'amx' kernels' packed layouts have changed"},
        {3, KV_ERR_FORMAT, "stale: written for another model file (size 999"},
        {4, KV_ERR_FORMAT, "stale: written for another model file"},
        {5, KV_ERR_FORMAT, "stale: written for another model file"},
        {6, KV_ERR_FORMAT, "stale: tensor entry 1 differs"},
        {7, KV_ERR_FORMAT, "stale: 1 tensors in 128 bytes, the model's plan has 2 in 320"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        kv__repack_key k = base_key();
        kv__repack_entry e[2] = {ENTRIES[0], ENTRIES[1]};
        switch (cases[c].field) {
        case 0: snprintf(k.version, sizeof k.version, "1.2.2"); break;
        case 1: snprintf(k.table, sizeof k.table, "avx512"); break;
        case 2: k.layout++; break;
        case 3: k.model_size = 999; break;
        case 4: k.model_mtime_ns++; break;
        case 5: k.model_hash ^= 1; break;
        case 6: e[1].ne1 = 9; k.tensors = e; break;
        case 7: k.n_tensors = 1; k.data_size = 128; break;
        }
        size_t n;
        uint8_t *p = file_for(&k, &n);
        expect_fail(p, n, &want, cases[c].st, cases[c].frag);
        free(p);
    }
}

static void test_sum(void **state) {
    (void)state;
    uint8_t b[100];
    for (int i = 0; i < 100; i++)
        b[i] = (uint8_t)(i * 13);
    const uint64_t s = kv__repack_cache_sum(b, sizeof b);
    for (int i = 0; i < 100; i += 33) {
        b[i] ^= 0x10;
        assert_true(kv__repack_cache_sum(b, sizeof b) != s);
        b[i] ^= 0x10;
    }
    assert_true(kv__repack_cache_sum(b, sizeof b) == s);
    assert_true(kv__repack_cache_sum(b, 99) != s);
    assert_int_equal(kv__repack_cache_header_size(0), 4096);
    assert_int_equal(kv__repack_cache_header_size(61), 4096);
    assert_int_equal(kv__repack_cache_header_size(62), 8192);
}

// The fuzz harness's seed, written by tests/fuzz/make_seeds.py (a second
// writer of the format, in Python): it checks clean against the harness's key
// and its stored checksums are the C ones.
static void test_seed(void **state) {
    (void)state;
    const char *src = getenv("KV_SOURCE_DIR");
    if (!src)
        skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/fuzz_repack_cache/good", src);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t buf[8192];
    const size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    kv__repack_key k = base_key();
    snprintf(k.version, sizeof k.version, "fuzz");
    uint64_t sums[2];
    kv_err err = {0};
    assert_int_equal(kv__repack_cache_check(path, buf, n, &k, sums, &err), KV_OK);
    assert_true(sums[0] == kv__repack_cache_sum(buf + 4096, 128));
    assert_true(sums[1] == kv__repack_cache_sum(buf + 4096 + 128, 192));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_broken),
        cmocka_unit_test(test_stale),
        cmocka_unit_test(test_sum),
        cmocka_unit_test(test_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
