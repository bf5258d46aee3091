// Writing GGUF files from other models: Hugging Face folders (convert) and GGUF
// files of other types (quantize). Both stream tensor by tensor (a bounded
// number of rows at a time), choose each tensor's type, quantize rows on
// several threads and write through a temporary file renamed on success.
#ifndef KV_CONVERT_H
#define KV_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_core.h"
#include "kvant/kv_mix.h"
#include "kvant/kv_status.h"

// One written tensor, for the summary the caller prints.
typedef struct {
    char name[96];
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t from_type;   // kv_type of the source data
    uint32_t to_type;     // kv_type written
    uint64_t bytes;       // bytes written
    bool fallback;        // the mix's first choice did not fit the row length
    uint32_t wanted_type; // that first choice, when fallback
    uint8_t mlx;          // an MLX quantized layer: 0 no, 1 transcoded exactly, 2 dequantized
                          // and requantized (or written float) to to_type
    uint8_t mlx_bits;     // its MLX layout (bits, group size)
    int32_t mlx_group;
    uint8_t mlx_why;      // mlx == 2 with a layout GGUF could hold: 1 a scale or bias is not a
                          // float16 value, 2 (8 bits) a bias is not -128 * scale
} kv_convert_tensor;

typedef struct {
    int64_t n_tensors;
    kv_convert_tensor *tensors; // n_tensors entries, owned (kv_convert_report_free)
    uint64_t n_params;          // elements of all tensors
    uint64_t bytes_in;          // tensor data read
    uint64_t bytes_out;         // tensor data written
    uint64_t file_size;         // bytes of the output file
    int64_t n_fallbacks;
    double seconds;
} kv_convert_report;

void kv_convert_report_free(kv_convert_report *r);

// How tensors are typed and quantized; shared by convert and quantize.
typedef struct {
    kv_ftype ftype;                   // the file type (mix) to write
    const kv_mix_options *mix;        // llama-quantize's options; NULL for defaults
    const char *imatrix_path;         // importance matrix (llama.cpp imatrix.dat) or NULL
    const char *const *include_weights; // use the imatrix only for these tensors (exact names)
    size_t n_include;
    const char *const *exclude_weights; // never use it for these
    size_t n_exclude;
    bool no_fallback;                 // a type that does not fit a row length is an error
    int n_threads;                    // 0: one per CPU; at most KV_THREADPOOL_MAX_THREADS
    kv_progress_fn progress;          // may be NULL
    void *progress_user;
} kv_quant_plan_opts;

typedef struct {
    const char *outtype;     // file type name: "f32", "f16", "q4_k_m", "15", ... (case-insensitive)
    kv_quant_plan_opts plan; // plan.ftype is set from outtype
    const char *tokenizer;   // llama2.c checkpoints: tokenizer.bin (NULL: beside the model)
} kv_convert_opts;

// Converts a Hugging Face model folder (or, when src_dir is a file, a llama2.c
// checkpoint with opts->tokenizer) to a GGUF file at out_path: hyper-parameters
// and tokenizer as metadata, tensors renamed to GGUF names, q/k rows permuted
// from rotate-half to interleaved RoPE order, types chosen for opts->outtype.
// On failure nothing is left at out_path (an existing file there is kept).
// report (may be NULL) is filled on success; free it with kv_convert_report_free.
kv_status kv_convert_hf(const char *src_dir, const char *out_path, const kv_convert_opts *opts,
                        kv_convert_report *report, kv_err *err);

typedef struct {
    kv_quant_plan_opts plan;
    bool allow_requantize; // quantize tensors that are already quantized (loses quality)
} kv_quantize_opts;

// Quantizes a GGUF file to opts->plan.ftype the way llama-quantize does: the
// same metadata plus general.file_type, general.quantization_version and, with
// an importance matrix, quantize.imatrix.*; tensors in llama.cpp's order, typed
// by the mix rules. Input tensors of any type kvant can dequantize are read;
// already-quantized input is refused unless allow_requantize. Output is written
// to a temporary file and renamed, so a failure leaves nothing at out_path.
kv_status kv_quantize_gguf(const char *in_path, const char *out_path, const kv_quantize_opts *opts,
                           kv_convert_report *report, kv_err *err);

// kvant export mlx: a GGUF file as an mlx-lm folder (mlx_export.c).
typedef struct {
    int bits;               // 4 or 8 (0: 4)
    int group_size;         // 32, 64 or 128 (0: 32)
    const char *hf_config;  // config.json to start from (the Hugging Face source's), or NULL:
                            // written from the GGUF's metadata (llama, qwen2, qwen3)
    uint64_t max_shard_bytes; // more data than this: model-0000K-of-0000N.safetensors and
                              // model.safetensors.index.json (0: 5 GiB, as mlx-lm)
    kv_progress_fn progress;
    void *progress_user;
} kv_mlx_export_opts;

// Writes dir/model.safetensors (or shards with an index; HF tensor names, q/k rows of llama back in
// rotate-half order; every 2-D weight whose rows divide into groups quantized
// to MLX's affine groups, the rest kept float), dir/config.json (with
// "quantization" and "quantization_config" {group_size, bits}) and, without
// hf_config, tokenizer.model + tokenizer_config.json from a SentencePiece GGUF
// vocabulary. GGUF Q4_1 weights become bits 4 / group 32 and Q8_0 weights bits
// 8 / group 32 without requantizing; report->tensors[i].mlx says which were
// exact (1), requantized (2) or written float (0). Each file goes through a
// temporary renamed on success; a failure removes what this call wrote.
kv_status kv_mlx_export(const char *gguf_path, const char *dir, const kv_mlx_export_opts *o,
                        kv_convert_report *report, bool *tokenizer_written, kv_err *err);

#endif
