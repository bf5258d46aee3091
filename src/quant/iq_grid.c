// The codebooks of the 8-wide lattice i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S and
// IQ1_M) and the tables their quantizers search, built once at first use.
//
// Each codebook is a set of points in {0,1,2}^8 (a level per coordinate). A
// point's base-3 number is sum(level[i] * 3^i); a codebook's index order is the
// ascending order of these numbers. The sets are written below as bitmaps over
// the 3^8 = 6561 numbers (bit v is byte v/8, bit v%8), base64-encoded. IQ2 types
// decode level l to 2l+1 for the search and to 8, 25 or 43 in the stored grid;
// IQ1 types to -1, 0 or +1. tests/unit/test_quant_iq_grid.c checks the defining
// properties (sizes, level sets, order) and the tables built from them.
//
// Map and neighbours (the documented procedure): every point p of {0,1,2}^8 maps
// to its index in the codebook, or, when p is not in it, to a list of codebook
// points near p: with d2(p, g) the squared distance between the points' 2l+1
// coordinates, the list holds every g whose d2 is one of the `shells` smallest
// distinct d2 values over the codebook, ordered by (d2, index). shells is 2 for
// IQ2_XXS and IQ2_XS, 1 for IQ2_S and 3 for IQ1_S/IQ1_M: ggml's quantizers
// depend on exactly these lists (and their order, through first-best ties).
#include "quant/iq_grid.h"

#include <float.h>
#include <pthread.h>
#include <stdlib.h>

static const char BITS_IQ2_XXS[] =
    "VRUUVRBEQUEABBREABAAAAAEQAAUAEAAAAAABAAAUBBAQREAARQEQFAEQAAQAAAFEAAAUAAAAQAAQAAAQRQEQBQU"
    "AAAEAAAEAAAEAAAAAAAABBAAAAAAAAAAABQEEBAAQAAEEQAEARAAQEAAAQAAAAAAAQQAAAAAABAEQARAAAAEAAAA"
    "ABAAAAAQAAAAQAAQAAAAAAAAAAAFAQAEAABAAAAAEQAAAAAAAAAAAQAAAABAAAAAAAAUBAAAAQABBQAAAAAAEBAA"
    "AAAAAFAAAAAAAAAAAABAQQAAAUAAAAAAQAAAAAQAQAAAAAAAAAAAAAAAQAAAQAAEAAAAAAAEAAAAAAAAAAAAAAAA"
    "AAAAAQAAAAAAUBBEQRAQARQEABAAQAAAAAREAABAQAAAQEAAAQAAQBAAAQAAABAAEAAABBAAAAAAAAAAAQAAAAAA"
    "AAAAABQEABABAAAAAAAEAAAAABABBAAAAAAAAAQAAAAEABBEUAAAAAAEAQAAAQAABAAAAAAAAQAAAAAAAABAAAAA"
    "AAAAAAAAQAEAAAEAAAAAAAAAAAQAAAAAAQAAAAAEEAQAAAAEAAAAAAAAQAAAAAAAAAAEAAAAAAAAAAAAQQAAAQAA"
    "AQAAQAAAAABAAAAAAAAAQAAAABAAAAAAEQAAAAAAAAAAAAAUAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAEAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAQEEAAAQAAEAAAAAEQAAEAAAAAAAAAAQAAAAAAAAAABREABAAQAAAAAAEAAAABAAA"
    "ABAAAAQAQAAAAQAAAEAAAAAAAAAAAAAAAQAAAAAAAAAAAAABAAAAAAAAAAAEARAEAAAAAAABAEAAAAAAQAAAAAAA"
    "AAABAAAAAAAEAEAAAQAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAEAAAAAAAAQAAAAAAAAAAAAAAAAAA"
    "AAAABAAAABAAAAQAAAABAAAAAAAAAAAEAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAEAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

