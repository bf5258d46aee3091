// Core services every format reader and writer stands on: a bounded reader over
// bytes in memory, read-only file mappings, output files that appear only when
// complete (temporary file + rename), overflow-checked arithmetic and a progress hook.
#ifndef KV_CORE_H
#define KV_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

// ---- overflow-checked arithmetic ----

// *out = a * b; returns false (leaving *out unspecified) when it overflows.
static inline bool kv_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

static inline bool kv_add_ok(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a)
        return false;
    *out = a + b;
    return true;
}

// Rounds off up to a multiple of align (align > 0); false on overflow.
static inline bool kv_align_ok(size_t off, size_t align, size_t *out) {
    size_t rem = off % align;
    if (rem == 0) {
        *out = off;
        return true;
    }
    return kv_add_ok(off, align - rem, out);
}

// ---- bounded reader ----
// Reads little-endian fields from [p, p+size). Every read checks the bytes that
// remain first; a short read fails with KV_ERR_TRUNCATED naming `path` and `what`.

typedef struct {
    const uint8_t *p;
    size_t size;
    size_t off;
    const char *path; // for messages; borrowed
} kv_rd;

static inline kv_rd kv_rd_make(const void *p, size_t size, const char *path) {
    kv_rd rd = {(const uint8_t *)p, size, 0, path};
    return rd;
}

static inline size_t kv_rd_left(const kv_rd *rd) { return rd->size - rd->off; }

// Points *out at the next n bytes and advances past them.
kv_status kv_rd_bytes(kv_rd *rd, size_t n, const uint8_t **out, const char *what, kv_err *err);
kv_status kv_rd_u8(kv_rd *rd, uint8_t *v, const char *what, kv_err *err);
kv_status kv_rd_u16(kv_rd *rd, uint16_t *v, const char *what, kv_err *err);
kv_status kv_rd_u32(kv_rd *rd, uint32_t *v, const char *what, kv_err *err);
kv_status kv_rd_u64(kv_rd *rd, uint64_t *v, const char *what, kv_err *err);
kv_status kv_rd_f32(kv_rd *rd, float *v, const char *what, kv_err *err);
kv_status kv_rd_f64(kv_rd *rd, double *v, const char *what, kv_err *err);
// A u64 length followed by that many bytes (not NUL-terminated); lengths over
// max_len fail with KV_ERR_LIMIT.
kv_status kv_rd_str(kv_rd *rd, const char **s, size_t *len, size_t max_len, const char *what,
                    kv_err *err);

// Little-endian loads from unaligned memory.
static inline uint16_t kv_le16(const void *p) {
    const uint8_t *b = (const uint8_t *)p;
    return (uint16_t)(b[0] | (b[1] << 8));
}
static inline uint32_t kv_le32(const void *p) {
    const uint8_t *b = (const uint8_t *)p;
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}
static inline uint64_t kv_le64(const void *p) {
    return (uint64_t)kv_le32(p) | ((uint64_t)kv_le32((const uint8_t *)p + 4) << 32);
}

