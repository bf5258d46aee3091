// The tests' random numbers: xorshift64 (Marsaglia's 13, 7, 17), the same
// sequence on every machine, so a failing case can be replayed from its seed.
// Header-only, so the cross-compiled kernel tests use it without the support
// library. The state must not be 0.
#ifndef KV_RAND_H
#define KV_RAND_H

#include <stdint.h>

// Advances *state and returns it.
static inline uint64_t kv_rand_next(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

// Uniform in [0, 1), 53 random bits.
static inline double kv_rand_u01(uint64_t *state) {
    return (double)(kv_rand_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
