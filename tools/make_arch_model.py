#!/usr/bin/env python3
"""Writes a tiny random-weight Hugging Face checkpoint of one model family, for
kvant's architecture tests (tests/integration/test_arch_families.sh).

  make_arch_model.py FAMILY OUT_DIR [--seed N]

FAMILY is llama3 (Llama 3.2 shape: rope_theta 500000, rope_scaling llama3, tied
embeddings), qwen2 (Qwen2.5 shape: q/k/v biases, tied embeddings) or qwen3
(Qwen3 shape: per-head q/k RMS norms, head_dim 96 != hidden/heads, tied) or
gemma2 (Gemma 2 shape: sandwich norms stored as w for (1 + w), GeGLU, soft-capped
attention and logits, query_pre_attn_scalar 48 != head_dim 64, sliding window 8
on layer 0; the norm weights lie on a 1/16 grid so that 1 + w is exact in BF16) or
gemma3 (Gemma 3 text shape: as gemma2 plus per-head q/k norms, no attention
soft-cap, 6 layers of which layer 5 is global, local RoPE base 10000 next to a
global 1000000 with linear scaling 8) or phi3 (Phi-3-mini-4k shape: q/k/v stacked in
qkv_proj, gate and up in gate_up_proj, untied lm_head, sliding_window 2047 that
llama.cpp and kvant leave off, rope_scaling null) or phi3long (as phi3 with longrope:
original context 64, max_position_embeddings 256, random short/long factor lists) or
phi4mini (Phi-4-mini shape: partial_rotary_factor 0.75, tied embeddings, no window)
or smollm2 (SmolLM2 shape: Llama with tied embeddings and rope_theta 100000, and a
SmolLM-style byte-level BPE tokenizer from tools/make_bpe_tokenizer.py: 859 tokens,
vocab_size 4096 as the embedding, the rest padding).
or bert (BertModel, an encoder for embeddings: post-LayerNorm, GELU, learned
positions, token types; max_position_embeddings 128; its own WordPiece tokenizer
from tools/make_bert_tokenizer.py and sentence-transformers' modules.json with
--pooling mean|cls).
2 layers, hidden 256, 4 heads / 2 KV heads, BF16 safetensors written with numpy.
The tokenizer is borrowed from the demo model (SentencePiece, 4096 tokens), so the
test does not depend on the family's real BPE tokenizer; config.json says so.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

HIDDEN, LAYERS, HEADS, KV_HEADS, FF, VOCAB = 256, 2, 4, 2, 512, 4096

FAMILIES = {
    "llama3": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "head_dim": 64, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
        "max_position_embeddings": 131072, "tie_word_embeddings": True,
        "attention_bias": False, "mlp_bias": False, "hidden_act": "silu",
        "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    },
    "qwen2": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "max_position_embeddings": 32768,
        "tie_word_embeddings": True, "hidden_act": "silu", "sliding_window": 32768,
        "use_sliding_window": False, "max_window_layers": 21, "rope_scaling": None,
    },
    "qwen3": {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
        "head_dim": 96, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
        "max_position_embeddings": 40960, "tie_word_embeddings": True, "hidden_act": "silu",
        "attention_bias": False, "sliding_window": None, "use_sliding_window": False,
        "max_window_layers": 28, "rope_scaling": None,
    },
    "gemma2": {
        "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2",
        "head_dim": 64, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
        "max_position_embeddings": 8192, "tie_word_embeddings": True,
        "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh",
        "query_pre_attn_scalar": 48, "sliding_window": 8, "attn_logit_softcapping": 3.0,
        "final_logit_softcapping": 30.0, "attention_bias": False, "cache_implementation": "hybrid",
    },
    "gemma3": {
        "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text",
        "num_hidden_layers": 6, "head_dim": 64, "rope_theta": 1000000.0,
        "rope_local_base_freq": 10000.0, "rope_scaling": {"rope_type": "linear", "factor": 8.0},
        "rms_norm_eps": 1e-6, "max_position_embeddings": 32768, "tie_word_embeddings": True,
        "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 48,
        "sliding_window": 8, "sliding_window_pattern": 6, "attn_logit_softcapping": None,
        "final_logit_softcapping": None, "attention_bias": False,
    },
    "phi3long": {
        "architectures": ["Phi3ForCausalLM"], "model_type": "phi3",
        "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "max_position_embeddings": 256,
        "original_max_position_embeddings": 64, "sliding_window": 2047,
        "tie_word_embeddings": False, "hidden_act": "silu",
    },
    "smollm2": {  # SmolLM2-135M-Instruct shape: Llama, tied, rope_theta 100000, GPT-2 BPE
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "head_dim": 64, "rope_theta": 100000.0, "rms_norm_eps": 1e-5,
        "max_position_embeddings": 8192, "tie_word_embeddings": True, "attention_bias": False,
        "mlp_bias": False, "hidden_act": "silu", "rope_scaling": None,
    },
    "phi4mini": {  # Phi-4-mini shape: partial rotary (0.75: 48 of 64 dims), tied, no window
        "architectures": ["Phi3ForCausalLM"], "model_type": "phi3",
        "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096,
        "original_max_position_embeddings": 4096, "sliding_window": None,
        "partial_rotary_factor": 0.75, "tie_word_embeddings": True, "hidden_act": "silu",
        "rope_scaling": None,
    },
    "phi3": {
        "architectures": ["Phi3ForCausalLM"], "model_type": "phi3",
        "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096,
        "original_max_position_embeddings": 4096, "sliding_window": 2047,
        "tie_word_embeddings": False, "hidden_act": "silu", "rope_scaling": None,
    },
}


def bf16_round(a):
    """float32 -> the nearest bfloat16 (round to nearest even), as uint16 bits."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def write_safetensors(path, tensors):
    """tensors: name -> float32 array; stored as BF16."""
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = bf16_round(a).tobytes()
        header[name] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def make_weights(family, cfg, rng):
    hd = cfg.get("head_dim", HIDDEN // HEADS)
    nq, nk = HEADS * hd, KV_HEADS * hd

    def mat(rows, cols, gain=1.0):
        return (gain * rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    def gemma_norm(n, center):  # stored w, applied as 1 + w; on a 1/16 grid
        return (np.round((center + 0.1 * rng.standard_normal(n)) * 16) / 16).astype(np.float32)

    if family.startswith("gemma"):
        return make_gemma(cfg, mat, gemma_norm, rng, nq, nk, hd)
    t = {"model.embed_tokens.weight": rng.standard_normal((VOCAB, HIDDEN)).astype(np.float32)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = norm(HIDDEN)
        t[p + "self_attn.q_proj.weight"] = mat(nq, HIDDEN)
        t[p + "self_attn.k_proj.weight"] = mat(nk, HIDDEN)
        t[p + "self_attn.v_proj.weight"] = mat(nk, HIDDEN)
        if family == "qwen2":
            t[p + "self_attn.q_proj.bias"] = (0.5 * rng.standard_normal(nq)).astype(np.float32)
            t[p + "self_attn.k_proj.bias"] = (0.5 * rng.standard_normal(nk)).astype(np.float32)
            t[p + "self_attn.v_proj.bias"] = (0.5 * rng.standard_normal(nk)).astype(np.float32)
        if family == "qwen3":
            t[p + "self_attn.q_norm.weight"] = norm(hd)
            t[p + "self_attn.k_norm.weight"] = norm(hd)
        # blocks' outputs large next to the token's own embedding: with tied
        # embeddings greedy decoding would otherwise repeat the last token
        t[p + "self_attn.o_proj.weight"] = mat(HIDDEN, nq, 6.0)
        t[p + "post_attention_layernorm.weight"] = norm(HIDDEN)
        t[p + "mlp.gate_proj.weight"] = mat(FF, HIDDEN)
        t[p + "mlp.up_proj.weight"] = mat(FF, HIDDEN)
        t[p + "mlp.down_proj.weight"] = mat(HIDDEN, FF, 6.0)
    t["model.norm.weight"] = norm(HIDDEN)
    if family.startswith("phi"):  # fused as the checkpoint stores them; its own lm_head
        for i in range(LAYERS):
            p = f"model.layers.{i}."
            t[p + "self_attn.qkv_proj.weight"] = np.concatenate(
                [t.pop(p + f"self_attn.{n}_proj.weight") for n in "qkv"])
            t[p + "mlp.gate_up_proj.weight"] = np.concatenate(
                [t.pop(p + "mlp.gate_proj.weight"), t.pop(p + "mlp.up_proj.weight")])
        if not cfg["tie_word_embeddings"]:
            t["lm_head.weight"] = mat(VOCAB, HIDDEN, 4.0)
    return t


def make_bert(cfg, rng):
    """BertModel's tensors (HF names); LayerNorm weights near 1, biases small."""
    H, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def vec(n, center=0.0, scale=0.1):
        return (center + scale * rng.standard_normal(n)).astype(np.float32)

    e = "embeddings."
    t = {e + "word_embeddings.weight": rng.standard_normal((V, H)).astype(np.float32),
         e + "position_embeddings.weight": (0.5 * rng.standard_normal(
             (cfg["max_position_embeddings"], H))).astype(np.float32),
         e + "token_type_embeddings.weight": (0.5 * rng.standard_normal(
             (cfg["type_vocab_size"], H))).astype(np.float32),
         e + "LayerNorm.weight": vec(H, 1.0), e + "LayerNorm.bias": vec(H)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            t[p + f"attention.self.{n}.weight"] = mat(H, H)
            t[p + f"attention.self.{n}.bias"] = vec(H)
        t[p + "attention.output.dense.weight"] = mat(H, H)
        t[p + "attention.output.dense.bias"] = vec(H)
        t[p + "attention.output.LayerNorm.weight"] = vec(H, 1.0)
        t[p + "attention.output.LayerNorm.bias"] = vec(H)
        t[p + "intermediate.dense.weight"] = mat(F, H)
        t[p + "intermediate.dense.bias"] = vec(F)
        t[p + "output.dense.weight"] = mat(H, F)
        t[p + "output.dense.bias"] = vec(H)
        t[p + "output.LayerNorm.weight"] = vec(H, 1.0)
        t[p + "output.LayerNorm.bias"] = vec(H)
    t["pooler.dense.weight"] = mat(H, H)  # in real checkpoints; converters drop it
    t["pooler.dense.bias"] = vec(H)
    return t


def write_bert(out, seed, pooling):
    here = os.path.dirname(os.path.abspath(__file__))
    import subprocess
    n = int(subprocess.run([sys.executable, os.path.join(here, "make_bert_tokenizer.py"), out],
                           check=True, capture_output=True, text=True).stdout)
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": HIDDEN,
           "intermediate_size": FF, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
           "vocab_size": n, "max_position_embeddings": 128, "type_vocab_size": 2,
           "layer_norm_eps": 1e-12, "hidden_act": "gelu", "position_embedding_type": "absolute",
           "pad_token_id": 0, "torch_dtype": "bfloat16",
           "_kvant_note": "random weights for tests; tokenizer from make_bert_tokenizer.py"}
    write_safetensors(os.path.join(out, "model.safetensors"),
                      make_bert(cfg, np.random.default_rng(seed)))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize"}], f, indent=2)
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    with open(os.path.join(out, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": HIDDEN,
                   "pooling_mode_cls_token": pooling == "cls",
                   "pooling_mode_mean_tokens": pooling == "mean",
                   "pooling_mode_max_tokens": False}, f, indent=2)


def make_gemma(cfg, mat, gemma_norm, rng, nq, nk, hd):
    # embedding x sqrt(256) has rms 4; the post norms (1 + w ~ 8) make the blocks
    # outweigh it (else tied embeddings repeat the last token greedily); the final
    # norm (1 + w ~ 1) leaves logits up to ~20, where the soft-cap of 30 bends them
    # (tanh(2/3) = 0.58) without flattening the largest into the cap
    t = {"model.embed_tokens.weight": (0.25 * rng.standard_normal((VOCAB, HIDDEN))).astype(np.float32)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = gemma_norm(HIDDEN, 0.0)
        if cfg["model_type"] == "gemma3_text":
            t[p + "self_attn.q_norm.weight"] = gemma_norm(hd, 0.0)
            t[p + "self_attn.k_norm.weight"] = gemma_norm(hd, 0.0)
        t[p + "self_attn.q_proj.weight"] = mat(nq, HIDDEN)
        t[p + "self_attn.k_proj.weight"] = mat(nk, HIDDEN)
        t[p + "self_attn.v_proj.weight"] = mat(nk, HIDDEN)
        t[p + "self_attn.o_proj.weight"] = mat(HIDDEN, nq)
        t[p + "post_attention_layernorm.weight"] = gemma_norm(HIDDEN, 7.0)
        t[p + "pre_feedforward_layernorm.weight"] = gemma_norm(HIDDEN, 0.0)
        t[p + "mlp.gate_proj.weight"] = mat(FF, HIDDEN)
        t[p + "mlp.up_proj.weight"] = mat(FF, HIDDEN)
        t[p + "mlp.down_proj.weight"] = mat(HIDDEN, FF)
        t[p + "post_feedforward_layernorm.weight"] = gemma_norm(HIDDEN, 7.0)
    t["model.norm.weight"] = gemma_norm(HIDDEN, 0.0)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("family", choices=sorted(list(FAMILIES) + ["bert"]))
    ap.add_argument("--pooling", choices=("mean", "cls"), default="mean", help="bert only")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tokenizer-from", default=None,
                    help="folder with tokenizer.model (default: models/kjv-llama-7m)")
    a = ap.parse_args()
    if a.family == "bert":
        os.makedirs(a.out, exist_ok=True)
        write_bert(a.out, a.seed, a.pooling)
        return
    here = os.path.dirname(os.path.abspath(__file__))
    tok = a.tokenizer_from or os.path.join(here, "..", "models", "kjv-llama-7m")
    cfg = {
        "hidden_size": HIDDEN, "intermediate_size": FF, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "vocab_size": VOCAB,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
        "_kvant_note": "random weights for tests; tokenizer borrowed from kjv-llama-7m "
                       "(SentencePiece, 4096 tokens), not the family's own",
    }
    cfg.update(FAMILIES[a.family])
    if a.family == "phi3long":
        half = HIDDEN // HEADS // 2
        r = np.random.default_rng(a.seed + 100)
        cfg["rope_scaling"] = {
            "type": "longrope",
            "short_factor": [float(x) for x in np.round(1 + r.random(half), 3)],
            "long_factor": [float(x) for x in np.round(1 + 8 * r.random(half), 3)]}
    os.makedirs(a.out, exist_ok=True)
    if a.family == "smollm2":  # its own GPT-2-style BPE, ChatML ids as SmolLM2-Instruct
        import subprocess
        subprocess.run([sys.executable, os.path.join(here, "make_bpe_tokenizer.py"), a.out],
                       check=True, capture_output=True)
        cfg.update({"bos_token_id": 1, "eos_token_id": 2,
                    "_kvant_note": "random weights for tests; tokenizer from make_bpe_tokenizer.py"})
    rng = np.random.default_rng(a.seed)
    write_safetensors(os.path.join(a.out, "model.safetensors"), make_weights(a.family, cfg, rng))
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        if a.family == "smollm2":
            break
        src = os.path.join(tok, name)
        if not os.path.exists(src):
            if name == "tokenizer.model":
                sys.exit(f"make_arch_model.py: {src}: missing (the borrowed tokenizer)")
            continue
        shutil.copyfile(src, os.path.join(a.out, name))


if __name__ == "__main__":
    main()
