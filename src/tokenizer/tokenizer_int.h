// Private to src/tokenizer: the vocabulary's layout, a growable token list and the
// per-algorithm entry points the driver in tokenize.c calls.
#ifndef KV_TOKENIZER_INT_H
#define KV_TOKENIZER_INT_H

#include "kvant/kv_tokenizer.h"

struct kv_vocab {
    kv_vocab_type type;
    int32_t n_tokens;
    char *text_buf;     // every token's text, each followed by a NUL
    size_t *text_off;   // n_tokens offsets into text_buf
    uint32_t *text_len; // n_tokens lengths
    float *scores;
    uint32_t *attrs;     // KV_TOKEN_ATTR_* bits
    uint8_t *eog;        // 1 where the token ends generation
    char *piece_buf;     // llama.cpp's token-to-piece cache (special tokens as text)
    size_t *piece_off;
    uint32_t *piece_len;
    int32_t *slots;      // open-addressing hash of token text -> id, -1 when empty
    size_t n_slots;      // a power of two
    kv_token byte_tok[256];   // token for a raw byte (<0xXX> or the byte itself), or -1
    kv_token *special_cache;  // control, user-defined and unknown tokens, longest first
    int32_t n_special_cache;
    kv_token special[KV_SPECIAL_COUNT];
    kv_token nl;
    bool add_bos, add_eos, add_space_prefix;
};

static inline const char *kv__vocab_text(const kv_vocab *v, kv_token id) {
    return v->text_buf + v->text_off[id];
}

// Hash lookup of text[0..len); KV_TOKEN_NULL when absent.
kv_token kv__vocab_lookup(const kv_vocab *v, const char *text, size_t len);

// A growable list of token ids, capped at max entries.
typedef struct {
    kv_token *ids;
    int64_t n;
    int64_t cap;
} kv_toklist;

kv_status kv__toklist_push(kv_toklist *l, kv_token id, kv_err *err);

// Tokenizes one fragment of raw text with the SPM algorithm (space escaping and
// the optional prefix space included), appending to out.
kv_status kv__spm_tokenize(const kv_vocab *v, const char *text, size_t len, bool space_prefix,
                           kv_toklist *out, kv_err *err);

#endif
