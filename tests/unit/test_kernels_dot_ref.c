// Reference dot products (src/kernels/ref): every (weight, activation) pair on
// data quantized by the real quantizers, against a double-precision dot of the
// dequantized values within a named tolerance; then bit-exactly against ggml's
// formula (integer sums, float steps in ggml's order), with the integers taken
// from the dequantizers rather than decoded here; and the pairing table.
#include "kernels/ref/dot_ref.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"
#include "kvant/kv_f16.h"
#include "kvant/kv_quant.h"
#include "kvant/kv_blocks.h"

// ---- tolerances ----
// The kernels sum each block exactly in integers, so they differ from the exact
// dot of the dequantized values by float rounding alone: a few roundings per block
// term (scale products, int -> float, and on the reference side the dequantizer's
// own d * q) and one per term added to the float accumulator. Each is at most
// 2^-24 of the magnitudes involved, measured by MAG = sum over groups of 32 of
// max|w| * sum|x|. Types with a min (w = d*q - m) round both parts before they
// cancel, parts that can reach MIN_SPLIT times max|w|. (Measured on the data
// below: under 1% of this bound.)
#define ROUNDINGS_PER_TERM 8
#define MIN_SPLIT 4
#define FLT_ROUNDING (1.0 / 16777216) // 2^-24, half an ulp of a float
// Not rounding order: Q8_1 stores s = d * sum(q) as F16, computed from the
// unrounded d, and Q4_1/Q5_1 use s for their min part where the dequantized dot
// has F16(d) * q: two F16 roundings (2^-11 each) of at most max|w| * sum|x|.
// (Measured: up to 10% of it.)
#define Q8_1_SUM_REL (2.0 / 2048)

typedef struct {
    kv_type w, act;
    kv__dot_ref_fn dot;
    double extra_rel; // tolerance beyond float rounding, times MAG
} dot_case;

