// F16 -> F32 rows with F16C (vcvtph2ps), beside the scalar twin in f16.c. Only
// this function gets the AVX/F16C target; kv_f16_to_f32_row picks it at run time.
#include "core/core_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

// AVX (which the compiler's check ties to the OS saving YMM state) and the F16C
// bit of CPUID leaf 1 (clang's __builtin_cpu_supports has no "f16c").
bool kv__have_f16c(void) {
    static int have = -1;
    if (have < 0) {
        unsigned a, b, c, d;
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) &&
                       (c & bit_F16C) != 0
                   ? 1
                   : 0;
    }
    return have == 1;
}

__attribute__((target("avx,f16c"))) void kv__f16_to_f32_row_f16c(const kv_f16 *x, float *y,
                                                                 int64_t n) {
    const __m128i exp_mask = _mm_set1_epi16(0x7c00);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128((const __m128i *)(x + i));
        // exponent all ones (Inf, NaN): the twin, so that NaN bits stay as they are
        if (_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(h, exp_mask), exp_mask)) != 0) {
            kv__f16_to_f32_row_ref(x + i, y + i, 8);
            continue;
        }
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
    kv__f16_to_f32_row_ref(x + i, y + i, n - i);
}

#else

bool kv__have_f16c(void) { return false; }

void kv__f16_to_f32_row_f16c(const kv_f16 *x, float *y, int64_t n) {
    kv__f16_to_f32_row_ref(x, y, n);
}

#endif
