// Chat templates as the model ships them: a Jinja interpreter for the subset
// that Hugging Face chat templates use (tokenizer.chat_template in a GGUF,
// chat_template in tokenizer_config.json), configured as transformers does
// (trim_blocks, lstrip_blocks). Statements: if/elif/else, for (with loop.*,
// an `if` filter and else), set (names, tuples, namespace attributes, blocks),
// macro, break/continue. Expressions: literals, lists, dicts, arithmetic, ~,
// comparisons, and/or/not, in/not in, is-tests, attributes, subscripts and
// slices, x if c else y, filters and string/dict methods. Rendering is
// bounded: nesting, evaluation steps, memory and output size are capped, so a
// hostile template fails with an error instead of hanging or crashing.
// A parsed template is immutable; rendering it is thread-safe.
#ifndef KV_JINJA_H
#define KV_JINJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_chat.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_status.h"
#include "kvant/kv_tokenizer.h"

typedef struct kv_jinja kv_jinja;

// Parses len bytes of template source. name (may be NULL: "template") names
// the template in messages. On success *out owns a copy of the source;
// release it with kv_jinja_free. Errors: KV_ERR_FORMAT for a syntax error,
// KV_ERR_UNSUPPORTED for Jinja this subset lacks, each as "NAME:LINE:COL:
// what"; KV_ERR_LIMIT for a template nested too deeply or too large; NOMEM.
kv_status kv_jinja_parse(const char *src, size_t len, const char *name, kv_jinja **out,
                         kv_err *err);
void kv_jinja_free(kv_jinja *t);

typedef struct {
    int64_t now;       // the time strftime_now() formats (Unix seconds, UTC); 0: the clock
    size_t max_output; // cap on the rendered bytes; 0: 16 MiB
} kv_jinja_opts;

// Renders t with the variables of the JSON object vars_json (vars_len bytes):
// each member is a global (messages, add_generation_prompt, bos_token, ...).
// The globals range, namespace, raise_exception and strftime_now are always
// there. opts may be NULL. On success *out is a malloc'd NUL-terminated string
// of *out_len bytes (out_len may be NULL). Errors: KV_ERR_INVALID when
// vars_json is not a JSON object; KV_ERR_FORMAT for a failure the template
// makes (raise_exception, a type error, an undefined call), naming line and
// column; KV_ERR_LIMIT past a cap; KV_ERR_NOMEM.
kv_status kv_jinja_render_json(const kv_jinja *t, const char *vars_json, size_t vars_len,
                               const kv_jinja_opts *opts, char **out, size_t *out_len,
                               kv_err *err);

// Renders a conversation: messages (role, content), add_generation_prompt,
// bos_token and eos_token (NULL: ""), as transformers' apply_chat_template
// passes them; tools stays undefined. As kv_jinja_render_json otherwise.
kv_status kv_jinja_render_chat(const kv_jinja *t, const kv_chat_msg *msgs, size_t n_msgs,
                               bool add_generation_prompt, const char *bos, const char *eos,
                               const kv_jinja_opts *opts, char **out, size_t *out_len,
                               kv_err *err);

// ---- a model's own template ----

// g's tokenizer.chat_template, parsed (named "tokenizer.chat_template" in
// messages). KV_OK with *out NULL when g has no such string; a parse error
// (KV_ERR_FORMAT, KV_ERR_UNSUPPORTED, ...) when kvant cannot run it, so the
// caller can fall back to kv_chat.h's families. *out: free with kv_jinja_free.
kv_status kv_jinja_from_gguf(const kv_gguf *g, kv_jinja **out, kv_err *err);

// Renders msgs as prompt text for the model whose vocabulary is v: bos_token
// and eos_token are v's BOS and EOS texts, and when the tokenizer adds BOS
// itself (kv_vocab_add_bos) a BOS text the template wrote first is dropped,
// so the tokenized prompt starts with one BOS. strftime_now reads the clock.
// As kv_jinja_render_chat otherwise (raise_exception: KV_ERR_INVALID).
kv_status kv_jinja_render_vocab(const kv_jinja *t, const kv_vocab *v, const kv_chat_msg *msgs,
                                size_t n_msgs, bool add_generation_prompt, char **out,
                                size_t *out_len, kv_err *err);

#endif
