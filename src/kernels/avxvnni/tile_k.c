// AVX-VNNI builds of the Q4_K, Q5_K, Q6_K and IQ4_XS dot products and tiles of
// avx2/tile_k.h: dpwssd forms the int32 sums that madd + add form in the AVX2
// build, so both give the same bits. Compiled with -mavxvnni on x86-64.
#if defined(__AVXVNNI__)
#include "kernels/avx2/avx2.h"

#define TILE_SUFFIX _avxvnni
#define TILE_VNNI 1
#include "kernels/avx2/tile_k.h"

TILE_K_DEFINE(q4_k_q8_k, tile_q4_k, rows_q4_k)
TILE_K_DEFINE(q6_k_q8_k, tile_q6_k, rows_q6_k)
TILE_K_DEFINE(q5_k_q8_k, tile_q5_k, rows_q5_k)
TILE_K_DEFINE(iq4_xs_q8_k, tile_iq4_xs, rows_iq4_xs)

#endif
