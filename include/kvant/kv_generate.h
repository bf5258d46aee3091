// Single-sequence text generation on a context: process a prompt, then sample
// tokens one at a time until end-of-generation, a stop string, the token limit
// or a full context, streaming whole UTF-8 text to a callback. kvant run and the
// demo use it; the server batches many sequences with its own scheduler.
#ifndef KV_GENERATE_H
#define KV_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_model.h"
#include "kvant/kv_sample.h"
#include "kvant/kv_speculative.h"
#include "kvant/kv_status.h"
#include "kvant/kv_tokenizer.h"

#define KV_GEN_MAX_STOP 16      // stop strings
#define KV_GEN_MAX_STOP_LEN 256 // bytes in one stop string

// Receives generated text as it becomes final (whole UTF-8 characters, never a
// part of a stop string). Return false to stop generating.
typedef bool (*kv_gen_text_fn)(void *user, const char *text, size_t len);

typedef struct {
    int32_t n_predict;            // most new tokens; < 0: until EOS or the context is full
    kv_sample_params sample;
    const char *const *stop;      // stop strings (not included in the output); may be NULL
    size_t n_stop;
    bool ignore_eos;              // keep going after end-of-generation tokens
    bool json_object;             // only text that stays a JSON object (kv_json_prefix.h);
                                  // generation ends (KV_GEN_STOP_EOS) when it closes
    kv_gen_text_fn on_text;       // may be NULL
    void *user;
    kv_spec *spec;                // speculative decoding (kv_speculative.h); NULL: off.
                                  // Not with json_object (ignored there).
} kv_gen_params;

// Defaults: 128 tokens, kv_sample_default_params(), no stop strings.
kv_gen_params kv_gen_default_params(void);

typedef enum {
    KV_GEN_STOP_EOS,     // an end-of-generation token, or the JSON object closed
    KV_GEN_STOP_LENGTH,  // n_predict tokens
    KV_GEN_STOP_STRING,  // a stop string
    KV_GEN_STOP_CONTEXT, // the sequence filled the context
    KV_GEN_STOP_CALLER,  // on_text returned false
} kv_gen_stop;

typedef struct {
    int32_t n_prompt;    // prompt tokens processed
    int32_t n_gen;       // tokens generated (sampled)
    double t_prompt_s;   // seconds processing the prompt
    double t_gen_s;      // seconds generating
    kv_gen_stop stop;
    int32_t n_drafted;   // speculative decoding: tokens guessed and checked
    int32_t n_accepted;  // of those, tokens kept
} kv_gen_result;

// Name of a stop reason ("stop", "length", ...), as APIs report it.
const char *kv_gen_stop_name(kv_gen_stop s);

// Appends prompt (n_prompt >= 1 tokens) to sequence seq of c (after whatever the
// sequence already holds) and generates. Fails with KV_ERR_LIMIT when the prompt
// does not fit the context, KV_ERR_INVALID for bad arguments; decode errors pass on.
// The sampler is created for this call from p->sample. With p->json_object,
// KV_ERR_UNSUPPORTED when no token of the vocabulary can continue the JSON text.
kv_status kv_generate(kv_ctx *c, const kv_vocab *v, int32_t seq, const kv_token *prompt,
                      int64_t n_prompt, const kv_gen_params *p, kv_gen_result *res, kv_err *err);

#endif
