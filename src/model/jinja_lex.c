// The Jinja lexer: template text -> tokens. Text runs until "{{", "{%" or
// "{#"; inside a tag come names, numbers, strings and operators. Whitespace
// control is applied here, as transformers configures Jinja for chat
// templates: a single trailing newline of the template is dropped,
// lstrip_blocks (blanks before "{%"/"{#" at the start of a line go),
// trim_blocks (the newline right after "%}"/"#}" goes), and "-" on either side
// of a tag strips the whitespace on that side. Comments vanish here.
#include "model/jinja_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"

#define MAX_TOKENS (1u << 22)

typedef struct {
    kv_jinja *t;
    const char *s;
    size_t n, pos;
    kv__jtok *toks;
    size_t n_toks, cap;
    int curly;
    kv_err *err;
} lexer;

// ---- whitespace, as JavaScript's \s and String.prototype.trim ----

static bool ws_cp(uint32_t c) {
    return c == 32 || (c >= 9 && c <= 13) || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000 || c == 0xfeff;
}

// Bytes of the whitespace character starting at p (n bytes left), or 0.
size_t kv__jinja_ws_fwd(const char *p, size_t n) {
    const unsigned char *u = (const unsigned char *)p;
    if (n == 0)
        return 0;
    if (u[0] < 0x80)
        return ws_cp(u[0]) ? 1 : 0;
    if (u[0] == 0xc2 && n >= 2 && u[1] == 0xa0)
        return 2;
    if ((u[0] == 0xe1 || u[0] == 0xe2 || u[0] == 0xe3 || u[0] == 0xef) && n >= 3) {
        uint32_t c =
            ((uint32_t)(u[0] & 0x0f) << 12) | ((uint32_t)(u[1] & 0x3f) << 6) | (u[2] & 0x3f);
        return (u[1] & 0xc0) == 0x80 && (u[2] & 0xc0) == 0x80 && ws_cp(c) ? 3 : 0;
    }
    return 0;
}

// Bytes of the whitespace character ending at p + n, or 0.
size_t kv__jinja_ws_back(const char *p, size_t n) {
    if (n == 0)
        return 0;
    if ((unsigned char)p[n - 1] < 0x80)
        return kv__jinja_ws_fwd(p + n - 1, 1);
    for (size_t k = 2; k <= 3 && k <= n; k++)
        if (kv__jinja_ws_fwd(p + n - k, k) == k)
            return k;
    return 0;
}

// ---- tokens ----

static kv_status fail(lexer *L, size_t off, const char *what) {
    return kv__jinja_fail_at(L->err, KV_ERR_FORMAT, L->t, off, "%s", what);
}

static kv__jtok *push(lexer *L, kv__jtok_type type, const char *p, size_t n, size_t off) {
    if (L->n_toks == L->cap) {
        if (L->cap >= MAX_TOKENS)
            return NULL;
        size_t cap = L->cap ? L->cap * 2 : 256;
        kv__jtok *nt = kv__jarena_alloc(&L->t->arena, cap * sizeof *nt);
        if (!nt)
            return NULL;
        if (L->n_toks)
            memcpy(nt, L->toks, L->n_toks * sizeof *nt);
        L->toks = nt;
        L->cap = cap;
    }
    kv__jtok *k = &L->toks[L->n_toks++];
    *k = (kv__jtok){.t = (uint8_t)type, .p = p, .n = n, .off = off};
    return k;
}

static kv_status nomem(lexer *L, size_t off) {
    return kv__jinja_fail_at(L->err, KV_ERR_LIMIT, L->t, off,
                             "the template needs more tokens or memory than allowed");
}

// The last token, if it is text, loses its trailing whitespace ("{%-").
static void strip_prev_text(lexer *L) {
    if (L->n_toks == 0 || L->toks[L->n_toks - 1].t != JT_TEXT)
        return;
    kv__jtok *k = &L->toks[L->n_toks - 1];
    size_t w;
    while ((w = kv__jinja_ws_back(k->p, k->n)) > 0)
        k->n -= w;
    if (k->n == 0)
        L->n_toks--;
}

static void skip_ws(lexer *L) {
    size_t w;
    while ((w = kv__jinja_ws_fwd(L->s + L->pos, L->n - L->pos)) > 0)
        L->pos += w;
}

static bool line_start(const char *s, size_t at) {
    if (at == 0)
        return true;
    unsigned char c = (unsigned char)s[at - 1];
    if (c == '\n' || c == '\r')
        return true;
    // U+2028, U+2029 end a line for JavaScript's multiline ^
    return at >= 3 && (unsigned char)s[at - 3] == 0xe2 && (unsigned char)s[at - 2] == 0x80 &&
           (c == 0xa8 || c == 0xa9);
}

