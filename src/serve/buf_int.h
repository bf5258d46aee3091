// Byte buffers (buf.c): the serve-side names of core's kv_buf, plus JSON.
#ifndef KV_SERVE_BUF_INT_H
#define KV_SERVE_BUF_INT_H

#include <stddef.h>

#include <jansson.h>

#include "kvant/kv_buf.h"
#include "kvant/kv_status.h"

// A growable byte buffer with a cap: core's kv_buf (kvant/kv_buf.h); the
// functions below are its serve-side names, plus JSON.
typedef kv_buf kv__buf;

// Appends n bytes. KV_ERR_LIMIT when that would pass b->max, KV_ERR_NOMEM.
kv_status kv__buf_add(kv__buf *b, const void *s, size_t n, kv_err *err);
kv_status kv__buf_adds(kv__buf *b, const char *s, kv_err *err);
// Appends compact JSON of v (not consumed).
kv_status kv__buf_add_json(kv__buf *b, const json_t *v, kv_err *err);
// Drops the first n bytes.
void kv__buf_consume(kv__buf *b, size_t n);
void kv__buf_free(kv__buf *b); // leaves an empty buffer with the same cap

#endif
