// safetensors reader: parses and checks each shard's JSON header (jansson), keeps
// the data mapped, indexes tensor names and converts float tensors to F32.
// Byte layout of one file:
//   u64 header_size (little-endian)
//   header_size bytes of JSON: {"NAME": {"dtype": "BF16", "shape": [d0, d1, ...],
//                               "data_offsets": [begin, end]}, ..., "__metadata__": {...}}
//   data: tensor NAME occupies data[begin, end), end - begin = product(shape) * dtype size.
// Opening paths (a folder, an index, a file) is in safetensors_index.c.
#include "kvant/kv_safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json_int.h"
#include "formats/safetensors_int.h"
#include "kvant/kv_f16.h"

// ---- dtypes ----

static const struct {
    const char *name;
    size_t size;
} dtypes[KV_ST_DTYPE_COUNT] = {
    [KV_ST_BOOL] = {"BOOL", 1},       [KV_ST_U8] = {"U8", 1},
    [KV_ST_I8] = {"I8", 1},           [KV_ST_U16] = {"U16", 2},
    [KV_ST_I16] = {"I16", 2},         [KV_ST_U32] = {"U32", 4},
    [KV_ST_I32] = {"I32", 4},         [KV_ST_U64] = {"U64", 8},
    [KV_ST_I64] = {"I64", 8},         [KV_ST_F16] = {"F16", 2},
    [KV_ST_BF16] = {"BF16", 2},       [KV_ST_F32] = {"F32", 4},
    [KV_ST_F64] = {"F64", 8},         [KV_ST_F8_E4M3] = {"F8_E4M3", 1},
    [KV_ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *kv_st_dtype_name(kv_st_dtype d) {
    return (unsigned)d < KV_ST_DTYPE_COUNT ? dtypes[d].name : "?";
}

size_t kv_st_dtype_size(kv_st_dtype d) {
    return (unsigned)d < KV_ST_DTYPE_COUNT ? dtypes[d].size : 0;
}

static int dtype_from_name(const char *s) {
    for (int i = 0; i < KV_ST_DTYPE_COUNT; i++)
        if (strcmp(s, dtypes[i].name) == 0)
            return i;
    return -1;
}

// ---- handle ----

kv_safetensors *kv__st_new(int cap_shards) {
    kv_safetensors *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->shards = calloc(cap_shards > 0 ? (size_t)cap_shards : 1, sizeof *st->shards);
    if (!st->shards) {
        free(st);
        return NULL;
    }
    st->cap_shards = cap_shards;
    return st;
}

void kv_safetensors_close(kv_safetensors *st) {
    if (!st)
        return;
    for (int64_t i = 0; i < st->n_tensors; i++)
        free((char *)st->tensors[i].name);
    for (int i = 0; i < st->n_shards; i++) {
        kv_map_close(&st->shards[i].map);
        free(st->shards[i].path);
    }
    if (st->meta)
        json_decref(st->meta);
    free(st->tensors);
    free(st->shards);
    free(st->slots);
    free(st);
}

int64_t kv_safetensors_count(const kv_safetensors *st) { return st->n_tensors; }

const kv_st_tensor *kv_safetensors_at(const kv_safetensors *st, int64_t i) {
    return i >= 0 && i < st->n_tensors ? &st->tensors[i] : NULL;
}

int kv_safetensors_shard_count(const kv_safetensors *st) { return st->n_shards; }

const char *kv_safetensors_meta(const kv_safetensors *st, const char *key) {
    if (!st->meta)
        return NULL;
    return json_string_value(json_object_get(st->meta, key));
}

// ---- name index ----

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int64_t kv_safetensors_find(const kv_safetensors *st, const char *name) {
    if (st->n_slots == 0)
        return -1;
    size_t mask = st->n_slots - 1;
    for (size_t i = (size_t)name_hash(name) & mask;; i = (i + 1) & mask) {
        int64_t v = st->slots[i];
        if (v == 0)
            return -1;
        if (strcmp(st->tensors[v - 1].name, name) == 0)
            return v - 1;
    }
}

kv_status kv__st_finish(kv_safetensors *st, kv_err *err) {
    size_t n = 16;
    while (n < (size_t)st->n_tensors * 2)
        n *= 2;
    st->slots = calloc(n, sizeof *st->slots);
    if (!st->slots)
        return KV_FAIL(err, KV_ERR_NOMEM, "safetensors: out of memory indexing %lld tensors",
                       (long long)st->n_tensors);
    st->n_slots = n;
    for (int64_t t = 0; t < st->n_tensors; t++) {
        const kv_st_tensor *tt = &st->tensors[t];
        size_t i = (size_t)name_hash(tt->name) & (n - 1);
        while (st->slots[i] != 0) {
            const kv_st_tensor *other = &st->tensors[st->slots[i] - 1];
            if (strcmp(other->name, tt->name) == 0)
                return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%.200s' is also in %s", tt->file,
                               tt->name, other->file);
            i = (i + 1) & (n - 1);
        }
        st->slots[i] = t + 1;
    }
    return KV_OK;
}

// ---- header entries ----

// "[4096, 256]" into buf.
static const char *shape_str(const kv_st_tensor *t, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->n_dims && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

static kv_status parse_dtype(const char *path, const char *name, const json_t *e,
                             kv_st_tensor *t, kv_err *err) {
    const json_t *v = json_object_get(e, "dtype");
    if (!v)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%.200s': field 'dtype' is missing", path,
                       name);
    if (!json_is_string(v))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: tensor '%.200s': field 'dtype' has type %s, expected a string", path,
                       name, kv__json_type_name(v));
    int d = dtype_from_name(json_string_value(v));
    if (d < 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%.200s': unknown dtype '%.40s'", path,
                       name, json_string_value(v));
    t->dtype = (kv_st_dtype)d;
    return KV_OK;
}

