// The Jinja parser, expressions: tokens -> a tree of kv__jnode, recursive
// descent with Jinja's precedence (lowest first): x if c else y; or; and; not;
// comparisons and in/not in; + -; ~; * / // %; **; unary - +; then postfix
// . [] () and the filter/test chain (| f, is t). Statements are in
// jinja_stmt.c; the shared helpers in jinja_int.h.
#include "model/jinja_int.h"

#include <stdio.h>
#include <string.h>

// ---- expressions ----

static const kv__jnode *unary(kv__jparser *P, bool with_filter);

static const kv__jnode *binary(kv__jparser *P, kv__jop op, size_t off, const kv__jnode *a,
                               const kv__jnode *b) {
    if (!a || !b)
        return NULL;
    kv__jnode *n = jp_node(P, JN_BIN, off);
    if (n) {
        n->op = (uint8_t)op;
        n->a = a;
        n->b = b;
    }
    return n;
}

// Call arguments after "(": positional and name=value, up to ")".
static bool call_args(kv__jparser *P, kv__jnodes *args) {
    while (!jp_accept_op(P, ")")) {
        if (args->n > 0 && !jp_expect_op(P, ","))
            return false;
        if (jp_accept_op(P, ")"))
            break;
        const kv__jtok *k = jp_peek(P);
        if (k->t == JT_NAME && jp_is_op(&P->k[P->i + 1], "=")) {
            kv__jnode *kw = jp_node(P, JN_KWARG, k->off);
            if (!kw)
                return false;
            kw->s = k->p;
            kw->sn = k->n;
            P->i += 2;
            kw->a = kv__jp_expr(P);
            if (!jp_add(P, args, kw->a ? kw : NULL))
                return false;
        } else if (!jp_add(P, args, kv__jp_expr(P))) {
            return false;
        }
    }
    return true;
}

static const kv__jnode *list_lit(kv__jparser *P, size_t off, const char *close) {
    kv__jnode *n = jp_node(P, JN_LIST, off);
    kv__jnodes l = {0};
    if (!n)
        return NULL;
    while (!jp_accept_op(P, close)) {
        if (l.n > 0 && !jp_expect_op(P, ","))
            return NULL;
        if (jp_accept_op(P, close))
            break;
        if (!jp_add(P, &l, kv__jp_expr(P)))
            return NULL;
    }
    jp_set_kids(n, &l);
    return n;
}

static const kv__jnode *dict_lit(kv__jparser *P, size_t off) {
    kv__jnode *n = jp_node(P, JN_DICT, off);
    kv__jnodes l = {0};
    if (!n)
        return NULL;
    while (!jp_accept_op(P, "}")) {
        if (l.n > 0 && !jp_expect_op(P, ","))
            return NULL;
        if (jp_accept_op(P, "}"))
            break;
        if (!jp_add(P, &l, kv__jp_expr(P)) || !jp_expect_op(P, ":") ||
            !jp_add(P, &l, kv__jp_expr(P)))
          return NULL;
    }
    jp_set_kids(n, &l);
    return n;
}

static const kv__jnode *literal(kv__jparser *P, kv__jv v, size_t off) {
    kv__jnode *n = jp_node(P, JN_LIT, off);
    if (n)
        n->v = v;
    return n;
}

static const kv__jnode *primary(kv__jparser *P) {
    const kv__jtok *k = jp_peek(P);
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
            jp_perr(P, KV_ERR_LIMIT, off, "the template needs more memory than allowed", NULL);
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
        if (jp_is_name(k, "true") || jp_is_name(k, "True"))
            return literal(P, kv__jv_bool(true), off);
        if (jp_is_name(k, "false") || jp_is_name(k, "False"))
            return literal(P, kv__jv_bool(false), off);
        if (jp_is_name(k, "none") || jp_is_name(k, "None"))
            return literal(P, kv__jv_none(), off);
        kv__jnode *n = jp_node(P, JN_NAME, off);
        if (n) {
            n->s = k->p;
            n->sn = k->n;
        }
        return n;
    }
    case JT_OP:
        if (jp_accept_op(P, "(")) {
            const kv__jnode *e = kv__jp_expr(P);
            if (!e)
                return NULL;
            if (jp_accept_op(P, ")"))
                return e;
            // a tuple: (a, b, ...) is a list here
            kv__jnode *n = jp_node(P, JN_LIST, off);
            kv__jnodes l = {0};
            if (!n || !jp_add(P, &l, e))
                return NULL;
            while (jp_accept_op(P, ",")) {
                if (jp_is_op(jp_peek(P), ")"))
                    break;
                if (!jp_add(P, &l, kv__jp_expr(P)))
                    return NULL;
            }
            if (!jp_expect_op(P, ")"))
                return NULL;
            jp_set_kids(n, &l);
            return n;
        }
        if (jp_accept_op(P, "["))
            return list_lit(P, off, "]");
        if (jp_accept_op(P, "{"))
            return dict_lit(P, off);
        break;
    default: break;
    }
    jp_syntax(P, "expected an expression");
    return NULL;
}

