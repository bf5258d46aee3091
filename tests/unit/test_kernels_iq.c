// Dot products of the 8-wide lattice i-quants (IQ2_XXS/XS/S, IQ1_S/M) with
// Q8_K: the scalar reference against the dequantized rows' exact dot (within
// the float rounding of one term per super-block), and on x86-64 with AVX2 the
// AVX2 kernels equal to the reference bit for bit, on quantized rows and on
// random block bytes (every index, sign and scale pattern), at 1..129 blocks;
// on aarch64 with dotprod the NEON kernels the same way (tests/cross, qemu).
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/dot_ref.h"
#include "kv_rand.h"
#include "kv_test.h"
#include "kvant/kv_blocks.h"
#include "kvant/kv_quant.h"
#if defined(__x86_64__)
#include "kernels/avx2/avx2.h"
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>

#include "kernels/neon/neon.h"
#endif

typedef void (*dot_fn)(int64_t n, float *out, const void *w, const void *x);

typedef struct {
    kv_type w;
    dot_fn ref;
    dot_fn avx2; // NULL off x86-64
    dot_fn neon; // NULL off aarch64
} iq_case;

#if defined(__x86_64__)
#define AVX2(f) f
#else
#define AVX2(f) NULL
#endif
#if defined(__aarch64__)
#define NEON(f) f
#else
#define NEON(f) NULL
#endif

static const iq_case CASES[] = {
    {KV_TYPE_IQ2_XXS, kv_dot_iq2_xxs_q8_k_ref, AVX2(kv_dot_iq2_xxs_q8_k_avx2),
     NEON(kv_dot_iq2_xxs_q8_k_neon)},
    {KV_TYPE_IQ2_XS, kv_dot_iq2_xs_q8_k_ref, AVX2(kv_dot_iq2_xs_q8_k_avx2),
     NEON(kv_dot_iq2_xs_q8_k_neon)},
    {KV_TYPE_IQ2_S, kv_dot_iq2_s_q8_k_ref, AVX2(kv_dot_iq2_s_q8_k_avx2),
     NEON(kv_dot_iq2_s_q8_k_neon)},
    {KV_TYPE_IQ1_S, kv_dot_iq1_s_q8_k_ref, AVX2(kv_dot_iq1_s_q8_k_avx2),
     NEON(kv_dot_iq1_s_q8_k_neon)},
    {KV_TYPE_IQ1_M, kv_dot_iq1_m_q8_k_ref, AVX2(kv_dot_iq1_m_q8_k_avx2),
     NEON(kv_dot_iq1_m_q8_k_neon)},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static const int64_t N_BLOCKS[] = {1, 2, 3, 7, 16, 17, 129};
#define N_SIZES (sizeof N_BLOCKS / sizeof N_BLOCKS[0])
enum { QK = 256, N_MAX = 129 * QK };

static uint64_t rng = 1;

static double urand(void) { return kv_rand_u01(&rng); }

static bool have_avx2(void) {
#if defined(__x86_64__)
    return kv__cpu_has_avx2();
#else
    return false;
#endif
}

static bool have_neon(void) {
#if defined(__aarch64__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return false;
#endif
}

static void *quantize(kv_type t, const float *v, int64_t n, const float *imatrix) {
    void *q = malloc(kv_type_row_size(t, n));
    assert_non_null(q);
    kv_err err = {0};
    if (kv_quant_rows(t, v, q, 1, n, imatrix, &err) != KV_OK)
        fail_msg("quantize %s: %s", kv_type_name(t), err.msg);
    return q;
}

// Random block bytes with sane F16 scales (Q8_K: quants within +-127, bsums to match).
static void *random_blocks(kv_type t, int64_t n) {
    const size_t size = kv_type_row_size(t, n), bs = kv_type_get(t)->type_size;
    uint8_t *p = malloc(size);
    assert_non_null(p);
    for (size_t i = 0; i < size; i++)
        p[i] = (uint8_t)kv_rand_next(&rng);
    for (uint8_t *b = p; b < p + size; b += bs) {
        const float d = (float)ldexp(1.0 + urand(), (int)(kv_rand_next(&rng) % 12) - 9) *
                        ((kv_rand_next(&rng) & 1) ? -1.f : 1.f);
        if (t == KV_TYPE_Q8_K) {
            kv_block_q8_k *y = (kv_block_q8_k *)b;
            y->d = d;
            for (int g = 0; g < 16; g++) {
                int s = 0;
                for (int j = 0; j < 16; j++) {
                    if (y->qs[16 * g + j] == -128)
                        y->qs[16 * g + j] = -127;
                    s += y->qs[16 * g + j];
                }
                y->bsums[g] = (int16_t)s;
            }
        } else if (t == KV_TYPE_IQ1_M) { // d: the top nibbles of the 4 scale words
            const kv_f16 h = kv_f32_to_f16(d);
            kv_block_iq1_m *y = (kv_block_iq1_m *)b;
            for (int k = 0; k < 4; k++) {
                uint16_t s;
                memcpy(&s, y->scales + 2 * k, 2);
                s = (uint16_t)((s & 0x0fff) | (((h >> (4 * k)) & 0xf) << 12));
                memcpy(y->scales + 2 * k, &s, 2);
            }
        } else {
            const kv_f16 h = kv_f32_to_f16(d); // d is the first field of these blocks
            memcpy(b, &h, sizeof h);
        }
    }
    return p;
}

// The exact dot of the dequantized rows, and the sum of |w| |x|.
static double exact_dot(kv_type t, const void *w, const void *x, int64_t n, double *mag) {
    float *wf = malloc(sizeof(float) * (size_t)n), *xf = malloc(sizeof(float) * (size_t)n);
    assert_true(wf && xf);
    kv_err err = {0};
    assert_int_equal(kv_dequant_row(t, w, wf, n, &err), KV_OK);
    assert_int_equal(kv_dequant_row(KV_TYPE_Q8_K, x, xf, n, &err), KV_OK);
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)wf[i] * xf[i];
        m += fabs((double)wf[i] * xf[i]);
    }
    free(wf);
    free(xf);
    *mag = m;
    return s;
}

