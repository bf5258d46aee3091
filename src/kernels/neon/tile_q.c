// NEON register tiles and dot products of Q4_0 and Q8_0 weights against Q8_0
// activations (formats and reference arithmetic: kernels/ref/dot_q.c; the tile
// contract: kv_tile_fn in kernels/kernels.h). A tile multiplies up to
// KV_NEON_TILE_NW weight rows with up to KV_NEON_TILE_NX activation rows: each
// weight block is unpacked to signed bytes once for all its activation rows,
// and each activation block is loaded once for all the weight rows.
//
// Every (weight row, activation row) pair goes through the same steps whatever
// the tile's shape, and the dot product is the 1 x 1 tile, so a tile gives the
// bits of vec_dot: per block, the exact int32 sums of vdotq_s32 in four lanes,
// then acc += (d_w * d_x) * (float)lanes with one fused multiply-add into one
// accumulator of four lanes, blocks in order; finally vaddvq_f32.
#if defined(__ARM_NEON) && defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/neon needs -march=armv8.2-a+dotprod (cmake/kv_kernels.cmake)"
#endif

#include "kernels/neon/neon.h"
#include "kernels/neon/neon_util.h"
#include "kvant/kv_blocks.h"

#define NW KV_NEON_TILE_NW
#define NX KV_NEON_TILE_NX
_Static_assert(NX == 2, "tile_q_any's cases cover 1..2 activation rows");
_Static_assert(NW <= 4, "scales4 converts the scales of up to four rows");

#define TILE_INLINE static inline __attribute__((always_inline))
// Loops over a tile's rows unroll fully, so the accumulators live in registers
// (clang reads GCC's "unroll 4" as exactly 4, so it gets its own spelling).
#if defined(__clang__)
#define TILE_UNROLL _Pragma("clang loop unroll(full)")
#else
#define TILE_UNROLL _Pragma("GCC unroll 4")
#endif

typedef enum { KIND_Q4_0, KIND_Q8_0 } tile_kind;

typedef struct {
    const uint8_t *w;
    size_t w_row_size;
    const uint8_t *x;
    size_t x_row_size;
    float *y;         // y[j * y_stride + i]: weight row i, activation row j
    int64_t y_stride;
    int64_t nb;       // blocks per row
} tile_args;

// Block b of weight row i.
TILE_INLINE const uint8_t *weight_block(const tile_args *a, const tile_kind kind, int i,
                                        int64_t b) {
    const size_t size = kind == KIND_Q4_0 ? sizeof(kv_block_q4_0) : sizeof(kv_block_q8_0);
    return a->w + (size_t)i * a->w_row_size + (size_t)b * size;
}

// A weight block's scale.
TILE_INLINE kv_f16 weight_scale(const uint8_t *blk, const tile_kind kind) {
    return kind == KIND_Q4_0 ? ((const kv_block_q4_0 *)blk)->d : ((const kv_block_q8_0 *)blk)->d;
}

// A weight block's 32 weights as signed bytes (w0: elements 0..15, w1: 16..31).
// Q4_0: element e is nibble - 8, low nibbles of qs[e] for e < 16, high nibbles
// of qs[e - 16] after.
TILE_INLINE void weight_quants(const uint8_t *blk, const tile_kind kind, int8x16_t *w0,
                               int8x16_t *w1) {
    if (kind == KIND_Q4_0) {
        const uint8x16_t qs = vld1q_u8(((const kv_block_q4_0 *)blk)->qs);
        const int8x16_t eight = vdupq_n_s8(8);
        *w0 = vsubq_s8(kv_neon_lo4(qs), eight);
        *w1 = vsubq_s8(kv_neon_hi4(qs), eight);
        return;
    }
    const int8_t *qs = ((const kv_block_q8_0 *)blk)->qs;
    *w0 = vld1q_s8(qs);
    *w1 = vld1q_s8(qs + 16);
}

// Four half-precision scales as floats (exact, as kv_neon_h2f does).
TILE_INLINE float32x4_t scales4(const kv_f16 h[4]) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

