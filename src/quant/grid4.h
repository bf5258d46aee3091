// The 4-wide codebooks of IQ3_XXS (256 points) and IQ3_S (512 points), and the
// tables their quantizers search: a map from every 4-tuple of levels to its
// point (or to a list of its nearest points when it is not one).
//
// A point is 4 levels l_j in 0..7, named by its 12-bit code sum l_j << 3j. The
// quantizers measure in the odd values v = 2l + 1 (1..15), so distances below
// are sums of (2l + 1 - 2l' - 1)^2 over the 4 coordinates.
#ifndef KV_QUANT_GRID4_H
#define KV_QUANT_GRID4_H

#include <stdint.h>

typedef struct {
    int size;                 // 256 or 512 points
    const int8_t (*odd)[4];   // point i's coordinates as 2l + 1
    const int32_t *map;       // code -> point index i >= 0, or -(1 + o) when the code
                              // is not a point: neighbours[o] is the count n, and
                              // neighbours[o + 1 .. o + n] its nearest points
    const uint16_t *neighbours;
} kv__grid4;

// The grid of 256 (IQ3_XXS) or 512 (IQ3_S) points; NULL for another size. Built
// once on first use, thread-safe; never freed.
const kv__grid4 *kv__grid4_get(int size);

// The 12-bit codes of the grid's points, ascending (the point's index is its rank).
void kv__grid4_codes(int size, uint16_t *codes);

#endif
