// GGUF writer, first half: collects metadata (kept encoded, in insertion order)
// and tensor declarations, and computes the layout they will take. Writing the
// file (header, tensor data, padding, rename into place) is in gguf_write_file.c.
#include "kvant/kv_gguf.h"

#include <stdlib.h>
#include <string.h>

#include "formats/gguf_int.h"

static kv_str wkv_key_of(const void *table, uint32_t i) {
    const kv__gguf_wkv *kv = &((const kv_gguf_writer *)table)->kvs[i];
    kv_str s = {kv->key, kv->key_n};
    return s;
}

static kv_str wtensor_key_of(const void *table, uint32_t i) {
    const kv__gguf_wtensor *t = &((const kv_gguf_writer *)table)->tensors[i];
    kv_str s = {t->name, t->name_n};
    return s;
}

kv_status kv_gguf_writer_new(kv_gguf_writer **out, kv_err *err) {
    *out = NULL;
    kv_gguf_writer *w = calloc(1, sizeof *w);
    if (!w)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a GGUF writer");
    kv_status st = kv__gguf_index_init(&w->kv_index, 0, wkv_key_of, w, err);
    if (st == KV_OK)
        st = kv__gguf_index_init(&w->tensor_index, 0, wtensor_key_of, w, err);
    if (st != KV_OK) {
        kv_gguf_writer_free(w);
        return st;
    }
    w->alignment = KV_GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return KV_OK;
}

void kv_gguf_writer_free(kv_gguf_writer *w) {
    if (!w)
        return;
    if (w->state == KV__GGUF_W_DATA || w->state == KV__GGUF_W_FAILED)
        kv_out_abort(&w->out);
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].val);
    }
    for (int64_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->kvs);
    free(w->tensors);
    kv__gguf_index_free(&w->kv_index);
    kv__gguf_index_free(&w->tensor_index);
    free(w);
}

// ---- metadata ----

static kv_status check_collecting(const kv_gguf_writer *w, const char *what, kv_err *err) {
    if (w->state != KV__GGUF_W_COLLECT)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: metadata and tensor list are frozen after "
                       "kv_gguf_writer_begin", what);
    return KV_OK;
}

// Rebuilds ix with room for n_max names over entries 0..n-1.
static kv_status reindex(kv__gguf_index *ix, int64_t n, size_t n_max, kv_err *err) {
    kv__gguf_index fresh;
    kv_status st = kv__gguf_index_init(&fresh, n_max, ix->key_of, ix->table, err);
    if (st != KV_OK)
        return st;
    for (int64_t i = 0; i < n; i++)
        kv__gguf_index_add(&fresh, (uint32_t)i, ix->key_of(ix->table, (uint32_t)i));
    kv__gguf_index_free(ix);
    *ix = fresh;
    return KV_OK;
}

