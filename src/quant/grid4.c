// The 4-wide codebooks of IQ3_XXS and IQ3_S and their search tables.
//
// The codebooks are data defined by the GGUF format. They are written down here
// as bitmaps over the 4096 codes (bit c of word c / 64 set when code c is a
// point); a point's index is its rank among the set bits. Everything else is
// derived once, on first use:
//
//  - odd[i]: point i's coordinates as 2l + 1 (the quantizers' units);
//  - the format's values for each level (kv__iq3_grid: the dot products and
//    dequantizers read these);
//  - map[code]: the point's index when code is a point; otherwise the code's
//    neighbour list, made by this procedure: measure the squared distance from
//    the code (as 2l + 1 values) to every point; keep every point whose distance
//    is one of the K smallest distinct distances (K = 2 for the 256-point grid,
//    3 for the 512-point one); order them by distance, then by index. The
//    quantizers try the list in that order and keep the first best, so the
//    order is part of the format's bit-exactness, not a detail.
//
// tests/unit/test_quant_iq3.c checks the bitmaps' defining properties (point
// counts, level coverage, a digest of the point list) and the map against a
// brute-force search.
#include "quant/grid4.h"

#include <pthread.h>
#include <stdbool.h>

#include "kvant/kv_blocks.h"
#include "kvant/kv_types.h"

enum { N_CODES = 4096, N_WORDS = N_CODES / 64, MAX_DIST = 4 * 14 * 14 };

static const uint64_t BITS_256[N_WORDS] = {
    0x2800000402058a15, 0x010010020522050a, 0x200082008a050215, 0x0100000000200582,
    0x2800801080000800, 0x0000040004000082, 0x0010000020000000, 0x0002000800005100,
    0x00000180150a050a, 0x0000000000050205, 0x040000000102050a, 0x0040004002010005,
    0x0000010000000022, 0x0200004000110000, 0x0000000000000020, 0x0000000100040000,
    0x0000000402450a05, 0x018800000102052a, 0x0000200180058205, 0x1100000000001102,
    0x0000080020000000, 0x1000000200800008, 0x0000000000000000, 0x000000200000400a,
    0x04200100000a0502, 0x0000005002010005, 0x040004000020010a, 0x0000000008000200,
    0x0400008001000000, 0x0000200000040041, 0x0008000040001000, 0x0001000008000000,
    0x00008800a0008010, 0x1000000000000000, 0x0041000180010000, 0x0000002000000080,
    0x0010020000000010, 0x0100000800200000, 0x0000000000000000, 0x0000000001000520,
    0x0100000200000400, 0x0000200000400041, 0x0400000004001000, 0x0000080000000004,
    0x0400000000880100, 0x0000000002000004, 0x0000010000000000, 0x0000000400100000,
    0x0010005000100000, 0x0002000000020000, 0x0010000000008000, 0x0000000041000000,
    0x0000001000000000, 0x0000040000000020, 0x0000000008000000, 0x0000000000020008,
    0x00000400040001a8, 0x0000000100400000, 0x0000042000000400, 0x0001000008002001,
    0x0000000200020000, 0x0000000000100005, 0x0000000001000000, 0x0000000000000000,
};

static const uint64_t BITS_512[N_WORDS] = {
    0x92050aa5082357a7, 0x0422001022892317, 0x09000aa4112249a3, 0x228005104a052208,
    0x0100020904128801, 0x084000a208450014, 0x0200040002000a40, 0x0000110008450015,
    0x040250005205ab17, 0x410005020902114b, 0x040120090411a401, 0x0104000211820992,
    0x000011440a001428, 0x0000020005020902, 0x0000005000910000, 0x010400022002050a,
    0x2980052a058a55ab, 0x0000020412248905, 0x12008802810a0092, 0x004001040a140225,
    0x2400000224090082, 0x0100080180040210, 0x0002200000020085, 0x0000010801400220,
    0x020802942a04aa04, 0x44010001000a102a, 0x0000010014010401, 0x0800208a018a1102,
    0x0011040002044208, 0x0800401004200502, 0x0000000200004000, 0x000000002005000a,
    0x0100010204910411, 0x0000220821040a84, 0x010480010802210a, 0x0000000022050a10,
    0x0200000180100005, 0x00040000000200a0, 0x0001000010000800, 0x0000020801002100,
    0x1040049100041104, 0x040000000402042a, 0x0000080041080201, 0x0820021000800184,
    0x0000004004010012, 0x00000a0000400400, 0x0000000400000000, 0x0000000000040014,
    0x000100000a002a00, 0x0010000000810001, 0x0104200410000400, 0x0000000100021001,
    0x0004000800200000, 0x0001000010000009, 0x0000000100000020, 0x0000000000000a00,
    0x0004100140050091, 0x0000002800100204, 0x0000020001024112, 0x0000080024000004,
    0x0000010000010822, 0x0000000400040000, 0x0000000002000004, 0x0000000000000001,
};