static void check(const iq_case *c, const void *w, const void *x, int64_t n, const char *what) {
    float ref = NAN;
    c->ref(n, &ref, w, x);
    double mag;
    const double want = exact_dot(c->w, w, x, n, &mag);
    // One rounded term per super-block and the sums; the dequantizer's own
    // roundings (d * scale * grid) add a few ulps per element.
    const double tol = (double)(n / QK + 8) * 4 * FLT_EPSILON * mag + 1e-30;
    if (!(fabs(ref - want) <= tol))
        fail_msg("%s (%s, n=%lld): reference %.9g, exact %.9g, tolerance %.3g",
                 kv_type_name(c->w), what, (long long)n, ref, want, tol);
    if (c->avx2 && have_avx2()) {
        float got = NAN;
        c->avx2(n, &got, w, x);
        if (memcmp(&got, &ref, sizeof got) != 0)
            fail_msg("%s (%s, n=%lld): avx2 %.9g, reference %.9g", kv_type_name(c->w), what,
                     (long long)n, got, ref);
    }
    if (c->neon && have_neon()) {
        float got = NAN;
        c->neon(n, &got, w, x);
        if (memcmp(&got, &ref, sizeof got) != 0)
            fail_msg("%s (%s, n=%lld): neon %.9g, reference %.9g", kv_type_name(c->w), what,
                     (long long)n, got, ref);
    }
}

static void test_quantized_rows(void **state) {
    (void)state;
    float *wf = malloc(sizeof(float) * N_MAX), *xf = malloc(sizeof(float) * N_MAX);
    float *im = malloc(sizeof(float) * N_MAX);
    assert_true(wf && xf && im);
    for (size_t ci = 0; ci < N_CASES; ci++) {
        for (size_t si = 0; si < N_SIZES; si++) {
            const int64_t n = N_BLOCKS[si] * QK;
            rng = 1000 * ci + si + 1;
            for (int64_t i = 0; i < n; i++) {
                wf[i] = (float)((urand() + urand() + urand() - 1.5) * (1 + (i / 256) % 5));
                xf[i] = (float)((urand() + urand() + urand() - 1.5) * (i % 97 ? 1 : 40));
                im[i] = (float)(0.05 + urand());
            }
            void *w = quantize(CASES[ci].w, wf, n, im), *x = quantize(KV_TYPE_Q8_K, xf, n, NULL);
            check(&CASES[ci], w, x, n, "quantized rows");
            free(w);
            free(x);
        }
    }
    free(wf);
    free(xf);
    free(im);
}

static void test_random_bytes(void **state) {
    (void)state;
    for (size_t ci = 0; ci < N_CASES; ci++) {
        for (size_t si = 0; si < N_SIZES; si++) {
            for (uint64_t seed = 1; seed <= 3; seed++) {
                rng = seed * 7919 + 31 * ci + si;
                const int64_t n = N_BLOCKS[si] * QK;
                void *w = random_blocks(CASES[ci].w, n), *x = random_blocks(KV_TYPE_Q8_K, n);
                check(&CASES[ci], w, x, n, "random bytes");
                free(w);
                free(x);
            }
        }
    }
}

// All-zero weights or activations give exactly 0.
static void test_zeros(void **state) {
    (void)state;
    const int64_t n = 3 * QK;
    for (size_t ci = 0; ci < N_CASES; ci++) {
        rng = 77 + ci;
        void *zw = calloc(1, kv_type_row_size(CASES[ci].w, n));
        void *zx = calloc(1, kv_type_row_size(KV_TYPE_Q8_K, n));
        void *w = random_blocks(CASES[ci].w, n), *x = random_blocks(KV_TYPE_Q8_K, n);
        float out = NAN;
        CASES[ci].ref(n, &out, zw, x);
        assert_true(out == 0.0f);
        CASES[ci].ref(n, &out, w, zx);
        assert_true(out == 0.0f);
        check(&CASES[ci], zw, x, n, "zero weights");
        check(&CASES[ci], w, zx, n, "zero activations");
        free(zw);
        free(zx);
        free(w);
        free(x);
    }
}

// The runtime pairs each type with Q8_K and this reference.
static void test_pairs(void **state) {
    (void)state;
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const kv__dot_pair *p = kv__dot_pair_ref(CASES[ci].w);
        assert_non_null(p);
        assert_int_equal(p->act, KV_TYPE_Q8_K);
        assert_ptr_equal(p->dot, CASES[ci].ref);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_quantized_rows),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_zeros),
    };
    return cmocka_run_group_tests_name("kernels_iq", tests, NULL, NULL);
}
