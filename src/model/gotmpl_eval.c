// Running a parsed Go template (gotmpl_int.h) over chat messages as Ollama
// does: the messages form, or one run per turn with the last cut at .Response.
#define _POSIX_C_SOURCE 200809L
#include "model/gotmpl_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OUTPUT ((size_t)16 << 20)
#define MAX_VARS 64

typedef enum { GV_NIL, GV_BOOL, GV_INT, GV_STR, GV_MSGS, GV_MSG, GV_ROOT } gv_kind;

typedef struct {
    gv_kind k;
    int64_t i;
    const char *s; // STR (n bytes)
    size_t n;      // STR, MSGS
    const kv_chat_msg *m; // MSGS, MSG
} gv;

typedef struct {
    const char *system, *prompt, *response;
    const kv_chat_msg *msgs;
    size_t n_msgs;
} root_vals;

typedef struct {
    const root_vals *root;
    char *out;
    size_t n, cap;
    bool cut;    // stop at the first {{ .Response }}
    bool halted; // ... reached
    struct {
        const char *name;
        gv v;
    } vars[MAX_VARS];
    int n_vars;
    kv_err *err;
} ctx;

static kv_status emit(ctx *c, const char *s, size_t n) {
    if (c->halted)
        return KV_OK;
    if (c->n + n + 1 > MAX_OUTPUT)
        return KV_FAIL(c->err, KV_ERR_LIMIT, "template output over %zu bytes", MAX_OUTPUT);
    if (c->n + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < c->n + n + 1)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p)
            return KV_FAIL(c->err, KV_ERR_NOMEM, "out of memory for the prompt");
        c->out = p;
        c->cap = cap;
    }
    memcpy(c->out + c->n, s, n);
    c->n += n;
    c->out[c->n] = '\0';
    return KV_OK;
}

static gv str(const char *s) {
    return (gv){.k = s ? GV_STR : GV_NIL, .s = s, .n = s ? strlen(s) : 0};
}

static bool truth(gv v) {
    switch (v.k) {
    case GV_BOOL:
    case GV_INT: return v.i != 0;
    case GV_STR:
    case GV_MSGS: return v.n > 0;
    case GV_MSG:
    case GV_ROOT: return true;
    default: return false;
    }
}

static kv_status field(ctx *c, int line, gv v, const char *f, gv *out) {
    if (v.k == GV_ROOT) {
        const root_vals *r = c->root;
        if (!strcmp(f, "System"))
            *out = str(r->system);
        else if (!strcmp(f, "Prompt"))
            *out = str(r->prompt);
        else if (!strcmp(f, "Response"))
            *out = str(r->response);
        else if (!strcmp(f, "Messages"))
            *out = (gv){.k = GV_MSGS, .m = r->msgs, .n = r->n_msgs};
        else
            *out = (gv){.k = GV_NIL};
        return KV_OK;
    }
    if (v.k == GV_MSG) {
        if (!strcmp(f, "Role"))
            *out = str(kv_chat_role_name(v.m->role));
        else if (!strcmp(f, "Content"))
            *out = str(v.m->content);
        else
            *out = (gv){.k = GV_NIL};
        return KV_OK;
    }
    if (v.k == GV_NIL) { // a missing value's fields are missing too
        *out = v;
        return KV_OK;
    }
    return KV_FAIL(c->err, KV_ERR_INVALID, "line %d: .%s of a value that has no fields", line, f);
}

static kv_status eval(ctx *c, const kv__gx *x, gv dot, gv *out);

static bool same(gv a, gv b, bool *ok) {
    *ok = true;
    if ((a.k == GV_INT || a.k == GV_BOOL) && a.k == b.k)
        return a.i == b.i;
    if (a.k == GV_STR && b.k == GV_STR)
        return a.n == b.n && memcmp(a.s, b.s, a.n) == 0;
    if (a.k == GV_NIL || b.k == GV_NIL)
        return a.k == b.k;
    *ok = false;
    return false;
}

