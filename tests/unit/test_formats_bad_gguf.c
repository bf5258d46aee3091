// The broken-GGUF corpus (tests/golden/bad/gguf, made by tools/make_bad_gguf.py):
// every file is refused with the status and message fragment EXPECTED lists, the
// message names the file, and reading from a file or from memory agree.
#define _GNU_SOURCE
#include "kvant/kv_gguf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"

#define BAD_DIR "tests/golden/bad/gguf"

static const struct {
    const char *name;
    kv_status st;
} STATUSES[] = {
    {"KV_ERR_IO", KV_ERR_IO},
    {"KV_ERR_NOMEM", KV_ERR_NOMEM},
    {"KV_ERR_INVALID", KV_ERR_INVALID},
    {"KV_ERR_FORMAT", KV_ERR_FORMAT},
    {"KV_ERR_TRUNCATED", KV_ERR_TRUNCATED},
    {"KV_ERR_UNSUPPORTED", KV_ERR_UNSUPPORTED},
    {"KV_ERR_LIMIT", KV_ERR_LIMIT},
};

static kv_status status_from_name(const char *s) {
    for (size_t i = 0; i < sizeof STATUSES / sizeof STATUSES[0]; i++)
        if (strcmp(STATUSES[i].name, s) == 0)
            return STATUSES[i].st;
    fail_msg("EXPECTED names an unknown status %s", s);
    return KV_OK;
}

typedef struct {
    char *text; // EXPECTED, split in place into lines
    char *file[128];
    kv_status st[128];
    char *frag[128];
    int n;
} expected;

static void load_expected(expected *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s", kv_test_source_path(BAD_DIR "/EXPECTED"));
    kv_err err;
    size_t size = 0;
    memset(e, 0, sizeof *e);
    if (kv_read_file(path, 1 << 20, &e->text, &size, &err) != KV_OK)
        fail_msg("%s", err.msg);
    for (char *line = strtok(e->text, "\n"); line; line = strtok(NULL, "\n")) {
        assert_true(e->n < 128);
        char *sp1 = strchr(line, ' ');
        assert_non_null(sp1);
        *sp1 = '\0';
        char *sp2 = strchr(sp1 + 1, ' ');
        assert_non_null(sp2);
        *sp2 = '\0';
        e->file[e->n] = line;
        e->st[e->n] = status_from_name(sp1 + 1);
        e->frag[e->n] = sp2 + 1;
        assert_true(strlen(e->frag[e->n]) > 0);
        e->n++;
    }
}

static void check_refused(const char *name, kv_status want, const char *frag, kv_status got,
                          const kv_gguf *g, const kv_err *err) {
    if (got != want || g != NULL)
        fail_msg("%s: status %s, expected %s (%s)", name, kv_status_str(got),
                 kv_status_str(want), err->msg);
    if (!strstr(err->msg, frag))
        fail_msg("%s: message \"%s\" lacks \"%s\"", name, err->msg, frag);
    if (!strstr(err->msg, name))
        fail_msg("%s: message \"%s\" does not name the file", name, err->msg);
    assert_int_equal(err->status, want);
}

static void test_bad_files(void **state) {
    (void)state;
    expected e;
    load_expected(&e);
    assert_true(e.n >= 30);
    for (int i = 0; i < e.n; i++) {
        char path[4096];
        char rel[512];
        snprintf(rel, sizeof rel, BAD_DIR "/%s", e.file[i]);
        snprintf(path, sizeof path, "%s", kv_test_source_path(rel));
        kv_gguf *g = (kv_gguf *)1;
        kv_err err;
        kv_err_clear(&err);
        kv_status st = kv_gguf_open(path, &g, &err);
        check_refused(e.file[i], e.st[i], e.frag[i], st, g, &err);

        // The same bytes from memory, named by the bare file name.
        char *buf = NULL;
        size_t size = 0;
        assert_int_equal(kv_read_file(path, 1 << 20, &buf, &size, &err), KV_OK);
        g = (kv_gguf *)1;
        st = kv_gguf_open_mem(buf, size, e.file[i], &g, &err);
        check_refused(e.file[i], e.st[i], e.frag[i], st, g, &err);
        free(buf);
    }
    free(e.text);
}

// Every .gguf in the folder has a line in EXPECTED, so none goes unchecked.
static void test_every_file_listed(void **state) {
    (void)state;
    expected e;
    load_expected(&e);
    DIR *d = opendir(kv_test_source_path(BAD_DIR));
    assert_non_null(d);
    int n_files = 0;
    for (struct dirent *de = readdir(d); de; de = readdir(d)) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 5, ".gguf") != 0)
            continue;
        n_files++;
        bool listed = false;
        for (int i = 0; i < e.n; i++)
            listed = listed || strcmp(e.file[i], de->d_name) == 0;
        if (!listed)
            fail_msg("%s is not listed in EXPECTED", de->d_name);
    }
    closedir(d);
    assert_int_equal(n_files, e.n);
    free(e.text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_every_file_listed),
    };
    return cmocka_run_group_tests_name("formats_bad_gguf", tests, NULL, NULL);
}
