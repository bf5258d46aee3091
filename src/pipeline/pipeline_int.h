// Internal to pipeline/: the tensor emitter shared by convert (HF -> GGUF) and
// quantize (GGUF -> GGUF). Callers describe each output tensor with a row reader
// and a chosen type; the emitter streams rows through the quantizer into the file.
#ifndef KV_PIPELINE_INT_H
#define KV_PIPELINE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_convert.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_imatrix.h"
#include "kvant/kv_mix.h"

// Reads n_rows rows (ne[0] floats each) starting at row0 into dst.
typedef kv_status (*kv__read_rows_fn)(const void *ctx, int64_t row0, int64_t n_rows, float *dst,
                                      kv_err *err);

// Writes n_rows rows of dst_type blocks starting at row0 into dst (a source
// already in the written type's layout: MLX groups transcoded to Q4_1 / Q8_0).
typedef kv_status (*kv__read_raw_fn)(const void *ctx, int64_t row0, int64_t n_rows, void *dst,
                                     kv_err *err);

typedef struct {
    char name[96];             // GGUF tensor name
    uint32_t n_dims;
    int64_t ne[4];             // ne[0] = row length; unused dims are 1
    uint32_t src_type;         // kv_type of the source, for the report
    kv__read_rows_fn read_rows;
    const void *ctx;           // for read_rows; borrowed
    bool read_mt;              // read_rows may run on several threads at once (own rows each)
    const void *raw;           // source bytes, copied as they are when dst_type == src_type
    uint32_t dst_type;         // chosen by the caller
    uint8_t mlx, mlx_bits, mlx_why; // kv_convert_tensor.mlx*
    int32_t mlx_group;
    kv__read_raw_fn read_raw;  // when set, rows of dst_type come from it (no quantizing)
    bool fallback;             // dst_type is a fallback for wanted_type
    uint32_t wanted_type;
    const float *imatrix;      // ne[0] importance weights or NULL; borrowed
    const void *src_data;      // mapped source bytes, released after the tensor is written
    size_t src_size;
} kv__emit_tensor;

// Declares every tensor in w (whose metadata is already set), writes the file
// to out_path and fills report (may be NULL). Rows are read and quantized a
// bounded chunk at a time, split over n_threads threads (same bytes for any count).
kv_status kv__emit_gguf(kv_gguf_writer *w, const char *out_path, const kv__emit_tensor *ts,
                        int64_t n, int n_threads, kv_progress_fn progress, void *progress_user,
                        kv_convert_report *report, kv_err *err);

// Chooses each tensor's type with the mix rules for o->ftype (tensors in the order
// they will be written), attaches importance-matrix rows and checks the matrix
// fits the model. In convert mode a tensor the rules leave unquantized becomes
// F32 (llama.cpp's converter); otherwise it keeps its type. *im receives the open
// importance matrix (or NULL); the tensors borrow its rows, so close it after writing.
kv_status kv__plan_types(kv__emit_tensor *ts, int64_t n, const kv_mix_model *model,
                         const kv_quant_plan_opts *o, bool convert_mode, kv_imatrix **im,
                         kv_err *err);

// Writes the quantize.imatrix.* keys llama-quantize adds.
kv_status kv__set_imatrix_keys(kv_gguf_writer *w, const char *path, const kv_imatrix *im,
                               kv_err *err);

// kv_convert_hf for a llama2.c checkpoint file (convert_llama2c.c).
kv_status kv__convert_llama2c(const char *model_path, const char *out_path,
                              const kv_convert_opts *opts, kv_convert_report *report,
                              kv_err *err);

// The Hugging Face name of a GGUF tensor (convert.c's tables read backwards);
// *permute 1 for llama q, 2 for k rows. False when kvant has no HF name for it.
// arch picks Gemma's norm names and Phi-3's fused qkv_proj / gate_up_proj.
bool kv__hf_name_of(const char *gguf, const char *arch, char *out, size_t cap, int *permute);

#endif
