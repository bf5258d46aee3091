// NEON kernels (src/kernels/neon) against the scalar references (kernels/ref,
// quant/q8.c): every dot product on blocks from the real quantizers, on random
// bytes (every bit pattern of the packed quants and scales), on extreme and
// all-zero blocks and subnormal scales, at sizes of one block, many blocks and
// odd tails of the SIMD loops, within named tolerances; the activation
// quantizers byte for byte, NaN, infinities, ties and tiny scales included.
// On other architectures this is one skipped test: the neon/cross test runs it
// under qemu-aarch64, and an aarch64 build runs it natively.
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"

#if defined(__aarch64__) && defined(__linux__)

#include <float.h>
#include <sys/auxv.h>

#include "kernels/neon/neon.h"
#include "kernels/ref/dot_ref.h"
#include "kvant/kv_f16.h"
#include "kvant/kv_quant.h"
#include "quant/quant_int.h"

// ---- tolerances ----
// Both kernels compute each block's (or sub-block's) integer sum exactly; they
// differ only in the float steps: a few roundings per block term (scale
// products, int -> float, fused or not) and the order of the float
// accumulation (one sum, eight lanes, or sixteen). Each rounding is at most
// 2^-24 of the magnitudes involved, bounded by MAG = sum of |w_i| * |x_i| with
// each weight's parts taken with the same sign (|d * q| + |dmin * m|), so that
// cancellation between the parts cannot hide them. Both sides can be off by
// (terms + ROUNDINGS_PER_TERM) roundings of MAG, terms being the length of the
// longest float sum: n / 16 covers the NEON lanes (sixteen of them for the float
// types) and the references' sums of block terms (at most one per 16 elements;
// the float references sum in double). Products in the subnormal range round
// absolutely, by up to 2^-150 each, n of them.
#define FLT_ROUNDING (1.0 / 16777216) // 2^-24
#define ROUNDINGS_PER_TERM 8
#define SUBNORMAL_STEP 0x1p-149

typedef struct {
    kv_type w, act;
    kv__dot_ref_fn ref, neon;
} dot_case;

