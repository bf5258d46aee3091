// The model layer's glue between a GGUF file and the tokenizer: a vocabulary
// built from the tokenizer.ggml.* keys, and the chat template family of
// tokenizer.chat_template. The tokenizer itself (kv_tokenizer.h, kv_chat.h)
// knows nothing of GGUF. Everything here only reads g and is thread-safe.
#ifndef KV_VOCAB_GGUF_H
#define KV_VOCAB_GGUF_H

#include <stdbool.h>

#include "kvant/kv_chat.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_status.h"
#include "kvant/kv_tokenizer.h"

// Reads the tokenizer.ggml.* keys (and general.name) of a GGUF file: model, pre,
// tokens, scores (f32 or i32), token_type, merges, the *_token_id keys,
// add_bos_token, add_eos_token and add_space_prefix, with llama.cpp's defaults for
// absent keys. A tokenizer model other than "llama" and "gpt2", or a pre-tokenizer
// kvant does not know, fails with KV_ERR_UNSUPPORTED; missing or mistyped keys with
// KV_ERR_FORMAT naming the key. The vocabulary copies what it uses: g may be closed
// afterwards.
kv_status kv_vocab_from_gguf(const kv_gguf *g, kv_vocab **out, kv_err *err);

// The family of g's tokenizer.chat_template, as kv_chat_detect; KV_CHAT_PLAIN
// when the key is absent or not a string. *has_template (may be NULL) says
// whether g has such a string at all.
kv_chat_tmpl kv_chat_detect_gguf(const kv_gguf *g, bool *has_template);

#endif
