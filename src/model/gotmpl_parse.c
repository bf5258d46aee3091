// Parsing the Go text/template subset of kv_gotmpl.h: text and {{ actions }}
// (with - trimming and comments) into the node tree of gotmpl_int.h.
#define _POSIX_C_SOURCE 200809L
#include "model/gotmpl_int.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_IDENT, T_FIELD, T_VAR, T_STR, T_INT, T_LP, T_RP, T_DECL, T_COMMA } tok_kind;

typedef struct {
    tok_kind kind;
    const char *p; // T_IDENT, T_FIELD (".A.B" or "."), T_VAR ("$x.A"), T_STR (quoted)
    size_t n;
} tok;

#define MAX_TOKS 64

typedef struct {
    const char *s;
    size_t n, pos;
    int line;
    bool trim_next; // the last action ended with -}}
    kv_gotmpl *t;
    kv_err *err;
    // the action being parsed
    tok toks[MAX_TOKS];
    int n_toks;
    int action_line;
} parser;

static const char *const FIELDS[] = {"System",   "Prompt",     "Response", "Messages",  "Role",
                                     "Content",  "Tools",      "Suffix",   "Think",     "ThinkLevel",
                                     "IsThinkSet", "Images",   "ToolCalls", "Thinking", "ToolName"};
static const char *const FUNCS[] = {"eq", "ne", "and", "or", "not", "len", "slice", "index"};

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// The first "xy" in s[0..n), or NULL.
static const char *find2(const char *s, size_t n, const char *xy) {
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == xy[0] && s[i + 1] == xy[1])
            return s + i;
    return NULL;
}

static void count_lines(parser *p, size_t from, size_t to) {
    for (size_t i = from; i < to; i++)
        p->line += p->s[i] == '\n';
}

// ---- nodes ----

static kv__gx *gx_new(parser *p, kv__gx_kind k) {
    kv__gx *x = calloc(1, sizeof *x);
    if (!x)
        KV_FAIL(p->err, KV_ERR_NOMEM, "out of memory for the template");
    else {
        x->kind = k;
        x->line = p->action_line;
    }
    return x;
}

static void gx_free(kv__gx *x) {
    if (!x)
        return;
    for (int i = 0; i < x->n_args; i++)
        gx_free(x->args[i]);
    free(x->s);
    free(x);
}

static void gn_free(kv__gn *n) {
    if (!n)
        return;
    free(n->text);
    gx_free(n->x);
    kv__gotmpl_list_free(&n->body);
    kv__gotmpl_list_free(&n->alt);
    free(n->v1);
    free(n->v2);
    free(n);
}

void kv__gotmpl_list_free(kv__gn_list *l) {
    for (size_t i = 0; i < l->n; i++)
        gn_free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static kv_status push(parser *p, kv__gn_list *l, kv__gn *n) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        kv__gn **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            gn_free(n);
            return KV_FAIL(p->err, KV_ERR_NOMEM, "out of memory for the template");
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
    return KV_OK;
}

static kv__gn *gn_new(parser *p, kv__gn_kind k) {
    kv__gn *n = calloc(1, sizeof *n);
    if (!n)
        KV_FAIL(p->err, KV_ERR_NOMEM, "out of memory for the template");
    else {
        n->kind = k;
        n->line = p->action_line;
    }
    return n;
}

// ---- lexing ----

static kv_status syntax(parser *p, const char *what) {
    return KV_FAIL(p->err, KV_ERR_FORMAT, "line %d: %s", p->action_line, what);
}

// Tokenizes the action between a and b (the delimiters and trim marks removed).
static kv_status lex_action(parser *p, const char *a, const char *b) {
    p->n_toks = 0;
    while (a < b) {
        if (is_space(*a)) {
            a++;
            continue;
        }
        if (p->n_toks == MAX_TOKS)
            return KV_FAIL(p->err, KV_ERR_LIMIT, "line %d: more than %d words in an action",
                           p->action_line, MAX_TOKS);
        tok *t = &p->toks[p->n_toks++];
        const char *s = a;
        char c = *a;
        if (c == '(' || c == ')' || c == ',') {
            t->kind = c == '(' ? T_LP : c == ')' ? T_RP : T_COMMA;
            a++;
        } else if (c == ':' && a + 1 < b && a[1] == '=') {
            t->kind = T_DECL;
            a += 2;
        } else if (c == '"' || c == '`') {
            t->kind = T_STR;
            for (a++; a < b && *a != c; a++)
                if (c == '"' && *a == '\\' && a + 1 < b)
                    a++;
            if (a >= b)
                return syntax(p, "unterminated string");
            a++;
        } else if (c == '.' || c == '$' || isalnum((unsigned char)c) || c == '_' || c == '-') {
            t->kind = c == '.' ? T_FIELD : c == '$' ? T_VAR
                      : (isdigit((unsigned char)c) || c == '-') ? T_INT : T_IDENT;
            for (a++; a < b && (isalnum((unsigned char)*a) || *a == '_' || *a == '.'); a++)
                ;
        } else if (c == '|') {
            return KV_FAIL(p->err, KV_ERR_UNSUPPORTED, "line %d: pipes ('|') are not supported",
                           p->action_line);
        } else {
            return KV_FAIL(p->err, KV_ERR_FORMAT, "line %d: unexpected '%c'", p->action_line, c);
        }
        t->p = s;
        t->n = (size_t)(a - s);
    }
    return KV_OK;
}

