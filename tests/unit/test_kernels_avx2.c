// AVX2 kernels (src/kernels/avx2) against their scalar references: every dot
// product on rows from the real quantizers and on random block bytes, at one
// block, many blocks and odd block counts or float tails, plus all zeros, ±max
// and subnormal scales or values, within each kernel's named tolerance; and the
// Q8 activation converters byte for byte against the reference converters
// (the quantizers' bytes, zeros for rows with Inf or NaN). Skips with a message
// on CPUs without AVX2, FMA and F16C, and off x86-64.
#include "kernels/avx2/avx2.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"
#include "kernels/ref/dot_ref.h"
#include "kvant/kv_f16.h"
#include "kvant/kv_quant.h"
#include "kvant/kv_blocks.h"
#include "quant/quant_int.h"

#if defined(__x86_64__)

// ---- tolerances ----
// Both sides form the same exact integer sums and the same per-block scale
// products, then add float terms in different orders. Each float operation
// rounds by at most 2^-24 of a value no larger than MAG = sum over elements of
// |w| |x| (a weight d*q - m counted as |d*q| + |m|). The reference adds at most
// n/32 terms in one chain, the AVX2 kernels at most n/32 per lane: 2 * n / 32 in
// all. R, per kernel, counts the other roundings along a term's way, on both
// sides together: scale products (2 to 4), int -> float, the AVX2 tree of 8 lanes
// (3) and the final adds of accumulators and reference tails (2 or 3), and for
// the reference's 8-lane K kernels their closing sum of the lanes (8).
#define TOL_UNIT (1.0 / 16777216) // 2^-24
#define TOL_Q4_0 8      // (sumi * dw) * dx in ref vs sumi * (dw * dx)
#define TOL_Q4_1 10     // plus m * s in separate chains, added at the end
#define TOL_Q5_0 8
#define TOL_Q5_1 10
#define TOL_Q8_0 8
#define TOL_IQ4_NL 8
#define TOL_Q2_K 10     // d and dmin parts in separate accumulators
#define TOL_Q3_K 16     // ref: eight lane accumulators, summed at the end
#define TOL_Q4_K 18     // and the min part in its own chain
#define TOL_Q5_K 18
#define TOL_Q6_K 16
#define TOL_IQ4_XS 8    // ref: d * (ls - 32) * sumi per 32; avx2: d * (sum of (ls - 32) * sumi)
#define TOL_TQ1_0 8
#define TOL_TQ2_0 8
#define TOL_IQ3 0        // the reference's float steps: bit-identical (test_kernels_iq3 checks the bits)
#define TOL_FLOAT 8     // ref: rounded products summed in double; avx2: FMA in float lanes
// Products in the subnormal range round to a fixed grid rather than relative to
// their size: at most 2^-149 per element, on either side.
#define TOL_SUBNORMAL_PER_ELEMENT FLT_TRUE_MIN

typedef void (*dot_fn)(int64_t n, float *out, const void *w, const void *x);

typedef struct {
    kv_type w, act;
    dot_fn ref, avx2;
    double roundings; // TOL_*
    int d_off;        // offset of the F16 d in a weight block when w = d*q - m; else -1
} dot_case;

