// IQ3_XXS and IQ3_S dot products against Q8_K: the scalar references against
// the dot of the dequantized rows (in double, within float rounding), and every
// SIMD twin this CPU runs (AVX2 on x86-64, NEON on aarch64) against the
// reference bit for bit, on rows from the real quantizers and on random block
// bytes (every index, sign and scale pattern) with normal, largest and
// subnormal scales, at 1, 3 and 33 super-blocks.
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"
#include "kernels/ref/dot_ref.h"
#include "kvant/kv_blocks.h"
#include "kvant/kv_f16.h"
#include "kvant/kv_quant.h"
#include "kvant/kv_types.h"

#if defined(__x86_64__)
#include "kernels/avx2/avx2.h"
#define SIMD_NAME "avx2"
#define SIMD_AVAILABLE() kv__cpu_has_avx2()
#define SIMD_XXS kv_dot_iq3_xxs_q8_k_avx2
#define SIMD_S kv_dot_iq3_s_q8_k_avx2
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>

#include "kernels/neon/neon.h"
#define SIMD_NAME "neon"
#define SIMD_AVAILABLE() ((getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0)
#define SIMD_XXS kv_dot_iq3_xxs_q8_k_neon
#define SIMD_S kv_dot_iq3_s_q8_k_neon
#endif

typedef void (*dot_fn)(int64_t n, float *out, const void *w, const void *x);

typedef struct {
    kv_type type;
    dot_fn ref;
    dot_fn simd; // NULL where this build has none
} dot_case;

static const dot_case CASES[] = {
#if defined(SIMD_XXS)
    {KV_TYPE_IQ3_XXS, kv_dot_iq3_xxs_q8_k_ref, SIMD_XXS},
    {KV_TYPE_IQ3_S, kv_dot_iq3_s_q8_k_ref, SIMD_S},
#else
    {KV_TYPE_IQ3_XXS, kv_dot_iq3_xxs_q8_k_ref, NULL},
    {KV_TYPE_IQ3_S, kv_dot_iq3_s_q8_k_ref, NULL},
#endif
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static uint64_t rng;

static double urand(void) { return kv_rand_u01(&rng); }

static void fill_bell(float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((urand() + urand() + urand() - 1.5) * (1 + (i / 256) % 5));
}

static void *quantized(kv_type t, const float *v, int64_t n) {
    void *q = malloc(kv_type_row_size(t, n));
    assert_non_null(q);
    kv_err err;
    if (kv_quant_rows(t, v, q, 1, n, NULL, &err) != KV_OK)
        fail_msg("quantize %s: %s", kv_type_name(t), err.msg);
    return q;
}

typedef enum { SCALE_NORMAL, SCALE_MAX, SCALE_SUBNORMAL } scale_kind;

static float f16_scale(scale_kind k) {
    const float sign = (kv_rand_next(&rng) & 1) ? -1.0f : 1.0f;
    switch (k) {
    case SCALE_MAX: return sign * 65504.0f;
    case SCALE_SUBNORMAL: return sign * (float)(1 + kv_rand_next(&rng) % 1023) / 16777216.0f;
    default: return sign * (float)ldexp(1.0 + urand(), (int)(kv_rand_next(&rng) % 12) - 9);
    }
}

// Random weight blocks: random bytes, the F16 d at offset 0 set to a scale of kind k.
static void *random_weights(kv_type t, int64_t n, scale_kind k) {
    const size_t size = kv_type_row_size(t, n), bs = kv_type_get(t)->type_size;
    uint8_t *p = malloc(size);
    assert_non_null(p);
    for (size_t i = 0; i < size; i++)
        p[i] = (uint8_t)kv_rand_next(&rng);
    for (size_t off = 0; off < size; off += bs) {
        const kv_f16 h = kv_f32_to_f16(f16_scale(k));
        memcpy(p + off, &h, sizeof h); // d is the first field of both layouts
    }
    return p;
}

// Random Q8_K activations: quants in [-127, 127] (the quantizer's range), d of kind k.
static kv_block_q8_k *random_act(int64_t n, scale_kind k) {
    kv_block_q8_k *x = malloc((size_t)(n / 256) * sizeof *x);
    assert_non_null(x);
    for (int64_t b = 0; b < n / 256; b++) {
        for (int j = 0; j < 256; j++)
            x[b].qs[j] = (int8_t)((int)(kv_rand_next(&rng) % 255) - 127);
        x[b].d = k == SCALE_MAX         ? 1e20f
                 : k == SCALE_SUBNORMAL ? (float)(1 + kv_rand_next(&rng) % 0x7fffff) * FLT_TRUE_MIN
                                        : (float)ldexp(1.0 + urand(), -7);
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++)
                s += x[b].qs[16 * g + j];
            x[b].bsums[g] = (int16_t)s;
        }
    }
    return x;
}

