// Tokenizers that reproduce llama.cpp's token ids: the vocabulary (token texts,
// scores, types, special ids and flags) from plain arrays (kv_vocab_gguf.h reads
// them from a GGUF file),
// SentencePiece-style ("llama") tokenization, and detokenization with a helper that
// holds back incomplete UTF-8 for streaming output. A kv_vocab is immutable once
// built, so every function here may be called from several threads at once.
#ifndef KV_TOKENIZER_H
#define KV_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

typedef int32_t kv_token;
#define KV_TOKEN_NULL ((kv_token)-1)

// Named limits.
#define KV_VOCAB_MAX_TOKENS ((int64_t)1 << 24)     // tokens in a vocabulary
#define KV_VOCAB_MAX_TOKEN_LEN ((size_t)1 << 16)    // bytes in one token's text
#define KV_TOKENIZE_MAX_TEXT ((size_t)1 << 30)      // bytes of text in one kv_tokenize call

typedef enum {
    KV_VOCAB_SPM = 1, // tokenizer.ggml.model "llama": SentencePiece BPE with byte fallback
    KV_VOCAB_BPE = 2, // tokenizer.ggml.model "gpt2": byte-level BPE with a regex pre-tokenizer
    KV_VOCAB_WPM = 3, // tokenizer.ggml.model "bert": WordPiece (uncased BERT normalization)
} kv_vocab_type;

// Token types as stored in tokenizer.ggml.token_type (SentencePiece's piece types).
typedef enum {
    KV_TOKEN_TYPE_UNDEFINED = 0,
    KV_TOKEN_TYPE_NORMAL = 1,
    KV_TOKEN_TYPE_UNKNOWN = 2,
    KV_TOKEN_TYPE_CONTROL = 3,
    KV_TOKEN_TYPE_USER_DEFINED = 4,
    KV_TOKEN_TYPE_UNUSED = 5,
    KV_TOKEN_TYPE_BYTE = 6,
} kv_token_type;

// Token attributes (bit set, llama.cpp's llama_token_attr values). Derived from the
// token type, then adjusted by the same text-based rules llama.cpp applies at load.
enum {
    KV_TOKEN_ATTR_UNDEFINED = 0,
    KV_TOKEN_ATTR_UNKNOWN = 1 << 0,
    KV_TOKEN_ATTR_UNUSED = 1 << 1,
    KV_TOKEN_ATTR_NORMAL = 1 << 2,
    KV_TOKEN_ATTR_CONTROL = 1 << 3,
    KV_TOKEN_ATTR_USER_DEFINED = 1 << 4,
    KV_TOKEN_ATTR_BYTE = 1 << 5,
    KV_TOKEN_ATTR_NORMALIZED = 1 << 6,
    KV_TOKEN_ATTR_LSTRIP = 1 << 7, // when parsed from text, eats whitespace on its left
    KV_TOKEN_ATTR_RSTRIP = 1 << 8, // ... and on its right
    KV_TOKEN_ATTR_SINGLE_WORD = 1 << 9,
};

// Special token roles, in the order of kv_vocab_params.special.
typedef enum {
    KV_SPECIAL_BOS,
    KV_SPECIAL_EOS,
    KV_SPECIAL_EOT,
    KV_SPECIAL_EOM,
    KV_SPECIAL_UNK,
    KV_SPECIAL_SEP,
    KV_SPECIAL_PAD,
    KV_SPECIAL_MASK,
    KV_SPECIAL_FIM_PRE,
    KV_SPECIAL_FIM_SUF,
    KV_SPECIAL_FIM_MID,
    KV_SPECIAL_FIM_PAD,
    KV_SPECIAL_FIM_REP,
    KV_SPECIAL_FIM_SEP,
    KV_SPECIAL_COUNT,
} kv_special;

// Name of a role as in its GGUF key ("bos", "eos", "unknown", "seperator", ...).
const char *kv_special_name(kv_special s);

// ---- building a vocabulary ----

