// AVX2 dot products and register tiles of Q4_0 and Q8_0 weights against Q8_0
// activations (the tile templates and their arithmetic: tile_q.h; the
// references: ref/dot_q.c).
#if defined(__AVX2__)
#include "kernels/avx2/avx2.h"

#define TILE_SUFFIX _avx2
#include "kernels/avx2/tile_q.h"

TILE_DEFINE(q4_0_q8_0, false, kv_block_q4_0)
TILE_DEFINE(q8_0_q8_0, true, kv_block_q8_0)

#endif
