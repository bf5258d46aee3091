// The KV cache: per layer and sequence, an array of F16 key and value rows in
// insertion order, each tagged with its position. Removing cells compacts the
// arrays; sequences never share cells. Attention masks by position, so the
// order of cells does not change results beyond summation order.
#include "kvant/kv_model.h"

#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"
#include "model/model_int.h"

kv_status kv__cache_init(kv_cache *kc, const kv_hparams *hp, int32_t n_ctx, int32_t n_seq,
                         kv_err *err) {
    memset(kc, 0, sizeof *kc);
    kc->n_ctx = n_ctx;
    kc->n_seq = n_seq;
    kc->k_row = hp->n_head_kv * hp->n_embd_head_k;
    kc->v_row = hp->n_head_kv * hp->n_embd_head_v;
    size_t cells, layer_cells, k_vals, v_vals, k_bytes, v_bytes;
    bool ok = kv_mul_ok((size_t)n_ctx, (size_t)n_seq, &cells) &&
              kv_mul_ok(cells, (size_t)hp->n_layer, &layer_cells) &&
              kv_mul_ok(layer_cells, (size_t)kc->k_row, &k_vals) &&
              kv_mul_ok(layer_cells, (size_t)kc->v_row, &v_vals) &&
              kv_mul_ok(k_vals, sizeof(kv_f16), &k_bytes) &&
              kv_mul_ok(v_vals, sizeof(kv_f16), &v_bytes);
    if (!ok)
        return KV_FAIL(err, KV_ERR_LIMIT, "KV cache of %d x %d cells is too large", n_seq, n_ctx);
    kc->k = malloc(k_bytes);
    kc->v = malloc(v_bytes);
    kc->pos = malloc(cells * sizeof *kc->pos);
    kc->n_cells = calloc((size_t)n_seq, sizeof *kc->n_cells);
    kc->pos_max = malloc((size_t)n_seq * sizeof *kc->pos_max);
    if (!kc->k || !kc->v || !kc->pos || !kc->n_cells || !kc->pos_max) {
        kv__cache_free(kc);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a KV cache of %zu bytes",
                       k_bytes + v_bytes);
    }
    for (int32_t s = 0; s < n_seq; s++)
        kc->pos_max[s] = -1;
    return KV_OK;
}

void kv__cache_free(kv_cache *kc) {
    free(kc->k);
    free(kc->v);
    free(kc->pos);
    free(kc->n_cells);
    free(kc->pos_max);
    memset(kc, 0, sizeof *kc);
}

static size_t cell_index(const kv_cache *kc, int64_t l, int32_t s, int32_t j) {
    return ((size_t)l * (size_t)kc->n_seq + (size_t)s) * (size_t)kc->n_ctx + (size_t)j;
}

kv_f16 *kv__cache_k(const kv_cache *kc, int64_t l, int32_t s, int32_t j) {
    return kc->k + cell_index(kc, l, s, j) * (size_t)kc->k_row;
}

kv_f16 *kv__cache_v(const kv_cache *kc, int64_t l, int32_t s, int32_t j) {
    return kc->v + cell_index(kc, l, s, j) * (size_t)kc->v_row;
}

bool kv__cache_has_pos(const kv_cache *kc, int32_t s, int32_t p) {
    if (p > kc->pos_max[s])
        return false;
    const int32_t *pos = kc->pos + (size_t)s * (size_t)kc->n_ctx;
    for (int32_t j = 0; j < kc->n_cells[s]; j++)
        if (pos[j] == p)
            return true;
    return false;
}

static void update_pos_max(kv_cache *kc, int32_t s) {
    const int32_t *pos = kc->pos + (size_t)s * (size_t)kc->n_ctx;
    int32_t max = -1;
    for (int32_t j = 0; j < kc->n_cells[s]; j++)
        if (pos[j] > max)
            max = pos[j];
    kc->pos_max[s] = max;
}

// ---- public sequence operations ----

void kv_ctx_seq_clear(kv_ctx *c, int32_t seq) {
    kv_cache *kc = &c->cache;
    for (int32_t s = 0; s < kc->n_seq; s++) {
        if (seq >= 0 && s != seq)
            continue;
        kc->n_cells[s] = 0;
        kc->pos_max[s] = -1;
    }
}

static kv_status check_seq(const kv_cache *kc, int32_t seq, kv_err *err) {
    if (seq < 0 || seq >= kc->n_seq)
        return KV_FAIL(err, KV_ERR_INVALID, "sequence %d is outside 0..%d", seq, kc->n_seq - 1);
    return KV_OK;
}

kv_status kv_ctx_seq_rm(kv_ctx *c, int32_t seq, int32_t p0, int32_t p1, kv_err *err) {
    kv_cache *kc = &c->cache;
    kv_status st = check_seq(kc, seq, err);
    if (st != KV_OK)
        return st;
    int32_t *pos = kc->pos + (size_t)seq * (size_t)kc->n_ctx;
    const int64_t n_layer = c->model->hp.n_layer;
    int32_t kept = 0;
    for (int32_t j = 0; j < kc->n_cells[seq]; j++) {
        bool drop = pos[j] >= p0 && (p1 < 0 || pos[j] < p1);
        if (drop)
            continue;
        if (kept != j) {
            pos[kept] = pos[j];
            for (int64_t l = 0; l < n_layer; l++) {
                memcpy(kv__cache_k(kc, l, seq, kept), kv__cache_k(kc, l, seq, j),
                       (size_t)kc->k_row * sizeof(kv_f16));
                memcpy(kv__cache_v(kc, l, seq, kept), kv__cache_v(kc, l, seq, j),
                       (size_t)kc->v_row * sizeof(kv_f16));
            }
        }
        kept++;
    }
    kc->n_cells[seq] = kept;
    update_pos_max(kc, seq);
    return KV_OK;
}

kv_status kv_ctx_seq_cp(kv_ctx *c, int32_t src, int32_t dst, kv_err *err) {
    kv_cache *kc = &c->cache;
    kv_status st = check_seq(kc, src, err);
    if (st == KV_OK)
        st = check_seq(kc, dst, err);
    if (st != KV_OK || src == dst)
        return st;
    const int32_t n = kc->n_cells[src];
    for (int64_t l = 0; l < c->model->hp.n_layer; l++) {
        memcpy(kv__cache_k(kc, l, dst, 0), kv__cache_k(kc, l, src, 0),
               (size_t)n * (size_t)kc->k_row * sizeof(kv_f16));
        memcpy(kv__cache_v(kc, l, dst, 0), kv__cache_v(kc, l, src, 0),
               (size_t)n * (size_t)kc->v_row * sizeof(kv_f16));
    }
    memcpy(kc->pos + (size_t)dst * (size_t)kc->n_ctx, kc->pos + (size_t)src * (size_t)kc->n_ctx,
           (size_t)n * sizeof *kc->pos);
    kc->n_cells[dst] = n;
    kc->pos_max[dst] = kc->pos_max[src];
    return KV_OK;
}

int32_t kv_ctx_seq_pos_max(const kv_ctx *c, int32_t seq) {
    if (seq < 0 || seq >= c->cache.n_seq)
        return -1;
    return c->cache.pos_max[seq];
}

int32_t kv_ctx_seq_n_cells(const kv_ctx *c, int32_t seq) {
    if (seq < 0 || seq >= c->cache.n_seq)
        return 0;
    return c->cache.n_cells[seq];
}