// Everything a vocabulary is built from; arrays are borrowed for the call only.
typedef struct {
    kv_vocab_type type;
    int64_t n_tokens;
    const char *const *texts; // n_tokens token texts (UTF-8 for SPM, with U+2581 for spaces)
    const size_t *text_lens;  // their lengths, or NULL to use strlen
    const float *scores;      // merge priorities, or NULL for all 0
    const int32_t *types;     // kv_token_type per token, or NULL for all NORMAL
    kv_token special[KV_SPECIAL_COUNT]; // KV_TOKEN_NULL where the model has none
    bool add_bos;             // kv_tokenize(add_special) puts BOS first
    bool add_eos;             // ... and EOS last
    bool add_space_prefix;    // SPM: a space goes before text that starts a fragment
    const char *name;         // general.name, for llama.cpp's per-model fixups; may be NULL
    // BPE (and SPM vocabularies converted from tokenizer.json, which merge by rank)
    const char *pre;          // pre-tokenizer (tokenizer.ggml.pre): "llama-bpe", "qwen2",
                              // "deepseek-v3", "gpt-2", ... (kv_pretok_known)
    int64_t n_merges;
    const char *const *merges; // "left right", highest priority first
    const size_t *merge_lens;  // or NULL to use strlen
} kv_vocab_params;

// Fills p with llama.cpp's defaults for a vocabulary of type t and no tokens.
// SPM: bos 1, eos 2, unk 0, other roles none, add_bos, no add_eos, add_space_prefix.
// BPE: bos and eos 11, no unk, no add_bos, add_eos or add_space_prefix.
// WPM: bos ([CLS]) 101, unk 100, sep 102, pad 0, mask 103, add_bos; with add_special
// kv_tokenize puts BOS first and SEP last, as llama.cpp does for "bert".
void kv_vocab_params_init(kv_vocab_params *p, kv_vocab_type t);
// Sets p->pre (borrowed) and the defaults llama.cpp ties to that pre-tokenizer
// (add_bos for "llama-bpe"); call before reading the flags that override them.
void kv_vocab_params_set_pre(kv_vocab_params *p, const char *pre);
// Whether kvant knows the BPE pre-tokenizer `name` (a tokenizer.ggml.pre value).
bool kv_pretok_known(const char *name);

typedef struct kv_vocab kv_vocab;

// Builds a vocabulary, copying everything it needs from p. Like llama.cpp it
// replaces an empty token text with "[EMPTY_<id>]", drops special ids outside the
// vocabulary, finds EOT/EOG tokens by their text and marks them as control tokens.
// Fails with KV_ERR_FORMAT on a duplicate token text or when add_bos/add_eos is set
// but that token is missing; KV_ERR_LIMIT over the named limits; KV_ERR_INVALID on
// a bad argument. On success *out owns the vocabulary; free it with kv_vocab_free.
kv_status kv_vocab_new(const kv_vocab_params *p, kv_vocab **out, kv_err *err);

void kv_vocab_free(kv_vocab *v);

// ---- looking things up ----

kv_vocab_type kv_vocab_type_of(const kv_vocab *v);
// The BPE pre-tokenizer's name (tokenizer.ggml.pre), or NULL for SPM vocabularies.
const char *kv_vocab_pre(const kv_vocab *v);
int64_t kv_vocab_n_tokens(const kv_vocab *v);
// The token of a role, or KV_TOKEN_NULL.
kv_token kv_vocab_special(const kv_vocab *v, kv_special s);
kv_token kv_vocab_bos(const kv_vocab *v);
kv_token kv_vocab_eos(const kv_vocab *v);
kv_token kv_vocab_eot(const kv_vocab *v);
kv_token kv_vocab_unk(const kv_vocab *v);
kv_token kv_vocab_pad(const kv_vocab *v);
kv_token kv_vocab_nl(const kv_vocab *v); // the newline token ("<0x0A>" for SPM), or KV_TOKEN_NULL
bool kv_vocab_add_bos(const kv_vocab *v);
bool kv_vocab_add_eos(const kv_vocab *v);
bool kv_vocab_add_space_prefix(const kv_vocab *v);
// True for tokens that end generation (EOS, EOT, EOM and tokens such as "<|end|>").
bool kv_vocab_is_eog(const kv_vocab *v, kv_token id);

// The text of token id (NUL-terminated, valid until kv_vocab_free; *len may be NULL),
// or NULL when id is outside the vocabulary.
const char *kv_vocab_text(const kv_vocab *v, kv_token id, size_t *len);
float kv_vocab_score(const kv_vocab *v, kv_token id);    // 0 outside the vocabulary
uint32_t kv_vocab_attr(const kv_vocab *v, kv_token id);  // KV_TOKEN_ATTR_* bits; 0 outside
// The id of the token whose text is exactly text[0..len), or KV_TOKEN_NULL.
kv_token kv_vocab_find(const kv_vocab *v, const char *text, size_t len);

// ---- tokenizing ----

