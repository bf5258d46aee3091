// File types (llama.cpp's llama_ftype, stored as general.file_type) and the
// per-tensor type mixes of llama-quantize: which tensor of a model gets which
// ggml type for a file type such as Q4_K_M. The choice replicates llama.cpp's
// llama-quant.cpp at commit c392e5094 so that kvant's files match its tensor
// for tensor. No quantization arithmetic happens here (see kv_quant.h).
#ifndef KV_MIX_H
#define KV_MIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"
#include "kvant/kv_types.h"

// ---- file types ----

// llama.cpp's file type ids. Missing numbers were removed from llama.cpp.
typedef enum {
    KV_FTYPE_COPY = -1, // llama-quantize's COPY: keep every tensor as it is (not a file id)
    KV_FTYPE_ALL_F32 = 0,
    KV_FTYPE_F16 = 1,
    KV_FTYPE_Q4_0 = 2,
    KV_FTYPE_Q4_1 = 3,
    KV_FTYPE_Q8_0 = 7,
    KV_FTYPE_Q5_0 = 8,
    KV_FTYPE_Q5_1 = 9,
    KV_FTYPE_Q2_K = 10,
    KV_FTYPE_Q3_K_S = 11,
    KV_FTYPE_Q3_K_M = 12,
    KV_FTYPE_Q3_K_L = 13,
    KV_FTYPE_Q4_K_S = 14,
    KV_FTYPE_Q4_K_M = 15,
    KV_FTYPE_Q5_K_S = 16,
    KV_FTYPE_Q5_K_M = 17,
    KV_FTYPE_Q6_K = 18,
    KV_FTYPE_IQ2_XXS = 19,
    KV_FTYPE_IQ2_XS = 20,
    KV_FTYPE_Q2_K_S = 21,
    KV_FTYPE_IQ3_XS = 22,
    KV_FTYPE_IQ3_XXS = 23,
    KV_FTYPE_IQ1_S = 24,
    KV_FTYPE_IQ4_NL = 25,
    KV_FTYPE_IQ3_S = 26,
    KV_FTYPE_IQ3_M = 27,
    KV_FTYPE_IQ2_S = 28,
    KV_FTYPE_IQ2_M = 29,
    KV_FTYPE_IQ4_XS = 30,
    KV_FTYPE_IQ1_M = 31,
    KV_FTYPE_BF16 = 32,
    KV_FTYPE_TQ1_0 = 36,
    KV_FTYPE_TQ2_0 = 37,
} kv_ftype;

// Facts about one file type.
typedef struct {
    kv_ftype id;
    const char *name;   // canonical name: "Q4_K_M", "F32", "COPY"
    const char *alias;  // a second accepted name ("Q4_K" for Q4_K_M) or NULL
    const char *desc;   // one line for help texts
    kv_type base_type;  // the type most tensors get; KV_TYPE_COUNT for COPY
    double bpw;         // bits per weight of base_type (a mix comes out a little higher); 0 for COPY
    bool supported;     // kvant can write it; the IQ1/IQ2/IQ3 mixes are known but not yet
    bool needs_imatrix; // llama-quantize refuses it without an importance matrix
} kv_ftype_info;

// The row for ftype id, or NULL when the id is unknown. Thread-safe; the pointer
// is valid for the life of the program.
const kv_ftype_info *kv_ftype_get(kv_ftype id);

// Canonical name of a file type, or "?" when unknown.
const char *kv_ftype_name(kv_ftype id);

// Looks a file type up the way llama-quantize does: by canonical name or alias,
// case-insensitively ("q4_k_m", "Q4_K"), or by its decimal id ("15"). COPY has
// no id. Returns NULL when nothing matches; known but unsupported types are found.
const kv_ftype_info *kv_ftype_find(const char *name);

// Like kv_ftype_find, for user input: KV_ERR_INVALID for an unknown name (the
// message lists the valid ones), KV_ERR_UNSUPPORTED for a file type kvant cannot
// write yet (IQ1/IQ2/IQ3 mixes). *out is set only on success.
kv_status kv_ftype_parse(const char *name, kv_ftype *out, kv_err *err);

// Writes the names kvant accepts, comma-separated ("F32, F16, BF16, Q4_0, ...,
// COPY"), into buf (always NUL-terminated when size > 0). Returns the length the
// full list needs, excluding the NUL, like snprintf.
size_t kv_ftype_list_names(char *buf, size_t size);

// True when llama-quantize refuses ftype without an importance matrix
// (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, Q2_K_S).
bool kv_ftype_needs_imatrix(kv_ftype id);

// KV_OK unless ftype needs an importance matrix and has_imatrix is false; then
// KV_ERR_INVALID with a message that says so.
kv_status kv_ftype_check_imatrix(kv_ftype id, bool has_imatrix, kv_err *err);

// ---- per-tensor choice ----

