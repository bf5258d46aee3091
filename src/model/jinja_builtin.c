// Built-ins of the Jinja subset: filters (x | f), tests (x is t), methods of
// strings and dicts ("s".strip(), d.items()) and the global functions range,
// namespace, dict, raise_exception and strftime_now. Strings are UTF-8; case
// mapping (upper, lower, title, capitalize) changes ASCII letters only.
#define _POSIX_C_SOURCE 200809L // gmtime_r
#include "model/jinja_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RANGE 1000000 // items range() may make

typedef bool (*filter_fn)(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out);

static bool want(kv__jctx *c, const kv__jnode *n, kv__jv v, kv__jv_type t, const char *what) {
    if (v.t == t)
        return true;
    return kv__jfail(c, n, KV_ERR_FORMAT, "%s expects a %s, not a %s", what,
                     kv__jv_type_name((kv__jv){.t = (uint8_t)t}), kv__jv_type_name(v));
}

static bool no_args(kv__jctx *c, kv__jscope *s, const kv__jnode *n) {
    kv__jv dummy;
    size_t np;
    return kv__jargs(c, s, n, &dummy, 0, &np, NULL, NULL, 0);
}

static bool make_str(kv__jctx *c, const kv__jnode *n, const char *p, size_t len, kv__jv *out) {
    char *d = kv__jv_strdup(c->arena, p, len);
    if (!d)
        return kv__jnomem(c, n);
    *out = kv__jv_str(d, len);
    return true;
}

static size_t cp_len(const char *p, size_t n) {
    size_t k = 1;
    while (k < n && ((unsigned char)p[k] & 0xc0) == 0x80)
        k++;
    return k;
}

static size_t n_codepoints(kv__jv v) {
    size_t k = 0;
    for (size_t i = 0; i < v.s.n; i++)
        k += ((unsigned char)v.s.p[i] & 0xc0) != 0x80;
    return k;
}

// ---- string operations ----

// Whether the character at p (len bytes) is one of chars (NULL: whitespace).
static bool in_set(const char *p, size_t len, const kv__jv *chars) {
    if (!chars)
        return kv__jinja_ws_fwd(p, len) == len;
    for (size_t i = 0; i + len <= chars->s.n; i++)
        if (memcmp(chars->s.p + i, p, len) == 0)
            return true;
    return false;
}

// Python's str.strip/lstrip/rstrip (chars NULL: whitespace as JavaScript's trim).
static kv__jv strip(kv__jv v, const kv__jv *chars, bool left, bool right) {
    const char *p = v.s.p;
    size_t n = v.s.n;
    while (left && n > 0) {
        size_t k = cp_len(p, n);
        if (!in_set(p, k, chars))
            break;
        p += k;
        n -= k;
    }
    while (right && n > 0) {
        size_t k = 1;
        while (k < n && ((unsigned char)p[n - k] & 0xc0) == 0x80)
            k++;
        if (!in_set(p + n - k, k, chars))
            break;
        n -= k;
    }
    return kv__jv_str(p, n);
}

enum { CASE_UPPER, CASE_LOWER, CASE_TITLE, CASE_CAPITALIZE };

static bool recase(kv__jctx *c, const kv__jnode *n, kv__jv v, int how, kv__jv *out) {
    char *d = kv__jv_strdup(c->arena, v.s.p, v.s.n);
    if (!d)
        return kv__jnomem(c, n);
    bool word_start = true;
    for (size_t i = 0; i < v.s.n; i++) {
        char ch = d[i];
        bool lower = ch >= 'a' && ch <= 'z', upper = ch >= 'A' && ch <= 'Z';
        bool up = how == CASE_UPPER || (how == CASE_TITLE && word_start) ||
                  (how == CASE_CAPITALIZE && i == 0);
        if (up && lower)
            d[i] = (char)(ch - 32);
        else if (!up && how != CASE_UPPER && upper)
            d[i] = (char)(ch + 32);
        word_start = !(lower || upper || (unsigned char)ch >= 0x80 || (ch >= '0' && ch <= '9'));
    }
    *out = kv__jv_str(d, v.s.n);
    return true;
}

static bool find(kv__jv hay, size_t from, kv__jv needle, size_t *at) {
    for (size_t i = from; i + needle.s.n <= hay.s.n; i++)
        if (memcmp(hay.s.p + i, needle.s.p, needle.s.n) == 0) {
            *at = i;
            return true;
        }
    return false;
}

