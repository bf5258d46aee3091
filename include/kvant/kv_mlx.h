// mlx-lm model folders: Hugging Face layout (config.json, safetensors, tokenizer
// files) whose quantized linear and embedding layers hold three tensors,
//   NAME.weight  uint32 [rows, cols * bits / 32]: values packed along the input
//                dimension, value k of a row at bits (k * bits) % 32 of word k * bits / 32
//                (little-endian, low bits first),
//   NAME.scales, NAME.biases  float16/bfloat16/float32 [rows, cols / group_size],
// and the affine map w = scale * q + bias per group. config.json names the layout:
// "quantization": {"group_size": G, "bits": B, "mode": "affine"} (mirrored in
// "quantization_config"), with per-module overrides keyed by module path
// ("model.layers.0.mlp.down_proj": {"group_size": 64, "bits": 8} or false).
#ifndef KV_MLX_H
#define KV_MLX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_blocks.h"
#include "kvant/kv_safetensors.h"
#include "kvant/kv_status.h"

#define KV_MLX_MAX_CONFIG ((size_t)16 << 20) // bytes of config.json

typedef struct {
    int bits;       // 0: the module is not quantized
    int group_size;
} kv_mlx_quant;

typedef struct kv_mlx_config kv_mlx_config;

// Parses config.json's text (file names it in errors). *out is NULL when the
// config has no quantization; a quantization entry of the wrong form (bits or
// group_size not a positive integer, bits over 8, a mode other than affine, an
// override that is neither an object nor false) is an error naming the field.
kv_status kv_mlx_config_parse(const void *json, size_t n, const char *file, kv_mlx_config **out,
                              kv_err *err);
// dir/config.json, as above.
kv_status kv_mlx_config_load(const char *dir, kv_mlx_config **out, kv_err *err);
void kv_mlx_config_free(kv_mlx_config *c);
// The layout of a module ("model.layers.0.self_attn.q_proj"): its override, else the default.
kv_mlx_quant kv_mlx_quant_of(const kv_mlx_config *c, const char *module);
kv_mlx_quant kv_mlx_default_quant(const kv_mlx_config *c);

// One quantized layer of a checkpoint.
typedef struct {
    const kv_st_tensor *w, *scales, *biases;
    kv_mlx_quant q;
    int64_t rows, cols;   // of the unpacked weight (filled by kv_mlx_linear_check)
    bool f16_exact;       // every scale and bias is exactly a float16 value
    bool q8_0_exact;      // bits 8, group 32, f16_exact and bias == -128 * scale in every group
} kv_mlx_linear;

// Checks l's tensors against l->q (packed uint32 weight of the right shape, scales
// and biases of a float dtype and shape [rows, cols / group]); bits 2, 4 and 8 are
// read (3, 5 and 6 pack values across words and are refused). Errors name the file
// and the tensor.
kv_status kv_mlx_linear_check(kv_mlx_linear *l, kv_err *err);
// Row r dequantized to cols floats.
void kv_mlx_dequant_row(const kv_mlx_linear *l, int64_t r, float *dst);
// Row r as GGUF blocks of 32 without requantizing: Q4_1 (bits 4, group 32,
// f16_exact: d = scale, m = bias) or Q8_0 (q8_0_exact: d = scale, q = q_mlx - 128).
void kv_mlx_row_to_q4_1(const kv_mlx_linear *l, int64_t r, kv_block_q4_1 *dst);
void kv_mlx_row_to_q8_0(const kv_mlx_linear *l, int64_t r, kv_block_q8_0 *dst);

// Writing: one row of cols values into packed words (cols * bits / 32) and
// float16 scales and biases (cols / group each).
// From GGUF blocks, exact: Q4_1 -> bits 4, group 32; Q8_0 -> bits 8, group 32
// (bias = -128 * d, exact in float16 while |d| < 512; false otherwise).
void kv_mlx_row_from_q4_1(const kv_block_q4_1 *b, int64_t cols, uint32_t *packed,
                          uint16_t *scales, uint16_t *biases);
bool kv_mlx_row_from_q8_0(const kv_block_q8_0 *b, int64_t cols, uint32_t *packed,
                          uint16_t *scales, uint16_t *biases);
// From floats, requantized: per group scale = (max - min) / (2^bits - 1), bias = min
// (both rounded to float16 first), q = round((w - bias) / scale) clamped. bits 2, 4 or 8.
void kv_mlx_quantize_row(const float *x, int64_t cols, kv_mlx_quant q, uint32_t *packed,
                         uint16_t *scales, uint16_t *biases);

#endif
