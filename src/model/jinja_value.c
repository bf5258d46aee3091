// Values of the Jinja interpreter: the arena they live in, lists and
// insertion-ordered dicts, conversion from JSON, truth, equality, and the two
// ways a value becomes text ({{ v }} and tojson). Printing follows
// @huggingface/jinja (true/false, 1.0, lists and dicts as JSON), the
// reference the chat-template tests compare with.
#include "model/jinja_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- arena ----

struct kv__jarena_chunk {
    kv__jarena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void *kv__jarena_alloc(kv__jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    if (n > a->limit || a->used > a->limit - n)
        return NULL;
    kv__jarena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > (64u << 10) ? n : (64u << 10);
        c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used += n;
    return p;
}

void kv__jarena_free(kv__jarena *a) {
    for (kv__jarena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
    a->used = 0;
}

char *kv__jv_strdup(kv__jarena *a, const char *p, size_t n) {
    if (n == SIZE_MAX)
        return NULL;
    char *s = kv__jarena_alloc(a, n + 1);
    if (!s)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

// ---- lists and dicts ----

kv__jlist *kv__jlist_new(kv__jarena *a, size_t cap) {
    kv__jlist *l = kv__jarena_alloc(a, sizeof *l);
    if (!l)
        return NULL;
    l->n = 0;
    l->cap = cap;
    l->v = NULL;
    if (cap && (cap > SIZE_MAX / sizeof *l->v || !(l->v = kv__jarena_alloc(a, cap * sizeof *l->v))))
        return NULL;
    return l;
}

bool kv__jlist_push(kv__jarena *a, kv__jlist *l, kv__jv v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        if (cap > SIZE_MAX / sizeof *l->v)
            return false;
        kv__jv *nv = kv__jarena_alloc(a, cap * sizeof *nv);
        if (!nv)
            return false;
        if (l->n)
            memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return true;
}

kv__jdict *kv__jdict_new(kv__jarena *a, size_t cap) {
    kv__jdict *d = kv__jarena_alloc(a, sizeof *d);
    if (!d)
        return NULL;
    *d = (kv__jdict){0};
    if (cap) {
        if (cap > SIZE_MAX / sizeof(kv__jv))
            return NULL;
        d->k = kv__jarena_alloc(a, cap * sizeof(kv__jv));
        d->v = kv__jarena_alloc(a, cap * sizeof(kv__jv));
        if (!d->k || !d->v)
            return NULL;
        d->cap = cap;
    }
    return d;
}

kv__jv *kv__jdict_get(const kv__jdict *d, const char *k, size_t kn) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].s.n == kn && memcmp(d->k[i].s.p, k, kn) == 0)
            return &d->v[i];
    return NULL;
}

