// Reference matrix product driver: each weight row is taken once and multiplied
// with every activation row, so it stays in cache across the batch. The caller
// splits output rows between threads; each output element is one vec_dot call
// (or one pair of a register tile, which gives the same bits), so results do
// not depend on the split or on the batch. Some types repack a few weight
// rows at a time into an interleaved layout for large batches (the packed
// path); those tiles too give vec_dot's bits.
//
// Short weight rows are prefetched a fixed distance ahead: each vec_dot call
// restarts the stream and the hardware prefetcher of some CPUs (seen on a
// virtualised Xeon) does not ramp up within a row of a few hundred bytes, so
// generation (one activation row) waited on memory at a third of the
// bandwidth. Long rows stream well on their own and are left alone.
#include "kernels/kernels.h"

#include <stdbool.h>

#define PREFETCH_AHEAD 1024   // bytes past the current row's start
#define PREFETCH_MAX_ROW 8192 // longer rows are not prefetched
#define CACHE_LINE 64

static inline void prefetch_bytes(const uint8_t *p, size_t n) {
    for (size_t off = 0; off < n; off += CACHE_LINE)
        __builtin_prefetch(p + off, 0, 3);
}

// Touches the weight bytes the next row's dot will read first.
static inline void prefetch_row(const uint8_t *row, size_t row_size) {
    prefetch_bytes(row + PREFETCH_AHEAD, row_size);
}

// Activation rows per pass over a thread's weight rows in the tiled path: they
// stay in L2 (512 rows of 5632 Q8_0 values would not) while the weight rows
// stream through once per pass.
#define ROW_BLOCK 64

// The tiled path: full tiles where the shape allows; the kernel handles partial ones.
static void matmul_tiles(const kv_type_kernels *t, const kv_matmul_args *a, int64_t o0,
                         int64_t o1) {
    const uint8_t *w = a->w;
    const uint8_t *x = a->x;
    for (int64_t r0 = 0; r0 < a->n_rows; r0 += ROW_BLOCK) {
        const int64_t r1 = a->n_rows - r0 < ROW_BLOCK ? a->n_rows : r0 + ROW_BLOCK;
        for (int64_t o = o0; o < o1; o += t->tile_nw) {
            const int64_t nw = o1 - o < t->tile_nw ? o1 - o : t->tile_nw;
            for (int64_t r = r0; r < r1; r += t->tile_nx) {
                const int64_t nx = r1 - r < t->tile_nx ? r1 - r : t->tile_nx;
                t->tile(a->n_in, &a->y[r * a->y_stride + o], a->y_stride,
                        w + (size_t)o * a->w_row_size, a->w_row_size, nw,
                        x + (size_t)r * a->x_row_size, a->x_row_size, nx);
            }
        }
    }
}

static size_t repack_stride(const kv_type_kernels *t, int64_t n_in);

// The packed path: pack_nw weight rows at a time are repacked into scratch
// once per block of activation rows, then multiplied with every row of it.
// With weights repacked at load (a->wp), a group that starts on a multiple of
// pack_nw is read from there instead; a thread's range that starts elsewhere
// packs its first rows up to the next multiple per call. Either way the tile
// sees the same bytes, so the bits do not change.
static void matmul_packed(const kv_type_kernels *t, const kv_matmul_args *a, int64_t o0,
                          int64_t o1, void *scratch) {
    const uint8_t *w = a->w;
    const uint8_t *x = a->x;
    const uint8_t *wp = a->wp && a->wp_pack == t->pack ? a->wp : NULL;
    const size_t group = wp ? repack_stride(t, a->n_in) : 0;
    for (int64_t r0 = 0; r0 < a->n_rows; r0 += ROW_BLOCK) {
        const int64_t r1 = a->n_rows - r0 < ROW_BLOCK ? a->n_rows : r0 + ROW_BLOCK;
        for (int64_t o = o0; o < o1;) {
            const int64_t lead = wp ? o % t->pack_nw : 0;
            const int64_t room = lead ? t->pack_nw - lead : t->pack_nw;
            const int64_t nw = o1 - o < room ? o1 - o : room;
            const void *packed = scratch;
            if (wp && !lead) {
                packed = wp + (size_t)(o / t->pack_nw) * group;
            } else {
                // the next group's rows arrive while this one is multiplied
                if (a->w_row_size <= PREFETCH_MAX_ROW)
                    for (int64_t i = o + nw; i < o1 && i < o + nw + t->pack_nw; i++)
                        prefetch_bytes(w + (size_t)i * a->w_row_size, a->w_row_size);
                t->pack(a->n_in, w + (size_t)o * a->w_row_size, a->w_row_size, nw, scratch);
            }
            for (int64_t r = r0; r < r1; r += t->pack_nx) {
                const int64_t nx = r1 - r < t->pack_nx ? r1 - r : t->pack_nx;
                t->tile_packed(a->n_in, &a->y[r * a->y_stride + o], a->y_stride, packed, nw,
                               x + (size_t)r * a->x_row_size, a->x_row_size, nx);
            }
            o += nw;
        }
    }
}

