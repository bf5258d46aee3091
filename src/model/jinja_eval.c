// The Jinja evaluator: statements write into an output buffer, expressions
// produce values. Scopes: the globals, one scope per for loop (a `set` inside
// stays inside, as in Jinja), and one per macro call. Every node evaluated
// counts a step and nesting is capped (jinja_int.h), so a hostile template
// ends with KV_ERR_LIMIT. Filters, tests and methods are in jinja_builtin.c.
#include "model/jinja_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool kv__jfail(kv__jctx *c, const kv__jnode *n, kv_status st, const char *fmt, ...) {
    if (c->st != KV_OK)
        return false;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = kv__jinja_fail_at(c->err, st, c->t, n ? n->off : 0, "%s", msg);
    return false;
}

bool kv__jnomem(kv__jctx *c, const kv__jnode *n) {
    return kv__jfail(c, n, KV_ERR_LIMIT, "rendering needs more than %u MiB of memory",
                     (unsigned)(c->arena->limit >> 20));
}

static bool enter(kv__jctx *c, const kv__jnode *n) {
    if (c->st != KV_OK)
        return false;
    if (++c->steps > KV__JINJA_MAX_STEPS)
        return kv__jfail(c, n, KV_ERR_LIMIT, "rendering takes more than %d steps",
                         KV__JINJA_MAX_STEPS);
    if (++c->depth > KV__JINJA_MAX_EVAL_DEPTH)
        return kv__jfail(c, n, KV_ERR_LIMIT, "rendering nests deeper than %d levels",
                         KV__JINJA_MAX_EVAL_DEPTH);
    return true;
}

static bool leave(kv__jctx *c, bool ok) {
    c->depth--;
    return ok;
}

// ---- scopes ----

static kv__jv *lookup(kv__jscope *s, const char *name, size_t n) {
    for (; s; s = s->up) {
        kv__jv *v = kv__jdict_get(s->vars, name, n);
        if (v)
            return v;
    }
    return NULL;
}

static bool new_scope(kv__jctx *c, const kv__jnode *n, kv__jscope *up, kv__jscope **out) {
    kv__jscope *s = kv__jarena_alloc(c->arena, sizeof *s);
    if (!s || !(s->vars = kv__jdict_new(c->arena, 0)))
        return kv__jnomem(c, n);
    s->up = up;
    *out = s;
    return true;
}

static bool set_var(kv__jctx *c, const kv__jnode *n, kv__jscope *s, const char *name, size_t len,
                    kv__jv v) {
    return kv__jdict_set(c->arena, s->vars, name, len, v) || kv__jnomem(c, n);
}

// ---- strings ----

bool kv__jstr_from_buf(kv__jctx *c, const kv__jnode *n, const kv__jbuf *b, kv__jv *out) {
    char *p = kv__jv_strdup(c->arena, b->p ? b->p : "", b->n);
    if (!p)
        return kv__jnomem(c, n);
    *out = kv__jv_str(p, b->n);
    return true;
}

static bool buf_fail(kv__jctx *c, const kv__jnode *n, const kv__jbuf *b) {
    if (b->n >= b->limit / 2)
        return kv__jfail(c, n, KV_ERR_LIMIT, "the output is larger than %zu bytes", b->limit);
    return kv__jfail(c, n, KV_ERR_FORMAT, "cannot print this value");
}

bool kv__jto_str(kv__jctx *c, const kv__jnode *n, kv__jv v, kv__jv *out) {
    if (v.t == JV_STR) {
        *out = v;
        return true;
    }
    kv__jbuf b = {.limit = c->out_limit};
    bool ok = kv__jv_print(&b, v) ? kv__jstr_from_buf(c, n, &b, out) : buf_fail(c, n, &b);
    kv__jbuf_free(&b);
    return ok;
}

// ---- statements ----

static bool exec(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jbuf *o);

static bool exec_list(kv__jctx *c, kv__jscope *s, const kv__jnode *const *k, size_t n,
                      kv__jbuf *o) {
    for (size_t i = 0; i < n && c->flow == KV__FLOW_NONE; i++)
        if (!exec(c, s, k[i], o))
            return false;
    return true;
}

