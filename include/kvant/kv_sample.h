// Token sampling from logits: repetition/frequency/presence penalties over the
// last tokens, then top-k, top-p, min-p, temperature and a draw from a seeded
// generator (llama.cpp's default chain order); temperature <= 0 picks the
// highest logit after the penalties. The same seed, parameters, logits and
// accepted tokens give the same choices on every platform.
#ifndef KV_SAMPLE_H
#define KV_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_status.h"

#define KV_SAMPLE_MAX_LAST_N 65536 // tokens of history the penalties can look at

typedef struct {
    uint64_t seed;
    float temp;             // <= 0: greedy
    int32_t top_k;          // <= 0: off
    float top_p;            // >= 1: off
    float min_p;            // <= 0: off
    int32_t min_keep;       // top-p and min-p keep at least this many (>= 1)
    int32_t penalty_last_n; // tokens of history the penalties see; 0: off
    float penalty_repeat;   // 1: off; > 1 discourages repeats
    float penalty_freq;     // subtracted once per earlier occurrence; 0: off
    float penalty_present;  // subtracted once if the token occurred; 0: off
} kv_sample_params;

// llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, last_n 64,
// no penalties, seed 0.
kv_sample_params kv_sample_default_params(void);

typedef struct kv_sampler kv_sampler;

// Creates a sampler for a vocabulary of n_vocab tokens; all its buffers are
// allocated here. KV_ERR_INVALID for out-of-range parameters.
kv_status kv_sample_new(const kv_sample_params *p, int32_t n_vocab, kv_sampler **out, kv_err *err);
void kv_sample_free(kv_sampler *s); // accepts NULL

// Picks a token from logits (n_vocab values; not modified). NaN logits never win.
// Does not record the token: call kv_sample_accept with what was used.
int32_t kv_sample_next(kv_sampler *s, const float *logits);
// Says whether token may be picked (kv_sample_next_allowed); user is passed through.
typedef bool (*kv_sample_allow_fn)(void *user, int32_t token);
// As kv_sample_next, but only tokens allow accepts compete: the penalties and the
// chain (top-k, top-p, min-p, temperature, draw) run over them alone, so the choice
// follows the distribution restricted to them. Greedy asks allow only about tokens
// that would beat the best found so far. Returns -1 when allow accepts none.
int32_t kv_sample_next_allowed(kv_sampler *s, const float *logits, kv_sample_allow_fn allow,
                               void *user);
// Records a token in the penalty history (prompt tokens too, if they should count).
void kv_sample_accept(kv_sampler *s, int32_t token);

// ---- speculative decoding (kv_speculative.h) ----
// A draft token for a target sampled with these parameters: greedy at
// temperature <= 0 (q untouched), else drawn from the chain's distribution,
// which goes to q (n_vocab probabilities, 0 outside the kept candidates).
int32_t kv_sample_draft(kv_sampler *s, const float *logits, float *q);
// Verifies a draft token against the target's logits, as rejection sampling
// does: at temperature <= 0 returns kv_sample_next's choice (the draft stands
// when it is the same); else keeps draft with probability min(1, p(draft) /
// q(draft)), p the chain's distribution, and otherwise returns a draw from
// max(0, p - q) normalized. q NULL: the draft was certain (one-hot, n-gram
// lookup). So the returned token follows p whatever q was. scratch: n_vocab floats.
int32_t kv_sample_verify(kv_sampler *s, const float *logits, int32_t draft, const float *q,
                         float *scratch);
// Forgets the history and restarts the generator from the seed.
void kv_sample_reset(kv_sampler *s);

#endif
