// The compiled form of a JSON schema, shared by its compiler (json_schema.c) and
// its matcher (json_schema_match.c) only. A separate private header rather than
// model_int.h: nothing else in the model needs it.
#ifndef KV_MODEL_JSON_SCHEMA_INT_H
#define KV_MODEL_JSON_SCHEMA_INT_H

#include "kvant/kv_json_schema.h"

// JSON types a node allows.
enum {
    KV__JS_OBJECT = 1,
    KV__JS_ARRAY = 2,
    KV__JS_STRING = 4,
    KV__JS_INTEGER = 8,
    KV__JS_NUMBER = 16, // any number (implies integer)
    KV__JS_BOOL = 32,
    KV__JS_NULL = 64,
    KV__JS_ANY = 127,
};

// String formats.
enum { KV__FMT_NONE, KV__FMT_DATE, KV__FMT_TIME, KV__FMT_DATE_TIME, KV__FMT_UUID };

// Numbers: magnitudes stay below KV__JS_BIG (at most KV__JS_INT_DIGITS digits).
#define KV__JS_BIG 1000000000000000000LL
#define KV__JS_INT_DIGITS 18
#define KV__JS_FRAC_DIGITS 15
#define KV__JS_EXP_DIGITS 3
#define KV__JS_DEPTH_INF 255 // min_depth of a node no finite document satisfies

typedef struct {
    uint8_t types;        // KV__JS_*; 0: an anyOf, see alt_*
    uint8_t format;       // KV__FMT_*
    uint8_t bounded;      // number bounds given: no exponent
    uint8_t min_depth;    // frames the shallowest document needs; KV__JS_DEPTH_INF: none
    uint8_t depth_obj;    // ... when it is an object
    uint8_t depth_arr;    // ... when it is an array
    int32_t alt_off, n_alt;   // anyOf: concrete alternatives, s->alts[alt_off..]
    int32_t lit_off, n_lit;   // enum/const: sorted texts s->lits[lit_off..]; n_lit < 0: none
    int32_t prop_off, n_prop; // properties, sorted by encoded name, s->props[prop_off..]
    uint64_t required;        // bit i: property prop_off + i is required
    int32_t additional;       // node of other keys; -1: no other keys
    int32_t items;            // node of array items
    uint32_t min_items, max_items;
    uint32_t min_len, max_len; // code points
    // whole integers s must have int_lo <= s <= int_hi; a fraction after integer
    // part s (sign aside) needs its unit interval inside [f_lo, f_hi] (see the matcher)
    int64_t int_lo, int_hi, f_lo, f_hi;
} kv__js_node;

typedef struct {
    const char *text; // JSON text of a value (literal) or a key as it is encoded
    uint32_t len;
    int32_t node;     // properties: the value's node
} kv__js_str;

struct kv_json_schema {
    kv__js_node *nodes;
    int32_t n_nodes, root;
    kv__js_str *props;
    int32_t n_props;
    kv__js_str *lits; // 0..1: false, true; 2: null; then enums
    int32_t n_lits;
    int32_t *alts;
    int32_t n_alts;
    char **strs; // owned texts
    int32_t n_strs;
};

#define KV__JS_LIT_BOOL 0 // two literals
#define KV__JS_LIT_NULL 2 // one literal

// Grows *p (elements of size sz) to hold n + 1 (doubling, 16 at first); false
// when out of memory (json_schema_graph.c).
bool kv__js_grow(void **p, int32_t *cap, int32_t n, size_t sz);

// Replaces every anyOf node's alternatives (raw[alt_off..] as written) by the
// concrete nodes they reach, in s->alts (json_schema_graph.c). KV_ERR_INVALID
// past KV_JSON_SCHEMA_MAX_PROPS alternatives, KV_ERR_NOMEM.
kv_status kv__js_flatten(kv_json_schema *s, const int32_t *raw, kv_err *err);
// Sets min_depth, depth_obj and depth_arr of every node: a fixpoint from
// "nothing is satisfiable" (json_schema_graph.c).
void kv__js_depths(kv_json_schema *s);

// The matcher's state after feeding text[0..n), in *q (m is not changed); false
// when the text is refused (q is then spoilt). For the sampler (sample_json.c).
bool kv__json_match_try(const kv_json_match *m, const char *text, size_t n, kv_json_match *q);

#endif
