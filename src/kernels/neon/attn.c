// NEON scores of a tile of cached F16 keys against F32 queries (attention; the
// contract of kv_kernels' dot_f16_tile, reference kv_dot_f16_tile_ref). Each key
// row is widened once per register block and reused for every query of the
// block. Per pair: two 4-lane accumulators take elements 8c..8c+3 and
// 8c+4..8c+7 of each whole chunk c by fused multiply-add, in order from zero;
// their sum s is reduced as (s0 + s1) + (s2 + s3); the dot of the last n % 8
// elements comes from kv_dot_f16_f32_ref and is added last. Every pair goes
// through those steps in every block shape, so its bits never depend on the tile.
#if defined(__ARM_NEON) && defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels/neon needs -march=armv8.2-a+dotprod (cmake/kv_kernels.cmake)"
#endif

#include "kernels/kernels.h"
#include "kernels/neon/neon.h"
#include "kernels/neon/neon_util.h"

// Register blocks live in arrays indexed by constants: unrolled, they stay in registers.
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 8")
#endif

// Lane p of the result is (s[p]0 + s[p]1) + (s[p]2 + s[p]3): four pairwise sums at once.
static inline float32x4_t lane_sums_4(const float32x4_t s[4]) {
    return vpaddq_f32(vpaddq_f32(s[0], s[1]), vpaddq_f32(s[2], s[3]));
}

// A register block of KR keys by QR queries (KR * QR <= 8, both constants where
// it is inlined): r[j * KR + i] = the sums above for key k[i] and query q[j]
// over the first n8 elements (a multiple of 8). Unused accumulators stay zero.
static inline __attribute__((always_inline)) void block(int64_t n8, const kv_f16 *const *k,
                                                        int KR, const float *const *q, int QR,
                                                        float r[8]) {
    float32x4_t lo[8], hi[8];
    UNROLL for (int p = 0; p < 8; p++)
        lo[p] = hi[p] = vdupq_n_f32(0.0f);
    for (int64_t c = 0; c < n8; c += 8) {
        float32x4_t qlo[8], qhi[8];
        UNROLL for (int j = 0; j < QR; j++) {
            qlo[j] = vld1q_f32(q[j] + c);
            qhi[j] = vld1q_f32(q[j] + c + 4);
        }
        UNROLL for (int i = 0; i < KR; i++) {
            const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(k[i] + c));
            const float32x4_t klo = vcvt_f32_f16(vget_low_f16(h)), khi = vcvt_high_f32_f16(h);
            UNROLL for (int j = 0; j < QR; j++) {
                lo[j * KR + i] = vfmaq_f32(lo[j * KR + i], klo, qlo[j]);
                hi[j * KR + i] = vfmaq_f32(hi[j * KR + i], khi, qhi[j]);
            }
        }
    }
    float32x4_t s[8];
    UNROLL for (int p = 0; p < 8; p++)
        s[p] = vaddq_f32(lo[p], hi[p]);
    vst1q_f32(r, lane_sums_4(s));
    vst1q_f32(r + 4, lane_sums_4(s + 4));
}

typedef struct {
    int64_t n;
    const kv_f16 *k;
    size_t ks;
    int64_t nk;
    const float *q;
    size_t qs;
    int64_t nq;
    float *out;
    size_t os;
} tile_args;

// Keys [i0, i0 + KR) by queries [j0, j0 + QR), clipped to the tile: rows past
// its end repeat its last row and their results are dropped.
static inline __attribute__((always_inline)) void run_block(const tile_args *a, int64_t i0,
                                                            int KR, int64_t j0, int QR) {
    const kv_f16 *k[8];
    const float *q[8];
    for (int i = 0; i < KR; i++)
        k[i] = a->k + (size_t)(i0 + i < a->nk ? i0 + i : a->nk - 1) * a->ks;
    for (int j = 0; j < QR; j++)
        q[j] = a->q + (size_t)(j0 + j < a->nq ? j0 + j : a->nq - 1) * a->qs;
    const int64_t n8 = a->n & ~(int64_t)7;
    float r[8];
    block(n8, k, KR, q, QR, r);
    for (int j = 0; j < QR && j0 + j < a->nq; j++)
        for (int i = 0; i < KR && i0 + i < a->nk; i++)
            a->out[(size_t)(j0 + j) * a->os + (size_t)(i0 + i)] =
                r[j * KR + i] +
                kv_neon_ref_tail(kv_dot_f16_f32_ref, a->n - n8, k[i] + n8, q[j] + n8);
}

// Queries four at a time against key pairs; a last single query against eight
// keys at a time (a decode's one head per group).
void kv_dot_f16_tile_neon(int64_t n, const kv_f16 *k, size_t k_stride, int64_t nk, const float *q,
                          size_t q_stride, int64_t nq, float *out, size_t out_stride) {
    const tile_args a = {n, k, k_stride, nk, q, q_stride, nq, out, out_stride};
    if (nk <= 0)
        return;
    int64_t j = 0;
    for (; nq - j >= 2; j += 4)
        for (int64_t i = 0; i < nk; i += 2)
            run_block(&a, i, 2, j, 4);
    if (j < nq)
        for (int64_t i = 0; i < nk; i += 8)
            run_block(&a, i, 8, j, 1);
}

#endif