typedef enum { IT_EOF, IT_TEXT, IT_ACTION } item_kind;

// The next text or action (tokens in p->toks); comments are skipped.
static kv_status next_item(parser *p, item_kind *kind, size_t *text_at, size_t *text_len) {
    for (;;) {
        if (p->pos >= p->n) {
            *kind = IT_EOF;
            return KV_OK;
        }
        const char *s = p->s + p->pos;
        size_t rest = p->n - p->pos;
        if (!(rest >= 2 && s[0] == '{' && s[1] == '{')) {
            const char *o = find2(s, rest, "{{");
            size_t len = o ? (size_t)(o - s) : rest, at = p->pos, after = rest - len;
            count_lines(p, p->pos, p->pos + len);
            p->pos += len;
            if (p->trim_next)
                while (len && is_space(p->s[at]))
                    at++, len--;
            p->trim_next = false;
            if (o && after >= 4 && o[2] == '-' && is_space(o[3])) // "{{- " trims before it
                while (len && is_space(p->s[at + len - 1]))
                    len--;
            if (len == 0)
                continue;
            *kind = IT_TEXT;
            *text_at = at;
            *text_len = len;
            return KV_OK;
        }
        p->trim_next = false;
        p->action_line = p->line;
        const char *a = s + 2, *end = s + rest;
        if (a + 1 < end && a[0] == '-' && is_space(a[1]))
            a += 2;
        const char *close = NULL;
        bool comment = false;
        while (a < end && is_space(*a))
            a++;
        if (end - a >= 2 && a[0] == '/' && a[1] == '*') {
            const char *c = find2(a + 2, (size_t)(end - a - 2), "*/");
            if (!c)
                return syntax(p, "unclosed comment");
            close = find2(c, (size_t)(end - c), "}}");
            comment = true;
        } else {
            // the first "}}" outside a string
            char q = 0;
            for (const char *c = a; c + 1 < end && !close; c++) {
                if (q) {
                    if (q == '"' && *c == '\\')
                        c++;
                    else if (*c == q)
                        q = 0;
                } else if (*c == '"' || *c == '`') {
                    q = *c;
                } else if (c[0] == '}' && c[1] == '}') {
                    close = c;
                }
            }
        }
        if (!close)
            return syntax(p, "unclosed action (no '}}')");
        const char *b = close;
        if (b - a >= 2 && b[-1] == '-' && is_space(b[-2])) {
            b -= 1;
            p->trim_next = true;
        }
        size_t used = (size_t)(close + 2 - s);
        count_lines(p, p->pos, p->pos + used);
        p->pos += used;
        if (comment)
            continue;
        kv_status st = lex_action(p, a, b);
        if (st != KV_OK)
            return st;
        if (p->n_toks == 0)
            return syntax(p, "empty action");
        *kind = IT_ACTION;
        return KV_OK;
    }
}

// ---- expressions ----

static bool tok_is(const tok *t, const char *word) {
    return t->kind == T_IDENT && t->n == strlen(word) && memcmp(t->p, word, t->n) == 0;
}