// Python's str.split(sep=None, maxsplit=-1).
static bool split(kv__jctx *c, const kv__jnode *n, kv__jv v, kv__jv sep, int64_t maxsplit,
                  kv__jv *out) {
    kv__jlist *l = kv__jlist_new(c->arena, 0);
    if (!l)
        return kv__jnomem(c, n);
    *out = (kv__jv){.t = JV_LIST, .l = l};
    if (sep.t == JV_STR) {
        if (sep.s.n == 0)
            return kv__jfail(c, n, KV_ERR_FORMAT, "split() separator is empty");
        size_t start = 0, at;
        while ((maxsplit < 0 || (int64_t)l->n < maxsplit) && find(v, start, sep, &at)) {
            if (!kv__jlist_push(c->arena, l, kv__jv_str(v.s.p + start, at - start)))
                return kv__jnomem(c, n);
            start = at + sep.s.n;
        }
        return kv__jlist_push(c->arena, l, kv__jv_str(v.s.p + start, v.s.n - start)) ||
               kv__jnomem(c, n);
    }
    size_t i = 0;
    for (;;) {
        size_t w;
        while (i < v.s.n && (w = kv__jinja_ws_fwd(v.s.p + i, v.s.n - i)) > 0)
            i += w;
        if (i >= v.s.n)
            return true;
        if (maxsplit >= 0 && (int64_t)l->n >= maxsplit) {
            kv__jv rest = strip(kv__jv_str(v.s.p + i, v.s.n - i), NULL, false, true);
            return kv__jlist_push(c->arena, l, rest) || kv__jnomem(c, n);
        }
        size_t start = i;
        while (i < v.s.n && kv__jinja_ws_fwd(v.s.p + i, v.s.n - i) == 0)
            i += cp_len(v.s.p + i, v.s.n - i);
        if (!kv__jlist_push(c->arena, l, kv__jv_str(v.s.p + start, i - start)))
            return kv__jnomem(c, n);
    }
}

static bool replace(kv__jctx *c, const kv__jnode *n, kv__jv v, kv__jv old, kv__jv new,
                    int64_t count, kv__jv *out) {
    if (old.s.n == 0)
        return kv__jfail(c, n, KV_ERR_UNSUPPORTED, "replace() with an empty string to replace");
    kv__jbuf b = {.limit = c->out_limit};
    size_t start = 0, at;
    bool ok = true;
    for (int64_t k = 0; ok && (count < 0 || k < count) && find(v, start, old, &at); k++) {
        ok = kv__jbuf_add(&b, v.s.p + start, at - start) && kv__jbuf_add(&b, new.s.p, new.s.n);
        start = at + old.s.n;
    }
    ok = ok && kv__jbuf_add(&b, v.s.p + start, v.s.n - start);
    ok = ok ? kv__jstr_from_buf(c, n, &b, out) : kv__jnomem(c, n);
    kv__jbuf_free(&b);
    return ok;
}

static bool join(kv__jctx *c, const kv__jnode *n, kv__jv list, kv__jv sep, kv__jv *out) {
    kv__jbuf b = {.limit = c->out_limit};
    bool ok = true;
    for (size_t i = 0; ok && i < list.l->n; i++)
        ok = (i == 0 || kv__jbuf_add(&b, sep.s.p, sep.s.n)) && kv__jv_print(&b, list.l->v[i]);
    ok = ok ? kv__jstr_from_buf(c, n, &b, out) : kv__jnomem(c, n);
    kv__jbuf_free(&b);
    return ok;
}

static bool affix(kv__jv v, kv__jv a, bool end) {
    return a.t == JV_STR && a.s.n <= v.s.n &&
           memcmp(v.s.p + (end ? v.s.n - a.s.n : 0), a.s.p, a.s.n) == 0;
}

// ---- methods ----

