#!/usr/bin/env python3
"""Rewrites a GGUF file so that every Q4_1 block's minimum m is a whole number of
steps below zero (the step d loses its 4 lowest bits first) (m = -z * d for an integer z in 0..15), the Q4_1 blocks that
MatMulNBits (q - zero_point) * scale holds exactly. For tests of
`kvant export onnx --precision int4` (standard library and numpy only).

    q4_1_snap.py IN OUT
"""
import struct
import sys

import numpy as np

SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
Q4_1 = 3


def main():
    src, dst = sys.argv[1:3]
    data = bytearray(open(src, "rb").read())
    off = 4

    def take(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, data, off)[0]
        off += struct.calcsize("<" + fmt)
        return v

    def skip_value(t):
        nonlocal off
        if t == 8:
            n = take("Q")
            off += n
        elif t == 9:
            et, n = take("I"), take("Q")
            for _ in range(n):
                skip_value(et)
        else:
            off += SCALAR[t]

    take("I")  # version
    n_tensors, n_kv = take("Q"), take("Q")
    align = 32
    for _ in range(n_kv):
        n = take("Q")
        key = data[off:off + n].decode()
        off += n
        t = take("I")
        if key == "general.alignment":
            align = struct.unpack_from("<I", data, off)[0]
        skip_value(t)
    infos = []
    for _ in range(n_tensors):
        n = take("Q")
        off += n
        nd = take("I")
        ne = [take("Q") for _ in range(nd)]
        t, o = take("I"), take("Q")
        infos.append((ne, t, o))
    base = (off + align - 1) // align * align
    n_snapped = 0
    for ne, t, o in infos:
        if t != Q4_1:
            continue
        n_blocks = int(np.prod(ne)) // 32
        blocks = np.frombuffer(data, dtype=np.uint8, count=n_blocks * 20, offset=base + o).reshape(n_blocks, 20).copy()
        # d keeps 7 of its 11 significant bits, so that z * d (z < 16) is a half
        bits = blocks[:, :2].copy().view(np.uint16).reshape(-1) & np.uint16(0xFFF0)
        blocks[:, :2] = bits.reshape(-1, 1).view(np.uint8)
        dm = blocks[:, :4].copy().view(np.float16).astype(np.float32)  # (n, 2): d, m
        d, m = dm[:, 0], dm[:, 1]
        z = np.clip(np.round(-m / np.where(d == 0, 1, d)), 0, 15)
        new_m = (-z * d).astype(np.float16)
        assert np.all(new_m.astype(np.float32) == -z * d), "a step times z is not a half"
        blocks[:, 2:4] = new_m.reshape(-1, 1).view(np.uint8)
        data[base + o:base + o + n_blocks * 20] = blocks.tobytes()
        n_snapped += 1
    open(dst, "wb").write(data)
    print(f"{n_snapped} Q4_1 tensors snapped")


if __name__ == "__main__":
    main()