static const dot_case CASES[] = {
    {KV_TYPE_Q4_0, KV_TYPE_Q8_0, kv_dot_q4_0_q8_0_ref, kv_dot_q4_0_q8_0_avx2, TOL_Q4_0, -1},
    {KV_TYPE_Q4_1, KV_TYPE_Q8_1, kv_dot_q4_1_q8_1_ref, kv_dot_q4_1_q8_1_avx2, TOL_Q4_1,
     offsetof(kv_block_q4_1, d)},
    {KV_TYPE_Q5_0, KV_TYPE_Q8_0, kv_dot_q5_0_q8_0_ref, kv_dot_q5_0_q8_0_avx2, TOL_Q5_0, -1},
    {KV_TYPE_Q5_1, KV_TYPE_Q8_1, kv_dot_q5_1_q8_1_ref, kv_dot_q5_1_q8_1_avx2, TOL_Q5_1,
     offsetof(kv_block_q5_1, d)},
    {KV_TYPE_Q8_0, KV_TYPE_Q8_0, kv_dot_q8_0_q8_0_ref, kv_dot_q8_0_q8_0_avx2, TOL_Q8_0, -1},
    {KV_TYPE_IQ4_NL, KV_TYPE_Q8_0, kv_dot_iq4_nl_q8_0_ref, kv_dot_iq4_nl_q8_0_avx2, TOL_IQ4_NL,
     -1},
    {KV_TYPE_Q2_K, KV_TYPE_Q8_K, kv_dot_q2_k_q8_k_ref, kv_dot_q2_k_q8_k_avx2, TOL_Q2_K,
     offsetof(kv_block_q2_k, d)},
    {KV_TYPE_Q3_K, KV_TYPE_Q8_K, kv_dot_q3_k_q8_k_ref, kv_dot_q3_k_q8_k_avx2, TOL_Q3_K, -1},
    {KV_TYPE_Q4_K, KV_TYPE_Q8_K, kv_dot_q4_k_q8_k_ref, kv_dot_q4_k_q8_k_avx2, TOL_Q4_K,
     offsetof(kv_block_q4_k, d)},
    {KV_TYPE_Q5_K, KV_TYPE_Q8_K, kv_dot_q5_k_q8_k_ref, kv_dot_q5_k_q8_k_avx2, TOL_Q5_K,
     offsetof(kv_block_q5_k, d)},
    {KV_TYPE_Q6_K, KV_TYPE_Q8_K, kv_dot_q6_k_q8_k_ref, kv_dot_q6_k_q8_k_avx2, TOL_Q6_K, -1},
    {KV_TYPE_IQ4_XS, KV_TYPE_Q8_K, kv_dot_iq4_xs_q8_k_ref, kv_dot_iq4_xs_q8_k_avx2, TOL_IQ4_XS,
     -1},
    {KV_TYPE_TQ1_0, KV_TYPE_Q8_K, kv_dot_tq1_0_q8_k_ref, kv_dot_tq1_0_q8_k_avx2, TOL_TQ1_0, -1},
    {KV_TYPE_TQ2_0, KV_TYPE_Q8_K, kv_dot_tq2_0_q8_k_ref, kv_dot_tq2_0_q8_k_avx2, TOL_TQ2_0, -1},
    {KV_TYPE_IQ3_XXS, KV_TYPE_Q8_K, kv_dot_iq3_xxs_q8_k_ref, kv_dot_iq3_xxs_q8_k_avx2, TOL_IQ3, -1},
    {KV_TYPE_IQ3_S, KV_TYPE_Q8_K, kv_dot_iq3_s_q8_k_ref, kv_dot_iq3_s_q8_k_avx2, TOL_IQ3, -1},
    {KV_TYPE_F32, KV_TYPE_F32, kv_dot_f32_f32_ref, kv_dot_f32_f32_avx2, TOL_FLOAT, -1},
    {KV_TYPE_F16, KV_TYPE_F16, kv_dot_f16_f16_ref, kv_dot_f16_f16_avx2, TOL_FLOAT, -1},
    {KV_TYPE_BF16, KV_TYPE_BF16, kv_dot_bf16_bf16_ref, kv_dot_bf16_bf16_avx2, TOL_FLOAT, -1},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

// ---- CPU check ----

#define NEED_AVX2()                                                                        \
    do {                                                                                   \
        if (!kv__cpu_has_avx2()) {                                                         \
            print_message("skipped: this CPU lacks AVX2, FMA or F16C\n");                  \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

// ---- data ----

static uint64_t rng_state;

static uint64_t rnd64(void) { return kv_rand_next(&rng_state); }

static double urand(void) { return (double)(rnd64() >> 11) * (1.0 / 9007199254740992.0); }

// Bell-shaped values whose scale changes every 256, like real weights and activations.
static void fill_bell(float *v, int64_t n, uint64_t seed) {
    rng_state = seed;
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((urand() + urand() + urand() - 1.5) * (1 + (i / 256) % 5));
}

static int block_size(kv_type t) { return kv_type_get(t)->block_size; }
static size_t block_bytes(kv_type t) { return kv_type_get(t)->type_size; }

static void *quantize(kv_type t, const float *v, int64_t n) {
    void *q = malloc(kv_type_row_size(t, n) + 1);
    assert_non_null(q);
    kv_err err;
    if (kv_quant_rows(t, v, q, 1, n, NULL, &err) != KV_OK)
        fail_msg("quantize %s: %s", kv_type_name(t), err.msg);
    return q;
}

// Offsets of the F16 fields of a block (scales and mins), -1 terminated.
static const int *f16_fields(kv_type t) {
    static const int q4_0[] = {offsetof(kv_block_q4_0, d), -1};
    static const int q4_1[] = {offsetof(kv_block_q4_1, d), offsetof(kv_block_q4_1, m), -1};
    static const int q5_0[] = {offsetof(kv_block_q5_0, d), -1};
    static const int q5_1[] = {offsetof(kv_block_q5_1, d), offsetof(kv_block_q5_1, m), -1};
    static const int q8_0[] = {offsetof(kv_block_q8_0, d), -1};
    static const int q8_1[] = {offsetof(kv_block_q8_1, d), -1}; // s is set from d
    static const int iq4_nl[] = {offsetof(kv_block_iq4_nl, d), -1};
    static const int q2_k[] = {offsetof(kv_block_q2_k, d), offsetof(kv_block_q2_k, dmin), -1};
    static const int q3_k[] = {offsetof(kv_block_q3_k, d), -1};
    static const int q4_k[] = {offsetof(kv_block_q4_k, d), offsetof(kv_block_q4_k, dmin), -1};
    static const int q5_k[] = {offsetof(kv_block_q5_k, d), offsetof(kv_block_q5_k, dmin), -1};
    static const int q6_k[] = {offsetof(kv_block_q6_k, d), -1};
    static const int iq4_xs[] = {offsetof(kv_block_iq4_xs, d), -1};
    static const int tq1_0[] = {offsetof(kv_block_tq1_0, d), -1};
    static const int tq2_0[] = {offsetof(kv_block_tq2_0, d), -1};
    static const int iq3_xxs[] = {offsetof(kv_block_iq3_xxs, d), -1};
    static const int iq3_s[] = {offsetof(kv_block_iq3_s, d), -1};
    static const int none[] = {-1};
    switch (t) {
    case KV_TYPE_Q4_0: return q4_0;
    case KV_TYPE_Q4_1: return q4_1;
    case KV_TYPE_Q5_0: return q5_0;
    case KV_TYPE_Q5_1: return q5_1;
    case KV_TYPE_Q8_0: return q8_0;
    case KV_TYPE_Q8_1: return q8_1;
    case KV_TYPE_IQ4_NL: return iq4_nl;
    case KV_TYPE_Q2_K: return q2_k;
    case KV_TYPE_Q3_K: return q3_k;
    case KV_TYPE_Q4_K: return q4_k;
    case KV_TYPE_Q5_K: return q5_k;
    case KV_TYPE_Q6_K: return q6_k;
    case KV_TYPE_IQ4_XS: return iq4_xs;
    case KV_TYPE_TQ1_0: return tq1_0;
    case KV_TYPE_TQ2_0: return tq2_0;
    case KV_TYPE_IQ3_XXS: return iq3_xxs;
    case KV_TYPE_IQ3_S: return iq3_s;
    default: return none;
    }
}

// How random block bytes get their scales
typedef enum {
    SCALE_NORMAL,    // ±2^-8 .. ±8
    SCALE_MAX,       // the largest F16 (Q8_K: 1e20, so that products stay finite)
    SCALE_SUBNORMAL, // subnormal F16 (Q8_K: subnormal float)
} scale_kind;

static float random_scale(scale_kind k, bool f16) {
    const float sign = (rnd64() & 1) ? -1.0f : 1.0f;
    switch (k) {
    case SCALE_MAX: return sign * (f16 ? 65504.0f : 1e20f);
    case SCALE_SUBNORMAL:
        return f16 ? sign * (float)(1 + rnd64() % 1023) * (1.0f / 16777216.0f)
                   : sign * (float)(1 + rnd64() % 0x7fffff) * FLT_TRUE_MIN;
    default: return sign * (float)ldexp(1.0 + urand(), (int)(rnd64() % 12) - 9);
    }
}

// Random bytes with the given scales: every quant bit pattern the kernels may
// see. Activation quants (act) stay within ±127, and Q8_K bsums and Q8_1 s agree
// with their quants, as the quantizers write them (the kernels' contract); Q8_0
// weights keep -128.
static void *random_blocks(kv_type t, int64_t n, scale_kind k, bool act) {
    const size_t size = kv_type_row_size(t, n), bs = block_bytes(t);
    uint8_t *p = malloc(size + 1);
    assert_non_null(p);
    for (size_t i = 0; i < size; i++)
        p[i] = (uint8_t)rnd64();
    for (uint8_t *b = p; b < p + size; b += bs) {
        for (const int *off = f16_fields(t); *off >= 0; off++) {
            const kv_f16 h = kv_f32_to_f16(random_scale(k, true));
            memcpy(b + *off, &h, sizeof h);
        }
        if (!act)
            continue;
        int8_t *qs = t == KV_TYPE_Q8_K   ? ((kv_block_q8_k *)b)->qs
                     : t == KV_TYPE_Q8_1 ? ((kv_block_q8_1 *)b)->qs
                                         : ((kv_block_q8_0 *)b)->qs;
        const int nq = block_size(t);
        int sum = 0;
        for (int j = 0; j < nq; j++) {
            qs[j] = qs[j] == -128 ? -127 : qs[j];
            sum += qs[j];
        }
        if (t == KV_TYPE_Q8_1) {
            kv_block_q8_1 *y = (kv_block_q8_1 *)b;
            y->s = kv_f32_to_f16((float)sum * kv_f16_to_f32(y->d));
        } else if (t == KV_TYPE_Q8_K) {
            kv_block_q8_k *y = (kv_block_q8_k *)b;
            y->d = random_scale(k, false);
            for (int g = 0; g < 16; g++) {
                int16_t bsum = 0;
                for (int j = 0; j < 16; j++)
                    bsum = (int16_t)(bsum + qs[16 * g + j]);
                y->bsums[g] = bsum;
            }
        }
    }
    return p;
}

// Random activations for the float types, or random F16/BF16 bit patterns
static void *random_floats(kv_type t, int64_t n, float scale) {
    float *v = malloc((size_t)n * sizeof(float) + 1);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((urand() + urand() + urand() - 1.5) * scale);
    if (t == KV_TYPE_F32)
        return v;
    uint16_t *h = malloc((size_t)n * 2 + 1);
    assert_non_null(h);
    for (int64_t i = 0; i < n; i++)
        h[i] = t == KV_TYPE_F16 ? kv_f32_to_f16(v[i]) : kv_f32_to_bf16(v[i]);
    free(v);
    return h;
}

// ---- the comparison ----

static double worst_ratio[N_CASES]; // largest |avx2 - ref| / tolerance seen per kernel

static float *dequant(kv_type t, const void *q, int64_t n) {
    float *v = malloc((size_t)n * sizeof(float) + 1);
    assert_non_null(v);
    kv_err err;
    if (kv_dequant_row(t, q, v, n, &err) != KV_OK)
        fail_msg("dequantize %s: %s", kv_type_name(t), err.msg);
    return v;
}

// MAG of the tolerance: sum of |w| |x|, where a weight d*q - m counts as
// |d*q| + |m| (its min part is what the dequantizer gives with d set to 0).
static double magnitude(const dot_case *c, const void *wq, const void *xq, int64_t n) {
    float *wd = dequant(c->w, wq, n), *xd = dequant(c->act, xq, n);
    float *md = NULL;
    if (c->d_off >= 0) {
        const size_t size = kv_type_row_size(c->w, n), bs = block_bytes(c->w);
        uint8_t *z = malloc(size);
        assert_non_null(z);
        memcpy(z, wq, size);
        for (size_t off = 0; off < size; off += bs)
            memset(z + off + c->d_off, 0, sizeof(kv_f16));
        md = dequant(c->w, z, n);
        free(z);
    }
    double mag = 0;
    for (int64_t i = 0; i < n; i++) {
        const double m = md ? md[i] : 0.0;
        mag += (fabs((double)wd[i] - m) + fabs(m)) * fabs((double)xd[i]);
    }
    free(wd);
    free(xd);
    free(md);
    return mag;
}

static void check_pair(size_t ci, const void *wq, const void *xq, int64_t n, const char *what) {
    const dot_case *c = &CASES[ci];
    float ref = NAN, got = NAN;
    c->ref(n, &ref, wq, xq);
    c->avx2(n, &got, wq, xq);
    const char *name = kv_type_name(c->w);
    if (!isfinite(ref)) {
        if (!(isnan(ref) ? isnan(got) : got == ref))
            fail_msg("%s (%s, n=%lld): got %g, reference %g", name, what, (long long)n, got, ref);
        return;
    }
    const double mag = magnitude(c, wq, xq, n);
    const double tol = (2.0 * (double)n / 32 + c->roundings) * TOL_UNIT * mag +
                       TOL_SUBNORMAL_PER_ELEMENT * (double)n;
    const double diff = fabs((double)got - (double)ref);
    if (!(diff <= tol))
        fail_msg("%s (%s, n=%lld): got %.9g, reference %.9g (diff %.3g, tolerance %.3g)", name,
                 what, (long long)n, got, ref, diff, tol);
    if (diff / tol > worst_ratio[ci])
        worst_ratio[ci] = diff / tol;
}

// Block counts to try: one, two, odd (a tail for the two-block loops), many, many + 1
static const int64_t N_BLOCKS[] = {1, 2, 3, 7, 16, 17, 128, 129};
#define N_SIZES (sizeof N_BLOCKS / sizeof N_BLOCKS[0])
// Float lengths: short, tails of 1..31 past the 32-element steps, long
static const int64_t N_FLOATS[] = {1, 7, 31, 32, 33, 63, 100, 4096, 4096 + 17};
#define N_FLOAT_SIZES (sizeof N_FLOATS / sizeof N_FLOATS[0])

static bool is_float(kv_type t) { return !kv_type_get(t)->quantized; }

// ---- dot products: random data ----

static void test_dot_quantized_rows(void **state) {
    (void)state;
    NEED_AVX2();
    enum { N_MAX = 129 * 256 };
    float *wf = malloc(N_MAX * sizeof(float)), *xf = malloc(N_MAX * sizeof(float));
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const dot_case *c = &CASES[ci];
        for (size_t si = 0; si < N_SIZES; si++) {
            const int64_t n = N_BLOCKS[si] * (is_float(c->w) ? 32 : block_size(c->w));
            for (uint64_t seed = 1; seed <= 3; seed++) {
                fill_bell(wf, n, seed * 31 + si);
                fill_bell(xf, n, seed * 131 + si);
                if (seed == 3) // activation outliers, as in real models
                    for (int64_t i = 0; i < n; i += 97)
                        xf[i] *= 40;
                void *wq = quantize(c->w, wf, n), *xq = quantize(c->act, xf, n);
                check_pair(ci, wq, xq, n, "quantized rows");
                free(wq);
                free(xq);
            }
        }
    }
    free(wf);
    free(xf);
}

static void test_dot_random_bytes(void **state) {
    (void)state;
    NEED_AVX2();
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const dot_case *c = &CASES[ci];
        for (uint64_t seed = 1; seed <= 4; seed++) {
            rng_state = seed * 7919 + ci;
            if (is_float(c->w)) {
                for (size_t si = 0; si < N_FLOAT_SIZES; si++) {
                    void *w = random_floats(c->w, N_FLOATS[si], 3.0f);
                    void *x = random_floats(c->act, N_FLOATS[si], 0.5f);
                    check_pair(ci, w, x, N_FLOATS[si], "random floats");
                    free(w);
                    free(x);
                }
                continue;
            }
            for (size_t si = 0; si < N_SIZES; si++) {
                const int64_t n = N_BLOCKS[si] * block_size(c->w);
                void *w = random_blocks(c->w, n, SCALE_NORMAL, false);
                void *x = random_blocks(c->act, n, SCALE_NORMAL, true);
                check_pair(ci, w, x, n, "random bytes");
                free(w);
                free(x);
            }
        }
    }
}

// ---- dot products: special values ----

static void test_dot_zeros(void **state) {
    (void)state;
    NEED_AVX2();
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const dot_case *c = &CASES[ci];
        const int64_t n = 17 * (is_float(c->w) ? 32 : block_size(c->w));
        rng_state = 99 + ci;
        void *zw = calloc(1, kv_type_row_size(c->w, n) + 1);
        void *zx = calloc(1, kv_type_row_size(c->act, n) + 1);
        void *w = is_float(c->w) ? random_floats(c->w, n, 1)
                                 : random_blocks(c->w, n, SCALE_NORMAL, false);
        void *x = is_float(c->w) ? random_floats(c->act, n, 1)
                                 : random_blocks(c->act, n, SCALE_NORMAL, true);
        float out = NAN;
        c->avx2(n, &out, zw, zx);
        assert_true(out == 0.0f);
        c->avx2(n, &out, zw, x);
        assert_true(out == 0.0f);
        c->avx2(n, &out, w, zx);
        assert_true(out == 0.0f);
        check_pair(ci, zw, x, n, "zero weights");
        check_pair(ci, w, zx, n, "zero activations");
        free(zw);
        free(zx);
        free(w);
        free(x);
    }
}