static kv_status parse_shape(const char *path, const char *name, const json_t *e,
                             kv_st_tensor *t, kv_err *err) {
    const json_t *v = json_object_get(e, "shape");
    if (!v)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%.200s': field 'shape' is missing", path,
                       name);
    if (!json_is_array(v))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: tensor '%.200s': field 'shape' has type %s, expected an array", path,
                       name, kv__json_type_name(v));
    size_t nd = json_array_size(v);
    if (nd > KV_ST_MAX_DIMS)
        return KV_FAIL(err, KV_ERR_LIMIT,
                       "%s: tensor '%.200s': shape has %zu dimensions, at most %d", path, name, nd,
                       KV_ST_MAX_DIMS);
    size_t n_el = 1;
    for (size_t d = 0; d < nd; d++) {
        const json_t *x = json_array_get(v, d);
        if (!json_is_integer(x))
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: tensor '%.200s': shape[%zu] has type %s, expected an integer",
                           path, name, d, kv__json_type_name(x));
        json_int_t dim = json_integer_value(x);
        if (dim < 0)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: tensor '%.200s': shape[%zu] is %lld, expected a size >= 0", path,
                           name, d, (long long)dim);
        if ((uint64_t)dim > SIZE_MAX || !kv_mul_ok(n_el, (size_t)dim, &n_el) ||
            n_el > (size_t)INT64_MAX)
            return KV_FAIL(err, KV_ERR_LIMIT,
                           "%s: tensor '%.200s': shape's element count overflows at shape[%zu]",
                           path, name, d);
        t->shape[d] = (int64_t)dim;
    }
    t->n_dims = (int)nd;
    t->n_elements = (int64_t)n_el;
    return KV_OK;
}

// Reads data_offsets into [*begin, *end) and checks them against the data section
// and the byte size the shape and dtype need.
static kv_status parse_offsets(const char *path, const char *name, const json_t *e,
                               size_t data_size, kv_st_tensor *t, size_t *begin, kv_err *err) {
    const json_t *v = json_object_get(e, "data_offsets");
    if (!v)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%.200s': field 'data_offsets' is missing",
                       path, name);
    const json_t *b = json_array_get(v, 0), *en = json_array_get(v, 1);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(b) ||
        !json_is_integer(en) || json_integer_value(b) < 0 || json_integer_value(en) < 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: tensor '%.200s': field 'data_offsets' is not [begin, end] with two "
                       "integers >= 0",
                       path, name);
    uint64_t ub = (uint64_t)json_integer_value(b), ue = (uint64_t)json_integer_value(en);
    if (ub > ue)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: tensor '%.200s': data_offsets [%llu, %llu] are reversed (begin > end)",
                       path, name, (unsigned long long)ub, (unsigned long long)ue);
    if (ue > data_size)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: tensor '%.200s': data_offsets [%llu, %llu] end past the data section "
                       "(%zu bytes)",
                       path, name, (unsigned long long)ub, (unsigned long long)ue, data_size);
    size_t need;
    char sbuf[200], nbuf[64];
    bool fits = kv_mul_ok((size_t)t->n_elements, kv_st_dtype_size(t->dtype), &need);
    if (!fits || need != (size_t)(ue - ub)) {
        if (fits)
            snprintf(nbuf, sizeof nbuf, "%zu", need);
        else
            snprintf(nbuf, sizeof nbuf, "more than %zu", SIZE_MAX);
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: tensor '%.200s': data_offsets [%llu, %llu] span %llu bytes, shape %s "
                       "of %s needs %s",
                       path, name, (unsigned long long)ub, (unsigned long long)ue,
                       (unsigned long long)(ue - ub), shape_str(t, sbuf, sizeof sbuf),
                       kv_st_dtype_name(t->dtype), nbuf);
    }
    t->size = need;
    *begin = (size_t)ub;
    return KV_OK;
}

