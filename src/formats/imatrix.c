// Reader for llama.cpp's legacy importance-matrix files (imatrix.dat). GGUF-based
// imatrix files are recognised by their magic and refused; computing matrices is
// the imatrix command's job, not this file's.
//
// Layout (little-endian, every count a signed 32-bit integer):
//   i32 n_entries (>= 1)
//   n_entries x { i32 name_len, name_len bytes (no NUL),
//                 i32 ncall, i32 nval (>= 1), f32 values[nval] }
//   optional trailer: i32 last_call (chunks processed), i32 len, len bytes (dataset file name)
// Values are sums over ncall calls; readers divide by ncall when it is positive.
#include "kvant/kv_imatrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"
#include "kvant/kv_f16.h"

typedef struct {
    char *name;
    float *values;
    size_t n_values;
} entry;

struct kv_imatrix {
    entry *entries;   // distinct names, in order of first appearance
    size_t n_entries;
    size_t *by_name;  // entry indexes sorted by name, for kv_imatrix_find
    int32_t chunk_count;
    char *dataset;
};

static void free_entries(entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].values);
    }
    free(e);
}

void kv_imatrix_close(kv_imatrix *im) {
    if (!im)
        return;
    free_entries(im->entries, im->n_entries);
    free(im->by_name);
    free(im->dataset);
    free(im);
}

// ---- parsing ----

static kv_status rd_i32(kv_rd *rd, int32_t *v, const char *what, kv_err *err) {
    uint32_t u;
    kv_status st = kv_rd_u32(rd, &u, what, err);
    *v = (int32_t)u;
    return st;
}

// Reads a count field and checks it lies in [lo, hi]; below is KV_ERR_FORMAT, above KV_ERR_LIMIT.
static kv_status rd_count(kv_rd *rd, int32_t *v, int32_t lo, int32_t hi, const char *what,
                          kv_err *err) {
    const size_t at = rd->off;
    kv_status st = rd_i32(rd, v, what, err);
    if (st != KV_OK)
        return st;
    if (*v < lo)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: %s at offset %zu is %d, expected at least %d",
                       rd->path, what, at, *v, lo);
    if (*v > hi)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: %s at offset %zu is %d, over the limit of %d",
                       rd->path, what, at, *v, hi);
    return KV_OK;
}

static kv_status read_name(kv_rd *rd, int32_t idx, entry *e, kv_err *err) {
    char what[64];
    int32_t len;
    snprintf(what, sizeof what, "entry %d name length", (int)idx);
    kv_status st = rd_count(rd, &len, 1, KV_IMATRIX_MAX_NAME, what, err);
    if (st != KV_OK)
        return st;
    const uint8_t *b;
    snprintf(what, sizeof what, "entry %d name", (int)idx);
    st = kv_rd_bytes(rd, (size_t)len, &b, what, err);
    if (st != KV_OK)
        return st;
    if (memchr(b, 0, (size_t)len))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: entry %d name at offset %zu holds a NUL byte",
                       rd->path, (int)idx, rd->off - (size_t)len);
    e->name = malloc((size_t)len + 1);
    if (!e->name)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for entry %d", rd->path, (int)idx);
    memcpy(e->name, b, (size_t)len);
    e->name[len] = '\0';
    return KV_OK;
}

static kv_status read_entry(kv_rd *rd, int32_t idx, entry *e, kv_err *err) {
    kv_status st = read_name(rd, idx, e, err);
    if (st != KV_OK)
        return st;
    char what[KV_IMATRIX_MAX_NAME + 64];
    int32_t ncall, nval;
    snprintf(what, sizeof what, "entry %d ('%s') call count", (int)idx, e->name);
    st = rd_i32(rd, &ncall, what, err);
    if (st != KV_OK)
        return st;
    snprintf(what, sizeof what, "entry %d ('%s') value count", (int)idx, e->name);
    st = rd_count(rd, &nval, 1, KV_IMATRIX_MAX_VALUES, what, err);
    if (st != KV_OK)
        return st;
    const uint8_t *b;
    snprintf(what, sizeof what, "entry %d ('%s') values", (int)idx, e->name);
    st = kv_rd_bytes(rd, (size_t)nval * 4, &b, what, err);
    if (st != KV_OK)
        return st;
    e->values = malloc((size_t)nval * sizeof(float));
    if (!e->values)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for entry %d ('%s')", rd->path,
                       (int)idx, e->name);
    e->n_values = (size_t)nval;
    for (int32_t j = 0; j < nval; j++) {
        float v = kv_f32_from_bits(kv_le32(b + 4 * (size_t)j));
        // llama-quantize: the sums become means (float division) when ncall > 0
        e->values[j] = ncall > 0 ? v / (float)ncall : v;
    }
    return KV_OK;
}

static kv_status read_trailer(kv_rd *rd, kv_imatrix *im, kv_err *err) {
    if (kv_rd_left(rd) == 0)
        return KV_OK;
    int32_t last_call, len;
    kv_status st = rd_count(rd, &last_call, 0, INT32_MAX, "chunk count", err);
    if (st != KV_OK)
        return st;
    st = rd_count(rd, &len, 0, KV_IMATRIX_MAX_DATASET, "dataset name length", err);
    if (st != KV_OK)
        return st;
    const uint8_t *b;
    st = kv_rd_bytes(rd, (size_t)len, &b, "dataset name", err);
    if (st != KV_OK)
        return st;
    if (kv_rd_left(rd) != 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: %zu unexpected bytes at offset %zu, after the dataset name", rd->path,
                       kv_rd_left(rd), rd->off);
    im->dataset = malloc((size_t)len + 1);
    if (!im->dataset)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for the dataset name", rd->path);
    memcpy(im->dataset, b, (size_t)len);
    im->dataset[len] = '\0';
    im->chunk_count = last_call;
    return KV_OK;
}

