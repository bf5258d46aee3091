// GGUF reader: maps the file, checks the header, key-values and tensor table
// against the file size and the named limits, and serves them in place (no copies
// of strings or tensor data). Typed accessors are in gguf_get.c, values in gguf_value.c.
// Layout (little-endian):
//   magic "GGUF", u32 version (2 or 3), u64 n_tensors, u64 n_kv
//   n_kv x { u64 key length, key bytes, u32 value type, value }
//   n_tensors x { u64 name length, name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
//   zero padding up to a multiple of general.alignment (u32, default 32)
//   data section: tensor i at data_off + offset_i, offsets multiples of the alignment
#include "kvant/kv_gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf_int.h"

#define MIN_KV_BYTES 14     // key length, 1-byte key, type, 1-byte value
#define MIN_TENSOR_BYTES 32 // name length, empty name, n_dims, one ne, type, offset

static kv_str kv_key_of(const void *table, uint32_t i) {
    return ((const kv_gguf *)table)->kvs[i].key;
}

static kv_str tensor_key_of(const void *table, uint32_t i) {
    return ((const kv_gguf *)table)->tensors[i].name;
}

// ---- header ----

static kv_status read_magic(kv_gguf *g, kv_rd *rd, kv_err *err) {
    if (g->size == 0)
        return KV_FAIL(err, KV_ERR_TRUNCATED, "%s: file is empty, expected a GGUF header",
                       g->path);
    const uint8_t *m = NULL;
    kv_status st = kv_rd_bytes(rd, 4, &m, "magic", err);
    if (st != KV_OK)
        return st;
    if (memcmp(m, "GGUF", 4) != 0) {
        char q[KV__GGUF_QUOTE_SIZE];
        kv_str s = {(const char *)m, 4};
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: bad magic \"%s\", expected \"GGUF\"", g->path,
                       kv__gguf_quote(s, q));
    }
    return KV_OK;
}

static kv_status check_version(const kv_gguf *g, uint32_t v, kv_err *err) {
    if (v == 2 || v == 3)
        return KV_OK;
    if (v == 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: bad GGUF version 0", g->path);
    if ((v & 0xffffu) == 0)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: GGUF version field is 0x%08x: a big-endian file, kvant reads "
                       "little-endian GGUF only",
                       g->path, v);
    if (v == 1)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: GGUF version 1 is no longer supported (32-bit counts); "
                       "re-convert the model to version 3",
                       g->path);
    return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                   "%s: GGUF version %u is newer than kvant supports (2 and 3)", g->path, v);
}

static kv_status check_count(const kv_gguf *g, const char *what, uint64_t n, uint64_t max,
                             size_t min_bytes, size_t at, size_t left, kv_err *err) {
    if (n > max)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: %s %llu is over the limit of %llu", g->path, what,
                       (unsigned long long)n, (unsigned long long)max);
    // n <= 2^20 here, so the product cannot overflow.
    if (n * min_bytes > left)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: %s %llu needs at least %llu bytes after offset %zu, "
                       "file has %zu",
                       g->path, what, (unsigned long long)n,
                       (unsigned long long)(n * min_bytes), at, g->size);
    return KV_OK;
}

static kv_status read_header(kv_gguf *g, kv_rd *rd, uint64_t *n_tensors, uint64_t *n_kv,
                             kv_err *err) {
    kv_status st = read_magic(g, rd, err);
    if (st == KV_OK)
        st = kv_rd_u32(rd, &g->version, "version", err);
    if (st == KV_OK)
        st = check_version(g, g->version, err);
    if (st == KV_OK)
        st = kv_rd_u64(rd, n_tensors, "n_tensors", err);
    if (st == KV_OK)
        st = kv_rd_u64(rd, n_kv, "n_kv", err);
    if (st == KV_OK)
        st = check_count(g, "n_tensors", *n_tensors, KV_GGUF_MAX_TENSORS, 0, rd->off, 0, err);
    if (st == KV_OK)
        st = check_count(g, "n_kv", *n_kv, KV_GGUF_MAX_KV, MIN_KV_BYTES, rd->off,
                         kv_rd_left(rd), err);
    return st;
}

// ---- key-values ----