static const dot_case CASES[] = {
    {KV_TYPE_F32, KV_TYPE_F32, kv_dot_f32_f32_ref, 0},
    {KV_TYPE_F16, KV_TYPE_F16, kv_dot_f16_f16_ref, 0},
    {KV_TYPE_BF16, KV_TYPE_BF16, kv_dot_bf16_bf16_ref, 0},
    {KV_TYPE_Q4_0, KV_TYPE_Q8_0, kv_dot_q4_0_q8_0_ref, 0},
    {KV_TYPE_Q4_1, KV_TYPE_Q8_1, kv_dot_q4_1_q8_1_ref, Q8_1_SUM_REL},
    {KV_TYPE_Q5_0, KV_TYPE_Q8_0, kv_dot_q5_0_q8_0_ref, 0},
    {KV_TYPE_Q5_1, KV_TYPE_Q8_1, kv_dot_q5_1_q8_1_ref, Q8_1_SUM_REL},
    {KV_TYPE_Q8_0, KV_TYPE_Q8_0, kv_dot_q8_0_q8_0_ref, 0},
    {KV_TYPE_IQ4_NL, KV_TYPE_Q8_0, kv_dot_iq4_nl_q8_0_ref, 0},
    {KV_TYPE_Q2_K, KV_TYPE_Q8_K, kv_dot_q2_k_q8_k_ref, 0},
    {KV_TYPE_Q3_K, KV_TYPE_Q8_K, kv_dot_q3_k_q8_k_ref, 0},
    {KV_TYPE_Q4_K, KV_TYPE_Q8_K, kv_dot_q4_k_q8_k_ref, 0},
    {KV_TYPE_Q5_K, KV_TYPE_Q8_K, kv_dot_q5_k_q8_k_ref, 0},
    {KV_TYPE_Q6_K, KV_TYPE_Q8_K, kv_dot_q6_k_q8_k_ref, 0},
    {KV_TYPE_IQ4_XS, KV_TYPE_Q8_K, kv_dot_iq4_xs_q8_k_ref, 0},
    {KV_TYPE_TQ1_0, KV_TYPE_Q8_K, kv_dot_tq1_0_q8_k_ref, 0},
    {KV_TYPE_TQ2_0, KV_TYPE_Q8_K, kv_dot_tq2_0_q8_k_ref, 0},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

enum { N_MANY = 4096, GROUP = 32 };

// ---- data ----

static uint64_t rng_state;

static double urand(void) { return kv_rand_u01(&rng_state); } // uniform in [0, 1)

// Bell-shaped values whose scale changes every 256, like real weights and activations.
static void fill_random(float *v, int64_t n, uint64_t seed) {
    rng_state = seed;
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((urand() + urand() + urand() - 1.5) * (1 + (i / 256) % 5));
}

static int block_size(kv_type t) { return kv_type_get(t)->block_size; }

// Quantizes n floats to t (one row) and returns the blocks; *deq gets them back
// as floats, which is what the reference dot multiplies.
static void *quantize(kv_type t, const float *v, int64_t n, float **deq) {
    void *q = malloc(kv_type_row_size(t, n));
    *deq = malloc((size_t)n * sizeof(float));
    assert_non_null(q);
    assert_non_null(*deq);
    kv_err err;
    if (kv_quant_rows(t, v, q, 1, n, NULL, &err) != KV_OK)
        fail_msg("quantize %s: %s", kv_type_name(t), err.msg);
    if (kv_dequant_row(t, q, *deq, n, &err) != KV_OK)
        fail_msg("dequantize %s: %s", kv_type_name(t), err.msg);
    return q;
}

// ---- the comparison ----

// Quantizes wf and xf as the pair wants, runs the kernel, and checks it against
// the double dot of the dequantized values; returns the kernel's result.
static float check_dot(const dot_case *c, const float *wf, const float *xf, int64_t n,
                       const char *what) {
    float *wd, *xd;
    void *wq = quantize(c->w, wf, n, &wd);
    void *xq = quantize(c->act, xf, n, &xd);
    double ref = 0, mag = 0;
    for (int64_t g = 0; g < n; g += GROUP) {
        double wmax = 0, xsum = 0;
        for (int64_t i = g; i < g + GROUP && i < n; i++) {
            ref += (double)wd[i] * xd[i];
            wmax = fmax(wmax, fabs(wd[i]));
            xsum += fabs(xd[i]);
        }
        mag += wmax * xsum;
    }
    float out = NAN;
    c->dot(n, &out, wq, xq);
    const double terms = (double)((n + GROUP - 1) / GROUP) + ROUNDINGS_PER_TERM;
    const double tol = terms * MIN_SPLIT * FLT_ROUNDING * mag + c->extra_rel * mag;
    if (!(fabs(out - ref) <= tol))
        fail_msg("%s.%s (%s, n=%lld): got %.9g, double dot of the dequantized values %.9g "
                 "(diff %.3g, tolerance %.3g)",
                 kv_type_name(c->w), kv_type_name(c->act), what, (long long)n, out, ref,
                 fabs(out - ref), tol);
    free(wq);
    free(xq);
    free(wd);
    free(xd);
    return out;
}

// Runs every pair on the first n of wf and xf (n a multiple of 256).
static void check_all(const float *wf, const float *xf, int64_t n, const char *what) {
    for (size_t i = 0; i < N_CASES; i++)
        check_dot(&CASES[i], wf, xf, n, what);
}

// ---- random data ----

static void test_one_block(void **state) {
    (void)state;
    float wf[256], xf[256];
    for (uint64_t seed = 1; seed <= 20; seed++) {
        fill_random(wf, 256, seed);
        fill_random(xf, 256, seed * 7919);
        for (size_t i = 0; i < N_CASES; i++)
            check_dot(&CASES[i], wf, xf, block_size(CASES[i].w), "one block");
    }
}

static void test_many_blocks(void **state) {
    (void)state;
    float *wf = malloc(N_MANY * sizeof(float));
    float *xf = malloc(N_MANY * sizeof(float));
    for (uint64_t seed = 1; seed <= 3; seed++) {
        fill_random(wf, N_MANY, seed * 31);
        fill_random(xf, N_MANY, seed * 131);
        check_all(wf, xf, N_MANY, "random");
        for (int64_t i = 0; i < N_MANY; i += 97) // activation outliers, as in real models
            xf[i] *= 40;
        check_all(wf, xf, N_MANY, "activation outliers");
    }
    free(wf);
    free(xf);
}

// ---- special values ----

static void test_zeros(void **state) {
    (void)state;
    float zero[N_MANY] = {0};
    float *v = malloc(N_MANY * sizeof(float));
    fill_random(v, N_MANY, 5);
    for (size_t i = 0; i < N_CASES; i++) {
        const dot_case *c = &CASES[i];
        assert_true(check_dot(c, zero, v, N_MANY, "zero weights") == 0.0f);
        assert_true(check_dot(c, v, zero, N_MANY, "zero activations") == 0.0f);
        assert_true(check_dot(c, zero, zero, block_size(c->w), "all zero") == 0.0f);
    }
    free(v);
}

static void test_constant_rows(void **state) {
    (void)state;
    float *wf = malloc(N_MANY * sizeof(float));
    float *xf = malloc(N_MANY * sizeof(float));
    fill_random(xf, N_MANY, 11);
    for (int64_t i = 0; i < N_MANY; i++)
        wf[i] = 0.75f;
    check_all(wf, xf, N_MANY, "constant weights 0.75");
    for (int64_t i = 0; i < N_MANY; i++)
        wf[i] = -3.5f;
    check_all(wf, xf, N_MANY, "constant weights -3.5");
    check_all(xf, wf, N_MANY, "constant activations -3.5");
    for (int64_t i = 0; i < N_MANY; i++) // a different constant in each block of 32
        wf[i] = (float)(i / 32 % 15) - 7.0f;
    check_all(wf, xf, N_MANY, "blockwise constant");
    free(wf);
    free(xf);
}

// ±large: weights up to the largest F16. Activations stay below 2000 so that
// Q8_1's F16 block sum (up to 32 * max|x|) stays finite, as ggml's must.
static void test_large_values(void **state) {
    (void)state;
    float *wf = malloc(N_MANY * sizeof(float));
    float *xf = malloc(N_MANY * sizeof(float));
    rng_state = 77;
    for (int64_t i = 0; i < N_MANY; i++) {
        wf[i] = (urand() < 0.5 ? -1.0f : 1.0f) * (float)(30000 + 30000 * urand());
        xf[i] = (urand() < 0.5 ? -1.0f : 1.0f) * (float)(2000 * urand());
    }
    wf[3] = 65504.0f;
    wf[300] = -65504.0f;
    xf[5] = -2000.0f;
    check_all(wf, xf, N_MANY, "large");
    for (int64_t i = 0; i < N_MANY; i++) // the same sign everywhere: no cancellation
        wf[i] = fabsf(wf[i]);
    for (int64_t i = 0; i < N_MANY; i++)
        xf[i] = fabsf(xf[i]);
    check_all(wf, xf, N_MANY, "large positive");
    free(wf);
    free(xf);
}

// ggml's scalar float dots round each product to float and add them in double:
// one huge product first, then n - 1 products of 1, each below half an ulp of a
// float sum that size, so only a double sum keeps them.
static void test_float_types_sum_in_double(void **state) {
    (void)state;
    enum { N = 4096 };
    static const struct {
        kv_type t;
        float big;
    } F[] = {{KV_TYPE_F32, 65536.0f}, {KV_TYPE_F16, 65504.0f}, {KV_TYPE_BF16, 65536.0f}};
    float wf[N], xf[N];
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
        for (int j = 0; j < N; j++)
            wf[j] = xf[j] = 1.0f;
        wf[0] = xf[0] = F[i].big;
        const kv__dot_pair *p = kv__dot_pair_ref(F[i].t);
        assert_non_null(p);
        float *wd, *xd, out;
        void *wq = quantize(F[i].t, wf, N, &wd);
        void *xq = quantize(F[i].t, xf, N, &xd);
        p->dot(N, &out, wq, xq);
        assert_true(out == (float)((double)F[i].big * F[i].big + (N - 1)));
        assert_true(out != F[i].big * F[i].big); // what a float sum gives
        free(wq);
        free(xq);
        free(wd);
        free(xd);
    }
}

