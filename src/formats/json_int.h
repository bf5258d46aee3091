// Private to formats/: small helpers over jansson shared by the safetensors and
// Hugging Face readers (type names for messages, loading a JSON file with the
// parser's line and column in the error).
#ifndef KV_JSON_INT_H
#define KV_JSON_INT_H

#include <jansson.h>
#include <stddef.h>

#include "kvant/kv_status.h"

// Name of a JSON value's type for messages: "object", "array", "string",
// "integer", "real", "boolean", "null" (or "nothing" for NULL).
const char *kv__json_type_name(const json_t *v);

// Flag for the loaders below (not jansson's): integer literals outside json_int_t
// (Llama 3's "model_max_length": 1000000000000000019884624838656) are read as
// reals instead of failing the whole file.
#define KV_JSON_BIG_INT_AS_REAL ((size_t)1 << 30)

// Reads path (at most max_size bytes) and parses it with jansson `flags`.
// On success *out holds a new reference. Errors: KV_ERR_IO (cannot read),
// KV_ERR_LIMIT (too large), KV_ERR_FORMAT ("PATH: invalid JSON: TEXT at line L, column C").
kv_status kv__json_load_file(const char *path, size_t max_size, size_t flags, json_t **out,
                             kv_err *err);

// Parses n bytes of JSON; messages name `what` (a path) the same way.
kv_status kv__json_load_mem(const void *data, size_t n, const char *what, size_t flags,
                            json_t **out, kv_err *err);

#endif