static const dot_case CASES[] = {
    {KV_TYPE_F32, KV_TYPE_F32, kv_dot_f32_f32_ref, kv_dot_f32_f32_neon},
    {KV_TYPE_F16, KV_TYPE_F16, kv_dot_f16_f16_ref, kv_dot_f16_f16_neon},
    {KV_TYPE_BF16, KV_TYPE_BF16, kv_dot_bf16_bf16_ref, kv_dot_bf16_bf16_neon},
    {KV_TYPE_Q4_0, KV_TYPE_Q8_0, kv_dot_q4_0_q8_0_ref, kv_dot_q4_0_q8_0_neon},
    {KV_TYPE_Q4_1, KV_TYPE_Q8_1, kv_dot_q4_1_q8_1_ref, kv_dot_q4_1_q8_1_neon},
    {KV_TYPE_Q5_0, KV_TYPE_Q8_0, kv_dot_q5_0_q8_0_ref, kv_dot_q5_0_q8_0_neon},
    {KV_TYPE_Q5_1, KV_TYPE_Q8_1, kv_dot_q5_1_q8_1_ref, kv_dot_q5_1_q8_1_neon},
    {KV_TYPE_Q8_0, KV_TYPE_Q8_0, kv_dot_q8_0_q8_0_ref, kv_dot_q8_0_q8_0_neon},
    {KV_TYPE_IQ4_NL, KV_TYPE_Q8_0, kv_dot_iq4_nl_q8_0_ref, kv_dot_iq4_nl_q8_0_neon},
    {KV_TYPE_Q2_K, KV_TYPE_Q8_K, kv_dot_q2_k_q8_k_ref, kv_dot_q2_k_q8_k_neon},
    {KV_TYPE_Q3_K, KV_TYPE_Q8_K, kv_dot_q3_k_q8_k_ref, kv_dot_q3_k_q8_k_neon},
    {KV_TYPE_Q4_K, KV_TYPE_Q8_K, kv_dot_q4_k_q8_k_ref, kv_dot_q4_k_q8_k_neon},
    {KV_TYPE_Q5_K, KV_TYPE_Q8_K, kv_dot_q5_k_q8_k_ref, kv_dot_q5_k_q8_k_neon},
    {KV_TYPE_Q6_K, KV_TYPE_Q8_K, kv_dot_q6_k_q8_k_ref, kv_dot_q6_k_q8_k_neon},
    {KV_TYPE_IQ4_XS, KV_TYPE_Q8_K, kv_dot_iq4_xs_q8_k_ref, kv_dot_iq4_xs_q8_k_neon},
    {KV_TYPE_TQ1_0, KV_TYPE_Q8_K, kv_dot_tq1_0_q8_k_ref, kv_dot_tq1_0_q8_k_neon},
    {KV_TYPE_TQ2_0, KV_TYPE_Q8_K, kv_dot_tq2_0_q8_k_ref, kv_dot_tq2_0_q8_k_neon},
    {KV_TYPE_IQ3_XXS, KV_TYPE_Q8_K, kv_dot_iq3_xxs_q8_k_ref, kv_dot_iq3_xxs_q8_k_neon},
    {KV_TYPE_IQ3_S, KV_TYPE_Q8_K, kv_dot_iq3_s_q8_k_ref, kv_dot_iq3_s_q8_k_neon},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

enum { N_MAX = 4096 + 256 };

// ---- random numbers ----

static uint64_t rng_state;

static uint64_t rnext(void) { return kv_rand_next(&rng_state); }

static double urand(void) { return (double)(rnext() >> 11) * (1.0 / 9007199254740992.0); }

// Bell-shaped values whose scale changes every 256, like weights and activations.
static void fill_random(float *v, int64_t n, uint64_t seed) {
    rng_state = seed;
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((urand() + urand() + urand() - 1.5) * (1 + (i / 256) % 5));
}

static int block_size(kv_type t) { return kv_type_get(t)->block_size; }
static bool is_float(kv_type t) {
    return t == KV_TYPE_F32 || t == KV_TYPE_F16 || t == KV_TYPE_BF16;
}

// ---- the comparison ----

// MAG (see the tolerances) of w . x: each side dequantized with the sign of
// its scales chosen so that the parts of a weight add up (sign_up).
static void sign_up(kv_type t, void *q, int64_t n);

static double magnitude(const dot_case *c, const void *wq, const void *xq, int64_t n) {
    const size_t wsize = kv_type_row_size(c->w, n);
    void *wpos = malloc(wsize);
    float *wd = malloc((size_t)n * sizeof(float));
    float *xd = malloc((size_t)n * sizeof(float));
    assert_true(wpos && wd && xd);
    memcpy(wpos, wq, wsize);
    sign_up(c->w, wpos, n);
    kv_err err;
    assert_int_equal(kv_dequant_row(c->w, wpos, wd, n, &err), KV_OK);
    assert_int_equal(kv_dequant_row(c->act, xq, xd, n, &err), KV_OK);
    double mag = 0;
    for (int64_t i = 0; i < n; i++)
        mag += fabs((double)wd[i]) * fabs((double)xd[i]);
    free(wpos);
    free(wd);
    free(xd);
    return mag;
}

// Runs both kernels on n elements of wq and xq and checks that they agree
// within the tolerance; returns the NEON result.
static float check_pair(const dot_case *c, const void *wq, const void *xq, int64_t n,
                        const char *what) {
    float ref = NAN, neon = NAN;
    c->ref(n, &ref, wq, xq);
    c->neon(n, &neon, wq, xq);
    const double terms = (double)(n / 16);
    const double mag = magnitude(c, wq, xq, n);
    const double tol =
        2 * (terms + ROUNDINGS_PER_TERM) * FLT_ROUNDING * mag + (double)(n + 16) * SUBNORMAL_STEP;
    if (!isfinite(mag) || !isfinite(ref))
        fail_msg("%s (%s, n=%lld): test data out of range (ref %g, MAG %g)", kv_type_name(c->w),
                 what, (long long)n, ref, mag);
    if (!(fabs((double)neon - ref) <= tol))
        fail_msg("%s.%s (%s, n=%lld): neon %.9g, ref %.9g (diff %.3g, tolerance %.3g)",
                 kv_type_name(c->w), kv_type_name(c->act), what, (long long)n, neon, ref,
                 fabs((double)neon - ref), tol);
    return neon;
}

// ---- blocks of chosen bytes ----

typedef enum { SCALE_RANDOM, SCALE_MAX, SCALE_SUBNORMAL } scale_kind;

static kv_f16 pick_f16(scale_kind k) {
    const uint16_t sign = (rnext() & 1) ? 0x8000 : 0;
    switch (k) {
    case SCALE_MAX: return (kv_f16)(sign | 0x7BFF); // 65504
    case SCALE_SUBNORMAL: return (kv_f16)(sign | (1 + rnext() % 0x3FF));
    default: return kv_f32_to_f16((float)(2 * urand() - 1));
    }
}

// Where the half-precision scales of each block type are: d, and the minimum's
// scale if any (-1: none), which is added (Q4_1/Q5_1: w = d * q + m) or
// subtracted (Q2_K/Q4_K/Q5_K: w = d * sc * q - dmin * m).
typedef struct {
    kv_type t;
    size_t d;
    ptrdiff_t min;
    bool min_subtracted;
} scale_layout;

#define ONE_SCALE(T, type)                                                                         \
    { T, offsetof(type, d), -1, false }
static const scale_layout LAYOUTS[] = {
    ONE_SCALE(KV_TYPE_Q4_0, kv_block_q4_0),
    ONE_SCALE(KV_TYPE_Q5_0, kv_block_q5_0),
    ONE_SCALE(KV_TYPE_Q8_0, kv_block_q8_0),
    ONE_SCALE(KV_TYPE_IQ4_NL, kv_block_iq4_nl),
    ONE_SCALE(KV_TYPE_Q3_K, kv_block_q3_k),
    ONE_SCALE(KV_TYPE_Q6_K, kv_block_q6_k),
    ONE_SCALE(KV_TYPE_IQ4_XS, kv_block_iq4_xs),
    ONE_SCALE(KV_TYPE_TQ1_0, kv_block_tq1_0),
    ONE_SCALE(KV_TYPE_TQ2_0, kv_block_tq2_0),
    ONE_SCALE(KV_TYPE_IQ3_XXS, kv_block_iq3_xxs),
    ONE_SCALE(KV_TYPE_IQ3_S, kv_block_iq3_s),
    ONE_SCALE(KV_TYPE_Q8_1, kv_block_q8_1),
    {KV_TYPE_Q4_1, offsetof(kv_block_q4_1, d), offsetof(kv_block_q4_1, m), false},
    {KV_TYPE_Q5_1, offsetof(kv_block_q5_1, d), offsetof(kv_block_q5_1, m), false},
    {KV_TYPE_Q2_K, offsetof(kv_block_q2_k, d), offsetof(kv_block_q2_k, dmin), true},
    {KV_TYPE_Q4_K, offsetof(kv_block_q4_k, d), offsetof(kv_block_q4_k, dmin), true},
    {KV_TYPE_Q5_K, offsetof(kv_block_q5_k, d), offsetof(kv_block_q5_k, dmin), true},
};

static const scale_layout *layout(kv_type t) {
    for (size_t i = 0; i < sizeof LAYOUTS / sizeof LAYOUTS[0]; i++)
        if (LAYOUTS[i].t == t)
            return &LAYOUTS[i];
    return NULL;
}

static void put_f16(uint8_t *p, kv_f16 h) { memcpy(p, &h, sizeof h); }

// Q8_1's s and Q8_K's bsums become the block's own sums, as their quantizers
// write them; Q8_K's float d gets a value of kind k (SCALE_MAX: 2^66, large
// but far from overflow in the dot products).
static void fix_activation_sums(kv_type t, void *blk, scale_kind k) {
    if (t == KV_TYPE_Q8_1) {
        kv_block_q8_1 *p = blk;
        if (k == SCALE_MAX) // s = d * sum(q) must stay a finite half: |sum| <= 4096
            p->d = kv_f32_to_f16(rnext() & 1 ? -15.5f : 15.5f);
        int sum = 0;
        for (int j = 0; j < 32; j++)
            sum += p->qs[j];
        p->s = kv_f32_to_f16((float)sum * kv_f16_to_f32(p->d));
    } else if (t == KV_TYPE_Q8_K) {
        kv_block_q8_k *p = blk;
        p->d = k == SCALE_MAX ? (rnext() & 1 ? -0x1p66f : 0x1p66f) : kv_f16_to_f32(pick_f16(k));
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += p->qs[16 * g + j];
            p->bsums[g] = (int16_t)sum;
        }
    }
}