// ---- the exact integer path ----

// q8_0 . q8_0 must be sum over blocks of (float)sumi * (d_w * d_x), summed in
// float in block order.
static float q8_0_formula(const kv_block_q8_0 *w, const kv_block_q8_0 *x, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int32_t sumi = 0;
        for (int j = 0; j < 32; j++)
            sumi += w[b].qs[j] * x[b].qs[j];
        sum += (float)sumi * (kv_f16_to_f32(w[b].d) * kv_f16_to_f32(x[b].d));
    }
    return sum;
}

static void test_q8_0_exact(void **state) {
    (void)state;
    enum { NB = N_MANY / 32 };
    float *wf = malloc(N_MANY * sizeof(float));
    float *xf = malloc(N_MANY * sizeof(float));
    for (uint64_t seed = 1; seed <= 10; seed++) {
        fill_random(wf, N_MANY, seed);
        fill_random(xf, N_MANY, seed + 1000);
        kv_block_q8_0 w[NB], x[NB];
        kv_err err;
        assert_int_equal(kv_quant_rows(KV_TYPE_Q8_0, wf, w, 1, N_MANY, NULL, &err), KV_OK);
        assert_int_equal(kv_quant_rows(KV_TYPE_Q8_0, xf, x, 1, N_MANY, NULL, &err), KV_OK);
        float out;
        kv_dot_q8_0_q8_0_ref(N_MANY, &out, w, x);
        assert_true(out == q8_0_formula(w, x, NB));
    }
    // extreme quants: -128 (never written by the quantizer, legal in a block) and 127
    kv_block_q8_0 w[2], x[2];
    for (int b = 0; b < 2; b++) {
        w[b].d = kv_f32_to_f16(1.5f);
        x[b].d = kv_f32_to_f16(-0.25f);
        memset(w[b].qs, b == 0 ? 0x80 : 0x7f, 32);
        memset(x[b].qs, 0x80, 32);
    }
    float out;
    kv_dot_q8_0_q8_0_ref(64, &out, w, x);
    assert_true(out == q8_0_formula(w, x, 2));
    assert_true(out == (float)(32 * 16384 * 1.5 * -0.25 + 32 * -16256 * 1.5 * -0.25));
    free(wf);
    free(xf);
}

