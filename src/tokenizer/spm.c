// SentencePiece-style BPE as llama.cpp's llm_tokenizer_spm runs it: spaces become
// U+2581, the text is split into UTF-8 characters, and adjacent pairs whose
// concatenation is a token are merged, highest score first (leftmost on a tie),
// until none is left (merge.c). A final piece that is not a token is emitted as
// byte tokens. Splitting out special tokens and adding BOS/EOS is tokenize.c's job.
#include "kvant/kv_tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_int.h"

// A pair merges when its joined text is a token; the token's score ranks it. A
// vocabulary with merges (SentencePiece-style BPE from tokenizer.json) merges only
// listed pairs, by rank, as the tokenizers library does.
static bool pair_score(const void *ctx, const char *text, uint32_t off, uint32_t n_left,
                       uint32_t n_right, float *score) {
    const kv_vocab *v = ctx;
    if (v->n_merges > 0) {
        int32_t rank = kv__vocab_merge_rank(v, text + off, n_left, text + off + n_left, n_right);
        *score = -(float)rank; // exact: ranks stay under 2^24
        return rank >= 0;
    }
    kv_token id = kv__vocab_lookup(v, text + off, (size_t)n_left + n_right);
    if (id == KV_TOKEN_NULL)
        return false;
    *score = v->scores[id];
    return true;
}

// Emits a final piece: its token, or one byte token per byte.
static kv_status emit(const kv_vocab *v, const char *p, uint32_t n, kv_toklist *out,
                      kv_err *err) {
    kv_token id = kv__vocab_lookup(v, p, n);
    if (id != KV_TOKEN_NULL)
        return kv__toklist_push(out, id, err);
    for (uint32_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)p[i];
        kv_token bt = v->byte_tok[b];
        if (bt == KV_TOKEN_NULL)
            bt = v->special[KV_SPECIAL_UNK];
        if (bt == KV_TOKEN_NULL)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "tokenize: the vocabulary has no token for byte 0x%02X "
                           "(no <0x%02X> token and no unknown token)", b, b);
        kv_status st = kv__toklist_push(out, bt, err);
        if (st != KV_OK)
            return st;
    }
    return KV_OK;
}

// Writes the escaped text (optional leading space, ' ' -> U+2581) to dst; returns its length.
static size_t escape(const char *text, size_t len, bool space_prefix, char *dst) {
    size_t n = 0;
    for (size_t i = (space_prefix ? 0 : 1); i <= len; i++) {
        char c = i == 0 ? ' ' : text[i - 1];
        if (c == ' ') {
            memcpy(dst + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            dst[n++] = c;
        }
    }
    return n;
}

kv_status kv__spm_tokenize(const kv_vocab *v, const char *text, size_t len, bool space_prefix,
                           kv_toklist *out, kv_err *err) {
    size_t cap = 3 * (len + 1); // len <= KV_TOKENIZE_MAX_TEXT, so no overflow
    kv_status st = KV_OK;
    char *buf = malloc(cap);
    size_t n = buf ? escape(text, len, space_prefix, buf) : 0;
    // at most one symbol per byte: a bad lead byte can split an escaped space
    kv__sym *syms = buf ? malloc(sizeof(*syms) * (n ? n : 1)) : NULL;
    if (!buf || !syms) {
        st = KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory for %zu bytes of text", len);
        goto done;
    }
    int32_t n_syms = kv__split_chars(buf, n, syms);
    st = kv__merge(buf, syms, n_syms, pair_score, v, err);
    for (int32_t i = 0; st == KV_OK && n_syms > 0 && i != -1; i = syms[i].next)
        st = emit(v, buf + syms[i].off, syms[i].n, out, err);
done:
    free(syms);
    free(buf);
    return st;
}