// ".A.B" (from at) as checked field names into x.
static kv_status fields(parser *p, const char *s, size_t n, kv__gx *x) {
    size_t i = 0;
    while (i < n) {
        if (s[i] != '.')
            return syntax(p, "bad field");
        size_t j = ++i;
        while (j < n && s[j] != '.')
            j++;
        if (j == i) {
            if (j == n && n == 1 && x->kind == GX_DOT)
                return KV_OK; // "." alone
            return syntax(p, "empty field name");
        }
        const char *name = NULL;
        for (size_t k = 0; k < sizeof FIELDS / sizeof *FIELDS; k++)
            if (strlen(FIELDS[k]) == j - i && memcmp(FIELDS[k], s + i, j - i) == 0)
                name = FIELDS[k];
        if (!name)
            return KV_FAIL(p->err, KV_ERR_UNSUPPORTED, "line %d: field .%.*s is not supported",
                           p->action_line, (int)(j - i), s + i);
        if (x->n_fields == KV__GOTMPL_MAX_FIELDS)
            return syntax(p, "too many fields in a row");
        x->fields[x->n_fields++] = name;
        if (!strcmp(name, "Messages"))
            p->t->uses_messages = 1;
        i = j;
    }
    return KV_OK;
}

static kv_status unquote(parser *p, const tok *t, kv__gx *x) {
    x->s = malloc(t->n);
    if (!x->s)
        return KV_FAIL(p->err, KV_ERR_NOMEM, "out of memory for the template");
    size_t o = 0;
    for (size_t i = 1; i + 1 < t->n; i++) {
        char c = t->p[i];
        if (t->p[0] == '"' && c == '\\') {
            char e = t->p[++i];
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
            if (!strchr("ntr\\\"'", e))
                return syntax(p, "unsupported escape in a string");
        }
        x->s[o++] = c;
    }
    x->s[o] = '\0';
    x->n = o;
    return KV_OK;
}

static kv_status pipeline(parser *p, int *at, int end, int depth, kv__gx **out);

static kv_status operand(parser *p, int *at, int end, int depth, kv__gx **out) {
    *out = NULL;
    if (*at >= end)
        return syntax(p, "missing value");
    const tok *t = &p->toks[(*at)++];
    kv_status st = KV_OK;
    kv__gx *x = NULL;
    switch (t->kind) {
    case T_LP:
        if (depth >= KV__GOTMPL_MAX_DEPTH)
            return KV_FAIL(p->err, KV_ERR_LIMIT, "line %d: nested too deeply", p->action_line);
        st = pipeline(p, at, end, depth + 1, &x);
        if (st == KV_OK && (*at >= end || p->toks[*at].kind != T_RP))
            st = syntax(p, "missing ')'");
        (*at)++;
        break;
    case T_FIELD:
        if (!(x = gx_new(p, GX_DOT)))
            return KV_ERR_NOMEM;
        st = fields(p, t->p, t->n, x);
        break;
    case T_VAR: {
        size_t k = 1;
        while (k < t->n && t->p[k] != '.')
            k++;
        if (!(x = gx_new(p, k == 1 ? GX_ROOT : GX_VAR)))
            return KV_ERR_NOMEM;
        if (k > 1 && !(x->s = strndup(t->p + 1, k - 1)))
            st = KV_FAIL(p->err, KV_ERR_NOMEM, "out of memory for the template");
        if (st == KV_OK && k < t->n)
            st = fields(p, t->p + k, t->n - k, x);
        break;
    }
    case T_STR:
        if (!(x = gx_new(p, GX_STR)))
            return KV_ERR_NOMEM;
        st = unquote(p, t, x);
        break;
    case T_INT: {
        if (!(x = gx_new(p, GX_INT)))
            return KV_ERR_NOMEM;
        char buf[24], *e;
        if (t->n >= sizeof buf) {
            st = syntax(p, "number too long");
            break;
        }
        memcpy(buf, t->p, t->n);
        buf[t->n] = '\0';
        x->i = strtoll(buf, &e, 10);
        if (*e)
            st = KV_FAIL(p->err, KV_ERR_UNSUPPORTED, "line %d: '%s': only decimal integers",
                         p->action_line, buf);
        break;
    }
    case T_IDENT:
        if (tok_is(t, "true") || tok_is(t, "false")) {
            if (!(x = gx_new(p, GX_BOOL)))
                return KV_ERR_NOMEM;
            x->i = tok_is(t, "true");
            break;
        }
        if (tok_is(t, "nil"))
            return KV_FAIL(p->err, KV_ERR_UNSUPPORTED, "line %d: nil is not supported",
                           p->action_line);
        return KV_FAIL(p->err, KV_ERR_FORMAT,
                       "line %d: function '%.*s' as an argument needs parentheses",
                       p->action_line, (int)t->n, t->p);
    default: return syntax(p, "unexpected punctuation");
    }
    if (st != KV_OK) {
        gx_free(x);
        return st;
    }
    *out = x;
    return KV_OK;
}

