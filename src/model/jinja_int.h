// Private to model/: the Jinja subset interpreter behind kv_jinja.h. The
// lexer (jinja_lex.c) turns template text into tokens, the parser
// (jinja_parse.c) builds a tree of nodes, and the evaluator (jinja_eval.c,
// jinja_builtin.c) walks it over values (jinja_value.c) held in one arena per
// parse or render, which also caps the memory either may use.
#ifndef KV_JINJA_INT_H
#define KV_JINJA_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kvant/kv_jinja.h"
#include "kvant/kv_status.h"

#define KV__JINJA_MAX_DEPTH 200         // nesting of the parse tree
#define KV__JINJA_MAX_EVAL_DEPTH 256    // nesting of evaluation (macro calls count)
#define KV__JINJA_MAX_STEPS 5000000     // nodes evaluated and loop iterations in one render
#define KV__JINJA_MAX_MEMORY (256u << 20) // arena bytes of one parse or render
#define KV__JINJA_MAX_OUTPUT (16u << 20) // bytes of rendered text

// ---- arena ----

typedef struct kv__jarena_chunk kv__jarena_chunk;
typedef struct {
    kv__jarena_chunk *head;
    size_t used;  // bytes handed out, all chunks
    size_t limit; // cap on used
} kv__jarena;

// n bytes (8-aligned) that live until kv__jarena_free; NULL when the cap or
// malloc says no.
void *kv__jarena_alloc(kv__jarena *a, size_t n);
void kv__jarena_free(kv__jarena *a);

// ---- values ----

typedef enum {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,
    JV_DICT,
    JV_NS,    // namespace(): a dict whose attributes `set` may change
    JV_FUNC,  // a built-in global function
    JV_MACRO, // a {% macro %}
} kv__jv_type;

typedef struct kv__jlist kv__jlist;
typedef struct kv__jdict kv__jdict;
typedef struct kv__jnode kv__jnode;

typedef struct {
    uint8_t t; // kv__jv_type
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        kv__jlist *l;
        kv__jdict *d; // JV_DICT, JV_NS
        int fn;       // JV_FUNC: a KV__JFN_*
        const kv__jnode *m;
    };
} kv__jv;

struct kv__jlist {
    size_t n, cap;
    kv__jv *v;
};

struct kv__jdict {
    size_t n, cap;
    kv__jv *k; // strings
    kv__jv *v;
};

enum { KV__JFN_RANGE, KV__JFN_NAMESPACE, KV__JFN_RAISE, KV__JFN_STRFTIME, KV__JFN_DICT };

static inline kv__jv kv__jv_undef(void) {
    return (kv__jv){.t = JV_UNDEF};
}
static inline kv__jv kv__jv_none(void) {
    return (kv__jv){.t = JV_NONE};
}
static inline kv__jv kv__jv_bool(bool b) {
    return (kv__jv){.t = JV_BOOL, .b = b};
}
static inline kv__jv kv__jv_int(int64_t i) {
    return (kv__jv){.t = JV_INT, .i = i};
}
static inline kv__jv kv__jv_str(const char *p, size_t n) {
    return (kv__jv){.t = JV_STR, .s = {p, n}};
}

// ---- tokens ----

typedef enum {
    JT_EOF,
    JT_TEXT,
    JT_OPEN_STMT,  // {%
    JT_CLOSE_STMT, // %}
    JT_OPEN_EXPR,  // {{
    JT_CLOSE_EXPR, // }}
    JT_NAME,
    JT_STR,
    JT_INT,
    JT_FLOAT,
    JT_OP, // punctuation and operators; text in p/n
} kv__jtok_type;

typedef struct {
    uint8_t t;
    const char *p; // text, name, operator, or the unescaped string
    size_t n;
    int64_t i;
    double f;
    size_t off; // offset in the template source, for messages
} kv__jtok;

// ---- parse tree ----

typedef enum {
    // statements
    JN_TEXT,     // s
    JN_OUTPUT,   // a
    JN_IF,       // a cond, kids body, b else (JN_IF for elif, JN_BLOCK, or NULL)
    JN_FOR,      // names targets, a iterable, c filter, kids body, b else block
    JN_SET,      // a target (JN_NAME, JN_ATTR or JN_LIST of names), b value or kids body
    JN_MACRO,    // s name, names params, defs[i] defaults (NULL), kids body
    JN_BREAK,
    JN_CONTINUE,
    JN_BLOCK,    // kids
    // expressions
    JN_LIT,      // v
    JN_NAME,     // s
    JN_LIST,     // kids
    JN_DICT,     // kids: key, value, key, value...
    JN_ATTR,     // a . s
    JN_INDEX,    // a [ b ]
    JN_SLICE,    // a [ b : c : d ]
    JN_CALL,     // a ( kids ), keyword arguments are JN_KWARG
    JN_KWARG,    // s = a
    JN_FILTER,   // a | s ( kids )
    JN_TEST,     // a is [not] s ( kids ); op 1: negated
    JN_BIN,      // a op b
    JN_UNARY,    // op a
    JN_COND,     // a if b else c
} kv__jnode_kind;

