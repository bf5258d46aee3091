// The schema matcher: a pushdown automaton over bytes on the compiled schema
// graph. Each thread is one reading of the text (a stack of open values, each
// frame tied to its node); an anyOf forks a thread per alternative when its value
// starts, and a thread that refuses a byte dies. A byte is refused as soon as no
// completion exists any more: a container opens only when its shallowest document
// fits KV_JSON_SCHEMA_MAX_DEPTH, a key only when its value could still follow,
// numbers only while some completion lies inside their bounds.
//
// Frames (kv_json_frame) by kind:
//   F_OBJ  st: O_*; x: bit k set when property k was given; b: the key's property
//          (n_prop: another key)
//   F_ARR  st: A_*; n: items given
//   F_KEY  n: bytes read; [a, b): properties whose encoded name starts with them;
//          pad: other keys are allowed (no escapes); aux/lo8/hi8: UTF-8 state
//   F_STR  st: S_*; n: code points; aux: continuation bytes due or hex digits read;
//          lo8/hi8: range of the next continuation byte; x: the \u unit so far
//   F_FMT  st: template position or FMT_*; n: fraction digits; a: first digit of a
//          two-digit field; x: the year; b: the month
//   F_NUM  st: N_*; aux: 1 when negative; x: integer part; n: digits of this part
//   F_LIT  n: bytes matched; [a, b): literals (s->lits) starting with them
#include "kvant/kv_json_schema.h"

#include <string.h>

#include "model/json_schema_int.h"

#define MAX_INDENT 20 // spaces or tabs after a line feed outside strings

