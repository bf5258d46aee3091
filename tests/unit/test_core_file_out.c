// kv_out: contents written across the buffer's edges come back byte for byte;
// nothing is at the path before commit; abort and failed commits leave nothing;
// a temporary whose writer holds its lock survives kv_out_clean_stale while a
// killed writer's (and an unlocked leftover's) is removed; a file size limit
// gives one error naming the path and the offset, with nothing left behind.
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kv_test.h"
#include "kvant/kv_core.h"

// Number of entries in dir other than . and .., and whether one is named name.
static int count_entries(const char *dir, const char *name, bool *found) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    if (found)
        *found = false;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (found && name && strcmp(e->d_name, name) == 0)
            *found = true;
    }
    closedir(d);
    return n;
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void test_contents_and_commit(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    // pieces below, at and above the 1 MiB buffer, so every path of write is taken
    static const size_t sizes[] = {1, 7, (1u << 20) - 3, 5, 1u << 20, 3u << 20, 0, 100};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        total += sizes[i];
    uint8_t *want = malloc(total);
    assert_non_null(want);
    for (size_t i = 0; i < total; i++)
        want[i] = (uint8_t)(i * 2654435761u >> 13);
    kv_out o;
    kv_err err = {0};
    assert_int_equal(kv_out_open(&o, path, &err), KV_OK);
    assert_false(exists(path));
    assert_true(exists(o.tmp_path));
    assert_non_null(strstr(o.tmp_path, "/.out.bin.tmp."));
    size_t off = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        assert_int_equal(kv_out_write(&o, want + off, sizes[i], &err), KV_OK);
        off += sizes[i];
    }
    assert_int_equal(kv_out_pad(&o, 4096, &err), KV_OK);
    assert_int_equal(o.written % 4096, 0);
    uint64_t written = o.written;
    assert_false(exists(path));
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s", o.tmp_path);
    assert_int_equal(kv_out_commit(&o, &err), KV_OK);
    assert_null(o.tmp_path);
    assert_false(exists(tmp));
    kv_out_abort(&o); // after commit: nothing happens
    char *got = NULL;
    size_t n = 0;
    assert_int_equal(kv_read_file(path, 1u << 30, &got, &n, &err), KV_OK);
    assert_int_equal(n, written);
    assert_memory_equal(got, want, total);
    for (size_t i = total; i < n; i++)
        assert_int_equal(got[i], 0);
    free(got);
    free(want);
    bool found = false;
    assert_int_equal(count_entries(dir, "out.bin", &found), 1);
    assert_true(found);
    kv_test_rmdir(dir);
}

static void test_abort_and_bad_paths(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/gone.gguf", dir);
    kv_out o;
    kv_err err = {0};
    assert_int_equal(kv_out_open(&o, path, &err), KV_OK);
    assert_int_equal(kv_out_write(&o, "abc", 3, &err), KV_OK);
    kv_out_abort(&o);
    assert_int_equal(count_entries(dir, NULL, NULL), 0);
    kv_out zero = {0};
    kv_out_abort(&zero); // a zeroed kv_out is fine
    assert_int_equal(kv_out_write(&zero, "x", 1, &err), KV_ERR_INVALID);

    snprintf(path, sizeof path, "%s/missing/x.gguf", dir);
    assert_int_equal(kv_out_open(&o, path, &err), KV_ERR_IO);
    assert_non_null(strstr(err.msg, path));
    assert_null(o.tmp_path);
    snprintf(path, sizeof path, "%s/", dir);
    assert_int_equal(kv_out_open(&o, path, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "directory"));

    // the path is a directory: commit's rename fails and removes the temporary
    snprintf(path, sizeof path, "%s/sub", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    char inner[4300];
    snprintf(inner, sizeof inner, "%s/f", path);
    assert_int_equal(kv_test_write_file(inner, "x", 1), 0);
    assert_int_equal(kv_out_open(&o, path, &err), KV_OK);
    assert_int_equal(kv_out_write(&o, "abc", 3, &err), KV_OK);
    assert_int_equal(kv_out_commit(&o, &err), KV_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot rename"));
    assert_int_equal(count_entries(dir, "sub", NULL), 1);
    kv_test_rmdir(dir);
}

// A child opens an output for path and writes to it, tells the parent through a
// pipe, then waits to be killed.
static pid_t start_writer(const char *path, char *tmp, size_t tmp_size) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        kv_out o;
        kv_err err = {0};
        if (kv_out_open(&o, path, &err) != KV_OK || kv_out_write(&o, "data", 4, &err) != KV_OK)
            _exit(1);
        size_t n = strlen(o.tmp_path) + 1;
        if (write(fds[1], o.tmp_path, n) != (ssize_t)n)
            _exit(1);
        for (;;)
            pause();
    }
    close(fds[1]);
    ssize_t k = read(fds[0], tmp, tmp_size);
    close(fds[0]);
    assert_true(k > 1 && tmp[k - 1] == '\0');
    return pid;
}

