#!/usr/bin/python3
"""An mlx-lm folder as a plain Hugging Face one (numpy only), for checking what
kvant's MLX export wrote against tests/reference/forward.py: every quantized
module (affine groups, mlx_check.py's decoder) dequantized to F32, float tensors
as they are, config.json without its quantization entries. With --source HF_DIR,
every tensor kept float (norms, biases) must equal the source checkpoint's value
exactly (Gemma's norms as w, not GGUF's 1 + w) and every source tensor must be
there under its own name (Phi-3's qkv_proj / gate_up_proj fused).
Usage: mlx_dequant.py MLX_DIR OUT_DIR [--source HF_DIR]"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mlx_check import dequant, read_st  # noqa: E402


def main(mlx_dir, out_dir, source=None):
    cfg = json.load(open(os.path.join(mlx_dir, "config.json")))
    q = cfg.pop("quantization")
    cfg.pop("quantization_config", None)
    st = read_st(os.path.join(mlx_dir, "model.safetensors"))
    out = {}
    for name, v in st.items():
        if name.endswith((".scales", ".biases")):
            continue
        mod = name[: -len(".weight")]
        if mod + ".scales" in st:
            qm = q.get(mod)
            bits = qm["bits"] if isinstance(qm, dict) else q["bits"]
            v = dequant(v, st[mod + ".scales"], st[mod + ".biases"], bits)
        out[name] = np.asarray(v, np.float32)
    bad = 0
    if source:
        src = read_st(os.path.join(source, "model.safetensors"))
        missing = sorted(set(src) - set(out))
        extra = sorted(set(out) - set(src))
        if missing or extra:
            print(f"names: missing {missing[:4]}, unexpected {extra[:4]}")
            bad += 1
        for name, v in src.items():
            if name in st and st[name].dtype != np.uint32 and not np.array_equal(
                    np.asarray(st[name], np.float32), np.asarray(v, np.float32)):
                print(f"{name}: differs from the source (max |d| "
                      f"{np.max(np.abs(np.asarray(st[name], np.float32) - v)):.3g})")
                bad += 1
        print(f"{len(out)} tensors under the source's names, "
              f"{sum(1 for n in src if n in st and st[n].dtype != np.uint32)} float ones equal to it")
    os.makedirs(out_dir, exist_ok=True)
    header, offset, blobs = {}, 0, []
    for name, v in out.items():
        b = v.tobytes()
        header[name] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    hb = json.dumps(header).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        for b in blobs:
            f.write(b)
    json.dump(cfg, open(os.path.join(out_dir, "config.json"), "w"), indent=2)
    return 1 if bad else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    src = None
    if "--source" in args:
        i = args.index("--source")
        src = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    sys.exit(main(args[0], args[1], src))
