// kv_tmp_*: the table of temporaries in flight takes KV_TMP_MAX paths and no
// more, reuses untracked slots and refuses a path that does not fit; the signal
// handler (in forked children) unlinks every tracked path, kv_out's and
// kv_tmp_mkstemp's temporaries included, from any thread, and nothing else, then
// dies of the signal; an ignored signal stays ignored; a forked child that
// catches the signal leaves its parent's temporaries alone.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kv_test.h"
#include "kvant/kv_core.h"

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void touch(const char *path) {
    assert_int_equal(kv_test_write_file(path, "x", 1), 0);
}

static void test_track_untrack(void **state) {
    (void)state;
    kv_err err = {0};
    int a = -1, b = -1, c = -1;
    assert_int_equal(kv_tmp_track("/nonexistent/a.tmp", &a, &err), KV_OK);
    assert_int_equal(kv_tmp_track("/nonexistent/b.tmp", &b, &err), KV_OK);
    assert_true(a >= 0 && a < KV_TMP_MAX && b >= 0 && b < KV_TMP_MAX);
    assert_int_not_equal(a, b);
    kv_tmp_untrack(a);
    assert_int_equal(kv_tmp_track("/nonexistent/c.tmp", &c, &err), KV_OK);
    assert_int_equal(c, a); // the first free slot again
    kv_tmp_untrack(b);
    kv_tmp_untrack(c);
    kv_tmp_untrack(-1); // ignored
    kv_tmp_untrack(KV_TMP_MAX);
}

static void test_many_paths(void **state) {
    (void)state;
    kv_err err = {0};
    int slots[KV_TMP_MAX];
    bool seen[KV_TMP_MAX] = {false};
    char path[64];
    for (int i = 0; i < KV_TMP_MAX; i++) {
        snprintf(path, sizeof path, "/nonexistent/%d.tmp", i);
        assert_int_equal(kv_tmp_track(path, &slots[i], &err), KV_OK);
        assert_false(seen[slots[i]]);
        seen[slots[i]] = true;
    }
    int extra = -1;
    assert_int_equal(kv_tmp_track("/nonexistent/one-more.tmp", &extra, &err), KV_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "one-more.tmp"));
    assert_int_equal(extra, -1);
    kv_tmp_untrack(slots[17]);
    assert_int_equal(kv_tmp_track("/nonexistent/one-more.tmp", &extra, &err), KV_OK);
    assert_int_equal(extra, slots[17]);
    slots[17] = extra;
    for (int i = 0; i < KV_TMP_MAX; i++)
        kv_tmp_untrack(slots[i]);
}

static void test_overlong_path(void **state) {
    (void)state;
    char *p = malloc(KV_TMP_PATH_MAX + 1);
    assert_non_null(p);
    memset(p, 'a', KV_TMP_PATH_MAX);
    p[KV_TMP_PATH_MAX] = '\0';
    kv_err err = {0};
    int slot = -1;
    assert_int_equal(kv_tmp_track(p, &slot, &err), KV_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "4096 bytes"));
    p[KV_TMP_PATH_MAX - 1] = '\0'; // the longest that fits
    assert_int_equal(kv_tmp_track(p, &slot, &err), KV_OK);
    kv_tmp_untrack(slot);
    free(p);
    // nothing recorded by the refusal: the whole table is still free
    int slots[KV_TMP_MAX];
    for (int i = 0; i < KV_TMP_MAX; i++)
        assert_int_equal(kv_tmp_track("/nonexistent/x.tmp", &slots[i], &err), KV_OK);
    for (int i = 0; i < KV_TMP_MAX; i++)
        kv_tmp_untrack(slots[i]);
}

// Waits for the child and returns the signal that ended it, or -exit status.
static int child_end(pid_t pid) {
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    return WIFSIGNALED(ws) ? WTERMSIG(ws) : -WEXITSTATUS(ws);
}

typedef struct {
    const char *path;
    int fd[2]; // tells the main thread it is tracked
} thread_arg;

static void *track_and_wait(void *p) {
    thread_arg *t = p;
    kv_err err;
    int slot;
    if (kv_tmp_track(t->path, &slot, &err) != KV_OK)
        _exit(3);
    if (write(t->fd[1], "k", 1) != 1)
        _exit(3);
    for (;;)
        pause();
    return NULL;
}

