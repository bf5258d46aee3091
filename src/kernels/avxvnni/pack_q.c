// AVX-VNNI build of the packed Q4_0 tile (avx2/pack_q.h): dpbusd forms the
// int32 sums that maddubs + madd form in the AVX2 build, so both give the same
// bits. Compiled with -mavxvnni on x86-64.
#if defined(__AVXVNNI__)
#include "kernels/avx2/avx2.h"

#define TILE_SUFFIX _avxvnni
#define TILE_VNNI 1
#include "kernels/avx2/pack_q.h"

PACK_Q_DEFINE(q4_0_q8_0)

#endif