static bool str_method(kv__jctx *c, kv__jscope *s, const kv__jnode *call, kv__jv v,
                       const char *name, kv__jv *out, bool *found) {
    static const char *const KW[] = {"count"};
    kv__jv a[3], kw[1];
    size_t na;
    *found = true;
    if (!kv__jargs(c, s, call, a, 3, &na, KW, kw, 1))
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].t == JV_UNDEF)
            a[i] = kv__jv_none();
    bool strip_l = !strcmp(name, "strip") || !strcmp(name, "lstrip");
    bool strip_r = !strcmp(name, "strip") || !strcmp(name, "rstrip");
    if (strip_l || strip_r) {
        if (na > 0 && a[0].t != JV_NONE && !want(c, call, a[0], JV_STR, name))
            return false;
        *out = strip(v, na > 0 && a[0].t == JV_STR ? &a[0] : NULL, strip_l, strip_r);
        return true;
    }
    if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
        bool end = name[0] == 'e', r = false;
        if (na < 1)
            return kv__jfail(c, call, KV_ERR_FORMAT, "%s() needs an argument", name);
        if (a[0].t == JV_LIST)
            for (size_t i = 0; i < a[0].l->n && !r; i++)
                r = affix(v, a[0].l->v[i], end);
        else if (want(c, call, a[0], JV_STR, name))
            r = affix(v, a[0], end);
        else
            return false;
        *out = kv__jv_bool(r);
        return true;
    }
    if (!strcmp(name, "split")) {
        if (na > 0 && a[0].t != JV_NONE && !want(c, call, a[0], JV_STR, name))
            return false;
        if (na > 1 && !want(c, call, a[1], JV_INT, name))
            return false;
        return split(c, call, v, na > 0 ? a[0] : kv__jv_none(), na > 1 ? a[1].i : -1, out);
    }
    if (!strcmp(name, "replace")) {
        kv__jv count = na > 2 ? a[2] : kw[0];
        if (na < 2 || !want(c, call, a[0], JV_STR, name) || !want(c, call, a[1], JV_STR, name))
            return na < 2 ? kv__jfail(c, call, KV_ERR_FORMAT, "replace() needs two strings")
                          : false;
        if (count.t != JV_UNDEF && count.t != JV_NONE && !want(c, call, count, JV_INT, name))
            return false;
        return replace(c, call, v, a[0], a[1], count.t == JV_INT ? count.i : -1, out);
    }
    if (!strcmp(name, "join")) {
        if (na < 1 || !want(c, call, a[0], JV_LIST, name))
            return na < 1 ? kv__jfail(c, call, KV_ERR_FORMAT, "join() needs a list") : false;
        return join(c, call, a[0], v, out);
    }
    static const char *const CASES[] = {"upper", "lower", "title", "capitalize"};
    for (int k = 0; k < 4; k++)
        if (!strcmp(name, CASES[k]))
            return recase(c, call, v, k, out);
    *found = false;
    return true;
}

static bool dict_items(kv__jctx *c, const kv__jnode *n, kv__jdict *d, int what, kv__jv *out) {
    kv__jlist *l = kv__jlist_new(c->arena, d->n);
    if (!l)
        return kv__jnomem(c, n);
    for (size_t i = 0; i < d->n; i++) {
        if (what == 0) {
            kv__jlist *pair = kv__jlist_new(c->arena, 2);
            if (!pair)
                return kv__jnomem(c, n);
            pair->v[0] = d->k[i];
            pair->v[1] = d->v[i];
            pair->n = 2;
            l->v[l->n++] = (kv__jv){.t = JV_LIST, .l = pair};
        } else {
            l->v[l->n++] = what == 1 ? d->k[i] : d->v[i];
        }
    }
    *out = (kv__jv){.t = JV_LIST, .l = l};
    return true;
}

bool kv__jmethod(kv__jctx *c, kv__jscope *s, const kv__jnode *call, kv__jv v, const char *name,
                 size_t name_n, kv__jv *out, bool *found) {
    char nm[16];
    *found = false;
    if (name_n >= sizeof nm)
        return true;
    memcpy(nm, name, name_n);
    nm[name_n] = '\0';
    if (v.t == JV_STR)
        return str_method(c, s, call, v, nm, out, found);
    if (v.t != JV_DICT)
        return true;
    static const char *const DM[] = {"items", "keys", "values"};
    for (int k = 0; k < 3; k++)
        if (!strcmp(nm, DM[k])) {
            *found = true;
            return no_args(c, s, call) && dict_items(c, call, v.d, k, out);
        }
    if (!strcmp(nm, "get")) {
        kv__jv a[2];
        size_t na;
        *found = true;
        if (!kv__jargs(c, s, call, a, 2, &na, NULL, NULL, 0))
            return false;
        if (na < 1 || a[0].t != JV_STR)
            return kv__jfail(c, call, KV_ERR_FORMAT, "get() needs a string key");
        kv__jv *r = kv__jdict_get(v.d, a[0].s.p, a[0].s.n);
        *out = r ? *r : na > 1 ? a[1] : kv__jv_none();
        return true;
    }
    return true;
}