static kv_status call(ctx *c, const kv__gx *x, gv dot, gv *out) {
    const char *f = x->s;
    int n = x->n_args;
    gv a[KV__GOTMPL_MAX_ARGS];
    bool lazy = !strcmp(f, "and") || !strcmp(f, "or");
    for (int i = 0; i < n; i++) {
        kv_status st = eval(c, x->args[i], dot, &a[i]);
        if (st != KV_OK)
            return st;
        if (lazy && (i == n - 1 || truth(a[i]) == !strcmp(f, "or"))) {
            *out = a[i]; // and/or give the deciding value, as Go's do
            return KV_OK;
        }
    }
    int want = !strcmp(f, "not") || !strcmp(f, "len") ? 1 : 2;
    if (lazy || n < want || (n > want && strcmp(f, "eq") && strcmp(f, "slice")) ||
        (!strcmp(f, "slice") && n > 3))
        return KV_FAIL(c->err, KV_ERR_INVALID, "line %d: %s: wrong number of arguments (%d)",
                       x->line, f, n);
    if (!strcmp(f, "not")) {
        *out = (gv){.k = GV_BOOL, .i = !truth(a[0])};
        return KV_OK;
    }
    if (!strcmp(f, "eq") || !strcmp(f, "ne")) {
        bool any = false, ok;
        for (int i = 1; i < n && !any; i++) {
            any = same(a[0], a[i], &ok);
            if (!ok)
                return KV_FAIL(c->err, KV_ERR_INVALID,
                               "line %d: %s: incompatible types for comparison", x->line, f);
        }
        *out = (gv){.k = GV_BOOL, .i = !strcmp(f, "eq") ? any : !any};
        return KV_OK;
    }
    if (!strcmp(f, "len")) {
        if (a[0].k != GV_STR && a[0].k != GV_MSGS)
            return KV_FAIL(c->err, KV_ERR_INVALID, "line %d: len of a value without a length",
                           x->line);
        *out = (gv){.k = GV_INT, .i = (int64_t)a[0].n};
        return KV_OK;
    }
    // index x i, slice x i [j]
    for (int i = 1; i < n; i++)
        if (a[i].k != GV_INT)
            return KV_FAIL(c->err, KV_ERR_INVALID, "line %d: %s: an index must be an integer",
                           x->line, f);
    if (a[0].k != GV_STR && a[0].k != GV_MSGS)
        return KV_FAIL(c->err, KV_ERR_INVALID, "line %d: %s of a value that is not a list",
                       x->line, f);
    int64_t len = (int64_t)a[0].n, i0 = a[1].i, i1 = n == 3 ? a[2].i : len;
    if (!strcmp(f, "index")) {
        if (i0 < 0 || i0 >= len)
            return KV_FAIL(c->err, KV_ERR_INVALID, "line %d: index %lld out of range (%lld)",
                           x->line, (long long)i0, (long long)len);
        *out = a[0].k == GV_STR ? (gv){.k = GV_INT, .i = (unsigned char)a[0].s[i0]}
                                : (gv){.k = GV_MSG, .m = &a[0].m[i0]};
        return KV_OK;
    }
    if (i0 < 0 || i1 < i0 || i1 > len)
        return KV_FAIL(c->err, KV_ERR_INVALID, "line %d: slice [%lld:%lld] out of range (%lld)",
                       x->line, (long long)i0, (long long)i1, (long long)len);
    *out = a[0];
    out->n = (size_t)(i1 - i0);
    if (a[0].k == GV_STR)
        out->s += i0;
    else
        out->m += i0;
    return KV_OK;
}