typedef struct kv_mix kv_mix;

// What the rules need to know about the model.
typedef struct {
    const char *arch;   // general.architecture; NULL means "llama" (falcon has its own rules)
    int n_layer;        // {arch}.block_count
    int n_head;         // {arch}.attention.head_count
    int n_head_kv;      // {arch}.attention.head_count_kv (0: same as n_head)
    int n_expert;       // {arch}.expert_count (0 for dense models)
    // Every tensor name in the input file, any order: the rules count attn_v-like
    // tensors and look for output.weight (absent: the embeddings are tied).
    const char *const *tensor_names;
    size_t n_tensors;
} kv_mix_model;

// llama-quantize's options. Initialise with kv_mix_options_init.
typedef struct {
    bool pure;                    // --pure: every quantized tensor gets the base type
    bool leave_output_tensor;     // --leave-output-tensor: output.weight is copied as it is
    bool has_imatrix;             // --imatrix given (some rules depend on it)
    kv_type output_tensor_type;   // --output-tensor-type; KV_TYPE_COUNT = not given
    kv_type token_embedding_type; // --token-embedding-type; KV_TYPE_COUNT = not given
    // --tensor-type PATTERN=TYPE strings (borrowed, only during kv_mix_new); the
    // last '=' splits them. PATTERN is a POSIX extended regex, matched
    // case-insensitively anywhere in the name (like std::regex_search); \d and \D
    // outside brackets mean [0-9] and [^0-9]. The first pattern that matches a
    // tensor llama-quantize would quantize at all sets its type, also with --pure
    // or a float file type. It applies after the mix rules (which still count the
    // tensor) and before --output-tensor-type / --token-embedding-type.
    const char *const *tensor_types;
    size_t n_tensor_types;
} kv_mix_options;

// Sets every option to its default (nothing set, no patterns).
void kv_mix_options_init(kv_mix_options *opts);

// The decision for one tensor.
typedef struct {
    kv_type type;      // the type to write
    bool quantize;     // false: copy the tensor's bytes unchanged (type is its current type)
    bool fallback;     // the row length is not a multiple of wanted's block size
    kv_type wanted;    // the type chosen before the fallback (== type without one)
    bool overridden;   // a --tensor-type pattern chose wanted
} kv_mix_choice;

// Creates a plan that chooses tensor types for ftype. model and opts (NULL:
// defaults) are read during the call only. Fails with KV_ERR_INVALID for an
// unknown ftype, negative model facts, a missing tensor name, a malformed
// PATTERN=TYPE (the message quotes it), a pattern regcomp rejects, or a type
// (in a pattern or the output/embedding options) that is not F32/F16/BF16 or a
// block-quantized type; KV_ERR_NOMEM when allocation fails.
// The plan accepts every known ftype, even those kvant cannot write yet: the
// choice is well defined; whether it can be written is kv_ftype_parse's concern.
// On success *out owns the plan (release with kv_mix_free); on failure *out is NULL.
kv_status kv_mix_new(kv_ftype ftype, const kv_mix_model *model, const kv_mix_options *opts,
                     kv_mix **out, kv_err *err);

// Chooses the type of one tensor. Call it once per tensor in the order the
// output file is written (llama-quantize's order: see kv_mix_name_cmp), since
// some rules count the attn_v / ffn_down tensors seen so far. cur_type is the
// tensor's type in the input; ne[0..n_dims-1] its shape, ne[0] the row length
// (trailing sizes of 1 do not count as dimensions, as in ggml).
// The row-length fallback applies to every choice, including --pure and the
// user's types; llama.cpp checks it only inside the mix rules and otherwise
// fails later, so the results differ only where llama.cpp would fail.
// Fails with KV_ERR_INVALID for bad arguments or, in a mixture-of-experts model,
// an expert tensor whose name has no valid "blk.N." layer; KV_ERR_UNSUPPORTED
// when the row length fits neither the chosen type nor any fallback llama.cpp
// defines for it. Not thread-safe for one plan.
kv_status kv_mix_choose(kv_mix *plan, const char *name, kv_type cur_type, int n_dims,
                        const int64_t *ne, kv_mix_choice *out, kv_err *err);

// Number of fallbacks kv_mix_choose has taken so far.
int kv_mix_n_fallback(const kv_mix *plan);

// Frees the plan; NULL is fine.
void kv_mix_free(kv_mix *plan);

// llama.cpp's tensor order (its model loader's map): tensors outside "blk.N."
// first, then by layer number, then by name (bytewise). A qsort-style comparison.
int kv_mix_name_cmp(const char *a, const char *b);

// True when llama.cpp would refuse to quantize tensor `name` to `type` without
// importance data for it (IQ1/IQ2 types, and Q2_K in a Q2_K_S file except the
// token embeddings).
bool kv_mix_needs_imatrix(kv_ftype ftype, const char *name, kv_type type);

#endif