// Tokenizes text[0..len) as llama_tokenize does. add_special adds BOS/EOS as the
// vocabulary's flags say. parse_special lets control tokens written in the text
// ("<s>", "<|end|>") become those tokens; user-defined tokens are always recognised.
// Text need not be valid UTF-8 (SPM: bad bytes become byte tokens; BPE: U+FFFD);
// callers that want to refuse it check kv_utf8_valid first. Writes up to cap ids to
// out and the count to *n_out; when cap is too small it fails with KV_ERR_LIMIT and
// *n_out is the count needed. KV_ERR_LIMIT also for text over KV_TOKENIZE_MAX_TEXT;
// KV_ERR_FORMAT when an SPM vocabulary has no token for a byte that needs one (no
// <0xXX> and no unknown token). Thread-safe: the vocabulary is only read.
kv_status kv_tokenize(const kv_vocab *v, const char *text, size_t len, bool add_special,
                      bool parse_special, kv_token *out, int64_t cap, int64_t *n_out,
                      kv_err *err);
// Same, into a malloc'd array (*out, owned by the caller; free()) of *n_out ids.
kv_status kv_tokenize_alloc(const kv_vocab *v, const char *text, size_t len, bool add_special,
                            bool parse_special, kv_token **out, int64_t *n_out, kv_err *err);

// ---- detokenizing ----

// The text token id stands for (as llama_token_to_piece): "▁" becomes a space (SPM),
// GPT-2's stand-in characters their bytes (BPE), a byte token <0xXX> the single byte
// XX (possibly part of a UTF-8 sequence), control and unknown tokens their text when
// special is true and nothing otherwise. Borrowed,
// not NUL-terminated, valid until kv_vocab_free; NULL when id is outside the vocabulary.
const char *kv_vocab_piece(const kv_vocab *v, kv_token id, bool special, size_t *len);

// Copies that piece into buf (cap bytes, no NUL). KV_ERR_INVALID for an id outside
// the vocabulary; KV_ERR_LIMIT when cap is too small (*n_out is the size needed).
kv_status kv_token_to_piece(const kv_vocab *v, kv_token id, bool special, char *buf, size_t cap,
                            size_t *n_out, kv_err *err);

// Joins the pieces of n tokens as llama_detokenize does. With remove_special, a
// leading BOS and trailing EOS (when the vocabulary adds them) are dropped;
// unparse_special renders control tokens as their text. When the vocabulary adds a
// space prefix, one leading space of the first piece is removed, unless the first
// token was a BOS that remove_special dropped (llama.cpp's rule). BPE vocabularies
// that clean up spaces drop them before ? ! . , and some apostrophes. Writes the text and
// a NUL to buf; *n_out excludes the NUL. KV_ERR_LIMIT when cap is too small (*n_out
// is the length needed, without the NUL); KV_ERR_INVALID for an id outside the vocabulary.
kv_status kv_detokenize(const kv_vocab *v, const kv_token *tokens, int64_t n, bool remove_special,
                        bool unparse_special, char *buf, size_t cap, size_t *n_out, kv_err *err);
// Same, into a malloc'd NUL-terminated string (*out, owned by the caller; free()).
kv_status kv_detokenize_alloc(const kv_vocab *v, const kv_token *tokens, int64_t n,
                              bool remove_special, bool unparse_special, char **out,
                              size_t *n_out, kv_err *err);

// ---- UTF-8 ----

// True when s[0..n) is well-formed UTF-8 (no overlong forms, surrogates, or code
// points over U+10FFFF, no truncated sequence at the end). Otherwise false, and
// *bad_off (may be NULL) is the offset of the first byte that starts no valid sequence.
bool kv_utf8_valid(const char *s, size_t n, size_t *bad_off);

// Holds back the bytes of a UTF-8 character that is not complete yet, so streamed
// pieces (a byte token at a time) are printed whole. Zero-initialize it
// (kv_utf8_stream s = {0}); one per output stream; not thread-safe.
typedef struct {
    unsigned char held[4];
    size_t n_held;
} kv_utf8_stream;

// Most bytes kv_utf8_stream_push can hold back.
#define KV_UTF8_STREAM_HOLD 3

// Appends in[0..n) to the stream and writes to out what is ready to print: all bytes
// up to the last complete character. A trailing, still valid, incomplete sequence
// is held for the next call; bytes that can never form a character are passed on as
// they are. out must have room for n + KV_UTF8_STREAM_HOLD bytes. Returns the count written.
size_t kv_utf8_stream_push(kv_utf8_stream *s, const char *in, size_t n, char *out);
// Writes whatever is still held (an incomplete sequence at the end of the stream) to
// out (room for KV_UTF8_STREAM_HOLD bytes), empties the stream and returns the count.
size_t kv_utf8_stream_flush(kv_utf8_stream *s, char *out);

#endif
