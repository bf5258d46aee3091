// CPU feature checks for choosing kernel tables. Compiled without ISA flags, so
// it runs on any CPU of the architecture; the OS must also save the wide
// registers, which the compiler's cpu-supports checks include.
#define _DEFAULT_SOURCE // syscall
#include "kernels/avx2/avx2.h"
#include "kernels/amx/amx.h"
#include "kernels/avx512/avx512.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <pthread.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

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

// AMX-TILE and AMX-INT8 are CPUID leaf 7 sub-leaf 0, EDX bits 24 and 25. Linux
// hands out the tile data state (XFEATURE_XTILEDATA, 18) only on request
// (ARCH_REQ_XCOMP_PERM, 0x1023); without it the first tile instruction faults.
static bool amx_ok;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void check_amx(void) {
    unsigned a, b, c, d;
    if (!kv__cpu_has_avx512() || !__get_cpuid_count(7, 0, &a, &b, &c, &d) ||
        (d & (1u << 24)) == 0 || (d & (1u << 25)) == 0)
        return;
#if defined(__linux__)
    amx_ok = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#endif
}

bool kv__cpu_has_amx(void) {
    pthread_once(&amx_once, check_amx);
    return amx_ok;
}

#else

bool kv__cpu_has_avx2(void) { return false; }
bool kv__cpu_has_amx(void) { return false; }
bool kv__cpu_has_avx512(void) { return false; }
bool kv__cpu_has_avxvnni(void) { return false; }

#endif
