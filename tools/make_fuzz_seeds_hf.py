#!/usr/bin/env python3
"""Writes the seed corpora of two libFuzzer harnesses (python3 standard library only):

  tests/fuzz/corpus/fuzz_safetensors/  small valid safetensors files (every dtype, a
                                       scalar, an empty tensor, metadata)
  tests/fuzz/corpus/fuzz_spm/          the demo model's tokenizer.model cut down to its first
                                       300 pieces plus its trainer and normalizer specs (still a
                                       valid model), and a copy cut mid-message

Usage: tools/make_fuzz_seeds_hf.py [SHARED_DIR]   (default: ../shared next to the repository)
"""

import json
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def st_bytes(entries, data, meta=None):
    hdr = dict(entries)
    if meta is not None:
        hdr["__metadata__"] = meta
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # writers pad the header to 8 bytes
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds():
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.25)
    f16 = struct.pack("<2H", 0x3C00, 0xC000)
    bf16 = struct.pack("<2H", 0x3F80, 0xBF80)
    f64 = struct.pack("<2d", 1.0, -1e-3)
    i32 = struct.pack("<i", 7)
    data = f32 + f16 + bf16 + f64 + i32
    off = 0
    ents = {}
    for name, dtype, shape, n in [("w.f32", "F32", [2, 2], 16), ("w.f16", "F16", [2], 4),
                                  ("w.bf16", "BF16", [1, 2], 4), ("w.f64", "F64", [2], 16),
                                  ("count", "I32", [], 4)]:
        ents[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    ents["empty"] = {"dtype": "F32", "shape": [0, 3], "data_offsets": [off, off]}
    yield "dtypes.safetensors", st_bytes(ents, data, {"format": "pt"})
    norm = struct.pack("<8H", *([0x3F80] * 8))
    yield "norm.safetensors", st_bytes(
        {"model.norm.weight": {"dtype": "BF16", "shape": [8], "data_offsets": [0, 16]}}, norm)
    small = {}
    for i, dt in enumerate(["BOOL", "U8", "I8", "F8_E4M3", "F8_E5M2"]):
        small[f"t{i}"] = {"dtype": dt, "shape": [1], "data_offsets": [i, i + 1]}
    yield "bytes.safetensors", st_bytes(small, bytes(range(5)))
    yield "empty_header.safetensors", st_bytes({}, b"")


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7


def top_fields(buf):
    """(field number, raw bytes of the whole field) for each top-level field."""
    i = 0
    while i < len(buf):
        start = i
        key, i = varint(buf, i)
        wire = key & 7
        if wire == 0:
            _, i = varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 2:
            n, i = varint(buf, i)
            i += n
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"wire type {wire} at {start}")
        yield key >> 3, buf[start:i]


def spm_seeds(shared):
    path = os.path.join(shared, "models", "kjv-llama-7m", "tokenizer.model")
    with open(path, "rb") as f:
        model = f.read()
    out, pieces = [], 0
    for field, raw in top_fields(model):
        if field == 1:
            pieces += 1
            if pieces > 300:
                continue
        out.append(raw)
    small = b"".join(out)
    yield "demo_300_pieces.model", small
    yield "demo_cut.model", model[:1500]


def write(dirname, seeds):
    d = os.path.join(CORPUS, dirname)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds:
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        print(f"{dirname}/{name}: {len(data)} bytes")


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared")
    write("fuzz_safetensors", safetensors_seeds())
    write("fuzz_spm", spm_seeds(shared))


if __name__ == "__main__":
    main()
