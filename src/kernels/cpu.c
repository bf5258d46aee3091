// CPU feature checks for choosing kernel tables. Compiled without ISA flags, so
// it runs on any CPU of the architecture; the OS must also save the wide
// registers, which the compiler's cpu-supports checks include.
#include "kernels/avx2/avx2.h"
#include "kernels/avx512/avx512.h"

#if defined(__x86_64__)
#include <cpuid.h>

bool kv__cpu_has_avx2(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return false;
    unsigned a, b, c, d; // F16C is CPUID leaf 1, ECX bit 29 (clang's cpu-supports lacks it)
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

bool kv__cpu_has_avxvnni(void) {
    unsigned a, b, c, d; // AVX-VNNI is CPUID leaf 7 sub-leaf 1, EAX bit 4
    return kv__cpu_has_avx2() && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4)) != 0;
}

// AVX-512 F, BW, VL and VNNI (the cpu-supports checks include the OS saving
// the zmm and mask registers)
bool kv__cpu_has_avx512(void) {
    return kv__cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vnni");
}

#else

bool kv__cpu_has_avx2(void) { return false; }
bool kv__cpu_has_avx512(void) { return false; }
bool kv__cpu_has_avxvnni(void) { return false; }

#endif
