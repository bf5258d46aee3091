// The JSON prefix automaton, written from RFC 8259's grammar:
//   value  = object / array / string / number / true / false / null
//   number = [ "-" ] ( "0" / %x31-39 *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]
//   string = '"' *( %x20-21 / %x23-5B / %x5D-10FFFF / "\" ( "\"/"\\"/"/"/b/f/n/r/t / uXXXX ) ) '"'
// Strings must be well-formed UTF-8 and \u escapes well-paired surrogates, so
// strict parsers (jansson, Python) accept every completed text. A byte is refused
// as soon as no completion exists any more (a lone low surrogate is refused at its
// second digit), which is what keeps constrained sampling out of dead ends.
#include "kvant/kv_json_prefix.h"

#include <string.h>

#include "kvant/kv_core.h"

enum {
    ST_VALUE,        // a value: the start, after ':' or after ',' in an array
    ST_VALUE_OR_END, // a value or ']': after '['
    ST_KEY_OR_END,   // '"' or '}': after '{'
    ST_KEY,          // '"': after ',' in an object
    ST_COLON,        // ':' after a key
    ST_NEXT,         // ',' or the container's closing bracket, after a value
    ST_DONE,         // the top-level value is whole; whitespace only
    ST_STR,          // in a string (u8_left > 0: inside a multi-byte character)
    ST_ESC,          // after '\' in a string
    ST_HEX,          // in \uXXXX; aux: digits read
    ST_PAIR_BS,      // a high surrogate was read: the '\' of its low half is due
    ST_PAIR_U,       // ... and then its 'u'
    ST_LIT,          // in true/false/null; aux: literal * 8 + letters matched
    ST_NUM_MINUS,    // "-": a digit is due
    ST_NUM_ZERO,     // a leading 0: '.', 'e' or the end
    ST_NUM_INT,      // integer digits
    ST_NUM_DOT,      // ".": a digit is due
    ST_NUM_FRAC,     // fraction digits
    ST_NUM_E,        // "e": a sign or digit is due
    ST_NUM_ESIGN,    // "e+": a digit is due
    ST_NUM_EXP,      // exponent digits
};

enum {
    F_KEY = 1, // the string being read is an object key
    F_LOW = 2, // the \u escape being read must be a low surrogate (DC00..DFFF)
    F_LF = 4,  // the current whitespace run holds a line feed
};

static const char *const LITERALS[3] = {"true", "false", "null"};

void kv_json_prefix_init(kv_json_prefix *p, kv_json_root root) {
    memset(p, 0, sizeof *p);
    p->state = ST_VALUE;
    p->root = (uint8_t)root;
}

static bool is_ws(uint8_t b) {
    return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

static bool is_digit(uint8_t b) {
    return b >= '0' && b <= '9';
}

static bool top_is_object(const kv_json_prefix *p) {
    return (p->objects >> (p->depth - 1)) & 1u;
}

// A value ended: the container's separator or close is next, or the document is whole.
static void value_done(kv_json_prefix *p) {
    p->state = p->depth == 0 ? ST_DONE : ST_NEXT;
}

static bool open_container(kv_json_prefix *p, bool object) {
    if (p->depth >= KV_JSON_MAX_DEPTH)
        return false;
    if (object)
        p->objects |= (uint64_t)1 << p->depth;
    else
        p->objects &= ~((uint64_t)1 << p->depth);
    p->depth++;
    p->state = object ? ST_KEY_OR_END : ST_VALUE_OR_END;
    return true;
}

static void close_container(kv_json_prefix *p) {
    p->depth--;
    value_done(p);
}

// ---- values and structure ----

// The first letter of LITERALS[i] was read.
static bool start_literal(kv_json_prefix *p, int i) {
    p->state = ST_LIT;
    p->aux = (uint8_t)(i * 8 + 1);
    return true;
}

static bool start_string(kv_json_prefix *p, bool key) {
    p->state = ST_STR;
    if (key)
        p->flags |= F_KEY;
    else
        p->flags &= (uint8_t)~F_KEY;
    return true;
}

static bool start_value(kv_json_prefix *p, uint8_t b) {
    if (p->depth == 0 && p->root == KV_JSON_ROOT_OBJECT && b != '{')
        return false;
    switch (b) {
    case '{': return open_container(p, true);
    case '[': return open_container(p, false);
    case '"': return start_string(p, false);
    case '-': p->state = ST_NUM_MINUS; return true;
    case '0': p->state = ST_NUM_ZERO; return true;
    case 't': return start_literal(p, 0);
    case 'f': return start_literal(p, 1);
    case 'n': return start_literal(p, 2);
    default:
        if (b >= '1' && b <= '9') {
            p->state = ST_NUM_INT;
            return true;
        }
        return false;
    }
}

// A byte where structure is expected (whitespace was handled by the caller).
static bool structural(kv_json_prefix *p, uint8_t b) {
    switch (p->state) {
    case ST_VALUE: return start_value(p, b);
    case ST_VALUE_OR_END:
        if (b == ']') {
            close_container(p);
            return true;
        }
        return start_value(p, b);
    case ST_KEY_OR_END:
        if (b == '}') {
            close_container(p);
            return true;
        }
        return b == '"' && start_string(p, true);
    case ST_KEY: return b == '"' && start_string(p, true);
    case ST_COLON:
        if (b != ':')
            return false;
        p->state = ST_VALUE;
        return true;
    case ST_NEXT:
        if (b == ',') {
            p->state = top_is_object(p) ? ST_KEY : ST_VALUE;
            return true;
        }
        if (b == (top_is_object(p) ? '}' : ']')) {
            close_container(p);
            return true;
        }
        return false;
    default: return false; // ST_DONE: only whitespace
    }
}

// ---- strings ----

// The first byte of a multi-byte UTF-8 character: how many follow and the range
// of the next one (no overlong forms, no surrogates, nothing past U+10FFFF).
static bool utf8_lead(kv_json_prefix *p, uint8_t b) {
    p->u8_lo = 0x80;
    p->u8_hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        p->u8_left = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
        p->u8_left = 2;
        if (b == 0xE0)
            p->u8_lo = 0xA0;
        if (b == 0xED)
            p->u8_hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        p->u8_left = 3;
        if (b == 0xF0)
            p->u8_lo = 0x90;
        if (b == 0xF4)
            p->u8_hi = 0x8F;
    } else {
        return false;
    }
    return true;
}

