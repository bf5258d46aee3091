// The growable byte buffer (kv_buf.h): capacity doubles from 256 bytes, the
// cap is checked before anything is allocated.
#include "kvant/kv_buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

kv_status kv_buf_add(kv_buf *b, const void *s, size_t n, kv_err *err) {
    if (b->max && (b->n > b->max || n > b->max - b->n))
        return KV_FAIL(err, KV_ERR_LIMIT, "buffer of %zu bytes would pass its cap of %zu bytes",
                       b->n + n, b->max);
    if (n >= SIZE_MAX / 2 - b->n)
        return KV_FAIL(err, KV_ERR_NOMEM, "buffer of %zu + %zu bytes is too large", b->n, n);
    if (!b->p || n + 1 > b->cap - b->n) {
        size_t want = b->n + n + 1;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < want)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a %zu-byte buffer", cap);
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return KV_OK;
}

kv_status kv_buf_adds(kv_buf *b, const char *s, kv_err *err) {
    return kv_buf_add(b, s, strlen(s), err);
}

void kv_buf_consume(kv_buf *b, size_t n) {
    if (n >= b->n) {
        b->n = 0;
        if (b->p)
            b->p[0] = '\0';
        return;
    }
    memmove(b->p, b->p + n, b->n - n);
    b->n -= n;
    b->p[b->n] = '\0';
}

void kv_buf_free(kv_buf *b) {
    free(b->p);
    b->p = NULL;
    b->n = 0;
    b->cap = 0;
}
