// The repack cache: the weights repack.c packs at load, kept in a file that
// the next load maps instead of packing again (KVANT_REPACK_CACHE, the CLIs'
// --repack-cache: off, the default; on, beside the model as
// MODEL.gguf.TABLE.kvrepack; or a folder, as FOLDER/MODEL.gguf.PATHHASH.TABLE.kvrepack).
// The file is outside data: it is used only when its header matches this
// process's kvant, kernel table and packed layouts and the model's file
// (size, modification time, a hash of its header and tensor table and of a
// sample of each matrix), and every matrix's checksum holds; anything else is
// reported in one line (kv_model_repack_note) and the weights are packed again
// and the file rewritten, through a temporary file renamed into place
// (core's kv_out), so loads running at once never see a partial file.
//
// Layout (little-endian):
//   0   "KVREPACK"
//   8   u32 format version (KV__REPACK_CACHE_VERSION), u32 0
//   16  u64 header size H (a multiple of KV__REPACK_CACHE_ALIGN)
//   24  u64 header checksum: FNV-1a of bytes [0, H) with these 8 bytes zero
//   32  char[32] kvant version, char[16] kernel table (NUL-padded)
//   80  u64 layout fingerprint, u64 model size, i64 model mtime s, i64 mtime ns,
//       u64 model hash, u64 n_tensors, u64 data size D
//   136 n_tensors x 64 bytes: u64 name hash, u32 type, u32 0, i64 ne0, i64 ne1,
//       u64 offset in the model's data, u64 offset in D, u64 size, u64 checksum
//   ... zeros up to H; then D bytes of packed rows. The file is H + D bytes.
#define _GNU_SOURCE // realpath, st_mtim
#include "model/model_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kvant/kv_threadpool.h"

#define MAGIC "KVREPACK"
#define FIXED 136u
#define ENTRY 64u

