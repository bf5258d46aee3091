// Speculative decoding for kv_generate: a cheap proposer guesses the next few
// tokens, the target model checks them all in one batched forward pass, and
// rejection sampling keeps exactly the target's distribution (at temperature
// <= 0 exactly its greedy output); cells of rejected guesses leave the KV cache.
// Two proposers: a draft model of the same vocabulary (its own context), or
// n-gram lookup in the tokens so far (prompt and output), which needs no model.
#ifndef KV_SPECULATIVE_H
#define KV_SPECULATIVE_H

#include <stdint.h>

#include "kvant/kv_model.h"
#include "kvant/kv_status.h"

#define KV_SPEC_MAX_DRAFT 64  // most tokens guessed per step
#define KV_SPEC_MAX_LOOKUP 16 // longest n-gram looked up

typedef struct {
    kv_ctx *draft;     // borrowed: the draft model's context (sequence 0 is used); NULL: lookup
    int32_t n_draft;   // most tokens guessed per step, 1..KV_SPEC_MAX_DRAFT
    int32_t lookup_n;  // without a draft: n-grams of lookup_n down to 1 tokens are
                       // looked up, 1..KV_SPEC_MAX_LOOKUP
} kv_spec_params;

// Defaults: no draft, n_draft 8, lookup_n 3.
kv_spec_params kv_spec_default_params(void);

typedef struct kv_spec kv_spec;

// A proposer for a target model of n_vocab tokens. KV_ERR_INVALID for
// out-of-range parameters or a draft model whose vocabulary size differs.
kv_status kv_spec_new(const kv_spec_params *p, int32_t n_vocab, kv_spec **out, kv_err *err);
void kv_spec_free(kv_spec *s); // accepts NULL

// n-gram lookup on its own: the tokens that followed the latest earlier
// occurrence of the longest suffix of hist[0..n) of ngram down to 1 tokens, at
// most max_k of them, into out; returns how many (0: no match).
int32_t kv_spec_lookup(const int32_t *hist, int32_t n, int32_t ngram, int32_t max_k,
                       int32_t *out);

// Forgets the tokens seen (call when the target sequence was replaced by other
// text). kv_generate also notices a sequence that shrank or changed length.
void kv_spec_reset(kv_spec *s);

#endif