// Binds the loop targets (one name, or several unpacked from a list).
static bool bind_targets(kv__jctx *c, const kv__jnode *n, kv__jscope *s, kv__jv item) {
    if (n->n_names == 1)
        return set_var(c, n, s, n->names[0], n->name_lens[0], item);
    if (item.t != JV_LIST || item.l->n != n->n_names)
        return kv__jfail(c, n, KV_ERR_FORMAT, "cannot unpack a %s into %zu names",
                         kv__jv_type_name(item), n->n_names);
    for (size_t i = 0; i < n->n_names; i++)
        if (!set_var(c, n, s, n->names[i], n->name_lens[i], item.l->v[i]))
            return false;
    return true;
}

// Sets the loop variable's entries for item i; the dict is made once per
// loop and updated in place, so a long loop does not allocate per item.
static bool loop_var(kv__jctx *c, const kv__jnode *n, const kv__jlist *items, size_t i,
                     kv__jdict **d) {
    if (!*d && !(*d = kv__jdict_new(c->arena, 9)))
        return kv__jnomem(c, n);
    int64_t len = (int64_t)items->n, k = (int64_t)i;
    bool ok = kv__jdict_set(c->arena, *d, "index", 5, kv__jv_int(k + 1)) &&
              kv__jdict_set(c->arena, *d, "index0", 6, kv__jv_int(k)) &&
              kv__jdict_set(c->arena, *d, "revindex", 8, kv__jv_int(len - k)) &&
              kv__jdict_set(c->arena, *d, "revindex0", 9, kv__jv_int(len - k - 1)) &&
              kv__jdict_set(c->arena, *d, "first", 5, kv__jv_bool(i == 0)) &&
              kv__jdict_set(c->arena, *d, "last", 4, kv__jv_bool(k == len - 1)) &&
              kv__jdict_set(c->arena, *d, "length", 6, kv__jv_int(len)) &&
              kv__jdict_set(c->arena, *d, "previtem", 8,
                            i > 0 ? items->v[i - 1] : kv__jv_undef()) &&
              kv__jdict_set(c->arena, *d, "nextitem", 8,
                            k + 1 < len ? items->v[i + 1] : kv__jv_undef());
    return ok || kv__jnomem(c, n);
}

// The items a for loop walks: a list, a dict's keys, a string's characters;
// undefined walks nothing.
static bool loop_items(kv__jctx *c, const kv__jnode *n, kv__jv v, kv__jlist **out) {
    if (v.t == JV_LIST) {
        *out = v.l;
        return true;
    }
    kv__jlist *l = kv__jlist_new(c->arena, 0);
    if (!l)
        return kv__jnomem(c, n);
    *out = l;
    if (v.t == JV_UNDEF)
        return true;
    if (v.t == JV_DICT) {
        for (size_t i = 0; i < v.d->n; i++)
            if (!kv__jlist_push(c->arena, l, v.d->k[i]))
                return kv__jnomem(c, n);
        return true;
    }
    if (v.t == JV_STR) {
        for (size_t i = 0; i < v.s.n;) {
            size_t len = 1;
            while (i + len < v.s.n && ((unsigned char)v.s.p[i + len] & 0xc0) == 0x80)
                len++;
            if (!kv__jlist_push(c->arena, l, kv__jv_str(v.s.p + i, len)))
                return kv__jnomem(c, n);
            i += len;
        }
        return true;
    }
    return kv__jfail(c, n, KV_ERR_FORMAT, "cannot loop over a %s", kv__jv_type_name(v));
}

static bool exec_for(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jbuf *o) {
    kv__jscope *ls = NULL;
    kv__jv seq;
    kv__jlist *all = NULL, *items;
    if (!new_scope(c, n, s, &ls) || !kv__jeval(c, ls, n->a, &seq) || !loop_items(c, n, seq, &all))
        return false;
    items = all;
    if (n->c) { // for x in xs if cond: the loop sees only the items that pass
        if (!(items = kv__jlist_new(c->arena, all->n)))
            return kv__jnomem(c, n);
        for (size_t i = 0; i < all->n; i++) {
            kv__jscope *ts = NULL;
            kv__jv keep;
            if (!new_scope(c, n, ls, &ts) || !bind_targets(c, n, ts, all->v[i]) ||
                !kv__jeval(c, ts, n->c, &keep))
                return false;
            if (kv__jv_truthy(keep))
                items->v[items->n++] = all->v[i];
        }
    }
    kv__jdict *loop = NULL;
    for (size_t i = 0; i < items->n; i++) {
        if (++c->steps > KV__JINJA_MAX_STEPS)
            return kv__jfail(c, n, KV_ERR_LIMIT, "rendering takes more than %d steps",
                             KV__JINJA_MAX_STEPS);
        if (!loop_var(c, n, items, i, &loop) ||
            !set_var(c, n, ls, "loop", 4, (kv__jv){.t = JV_DICT, .d = loop}) ||
            !bind_targets(c, n, ls, items->v[i]) || !exec_list(c, ls, n->kids, n->n_kids, o))
            return false;
        int flow = c->flow;
        c->flow = KV__FLOW_NONE;
        if (flow == KV__FLOW_BREAK)
            break;
    }
    if (items->n == 0 && n->b)
        return exec_list(c, s, n->b->kids, n->b->n_kids, o);
    return true;
}