static void expect_same(const dot_case *c, int64_t n, const void *w, const void *x, const char *what) {
    float ref = 0, simd = 0;
    c->ref(n, &ref, w, x);
    if (!c->simd)
        return;
    c->simd(n, &simd, w, x);
    if (memcmp(&ref, &simd, sizeof ref) != 0)
        fail_msg("%s %s (%s, n=%lld): %.9g, reference %.9g", kv_type_name(c->type), SIMD_NAME,
                 what, (long long)n, simd, ref);
}

static bool simd_ok(void) {
#if defined(SIMD_XXS)
    if (SIMD_AVAILABLE())
        return true;
    print_message("this CPU lacks " SIMD_NAME ": references only\n");
#endif
    return false;
}

static const int64_t SIZES[] = {256, 3 * 256, 33 * 256};

// The reference against the dequantized rows' dot in double.
static void test_ref_vs_dequant(void **s) {
    (void)s;
    rng = 1;
    for (size_t ci = 0; ci < N_CASES; ci++)
        for (size_t si = 0; si < 3; si++) {
            const int64_t n = SIZES[si];
            float *v = malloc((size_t)n * sizeof *v), *a = malloc((size_t)n * sizeof *a);
            float *wf = malloc((size_t)n * sizeof *wf), *xf = malloc((size_t)n * sizeof *xf);
            fill_bell(v, n);
            fill_bell(a, n);
            void *w = quantized(CASES[ci].type, v, n);
            void *x = quantized(KV_TYPE_Q8_K, a, n);
            kv_err err;
            assert_int_equal(kv_dequant_row(CASES[ci].type, w, wf, n, &err), KV_OK);
            assert_int_equal(kv_dequant_row(KV_TYPE_Q8_K, x, xf, n, &err), KV_OK);
            double want = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                want += (double)wf[i] * xf[i];
                mag += fabs((double)wf[i] * xf[i]);
            }
            float got;
            CASES[ci].ref(n, &got, w, x);
            const double tol = (double)(n / 256 + 8) * mag / 16777216.0;
            if (!(fabs(got - want) <= tol))
                fail_msg("%s ref n=%lld: %.9g, dequantized %.9g", kv_type_name(CASES[ci].type),
                         (long long)n, got, want);
            free(v), free(a), free(wf), free(xf), free(w), free(x);
        }
}

static void test_simd_quantized_rows(void **s) {
    (void)s;
    if (!simd_ok())
        return;
    rng = 2;
    for (size_t ci = 0; ci < N_CASES; ci++)
        for (size_t si = 0; si < 3; si++) {
            const int64_t n = SIZES[si];
            float *v = malloc((size_t)n * sizeof *v), *a = malloc((size_t)n * sizeof *a);
            fill_bell(v, n);
            fill_bell(a, n);
            void *w = quantized(CASES[ci].type, v, n);
            void *x = quantized(KV_TYPE_Q8_K, a, n);
            expect_same(&CASES[ci], n, w, x, "quantized rows");
            free(v), free(a), free(w), free(x);
        }
}

static void test_simd_random_blocks(void **s) {
    (void)s;
    if (!simd_ok())
        return;
    rng = 3;
    const scale_kind kinds[] = {SCALE_NORMAL, SCALE_MAX, SCALE_SUBNORMAL};
    for (size_t ci = 0; ci < N_CASES; ci++)
        for (int rep = 0; rep < 20; rep++)
            for (size_t k = 0; k < 3; k++) {
                const int64_t n = SIZES[rep % 3];
                void *w = random_weights(CASES[ci].type, n, kinds[k]);
                kv_block_q8_k *x = random_act(n, kinds[(k + (size_t)rep) % 3]);
                expect_same(&CASES[ci], n, w, x, "random blocks");
                memset(w, 0, kv_type_row_size(CASES[ci].type, n));
                expect_same(&CASES[ci], n, w, x, "zero weights");
                free(w);
                free(x);
            }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_vs_dequant),
        cmocka_unit_test(test_simd_quantized_rows),
        cmocka_unit_test(test_simd_random_blocks),
    };
    return cmocka_run_group_tests_name("kernels_iq3", tests, NULL, NULL);
}