// Quant bytes all at one extreme: 0x00 or 0xFF in the weights (Q8_0 weights:
// -128 or 127), ±127 in the activations (bsums and s to match), scales from k.
static void *extreme_blocks(kv_type t, int64_t n, bool high, scale_kind k, bool act) {
    void *p = random_blocks(t, n, k, act);
    const size_t size = kv_type_row_size(t, n), bs = block_bytes(t);
    uint8_t *b = p;
    for (size_t off = 0; off < size; off += bs) {
        if (act) {
            int8_t *qs = t == KV_TYPE_Q8_K   ? ((kv_block_q8_k *)(b + off))->qs
                         : t == KV_TYPE_Q8_1 ? ((kv_block_q8_1 *)(b + off))->qs
                                             : ((kv_block_q8_0 *)(b + off))->qs;
            memset(qs, high ? 127 : -127, (size_t)block_size(t));
            if (t == KV_TYPE_Q8_K)
                for (int g = 0; g < 16; g++)
                    ((kv_block_q8_k *)(b + off))->bsums[g] = (int16_t)(16 * qs[0]);
            if (t == KV_TYPE_Q8_1)
                ((kv_block_q8_1 *)(b + off))->s =
                    kv_f32_to_f16(32.0f * qs[0] * kv_f16_to_f32(((kv_block_q8_1 *)(b + off))->d));
            continue;
        }
        // every byte but the F16 fields
        uint8_t keep[8][2];
        const int *f = f16_fields(t);
        for (int j = 0; f[j] >= 0; j++)
            memcpy(keep[j], b + off + f[j], 2);
        if (t == KV_TYPE_Q8_0)
            memset(b + off, high ? 0x7F : 0x80, bs);
        else
            memset(b + off, high ? 0xFF : 0x00, bs);
        for (int j = 0; f[j] >= 0; j++)
            memcpy(b + off + f[j], keep[j], 2);
    }
    return p;
}