static bool exec_set(kv__jctx *c, kv__jscope *s, const kv__jnode *n) {
    kv__jv v;
    if (n->c) { // {% set x %}...{% endset %}
        kv__jbuf b = {.limit = c->out_limit};
        bool ok = exec_list(c, s, n->c->kids, n->c->n_kids, &b) && kv__jstr_from_buf(c, n, &b, &v);
        kv__jbuf_free(&b);
        if (!ok)
            return false;
    } else if (!kv__jeval(c, s, n->b, &v)) {
        return false;
    }
    if (!n->a)
        return bind_targets(c, n, s, v);
    // ns.attr = v
    kv__jv *ns = lookup(s, n->a->a->s, n->a->a->sn);
    if (!ns || ns->t != JV_NS)
        return kv__jfail(c, n, KV_ERR_FORMAT, "cannot set attribute '%.*s' of a %s",
                         (int)n->a->sn, n->a->s, ns ? kv__jv_type_name(*ns) : "undefined value");
    return kv__jdict_set(c->arena, ns->d, n->a->s, n->a->sn, v) || kv__jnomem(c, n);
}

static bool exec(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jbuf *o) {
    if (!enter(c, n))
        return false;
    bool ok = true;
    switch (n->kind) {
    case JN_TEXT:
        ok = kv__jbuf_add(o, n->s, n->sn) || buf_fail(c, n, o);
        break;
    case JN_OUTPUT: {
        kv__jv v;
        ok = kv__jeval(c, s, n->a, &v) && (kv__jv_print(o, v) || buf_fail(c, n, o));
        break;
    }
    case JN_IF: {
        kv__jv v;
        if (!(ok = kv__jeval(c, s, n->a, &v)))
            break;
        if (kv__jv_truthy(v))
            ok = exec_list(c, s, n->kids, n->n_kids, o);
        else if (n->b && n->b->kind == JN_IF)
            ok = exec(c, s, n->b, o);
        else if (n->b)
            ok = exec_list(c, s, n->b->kids, n->b->n_kids, o);
        break;
    }
    case JN_FOR: ok = exec_for(c, s, n, o); break;
    case JN_SET: ok = exec_set(c, s, n); break;
    case JN_MACRO:
        ok = set_var(c, n, s, n->s, n->sn, (kv__jv){.t = JV_MACRO, .m = n});
        break;
    case JN_BREAK: c->flow = KV__FLOW_BREAK; break;
    case JN_CONTINUE: c->flow = KV__FLOW_CONTINUE; break;
    case JN_BLOCK: ok = exec_list(c, s, n->kids, n->n_kids, o); break;
    default: ok = kv__jfail(c, n, KV_ERR_FORMAT, "not a statement"); break;
    }
    return leave(c, ok);
}

// ---- calls ----

bool kv__jargs(kv__jctx *c, kv__jscope *s, const kv__jnode *call, kv__jv *pos, size_t max_pos,
               size_t *n_pos, const char *const *kw_names, kv__jv *kw, size_t n_kw) {
    *n_pos = 0;
    for (size_t i = 0; i < n_kw; i++)
        kw[i] = kv__jv_undef();
    for (size_t i = 0; i < call->n_kids; i++) {
        const kv__jnode *a = call->kids[i];
        if (a->kind == JN_KWARG) {
            size_t k = 0;
            while (k < n_kw && !(strlen(kw_names[k]) == a->sn && !memcmp(kw_names[k], a->s, a->sn)))
                k++;
            if (k == n_kw)
                return kv__jfail(c, a, KV_ERR_UNSUPPORTED, "unsupported keyword argument '%.*s'",
                                 (int)a->sn, a->s);
            if (!kv__jeval(c, s, a->a, &kw[k]))
                return false;
            continue;
        }
        if (*n_pos == max_pos)
            return kv__jfail(c, a, KV_ERR_FORMAT, "too many arguments (at most %zu)", max_pos);
        if (!kv__jeval(c, s, a, &pos[(*n_pos)++]))
            return false;
    }
    return true;
}