uint64_t kv__fnv1a(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

uint64_t kv__repack_cache_sum(const void *p, size_t n) {
    // four independent multiply-xor lanes: a few GB/s, so a warm load checks
    // a GiB of packed rows in a fraction of what packing them costs
    const uint8_t *b = p;
    uint64_t h[4] = {KV__FNV_INIT, 0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full,
                     0x165667b19e3779f9ull};
    const uint64_t k = 0xff51afd7ed558ccdull;
    size_t i = 0;
    for (; n - i >= 32; i += 32)
        for (int l = 0; l < 4; l++) {
            h[l] = (h[l] ^ kv_le64(b + i + 8 * l)) * k;
            h[l] ^= h[l] >> 29;
        }
    uint64_t r = kv__fnv1a(h[0] ^ (h[1] << 1) ^ (h[2] << 2) ^ (h[3] << 3), b + i, n - i);
    return kv__fnv1a(r, &n, sizeof n); // the length too
}

size_t kv__repack_cache_header_size(uint64_t n_tensors) {
    const size_t raw = FIXED + (size_t)n_tensors * ENTRY;
    return (raw + KV__REPACK_CACHE_ALIGN - 1) / KV__REPACK_CACHE_ALIGN * KV__REPACK_CACHE_ALIGN;
}

// ---- header bytes ----

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_entry(uint8_t *p, const kv__repack_entry *e, uint64_t sum) {
    put64(p, e->name_hash);
    put32(p + 8, e->type);
    put32(p + 12, 0);
    put64(p + 16, (uint64_t)e->ne0);
    put64(p + 24, (uint64_t)e->ne1);
    put64(p + 32, e->src_off);
    put64(p + 40, e->off);
    put64(p + 48, e->size);
    put64(p + 56, sum);
}

static uint64_t header_checksum(const uint8_t *p, size_t h) {
    uint64_t s = kv__fnv1a(KV__FNV_INIT, p, 24);
    const uint8_t zero[8] = {0};
    s = kv__fnv1a(s, zero, 8);
    return kv__fnv1a(s, p + 32, h - 32);
}

void kv__repack_cache_header(const kv__repack_key *k, const uint64_t *sums, uint8_t *out) {
    const size_t h = kv__repack_cache_header_size(k->n_tensors);
    memset(out, 0, h);
    memcpy(out, MAGIC, 8);
    put32(out + 8, KV__REPACK_CACHE_VERSION);
    put64(out + 16, h);
    memcpy(out + 32, k->version, sizeof k->version);
    memcpy(out + 64, k->table, sizeof k->table);
    put64(out + 80, k->layout);
    put64(out + 88, k->model_size);
    put64(out + 96, (uint64_t)k->model_mtime_s);
    put64(out + 104, (uint64_t)k->model_mtime_ns);
    put64(out + 112, k->model_hash);
    put64(out + 120, k->n_tensors);
    put64(out + 128, k->data_size);
    for (uint64_t i = 0; i < k->n_tensors; i++)
        put_entry(out + FIXED + i * ENTRY, &k->tensors[i], sums[i]);
    put64(out + 24, header_checksum(out, h));
}

// A fixed-size, NUL-padded name field as a printable string (for messages).
static void field_str(char *dst, size_t cap, const uint8_t *src, size_t n) {
    size_t j = 0;
    for (size_t i = 0; i < n && src[i] && j + 1 < cap; i++)
        dst[j++] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
    dst[j] = '\0';
}

kv_status kv__repack_cache_check(const char *path, const uint8_t *p, size_t n,
                                 const kv__repack_key *want, uint64_t *sums, kv_err *err) {
    if (n < FIXED)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: %zu bytes, shorter than a repack cache header (%u)", path, n,
                       FIXED);
    if (memcmp(p, MAGIC, 8) != 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: not a kvant repack cache (no \"" MAGIC "\" magic)",
                       path);
    const uint32_t version = kv_le32(p + 8);
    if (version != KV__REPACK_CACHE_VERSION)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: repack cache format version %u, this kvant reads %u", path, version,
                       KV__REPACK_CACHE_VERSION);
    const uint64_t h = kv_le64(p + 16), n_tensors = kv_le64(p + 120), data = kv_le64(p + 128);
    if (n_tensors > KV__REPACK_CACHE_MAX_TENSORS)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: %llu tensors in the repack cache, at most %u", path,
                       (unsigned long long)n_tensors, KV__REPACK_CACHE_MAX_TENSORS);
    if (h != kv__repack_cache_header_size(n_tensors))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: header size %llu, expected %zu for %llu tensors",
                       path, (unsigned long long)h, kv__repack_cache_header_size(n_tensors),
                       (unsigned long long)n_tensors);
    if (n < h)
        return KV_FAIL(err, KV_ERR_TRUNCATED, "%s: truncated: %zu bytes, the header alone is %llu",
                       path, n, (unsigned long long)h);
    if (header_checksum(p, h) != kv_le64(p + 24))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: corrupt: the header's checksum does not match",
                       path);
    if (data != n - h)
        return KV_FAIL(err, data > n - h ? KV_ERR_TRUNCATED : KV_ERR_FORMAT,
                       "%s: %s: the header says %llu bytes of packed rows, the file has %zu", path,
                       data > n - h ? "truncated" : "corrupt", (unsigned long long)data, n - h);
    char a[40], b[40];
    field_str(a, sizeof a, p + 32, 32);
    if (strncmp(a, want->version, sizeof want->version) != 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: stale: written by kvant %s, this is kvant %s",
                       path, a, want->version);
    field_str(b, sizeof b, p + 64, 16);
    if (strncmp(b, want->table, sizeof want->table) != 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: stale: packed for the '%s' kernels, not '%s'",
                       path, b, want->table);
    if (kv_le64(p + 88) != want->model_size || (int64_t)kv_le64(p + 96) != want->model_mtime_s ||
        (int64_t)kv_le64(p + 104) != want->model_mtime_ns || kv_le64(p + 112) != want->model_hash)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: stale: written for another model file (size %llu, mtime %lld; the "
                       "model has %llu, %lld) or other contents",
                       path, (unsigned long long)kv_le64(p + 88), (long long)kv_le64(p + 96),
                       (unsigned long long)want->model_size, (long long)want->model_mtime_s);
    if (kv_le64(p + 80) != want->layout)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: stale: the '%s' kernels' packed layouts have changed since it was "
                       "written",
                       path, want->table);
    if (n_tensors != want->n_tensors || data != want->data_size)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: stale: %llu tensors in %llu bytes, the model's plan has %llu in %llu",
                       path, (unsigned long long)n_tensors, (unsigned long long)data,
                       (unsigned long long)want->n_tensors, (unsigned long long)want->data_size);
    for (uint64_t i = 0; i < n_tensors; i++) {
        uint8_t e[ENTRY];
        put_entry(e, &want->tensors[i], 0);
        const uint8_t *q = p + FIXED + i * ENTRY;
        if (memcmp(e, q, ENTRY - 8) != 0)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: stale: tensor entry %llu differs", path,
                           (unsigned long long)i);
        sums[i] = kv_le64(q + ENTRY - 8);
    }
    return KV_OK;
}

// ---- the key of a model's plan ----

