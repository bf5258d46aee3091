// Sampling under the JSON prefix automaton or a JSON schema matcher: a token
// competes only when its text keeps the output a valid prefix. Each step first
// tries all 256 bytes on the current state, so most tokens are settled by their
// first byte; only those whose first byte fits are run through in full (on a copy).
#include "kvant/kv_json_prefix.h"
#include "kvant/kv_json_schema.h"

#include "model/json_schema_int.h"

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

typedef struct {
    const kv_json_match *m;
    const kv_vocab *v;
    bool first_ok[256];
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

static bool schema_gate_allows(void *user, int32_t t) {
    const schema_gate *g = user;
    size_t len = 0;
    const char *piece = kv_vocab_piece(g->v, t, false, &len);
    if (piece && len > 0 && !kv_vocab_is_eog(g->v, t) && !g->first_ok[(unsigned char)piece[0]])
        return false;
    if (piece && len == 1 && !kv_vocab_is_eog(g->v, t))
        return true; // the table settled it
    return kv_json_match_token_allowed(g->m, g->v, t);
}

int32_t kv_sample_next_schema(kv_sampler *s, const float *logits, const kv_vocab *v,
                              const kv_json_match *m) {
    schema_gate g = {.m = m, .v = v};
    kv_json_match q;
    for (int b = 0; b < 256; b++) {
        const char c = (char)b;
        g.first_ok[b] = kv__json_match_try(m, &c, 1, &q);
    }
    return kv_sample_next_allowed(s, logits, schema_gate_allows, &g);
}