static bool call_macro(kv__jctx *c, kv__jscope *s, const kv__jnode *call, const kv__jnode *m,
                       kv__jv *out) {
    kv__jscope *ms = NULL;
    if (!new_scope(c, call, c->global, &ms))
        return false;
    size_t n_pos = 0;
    for (size_t i = 0; i < call->n_kids; i++) {
        const kv__jnode *a = call->kids[i];
        size_t k = n_pos;
        if (a->kind == JN_KWARG) {
            for (k = 0; k < m->n_names; k++)
                if (m->name_lens[k] == a->sn && !memcmp(m->names[k], a->s, a->sn))
                    break;
        } else {
            n_pos++;
        }
        if (k >= m->n_names)
            return kv__jfail(c, a, KV_ERR_FORMAT, "macro '%.*s' has no such parameter",
                             (int)m->sn, m->s);
        kv__jv v;
        if (!kv__jeval(c, s, a->kind == JN_KWARG ? a->a : a, &v) ||
            !set_var(c, a, ms, m->names[k], m->name_lens[k], v))
            return false;
    }
    for (size_t k = 0; k < m->n_names; k++) {
        kv__jv v = kv__jv_undef();
        if (kv__jdict_get(ms->vars, m->names[k], m->name_lens[k]))
            continue;
        if (m->defs[k] && !kv__jeval(c, ms, m->defs[k], &v))
            return false;
        if (!set_var(c, call, ms, m->names[k], m->name_lens[k], v))
            return false;
    }
    kv__jbuf b = {.limit = c->out_limit};
    bool ok = exec_list(c, ms, m->kids, m->n_kids, &b) && kv__jstr_from_buf(c, call, &b, out);
    c->flow = KV__FLOW_NONE;
    kv__jbuf_free(&b);
    return ok;
}

static bool eval_call(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv *out) {
    const kv__jnode *f = n->a;
    kv__jv callee;
    if (f->kind == JN_ATTR) {
        kv__jv obj;
        if (!kv__jeval(c, s, f->a, &obj))
            return false;
        kv__jv *member = (obj.t == JV_DICT || obj.t == JV_NS) ? kv__jdict_get(obj.d, f->s, f->sn)
                                                              : NULL;
        if (!member) {
            bool found = false;
            if (!kv__jmethod(c, s, n, obj, f->s, f->sn, out, &found))
                return false;
            if (found)
                return true;
            return kv__jfail(c, n, KV_ERR_UNSUPPORTED, "a %s has no method '%.*s'",
                             kv__jv_type_name(obj), (int)f->sn, f->s);
        }
        callee = *member;
    } else if (!kv__jeval(c, s, f, &callee)) {
        return false;
    }
    if (callee.t == JV_FUNC)
        return kv__jcall_builtin(c, s, n, callee.fn, out);
    if (callee.t == JV_MACRO)
        return call_macro(c, s, n, callee.m, out);
    if (f->kind == JN_NAME && callee.t == JV_UNDEF)
        return kv__jfail(c, n, KV_ERR_UNSUPPORTED, "'%.*s' is undefined (not a known function)",
                         (int)f->sn, f->s);
    return kv__jfail(c, n, KV_ERR_FORMAT, "a %s cannot be called", kv__jv_type_name(callee));
}

// ---- subscripts ----

// Code points of s: offsets of each start, plus s.n at the end.
static bool cp_offsets(kv__jctx *c, const kv__jnode *n, kv__jv s, size_t **offs, size_t *n_cp) {
    size_t k = 0;
    for (size_t i = 0; i < s.s.n; i++)
        k += ((unsigned char)s.s.p[i] & 0xc0) != 0x80;
    size_t *o = kv__jarena_alloc(c->arena, (k + 1) * sizeof *o);
    if (!o)
        return kv__jnomem(c, n);
    k = 0;
    for (size_t i = 0; i < s.s.n; i++)
        if (((unsigned char)s.s.p[i] & 0xc0) != 0x80)
            o[k++] = i;
    o[k] = s.s.n;
    *offs = o;
    *n_cp = k;
    return true;
}