static kv_status eval(ctx *c, const kv__gx *x, gv dot, gv *out) {
    gv v = {.k = GV_NIL};
    switch (x->kind) {
    case GX_STR: v = (gv){.k = GV_STR, .s = x->s, .n = x->n}; break;
    case GX_INT: v = (gv){.k = GV_INT, .i = x->i}; break;
    case GX_BOOL: v = (gv){.k = GV_BOOL, .i = x->i}; break;
    case GX_CALL: return call(c, x, dot, out);
    case GX_DOT: v = dot; break;
    case GX_ROOT: v = (gv){.k = GV_ROOT}; break;
    case GX_VAR: {
        int i = c->n_vars - 1;
        while (i >= 0 && strcmp(c->vars[i].name, x->s) != 0)
            i--;
        if (i < 0)
            return KV_FAIL(c->err, KV_ERR_INVALID, "line %d: undefined variable $%s", x->line,
                           x->s);
        v = c->vars[i].v;
        break;
    }
    }
    for (int i = 0; i < x->n_fields; i++) {
        kv_status st = field(c, x->line, v, x->fields[i], &v);
        if (st != KV_OK)
            return st;
    }
    *out = v;
    return KV_OK;
}

static kv_status set_var(ctx *c, const char *name, gv v, int line) {
    for (int i = c->n_vars - 1; i >= 0; i--)
        if (!strcmp(c->vars[i].name, name)) {
            c->vars[i].v = v;
            return KV_OK;
        }
    if (c->n_vars == MAX_VARS)
        return KV_FAIL(c->err, KV_ERR_LIMIT, "line %d: more than %d variables", line, MAX_VARS);
    c->vars[c->n_vars].name = name;
    c->vars[c->n_vars++].v = v;
    return KV_OK;
}

static kv_status run(ctx *c, const kv__gn_list *l, gv dot);

static kv_status print(ctx *c, const kv__gn *n, gv v) {
    char num[24];
    switch (v.k) {
    case GV_NIL: return KV_OK;
    case GV_STR: return emit(c, v.s, v.n);
    case GV_BOOL: return emit(c, v.i ? "true" : "false", v.i ? 4 : 5);
    case GV_INT:
        snprintf(num, sizeof num, "%lld", (long long)v.i);
        return emit(c, num, strlen(num));
    default:
        return KV_FAIL(c->err, KV_ERR_INVALID, "line %d: cannot print a list or a message",
                       n->line);
    }
}

static kv_status node(ctx *c, const kv__gn *n, gv dot) {
    gv v;
    kv_status st = KV_OK;
    switch (n->kind) {
    case GN_TEXT: return emit(c, n->text, n->len);
    case GN_OUT: {
        const kv__gx *x = n->x;
        if (c->cut && (x->kind == GX_DOT || x->kind == GX_ROOT) && x->n_fields &&
            !strcmp(x->fields[x->n_fields - 1], "Response")) {
            c->halted = true;
            return KV_OK;
        }
        if ((st = eval(c, x, dot, &v)) != KV_OK)
            return st;
        return print(c, n, v);
    }
    case GN_SET:
        if ((st = eval(c, n->x, dot, &v)) != KV_OK)
            return st;
        return set_var(c, n->v1, v, n->line);
    case GN_IF:
        if ((st = eval(c, n->x, dot, &v)) != KV_OK)
            return st;
        return run(c, truth(v) ? &n->body : &n->alt, dot);
    case GN_RANGE:
        if ((st = eval(c, n->x, dot, &v)) != KV_OK)
            return st;
        if (v.k != GV_MSGS && v.k != GV_NIL)
            return KV_FAIL(c->err, KV_ERR_INVALID, "line %d: range over a value that is not a "
                           "list", n->line);
        if (v.k == GV_NIL || v.n == 0)
            return run(c, &n->alt, dot);
        for (size_t i = 0; i < v.n && st == KV_OK && !c->halted; i++) {
            gv e = {.k = GV_MSG, .m = &v.m[i]};
            int mark = c->n_vars;
            if (n->v1 && n->v2)
                st = set_var(c, n->v1, (gv){.k = GV_INT, .i = (int64_t)i}, n->line);
            if (st == KV_OK && (n->v2 || n->v1))
                st = set_var(c, n->v2 ? n->v2 : n->v1, e, n->line);
            if (st == KV_OK)
                st = run(c, &n->body, e);
            c->n_vars = mark;
        }
        return st;
    }
    return KV_OK;
}