bool kv__jdict_set(kv__jarena *a, kv__jdict *d, const char *k, size_t kn, kv__jv v) {
    kv__jv *old = kv__jdict_get(d, k, kn);
    if (old) {
        *old = v;
        return true;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        if (cap > SIZE_MAX / sizeof(kv__jv))
            return false;
        kv__jv *nk = kv__jarena_alloc(a, cap * sizeof *nk);
        kv__jv *nv = kv__jarena_alloc(a, cap * sizeof *nv);
        if (!nk || !nv)
            return false;
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = kv__jv_str(k, kn);
    d->v[d->n] = v;
    d->n++;
    return true;
}

// ---- JSON ----

bool kv__jv_from_json(kv__jarena *a, const json_t *j, kv__jv *out) {
    switch (json_typeof(j)) {
    case JSON_NULL: *out = kv__jv_none(); return true;
    case JSON_TRUE: *out = kv__jv_bool(true); return true;
    case JSON_FALSE: *out = kv__jv_bool(false); return true;
    case JSON_INTEGER: *out = kv__jv_int(json_integer_value(j)); return true;
    case JSON_REAL: *out = (kv__jv){.t = JV_FLOAT, .f = json_real_value(j)}; return true;
    case JSON_STRING: {
        size_t n = json_string_length(j);
        char *s = kv__jv_strdup(a, json_string_value(j), n);
        if (!s)
            return false;
        *out = kv__jv_str(s, n);
        return true;
    }
    case JSON_ARRAY: {
        kv__jlist *l = kv__jlist_new(a, json_array_size(j));
        if (!l)
            return false;
        for (size_t i = 0; i < json_array_size(j); i++)
            if (!kv__jv_from_json(a, json_array_get(j, i), &l->v[l->n++]))
                return false;
        *out = (kv__jv){.t = JV_LIST, .l = l};
        return true;
    }
    case JSON_OBJECT: {
        kv__jdict *d = kv__jdict_new(a, json_object_size(j));
        if (!d)
            return false;
        const char *k;
        json_t *v;
        // jansson keeps insertion order (JSON_PRESERVE_ORDER is the default since 2.8)
        json_object_foreach((json_t *)j, k, v) {
            size_t kn = strlen(k);
            char *ks = kv__jv_strdup(a, k, kn);
            kv__jv jv;
            if (!ks || !kv__jv_from_json(a, v, &jv) || !kv__jdict_set(a, d, ks, kn, jv))
                return false;
        }
        *out = (kv__jv){.t = JV_DICT, .d = d};
        return true;
    }
    }
    return false;
}

// ---- truth, equality, names ----

bool kv__jv_truthy(kv__jv v) {
    switch (v.t) {
    case JV_BOOL: return v.b;
    case JV_INT: return v.i != 0;
    case JV_FLOAT: return v.f != 0;
    case JV_STR: return v.s.n > 0;
    case JV_LIST: return v.l->n > 0;
    case JV_DICT: return v.d->n > 0;
    case JV_NS:
    case JV_FUNC:
    case JV_MACRO: return true;
    default: return false;
    }
}

static bool is_num(kv__jv v) {
    return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
}

static double num(kv__jv v) {
    return v.t == JV_INT ? (double)v.i : v.t == JV_FLOAT ? v.f : (double)v.b;
}

bool kv__jv_equal(kv__jv x, kv__jv y) {
    if (x.t == JV_STR && y.t == JV_STR)
        return x.s.n == y.s.n && memcmp(x.s.p, y.s.p, x.s.n) == 0;
    if (is_num(x) && is_num(y)) {
        if (x.t == JV_INT && y.t == JV_INT)
            return x.i == y.i;
        return num(x) == num(y);
    }
    if (x.t != y.t)
        return false;
    switch (x.t) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_LIST:
        if (x.l->n != y.l->n)
            return false;
        for (size_t i = 0; i < x.l->n; i++)
            if (!kv__jv_equal(x.l->v[i], y.l->v[i]))
                return false;
        return true;
    case JV_DICT:
    case JV_NS:
        if (x.d->n != y.d->n)
            return false;
        for (size_t i = 0; i < x.d->n; i++) {
            kv__jv *o = kv__jdict_get(y.d, x.d->k[i].s.p, x.d->k[i].s.n);
            if (!o || !kv__jv_equal(x.d->v[i], *o))
                return false;
        }
        return true;
    case JV_FUNC: return x.fn == y.fn;
    case JV_MACRO: return x.m == y.m;
    default: return false;
    }
}

const char *kv__jv_type_name(kv__jv v) {
    static const char *const NAMES[] = {
        [JV_UNDEF] = "undefined", [JV_NONE] = "none",  [JV_BOOL] = "boolean",
        [JV_INT] = "integer",     [JV_FLOAT] = "float", [JV_STR] = "string",
        [JV_LIST] = "list",       [JV_DICT] = "dict",   [JV_NS] = "namespace",
        [JV_FUNC] = "function",   [JV_MACRO] = "macro",
    };
    return v.t <= JV_MACRO ? NAMES[v.t] : "value";
}

// ---- buffers ----

