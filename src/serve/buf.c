// The server's names for core's capped byte buffer (kv_buf.h), and JSON appended
// to one: HTTP bodies and the JSON the server writes.
#include "serve/buf_int.h"

#include <stdlib.h>

kv_status kv__buf_add(kv__buf *b, const void *s, size_t n, kv_err *err) {
    return kv_buf_add(b, s, n, err);
}

kv_status kv__buf_adds(kv__buf *b, const char *s, kv_err *err) { return kv_buf_adds(b, s, err); }

kv_status kv__buf_add_json(kv__buf *b, const json_t *v, kv_err *err) {
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n == 0)
        return KV_FAIL(err, KV_ERR_INVALID, "value cannot be written as JSON");
    char *tmp = malloc(n);
    if (!tmp)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %zu bytes of JSON", n);
    json_dumpb(v, tmp, n, JSON_COMPACT | JSON_ENCODE_ANY);
    kv_status st = kv__buf_add(b, tmp, n, err);
    free(tmp);
    return st;
}

void kv__buf_consume(kv__buf *b, size_t n) { kv_buf_consume(b, n); }

void kv__buf_free(kv__buf *b) { kv_buf_free(b); }
