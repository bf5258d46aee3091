// GGUF metadata values: type names and sizes, the bounded value parser (scalars,
// strings, arrays nested up to KV_GGUF_MAX_DEPTH) and O(1) access to elements of
// string arrays and arrays of arrays through offset tables built while parsing.
// Value layout (little-endian), after the u32 type tag:
//   scalar: its bytes (bool is one byte, nonzero = true)
//   string: u64 length, bytes (no NUL)
//   array:  u32 elem_type, u64 count, count elements (a nested array element is
//           again u32 elem_type, u64 count, elements; it has no type tag of its own)
#include "formats/gguf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const VTYPE_NAMES[KV_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

static const size_t VTYPE_SIZES[KV_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *kv_gguf_vtype_name(uint32_t t) {
    return t < KV_GGUF_TYPE_COUNT ? VTYPE_NAMES[t] : "?";
}

size_t kv_gguf_vtype_size(uint32_t t) {
    return t < KV_GGUF_TYPE_COUNT ? VTYPE_SIZES[t] : 0;
}

// ---- messages ----

const char *kv__gguf_quote(kv_str s, char buf[KV__GGUF_QUOTE_SIZE]) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (o + 8 >= KV__GGUF_QUOTE_SIZE) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        uint8_t c = (uint8_t)s.p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    buf[o] = '\0';
    return buf;
}

const char *kv__gguf_val_type_desc(const kv_gguf_val *v, char *buf, size_t cap) {
    if (v->type == KV_GGUF_ARRAY)
        snprintf(buf, cap, "array of %s", kv_gguf_vtype_name(v->elem_type));
    else
        snprintf(buf, cap, "%s", kv_gguf_vtype_name(v->type));
    return buf;
}

// ---- parsing ----

static kv_status tables_reserve(kv__gguf_tables *t, uint64_t n, size_t *first, const char *path,
                                kv_err *err) {
    if (n > SIZE_MAX / sizeof(uint64_t) - t->n)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: element table of %llu entries is too large", path,
                       (unsigned long long)n);
    size_t need = t->n + (size_t)n;
    if (need > t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 / sizeof(uint64_t) ? need : cap * 2;
        uint64_t *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %zu element offsets", path,
                           cap);
        t->v = v;
        t->cap = cap;
    }
    *first = t->n;
    t->n = need;
    return KV_OK;
}

static kv_status parse_string(kv_rd *rd, kv_gguf_val *out, const char *qkey, kv_err *err) {
    size_t at = rd->off;
    if (kv_rd_left(rd) < 8)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: key '%s' string length at offset %zu needs 8 bytes, "
                       "file has %zu",
                       rd->path, qkey, at, rd->size);
    uint64_t n = kv_le64(rd->p + at);
    if (n > KV_GGUF_MAX_STR)
        return KV_FAIL(err, KV_ERR_LIMIT,
                       "%s: key '%s' has a string of %llu bytes at offset %zu, over the limit "
                       "of %zu",
                       rd->path, qkey, (unsigned long long)n, at, KV_GGUF_MAX_STR);
    if (n > kv_rd_left(rd) - 8)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: key '%s' has a string of %llu bytes at offset %zu, "
                       "file has %zu",
                       rd->path, qkey, (unsigned long long)n, at, rd->size);
    out->type = KV_GGUF_STRING;
    out->data = rd->p + at;
    out->size = 8 + (size_t)n;
    out->str.p = (const char *)rd->p + at + 8;
    out->str.n = (size_t)n;
    rd->off += out->size;
    return KV_OK;
}

// Elements of an array whose elements vary in size (strings, arrays).
static kv_status parse_var_elems(kv_rd *rd, kv_gguf_val *out, int depth,
                                 kv__gguf_tables *tables, const char *qkey, kv_err *err) {
    const int per = out->elem_type == KV_GGUF_STRING ? 1 : 2;
    size_t first = 0;
    kv_status st = tables_reserve(tables, out->n * (uint64_t)per, &first, rd->path, err);
    if (st != KV_OK)
        return st;
    out->table = first;
    for (uint64_t j = 0; j < out->n; j++) {
        kv_gguf_val e;
        memset(&e, 0, sizeof e);
        size_t at = rd->off;
        st = kv__gguf_parse_val(rd, out->elem_type, depth + 1, &e, tables, qkey, err);
        if (st != KV_OK)
            return st;
        // tables->v may have moved while parsing the element: index, don't hold pointers.
        tables->v[first + j * (uint64_t)per] = at;
        if (per == 2)
            tables->v[first + j * 2 + 1] = e.table;
    }
    return KV_OK;
}

