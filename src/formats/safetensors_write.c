// Streamed safetensors writer: the header (JSON, padded with spaces to a
// multiple of 8 bytes) first, then each declared tensor's bytes in order.
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"
#include "kvant/kv_safetensors.h"

typedef struct {
    char *name;
    kv_st_dtype dtype;
    int n_dims;
    int64_t shape[KV_ST_MAX_DIMS];
    uint64_t size;
} st_decl;

struct kv_st_writer {
    st_decl *t;
    size_t n, cap;
    uint64_t data_size;
    kv_out out;
    bool open;
    uint64_t written; // tensor bytes written since begin
};

kv_status kv_st_writer_new(kv_st_writer **out, kv_err *err) {
    *out = calloc(1, sizeof **out);
    return *out ? KV_OK : KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
}

kv_status kv_st_writer_add(kv_st_writer *w, const char *name, kv_st_dtype dtype, int n_dims,
                           const int64_t *shape, kv_err *err) {
    if (n_dims < 0 || n_dims > KV_ST_MAX_DIMS || dtype >= KV_ST_DTYPE_COUNT)
        return KV_FAIL(err, KV_ERR_INVALID, "safetensors tensor '%s': bad dtype or rank", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        st_decl *t = realloc(w->t, cap * sizeof *t);
        if (!t)
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        w->t = t;
        w->cap = cap;
    }
    st_decl *d = &w->t[w->n];
    memset(d, 0, sizeof *d);
    d->name = strdup(name);
    if (!d->name)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    d->dtype = dtype;
    d->n_dims = n_dims;
    d->size = kv_st_dtype_size(dtype);
    for (int i = 0; i < n_dims; i++) {
        d->shape[i] = shape[i];
        d->size *= (uint64_t)shape[i];
    }
    w->data_size += d->size;
    w->n++;
    return KV_OK;
}

uint64_t kv_st_writer_data_size(const kv_st_writer *w) { return w->data_size; }

kv_status kv_st_writer_begin(kv_st_writer *w, const char *path, const char *format, kv_err *err) {
    json_t *h = json_object();
    uint64_t off = 0;
    if (h && format)
        json_object_set_new(h, "__metadata__", json_pack("{ss}", "format", format));
    for (size_t i = 0; h && i < w->n; i++) {
        const st_decl *d = &w->t[i];
        json_t *shape = json_array();
        for (int k = 0; k < d->n_dims; k++)
            json_array_append_new(shape, json_integer(d->shape[k]));
        json_object_set_new(h, d->name,
                            json_pack("{sssos[II]}", "dtype", kv_st_dtype_name(d->dtype), "shape",
                                      shape, "data_offsets", (json_int_t)off,
                                      (json_int_t)(off + d->size)));
        off += d->size;
    }
    char *text = h ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(h);
    if (!text)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for the header", path);
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    kv_status st = kv_out_open(&w->out, path, err);
    if (st == KV_OK) {
        w->open = true;
        st = kv_out_write(&w->out, len, 8, err);
    }
    if (st == KV_OK)
        st = kv_out_write(&w->out, text, n, err);
    static const char SPACES[8] = "        ";
    if (st == KV_OK && padded > n)
        st = kv_out_write(&w->out, SPACES, padded - n, err);
    free(text);
    return st;
}

kv_status kv_st_writer_write(kv_st_writer *w, const void *data, size_t n, kv_err *err) {
    if (!w->open)
        return KV_FAIL(err, KV_ERR_INVALID, "safetensors writer: write before begin");
    if (w->written + n > w->data_size)
        return KV_FAIL(err, KV_ERR_INVALID, "safetensors writer: %llu bytes written, %llu declared",
                       (unsigned long long)(w->written + n), (unsigned long long)w->data_size);
    w->written += n;
    return kv_out_write(&w->out, data, n, err);
}

kv_status kv_st_writer_finish(kv_st_writer *w, kv_err *err) {
    if (!w->open || w->written != w->data_size)
        return KV_FAIL(err, KV_ERR_INVALID, "safetensors writer: %llu bytes written, %llu declared",
                       (unsigned long long)w->written, (unsigned long long)w->data_size);
    w->open = false;
    return kv_out_commit(&w->out, err);
}

void kv_st_writer_free(kv_st_writer *w) {
    if (!w)
        return;
    if (w->open)
        kv_out_abort(&w->out);
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].name);
    free(w->t);
    free(w);
}