// Sets the scales of nb blocks of type t to finite values of kind k; the quant
// bytes stay as they are.
static void set_scales(kv_type t, void *q, int64_t nb, scale_kind k) {
    const scale_layout *l = layout(t);
    const size_t size = kv_type_row_size(t, block_size(t));
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = (uint8_t *)q + b * size;
        if (l != NULL) {
            put_f16(blk + l->d, pick_f16(k));
            if (l->min >= 0)
                put_f16(blk + l->min, pick_f16(k));
        }
        fix_activation_sums(t, blk, k);
    }
}

// Flips signs so that each weight's parts add: d >= 0, and the minimum part
// positive (m >= 0 where added, dmin <= 0 where subtracted).
static void sign_up(kv_type t, void *q, int64_t n) {
    const scale_layout *l = layout(t);
    if (l == NULL || l->min < 0)
        return; // one part: |dequantized| is its magnitude
    const size_t size = kv_type_row_size(t, block_size(t));
    for (int64_t b = 0; b < n / block_size(t); b++) {
        uint8_t *blk = (uint8_t *)q + b * size;
        kv_f16 d, m;
        memcpy(&d, blk + l->d, sizeof d);
        memcpy(&m, blk + l->min, sizeof m);
        put_f16(blk + l->d, (kv_f16)(d & 0x7FFF));
        put_f16(blk + l->min, (kv_f16)(l->min_subtracted ? m | 0x8000 : m & 0x7FFF));
    }
}

