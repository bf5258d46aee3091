// Private to the Hugging Face folder reader (hf.c, hf_config.c, hf_tokenizer.c,
// hf_special.c, hf_bpe.c): the handle, the parsed JSON files, and the vocab
// under construction.
#ifndef KV_HF_INT_H
#define KV_HF_INT_H

#include <jansson.h>

#include "kvant/kv_hf.h"

// The folder's JSON files; each is NULL when the file is absent.
typedef struct {
    const char *dir;
    json_t *config;     // config.json (always present once opened)
    json_t *tok_config; // tokenizer_config.json
    json_t *tok_json;   // tokenizer.json
} kv__hf_files;

// A vocab and the memory behind it; v points into the arrays.
typedef struct {
    kv_hf_vocab v;
    char **tokens; // v.n_tokens owned strings
    float *scores; // NULL for BPE
    int32_t *types;
    char **merges; // v.n_merges owned strings
    char *chat_template;
} kv__hf_vocab_buf;

struct kv_hf {
    char *dir;
    char *name;     // cfg.name
    json_t *config; // keeps cfg's strings alive
    kv_hf_config cfg;
    kv__hf_vocab_buf voc;
    kv_safetensors *st;
};

// "dir/name", malloc'd (NULL when out of memory).
char *kv__hf_path(const char *dir, const char *name);
bool kv__hf_exists(const char *dir, const char *name);
// Loads dir/name into *out when the file exists; *out stays NULL when it does not.
kv_status kv__hf_json_opt(const char *dir, const char *name, json_t **out, kv_err *err);

// Fills cfg from config.json (path is used in messages). Strings borrow from config.
// n_vocab is 0 when config.json has no vocab_size.
kv_status kv__hf_config_parse(const json_t *config, const char *path, kv_hf_config *cfg,
                              kv_err *err);

// Allocates n tokens (all NULL), types, and scores when with_scores.
kv_status kv__hf_vocab_alloc(kv__hf_vocab_buf *b, int64_t n, bool with_scores, const char *what,
                             kv_err *err);
void kv__hf_vocab_free(kv__hf_vocab_buf *b);
// Replaces token i with a copy of s (len bytes).
kv_status kv__hf_vocab_set(kv__hf_vocab_buf *b, int64_t i, const char *s, size_t len,
                           kv_err *err);
// The same with every U+2581 ("▁") replaced by a space: how llama.cpp stores
// user-defined added tokens (pre-normalised).
kv_status kv__hf_vocab_set_unescaped(kv__hf_vocab_buf *b, int64_t i, const char *s,
                                     kv_err *err);

// The vocab from tokenizer.model plus added tokens, as llama.cpp's converter builds it.
kv_status kv__hf_vocab_spm(const kv__hf_files *f, int64_t n_vocab, kv__hf_vocab_buf *b,
                           kv_err *err);
// The vocab from tokenizer.json's BPE model ("gpt2", or "llama" for byte-fallback BPE).
kv_status kv__hf_vocab_bpe(const kv__hf_files *f, int64_t n_vocab, kv__hf_vocab_buf *b,
                           kv_err *err);
// The WordPiece vocab from tokenizer.json's WordPiece model, or from vocab.txt
// when the folder has no tokenizer.json (hf_wpm.c).
kv_status kv__hf_vocab_wpm(const kv__hf_files *f, int64_t n_vocab, kv__hf_vocab_buf *b,
                           kv_err *err);
// Special token ids, add_bos/add_eos and the chat template, as gguf-py's
// SpecialVocab finds them. Ids at or over n_limit are ignored (n_limit < 0: no limit).
kv_status kv__hf_special(const kv__hf_files *f, int64_t n_limit, kv__hf_vocab_buf *b,
                         kv_err *err);

// Added tokens that llama.cpp treats as control tokens even when not marked special.
bool kv__hf_token_looks_special(const char *s);

#endif
