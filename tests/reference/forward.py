#!/usr/bin/env python3
"""An independent numpy forward pass of Llama (incl. 3.x rope scaling), Qwen2,
Qwen3 and Gemma 2 checkpoints, written from the definitions in Hugging Face
transformers' modeling_llama.py / modeling_qwen2.py / modeling_qwen3.py /
modeling_gemma2.py (rotate-half RoPE, grouped-query attention, SwiGLU; Gemma 2:
embedding x sqrt(hidden), (1 + w) RMS norms before and after attention and the
MLP, GeGLU with gelu-tanh, scores x query_pre_attn_scalar^-0.5 soft-capped,
sliding window on even layers, soft-capped logits; Gemma 3 from modeling_gemma3.py:
(1 + w) q/k norms, every 6th layer global, local layers with rope_local_base_freq
unscaled; Phi-3 from modeling_phi3.py: qkv_proj and gate_up_proj split, no
sliding window, as llama.cpp runs it; Phi-4-mini's partial_rotary_factor: RoPE on
the first factor x head_dim dimensions of each head), computed in float64.

  forward.py MODEL_DIR --tokens 1,2,3 [--logits F32FILE] [--greedy-ids "5 6 7"]
             [--max-rel 1e-4] [--kv-f16]

With --logits, compares kvant's logits (float32 rows n_tokens x n_vocab, from
`kvant logits`) and prints the largest |difference| relative to the largest
|logit|; with --greedy-ids, regenerates that many tokens greedily (full
recompute each step) and counts the agreeing prefix. --kv-f16 rounds q, k and v
to float16 after RoPE, as kvant's (and llama.cpp's) F16 KV cache does.
--no-window ignores Gemma 2's sliding window (to show that it matters);
--rope-factors picks Phi-3 longrope's short or long list. --write FILE saves the
reference logits (float32 rows) for other comparisons.
BERT (modeling_bert.py, model_type bert): --embedding JSON compares kvant's pooled
(--pooling mean|cls), unit-length embedding of --tokens with the reference's.
Exit 1 when the error is over --max-rel or a greedy token differs.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[a:b]
        if info["dtype"] == "BF16":
            v = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] == "F32":
            v = np.frombuffer(raw, dtype=np.float32)
        elif info["dtype"] == "F16":
            v = np.frombuffer(raw, dtype=np.float16)
        else:
            sys.exit(f"{path}: tensor {name} has dtype {info['dtype']}")
        out[name] = v.astype(np.float64).reshape(info["shape"])
    return out


def inv_freq(cfg, hd):
    base = cfg.get("rope_theta", 10000.0)
    f = 1.0 / (base ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "llama3":  # modeling_rope_utils._compute_llama3_parameters
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        wavelen = 2 * np.pi / f
        scaled = np.where(wavelen > old / lo, f / factor, f)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / hi) & ~(wavelen > old / lo)
        f = np.where(medium, smoothed, scaled)
    elif kind == "longrope":  # _compute_longrope_parameters; which list: --rope-factors
        f = f / np.array(rs[cfg.get("_rope_factors", "short") + "_factor"], dtype=np.float64)
    elif kind == "linear":
        f = f / rs["factor"]
    elif kind not in (None, "default"):
        sys.exit(f"forward.py: rope_scaling {kind} is not implemented here")
    return f


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def softcap(x, cap):
    return cap * np.tanh(x / cap) if cap else x


def forward(cfg, W, tokens, kv_f16, last_only=False, window=True):
    E = cfg["hidden_size"]
    gemma = cfg["model_type"] in ("gemma2", "gemma3_text")
    gemma3 = cfg["model_type"] == "gemma3_text"
    # Gemma's norms multiply by (1 + w); the others by w
    nw = (lambda name: 1.0 + W[name]) if gemma else (lambda name: W[name])
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    hd = cfg.get("head_dim") or E // nh
    eps = cfg["rms_norm_eps"]
    T = len(tokens)
    x = W["model.embed_tokens.weight"][tokens]
    if gemma:
        x = x * np.sqrt(E)
    scale = cfg.get("query_pre_attn_scalar", hd) ** -0.5 if gemma else hd ** -0.5
    def cos_sin(freqs):
        ang = np.outer(np.arange(T, dtype=np.float64), freqs)
        emb = np.concatenate([ang, ang], axis=-1)
        return np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]

    rot = int(cfg.get("partial_rotary_factor", 1.0) * hd)  # Phi-4-mini: the first rot dims
    rope_global = cos_sin(inv_freq(cfg, rot))
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type")) == "longrope":  # cos and sin x attention factor
        orig = rs.get("original_max_position_embeddings") or cfg["original_max_position_embeddings"]
        ratio = cfg["max_position_embeddings"] / orig
        mscale = np.sqrt(1 + np.log(ratio) / np.log(orig)) if ratio > 1 else 1.0
        rope_global = (rope_global[0] * mscale, rope_global[1] * mscale)
    if gemma3:  # the sliding layers: their own base, no scaling
        local_base = cfg.get("rope_local_base_freq", 10000.0)
        rope_local = cos_sin(1.0 / (local_base ** (np.arange(0, hd, 2, dtype=np.float64) / hd)))
    mask = np.triu(np.full((T, T), -np.inf), 1)
    f16 = (lambda a: a.astype(np.float16).astype(np.float64)) if kv_f16 else (lambda a: a)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rmsnorm(x, nw(p + "input_layernorm.weight"), eps)
        m = mask
        sliding = gemma and ((i + 1) % 6 != 0 if gemma3 else i % 2 == 0)
        cos, sin = rope_local if gemma3 and sliding else rope_global
        if sliding and window:  # sliding layer: keys older than the window
            ij = np.arange(T)[:, None] - np.arange(T)[None, :]
            m = np.where(ij >= cfg["sliding_window"], -np.inf, mask)

        def proj(n):
            y = h @ W[p + f"self_attn.{n}_proj.weight"].T
            b = W.get(p + f"self_attn.{n}_proj.bias")
            return y + b if b is not None else y

        q = proj("q").reshape(T, nh, hd)
        k = proj("k").reshape(T, nkv, hd)
        v = proj("v").reshape(T, nkv, hd)
        if p + "self_attn.q_norm.weight" in W:  # Qwen3: RMS norm per head before RoPE
            q = rmsnorm(q, nw(p + "self_attn.q_norm.weight"), eps)
            k = rmsnorm(k, nw(p + "self_attn.k_norm.weight"), eps)
        def rope(a):
            r = a[..., :rot] * cos + rotate_half(a[..., :rot]) * sin
            return np.concatenate([r, a[..., rot:]], axis=-1)

        q = f16(rope(q))
        k = f16(rope(k))
        v = f16(v)
        g = nh // nkv
        out = np.empty((T, nh, hd))
        for head in range(nh):
            s = softcap(q[:, head, :] @ k[:, head // g, :].T * scale,
                        cfg.get("attn_logit_softcapping") if gemma else None) + m
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            out[:, head, :] = s @ v[:, head // g, :]
        o = out.reshape(T, nh * hd) @ W[p + "self_attn.o_proj.weight"].T
        if gemma:
            o = rmsnorm(o, nw(p + "post_attention_layernorm.weight"), eps)
        x = x + o
        ffn_norm = "pre_feedforward_layernorm" if gemma else "post_attention_layernorm"
        h = rmsnorm(x, nw(p + ffn_norm + ".weight"), eps)
        gate = h @ W[p + "mlp.gate_proj.weight"].T
        up = h @ W[p + "mlp.up_proj.weight"].T
        act = gelu_tanh(gate) if gemma else gate / (1 + np.exp(-gate))
        o = (act * up) @ W[p + "mlp.down_proj.weight"].T
        if gemma:
            o = rmsnorm(o, nw(p + "post_feedforward_layernorm.weight"), eps)
        x = x + o
    h = rmsnorm(x[-1:] if last_only else x, nw("model.norm.weight"), eps)
    out_w = W.get("lm_head.weight")
    if out_w is None or cfg.get("tie_word_embeddings"):
        out_w = W["model.embed_tokens.weight"]
    return softcap(h @ out_w.T, cfg.get("final_logit_softcapping") if gemma else None)


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps) * w + b


def gelu_erf(x):
    from math import erf
    return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def bert_forward(cfg, W, tokens, kv_f16):
    """BertModel (modeling_bert.py): word + position + token type 0 embeddings,
    LayerNorm; per layer self-attention over every token (no mask), output dense,
    residual, LayerNorm; intermediate dense, GELU (erf), output dense, residual,
    LayerNorm. Returns the last hidden states (T x hidden)."""
    E, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    hd, eps, T = E // nh, cfg.get("layer_norm_eps", 1e-12), len(tokens)
    f16 = (lambda a: a.astype(np.float16).astype(np.float64)) if kv_f16 else (lambda a: a)
    e = "embeddings."
    x = (W[e + "word_embeddings.weight"][tokens] + W[e + "position_embeddings.weight"][:T] +
         W[e + "token_type_embeddings.weight"][0])
    x = layer_norm(x, W[e + "LayerNorm.weight"], W[e + "LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def dense(name, h):
            return h @ W[p + name + ".weight"].T + W[p + name + ".bias"]

        q = f16(dense("attention.self.query", x)).reshape(T, nh, hd)
        k = f16(dense("attention.self.key", x)).reshape(T, nh, hd)
        v = f16(dense("attention.self.value", x)).reshape(T, nh, hd)
        out = np.empty((T, nh, hd))
        for head in range(nh):
            s = q[:, head, :] @ k[:, head, :].T / np.sqrt(hd)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            out[:, head, :] = s @ v[:, head, :]
        x = layer_norm(x + dense("attention.output.dense", out.reshape(T, E)),
                       W[p + "attention.output.LayerNorm.weight"],
                       W[p + "attention.output.LayerNorm.bias"], eps)
        h = gelu_erf(dense("intermediate.dense", x))
        x = layer_norm(x + dense("output.dense", h), W[p + "output.LayerNorm.weight"],
                       W[p + "output.LayerNorm.bias"], eps)
    return x


def pooled(hidden, pooling):
    """sentence-transformers' pooling (mean over tokens, or the first token) and
    its Normalize module (unit length)."""
    v = hidden[0] if pooling == "cls" else hidden.mean(axis=0)
    return v / np.linalg.norm(v)


def split_fused(cfg, W):
    """Phi-3's fused weights as the separate q/k/v and gate/up ones (Phi3Attention:
    q rows, then k, then v; Phi3MLP: gate rows, then up)."""
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    hd = cfg["hidden_size"] // nh
    for name in [n for n in W if n.endswith("self_attn.qkv_proj.weight")]:
        p, qkv = name[: -len("qkv_proj.weight")], W.pop(name)
        W[p + "q_proj.weight"] = qkv[: nh * hd]
        W[p + "k_proj.weight"] = qkv[nh * hd: (nh + nkv) * hd]
        W[p + "v_proj.weight"] = qkv[(nh + nkv) * hd:]
    for name in [n for n in W if n.endswith("mlp.gate_up_proj.weight")]:
        p, gu = name[: -len("gate_up_proj.weight")], W.pop(name)
        ff = gu.shape[0] // 2
        W[p + "gate_proj.weight"], W[p + "up_proj.weight"] = gu[:ff], gu[ff:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--logits")
    ap.add_argument("--write", help="also write the reference logits here (float32 rows)")
    ap.add_argument("--greedy-ids")
    ap.add_argument("--max-rel", type=float, default=1e-4)
    ap.add_argument("--kv-f16", action="store_true")
    ap.add_argument("--no-window", action="store_true")
    ap.add_argument("--rope-factors", choices=("short", "long"), default="short",
                    help="longrope: the list used (llama.cpp: long when the context is over "
                         "original_max_position_embeddings)")
    ap.add_argument("--embedding", help="bert: a JSON list, kvant's embedding of --tokens")
    ap.add_argument("--pooling", choices=("mean", "cls"), default="mean")
    a = ap.parse_args()
    with open(os.path.join(a.model, "config.json")) as f:
        cfg = json.load(f)
    cfg["_rope_factors"] = a.rope_factors
    W = load_safetensors(os.path.join(a.model, "model.safetensors"))
    split_fused(cfg, W)
    tokens = [int(t) for t in a.tokens.split(",")]
    ok = True
    if cfg["model_type"] == "bert":  # an encoder: compare pooled, normalized embeddings
        ref = pooled(bert_forward(cfg, W, tokens, a.kv_f16), a.pooling)
        got = np.array(json.load(open(a.embedding)), dtype=np.float64)
        if got.shape != ref.shape:
            sys.exit(f"forward.py: {a.embedding}: {got.size} values, expected {ref.size}")
        rel = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
        print(f"max relative embedding error {rel:.3e} over {ref.size} values, {len(tokens)} "
              f"tokens, {a.pooling} pooling (limit {a.max_rel:g})")
        sys.exit(0 if rel <= a.max_rel else 1)
    ref = forward(cfg, W, tokens, a.kv_f16, window=not a.no_window)
    if a.logits:
        got = np.fromfile(a.logits, dtype="<f4").astype(np.float64)
        if got.size != ref.size:
            sys.exit(f"forward.py: {a.logits}: {got.size} values, expected {ref.size}")
        rel = np.max(np.abs(got.reshape(ref.shape) - ref)) / np.max(np.abs(ref))
        print(f"max relative logit error {rel:.3e} over {ref.shape[0]} x {ref.shape[1]} "
              f"(limit {a.max_rel:g})")
        ok = ok and rel <= a.max_rel
    if a.write:
        ref.astype("<f4").tofile(a.write)
    if a.greedy_ids is not None:
        want = [int(t) for t in a.greedy_ids.split()]
        seq, agree = list(tokens), 0
        for t in want:
            nxt = int(np.argmax(forward(cfg, W, seq, a.kv_f16, True, not a.no_window)[-1]))
            if nxt != t:
                break
            agree += 1
            seq.append(nxt)
        print(f"greedy tokens agree: {agree}/{len(want)}")
        ok = ok and agree == len(want) and len(want) > 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
