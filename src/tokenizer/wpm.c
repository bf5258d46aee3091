// WordPiece (tokenizer.ggml.model "bert"), as Hugging Face's BertNormalizer,
// BertPreTokenizer and WordPiece model do it for uncased BERT vocabularies:
// control characters, U+0000 and U+FFFD dropped, whitespace made a space, each CJK
// ideograph a word of its own, NFD with the non-spacing marks dropped (accents),
// lowercase; words split at spaces, each punctuation character a word; every word
// then greedily cut into the longest tokens of the vocabulary, the first piece a
// word start ("▁" + text in the GGUF, as llama.cpp's converter stores "hello"),
// later ones continuations (stored without their "##"). A word longer than 100
// characters, or one that cannot be cut, becomes the unknown token. Unicode
// properties and NFD come from ICU.
#include "tokenizer/tokenizer_int.h"

#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#define WPM_MAX_WORD_CHARS 100 // WordPiece's max_input_chars_per_word

// HF's CJK ranges (tokenizers' bert normalizer; U+2B920.. as it has it).
static bool is_cjk(UChar32 c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool is_ws(UChar32 c) {
    return c == '\t' || c == '\n' || c == '\r' || u_hasBinaryProperty(c, UCHAR_WHITE_SPACE);
}

// General category C (Cc, Cf, Cs, Co, Cn), tab, newline and return excepted.
static bool is_control(UChar32 c) {
    if (c == '\t' || c == '\n' || c == '\r')
        return false;
    int8_t t = u_charType(c);
    return t == U_CONTROL_CHAR || t == U_FORMAT_CHAR || t == U_SURROGATE ||
           t == U_PRIVATE_USE_CHAR || t == U_UNASSIGNED;
}

static bool is_punct(UChar32 c) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126) || u_ispunct(c);
}

typedef struct {
    UChar *p;
    int32_t n, cap;
} ubuf;

static bool ubuf_put(ubuf *b, UChar32 c) {
    if (b->n + 2 > b->cap) {
        int32_t cap = b->cap ? b->cap * 2 : 64;
        UChar *p = realloc(b->p, (size_t)cap * sizeof *p);
        if (!p)
            return false;
        b->p = p;
        b->cap = cap;
    }
    U16_APPEND_UNSAFE(b->p, b->n, c);
    return true;
}

// Normalized text (UTF-16) of text[0..len): cleaned, CJK padded with spaces, NFD
// without non-spacing marks, lowercased. NULL when out of memory.
static UChar *normalize(const char *text, size_t len, int32_t *n_out) {
    UErrorCode e = U_ZERO_ERROR;
    int32_t n16 = 0;
    u_strFromUTF8WithSub(NULL, 0, &n16, text, (int32_t)len, 0xFFFD, NULL, &e);
    e = U_ZERO_ERROR;
    UChar *raw = malloc(((size_t)n16 + 1) * sizeof *raw);
    ubuf b = {NULL, 0, 0};
    UChar *nfd = NULL;
    bool ok = raw != NULL;
    if (ok)
        u_strFromUTF8WithSub(raw, n16 + 1, NULL, text, (int32_t)len, 0xFFFD, NULL, &e);
    for (int32_t i = 0; ok && U_SUCCESS(e) && i < n16;) {
        UChar32 c;
        U16_NEXT(raw, i, n16, c);
        if (c == 0 || c == 0xFFFD || is_control(c))
            continue;
        if (is_ws(c))
            ok = ubuf_put(&b, ' ');
        else if (is_cjk(c))
            ok = ubuf_put(&b, ' ') && ubuf_put(&b, c) && ubuf_put(&b, ' ');
        else
            ok = ubuf_put(&b, c);
    }
    free(raw);
    ok = ok && U_SUCCESS(e);
    const UNormalizer2 *norm = ok ? unorm2_getNFDInstance(&e) : NULL;
    int32_t n = 0;
    if (ok && U_SUCCESS(e)) {
        n = unorm2_normalize(norm, b.p ? b.p : (const UChar *)u"", b.n, NULL, 0, &e);
        if (e == U_BUFFER_OVERFLOW_ERROR || U_SUCCESS(e)) {
            e = U_ZERO_ERROR;
            nfd = malloc(((size_t)n + 1) * sizeof *nfd);
            if (nfd)
                unorm2_normalize(norm, b.p ? b.p : (const UChar *)u"", b.n, nfd, n + 1, &e);
        }
    }
    free(b.p);
    if (!nfd || U_FAILURE(e)) {
        free(nfd);
        return NULL;
    }
    // drop non-spacing marks, lowercase (simple mapping; İ is I + U+0307 by now)
    int32_t j = 0;
    for (int32_t i = 0; i < n;) {
        UChar32 c;
        U16_NEXT(nfd, i, n, c);
        if (u_charType(c) == U_NON_SPACING_MARK)
            continue;
        U16_APPEND_UNSAFE(nfd, j, u_tolower(c)); // never longer than what it replaces
    }
    *n_out = j;
    return nfd;
}