// In a child: tracked files (kv_tmp_track on another thread, kv_tmp_mkstemp,
// an open kv_out), an untracked file and an untracked-after-rename one; then
// sig. The child must die of sig, the tracked ones be gone, the rest stay.
static void signal_removes(int sig) {
    char *dir = kv_test_tmpdir();
    char thr[4200], plain[4200], renamed[4200], tmpl[4200], out[4200];
    snprintf(thr, sizeof thr, "%s/thread.tmp", dir);
    snprintf(plain, sizeof plain, "%s/untracked", dir);
    snprintf(renamed, sizeof renamed, "%s/renamed", dir);
    snprintf(tmpl, sizeof tmpl, "%s/.mk.tmp-XXXXXX", dir);
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    touch(thr);
    touch(plain);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        kv_err err;
        signal(sig, SIG_DFL); // a runner started in the background may ignore SIGINT
        if (kv_tmp_on_signals(&err) != KV_OK)
            _exit(2);
        thread_arg t = {thr, {pipefd[0], pipefd[1]}};
        pthread_t th;
        char c;
        if (pthread_create(&th, NULL, track_and_wait, &t) != 0 || read(pipefd[0], &c, 1) != 1)
            _exit(2);
        int slot;
        int fd = kv_tmp_mkstemp(tmpl, &slot, &err);
        kv_out o;
        if (fd < 0 || write(fd, "y", 1) != 1 || kv_out_open(&o, out, &err) != KV_OK ||
            kv_out_write(&o, "zz", 2, &err) != KV_OK)
            _exit(2);
        // a temporary renamed into place and untracked is the output now: kept
        char tmp2[4300];
        snprintf(tmp2, sizeof tmp2, "%s.tmp-XXXXXX", renamed);
        int fd2 = kv_tmp_mkstemp(tmp2, &slot, &err);
        if (fd2 < 0 || rename(tmp2, renamed) != 0)
            _exit(2);
        kv_tmp_untrack(slot);
        // the names the parent checks: mkstemp's and kv_out's
        if (write(pipefd[1], tmpl, strlen(tmpl) + 1) < 0 ||
            write(pipefd[1], o.tmp_path, strlen(o.tmp_path) + 1) < 0)
            _exit(2);
        kill(getpid(), sig);
        for (;;)
            pause();
    }
    close(pipefd[1]);
    assert_int_equal(child_end(pid), sig);
    char names[2 * 4200 + 2] = {0};
    size_t n = 0;
    ssize_t k;
    while ((k = read(pipefd[0], names + n, sizeof names - 1 - n)) > 0)
        n += (size_t)k;
    close(pipefd[0]);
    const char *mk = names, *kvo = names + strlen(names) + 1;
    assert_true(n > strlen(mk) + 1 && strstr(kvo, "/.out.gguf.tmp.") != NULL);
    assert_false(exists(thr));
    assert_false(exists(mk));
    assert_false(exists(kvo));
    assert_false(exists(out));
    assert_true(exists(plain));
    assert_true(exists(renamed));
    kv_test_rmdir(dir);
}

static void test_sigterm_removes(void **state) {
    (void)state;
    signal_removes(SIGTERM);
}

static void test_sigint_removes(void **state) {
    (void)state;
    signal_removes(SIGINT);
}

static void test_sighup_removes(void **state) {
    (void)state;
    signal_removes(SIGHUP);
}

// A fresh temporary directory (returned) with an empty file `name` in it, p its path.
static char *dir_with(const char *name, char p[4200]) {
    char *dir = kv_test_tmpdir();
    snprintf(p, 4200, "%s/%s", dir, name);
    touch(p);
    return dir;
}

// In a forked child: sig's disposition set to disp, the signal handlers
// installed and p tracked; the child exits 2 if either fails.
static void child_tracks(const char *p, int sig, void (*disp)(int)) {
    kv_err err;
    int slot;
    signal(sig, disp);
    if (kv_tmp_on_signals(&err) != KV_OK || kv_tmp_track(p, &slot, &err) != KV_OK)
        _exit(2);
}

// nohup: SIGHUP ignored before kv_tmp_on_signals stays ignored.
static void test_ignored_stays_ignored(void **state) {
    (void)state;
    char p[4200];
    char *dir = dir_with("kept.tmp", p);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        child_tracks(p, SIGHUP, SIG_IGN);
        raise(SIGHUP);
        _exit(0);
    }
    assert_int_equal(child_end(pid), 0);
    assert_true(exists(p));
    kv_test_rmdir(dir);
}

// A child forked by a tracker (a helper before exec) that gets the signal dies
// of it but leaves the parent's temporary alone.
static void test_forked_child_leaves_parent(void **state) {
    (void)state;
    char p[4200];
    char *dir = dir_with("parent.tmp", p);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        child_tracks(p, SIGTERM, SIG_DFL);
        pid_t g = fork();
        if (g == 0) {
            raise(SIGTERM);
            _exit(3);
        }
        int ws;
        if (g < 0 || waitpid(g, &ws, 0) != g || !WIFSIGNALED(ws) || WTERMSIG(ws) != SIGTERM)
            _exit(4);
        _exit(exists(p) ? 0 : 5);
    }
    assert_int_equal(child_end(pid), 0);
    kv_test_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_track_untrack),
        cmocka_unit_test(test_many_paths),
        cmocka_unit_test(test_overlong_path),
        cmocka_unit_test(test_sigterm_removes),
        cmocka_unit_test(test_sigint_removes),
        cmocka_unit_test(test_sighup_removes),
        cmocka_unit_test(test_ignored_stays_ignored),
        cmocka_unit_test(test_forked_child_leaves_parent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