// For the types whose weight is d_w times an integer (Q4_0, Q8_0, Q5_0, IQ4_NL, TQ1_0,
// TQ2_0), d_w * integer is exact in float, so the integers come back from the
// dequantized values, and the kernel must give ggml's formula exactly: per block
// (float)sumi * (d_w * d_x), except Q4_0's (sumi * d_w) * d_x.
typedef struct {
    kv_type w;
    kv__dot_ref_fn dot;
    bool sumi_times_dw_first;
} exact_case;

static float block_dw(kv_type t, const void *q, int64_t b) {
    switch (t) {
    case KV_TYPE_Q4_0: return kv_f16_to_f32(((const kv_block_q4_0 *)q)[b].d);
    case KV_TYPE_Q5_0: return kv_f16_to_f32(((const kv_block_q5_0 *)q)[b].d);
    case KV_TYPE_Q8_0: return kv_f16_to_f32(((const kv_block_q8_0 *)q)[b].d);
    case KV_TYPE_IQ4_NL: return kv_f16_to_f32(((const kv_block_iq4_nl *)q)[b].d);
    case KV_TYPE_TQ1_0: return kv_f16_to_f32(((const kv_block_tq1_0 *)q)[b].d);
    case KV_TYPE_TQ2_0: return kv_f16_to_f32(((const kv_block_tq2_0 *)q)[b].d);
    default: fail_msg("no exact formula for %s", kv_type_name(t));
    }
    return 0;
}

