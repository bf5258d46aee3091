// The table of temporaries in flight and the SIGINT/SIGTERM/SIGHUP handler that
// unlinks them before the process dies of the signal. The contract is at
// kv_tmp_track in kv_core.h; what writes the temporaries is file_out.c and the
// store's writers.
#define _GNU_SOURCE
#include "kvant/kv_core.h"

#include "tmp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs lock-free atomic ints");

enum { SLOT_FREE, SLOT_CLAIMED, SLOT_ACTIVE, SLOT_DYING };

// A slot goes FREE -> CLAIMED (path being copied) -> ACTIVE -> FREE; only the
// handler (or a tracker that saw the process dying) takes ACTIVE -> DYING, and
// whoever wins that exchange unlinks the path, once. The path of an ACTIVE slot
// never changes, so the handler reads a stable copy.
typedef struct {
    atomic_int state;
    pid_t pid; // the process that tracked it: a forked child unlinks nothing of its parent's
    char path[KV_TMP_PATH_MAX];
} slot;

static slot g_slots[KV_TMP_MAX];
static atomic_int g_dying;    // a handler has started: new temporaries remove themselves
static atomic_int g_creating; // threads between creating a temporary and tracking it

static const int SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};
#define N_SIGNALS (sizeof SIGNALS / sizeof SIGNALS[0])

// Unlinks slot i's path when this caller wins it from ACTIVE.
static void take_and_unlink(int i, pid_t me) {
    int want = SLOT_ACTIVE;
    if (atomic_compare_exchange_strong(&g_slots[i].state, &want, SLOT_DYING) &&
        g_slots[i].pid == me)
        unlink(g_slots[i].path);
}

// Async-signal-safe: atomics, getpid, nanosleep, unlink, sigaction, raise.
static void on_signal(int sig) {
    int saved = errno;
    atomic_store(&g_dying, 1);
    // A thread that created a temporary and is about to track it gets 1 s.
    for (int k = 0; k < 1000 && atomic_load(&g_creating) > 0; k++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    pid_t me = getpid();
    for (int i = 0; i < KV_TMP_MAX; i++)
        take_and_unlink(i, me);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    // Pending until this handler returns and unblocks it; then the default action.
    raise(sig);
    errno = saved;
}

static kv_status track(const char *path, int *slot_out, kv_err *err) {
    size_t n = strlen(path);
    if (n >= KV_TMP_PATH_MAX)
        return KV_FAIL(err, KV_ERR_LIMIT,
                       "%.64s...: temporary path of %zu bytes, the limit is %d", path, n,
                       KV_TMP_PATH_MAX - 1);
    for (int i = 0; i < KV_TMP_MAX; i++) {
        int want = SLOT_FREE;
        if (!atomic_compare_exchange_strong(&g_slots[i].state, &want, SLOT_CLAIMED))
            continue;
        memcpy(g_slots[i].path, path, n + 1);
        g_slots[i].pid = getpid();
        atomic_store(&g_slots[i].state, SLOT_ACTIVE);
        // Seen after publishing: either the handler sees this slot, or this sees it dying.
        if (atomic_load(&g_dying)) {
            take_and_unlink(i, g_slots[i].pid);
            return KV_FAIL(err, KV_ERR_IO, "%s: removed, a signal is ending the process", path);
        }
        *slot_out = i;
        return KV_OK;
    }
    return KV_FAIL(err, KV_ERR_LIMIT, "%s: more than %d temporary files open at once", path,
                   KV_TMP_MAX);
}

// Under kv__tmp_hold: a handler on another thread waits for the slot to be
// published, and none runs on this thread while the path is half copied.
kv_status kv_tmp_track(const char *path, int *slot_out, kv_err *err) {
    sigset_t old;
    kv__tmp_hold(&old);
    kv_status st = track(path, slot_out, err);
    kv__tmp_release(&old);
    return st;
}

void kv_tmp_untrack(int i) {
    if (i < 0 || i >= KV_TMP_MAX)
        return;
    int want = SLOT_ACTIVE;
    // Fails only for DYING: the handler owns the slot and the process is ending.
    atomic_compare_exchange_strong(&g_slots[i].state, &want, SLOT_FREE);
}

void kv__tmp_hold(sigset_t *old) {
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < N_SIGNALS; i++)
        sigaddset(&set, SIGNALS[i]);
    pthread_sigmask(SIG_BLOCK, &set, old);
    atomic_fetch_add(&g_creating, 1);
}

void kv__tmp_release(const sigset_t *old) {
    atomic_fetch_sub(&g_creating, 1);
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

int kv_tmp_mkstemp(char *tmpl, int *slot_out, kv_err *err) {
    sigset_t old;
    kv__tmp_hold(&old);
    int fd = mkostemp(tmpl, O_CLOEXEC);
    int e = errno;
    if (fd < 0) {
        kv__tmp_release(&old);
        KV_FAIL(err, KV_ERR_IO, "cannot create %s: %s", tmpl, strerror(e));
        return -1;
    }
    kv_status st = kv_tmp_track(tmpl, slot_out, err);
    if (st != KV_OK) {
        unlink(tmpl);
        close(fd);
        fd = -1;
    }
    kv__tmp_release(&old);
    return fd;
}

kv_status kv_tmp_on_signals(kv_err *err) {
    for (size_t i = 0; i < N_SIGNALS; i++) {
        struct sigaction cur;
        if (sigaction(SIGNALS[i], NULL, &cur) != 0)
            return KV_FAIL(err, KV_ERR_IO, "cannot read the action of signal %d: %s", SIGNALS[i],
                           strerror(errno));
        if ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL)
            continue; // ignored (nohup), or a handler of the program's own, or ours already
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        for (size_t j = 0; j < N_SIGNALS; j++) // one handler at a time per thread
            sigaddset(&sa.sa_mask, SIGNALS[j]);
        if (sigaction(SIGNALS[i], &sa, NULL) != 0)
            return KV_FAIL(err, KV_ERR_IO, "cannot handle signal %d: %s", SIGNALS[i],
                           strerror(errno));
    }
    return KV_OK;
}