static bool eval_index(kv__jctx *c, const kv__jnode *n, kv__jv obj, kv__jv key, kv__jv *out) {
    *out = kv__jv_undef();
    if (obj.t == JV_UNDEF || obj.t == JV_NONE)
        return kv__jfail(c, n, KV_ERR_FORMAT, "cannot subscript a%s %s value",
                         obj.t == JV_UNDEF ? "n" : "", kv__jv_type_name(obj));
    if ((obj.t == JV_DICT || obj.t == JV_NS) && key.t == JV_STR) {
        kv__jv *v = kv__jdict_get(obj.d, key.s.p, key.s.n);
        if (v)
            *out = *v;
        return true;
    }
    if ((obj.t == JV_LIST || obj.t == JV_STR) && key.t == JV_INT) {
        size_t *offs = NULL, len = obj.t == JV_LIST ? obj.l->n : 0;
        if (obj.t == JV_STR && !cp_offsets(c, n, obj, &offs, &len))
            return false;
        int64_t i = key.i < 0 ? key.i + (int64_t)len : key.i;
        if (i < 0 || i >= (int64_t)len)
            return true;
        *out = obj.t == JV_LIST
                   ? obj.l->v[i]
                   : kv__jv_str(obj.s.p + offs[i], offs[i + 1] - offs[i]);
        return true;
    }
    return true;
}

static int64_t clamp_slice(int64_t v, int64_t len, bool neg_step) {
    if (v < 0)
        v += len;
    if (v < 0)
        return neg_step ? -1 : 0;
    if (v >= len)
        return neg_step ? len - 1 : len;
    return v;
}

static bool eval_slice(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv obj, kv__jv *out) {
    kv__jv part[3] = {kv__jv_none(), kv__jv_none(), kv__jv_none()};
    const kv__jnode *pn[3] = {n->b, n->c, n->d};
    for (int i = 0; i < 3; i++) {
        if (pn[i] && !kv__jeval(c, s, pn[i], &part[i]))
            return false;
        if (part[i].t != JV_NONE && part[i].t != JV_UNDEF && part[i].t != JV_INT)
            return kv__jfail(c, n, KV_ERR_FORMAT, "slice indices must be integers");
    }
    if (obj.t != JV_LIST && obj.t != JV_STR)
        return kv__jfail(c, n, KV_ERR_FORMAT, "cannot slice a %s", kv__jv_type_name(obj));
    size_t *offs = NULL, len = obj.t == JV_LIST ? obj.l->n : 0;
    if (obj.t == JV_STR && !cp_offsets(c, n, obj, &offs, &len))
        return false;
    int64_t step = part[2].t == JV_INT ? part[2].i : 1;
    if (step == 0)
        return kv__jfail(c, n, KV_ERR_FORMAT, "slice step cannot be zero");
    int64_t L = (int64_t)len;
    int64_t a = part[0].t == JV_INT ? clamp_slice(part[0].i, L, step < 0) : step > 0 ? 0 : L - 1;
    int64_t b = part[1].t == JV_INT ? clamp_slice(part[1].i, L, step < 0) : step > 0 ? L : -1;
    kv__jlist *l = kv__jlist_new(c->arena, 0);
    kv__jbuf sb = {.limit = c->out_limit};
    bool ok = l != NULL;
    for (int64_t i = a; ok && (step > 0 ? i < b : i > b); i += step) {
        if (obj.t == JV_LIST)
            ok = kv__jlist_push(c->arena, l, obj.l->v[i]);
        else
            ok = kv__jbuf_add(&sb, obj.s.p + offs[i], offs[i + 1] - offs[i]);
    }
    if (ok && obj.t == JV_STR)
        ok = kv__jstr_from_buf(c, n, &sb, out);
    else if (ok)
        *out = (kv__jv){.t = JV_LIST, .l = l};
    kv__jbuf_free(&sb);
    return ok || kv__jnomem(c, n);
}

