// Weights repacked at load: for every matmul weight whose type has a packed
// path in the model's kernel table (kernels.h: pack / tile_packed), the rows
// are interleaved once, in groups of pack_nw, into the layout the packed tile
// reads, and the matmul driver reads those groups instead of packing pack_nw
// rows into per-thread scratch once per 64 activation rows of every prompt
// batch. The tile gets the same bytes, so the results keep their bits.
//
// The original rows stay where they are (the mapped file): generation (one
// activation row) takes the register tiles or vec_dot over the original
// layout, as do the embedding lookup and tied output, so the packed copies are
// extra memory (kv_model_repack_bytes), about the size of those weights.
//
// KVANT_REPACK (the CLIs' --repack sets it) chooses: on (every weight with a
// packed path), auto (the default: the quantized ones; F16/BF16 rows are
// widened to floats, twice the weights' size, for a few percent of prompt
// speed, so only `on` takes them) or off. KVANT_REPACK_CACHE (--repack-cache)
// keeps the packed copies in a file that later loads map (repack_cache.c).
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_threadpool.h"
#include "model/model_int.h"

typedef struct {
    const kv_kernels *k;
    const kv_tensor *t;
    void *out;
} repack_job;

static void repack_run(void *arg, int64_t g0, int64_t g1, int thread) {
    (void)thread;
    const repack_job *j = arg;
    kv_matmul_repack(j->k, j->t->type, j->t->ne[0], j->t->ne[1], j->t->data, j->t->row_size, g0,
                     g1, j->out);
}

// The matmul weights of m, in a fixed order; returns how many (at most cap).
static size_t matmul_weights(kv_model *m, kv_tensor **out, size_t cap) {
    size_t n = 0;
#define ADD(t)                                                                                     \
    do {                                                                                           \
        if ((t)->name && (t)->data && n < cap)                                                     \
            out[n++] = (t);                                                                        \
    } while (0)
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        kv_layer *L = &m->layers[il];
        ADD(&L->wq);
        ADD(&L->wk);
        ADD(&L->wv);
        ADD(&L->wo);
        ADD(&L->ffn_gate);
        ADD(&L->ffn_up);
        ADD(&L->ffn_down);
    }
    ADD(&m->output);
#undef ADD
    return n;
}

typedef enum { REPACK_OFF, REPACK_AUTO, REPACK_ON } repack_mode_t;

static kv_status repack_mode(repack_mode_t *mode, kv_err *err) {
    const char *v = getenv("KVANT_REPACK");
    *mode = REPACK_AUTO;
    if (!v || !*v || strcmp(v, "auto") == 0)
        return KV_OK;
    if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0) {
        *mode = v[1] == 'n' ? REPACK_ON : REPACK_OFF;
        return KV_OK;
    }
    return KV_FAIL(err, KV_ERR_INVALID, "KVANT_REPACK (--repack) is '%s': expected on, off or auto",
                   v);
}

// Whether the mode repacks weights of type t (auto leaves the float types).
static bool mode_takes(repack_mode_t mode, kv_type t) {
    const bool flt = t == KV_TYPE_F32 || t == KV_TYPE_F16 || t == KV_TYPE_BF16;
    return mode == REPACK_ON || (mode == REPACK_AUTO && !flt);
}

// The plan: each matmul weight the mode takes with a packed path in m's table, its size and
// its place in one block of all of them (*total bytes). The items are
// malloc'd (NULL with *n 0 when there are none or on overflow: *total then
// SIZE_MAX).
static kv__repack_item *plan(const kv_model *m, repack_mode_t mode, size_t *n, size_t *total) {
    const kv_kernels *k = m->kernels;
    const size_t cap = (size_t)m->hp.n_layer * 7 + 1;
    kv_tensor **ws = malloc(cap * sizeof *ws);
    kv__repack_item *items = malloc(cap * sizeof *items);
    *n = 0;
    *total = 0;
    if (!ws || !items)
        goto fail;
    const size_t n_w = matmul_weights((kv_model *)m, ws, cap);
    for (size_t i = 0; i < n_w; i++) {
        if (!mode_takes(mode, ws[i]->type))
            continue;
        const size_t b = kv_matmul_repack_size(k, ws[i]->type, ws[i]->ne[0], ws[i]->ne[1]);
        if (b == 0)
            continue;
        if (b > SIZE_MAX - *total) {
            *total = SIZE_MAX;
            goto fail;
        }
        items[(*n)++] = (kv__repack_item){ws[i], *total, b};
        *total += b;
    }
    free(ws);
    return items;
fail:
    free(ws);
    free(items);
    *n = 0;
    return NULL;
}