static kv_status append_kv(kv_gguf_writer *w, kv_str key, kv_err *err) {
    if ((uint64_t)w->n_kv >= KV_GGUF_MAX_KV)
        return KV_FAIL(err, KV_ERR_LIMIT, "GGUF writer: more than %llu key-values",
                       (unsigned long long)KV_GGUF_MAX_KV);
    if ((size_t)w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        kv__gguf_wkv *kvs = realloc(w->kvs, cap * sizeof *kvs);
        if (!kvs)
            return KV_FAIL(err, KV_ERR_NOMEM, "GGUF writer: out of memory for key-values");
        w->kvs = kvs;
        w->cap_kv = cap;
    }
    if ((size_t)w->n_kv + 1 > kv__gguf_index_capacity(&w->kv_index)) {
        kv_status st = reindex(&w->kv_index, w->n_kv, w->cap_kv, err);
        if (st != KV_OK)
            return st;
    }
    kv__gguf_wkv *kv = &w->kvs[w->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->key = malloc(key.n + 1);
    if (!kv->key)
        return KV_FAIL(err, KV_ERR_NOMEM, "GGUF writer: out of memory for a key");
    memcpy(kv->key, key.p, key.n);
    kv->key[key.n] = '\0';
    kv->key_n = key.n;
    kv__gguf_index_add(&w->kv_index, (uint32_t)w->n_kv, key);
    w->n_kv++;
    return KV_OK;
}

// Stores an encoded value under key, taking ownership of val (freed on failure).
static kv_status set_raw(kv_gguf_writer *w, kv_str key, uint32_t type, uint8_t *val,
                         size_t val_n, kv_err *err) {
    kv_status st = check_collecting(w, "GGUF writer", err);
    if (st == KV_OK && key.n == 0)
        st = KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: empty key");
    if (st == KV_OK && key.n > KV_GGUF_MAX_KEY)
        st = KV_FAIL(err, KV_ERR_LIMIT, "GGUF writer: key of %zu bytes, over the limit of %d",
                     key.n, KV_GGUF_MAX_KEY);
    int64_t i = st == KV_OK ? kv__gguf_index_find(&w->kv_index, key) : -1;
    if (st == KV_OK && i < 0) {
        st = append_kv(w, key, err);
        i = w->n_kv - 1;
    }
    if (st != KV_OK) {
        free(val);
        return st;
    }
    free(w->kvs[i].val);
    w->kvs[i].type = type;
    w->kvs[i].val = val;
    w->kvs[i].val_n = val_n;
    return KV_OK;
}

static kv_str cstr(const char *s) {
    kv_str k = {s ? s : "", s ? strlen(s) : 0};
    return k;
}

static void put_le(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static kv_status set_scalar(kv_gguf_writer *w, const char *key, kv_gguf_vtype type, uint64_t bits,
                            kv_err *err) {
    size_t n = kv_gguf_vtype_size(type);
    uint8_t *val = malloc(n);
    if (!val)
        return KV_FAIL(err, KV_ERR_NOMEM, "GGUF writer: out of memory");
    put_le(val, bits, n);
    return set_raw(w, cstr(key), type, val, n, err);
}

kv_status kv_gguf_set_u8(kv_gguf_writer *w, const char *key, uint8_t v, kv_err *err) {
    return set_scalar(w, key, KV_GGUF_U8, v, err);
}
kv_status kv_gguf_set_i8(kv_gguf_writer *w, const char *key, int8_t v, kv_err *err) {
    return set_scalar(w, key, KV_GGUF_I8, (uint8_t)v, err);
}
kv_status kv_gguf_set_u16(kv_gguf_writer *w, const char *key, uint16_t v, kv_err *err) {
    return set_scalar(w, key, KV_GGUF_U16, v, err);
}
kv_status kv_gguf_set_i16(kv_gguf_writer *w, const char *key, int16_t v, kv_err *err) {
    return set_scalar(w, key, KV_GGUF_I16, (uint16_t)v, err);
}
kv_status kv_gguf_set_u32(kv_gguf_writer *w, const char *key, uint32_t v, kv_err *err) {
    return set_scalar(w, key, KV_GGUF_U32, v, err);
}
kv_status kv_gguf_set_i32(kv_gguf_writer *w, const char *key, int32_t v, kv_err *err) {
    return set_scalar(w, key, KV_GGUF_I32, (uint32_t)v, err);
}
kv_status kv_gguf_set_u64(kv_gguf_writer *w, const char *key, uint64_t v, kv_err *err) {
    return set_scalar(w, key, KV_GGUF_U64, v, err);
}
kv_status kv_gguf_set_i64(kv_gguf_writer *w, const char *key, int64_t v, kv_err *err) {
    return set_scalar(w, key, KV_GGUF_I64, (uint64_t)v, err);
}
kv_status kv_gguf_set_bool(kv_gguf_writer *w, const char *key, bool v, kv_err *err) {
    return set_scalar(w, key, KV_GGUF_BOOL, v ? 1 : 0, err);
}

kv_status kv_gguf_set_f32(kv_gguf_writer *w, const char *key, float v, kv_err *err) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return set_scalar(w, key, KV_GGUF_F32, bits, err);
}

kv_status kv_gguf_set_f64(kv_gguf_writer *w, const char *key, double v, kv_err *err) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return set_scalar(w, key, KV_GGUF_F64, bits, err);
}

