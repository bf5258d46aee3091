// kv_onnx_export: a GGUF decoder written as an ONNX model in ONNX Runtime GenAI's
// decoder layout (model.onnx + model.onnx.data + genai_config.json), weights
// streamed tensor by tensor. Graph: ai.onnx opset KV_ONNX_EXPORT_OPSET (IR
// KV_ONNX_EXPORT_IR) with explicit RMSNorm, rotate-half RoPE from cos/sin
// tables, attention with a Concat KV cache; int4 weights use com.microsoft
// MatMulNBits (opset 1).
#ifndef KV_ONNX_EXPORT_H
#define KV_ONNX_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_core.h"
#include "kvant/kv_status.h"

#define KV_ONNX_EXPORT_IR 8
#define KV_ONNX_EXPORT_OPSET 17

typedef enum {
    KV_ONNX_FP32 = 0,
    KV_ONNX_FP16, // weights stored as float16, Cast to float before each MatMul
    KV_ONNX_INT4, // MatMulNBits, 4 bits
    KV_ONNX_INT8, // MatMulNBits, 8 bits (Q8_0 transcoded exactly)
} kv_onnx_precision;

// What each weight's MatMul/MatMulNBits takes as its input.
typedef enum {
    KV_ONNX_ACT_FLOAT = 0, // float32 activations (ONNX Runtime's own arithmetic)
    KV_ONNX_ACT_Q8,        // rounded first, in the graph, to the 8-bit blocks kvant's runtime
                           // (as llama.cpp) quantizes that GGUF weight type's activations to:
                           // Q8_0/Q8_1 (32 values, amax / 127 scale stored as float16, roundf)
                           // or Q8_K (256 values, -127 / signed max, nearest even); float and
                           // F16/BF16 weights keep float activations
} kv_onnx_activations;

typedef struct {
    kv_onnx_precision precision;
    int block;          // int4/int8 block size: 32, 64 or 128 (0: 32)
    int accuracy_level; // MatMulNBits accuracy_level (0: unset, fp32 compute; 4: int8 activations)
    kv_onnx_activations activations;
    bool kv_f16;        // past/present in float16 (half the cache memory); queries are
                        // rounded through float16 too, as kvant's own runtime does
    bool write_tokenizer; // derive tokenizer.model + tokenizer_config.json from a
                          // SentencePiece GGUF vocabulary (other vocabularies: nothing)
    kv_progress_fn progress; // may be NULL
    void *progress_user;
} kv_onnx_export_opts;

// How one weight was written.
typedef enum {
    KV_ONNX_W_FLOAT = 0,  // float32 or float16 as asked (dequantized exactly from the source)
    KV_ONNX_W_EXACT,      // int4/int8, transcoded from the source blocks without requantizing
    KV_ONNX_W_REQUANT,    // int4/int8, requantized from the source values
    KV_ONNX_W_KEPT_FLOAT, // int4 asked, kept float32: an output layer stored at > 5 bits/weight
} kv_onnx_weight_how;

typedef struct {
    char name[96];      // the GGUF tensor name
    uint32_t from_type; // its kv_type
    kv_onnx_weight_how how;
    uint64_t bytes;     // bytes written
    uint32_t act_type;  // the kv_type its input is rounded through (KV_ONNX_ACT_Q8:
                        // KV_TYPE_Q8_0, _Q8_1 or _Q8_K), else KV_TYPE_F32
} kv_onnx_export_tensor;

typedef struct {
    int64_t n_tensors;
    kv_onnx_export_tensor *tensors;
    int64_t n_exact, n_requant, n_kept_float;
    uint64_t model_bytes, data_bytes; // model.onnx and model.onnx.data
    int64_t n_nodes;
    bool tokenizer_written; // write_tokenizer asked and the vocabulary is SentencePiece
} kv_onnx_export_report;

void kv_onnx_export_report_free(kv_onnx_export_report *r); // accepts NULL

// Exports the GGUF model at gguf_path into the folder dir (created if missing;
// files in it with the same names are replaced). Architectures: llama (also
// mistral), qwen2, qwen3, gemma2, gemma3, phi3 (not LongRoPE: KV_ERR_UNSUPPORTED). Each file goes through a temporary renamed on success.
// On success *report (may be NULL) is owned by the caller.
kv_status kv_onnx_export(const char *gguf_path, const char *dir, const kv_onnx_export_opts *o,
                         kv_onnx_export_report **report, kv_err *err);


// ---- kv_onnx_quantize: any ONNX model's MatMul/Gemm weights quantized ----
typedef enum {
    KV_ONNXQ_DYNAMIC = 0, // int8 weights; activations quantized at run time
    KV_ONNXQ_INT4,        // MatMul -> com.microsoft MatMulNBits (4 bits)
    KV_ONNXQ_STATIC,      // QDQ on activations (ranges from a calibration table) and weights
    KV_ONNXQ_EXPOSE,      // nothing quantized: the activation input of every MatMul/Gemm that
                          // static mode would quantize is added as a graph output, for a
                          // runtime to record the calibration table
} kv_onnx_quant_mode;

// Calibration methods: how a calibration table entry with a histogram becomes a range.
typedef enum {
    KV_ONNX_CALIB_MINMAX = 0, // [min, max]
    KV_ONNX_CALIB_PERCENTILE, // |x| clipped at the percentile (default 99.99) of its histogram
    KV_ONNX_CALIB_ENTROPY,    // |x| clipped where the KL divergence of 128-level quantization is least
} kv_onnx_calib_method;

typedef struct {
    kv_onnx_quant_mode mode;
    bool qdq;              // dynamic: DequantizeLinear on weights instead of MatMulInteger
    bool per_channel;      // dynamic/static: one int8 scale per output column
    int block;             // int4: 32, 64 or 128 (0: 32)
    bool symmetric;        // int4: no zero points (implicit 8)
    int accuracy_level;    // int4: MatMulNBits accuracy_level (0: unset)
    const char *calib_table; // static: JSON {tensor: [min, max] or {"min", "max", "abs_hist"}}
    kv_onnx_calib_method method; // static: how a histogram entry becomes a range
    double percentile;           // KV_ONNX_CALIB_PERCENTILE (0: 99.99)
    const char *exclude_nodes;    // comma-separated node names, may be NULL
    const char *exclude_op_types; // comma-separated op types (MatMul, Gemm), may be NULL
} kv_onnx_quant_opts;

// What happened to one MatMul/Gemm node.
typedef struct {
    char node[128];
    char op[16];
    bool quantized;
    char what[200]; // how it was quantized, or why it was left float
} kv_onnx_quant_entry;

typedef struct {
    int64_t n_entries;
    kv_onnx_quant_entry *entries;
    int64_t n_quantized, n_float;
    uint64_t weight_bytes_in, weight_bytes_out; // the quantized weights, before and after
    bool external;            // the output keeps big initializers in OUT.data
} kv_onnx_quant_report;

void kv_onnx_quant_report_free(kv_onnx_quant_report *r); // accepts NULL

// Quantizes in_path's MatMul/Gemm nodes whose weight is a float32 2-D initializer
// and writes out_path (through a temporary renamed on success; external data, when
// the input had any, goes to out_path + ".data"). Nodes it cannot quantize stay
// float and the report says why; nothing quantized is not an error.
kv_status kv_onnx_quantize(const char *in_path, const char *out_path,
                           const kv_onnx_quant_opts *o, kv_onnx_quant_report **report,
                           kv_err *err);

#endif
