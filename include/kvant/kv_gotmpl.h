// Ollama's chat templates (a Modelfile's TEMPLATE): a Go text/template subset.
// Text with {{ actions }} ({{- and -}} trim the whitespace beside them,
// {{/* comments */}}); actions: a pipeline, if / else if / else / end,
// range PIPE, range $m := PIPE, range $i, $m := PIPE (with else), $x := PIPE.
// Operands: . and .Field chains, $ and $.Field, $var and $var.Field, "strings",
// `raw strings`, integers, true, false, ( pipeline ). Functions: eq, ne, and,
// or, not, len, slice, index. Fields: System, Prompt, Response, Messages (each
// with Role and Content); Tools, Suffix, Think, ThinkLevel, IsThinkSet, Images,
// ToolCalls, Thinking, Content of nothing read as empty. Anything else (pipes
// '|', other functions, with, define, block, template) is refused at parse time.
// Rendering follows Ollama: a template that names .Messages gets every message
// (consecutive ones of a role merged) and .System (the system messages
// joined); one that does not is run once per user/assistant turn with .System,
// .Prompt and .Response, the last turn cut at {{ .Response }}. A parsed
// template is immutable; rendering is bounded by the messages and thread-safe.
#ifndef KV_GOTMPL_H
#define KV_GOTMPL_H

#include <stddef.h>

#include "kvant/kv_chat.h"
#include "kvant/kv_status.h"

typedef struct kv_gotmpl kv_gotmpl;

// Parses len bytes. Errors: KV_ERR_FORMAT (a syntax error) or KV_ERR_UNSUPPORTED
// (Go template outside the subset), both "line L: what"; KV_ERR_LIMIT for a
// template nested more than 32 deep; KV_ERR_NOMEM.
kv_status kv_gotmpl_parse(const char *src, size_t len, kv_gotmpl **out, kv_err *err);
void kv_gotmpl_free(kv_gotmpl *t);

// Renders messages m[0..n) as Ollama does into *out (malloc'd, NUL-terminated,
// *len bytes). KV_ERR_INVALID when a value has the wrong type for its use
// (ranging over a string, ...), KV_ERR_LIMIT past 16 MiB of output.
kv_status kv_gotmpl_render(const kv_gotmpl *t, const kv_chat_msg *m, size_t n, char **out,
                           size_t *len, kv_err *err);

#endif
