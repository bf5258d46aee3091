// File access for reading: read-only mappings and whole small files. Output files
// (temporary, locked, renamed into place) are in file_out.c.
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
    m->path = strdup(path);
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
