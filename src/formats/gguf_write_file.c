// GGUF writer, second half: writes the file in the layout llama.cpp and gguf-py
// write: header, key-values in insertion order, tensor table, zero padding to the
// alignment, then each tensor's data followed by padding to the alignment. The file
// goes to a temporary name and is renamed into place only by kv_gguf_writer_finish.
#include "kvant/kv_gguf.h"

#include <string.h>

#include "formats/gguf_int.h"

#define GGUF_WRITE_VERSION 3

static kv_status put_u32(kv_out *o, uint32_t v, kv_err *err) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return kv_out_write(o, b, sizeof b, err);
}

static kv_status put_u64(kv_out *o, uint64_t v, kv_err *err) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return kv_out_write(o, b, sizeof b, err);
}

static kv_status put_str(kv_out *o, const char *s, size_t n, kv_err *err) {
    kv_status st = put_u64(o, n, err);
    return st == KV_OK ? kv_out_write(o, s, n, err) : st;
}

static kv_status write_meta(kv_gguf_writer *w, kv_err *err) {
    kv_out *o = &w->out;
    kv_status st = kv_out_write(o, "GGUF", 4, err);
    if (st == KV_OK)
        st = put_u32(o, GGUF_WRITE_VERSION, err);
    if (st == KV_OK)
        st = put_u64(o, (uint64_t)w->n_tensors, err);
    if (st == KV_OK)
        st = put_u64(o, (uint64_t)w->n_kv, err);
    for (int64_t i = 0; st == KV_OK && i < w->n_kv; i++) {
        const kv__gguf_wkv *kv = &w->kvs[i];
        st = put_str(o, kv->key, kv->key_n, err);
        if (st == KV_OK)
            st = put_u32(o, kv->type, err);
        if (st == KV_OK)
            st = kv_out_write(o, kv->val, kv->val_n, err);
    }
    uint64_t off = 0;
    for (int64_t i = 0; st == KV_OK && i < w->n_tensors; i++) {
        const kv__gguf_wtensor *t = &w->tensors[i];
        st = put_str(o, t->name, t->name_n, err);
        if (st == KV_OK)
            st = put_u32(o, t->n_dims, err);
        for (uint32_t d = 0; st == KV_OK && d < t->n_dims; d++)
            st = put_u64(o, (uint64_t)t->ne[d], err);
        if (st == KV_OK)
            st = put_u32(o, t->type, err);
        if (st == KV_OK)
            st = put_u64(o, off, err);
        off += (t->size + w->alignment - 1) / w->alignment * w->alignment;
    }
    if (st == KV_OK)
        st = kv_out_pad(o, w->alignment, err);
    return st;
}

// Moves past tensors that are complete (including empty ones), padding each.
static kv_status advance(kv_gguf_writer *w, kv_err *err) {
    while (w->cur < w->n_tensors && w->cur_done == w->tensors[w->cur].size) {
        kv_status st = kv_out_pad(&w->out, w->alignment, err);
        if (st != KV_OK)
            return st;
        w->cur++;
        w->cur_done = 0;
    }
    return KV_OK;
}

kv_status kv_gguf_writer_begin(kv_gguf_writer *w, const char *path, kv_err *err) {
    if (w->state != KV__GGUF_W_COLLECT)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: kv_gguf_writer_begin called twice", path);
    size_t align = KV_GGUF_DEFAULT_ALIGNMENT;
    kv_status st = kv__gguf_writer_alignment(w, &align, err);
    if (st != KV_OK)
        return st;
    st = kv_out_open(&w->out, path, err);
    if (st != KV_OK)
        return st;
    w->alignment = align;
    w->state = KV__GGUF_W_DATA;
    w->cur = 0;
    w->cur_done = 0;
    st = write_meta(w, err);
    if (st == KV_OK)
        st = advance(w, err);
    if (st != KV_OK)
        w->state = KV__GGUF_W_FAILED;
    return st;
}

kv_status kv_gguf_writer_write(kv_gguf_writer *w, const void *data, size_t size, kv_err *err) {
    if (w->state != KV__GGUF_W_DATA)
        return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: tensor data written %s",
                       w->state == KV__GGUF_W_COLLECT ? "before kv_gguf_writer_begin"
                                                      : "after the writer finished or failed");
    if (w->cur >= w->n_tensors) {
        if (size == 0)
            return KV_OK;
        return KV_FAIL(err, KV_ERR_INVALID, "%s: all %lld tensors are written, got %zu more bytes",
                       w->out.path, (long long)w->n_tensors, size);
    }
    const kv__gguf_wtensor *t = &w->tensors[w->cur];
    if (!data && size > 0)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: tensor '%s': NULL data", w->out.path, t->name);
    if (size > t->size - w->cur_done)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "%s: tensor '%s' takes %zu bytes, got %zu after %zu already written",
                       w->out.path, t->name, t->size, size, w->cur_done);
    kv_status st = kv_out_write(&w->out, data, size, err);
    if (st == KV_OK) {
        w->cur_done += size;
        st = advance(w, err);
    }
    if (st != KV_OK)
        w->state = KV__GGUF_W_FAILED;
    return st;
}

kv_status kv_gguf_writer_finish(kv_gguf_writer *w, kv_err *err) {
    if (w->state != KV__GGUF_W_DATA)
        return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: finish %s",
                       w->state == KV__GGUF_W_COLLECT ? "before kv_gguf_writer_begin"
                                                      : "after the writer finished or failed");
    if (w->cur < w->n_tensors) {
        const kv__gguf_wtensor *t = &w->tensors[w->cur];
        return KV_FAIL(err, KV_ERR_INVALID,
                       "%s: tensor '%s' (%lld of %lld) has %zu of its %zu bytes written",
                       w->out.path, t->name, (long long)w->cur + 1, (long long)w->n_tensors,
                       w->cur_done, t->size);
    }
    uint64_t expect = kv_gguf_writer_file_size(w);
    if (w->out.written != expect) {
        w->state = KV__GGUF_W_FAILED;
        return KV_FAIL(err, KV_ERR_IO, "%s: wrote %llu bytes, the layout says %llu", w->out.path,
                       (unsigned long long)w->out.written, (unsigned long long)expect);
    }
    kv_status st = kv_out_commit(&w->out, err);
    w->state = st == KV_OK ? KV__GGUF_W_DONE : KV__GGUF_W_FAILED;
    return st;
}