// ---- tests ----

static bool apply_test(kv__jctx *c, const kv__jnode *n, const char *name, kv__jv v,
                       const kv__jv *a, size_t na, bool *out) {
    bool integral = v.t == JV_INT;
    if (!strcmp(name, "defined"))
        *out = v.t != JV_UNDEF;
    else if (!strcmp(name, "undefined"))
        *out = v.t == JV_UNDEF;
    else if (!strcmp(name, "none"))
        *out = v.t == JV_NONE;
    else if (!strcmp(name, "string"))
        *out = v.t == JV_STR;
    else if (!strcmp(name, "number"))
        *out = v.t == JV_INT || v.t == JV_FLOAT;
    else if (!strcmp(name, "integer"))
        *out = integral;
    else if (!strcmp(name, "float"))
        *out = v.t == JV_FLOAT;
    else if (!strcmp(name, "boolean"))
        *out = v.t == JV_BOOL;
    else if (!strcmp(name, "true") || !strcmp(name, "false"))
        *out = v.t == JV_BOOL && v.b == (name[0] == 't');
    else if (!strcmp(name, "mapping"))
        *out = v.t == JV_DICT || v.t == JV_NS;
    else if (!strcmp(name, "iterable") || !strcmp(name, "sequence"))
        *out = v.t == JV_LIST || v.t == JV_DICT || v.t == JV_STR;
    else if (!strcmp(name, "callable"))
        *out = v.t == JV_FUNC || v.t == JV_MACRO;
    else if (!strcmp(name, "odd") || !strcmp(name, "even"))
        *out = integral && ((v.i % 2 != 0) == (name[0] == 'o'));
    else if (!strcmp(name, "divisibleby")) {
        if (na < 1 || a[0].t != JV_INT || a[0].i == 0 || !integral)
            return kv__jfail(c, n, KV_ERR_FORMAT, "divisibleby needs integers");
        *out = v.i % a[0].i == 0;
    } else if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "sameas") ||
               !strcmp(name, "ne")) {
        if (na < 1)
            return kv__jfail(c, n, KV_ERR_FORMAT, "test '%s' needs an argument", name);
        *out = kv__jv_equal(v, a[0]) != (name[0] == 'n');
    } else if (!strcmp(name, "in")) {
        if (na < 1)
            return kv__jfail(c, n, KV_ERR_FORMAT, "test 'in' needs an argument");
        *out = false;
        if (a[0].t == JV_LIST)
            for (size_t i = 0; i < a[0].l->n && !*out; i++)
                *out = kv__jv_equal(v, a[0].l->v[i]);
        else if (a[0].t == JV_DICT)
            *out = v.t == JV_STR && kv__jdict_get(a[0].d, v.s.p, v.s.n);
        else if (a[0].t == JV_STR && v.t == JV_STR) {
            size_t at;
            *out = find(a[0], 0, v, &at);
        }
    } else if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        bool lo = name[0] == 'l';
        *out = v.t == JV_STR;
        for (size_t i = 0; *out && i < v.s.n; i++)
            if (lo ? (v.s.p[i] >= 'A' && v.s.p[i] <= 'Z') : (v.s.p[i] >= 'a' && v.s.p[i] <= 'z'))
                *out = false;
    } else {
        return kv__jfail(c, n, KV_ERR_UNSUPPORTED, "unsupported test '%s'", name);
    }
    return true;
}

static const char *const TESTS[] = {
    "defined", "undefined", "none",    "string", "number",   "integer", "float",
    "boolean", "true",      "false",   "mapping", "iterable", "sequence", "callable",
    "odd",     "even",      "divisibleby", "eq", "equalto",  "sameas",  "ne",
    "in",      "lower",     "upper",
};

static bool known(const char *const *names, size_t count, const char *name, size_t n) {
    for (size_t i = 0; i < count; i++)
        if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
            return true;
    return false;
}

bool kv__jtest_known(const char *name, size_t n) {
    return known(TESTS, sizeof TESTS / sizeof *TESTS, name, n);
}

static bool name_str(const kv__jnode *n, char *buf, size_t size) {
    if (n->sn >= size)
        return false;
    memcpy(buf, n->s, n->sn);
    buf[n->sn] = '\0';
    return true;
}