// n elements of type t: random bytes (pattern < 0) or every byte = pattern,
// then scales of kind k. Float types get random finite values instead.
static void *raw_row(kv_type t, int64_t n, int pattern, scale_kind k) {
    const size_t size = kv_type_row_size(t, n);
    uint8_t *q = malloc(size);
    assert_non_null(q);
    if (is_float(t)) {
        float *f = malloc((size_t)n * sizeof(float));
        assert_non_null(f);
        for (int64_t i = 0; i < n; i++)
            f[i] = (float)(2 * urand() - 1);
        kv_err err;
        assert_int_equal(kv_quant_rows(t, f, q, 1, n, NULL, &err), KV_OK);
        free(f);
        return q;
    }
    for (size_t i = 0; i < size; i++)
        q[i] = (uint8_t)(pattern < 0 ? rnext() : (uint64_t)pattern);
    set_scales(t, q, n / block_size(t), k);
    return q;
}

static void *quantize(kv_type t, const float *v, int64_t n) {
    void *q = malloc(kv_type_row_size(t, n));
    assert_non_null(q);
    kv_err err;
    if (kv_quant_rows(t, v, q, 1, n, NULL, &err) != KV_OK)
        fail_msg("quantize %s: %s", kv_type_name(t), err.msg);
    return q;
}

// Sizes: one block, two, three (an odd block after the two-block steps), many,
// many plus one; float types also cut the 16-lane steps at every offset.
static int sizes(const dot_case *c, int64_t out[16]) {
    const int64_t bs = block_size(c->w);
    if (is_float(c->w)) {
        static const int64_t F[] = {1, 7, 15, 16, 17, 31, 33, 100, 4096, 4099};
        memcpy(out, F, sizeof F);
        return (int)(sizeof F / sizeof F[0]);
    }
    const int64_t many = 4096 / bs;
    const int64_t nbs[] = {1, 2, 3, 5, many, many + 1};
    for (int i = 0; i < 6; i++)
        out[i] = nbs[i] * bs;
    return 6;
}

// ---- dot products ----

static void test_dots_quantized(void **state) {
    (void)state;
    float *wf = malloc(N_MAX * sizeof(float)), *xf = malloc(N_MAX * sizeof(float));
    for (size_t i = 0; i < N_CASES; i++) {
        const dot_case *c = &CASES[i];
        int64_t ns[16];
        const int k = sizes(c, ns);
        for (uint64_t seed = 1; seed <= 3; seed++) {
            fill_random(wf, N_MAX, seed * 31);
            fill_random(xf, N_MAX, seed * 131);
            for (int64_t j = 0; j < N_MAX; j += 97) // activation outliers, as in real models
                xf[j] *= 40;
            for (int s = 0; s < k; s++) {
                void *wq = quantize(c->w, wf, ns[s]), *xq = quantize(c->act, xf, ns[s]);
                check_pair(c, wq, xq, ns[s], "quantized");
                free(wq);
                free(xq);
            }
        }
    }
    free(wf);
    free(xf);
}