static void test_dot_extremes(void **state) {
    (void)state;
    NEED_AVX2();
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const dot_case *c = &CASES[ci];
        if (is_float(c->w))
            continue;
        const int64_t n = 9 * block_size(c->w);
        for (int hw = 0; hw < 2; hw++)
            for (int hx = 0; hx < 2; hx++)
                for (int k = SCALE_NORMAL; k <= SCALE_SUBNORMAL; k++) {
                    rng_state = 1000 + ci * 16 + (uint64_t)(hw * 8 + hx * 4 + k);
                    void *w = extreme_blocks(c->w, n, hw, (scale_kind)k, false);
                    void *x = extreme_blocks(c->act, n, hx, (scale_kind)k, true);
                    check_pair(ci, w, x, n, k == SCALE_MAX ? "±max" : "extreme quants");
                    free(w);
                    free(x);
                    // subnormal weight scales against normal activations
                    w = random_blocks(c->w, n, (scale_kind)k, false);
                    x = random_blocks(c->act, n, k == SCALE_MAX ? SCALE_MAX : SCALE_NORMAL, true);
                    static const char *what[] = {"random", "largest scales", "subnormal scales"};
                    check_pair(ci, w, x, n, what[k]);
                    free(w);
                    free(x);
                }
    }
}

// The float types at their limits: the largest values (products kept finite by
// small partners), products that overflow to +Inf on both sides, and subnormals.
static void test_dot_float_limits(void **state) {
    (void)state;
    NEED_AVX2();
    enum { N = 4096 + 19 };
    static const struct {
        kv_type t;
        float max;
    } F[] = {{KV_TYPE_F32, FLT_MAX}, {KV_TYPE_F16, 65504.0f}, {KV_TYPE_BF16, 3.3895314e38f}};
    float *w = malloc(N * sizeof(float)), *x = malloc(N * sizeof(float));
    uint16_t *wh = malloc(N * 2), *xh = malloc(N * 2);
    for (size_t fi = 0; fi < sizeof F / sizeof F[0]; fi++) {
        size_t ci = 0;
        while (CASES[ci].w != F[fi].t)
            ci++;
        const kv_type t = F[fi].t;
        rng_state = 4242 + fi;
        for (int pass = 0; pass < 3; pass++) {
            for (int64_t i = 0; i < N; i++) {
                const float s = (rnd64() & 1) ? -1.0f : 1.0f;
                if (pass == 0) { // ±max against small partners
                    w[i] = s * F[fi].max * (float)(0.5 + 0.5 * urand());
                    x[i] = (t == KV_TYPE_F16 ? 1.0f : 1e-30f) * (float)(urand() - 0.5);
                } else if (pass == 1) { // one sign, overflowing products (F16: the largest)
                    w[i] = F[fi].max;
                    x[i] = t == KV_TYPE_F16 ? 65504.0f : 2.0f;
                } else { // subnormals
                    // the smallest F16 subnormal (2^-24), or a float subnormal
                    const float unit = t == KV_TYPE_F16 ? 5.9604645e-8f : 1e-40f;
                    w[i] = s * (float)(1 + rnd64() % 1000) * unit;
                    x[i] = (float)(urand() - 0.5) * (t == KV_TYPE_F16 ? 1e-4f : 1e-3f);
                }
            }
            const void *pw = w, *px = x;
            if (t != KV_TYPE_F32) {
                for (int64_t i = 0; i < N; i++) {
                    wh[i] = t == KV_TYPE_F16 ? kv_f32_to_f16(w[i]) : kv_f32_to_bf16(w[i]);
                    xh[i] = t == KV_TYPE_F16 ? kv_f32_to_f16(x[i]) : kv_f32_to_bf16(x[i]);
                }
                pw = wh;
                px = xh;
            }
            static const char *what[] = {"±max", "overflow", "subnormals"};
            check_pair(ci, pw, px, N, what[pass]);
            if (pass == 1 && t != KV_TYPE_F16) {
                float out = 0.0f;
                CASES[ci].avx2(N, &out, pw, px);
                assert_true(isinf(out) && out > 0);
            }
        }
    }
    free(w);
    free(x);
    free(wh);
    free(xh);
}