kv_status kv_gguf_set_str(kv_gguf_writer *w, const char *key, const char *v, kv_err *err) {
    if (!v)
        return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: key '%s' given a NULL string",
                       key ? key : "");
    size_t n = strlen(v);
    if (n > KV_GGUF_MAX_STR)
        return KV_FAIL(err, KV_ERR_LIMIT, "GGUF writer: key '%s' has a string of %zu bytes, "
                       "over the limit of %zu", key ? key : "", n, KV_GGUF_MAX_STR);
    uint8_t *val = malloc(8 + n);
    if (!val)
        return KV_FAIL(err, KV_ERR_NOMEM, "GGUF writer: out of memory");
    put_le(val, n, 8);
    memcpy(val + 8, v, n);
    return set_raw(w, cstr(key), KV_GGUF_STRING, val, 8 + n, err);
}

kv_status kv_gguf_set_arr(kv_gguf_writer *w, const char *key, kv_gguf_vtype elem,
                          const void *data, uint64_t n, kv_err *err) {
    size_t esz = kv_gguf_vtype_size(elem);
    size_t bytes = 0;
    size_t total = 0;
    if (esz == 0)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "GGUF writer: key '%s': kv_gguf_set_arr takes fixed-size elements, not %s",
                       key ? key : "", kv_gguf_vtype_name(elem));
    if (n > SIZE_MAX || !kv_mul_ok((size_t)n, esz, &bytes) ||
        !kv_add_ok(bytes, KV__GGUF_ARR_HDR, &total))
        return KV_FAIL(err, KV_ERR_LIMIT, "GGUF writer: key '%s': array of %llu elements is too "
                       "large", key ? key : "", (unsigned long long)n);
    if (n > 0 && !data)
        return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: key '%s': NULL array data",
                       key ? key : "");
    uint8_t *val = malloc(total);
    if (!val)
        return KV_FAIL(err, KV_ERR_NOMEM, "GGUF writer: out of memory for %zu bytes", total);
    put_le(val, elem, 4);
    put_le(val + 4, n, 8);
    if (bytes)
        memcpy(val + KV__GGUF_ARR_HDR, data, bytes);
    return set_raw(w, cstr(key), KV_GGUF_ARRAY, val, total, err);
}

kv_status kv_gguf_set_arr_str(kv_gguf_writer *w, const char *key, const char *const *strs,
                              uint64_t n, kv_err *err) {
    const char *k = key ? key : "";
    size_t total = KV__GGUF_ARR_HDR;
    if (n > 0 && !strs)
        return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: key '%s': NULL string array", k);
    for (uint64_t j = 0; j < n; j++) {
        if (!strs[j])
            return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: key '%s': string %llu is NULL", k,
                           (unsigned long long)j);
        size_t len = strlen(strs[j]);
        if (len > KV_GGUF_MAX_STR || !kv_add_ok(total, 8 + len, &total))
            return KV_FAIL(err, KV_ERR_LIMIT, "GGUF writer: key '%s': string %llu of %zu bytes "
                           "is over the limit", k, (unsigned long long)j, len);
    }
    uint8_t *val = malloc(total);
    if (!val)
        return KV_FAIL(err, KV_ERR_NOMEM, "GGUF writer: out of memory for %zu bytes", total);
    put_le(val, KV_GGUF_STRING, 4);
    put_le(val + 4, n, 8);
    size_t off = KV__GGUF_ARR_HDR;
    for (uint64_t j = 0; j < n; j++) {
        size_t len = strlen(strs[j]);
        put_le(val + off, len, 8);
        memcpy(val + off + 8, strs[j], len);
        off += 8 + len;
    }
    return set_raw(w, cstr(key), KV_GGUF_ARRAY, val, total, err);
}