// Random bytes: every bit of the packed quants, scales and high bits matters.
static void test_dots_random_bytes(void **state) {
    (void)state;
    rng_state = 0x5eed;
    for (size_t i = 0; i < N_CASES; i++) {
        const dot_case *c = &CASES[i];
        int64_t ns[16];
        const int k = sizes(c, ns);
        for (int rep = 0; rep < 4; rep++)
            for (int s = 0; s < k; s++) {
                void *wq = raw_row(c->w, ns[s], -1, SCALE_RANDOM);
                void *xq = raw_row(c->act, ns[s], -1, SCALE_RANDOM);
                check_pair(c, wq, xq, ns[s], "random bytes");
                free(wq);
                free(xq);
            }
    }
}

// Every byte the same: largest quants (0xFF, 0x7F), most negative (0x80),
// alternating bits, with the largest half scales.
static void test_dots_extremes(void **state) {
    (void)state;
    static const int PATTERNS[] = {0xFF, 0x80, 0x7F, 0x55, 0xAA, 0x01};
    enum { NP = sizeof PATTERNS / sizeof PATTERNS[0] };
    rng_state = 99;
    for (size_t i = 0; i < N_CASES; i++) {
        const dot_case *c = &CASES[i];
        if (is_float(c->w))
            continue; // test_float_extremes
        const int64_t n = 5 * block_size(c->w);
        for (int pw = 0; pw < NP; pw++)
            for (int px = 0; px < NP; px++) {
                void *wq = raw_row(c->w, n, PATTERNS[pw], SCALE_MAX);
                void *xq = raw_row(c->act, n, PATTERNS[px], SCALE_MAX);
                check_pair(c, wq, xq, n, "extreme bytes");
                free(wq);
                free(xq);
            }
    }
}

static void test_dots_subnormal_scales(void **state) {
    (void)state;
    rng_state = 1234;
    for (size_t i = 0; i < N_CASES; i++) {
        const dot_case *c = &CASES[i];
        if (is_float(c->w))
            continue;
        const int64_t n = 3 * block_size(c->w);
        for (int rep = 0; rep < 20; rep++) {
            void *wq = raw_row(c->w, n, -1, SCALE_SUBNORMAL);
            void *xq = raw_row(c->act, n, -1, rep % 2 ? SCALE_SUBNORMAL : SCALE_RANDOM);
            check_pair(c, wq, xq, n, "subnormal scales");
            free(wq);
            free(xq);
        }
    }
}

static void test_dots_zeros(void **state) {
    (void)state;
    rng_state = 7;
    for (size_t i = 0; i < N_CASES; i++) {
        const dot_case *c = &CASES[i];
        const int64_t n = 3 * block_size(c->w) * (is_float(c->w) ? 32 : 1);
        void *zw = calloc(1, kv_type_row_size(c->w, n)),
             *zx = calloc(1, kv_type_row_size(c->act, n));
        void *w = raw_row(c->w, n, -1, SCALE_RANDOM), *x = raw_row(c->act, n, -1, SCALE_RANDOM);
        assert_true(check_pair(c, zw, x, n, "zero weights") == 0.0f);
        assert_true(check_pair(c, w, zx, n, "zero activations") == 0.0f);
        assert_true(check_pair(c, zw, zx, n, "all zero") == 0.0f);
        free(zw);
        free(zx);
        free(w);
        free(x);
    }
}

// Float inputs near the top of each format (products kept finite by a tiny
// other side), and subnormal inputs.
static void test_float_extremes(void **state) {
    (void)state;
    enum { N = 1027 };
    static float wf[N], xf[N];
    static const struct {
        const char *what;
        float wmax, xmax;
    } R[] = {
        {"near the largest floats", 0x1p127f, 0x1p-110f}, // bf16's largest is 2^128 - 2^120
        {"largest halves", 65504.0f, 65504.0f},
        {"subnormal floats", 0x1p-130f, 1.0f},
        {"subnormal halves", 0x1p-16f, 0x1p-16f}, // products of halves down to 2^-24
    };
    rng_state = 4242;
    for (size_t r = 0; r < sizeof R / sizeof R[0]; r++)
        for (size_t i = 0; i < 3; i++) {
            const dot_case *c = &CASES[i]; // F32, F16, BF16
            if (c->w == KV_TYPE_F16 && R[r].wmax > 65504.0f)
                continue; // not a half
            for (int j = 0; j < N; j++) {
                wf[j] = (float)((2 * urand() - 1) * R[r].wmax);
                xf[j] = (float)((2 * urand() - 1) * R[r].xmax);
            }
            void *wq = quantize(c->w, wf, N), *xq = quantize(c->act, xf, N);
            for (int64_t n = N - 4; n <= N; n++)
                check_pair(c, wq, xq, n, R[r].what);
            free(wq);
            free(xq);
        }
}