// x quants and scale of block b (Q8_0 for 32-blocks, Q8_K for 256-blocks)
static const int8_t *block_x(const void *xq, int bs, int64_t b, float *dx) {
    if (bs == 32) {
        *dx = kv_f16_to_f32(((const kv_block_q8_0 *)xq)[b].d);
        return ((const kv_block_q8_0 *)xq)[b].qs;
    }
    *dx = ((const kv_block_q8_k *)xq)[b].d;
    return ((const kv_block_q8_k *)xq)[b].qs;
}

static float exact_formula(const exact_case *c, const void *wq, const float *wd,
                           const void *xq, int64_t n) {
    const int bs = block_size(c->w);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / bs; b++) {
        const float dw = block_dw(c->w, wq, b);
        float dx;
        const int8_t *xs = block_x(xq, bs, b, &dx);
        int32_t sumi = 0;
        for (int j = 0; j < bs; j++) {
            const int q = dw == 0.0f ? 0 : (int)(wd[b * bs + j] / dw);
            assert_true((float)q * dw == wd[b * bs + j]); // the integer came back exactly
            sumi += q * xs[j];
        }
        sum += c->sumi_times_dw_first ? (float)sumi * dw * dx : (float)sumi * (dw * dx);
    }
    return sum;
}

static void test_single_scale_exact(void **state) {
    (void)state;
    static const exact_case EXACT[] = {
        {KV_TYPE_Q4_0, kv_dot_q4_0_q8_0_ref, true},
        {KV_TYPE_Q8_0, kv_dot_q8_0_q8_0_ref, false},
        {KV_TYPE_Q5_0, kv_dot_q5_0_q8_0_ref, false},
        {KV_TYPE_IQ4_NL, kv_dot_iq4_nl_q8_0_ref, false},
        {KV_TYPE_TQ1_0, kv_dot_tq1_0_q8_k_ref, false},
        {KV_TYPE_TQ2_0, kv_dot_tq2_0_q8_k_ref, false},
    };
    float *wf = malloc(N_MANY * sizeof(float));
    float *xf = malloc(N_MANY * sizeof(float));
    for (size_t i = 0; i < sizeof EXACT / sizeof EXACT[0]; i++) {
        const exact_case *c = &EXACT[i];
        const kv_type act = block_size(c->w) == 32 ? KV_TYPE_Q8_0 : KV_TYPE_Q8_K;
        for (uint64_t seed = 1; seed <= 6; seed++) {
            fill_random(wf, N_MANY, seed * 3);
            fill_random(xf, N_MANY, seed * 5);
            if (seed > 3) // one sign: large integer sums, where the float order shows
                for (int64_t j = 0; j < N_MANY; j++) {
                    wf[j] = 1.0f + fabsf(wf[j]);
                    xf[j] = 1.0f + fabsf(xf[j]);
                }
            float *wd, *xd;
            void *wq = quantize(c->w, wf, N_MANY, &wd);
            void *xq = quantize(act, xf, N_MANY, &xd);
            float out;
            c->dot(N_MANY, &out, wq, xq);
            const float want = exact_formula(c, wq, wd, xq, N_MANY);
            if (out != want)
                fail_msg("%s: %.9g, formula %.9g", kv_type_name(c->w), out, want);
            // block by block too: a one-ulp change in a block term mostly vanishes
            // in the rounding of a long sum, but not in a dot of one block
            const int bs = block_size(c->w);
            const size_t w_size = kv_type_row_size(c->w, bs), x_size = kv_type_row_size(act, bs);
            for (int64_t b = 0; b < N_MANY / bs; b++) {
                const void *wb = (const char *)wq + b * w_size;
                const void *xb = (const char *)xq + b * x_size;
                c->dot(bs, &out, wb, xb);
                if (out != exact_formula(c, wb, wd + b * bs, xb, bs))
                    fail_msg("%s: block %lld: %.9g, formula %.9g", kv_type_name(c->w),
                             (long long)b, out, exact_formula(c, wb, wd + b * bs, xb, bs));
            }
            free(wq);
            free(xq);
            free(wd);
            free(xd);
        }
    }
    free(wf);
    free(xf);
}

