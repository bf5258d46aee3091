// The paged KV cache (layout in model_int.h): a pool of blocks of
// KV_CTX_BLOCK_CELLS cells, allocated on first use and recycled through a free
// list, and per sequence the ids of the blocks that hold its cells in insertion
// order. Copying a sequence shares its blocks (reference counts); a shared block
// is copied before it is written. Attention masks by position, so the order of
// cells changes results only through summation order.
#include "kvant/kv_model.h"

#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"
#include "model/model_int.h"

#define BLOCK KV_CTX_BLOCK_CELLS
#define BLOCK_ALIGN 64

// Blocks that n cells fill.
static int32_t blocks_for(int64_t n) {
    return (int32_t)((n + BLOCK - 1) / BLOCK);
}

bool kv__cache_type_ok(kv_type t) {
    return t == KV_TYPE_F32 || t == KV_TYPE_F16 || t == KV_TYPE_Q8_0 || t == KV_TYPE_Q4_0;
}

kv_status kv__cache_init(kv_cache *kc, const kv_hparams *hp, int32_t n_ctx, int32_t n_seq,
                         int32_t n_blocks_max, kv_type type_k, kv_type type_v, kv_err *err) {
    memset(kc, 0, sizeof *kc);
    kc->n_ctx = n_ctx;
    kc->n_seq = n_seq;
    kc->n_layer = hp->n_layer;
    kc->k_row = hp->n_head_kv * hp->n_embd_head_k;
    kc->v_row = hp->n_head_kv * hp->n_embd_head_v;
    kc->n_blocks_max = n_blocks_max;
    kc->type_k = type_k;
    kc->type_v = type_v;
    const int64_t hd[2] = {hp->n_embd_head_k, hp->n_embd_head_v};
    const kv_type ty[2] = {type_k, type_v};
    for (int i = 0; i < 2; i++) {
        const int64_t blck = kv_type_get(ty[i]) ? kv_type_get(ty[i])->block_size : 0;
        if (!kv__cache_type_ok(ty[i]) || blck < 1)
            return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                           "KV cache type %s: only f32, f16, q8_0 and q4_0 can be cached",
                           kv_type_name(ty[i]));
        if (hd[i] % blck != 0)
            return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                           "KV cache type %s needs a head size that is a multiple of %lld; the "
                           "model's %s heads have %lld",
                           kv_type_name(ty[i]), (long long)blck, i ? "value" : "key",
                           (long long)hd[i]);
    }
    kc->k_head_bytes = kv_type_row_size(type_k, hp->n_embd_head_k);
    kc->v_head_bytes = kv_type_row_size(type_v, hp->n_embd_head_v);
    kc->k_row_bytes = kc->k_head_bytes * (size_t)hp->n_head_kv;
    kc->v_row_bytes = kc->v_head_bytes * (size_t)hp->n_head_kv;
    // Dimensions are capped (KV_MODEL_MAX_*), so these cannot overflow.
    size_t layer_cells = (size_t)kc->n_layer * BLOCK;
    kc->v_off = layer_cells * kc->k_row_bytes;
    kc->pos_off = kc->v_off + layer_cells * kc->v_row_bytes;
    size_t bytes = kc->pos_off + BLOCK * sizeof(int32_t);
    if (!kv_align_ok(bytes, BLOCK_ALIGN, &kc->block_size))
        return KV_FAIL(err, KV_ERR_LIMIT, "KV cache block of %zu bytes is too large", bytes);
    kc->seqs = calloc((size_t)n_seq, sizeof *kc->seqs);
    if (!kc->seqs)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %d KV cache sequences", n_seq);
    for (int32_t s = 0; s < n_seq; s++)
        kc->seqs[s].pos_max = -1;
    return KV_OK;
}

void kv__cache_free(kv_cache *kc) {
    for (int32_t b = 0; b < kc->n_blocks; b++)
        free(kc->mem[b]);
    for (int32_t s = 0; kc->seqs && s < kc->n_seq; s++)
        free(kc->seqs[s].blocks);
    free(kc->mem);
    free(kc->refs);
    free(kc->free_ids);
    free(kc->seqs);
    memset(kc, 0, sizeof *kc);
}

