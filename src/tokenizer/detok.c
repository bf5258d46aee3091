// From token ids back to text, as llama.cpp's llama_token_to_piece and
// llama_detokenize do it (BPE's space clean-up included). The pieces themselves are
// computed once per vocabulary (vocab.c); holding back incomplete UTF-8 while
// streaming is utf8.c's job.
#include "kvant/kv_tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_int.h"

kv_status kv_token_to_piece(const kv_vocab *v, kv_token id, bool special, char *buf, size_t cap,
                            size_t *n_out, kv_err *err) {
    size_t n = 0;
    if (n_out)
        *n_out = 0;
    const char *p = v ? kv_vocab_piece(v, id, special, &n) : NULL;
    if (!p)
        return KV_FAIL(err, KV_ERR_INVALID, "token id %d is outside the vocabulary (%lld tokens)",
                       (int)id, v ? (long long)v->n_tokens : 0LL);
    if (n_out)
        *n_out = n;
    if (n > cap || (n > 0 && !buf))
        return KV_FAIL(err, KV_ERR_LIMIT,
                       "token %d: its piece needs %zu bytes, the buffer holds %zu", (int)id, n,
                       cap);
    if (n > 0)
        memcpy(buf, p, n);
    return KV_OK;
}

// Joins the pieces into dst (NULL: only measure) and returns the length.
// The ids were checked by the caller.
static size_t join_pieces(const kv_vocab *v, const kv_token *tokens, int64_t n,
                          bool remove_special, bool unparse_special, char *dst) {
    bool remove_space = v->add_space_prefix;
    if (remove_special && v->add_bos && n > 0 && tokens[0] == v->special[KV_SPECIAL_BOS]) {
        remove_space = false; // llama.cpp keeps the space when it drops the BOS
        tokens++;
        n--;
    }
    if (remove_special && v->add_eos && n > 0 && tokens[n - 1] == v->special[KV_SPECIAL_EOS])
        n--;
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *p = kv_vocab_piece(v, tokens[i], unparse_special, &len);
        if (remove_space && len > 0 && p[0] == ' ') {
            p++;
            len--;
        }
        remove_space = false;
        if (dst)
            memcpy(dst + total, p, len);
        total += len;
    }
    return total;
}

// llama.cpp's clean_up_tokenization_spaces, three passes over t[0..n): no space
// before ? ! . , ; no spaces around a lone apostrophe; no space before 's 'm 're 've.
// Returns the new length.
static size_t clean_spaces(char *t, size_t n) {
    size_t total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
            total--;
        t[total++] = x;
    }
    n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
            total--;
            t[++i] = '\0';
        }
        t[total++] = x;
    }
    n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = t[i + 1];
            bool re_ve = i + 2 < n && (x1 == 'r' || x1 == 'v') && t[i + 2] == 'e';
            if (x1 == 's' || x1 == 'm' || re_ve)
                total--;
        }
        t[total++] = x;
    }
    return total;
}

static kv_status check_ids(const kv_vocab *v, const kv_token *tokens, int64_t n, kv_err *err) {
    if (!v || n < 0 || (n > 0 && !tokens))
        return KV_FAIL(err, KV_ERR_INVALID, "detokenize: no vocabulary or no tokens");
    for (int64_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= v->n_tokens)
            return KV_FAIL(err, KV_ERR_INVALID,
                           "detokenize: token %lld has id %d, outside the vocabulary (%d tokens)",
                           (long long)i, (int)tokens[i], (int)v->n_tokens);
    }
    return KV_OK;
}

// Writes the text of tokens into buf (room for join_pieces' total and a NUL): the pieces,
// spaces cleaned up where the vocabulary asks, NUL-terminated. Returns its length.
static size_t write_text(const kv_vocab *v, const kv_token *tokens, int64_t n,
                         bool remove_special, bool unparse_special, char *buf) {
    size_t total = join_pieces(v, tokens, n, remove_special, unparse_special, buf);
    if (v->clean_spaces)
        total = clean_spaces(buf, total);
    buf[total] = '\0';
    return total;
}

kv_status kv_detokenize(const kv_vocab *v, const kv_token *tokens, int64_t n, bool remove_special,
                        bool unparse_special, char *buf, size_t cap, size_t *n_out, kv_err *err) {
    if (n_out)
        *n_out = 0;
    kv_status st = check_ids(v, tokens, n, err);
    if (st != KV_OK)
        return st;
    size_t total = join_pieces(v, tokens, n, remove_special, unparse_special, NULL);
    if (n_out)
        *n_out = total;
    if (!buf || total >= cap)
        return KV_FAIL(err, KV_ERR_LIMIT, "detokenize: the text needs %zu bytes and a NUL, "
                       "the buffer holds %zu", total, buf ? cap : 0);
    total = write_text(v, tokens, n, remove_special, unparse_special, buf);
    if (n_out)
        *n_out = total;
    return KV_OK;
}

kv_status kv_detokenize_alloc(const kv_vocab *v, const kv_token *tokens, int64_t n,
                              bool remove_special, bool unparse_special, char **out,
                              size_t *n_out, kv_err *err) {
    if (!out)
        return KV_FAIL(err, KV_ERR_INVALID, "detokenize: no output pointer");
    *out = NULL;
    if (n_out)
        *n_out = 0;
    kv_status st = check_ids(v, tokens, n, err);
    if (st != KV_OK)
        return st;
    size_t total = join_pieces(v, tokens, n, remove_special, unparse_special, NULL);
    char *buf = malloc(total + 1);
    if (!buf)
        return KV_FAIL(err, KV_ERR_NOMEM, "detokenize: no memory for %zu bytes", total + 1);
    total = write_text(v, tokens, n, remove_special, unparse_special, buf);
    *out = buf;
    if (n_out)
        *n_out = total;
    return KV_OK;
}
