// Small helpers over jansson values shared by the JSON readers (schemas, server
// request bodies). json_t is jansson's; this header only names it.
#ifndef KV_JSON_H
#define KV_JSON_H

struct json_t;

// "an object", "an array", "a string", "an integer", "a number", "a boolean",
// "null": what v is, for error messages ("field 'x' is an array").
const char *kv_json_type_name(const struct json_t *v);

#endif
