// Writing importance matrices in llama.cpp's imatrix.dat layout (see kv_imatrix.h).
#include <string.h>

#include "kvant/kv_core.h"
#include "kvant/kv_imatrix.h"

static kv_status put_i32(kv_out *o, int32_t v, kv_err *err) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return kv_out_write(o, b, 4, err);
}

static kv_status put_str(kv_out *o, const char *s, kv_err *err) {
    size_t n = strlen(s);
    kv_status st = put_i32(o, (int32_t)n, err);
    return st == KV_OK ? kv_out_write(o, s, n, err) : st;
}

kv_status kv_imatrix_save(const char *path, const kv_imatrix_entry *entries, size_t n_entries,
                          int32_t n_chunks, const char *dataset, kv_err *err) {
    if (n_entries > KV_IMATRIX_MAX_ENTRIES)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: %zu entries, over the limit of %d", path, n_entries,
                       KV_IMATRIX_MAX_ENTRIES);
    kv_out o;
    kv_status st = kv_out_open(&o, path, err);
    if (st != KV_OK)
        return st;
    st = put_i32(&o, (int32_t)n_entries, err);
    for (size_t i = 0; st == KV_OK && i < n_entries; i++) {
        const kv_imatrix_entry *e = &entries[i];
        st = put_str(&o, e->name, err);
        if (st == KV_OK)
            st = put_i32(&o, e->ncall, err);
        if (st == KV_OK)
            st = put_i32(&o, e->n, err);
        // f32 values, little-endian like every platform kvant runs on
        if (st == KV_OK)
            st = kv_out_write(&o, e->values, (size_t)e->n * sizeof(float), err);
    }
    if (st == KV_OK)
        st = put_i32(&o, n_chunks, err);
    if (st == KV_OK)
        st = put_str(&o, dataset ? dataset : "", err);
    if (st != KV_OK) {
        kv_out_abort(&o);
        return st;
    }
    return kv_out_commit(&o, err);
}