enum { F_OBJ = 1, F_ARR, F_KEY, F_STR, F_FMT, F_NUM, F_LIT };
enum { O_FIRST, O_KEY, O_COLON, O_VALUE, O_NEXT };
enum { A_FIRST, A_VALUE, A_NEXT };
enum { S_CHAR, S_ESC, S_HEX, S_U8 };
enum { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
enum { FMT_TAIL = 200, FMT_FRAC, FMT_TZ = 210, FMT_END = 220 };

typedef kv_json_frame frame;
typedef kv_json_thread thread;
typedef kv__js_node node;

static bool is_ws(uint8_t b) {
    return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

static bool is_digit(uint8_t b) {
    return b >= '0' && b <= '9';
}

static bool is_hex(uint8_t b) {
    return is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

static void thread_copy(thread *dst, const thread *src) {
    dst->depth = src->depth;
    dst->done = src->done;
    dst->ws = src->ws;
    dst->lf = src->lf;
    memcpy(dst->f, src->f, src->depth * sizeof *src->f);
}

// A value of node can start at frame index idx and still be finished in time.
static bool fits(const kv_json_schema *s, int32_t nd, unsigned idx) {
    return idx + s->nodes[nd].min_depth <= KV_JSON_SCHEMA_MAX_DEPTH;
}

static frame *push(thread *t, uint8_t kind, int32_t nd, uint8_t st) {
    frame *f = &t->f[t->depth++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->node = (uint16_t)nd;
    f->st = st;
    return f;
}

// The top value is whole: pop it and tell its container.
static void value_done(const kv_json_schema *s, thread *t) {
    t->depth--;
    if (t->depth == 0) {
        t->done = 1;
        return;
    }
    frame *p = &t->f[t->depth - 1];
    if (p->kind == F_OBJ) {
        if (p->b < (uint32_t)s->nodes[p->node].n_prop)
            p->x |= (uint64_t)1 << p->b;
        p->st = O_NEXT;
    } else {
        p->n++;
        p->st = A_NEXT;
    }
}

// Whitespace outside strings, as llama.cpp's grammars allow it: one space, or a
// line feed and up to MAX_INDENT spaces or tabs.
static bool ws_byte(thread *t, uint8_t b) {
    if (t->ws == 0 && (b == ' ' || b == '\n')) {
        t->ws = 1;
        t->lf = b == '\n';
        return true;
    }
    if (t->ws == 0 || !t->lf || t->ws > MAX_INDENT || (b != ' ' && b != '\t'))
        return false;
    t->ws++;
    return true;
}

// Within [*lo, *hi) (texts sharing their first n bytes), those whose byte n is b.
static void narrow(const kv__js_str *v, uint32_t *lo, uint32_t *hi, uint32_t n, uint8_t b) {
    uint32_t l = *lo, h = *hi;
    if (l < h && v[l].len == n)
        l++; // the one that ends here sorts first
    uint32_t a = l, z = h;
    while (a < z) { // first with byte n >= b
        uint32_t mid = a + (z - a) / 2;
        if ((uint8_t)v[mid].text[n] < b)
            a = mid + 1;
        else
            z = mid;
    }
    uint32_t e = a;
    z = h;
    while (e < z) { // first with byte n > b
        uint32_t mid = e + (z - e) / 2;
        if ((uint8_t)v[mid].text[n] <= b)
            e = mid + 1;
        else
            z = mid;
    }
    *lo = a;
    *hi = e;
}

// ---- literals: enum, const, true, false, null ----

// The literal read is whole and nothing longer fits: the value ends here.
static bool lit_closed(const kv_json_schema *s, const frame *f) {
    return f->b - f->a == 1 && s->lits[f->a].len == f->n;
}

static bool start_lit(const kv_json_schema *s, thread *t, int32_t nd, int32_t off, int32_t cnt,
                      uint8_t b) {
    uint32_t lo = (uint32_t)off, hi = (uint32_t)(off + cnt);
    narrow(s->lits, &lo, &hi, 0, b);
    if (lo == hi)
        return false;
    frame *f = push(t, F_LIT, nd, 0);
    f->a = lo;
    f->b = hi;
    f->n = 1;
    if (lit_closed(s, f))
        value_done(s, t);
    return true;
}

// 1: b continues the literal; 0: the literal is whole and b follows it; -1: refused.
static int lit_byte(const kv_json_schema *s, thread *t, frame *f, uint8_t b) {
    uint32_t lo = f->a, hi = f->b;
    narrow(s->lits, &lo, &hi, f->n, b);
    if (lo < hi) {
        f->a = lo;
        f->b = hi;
        f->n++;
        if (lit_closed(s, f))
            value_done(s, t);
        return 1;
    }
    return s->lits[f->a].len == f->n ? 0 : -1;
}

// ---- numbers ----

// Magnitudes a number of this sign may have (a whole part, with or without a
// fraction), as one interval; see kv__js_node for the bounds.
static void mag_range(const node *n, bool neg, int64_t *lo, int64_t *hi) {
    const bool frac = n->types & KV__JS_NUMBER;
    int64_t l, h;
    if (!neg) {
        l = n->int_lo;
        h = frac && n->f_hi - 1 > n->int_hi ? n->f_hi - 1 : n->int_hi;
    } else {
        l = -n->int_hi;
        h = frac && -n->f_lo - 1 > -n->int_lo ? -n->f_lo - 1 : -n->int_lo;
    }
    *lo = l < 0 ? 0 : l;
    *hi = h > KV__JS_BIG - 1 ? KV__JS_BIG - 1 : h;
}

// Some magnitude in [lo, hi] starts with the digits of v (digits of them).
static bool mag_feasible(int64_t lo, int64_t hi, int64_t v, unsigned digits) {
    if (lo > hi)
        return false;
    if (v == 0)
        return digits == 1 && lo <= 0 && hi >= 0; // "0" cannot grow
    int64_t p = 1;
    for (unsigned k = 0; digits + k <= KV__JS_INT_DIGITS; k++) {
        const int64_t a = v * p, z = a + p - 1;
        if (a > hi)
            return false;
        if (z >= lo)
            return true;
        p *= 10;
    }
    return false;
}

static bool int_ok(const node *n, bool neg, int64_t m) {
    const int64_t v = neg ? -m : m;
    return v >= n->int_lo && v <= n->int_hi;
}

// A fraction may follow whole part m: every value in its unit interval is in bounds.
static bool frac_ok(const node *n, bool neg, int64_t m) {
    if (!(n->types & KV__JS_NUMBER))
        return false;
    if (!neg)
        return m >= n->int_lo && m + 1 <= n->f_hi;
    return -m <= n->int_hi && -(m + 1) >= n->f_lo;
}

static bool start_num(const kv_json_schema *s, thread *t, int32_t nd, uint8_t b) {
    const node *n = &s->nodes[nd];
    int64_t lo, hi;
    mag_range(n, b == '-', &lo, &hi);
    if (b == '-') {
        if (lo > hi)
            return false;
        frame *f = push(t, F_NUM, nd, N_MINUS);
        f->aux = 1;
        return true;
    }
    if (!mag_feasible(lo, hi, b - '0', 1))
        return false;
    frame *f = push(t, F_NUM, nd, b == '0' ? N_ZERO : N_INT);
    f->x = (uint64_t)(b - '0');
    f->n = 1;
    return true;
}

static bool num_whole(const node *n, const frame *f) {
    switch (f->st) {
    case N_ZERO:
    case N_INT: return int_ok(n, f->aux, (int64_t)f->x);
    case N_FRAC:
    case N_EXP: return true;
    default: return false;
    }
}

// 1: b continues the number; 0: the number is whole and b follows it; -1: refused.
static int num_byte(const kv_json_schema *s, frame *f, uint8_t b) {
    const node *n = &s->nodes[f->node];
    const bool digit = is_digit(b), e = (b == 'e' || b == 'E') && (n->types & KV__JS_NUMBER) &&
                                        !n->bounded;
    int64_t lo, hi;
    switch (f->st) {
    case N_MINUS:
    case N_INT:
        if (digit) {
            if (f->n >= KV__JS_INT_DIGITS)
                return -1; // (checked first: the value would pass int64_t)
            const int64_t v = (int64_t)f->x * 10 + (b - '0');
            mag_range(n, f->aux, &lo, &hi);
            if (!mag_feasible(lo, hi, v, f->n + 1))
                return -1;
            f->st = f->st == N_MINUS && b == '0' ? N_ZERO : N_INT;
            f->x = (uint64_t)v;
            f->n++;
            return 1;
        }
        if (f->st == N_MINUS)
            return -1;
        // '.', 'e' or the end, as after a zero
        // fall through
    case N_ZERO:
        if (b == '.' && frac_ok(n, f->aux, (int64_t)f->x)) {
            f->st = N_DOT;
            f->n = 0;
            return 1;
        }
        if (e) {
            f->st = N_E;
            return 1;
        }
        return num_whole(n, f) ? 0 : -1;
    case N_DOT:
    case N_FRAC:
        if (digit && f->n < KV__JS_FRAC_DIGITS) {
            f->st = N_FRAC;
            f->n++;
            return 1;
        }
        if (f->st == N_FRAC && e) {
            f->st = N_E;
            return 1;
        }
        return f->st == N_FRAC ? 0 : -1;
    case N_E:
        if (b == '+' || b == '-') {
            f->st = N_ESIGN;
            return 1;
        }
        // fall through
    case N_ESIGN:
        if (!digit)
            return -1;
        f->st = N_EXP;
        f->n = 1;
        return 1;
    case N_EXP:
        if (digit && f->n < KV__JS_EXP_DIGITS) {
            f->n++;
            return 1;
        }
        return 0;
    }
    return -1;
}

// ---- strings ----

// The first byte of a multi-byte UTF-8 character: continuation bytes due and the
// range of the next (no overlong forms, no surrogates, nothing past U+10FFFF).
static bool utf8_lead(frame *f, uint8_t b) {
    f->lo8 = 0x80;
    f->hi8 = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        f->aux = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
        f->aux = 2;
        f->lo8 = b == 0xE0 ? 0xA0 : 0x80;
        f->hi8 = b == 0xED ? 0x9F : 0xBF;
    } else if (b >= 0xF0 && b <= 0xF4) {
        f->aux = 3;
        f->lo8 = b == 0xF0 ? 0x90 : 0x80;
        f->hi8 = b == 0xF4 ? 0x8F : 0xBF;
    } else {
        return false;
    }
    return true;
}

static bool utf8_cont(frame *f, uint8_t b) {
    if (b < f->lo8 || b > f->hi8)
        return false;
    f->aux--;
    f->lo8 = 0x80;
    f->hi8 = 0xBF;
    return true;
}

static bool str_byte(const kv_json_schema *s, thread *t, frame *f, uint8_t b) {
    const node *n = &s->nodes[f->node];
    switch (f->st) {
    case S_U8:
        if (!utf8_cont(f, b))
            return false;
        if (f->aux == 0)
            f->st = S_CHAR;
        return true;
    case S_ESC:
        if (b == 'u') {
            f->st = S_HEX;
            f->aux = 0;
            f->x = 0;
            return true;
        }
        if (b == 0 || !strchr("\"\\/bfnrt", b))
            return false;
        f->st = S_CHAR;
        return true;
    case S_HEX:
        if (!is_hex(b))
            return false;
        f->x = f->x * 16 + (uint64_t)(is_digit(b) ? b - '0' : (b | 0x20) - 'a' + 10);
        if (++f->aux == 2 && f->x >= 0xD8 && f->x <= 0xDF)
            return false; // no surrogates: a lone half would not be text
        if (f->aux == 4)
            f->st = S_CHAR;
        return true;
    default: break;
    }
    if (b == '"') {
        if (f->n < n->min_len)
            return false;
        value_done(s, t);
        return true;
    }
    if (b < 0x20 || f->n >= n->max_len)
        return false; // control characters must be escaped
    if (b == '\\') {
        f->st = S_ESC;
    } else if (b >= 0x80) {
        if (!utf8_lead(f, b))
            return false;
        f->st = S_U8;
    }
    f->n++;
    return true;
}

// ---- string formats ----

static const char *const TEMPLATES[] = {
    "", "YYYY-MM-DD", "hh:mm:ss", "YYYY-MM-DDThh:mm:ss", "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
};
static const char TZ[] = "hh:mm";

static unsigned days_in(unsigned year, unsigned month) {
    static const unsigned char DAYS[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    return month == 2 && leap ? 29 : DAYS[month < 13 ? month : 0];
}

// Byte b at position p of template tpl. Two-digit fields (M month, D day, h hour,
// m minute, s second) take a first digit only when some second digit fits.
static bool template_byte(frame *f, const char *tpl, unsigned p, uint8_t b) {
    const char l = tpl[p];
    if (l == 'x')
        return is_hex(b);
    if (l == 'Y') {
        if (!is_digit(b))
            return false;
        f->x = f->x * 10 + (uint64_t)(b - '0');
        return true;
    }
    if (!strchr("MDhms", l))
        return b == (uint8_t)l;
    if (!is_digit(b))
        return false;
    const unsigned lo = l == 'M' || l == 'D' ? 1 : 0;
    const unsigned hi = l == 'M'   ? 12
                        : l == 'D' ? days_in((unsigned)f->x, f->b)
                        : l == 'h' ? 23
                                   : 59;
    const unsigned d = b - '0';
    if (p == 0 || tpl[p - 1] != l) { // the first digit
        if (d * 10 > hi || d * 10 + 9 < lo)
            return false;
        f->a = d;
        return true;
    }
    const unsigned v = f->a * 10 + d;
    if (v < lo || v > hi)
        return false;
    if (l == 'M')
        f->b = v;
    return true;
}

static bool fmt_byte(const kv_json_schema *s, thread *t, frame *f, uint8_t b) {
    const uint8_t fmt = s->nodes[f->node].format;
    const char *tpl = TEMPLATES[fmt];
    const bool tail = fmt == KV__FMT_TIME || fmt == KV__FMT_DATE_TIME;
    const unsigned len = (unsigned)strlen(tpl);
    if (f->st < len) {
        if (!template_byte(f, tpl, f->st, b))
            return false;
        f->st++;
        if (f->st == len)
            f->st = tail ? FMT_TAIL : FMT_END;
        return true;
    }
    if (f->st >= FMT_TZ && f->st < FMT_END) {
        if (!template_byte(f, TZ, f->st - FMT_TZ, b))
            return false;
        f->st = f->st + 1 == FMT_TZ + sizeof TZ - 1 ? FMT_END : f->st + 1;
        return true;
    }
    if (f->st == FMT_END) {
        if (b != '"')
            return false;
        value_done(s, t);
        return true;
    }
    if (f->st == FMT_TAIL && b == '.') {
        f->st = FMT_FRAC;
        return true;
    }
    if (f->st == FMT_FRAC && is_digit(b) && f->n < 9) {
        f->n++;
        return true;
    }
    if (f->st == FMT_FRAC && f->n == 0)
        return false;
    if (b == 'Z') {
        f->st = FMT_END;
        return true;
    }
    if (b == '+' || b == '-') {
        f->st = FMT_TZ;
        return true;
    }
    return false;
}

// ---- objects and keys ----

static bool prop_open(const kv_json_schema *s, const frame *o, unsigned idx, uint32_t k) {
    const node *n = &s->nodes[o->node];
    return !((o->x >> k) & 1) && fits(s, s->props[n->prop_off + (int32_t)k].node, idx + 1);
}

static bool extra_open(const kv_json_schema *s, const frame *o, unsigned idx) {
    const node *n = &s->nodes[o->node];
    return n->additional >= 0 && fits(s, n->additional, idx + 1);
}

// Some key may still come: a property not given yet, or another key.
static bool key_open(const kv_json_schema *s, const frame *o, unsigned idx) {
    if (extra_open(s, o, idx))
        return true;
    for (uint32_t k = 0; k < (uint32_t)s->nodes[o->node].n_prop; k++)
        if (prop_open(s, o, idx, k))
            return true;
    return false;
}

static bool required_given(const kv_json_schema *s, const frame *o) {
    return (s->nodes[o->node].required & ~o->x) == 0;
}

static void start_key(const kv_json_schema *s, thread *t) {
    const unsigned idx = t->depth - 1u;
    const frame *o = &t->f[idx];
    const node *n = &s->nodes[o->node];
    const bool extra = extra_open(s, o, idx);
    frame *k = push(t, F_KEY, o->node, 0);
    k->a = (uint32_t)n->prop_off;
    k->b = (uint32_t)(n->prop_off + n->n_prop);
    k->pad = extra;
}

static bool key_byte(const kv_json_schema *s, thread *t, frame *k, uint8_t b) {
    const unsigned idx = t->depth - 2u; // the object's frame
    frame *o = &t->f[idx];
    const node *n = &s->nodes[o->node];
    if (b == '"' && k->aux == 0) {
        const bool exact = k->a < k->b && s->props[k->a].len == k->n;
        uint32_t pick = (uint32_t)n->n_prop;
        if (exact) {
            pick = k->a - (uint32_t)n->prop_off;
            if (!prop_open(s, o, idx, pick))
                return false; // given already (or too deep): not again as another key
        } else if (!k->pad) {
            return false;
        }
        t->depth--;
        o->b = pick;
        o->st = O_COLON;
        return true;
    }
    uint32_t lo = k->a, hi = k->b;
    narrow(s->props, &lo, &hi, k->n, b);
    bool named = false;
    for (uint32_t i = lo; i < hi && !named; i++)
        named = prop_open(s, o, idx, i - (uint32_t)n->prop_off);
    frame u = *k; // other keys: any text without escapes or control characters
    bool other = k->pad && b != '"' && b != '\\' && b >= 0x20 &&
                 (u.aux > 0 ? utf8_cont(&u, b) : b < 0x80 || utf8_lead(&u, b));
    if (!named && !other)
        return false;
    if (named) {
        k->a = lo;
        k->b = hi;
    } else {
        k->a = k->b = 0;
    }
    k->pad = other;
    k->aux = other ? u.aux : 0;
    k->lo8 = u.lo8;
    k->hi8 = u.hi8;
    k->n++;
    return true;
}

// ---- values ----

// Starts a value of concrete node nd with its first byte b on t; false (t as it
// was) when b cannot start one.
static bool start_value(const kv_json_schema *s, thread *t, int32_t nd, uint8_t b) {
    const node *n = &s->nodes[nd];
    const unsigned idx = t->depth;
    if (idx >= KV_JSON_SCHEMA_MAX_DEPTH)
        return false;
    if (n->n_lit >= 0)
        return start_lit(s, t, nd, n->lit_off, n->n_lit, b);
    switch (b) {
    case '{':
        if (!(n->types & KV__JS_OBJECT) || idx + n->depth_obj > KV_JSON_SCHEMA_MAX_DEPTH)
            return false;
        push(t, F_OBJ, nd, O_FIRST);
        return true;
    case '[':
        if (!(n->types & KV__JS_ARRAY) || idx + n->depth_arr > KV_JSON_SCHEMA_MAX_DEPTH)
            return false;
        push(t, F_ARR, nd, A_FIRST);
        return true;
    case '"':
        if (!(n->types & KV__JS_STRING) || (!n->format && n->min_len > n->max_len))
            return false;
        push(t, n->format ? F_FMT : F_STR, nd, 0);
        return true;
    case 't':
    case 'f':
        return (n->types & KV__JS_BOOL) && start_lit(s, t, nd, KV__JS_LIT_BOOL, 2, b);
    case 'n': return (n->types & KV__JS_NULL) && start_lit(s, t, nd, KV__JS_LIT_NULL, 1, b);
    default:
        if ((b == '-' || is_digit(b)) && (n->types & KV__JS_INTEGER))
            return start_num(s, t, nd, b);
        return false;
    }
}

// Starts a value of node nd on thread i of m; an anyOf forks the thread, one
// copy per alternative that b can start (the copies go to the end of m).
static bool start_any(kv_json_match *m, uint32_t i, int32_t nd, uint8_t b) {
    const kv_json_schema *s = m->s;
    const node *n = &s->nodes[nd];
    if (n->types != 0)
        return start_value(s, &m->t[i], nd, b);
    thread before;
    thread_copy(&before, &m->t[i]);
    bool ok = false;
    for (int32_t k = 0; k < n->n_alt; k++) {
        const int32_t alt = s->alts[n->alt_off + k];
        thread *dst = &m->t[i];
        if (ok) {
            if (m->n >= KV_JSON_SCHEMA_MAX_THREADS)
                break; // more readings than followed: the text stays valid under those kept
            dst = &m->t[m->n];
        }
        thread_copy(dst, &before);
        if (!fits(s, alt, before.depth) || !start_value(s, dst, alt, b))
            continue;
        if (ok)
            m->n++;
        ok = true;
    }
    if (!ok)
        thread_copy(&m->t[i], &before);
    return ok;
}

static bool obj_byte(kv_json_match *m, uint32_t i, frame *o, uint8_t b) {
    const kv_json_schema *s = m->s;
    thread *t = &m->t[i];
    const unsigned idx = t->depth - 1u;
    switch (o->st) {
    case O_FIRST:
    case O_NEXT:
        if (b == '}' && required_given(s, o)) {
            value_done(s, t);
            return true;
        }
        if (o->st == O_NEXT) {
            if (b != ',' || !key_open(s, o, idx))
                return false;
            o->st = O_KEY;
            return true;
        }
        // a key may start
        // fall through
    case O_KEY:
        if (b != '"' || !key_open(s, o, idx))
            return false;
        start_key(s, t);
        return true;
    case O_COLON:
        if (b != ':')
            return false;
        o->st = O_VALUE;
        return true;
    default: { // O_VALUE
        const node *n = &s->nodes[o->node];
        const int32_t v =
            o->b < (uint32_t)n->n_prop ? s->props[n->prop_off + (int32_t)o->b].node : n->additional;
        return start_any(m, i, v, b);
    }
    }
}

static bool arr_byte(kv_json_match *m, uint32_t i, frame *a, uint8_t b) {
    const kv_json_schema *s = m->s;
    thread *t = &m->t[i];
    const node *n = &s->nodes[a->node];
    const bool more = a->n < n->max_items && fits(s, n->items, t->depth);
    if ((a->st == A_FIRST || a->st == A_NEXT) && b == ']' && a->n >= n->min_items) {
        value_done(s, t);
        return true;
    }
    if (a->st == A_NEXT) {
        if (b != ',' || !more)
            return false;
        a->st = A_VALUE;
        return true;
    }
    return more && start_any(m, i, n->items, b);
}

// Steps thread i with byte b; false when it refuses b (the thread is then dead).
static bool step(kv_json_match *m, uint32_t i, uint8_t b) {
    const kv_json_schema *s = m->s;
    thread *t = &m->t[i];
    for (;;) {
        if (t->depth == 0) {
            if (is_ws(b))
                return ws_byte(t, b);
            return !t->done && start_any(m, i, s->root, b);
        }
        frame *f = &t->f[t->depth - 1];
        int r;
        switch (f->kind) {
        case F_NUM: r = num_byte(s, f, b); break;
        case F_LIT: r = lit_byte(s, t, f, b); break;
        case F_STR: return str_byte(s, t, f, b);
        case F_FMT: return fmt_byte(s, t, f, b);
        case F_KEY: return key_byte(s, t, f, b);
        default:
            if (is_ws(b))
                return ws_byte(t, b);
            return f->kind == F_OBJ ? obj_byte(m, i, f, b) : arr_byte(m, i, f, b);
        }
        if (r != 0)
            return r > 0;
        value_done(s, t); // a number or literal ended before b: its container takes b
    }
}

// Feeds one byte to every thread; false when all refuse it (m is then spoilt).
static bool feed_byte(kv_json_match *m, uint8_t b) {
    const uint32_t n0 = m->n;
    bool alive[KV_JSON_SCHEMA_MAX_THREADS];
    for (uint32_t i = 0; i < n0; i++)
        alive[i] = step(m, i, b);
    uint32_t w = 0;
    for (uint32_t i = 0; i < m->n; i++) {
        if (i < n0 && !alive[i])
            continue;
        if (w != i)
            thread_copy(&m->t[w], &m->t[i]);
        if (!is_ws(b)) {
            m->t[w].ws = 0;
            m->t[w].lf = 0;
        }
        w++;
    }
    m->n = w;
    return w > 0;
}

// ---- the public face ----

void kv_json_match_init(kv_json_match *m, const kv_json_schema *s) {
    m->s = s;
    m->n = 1;
    memset(&m->t[0], 0, offsetof(kv_json_thread, f));
}

void kv_json_match_copy(kv_json_match *dst, const kv_json_match *src) {
    dst->s = src->s;
    dst->n = src->n;
    for (uint32_t i = 0; i < src->n; i++)
        thread_copy(&dst->t[i], &src->t[i]);
}

bool kv_json_match_feed(kv_json_match *m, const char *text, size_t n) {
    if (n == 0)
        return true;
    kv_json_match q;
    kv_json_match_copy(&q, m);
    for (size_t i = 0; i < n; i++)
        if (!feed_byte(&q, (uint8_t)text[i]))
            return false;
    kv_json_match_copy(m, &q);
    return true;
}

bool kv_json_match_complete(const kv_json_match *m) {
    for (uint32_t i = 0; i < m->n; i++) {
        const thread *t = &m->t[i];
        if (t->depth == 0 && t->done)
            return true;
        if (t->depth != 1)
            continue;
        const frame *f = &t->f[0];
        if (f->kind == F_NUM && num_whole(&m->s->nodes[f->node], f))
            return true;
        if (f->kind == F_LIT && m->s->lits[f->a].len == f->n)
            return true;
    }
    return false;
}

bool kv_json_match_done(const kv_json_match *m) {
    for (uint32_t i = 0; i < m->n; i++)
        if (m->t[i].depth == 0 && m->t[i].done)
            return true;
    return false;
}

// The matcher's state after feeding text[0..n), in *q; false when refused. For
// the sampler, which throws q away: no copy back.
bool kv__json_match_try(const kv_json_match *m, const char *text, size_t n, kv_json_match *q) {
    kv_json_match_copy(q, m);
    for (size_t i = 0; i < n; i++)
        if (!feed_byte(q, (uint8_t)text[i]))
            return false;
    return true;
}