bool kv__jtest(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, bool *out) {
    char name[32];
    kv__jv a[2];
    size_t na;
    if (!name_str(n, name, sizeof name))
        return kv__jfail(c, n, KV_ERR_UNSUPPORTED, "unsupported test");
    return kv__jargs(c, s, n, a, 2, &na, NULL, NULL, 0) && apply_test(c, n, name, v, a, na, out);
}

// ---- filters ----

static bool f_trim(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    kv__jv a[1];
    size_t na;
    if (!kv__jargs(c, s, n, a, 1, &na, NULL, NULL, 0) || !want(c, n, v, JV_STR, "trim"))
        return false;
    *out = strip(v, na > 0 && a[0].t == JV_STR ? &a[0] : NULL, true, true);
    return true;
}

static bool f_tojson(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    static const char *const KW[] = {"indent", "ensure_ascii"};
    kv__jv a[1], kw[2];
    size_t na;
    if (!kv__jargs(c, s, n, a, 1, &na, KW, kw, 2))
        return false;
    kv__jv ind = na > 0 ? a[0] : kw[0];
    if (kw[1].t == JV_BOOL && kw[1].b)
        return kv__jfail(c, n, KV_ERR_UNSUPPORTED, "tojson(ensure_ascii=true) is not supported");
    int indent = ind.t == JV_INT && ind.i > 0 && ind.i < 64 ? (int)ind.i : -1;
    kv__jbuf b = {.limit = c->out_limit};
    bool ok = kv__jv_tojson(&b, v, indent, 0)
                  ? kv__jstr_from_buf(c, n, &b, out)
                  : kv__jfail(c, n, KV_ERR_FORMAT, "cannot write a %s as JSON (or it is too large)",
                              kv__jv_type_name(v));
    kv__jbuf_free(&b);
    return ok;
}

static bool f_length(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    if (!no_args(c, s, n))
        return false;
    if (v.t == JV_STR)
        *out = kv__jv_int((int64_t)n_codepoints(v));
    else if (v.t == JV_LIST)
        *out = kv__jv_int((int64_t)v.l->n);
    else if (v.t == JV_DICT || v.t == JV_NS)
        *out = kv__jv_int((int64_t)v.d->n);
    else
        return kv__jfail(c, n, KV_ERR_FORMAT, "a %s has no length", kv__jv_type_name(v));
    return true;
}

static bool f_case(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    static const char *const CASES[] = {"upper", "lower", "title", "capitalize"};
    char name[16];
    if (!no_args(c, s, n) || !name_str(n, name, sizeof name) || !want(c, n, v, JV_STR, name))
        return false;
    for (int k = 0; k < 4; k++)
        if (!strcmp(name, CASES[k]))
            return recase(c, n, v, k, out);
    return false;
}

static bool f_items(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    if (!no_args(c, s, n))
        return false;
    if (v.t == JV_UNDEF || v.t == JV_NONE) { // Jinja's items() of nothing is empty
        kv__jlist *l = kv__jlist_new(c->arena, 0);
        *out = (kv__jv){.t = JV_LIST, .l = l};
        return l || kv__jnomem(c, n);
    }
    return want(c, n, v, JV_DICT, "items") && dict_items(c, n, v.d, 0, out);
}

static bool f_default(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    static const char *const KW[] = {"default_value", "boolean"};
    kv__jv a[2], kw[2];
    size_t na;
    if (!kv__jargs(c, s, n, a, 2, &na, KW, kw, 2))
        return false;
    kv__jv def = na > 0 ? a[0] : kw[0].t != JV_UNDEF ? kw[0] : kv__jv_str("", 0);
    kv__jv boolean = na > 1 ? a[1] : kw[1];
    bool use = v.t == JV_UNDEF || (kv__jv_truthy(boolean) && !kv__jv_truthy(v));
    *out = use ? def : v;
    return true;
}

