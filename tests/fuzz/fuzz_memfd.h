// The fuzz harnesses' in-memory file: arbitrary bytes put where a reader opens
// them by path (a memfd under /proc/self/fd, so the real mapping code runs
// without touching a disk). Header-only: each harness is built from its one .c.
// Define _GNU_SOURCE before the first #include (memfd_create).
#ifndef FUZZ_MEMFD_H
#define FUZZ_MEMFD_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

// Writes data[0..size) as the whole content of one memfd named name (made on the
// first call, reused after) and returns its path; NULL when a call fails.
static const char *fuzz_memfd_path(const char *name, const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create(name, MFD_CLOEXEC);
        if (fd < 0)
            return NULL;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        return NULL;
    if (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size)
        return NULL;
    return path;
}

#endif