// The value of hex digit c (0-9, a-f, A-F); -1 for any other character.
static inline int kv_hex_digit(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// ---- read-only file mapping ----

typedef struct {
    const uint8_t *data; // NULL for an empty file
    size_t size;
    char *path; // owned copy, for messages
} kv_map;

// Maps the whole file read-only. On failure *m is zeroed and err names the path.
kv_status kv_map_open(const char *path, kv_map *m, kv_err *err);
void kv_map_close(kv_map *m); // accepts a zeroed map

// Tells the kernel the mapped bytes [p, p+n) are not needed for now: their pages
// leave this process's resident set and are read again from the file if touched.
// Streaming readers call it after each tensor so memory stays near one tensor.
void kv_map_release(const void *p, size_t n);

// Reads a whole (small) file into a NUL-terminated malloc'd buffer; files over
// max_size fail with KV_ERR_LIMIT. *size excludes the terminator.
kv_status kv_read_file(const char *path, size_t max_size, char **out, size_t *size, kv_err *err);

// ---- output files that appear only when complete ----
// Every file kvant writes (GGUF, imatrix, logits) goes through kv_out, so that a
// crash, a kill -9 or a full disk never leaves a half-written file at path:
//
// - kv_out_open creates "<dir>/.<name>.tmp.<pid>.<random>" beside path (O_EXCL,
//   mode 0644 less the umask) and holds an exclusive flock(2) on it for as long
//   as the writer lives. The kernel drops that lock when the process dies, even
//   by SIGKILL, so an unlocked temporary is one whose writer is gone.
// - Before creating its own, kv_out_open removes the stale temporaries of the
//   same path: each sibling ".<name>.tmp.*" it can lock without waiting, and
//   that still has the name it opened (same device and inode), is unlinked.
//   A live writer's temporary is never removed: it is locked. A writer that is
//   between creating and locking its file could lose it to a cleaner, so after
//   locking, kv_out_open checks that the name still refers to its file and
//   otherwise starts again with a new name. Where flock is not supported the
//   cleaner removes nothing (a leftover temporary, never a lost one).
// - kv_out_write buffers (1 MiB) and reports the first failed write (ENOSPC,
//   EFBIG, EIO) with the path and the byte offset; kv_out_commit writes the
//   rest, fsyncs, renames over path while still holding the lock, then fsyncs
//   the directory. kv_out_abort, or commit failing, removes the temporary;
//   so does SIGINT, SIGTERM or SIGHUP once kv_tmp_on_signals is installed.
// Not thread-safe per kv_out; distinct kv_outs may be used from any threads.

typedef struct {
    int fd;          // the temporary, open and locked (valid while tmp_path != NULL)
    uint8_t *buf;    // write buffer (owned)
    size_t buf_n;    // bytes waiting in buf
    char *path;      // final path (owned)
    char *tmp_path;  // temporary path (owned); NULL once committed or aborted
    uint64_t written; // bytes accepted by kv_out_write, buffered or not
    int tmp_slot;    // the temporary's kv_tmp_track slot (valid while tmp_path != NULL)
} kv_out;

// On failure *o is zeroed, nothing was created and err names path.
kv_status kv_out_open(kv_out *o, const char *path, kv_err *err);
// On failure the kv_out stays open for kv_out_abort; err names path and offset.
kv_status kv_out_write(kv_out *o, const void *p, size_t n, kv_err *err);
kv_status kv_out_pad(kv_out *o, size_t align, kv_err *err); // zero bytes up to a multiple
// Renames the temporary into place. Success or not, *o is closed and zeroed after.
kv_status kv_out_commit(kv_out *o, kv_err *err);
// Removes the stale temporaries of path, as kv_out_open does first; returns how
// many it removed. Errors (no directory, no permission) remove nothing.
int kv_out_clean_stale(const char *path);
void kv_out_abort(kv_out *o); // safe after commit or on a zeroed kv_out

// ---- temporaries removed when a signal ends the process ----
// A writer killed by SIGINT, SIGTERM or SIGHUP removes the temporaries it has in
// flight before it dies (SIGKILL cannot be caught: kv_out_clean_stale stays for
// that). kv_out tracks its temporary itself; other temp + rename writers create
// theirs with kv_tmp_mkstemp or track them with kv_tmp_track.
// - The table holds KV_TMP_MAX paths of up to KV_TMP_PATH_MAX - 1 bytes, copied
//   at registration into static storage, so the handler only reads them and
//   calls unlink(2): no allocation, no stdio, no locks (lock-free atomics).
// - The handler, once kv_tmp_on_signals installed it, unlinks every tracked
//   path of this process, resets the signal to its default action and raises it
//   again, so the parent sees the process killed by that signal (shell: 128+N).
// All functions are thread-safe; kv_tmp_track and kv_tmp_untrack are not
// async-signal-safe.
#define KV_TMP_MAX 64
#define KV_TMP_PATH_MAX 4096

// Records path (a temporary this process has just created) in a free slot,
// returned in *slot. KV_ERR_LIMIT when path is KV_TMP_PATH_MAX bytes or longer
// or when all slots are taken; KV_ERR_IO when a signal is already ending the
// process (path has then been unlinked). Nothing is recorded on failure.
kv_status kv_tmp_track(const char *path, int *slot, kv_err *err);
// Forgets a slot once its temporary was renamed into place or removed (rename
// or unlink first, then untrack). A slot out of range is ignored.
void kv_tmp_untrack(int slot);
// mkstemp(3) on tmpl (ending in "XXXXXX", rewritten in place) with the new file
// tracked; signals are held in the calling thread between creating and tracking
// it. Returns the descriptor (O_CLOEXEC), or -1 with err naming tmpl.
int kv_tmp_mkstemp(char *tmpl, int *slot, kv_err *err);
// Installs the cleanup handler for SIGINT, SIGTERM and SIGHUP wherever the
// action is still the default: an ignored signal stays ignored (nohup), a
// program's own handler stays. Call once at start-up, before threads that
// should inherit nothing else; calling again is harmless.
kv_status kv_tmp_on_signals(kv_err *err);

// ---- progress ----
// Long operations report progress through this hook: done out of total units
// (bytes or tensors) and a short label for the current item. May be NULL.
typedef void (*kv_progress_fn)(void *user, uint64_t done, uint64_t total, const char *label);

#endif
