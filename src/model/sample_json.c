// Sampling under the JSON prefix automaton or a JSON schema matcher: a token
// competes only when its text keeps the output a valid prefix. Each step first
// tries all 256 bytes on the current state, so most tokens are settled by their
// first byte; only those whose first byte fits are run through in full (on a copy).
#include "kvant/kv_json_prefix.h"
#include "kvant/kv_json_schema.h"

#include "model/json_schema_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const kv_json_prefix *p;
    const kv_vocab *v;
    bool first_ok[256]; // this byte may come next
} json_gate;

bool kv_json_token_allowed(const kv_json_prefix *p, const kv_vocab *v, kv_token t) {
    if (kv_vocab_is_eog(v, t))
        return kv_json_prefix_complete(p);
    size_t len = 0;
    const char *piece = kv_vocab_piece(v, t, false, &len);
    if (!piece || len == 0)
        return false; // empty pieces (control tokens) would let the output stall
    kv_json_prefix q = *p;
    return kv_json_prefix_feed(&q, piece, len);
}

// kv_json_token_allowed, with most tokens settled by the first byte table.
static bool gate_allows(void *user, int32_t t) {
    const json_gate *g = user;
    size_t len = 0;
    const char *piece = kv_vocab_piece(g->v, t, false, &len);
    if (piece && len > 0 && !kv_vocab_is_eog(g->v, t) && !g->first_ok[(unsigned char)piece[0]])
        return false;
    return kv_json_token_allowed(g->p, g->v, t);
}

int32_t kv_sample_next_json(kv_sampler *s, const float *logits, const kv_vocab *v,
                            const kv_json_prefix *p) {
    json_gate g = {.p = p, .v = v};
    for (int b = 0; b < 256; b++) {
        kv_json_prefix q = *p;
        const char c = (char)b;
        g.first_ok[b] = kv_json_prefix_feed(&q, &c, 1);
    }
    return kv_sample_next_allowed(s, logits, gate_allows, &g);
}

// ---- under a JSON schema ----

// The schema gate settles tokens by their first two bytes: the first-byte table
// is filled up front, the second-byte row of a first byte b (from the state
// after b) when a token starting with b is first asked about. Inside arrays and
// objects many tokens start with a space that fits, and the second byte then
// refuses most of them without running the matcher over the whole piece.
typedef struct {
    const kv_json_match *m;
    const kv_vocab *v;
    bool first_ok[256];
    bool row_done[256];
    uint8_t second_ok[256][32]; // bit c of row b: b then c may come next
} schema_gate;

bool kv_json_match_token_allowed(const kv_json_match *m, const kv_vocab *v, kv_token t) {
    if (kv_vocab_is_eog(v, t))
        return kv_json_match_complete(m);
    size_t len = 0;
    const char *piece = kv_vocab_piece(v, t, false, &len);
    if (!piece || len == 0)
        return false;
    kv_json_match q;
    return kv__json_match_try(m, piece, len, &q);
}

static void fill_row(schema_gate *g, uint8_t b) {
    kv_json_match after, q;
    const char c0 = (char)b;
    memset(g->second_ok[b], 0, sizeof g->second_ok[b]);
    g->row_done[b] = true;
    if (!kv__json_match_try(g->m, &c0, 1, &after))
        return;
    for (int c = 0; c < 256; c++) {
        const char c1 = (char)c;
        if (kv__json_match_try(&after, &c1, 1, &q))
            g->second_ok[b][c / 8] |= (uint8_t)(1u << (c % 8));
    }
}

static bool schema_gate_allows(void *user, int32_t t) {
    schema_gate *g = user;
    size_t len = 0;
    const char *piece = kv_vocab_piece(g->v, t, false, &len);
    if (!piece || len == 0 || kv_vocab_is_eog(g->v, t))
        return kv_json_match_token_allowed(g->m, g->v, t);
    const uint8_t b0 = (uint8_t)piece[0];
    if (!g->first_ok[b0])
        return false;
    if (len == 1)
        return true;
    if (!g->row_done[b0])
        fill_row(g, b0);
    const uint8_t b1 = (uint8_t)piece[1];
    if (!((g->second_ok[b0][b1 / 8] >> (b1 % 8)) & 1))
        return false;
    if (len == 2)
        return true;
    return kv_json_match_token_allowed(g->m, g->v, t);
}

int32_t kv_sample_next_schema(kv_sampler *s, const float *logits, const kv_vocab *v,
                              const kv_json_match *m) {
    schema_gate *g = malloc(sizeof *g); // 9 KiB: kept off the scheduler thread's stack
    if (!g)
        return -1;
    g->m = m;
    g->v = v;
    memset(g->row_done, 0, sizeof g->row_done);
    kv_json_match q;
    for (int b = 0; b < 256; b++) {
        const char c = (char)b;
        g->first_ok[b] = kv__json_match_try(m, &c, 1, &q);
    }
    int32_t t = kv_sample_next_allowed(s, logits, schema_gate_allows, g);
    free(g);
    return t;
}