// Packs every item into mem (zeroed first: the lanes past a matrix's last row
// hold defined bytes).
static void pack_all(const kv_kernels *k, kv__repack_item *items, size_t n, uint8_t *mem,
                     size_t total, kv_threadpool *tp) {
    memset(mem, 0, total);
    for (size_t i = 0; i < n; i++) {
        const kv_tensor *t = items[i].t;
        const int64_t groups = (t->ne[1] + k->types[t->type].pack_nw - 1) /
                               k->types[t->type].pack_nw;
        repack_job j = {k, t, mem + items[i].off};
        kv_threadpool_parallel_for(tp, groups, 1, repack_run, &j);
    }
}

// Points the plan's tensors at their packed rows in base.
static void point(const kv_kernels *k, kv__repack_item *items, size_t n, const uint8_t *base) {
    for (size_t i = 0; i < n; i++) {
        items[i].t->packed = base + items[i].off;
        items[i].t->packed_with = k->types[items[i].t->type].pack;
    }
}

// Through the cache file at path when it holds these weights; else packs
// them in memory and (path given) writes the file for the next load.
static kv_status repack_with(kv_model *m, kv__repack_item *items, size_t n, size_t total,
                             const char *path, kv_err *err) {
    const kv_kernels *k = m->kernels;
    kv_threadpool *tp = NULL;
    const int nt = kv_threads_default();
    if (nt > 1 && kv_threadpool_new(nt, &tp, NULL) != KV_OK)
        tp = NULL; // works on this thread instead
    kv__repack_entry *entries = path ? malloc(n * sizeof *entries) : NULL;
    kv__repack_key key;
    const bool keyed = entries && kv__repack_cache_key(m, items, n, entries, &key);
    if (keyed && kv__repack_cache_map(m, path, &key, items, tp)) {
        m->repack_source = KV_REPACK_CACHE_MAPPED;
        m->repacked_bytes = total;
        free(entries);
        kv_threadpool_free(tp);
        return KV_OK;
    }
    uint8_t *mem = aligned_alloc(64, (total + 63) / 64 * 64);
    if (!mem) {
        free(entries);
        kv_threadpool_free(tp);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %zu bytes of repacked weights "
                                          "(--repack off does without)",
                       total);
    }
    pack_all(k, items, n, mem, total, tp);
    point(k, items, n, mem);
    m->repacked = mem;
    m->repacked_bytes = total;
    m->repack_source = KV_REPACK_MEMORY;
    if (keyed)
        kv__repack_cache_store(m, path, &key, mem, items, tp);
    free(entries);
    kv_threadpool_free(tp);
    return KV_OK;
}

kv_status kv__model_repack(kv_model *m, kv_err *err) {
    repack_mode_t mode;
    kv_status st = repack_mode(&mode, err);
    if (st != KV_OK || mode == REPACK_OFF)
        return st;
    size_t n, total;
    kv__repack_item *items = plan(m, mode, &n, &total);
    if (total == SIZE_MAX)
        return KV_FAIL(err, KV_ERR_LIMIT, "repacked weights' size overflows");
    if (n == 0) {
        free(items);
        return KV_OK;
    }
    char *path = kv__repack_cache_path(m);
    m->repack_cache_path = path;
    st = repack_with(m, items, n, total, path, err);
    free(items);
    return st;
}

uint64_t kv_model_repack_plan(const kv_model *m, uint64_t bytes[KV_TYPE_COUNT],
                              uint32_t n[KV_TYPE_COUNT]) {
    if (bytes)
        memset(bytes, 0, KV_TYPE_COUNT * sizeof *bytes);
    if (n)
        memset(n, 0, KV_TYPE_COUNT * sizeof *n);
    if (!m)
        return 0;
    // what --repack on would take when KVANT_REPACK says on, else auto's choice
    repack_mode_t mode;
    if (repack_mode(&mode, NULL) != KV_OK || mode != REPACK_ON)
        mode = REPACK_AUTO;
    size_t n_items, total;
    kv__repack_item *items = plan(m, mode, &n_items, &total);
    for (size_t i = 0; i < n_items; i++) {
        if (bytes)
            bytes[items[i].t->type] += items[i].size;
        if (n)
            n[items[i].t->type]++;
    }
    free(items);
    return total;
}

kv_repack_source kv_model_repack_source(const kv_model *m) {
    return m ? m->repack_source : KV_REPACK_NONE;
}

const char *kv_model_repack_cache_path(const kv_model *m) {
    return m ? m->repack_cache_path : NULL;
}

const char *kv_model_repack_note(const kv_model *m) { return m ? m->repack_note : NULL; }

uint64_t kv_model_repack_bytes(const kv_model *m) { return m ? m->repacked_bytes : 0; }