// ---- the pool ----

static int32_t blocks_used(const kv_cache *kc) {
    return kc->n_blocks - kc->n_free;
}

// Grows the per-block arrays to hold at least n entries.
static kv_status grow_arrays(kv_cache *kc, int32_t n, kv_err *err) {
    int32_t cap = kc->cap > 0 ? kc->cap : 16;
    while (cap < n)
        cap = cap > kc->n_blocks_max / 2 ? kc->n_blocks_max : cap * 2;
    uint8_t **mem = realloc(kc->mem, (size_t)cap * sizeof *mem);
    if (mem)
        kc->mem = mem;
    int32_t *refs = mem ? realloc(kc->refs, (size_t)cap * sizeof *refs) : NULL;
    if (refs)
        kc->refs = refs;
    int32_t *ids = refs ? realloc(kc->free_ids, (size_t)cap * sizeof *ids) : NULL;
    if (!ids)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %d KV cache block entries", cap);
    kc->free_ids = ids;
    kc->cap = cap;
    return KV_OK;
}

// Makes n blocks free, allocating storage for new ones. KV_ERR_LIMIT when that
// would pass the budget; blocks allocated before a KV_ERR_NOMEM stay free.
static kv_status ensure_free(kv_cache *kc, int64_t n, kv_err *err) {
    const int32_t used = blocks_used(kc);
    if (n > kc->n_blocks_max - used)
        return KV_FAIL(err, KV_ERR_LIMIT,
                       "KV cache is full: %lld more blocks of %d cells are needed, %d of %d "
                       "are free",
                       (long long)n, BLOCK, kc->n_blocks_max - used, kc->n_blocks_max);
    while (kc->n_free < n) {
        if (kc->n_blocks == kc->cap) {
            kv_status st = grow_arrays(kc, kc->n_blocks + 1, err);
            if (st != KV_OK)
                return st;
        }
        uint8_t *m = aligned_alloc(BLOCK_ALIGN, kc->block_size);
        if (!m)
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a KV cache block of %zu bytes",
                           kc->block_size);
        int32_t b = kc->n_blocks++;
        kc->mem[b] = m;
        kc->refs[b] = 0;
        kc->free_ids[kc->n_free++] = b;
    }
    return KV_OK;
}

// A free block, held once. ensure_free must have made it available.
static int32_t take_block(kv_cache *kc) {
    int32_t b = kc->free_ids[--kc->n_free];
    kc->refs[b] = 1;
    return b;
}

static void drop_block(kv_cache *kc, int32_t b) {
    if (--kc->refs[b] == 0)
        kc->free_ids[kc->n_free++] = b;
}

// Gives sequence s its own copy of its i-th block when another sequence holds
// it too. Needs a free block in that case.
static void unshare(kv_cache *kc, int32_t s, int32_t i) {
    int32_t b = kc->seqs[s].blocks[i];
    if (kc->refs[b] == 1)
        return;
    int32_t copy = take_block(kc);
    memcpy(kc->mem[copy], kc->mem[b], kc->block_size);
    drop_block(kc, b);
    kc->seqs[s].blocks[i] = copy;
}

// Room for n block ids in sequence s's table.
static kv_status seq_room(kv_cache *kc, int32_t s, int32_t n, kv_err *err) {
    kv_cache_seq *q = &kc->seqs[s];
    if (n <= q->cap)
        return KV_OK;
    int32_t cap = q->cap > 0 ? q->cap : 4;
    while (cap < n)
        cap = cap > INT32_MAX / 2 ? n : cap * 2;
    int32_t *blocks = realloc(q->blocks, (size_t)cap * sizeof *blocks);
    if (!blocks)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for sequence %d's KV block table", s);
    q->blocks = blocks;
    q->cap = cap;
    return KV_OK;
}