// Q4_1 / Q5_1 (w = d_w * q + m) against Q8_1: per block
// (d_w * d_x) * sumi + m * s, with q from the dequantizer run on a copy of the
// block whose d is 1 and m 0.
static float min_formula(kv_type t, const void *wq, const kv_block_q8_1 *x, int64_t n) {
    const size_t w_size = kv_type_row_size(t, 32);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        union {
            kv_block_q4_1 q4;
            kv_block_q5_1 q5;
        } u;
        memcpy(&u, (const char *)wq + b * w_size, w_size);
        kv_f16 *d = t == KV_TYPE_Q4_1 ? &u.q4.d : &u.q5.d;
        kv_f16 *m = t == KV_TYPE_Q4_1 ? &u.q4.m : &u.q5.m;
        const float dw = kv_f16_to_f32(*d), mw = kv_f16_to_f32(*m);
        *d = kv_f32_to_f16(1.0f);
        *m = 0;
        float q[32];
        kv_err err;
        assert_int_equal(kv_dequant_row(t, &u, q, 32, &err), KV_OK);
        int32_t sumi = 0;
        for (int j = 0; j < 32; j++)
            sumi += (int)q[j] * x[b].qs[j];
        const float dx = kv_f16_to_f32(x[b].d), sx = kv_f16_to_f32(x[b].s);
        sum += dw * dx * (float)sumi + mw * sx;
    }
    return sum;
}

static void test_min_types_exact(void **state) {
    (void)state;
    float *wf = malloc(N_MANY * sizeof(float));
    float *xf = malloc(N_MANY * sizeof(float));
    for (size_t i = 0; i < N_CASES; i++) {
        const dot_case *c = &CASES[i];
        if (c->act != KV_TYPE_Q8_1)
            continue;
        const size_t w_size = kv_type_row_size(c->w, 32);
        for (uint64_t seed = 1; seed <= 4; seed++) {
            fill_random(wf, N_MANY, seed * 23);
            fill_random(xf, N_MANY, seed * 29);
            float *wd, *xd, out;
            void *wq = quantize(c->w, wf, N_MANY, &wd);
            kv_block_q8_1 *xq = quantize(KV_TYPE_Q8_1, xf, N_MANY, &xd);
            c->dot(N_MANY, &out, wq, xq);
            assert_true(out == min_formula(c->w, wq, xq, N_MANY));
            for (int64_t b = 0; b < N_MANY / 32; b++) {
                c->dot(32, &out, (const char *)wq + b * w_size, &xq[b]);
                if (out != min_formula(c->w, (const char *)wq + b * w_size, &xq[b], 32))
                    fail_msg("%s: block %lld: %.9g", kv_type_name(c->w), (long long)b, out);
            }
            free(wq);
            free(xq);
            free(wd);
            free(xd);
        }
    }
    free(wf);
    free(xf);
}

// ---- the float order of the super-block kernels ----
// ggml's Q3_K..Q6_K kernels add d_w * d_x * (integer sum of one lane, element
// index mod 8) to eight float accumulators and add those up at the end; Q4_K/Q5_K
// subtract dmin * d_x * (integer min sum) from the running sum per super-block.
// Q2_K adds dall * isum - dmin * summs per super-block, IQ4_XS d_w * d_x * (ls - 32)
// times the integer sum per 32 weights. The integers here come from the
// dequantizer run on a copy of each block with its super scales replaced
// (d = 1, dmin = 0 gives scale * q; d = 0, dmin = 1 gives -min), so this formula
// shares no decoding with the kernels.

typedef union {
    kv_block_q2_k q2;
    kv_block_q3_k q3;
    kv_block_q4_k q4;
    kv_block_q5_k q5;
    kv_block_q6_k q6;
    kv_block_iq4_xs iq;
} k_block;