// nw weight rows by nx activation rows, both compile-time constants at every
// call (the entry points below), so the loops unroll into registers.
TILE_INLINE void tile_q(const tile_args *a, const tile_kind kind, const int nw, const int nx) {
    float32x4_t acc[NW][NX];
    TILE_UNROLL
    for (int i = 0; i < nw; i++)
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            acc[i][j] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < a->nb; b++) {
        int8x16_t x0[NX], x1[NX];
        kv_f16 hx[4] = {0, 0, 0, 0}, hw[4] = {0, 0, 0, 0};
        TILE_UNROLL
        for (int j = 0; j < nx; j++) {
            const kv_block_q8_0 *xb = (const kv_block_q8_0 *)(a->x + j * a->x_row_size) + b;
            x0[j] = vld1q_s8(xb->qs);
            x1[j] = vld1q_s8(xb->qs + 16);
            hx[j] = xb->d;
        }
        TILE_UNROLL
        for (int i = 0; i < nw; i++)
            hw[i] = weight_scale(weight_block(a, kind, i, b), kind);
        const float32x4_t dx = scales4(hx);
        float dw[4];
        vst1q_f32(dw, scales4(hw));
        TILE_UNROLL
        for (int i = 0; i < nw; i++) {
            float d[4]; // d_w(i) * d_x(j) in lane j
            vst1q_f32(d, vmulq_n_f32(dx, dw[i]));
            int8x16_t w0, w1;
            weight_quants(weight_block(a, kind, i, b), kind, &w0, &w1);
            TILE_UNROLL
            for (int j = 0; j < nx; j++) {
                const int32x4_t s =
                    vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0[j]), w1, x1[j]);
                acc[i][j] = vfmaq_n_f32(acc[i][j], vcvtq_f32_s32(s), d[j]);
            }
        }
    }
    TILE_UNROLL
    for (int i = 0; i < nw; i++)
        TILE_UNROLL
        for (int j = 0; j < nx; j++)
            a->y[j * a->y_stride + i] = vaddvq_f32(acc[i][j]);
}

// nw weight rows (any count) by nx <= NX activation rows: strips of NW weight
// rows, then single rows, each with a tile of exactly nx activation rows.
TILE_INLINE void tile_q_any(const tile_args *a, const tile_kind kind, int64_t nw, int64_t nx) {
    tile_args s = *a;
    while (nw > 0) {
        const int h = nw >= NW ? NW : 1;
        if (h == NW) {
            if (nx == 1)
                tile_q(&s, kind, NW, 1);
            else
                tile_q(&s, kind, NW, NX);
        } else {
            if (nx == 1)
                tile_q(&s, kind, 1, 1);
            else
                tile_q(&s, kind, 1, NX);
        }
        s.w += (size_t)h * s.w_row_size;
        s.y += h;
        nw -= h;
    }
}

// w (n/32 blocks q4_0) . x (n/32 blocks q8_0): the 1 x 1 tile
void kv_dot_q4_0_q8_0_neon(int64_t n, float *out, const void *w, const void *x) {
    const tile_args a = {w, sizeof(kv_block_q4_0), x, sizeof(kv_block_q8_0), out, 1, n / KV_QK4_0};
    tile_q(&a, KIND_Q4_0, 1, 1);
}

// w (n/32 blocks q8_0) . x (n/32 blocks q8_0): the 1 x 1 tile
void kv_dot_q8_0_q8_0_neon(int64_t n, float *out, const void *w, const void *x) {
    const tile_args a = {w, sizeof(kv_block_q8_0), x, sizeof(kv_block_q8_0), out, 1, n / KV_QK8_0};
    tile_q(&a, KIND_Q8_0, 1, 1);
}

void kv_tile_q4_0_q8_0_neon(int64_t n, float *y, int64_t y_stride, const void *w,
                            size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                            int64_t nx) {
    const tile_args a = {w, w_row_size, x, x_row_size, y, y_stride, n / KV_QK4_0};
    tile_q_any(&a, KIND_Q4_0, nw, nx);
}

void kv_tile_q8_0_q8_0_neon(int64_t n, float *y, int64_t y_stride, const void *w,
                            size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                            int64_t nx) {
    const tile_args a = {w, w_row_size, x, x_row_size, y, y_stride, n / KV_QK8_0};
    tile_q_any(&a, KIND_Q8_0, nw, nx);
}

#endif