// ---- activation quantizers: byte for byte ----

// The slot references (kernels.h) write the quantizers' bytes for finite rows
// (kv__quantize_*, checked too) and zeros for rows with Inf or NaN.
static const struct {
    kv_type t;
    kv_from_float_fn ref;
    kv__quantize_fn quantizer;
    kv_from_float_fn avx2;
} QUANTS[] = {
    {KV_TYPE_Q8_0, kv_from_float_q8_0_ref, kv__quantize_q8_0, kv_from_float_q8_0_avx2},
    {KV_TYPE_Q8_1, kv_from_float_q8_1_ref, kv__quantize_q8_1, kv_from_float_q8_1_avx2},
    {KV_TYPE_Q8_K, kv_from_float_q8_k_ref, kv__quantize_q8_k, kv_from_float_q8_k_avx2},
};
#define N_QUANTS (sizeof QUANTS / sizeof QUANTS[0])

static bool all_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return false;
    return true;
}

static void check_quant(const float *x, int64_t n, const char *what) {
    for (size_t qi = 0; qi < N_QUANTS; qi++) {
        const size_t size = kv_type_row_size(QUANTS[qi].t, n);
        if (size == 0)
            continue; // n is not a multiple of this type's block
        uint8_t *want = malloc(size), *got = malloc(size);
        assert_non_null(want);
        assert_non_null(got);
        memset(got, 0xA5, size);
        QUANTS[qi].ref(x, want, n);
        QUANTS[qi].avx2(x, got, n);
        if (all_finite(x, n)) { // the slot reference is the quantizer
            uint8_t *q = malloc(size);
            assert_non_null(q);
            QUANTS[qi].quantizer(x, q, 1, n, NULL);
            assert_memory_equal(q, want, size);
            free(q);
        }
        for (size_t i = 0; i < size; i++)
            if (got[i] != want[i])
                fail_msg("%s (%s, n=%lld): byte %zu (block %zu) is 0x%02x, reference 0x%02x",
                         kv_type_name(QUANTS[qi].t), what, (long long)n, i,
                         i / block_bytes(QUANTS[qi].t), got[i], want[i]);
        free(want);
        free(got);
    }
}