static bool f_first_last(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    bool last = n->s[0] == 'l';
    if (!no_args(c, s, n))
        return false;
    *out = kv__jv_undef();
    if (v.t == JV_LIST) {
        if (v.l->n)
            *out = v.l->v[last ? v.l->n - 1 : 0];
        return true;
    }
    if (v.t == JV_STR) {
        if (v.s.n == 0)
            return true;
        size_t k = 1;
        if (last)
            while (k < v.s.n && ((unsigned char)v.s.p[v.s.n - k] & 0xc0) == 0x80)
                k++;
        else
            k = cp_len(v.s.p, v.s.n);
        *out = kv__jv_str(last ? v.s.p + v.s.n - k : v.s.p, k);
        return true;
    }
    return kv__jfail(c, n, KV_ERR_FORMAT, "%s expects a list, not a %s", last ? "last" : "first",
                     kv__jv_type_name(v));
}

static bool f_join(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    kv__jv a[1];
    size_t na;
    if (!kv__jargs(c, s, n, a, 1, &na, NULL, NULL, 0) || !want(c, n, v, JV_LIST, "join"))
        return false;
    if (na > 0 && !want(c, n, a[0], JV_STR, "join"))
        return false;
    return join(c, n, v, na > 0 ? a[0] : kv__jv_str("", 0), out);
}

static bool f_string(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    return no_args(c, s, n) && kv__jto_str(c, n, v, out);
}

static bool f_int(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    if (!no_args(c, s, n))
        return false;
    if (v.t == JV_INT || v.t == JV_BOOL)
        *out = kv__jv_int(v.t == JV_INT ? v.i : v.b);
    else if (v.t == JV_FLOAT && isfinite(v.f) && fabs(v.f) < 9e18)
        *out = kv__jv_int((int64_t)v.f);
    else if (v.t == JV_STR) {
        char buf[32];
        size_t len = v.s.n < sizeof buf - 1 ? v.s.n : sizeof buf - 1;
        memcpy(buf, v.s.p, len);
        buf[len] = '\0';
        *out = kv__jv_int(strtoll(buf, NULL, 10));
    } else
        *out = kv__jv_int(0);
    return true;
}

static bool f_list(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    if (!no_args(c, s, n))
        return false;
    if (v.t == JV_LIST) {
        *out = v;
        return true;
    }
    if (v.t == JV_DICT)
        return dict_items(c, n, v.d, 1, out);
    if (!want(c, n, v, JV_STR, "list"))
        return false;
    kv__jlist *l = kv__jlist_new(c->arena, 0);
    if (!l)
        return kv__jnomem(c, n);
    for (size_t i = 0; i < v.s.n;) {
        size_t k = cp_len(v.s.p + i, v.s.n - i);
        if (!kv__jlist_push(c->arena, l, kv__jv_str(v.s.p + i, k)))
            return kv__jnomem(c, n);
        i += k;
    }
    *out = (kv__jv){.t = JV_LIST, .l = l};
    return true;
}

static bool f_reverse(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    if (!no_args(c, s, n) || !want(c, n, v, JV_LIST, "reverse"))
        return false;
    kv__jlist *l = kv__jlist_new(c->arena, v.l->n);
    if (!l)
        return kv__jnomem(c, n);
    for (size_t i = 0; i < v.l->n; i++)
        l->v[l->n++] = v.l->v[v.l->n - 1 - i];
    *out = (kv__jv){.t = JV_LIST, .l = l};
    return true;
}

static bool f_safe(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    *out = v;
    return no_args(c, s, n);
}

static bool f_abs(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    if (!no_args(c, s, n))
        return false;
    if (v.t == JV_INT && v.i != INT64_MIN)
        *out = kv__jv_int(v.i < 0 ? -v.i : v.i);
    else if (v.t == JV_FLOAT)
        *out = (kv__jv){.t = JV_FLOAT, .f = fabs(v.f)};
    else
        return kv__jfail(c, n, KV_ERR_FORMAT, "abs expects a number");
    return true;
}

static bool f_replace(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    kv__jv a[3];
    size_t na;
    if (!kv__jargs(c, s, n, a, 3, &na, NULL, NULL, 0) || !want(c, n, v, JV_STR, "replace"))
        return false;
    if (na < 2 || a[0].t != JV_STR || a[1].t != JV_STR)
        return kv__jfail(c, n, KV_ERR_FORMAT, "replace needs two strings");
    return replace(c, n, v, a[0], a[1], na > 2 && a[2].t == JV_INT ? a[2].i : -1, out);
}

