// File access: read-only mappings, whole small files, and output files that are
// written to a temporary name and renamed into place only once complete.
#define _GNU_SOURCE
#include "kvant/kv_core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

// ---- mappings ----

kv_status kv_map_open(const char *path, kv_map *m, kv_err *err) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return KV_FAIL(err, KV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return KV_FAIL(err, KV_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return KV_FAIL(err, KV_ERR_IO, "%s: is a directory, expected a file", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return KV_FAIL(err, KV_ERR_IO, "%s: not a regular file", path);
    }
    m->path = dupstr(path);
    if (!m->path) {
        close(fd);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    }
    m->size = (size_t)sb.st_size;
    if (m->size > 0) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(m->path);
            memset(m, 0, sizeof *m);
            return KV_FAIL(err, KV_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        m->data = p;
    }
    close(fd);
    return KV_OK;
}

void kv_map_close(kv_map *m) {
    if (!m)
        return;
    if (m->data)
        munmap((void *)m->data, m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

void kv_map_release(const void *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (!p || n == 0 || page <= 0)
        return;
    uintptr_t b = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~((uintptr_t)page - 1);
    if (e > b)
        madvise((void *)b, e - b, MADV_DONTNEED);
}

kv_status kv_read_file(const char *path, size_t max_size, char **out, size_t *size, kv_err *err) {
    *out = NULL;
    if (size)
        *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return KV_FAIL(err, KV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return KV_FAIL(err, KV_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > max_size) {
        fclose(f);
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: file has %lld bytes, over the limit of %zu", path,
                       (long long)sb.st_size, max_size);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int rerr = ferror(f);
    fclose(f);
    if (got != n || rerr) {
        free(buf);
        return KV_FAIL(err, KV_ERR_IO, "%s: read failed after %zu of %zu bytes", path, got, n);
    }
    buf[n] = '\0';
    *out = buf;
    if (size)
        *size = n;
    return KV_OK;
}

// ---- output files ----

kv_status kv_out_open(kv_out *o, const char *path, kv_err *err) {
    memset(o, 0, sizeof *o);
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    if (*base == '\0')
        return KV_FAIL(err, KV_ERR_INVALID, "%s: output path names a directory, not a file", path);
    size_t cap = strlen(path) + 64;
    o->path = dupstr(path);
    o->tmp_path = malloc(cap);
    if (!o->path || !o->tmp_path) { // nothing created yet: free, don't unlink
        free(o->path);
        free(o->tmp_path);
        memset(o, 0, sizeof *o);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(o->tmp_path, cap, "%.*s.%s.tmp.%ld", (int)dir_len, path, base, (long)getpid());
    int fd = open(o->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        kv_status st = KV_FAIL(err, KV_ERR_IO, "%s: cannot create output: %s", path, strerror(e));
        free(o->path);
        free(o->tmp_path);
        memset(o, 0, sizeof *o);
        return st;
    }
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        close(fd);
        unlink(o->tmp_path);
        free(o->path);
        free(o->tmp_path);
        memset(o, 0, sizeof *o);
        return KV_FAIL(err, KV_ERR_IO, "%s: cannot open output stream", path);
    }
    setvbuf((FILE *)o->fp, NULL, _IOFBF, 1 << 20);
    return KV_OK;
}

kv_status kv_out_write(kv_out *o, const void *p, size_t n, kv_err *err) {
    if (n == 0)
        return KV_OK;
    if (fwrite(p, 1, n, (FILE *)o->fp) != n)
        return KV_FAIL(err, KV_ERR_IO, "%s: write failed at offset %llu: %s", o->path,
                       (unsigned long long)o->written, strerror(errno));
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

kv_status kv_out_commit(kv_out *o, kv_err *err) {
    FILE *f = (FILE *)o->fp;
    kv_status st = KV_OK;
    if (fflush(f) != 0)
        st = KV_FAIL(err, KV_ERR_IO, "%s: write failed: %s", o->path, strerror(errno));
    else if (fsync(fileno(f)) != 0 && errno != EINVAL)
        st = KV_FAIL(err, KV_ERR_IO, "%s: sync failed: %s", o->path, strerror(errno));
    if (fclose(f) != 0 && st == KV_OK)
        st = KV_FAIL(err, KV_ERR_IO, "%s: close failed: %s", o->path, strerror(errno));
    o->fp = NULL;
    if (st == KV_OK && rename(o->tmp_path, o->path) != 0)
        st = KV_FAIL(err, KV_ERR_IO, "%s: cannot rename %s into place: %s", o->path, o->tmp_path,
                     strerror(errno));
    if (st != KV_OK)
        unlink(o->tmp_path);
    free(o->path);
    free(o->tmp_path);
    memset(o, 0, sizeof *o);
    return st;
}

void kv_out_abort(kv_out *o) {
    if (!o)
        return;
    if (o->fp)
        fclose((FILE *)o->fp);
    if (o->tmp_path)
        unlink(o->tmp_path);
    free(o->path);
    free(o->tmp_path);
    memset(o, 0, sizeof *o);
}
