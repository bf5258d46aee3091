// The tokenizer driver, llama.cpp's llama_tokenize: special tokens are split out of
// the text first (user-defined ones always, control ones with parse_special), then
// each remaining fragment goes through the vocabulary's algorithm (spm.c, bpe.c), with BOS
// and EOS added around the result as the vocabulary's flags say.
#include "kvant/kv_tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_int.h"

kv_status kv__toklist_push(kv_toklist *l, kv_token id, kv_err *err) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 256;
        kv_token *ids = realloc(l->ids, (size_t)cap * sizeof(*ids));
        if (!ids)
            return KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory for %lld tokens",
                           (long long)cap);
        l->ids = ids;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return KV_OK;
}

// ---- splitting out special tokens (llama.cpp's tokenizer_st_partition) ----

typedef struct {
    kv_token tok;    // KV_TOKEN_NULL for raw text
    size_t off, len; // raw text: the bytes of the input it covers
} frag;

typedef struct {
    frag *f;
    size_t n, cap;
} fraglist;

static kv_status frag_push(fraglist *l, kv_token tok, size_t off, size_t len, kv_err *err) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        frag *f = realloc(l->f, cap * sizeof(*f));
        if (!f)
            return KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory for %zu text fragments", cap);
        l->f = f;
        l->cap = cap;
    }
    frag fr = {tok, off, len};
    l->f[l->n++] = fr;
    return KV_OK;
}

// Offset of the first needle[0..m) in hay[0..n), or n when absent (m > 0).
static size_t find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    size_t i = 0;
    while (m <= n - i) {
        const char *p = memchr(hay + i, needle[0], n - i - m + 1);
        if (!p)
            return n;
        i = (size_t)(p - hay);
        if (memcmp(p, needle, m) == 0)
            return i;
        i++;
    }
    return n;
}

// The whitespace C's isspace() knows in the "C" locale.
static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Splits raw fragment [off, off+len) at every occurrence of token id, appending
// the pieces to out. LSTRIP/RSTRIP tokens eat the whitespace beside them.
static kv_status split_fragment(const kv_vocab *v, kv_token id, const char *text, size_t off,
                                size_t len, fraglist *out, kv_err *err) {
    const char *tt = kv__vocab_text(v, id);
    size_t tn = v->text_len[id];
    uint32_t attr = v->attrs[id];
    size_t pos = off, end = off + len;
    kv_status st = KV_OK;
    while (st == KV_OK && pos < end) {
        size_t m = tn <= end - pos ? pos + find_bytes(text + pos, end - pos, tt, tn) : end;
        if (m >= end)
            break;
        size_t left_len = m - pos;
        if (attr & KV_TOKEN_ATTR_LSTRIP) {
            while (left_len > 0 && is_space(text[pos + left_len - 1]))
                left_len--;
        }
        if (left_len > 0)
            st = frag_push(out, KV_TOKEN_NULL, pos, left_len, err);
        if (st == KV_OK)
            st = frag_push(out, id, 0, 0, err);
        pos = m + tn;
        if (attr & KV_TOKEN_ATTR_RSTRIP) {
            while (pos < end && is_space(text[pos]))
                pos++;
        }
    }
    if (st == KV_OK && pos < end)
        st = frag_push(out, KV_TOKEN_NULL, pos, end - pos, err);
    return st;
}

// Replaces *frags by the fragments that result from splitting out every special
// token, longest first. Control and unknown tokens only when parse_special is set.
static kv_status partition(const kv_vocab *v, const char *text, bool parse_special,
                           fraglist *frags, kv_err *err) {
    fraglist next = {NULL, 0, 0};
    kv_status st = KV_OK;
    for (int32_t k = 0; k < v->n_special_cache && st == KV_OK; k++) {
        kv_token id = v->special_cache[k];
        if (!parse_special && (v->attrs[id] & (KV_TOKEN_ATTR_CONTROL | KV_TOKEN_ATTR_UNKNOWN)))
            continue;
        next.n = 0;
        for (size_t i = 0; i < frags->n && st == KV_OK; i++) {
            const frag *f = &frags->f[i];
            if (f->tok != KV_TOKEN_NULL)
                st = frag_push(&next, f->tok, 0, 0, err);
            else
                st = split_fragment(v, id, text, f->off, f->len, &next, err);
        }
        fraglist tmp = *frags;
        *frags = next;
        next = tmp;
    }
    free(next.f);
    return st;
}