static void release_from(kv_cache *kc, int32_t s, int32_t first_block) {
    kv_cache_seq *q = &kc->seqs[s];
    for (int32_t i = first_block; i < blocks_for(q->n_cells); i++)
        drop_block(kc, q->blocks[i]);
}

static int32_t blocks_needed(const kv_cache *kc, int32_t s, int64_t n) {
    const kv_cache_seq *q = &kc->seqs[s];
    if (n <= 0)
        return 0;
    int32_t have = blocks_for(q->n_cells);
    int32_t copy = q->n_cells % BLOCK != 0 && kc->refs[q->blocks[have - 1]] > 1 ? 1 : 0;
    return blocks_for(q->n_cells + n) - have + copy;
}

kv_status kv__cache_reserve(kv_cache *kc, const int32_t *n_new, kv_err *err) {
    int64_t need = 0;
    kv_status st = KV_OK;
    for (int32_t s = 0; s < kc->n_seq && st == KV_OK; s++) {
        need += blocks_needed(kc, s, n_new[s]);
        if (n_new[s] > 0)
            st = seq_room(kc, s, blocks_for((int64_t)kc->seqs[s].n_cells + n_new[s]), err);
    }
    if (st == KV_OK)
        st = ensure_free(kc, need, err);
    if (st != KV_OK)
        return st;
    for (int32_t s = 0; s < kc->n_seq; s++) {
        kv_cache_seq *q = &kc->seqs[s];
        if (n_new[s] <= 0)
            continue;
        if (q->n_cells % BLOCK != 0)
            unshare(kc, s, q->n_cells / BLOCK);
        for (int32_t i = blocks_for(q->n_cells); i < blocks_for(q->n_cells + n_new[s]); i++)
            q->blocks[i] = take_block(kc);
    }
    return KV_OK;
}

// ---- cells ----

static int32_t cell_pos(const kv_cache *kc, int32_t s, int32_t j) {
    return kv__cache_pos(kc, kc->seqs[s].blocks[j / BLOCK])[j % BLOCK];
}

bool kv__cache_has_pos(const kv_cache *kc, int32_t s, int32_t p) {
    if (p > kc->seqs[s].pos_max)
        return false;
    for (int32_t j = 0; j < kc->seqs[s].n_cells; j++)
        if (cell_pos(kc, s, j) == p)
            return true;
    return false;
}

static void update_pos_max(kv_cache *kc, int32_t s) {
    int32_t max = -1;
    for (int32_t j = 0; j < kc->seqs[s].n_cells; j++) {
        int32_t p = cell_pos(kc, s, j);
        if (p > max)
            max = p;
    }
    kc->seqs[s].pos_max = max;
}

// Copies cell j of sequence s to its cell k (in a block it holds alone).
static void move_cell(kv_cache *kc, int32_t s, int32_t j, int32_t k) {
    const int32_t *blocks = kc->seqs[s].blocks;
    const int32_t bj = blocks[j / BLOCK], bk = blocks[k / BLOCK];
    const int32_t ij = j % BLOCK, ik = k % BLOCK;
    const size_t k_size = kc->k_row_bytes, v_size = kc->v_row_bytes;
    for (int64_t l = 0; l < kc->n_layer; l++) {
        memcpy(kv__cache_k(kc, bk, l) + ik * k_size, kv__cache_k(kc, bj, l) + ij * k_size, k_size);
        memcpy(kv__cache_v(kc, bk, l) + ik * v_size, kv__cache_v(kc, bj, l) + ij * v_size, v_size);
    }
    kv__cache_pos(kc, bk)[ik] = kv__cache_pos(kc, bj)[ij];
}

// ---- public sequence operations ----

void kv_ctx_seq_clear(kv_ctx *c, int32_t seq) {
    kv_cache *kc = &c->cache;
    for (int32_t s = 0; s < kc->n_seq; s++) {
        if (seq >= 0 && s != seq)
            continue;
        release_from(kc, s, 0);
        kc->seqs[s].n_cells = 0;
        kc->seqs[s].pos_max = -1;
    }
}