static void test_quant_random(void **state) {
    (void)state;
    NEED_AVX2();
    enum { N = 8192 };
    float *x = malloc(N * sizeof(float));
    for (uint64_t seed = 1; seed <= 20; seed++) {
        fill_bell(x, N, seed);
        const float scale = (float)ldexp(1.0, (int)(seed % 40) - 20);
        for (int64_t i = 0; i < N; i++)
            x[i] *= scale;
        check_quant(x, 32, "one Q8_0 block");
        check_quant(x, 256, "one super-block");
        check_quant(x, N, "random");
        for (int64_t i = 0; i < N; i += 97)
            x[i] *= 40;
        check_quant(x, N, "outliers");
    }
    free(x);
}

// Values that land exactly on halves after scaling: roundf and Q8_K's
// nearest-even rounding disagree with _mm256_round_ps's on these.
static void test_quant_ties(void **state) {
    (void)state;
    NEED_AVX2();
    float x[512];
    for (int i = 0; i < 512; i++) // max 127 -> Q8_0 d = 1; Q8_K max -127 -> iscale 1
        x[i] = (float)(i % 255 - 127) + ((i % 3) ? 0.5f : -0.5f);
    x[0] = 127.0f;
    x[256] = -127.0f;
    for (int i = 32; i < 512; i += 32)
        x[i] = i < 256 ? 127.0f : -127.0f;
    check_quant(x, 512, "halves");
    for (int i = 0; i < 512; i++)
        x[i] = x[i] * 0.25f; // d = 0.25 / 1: products still exact halves
    check_quant(x, 512, "quarter halves");
}