static kv_status read_kv(kv_gguf *g, kv_rd *rd, int64_t i, kv_err *err) {
    kv__gguf_kv *kv = &g->kvs[i];
    kv->off = rd->off;
    const char *p = NULL;
    kv_status st = kv_rd_str(rd, &p, &kv->key.n, KV_GGUF_MAX_KEY, "key", err);
    if (st != KV_OK)
        return st;
    kv->key.p = p;
    if (kv->key.n == 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: key %lld at offset %zu is empty", g->path,
                       (long long)i, kv->off);
    char q[KV__GGUF_QUOTE_SIZE];
    kv__gguf_quote(kv->key, q);
    if (kv__gguf_index_add(&g->kv_index, (uint32_t)i, kv->key) >= 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: duplicate key '%s' at offset %zu", g->path, q,
                       kv->off);
    uint32_t type = 0;
    st = kv_rd_u32(rd, &type, "value type", err);
    if (st != KV_OK)
        return st;
    return kv__gguf_parse_val(rd, type, 0, &kv->val, &g->tables, q, err);
}

static kv_status read_kvs(kv_gguf *g, kv_rd *rd, uint64_t n_kv, kv_err *err) {
    if (n_kv > 0) {
        g->kvs = calloc((size_t)n_kv, sizeof *g->kvs);
        if (!g->kvs)
            return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %llu key-values", g->path,
                           (unsigned long long)n_kv);
    }
    kv_status st = kv__gguf_index_init(&g->kv_index, (size_t)n_kv, kv_key_of, g, err);
    if (st != KV_OK)
        kv_err_prefix(err, g->path);
    for (uint64_t i = 0; st == KV_OK && i < n_kv; i++) {
        st = read_kv(g, rd, (int64_t)i, err);
        g->n_kv = (int64_t)i + (st == KV_OK);
    }
    return st;
}

static kv_status read_alignment(kv_gguf *g, kv_err *err) {
    g->alignment = KV_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = kv_gguf_find(g, "general.alignment");
    if (i < 0)
        return KV_OK;
    const kv_gguf_val *v = &g->kvs[i].val;
    if (v->type != KV_GGUF_U32) {
        char d[48];
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: key 'general.alignment' has type %s, expected u32",
                       g->path, kv__gguf_val_type_desc(v, d, sizeof d));
    }
    uint32_t a = kv_le32(v->data);
    if (a == 0 || (a & (a - 1)) != 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: general.alignment is %u, expected a nonzero power of two", g->path, a);
    g->alignment = a;
    return KV_OK;
}

// ---- tensor table ----

static kv_status read_shape(kv_gguf *g, kv_rd *rd, kv_gguf_tensor *t, const char *q,
                            kv_err *err) {
    kv_status st = kv_rd_u32(rd, &t->n_dims, "tensor n_dims", err);
    if (st != KV_OK)
        return st;
    if (t->n_dims < 1 || t->n_dims > KV_GGUF_MAX_DIMS)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%s' has n_dims %u, expected 1..%d",
                       g->path, q, t->n_dims, KV_GGUF_MAX_DIMS);
    for (int d = 0; d < KV_GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne = 0;
        st = kv_rd_u64(rd, &ne, "tensor dimension", err);
        if (st != KV_OK)
            return st;
        if (ne > (uint64_t)INT64_MAX)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: tensor '%s' dimension %u is %lld, expected >= 0", g->path, q, d,
                           (long long)ne);
        t->ne[d] = (int64_t)ne;
    }
    return KV_OK;
}

// Checks type, row length and element count, and sets t->size.
static kv_status size_tensor(const kv_gguf *g, kv_gguf_tensor *t, const char *q, kv_err *err) {
    const kv_type_traits *tr = kv_type_get(t->type);
    if (!tr)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%s' has unknown type id %u", g->path, q,
                       t->type);
    if (t->ne[0] % tr->block_size != 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: tensor '%s' of type %s has rows of %lld elements, not a multiple of "
                       "the block size %d",
                       g->path, q, tr->name, (long long)t->ne[0], tr->block_size);
    uint64_t n = 1;
    for (int d = 0; d < KV_GGUF_MAX_DIMS; d++) {
        uint64_t ne = (uint64_t)t->ne[d];
        if (ne != 0 && n > (uint64_t)INT64_MAX / ne)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: tensor '%s' shape (%lld, %lld, %lld, %lld) has more elements "
                           "than an int64 holds",
                           g->path, q, (long long)t->ne[0], (long long)t->ne[1],
                           (long long)t->ne[2], (long long)t->ne[3]);
        n *= ne;
    }
    if (!kv_mul_ok((size_t)(n / (uint64_t)tr->block_size), tr->type_size, &t->size))
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: tensor '%s' takes more bytes than memory holds",
                       g->path, q);
    return KV_OK;
}

