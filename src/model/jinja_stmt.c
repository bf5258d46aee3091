// The Jinja parser, statements: text, {{ output }}, if/elif/else, for (...
// if cond, else), set (name, tuple, ns.attr, block), macro, break, continue,
// and generation blocks (no-ops). Anything else is an error naming line and
// column. Expressions are parsed by jinja_parse.c.
#include "model/jinja_int.h"

#include <stdio.h>
#include <string.h>

// ---- statements ----

static kv__jnode *block(kv__jparser *P, size_t off, const char *const *ends, int *which);

static bool close_stmt(kv__jparser *P) {
    if (jp_peek(P)->t == JT_CLOSE_STMT) {
        P->i++;
        return true;
    }
    return jp_syntax(P, "expected '%}'");
}

static kv__jnode *if_stmt(kv__jparser *P, size_t off) {
    static const char *const ENDS[] = {"elif", "else", "endif", NULL};
    kv__jnode *n = jp_node(P, JN_IF, off);
    if (!n || !(n->a = kv__jp_expr(P)) || !close_stmt(P))
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
static bool name_list(kv__jparser *P, kv__jnode *n) {
    const char *names[16];
    size_t lens[16], k = 0;
    do {
        const kv__jtok *t = jp_peek(P);
        if (t->t != JT_NAME)
            return jp_syntax(P, "expected a variable name");
        if (k == 16)
            return jp_syntax(P, "too many names");
        names[k] = t->p;
        lens[k++] = t->n;
        P->i++;
    } while (jp_accept_op(P, ","));
    n->names = kv__jarena_alloc(&P->t->arena, k * sizeof *n->names);
    n->name_lens = kv__jarena_alloc(&P->t->arena, k * sizeof *n->name_lens);
    if (!n->names || !n->name_lens)
      return jp_perr(P, KV_ERR_LIMIT, n->off,
                     "the template needs more memory than allowed", NULL);
    memcpy(n->names, names, k * sizeof *names);
    memcpy(n->name_lens, lens, k * sizeof *lens);
    n->n_names = k;
    return true;
}

static kv__jnode *for_stmt(kv__jparser *P, size_t off) {
    static const char *const ENDS[] = {"else", "endfor", NULL};
    kv__jnode *n = jp_node(P, JN_FOR, off);
    if (!n || !name_list(P, n))
        return NULL;
    if (!jp_accept_name(P, "in"))
        return jp_syntax(P, "expected 'in'") ? NULL : NULL;
    if (!(n->a = kv__jp_or_expr(P)))
        return NULL;
    if (jp_accept_name(P, "if") && !(n->c = kv__jp_or_expr(P)))
        return NULL;
    if (jp_is_name(jp_peek(P), "recursive"))
        return jp_perr(P, KV_ERR_UNSUPPORTED, jp_peek(P)->off, "recursive loops are not supported",
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

static kv__jnode *set_stmt(kv__jparser *P, size_t off) {
    kv__jnode *n = jp_node(P, JN_SET, off);
    if (!n)
        return NULL;
    const kv__jtok *k = jp_peek(P);
    if (k->t != JT_NAME)
        return jp_syntax(P, "expected a variable name after 'set'") ? NULL : NULL;
    if (jp_is_op(&P->k[P->i + 1], ".")) {
        // set ns.attr = value
        kv__jnode *obj = jp_node(P, JN_NAME, k->off), *attr = jp_node(P, JN_ATTR, k->off);
        if (!obj || !attr)
            return NULL;
        obj->s = k->p;
        obj->sn = k->n;
        P->i += 2;
        if (jp_peek(P)->t != JT_NAME)
            return jp_syntax(P, "expected an attribute name") ? NULL : NULL;
        attr->a = obj;
        attr->s = jp_peek(P)->p;
        attr->sn = jp_peek(P)->n;
        P->i++;
        n->a = attr;
    } else if (!name_list(P, n)) {
        return NULL;
    }
    if (jp_accept_op(P, "=")) {
        n->b = kv__jp_expr(P);
        return n->b && close_stmt(P) ? n : NULL;
    }
    if (n->a || n->n_names != 1)
        return jp_syntax(P, "expected '='") ? NULL : NULL;
    // {% set x %}...{% endset %}
    static const char *const END[] = {"endset", NULL};
    int which;
    if (!close_stmt(P) || !(n->c = block(P, off, END, &which)))
        return NULL;
    return close_stmt(P) ? n : NULL;
}

static kv__jnode *macro_stmt(kv__jparser *P, size_t off) {
    kv__jnode *n = jp_node(P, JN_MACRO, off);
    if (!n)
        return NULL;
    if (jp_peek(P)->t != JT_NAME)
        return jp_syntax(P, "expected a macro name") ? NULL : NULL;
    n->s = jp_peek(P)->p;
    n->sn = jp_peek(P)->n;
    P->i++;
    if (!jp_expect_op(P, "("))
        return NULL;
    const char *names[32];
    size_t lens[32], k = 0;
    const kv__jnode *defs[32];
    while (!jp_accept_op(P, ")")) {
        if (k > 0 && !jp_expect_op(P, ","))
            return NULL;
        if (jp_peek(P)->t != JT_NAME || k == 32)
            return jp_syntax(P, "expected a parameter name") ? NULL : NULL;
        names[k] = jp_peek(P)->p;
        lens[k] = jp_peek(P)->n;
        P->i++;
        defs[k] = NULL;
        if (jp_accept_op(P, "=") && !(defs[k] = kv__jp_expr(P)))
            return NULL;
        k++;
    }
    n->names = kv__jarena_alloc(&P->t->arena, (k + 1) * sizeof *n->names);
    n->name_lens = kv__jarena_alloc(&P->t->arena, (k + 1) * sizeof *n->name_lens);
    n->defs = kv__jarena_alloc(&P->t->arena, (k + 1) * sizeof *n->defs);
    if (!n->names || !n->name_lens || !n->defs)
        return jp_perr(P, KV_ERR_LIMIT, off, "the template needs more memory than allowed", NULL)
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
static kv__jnode *statement(kv__jparser *P) {
    const kv__jtok *k = jp_peek(P);
    size_t off = k->off;
    if (k->t != JT_NAME)
        return jp_syntax(P, "expected a statement name") ? NULL : NULL;
    P->i++;
    if (jp_is_name(k, "if"))
        return if_stmt(P, off);
    if (jp_is_name(k, "for"))
        return for_stmt(P, off);
    if (jp_is_name(k, "set"))
        return set_stmt(P, off);
    if (jp_is_name(k, "macro"))
        return macro_stmt(P, off);
    if (jp_is_name(k, "break") || jp_is_name(k, "continue")) {
        kv__jnode *n = jp_node(P, jp_is_name(k, "break") ? JN_BREAK : JN_CONTINUE, off);
        return n && close_stmt(P) ? n : NULL;
    }
    if (jp_is_name(k, "generation") || jp_is_name(k, "endgeneration")) {
        kv__jnode *n = jp_node(P, JN_BLOCK, off);
        return n && close_stmt(P) ? n : NULL;
    }
    jp_perr(P, KV_ERR_UNSUPPORTED, off, "unsupported statement", k);
    return NULL;
}

// Statements up to one of ends (NULL-terminated; NULL itself: the end of the
// template). *which is the index of the end tag found; the kv__jparser stops after
// its name, before its "%}".
static kv__jnode *block(kv__jparser *P, size_t off, const char *const *ends, int *which) {
    if (!jp_enter(P))
        return NULL;
    kv__jnode *b = jp_node(P, JN_BLOCK, off);
    kv__jnodes l = {0};
    if (!b)
        return NULL;
    for (;;) {
        const kv__jtok *k = jp_peek(P);
        if (k->t == JT_EOF) {
            if (ends) {
                char what[64];
                snprintf(what, sizeof what, "this block is never closed (expected '%s')",
                         ends[0] && ends[1] ? ends[ends[2] ? 2 : 1] : ends[0]);
                return jp_perr(P, KV_ERR_FORMAT, off, what, NULL) ? NULL : NULL;
            }
            break;
        }
        if (k->t == JT_TEXT) {
            kv__jnode *n = jp_node(P, JN_TEXT, k->off);
            if (!n)
                return NULL;
            n->s = k->p;
            n->sn = k->n;
            P->i++;
            if (!jp_add(P, &l, n))
                return NULL;
        } else if (k->t == JT_OPEN_EXPR) {
            P->i++;
            kv__jnode *n = jp_node(P, JN_OUTPUT, k->off);
            if (!n || !(n->a = kv__jp_expr(P)))
                return NULL;
            if (jp_peek(P)->t != JT_CLOSE_EXPR)
                return jp_syntax(P, "expected '}}'") ? NULL : NULL;
            P->i++;
            if (!jp_add(P, &l, n))
                return NULL;
        } else if (k->t == JT_OPEN_STMT) {
            const kv__jtok *name = &P->k[P->i + 1];
            for (int e = 0; ends && ends[e]; e++)
                if (jp_is_name(name, ends[e])) {
                    P->i += 2;
                    *which = e;
                    jp_set_kids(b, &l);
                    P->depth--;
                    return b;
                }
            P->i++;
            kv__jnode *n = statement(P);
            if (!n)
                return NULL;
            if (n->kind == JN_BLOCK)
                continue;
            if (!jp_add(P, &l, n))
                return NULL;
        } else {
            return jp_syntax(P, "unexpected token") ? NULL : NULL;
        }
    }
    jp_set_kids(b, &l);
    P->depth--;
    return b;
}

kv_status kv__jinja_parse(kv_jinja *t, const kv__jtok *toks, size_t n_toks, kv_err *err) {
    kv__jparser P = {.t = t, .k = toks, .n = n_toks, .err = err};
    int which;
    kv__jnode *root = block(&P, 0, NULL, &which);
    if (!root)
        return P.st != KV_OK ? P.st : KV_FAIL(err, KV_ERR_FORMAT, "%s: cannot parse", t->name);
    t->root = root;
    return KV_OK;
}
