// Output files that appear only when complete: a locked temporary beside the
// output, renamed into place on commit; stale temporaries of dead writers are
// removed before a new one is made. The contract is at kv_out in kv_core.h.
#define _GNU_SOURCE
#include "kvant/kv_core.h"

#include "tmp_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OUT_BUF_SIZE ((size_t)1 << 20)
#define TMP_TAG ".tmp."
#define CREATE_TRIES 16

// Length of the directory part of path including its '/', 0 when there is none.
static size_t dir_len_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path + 1) : 0;
}

// True when name is "." base ".tmp." followed by at least one character.
static bool is_tmp_of(const char *name, const char *base, size_t base_n) {
    size_t tag_n = sizeof(TMP_TAG) - 1;
    return name[0] == '.' && strncmp(name + 1, base, base_n) == 0 &&
           strncmp(name + 1 + base_n, TMP_TAG, tag_n) == 0 && name[1 + base_n + tag_n] != '\0';
}

// Unlinks dir/name when no writer holds its lock and the name still refers to
// the file that was locked.
static bool remove_if_stale(int dir_fd, const char *name) {
    int flags = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    int fd = openat(dir_fd, name, O_RDWR | flags);
    if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS))
        fd = openat(dir_fd, name, O_RDONLY | flags);
    if (fd < 0)
        return false;
    struct stat a, b;
    bool removed = fstat(fd, &a) == 0 && S_ISREG(a.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
                   fstatat(dir_fd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
                   a.st_ino == b.st_ino && unlinkat(dir_fd, name, 0) == 0;
    close(fd);
    return removed;
}

int kv_out_clean_stale(const char *path) {
    size_t dir_n = dir_len_of(path);
    const char *base = path + dir_n;
    size_t base_n = strlen(base);
    if (base_n == 0)
        return 0;
    char *dir = dir_n ? malloc(dir_n + 1) : strdup(".");
    if (!dir)
        return 0;
    if (dir_n) {
        memcpy(dir, path, dir_n);
        dir[dir_n] = '\0';
    }
    DIR *d = opendir(dir);
    free(dir);
    if (!d)
        return 0;
    int n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (is_tmp_of(e->d_name, base, base_n) && remove_if_stale(dirfd(d), e->d_name))
            n++;
    }
    closedir(d);
    return n;
}

// A name suffix unlikely to repeat across processes, threads and calls; O_EXCL
// makes a repeat harmless (another try).
static uint32_t tmp_random(void) {
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ ((uint64_t)getpid() << 20) ^
                 atomic_fetch_add(&counter, 0x9e3779b97f4a7c15u);
    x ^= x >> 30; // splitmix64's finalizer
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    x ^= x >> 31;
    return (uint32_t)x;
}

