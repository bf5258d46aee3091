// A growable byte buffer with an optional cap, for text built piece by piece
// (HTTP bodies, JSON replies, rendered chat prompts). Zero-initialize it
// (kv_buf b = {0}), set max to cap it, append, and kv_buf_free it. Once it holds
// anything it is NUL-terminated (b.p[b.n] == '\0'). Not thread-safe.
#ifndef KV_BUF_H
#define KV_BUF_H

#include <stddef.h>

#include "kvant/kv_status.h"

typedef struct {
    char *p;    // the bytes, owned; NULL until the first append
    size_t n;   // bytes held
    size_t cap; // bytes allocated
    size_t max; // most bytes it may hold; 0: no cap
} kv_buf;

// Appends s[0..n). KV_ERR_LIMIT when that would pass b->max (b is unchanged),
// KV_ERR_NOMEM when memory runs out or the size would overflow.
kv_status kv_buf_add(kv_buf *b, const void *s, size_t n, kv_err *err);
// Appends the NUL-terminated string s.
kv_status kv_buf_adds(kv_buf *b, const char *s, kv_err *err);
// Drops the first n bytes (all of them when n >= b->n).
void kv_buf_consume(kv_buf *b, size_t n);
// Releases the bytes; b is empty afterwards, with its cap (max) kept. Accepts an
// empty buffer.
void kv_buf_free(kv_buf *b);

#endif