static const char BITS_IQ2_XS[] =
    "VVVVUVVFQRVFAVRVVVBFQRAFAQBUURBAQQQAAQEAUFVFQRUVARQEAFBFQQAFAQQEAABAQQAQBQAAQAAAQFUFERQE"
    "ARAAQEAFAQAEAABAEAAAAQAEAQAAAAAQAVRVUVBFQUAFAQBUURBAQQAAAVAAUBEAQAAAAQAAAFBFQQBFARAEAABA"
    "QQAAAQAAAAAAQAAEAAABAAAAAAAFBQAEQAAABAAAEQAAAAAABAAAAAAAAABAAAAAAABVVRBAQQAAAQAEUBAAQBAA"
    "EAAAABAAAAEAAAAEAABEQQBAAQAAAAAAQAAAAAQQAAAAEAABAAEAAAAAAAAQQQEEAAABABAABAAAAAAAABAAAQAA"
    "ARAAAAAARAEAUFVFQVUFERQEAFBFQQAFAQBEAEBAQQFAAQAAAAAAQBVFARQEABAAAQAFARAEAAAAAEAAAQEAQBAA"
    "AAAAABQEABABAQEAAAAEEAAAQQBAAAAAQAAAAAAAAAAAAFBFQRAFAQAEAABAQQQABQAAAAAAQAAAABAAAAAAAEAF"
    "AQQEABBAAAABQQAAAAAAQBAAAAAAEAAAABAAAAQEQABAQAAAAAABAAAQQAEAAAAAAAAAAAAAAABAAABAQQAAARAQ"
    "AAEAUAAAAAAAAAAAAAAAABAABAAAAAEAAUAAAAAAAAAAAAAEABABAAAAABAAAAAAAAAAAAAAEAAAAAAAAAEAAAAA"
    "AAQAAAAAAAAABAAAABAQAAAAQBUFARUEAFAAAFAVAQAEEAQAAAAAAQAEAAAAQAEAQRRUABAAQABAAAAEAAAAAQAA"
    "AABAAAAEAAAAAAEAABAEAAQAAAEUAAAEBAAAAAAAAAAAAAAABAAAABAEBBAFAQAEAAEAAQAAAQAQAAAAAQAAAAAA"
    "AAAABABAAABEAAAAQRAAAAAAAAAAEAAAAAAUAAAAAAABAAAAAAAAAAAAAAQAAAAABAAAAAABAAAAAAAAEAAAABAA"
    "AAAARQEEBAAAAAAAAQAAAABAEAAAAEAUAQAQAAAAAQAEAAAAQAAAAABAAAAAAAAAAAAAAAAAAAAAAABAAAAEAEAA"
    "RQAAAAAAQBAEAAAAAAAABQAAAAAABQAAAAABAAE=";

static const char BITS_IQ2_S[] =
    "VVVVUVVFVRUFEVVVUVBFVRQFFRRUURBQVQQAEREQUFVFVVVVFVRFUVBVVRRVVRRUURBAVQQAURQEUBAAQBVVEVVV"
    "URABAUAFVQREURBAQAAAARQQBRAAAABAAFRVUVFFVRUVURRUVVVFVRUFVRQAUBRBQQQFABQEAFBFVRRVVRRUURBA"
    "VRUFVRQEUBAAQBQFARQEABAAAEBVUQRUURBAAQAAVRQEUBAAEAAABBAEABAABAAAAABUURVRQQUEAREAVFBBQAUF"
    "ARQEABAQAFEEAQAABQBEVRQFVRQEUBAAQBQFARQEABEAAAAFAQAEAAQAAAAAERQAUBAAAEAAABUEAAAAAAAAEAAA"
    "BEAAAAAEQAEAUFVVRVVVFRREUVBFVQVVVRRUURBAQRUEURQEUAAAQFVVVVRVUVBFQQBVVRRUURBQQQAAVRQEUBAA"
    "QAAAEBRVUVBFQQAEAQBUURBAQQAAAUAAUBAAQAAAAAAAAFBFVRVVVRRUUQBAVRUFVRQEUBAAQBQFARQEABQAAABV"
    "VRRUURBAQQAAVRQEUBAAQAAAABQEABEAAAAAAABUURBAQUAAAQAAUBAAQAAAAAAAABAAEAAAAABAAABERRUFURQE"
    "QBAAQBUFARQEABAAEAAEAQAEAAEAAAABURQEUBAAQAAAABQEABAQABAABAAEAAAAAAAAABAAUBAAAAAAEAAAARAA"
    "AEAAAAAAAAAAAAAABAAAAABAQBVFERRUERBBAQBFVRRUUQBAQQBAERUAUBAAAAAAAFRVEVBFQQAFAQBUURBAQQAA"
    "AQEAUBAAUAAAAAAAABBBAQAFAQAAAEBAAQAAAQBAAAAAAAAABAAABUAAAAFFVRBUURBAQQAAERQAUBAQAAAAABQE"
    "ABAAAAAAAEBUURBAQQAAAUAAUBAAQAAAAAAAERAAAAAQABAAAABAQQAQAQAAAAAAUAAAAAARAAAAAAAAAAAAAAAA"
    "QAAAEREQVBAAAAAABAEAABAAAAQAAAAQBEAUAAAARAEAURAAQAAAAAABQBAAEAAAAAAAAAAAAAAAAAQAAAAAAEAA"
    "QAAAAAAAAAEAAAAAQAAABAAAQAEUAQAAABAAAAE=";

