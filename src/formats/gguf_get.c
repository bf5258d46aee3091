// Typed access to GGUF metadata by key: each accessor checks that the key exists
// and has exactly the asked type, and names both types when it does not.
// kv_gguf_get_int is the lenient exception for ids stored with varying widths.
#include "kvant/kv_gguf.h"

#include <string.h>

#include "formats/gguf_int.h"

static kv_status lookup(const kv_gguf *g, const char *key, const kv_gguf_val **v, kv_err *err) {
    int64_t i = kv_gguf_find(g, key);
    if (i < 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: missing key '%s'", g->path, key);
    *v = &g->kvs[i].val;
    return KV_OK;
}

static kv_status lookup_typed(const kv_gguf *g, const char *key, kv_gguf_vtype want,
                              const kv_gguf_val **v, kv_err *err) {
    kv_status st = lookup(g, key, v, err);
    if (st != KV_OK)
        return st;
    if ((*v)->type != want) {
        char d[48];
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: key '%s' has type %s, expected %s", g->path, key,
                       kv__gguf_val_type_desc(*v, d, sizeof d), kv_gguf_vtype_name(want));
    }
    return KV_OK;
}

kv_status kv_gguf_get_u32(const kv_gguf *g, const char *key, uint32_t *v, kv_err *err) {
    const kv_gguf_val *val = NULL;
    kv_status st = lookup_typed(g, key, KV_GGUF_U32, &val, err);
    if (st == KV_OK)
        *v = kv_le32(val->data);
    return st;
}

kv_status kv_gguf_get_i32(const kv_gguf *g, const char *key, int32_t *v, kv_err *err) {
    const kv_gguf_val *val = NULL;
    kv_status st = lookup_typed(g, key, KV_GGUF_I32, &val, err);
    if (st == KV_OK)
        *v = (int32_t)kv_le32(val->data);
    return st;
}

kv_status kv_gguf_get_u64(const kv_gguf *g, const char *key, uint64_t *v, kv_err *err) {
    const kv_gguf_val *val = NULL;
    kv_status st = lookup_typed(g, key, KV_GGUF_U64, &val, err);
    if (st == KV_OK)
        *v = kv_le64(val->data);
    return st;
}

kv_status kv_gguf_get_f32(const kv_gguf *g, const char *key, float *v, kv_err *err) {
    const kv_gguf_val *val = NULL;
    kv_status st = lookup_typed(g, key, KV_GGUF_F32, &val, err);
    if (st == KV_OK) {
        uint32_t u = kv_le32(val->data);
        memcpy(v, &u, sizeof u);
    }
    return st;
}

kv_status kv_gguf_get_bool(const kv_gguf *g, const char *key, bool *v, kv_err *err) {
    const kv_gguf_val *val = NULL;
    kv_status st = lookup_typed(g, key, KV_GGUF_BOOL, &val, err);
    if (st == KV_OK)
        *v = val->data[0] != 0;
    return st;
}

kv_status kv_gguf_get_str(const kv_gguf *g, const char *key, kv_str *v, kv_err *err) {
    const kv_gguf_val *val = NULL;
    kv_status st = lookup_typed(g, key, KV_GGUF_STRING, &val, err);
    if (st == KV_OK)
        *v = val->str;
    return st;
}

kv_status kv_gguf_get_arr(const kv_gguf *g, const char *key, kv_gguf_vtype elem,
                          const kv_gguf_val **v, kv_err *err) {
    const kv_gguf_val *val = NULL;
    kv_status st = lookup(g, key, &val, err);
    if (st != KV_OK)
        return st;
    if (val->type != KV_GGUF_ARRAY || (elem != KV_GGUF_TYPE_COUNT && val->elem_type != elem)) {
        char d[48];
        const char *want = elem == KV_GGUF_TYPE_COUNT ? "any" : kv_gguf_vtype_name(elem);
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: key '%s' has type %s, expected array of %s",
                       g->path, key, kv__gguf_val_type_desc(val, d, sizeof d), want);
    }
    *v = val;
    return KV_OK;
}

kv_status kv_gguf_get_int(const kv_gguf *g, const char *key, int64_t *v, kv_err *err) {
    const kv_gguf_val *val = NULL;
    kv_status st = lookup(g, key, &val, err);
    if (st != KV_OK)
        return st;
    const uint8_t *p = val->data;
    switch (val->type) {
    case KV_GGUF_U8: *v = p[0]; return KV_OK;
    case KV_GGUF_I8: *v = (int8_t)p[0]; return KV_OK;
    case KV_GGUF_BOOL: *v = p[0] != 0; return KV_OK;
    case KV_GGUF_U16: *v = kv_le16(p); return KV_OK;
    case KV_GGUF_I16: *v = (int16_t)kv_le16(p); return KV_OK;
    case KV_GGUF_U32: *v = kv_le32(p); return KV_OK;
    case KV_GGUF_I32: *v = (int32_t)kv_le32(p); return KV_OK;
    case KV_GGUF_I64: *v = (int64_t)kv_le64(p); return KV_OK;
    case KV_GGUF_U64:
        if (kv_le64(p) > (uint64_t)INT64_MAX)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: key '%s' has value %llu, over the int64 range",
                           g->path, key, (unsigned long long)kv_le64(p));
        *v = (int64_t)kv_le64(p);
        return KV_OK;
    default: {
        char d[48];
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: key '%s' has type %s, expected an integer",
                       g->path, key, kv__gguf_val_type_desc(val, d, sizeof d));
    }
    }
}