static bool string_byte(kv_json_prefix *p, uint8_t b) {
    if (p->u8_left > 0) {
        if (b < p->u8_lo || b > p->u8_hi)
            return false;
        p->u8_left--;
        p->u8_lo = 0x80;
        p->u8_hi = 0xBF;
        return true;
    }
    if (b == '"') {
        if (p->flags & F_KEY)
            p->state = ST_COLON;
        else
            value_done(p);
        return true;
    }
    if (b == '\\') {
        p->state = ST_ESC;
        return true;
    }
    if (b < 0x20)
        return false; // control characters must be escaped
    return b < 0x80 || utf8_lead(p, b);
}

static bool escape_byte(kv_json_prefix *p, uint8_t b) {
    if (b == 'u') {
        p->state = ST_HEX;
        p->aux = 0;
        p->unit = 0;
        return true;
    }
    if (!strchr("\"\\/bfnrt", b) || b == 0)
        return false;
    p->state = ST_STR;
    return true;
}

// One digit of \uXXXX. The first two digits decide what the unit can be: a low
// surrogate (DC..DF) must follow a high one (D8..DB) and nothing else.
static bool hex_byte(kv_json_prefix *p, uint8_t b) {
    int v = kv_hex_digit(b);
    if (v < 0)
        return false;
    p->unit = (uint16_t)(p->unit * 16 + v);
    p->aux++;
    bool want_low = p->flags & F_LOW;
    if (p->aux == 1 && want_low && p->unit != 0xD)
        return false;
    if (p->aux == 2) {
        bool low = p->unit >= 0xDC && p->unit <= 0xDF;
        if (low != want_low)
            return false;
    }
    if (p->aux < 4)
        return true;
    if (!want_low && p->unit >= 0xD800 && p->unit <= 0xDBFF) {
        p->flags |= F_LOW;
        p->state = ST_PAIR_BS;
    } else {
        p->flags &= (uint8_t)~F_LOW;
        p->state = ST_STR;
    }
    return true;
}

// ---- numbers and literals ----

static bool number_whole(uint8_t state) {
    return state == ST_NUM_ZERO || state == ST_NUM_INT || state == ST_NUM_FRAC ||
           state == ST_NUM_EXP;
}