// A fingerprint of the table's packed layouts for the plan's types: each
// type's pack run over a fixed, made-up matrix (pack is a pure copy into the
// layout), with the layout's shape, so a kvant whose packer writes other
// bytes never takes an older file.
static uint64_t layout_fingerprint(const kv_kernels *k, const kv__repack_item *items, size_t n) {
    bool seen[KV_TYPE_COUNT] = {false};
    uint64_t h = KV__FNV_INIT;
    enum { N_IN = 256 };
    for (size_t i = 0; i < n; i++) {
        const kv_type t = items[i].t->type;
        if (seen[t])
            continue;
        seen[t] = true;
        const kv_type_kernels *tk = &k->types[t];
        const size_t rs = kv_type_row_size(t, N_IN);
        const size_t ps = tk->pack_size(N_IN);
        uint8_t *w = malloc(rs * (size_t)tk->pack_nw);
        uint8_t *out = calloc(1, ps);
        if (w && out) {
            for (size_t j = 0; j < rs * (size_t)tk->pack_nw; j++)
                w[j] = (uint8_t)((j * 131u + 7u) % 251u) & 0x3b; // no NaN/Inf halves
            tk->pack(N_IN, w, rs, tk->pack_nw, out);
            h = kv__fnv1a(h, out, ps);
        }
        const uint64_t shape[4] = {(uint64_t)t, (uint64_t)tk->pack_nw, (uint64_t)ps,
                                   (uint64_t)(w && out)};
        h = kv__fnv1a(h, shape, sizeof shape);
        free(w);
        free(out);
    }
    return h;
}

static void set_note(kv_model *m, const char *fmt, const char *a, const char *b) {
    free(m->repack_note);
    m->repack_note = NULL;
    const int len = snprintf(NULL, 0, fmt, a, b ? b : "");
    if (len < 0)
        return;
    m->repack_note = malloc((size_t)len + 1);
    if (m->repack_note)
        snprintf(m->repack_note, (size_t)len + 1, fmt, a, b ? b : "");
}

bool kv__repack_cache_key(kv_model *m, const kv__repack_item *items, size_t n,
                          kv__repack_entry *tensors, kv__repack_key *out) {
    memset(out, 0, sizeof *out);
    const char *path = kv_gguf_path(m->gguf);
    struct stat sb;
    if (kv_gguf_tensor_count(m->gguf) < 1 || stat(path, &sb) != 0) {
        set_note(m, "repack cache: cannot examine the model file %s: %s; no cache", path,
                 strerror(errno));
        return false;
    }
    snprintf(out->version, sizeof out->version, "%s", KV_VERSION);
    snprintf(out->table, sizeof out->table, "%s", m->kernels->name);
    out->layout = layout_fingerprint(m->kernels, items, n);
    out->model_size = (uint64_t)sb.st_size;
    out->model_mtime_s = (int64_t)sb.st_mtim.tv_sec;
    out->model_mtime_ns = (int64_t)sb.st_mtim.tv_nsec;
    // The header, key-values and tensor table: bytes [0, data offset) of the
    // mapping, found from the first tensor's data and offset.
    const kv_gguf_tensor *t0 = kv_gguf_tensor_at(m->gguf, 0);
    const uint8_t *data = (const uint8_t *)t0->data - t0->offset;
    const size_t data_off = kv_gguf_data_offset(m->gguf);
    uint64_t h = kv__fnv1a(KV__FNV_INIT, data - data_off, data_off);
    for (size_t i = 0; i < n; i++) {
        const kv_tensor *t = items[i].t;
        const size_t bytes = t->row_size * (size_t)t->ne[1];
        const size_t s = bytes < 64 ? bytes : 64; // a sample of its rows: first and last bytes
        h = kv__fnv1a(h, t->data, s);
        h = kv__fnv1a(h, (const uint8_t *)t->data + bytes - s, s);
        tensors[i] = (kv__repack_entry){kv__fnv1a(KV__FNV_INIT, t->name, strlen(t->name)),
                                        (uint32_t)t->type,
                                        t->ne[0],
                                        t->ne[1],
                                        (uint64_t)((const uint8_t *)t->data - data),
                                        items[i].off,
                                        items[i].size};
    }
    out->model_hash = h;
    out->n_tensors = n;
    out->data_size = n ? items[n - 1].off + items[n - 1].size : 0;
    out->tensors = tensors;
    return true;
}

