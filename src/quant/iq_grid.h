// The 8-wide lattice codebooks of IQ2_XXS, IQ2_XS, IQ2_S and IQ1_S/IQ1_M, and
// the map/neighbour tables their quantizers search (iq_grid.c says how they are
// defined and built). Shared inside quant/ only; the kernels read the stored
// grids through kv__iq_grid_u64() in kvant/kv_blocks.h.
#ifndef KV_QUANT_IQ_GRID_H
#define KV_QUANT_IQ_GRID_H

#include <stdint.h>

#include "kvant/kv_blocks.h"

// Points of {0,1,2}^8, by their base-3 number sum(level[i] * 3^i).
#define KV_IQ_GRID_SPACE 6561

typedef struct {
    int n;                  // codebook points
    const uint8_t *level;   // n x 8 levels (0..2), codebook order
    const uint64_t *stored; // n stored points, byte i = coordinate i (kv__iq_grid_u64)
    // For each point v of the space: its codebook index (>= 0), or -(o + 1)
    // where nb[o] is the length of v's neighbour list and nb[o+1..] its indexes.
    const int32_t *map;
    const uint16_t *nb;
} kv__iq_grid;

// The codebook and tables of grid g, built on first use (thread-safe). NULL
// when the tables could not be allocated (KV_ERR_NOMEM for the caller).
const kv__iq_grid *kv__iq_grid_get(kv_iq_grid_id g);

// The base-3 number of 8 levels (each 0..2).
static inline int kv__iq_grid_key(const int8_t L[8]) {
    int v = 0;
    for (int i = 7; i >= 0; i--)
        v = 3 * v + L[i];
    return v;
}

// Among the neighbour list `list` (length first), the point nearest x in the
// weighted distance sum(w[i] * (scale * value[l_i] - x[i])^2), where value maps
// a level to the quantizer's number (IQ2: 1, 3, 5; IQ1: -1, 0, 1 plus its
// shift); the first of equals wins. Writes its levels to L and returns its
// codebook index.
int kv__iq_grid_best_neighbour(const kv__iq_grid *g, const uint16_t *list, const float *x,
                               const float *w, float scale, const float value[3], int8_t L[8]);

// The sign byte for 7 stored sign bits: bit 7 makes the number of set bits even
// (IQ2/IQ3 store 7 signs per 8 values, the eighth follows from this parity).
static inline uint8_t kv__iq_signs8(unsigned s7) {
    unsigned p = s7 ^ (s7 >> 4);
    p ^= p >> 2;
    p ^= p >> 1;
    return (uint8_t)((s7 & 127u) | ((p & 1u) << 7));
}

#endif