// [b], [b:c], [b:c:d] after the object a.
static const kv__jnode *subscript(kv__jparser *P, const kv__jnode *a, size_t off) {
    const kv__jnode *part[3] = {NULL, NULL, NULL};
    int n_colon = 0;
    for (;;) {
        if (jp_is_op(jp_peek(P), ":")) {
            if (++n_colon > 2)
                return jp_syntax(P, "too many ':' in a slice") ? NULL : NULL;
            P->i++;
            continue;
        }
        if (jp_is_op(jp_peek(P), "]"))
            break;
        if (part[n_colon])
            return jp_syntax(P, "expected ']'") ? NULL : NULL;
        if (!(part[n_colon] = kv__jp_expr(P)))
            return NULL;
    }
    P->i++;
    kv__jnode *n = jp_node(P, n_colon ? JN_SLICE : JN_INDEX, off);
    if (!n)
        return NULL;
    if (!n_colon && !part[0])
        return jp_syntax(P, "expected an index") ? NULL : NULL;
    n->a = a;
    n->b = part[0];
    n->c = part[1];
    n->d = part[2];
    return n;
}

static const kv__jnode *postfix(kv__jparser *P, const kv__jnode *a) {
    while (a) {
        size_t off = jp_peek(P)->off;
        if (jp_accept_op(P, ".")) {
            const kv__jtok *k = jp_peek(P);
            if (k->t != JT_NAME && k->t != JT_INT)
                return jp_syntax(P, "expected an attribute name after '.'") ? NULL : NULL;
            P->i++;
            kv__jnode *n = jp_node(P, JN_ATTR, off);
            if (!n)
                return NULL;
            n->a = a;
            n->s = k->p;
            n->sn = k->n;
            a = n;
        } else if (jp_accept_op(P, "[")) {
            a = subscript(P, a, off);
        } else if (jp_accept_op(P, "(")) {
            kv__jnode *n = jp_node(P, JN_CALL, a->off); // a call is where its callee starts
            kv__jnodes args = {0};
            if (!n || !call_args(P, &args))
                return NULL;
            n->a = a;
            jp_set_kids(n, &args);
            a = n;
        } else {
            break;
        }
    }
    return a;
}

// The chain of "| filter(args)" and "is [not] test(args)" after a.
static const kv__jnode *filters(kv__jparser *P, const kv__jnode *a) {
    while (a) {
        size_t off = jp_peek(P)->off;
        bool filter = jp_is_op(jp_peek(P), "|");
        if (!filter && !jp_is_name(jp_peek(P), "is"))
            break;
        P->i++;
        bool neg = !filter && jp_accept_name(P, "not");
        const kv__jtok *k = jp_peek(P);
        if (k->t != JT_NAME)
            return jp_syntax(P, filter ? "expected a filter name" : "expected a test name") ? NULL
                                                                                       : NULL;
        if (filter ? !kv__jfilter_known(k->p, k->n) : !kv__jtest_known(k->p, k->n))
            return jp_perr(P, KV_ERR_UNSUPPORTED, k->off,
                        filter ? "unsupported filter" : "unsupported test", k)
                       ? NULL
                       : NULL;
        P->i++;
        kv__jnode *n = jp_node(P, filter ? JN_FILTER : JN_TEST, off);
        kv__jnodes args = {0};
        if (!n)
            return NULL;
        n->a = a;
        n->s = k->p;
        n->sn = k->n;
        n->op = neg;
        if (jp_accept_op(P, "(")) {
            if (!call_args(P, &args))
                return NULL;
        } else if (!filter && (jp_peek(P)->t == JT_STR || jp_peek(P)->t == JT_INT ||
                               jp_peek(P)->t == JT_FLOAT)) {
            // one literal argument without parentheses: x is divisibleby 3
            if (!jp_add(P, &args, primary(P)))
                return NULL;
        }
        jp_set_kids(n, &args);
        a = n;
    }
    return a;
}

