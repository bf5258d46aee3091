#!/usr/bin/python3
"""Independent check of kvant's MLX reader (numpy only): dequantizes every tensor
of an mlx-lm folder (affine groups: w = scale * q + bias, values packed along the
input dimension, little-endian, low bits first) and every tensor of the GGUF kvant
converted it to (F32, F16, Q4_1, Q8_0 decoded here), undoes nothing but GGUF's
llama q/k row order (permuted here the way llama.cpp's converter documents it),
and compares. Tensors GGUF holds as Q4_1/Q8_0 must be bit-identical; F16 ones
within float16 rounding. Prints one line per tensor; exits 1 on any mismatch.
Usage: mlx_check.py MLX_DIR OUT.gguf"""
import json
import struct
import sys

import numpy as np

SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def read_gguf(path):
    data = open(path, "rb").read()
    off = 4
    def take(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, data, off)
        off += struct.calcsize("<" + fmt)
        return v[0]
    def string():
        nonlocal off
        n = take("Q")
        off += n
        return data[off - n:off].decode()
    def skip(t):
        nonlocal off
        if t == 8:
            string()
        elif t == 9:
            et, n = take("I"), take("Q")
            for _ in range(n):
                skip(et)
        else:
            off += SCALAR[t]
    assert data[:4] == b"GGUF"
    _, nt, nkv = take("I"), take("Q"), take("Q")
    for _ in range(nkv):
        string()
        skip(take("I"))
    infos = []
    for _ in range(nt):
        name, nd = string(), take("I")
        ne = [take("Q") for _ in range(nd)]
        infos.append((name, ne, take("I"), take("Q")))
    base = (off + 31) // 32 * 32
    out = {}
    for name, ne, t, o in infos:
        n = int(np.prod(ne))
        rows, cols = n // ne[0], ne[0]
        p = base + o
        if t == 0:
            v = np.frombuffer(data, np.float32, n, p)
        elif t == 1:
            v = np.frombuffer(data, np.float16, n, p).astype(np.float32)
        elif t == 3:  # Q4_1: f16 d, f16 m, 16 bytes: low nibbles = values 0..15, high = 16..31
            b = np.frombuffer(data, np.uint8, n // 32 * 20, p).reshape(-1, 20)
            d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
            m = b[:, 2:4].copy().view(np.float16).astype(np.float32)
            q = np.concatenate([b[:, 4:] & 15, b[:, 4:] >> 4], axis=1).astype(np.float32)
            v = d * q + m
        elif t == 8:  # Q8_0: f16 d, 32 int8
            b = np.frombuffer(data, np.uint8, n // 32 * 34, p).reshape(-1, 34)
            d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
            v = d * b[:, 2:].copy().view(np.int8).astype(np.float32)
        else:
            raise SystemExit(f"{path}: {name}: type {t} not decoded by this checker")
        out[name] = (t, np.asarray(v, np.float32).reshape(rows, cols))
    return out


def read_st(path):
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    h = json.loads(data[8:8 + n])
    out = {}
    for name, info in h.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[8 + n + a:8 + n + b]
        dt = info["dtype"]
        if dt == "BF16":
            v = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif dt == "F16":
            v = np.frombuffer(raw, np.float16).astype(np.float32)
        elif dt == "F32":
            v = np.frombuffer(raw, np.float32)
        elif dt == "U32":
            v = np.frombuffer(raw, np.uint32)
        else:
            raise SystemExit(f"{path}: {name}: dtype {dt} not read by this checker")
        out[name] = v.reshape(info["shape"])
    return out


def dequant(w, s, b, bits):
    per = 32 // bits
    rows = w.shape[0]
    q = np.zeros((rows, w.shape[1] * per), np.float32)
    for k in range(per):
        q[:, k::per] = (w >> np.uint32(k * bits)) & np.uint32((1 << bits) - 1)
    g = q.shape[1] // s.shape[1]
    return (s.repeat(g, axis=1) * q + b.repeat(g, axis=1)).astype(np.float32)


def gguf_name(hf):
    glob = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
    layer = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
             "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    if hf in glob:
        return glob[hf]
    parts = hf.split(".")
    return f"blk.{parts[2]}." + layer[".".join(parts[3:])]


def permute(w, n_head):  # HF rotate-half rows -> GGUF interleaved rows
    rows = w.shape[0]
    return (w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2)
            .reshape(w.shape))


def main(mlx_dir, gguf):
    cfg = json.load(open(f"{mlx_dir}/config.json"))
    st, gg = read_st(f"{mlx_dir}/model.safetensors"), read_gguf(gguf)
    quant = cfg["quantization"]
    bad = 0
    for name in sorted(st):
        if not name.endswith(".weight"):
            continue
        module = name[:-len(".weight")]
        if module + ".scales" in st:
            o = quant.get(module) or {}
            bits = o.get("bits", quant["bits"])
            w = dequant(st[name], st[module + ".scales"], st[module + ".biases"], bits)
        else:
            w = st[name].astype(np.float32).reshape(-1, st[name].shape[-1])
        if module.endswith("q_proj"):
            w = permute(w, cfg["num_attention_heads"])
        elif module.endswith("k_proj"):
            w = permute(w, cfg["num_key_value_heads"])
        gname = gguf_name(module) + ".weight"
        t, g = gg[gname]
        if t in (3, 8, 0):  # transcoded blocks, or float32: the same values exactly
            ok = np.array_equal(g, w)
            tol = 0.0
        else:  # float16: rounding of each value
            tol = float(np.max(np.abs(w)) * 2.0 ** -11 + 6e-8)
            ok = np.max(np.abs(g - w)) <= tol
        err = float(np.max(np.abs(g - w))) if g.shape == w.shape else float("inf")
        print(f"{gname:26s} type {t:2d} max |diff| {err:.3g} (allowed {tol:.3g}) "
              f"{'ok' if ok else 'MISMATCH'}")
        bad += not ok
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
