#!/usr/bin/env python3
"""Checks the 8-bit activation rounding of `kvant export onnx --activations q8`
value for value against the arithmetic of kvant's quantizers (src/quant/q8.c,
which match ggml's quantize_row_q8_0 / quantize_row_q8_K bit for bit).

    onnx_act_q8.py expose SRC_DIR DST_DIR   copy of the export whose every rounding
                                            block's input and output are graph outputs
    onnx_act_q8.py check DST_DIR DUMP_DIR   compare the dumped outputs (one .f32 file
                                            per output, from onnx_export_ort.mjs with
                                            ORT_DUMP) with the reference rounding

A block is found by its shape: Reshape to [0, 0, -1, 32] (Q8_0) or [.., 256]
(Q8_K) ... Mul ... Reshape to [0, 0, -1]. Prints one line; exit 1 on a difference.
"""
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F32 = np.float32


def expose(src, dst):
    m = onnx.load(os.path.join(src, "model.onnx"), load_external_data=False)
    consts = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer
              if i.data_type == TensorProto.INT64 and len(i.dims) == 1}
    shape = lambda n: list(consts[n.input[1]]) if n.op_type == "Reshape" and n.input[1] in consts else None
    prod = {o: n for n in m.graph.node for o in n.output}
    blocks, open_block = [], None
    for n in m.graph.node:  # the exporter writes each block's nodes in order
        s = shape(n)
        if s in ([0, 0, -1, 32], [0, 0, -1, 256]):
            open_block = (n.input[0], s[3])
        elif s == [0, 0, -1] and open_block and prod[n.input[0]].op_type == "Mul":
            blocks.append((open_block[0], n.output[0], open_block[1]))
            open_block = None
    os.makedirs(dst, exist_ok=True)
    for x, y, _ in blocks:
        for name in (x, y):
            m.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    onnx.save(m, os.path.join(dst, "model.onnx"))
    for f in ("model.onnx.data", "genai_config.json"):
        shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))
    with open(os.path.join(dst, "blocks.txt"), "w") as f:
        f.write("".join("%s %s %d\n" % b for b in blocks))
    print(len(blocks), "rounding blocks exposed")


def q8_0(x):
    """quantize_block_q8_0 then q * fp16(d): d = amax / 127, q = roundf(x * (1 / d))."""
    xb = x.reshape(-1, 32)
    d = (np.abs(xb).max(1, keepdims=True) / F32(127)).astype(F32)
    inv = np.where(d != 0, F32(1) / np.where(d != 0, d, F32(1)), F32(0)).astype(F32)
    v = (xb * inv).astype(F32)
    t = np.trunc(v)
    q = t + (v - t >= 0.5) - (v - t <= -0.5)  # halves away from zero
    return (q.astype(F32) * d.astype(np.float16).astype(F32)).reshape(x.shape), int(
        (np.abs(v - t) == 0.5).sum())


def q8_k(x):
    """quantize_block_q8_K then q * d: iscale = -127 / (first value of largest |x|),
    q = min(nearest-even(iscale * x), 127), d = 1 / iscale; zeros stay zeros."""
    xb = x.reshape(-1, 256)
    mx = xb[np.arange(len(xb)), np.abs(xb).argmax(1)][:, None]
    iscale = (F32(-127) / np.where(mx == 0, F32(1), mx)).astype(F32)
    q = np.minimum(np.rint((xb * iscale).astype(F32)), F32(127))
    return (q * (F32(1) / iscale).astype(F32)).astype(F32).reshape(x.shape), 0


def check(dst, dump):
    lines = open(os.path.join(dst, "blocks.txt")).read().split("\n")
    n_val = n_bad = n_ties = 0
    kinds = set()
    for line in filter(None, lines):
        x_name, y_name, block = line.split()
        x = np.fromfile(os.path.join(dump, x_name + ".f32"), dtype=F32)
        y = np.fromfile(os.path.join(dump, y_name + ".f32"), dtype=F32)
        ref, ties = (q8_0 if block == "32" else q8_k)(x)
        kinds.add("Q8_0" if block == "32" else "Q8_K")
        n_val += x.size
        n_ties += ties
        bad = int((ref != y).sum())  # -0 == 0: the same value
        if bad:
            i = int(np.argmax(ref != y))
            print("%s -> %s: %d of %d values differ, first at %d: %r vs %r (input %r)"
                  % (x_name, y_name, bad, x.size, i, y[i], ref[i], x[i]))
        n_bad += bad
    print("%d blocks (%s), %d values, %d differ from kvant's rounding; %d exact halves "
          "(where ONNX's Round would go to even)" % (len(lines) - 1, "+".join(sorted(kinds)), n_val,
                                                      n_bad, n_ties))
    return 1 if n_bad or n_val == 0 else 0


if __name__ == "__main__":
    cmd, a, b = sys.argv[1:4]
    sys.exit(expose(a, b) if cmd == "expose" else check(a, b))
