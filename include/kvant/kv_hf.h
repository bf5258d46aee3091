// Hugging Face model folders: config.json, safetensors weights, and the tokenizer
// (tokenizer.model for SentencePiece, tokenizer.json for BPE), tokenizer_config.json,
// special_tokens_map.json and generation_config.json.
#ifndef KV_HF_H
#define KV_HF_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_safetensors.h"
#include "kvant/kv_status.h"

#define KV_HF_MAX_JSON ((size_t)64 << 20) // bytes of any JSON file in the folder
#define KV_HF_MAX_VOCAB 1000000
#define KV_HF_MAX_ROPE_FACTORS 512 // longrope factors per list (head_dim / 2)

// One row of the architecture table: a Hugging Face class and what kvant makes of it.
typedef struct {
    const char *hf_class; // "LlamaForCausalLM"
    const char *arch;     // GGUF general.architecture: "llama"
} kv_hf_arch;

// Architectures kvant converts; terminated by a row of NULLs.
extern const kv_hf_arch kv_hf_arch_table[];

typedef struct {
    const char *hf_class;   // from config.json "architectures"[0]
    const char *arch;       // GGUF architecture name
    // n_vocab is config.json's vocab_size, or the tokenizer's size when it has none
    // (as llama.cpp's converter does).
    int64_t n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_ctx;
    bool head_dim_given;    // config.json has head_dim (llama.cpp then writes key_length)
    float rope_theta;       // rope_theta (default 10000)
    float rms_eps;          // rms_norm_eps
    bool tie_embeddings;    // tie_word_embeddings
    // rope_scaling: type "linear"/"yarn"/"llama3"... or NULL when absent
    const char *rope_scaling_type;
    float rope_scaling_factor;
    int64_t rope_scaling_orig_ctx; // original_max_position_embeddings, 0 when absent
    // llama3 scaling: rope_scaling's low_freq_factor / high_freq_factor (defaults 1 and 4)
    // and the top-level original_max_position_embeddings (default 8192), where
    // llama.cpp's converter reads it for the rope_freqs table
    float rope_low_freq_factor, rope_high_freq_factor;
    int64_t rope_llama3_orig_ctx;
    bool rope_orig_ctx_given;      // phi3: config.json has original_max_position_embeddings
    // phi3 longrope: rope_scaling's short_factor / long_factor (n_rope_factors each,
    // head_dim / 2, frequency divisors) and llama.cpp's attention factor
    // sqrt(1 + ln(max_position_embeddings / original) / ln(original)), 1 when not longer
    int64_t n_rope_factors;
    int64_t rope_dims;             // phi3: rotary dimensions per head (partial_rotary_factor)
    float rope_short[KV_HF_MAX_ROPE_FACTORS], rope_long[KV_HF_MAX_ROPE_FACTORS];
    float rope_attn_factor;
    int64_t sliding_window;        // 0 when absent (Mistral); gemma2: every even layer's
    // gemma2: attn_logit_softcapping / final_logit_softcapping (0: none) and
    // query_pre_attn_scalar (queries scaled by 1/sqrt of it)
    float attn_softcap, final_softcap;
    int64_t query_pre_attn_scalar;
    float rope_local_base;         // gemma3: rope_local_base_freq of the sliding layers
    // bert: type_vocab_size (default 2); rms_eps holds layer_norm_eps (default 1e-12);
    // pooling from sentence-transformers' modules.json: 1 mean, 2 CLS, -1 not stated
    int64_t n_token_types;
    int pooling_type;
    const char *torch_dtype;       // or NULL
    const char *name;              // model name (the folder's base name)
} kv_hf_config;

// GGUF token types (tokenizer.ggml.token_type), the same numbers SentencePiece uses.
enum {
    KV_TOKEN_NORMAL = 1,
    KV_TOKEN_UNKNOWN = 2,
    KV_TOKEN_CONTROL = 3,
    KV_TOKEN_USER_DEFINED = 4,
    KV_TOKEN_UNUSED = 5,
    KV_TOKEN_BYTE = 6,
};

typedef struct {
    const char *model;   // tokenizer.ggml.model: "llama" (SentencePiece), "gpt2" (BPE) or
                         // "bert" (WordPiece)
    const char *pre;     // tokenizer.ggml.pre: "default" for SentencePiece
    int64_t n_tokens;
    const char *const *tokens;
    const float *scores;      // NULL for BPE
    const int32_t *types;
    int64_t n_merges;         // BPE only
    const char *const *merges;
    // -1 when not set. Found as gguf-py's SpecialVocab finds them: token names in
    // tokenizer_config.json mapped through tokenizer.json's added_tokens, then
    // config.json's <type>_token_id. Every id set here is one llama.cpp writes.
    int64_t bos_id, eos_id, unk_id, pad_id, sep_id;
    int add_bos, add_eos;     // 1/0, or -1 when not stated
    int add_space_prefix;     // SentencePiece add_dummy_prefix; -1 when unknown
    // tokenizer_config.json "add_prefix_space" (1/0), -1 when absent. llama.cpp's
    // converter writes tokenizer.ggml.add_space_prefix only from this field.
    int add_space_prefix_cfg;
    bool remove_extra_whitespaces;
    bool byte_fallback;
    const char *chat_template; // or NULL
} kv_hf_vocab;

typedef struct kv_hf kv_hf;

// Opens a model folder: parses config.json (architecture from kv_hf_arch_table;
// others fail with KV_ERR_UNSUPPORTED naming the class), the tokenizer files and
// the safetensors weights. Errors name the file and the field.
kv_status kv_hf_open(const char *dir, kv_hf **out, kv_err *err);
void kv_hf_close(kv_hf *hf);

// Borrowed; valid until kv_hf_close.
const kv_hf_config *kv_hf_config_of(const kv_hf *hf);
const kv_hf_vocab *kv_hf_vocab_of(const kv_hf *hf);
const kv_safetensors *kv_hf_tensors(const kv_hf *hf);
const char *kv_hf_dir(const kv_hf *hf);

// Llama q/k weights: Hugging Face keeps, within each head of head_dim rows, the
// first halves of all rotation pairs and then the second halves (rotate-half RoPE);
// GGUF interleaves them. The HF row that GGUF row r holds, and the GGUF row that
// holds HF row r (inverse permutations; every row format, blocks included, moves whole).
static inline int64_t kv_hf_qk_hf_row(int64_t r, int64_t head_dim) {
    const int64_t h = r / head_dim, k = r % head_dim;
    return h * head_dim + (k % 2) * (head_dim / 2) + k / 2;
}
static inline int64_t kv_hf_qk_gguf_row(int64_t r, int64_t head_dim) {
    const int64_t h = r / head_dim, j = r % head_dim, half = head_dim / 2;
    return h * head_dim + 2 * (j % half) + j / half;
}

#endif
