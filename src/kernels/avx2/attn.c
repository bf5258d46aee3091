// AVX2 attention kernels: the scores of a tile of cached F16 keys against
// queries, and the weighted sum of a block of cached F16 values. The tile
// widens each key row once per register block and reuses it for every query of
// the block; the value sum gives the bits of kv_axpy_f16_avx2 (dot.c) row after
// row, saving the call per row and the load and store of the output per row:
// it stays in registers, 64 columns at a time.
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#include "kernels/avx2/avx2_util.h"
#include "kvant/kv_blocks.h"

// Register blocks live in arrays indexed by constants: unrolled, they stay in registers.
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 8")
#endif

// ---- scores ----

// Per pair the tile keeps one 8-lane accumulator, fused-multiply-adds the n / 8
// whole chunks into it in order (starting from zero), sums the lanes as
// hsum_f32 does, ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)), and where
// n % 8 != 0 adds the dot of the last n % 8 elements from kv_dot_f16_f32_ref.
// Every pair goes through the same steps in every register block shape, so its
// bits never depend on the tile.

// Lane p of the result is the lane sum of a[p] (the order above): eight
// horizontal sums at once, the same adds lane by lane.
static inline __m256 lane_sums_8(const __m256 a[8]) {
    __m256 s[4]; // s[i]: the halves of a[2i] (low lane) and a[2i + 1] (high lane) added
    UNROLL for (int i = 0; i < 4; i++)
        s[i] = _mm256_add_ps(_mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x20),
                             _mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x31));
    // elements 0, 1 plus elements 2, 3 of each half
    const __m256 e0 = _mm256_add_ps(_mm256_shuffle_ps(s[0], s[1], 0x44),
                                    _mm256_shuffle_ps(s[0], s[1], 0xEE));
    const __m256 e1 = _mm256_add_ps(_mm256_shuffle_ps(s[2], s[3], 0x44),
                                    _mm256_shuffle_ps(s[2], s[3], 0xEE));
    const __m256 r = _mm256_hadd_ps(e0, e1); // pairs 0 2 4 6 | 1 3 5 7
    return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// A register block of KR keys by QR queries (KR * QR <= 8, both constants where