// Text up to the next tag; lstrip_blocks applies before "{%" and "{#".
static kv_status lex_text(lexer *L) {
    size_t start = L->pos, end = start;
    while (end < L->n) {
        const char *q = memchr(L->s + end, '{', L->n - end);
        if (!q) {
            end = L->n;
            break;
        }
        end = (size_t)(q - L->s);
        if (end + 1 < L->n && (q[1] == '%' || q[1] == '{' || q[1] == '#'))
            break;
        end++;
    }
    size_t text_end = end;
    if (end < L->n && (L->s[end + 1] == '%' || L->s[end + 1] == '#')) {
        size_t b = end;
        while (b > start && (L->s[b - 1] == ' ' || L->s[b - 1] == '\t'))
            b--;
        if (line_start(L->s, b))
            text_end = b;
    }
    if (text_end > start && !push(L, JT_TEXT, L->s + start, text_end - start, start))
        return nomem(L, start);
    L->pos = end;
    return KV_OK;
}

static kv_status lex_comment(lexer *L) {
    size_t open = L->pos;
    L->pos += 2;
    if (L->pos < L->n && L->s[L->pos] == '-')
        strip_prev_text(L);
    const char *e = NULL;
    for (size_t i = L->pos; i + 1 < L->n; i++)
        if (L->s[i] == '#' && L->s[i + 1] == '}') {
            e = L->s + i;
            break;
        }
    if (!e)
        return fail(L, open, "comment '{#' is never closed with '#}'");
    size_t close = (size_t)(e - L->s);
    bool strip_after = close > L->pos && L->s[close - 1] == '-';
    L->pos = close + 2;
    if (strip_after)
        skip_ws(L);
    else if (L->pos < L->n && L->s[L->pos] == '\n')
        L->pos++; // trim_blocks
    return KV_OK;
}

static size_t put_utf8(char *o, uint32_t c) {
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    o[0] = (char)(0xe0 | (c >> 12));
    o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
    o[2] = (char)(0x80 | (c & 0x3f));
    return 3;
}