// The format's value of each level: IQ3_XXS 8l + 4 except 62 at the top, IQ3_S 2l + 1.
static const uint8_t VALUES_256[8] = {4, 12, 20, 28, 36, 44, 52, 62};
static const uint8_t VALUES_512[8] = {1, 3, 5, 7, 9, 11, 13, 15};

// Neighbour list capacity: the lists take 22825 (256) and 28317 (512) entries.
enum { NB_CAP = 32768 };

typedef struct {
    kv__grid4 pub;
    const uint64_t *bits;
    const uint8_t *values;
    int n_nearest;            // K above
    int8_t odd[512][4];
    uint32_t packed[512];     // kv__iq3_grid
    int32_t map[N_CODES];
    uint16_t neighbours[NB_CAP];
} grid_state;

static grid_state g256 = {.pub.size = 256, .bits = BITS_256, .values = VALUES_256, .n_nearest = 2};
static grid_state g512 = {.pub.size = 512, .bits = BITS_512, .values = VALUES_512, .n_nearest = 3};
static pthread_once_t once256 = PTHREAD_ONCE_INIT;
static pthread_once_t once512 = PTHREAD_ONCE_INIT;

static bool is_point(const uint64_t *bits, int code) {
    return (bits[code / 64] >> (code % 64)) & 1;
}

static int level(int code, int j) { return (code >> (3 * j)) & 7; }

static int dist2(const int8_t a[4], int code) {
    int d = 0;
    for (int j = 0; j < 4; j++) {
        const int e = a[j] - (2 * level(code, j) + 1);
        d += e * e;
    }
    return d;
}

// The neighbour list of an off-grid code at neighbours[o..]; returns its length
// (count and indexes).
static int build_list(grid_state *g, int code, int o) {
    const int n = g->pub.size;
    bool seen[MAX_DIST + 1] = {false};
    for (int i = 0; i < n; i++)
        seen[dist2(g->odd[i], code)] = true;
    int cut = 0; // the K-th smallest distinct distance
    for (int d = 0, k = 0; d <= MAX_DIST && k < g->n_nearest; d++)
        if (seen[d]) {
            cut = d;
            k++;
        }
    int count = 0;
    for (int d = 0; d <= cut; d++) {
        if (!seen[d])
            continue;
        for (int i = 0; i < n; i++)
            if (dist2(g->odd[i], code) == d) {
                if (o + 1 + count >= NB_CAP)
                    __builtin_trap(); // the capacity above is wrong: a build error
                g->neighbours[o + 1 + count++] = (uint16_t)i;
            }
    }
    g->neighbours[o] = (uint16_t)count;
    return count + 1;
}

static void build(grid_state *g) {
    int i = 0;
    for (int code = 0; code < N_CODES; code++) {
        g->map[code] = -1;
        if (!is_point(g->bits, code) || i >= 512)
            continue;
        uint32_t packed = 0;
        for (int j = 0; j < 4; j++) {
            g->odd[i][j] = (int8_t)(2 * level(code, j) + 1);
            packed |= (uint32_t)g->values[level(code, j)] << (8 * j);
        }
        g->packed[i] = packed;
        g->map[code] = i++;
    }
    int o = 0;
    for (int code = 0; code < N_CODES; code++) {
        if (g->map[code] >= 0)
            continue;
        g->map[code] = -(1 + o);
        o += build_list(g, code, o);
    }
    g->pub.odd = (const int8_t(*)[4])g->odd;
    g->pub.map = g->map;
    g->pub.neighbours = g->neighbours;
}

static void build256(void) { build(&g256); }
static void build512(void) { build(&g512); }

const kv__grid4 *kv__grid4_get(int size) {
    if (size == 256) {
        pthread_once(&once256, build256);
        return &g256.pub;
    }
    if (size == 512) {
        pthread_once(&once512, build512);
        return &g512.pub;
    }
    return NULL;
}

void kv__grid4_codes(int size, uint16_t *codes) {
    const uint64_t *bits = size == 256 ? BITS_256 : BITS_512;
    int i = 0;
    for (int code = 0; code < N_CODES; code++)
        if (is_point(bits, code))
            codes[i++] = (uint16_t)code;
}

const uint32_t *kv__iq3_grid(int type) {
    if (type == KV_TYPE_IQ3_XXS) {
        kv__grid4_get(256);
        return g256.packed;
    }
    if (type == KV_TYPE_IQ3_S) {
        kv__grid4_get(512);
        return g512.packed;
    }
    return NULL;
}
