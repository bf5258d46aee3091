#!/usr/bin/env python3
"""Write a tiny Llama checkpoint in Hugging Face layout with random weights.

For tests that need shapes the demo model doesn't have (rows that are not a
multiple of 256, tied embeddings, sharded weights). Standard library only; the
tokenizer files are copied from a model folder given with --tokenizer-from.

    make_tiny_model.py OUT_DIR --hidden 96 --ff 160 --layers 2 --heads 4 --kv-heads 2
"""
import argparse
import json
import os
import random
import shutil
import struct


def bf16_bytes(values):
    out = bytearray()
    for v in values:
        u = struct.unpack("<I", struct.pack("<f", v))[0]
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        out += struct.pack("<H", u)
    return bytes(out)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, shape, data in tensors:
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tokenizer-from", required=True)
    ap.add_argument("--hidden", type=int, default=96)
    ap.add_argument("--ff", type=int, default=160)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--tied", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    for f in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        src = os.path.join(a.tokenizer_from, f)
        if os.path.exists(src):
            shutil.copy(src, a.out)
    with open(os.path.join(a.tokenizer_from, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    h, ff, hd = a.hidden, a.ff, a.hidden // a.heads
    kv = hd * a.kv_heads

    def mat(rows, cols):
        return bf16_bytes([rnd.gauss(0, 0.05) for _ in range(rows * cols)])

    t = [("model.embed_tokens.weight", [vocab, h], mat(vocab, h))]
    for i in range(a.layers):
        p = f"model.layers.{i}."
        t += [(p + "self_attn.q_proj.weight", [h, h], mat(h, h)),
              (p + "self_attn.k_proj.weight", [kv, h], mat(kv, h)),
              (p + "self_attn.v_proj.weight", [kv, h], mat(kv, h)),
              (p + "self_attn.o_proj.weight", [h, h], mat(h, h)),
              (p + "mlp.gate_proj.weight", [ff, h], mat(ff, h)),
              (p + "mlp.up_proj.weight", [ff, h], mat(ff, h)),
              (p + "mlp.down_proj.weight", [h, ff], mat(h, ff)),
              (p + "input_layernorm.weight", [h], bf16_bytes([1.0] * h)),
              (p + "post_attention_layernorm.weight", [h], bf16_bytes([1.0] * h))]
    t.append(("model.norm.weight", [h], bf16_bytes([1.0] * h)))
    if not a.tied:
        t.append(("lm_head.weight", [vocab, h], mat(vocab, h)))
    write_safetensors(os.path.join(a.out, "model.safetensors"), t)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": h,
           "intermediate_size": ff, "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
           "num_key_value_heads": a.kv_heads, "max_position_embeddings": 256,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "vocab_size": vocab,
           "tie_word_embeddings": a.tied, "bos_token_id": 1, "eos_token_id": 2,
           "torch_dtype": "bfloat16"}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


if __name__ == "__main__":
    main()
