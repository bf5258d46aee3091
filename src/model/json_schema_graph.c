// Passes over the compiled schema graph, once every node is made: anyOf
// flattened to the concrete alternatives it reaches (through nested anyOf and
// $ref cycles alike), then each node's min_depth (the open values its shallowest
// document needs; KV__JS_DEPTH_INF for a node no finite document satisfies),
// which is what keeps the matcher out of dead ends.
#include "model/json_schema_int.h"

#include <stdlib.h>
#include <string.h>

// Grows *p (elements of size sz) to hold n + 1; false when out of memory.
bool kv__js_grow(void **p, int32_t *cap, int32_t n, size_t sz) {
    if (n < *cap)
        return true;
    int32_t c = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, (size_t)c * sz);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

kv_status kv__js_flatten(kv_json_schema *s, const int32_t *raw, kv_err *err) {
    int32_t cap = 0;
    uint8_t *seen = calloc((size_t)s->n_nodes, 1);
    int32_t *stack = malloc((size_t)s->n_nodes * sizeof *stack);
    kv_status st = seen && stack ? KV_OK : KV_FAIL(err, KV_ERR_NOMEM, "out of memory compiling the JSON schema");
    for (int32_t i = 0; st == KV_OK && i < s->n_nodes; i++) {
        if (s->nodes[i].types != 0)
            continue;
        memset(seen, 0, (size_t)s->n_nodes);
        int32_t sp = 0, off = s->n_alts;
        stack[sp++] = i;
        seen[i] = 1;
        while (sp > 0 && st == KV_OK) {
            const kv__js_node *n = &s->nodes[stack[--sp]];
            for (int32_t k = n->n_alt - 1; k >= 0; k--) {
                int32_t a = raw[n->alt_off + k];
                if (seen[a])
                    continue;
                seen[a] = 1;
                if (s->nodes[a].types == 0) {
                    stack[sp++] = a;
                } else if (s->n_alts - off >= KV_JSON_SCHEMA_MAX_PROPS) {
                    st = KV_FAIL(err, KV_ERR_INVALID,
                                 "JSON schema anyOf reaches more than %d alternatives",
                                 KV_JSON_SCHEMA_MAX_PROPS);
                } else if (!kv__js_grow((void **)&s->alts, &cap, s->n_alts, sizeof *s->alts)) {
                    st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory compiling the JSON schema");
                } else {
                    s->alts[s->n_alts++] = a;
                }
            }
        }
        s->nodes[i].alt_off = off;
        s->nodes[i].n_alt = s->n_alts - off;
    }
    free(seen);
    free(stack);
    return st;
}

static uint8_t add1(unsigned d) {
    return d + 1 >= KV__JS_DEPTH_INF ? KV__JS_DEPTH_INF : (uint8_t)(d + 1);
}

// Whether a whole number exists in the node's bounds.
static bool numbers_exist(const kv__js_node *n) {
    const int64_t top = KV__JS_BIG - 1; // the largest magnitude generated
    int64_t lo = n->int_lo < -top ? -top : n->int_lo, hi = n->int_hi > top ? top : n->int_hi;
    if (lo <= hi)
        return true;
    if (!(n->types & KV__JS_NUMBER))
        return false;
    // a fraction after a whole part s >= 0 needs int_lo <= s, s + 1 <= f_hi; after
    // -m (m >= 0), -m <= int_hi and -(m + 1) >= f_lo
    int64_t pos = n->int_lo > 0 ? n->int_lo : 0, neg = n->int_hi < 0 ? n->int_hi : 0;
    return (pos < top && pos + 1 <= n->f_hi) || (neg > -top && n->f_lo + 1 <= neg);
}

void kv__js_depths(kv_json_schema *s) {
    for (int32_t i = 0; i < s->n_nodes; i++) {
        s->nodes[i].min_depth = s->nodes[i].depth_obj = s->nodes[i].depth_arr = KV__JS_DEPTH_INF;
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (int32_t i = 0; i < s->n_nodes; i++) {
            kv__js_node *n = &s->nodes[i];
            unsigned d = KV__JS_DEPTH_INF;
            if (n->types == 0) {
                for (int32_t k = 0; k < n->n_alt; k++)
                    if (s->nodes[s->alts[n->alt_off + k]].min_depth < d)
                        d = s->nodes[s->alts[n->alt_off + k]].min_depth;
            } else if (n->n_lit >= 0) {
                d = n->n_lit > 0 ? 1 : KV__JS_DEPTH_INF;
            } else {
                if ((n->types & (KV__JS_BOOL | KV__JS_NULL)) ||
                    ((n->types & KV__JS_STRING) && (n->format || n->min_len <= n->max_len)) ||
                    ((n->types & KV__JS_INTEGER) && numbers_exist(n)))
                    d = 1;
                if (n->types & KV__JS_OBJECT) {
                    unsigned m = 0;
                    for (int32_t k = 0; k < n->n_prop; k++)
                        if ((n->required >> k) & 1 && s->nodes[s->props[n->prop_off + k].node]
                                                               .min_depth > m)
                            m = s->nodes[s->props[n->prop_off + k].node].min_depth;
                    n->depth_obj = add1(m);
                    if (n->depth_obj < d)
                        d = n->depth_obj;
                }
                if ((n->types & KV__JS_ARRAY) && n->min_items <= n->max_items) {
                    n->depth_arr = add1(n->min_items > 0 ? s->nodes[n->items].min_depth : 0);
                    if (n->depth_arr < d)
                        d = n->depth_arr;
                }
            }
            if (d < n->min_depth) {
                n->min_depth = (uint8_t)d;
                changed = true;
            }
        }
    }
}

