// Bounded little-endian reader over memory: every field read checks the bytes that remain.
#include "kvant/kv_core.h"

#include <string.h>

kv_status kv_rd_bytes(kv_rd *rd, size_t n, const uint8_t **out, const char *what, kv_err *err) {
    if (n > rd->size - rd->off)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: %s needs %zu bytes at offset %zu, file has %zu",
                       rd->path ? rd->path : "<memory>", what, n, rd->off, rd->size);
    *out = rd->p + rd->off;
    rd->off += n;
    return KV_OK;
}

#define KV_RD_FIXED(name, type, conv)                                                         \
    kv_status name(kv_rd *rd, type *v, const char *what, kv_err *err) {                     \
        const uint8_t *b = NULL;                                                              \
        kv_status st = kv_rd_bytes(rd, sizeof(type), &b, what, err);                          \
        if (st != KV_OK)                                                                      \
            return st;                                                                        \
        conv;                                                                                 \
        return KV_OK;                                                                         \
    }

KV_RD_FIXED(kv_rd_u8, uint8_t, *v = b[0])
KV_RD_FIXED(kv_rd_u16, uint16_t, *v = kv_le16(b))
KV_RD_FIXED(kv_rd_u32, uint32_t, *v = kv_le32(b))
KV_RD_FIXED(kv_rd_u64, uint64_t, *v = kv_le64(b))
KV_RD_FIXED(kv_rd_f32, float, {
    uint32_t u = kv_le32(b);
    memcpy(v, &u, 4);
})
KV_RD_FIXED(kv_rd_f64, double, {
    uint64_t u = kv_le64(b);
    memcpy(v, &u, 8);
})

kv_status kv_rd_str(kv_rd *rd, const char **s, size_t *len, size_t max_len, const char *what,
                    kv_err *err) {
    uint64_t n;
    size_t at = rd->off;
    kv_status st = kv_rd_u64(rd, &n, what, err);
    if (st != KV_OK)
        return st;
    if (n > max_len)
        return KV_FAIL(err, KV_ERR_LIMIT,
                       "%s: %s at offset %zu has length %llu, over the limit of %zu bytes",
                       rd->path ? rd->path : "<memory>", what, at, (unsigned long long)n, max_len);
    if (n > kv_rd_left(rd))
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: %s at offset %zu has length %llu, only %zu bytes remain",
                       rd->path ? rd->path : "<memory>", what, at, (unsigned long long)n,
                       kv_rd_left(rd));
    const uint8_t *b;
    st = kv_rd_bytes(rd, (size_t)n, &b, what, err);
    if (st != KV_OK)
        return st;
    *s = (const char *)b;
    *len = (size_t)n;
    return KV_OK;
}
