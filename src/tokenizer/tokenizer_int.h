// Private to src/tokenizer: the vocabulary's layout, a growable token list, the
// merge loop SPM and BPE share, Unicode classes, and the per-algorithm entry points
// the driver in tokenize.c calls.
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
    kv_token byte_tok[256];   // SPM: token for a raw byte (<0xXX> or the byte itself), or -1
    kv_token *special_cache;  // control, user-defined and unknown tokens, longest first
    int32_t n_special_cache;
    kv_token special[KV_SPECIAL_COUNT];
    kv_token nl;
    bool add_bos, add_eos, add_space_prefix;
    bool clean_spaces;   // BPE: llama.cpp's clean_up_tokenization_spaces on detokenize
    // BPE merges "left right", rank = index; hashed like the tokens
    char *merge_buf;
    size_t *merge_off;
    uint32_t *merge_len;
    uint32_t *merge_split; // length of the left part
    int32_t n_merges;
    int32_t *merge_slots;
    size_t n_merge_slots;
    char *pre;               // tokenizer.ggml.pre (BPE), or NULL
    struct kv__pretok *pretok; // BPE: the compiled pre-tokenizer
};

static inline const char *kv__vocab_text(const kv_vocab *v, kv_token id) {
    return v->text_buf + v->text_off[id];
}

uint64_t kv__hash_bytes(uint64_t h, const char *s, size_t n);
#define KV__HASH_INIT 1469598103934665603ull

// Hash lookup of text[0..len); KV_TOKEN_NULL when absent.
kv_token kv__vocab_lookup(const kv_vocab *v, const char *text, size_t len);
// Rank of the BPE merge (left, right), or -1.
int32_t kv__vocab_merge_rank(const kv_vocab *v, const char *left, size_t n_left,
                             const char *right, size_t n_right);
// Builds the merge table (vocab_bpe.c).
kv_status kv__vocab_set_merges(kv_vocab *v, const kv_vocab_params *p, kv_err *err);

// A growable list of token ids.
typedef struct {
    kv_token *ids;
    int64_t n;
    int64_t cap;
} kv_toklist;

kv_status kv__toklist_push(kv_toklist *l, kv_token id, kv_err *err);

// ---- the merge loop (merge.c) ----

typedef struct {
    int32_t prev, next; // neighbours in the chain, -1 at the ends
    uint32_t off, n;    // bytes of the text; n == 0 once merged away
} kv__sym;

// Whether the pair whose text is text[off .. off+n_left+n_right) (the left part
// n_left bytes) may merge, and its score (higher merges first).
typedef bool (*kv__pair_score_fn)(const void *ctx, const char *text, uint32_t off,
                                  uint32_t n_left, uint32_t n_right, float *score);

// Splits t[0..n) into UTF-8 characters (length from the lead byte, cut at the end,
// as llama.cpp does, so invalid UTF-8 still makes progress). syms needs n entries.
int32_t kv__split_chars(const char *t, size_t n, kv__sym *syms);
kv_status kv__merge(const char *text, kv__sym *syms, int32_t n_syms, kv__pair_score_fn fn,
                    const void *ctx, kv_err *err);

// ---- pre-tokenizers (pretok.c) ----

typedef struct kv__pretok kv__pretok;

typedef struct {
    size_t off, len;
} kv__piece;

typedef struct {
    kv__piece *p;
    size_t n, cap;
} kv__pieces;

// Compiles the expressions of pre-tokenizer `name` (KV_ERR_UNSUPPORTED when unknown).
kv_status kv__pretok_new(const char *name, kv__pretok **out, kv_err *err);
void kv__pretok_free(kv__pretok *p);
// Whether a word that is itself a token skips the merges (llama.cpp's ignore_merges).
bool kv__pretok_ignore_merges(const kv__pretok *p);
// Cuts valid UTF-8 text[0..len) into words, replacing out's contents (out->p is
// grown as needed; the caller frees it). Thread-safe.
kv_status kv__pretok_split(const kv__pretok *p, const char *text, size_t len, kv__pieces *out,
                           kv_err *err);

// ---- algorithms ----

// Tokenizes one fragment of raw text with the SPM algorithm (space escaping and
// the optional prefix space included), appending to out.
kv_status kv__spm_tokenize(const kv_vocab *v, const char *text, size_t len, bool space_prefix,
                           kv_toklist *out, kv_err *err);
// Tokenizes one fragment with the vocabulary's pre-tokenizer and byte-level BPE.
kv_status kv__bpe_tokenize(const kv_vocab *v, const char *text, size_t len, kv_toklist *out,
                           kv_err *err);
// Tokenizes one fragment with WordPiece (wpm.c): BERT normalization, whitespace and
// punctuation split, longest-match pieces ("▁" marks word starts in the vocabulary).
kv_status kv__wpm_tokenize(const kv_vocab *v, const char *text, size_t len, kv_toklist *out,
                           kv_err *err);
// Writes the piece of BPE token text t[0..n) (GPT-2 characters back to bytes) to dst
// (NULL: only measure); returns its length.
size_t kv__bpe_decode(const char *t, size_t n, char *dst);
// Whether kvant knows the pre-tokenizer named pre; *clean_spaces gets llama.cpp's
// clean_up_tokenization_spaces for it.
bool kv__bpe_pre_supported(const char *pre, bool *clean_spaces);

#endif