static kv_status read_tensor(kv_gguf *g, kv_rd *rd, int64_t i, kv_err *err) {
    kv_gguf_tensor *t = &g->tensors[i];
    size_t at = rd->off;
    const char *p = NULL;
    kv_status st = kv_rd_str(rd, &p, &t->name.n, KV_GGUF_MAX_KEY, "tensor name", err);
    if (st != KV_OK)
        return st;
    t->name.p = p;
    char q[KV__GGUF_QUOTE_SIZE];
    kv__gguf_quote(t->name, q);
    if (kv__gguf_index_add(&g->tensor_index, (uint32_t)i, t->name) >= 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: duplicate tensor name '%s' at offset %zu",
                       g->path, q, at);
    st = read_shape(g, rd, t, q, err);
    if (st == KV_OK)
        st = kv_rd_u32(rd, &t->type, "tensor type", err);
    if (st == KV_OK)
        st = size_tensor(g, t, q, err);
    if (st == KV_OK)
        st = kv_rd_u64(rd, &t->offset, "tensor offset", err);
    return st;
}

static kv_status read_tensors(kv_gguf *g, kv_rd *rd, uint64_t n, kv_err *err) {
    kv_status st = check_count(g, "n_tensors", n, KV_GGUF_MAX_TENSORS, MIN_TENSOR_BYTES, rd->off,
                               kv_rd_left(rd), err);
    if (st != KV_OK)
        return st;
    if (n > 0) {
        g->tensors = calloc((size_t)n, sizeof *g->tensors);
        if (!g->tensors)
            return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %llu tensors", g->path,
                           (unsigned long long)n);
    }
    st = kv__gguf_index_init(&g->tensor_index, (size_t)n, tensor_key_of, g, err);
    if (st != KV_OK)
        kv_err_prefix(err, g->path);
    for (uint64_t i = 0; st == KV_OK && i < n; i++) {
        st = read_tensor(g, rd, (int64_t)i, err);
        g->n_tensors = (int64_t)i + (st == KV_OK);
    }
    return st;
}

// Places each tensor's data in the data section, which starts at end (the end
// of the tensor table) rounded up to the alignment.
static kv_status place_tensors(kv_gguf *g, size_t end, kv_err *err) {
    if (!kv_align_ok(end, g->alignment, &g->data_off) || g->data_off > g->size) {
        if (g->n_tensors > 0)
            return KV_FAIL(err, KV_ERR_TRUNCATED,
                           "%s: truncated: the data section starts at offset %zu (alignment "
                           "%zu), file has %zu",
                           g->path, end, g->alignment, g->size);
        g->data_off = end;
    }
    size_t room = g->size - g->data_off;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        kv_gguf_tensor *t = &g->tensors[i];
        char q[KV__GGUF_QUOTE_SIZE];
        if (t->offset % g->alignment != 0)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: tensor '%s' has offset %llu, not a multiple of the alignment %zu",
                           g->path, kv__gguf_quote(t->name, q), (unsigned long long)t->offset,
                           g->alignment);
        if (t->offset > room || t->size > room - (size_t)t->offset) {
            uint64_t start = (uint64_t)g->data_off + t->offset;
            if (start < t->offset || t->size > UINT64_MAX - start)
                return KV_FAIL(err, KV_ERR_TRUNCATED,
                               "%s: truncated: tensor '%s' has offset %llu, past the end of the "
                               "file (%zu bytes)",
                               g->path, kv__gguf_quote(t->name, q), (unsigned long long)t->offset,
                               g->size);
            return KV_FAIL(err, KV_ERR_TRUNCATED,
                           "%s: truncated: tensor '%s' needs bytes %llu..%llu, file has %zu",
                           g->path, kv__gguf_quote(t->name, q), (unsigned long long)start,
                           (unsigned long long)(start + t->size), g->size);
        }
        t->data = g->data + g->data_off + t->offset;
    }
    return KV_OK;
}

