// AVX-VNNI builds of the Q4_0 and Q8_0 dot products and tiles of
// avx2/tile_q.h: dpbusd forms the int32 sums that maddubs + madd form in the
// AVX2 build, so both give the same bits. Compiled with -mavxvnni on x86-64;
// dispatch uses it only on CPUs that report AVX-VNNI.
#if defined(__AVXVNNI__)
#include "kernels/avx2/avx2.h"

#define TILE_SUFFIX _avxvnni
#define TILE_VNNI 1
#include "kernels/avx2/tile_q.h"

TILE_DEFINE(q4_0_q8_0, false, kv_block_q4_0)
TILE_DEFINE(q8_0_q8_0, true, kv_block_q8_0)

#endif