// The reference scales by id = 1 / (max / 127), not 127 / max (ggml's AVX2
// quantizer): the two differ in the last bit for some max, which moves values
// near a half to the other integer. Builds blocks of such values.
static void test_quant_scale_is_one_over_d(void **state) {
    (void)state;
    NEED_AVX2();
    enum { N_BLOCKS_WANTED = 16 };
    float x[N_BLOCKS_WANTED * 32];
    int found = 0;
    rng_state = 31337;
    for (int trial = 0; trial < 100000 && found < N_BLOCKS_WANTED; trial++) {
        const float amax = (float)(0.5 + 1.5 * urand());
        const float id = 1.0f / (amax / 127), id_ggml = 127.0f / amax;
        if (id == id_ggml)
            continue;
        float *blk = x + 32 * found;
        int m = 1;
        for (int k = 1; k < 127 && m < 32; k++) {
            float v = nextafterf(((float)k + 0.5f) / id, 0.0f);
            for (int step = 0; step < 4 && m < 32; step++, v = nextafterf(v, INFINITY))
                if (roundf(v * id) != roundf(v * id_ggml))
                    blk[m++] = (k % 2) ? v : -v;
        }
        if (m < 8)
            continue;
        blk[0] = amax;
        for (; m < 32; m++)
            blk[m] = amax * 0.25f;
        found++;
    }
    assert_int_equal(found, N_BLOCKS_WANTED);
    check_quant(x, 32 * N_BLOCKS_WANTED, "1 / d versus 127 / max");
}