static const char BITS_IQ1_S[] =
    "VSUUhaACQlEIRTGohiCKohoIKiAUhVAUgiBERSUVBaACgiCIGAAIgqADKqCIu6oKkKoLACIACqqMgqAIQFEIRSGI"
    "gFAUQlEIijAImKAIgCoIRSEUhSBIQlUIRQEswqAgiiYAKiSoqqII4q8ICCgoAKACQiiqKCCogCAKmwi5uqggyq6J"
    "oq6qOnzr6rq7gg64IrrK0w6SAiIAIiCoiroKggIIACpK4KI7IiArogCBQIGqiigIIgEUhVAVgiAJRSFUhaAIAiOo"
    "OiCEgiBUQlEIoiAIlVAUAioIuKiCgKBIAiAIgqJoogIoqyoIhSAIgjAIRUAARSEUhaAAQlEARQEpggCKgioIoTAU"
    "BVAUgigIRSEUhSACAiCqKgAgErGKriiouqGqqHAAggoIAigiAoQAggBIgKDqsCqqwiCLuiLq2qeLi26okrAqqnKL"
    "ikQMKiBIhEAoiioIqiDIzKIioq+aoOioAgACACqoiAAggKCLoqIouqCAgjIKur64uv7roqArogiKCijqogChMgIM"
    "+qTq3u8rqC6Nvn7r+vd/v+Z9ut5p+yf/vyb6EunhiiIQqr4OhKoIsqgLgq7/uiTpg4AEYixo8qgKpCsAAioICOKq"
    "EgACgioKpiDJgomQgigAogCMgBMAgggIAGyKqqq7Aqa+iqDKAoBrly7QsukQghAuqt4oFdGlBAAKggCKgiAIAaEg"
    "gqo5uiIyhKAJgBgAiqJiAoEURFEARSGsglAUQlEIqiAoqocKEioIRSEUBaAIQlEIRQEgAqBAoiIAiAAIoghqim64"
    "qqqAACAKguLIIiEIRFAUQlEJiiAVhVAUhgoIqioqgAAKQlEIRSGoAFAUQlEI4iCIggoYgioIqqKqirCLAgoqqiAo"
    "goCqCigIKACpiAIioL4LKLgIirpLsq7/uqT4rqogUihotqAw5oAKAigIImpigCAKAqqqK6rqoqmgoggIECCgiiIA"
    "gg4ARSEUhaAKQFEIRSGpBgBKqgIIpQAQDUQUgigIRSEUBQAIgoKs8iAAAACqCigKuiDqogIAgkgJKOkUABFLRVEA"
    "RQGoAlAUQlEIiCQIiCgKQAgARQEUBaACQFEIRQE=";