// ---- driver ----

static kv_status run_fragments(const kv_vocab *v, const char *text, const fraglist *frags,
                               kv_toklist *out, kv_err *err) {
    bool prev_special = true; // the first fragment gets the space prefix
    kv_status st = KV_OK;
    for (size_t i = 0; i < frags->n && st == KV_OK; i++) {
        const frag *f = &frags->f[i];
        if (f->tok != KV_TOKEN_NULL) {
            st = kv__toklist_push(out, f->tok, err);
            prev_special = true;
            continue;
        }
        if (v->type == KV_VOCAB_BPE)
            st = kv__bpe_tokenize(v, text + f->off, f->len, out, err);
        else if (v->type == KV_VOCAB_WPM)
            st = kv__wpm_tokenize(v, text + f->off, f->len, out, err);
        else
            st = kv__spm_tokenize(v, text + f->off, f->len, v->add_space_prefix && prev_special,
                                  out, err);
        prev_special = false;
    }
    return st;
}

static kv_status tokenize_list(const kv_vocab *v, const char *text, size_t len, bool add_special,
                               bool parse_special, kv_toklist *out, kv_err *err) {
    if (!v || (!text && len > 0))
        return KV_FAIL(err, KV_ERR_INVALID, "tokenize: no vocabulary or no text");
    if (len > KV_TOKENIZE_MAX_TEXT)
        return KV_FAIL(err, KV_ERR_LIMIT, "tokenize: text of %zu bytes is over the limit of %zu",
                       len, KV_TOKENIZE_MAX_TEXT);
    fraglist frags = {NULL, 0, 0};
    kv_status st = KV_OK;
    if (len > 0) {
        st = frag_push(&frags, KV_TOKEN_NULL, 0, len, err);
        if (st == KV_OK)
            st = partition(v, text, parse_special, &frags, err);
    }
    if (st == KV_OK && add_special && v->add_bos)
        st = kv__toklist_push(out, v->special[KV_SPECIAL_BOS], err);
    if (st == KV_OK)
        st = run_fragments(v, text, &frags, out, err);
    if (st == KV_OK && add_special && v->add_eos && v->type != KV_VOCAB_WPM)
        st = kv__toklist_push(out, v->special[KV_SPECIAL_EOS], err);
    // WordPiece: [CLS] text [SEP], whatever add_eos says (llama.cpp's WPM rule)
    if (st == KV_OK && add_special && v->type == KV_VOCAB_WPM &&
        v->special[KV_SPECIAL_SEP] != KV_TOKEN_NULL)
        st = kv__toklist_push(out, v->special[KV_SPECIAL_SEP], err);
    free(frags.f);
    return st;
}

kv_status kv_tokenize(const kv_vocab *v, const char *text, size_t len, bool add_special,
                      bool parse_special, kv_token *out, int64_t cap, int64_t *n_out,
                      kv_err *err) {
    kv_toklist l = {NULL, 0, 0};
    if (n_out)
        *n_out = 0;
    kv_status st = tokenize_list(v, text, len, add_special, parse_special, &l, err);
    if (st == KV_OK) {
        if (n_out)
            *n_out = l.n;
        if (l.n > cap || (l.n > 0 && !out))
            st = KV_FAIL(err, KV_ERR_LIMIT, "tokenize: the text needs %lld tokens, the buffer "
                         "holds %lld", (long long)l.n, (long long)cap);
        else if (l.n > 0)
            memcpy(out, l.ids, (size_t)l.n * sizeof(*out));
    }
    free(l.ids);
    return st;
}

kv_status kv_tokenize_alloc(const kv_vocab *v, const char *text, size_t len, bool add_special,
                            bool parse_special, kv_token **out, int64_t *n_out, kv_err *err) {
    if (!out || !n_out)
        return KV_FAIL(err, KV_ERR_INVALID, "tokenize: no output pointers");
    *out = NULL;
    *n_out = 0;
    kv_toklist l = {NULL, 0, 0};
    kv_status st = tokenize_list(v, text, len, add_special, parse_special, &l, err);
    if (st != KV_OK) {
        free(l.ids);
        return st;
    }
    if (!l.ids) {
        l.ids = malloc(sizeof(*l.ids)); // a valid pointer even for no tokens
        if (!l.ids)
            return KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory");
    }
    *out = l.ids;
    *n_out = l.n;
    return KV_OK;
}
