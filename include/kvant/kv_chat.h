// Chat templates without a Jinja engine: a model's tokenizer.chat_template is
// recognised as one of the common families by its distinctive markers, and a
// conversation is rendered as text in that family's format, ready for the
// tokenizer (with special tokens parsed). Used by kvant serve and kvant run.
// Everything here is pure and thread-safe.
#ifndef KV_CHAT_H
#define KV_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "kvant/kv_status.h"

typedef enum {
    KV_CHAT_PLAIN,   // "System: ...\nUser: ...\nAssistant:"
    KV_CHAT_LLAMA2,
    KV_CHAT_LLAMA3,
    KV_CHAT_CHATML,
    KV_CHAT_MISTRAL,
    KV_CHAT_GEMMA,
    KV_CHAT_PHI3,
    KV_CHAT_ZEPHYR,
    KV_CHAT_COUNT,
} kv_chat_tmpl;

typedef enum {
    KV_CHAT_ROLE_SYSTEM,
    KV_CHAT_ROLE_USER,
    KV_CHAT_ROLE_ASSISTANT,
    KV_CHAT_ROLE_TOOL,
} kv_chat_role;

// The role's name in chat messages ("system", "user", "assistant", "tool");
// "user" for a value outside the enum.
const char *kv_chat_role_name(kv_chat_role r);

typedef struct {
    kv_chat_role role;
    const char *content; // NUL-terminated; borrowed (the caller owns it)
} kv_chat_msg;

// The family a Jinja chat template (tokenizer.chat_template) belongs to, by its
// distinctive markers; KV_CHAT_PLAIN when tmpl is NULL or not recognised.
kv_chat_tmpl kv_chat_detect(const char *tmpl);
// A family by name ("llama2", "llama3", "chatml", "mistral", "gemma", "phi3",
// "zephyr", "plain"); KV_ERR_INVALID listing the names otherwise.
kv_status kv_chat_from_name(const char *name, kv_chat_tmpl *out, kv_err *err);
// The family's name, as kv_chat_from_name takes it (static storage).
const char *kv_chat_name(kv_chat_tmpl t);
// The text that ends an assistant turn in family t ("<|im_end|>" for ChatML,
// "<|eot_id|>" for Llama 3, ...; eos for Zephyr, Llama 2 and Mistral, "</s>"
// when eos is NULL; "\n" for the plain transcript, one message a line).
// Generation stops there when the model writes it as text rather than as one
// end-of-generation token. Returns t's static string or eos.
const char *kv_chat_end_text(kv_chat_tmpl t, const char *eos);

// Renders msgs[0..n_msgs) in family t, ending with the opening of the
// assistant's turn when add_generation is set. eos is the model's
// end-of-sequence text (Zephyr ends turns with it); NULL means "</s>". BOS is
// left to the tokenizer. On success *out is a malloc'd NUL-terminated string
// (the caller frees it) of *out_len bytes (out_len may be NULL); an empty chat
// renders as "". KV_ERR_NOMEM otherwise, with *out NULL.
kv_status kv_chat_render(kv_chat_tmpl t, const kv_chat_msg *msgs, size_t n_msgs,
                         bool add_generation, const char *eos, char **out, size_t *out_len,
                         kv_err *err);

#endif
