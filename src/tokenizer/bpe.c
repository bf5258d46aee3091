// Byte-level BPE as llama.cpp runs it for GPT-2-style vocabularies: the text is
// read as code points (bad UTF-8 becomes U+FFFD, as llama.cpp), cut into words by
// the vocabulary's pre-tokenizer (pretok.c's regular expressions), each word's
// bytes are written as GPT-2's printable stand-in characters, and pairs are merged
// by rank (merge.c). Merge tables live in vocab_bpe.c; special tokens in tokenize.c.
#include "kvant/kv_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_int.h"

// ---- GPT-2's byte <-> character table ----

static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

// Code point standing for byte b: itself when printable, else 256 + its index
// among the 68 others (0x00-0x20, 0x7F-0xA0, 0xAD in order).
static uint32_t byte_to_cpt(unsigned b) {
    if (byte_is_printable(b))
        return b;
    if (b <= 0x20)
        return 256 + b;
    if (b <= 0xA0)
        return 256 + 33 + (b - 0x7F);
    return 256 + 67; // 0xAD
}

// The byte code point c stands for, or -1.
static int cpt_to_byte(uint32_t c) {
    if (c < 256)
        return byte_is_printable(c) ? (int)c : -1;
    if (c <= 256 + 32)
        return (int)(c - 256);
    if (c <= 256 + 66)
        return (int)(0x7F + (c - 256 - 33));
    return c == 256 + 67 ? 0xAD : -1;
}

// ---- UTF-8 as llama.cpp reads and writes it ----

