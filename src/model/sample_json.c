// Sampling under the JSON prefix automaton: a token competes only when its text
// keeps the output a valid JSON prefix. Each step first tries all 256 bytes on
// the current state, so most tokens are settled by their first byte; only those
// whose first byte fits are run through the automaton in full (on a copy).
#include "kvant/kv_json_prefix.h"

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
