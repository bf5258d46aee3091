// All of kvant's public API: include this, or only the headers you use.
// Link with `pkg-config --cflags --libs kvant`. Each header compiles on its own
// (tests/integration/test_install.sh checks this, the list below and the
// prefixes). Headers in layer order, lowest first (DESIGN.md), with the function
// prefixes each one declares; a prefix that is not the header's name is listed:
#ifndef KVANT_H
#define KVANT_H

// core
#include "kvant/kv_status.h"     // kv_status_*, kv_err_*, kv__fail (through KV_FAIL)
#include "kvant/kv_core.h"       // bounded reader kv_rd_*, kv_le*, file maps kv_map_*, output
                                 // files kv_out_*, signal cleanup of temporaries kv_tmp_*,
                                 // kv_read_file, overflow checks kv_*_ok, kv_hex_digit
#include "kvant/kv_buf.h"        // kv_buf_*
#include "kvant/kv_f16.h"        // kv_f16_*, kv_bf16_*, kv_f32_* conversions
#include "kvant/kv_threadpool.h" // kv_threadpool_*, the thread-count setting kv_threads_*

// kernels' view of quant: the type table, block layouts and reference quantizers
#include "kvant/kv_types.h"  // kv_type_*
#include "kvant/kv_blocks.h" // block layouts kv_block_*; kv__quantize_q8_*, kv__iq3_*, kv__iq_grid_* (internal)
#include "kvant/kv_quant.h"  // kv_quant_*, kv_dequant_row

// formats and quant
#include "kvant/kv_gguf.h"        // kv_gguf_*
#include "kvant/kv_safetensors.h" // kv_safetensors_*, dtypes kv_st_*
#include "kvant/kv_spm.h"         // kv_spm_*
#include "kvant/kv_mlx.h"         // kv_mlx_*: mlx-lm quantized layers and config
#include "kvant/kv_onnx.h"        // kv_onnx_*: ONNX model summaries (kvant info)
#include "kvant/kv_onnx_export.h" // kv_onnx_export*: GGUF decoders as ONNX Runtime GenAI folders;
                                    // kv_onnx_quant*: any ONNX model's MatMul/Gemm weights quantized
#include "kvant/kv_hf.h"          // kv_hf_*
#include "kvant/kv_llama2c.h"     // kv_llama2c_*
#include "kvant/kv_imatrix.h"     // kv_imatrix_*
#include "kvant/kv_mix.h"         // file types kv_ftype_*, mixes kv_mix_*
#include "kvant/kv_pretok.h"      // KV_PRETOK_RE_*: pre-tokenizer regexes (data)

// tokenizer
#include "kvant/kv_tokenizer.h" // kv_vocab_*, kv_token*, kv_tokenize*, kv_detokenize*,
                                // kv_special_*, kv_utf8_*, kv_pretok_known
#include "kvant/kv_chat.h"      // kv_chat_*

// model
#include "kvant/kv_model.h"       // kv_model_*, contexts kv_ctx_*
#include "kvant/kv_vocab_gguf.h"  // the GGUF glue: kv_vocab_from_gguf, kv_chat_detect_gguf
#include "kvant/kv_sample.h"      // kv_sample_*
#include "kvant/kv_json_prefix.h" // kv_json_*, kv_sample_next_json (sampling under it)
#include "kvant/kv_json.h"        // kv_json_type_name: jansson value types in words
#include "kvant/kv_json_schema.h" // kv_json_schema_*, kv_json_match_*, kv_sample_next_schema: JSON schemas for sampling
#include "kvant/kv_jinja.h"       // kv_jinja_*: chat templates (a Jinja subset)
#include "kvant/kv_speculative.h" // kv_spec_*: speculative decoding (draft model, n-gram lookup)
#include "kvant/kv_gotmpl.h"      // kv_gotmpl_*: Ollama TEMPLATEs (a Go text/template subset)
#include "kvant/kv_generate.h"    // kv_generate, kv_gen_*

// eval
#include "kvant/kv_eval.h"  // kv_eval_*, kv_ppl_*, kv_kld_*, kv_logits_*
#include "kvant/kv_bench.h" // kv_bench_*

// pipeline
#include "kvant/kv_convert.h" // kv_convert*, kv_quantize_gguf (GGUF -> GGUF), kv_mlx_export

// serve
#include "kvant/kv_serve.h" // kv_serve_*

#endif