// ---- open and close ----

static kv_status parse(kv_gguf *g, kv_err *err) {
    kv_rd rd = kv_rd_make(g->data, g->size, g->path);
    uint64_t n_tensors = 0;
    uint64_t n_kv = 0;
    kv_status st = read_header(g, &rd, &n_tensors, &n_kv, err);
    if (st == KV_OK)
        st = read_kvs(g, &rd, n_kv, err);
    if (st == KV_OK)
        st = read_alignment(g, err);
    if (st == KV_OK)
        st = read_tensors(g, &rd, n_tensors, err);
    if (st == KV_OK)
        st = place_tensors(g, rd.off, err);
    return st;
}

static kv_status new_handle(const char *name, kv_gguf **out, kv_err *err) {
    *out = NULL;
    kv_gguf *g = calloc(1, sizeof *g);
    size_t n = strlen(name) + 1;
    char *path = malloc(n);
    if (!g || !path) {
        free(g);
        free(path);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(path, name, n);
    g->path = path;
    *out = g;
    return KV_OK;
}

kv_status kv_gguf_open_mem(const void *data, size_t size, const char *name, kv_gguf **out,
                           kv_err *err) {
    kv_status st = new_handle(name ? name : "<memory>", out, err);
    if (st != KV_OK)
        return st;
    kv_gguf *g = *out;
    g->data = data;
    g->size = data ? size : 0;
    st = parse(g, err);
    if (st != KV_OK) {
        kv_gguf_close(g);
        *out = NULL;
    }
    return st;
}

kv_status kv_gguf_open(const char *path, kv_gguf **out, kv_err *err) {
    kv_status st = new_handle(path, out, err);
    if (st != KV_OK)
        return st;
    kv_gguf *g = *out;
    st = kv_map_open(path, &g->map, err);
    if (st == KV_OK) {
        g->data = g->map.data;
        g->size = g->map.size;
        st = parse(g, err);
    }
    if (st != KV_OK) {
        kv_gguf_close(g);
        *out = NULL;
    }
    return st;
}

void kv_gguf_close(kv_gguf *g) {
    if (!g)
        return;
    kv__gguf_index_free(&g->tensor_index);
    kv__gguf_index_free(&g->kv_index);
    free(g->tables.v);
    free(g->tensors);
    free(g->kvs);
    kv_map_close(&g->map);
    free(g->path);
    free(g);
}

// ---- plain getters ----

const char *kv_gguf_path(const kv_gguf *g) { return g->path; }
uint32_t kv_gguf_version(const kv_gguf *g) { return g->version; }
size_t kv_gguf_alignment(const kv_gguf *g) { return g->alignment; }
size_t kv_gguf_data_offset(const kv_gguf *g) { return g->data_off; }
size_t kv_gguf_file_size(const kv_gguf *g) { return g->size; }
int64_t kv_gguf_kv_count(const kv_gguf *g) { return g->n_kv; }
int64_t kv_gguf_tensor_count(const kv_gguf *g) { return g->n_tensors; }

kv_str kv_gguf_kv_key(const kv_gguf *g, int64_t i) {
    kv_str none = {"", 0};
    return i >= 0 && i < g->n_kv ? g->kvs[i].key : none;
}

const kv_gguf_val *kv_gguf_kv_val(const kv_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? &g->kvs[i].val : NULL;
}

const kv_gguf_tensor *kv_gguf_tensor_at(const kv_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

int64_t kv_gguf_find(const kv_gguf *g, const char *key) {
    kv_str k = {key, strlen(key)};
    return kv__gguf_index_find(&g->kv_index, k);
}

int64_t kv_gguf_find_tensor(const kv_gguf *g, const char *name) {
    kv_str k = {name, strlen(name)};
    return kv__gguf_index_find(&g->tensor_index, k);
}
