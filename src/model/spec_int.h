// Internals of speculative decoding shared by the proposers (speculative.c)
// and the generation loop (generate.c).
#ifndef KV_SPEC_INT_H
#define KV_SPEC_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_sample.h"
#include "kvant/kv_speculative.h"

struct kv_spec {
    kv_spec_params p;
    int32_t n_vocab;
    // The target sequence's tokens from position base on, as kv_generate saw them.
    int32_t *hist;
    int32_t n_hist, cap_hist;
    int32_t base;
    // The draft context's sequence 0: the tokens its cells hold.
    int32_t *dtok;
    int32_t n_dtok, cap_dtok;
    int32_t d_last;      // the draft's last batch: the row with logits
    bool sampled;        // temperature > 0: guesses are draws, q holds their distributions
    bool draft_off;      // the draft context ran out of room: no more guesses this call
    kv_sampler *ds;      // the draft model's sampler (per kv_generate call)
    int32_t drafts[KV_SPEC_MAX_DRAFT];
    float *q;            // per guess, the draft's distribution (n_vocab), draft model at temp > 0
    bool q_valid;
    float *scratch;      // n_vocab floats for kv_sample_verify
};

// Starts a kv_generate call on a target sequence with n0 cells (positions
// 0..n0-1, contiguous): keeps the history when it still describes them, then
// appends the prompt; makes the draft sampler from the target's parameters
// (penalties off: any q is exact under rejection sampling).
kv_status kv__spec_begin(kv_spec *s, int32_t n0, const int32_t *prompt, int64_t n_prompt,
                         const kv_sample_params *sp, kv_err *err);
// Appends a token the target sequence will hold.
kv_status kv__spec_push(kv_spec *s, int32_t token, kv_err *err);
// Guesses up to max_k tokens following the history into s->drafts; *k says how
// many (0: none). Decode errors of the draft context pass on.
kv_status kv__spec_propose(kv_spec *s, int32_t max_k, int32_t *k, kv_err *err);
// The draft's distribution for guess i, or NULL when the guess was certain.
const float *kv__spec_q(const kv_spec *s, int32_t i);
// Ends a call: frees the draft sampler.
void kv__spec_end(kv_spec *s);

#endif