// The longest-match cut of one word (UTF-8 w[0..n), n_chars characters), appended
// to out; the unknown token when it has no cut or is too long.
static kv_status word_pieces(const kv_vocab *v, const char *w, size_t n, int32_t n_chars,
                             char *scratch, kv_toklist *out, kv_err *err) {
    const int64_t mark = out->n;
    bool bad = n_chars > WPM_MAX_WORD_CHARS;
    for (size_t start = 0; !bad && start < n;) {
        kv_token id = KV_TOKEN_NULL;
        size_t end = n;
        for (; end > start; end--) {
            if (end < n && (w[end] & 0xC0) == 0x80)
                continue; // not a character boundary
            if (start == 0) { // a word start: "▁" + text
                memcpy(scratch, "\xe2\x96\x81", 3);
                memcpy(scratch + 3, w, end);
                id = kv__vocab_lookup(v, scratch, end + 3);
            } else {
                id = kv__vocab_lookup(v, w + start, end - start);
            }
            if (id != KV_TOKEN_NULL)
                break;
        }
        if (id == KV_TOKEN_NULL) {
            bad = true;
            break;
        }
        kv_status st = kv__toklist_push(out, id, err);
        if (st != KV_OK)
            return st;
        start = end;
    }
    if (!bad)
        return KV_OK;
    out->n = mark;
    kv_token unk = v->special[KV_SPECIAL_UNK];
    if (unk == KV_TOKEN_NULL)
        return KV_FAIL(err, KV_ERR_FORMAT, "tokenize: a word has no WordPiece cut and the "
                                           "vocabulary has no unknown token");
    return kv__toklist_push(out, unk, err);
}

kv_status kv__wpm_tokenize(const kv_vocab *v, const char *text, size_t len, kv_toklist *out,
                           kv_err *err) {
    if (len > (size_t)INT32_MAX / 4)
        return KV_FAIL(err, KV_ERR_LIMIT, "tokenize: %zu bytes is too long for WordPiece", len);
    int32_t n = 0;
    UChar *t = normalize(text, len, &n);
    // a word is at most 4 bytes per UTF-16 unit; + "▁"
    char *word = t ? malloc((size_t)n * 4 + 1) : NULL;
    char *scratch = word ? malloc((size_t)n * 4 + 4) : NULL;
    if (!scratch) {
        free(t);
        free(word);
        return KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory to normalize %zu bytes", len);
    }
    kv_status st = KV_OK;
    size_t wn = 0;
    int32_t wc = 0;
    for (int32_t i = 0; st == KV_OK && i <= n;) {
        UChar32 c = ' ';
        if (i < n)
            U16_NEXT(t, i, n, c);
        else
            i++;
        const bool space = c == ' ', punct = !space && is_punct(c);
        if ((space || punct) && wn > 0) {
            st = word_pieces(v, word, wn, wc, scratch, out, err);
            wn = 0;
            wc = 0;
        }
        if (space || st != KV_OK)
            continue;
        U8_APPEND_UNSAFE((uint8_t *)word, wn, c);
        wc++;
        if (punct) {
            st = word_pieces(v, word, wn, wc, scratch, out, err);
            wn = 0;
            wc = 0;
        }
    }
    free(scratch);
    free(word);
    free(t);
    return st;
}