static bool eval_attr(kv__jctx *c, const kv__jnode *n, kv__jv obj, kv__jv *out) {
    *out = kv__jv_undef();
    if (obj.t == JV_UNDEF || obj.t == JV_NONE)
        return kv__jfail(c, n, KV_ERR_FORMAT, "cannot read attribute '%.*s' of a%s %s value",
                         (int)n->sn, n->s, obj.t == JV_UNDEF ? "n" : "", kv__jv_type_name(obj));
    if (obj.t == JV_DICT || obj.t == JV_NS) {
        kv__jv *v = kv__jdict_get(obj.d, n->s, n->sn);
        if (v)
            *out = *v;
    } else if (obj.t == JV_LIST && n->s[0] >= '0' && n->s[0] <= '9') {
        return eval_index(c, n, obj, kv__jv_int(strtoll(n->s, NULL, 10)), out);
    }
    return true;
}

// ---- operators ----

static bool is_num(kv__jv v) {
    return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
}

static double num(kv__jv v) {
    return v.t == JV_INT ? (double)v.i : v.t == JV_FLOAT ? v.f : (double)v.b;
}

static bool arith(kv__jctx *c, const kv__jnode *n, kv__jv x, kv__jv y, kv__jv *out) {
    bool ints = x.t != JV_FLOAT && y.t != JV_FLOAT;
    int64_t xi = x.t == JV_INT ? x.i : x.t == JV_BOOL ? x.b : 0;
    int64_t yi = y.t == JV_INT ? y.i : y.t == JV_BOOL ? y.b : 0;
    double xf = num(x), yf = num(y), r = 0;
    int64_t ri = 0;
    switch (n->op) {
    case JOP_ADD:
        if (ints && !__builtin_add_overflow(xi, yi, &ri))
            goto int_result;
        r = xf + yf;
        break;
    case JOP_SUB:
        if (ints && !__builtin_sub_overflow(xi, yi, &ri))
            goto int_result;
        r = xf - yf;
        break;
    case JOP_MUL:
        if (ints && !__builtin_mul_overflow(xi, yi, &ri))
            goto int_result;
        r = xf * yf;
        break;
    case JOP_DIV:
        if (yf == 0)
            return kv__jfail(c, n, KV_ERR_FORMAT, "division by zero");
        r = xf / yf;
        break;
    case JOP_FLOORDIV:
    case JOP_MOD:
        if (yf == 0)
            return kv__jfail(c, n, KV_ERR_FORMAT, "division by zero");
        if (ints && !(xi == INT64_MIN && yi == -1)) {
            int64_t q = xi / yi, m = xi % yi;
            if (m != 0 && ((m < 0) != (yi < 0))) {
                q--;
                m += yi;
            }
            ri = n->op == JOP_FLOORDIV ? q : m;
            goto int_result;
        }
        r = n->op == JOP_FLOORDIV ? floor(xf / yf) : xf - yf * floor(xf / yf);
        break;
    case JOP_POW:
        if (ints && yi >= 0) {
            ri = 1;
            bool ovf = false;
            for (int64_t k = 0; k < yi && !ovf; k++) {
                ovf = __builtin_mul_overflow(ri, xi, &ri);
                if (ri == 0 || ri == 1)
                    break;
            }
            if (!ovf)
                goto int_result;
        }
        r = pow(xf, yf);
        break;
    default: return kv__jfail(c, n, KV_ERR_FORMAT, "not an arithmetic operator");
    }
    *out = (kv__jv){.t = JV_FLOAT, .f = r};
    return true;
int_result:
    *out = kv__jv_int(ri);
    return true;
}

static int cmp_str(kv__jv x, kv__jv y) {
    size_t m = x.s.n < y.s.n ? x.s.n : y.s.n;
    int r = memcmp(x.s.p, y.s.p, m);
    return r ? r : (x.s.n > y.s.n) - (x.s.n < y.s.n);
}

static bool contains(kv__jctx *c, const kv__jnode *n, kv__jv x, kv__jv in, bool *out) {
    *out = false;
    switch (in.t) {
    case JV_UNDEF: return true;
    case JV_LIST:
        for (size_t i = 0; i < in.l->n && !*out; i++)
            *out = kv__jv_equal(x, in.l->v[i]);
        return true;
    case JV_DICT:
    case JV_NS: *out = x.t == JV_STR && kv__jdict_get(in.d, x.s.p, x.s.n); return true;
    case JV_STR:
        if (x.t != JV_STR)
            break;
        if (x.s.n == 0)
            *out = true;
        for (size_t i = 0; !*out && i + x.s.n <= in.s.n; i++)
            *out = memcmp(in.s.p + i, x.s.p, x.s.n) == 0;
        return true;
    default: break;
    }
    return kv__jfail(c, n, KV_ERR_FORMAT, "cannot test whether a %s is in a %s",
                     kv__jv_type_name(x), kv__jv_type_name(in));
}