static kv_status push_tensor(kv_safetensors *st, const char *path, kv_err *err) {
    if (st->n_tensors >= KV_ST_MAX_TENSORS)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: more than %d tensors", path, KV_ST_MAX_TENSORS);
    if (st->n_tensors == st->cap_tensors) {
        int64_t cap = st->cap_tensors ? st->cap_tensors * 2 : 64;
        kv_st_tensor *p = realloc(st->tensors, (size_t)cap * sizeof *p);
        if (!p)
            return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %lld tensors", path,
                           (long long)cap);
        st->tensors = p;
        st->cap_tensors = cap;
    }
    memset(&st->tensors[st->n_tensors], 0, sizeof st->tensors[0]);
    return KV_OK;
}

static kv_status parse_entry(kv_safetensors *st, const kv_st_shard *sh, const char *name,
                             const json_t *e, const uint8_t *data, size_t data_size,
                             kv_err *err) {
    const char *path = sh->path;
    size_t name_len = strlen(name);
    if (name_len > KV_ST_MAX_NAME)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: tensor name '%.60s...' has %zu bytes, over %d",
                       path, name, name_len, KV_ST_MAX_NAME);
    if (!json_is_object(e))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: tensor '%.200s': entry has type %s, expected an object", path, name,
                       kv__json_type_name(e));
    kv_status s = push_tensor(st, path, err);
    if (s != KV_OK)
        return s;
    kv_st_tensor *t = &st->tensors[st->n_tensors];
    size_t begin = 0;
    if ((s = parse_dtype(path, name, e, t, err)) != KV_OK ||
        (s = parse_shape(path, name, e, t, err)) != KV_OK ||
        (s = parse_offsets(path, name, e, data_size, t, &begin, err)) != KV_OK)
        return s;
    char *copy = malloc(name_len + 1);
    if (!copy)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    memcpy(copy, name, name_len + 1);
    t->name = copy;
    t->data = data + begin;
    t->file = path;
    st->n_tensors++;
    return KV_OK;
}

static kv_status parse_meta(kv_safetensors *st, const kv_st_shard *sh, json_t *m, bool keep,
                            kv_err *err) {
    if (!json_is_object(m))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: '__metadata__' has type %s, expected an object",
                       sh->path, kv__json_type_name(m));
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v))
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: '__metadata__' entry '%.200s' has type %s, expected a string",
                           sh->path, k, kv__json_type_name(v));
    }
    if (keep)
        st->meta = json_incref(m);
    return KV_OK;
}

// ---- overlaps ----

typedef struct {
    size_t begin, end;
    int64_t idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

// Tensors [first, st->n_tensors) of one shard must not share bytes.
static kv_status check_overlaps(const kv_safetensors *st, int64_t first, const uint8_t *data,
                                const char *path, kv_err *err) {
    int64_t n = st->n_tensors - first;
    if (n < 2)
        return KV_OK;
    span *sp = malloc((size_t)n * sizeof *sp);
    if (!sp)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    int64_t m = 0;
    for (int64_t i = first; i < st->n_tensors; i++) {
        const kv_st_tensor *t = &st->tensors[i];
        if (t->size == 0)
            continue; // an empty span shares no bytes
        size_t b = (size_t)((const uint8_t *)t->data - data);
        sp[m++] = (span){b, b + t->size, i};
    }
    qsort(sp, (size_t)m, sizeof *sp, span_cmp);
    kv_status s = KV_OK;
    for (int64_t i = 1; i < m && s == KV_OK; i++) {
        if (sp[i].begin < sp[i - 1].end)
            s = KV_FAIL(err, KV_ERR_FORMAT,
                        "%s: tensor '%.150s' (data_offsets [%zu, %zu]) overlaps tensor '%.150s' "
                        "([%zu, %zu])",
                        path, st->tensors[sp[i].idx].name, sp[i].begin, sp[i].end,
                        st->tensors[sp[i - 1].idx].name, sp[i - 1].begin, sp[i - 1].end);
    }
    free(sp);
    return s;
}

// ---- one shard ----

static kv_status parse_header(kv_safetensors *st, const kv_st_shard *sh, bool first_shard,
                              kv_err *err) {
    if (sh->size < 8)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: file has %zu bytes, too short for the 8-byte header size", sh->path,
                       sh->size);
    uint64_t hsize = kv_le64(sh->bytes);
    if (hsize > KV_ST_MAX_HEADER)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: header size %llu is over the limit of %zu bytes",
                       sh->path, (unsigned long long)hsize, KV_ST_MAX_HEADER);
    if (hsize > sh->size - 8)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: header size %llu runs past the end of the file (%zu bytes after the "
                       "size field)",
                       sh->path, (unsigned long long)hsize, sh->size - 8);
    json_t *root = NULL;
    char what[300];
    snprintf(what, sizeof what, "%s: header", sh->path);
    kv_status s = kv__json_load_mem(sh->bytes + 8, (size_t)hsize, what, JSON_REJECT_DUPLICATES,
                                    &root, err);
    if (s != KV_OK)
        return s;
    const uint8_t *data = sh->bytes + 8 + hsize;
    size_t data_size = sh->size - 8 - (size_t)hsize;
    int64_t first = st->n_tensors;
    if (!json_is_object(root))
        s = KV_FAIL(err, KV_ERR_FORMAT, "%s: header is a JSON %s, expected an object", sh->path,
                    kv__json_type_name(root));
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (s != KV_OK)
            break;
        if (strcmp(key, "__metadata__") == 0)
            s = parse_meta(st, sh, val, first_shard, err);
        else
            s = parse_entry(st, sh, key, val, data, data_size, err);
    }
    if (s == KV_OK)
        s = check_overlaps(st, first, data, sh->path, err);
    json_decref(root);
    return s;
}