// The block's super scales (dmin 0 for types without one); with set, replaces
// them by d and dmin instead, and unit_levels makes every IQ4_XS level 1.
static void k_scales(kv_type t, k_block *u, float *d, float *dmin, bool set, bool unit_levels) {
    kv_f16 *pd = NULL, *pm = NULL;
    switch (t) {
    case KV_TYPE_Q2_K: pd = &u->q2.d, pm = &u->q2.dmin; break;
    case KV_TYPE_Q3_K: pd = &u->q3.d; break;
    case KV_TYPE_Q4_K: pd = &u->q4.d, pm = &u->q4.dmin; break;
    case KV_TYPE_Q5_K: pd = &u->q5.d, pm = &u->q5.dmin; break;
    case KV_TYPE_Q6_K: pd = &u->q6.d; break;
    case KV_TYPE_IQ4_XS: pd = &u->iq.d; break;
    default: fail_msg("no super-block formula for %s", kv_type_name(t));
    }
    if (!set) {
        *d = kv_f16_to_f32(*pd);
        *dmin = pm ? kv_f16_to_f32(*pm) : 0.0f;
        return;
    }
    *pd = kv_f32_to_f16(*d);
    if (pm)
        *pm = kv_f32_to_f16(*dmin);
    if (unit_levels) // level index 8 is the level 1
        memset(u->iq.qs, 0x88, sizeof u->iq.qs);
}

// One super-block of blk, dequantized with d and dmin in place of its own.
static void dequant_with(kv_type t, const void *blk, float d, float dmin, bool unit_levels,
                         float out[256]) {
    k_block u;
    memcpy(&u, blk, kv_type_row_size(t, 256));
    k_scales(t, &u, &d, &dmin, true, unit_levels);
    kv_err err;
    assert_int_equal(kv_dequant_row(t, &u, out, 256, &err), KV_OK);
}

// sum over the 32 weights from e0 of (v[e] / div) * q8[e], checking that the
// quotients are integers
static int32_t int_dot(const float *v, float div, const int8_t *q8, int e0, int n) {
    int32_t sum = 0;
    for (int e = e0; e < e0 + n; e++) {
        const int q = (int)(v[e] / div);
        assert_true((float)q * div == v[e]);
        sum += q * q8[e];
    }
    return sum;
}

// IQ4_XS: one term per 32 weights
static float iq4_xs_terms(const void *blk, float dw, const kv_block_q8_k *x, float sum) {
    float sq[256], ls[256];
    dequant_with(KV_TYPE_IQ4_XS, blk, 1.0f, 0.0f, false, sq); // (ls - 32) * level
    dequant_with(KV_TYPE_IQ4_XS, blk, 1.0f, 0.0f, true, ls);  // ls - 32
    for (int e = 0; e < 256; e += 32) {
        const int32_t sumi = ls[e] == 0.0f ? 0 : int_dot(sq, ls[e], x->qs, e, 32);
        sum += dw * x->d * ls[e] * (float)sumi;
    }
    return sum;
}

static float k_formula(kv_type t, const void *wq, const void *xq, int64_t n) {
    const kv_block_q8_k *x = xq;
    const size_t w_size = kv_type_row_size(t, 256);
    float lanes[8] = {0}, sum = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const void *blk = (const char *)wq + b * w_size;
        k_block u;
        float dw, dmin, sq[256], mins[256];
        memcpy(&u, blk, w_size);
        k_scales(t, &u, &dw, &dmin, false, false);
        if (t == KV_TYPE_IQ4_XS) {
            sum = iq4_xs_terms(blk, dw, &x[b], sum);
            continue;
        }
        dequant_with(t, blk, 1.0f, 0.0f, false, sq);  // scale * q
        dequant_with(t, blk, 0.0f, 1.0f, false, mins); // -min, 0 without mins
        int32_t lane[8] = {0}, isum = 0;
        for (int e = 0; e < 256; e++) {
            lane[e % 8] += int_dot(sq, 1.0f, x[b].qs, e, 1);
            isum += int_dot(sq, 1.0f, x[b].qs, e, 1);
        }
        const int32_t msum = -int_dot(mins, 1.0f, x[b].qs, 0, 256);
        if (t == KV_TYPE_Q2_K) {
            sum += x[b].d * dw * (float)isum - x[b].d * dmin * (float)msum;
            continue;
        }
        for (int l = 0; l < 8; l++)
            lanes[l] += dw * x[b].d * (float)lane[l];
        if (t == KV_TYPE_Q4_K || t == KV_TYPE_Q5_K)
            sum -= dmin * x[b].d * (float)msum;
    }
    if (t == KV_TYPE_Q2_K || t == KV_TYPE_IQ4_XS)
        return sum;
    for (int l = 0; l < 8; l++)
        sum += lanes[l];
    return sum;
}