kv_status kv_gguf_set_from(kv_gguf_writer *w, const kv_gguf *g, int64_t i, kv_err *err) {
    const kv_gguf_val *v = kv_gguf_kv_val(g, i);
    if (!v)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: no key-value %lld (the file has %lld)",
                       kv_gguf_path(g), (long long)i, (long long)kv_gguf_kv_count(g));
    const uint8_t *p = NULL;
    size_t n = 0;
    kv__gguf_val_bytes(v, &p, &n);
    uint8_t *val = malloc(n ? n : 1);
    if (!val)
        return KV_FAIL(err, KV_ERR_NOMEM, "GGUF writer: out of memory for %zu bytes", n);
    memcpy(val, p, n);
    return set_raw(w, kv_gguf_kv_key(g, i), v->type, val, n, err);
}

void kv_gguf_unset(kv_gguf_writer *w, const char *key) {
    if (!key || w->state != KV__GGUF_W_COLLECT)
        return;
    int64_t i = kv__gguf_index_find(&w->kv_index, cstr(key));
    if (i < 0)
        return;
    free(w->kvs[i].key);
    free(w->kvs[i].val);
    memmove(&w->kvs[i], &w->kvs[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kvs);
    w->n_kv--;
    // Entries after i moved down by one: rebuild the index in place (same size).
    memset(w->kv_index.slots, 0, (w->kv_index.mask + 1) * sizeof *w->kv_index.slots);
    for (int64_t j = 0; j < w->n_kv; j++)
        kv__gguf_index_add(&w->kv_index, (uint32_t)j, wkv_key_of(w, (uint32_t)j));
}

// ---- tensors ----

static kv_status tensor_size(const kv__gguf_wtensor *t, const char *name, kv_err *err,
                             size_t *size) {
    const kv_type_traits *tr = kv_type_get(t->type);
    if (!tr)
        return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: tensor '%s' has unknown type id %u",
                       name, t->type);
    if (t->ne[0] % tr->block_size != 0)
        return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: tensor '%s' of type %s has rows of %lld "
                       "elements, not a multiple of the block size %d", name, tr->name,
                       (long long)t->ne[0], tr->block_size);
    size_t n = 1;
    for (int d = 0; d < KV_GGUF_MAX_DIMS; d++) {
        if (t->ne[d] < 0)
            return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: tensor '%s' dimension %d is %lld",
                           name, d, (long long)t->ne[d]);
        if (!kv_mul_ok(n, (size_t)t->ne[d], &n) || n > (size_t)INT64_MAX)
            return KV_FAIL(err, KV_ERR_LIMIT, "GGUF writer: tensor '%s' has too many elements",
                           name);
    }
    if (!kv_mul_ok(n / (size_t)tr->block_size, tr->type_size, size))
        return KV_FAIL(err, KV_ERR_LIMIT, "GGUF writer: tensor '%s' is too large", name);
    return KV_OK;
}

static kv_status grow_tensors(kv_gguf_writer *w, kv_err *err) {
    if ((size_t)w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        kv__gguf_wtensor *t = realloc(w->tensors, cap * sizeof *t);
        if (!t)
            return KV_FAIL(err, KV_ERR_NOMEM, "GGUF writer: out of memory for tensors");
        w->tensors = t;
        w->cap_tensors = cap;
    }
    if ((size_t)w->n_tensors + 1 > kv__gguf_index_capacity(&w->tensor_index))
        return reindex(&w->tensor_index, w->n_tensors, w->cap_tensors, err);
    return KV_OK;
}