static void test_stale_temporaries(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    char path[4200], tmp[4400], leftover[4400], other[4400];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    pid_t pid = start_writer(path, tmp, sizeof tmp);
    // the old naming (no lock ever) and another output's temporary, not ours to touch
    snprintf(leftover, sizeof leftover, "%s/.m.gguf.tmp.123", dir);
    snprintf(other, sizeof other, "%s/.n.gguf.tmp.123", dir);
    assert_int_equal(kv_test_write_file(leftover, "old", 3), 0);
    assert_int_equal(kv_test_write_file(other, "old", 3), 0);

    assert_int_equal(kv_out_clean_stale(path), 1); // the leftover only: the writer lives
    assert_true(exists(tmp));
    assert_false(exists(leftover));
    assert_true(exists(other));

    // a second writer of the same path meanwhile: both temporaries coexist
    kv_out o;
    kv_err err = {0};
    assert_int_equal(kv_out_open(&o, path, &err), KV_OK);
    assert_true(exists(tmp));
    assert_string_not_equal(o.tmp_path, tmp);

    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_true(exists(tmp)); // what kill -9 leaves
    assert_false(exists(path));

    assert_int_equal(kv_out_clean_stale(path), 1); // the dead writer's; ours is locked
    assert_false(exists(tmp));
    assert_true(exists(o.tmp_path));
    assert_int_equal(kv_out_write(&o, "fine", 4, &err), KV_OK);
    assert_int_equal(kv_out_commit(&o, &err), KV_OK);
    bool found = false;
    assert_int_equal(count_entries(dir, "m.gguf", &found), 2); // m.gguf and other
    assert_true(found);
    assert_int_equal(kv_out_clean_stale("/nonexistent-dir/m.gguf"), 0);
    kv_test_rmdir(dir);
}

// In a child with RLIMIT_FSIZE of 1.5 MiB and SIGXFSZ ignored: writing 3 MiB fails
// with EFBIG at the limit; the message names the path and offset; nothing is left.
static void test_file_size_limit(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/big.gguf", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {3u << 19, 3u << 19};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(2);
        static uint8_t block[1u << 20];
        kv_out o;
        kv_err err = {0};
        kv_status st = kv_out_open(&o, path, &err);
        for (int i = 0; st == KV_OK && i < 3; i++)
            st = kv_out_write(&o, block, sizeof block, &err);
        if (st == KV_OK)
            st = kv_out_commit(&o, &err);
        else
            kv_out_abort(&o);
        char want[4400];
        snprintf(want, sizeof want, "%s: write failed at offset 1572864: File too large", path);
        if (st != KV_ERR_IO || strcmp(err.msg, want) != 0) {
            fprintf(stderr, "got status %d: %s\nwanted: %s\n", (int)st, err.msg, want);
            _exit(3);
        }
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_entries(dir, NULL, NULL), 0);
    kv_test_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contents_and_commit),
        cmocka_unit_test(test_abort_and_bad_paths),
        cmocka_unit_test(test_stale_temporaries),
        cmocka_unit_test(test_file_size_limit),
    };
    return cmocka_run_group_tests_name("core_file_out", tests, NULL, NULL);
}
