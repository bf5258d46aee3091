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
// KVANT_REPACK (the CLIs' --repack sets it) chooses: on / auto (the default:
// every table with packed paths) or off.
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

static kv_status repack_mode(bool *on, kv_err *err) {
    const char *v = getenv("KVANT_REPACK");
    *on = true;
    if (!v || !*v || strcmp(v, "auto") == 0 || strcmp(v, "on") == 0)
        return KV_OK;
    if (strcmp(v, "off") == 0) {
        *on = false;
        return KV_OK;
    }
    return KV_FAIL(err, KV_ERR_INVALID, "KVANT_REPACK (--repack) is '%s': expected on, off or auto",
                   v);
}

kv_status kv__model_repack(kv_model *m, kv_err *err) {
    bool on;
    kv_status st = repack_mode(&on, err);
    if (st != KV_OK || !on)
        return st;
    const kv_kernels *k = m->kernels;
    const size_t cap = (size_t)m->hp.n_layer * 7 + 1;
    kv_tensor **ws = malloc(cap * sizeof *ws);
    if (!ws)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the repack list");
    const size_t n = matmul_weights(m, ws, cap);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t b = kv_matmul_repack_size(k, ws[i]->type, ws[i]->ne[0], ws[i]->ne[1]);
        if (b > SIZE_MAX - total) {
            free(ws);
            return KV_FAIL(err, KV_ERR_LIMIT, "repacked weights' size overflows");
        }
        total += b;
    }
    if (total == 0) {
        free(ws);
        return KV_OK;
    }
    uint8_t *mem = aligned_alloc(64, (total + 63) / 64 * 64);
    if (!mem) {
        free(ws);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %zu bytes of repacked weights "
                                          "(--repack off does without)",
                       total);
    }
    memset(mem, 0, total); // the lanes past a matrix's last row: defined bytes
    kv_threadpool *tp = NULL;
    const int nt = kv_threads_default();
    if (nt > 1 && kv_threadpool_new(nt, &tp, NULL) != KV_OK)
        tp = NULL; // packs on this thread instead
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        kv_tensor *t = ws[i];
        const size_t b = kv_matmul_repack_size(k, t->type, t->ne[0], t->ne[1]);
        if (b == 0)
            continue;
        const kv_type_kernels *tk = &k->types[t->type];
        const int64_t groups = (t->ne[1] + tk->pack_nw - 1) / tk->pack_nw;
        repack_job j = {k, t, mem + off};
        kv_threadpool_parallel_for(tp, groups, 1, repack_run, &j);
        t->packed = mem + off;
        t->packed_with = tk->pack;
        off += b;
    }
    kv_threadpool_free(tp);
    free(ws);
    m->repacked = mem;
    m->repacked_bytes = total;
    return KV_OK;
}

uint64_t kv_model_repack_bytes(const kv_model *m) { return m ? m->repacked_bytes : 0; }