typedef enum {
    JOP_ADD, JOP_SUB, JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD, JOP_POW, JOP_CONCAT,
    JOP_EQ, JOP_NE, JOP_LT, JOP_GT, JOP_LE, JOP_GE, JOP_IN, JOP_NOTIN, JOP_AND, JOP_OR,
    JOP_NOT, JOP_NEG, JOP_POS,
} kv__jop;

struct kv__jnode {
    uint8_t kind;
    uint8_t op;
    size_t off; // where it starts in the source
    const kv__jnode *a, *b, *c, *d;
    const kv__jnode **kids;
    size_t n_kids;
    const char *s;
    size_t sn;
    const char **names; // JN_FOR targets, JN_MACRO parameters
    size_t *name_lens;
    const kv__jnode **defs; // JN_MACRO parameter defaults
    size_t n_names;
    kv__jv v;
};

struct kv_jinja {
    kv__jarena arena; // the tokens, the tree and its strings
    char *src;        // the template (a copy)
    size_t src_len;
    char *name;       // for messages
    const kv__jnode *root;
};

// Line and column (1-based, columns in bytes) of offset off in src.
void kv__jinja_linecol(const char *src, size_t len, size_t off, int *line, int *col);
// Fails with status st and "NAME:LINE:COL: MESSAGE".
kv_status kv__jinja_fail_at(kv_err *err, kv_status st, const kv_jinja *t, size_t off,
                            const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

// Bytes of the whitespace character (JavaScript's \\s) at p / ending at p + n; 0 if none.
size_t kv__jinja_ws_fwd(const char *p, size_t n);
size_t kv__jinja_ws_back(const char *p, size_t n);

// Tokenizes t->src as transformers configures Jinja for chat templates
// (trim_blocks, lstrip_blocks, one trailing newline dropped). *out lives in
// t->arena and ends with a JT_EOF token.
kv_status kv__jinja_lex(kv_jinja *t, kv__jtok **out, size_t *n_out, kv_err *err);
// ---- parser (jinja_parse.c: expressions, jinja_stmt.c: statements) ----

typedef struct {
    kv_jinja *t;
    const kv__jtok *k;
    size_t n, i;
    int depth;
    kv_err *err;
    kv_status st;
} kv__jparser;

typedef struct {
    const kv__jnode **v;
    size_t n, cap;
} kv__jnodes;

static inline const kv__jtok *jp_peek(kv__jparser *P) {
    return &P->k[P->i];
}

static inline bool jp_perr(kv__jparser *P, kv_status st, size_t off, const char *what,
                           const kv__jtok *got) {
    if (P->st == KV_OK) {
        if (got && got->t != JT_EOF)
            kv__jinja_fail_at(P->err, st, P->t, off, "%s, found '%.*s'", what,
                              (int)(got->n > 40 ? 40 : got->n), got->p);
        else
            kv__jinja_fail_at(P->err, st, P->t, off, "%s%s", what,
                              got ? ", found the end of the template" : "");
        P->st = st;
    }
    return false;
}

static inline bool jp_syntax(kv__jparser *P, const char *what) {
    return jp_perr(P, KV_ERR_FORMAT, jp_peek(P)->off, what, jp_peek(P));
}

static inline bool jp_is_op(const kv__jtok *k, const char *op) {
    return k->t == JT_OP && k->n == strlen(op) && memcmp(k->p, op, k->n) == 0;
}

static inline bool jp_is_name(const kv__jtok *k, const char *name) {
    return k->t == JT_NAME && k->n == strlen(name) && memcmp(k->p, name, k->n) == 0;
}

static inline bool jp_accept_op(kv__jparser *P, const char *op) {
    if (!jp_is_op(jp_peek(P), op))
        return false;
    P->i++;
    return true;
}

static inline bool jp_accept_name(kv__jparser *P, const char *name) {
    if (!jp_is_name(jp_peek(P), name))
        return false;
    P->i++;
    return true;
}

static inline bool jp_expect_op(kv__jparser *P, const char *op) {
    if (jp_accept_op(P, op))
        return true;
    char what[32];
    snprintf(what, sizeof what, "expected '%s'", op);
    return jp_syntax(P, what);
}

static inline kv__jnode *jp_node(kv__jparser *P, kv__jnode_kind kind, size_t off) {
    kv__jnode *n = kv__jarena_alloc(&P->t->arena, sizeof *n);
    if (!n) {
        jp_perr(P, KV_ERR_LIMIT, off, "the template needs more memory than allowed", NULL);
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->off = off;
    return n;
}

static inline bool jp_add(kv__jparser *P, kv__jnodes *l, const kv__jnode *n) {
    if (!n)
        return false;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        const kv__jnode **v = kv__jarena_alloc(&P->t->arena, cap * sizeof *v);
        if (!v)
            return jp_perr(P, KV_ERR_LIMIT, n->off, "the template needs more memory than allowed",
                        NULL);
        if (l->n)
            memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
    return true;
}

static inline void jp_set_kids(kv__jnode *n, const kv__jnodes *l) {
    n->kids = l->v;
    n->n_kids = l->n;
}

static inline bool jp_enter(kv__jparser *P) {
    if (++P->depth > KV__JINJA_MAX_DEPTH)
        return jp_perr(P, KV_ERR_LIMIT, jp_peek(P)->off, "the template is nested too deeply", NULL);
    return true;
}

// An expression, at the parser's position; NULL with P->st set on failure.
const kv__jnode *kv__jp_expr(kv__jparser *P);
// An expression without the trailing "if ... else" (for loops' targets).
const kv__jnode *kv__jp_or_expr(kv__jparser *P);

// Parses the tokens into t->root.
kv_status kv__jinja_parse(kv_jinja *t, const kv__jtok *toks, size_t n_toks, kv_err *err);

// ---- values (jinja_value.c) ----

// A string, list or dict made in arena a; NULL when the arena is full.
char *kv__jv_strdup(kv__jarena *a, const char *p, size_t n);
kv__jlist *kv__jlist_new(kv__jarena *a, size_t cap);
bool kv__jlist_push(kv__jarena *a, kv__jlist *l, kv__jv v);
kv__jdict *kv__jdict_new(kv__jarena *a, size_t cap);
bool kv__jdict_set(kv__jarena *a, kv__jdict *d, const char *k, size_t kn, kv__jv v);
// The value at key k, or NULL.
kv__jv *kv__jdict_get(const kv__jdict *d, const char *k, size_t kn);
// A JSON value as a Jinja value (objects keep their key order); false when the
// arena is full.
bool kv__jv_from_json(kv__jarena *a, const json_t *j, kv__jv *out);

bool kv__jv_truthy(kv__jv v);
bool kv__jv_equal(kv__jv x, kv__jv y);
const char *kv__jv_type_name(kv__jv v);

// A growable byte buffer with a cap (output text, string building).
typedef struct {
    char *p;
    size_t n, cap, limit;
} kv__jbuf;
// false when the limit or malloc says no
bool kv__jbuf_add(kv__jbuf *b, const char *s, size_t n);
void kv__jbuf_free(kv__jbuf *b);

// Appends v as {{ v }} prints it (none and undefined print nothing).
bool kv__jv_print(kv__jbuf *b, kv__jv v);
// Appends v as JSON (Python's json.dumps with ensure_ascii=False; indent < 0:
// one line with ", " and ": ").
bool kv__jv_tojson(kv__jbuf *b, kv__jv v, int indent, int depth);

// ---- evaluation (jinja_eval.c, jinja_builtin.c) ----

typedef struct kv__jscope kv__jscope;
struct kv__jscope {
    kv__jscope *up;
    kv__jdict *vars;
};

typedef struct {
    const kv_jinja *t;
    kv__jarena *arena;
    kv_err *err;
    kv_status st;   // the first failure (the message is in err)
    int64_t steps;
    int depth;
    int64_t now;    // strftime_now's time (Unix seconds, UTC)
    size_t out_limit;
    int flow;       // FLOW_*: a break or continue on its way to its loop
    kv__jscope *global;
} kv__jctx;

enum { KV__FLOW_NONE, KV__FLOW_BREAK, KV__FLOW_CONTINUE };

// Whether a filter or test of that name exists (the parser rejects others).
bool kv__jfilter_known(const char *name, size_t n);
bool kv__jtest_known(const char *name, size_t n);

// Records a failure at node n's position; returns false for `return` chains.
bool kv__jfail(kv__jctx *c, const kv__jnode *n, kv_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
bool kv__jnomem(kv__jctx *c, const kv__jnode *n);

// Runs the template c->t over the globals in scope g; the text goes to o.
bool kv__jrun(kv__jctx *c, kv__jscope *g, kv__jbuf *o);
// Evaluates expression n in scope s.
bool kv__jeval(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv *out);
// Applies filter n (JN_FILTER) to v.
bool kv__jfilter(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out);
// Evaluates test n (JN_TEST) on v, before negation.
bool kv__jtest(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, bool *out);
// Calls method `name` of v (str.strip, dict.items, ...); *found false when v
// has no such method.
bool kv__jmethod(kv__jctx *c, kv__jscope *s, const kv__jnode *call, kv__jv v, const char *name,
                 size_t name_n, kv__jv *out, bool *found);
// Calls a built-in global function.
bool kv__jcall_builtin(kv__jctx *c, kv__jscope *s, const kv__jnode *call, int fn, kv__jv *out);
// Evaluates the positional arguments of call (keyword arguments are an error
// unless kw is not NULL, where they go by name: kw_names[i] gets kw[i]).
bool kv__jargs(kv__jctx *c, kv__jscope *s, const kv__jnode *call, kv__jv *pos, size_t max_pos,
               size_t *n_pos, const char *const *kw_names, kv__jv *kw, size_t n_kw);

// A new string value: the bytes of b, copied into the arena.
bool kv__jstr_from_buf(kv__jctx *c, const kv__jnode *n, const kv__jbuf *b, kv__jv *out);
// v as a string value (as {{ v }} prints it).
bool kv__jto_str(kv__jctx *c, const kv__jnode *n, kv__jv v, kv__jv *out);

#endif
