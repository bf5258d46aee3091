// UTF-8 checks for text that goes into the tokenizer (kv_utf8_valid, so callers
// can name the offset of a bad byte) and a holder that keeps an incomplete trailing
// character back while generated pieces are streamed out.
#include "kvant/kv_tokenizer.h"

#include <string.h>

// Length of the sequence lead byte b starts (2..4), or 0 when b starts none.
static size_t lead_len(unsigned char b) {
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF)
        return 3;
    if (b >= 0xF0 && b <= 0xF4)
        return 4;
    return 0;
}

// Whether c may follow lead byte b as its second byte (no overlongs, surrogates or
// code points over U+10FFFF).
static bool second_ok(unsigned char b, unsigned char c) {
    switch (b) {
    case 0xE0: return c >= 0xA0 && c <= 0xBF;
    case 0xED: return c >= 0x80 && c <= 0x9F;
    case 0xF0: return c >= 0x90 && c <= 0xBF;
    case 0xF4: return c >= 0x80 && c <= 0x8F;
    default: return c >= 0x80 && c <= 0xBF;
    }
}

static bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

bool kv_utf8_valid(const char *s, size_t n, size_t *bad_off) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = lead_len(p[i]);
        bool ok = len > 0 && len <= n - i && second_ok(p[i], p[i + 1]);
        for (size_t k = 2; ok && k < len; k++)
            ok = is_cont(p[i + k]);
        if (!ok) {
            if (bad_off)
                *bad_off = i;
            return false;
        }
        i += len;
    }
    if (bad_off)
        *bad_off = n;
    return true;
}

// How many bytes at the end of p[0..n) are the start of a character that is still
// incomplete but valid so far (0..3).
static size_t incomplete_tail(const unsigned char *p, size_t n) {
    size_t j = n;
    while (j > 0 && n - j < KV_UTF8_STREAM_HOLD && is_cont(p[j - 1]))
        j--;
    if (j == 0)
        return 0;
    j--; // the candidate lead byte
    size_t len = lead_len(p[j]);
    size_t have = n - j;
    if (len == 0 || have >= len)
        return 0;
    for (size_t k = 1; k < have; k++) {
        if (k == 1 ? !second_ok(p[j], p[j + 1]) : !is_cont(p[j + k]))
            return 0;
    }
    return have;
}

size_t kv_utf8_stream_push(kv_utf8_stream *s, const char *in, size_t n, char *out) {
    size_t total = s->n_held;
    memcpy(out, s->held, s->n_held);
    if (n > 0)
        memcpy(out + total, in, n);
    total += n;
    size_t hold = incomplete_tail((const unsigned char *)out, total);
    memcpy(s->held, out + total - hold, hold);
    s->n_held = hold;
    return total - hold;
}

size_t kv_utf8_stream_flush(kv_utf8_stream *s, char *out) {
    size_t n = s->n_held;
    memcpy(out, s->held, n);
    s->n_held = 0;
    return n;
}
