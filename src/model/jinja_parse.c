// The Jinja parser: tokens -> a tree of kv__jnode, recursive descent with
// Jinja's precedence (lowest first): x if c else y; or; and; not; comparisons
// and in/not in; + -; ~; * / // %; **; unary - +; then postfix . [] () and the
// filter/test chain (| f, is t). Statements: if/elif/else, for (... if cond,
// else), set (name, tuple, ns.attr, block), macro, break, continue, and
// generation blocks (no-ops). Anything else is an error naming line and column.
#include "model/jinja_int.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    kv_jinja *t;
    const kv__jtok *k;
    size_t n, i;
    int depth;
    kv_err *err;
    kv_status st;
} parser;

typedef struct {
    const kv__jnode **v;
    size_t n, cap;
} nodes;

static const kv__jtok *peek(parser *P) {
    return &P->k[P->i];
}

static bool perr(parser *P, kv_status st, size_t off, const char *what, const kv__jtok *got) {
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

static bool syntax(parser *P, const char *what) {
    return perr(P, KV_ERR_FORMAT, peek(P)->off, what, peek(P));
}

static bool is_op(const kv__jtok *k, const char *op) {
    return k->t == JT_OP && k->n == strlen(op) && memcmp(k->p, op, k->n) == 0;
}

static bool is_name(const kv__jtok *k, const char *name) {
    return k->t == JT_NAME && k->n == strlen(name) && memcmp(k->p, name, k->n) == 0;
}

static bool accept_op(parser *P, const char *op) {
    if (!is_op(peek(P), op))
        return false;
    P->i++;
    return true;
}

static bool accept_name(parser *P, const char *name) {
    if (!is_name(peek(P), name))
        return false;
    P->i++;
    return true;
}

static bool expect_op(parser *P, const char *op) {
    if (accept_op(P, op))
        return true;
    char what[32];
    snprintf(what, sizeof what, "expected '%s'", op);
    return syntax(P, what);
}

static kv__jnode *node(parser *P, kv__jnode_kind kind, size_t off) {
    kv__jnode *n = kv__jarena_alloc(&P->t->arena, sizeof *n);
    if (!n) {
        perr(P, KV_ERR_LIMIT, off, "the template needs more memory than allowed", NULL);
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->off = off;
    return n;
}

static bool add(parser *P, nodes *l, const kv__jnode *n) {
    if (!n)
        return false;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        const kv__jnode **v = kv__jarena_alloc(&P->t->arena, cap * sizeof *v);
        if (!v)
            return perr(P, KV_ERR_LIMIT, n->off, "the template needs more memory than allowed",
                        NULL);
        if (l->n)
            memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
    return true;
}

static void set_kids(kv__jnode *n, const nodes *l) {
    n->kids = l->v;
    n->n_kids = l->n;
}

static bool enter(parser *P) {
    if (++P->depth > KV__JINJA_MAX_DEPTH)
        return perr(P, KV_ERR_LIMIT, peek(P)->off, "the template is nested too deeply", NULL);
    return true;
}

// ---- expressions ----

static const kv__jnode *expr(parser *P);
static const kv__jnode *unary(parser *P, bool with_filter);

static const kv__jnode *binary(parser *P, kv__jop op, size_t off, const kv__jnode *a,
                               const kv__jnode *b) {
    if (!a || !b)
        return NULL;
    kv__jnode *n = node(P, JN_BIN, off);
    if (n) {
        n->op = (uint8_t)op;
        n->a = a;
        n->b = b;
    }
    return n;
}

// Call arguments after "(": positional and name=value, up to ")".
static bool call_args(parser *P, nodes *args) {
    while (!accept_op(P, ")")) {
        if (args->n > 0 && !expect_op(P, ","))
            return false;
        if (accept_op(P, ")"))
            break;
        const kv__jtok *k = peek(P);
        if (k->t == JT_NAME && is_op(&P->k[P->i + 1], "=")) {
            kv__jnode *kw = node(P, JN_KWARG, k->off);
            if (!kw)
                return false;
            kw->s = k->p;
            kw->sn = k->n;
            P->i += 2;
            kw->a = expr(P);
            if (!add(P, args, kw->a ? kw : NULL))
                return false;
        } else if (!add(P, args, expr(P))) {
            return false;
        }
    }
    return true;
}

static const kv__jnode *list_lit(parser *P, size_t off, const char *close) {
    kv__jnode *n = node(P, JN_LIST, off);
    nodes l = {0};
    if (!n)
        return NULL;
    while (!accept_op(P, close)) {
        if (l.n > 0 && !expect_op(P, ","))
            return NULL;
        if (accept_op(P, close))
            break;
        if (!add(P, &l, expr(P)))
            return NULL;
    }
    set_kids(n, &l);
    return n;
}

static const kv__jnode *dict_lit(parser *P, size_t off) {
    kv__jnode *n = node(P, JN_DICT, off);
    nodes l = {0};
    if (!n)
        return NULL;
    while (!accept_op(P, "}")) {
        if (l.n > 0 && !expect_op(P, ","))
            return NULL;
        if (accept_op(P, "}"))
            break;
        if (!add(P, &l, expr(P)) || !expect_op(P, ":") || !add(P, &l, expr(P)))
            return NULL;
    }
    set_kids(n, &l);
    return n;
}

static const kv__jnode *literal(parser *P, kv__jv v, size_t off) {
    kv__jnode *n = node(P, JN_LIT, off);
    if (n)
        n->v = v;
    return n;
}

static const kv__jnode *primary(parser *P) {
    const kv__jtok *k = peek(P);
    size_t off = k->off;
    switch (k->t) {
    case JT_STR: {
        // adjacent string literals join ("a" "b")
        size_t total = 0, j = P->i;
        for (; P->k[j].t == JT_STR; j++)
            total += P->k[j].n;
        if (j == P->i + 1) {
            P->i++;
            return literal(P, kv__jv_str(k->p, k->n), off);
        }
        char *s = kv__jarena_alloc(&P->t->arena, total + 1);
        if (!s) {
            perr(P, KV_ERR_LIMIT, off, "the template needs more memory than allowed", NULL);
            return NULL;
        }
        size_t n = 0;
        for (; P->i < j; P->i++) {
            memcpy(s + n, P->k[P->i].p, P->k[P->i].n);
            n += P->k[P->i].n;
        }
        return literal(P, kv__jv_str(s, n), off);
    }
    case JT_INT: P->i++; return literal(P, kv__jv_int(k->i), off);
    case JT_FLOAT: P->i++; return literal(P, (kv__jv){.t = JV_FLOAT, .f = k->f}, off);
    case JT_NAME: {
        P->i++;
        if (is_name(k, "true") || is_name(k, "True"))
            return literal(P, kv__jv_bool(true), off);
        if (is_name(k, "false") || is_name(k, "False"))
            return literal(P, kv__jv_bool(false), off);
        if (is_name(k, "none") || is_name(k, "None"))
            return literal(P, kv__jv_none(), off);
        kv__jnode *n = node(P, JN_NAME, off);
        if (n) {
            n->s = k->p;
            n->sn = k->n;
        }
        return n;
    }
    case JT_OP:
        if (accept_op(P, "(")) {
            const kv__jnode *e = expr(P);
            if (!e)
                return NULL;
            if (accept_op(P, ")"))
                return e;
            // a tuple: (a, b, ...) is a list here
            kv__jnode *n = node(P, JN_LIST, off);
            nodes l = {0};
            if (!n || !add(P, &l, e))
                return NULL;
            while (accept_op(P, ",")) {
                if (is_op(peek(P), ")"))
                    break;
                if (!add(P, &l, expr(P)))
                    return NULL;
            }
            if (!expect_op(P, ")"))
                return NULL;
            set_kids(n, &l);
            return n;
        }
        if (accept_op(P, "["))
            return list_lit(P, off, "]");
        if (accept_op(P, "{"))
            return dict_lit(P, off);
        break;
    default: break;
    }
    syntax(P, "expected an expression");
    return NULL;
}

// [b], [b:c], [b:c:d] after the object a.
static const kv__jnode *subscript(parser *P, const kv__jnode *a, size_t off) {
    const kv__jnode *part[3] = {NULL, NULL, NULL};
    int n_colon = 0;
    for (;;) {
        if (is_op(peek(P), ":")) {
            if (++n_colon > 2)
                return syntax(P, "too many ':' in a slice") ? NULL : NULL;
            P->i++;
            continue;
        }
        if (is_op(peek(P), "]"))
            break;
        if (part[n_colon])
            return syntax(P, "expected ']'") ? NULL : NULL;
        if (!(part[n_colon] = expr(P)))
            return NULL;
    }
    P->i++;
    kv__jnode *n = node(P, n_colon ? JN_SLICE : JN_INDEX, off);
    if (!n)
        return NULL;
    if (!n_colon && !part[0])
        return syntax(P, "expected an index") ? NULL : NULL;
    n->a = a;
    n->b = part[0];
    n->c = part[1];
    n->d = part[2];
    return n;
}

static const kv__jnode *postfix(parser *P, const kv__jnode *a) {
    while (a) {
        size_t off = peek(P)->off;
        if (accept_op(P, ".")) {
            const kv__jtok *k = peek(P);
            if (k->t != JT_NAME && k->t != JT_INT)
                return syntax(P, "expected an attribute name after '.'") ? NULL : NULL;
            P->i++;
            kv__jnode *n = node(P, JN_ATTR, off);
            if (!n)
                return NULL;
            n->a = a;
            n->s = k->p;
            n->sn = k->n;
            a = n;
        } else if (accept_op(P, "[")) {
            a = subscript(P, a, off);
        } else if (accept_op(P, "(")) {
            kv__jnode *n = node(P, JN_CALL, a->off); // a call is where its callee starts
            nodes args = {0};
            if (!n || !call_args(P, &args))
                return NULL;
            n->a = a;
            set_kids(n, &args);
            a = n;
        } else {
            break;
        }
    }
    return a;
}

// The chain of "| filter(args)" and "is [not] test(args)" after a.
static const kv__jnode *filters(parser *P, const kv__jnode *a) {
    while (a) {
        size_t off = peek(P)->off;
        bool filter = is_op(peek(P), "|");
        if (!filter && !is_name(peek(P), "is"))
            break;
        P->i++;
        bool neg = !filter && accept_name(P, "not");
        const kv__jtok *k = peek(P);
        if (k->t != JT_NAME)
            return syntax(P, filter ? "expected a filter name" : "expected a test name") ? NULL
                                                                                       : NULL;
        if (filter ? !kv__jfilter_known(k->p, k->n) : !kv__jtest_known(k->p, k->n))
            return perr(P, KV_ERR_UNSUPPORTED, k->off,
                        filter ? "unsupported filter" : "unsupported test", k)
                       ? NULL
                       : NULL;
        P->i++;
        kv__jnode *n = node(P, filter ? JN_FILTER : JN_TEST, off);
        nodes args = {0};
        if (!n)
            return NULL;
        n->a = a;
        n->s = k->p;
        n->sn = k->n;
        n->op = neg;
        if (accept_op(P, "(")) {
            if (!call_args(P, &args))
                return NULL;
        } else if (!filter && (peek(P)->t == JT_STR || peek(P)->t == JT_INT ||
                               peek(P)->t == JT_FLOAT)) {
            // one literal argument without parentheses: x is divisibleby 3
            if (!add(P, &args, primary(P)))
                return NULL;
        }
        set_kids(n, &args);
        a = n;
    }
    return a;
}

static const kv__jnode *unary(parser *P, bool with_filter) {
    if (!enter(P))
        return NULL;
    const kv__jtok *k = peek(P);
    const kv__jnode *r;
    if (is_op(k, "-") || is_op(k, "+")) {
        P->i++;
        kv__jnode *n = node(P, JN_UNARY, k->off);
        if (!n)
            return NULL;
        n->op = is_op(k, "-") ? JOP_NEG : JOP_POS;
        n->a = unary(P, false);
        r = n->a ? n : NULL;
    } else {
        r = postfix(P, primary(P));
    }
    if (with_filter)
        r = filters(P, r);
    P->depth--;
    return r;
}

static const kv__jnode *power(parser *P) {
    const kv__jnode *a = unary(P, true);
    while (a && is_op(peek(P), "**")) {
        size_t off = peek(P)->off;
        P->i++;
        a = binary(P, JOP_POW, off, a, unary(P, true));
    }
    return a;
}

static const kv__jnode *product(parser *P) {
    static const char *const OPS[] = {"*", "/", "//", "%"};
    static const kv__jop CODES[] = {JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD};
    const kv__jnode *a = power(P);
    for (int o = 0; a && o < 4; o++)
        if (is_op(peek(P), OPS[o])) {
            size_t off = peek(P)->off;
            P->i++;
            a = binary(P, CODES[o], off, a, power(P));
            o = -1;
        }
    return a;
}

static const kv__jnode *concat(parser *P) {
    const kv__jnode *a = product(P);
    while (a && is_op(peek(P), "~")) {
        size_t off = peek(P)->off;
        P->i++;
        a = binary(P, JOP_CONCAT, off, a, product(P));
    }
    return a;
}

static const kv__jnode *sum(parser *P) {
    const kv__jnode *a = concat(P);
    while (a && (is_op(peek(P), "+") || is_op(peek(P), "-"))) {
        size_t off = peek(P)->off;
        kv__jop op = is_op(peek(P), "+") ? JOP_ADD : JOP_SUB;
        P->i++;
        a = binary(P, op, off, a, concat(P));
    }
    return a;
}

static const kv__jnode *compare(parser *P) {
    static const char *const OPS[] = {"==", "!=", "<", ">", "<=", ">="};
    static const kv__jop CODES[] = {JOP_EQ, JOP_NE, JOP_LT, JOP_GT, JOP_LE, JOP_GE};
    const kv__jnode *a = sum(P);
    while (a) {
        size_t off = peek(P)->off;
        int op = -1;
        for (int o = 0; o < 6; o++)
            if (is_op(peek(P), OPS[o]))
                op = CODES[o];
        if (op >= 0) {
            P->i++;
        } else if (is_name(peek(P), "in")) {
            P->i++;
            op = JOP_IN;
        } else if (is_name(peek(P), "not") && is_name(&P->k[P->i + 1], "in")) {
            P->i += 2;
            op = JOP_NOTIN;
        } else {
            break;
        }
        a = binary(P, (kv__jop)op, off, a, sum(P));
    }
    return a;
}

static const kv__jnode *not_expr(parser *P) {
    if (!is_name(peek(P), "not"))
        return compare(P);
    size_t off = peek(P)->off;
    P->i++;
    if (!enter(P))
        return NULL;
    kv__jnode *n = node(P, JN_UNARY, off);
    if (n) {
        n->op = JOP_NOT;
        n->a = not_expr(P);
    }
    P->depth--;
    return n && n->a ? n : NULL;
}

static const kv__jnode *and_expr(parser *P) {
    const kv__jnode *a = not_expr(P);
    while (a && is_name(peek(P), "and")) {
        size_t off = peek(P)->off;
        P->i++;
        a = binary(P, JOP_AND, off, a, not_expr(P));
    }
    return a;
}

static const kv__jnode *or_expr(parser *P) {
    const kv__jnode *a = and_expr(P);
    while (a && is_name(peek(P), "or")) {
        size_t off = peek(P)->off;
        P->i++;
        a = binary(P, JOP_OR, off, a, and_expr(P));
    }
    return a;
}

static const kv__jnode *expr(parser *P) {
    if (!enter(P))
        return NULL;
    const kv__jnode *a = or_expr(P);
    while (a && is_name(peek(P), "if")) {
        kv__jnode *n = node(P, JN_COND, peek(P)->off);
        if (!n)
            return NULL;
        P->i++;
        n->a = a;
        n->b = or_expr(P);
        if (n->b && accept_name(P, "else"))
            n->c = expr(P);
        if (!n->b || (is_name(&P->k[P->i - 1], "else") && !n->c))
            return NULL;
        a = n;
    }
    P->depth--;
    return a;
}

// ---- statements ----

static kv__jnode *block(parser *P, size_t off, const char *const *ends, int *which);

static bool close_stmt(parser *P) {
    if (peek(P)->t == JT_CLOSE_STMT) {
        P->i++;
        return true;
    }
    return syntax(P, "expected '%}'");
}

static kv__jnode *if_stmt(parser *P, size_t off) {
    static const char *const ENDS[] = {"elif", "else", "endif", NULL};
    kv__jnode *n = node(P, JN_IF, off);
    if (!n || !(n->a = expr(P)) || !close_stmt(P))
        return NULL;
    int which;
    kv__jnode *body = block(P, off, ENDS, &which);
    if (!body)
        return NULL;
    n->kids = body->kids;
    n->n_kids = body->n_kids;
    if (which == 0) {
        n->b = if_stmt(P, P->k[P->i - 1].off);
        return n->b ? n : NULL;
    }
    if (which == 1) {
        static const char *const END[] = {"endif", NULL};
        if (!close_stmt(P) || !(n->b = block(P, off, END, &which)))
            return NULL;
    }
    return close_stmt(P) ? n : NULL;
}

// Names separated by commas (for targets, set tuples).
static bool name_list(parser *P, kv__jnode *n) {
    const char *names[16];
    size_t lens[16], k = 0;
    do {
        const kv__jtok *t = peek(P);
        if (t->t != JT_NAME)
            return syntax(P, "expected a variable name");
        if (k == 16)
            return syntax(P, "too many names");
        names[k] = t->p;
        lens[k++] = t->n;
        P->i++;
    } while (accept_op(P, ","));
    n->names = kv__jarena_alloc(&P->t->arena, k * sizeof *n->names);
    n->name_lens = kv__jarena_alloc(&P->t->arena, k * sizeof *n->name_lens);
    if (!n->names || !n->name_lens)
        return perr(P, KV_ERR_LIMIT, n->off, "the template needs more memory than allowed", NULL);
    memcpy(n->names, names, k * sizeof *names);
    memcpy(n->name_lens, lens, k * sizeof *lens);
    n->n_names = k;
    return true;
}

static kv__jnode *for_stmt(parser *P, size_t off) {
    static const char *const ENDS[] = {"else", "endfor", NULL};
    kv__jnode *n = node(P, JN_FOR, off);
    if (!n || !name_list(P, n))
        return NULL;
    if (!accept_name(P, "in"))
        return syntax(P, "expected 'in'") ? NULL : NULL;
    if (!(n->a = or_expr(P)))
        return NULL;
    if (accept_name(P, "if") && !(n->c = or_expr(P)))
        return NULL;
    if (is_name(peek(P), "recursive"))
        return perr(P, KV_ERR_UNSUPPORTED, peek(P)->off, "recursive loops are not supported",
                    NULL)
                   ? NULL
                   : NULL;
    if (!close_stmt(P))
        return NULL;
    int which;
    kv__jnode *body = block(P, off, ENDS, &which);
    if (!body)
        return NULL;
    n->kids = body->kids;
    n->n_kids = body->n_kids;
    if (which == 0) {
        static const char *const END[] = {"endfor", NULL};
        if (!close_stmt(P) || !(n->b = block(P, off, END, &which)))
            return NULL;
    }
    return close_stmt(P) ? n : NULL;
}

static kv__jnode *set_stmt(parser *P, size_t off) {
    kv__jnode *n = node(P, JN_SET, off);
    if (!n)
        return NULL;
    const kv__jtok *k = peek(P);
    if (k->t != JT_NAME)
        return syntax(P, "expected a variable name after 'set'") ? NULL : NULL;
    if (is_op(&P->k[P->i + 1], ".")) {
        // set ns.attr = value
        kv__jnode *obj = node(P, JN_NAME, k->off), *attr = node(P, JN_ATTR, k->off);
        if (!obj || !attr)
            return NULL;
        obj->s = k->p;
        obj->sn = k->n;
        P->i += 2;
        if (peek(P)->t != JT_NAME)
            return syntax(P, "expected an attribute name") ? NULL : NULL;
        attr->a = obj;
        attr->s = peek(P)->p;
        attr->sn = peek(P)->n;
        P->i++;
        n->a = attr;
    } else if (!name_list(P, n)) {
        return NULL;
    }
    if (accept_op(P, "=")) {
        n->b = expr(P);
        return n->b && close_stmt(P) ? n : NULL;
    }
    if (n->a || n->n_names != 1)
        return syntax(P, "expected '='") ? NULL : NULL;
    // {% set x %}...{% endset %}
    static const char *const END[] = {"endset", NULL};
    int which;
    if (!close_stmt(P) || !(n->c = block(P, off, END, &which)))
        return NULL;
    return close_stmt(P) ? n : NULL;
}

static kv__jnode *macro_stmt(parser *P, size_t off) {
    kv__jnode *n = node(P, JN_MACRO, off);
    if (!n)
        return NULL;
    if (peek(P)->t != JT_NAME)
        return syntax(P, "expected a macro name") ? NULL : NULL;
    n->s = peek(P)->p;
    n->sn = peek(P)->n;
    P->i++;
    if (!expect_op(P, "("))
        return NULL;
    const char *names[32];
    size_t lens[32], k = 0;
    const kv__jnode *defs[32];
    while (!accept_op(P, ")")) {
        if (k > 0 && !expect_op(P, ","))
            return NULL;
        if (peek(P)->t != JT_NAME || k == 32)
            return syntax(P, "expected a parameter name") ? NULL : NULL;
        names[k] = peek(P)->p;
        lens[k] = peek(P)->n;
        P->i++;
        defs[k] = NULL;
        if (accept_op(P, "=") && !(defs[k] = expr(P)))
            return NULL;
        k++;
    }
    n->names = kv__jarena_alloc(&P->t->arena, (k + 1) * sizeof *n->names);
    n->name_lens = kv__jarena_alloc(&P->t->arena, (k + 1) * sizeof *n->name_lens);
    n->defs = kv__jarena_alloc(&P->t->arena, (k + 1) * sizeof *n->defs);
    if (!n->names || !n->name_lens || !n->defs)
        return perr(P, KV_ERR_LIMIT, off, "the template needs more memory than allowed", NULL)
                   ? NULL
                   : NULL;
    memcpy(n->names, names, k * sizeof *names);
    memcpy(n->name_lens, lens, k * sizeof *lens);
    memcpy(n->defs, defs, k * sizeof *defs);
    n->n_names = k;
    static const char *const END[] = {"endmacro", NULL};
    int which;
    if (!close_stmt(P))
        return NULL;
    kv__jnode *body = block(P, off, END, &which);
    if (!body)
        return NULL;
    n->kids = body->kids;
    n->n_kids = body->n_kids;
    return close_stmt(P) ? n : NULL;
}

// One statement after "{%"; NULL with P->st set on failure, or (for a no-op
// such as generation) a JN_BLOCK without kids.
static kv__jnode *statement(parser *P) {
    const kv__jtok *k = peek(P);
    size_t off = k->off;
    if (k->t != JT_NAME)
        return syntax(P, "expected a statement name") ? NULL : NULL;
    P->i++;
    if (is_name(k, "if"))
        return if_stmt(P, off);
    if (is_name(k, "for"))
        return for_stmt(P, off);
    if (is_name(k, "set"))
        return set_stmt(P, off);
    if (is_name(k, "macro"))
        return macro_stmt(P, off);
    if (is_name(k, "break") || is_name(k, "continue")) {
        kv__jnode *n = node(P, is_name(k, "break") ? JN_BREAK : JN_CONTINUE, off);
        return n && close_stmt(P) ? n : NULL;
    }
    if (is_name(k, "generation") || is_name(k, "endgeneration")) {
        kv__jnode *n = node(P, JN_BLOCK, off);
        return n && close_stmt(P) ? n : NULL;
    }
    perr(P, KV_ERR_UNSUPPORTED, off, "unsupported statement", k);
    return NULL;
}

// Statements up to one of ends (NULL-terminated; NULL itself: the end of the
// template). *which is the index of the end tag found; the parser stops after
// its name, before its "%}".
static kv__jnode *block(parser *P, size_t off, const char *const *ends, int *which) {
    if (!enter(P))
        return NULL;
    kv__jnode *b = node(P, JN_BLOCK, off);
    nodes l = {0};
    if (!b)
        return NULL;
    for (;;) {
        const kv__jtok *k = peek(P);
        if (k->t == JT_EOF) {
            if (ends) {
                char what[64];
                snprintf(what, sizeof what, "this block is never closed (expected '%s')",
                         ends[0] && ends[1] ? ends[ends[2] ? 2 : 1] : ends[0]);
                return perr(P, KV_ERR_FORMAT, off, what, NULL) ? NULL : NULL;
            }
            break;
        }
        if (k->t == JT_TEXT) {
            kv__jnode *n = node(P, JN_TEXT, k->off);
            if (!n)
                return NULL;
            n->s = k->p;
            n->sn = k->n;
            P->i++;
            if (!add(P, &l, n))
                return NULL;
        } else if (k->t == JT_OPEN_EXPR) {
            P->i++;
            kv__jnode *n = node(P, JN_OUTPUT, k->off);
            if (!n || !(n->a = expr(P)))
                return NULL;
            if (peek(P)->t != JT_CLOSE_EXPR)
                return syntax(P, "expected '}}'") ? NULL : NULL;
            P->i++;
            if (!add(P, &l, n))
                return NULL;
        } else if (k->t == JT_OPEN_STMT) {
            const kv__jtok *name = &P->k[P->i + 1];
            for (int e = 0; ends && ends[e]; e++)
                if (is_name(name, ends[e])) {
                    P->i += 2;
                    *which = e;
                    set_kids(b, &l);
                    P->depth--;
                    return b;
                }
            P->i++;
            kv__jnode *n = statement(P);
            if (!n)
                return NULL;
            if (n->kind == JN_BLOCK)
                continue;
            if (!add(P, &l, n))
                return NULL;
        } else {
            return syntax(P, "unexpected token") ? NULL : NULL;
        }
    }
    set_kids(b, &l);
    P->depth--;
    return b;
}

kv_status kv__jinja_parse(kv_jinja *t, const kv__jtok *toks, size_t n_toks, kv_err *err) {
    parser P = {.t = t, .k = toks, .n = n_toks, .err = err};
    int which;
    kv__jnode *root = block(&P, 0, NULL, &which);
    if (!root)
        return P.st != KV_OK ? P.st : KV_FAIL(err, KV_ERR_FORMAT, "%s: cannot parse", t->name);
    t->root = root;
    return KV_OK;
}
