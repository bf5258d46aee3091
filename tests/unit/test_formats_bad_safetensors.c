// Broken safetensors files (tests/golden/bad/safetensors, made by
// tools/make_bad_safetensors.py): each must fail with the status and message
// fragment EXPECTED lists, the message must name the file, and opening the same
// bytes from memory must fail the same way.
#include "kvant/kv_safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kvant/kv_core.h"

static const struct {
    const char *name;
    kv_status status;
} statuses[] = {
    {"KV_ERR_IO", KV_ERR_IO},           {"KV_ERR_NOMEM", KV_ERR_NOMEM},
    {"KV_ERR_INVALID", KV_ERR_INVALID}, {"KV_ERR_FORMAT", KV_ERR_FORMAT},
    {"KV_ERR_TRUNCATED", KV_ERR_TRUNCATED}, {"KV_ERR_UNSUPPORTED", KV_ERR_UNSUPPORTED},
    {"KV_ERR_LIMIT", KV_ERR_LIMIT},
};

static kv_status status_named(const char *s) {
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(statuses[i].name, s) == 0)
            return statuses[i].status;
    fail_msg("EXPECTED: unknown status %s", s);
    return KV_OK;
}

static void check_one(const char *dir, const char *file, kv_status want, const char *fragment) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    kv_safetensors *st = (kv_safetensors *)1;
    kv_err err = {0};
    kv_status s = kv_safetensors_open(path, &st, &err);
    if (s != want || !strstr(err.msg, fragment) || !strstr(err.msg, file))
        fail_msg("%s: got %s '%s', want %s with '%s'", file, kv_status_str(s), err.msg,
                 kv_status_str(want), fragment);
    assert_null(st);

    char *data = NULL;
    size_t n = 0;
    assert_int_equal(kv_read_file(path, 1 << 20, &data, &n, &err), KV_OK);
    s = kv_safetensors_open_mem(n ? data : NULL, n, file, &st, &err);
    if (s != want || !strstr(err.msg, fragment) || !strstr(err.msg, file))
        fail_msg("%s (memory): got %s '%s', want %s with '%s'", file, kv_status_str(s), err.msg,
                 kv_status_str(want), fragment);
    assert_null(st);
    free(data);
}

static void test_bad_corpus(void **state) {
    (void)state;
    const char *dir = kv_test_source_path("tests/golden/bad/safetensors");
    char dir_copy[4096];
    snprintf(dir_copy, sizeof dir_copy, "%s", dir);
    char expected[4200];
    snprintf(expected, sizeof expected, "%s/EXPECTED", dir_copy);
    char *text = NULL;
    kv_err err;
    if (kv_read_file(expected, 1 << 20, &text, NULL, &err) != KV_OK)
        fail_msg("%s", err.msg);
    int n_cases = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char file[256], status[64];
        int used = 0;
        if (sscanf(line, "%255s %63s %n", file, status, &used) != 2 || used == 0)
            fail_msg("EXPECTED: bad line '%s'", line);
        check_one(dir_copy, file, status_named(status), line + used);
        n_cases++;
    }
    free(text);
    assert_true(n_cases >= 30);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_corpus),
    };
    return cmocka_run_group_tests_name("formats_bad_safetensors", tests, NULL, NULL);
}