// ---- duplicate names and the name index ----

typedef struct {
    const char *name;
    size_t idx;
} name_ref;

static int cmp_name_ref(const void *a, const void *b) {
    const name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

// Moves the values of later same-named entries into the earliest one and frees the
// rest (name set to NULL). Writes the surviving indexes, in name order, to keep.
static size_t merge_duplicates(entry *entries, const name_ref *refs, size_t n, size_t *keep) {
    size_t n_keep = 0;
    for (size_t g = 0; g < n;) {
        size_t end = g + 1;
        while (end < n && strcmp(refs[end].name, refs[g].name) == 0)
            end++;
        entry *first = &entries[refs[g].idx];
        for (size_t k = g + 1; k < end; k++) {
            entry *dup = &entries[refs[k].idx];
            free(first->values);
            first->values = dup->values;
            first->n_values = dup->n_values;
            dup->values = NULL;
        }
        for (size_t k = g + 1; k < end; k++) { // names last: the scan above compared them
            free(entries[refs[k].idx].name);
            entries[refs[k].idx].name = NULL;
        }
        keep[n_keep++] = refs[g].idx;
        g = end;
    }
    return n_keep;
}

// Merges entries that share a name (the earliest position keeps the latest values, as
// llama-quantize's map does), compacts the array and builds the sorted name index.
static kv_status index_entries(kv_imatrix *im, const char *path, kv_err *err) {
    const size_t n = im->n_entries;
    name_ref *refs = malloc(n * sizeof *refs);
    size_t *new_idx = malloc(n * sizeof *new_idx);
    im->by_name = malloc(n * sizeof *im->by_name);
    if (!refs || !new_idx || !im->by_name) {
        free(refs);
        free(new_idx);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory indexing %zu entries", path, n);
    }
    for (size_t i = 0; i < n; i++)
        refs[i] = (name_ref){im->entries[i].name, i};
    qsort(refs, n, sizeof *refs, cmp_name_ref);
    const size_t n_keep = merge_duplicates(im->entries, refs, n, im->by_name);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!im->entries[i].name)
            continue;
        new_idx[i] = m;
        im->entries[m++] = im->entries[i];
    }
    for (size_t k = 0; k < n_keep; k++)
        im->by_name[k] = new_idx[im->by_name[k]];
    im->n_entries = m;
    free(refs);
    free(new_idx);
    return KV_OK;
}

// ---- open and accessors ----

static kv_status parse(kv_rd *rd, kv_imatrix *im, kv_err *err) {
    if (rd->size >= 4 && memcmp(rd->p, "GGUF", 4) == 0)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: a GGUF imatrix; kvant reads the legacy imatrix.dat format "
                       "(llama-imatrix --output-format dat)", rd->path);
    int32_t n;
    kv_status st = rd_count(rd, &n, 1, KV_IMATRIX_MAX_ENTRIES, "entry count", err);
    if (st != KV_OK)
        return st;
    im->entries = calloc((size_t)n, sizeof *im->entries);
    if (!im->entries)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %d entries", rd->path, (int)n);
    for (int32_t i = 0; i < n; i++) {
        im->n_entries = (size_t)i + 1; // so close() frees a partly read entry
        st = read_entry(rd, i, &im->entries[i], err);
        if (st != KV_OK)
            return st;
    }
    st = read_trailer(rd, im, err);
    if (st != KV_OK)
        return st;
    return index_entries(im, rd->path, err);
}

kv_status kv_imatrix_open(const char *path, kv_imatrix **out, kv_err *err) {
    *out = NULL;
    kv_map map;
    kv_status st = kv_map_open(path, &map, err);
    if (st != KV_OK)
        return st;
    kv_imatrix *im = calloc(1, sizeof *im);
    if (!im) {
        kv_map_close(&map);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    }
    im->chunk_count = -1;
    kv_rd rd = kv_rd_make(map.data, map.size, path);
    st = parse(&rd, im, err);
    kv_map_close(&map);
    if (st != KV_OK) {
        kv_imatrix_close(im);
        return st;
    }
    *out = im;
    return KV_OK;
}

size_t kv_imatrix_count(const kv_imatrix *im) { return im->n_entries; }

const char *kv_imatrix_name(const kv_imatrix *im, size_t i) {
    return i < im->n_entries ? im->entries[i].name : NULL;
}

const float *kv_imatrix_values(const kv_imatrix *im, size_t i, size_t *n) {
    if (i >= im->n_entries) {
        if (n)
            *n = 0;
        return NULL;
    }
    if (n)
        *n = im->entries[i].n_values;
    return im->entries[i].values;
}

const float *kv_imatrix_find(const kv_imatrix *im, const char *name, size_t *n) {
    size_t lo = 0, hi = im->n_entries;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        const int c = strcmp(im->entries[im->by_name[mid]].name, name);
        if (c == 0)
            return kv_imatrix_values(im, im->by_name[mid], n);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (n)
        *n = 0;
    return NULL;
}

int32_t kv_imatrix_chunk_count(const kv_imatrix *im) { return im->chunk_count; }

const char *kv_imatrix_dataset(const kv_imatrix *im) { return im->dataset; }