static const kv__jnode *unary(kv__jparser *P, bool with_filter) {
    if (!jp_enter(P))
        return NULL;
    const kv__jtok *k = jp_peek(P);
    const kv__jnode *r;
    if (jp_is_op(k, "-") || jp_is_op(k, "+")) {
        P->i++;
        kv__jnode *n = jp_node(P, JN_UNARY, k->off);
        if (!n)
            return NULL;
        n->op = jp_is_op(k, "-") ? JOP_NEG : JOP_POS;
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

static const kv__jnode *power(kv__jparser *P) {
    const kv__jnode *a = unary(P, true);
    while (a && jp_is_op(jp_peek(P), "**")) {
        size_t off = jp_peek(P)->off;
        P->i++;
        a = binary(P, JOP_POW, off, a, unary(P, true));
    }
    return a;
}

static const kv__jnode *product(kv__jparser *P) {
    static const char *const OPS[] = {"*", "/", "//", "%"};
    static const kv__jop CODES[] = {JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD};
    const kv__jnode *a = power(P);
    for (int o = 0; a && o < 4; o++)
        if (jp_is_op(jp_peek(P), OPS[o])) {
            size_t off = jp_peek(P)->off;
            P->i++;
            a = binary(P, CODES[o], off, a, power(P));
            o = -1;
        }
    return a;
}

static const kv__jnode *concat(kv__jparser *P) {
    const kv__jnode *a = product(P);
    while (a && jp_is_op(jp_peek(P), "~")) {
        size_t off = jp_peek(P)->off;
        P->i++;
        a = binary(P, JOP_CONCAT, off, a, product(P));
    }
    return a;
}

static const kv__jnode *sum(kv__jparser *P) {
    const kv__jnode *a = concat(P);
    while (a && (jp_is_op(jp_peek(P), "+") || jp_is_op(jp_peek(P), "-"))) {
        size_t off = jp_peek(P)->off;
        kv__jop op = jp_is_op(jp_peek(P), "+") ? JOP_ADD : JOP_SUB;
        P->i++;
        a = binary(P, op, off, a, concat(P));
    }
    return a;
}

static const kv__jnode *compare(kv__jparser *P) {
    static const char *const OPS[] = {"==", "!=", "<", ">", "<=", ">="};
    static const kv__jop CODES[] = {JOP_EQ, JOP_NE, JOP_LT, JOP_GT, JOP_LE, JOP_GE};
    const kv__jnode *a = sum(P);
    while (a) {
        size_t off = jp_peek(P)->off;
        int op = -1;
        for (int o = 0; o < 6; o++)
            if (jp_is_op(jp_peek(P), OPS[o]))
                op = CODES[o];
        if (op >= 0) {
            P->i++;
        } else if (jp_is_name(jp_peek(P), "in")) {
            P->i++;
            op = JOP_IN;
        } else if (jp_is_name(jp_peek(P), "not") && jp_is_name(&P->k[P->i + 1], "in")) {
            P->i += 2;
            op = JOP_NOTIN;
        } else {
            break;
        }
        a = binary(P, (kv__jop)op, off, a, sum(P));
    }
    return a;
}

static const kv__jnode *not_expr(kv__jparser *P) {
    if (!jp_is_name(jp_peek(P), "not"))
        return compare(P);
    size_t off = jp_peek(P)->off;
    P->i++;
    if (!jp_enter(P))
        return NULL;
    kv__jnode *n = jp_node(P, JN_UNARY, off);
    if (n) {
        n->op = JOP_NOT;
        n->a = not_expr(P);
    }
    P->depth--;
    return n && n->a ? n : NULL;
}

static const kv__jnode *and_expr(kv__jparser *P) {
    const kv__jnode *a = not_expr(P);
    while (a && jp_is_name(jp_peek(P), "and")) {
        size_t off = jp_peek(P)->off;
        P->i++;
        a = binary(P, JOP_AND, off, a, not_expr(P));
    }
    return a;
}

const kv__jnode *kv__jp_or_expr(kv__jparser *P) {
    const kv__jnode *a = and_expr(P);
    while (a && jp_is_name(jp_peek(P), "or")) {
        size_t off = jp_peek(P)->off;
        P->i++;
        a = binary(P, JOP_OR, off, a, and_expr(P));
    }
    return a;
}

const kv__jnode *kv__jp_expr(kv__jparser *P) {
    if (!jp_enter(P))
        return NULL;
    const kv__jnode *a = kv__jp_or_expr(P);
    while (a && jp_is_name(jp_peek(P), "if")) {
        kv__jnode *n = jp_node(P, JN_COND, jp_peek(P)->off);
        if (!n)
            return NULL;
        P->i++;
        n->a = a;
        n->b = kv__jp_or_expr(P);
        if (n->b && jp_accept_name(P, "else"))
            n->c = kv__jp_expr(P);
        if (!n->b || (jp_is_name(&P->k[P->i - 1], "else") && !n->c))
            return NULL;
        a = n;
    }
    P->depth--;
    return a;
}