// The cases cover every pair of the reference pairing table, but for the
// lattice i-quants, whose NEON kernels test_kernels_iq.c checks (bit for bit).
static void test_cases_cover_pairs(void **state) {
    (void)state;
    for (int t = 0; t < KV_TYPE_COUNT; t++) {
        const kv__dot_pair *p = kv__dot_pair_ref((kv_type)t);
        if (p == NULL || t == KV_TYPE_IQ2_XXS || t == KV_TYPE_IQ2_XS || t == KV_TYPE_IQ2_S ||
            t == KV_TYPE_IQ1_S || t == KV_TYPE_IQ1_M)
            continue;
        bool found = false;
        for (size_t i = 0; i < N_CASES; i++)
            if (CASES[i].w == (kv_type)t) {
                assert_int_equal(CASES[i].act, p->act);
                assert_true(CASES[i].ref == p->dot);
                found = true;
            }
        if (!found)
            fail_msg("no NEON dot for %s", kv_type_name((uint32_t)t));
    }
}

// ---- activation quantizers: byte-identical ----

typedef struct {
    kv_type t;
    void (*neon)(const float *x, void *y, int64_t n);
    void (*ref)(const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                const float *imatrix);
} act_case;

static const act_case ACTS[] = {
    {KV_TYPE_Q8_0, kv_from_float_q8_0_neon, kv__quantize_q8_0},
    {KV_TYPE_Q8_1, kv_from_float_q8_1_neon, kv__quantize_q8_1},
    {KV_TYPE_Q8_K, kv_from_float_q8_k_neon, kv__quantize_q8_k},
};
#define N_ACTS (sizeof ACTS / sizeof ACTS[0])

static void check_act(const act_case *a, const float *x, int64_t n, const char *what) {
    const size_t size = kv_type_row_size(a->t, n);
    uint8_t *want = malloc(size), *got = malloc(size);
    assert_true(want && got);
    memset(want, 0xA5, size);
    memset(got, 0x5A, size);
    a->ref(x, want, 1, n, NULL);
    a->neon(x, got, n);
    for (size_t i = 0; i < size; i++)
        if (want[i] != got[i])
            fail_msg("%s (%s, n=%lld): byte %zu (block %zu) is 0x%02x, reference 0x%02x",
                     kv_type_name(a->t), what, (long long)n, i,
                     i / kv_type_row_size(a->t, block_size(a->t)), got[i], want[i]);
    free(want);
    free(got);
}

static void test_act_random(void **state) {
    (void)state;
    float *x = malloc(N_MAX * sizeof(float));
    for (size_t i = 0; i < N_ACTS; i++)
        for (uint64_t seed = 1; seed <= 8; seed++) {
            fill_random(x, N_MAX, seed);
            for (int64_t j = 0; j < N_MAX; j += 61)
                x[j] *= (float)(seed * seed); // outliers
            const int64_t bs = block_size(ACTS[i].t);
            check_act(&ACTS[i], x, bs, "one block");
            check_act(&ACTS[i], x, (N_MAX / bs) * bs, "many blocks");
        }
    free(x);
}

// Scaled values exactly halfway between integers: Q8_0/Q8_1 round them away
// from zero (roundf), Q8_K to even (ggml's nearest_int).
static void test_act_ties(void **state) {
    (void)state;
    float x[256];
    for (int j = 0; j < 256; j++) // max |x| 127 gives d = 1 (Q8_0) and iscale = -1 (Q8_K)
        x[j] = j % 32 == 0 ? 127.0f : (float)(j % 64 - 32) + 0.5f;
    for (size_t i = 0; i < N_ACTS; i++)
        check_act(&ACTS[i], x, 256, "ties");
    kv_block_q8_0 b;
    kv_from_float_q8_0_neon(x, &b, 32); // x[1] = -30.5: away from zero is -31
    assert_int_equal(b.qs[1], -31);
    kv_block_q8_k bk;
    kv_from_float_q8_k_neon(x, &bk, 256); // iscale -1: 30.5, to even, is 30
    assert_int_equal(bk.qs[1], 30);
}