// Returns 1 when b continues the number, 0 when it does not (the number may
// end before it), -1 when b is refused.
static int number_byte(kv_json_prefix *p, uint8_t b) {
    const bool digit = is_digit(b), e = b == 'e' || b == 'E';
    uint8_t next = 0;
    switch (p->state) {
    case ST_NUM_MINUS: next = b == '0' ? ST_NUM_ZERO : digit ? ST_NUM_INT : 0; break;
    case ST_NUM_ZERO: next = b == '.' ? ST_NUM_DOT : e ? ST_NUM_E : 0; break;
    case ST_NUM_INT: next = digit ? ST_NUM_INT : b == '.' ? ST_NUM_DOT : e ? ST_NUM_E : 0; break;
    case ST_NUM_DOT: next = digit ? ST_NUM_FRAC : 0; break;
    case ST_NUM_FRAC: next = digit ? ST_NUM_FRAC : e ? ST_NUM_E : 0; break;
    case ST_NUM_E: next = digit ? ST_NUM_EXP : (b == '+' || b == '-') ? ST_NUM_ESIGN : 0; break;
    case ST_NUM_ESIGN: next = digit ? ST_NUM_EXP : 0; break;
    case ST_NUM_EXP: next = digit ? ST_NUM_EXP : 0; break;
    default: break;
    }
    if (next != 0) {
        p->state = next;
        return 1;
    }
    return number_whole(p->state) ? 0 : -1;
}

static bool literal_byte(kv_json_prefix *p, uint8_t b) {
    const char *lit = LITERALS[p->aux / 8];
    const size_t matched = p->aux % 8;
    if ((uint8_t)lit[matched] != b)
        return false;
    p->aux++;
    if (matched + 1 == strlen(lit))
        value_done(p);
    return true;
}

// ---- one byte ----

static bool step(kv_json_prefix *p, uint8_t b) {
    if (p->state >= ST_NUM_MINUS) {
        int r = number_byte(p, b);
        if (r < 0)
            return false;
        if (r > 0) {
            p->ws = 0;
            return true;
        }
        value_done(p); // the number ended before b, which structure must take
    }
    switch (p->state) {
    case ST_STR: return string_byte(p, b);
    case ST_ESC: return escape_byte(p, b);
    case ST_HEX: return hex_byte(p, b);
    case ST_PAIR_BS:
        p->state = ST_PAIR_U;
        return b == '\\';
    case ST_PAIR_U:
        p->state = ST_HEX;
        p->aux = 0;
        p->unit = 0;
        return b == 'u';
    case ST_LIT: return literal_byte(p, b);
    default: break;
    }
    if (is_ws(b)) {
        if (p->ws >= KV_JSON_MAX_WS || (b == '\n' && (p->flags & F_LF)))
            return false;
        p->ws++;
        if (b == '\n')
            p->flags |= F_LF;
        return true;
    }
    p->ws = 0;
    p->flags &= (uint8_t)~F_LF;
    return structural(p, b);
}

bool kv_json_prefix_feed(kv_json_prefix *p, const char *s, size_t n) {
    kv_json_prefix q = *p;
    for (size_t i = 0; i < n; i++)
        if (!step(&q, (uint8_t)s[i]))
            return false;
    *p = q;
    return true;
}

bool kv_json_prefix_complete(const kv_json_prefix *p) {
    return p->state == ST_DONE || (p->depth == 0 && number_whole(p->state));
}

bool kv_json_prefix_done(const kv_json_prefix *p) {
    return p->state == ST_DONE;
}

// ---- closing ----

// The byte that brings p closest to a whole value.
static uint8_t closing_byte(const kv_json_prefix *p) {
    switch (p->state) {
    case ST_VALUE: return p->depth == 0 && p->root == KV_JSON_ROOT_OBJECT ? '{' : '0';
    case ST_VALUE_OR_END: return ']';
    case ST_KEY_OR_END: return '}';
    case ST_KEY: return '"';
    case ST_COLON: return ':';
    case ST_STR: return p->u8_left > 0 ? p->u8_lo : '"';
    case ST_ESC: return 'n';
    case ST_HEX:
        if (p->flags & F_LOW)
            return p->aux == 0 ? 'D' : p->aux == 1 ? 'C' : '0';
        return '0';
    case ST_PAIR_BS: return '\\';
    case ST_PAIR_U: return 'u';
    case ST_LIT: return (uint8_t)LITERALS[p->aux / 8][p->aux % 8];
    case ST_NUM_MINUS:
    case ST_NUM_DOT:
    case ST_NUM_E:
    case ST_NUM_ESIGN: return '0';
    default: // ST_NEXT or a whole number inside a container
        return top_is_object(p) ? '}' : ']';
    }
}

size_t kv_json_prefix_closing(const kv_json_prefix *p, char *out) {
    kv_json_prefix q = *p;
    size_t n = 0;
    while (!kv_json_prefix_complete(&q) && n < KV_JSON_CLOSING_MAX) {
        const uint8_t b = closing_byte(&q);
        if (!step(&q, b))
            break; // cannot happen: every state has a closing byte it accepts
        out[n++] = (char)b;
    }
    return n;
}