// Bytes between the groups of a repacked matrix: pack_size rounded up to a
// cache line, so each group starts as aligned as the per-call scratch does.
static size_t repack_stride(const kv_type_kernels *t, int64_t n_in) {
    return (t->pack_size(n_in) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
}

size_t kv_matmul_repack_size(const kv_kernels *k, kv_type t, int64_t n_in, int64_t n_out) {
    const kv_type_kernels *tk = &k->types[t];
    if (!tk->pack || !tk->tile_packed || n_out <= 0)
        return 0;
    const int64_t groups = (n_out + tk->pack_nw - 1) / tk->pack_nw;
    return (size_t)groups * repack_stride(tk, n_in);
}

void kv_matmul_repack(const kv_kernels *k, kv_type t, int64_t n_in, int64_t n_out,
                      const void *w, size_t w_row_size, int64_t g0, int64_t g1, void *out) {
    const kv_type_kernels *tk = &k->types[t];
    const size_t group = repack_stride(tk, n_in);
    for (int64_t g = g0; g < g1; g++) {
        const int64_t o = g * tk->pack_nw;
        const int64_t nw = n_out - o < tk->pack_nw ? n_out - o : tk->pack_nw;
        tk->pack(n_in, (const uint8_t *)w + (size_t)o * w_row_size, w_row_size, nw,
                 (uint8_t *)out + (size_t)g * group);
    }
}

size_t kv_matmul_scratch_size(const kv_kernels *k, kv_type t, int64_t n_in) {
    const kv_type_kernels *tk = &k->types[t];
    return tk->pack ? tk->pack_size(n_in) : 0;
}

// w rows [o0, o1) of (n_out, n_in) @ x (n_rows, n_in) -> y[:, o0:o1]
void kv_matmul_ref(const kv_kernels *k, const kv_matmul_args *a, int64_t o0, int64_t o1,
                   void *scratch, size_t scratch_size) {
    const kv_type_kernels *t = &k->types[a->w_type];
    if (t->pack && a->n_rows >= t->pack_min_rows && scratch &&
        scratch_size >= t->pack_size(a->n_in)) {
        matmul_packed(t, a, o0, o1, scratch);
        return;
    }
    // Tiles of several weight rows also serve one activation row (generation);
    // tiles of one weight row only pay off for several.
    if (t->tile && (a->n_rows > 1 || t->tile_nw > 1)) {
        matmul_tiles(t, a, o0, o1);
        return;
    }
    const kv_vec_dot_fn dot = t->vec_dot;
    const uint8_t *w = a->w;
    const uint8_t *x = a->x;
    const bool prefetch = a->w_row_size <= PREFETCH_MAX_ROW;
    for (int64_t o = o0; o < o1; o++) {
        const uint8_t *w_row = w + (size_t)o * a->w_row_size;
        if (prefetch)
            prefetch_row(w_row, a->w_row_size);
        for (int64_t r = 0; r < a->n_rows; r++)
            dot(a->n_in, &a->y[r * a->y_stride + o], w_row, x + (size_t)r * a->x_row_size);
    }
}