// select/reject(test, args), selectattr/rejectattr(attr, test, args)
static bool f_select(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    bool attr = n->sn > 6, reject = n->s[0] == 'r';
    kv__jv a[4];
    size_t na;
    if (!kv__jargs(c, s, n, a, 4, &na, NULL, NULL, 0) || !want(c, n, v, JV_LIST, "select"))
        return false;
    size_t ti = attr ? 1 : 0;
    if ((attr && (na < 1 || a[0].t != JV_STR)) || (na > ti && a[ti].t != JV_STR))
        return kv__jfail(c, n, KV_ERR_FORMAT, "select filters take names as strings");
    char test[32] = "";
    if (na > ti) {
        if (a[ti].s.n >= sizeof test)
            return kv__jfail(c, n, KV_ERR_UNSUPPORTED, "unsupported test");
        memcpy(test, a[ti].s.p, a[ti].s.n);
        test[a[ti].s.n] = '\0';
    }
    kv__jlist *l = kv__jlist_new(c->arena, v.l->n);
    if (!l)
        return kv__jnomem(c, n);
    for (size_t i = 0; i < v.l->n; i++) {
        kv__jv item = v.l->v[i];
        if (attr) {
            kv__jv *f = (item.t == JV_DICT || item.t == JV_NS)
                            ? kv__jdict_get(item.d, a[0].s.p, a[0].s.n)
                            : NULL;
            item = f ? *f : kv__jv_undef();
        }
        bool pass = kv__jv_truthy(item);
        if (test[0] && !apply_test(c, n, test, item, a + ti + 1, na - ti - 1, &pass))
            return false;
        if (pass != reject)
            l->v[l->n++] = v.l->v[i];
    }
    *out = (kv__jv){.t = JV_LIST, .l = l};
    return true;
}

static bool f_map(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    static const char *const KW[] = {"attribute", "default"};
    kv__jv a[1], kw[2];
    size_t na;
    if (!kv__jargs(c, s, n, a, 1, &na, KW, kw, 2) || !want(c, n, v, JV_LIST, "map"))
        return false;
    kv__jlist *l = kv__jlist_new(c->arena, v.l->n);
    if (!l)
        return kv__jnomem(c, n);
    for (size_t i = 0; i < v.l->n; i++) {
        kv__jv item = v.l->v[i];
        if (kw[0].t == JV_STR) {
            kv__jv *f = (item.t == JV_DICT || item.t == JV_NS)
                            ? kv__jdict_get(item.d, kw[0].s.p, kw[0].s.n)
                            : NULL;
            item = f ? *f : kw[1];
        } else if (na > 0 && a[0].t == JV_STR) {
            kv__jnode f = {.kind = JN_FILTER, .off = n->off, .s = a[0].s.p, .sn = a[0].s.n};
            if (!kv__jfilter_known(f.s, f.sn))
                return kv__jfail(c, n, KV_ERR_UNSUPPORTED, "unsupported filter '%.*s' in map",
                                 (int)f.sn, f.s);
            if (!kv__jfilter(c, s, &f, item, &item))
                return false;
        } else {
            return kv__jfail(c, n, KV_ERR_UNSUPPORTED, "map needs attribute= or a filter name");
        }
        l->v[l->n++] = item;
    }
    *out = (kv__jv){.t = JV_LIST, .l = l};
    return true;
}

static const struct {
    const char *name;
    filter_fn fn;
} FILTERS[] = {
    {"trim", f_trim},         {"tojson", f_tojson},       {"length", f_length},
    {"count", f_length},      {"upper", f_case},          {"lower", f_case},
    {"title", f_case},        {"capitalize", f_case},     {"items", f_items},
    {"default", f_default},   {"d", f_default},           {"first", f_first_last},
    {"last", f_first_last},   {"join", f_join},           {"string", f_string},
    {"int", f_int},           {"list", f_list},           {"reverse", f_reverse},
    {"safe", f_safe},         {"abs", f_abs},             {"replace", f_replace},
    {"select", f_select},     {"reject", f_select},       {"selectattr", f_select},
    {"rejectattr", f_select}, {"map", f_map},
};

bool kv__jfilter_known(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof FILTERS / sizeof *FILTERS; i++)
        if (strlen(FILTERS[i].name) == n && memcmp(FILTERS[i].name, name, n) == 0)
            return true;
    return false;
}

bool kv__jfilter(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv v, kv__jv *out) {
    for (size_t i = 0; i < sizeof FILTERS / sizeof *FILTERS; i++)
        if (strlen(FILTERS[i].name) == n->sn && memcmp(FILTERS[i].name, n->s, n->sn) == 0)
            return FILTERS[i].fn(c, s, n, v, out);
    return kv__jfail(c, n, KV_ERR_UNSUPPORTED, "unsupported filter '%.*s'", (int)n->sn, n->s);
}

