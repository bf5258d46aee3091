// AVX-VNNI builds of the packed K-quant tiles (avx2/pack_k.h): dpbusd forms the
// int32 sums that maddubs + madd form in the AVX2 build, so both give the same
// bits. Compiled with -mavxvnni on x86-64.
#if defined(__AVXVNNI__)
#include "kernels/avx2/avx2.h"

#include <string.h>

#define TILE_SUFFIX _avxvnni
#define TILE_VNNI 1
#include "kernels/avx2/pack_k.h"

PACK_K_DEFINE(q4_k_q8_k, kv_q4_k_x8, packed_q4_k)
PACK_K_DEFINE(q6_k_q8_k, kv_q6_k_x8, packed_q6_k)
PACK_K_DEFINE(q5_k_q8_k, kv_q5_k_x8, packed_q5_k)
PACK_K_DEFINE(iq4_xs_q8_k, kv_iq4_xs_x8, packed_iq4_xs)

#endif
