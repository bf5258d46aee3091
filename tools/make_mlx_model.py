#!/usr/bin/python3
"""Writes a small mlx-lm style folder (as mlx-community publishes them) with random
weights, for kvant's MLX reader tests: config.json with the fields of
mlx-community/Llama-3.2-1B-Instruct-4bit (quantization {group_size 64, bits 4}
mirrored in quantization_config, per-module overrides, tie_word_embeddings,
rope_scaling llama3, eos_token_id as a list), model.safetensors with packed uint32
weights and bfloat16/float16 scales and biases, and the demo model's SentencePiece
tokenizer files (the shapes use its 4096-token vocabulary).

Layers written, so that every path of the reader is taken:
  - default: bits 4, group 64, bfloat16 scales/biases (dequantized by kvant)
  - layers.0.mlp.down_proj: bits 8, group 32, bias = -128 * scale, float16 (Q8_0 exactly)
  - layers.1.self_attn.q_proj and .k_proj: bits 4, group 32, bfloat16 values that are
    float16 values too (Q4_1 exactly; q/k rows permuted by kvant)
  - layers.1.self_attn.v_proj: bits 4, group 32, bfloat16 scales NOT representable in
    float16 (kvant must dequantize instead of transcoding)
  - layers.1.mlp.gate_proj: false (a float bfloat16 weight)
  - layers.1.mlp.up_proj: bits 2, group 64
  - layers.1.mlp.down_proj: bits 8, group 32 with any bias (dequantized: no GGUF type
    holds an 8-bit affine group with a free minimum)
Usage: make_mlx_model.py OUT_DIR TOKENIZER_DIR [--seed N]"""
import json
import os
import shutil
import sys

import numpy as np

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FF, LAYERS, VOCAB = 64, 4, 2, 16, 128, 2, 4096


def bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def quantize(w, bits, group, scale_dtype, rng, q8_exact=False, f16_exact=False,
             not_f16=False):
    """Random affine MLX quantization of w's shape: returns packed, scales, biases
    (as raw arrays with their safetensors dtype names)."""
    rows, cols = w.shape
    ng = cols // group
    q = rng.integers(0, 1 << bits, size=(rows, cols), dtype=np.uint32)
    scales = (rng.random((rows, ng), dtype=np.float32) * 0.02 + 0.001).astype(np.float32)
    if q8_exact:
        scales = scales.astype(np.float16).astype(np.float32)
        biases = -128.0 * scales
    else:
        biases = (rng.random((rows, ng), dtype=np.float32) - 0.5) * 0.1
    if f16_exact:  # values with 8 significant bits and a float16 exponent: both forms hold them
        scales = bf16_value(bf16_bits(scales))
        biases = bf16_value(bf16_bits(biases))
    if not_f16:  # bfloat16 values below float16's normal range lose bits in float16
        scales[:, 0] = bf16_value(bf16_bits(np.full(rows, 3.3e-7, np.float32)))
    per = 32 // bits
    packed = np.zeros((rows, cols // per), dtype=np.uint32)
    for k in range(per):
        packed |= q[:, k::per] << np.uint32(k * bits)
    if scale_dtype == "BF16":
        s, b = bf16_bits(scales), bf16_bits(biases)
    else:
        s, b = scales.astype(np.float16), biases.astype(np.float16)
    return packed, (s, scale_dtype), (b, scale_dtype)


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "mlx"}}, [], 0
    for name, (arr, dtype) in tensors.items():
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    out, tok = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--seed" else 7
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    overrides = {
        "model.layers.0.mlp.down_proj": {"group_size": 32, "bits": 8},
        "model.layers.1.self_attn.q_proj": {"group_size": 32, "bits": 4},
        "model.layers.1.self_attn.k_proj": {"group_size": 32, "bits": 4},
        "model.layers.1.self_attn.v_proj": {"group_size": 32, "bits": 4},
        "model.layers.1.mlp.gate_proj": False,
        "model.layers.1.mlp.up_proj": {"group_size": 64, "bits": 2},
        "model.layers.1.mlp.down_proj": {"group_size": 32, "bits": 8},
    }
    quant = dict({"group_size": 64, "bits": 4}, **overrides)
    config = {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": [2, 2],
        "head_dim": HEAD_DIM, "hidden_act": "silu", "hidden_size": HIDDEN,
        "initializer_range": 0.02, "intermediate_size": FF, "max_position_embeddings": 131072,
        "mlp_bias": False, "model_type": "llama", "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS, "num_key_value_heads": KV_HEADS, "pretraining_tp": 1,
        "quantization": quant, "quantization_config": quant, "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "transformers_version": "4.45.0.dev0", "use_cache": True, "vocab_size": VOCAB,
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=4)
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.exists(os.path.join(tok, name)):
            shutil.copy(os.path.join(tok, name), os.path.join(out, name))
    shapes = {"self_attn.q_proj": (HEADS * HEAD_DIM, HIDDEN),
              "self_attn.k_proj": (KV_HEADS * HEAD_DIM, HIDDEN),
              "self_attn.v_proj": (KV_HEADS * HEAD_DIM, HIDDEN),
              "self_attn.o_proj": (HIDDEN, HEADS * HEAD_DIM),
              "mlp.gate_proj": (FF, HIDDEN), "mlp.up_proj": (FF, HIDDEN),
              "mlp.down_proj": (HIDDEN, FF)}
    tensors = {}

    def linear(module, shape):
        o = quant.get(module)
        if o is False:
            w = rng.standard_normal(shape, dtype=np.float32) * 0.05
            tensors[module + ".weight"] = (bf16_bits(w), "BF16")
            return
        o = o or {}
        bits, group = o.get("bits", 4), o.get("group_size", 64)
        kw = {}
        dtype = "BF16"
        if bits == 8 and group == 32 and ".0." in module:
            kw, dtype = {"q8_exact": True}, "F16"
        elif module.endswith(("q_proj", "k_proj")) and group == 32:
            kw = {"f16_exact": True}
        elif module.endswith("v_proj") and group == 32:
            kw = {"not_f16": True}
        p, s, b = quantize(np.zeros(shape), bits, group, dtype, rng, **kw)
        tensors[module + ".weight"] = (p, "U32")
        tensors[module + ".scales"] = s
        tensors[module + ".biases"] = b

    linear("model.embed_tokens", (VOCAB, HIDDEN))
    for i in range(LAYERS):
        for m, shape in shapes.items():
            linear(f"model.layers.{i}.{m}", shape)
        for n in ("input_layernorm", "post_attention_layernorm"):
            w = 1.0 + rng.standard_normal(HIDDEN, dtype=np.float32) * 0.1
            tensors[f"model.layers.{i}.{n}.weight"] = (bf16_bits(w), "BF16")
    tensors["model.norm.weight"] = (bf16_bits(np.ones(HIDDEN, np.float32)), "BF16")
    write_safetensors(os.path.join(out, "model.safetensors"), tensors)


if __name__ == "__main__":
    main()