// ---- global functions ----

static bool fn_range(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv *out) {
    kv__jv a[3];
    size_t na;
    if (!kv__jargs(c, s, n, a, 3, &na, NULL, NULL, 0))
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].t != JV_INT)
            return kv__jfail(c, n, KV_ERR_FORMAT, "range() takes integers");
    if (na == 0)
        return kv__jfail(c, n, KV_ERR_FORMAT, "range() needs an argument");
    int64_t start = na > 1 ? a[0].i : 0, stop = na > 1 ? a[1].i : a[0].i;
    int64_t step = na > 2 ? a[2].i : 1;
    if (step == 0)
        return kv__jfail(c, n, KV_ERR_FORMAT, "range() step cannot be zero");
    kv__jlist *l = kv__jlist_new(c->arena, 0);
    if (!l)
        return kv__jnomem(c, n);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (l->n >= MAX_RANGE)
            return kv__jfail(c, n, KV_ERR_LIMIT, "range() of more than %d items", MAX_RANGE);
        if (!kv__jlist_push(c->arena, l, kv__jv_int(i)))
            return kv__jnomem(c, n);
        if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step))
            break;
    }
    *out = (kv__jv){.t = JV_LIST, .l = l};
    return true;
}

// namespace(a=1, ...) and dict(a=1, ...): keyword arguments become entries.
static bool fn_dict(kv__jctx *c, kv__jscope *s, const kv__jnode *n, bool ns, kv__jv *out) {
    kv__jdict *d = kv__jdict_new(c->arena, n->n_kids);
    if (!d)
        return kv__jnomem(c, n);
    for (size_t i = 0; i < n->n_kids; i++) {
        const kv__jnode *a = n->kids[i];
        kv__jv v;
        if (a->kind != JN_KWARG)
            return kv__jfail(c, a, KV_ERR_UNSUPPORTED, "%s() takes only keyword arguments",
                             ns ? "namespace" : "dict");
        if (!kv__jeval(c, s, a->a, &v))
            return false;
        if (!kv__jdict_set(c->arena, d, a->s, a->sn, v))
            return kv__jnomem(c, n);
    }
    *out = (kv__jv){.t = ns ? JV_NS : JV_DICT, .d = d};
    return true;
}

static bool fn_strftime(kv__jctx *c, kv__jscope *s, const kv__jnode *n, kv__jv *out) {
    kv__jv a[1];
    size_t na;
    if (!kv__jargs(c, s, n, a, 1, &na, NULL, NULL, 0))
        return false;
    if (na < 1 || a[0].t != JV_STR || a[0].s.n > 200)
        return kv__jfail(c, n, KV_ERR_FORMAT, "strftime_now() needs a format string");
    char fmt[256], buf[512];
    memcpy(fmt, a[0].s.p, a[0].s.n);
    fmt[a[0].s.n] = '\0';
    time_t t = (time_t)c->now;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return kv__jfail(c, n, KV_ERR_FORMAT, "strftime_now(): bad time");
    size_t len = strftime(buf, sizeof buf, fmt, &tm);
    return make_str(c, n, buf, len, out);
}

bool kv__jcall_builtin(kv__jctx *c, kv__jscope *s, const kv__jnode *call, int fn, kv__jv *out) {
    switch (fn) {
    case KV__JFN_RANGE: return fn_range(c, s, call, out);
    case KV__JFN_NAMESPACE: return fn_dict(c, s, call, true, out);
    case KV__JFN_DICT: return fn_dict(c, s, call, false, out);
    case KV__JFN_STRFTIME: return fn_strftime(c, s, call, out);
    case KV__JFN_RAISE: {
        kv__jv a[1];
        size_t na;
        if (!kv__jargs(c, s, call, a, 1, &na, NULL, NULL, 0))
            return false;
        kv__jbuf b = {.limit = 300};
        if (na > 0)
            kv__jv_print(&b, a[0]);
        kv__jfail(c, call, KV_ERR_INVALID, "raise_exception: %s", b.p ? b.p : "");
        kv__jbuf_free(&b);
        return false;
    }
    default: return kv__jfail(c, call, KV_ERR_FORMAT, "unknown function");
    }
}