// Zeros, one sign of the maximum then the other, tiny blocks whose inverse
// scale overflows, huge values, NaN and infinities.
static void test_act_special(void **state) {
    (void)state;
    static const float TINY[] = {1e-45f, 1e-40f, 1e-38f, 3e-37f, 1e-36f, 1e-30f};
    float x[256];
    for (size_t i = 0; i < N_ACTS; i++) {
        const act_case *a = &ACTS[i];
        memset(x, 0, sizeof x);
        check_act(a, x, 256, "zeros");
        x[3] = -0.0f;
        check_act(a, x, 256, "zeros and -0");
        fill_random(x, 256, 17);
        x[5] = 9.0f;
        x[9] = -9.0f; // same magnitude, later: the first one's sign wins
        check_act(a, x, 256, "max magnitude twice");
        for (size_t t = 0; t < sizeof TINY / sizeof TINY[0]; t++) {
            fill_random(x, 256, 18 + t);
            for (int j = 0; j < 256; j++)
                x[j] *= TINY[t];
            check_act(a, x, 256, "tiny values");
        }
        fill_random(x, 256, 30);
        x[7] = FLT_MAX;
        x[100] = -FLT_MAX;
        check_act(a, x, 256, "largest floats");
        // NaNs with payload bits: ggml's nearest_int turns those into numbers
        const float BAD[] = {NAN,
                             -NAN,
                             INFINITY,
                             -INFINITY,
                             kv_f32_from_bits(0x7FC12345u),
                             kv_f32_from_bits(0xFFD00007u)};
        for (size_t b = 0; b < sizeof BAD / sizeof BAD[0]; b++) {
            fill_random(x, 256, 40 + b);
            x[33] = BAD[b];
            check_act(a, x, 256, "NaN or infinity");
            for (int j = 0; j < 256; j++)
                x[j] = j % 2 ? BAD[b] : 0.0f;
            check_act(a, x, 256, "NaN or infinity and zeros");
        }
    }
}

// A NEON quantizer feeding a NEON dot equals the references end to end.
static void test_act_then_dot(void **state) {
    (void)state;
    enum { N = 1024 };
    static float wf[N], xf[N];
    fill_random(wf, N, 3);
    fill_random(xf, N, 4);
    for (size_t i = 0; i < N_CASES; i++) {
        const dot_case *c = &CASES[i];
        if (is_float(c->w))
            continue;
        const act_case *a = NULL;
        for (size_t j = 0; j < N_ACTS; j++)
            if (ACTS[j].t == c->act)
                a = &ACTS[j];
        assert_non_null(a);
        void *wq = quantize(c->w, wf, N), *xq = malloc(kv_type_row_size(c->act, N));
        a->neon(xf, xq, N);
        check_pair(c, wq, xq, N, "NEON-quantized activations");
        free(wq);
        free(xq);
    }
}

// The kernels need ARMv8.2 dotprod; a CPU without it (Cortex-A53/A72) skips.
static bool cpu_has_dotprod(void) { return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0; }

static void test_no_dotprod(void **state) {
    (void)state;
    print_message("skipped: this CPU has no ARMv8.2 dot-product instructions\n");
    skip();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_cover_pairs),
        cmocka_unit_test(test_dots_quantized),
        cmocka_unit_test(test_dots_random_bytes),
        cmocka_unit_test(test_dots_extremes),
        cmocka_unit_test(test_dots_subnormal_scales),
        cmocka_unit_test(test_dots_zeros),
        cmocka_unit_test(test_float_extremes),
        cmocka_unit_test(test_act_random),
        cmocka_unit_test(test_act_ties),
        cmocka_unit_test(test_act_special),
        cmocka_unit_test(test_act_then_dot),
    };
    const struct CMUnitTest none[] = {cmocka_unit_test(test_no_dotprod)};
    if (!cpu_has_dotprod())
        return cmocka_run_group_tests(none, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else // no NEON kernels in this build

static void test_no_neon(void **state) {
    (void)state;
    print_message("skipped: not an aarch64 Linux build; the neon/cross test runs this file "
                  "under qemu-aarch64\n");
    skip();
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_no_neon)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