static void test_super_block_float_order(void **state) {
    (void)state;
    float *wf = malloc(N_MANY * sizeof(float));
    float *xf = malloc(N_MANY * sizeof(float));
    for (size_t i = 0; i < N_CASES; i++) {
        const dot_case *c = &CASES[i];
        if (c->act != KV_TYPE_Q8_K || c->w == KV_TYPE_TQ1_0 || c->w == KV_TYPE_TQ2_0)
            continue; // the ternary types are single-scale: test_single_scale_exact
        const size_t w_size = kv_type_row_size(c->w, 256), x_size = sizeof(kv_block_q8_k);
        for (uint64_t seed = 1; seed <= 4; seed++) {
            fill_random(wf, N_MANY, seed * 17);
            fill_random(xf, N_MANY, seed * 19);
            float *wd, *xd, out;
            void *wq = quantize(c->w, wf, N_MANY, &wd);
            void *xq = quantize(KV_TYPE_Q8_K, xf, N_MANY, &xd);
            c->dot(N_MANY, &out, wq, xq);
            if (out != k_formula(c->w, wq, xq, N_MANY))
                fail_msg("%s: %.9g, formula %.9g", kv_type_name(c->w), out,
                         k_formula(c->w, wq, xq, N_MANY));
            for (int64_t b = 0; b < N_MANY / 256; b++) {
                const void *wb = (const char *)wq + b * w_size;
                const void *xb = (const char *)xq + b * x_size;
                c->dot(256, &out, wb, xb);
                if (out != k_formula(c->w, wb, xb, 256))
                    fail_msg("%s: block %lld: %.9g, formula %.9g", kv_type_name(c->w),
                             (long long)b, out, k_formula(c->w, wb, xb, 256));
            }
            free(wq);
            free(xq);
            free(wd);
            free(xd);
        }
    }
    free(wf);
    free(xf);
}

// ---- the pairing table ----

static void test_pair_table(void **state) {
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        const kv__dot_pair *p = kv__dot_pair_ref(CASES[i].w);
        assert_non_null(p);
        assert_int_equal(p->act, CASES[i].act);
        assert_ptr_equal(p->dot, CASES[i].dot);
    }
    // activation-only, unimplemented, removed and unknown ids have no dot product
    static const int NONE[] = {KV_TYPE_Q8_1, KV_TYPE_Q8_K, KV_TYPE_I8,    KV_TYPE_F64,
                               KV_TYPE_MXFP4, 4,           31,            KV_TYPE_COUNT, -1};
    for (size_t i = 0; i < sizeof NONE / sizeof NONE[0]; i++)
        assert_null(kv__dot_pair_ref((kv_type)NONE[i]));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_block),        cmocka_unit_test(test_many_blocks),
        cmocka_unit_test(test_zeros),            cmocka_unit_test(test_constant_rows),
        cmocka_unit_test(test_large_values),     cmocka_unit_test(test_float_types_sum_in_double),
        cmocka_unit_test(test_q8_0_exact),
        cmocka_unit_test(test_single_scale_exact), cmocka_unit_test(test_min_types_exact),
        cmocka_unit_test(test_super_block_float_order),
        cmocka_unit_test(test_pair_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