static kv_status parse_array(kv_rd *rd, int depth, kv_gguf_val *out, kv__gguf_tables *tables,
                             const char *qkey, kv_err *err) {
    size_t at = rd->off;
    if (depth >= KV_GGUF_MAX_DEPTH)
        return KV_FAIL(err, KV_ERR_LIMIT,
                       "%s: key '%s' has arrays nested deeper than %d at offset %zu", rd->path,
                       qkey, KV_GGUF_MAX_DEPTH, at);
    if (kv_rd_left(rd) < KV__GGUF_ARR_HDR)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: key '%s' array header at offset %zu needs %d bytes, "
                       "file has %zu",
                       rd->path, qkey, at, KV__GGUF_ARR_HDR, rd->size);
    uint32_t et = kv_le32(rd->p + at);
    uint64_t n = kv_le64(rd->p + at + 4);
    rd->off += KV__GGUF_ARR_HDR;
    if (et >= KV_GGUF_TYPE_COUNT)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: key '%s' has an array of unknown value type %u at offset %zu",
                       rd->path, qkey, et, at);
    // Every element takes at least 1 byte (scalar), 8 (string) or 12 (array).
    size_t esz = kv_gguf_vtype_size(et);
    size_t min = esz ? esz : et == KV_GGUF_STRING ? 8 : KV__GGUF_ARR_HDR;
    if (n > kv_rd_left(rd) / min)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: key '%s' has an array of %llu %s at offset %zu, but "
                       "only %zu bytes remain",
                       rd->path, qkey, (unsigned long long)n, kv_gguf_vtype_name(et), at,
                       kv_rd_left(rd));
    out->type = KV_GGUF_ARRAY;
    out->elem_type = (kv_gguf_vtype)et;
    out->n = n;
    out->data = rd->p + rd->off;
    if (esz) {
        rd->off += (size_t)n * esz;
    } else {
        kv_status st = parse_var_elems(rd, out, depth, tables, qkey, err);
        if (st != KV_OK)
            return st;
    }
    out->size = rd->off - at;
    return KV_OK;
}

kv_status kv__gguf_parse_val(kv_rd *rd, uint32_t type, int depth, kv_gguf_val *out,
                             kv__gguf_tables *tables, const char *qkey, kv_err *err) {
    memset(out, 0, sizeof *out);
    if (type == KV_GGUF_STRING)
        return parse_string(rd, out, qkey, err);
    if (type == KV_GGUF_ARRAY)
        return parse_array(rd, depth, out, tables, qkey, err);
    if (type >= KV_GGUF_TYPE_COUNT)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: key '%s' has unknown value type %u at offset %zu",
                       rd->path, qkey, type, rd->off >= 4 ? rd->off - 4 : rd->off);
    size_t esz = kv_gguf_vtype_size(type);
    if (esz > kv_rd_left(rd))
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: key '%s' %s value at offset %zu needs %zu bytes, "
                       "file has %zu",
                       rd->path, qkey, kv_gguf_vtype_name(type), rd->off, esz, rd->size);
    out->type = (kv_gguf_vtype)type;
    out->data = rd->p + rd->off;
    out->size = esz;
    rd->off += esz;
    return KV_OK;
}

void kv__gguf_val_bytes(const kv_gguf_val *v, const uint8_t **p, size_t *n) {
    *p = v->type == KV_GGUF_ARRAY ? v->data - KV__GGUF_ARR_HDR : v->data;
    *n = v->size;
}

// ---- elements ----

static kv_status check_elem(const kv_gguf *g, const kv_gguf_val *arr, uint64_t j, int per,
                            kv_err *err) {
    if (!arr || arr->type != KV_GGUF_ARRAY)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: value is not an array", g->path);
    if (j >= arr->n)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: element %llu of an array of %llu", g->path,
                       (unsigned long long)j, (unsigned long long)arr->n);
    if (per > 0 && (arr->table > g->tables.n || j >= (g->tables.n - arr->table) / (size_t)per))
        return KV_FAIL(err, KV_ERR_INVALID, "%s: array value does not belong to this file",
                       g->path);
    return KV_OK;
}

kv_status kv_gguf_arr_str(const kv_gguf *g, const kv_gguf_val *arr, uint64_t j, kv_str *out,
                          kv_err *err) {
    if (arr && arr->type == KV_GGUF_ARRAY && arr->elem_type != KV_GGUF_STRING)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: array has elements of type %s, expected string",
                       g->path, kv_gguf_vtype_name(arr->elem_type));
    kv_status st = check_elem(g, arr, j, 1, err);
    if (st != KV_OK)
        return st;
    uint64_t off = g->tables.v[arr->table + j];
    out->n = (size_t)kv_le64(g->data + off);
    out->p = (const char *)g->data + off + 8;
    return KV_OK;
}

kv_status kv_gguf_arr_elem(const kv_gguf *g, const kv_gguf_val *arr, uint64_t j,
                           kv_gguf_val *out, kv_err *err) {
    memset(out, 0, sizeof *out);
    bool var = arr && (arr->elem_type == KV_GGUF_STRING || arr->elem_type == KV_GGUF_ARRAY);
    int per = !var ? 0 : arr->elem_type == KV_GGUF_STRING ? 1 : 2;
    kv_status st = check_elem(g, arr, j, per, err);
    if (st != KV_OK)
        return st;
    out->type = arr->elem_type;
    if (!var) {
        size_t esz = kv_gguf_vtype_size(arr->elem_type);
        out->data = arr->data + (size_t)j * esz;
        out->size = esz;
        return KV_OK;
    }
    if (per == 1) {
        out->data = g->data + g->tables.v[arr->table + j];
        st = kv_gguf_arr_str(g, arr, j, &out->str, err);
        out->size = 8 + out->str.n;
        return st;
    }
    // An array element: header at its offset; it ends where the next begins, or
    // where the enclosing array ends.
    const uint8_t *start = g->data + g->tables.v[arr->table + j * 2];
    const uint8_t *end = j + 1 < arr->n ? g->data + g->tables.v[arr->table + (j + 1) * 2]
                                        : arr->data - KV__GGUF_ARR_HDR + arr->size;
    out->elem_type = (kv_gguf_vtype)kv_le32(start);
    out->n = kv_le64(start + 4);
    out->data = start + KV__GGUF_ARR_HDR;
    out->size = (size_t)(end - start);
    out->table = g->tables.v[arr->table + j * 2 + 1];
    return KV_OK;
}