// A quoted string; escapes as JavaScript's (\n \t \r \b \f \v \' \" \\ \xHH \uHHHH).
static kv_status lex_string(lexer *L) {
    size_t open = L->pos;
    char q = L->s[L->pos++];
    size_t end = L->pos;
    while (end < L->n && L->s[end] != q)
        end += L->s[end] == '\\' ? 2 : 1;
    if (end >= L->n)
        return fail(L, open, "string literal is never closed");
    char *o = kv__jarena_alloc(&L->t->arena, end - L->pos + 1);
    if (!o)
        return nomem(L, open);
    size_t n = 0;
    for (size_t i = L->pos; i < end; i++) {
        char ch = L->s[i];
        if (ch != '\\') {
            o[n++] = ch;
            continue;
        }
        char e = L->s[++i];
        const char *map = strchr("n\nt\tr\rb\bf\fv\v''\"\"\\\\", e);
        if (e && map && (map - "n\nt\tr\rb\bf\fv\v''\"\"\\\\") % 2 == 0) {
            o[n++] = map[1];
        } else if (e == 'x' || e == 'u') {
            int len = e == 'x' ? 2 : 4;
            uint32_t c = 0;
            for (int k = 0; k < len; k++) {
                int h = i + 1 + (size_t)k < end ? kv_hex_digit(L->s[i + 1 + k]) : -1;
                if (h < 0)
                    return fail(L, i - 1, "invalid \\x or \\u escape in a string literal");
                c = c * 16 + (uint32_t)h;
            }
            i += (size_t)len;
            if (c >= 0xd800 && c < 0xe000)
                return kv__jinja_fail_at(L->err, KV_ERR_UNSUPPORTED, L->t, i - 5,
                                         "surrogate \\u escapes are not supported");
            n += put_utf8(o + n, c); // never longer than the escape itself
        } else {
            return fail(L, i - 1, "unknown escape in a string literal");
        }
    }
    o[n] = '\0';
    if (!push(L, JT_STR, o, n, open))
        return nomem(L, open);
    L->pos = end + 1;
    return KV_OK;
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static bool is_word(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static kv_status lex_number(lexer *L) {
    size_t start = L->pos;
    while (L->pos < L->n && is_digit(L->s[L->pos]))
        L->pos++;
    bool after_dot = L->n_toks > 0 && L->toks[L->n_toks - 1].t == JT_OP &&
                     L->toks[L->n_toks - 1].p[0] == '.';
    bool frac = !after_dot && L->pos + 1 < L->n && L->s[L->pos] == '.' &&
                is_digit(L->s[L->pos + 1]);
    if (frac) {
        L->pos++;
        while (L->pos < L->n && is_digit(L->s[L->pos]))
            L->pos++;
    }
    char buf[64];
    size_t len = L->pos - start;
    if (len >= sizeof buf)
        return fail(L, start, "number literal is too long");
    memcpy(buf, L->s + start, len);
    buf[len] = '\0';
    kv__jtok *k = push(L, frac ? JT_FLOAT : JT_INT, L->s + start, len, start);
    if (!k)
        return nomem(L, start);
    if (frac) {
        k->f = strtod(buf, NULL);
    } else {
        unsigned long long v = 0;
        for (size_t i = 0; i < len; i++) {
            if (v > (9223372036854775807ull - (unsigned)(buf[i] - '0')) / 10)
                return fail(L, start, "integer literal is too large");
            v = v * 10 + (unsigned)(buf[i] - '0');
        }
        k->i = (int64_t)v;
    }
    return KV_OK;
}

static const char *const OPS[] = {"**", "//", "==", "!=", "<=", ">=", "(", ")", "[", "]", "{",
                                  "}",  ",",  ".",  ":",  "|",  "+",  "-", "~", "*", "/", "%",
                                  "<",  ">",  "="};

// One token inside {% %} or {{ }}; *closed is set at the closing delimiter.
static kv_status lex_inside(lexer *L, bool *closed) {
    skip_ws(L);
    if (L->pos >= L->n)
        return fail(L, L->pos, "the template ends inside a tag");
    const char *p = L->s + L->pos;
    size_t left = L->n - L->pos, at = L->pos;
    if (left >= 3 && p[0] == '-' && p[2] == '}' && (p[1] == '%' || p[1] == '}')) {
        if (!push(L, p[1] == '%' ? JT_CLOSE_STMT : JT_CLOSE_EXPR, p + 1, 2, at))
            return nomem(L, at);
        L->pos += 3;
        skip_ws(L);
        *closed = true;
        return KV_OK;
    }
    if (left >= 2 && p[0] == '%' && p[1] == '}') {
        if (!push(L, JT_CLOSE_STMT, p, 2, at))
            return nomem(L, at);
        L->pos += 2;
        if (L->pos < L->n && L->s[L->pos] == '\n')
            L->pos++; // trim_blocks
        *closed = true;
        return KV_OK;
    }
    if (left >= 2 && p[0] == '}' && p[1] == '}' && L->curly == 0) {
        if (!push(L, JT_CLOSE_EXPR, p, 2, at))
            return nomem(L, at);
        L->pos += 2;
        *closed = true;
        return KV_OK;
    }
    if (p[0] == '\'' || p[0] == '"')
        return lex_string(L);
    if (is_digit(p[0]))
        return lex_number(L);
    if (is_word(p[0])) {
        size_t n = 0;
        while (n < left && is_word(p[n]))
            n++;
        L->pos += n;
        return push(L, JT_NAME, p, n, at) ? KV_OK : nomem(L, at);
    }
    for (size_t i = 0; i < sizeof OPS / sizeof *OPS; i++) {
        size_t n = strlen(OPS[i]);
        if (n <= left && memcmp(p, OPS[i], n) == 0) {
            if (p[0] == '{')
                L->curly++;
            else if (p[0] == '}')
                L->curly--;
            L->pos += n;
            return push(L, JT_OP, p, n, at) ? KV_OK : nomem(L, at);
        }
    }
    char msg[64];
    snprintf(msg, sizeof msg, "unexpected character '%c' (0x%02x)",
             (unsigned char)p[0] >= 0x20 && (unsigned char)p[0] < 0x7f ? p[0] : '?',
             (unsigned char)p[0]);
    return fail(L, at, msg);
}

kv_status kv__jinja_lex(kv_jinja *t, kv__jtok **out, size_t *n_out, kv_err *err) {
    lexer L = {.t = t, .s = t->src, .n = t->src_len, .err = err};
    if (L.n > 0 && L.s[L.n - 1] == '\n')
        L.n--; // Jinja drops a single trailing newline
    kv_status st = KV_OK;
    while (st == KV_OK && L.pos < L.n) {
        st = lex_text(&L);
        if (st != KV_OK || L.pos >= L.n)
            break;
        const char *p = L.s + L.pos;
        if (p[1] == '#') {
            st = lex_comment(&L);
            continue;
        }
        size_t open = L.pos;
        bool stmt = p[1] == '%';
        if (L.pos + 2 < L.n && p[2] == '-') {
            strip_prev_text(&L);
            L.pos++;
        }
        if (!push(&L, stmt ? JT_OPEN_STMT : JT_OPEN_EXPR, p, 2, open))
            return nomem(&L, open);
        L.pos += 2;
        L.curly = 0;
        bool closed = false;
        while (st == KV_OK && !closed)
            st = lex_inside(&L, &closed);
    }
    if (st != KV_OK)
        return st;
    if (!push(&L, JT_EOF, L.s + L.n, 0, L.n))
        return nomem(&L, L.n);
    *out = L.toks;
    *n_out = L.n_toks;
    return KV_OK;
}
