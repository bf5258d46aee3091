// The store's OCI pieces that need no server: the WWW-Authenticate challenge
// parser (quoted and bare values, commas inside quotes, values too long, other
// schemes), the manifest reader's limits (size, bad digests), the manifest
// written last only when every blob is whole (kv__mstore_manifest_put), and
// blob adoption by digest (a mismatch deletes the file and names both digests).
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv_test.h"
#include "store/oci.h"

static void test_challenge(void **state) {
    (void)state;
    char r[128], s[64], x[64];
    assert_true(kv__oci_parse_challenge(
        "Bearer realm=\"https://auth.example/token\",service=\"reg\",scope=\"repository:a/b:pull,push\"",
        r, sizeof r, s, sizeof s, x, sizeof x));
    assert_string_equal(r, "https://auth.example/token");
    assert_string_equal(s, "reg");
    assert_string_equal(x, "repository:a/b:pull,push"); // the comma inside quotes stays
    assert_true(kv__oci_parse_challenge("bearer realm=https://a/t", r, sizeof r, s, sizeof s, x,
                                        sizeof x));
    assert_string_equal(r, "https://a/t");
    assert_string_equal(s, "");
    assert_string_equal(x, "");
    assert_false(kv__oci_parse_challenge("Basic realm=\"x\"", r, sizeof r, s, sizeof s, x, sizeof x));
    assert_false(kv__oci_parse_challenge("Bearer service=\"x\"", r, sizeof r, s, sizeof s, x,
                                         sizeof x)); // no realm
    assert_false(kv__oci_parse_challenge("Bearer realm=\"unterminated", r, sizeof r, s, sizeof s,
                                         x, sizeof x));
    char big[300];
    snprintf(big, sizeof big, "Bearer realm=\"https://%0200d\"", 0);
    assert_false(kv__oci_parse_challenge(big, r, sizeof r, s, sizeof s, x, sizeof x));
}

#define D1 "sha256:eda41bc876def11b876ef297fcc6b1c3583cc319f62fac947dd4c3e3ff7281e3"

static void test_manifest_limits(void **state) {
    (void)state;
    kv__manifest *m = malloc(sizeof *m);
    kv_err err;
    const char *bad = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":"
                      "\"sha256:../../etc/passwd\",\"size\":1},\"layers\":[]}";
    assert_int_equal(kv__manifest_parse(bad, strlen(bad), "reg", m, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "reg"));
    size_t n = KV__MANIFEST_MAX + 1;
    char *huge = malloc(n);
    memset(huge, ' ', n);
    assert_int_equal(kv__manifest_parse(huge, n, "reg", m, &err), KV_ERR_LIMIT);
    free(huge);
    const char *neg = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1
                      "\",\"size\":-1},\"layers\":[]}";
    assert_int_equal(kv__manifest_parse(neg, strlen(neg), "reg", m, &err), KV_ERR_FORMAT);
    free(m);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_adopt_and_manifest_last(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    kv_err err;
    char part[4096], path[4096];
    // "hello": its digest, and a partial file holding other bytes
    const char *hd = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    assert_int_equal(kv__mstore_partial_path(dir, hd, part, sizeof part, &err), KV_OK);
    write_file(part, "jello");
    assert_int_equal(kv__mstore_blob_commit(dir, hd, part, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, hd));
    assert_int_equal(access(part, F_OK), -1); // deleted
    assert_int_equal(kv__mstore_blob_has(dir, hd, &err), KV_ERR_NOT_FOUND);
    write_file(part, "hello");
    assert_int_equal(kv__mstore_blob_commit(dir, hd, part, &err), KV_OK);
    assert_int_equal(kv__mstore_blob_has(dir, hd, &err), KV_OK);
    // a manifest naming a blob the store lacks is not written
    kv__mname nm;
    assert_int_equal(kv__mname_parse("m:t", &nm, &err), KV_OK);
    char man[1024];
    snprintf(man, sizeof man,
             "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":\"%s\",\"size\":5},"
             "\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"" D1
             "\",\"size\":3}]}",
             hd);
    assert_int_equal(kv__mstore_manifest_put(dir, &nm, man, strlen(man), &err), KV_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, D1));
    snprintf(path, sizeof path, "%s/manifests/registry.ollama.ai/library/m/t", dir);
    assert_int_equal(access(path, F_OK), -1);
    // the same with a size that differs from the blob's
    snprintf(man, sizeof man,
             "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":\"%s\",\"size\":6},"
             "\"layers\":[]}",
             hd);
    assert_int_equal(kv__mstore_manifest_put(dir, &nm, man, strlen(man), &err), KV_ERR_FORMAT);
    snprintf(man, sizeof man,
             "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c\",\"digest\":\"%s\",\"size\":5},"
             "\"layers\":[]}",
             hd);
    assert_int_equal(kv__mstore_manifest_put(dir, &nm, man, strlen(man), &err), KV_OK);
    char *text = NULL;
    size_t n = 0;
    assert_int_equal(kv__mstore_manifest_bytes(dir, &nm, &text, &n, &err), KV_OK);
    assert_int_equal(n, strlen(man));
    assert_memory_equal(text, man, n);
    free(text);
    kv_test_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_challenge),
        cmocka_unit_test(test_manifest_limits),
        cmocka_unit_test(test_adopt_and_manifest_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
