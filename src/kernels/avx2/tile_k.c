// AVX2 dot products and register tiles of Q4_K, Q5_K, Q6_K and IQ4_XS weights against Q8_K
// activations (the tile templates and their arithmetic: tile_k.h; the
// references: ref/dot_k.c).
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#define TILE_SUFFIX _avx2
#include "kernels/avx2/tile_k.h"

TILE_K_DEFINE(q4_k_q8_k, tile_q4_k, rows_q4_k)
TILE_K_DEFINE(q6_k_q8_k, tile_q6_k, rows_q6_k)
TILE_K_DEFINE(q5_k_q8_k, tile_q5_k, rows_q5_k)
TILE_K_DEFINE(iq4_xs_q8_k, tile_iq4_xs, rows_iq4_xs)

#endif