kv_status kv_gguf_add_tensor(kv_gguf_writer *w, const char *name, uint32_t type,
                             uint32_t n_dims, const int64_t *ne, kv_err *err) {
    kv_status st = check_collecting(w, "GGUF writer", err);
    if (st != KV_OK)
        return st;
    kv_str k = cstr(name);
    if (k.n == 0 || k.n > KV_GGUF_MAX_TENSOR_NAME)
        return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: tensor name '%.80s' has %zu bytes, "
                       "expected 1..%d", k.p, k.n, KV_GGUF_MAX_TENSOR_NAME);
    if (n_dims < 1 || n_dims > KV_GGUF_MAX_DIMS || !ne)
        return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: tensor '%s' has n_dims %u, expected "
                       "1..%d", name, n_dims, KV_GGUF_MAX_DIMS);
    if ((uint64_t)w->n_tensors >= KV_GGUF_MAX_TENSORS)
        return KV_FAIL(err, KV_ERR_LIMIT, "GGUF writer: more than %llu tensors",
                       (unsigned long long)KV_GGUF_MAX_TENSORS);
    if (kv__gguf_index_find(&w->tensor_index, k) >= 0)
        return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: duplicate tensor name '%s'", name);
    kv__gguf_wtensor t;
    memset(&t, 0, sizeof t);
    t.type = type;
    t.n_dims = n_dims;
    for (int d = 0; d < KV_GGUF_MAX_DIMS; d++)
        t.ne[d] = (uint32_t)d < n_dims ? ne[d] : 1;
    st = tensor_size(&t, name, err, &t.size);
    if (st == KV_OK)
        st = grow_tensors(w, err);
    if (st != KV_OK)
        return st;
    t.name = malloc(k.n + 1);
    if (!t.name)
        return KV_FAIL(err, KV_ERR_NOMEM, "GGUF writer: out of memory");
    memcpy(t.name, name, k.n + 1);
    t.name_n = k.n;
    w->tensors[w->n_tensors] = t;
    kv__gguf_index_add(&w->tensor_index, (uint32_t)w->n_tensors, k);
    w->n_tensors++;
    return KV_OK;
}

int64_t kv_gguf_writer_tensor_count(const kv_gguf_writer *w) { return w->n_tensors; }

size_t kv_gguf_writer_tensor_size(const kv_gguf_writer *w, int64_t i) {
    return i >= 0 && i < w->n_tensors ? w->tensors[i].size : 0;
}

// ---- layout ----

kv_status kv__gguf_writer_alignment(const kv_gguf_writer *w, size_t *align, kv_err *err) {
    *align = KV_GGUF_DEFAULT_ALIGNMENT;
    kv_str k = {"general.alignment", strlen("general.alignment")};
    int64_t i = kv__gguf_index_find(&w->kv_index, k);
    if (i < 0)
        return KV_OK;
    const kv__gguf_wkv *kv = &w->kvs[i];
    uint32_t a = kv->type == KV_GGUF_U32 ? kv_le32(kv->val) : 0;
    if (a == 0 || (a & (a - 1)) != 0)
        return KV_FAIL(err, KV_ERR_INVALID, "GGUF writer: general.alignment must be a u32 "
                       "power of two (type %s, value %u)", kv_gguf_vtype_name(kv->type), a);
    *align = a;
    return KV_OK;
}

uint64_t kv__gguf_writer_meta_size(const kv_gguf_writer *w) {
    uint64_t n = 4 + 4 + 8 + 8;
    for (int64_t i = 0; i < w->n_kv; i++)
        n += 8 + w->kvs[i].key_n + 4 + w->kvs[i].val_n;
    for (int64_t i = 0; i < w->n_tensors; i++)
        n += 8 + w->tensors[i].name_n + 4 + 8 * (uint64_t)w->tensors[i].n_dims + 4 + 8;
    return n;
}

static uint64_t pad_to(uint64_t n, size_t align) {
    return (n + align - 1) / align * align;
}

uint64_t kv_gguf_writer_file_size(const kv_gguf_writer *w) {
    size_t align = w->alignment;
    if (w->state == KV__GGUF_W_COLLECT && kv__gguf_writer_alignment(w, &align, NULL) != KV_OK)
        align = KV_GGUF_DEFAULT_ALIGNMENT;
    uint64_t n = pad_to(kv__gguf_writer_meta_size(w), align);
    for (int64_t i = 0; i < w->n_tensors; i++)
        n += pad_to(w->tensors[i].size, align);
    return n;
}