typedef struct {
    const char *bits; // base64 bitmap over the 6561 base-3 numbers
    int n;            // points it must hold
    int shells;       // neighbour shells for points not in the codebook
    int iq1;          // stored coordinates -1/0/+1 instead of 8/25/43
} grid_def;

static const grid_def DEFS[KV_IQ_GRID_COUNT] = {
    [KV_IQ_GRID_IQ2_XXS] = {BITS_IQ2_XXS, 256, 2, 0},
    [KV_IQ_GRID_IQ2_XS] = {BITS_IQ2_XS, 512, 2, 0},
    [KV_IQ_GRID_IQ2_S] = {BITS_IQ2_S, 1024, 1, 0},
    [KV_IQ_GRID_IQ1_S] = {BITS_IQ1_S, 2048, 3, 1},
};

typedef struct {
    kv__iq_grid pub;
    uint8_t level[2048 * 8];
    uint64_t stored[2048];
    int32_t map[KV_IQ_GRID_SPACE];
    uint16_t *nb;
    int ok;
} grid_state;

static grid_state STATE[KV_IQ_GRID_COUNT];
static pthread_once_t ONCE[KV_IQ_GRID_COUNT] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
                                                PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};

static int b64_value(char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : (c == '/' ? 63 : -1);
}

// Bit v of the decoded bitmap (the text is ours and well formed; '=' pads).
static int bitmap_bit(const char *b64, int v) {
    const int byte = v / 8;
    const char *q = b64 + 4 * (byte / 3); // 4 characters carry 3 bytes
    int32_t w = 0;
    for (int k = 0; k < 4; k++)
        w = (w << 6) | (q[k] == '=' ? 0 : b64_value(q[k]));
    const int by = (w >> (8 * (2 - byte % 3))) & 0xff;
    return (by >> (v % 8)) & 1;
}

static void levels_of(int v, int8_t L[8]) {
    for (int i = 0; i < 8; i++, v /= 3)
        L[i] = (int8_t)(v % 3);
}

// Squared distance of two points' 2l+1 coordinates, divided by 4.
static int dist2(const int8_t a[8], const uint8_t b[8]) {
    int d = 0;
    for (int i = 0; i < 8; i++)
        d += (a[i] - b[i]) * (a[i] - b[i]);
    return d;
}

// Writes v's neighbour list at nb (when nb is not NULL); returns its length + 1.
// d is scratch for the distances to the codebook's points.
static int neighbours(const grid_state *s, int v, int shells, uint16_t *nb, int *d) {
    int8_t L[8];
    levels_of(v, L);
    int lim[3] = {INT32_MAX, INT32_MAX, INT32_MAX}; // the smallest distinct distances
    for (int j = 0; j < s->pub.n; j++) {
        d[j] = dist2(L, s->level + 8 * j);
        for (int k = 0; k < shells; k++) {
            if (d[j] == lim[k])
                break;
            if (d[j] < lim[k]) {
                for (int m = shells - 1; m > k; m--)
                    lim[m] = lim[m - 1];
                lim[k] = d[j];
                break;
            }
        }
    }
    int n = 0;
    // Shell by shell in increasing distance, each in index order.
    for (int k = 0; k < shells && lim[k] != INT32_MAX; k++) {
        for (int j = 0; j < s->pub.n; j++) {
            if (d[j] != lim[k])
                continue;
            if (nb)
                nb[1 + n] = (uint16_t)j;
            n++;
        }
    }
    if (nb)
        nb[0] = (uint16_t)n;
    return n + 1;
}

// The codebook itself: levels, stored points and the map's codebook entries.
// Static storage only, so the kernels may trigger it (they never allocate).
static void build_base(kv_iq_grid_id g) {
    grid_state *s = &STATE[g];
    const grid_def *def = &DEFS[g];
    static const uint8_t IQ2_BYTE[3] = {8, 25, 43};
    int n = 0;
    for (int v = 0; v < KV_IQ_GRID_SPACE; v++) {
        s->map[v] = -1;
        if (!bitmap_bit(def->bits, v) || n == def->n)
            continue;
        int8_t L[8];
        levels_of(v, L);
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) {
            s->level[8 * n + i] = (uint8_t)L[i];
            const uint8_t b = def->iq1 ? (uint8_t)(int8_t)(L[i] - 1) : IQ2_BYTE[L[i]];
            u |= (uint64_t)b << (8 * i);
        }
        s->stored[n] = u;
        s->map[v] = n++;
    }
    s->pub.n = n;
    s->pub.level = s->level;
    s->pub.stored = s->stored;
    s->pub.map = s->map;
}

