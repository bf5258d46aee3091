// The Go text/template subset (kv_gotmpl.h): the parsed tree that
// gotmpl_parse.c builds and gotmpl_eval.c runs.
#ifndef KV_MODEL_GOTMPL_INT_H
#define KV_MODEL_GOTMPL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_gotmpl.h"

#define KV__GOTMPL_MAX_DEPTH 32
#define KV__GOTMPL_MAX_FIELDS 8
#define KV__GOTMPL_MAX_ARGS 8

typedef enum { GX_DOT, GX_ROOT, GX_VAR, GX_STR, GX_INT, GX_BOOL, GX_CALL } kv__gx_kind;

// An operand or a function call; DOT, ROOT and VAR may be followed by fields.
typedef struct kv__gx {
    kv__gx_kind kind;
    int line;
    char *s; // STR: the text (n bytes); VAR: the name without '$'; CALL: the function
    size_t n;
    int64_t i; // INT, BOOL
    const char *fields[KV__GOTMPL_MAX_FIELDS]; // static names (the known fields)
    int n_fields;
    struct kv__gx *args[KV__GOTMPL_MAX_ARGS];
    int n_args;
} kv__gx;

typedef enum { GN_TEXT, GN_OUT, GN_IF, GN_RANGE, GN_SET } kv__gn_kind;

typedef struct kv__gn kv__gn;
typedef struct {
    kv__gn **v;
    size_t n, cap;
} kv__gn_list;

struct kv__gn {
    kv__gn_kind kind;
    int line;
    char *text; // TEXT (len bytes)
    size_t len;
    kv__gx *x;  // OUT, IF's condition, RANGE's list, SET's value
    kv__gn_list body, alt; // IF: then, else; RANGE: body, else
    char *v1, *v2; // RANGE: $v1 := (one: the element) or $v1, $v2 := (index, element); SET: v1
};

struct kv_gotmpl {
    kv__gn_list root;
    int uses_messages; // names .Messages somewhere: Ollama's messages form
};

void kv__gotmpl_list_free(kv__gn_list *l);

#endif