bool kv__jbuf_add(kv__jbuf *b, const char *s, size_t n) {
    if (n > b->limit || b->n > b->limit - n)
        return false;
    if (!b->p || n + 1 > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return false;
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

void kv__jbuf_free(kv__jbuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static bool adds(kv__jbuf *b, const char *s) {
    return kv__jbuf_add(b, s, strlen(s));
}

// A float as JavaScript prints it: integral values keep one decimal ("2.0"),
// others the shortest text that reads back the same.
static bool add_float(kv__jbuf *b, double f, bool json) {
    char t[40];
    if (isnan(f))
        return adds(b, json ? "NaN" : "nan");
    if (isinf(f))
        return adds(b, f > 0 ? "Infinity" : "-Infinity");
    if (f == floor(f) && fabs(f) < 1e16) {
        snprintf(t, sizeof t, json ? "%.0f" : "%.1f", f);
        if (json && strcmp(t, "-0") == 0)
            snprintf(t, sizeof t, "0");
        return adds(b, t);
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, f);
        if (strtod(t, NULL) == f)
            break;
    }
    return adds(b, t);
}

static bool add_int(kv__jbuf *b, int64_t i) {
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)i);
    return adds(b, t);
}

bool kv__jv_print(kv__jbuf *b, kv__jv v) {
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_BOOL: return adds(b, v.b ? "true" : "false");
    case JV_INT: return add_int(b, v.i);
    case JV_FLOAT: return add_float(b, v.f, false);
    case JV_STR: return kv__jbuf_add(b, v.s.p, v.s.n);
    case JV_LIST:
    case JV_DICT:
    case JV_NS: return kv__jv_tojson(b, v, -1, 0);
    default: return adds(b, "[function]");
    }
}

static bool json_str(kv__jbuf *b, const char *p, size_t n) {
    if (!adds(b, "\""))
        return false;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        if (!kv__jbuf_add(b, p + run, i - run))
            return false;
        char e[8];
        switch (ch) {
        case '"': snprintf(e, sizeof e, "\\\""); break;
        case '\\': snprintf(e, sizeof e, "\\\\"); break;
        case '\n': snprintf(e, sizeof e, "\\n"); break;
        case '\r': snprintf(e, sizeof e, "\\r"); break;
        case '\t': snprintf(e, sizeof e, "\\t"); break;
        case '\b': snprintf(e, sizeof e, "\\b"); break;
        case '\f': snprintf(e, sizeof e, "\\f"); break;
        default: snprintf(e, sizeof e, "\\u%04x", ch); break;
        }
        if (!adds(b, e))
            return false;
        run = i + 1;
    }
    return kv__jbuf_add(b, p + run, n - run) && adds(b, "\"");
}

static bool newline_indent(kv__jbuf *b, int indent, int depth) {
    if (!adds(b, "\n"))
        return false;
    for (int i = 0; i < indent * depth; i++)
        if (!adds(b, " "))
            return false;
    return true;
}

// Before item i of a list or dict at depth: ", " between items, or with an indent
// "," and a new line indented one level deeper.
static bool item_start(kv__jbuf *b, size_t i, int indent, int depth) {
    if (i > 0 && !adds(b, indent > 0 ? "," : ", "))
        return false;
    return indent <= 0 || newline_indent(b, indent, depth + 1);
}

// After the n items: with an indent (and items) a new line at depth, then close.
static bool close_items(kv__jbuf *b, size_t n, int indent, int depth, const char *close) {
    if (indent > 0 && n > 0 && !newline_indent(b, indent, depth))
        return false;
    return adds(b, close);
}

bool kv__jv_tojson(kv__jbuf *b, kv__jv v, int indent, int depth) {
    if (depth > KV__JINJA_MAX_DEPTH)
        return false;
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE: return adds(b, "null");
    case JV_BOOL: return adds(b, v.b ? "true" : "false");
    case JV_INT: return add_int(b, v.i);
    case JV_FLOAT: return add_float(b, v.f, true);
    case JV_STR: return json_str(b, v.s.p, v.s.n);
    case JV_LIST: {
        size_t n = v.l->n;
        if (!adds(b, "["))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!item_start(b, i, indent, depth) || !kv__jv_tojson(b, v.l->v[i], indent, depth + 1))
                return false;
        return close_items(b, n, indent, depth, "]");
    }
    case JV_DICT:
    case JV_NS: {
        size_t n = v.d->n;
        if (!adds(b, "{"))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!item_start(b, i, indent, depth) || !json_str(b, v.d->k[i].s.p, v.d->k[i].s.n) ||
                !adds(b, ": ") || !kv__jv_tojson(b, v.d->v[i], indent, depth + 1))
                return false;
        return close_items(b, n, indent, depth, "}");
    }
    default: return false;
    }
}