// it is inlined): lane j * KR + i of the result is the lane sum for key k[i] and
// query q[j] over the first n8 elements (a multiple of 8). Unused lanes are zero.
static inline __attribute__((always_inline)) __m256 block(int64_t n8, const kv_f16 *const *k,
                                                          int KR, const float *const *q, int QR) {
    __m256 acc[8];
    UNROLL for (int p = 0; p < 8; p++)
        acc[p] = _mm256_setzero_ps();
    for (int64_t c = 0; c < n8; c += 8) {
        __m256 qv[8];
        UNROLL for (int j = 0; j < QR; j++)
            qv[j] = _mm256_loadu_ps(q[j] + c);
        UNROLL for (int i = 0; i < KR; i++) {
            const __m256 kv = _mm256_cvtph_ps(load_128(k[i] + c));
            UNROLL for (int j = 0; j < QR; j++)
                acc[j * KR + i] = _mm256_fmadd_ps(kv, qv[j], acc[j * KR + i]);
        }
    }
    return lane_sums_8(acc);
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

// Stores a whole block's results (as block() orders them) at o, rows os apart:
// 8 keys by 1 query, or 2 keys by 4 queries.
static inline __attribute__((always_inline)) void store_block(float *o, size_t os, __m256 r,
                                                              int KR) {
    if (KR == 8) {
        _mm256_storeu_ps(o, r);
        return;
    }
    const __m128 lo = _mm256_castps256_ps128(r), hi = _mm256_extractf128_ps(r, 1);
    _mm_storel_pi((__m64 *)o, lo);
    _mm_storeh_pi((__m64 *)(o + os), lo);
    _mm_storel_pi((__m64 *)(o + 2 * os), hi);
    _mm_storeh_pi((__m64 *)(o + 3 * os), hi);
}

// Keys [i0, i0 + KR) by queries [j0, j0 + QR), clipped to the tile: rows past
// its end repeat its last row and their results are dropped. With a tail
// (n % 8 != 0), each pair gets the reference's dot of it added.
static inline __attribute__((always_inline)) void run_block(const tile_args *a, int64_t i0,
                                                            int KR, int64_t j0, int QR) {
    const kv_f16 *k[8];
    const float *q[8];
    for (int i = 0; i < KR; i++)
        k[i] = a->k + (size_t)(i0 + i < a->nk ? i0 + i : a->nk - 1) * a->ks;
    for (int j = 0; j < QR; j++)
        q[j] = a->q + (size_t)(j0 + j < a->nq ? j0 + j : a->nq - 1) * a->qs;
    const int64_t n8 = a->n & ~(int64_t)7;
    const __m256 v = block(n8, k, KR, q, QR);
    float *o = a->out + (size_t)j0 * a->os + (size_t)i0;
    if (n8 == a->n && i0 + KR <= a->nk && j0 + QR <= a->nq) {
        store_block(o, a->os, v, KR);
        return;
    }
    float r[8];
    _mm256_storeu_ps(r, v);
    for (int j = 0; j < QR && j0 + j < a->nq; j++)
        for (int i = 0; i < KR && i0 + i < a->nk; i++) {
            float rest = 0.0f;
            if (n8 < a->n) {
                kv_dot_f16_f32_ref(a->n - n8, &rest, k[i] + n8, q[j] + n8);
                r[j * KR + i] += rest;
            }
            o[(size_t)j * a->os + (size_t)i] = r[j * KR + i];
        }
}

// Queries four at a time against key pairs; a last single query against eight
// keys at a time (a decode's one head per group), so few lanes go to waste.
void kv_dot_f16_tile_avx2(int64_t n, const kv_f16 *k, size_t k_stride, int64_t nk, const float *q,
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

// ---- values ----

// p + acc with p the first operand, as kv_axpy_f16_avx2 and the reference add:
// where both are NaN, x86 keeps the first one's payload. Compilers swap the
// operands of an add intrinsic at will, so the order is written out.
static inline __m256 add_p_first(__m256 p, __m256 acc) {
    __m256 r;
    __asm__("vaddps %2, %1, %0" : "=x"(r) : "x"(p), "x"(acc));
    return r;
}

// y += a[r] * v_r for each row with a[r] != 0, in row order, as
// kv_axpy_f16_avx2 called row after row: y + rounded(a * v), no FMA.
void kv_axpy_f16_rows_avx2(int64_t n, int64_t rows, size_t stride, const kv_f16 *v,
                           const float *a, float *y) {
    enum { COLS = 64, VECS = COLS / 8 };
    int64_t c = 0;
    for (; c + COLS <= n; c += COLS) {
        __m256 acc[VECS];
        UNROLL for (int i = 0; i < VECS; i++)
            acc[i] = _mm256_loadu_ps(y + c + 8 * i);
        for (int64_t r = 0; r < rows; r++) {
            if (a[r] == 0.0f)
                continue;
            const __m256 va = _mm256_set1_ps(a[r]);
            const kv_f16 *vr = v + (size_t)r * stride + c;
            UNROLL for (int i = 0; i < VECS; i++) {
                const __m256 p = rounded(_mm256_mul_ps(va, _mm256_cvtph_ps(load_128(vr + 8 * i))));
                acc[i] = add_p_first(p, acc[i]);
            }
        }
        UNROLL for (int i = 0; i < VECS; i++)
            _mm256_storeu_ps(y + c + 8 * i, acc[i]);
    }
    if (c < n)
        for (int64_t r = 0; r < rows; r++)
            if (a[r] != 0.0f)
                kv_axpy_f16_avx2(n - c, y + c, a[r], v + (size_t)r * stride + c);
}

// ---- values stored as F32, Q8_0 or Q4_0 ----

// The contract of kv_kernels' axpy_rows (ref/attn.c): per element v as the
// type's dequantizer gives it (one product q * d), then y = rounded(a * v) + y,
// the product first; rows in order, rows with a zero weight skipped. Like
// kv_axpy_f16_rows_avx2, a chunk of columns (one or two 32-element blocks)
// stays in registers across the rows.

// The eight values of elements 8k..8k+7 of a row's block at p (F32: floats;
// Q8_0, Q4_0: the block), before the scale for the quantized types.
static inline __m256 q8_0_int8(const kv_block_q8_0 *b, int k) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + 8 * k))));
}