static kv_status add_shard(kv_safetensors *st, kv_st_shard *sh, kv_err *err) {
    bool first_shard = st->n_shards == 0;
    st->shards[st->n_shards++] = *sh;
    return parse_header(st, &st->shards[st->n_shards - 1], first_shard, err);
}

kv_status kv__st_add_file(kv_safetensors *st, const char *path, kv_err *err) {
    if (st->n_shards >= st->cap_shards)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: no room for another shard", path);
    kv_st_shard sh = {0};
    kv_status s = kv_map_open(path, &sh.map, err);
    if (s != KV_OK)
        return s;
    sh.bytes = sh.map.data;
    sh.size = sh.map.size;
    sh.path = malloc(strlen(path) + 1);
    if (!sh.path) {
        kv_map_close(&sh.map);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    }
    strcpy(sh.path, path);
    return add_shard(st, &sh, err);
}

kv_status kv__st_add_mem(kv_safetensors *st, const void *data, size_t size, const char *name,
                         kv_err *err) {
    if (st->n_shards >= st->cap_shards)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: no room for another shard", name);
    kv_st_shard sh = {0};
    sh.bytes = data;
    sh.size = data ? size : 0;
    sh.path = malloc(strlen(name) + 1);
    if (!sh.path)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", name);
    strcpy(sh.path, name);
    return add_shard(st, &sh, err);
}

kv_status kv_safetensors_open_mem(const void *data, size_t size, const char *name,
                                  kv_safetensors **out, kv_err *err) {
    *out = NULL;
    if (!name)
        name = "<memory>";
    kv_safetensors *st = kv__st_new(1);
    if (!st)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", name);
    kv_status s = kv__st_add_mem(st, data, size, name, err);
    if (s == KV_OK)
        s = kv__st_finish(st, err);
    if (s != KV_OK) {
        kv_safetensors_close(st);
        return s;
    }
    *out = st;
    return KV_OK;
}

// ---- conversion ----

kv_status kv_safetensors_read_f32(const kv_st_tensor *t, int64_t first, int64_t n, float *out,
                                  kv_err *err) {
    if (first < 0 || n < 0 || first > t->n_elements || n > t->n_elements - first)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "%s: tensor '%.200s': elements [%lld, %lld + %lld) are outside its %lld",
                       t->file, t->name, (long long)first, (long long)first, (long long)n,
                       (long long)t->n_elements);
    const uint8_t *p = (const uint8_t *)t->data + (size_t)first * kv_st_dtype_size(t->dtype);
    switch (t->dtype) {
    case KV_ST_F32:
        for (int64_t i = 0; i < n; i++)
            out[i] = kv_f32_from_bits(kv_le32(p + 4 * i));
        return KV_OK;
    case KV_ST_F16:
        for (int64_t i = 0; i < n; i++)
            out[i] = kv_f16_to_f32(kv_le16(p + 2 * i));
        return KV_OK;
    case KV_ST_BF16:
        for (int64_t i = 0; i < n; i++)
            out[i] = kv_bf16_to_f32(kv_le16(p + 2 * i));
        return KV_OK;
    case KV_ST_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t u = kv_le64(p + 8 * i);
            double d;
            memcpy(&d, &u, sizeof d);
            out[i] = (float)d;
        }
        return KV_OK;
    default:
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: tensor '%.200s' has dtype %s; only F32, F16, BF16 and F64 convert to "
                       "F32",
                       t->file, t->name, kv_st_dtype_name(t->dtype));
    }
}