static bool concat(kv__jctx *c, const kv__jnode *n, kv__jv x, kv__jv y, kv__jv *out) {
    kv__jbuf b = {.limit = c->out_limit};
    bool ok = kv__jv_print(&b, x) && kv__jv_print(&b, y);
    ok = ok ? kv__jstr_from_buf(c, n, &b, out) : buf_fail(c, n, &b);
    kv__jbuf_free(&b);
    return ok;
}

static bool repeat(kv__jctx *c, const kv__jnode *n, kv__jv str, int64_t times, kv__jv *out) {
    kv__jbuf b = {.limit = c->out_limit};
    bool ok = true;
    for (int64_t i = 0; i < times && ok; i++)
        ok = kv__jbuf_add(&b, str.s.p, str.s.n);
    ok = ok ? kv__jstr_from_buf(c, n, &b, out) : buf_fail(c, n, &b);
    kv__jbuf_free(&b);
    return ok;
}

static bool eval_bin(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv *out) {
    kv__jv x, y;
    if (!kv__jeval(c, s, n->a, &x))
        return false;
    if (n->op == JOP_AND || n->op == JOP_OR) {
        if (kv__jv_truthy(x) == (n->op == JOP_OR)) {
            *out = x;
            return true;
        }
        return kv__jeval(c, s, n->b, out);
    }
    if (!kv__jeval(c, s, n->b, &y))
        return false;
    switch (n->op) {
    case JOP_EQ: *out = kv__jv_bool(kv__jv_equal(x, y)); return true;
    case JOP_NE: *out = kv__jv_bool(!kv__jv_equal(x, y)); return true;
    case JOP_IN:
    case JOP_NOTIN: {
        bool in;
        if (!contains(c, n, x, y, &in))
            return false;
        *out = kv__jv_bool(in == (n->op == JOP_IN));
        return true;
    }
    case JOP_CONCAT: return concat(c, n, x, y, out);
    case JOP_LT:
    case JOP_GT:
    case JOP_LE:
    case JOP_GE: {
        int r;
        if (is_num(x) && is_num(y))
            r = (num(x) > num(y)) - (num(x) < num(y));
        else if (x.t == JV_STR && y.t == JV_STR)
            r = cmp_str(x, y);
        else
            return kv__jfail(c, n, KV_ERR_FORMAT, "cannot compare a %s with a %s",
                             kv__jv_type_name(x), kv__jv_type_name(y));
        bool b = n->op == JOP_LT   ? r < 0
                 : n->op == JOP_GT ? r > 0
                 : n->op == JOP_LE ? r <= 0
                                   : r >= 0;
        *out = kv__jv_bool(b);
        return true;
    }
    default: break;
    }
    if (is_num(x) && is_num(y))
        return arith(c, n, x, y, out);
    if (n->op == JOP_ADD && x.t == JV_LIST && y.t == JV_LIST) {
        kv__jlist *l = kv__jlist_new(c->arena, x.l->n + y.l->n);
        if (!l)
            return kv__jnomem(c, n);
        for (size_t i = 0; i < x.l->n; i++)
            l->v[l->n++] = x.l->v[i];
        for (size_t i = 0; i < y.l->n; i++)
            l->v[l->n++] = y.l->v[i];
        *out = (kv__jv){.t = JV_LIST, .l = l};
        return true;
    }
    if (n->op == JOP_ADD && (x.t == JV_STR || y.t == JV_STR) && x.t != JV_UNDEF &&
        y.t != JV_UNDEF && x.t != JV_NONE && y.t != JV_NONE)
        return concat(c, n, x, y, out);
    if (n->op == JOP_MUL && x.t == JV_STR && y.t == JV_INT)
        return repeat(c, n, x, y.i, out);
    static const char *const NAMES[] = {"+", "-", "*", "/", "//", "%", "**"};
    return kv__jfail(c, n, KV_ERR_FORMAT, "unsupported operand types for %s: %s and %s",
                     n->op <= JOP_POW ? NAMES[n->op] : "?", kv__jv_type_name(x),
                     kv__jv_type_name(y));
}

