// AVX2 dot products and register tiles of Q4_K and Q6_K weights against Q8_K
// activations (the tile templates and their arithmetic: tile_k.h; the
// references: ref/dot_k.c).
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#define TILE_SUFFIX _avx2
#include "kernels/avx2/tile_k.h"

TILE_K_DEFINE(q4_k_q8_k, tile_q4_k, rows_q4_k)
TILE_K_DEFINE(q6_k_q8_k, tile_q6_k, rows_q6_k)

#endif
