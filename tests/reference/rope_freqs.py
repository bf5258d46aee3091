#!/usr/bin/env python3
"""Checks a GGUF's rope_freqs.weight against llama.cpp's converter rule for
rope_scaling type llama3 (convert_hf_to_gguf.py, LlamaModel), recomputed here in
numpy float32 the way that script does with torch float32: freqs = 1 / theta **
(arange(0, dim, 2) / dim); wavelen = 2 pi / freq; factor 1 below
original/high_freq_factor, `factor` above original/low_freq_factor, else
1 / ((1 - smooth) / factor + smooth) with smooth = (original / wavelen - low) /
(high - low). llama.cpp takes `original` from config.json's top level (default
8192), not from rope_scaling.

  rope_freqs.py MODEL.gguf CONFIG.json
Exit 1 when a value differs by more than 2 float32 ulps, or the tensor is missing.
"""
import json
import struct
import sys

import numpy as np

SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def read_tensor(path, want):
    with open(path, "rb") as f:
        data = f.read()
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

    if data[:4] != b"GGUF":
        sys.exit(f"{path}: not GGUF")
    take("I")
    n_tensors, n_kv = take("Q"), take("Q")
    align = 32
    for _ in range(n_kv):
        key, t = string(), take("I")
        if key == "general.alignment":
            align = take("I")
        else:
            skip(t)
    found = None
    for _ in range(n_tensors):
        name, nd = string(), take("I")
        ne = [take("Q") for _ in range(nd)]
        t, o = take("I"), take("Q")
        if name == want:
            found = (ne, t, o)
    if not found:
        return None
    base = (off + align - 1) // align * align
    ne, t, o = found
    if t != 0 or len(ne) != 1:
        sys.exit(f"{path}: {want} has type {t} and {len(ne)} dims, expected F32, 1")
    return np.frombuffer(data, dtype="<f4", count=ne[0], offset=base + o)


def expected(cfg):
    rs = cfg["rope_scaling"]
    f32 = np.float32
    base = f32(cfg.get("rope_theta", 10000.0))
    dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    freqs = f32(1.0) / (base ** (np.arange(0, dim, 2, dtype=f32) / f32(dim)))
    factor = f32(rs.get("factor", 8.0))
    lo, hi = f32(rs.get("low_freq_factor", 1.0)), f32(rs.get("high_freq_factor", 4.0))
    old = f32(cfg.get("original_max_position_embeddings", 8192))
    out = []
    for freq in freqs:
        wavelen = f32(2 * np.pi) / freq
        if wavelen < old / hi:
            out.append(f32(1))
        elif wavelen > old / lo:
            out.append(factor)
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out.append(f32(1) / ((f32(1) - smooth) / factor + smooth))
    return np.array(out, dtype=f32)


def main():
    path, cfg_path = sys.argv[1], sys.argv[2]
    with open(cfg_path) as f:
        cfg = json.load(f)
    got = read_tensor(path, "rope_freqs.weight")
    if got is None:
        sys.exit(f"{path}: no rope_freqs.weight")
    want = expected(cfg)
    if got.shape != want.shape:
        sys.exit(f"{path}: rope_freqs.weight has {got.size} values, expected {want.size}")
    ulps = np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32).astype(np.int64))
    n_scaled = int(np.sum(want != 1))
    print(f"rope_freqs.weight: {got.size} values ({n_scaled} scaled), "
          f"{int(np.sum(ulps == 0))} bit-equal, max {int(ulps.max())} ulp from llama.cpp's rule")
    sys.exit(0 if ulps.max() <= 2 else 1)


if __name__ == "__main__":
    main()