// ---- expressions ----

static bool eval_node(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv *out) {
    kv__jv x, y;
    switch (n->kind) {
    case JN_LIT: *out = n->v; return true;
    case JN_NAME: {
        kv__jv *v = lookup(s, n->s, n->sn);
        *out = v ? *v : kv__jv_undef();
        return true;
    }
    case JN_LIST: {
        kv__jlist *l = kv__jlist_new(c->arena, n->n_kids);
        if (!l)
            return kv__jnomem(c, n);
        for (size_t i = 0; i < n->n_kids; i++)
            if (!kv__jeval(c, s, n->kids[i], &l->v[l->n++]))
                return false;
        *out = (kv__jv){.t = JV_LIST, .l = l};
        return true;
    }
    case JN_DICT: {
        kv__jdict *d = kv__jdict_new(c->arena, n->n_kids / 2);
        if (!d)
            return kv__jnomem(c, n);
        for (size_t i = 0; i + 1 < n->n_kids; i += 2) {
            if (!kv__jeval(c, s, n->kids[i], &x) || !kv__jeval(c, s, n->kids[i + 1], &y))
                return false;
            if (x.t != JV_STR)
                return kv__jfail(c, n->kids[i], KV_ERR_UNSUPPORTED,
                                 "dict keys must be strings, not %s", kv__jv_type_name(x));
            if (!kv__jdict_set(c->arena, d, x.s.p, x.s.n, y))
                return kv__jnomem(c, n);
        }
        *out = (kv__jv){.t = JV_DICT, .d = d};
        return true;
    }
    case JN_ATTR: return kv__jeval(c, s, n->a, &x) && eval_attr(c, n, x, out);
    case JN_INDEX:
        return kv__jeval(c, s, n->a, &x) && kv__jeval(c, s, n->b, &y) &&
               eval_index(c, n, x, y, out);
    case JN_SLICE: return kv__jeval(c, s, n->a, &x) && eval_slice(c, s, n, x, out);
    case JN_CALL: return eval_call(c, s, n, out);
    case JN_FILTER: return kv__jeval(c, s, n->a, &x) && kv__jfilter(c, s, n, x, out);
    case JN_TEST: {
        bool r;
        if (!kv__jeval(c, s, n->a, &x) || !kv__jtest(c, s, n, x, &r))
            return false;
        *out = kv__jv_bool(r != (n->op != 0));
        return true;
    }
    case JN_BIN: return eval_bin(c, s, n, out);
    case JN_UNARY:
        if (!kv__jeval(c, s, n->a, &x))
            return false;
        if (n->op == JOP_NOT) {
            *out = kv__jv_bool(!kv__jv_truthy(x));
            return true;
        }
        if (x.t == JV_INT && x.i != INT64_MIN) {
            *out = kv__jv_int(n->op == JOP_NEG ? -x.i : x.i);
            return true;
        }
        if (is_num(x)) {
            *out = (kv__jv){.t = JV_FLOAT, .f = n->op == JOP_NEG ? -num(x) : num(x)};
            return true;
        }
        return kv__jfail(c, n, KV_ERR_FORMAT, "bad operand type for unary -: %s",
                         kv__jv_type_name(x));
    case JN_COND:
        if (!kv__jeval(c, s, n->b, &x))
            return false;
        if (kv__jv_truthy(x))
            return kv__jeval(c, s, n->a, out);
        if (n->c)
            return kv__jeval(c, s, n->c, out);
        *out = kv__jv_undef();
        return true;
    case JN_KWARG:
        return kv__jfail(c, n, KV_ERR_FORMAT, "a keyword argument is not allowed here");
    default: return kv__jfail(c, n, KV_ERR_FORMAT, "not an expression");
    }
}

bool kv__jeval(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv *out) {
    if (!enter(c, n))
        return false;
    return leave(c, eval_node(c, s, n, out));
}

// Runs the template over the globals in scope g; the text goes to o.
bool kv__jrun(kv__jctx *c, kv__jscope *g, kv__jbuf *o) {
    c->global = g;
    return exec(c, g, c->t->root, o);
}
