// Attention's weighted sum over cached values stored as F32, Q8_0 or Q4_0 for
// AVX-512 (kv_kernels' axpy_rows; avx512.h): sixteen columns to a zmm, a chunk
// of up to four 32-element blocks in registers across the rows. Lane for lane
// the reference's steps (ref/attn.c), as the AVX2 version does them: v = q * d
// (F32: v itself), p = a * v, y = p + y, each rounded, rows in order, zero
// weights skipped; so the same bits as kv_axpy_rows_*_ref and the AVX2 table.
#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include "kernels/avx512/avx512.h"

#include "kernels/avx512/avx512_util.h"
#include "kvant/kv_blocks.h"

#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 8")
#endif

// p + acc with p the first operand (a NaN's payload as the reference keeps it);
// written out, as compilers swap the operands of an add intrinsic at will.
static inline __m512 add_p_first(__m512 p, __m512 acc) {
    __m512 r;
    __asm__("vaddps %2, %1, %0" : "=v"(r) : "v"(p), "v"(acc));
    return r;
}

typedef enum { VAL_F32, VAL_Q8_0, VAL_Q4_0 } val_type;

// Elements 16h..16h+15 of block b of a row as floats, before the scale for the
// quantized types (Q4_0: low nibbles elements 0..15, high ones 16..31).
static inline __attribute__((always_inline)) __m512 values(val_type t, const uint8_t *row, int b,
                                                            int h) {
    if (t == VAL_F32)
        return _mm512_loadu_ps((const float *)row + 32 * b + 16 * h);
    if (t == VAL_Q8_0) {
        const kv_block_q8_0 *blk = (const kv_block_q8_0 *)row + b;
        return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk->qs + 16 * h))));
    }
    const kv_block_q4_0 *blk = (const kv_block_q4_0 *)row + b;
    const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)blk->qs));
    const __m512i nib = h == 0 ? _mm512_and_si512(bytes, _mm512_set1_epi32(0x0F))
                               : _mm512_srli_epi32(bytes, 4);
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(nib, _mm512_set1_epi32(8)));
}

static inline __attribute__((always_inline)) float block_scale(val_type t, const uint8_t *row,
                                                               int b) {
    return t == VAL_Q8_0 ? f16_at(&((const kv_block_q8_0 *)row)[b].d)
                         : f16_at(&((const kv_block_q4_0 *)row)[b].d);
}

// y[0 .. 32 * NB) += a[r] * v_r for the rows, v_r's chunk at v + r * stride;
// NB (1, 2 or 4) and t constants after inlining.
static inline __attribute__((always_inline)) void rows_chunk(val_type t, const int NB, int64_t rows,
                                                             size_t stride, const uint8_t *v,
                                                             const float *a, float *y) {
    __m512 acc[8];
    UNROLL for (int i = 0; i < 2 * NB; i++)
        acc[i] = _mm512_loadu_ps(y + 16 * i);
    for (int64_t r = 0; r < rows; r++) {
        if (a[r] == 0.0f)
            continue;
        const __m512 va = _mm512_set1_ps(a[r]);
        const uint8_t *vr = v + (size_t)r * stride;
        UNROLL for (int b = 0; b < NB; b++) {
            const __m512 d = t == VAL_F32 ? _mm512_setzero_ps() : _mm512_set1_ps(block_scale(t, vr, b));
            UNROLL for (int h = 0; h < 2; h++) {
                __m512 x = values(t, vr, b, h);
                if (t != VAL_F32)
                    x = _mm512_mul_ps(x, d);
                const __m512 p = _mm512_mul_ps(va, x);
                acc[2 * b + h] = add_p_first(p, acc[2 * b + h]);
            }
        }
    }
    UNROLL for (int i = 0; i < 2 * NB; i++)
        _mm512_storeu_ps(y + 16 * i, acc[i]);
}

// Chunks of 128 columns, then 64, then 32; F32 rows may end with fewer (the reference).
static inline __attribute__((always_inline)) void axpy_rows(val_type t, size_t block_bytes,
                                                            int64_t n, int64_t rows, size_t stride,
                                                            const void *v, const float *a,
                                                            float *y) {
    const uint8_t *vb = v;
    int64_t c = 0;
    for (; c + 128 <= n; c += 128)
        rows_chunk(t, 4, rows, stride, vb + (size_t)(c / 32) * block_bytes, a, y + c);
    if (c + 64 <= n) {
        rows_chunk(t, 2, rows, stride, vb + (size_t)(c / 32) * block_bytes, a, y + c);
        c += 64;
    }
    if (c + 32 <= n) {
        rows_chunk(t, 1, rows, stride, vb + (size_t)(c / 32) * block_bytes, a, y + c);
        c += 32;
    }
    if (c < n) // F32 only: the quantized rows are whole blocks
        kv_axpy_rows_f32_ref(n - c, rows, stride, vb + (size_t)c * sizeof(float), a, y + c);
}

void kv_axpy_rows_f32_avx512(int64_t n, int64_t rows, size_t stride, const void *v,
                             const float *a, float *y) {
    axpy_rows(VAL_F32, 32 * sizeof(float), n, rows, stride, v, a, y);
}

void kv_axpy_rows_q8_0_avx512(int64_t n, int64_t rows, size_t stride, const void *v,
                              const float *a, float *y) {
    axpy_rows(VAL_Q8_0, sizeof(kv_block_q8_0), n, rows, stride, v, a, y);
}

void kv_axpy_rows_q4_0_avx512(int64_t n, int64_t rows, size_t stride, const void *v,
                              const float *a, float *y) {
    axpy_rows(VAL_Q4_0, sizeof(kv_block_q4_0), n, rows, stride, v, a, y);
}

#endif