char *kv__repack_cache_path(const kv_model *m) {
    const char *v = getenv("KVANT_REPACK_CACHE");
    if (!v || !*v || strcmp(v, "off") == 0)
        return NULL;
    const char *model = kv_gguf_path(m->gguf);
    const char *table = m->kernels->name;
    char *out = NULL;
    int len;
    if (strcmp(v, "on") == 0) {
        len = snprintf(NULL, 0, "%s.%s.kvrepack", model, table);
        if (len > 0 && (out = malloc((size_t)len + 1)))
            snprintf(out, (size_t)len + 1, "%s.%s.kvrepack", model, table);
        return out;
    }
    // A folder: the model's name and a hash of where it lives, so models of one
    // name in two folders keep two files.
    char real[PATH_MAX];
    const char *where = realpath(model, real) ? real : model;
    const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
    const unsigned h = (unsigned)(kv__fnv1a(KV__FNV_INIT, where, strlen(where)) & 0xffffffffu);
    const char *fmt = "%s/%s.%08x.%s.kvrepack";
    len = snprintf(NULL, 0, fmt, v, base, h, table);
    if (len > 0 && (out = malloc((size_t)len + 1)))
        snprintf(out, (size_t)len + 1, fmt, v, base, h, table);
    return out;
}

// ---- map and store ----

typedef struct {
    const uint8_t *data;
    const kv__repack_item *items;
    uint64_t *sums;
} sum_job;

static void sum_run(void *arg, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const sum_job *j = arg;
    for (int64_t i = i0; i < i1; i++)
        j->sums[i] = kv__repack_cache_sum(j->data + j->items[i].off, j->items[i].size);
}

bool kv__repack_cache_map(kv_model *m, const char *path, const kv__repack_key *want,
                          kv__repack_item *items, kv_threadpool *tp) {
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT)
        return false; // a first load: nothing to say
    kv_err err = {0};
    uint64_t *sums = malloc((size_t)want->n_tensors * 2 * sizeof *sums);
    if (!sums)
        return false;
    kv_map map;
    kv_status st = kv_map_open(path, &map, &err);
    if (st == KV_OK)
        st = kv__repack_cache_check(path, map.data, map.size, want, sums, &err);
    if (st != KV_OK) {
        set_note(m, "repack cache %s; packing again and rewriting it", err.msg, NULL);
        kv_map_close(&map);
        free(sums);
        return false;
    }
    const uint8_t *data = map.data + kv__repack_cache_header_size(want->n_tensors);
    sum_job j = {data, items, sums + want->n_tensors};
    kv_threadpool_parallel_for(tp, (int64_t)want->n_tensors, 1, sum_run, &j);
    for (uint64_t i = 0; i < want->n_tensors; i++)
        if (sums[i] != sums[want->n_tensors + i]) {
            set_note(m, "repack cache %s: corrupt: the packed rows of '%s' fail their checksum; "
                        "packing again and rewriting it",
                     path, items[i].t->name);
            kv_map_close(&map);
            free(sums);
            return false;
        }
    free(sums);
    for (uint64_t i = 0; i < want->n_tensors; i++) {
        items[i].t->packed = data + items[i].off;
        items[i].t->packed_with = m->kernels->types[items[i].t->type].pack;
    }
    m->repack_map = map;
    return true;
}

void kv__repack_cache_store(kv_model *m, const char *path, const kv__repack_key *want,
                            const uint8_t *mem, const kv__repack_item *items, kv_threadpool *tp) {
    const size_t h = kv__repack_cache_header_size(want->n_tensors);
    uint64_t *sums = malloc((size_t)want->n_tensors * sizeof *sums);
    uint8_t *head = malloc(h);
    kv_err err = {0};
    kv_out o = {0};
    kv_status st = KV_FAIL(&err, KV_ERR_NOMEM, "%s: out of memory for the header", path);
    if (sums && head) {
        sum_job j = {mem, items, sums};
        kv_threadpool_parallel_for(tp, (int64_t)want->n_tensors, 1, sum_run, &j);
        kv__repack_cache_header(want, sums, head);
        st = kv_out_open(&o, path, &err);
        if (st == KV_OK)
            st = kv_out_write(&o, head, h, &err);
        if (st == KV_OK)
            st = kv_out_write(&o, mem, want->data_size, &err);
        if (st == KV_OK)
            st = kv_out_commit(&o, &err);
        else
            kv_out_abort(&o);
    }
    if (st == KV_OK)
        m->repack_source = KV_REPACK_CACHE_WRITTEN;
    else
        set_note(m, "repack cache not written: %s (--repack-cache DIR writes it elsewhere)",
                 err.msg, NULL);
    free(head);
    free(sums);
}