static inline __m256 q4_0_int8(const kv_block_q4_0 *b, int k) {
    // elements 0..15: low nibbles of bytes 0..15; 16..31: their high nibbles
    const __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + 8 * (k & 1))));
    const __m256i nib = k < 2 ? _mm256_and_si256(bytes, _mm256_set1_epi32(0x0F))
                              : _mm256_srli_epi32(bytes, 4);
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(nib, _mm256_set1_epi32(8)));
}

typedef enum { VAL_F32, VAL_Q8_0, VAL_Q4_0 } val_type;

// y[0 .. 32 * NB) += a[r] * v_r for the rows, v_r's chunk at v + r * stride
// (its first block, or its first float); NB (1 or 2) and t constants after inlining.
static inline __attribute__((always_inline)) void rows_chunk(val_type t, const int NB, int64_t rows,
                                                             size_t stride, const uint8_t *v,
                                                             const float *a, float *y) {
    __m256 acc[8];
    UNROLL for (int i = 0; i < 4 * NB; i++)
        acc[i] = _mm256_loadu_ps(y + 8 * i);
    for (int64_t r = 0; r < rows; r++) {
        if (a[r] == 0.0f)
            continue;
        const __m256 va = _mm256_set1_ps(a[r]);
        const uint8_t *vr = v + (size_t)r * stride;
        UNROLL for (int blk = 0; blk < NB; blk++) {
            __m256 d = _mm256_setzero_ps();
            if (t == VAL_Q8_0)
                d = _mm256_set1_ps(f16_at(&((const kv_block_q8_0 *)vr)[blk].d));
            else if (t == VAL_Q4_0)
                d = _mm256_set1_ps(f16_at(&((const kv_block_q4_0 *)vr)[blk].d));
            UNROLL for (int k = 0; k < 4; k++) {
                __m256 x;
                if (t == VAL_F32)
                    x = _mm256_loadu_ps((const float *)vr + 32 * blk + 8 * k);
                else if (t == VAL_Q8_0)
                    x = _mm256_mul_ps(q8_0_int8((const kv_block_q8_0 *)vr + blk, k), d);
                else
                    x = _mm256_mul_ps(q4_0_int8((const kv_block_q4_0 *)vr + blk, k), d);
                const __m256 p = rounded(_mm256_mul_ps(va, x));
                acc[4 * blk + k] = add_p_first(p, acc[4 * blk + k]);
            }
        }
    }
    UNROLL for (int i = 0; i < 4 * NB; i++)
        _mm256_storeu_ps(y + 8 * i, acc[i]);
}

// Chunks of 64 columns, then one of 32; F32 rows may end with fewer (the reference).
static inline __attribute__((always_inline)) void axpy_rows(val_type t, size_t block_bytes,
                                                            int64_t n, int64_t rows, size_t stride,
                                                            const void *v, const float *a,
                                                            float *y) {
    const uint8_t *vb = v;
    int64_t c = 0;
    for (; c + 64 <= n; c += 64)
        rows_chunk(t, 2, rows, stride, vb + (size_t)(c / 32) * block_bytes, a, y + c);
    if (c + 32 <= n) {
        rows_chunk(t, 1, rows, stride, vb + (size_t)(c / 32) * block_bytes, a, y + c);
        c += 32;
    }
    if (c < n) // F32 only: the quantized rows are whole blocks
        kv_axpy_rows_f32_ref(n - c, rows, stride, vb + (size_t)c * sizeof(float), a, y + c);
}

void kv_axpy_rows_f32_avx2(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                           float *y) {
    axpy_rows(VAL_F32, 32 * sizeof(float), n, rows, stride, v, a, y);
}

void kv_axpy_rows_q8_0_avx2(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                            float *y) {
    axpy_rows(VAL_Q8_0, sizeof(kv_block_q8_0), n, rows, stride, v, a, y);
}

void kv_axpy_rows_q4_0_avx2(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                            float *y) {
    axpy_rows(VAL_Q4_0, sizeof(kv_block_q4_0), n, rows, stride, v, a, y);
}

#endif