static kv_status check_seq(const kv_cache *kc, int32_t seq, kv_err *err) {
    if (seq < 0 || seq >= kc->n_seq)
        return KV_FAIL(err, KV_ERR_INVALID, "sequence %d is outside 0..%d", seq, kc->n_seq - 1);
    return KV_OK;
}

static bool dropped(int32_t p, int32_t p0, int32_t p1) {
    return p >= p0 && (p1 < 0 || p < p1);
}

// Shared blocks that compacting sequence s from cell `first` on, keeping `kept`
// cells in all, writes to (each must be copied first): those of cells first..kept-1.
static int64_t shared_written(const kv_cache *kc, int32_t s, int32_t first, int32_t kept) {
    int64_t n = 0;
    for (int32_t i = first / BLOCK; first < kept && i < blocks_for(kept); i++)
        n += kc->refs[kc->seqs[s].blocks[i]] > 1;
    return n;
}

kv_status kv_ctx_seq_rm(kv_ctx *c, int32_t seq, int32_t p0, int32_t p1, kv_err *err) {
    kv_cache *kc = &c->cache;
    kv_status st = check_seq(kc, seq, err);
    if (st != KV_OK)
        return st;
    const int32_t n = kc->seqs[seq].n_cells;
    int32_t first = 0, kept = 0;
    while (first < n && !dropped(cell_pos(kc, seq, first), p0, p1))
        first++;
    for (int32_t j = 0; j < n; j++)
        kept += !dropped(cell_pos(kc, seq, j), p0, p1);
    if (first == n)
        return KV_OK;
    st = ensure_free(kc, shared_written(kc, seq, first, kept), err);
    if (st != KV_OK)
        return st;
    int32_t k = first;
    for (int32_t j = first + 1; j < n; j++) {
        if (dropped(cell_pos(kc, seq, j), p0, p1))
            continue;
        unshare(kc, seq, k / BLOCK);
        move_cell(kc, seq, j, k++);
    }
    for (int32_t i = blocks_for(kept); i < blocks_for(n); i++)
        drop_block(kc, kc->seqs[seq].blocks[i]);
    kc->seqs[seq].n_cells = kept;
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
    const kv_cache_seq *from = &kc->seqs[src];
    const int32_t nb = blocks_for(from->n_cells);
    st = seq_room(kc, dst, nb, err);
    if (st != KV_OK)
        return st;
    kv_ctx_seq_clear(c, dst);
    kv_cache_seq *to = &kc->seqs[dst];
    for (int32_t i = 0; i < nb; i++) {
        to->blocks[i] = from->blocks[i];
        kc->refs[from->blocks[i]]++;
    }
    to->n_cells = from->n_cells;
    to->pos_max = from->pos_max;
    return KV_OK;
}

int32_t kv_ctx_seq_pos_max(const kv_ctx *c, int32_t seq) {
    if (seq < 0 || seq >= c->cache.n_seq)
        return -1;
    return c->cache.seqs[seq].pos_max;
}

int32_t kv_ctx_seq_n_cells(const kv_ctx *c, int32_t seq) {
    if (seq < 0 || seq >= c->cache.n_seq)
        return 0;
    return c->cache.seqs[seq].n_cells;
}

int32_t kv_ctx_seq_n_blocks_needed(const kv_ctx *c, int32_t seq, int32_t n) {
    if (seq < 0 || seq >= c->cache.n_seq)
        return 0;
    return blocks_needed(&c->cache, seq, n);
}

// ---- pool statistics ----

int32_t kv_ctx_kv_blocks_used(const kv_ctx *c) {
    return blocks_used(&c->cache);
}

int32_t kv_ctx_kv_blocks_max(const kv_ctx *c) {
    return c->cache.n_blocks_max;
}

uint64_t kv_ctx_kv_size(const kv_ctx *c) {
    return (uint64_t)c->cache.n_blocks * c->cache.block_size;
}