// A command: a function and its arguments, or one operand; up to ')' or end.
static kv_status pipeline(parser *p, int *at, int end, int depth, kv__gx **out) {
    *out = NULL;
    if (*at >= end)
        return syntax(p, "missing value");
    const tok *t = &p->toks[*at];
    if (t->kind != T_IDENT || tok_is(t, "true") || tok_is(t, "false") || tok_is(t, "nil")) {
        kv_status st = operand(p, at, end, depth, out);
        if (st == KV_OK && *at < end && p->toks[*at].kind != T_RP) {
            gx_free(*out);
            *out = NULL;
            return syntax(p, "a value followed by more words (only functions take arguments)");
        }
        return st;
    }
    bool known = false;
    for (size_t k = 0; k < sizeof FUNCS / sizeof *FUNCS; k++)
        known |= tok_is(t, FUNCS[k]);
    if (!known)
        return KV_FAIL(p->err, KV_ERR_UNSUPPORTED, "line %d: function '%.*s' is not supported",
                       p->action_line, (int)t->n, t->p);
    kv__gx *x = gx_new(p, GX_CALL);
    if (!x)
        return KV_ERR_NOMEM;
    kv_status st = (x->s = strndup(t->p, t->n)) ? KV_OK
                   : KV_FAIL(p->err, KV_ERR_NOMEM, "out of memory for the template");
    (*at)++;
    while (st == KV_OK && *at < end && p->toks[*at].kind != T_RP) {
        if (x->n_args == KV__GOTMPL_MAX_ARGS)
            st = syntax(p, "too many arguments");
        else
            st = operand(p, at, end, depth, &x->args[x->n_args++]);
    }
    if (st != KV_OK) {
        gx_free(x);
        return st;
    }
    *out = x;
    return KV_OK;
}

// The whole action from token at as one pipeline.
static kv_status whole(parser *p, int at, kv__gx **out) {
    kv_status st = pipeline(p, &at, p->n_toks, 0, out);
    if (st == KV_OK && at < p->n_toks) {
        gx_free(*out);
        *out = NULL;
        return syntax(p, "unexpected ')'");
    }
    return st;
}

// ---- statements ----

typedef enum { END_EOF, END_END, END_ELSE } list_end;

static kv_status list(parser *p, kv__gn_list *l, int depth, list_end *how, int *else_at);

static char *var_name(parser *p, const tok *t) {
    for (size_t i = 1; i < t->n; i++)
        if (t->p[i] == '.')
            return NULL;
    if (t->kind != T_VAR || t->n < 2)
        return NULL;
    char *s = strndup(t->p + 1, t->n - 1);
    if (!s)
        KV_FAIL(p->err, KV_ERR_NOMEM, "out of memory for the template");
    return s;
}

// if/range from the current action (its words from at); reads up to its end.
static kv_status block(parser *p, kv__gn *n, int at, int depth) {
    if (depth >= KV__GOTMPL_MAX_DEPTH)
        return KV_FAIL(p->err, KV_ERR_LIMIT, "line %d: nested more than %d deep", p->action_line,
                       KV__GOTMPL_MAX_DEPTH);
    kv_status st = KV_OK;
    if (n->kind == GN_RANGE) {
        int k = at;
        if (k + 1 < p->n_toks && p->toks[k].kind == T_VAR && p->toks[k + 1].kind == T_DECL) {
            st = (n->v1 = var_name(p, &p->toks[k])) ? KV_OK : syntax(p, "bad range variable");
            at = k + 2;
        } else if (k + 3 < p->n_toks && p->toks[k].kind == T_VAR &&
                   p->toks[k + 1].kind == T_COMMA && p->toks[k + 2].kind == T_VAR &&
                   p->toks[k + 3].kind == T_DECL) {
            n->v1 = var_name(p, &p->toks[k]);
            n->v2 = var_name(p, &p->toks[k + 2]);
            st = n->v1 && n->v2 ? KV_OK : syntax(p, "bad range variables");
            at = k + 4;
        }
    }
    if (st == KV_OK)
        st = whole(p, at, &n->x);
    list_end how;
    int else_at = 0;
    if (st == KV_OK)
        st = list(p, &n->body, depth + 1, &how, &else_at);
    if (st != KV_OK)
        return st;
    if (how == END_EOF)
        return KV_FAIL(p->err, KV_ERR_FORMAT, "line %d: %s without {{ end }}", n->line,
                       n->kind == GN_IF ? "if" : "range");
    if (how == END_END)
        return KV_OK;
    if (else_at < p->n_toks) { // else if ...
        if (n->kind != GN_IF || !tok_is(&p->toks[else_at], "if"))
            return KV_FAIL(p->err, KV_ERR_UNSUPPORTED, "line %d: only 'else if' chains",
                           p->action_line);
        kv__gn *e = gn_new(p, GN_IF);
        if (!e)
            return KV_ERR_NOMEM;
        if ((st = push(p, &n->alt, e)) != KV_OK)
            return st;
        return block(p, e, else_at + 1, depth + 1);
    }
    st = list(p, &n->alt, depth + 1, &how, &else_at);
    if (st == KV_OK && how != END_END)
        return KV_FAIL(p->err, KV_ERR_FORMAT, "line %d: %s without {{ end }}", n->line,
                       how == END_EOF ? "else" : "a second else");
    return st;
}