// Decodes one code point at s[*off] the lenient way llama.cpp does (continuation
// bytes checked, overlongs and surrogates let through); a bad sequence yields
// U+FFFD for its first byte. Code points over U+10FFFF also become U+FFFD (llama.cpp
// throws on them).
static uint32_t decode_cpt(const unsigned char *s, size_t n, size_t *off) {
    size_t i = *off;
    unsigned char b = s[i];
    size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3
               : (b & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = len > 0 && len <= n - i;
    for (size_t k = 1; ok && k < len; k++)
        ok = (s[i + k] & 0xC0) == 0x80;
    if (!ok) {
        *off = i + 1;
        return 0xFFFD;
    }
    uint32_t c = len == 1 ? b : len == 2 ? (b & 0x1Fu) : len == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (size_t k = 1; k < len; k++)
        c = (c << 6) | (s[i + k] & 0x3Fu);
    *off = i + len;
    return c > 0x10FFFF ? 0xFFFD : c;
}

static size_t encode_cpt(uint32_t c, unsigned char *dst) {
    if (c < 0x80) {
        dst[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        dst[0] = (unsigned char)(0xC0 | (c >> 6));
        dst[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        dst[0] = (unsigned char)(0xE0 | (c >> 12));
        dst[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        dst[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    dst[0] = (unsigned char)(0xF0 | (c >> 18));
    dst[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    dst[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    dst[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

// ---- one word: GPT-2 characters, merges, tokens ----

typedef struct {
    const kv_vocab *v;
    unsigned char *word; // the word's bytes as GPT-2 characters
    kv__sym *syms;
    size_t cap;          // bytes word and syms have room for
} bpe_state;

static bool pair_rank(const void *ctx, const char *text, uint32_t off, uint32_t n_left,
                      uint32_t n_right, float *score) {
    const kv_vocab *v = ctx;
    int32_t rank = kv__vocab_merge_rank(v, text + off, n_left, text + off + n_left, n_right);
    if (rank < 0)
        return false;
    *score = -(float)rank; // exact: ranks stay under 2^24
    return true;
}

// Emits a final symbol: its token, else a token per byte where one exists (as llama.cpp).
static kv_status emit(const kv_vocab *v, const char *p, uint32_t n, kv_toklist *out,
                      kv_err *err) {
    kv_token id = kv__vocab_lookup(v, p, n);
    if (id != KV_TOKEN_NULL)
        return kv__toklist_push(out, id, err);
    for (uint32_t i = 0; i < n; i++) {
        id = kv__vocab_lookup(v, p + i, 1);
        if (id != KV_TOKEN_NULL) {
            kv_status st = kv__toklist_push(out, id, err);
            if (st != KV_OK)
                return st;
        }
    }
    return KV_OK;
}

// Tokenizes one word, bytes w[0..n): GPT-2 characters, merges (unless the whole
// word is a token and the pre-tokenizer ignores merges), tokens.
static kv_status word_tokens(bpe_state *s, const unsigned char *w, size_t n_bytes,
                             kv_toklist *out, kv_err *err) {
    size_t need = n_bytes * 2; // each byte up to 2 bytes as a GPT-2 character
    if (need > s->cap) {
        unsigned char *b = realloc(s->word, need);
        if (b)
            s->word = b;
        kv__sym *y = b ? realloc(s->syms, need * sizeof(*y)) : NULL;
        if (!y)
            return KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory for a word of %zu bytes",
                           n_bytes);
        s->syms = y;
        s->cap = need;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_bytes; i++)
        n += encode_cpt(byte_to_cpt(w[i]), s->word + n);
    const char *text = (const char *)s->word;
    if (kv__pretok_ignore_merges(s->v->pretok)) {
        kv_token id = kv__vocab_lookup(s->v, text, n);
        if (id != KV_TOKEN_NULL)
            return kv__toklist_push(out, id, err);
    }
    int32_t n_syms = kv__split_chars(text, n, s->syms);
    kv_status st = kv__merge(text, s->syms, n_syms, pair_rank, s->v, err);
    for (int32_t i = 0; st == KV_OK && n_syms > 0 && i != -1; i = s->syms[i].next)
        st = emit(s->v, text + s->syms[i].off, s->syms[i].n, out, err);
    return st;
}

// ---- the text as llama.cpp reads it ----

// Writes text[0..len) as llama.cpp's code points re-encoded: `match` valid UTF-8 for
// the expressions (surrogates as U+FFFD), `raw` the bytes BPE sees (surrogates kept;
// the same length, so offsets agree). Both need 3 * len bytes.
static size_t recode(const char *text, size_t len, unsigned char *match, unsigned char *raw) {
    size_t n = 0;
    for (size_t off = 0; off < len;) {
        uint32_t c = decode_cpt((const unsigned char *)text, len, &off);
        size_t k = encode_cpt(c, raw + n);
        if (c >= 0xD800 && c <= 0xDFFF)
            encode_cpt(0xFFFD, match + n);
        else
            memcpy(match + n, raw + n, k);
        n += k;
    }
    return n;
}

kv_status kv__bpe_tokenize(const kv_vocab *v, const char *text, size_t len, kv_toklist *out,
                           kv_err *err) {
    bpe_state s = {v, NULL, NULL, 0};
    kv__pieces words = {NULL, 0, 0};
    // a bad byte becomes U+FFFD (3 bytes): at most 3 bytes per input byte
    unsigned char *match = malloc(3 * len + 1), *raw = malloc(3 * len + 1);
    kv_status st = KV_OK;
    if (!match || !raw) {
        st = KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory for %zu bytes of text", len);
        goto done;
    }
    size_t n = recode(text, len, match, raw);
    st = kv__pretok_split(v->pretok, (const char *)match, n, &words, err);
    for (size_t i = 0; i < words.n && st == KV_OK; i++)
        st = word_tokens(&s, raw + words.p[i].off, words.p[i].len, out, err);
done:
    free(words.p);
    free(s.word);
    free(s.syms);
    free(raw);
    free(match);
    return st;
}

// ---- pieces ----

size_t kv__bpe_decode(const char *t, size_t n, char *dst) {
    size_t out = 0;
    for (size_t off = 0; off < n;) {
        uint32_t c = decode_cpt((const unsigned char *)t, n, &off);
        int b = cpt_to_byte(c);
        if (b >= 0) {
            if (dst)
                dst[out] = (char)b;
            out++;
            continue;
        }
        // llama.cpp writes "[UNK_BYTE_0x<hex of the character>" + the token text + "]"
        unsigned char utf8[4];
        size_t k = encode_cpt(c, utf8);
        char buf[32];
        int m = snprintf(buf, sizeof(buf), "[UNK_BYTE_0x");
        for (size_t j = 0; j < k; j++)
            m += snprintf(buf + m, sizeof(buf) - (size_t)m, "%02x", utf8[j]);
        if (dst) {
            memcpy(dst + out, buf, (size_t)m);
            memcpy(dst + out + m, t, n);
            dst[out + (size_t)m + n] = ']';
        }
        out += (size_t)m + n + 1;
    }
    return out;
}