static void test_quant_special(void **state) {
    (void)state;
    NEED_AVX2();
    enum { N = 1024 };
    float x[N];
    memset(x, 0, sizeof x);
    check_quant(x, N, "zeros");
    for (int i = 0; i < N; i++)
        x[i] = -0.0f;
    check_quant(x, N, "negative zeros");
    rng_state = 5;
    for (int i = 0; i < N; i++) // ±max, and max next to tiny values
        x[i] = ((rnd64() & 1) ? -FLT_MAX : FLT_MAX) * (float)(i % 2 ? urand() : 1.0);
    check_quant(x, N, "±FLT_MAX");
    for (int i = 0; i < N; i++)
        x[i] = (i % 7 == 0) ? FLT_MAX : FLT_TRUE_MIN * (float)(i % 5);
    check_quant(x, N, "FLT_MAX and subnormals");
    static const float tiny[] = {FLT_TRUE_MIN, 1e-44f, 1e-40f, 1e-38f, FLT_MIN, 3e-37f, 1e-36f};
    for (size_t k = 0; k < sizeof tiny / sizeof tiny[0]; k++) {
        for (int i = 0; i < N; i++)
            x[i] = tiny[k] * (float)(urand() * 2 - 1);
        x[k * 37 % N] = tiny[k];
        check_quant(x, N, "subnormal and tiny blocks");
    }
    // the same largest magnitude with both signs: the first one sets Q8_K's sign
    for (int i = 0; i < N; i++)
        x[i] = (float)(urand() - 0.5);
    x[3] = -2.0f, x[200] = 2.0f;   // block 0: negative first
    x[300] = 2.0f, x[301] = -2.0f; // block 1: positive first
    x[767] = 3.0f;                 // block 2: the very last element
    check_quant(x, N, "tied maxima");
    // infinities and NaN (quiet, with payloads, signaling): rows of zeros, also
    // when one element of the last block holds them
    static const uint32_t bad[] = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7fc01234u,
                                   0xffc00001u, 0x7fa00001u};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        for (int at = 0; at < N; at += N - 1) {
            for (int i = 0; i < N; i++)
                x[i] = (float)(urand() - 0.5);
            x[at] = kv_f32_from_bits(bad[k]);
            check_quant(x, N, "Inf or NaN");
            kv_block_q8_0 y[N / 32];
            kv_from_float_q8_0_avx2(x, y, N);
            for (int b = 0; b < N / 32; b++)
                assert_true(y[b].d == 0 && y[b].qs[0] == 0 && y[b].qs[31] == 0);
        }
}

// ---- summary ----

static void test_report_margins(void **state) {
    (void)state;
    NEED_AVX2();
    for (size_t ci = 0; ci < N_CASES; ci++)
        print_message("%-7s worst |avx2 - ref| / tolerance: %.3f\n", kv_type_name(CASES[ci].w),
                      worst_ratio[ci]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_quantized_rows), cmocka_unit_test(test_dot_random_bytes),
        cmocka_unit_test(test_dot_zeros),          cmocka_unit_test(test_dot_extremes),
        cmocka_unit_test(test_dot_float_limits),   cmocka_unit_test(test_quant_random),
        cmocka_unit_test(test_quant_ties),         cmocka_unit_test(test_quant_scale_is_one_over_d),
        cmocka_unit_test(test_quant_special),
        cmocka_unit_test(test_report_margins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else // not x86-64: the AVX2 kernels are not built

static void test_not_x86(void **state) {
    (void)state;
    print_message("skipped: the AVX2 kernels exist only on x86-64\n");
    skip();
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_not_x86)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