static kv_status run(ctx *c, const kv__gn_list *l, gv dot) {
    int mark = c->n_vars; // variables live to the end of their block
    kv_status st = KV_OK;
    for (size_t i = 0; i < l->n && st == KV_OK && !c->halted; i++)
        st = node(c, l->v[i], dot);
    c->n_vars = mark;
    return st;
}

static kv_status run_root(ctx *c, const kv_gotmpl *t, const root_vals *r) {
    c->root = r;
    c->n_vars = 0;
    return run(c, &t->root, (gv){.k = GV_ROOT});
}

// Ollama's collate: consecutive messages of one role merged ("\n\n" between),
// and the system messages joined the same way.
static kv_status collate(const kv_chat_msg *m, size_t n, kv_chat_msg **out, size_t *n_out,
                         char ***owned, char **system, kv_err *err) {
    *out = calloc(n ? n : 1, sizeof **out);
    *owned = calloc(n ? n : 1, sizeof **owned);
    *system = NULL;
    *n_out = 0;
    if (!*out || !*owned)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the prompt");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *text = m[i].content ? m[i].content : "";
        if (m[i].role == KV_CHAT_ROLE_SYSTEM) {
            size_t a = *system ? strlen(*system) : 0, b = strlen(text);
            char *s = realloc(*system, a + b + 3);
            if (!s)
                return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the prompt");
            if (a)
                memcpy(s + a, "\n\n", 2), a += 2;
            memcpy(s + a, text, b + 1);
            *system = s;
        }
        if (k > 0 && (*out)[k - 1].role == m[i].role) {
            const char *prev = (*out)[k - 1].content;
            size_t a = strlen(prev), b = strlen(text);
            char *s = malloc(a + b + 3);
            if (!s)
                return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the prompt");
            memcpy(s, prev, a);
            memcpy(s + a, "\n\n", 2);
            memcpy(s + a + 2, text, b + 1);
            free((*owned)[k - 1]);
            (*owned)[k - 1] = s;
            (*out)[k - 1].content = s;
        } else {
            (*out)[k++] = (kv_chat_msg){m[i].role, text};
        }
    }
    *n_out = k;
    return KV_OK;
}

kv_status kv_gotmpl_render(const kv_gotmpl *t, const kv_chat_msg *m, size_t n, char **out,
                           size_t *len, kv_err *err) {
    *out = NULL;
    *len = 0;
    kv_chat_msg *msgs = NULL;
    char **owned = NULL, *system = NULL;
    size_t nm = 0;
    ctx c = {.err = err};
    kv_status st = collate(m, n, &msgs, &nm, &owned, &system, err);
    if (st == KV_OK && t->uses_messages) {
        root_vals r = {.system = system ? system : "", .response = "", .msgs = msgs,
                       .n_msgs = nm};
        st = run_root(&c, t, &r);
    } else if (st == KV_OK) {
        root_vals r = {.system = "", .prompt = "", .response = ""};
        for (size_t i = 0; i < nm && st == KV_OK; i++) {
            bool flush = (msgs[i].role == KV_CHAT_ROLE_SYSTEM && (*r.prompt || *r.response)) ||
                         (msgs[i].role == KV_CHAT_ROLE_USER && *r.response);
            if (flush) {
                st = run_root(&c, t, &r);
                r = (root_vals){.system = "", .prompt = "", .response = ""};
            }
            if (msgs[i].role == KV_CHAT_ROLE_SYSTEM)
                r.system = msgs[i].content;
            else if (msgs[i].role == KV_CHAT_ROLE_USER)
                r.prompt = msgs[i].content;
            else
                r.response = msgs[i].content;
        }
        c.cut = true;
        if (st == KV_OK)
            st = run_root(&c, t, &r);
    }
    c.halted = false;
    if (st == KV_OK && !c.out) // an empty rendering is "", not NULL
        st = emit(&c, "", 0);
    for (size_t i = 0; i < n && owned; i++)
        free(owned[i]);
    free(owned);
    free(msgs);
    free(system);
    if (st != KV_OK) {
        free(c.out);
        return st;
    }
    *out = c.out;
    *len = c.n;
    return KV_OK;
}