// The neighbour lists of the points off the codebook (the quantizers' search).
static void build_search(kv_iq_grid_id g) {
    grid_state *s = &STATE[g];
    const grid_def *def = &DEFS[g];
    int dist[2048];
    size_t total = 0;
    for (int v = 0; v < KV_IQ_GRID_SPACE; v++)
        if (s->map[v] < 0)
            total += (size_t)neighbours(s, v, def->shells, NULL, dist);
    s->nb = malloc(total * sizeof *s->nb);
    if (!s->nb || s->pub.n != def->n)
        return;
    size_t off = 0;
    for (int v = 0; v < KV_IQ_GRID_SPACE; v++) {
        if (s->map[v] >= 0)
            continue;
        s->map[v] = -(int32_t)(off + 1);
        off += (size_t)neighbours(s, v, def->shells, s->nb + off, dist);
    }
    s->pub.nb = s->nb;
    s->ok = 1;
}

static pthread_once_t BASE_ONCE[KV_IQ_GRID_COUNT] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
                                                     PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};

static void base_iq2_xxs(void) { build_base(KV_IQ_GRID_IQ2_XXS); }
static void base_iq2_xs(void) { build_base(KV_IQ_GRID_IQ2_XS); }
static void base_iq2_s(void) { build_base(KV_IQ_GRID_IQ2_S); }
static void base_iq1_s(void) { build_base(KV_IQ_GRID_IQ1_S); }
static void search_iq2_xxs(void) { build_search(KV_IQ_GRID_IQ2_XXS); }
static void search_iq2_xs(void) { build_search(KV_IQ_GRID_IQ2_XS); }
static void search_iq2_s(void) { build_search(KV_IQ_GRID_IQ2_S); }
static void search_iq1_s(void) { build_search(KV_IQ_GRID_IQ1_S); }

const uint64_t *kv__iq_grid_u64(kv_iq_grid_id g) {
    static void (*const BASE[KV_IQ_GRID_COUNT])(void) = {base_iq2_xxs, base_iq2_xs, base_iq2_s,
                                                        base_iq1_s};
    if ((unsigned)g >= KV_IQ_GRID_COUNT)
        return NULL;
    pthread_once(&BASE_ONCE[g], BASE[g]);
    return STATE[g].stored;
}

const kv__iq_grid *kv__iq_grid_get(kv_iq_grid_id g) {
    static void (*const SEARCH[KV_IQ_GRID_COUNT])(void) = {search_iq2_xxs, search_iq2_xs,
                                                          search_iq2_s, search_iq1_s};
    if (!kv__iq_grid_u64(g))
        return NULL;
    pthread_once(&ONCE[g], SEARCH[g]);
    return STATE[g].ok ? &STATE[g].pub : NULL;
}

int kv__iq_grid_best_neighbour(const kv__iq_grid *g, const uint16_t *list, const float *x,
                               const float *w, float scale, const float value[3], int8_t L[8]) {
    float best = FLT_MAX;
    int best_j = list[1];
    for (int k = 1; k <= list[0]; k++) {
        const uint8_t *p = g->level + 8 * list[k];
        float d2 = 0;
        for (int i = 0; i < 8; i++) {
            const float diff = scale * value[p[i]] - x[i];
            d2 += w[i] * diff * diff;
        }
        if (d2 < best) {
            best = d2;
            best_j = list[k];
        }
    }
    for (int i = 0; i < 8; i++)
        L[i] = (int8_t)g->level[8 * best_j + i];
    return best_j;
}