static kv_status list(parser *p, kv__gn_list *l, int depth, list_end *how, int *else_at) {
    for (;;) {
        item_kind k = IT_EOF;
        size_t at = 0, len = 0;
        kv_status st = next_item(p, &k, &at, &len);
        if (st != KV_OK)
            return st;
        if (k == IT_EOF) {
            *how = END_EOF;
            return KV_OK;
        }
        kv__gn *n = NULL;
        if (k == IT_TEXT) {
            if (!(n = gn_new(p, GN_TEXT)) || !(n->text = malloc(len))) {
                gn_free(n);
                return KV_FAIL(p->err, KV_ERR_NOMEM, "out of memory for the template");
            }
            memcpy(n->text, p->s + at, len); // may hold NUL bytes
            n->len = len;
            if ((st = push(p, l, n)) != KV_OK)
                return st;
            continue;
        }
        const tok *t = &p->toks[0];
        if (tok_is(t, "end") || tok_is(t, "else")) {
            if (tok_is(t, "end") && p->n_toks > 1)
                return syntax(p, "words after end");
            *how = tok_is(t, "end") ? END_END : END_ELSE;
            *else_at = 1;
            if (depth == 0)
                return KV_FAIL(p->err, KV_ERR_FORMAT, "line %d: {{ %s }} without if or range",
                               p->action_line, tok_is(t, "end") ? "end" : "else");
            return KV_OK;
        }
        static const char *const NOT[] = {"with", "define", "template", "block", "break",
                                          "continue"};
        for (size_t i = 0; i < sizeof NOT / sizeof *NOT; i++)
            if (tok_is(t, NOT[i]))
                return KV_FAIL(p->err, KV_ERR_UNSUPPORTED, "line %d: {{ %s }} is not supported",
                               p->action_line, NOT[i]);
        if (tok_is(t, "if") || tok_is(t, "range")) {
            if (!(n = gn_new(p, tok_is(t, "if") ? GN_IF : GN_RANGE)))
                return KV_ERR_NOMEM;
            if ((st = push(p, l, n)) != KV_OK)
                return st;
            if ((st = block(p, n, 1, depth)) != KV_OK)
                return st;
            continue;
        }
        if (p->n_toks >= 2 && t->kind == T_VAR && p->toks[1].kind == T_DECL) {
            if (!(n = gn_new(p, GN_SET)))
                return KV_ERR_NOMEM;
            if ((st = push(p, l, n)) != KV_OK)
                return st;
            if (!(n->v1 = var_name(p, t)))
                return syntax(p, "bad variable name");
            if ((st = whole(p, 2, &n->x)) != KV_OK)
                return st;
            continue;
        }
        if (!(n = gn_new(p, GN_OUT)))
            return KV_ERR_NOMEM;
        if ((st = push(p, l, n)) != KV_OK)
            return st;
        if ((st = whole(p, 0, &n->x)) != KV_OK)
            return st;
    }
}

kv_status kv_gotmpl_parse(const char *src, size_t len, kv_gotmpl **out, kv_err *err) {
    *out = NULL;
    kv_gotmpl *t = calloc(1, sizeof *t);
    if (!t)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the template");
    parser p = {.s = src, .n = len, .line = 1, .t = t, .err = err};
    list_end how;
    int else_at;
    kv_status st = list(&p, &t->root, 0, &how, &else_at);
    if (st != KV_OK) {
        kv_gotmpl_free(t);
        return st;
    }
    *out = t;
    return KV_OK;
}

void kv_gotmpl_free(kv_gotmpl *t) {
    if (!t)
        return;
    kv__gotmpl_list_free(&t->root);
    free(t);
}