// Creates and locks a fresh temporary for o->path at o->tmp_path (cap bytes).
// Returns the fd, or -1 with errno set.
static int create_locked(kv_out *o, size_t cap) {
    size_t dir_n = dir_len_of(o->path);
    for (int attempt = 0; attempt < CREATE_TRIES; attempt++) {
        snprintf(o->tmp_path, cap, "%.*s.%s" TMP_TAG "%ld.%08x", (int)dir_n, o->path,
                 o->path + dir_n, (long)getpid(), (unsigned)tmp_random());
        int fd = open(o->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY | O_CLOEXEC, 0644);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            return -1;
        }
        int r;
        while ((r = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
            ;
        if (r != 0) // no locks on this file system: keep the file, unprotected
            return fd;
        // A cleaner may have removed the name between open and flock.
        struct stat a, b;
        if (fstat(fd, &a) == 0 && lstat(o->tmp_path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            return fd;
        close(fd);
    }
    errno = EEXIST;
    return -1;
}

kv_status kv_out_open(kv_out *o, const char *path, kv_err *err) {
    memset(o, 0, sizeof *o);
    if (path[dir_len_of(path)] == '\0')
        return KV_FAIL(err, KV_ERR_INVALID, "%s: output path names a directory, not a file", path);
    size_t cap = strlen(path) + 64;
    o->path = strdup(path);
    o->tmp_path = malloc(cap);
    o->buf = malloc(OUT_BUF_SIZE);
    if (!o->path || !o->tmp_path || !o->buf) { // nothing created yet: free, don't unlink
        free(o->path);
        free(o->tmp_path);
        free(o->buf);
        memset(o, 0, sizeof *o);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    }
    kv_out_clean_stale(path);
    // Signals wait until the temporary is tracked: a handler then removes it.
    sigset_t old;
    kv__tmp_hold(&old);
    o->fd = create_locked(o, cap);
    kv_status st = KV_OK;
    if (o->fd < 0) {
        int e = errno;
        st = KV_FAIL(err, KV_ERR_IO, "%s: cannot create output: %s", path, strerror(e));
    } else if ((st = kv_tmp_track(o->tmp_path, &o->tmp_slot, err)) != KV_OK) {
        unlink(o->tmp_path);
        close(o->fd);
    }
    kv__tmp_release(&old);
    if (st != KV_OK) {
        free(o->path);
        free(o->tmp_path);
        free(o->buf);
        memset(o, 0, sizeof *o);
    }
    return st;
}

// Writes all n bytes at the file's current position, which is byte off of the
// output; names the offset where a write failed.
static kv_status write_all(kv_out *o, const uint8_t *p, size_t n, uint64_t off, kv_err *err) {
    while (n > 0) {
        ssize_t k = write(o->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int e = k < 0 ? errno : EIO;
            return KV_FAIL(err, KV_ERR_IO, "%s: write failed at offset %llu: %s", o->path,
                           (unsigned long long)off, strerror(e));
        }
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return KV_OK;
}

static kv_status flush_buf(kv_out *o, kv_err *err) {
    if (o->buf_n == 0)
        return KV_OK;
    kv_status st = write_all(o, o->buf, o->buf_n, o->written - o->buf_n, err);
    if (st == KV_OK)
        o->buf_n = 0;
    return st;
}

kv_status kv_out_write(kv_out *o, const void *p, size_t n, kv_err *err) {
    if (!o->tmp_path)
        return KV_FAIL(err, KV_ERR_INVALID, "kv_out_write on an output that is not open");
    if (n == 0)
        return KV_OK;
    if (n < OUT_BUF_SIZE - o->buf_n) {
        memcpy(o->buf + o->buf_n, p, n);
        o->buf_n += n;
        o->written += n;
        return KV_OK;
    }
    kv_status st = flush_buf(o, err);
    if (st != KV_OK)
        return st;
    if (n < OUT_BUF_SIZE) {
        memcpy(o->buf, p, n);
        o->buf_n = n;
    } else {
        st = write_all(o, p, n, o->written, err);
        if (st != KV_OK)
            return st;
    }
    o->written += n;
    return KV_OK;
}

kv_status kv_out_pad(kv_out *o, size_t align, kv_err *err) {
    static const uint8_t zeros[64];
    size_t rem = (size_t)(o->written % align);
    if (rem == 0)
        return KV_OK;
    size_t n = align - rem;
    while (n > 0) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        kv_status st = kv_out_write(o, zeros, k, err);
        if (st != KV_OK)
            return st;
        n -= k;
    }
    return KV_OK;
}

// Makes the rename durable; a directory that cannot be synced is no error.
static void sync_dir_of(const char *path) {
    size_t dir_n = dir_len_of(path);
    char *dir = dir_n ? malloc(dir_n + 1) : strdup(".");
    if (!dir)
        return;
    if (dir_n) {
        memcpy(dir, path, dir_n);
        dir[dir_n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static void release(kv_out *o) {
    free(o->buf);
    free(o->path);
    free(o->tmp_path);
    memset(o, 0, sizeof *o);
}

kv_status kv_out_commit(kv_out *o, kv_err *err) {
    if (!o->tmp_path)
        return KV_FAIL(err, KV_ERR_INVALID, "kv_out_commit on an output that is not open");
    kv_status st = flush_buf(o, err);
    if (st == KV_OK && fsync(o->fd) != 0 && errno != EINVAL)
        st = KV_FAIL(err, KV_ERR_IO, "%s: sync failed: %s", o->path, strerror(errno));
    // Renamed while the lock is held, so no cleaner can take the name first.
    if (st == KV_OK && rename(o->tmp_path, o->path) != 0)
        st = KV_FAIL(err, KV_ERR_IO, "%s: cannot rename %s into place: %s", o->path, o->tmp_path,
                     strerror(errno));
    if (st == KV_OK)
        sync_dir_of(o->path);
    else
        unlink(o->tmp_path);
    kv_tmp_untrack(o->tmp_slot); // after the name is gone: renamed or unlinked
    close(o->fd); // data are synced: a close error could say nothing new
    release(o);
    return st;
}

void kv_out_abort(kv_out *o) {
    if (!o || !o->tmp_path)
        return;
    unlink(o->tmp_path); // before close: the name goes while still locked
    kv_tmp_untrack(o->tmp_slot);
    close(o->fd);
    release(o);
}
