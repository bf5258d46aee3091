#!/usr/bin/env python3
"""Writes tests/golden/bad/safetensors/: safetensors files broken on purpose, and
EXPECTED, one line per file: `FILE STATUS message-fragment`, the status and a
fragment of the message kvant's reader must give (tests/unit/test_formats_bad_safetensors.c).

Usage: tools/make_bad_safetensors.py [OUT_DIR]   (python3 standard library only)
"""

import json
import os
import struct
import sys

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden",
                           "bad", "safetensors")


def st_bytes(header, data=b"", header_size=None):
    """u64 little-endian header size, the header text, then the data."""
    h = header if isinstance(header, bytes) else header.encode("utf-8")
    size = len(h) if header_size is None else header_size
    return struct.pack("<Q", size) + h + data


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def one(name, e, data=bytes(8)):
    return st_bytes(json.dumps({name: e}), data)


def valid_two():
    """A correct file with two F32 tensors, 16 bytes of data."""
    hdr = json.dumps({"a": entry(offsets=(0, 8)), "b": entry(offsets=(8, 16))})
    return st_bytes(hdr, struct.pack("<4f", 1, 2, 3, 4))


# (file name, bytes, status, message fragment)
CASES = [
    ("empty", b"", "KV_ERR_TRUNCATED", "too short for the 8-byte header size"),
    ("short_size_field", b"\x10\x00\x00", "KV_ERR_TRUNCATED", "file has 3 bytes"),
    ("header_past_eof", st_bytes('{"a": 1}', header_size=1000), "KV_ERR_TRUNCATED",
     "header size 1000 runs past the end of the file"),
    ("absurd_header_size", st_bytes("{}", header_size=1 << 62), "KV_ERR_LIMIT",
     "header size 4611686018427387904 is over the limit"),
    ("invalid_json", st_bytes('{"a": {"dtype": "F32",'), "KV_ERR_FORMAT",
     "header: invalid JSON: "),
    ("json_syntax_line", st_bytes('{\n  "a": {"dtype" "F32"}\n}'), "KV_ERR_FORMAT",
     "at line 2, column"),
    ("header_not_object", st_bytes("[1, 2, 3]"), "KV_ERR_FORMAT",
     "header is a JSON array, expected an object"),
    ("header_empty", st_bytes(""), "KV_ERR_FORMAT", "invalid JSON"),
    ("entry_not_object", st_bytes('{"a": 3}'), "KV_ERR_FORMAT",
     "tensor 'a': entry has type integer, expected an object"),
    ("missing_dtype", one("w", {"shape": [2], "data_offsets": [0, 8]}), "KV_ERR_FORMAT",
     "tensor 'w': field 'dtype' is missing"),
    ("dtype_not_string", one("w", entry(dtype=5)), "KV_ERR_FORMAT",
     "tensor 'w': field 'dtype' has type integer, expected a string"),
    ("unknown_dtype", one("w", entry(dtype="Q4_K")), "KV_ERR_FORMAT",
     "tensor 'w': unknown dtype 'Q4_K'"),
    ("missing_shape", one("w", {"dtype": "F32", "data_offsets": [0, 8]}), "KV_ERR_FORMAT",
     "tensor 'w': field 'shape' is missing"),
    ("shape_not_array", one("w", {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}),
     "KV_ERR_FORMAT", "field 'shape' has type string, expected an array"),
    ("shape_real_dim", one("w", {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}),
     "KV_ERR_FORMAT", "shape[0] has type real, expected an integer"),
    ("negative_dim", one("w", entry(shape=(2, -1))), "KV_ERR_FORMAT",
     "tensor 'w': shape[1] is -1, expected a size >= 0"),
    ("too_many_dims", one("w", entry(shape=(1,) * 9)), "KV_ERR_LIMIT",
     "shape has 9 dimensions, at most 8"),
    ("shape_overflow", one("w", entry(shape=(1 << 40, 1 << 40))), "KV_ERR_LIMIT",
     "element count overflows at shape[1]"),
    ("missing_offsets", one("w", {"dtype": "F32", "shape": [2]}), "KV_ERR_FORMAT",
     "tensor 'w': field 'data_offsets' is missing"),
    ("offsets_not_pair", one("w", entry(offsets=(0,))), "KV_ERR_FORMAT",
     "field 'data_offsets' is not [begin, end]"),
    ("offsets_negative", one("w", entry(offsets=(-8, 0))), "KV_ERR_FORMAT",
     "field 'data_offsets' is not [begin, end]"),
    ("offsets_huge", st_bytes('{"w": {"dtype": "F32", "shape": [2], '
                              '"data_offsets": [0, 99999999999999999999]}}', bytes(8)),
     "KV_ERR_FORMAT", "too big integer"),
    ("offsets_reversed", one("w", entry(offsets=(8, 0))), "KV_ERR_FORMAT",
     "data_offsets [8, 0] are reversed (begin > end)"),
    ("offsets_past_end", one("w", entry(shape=(16,), offsets=(0, 64))), "KV_ERR_TRUNCATED",
     "data_offsets [0, 64] end past the data section (8 bytes)"),
    ("span_mismatch", one("model.norm.weight", entry(dtype="BF16", shape=(256,), offsets=(0, 8))),
     "KV_ERR_FORMAT",
     "tensor 'model.norm.weight': data_offsets [0, 8] span 8 bytes, shape [256] of BF16 needs "
     "512"),
    ("span_overflow", one("w", entry(dtype="F64", shape=(1 << 30, 1 << 30, 4), offsets=(0, 8))),
     "KV_ERR_FORMAT", "shape [1073741824, 1073741824, 4] of F64 needs more than"),
    ("overlapping", st_bytes(json.dumps({"a": entry(offsets=(0, 8)), "b": entry(offsets=(4, 12))}),
                             bytes(12)),
     "KV_ERR_FORMAT", "tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' ([0, 8])"),
    ("same_span_twice", st_bytes(json.dumps({"a": entry(), "b": entry()}), bytes(8)),
     "KV_ERR_FORMAT", "overlaps tensor"),
    ("duplicate_name", st_bytes('{"w": ' + json.dumps(entry()) + ', "w": '
                                + json.dumps(entry()) + '}', bytes(8)),
     "KV_ERR_FORMAT", "duplicate object key"),
    ("metadata_not_object", st_bytes('{"__metadata__": ["pt"]}'), "KV_ERR_FORMAT",
     "'__metadata__' has type array, expected an object"),
    ("metadata_not_string", st_bytes('{"__metadata__": {"format": 1}}'), "KV_ERR_FORMAT",
     "'__metadata__' entry 'format' has type integer, expected a string"),
    ("nul_in_name", st_bytes('{"a\\u0000b": ' + json.dumps(entry()) + '}', bytes(8)),
     "KV_ERR_FORMAT", "invalid JSON"),
    ("truncated_data", valid_two()[:-5], "KV_ERR_TRUNCATED",
     "tensor 'b': data_offsets [8, 16] end past the data section (11 bytes)"),
]

README = """# Broken safetensors files

Generated by `tools/make_bad_safetensors.py` (python3, standard library only); do not edit by
hand, rerun the script. Each `*.safetensors` file here is broken in one way (see the file name).
`EXPECTED` has one line per file: `FILE STATUS message-fragment`: the `kv_status` that
`kv_safetensors_open` must return and a fragment its message must contain (the message must also
name the file). `tests/unit/test_formats_bad_safetensors.c` checks every line; the fuzz harness
`tests/fuzz/fuzz_safetensors.c` may use these files as seeds.
"""


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if name.endswith(".safetensors"):
            os.remove(os.path.join(out, name))
    lines = []
    for name, data, status, fragment in CASES:
        fname = name + ".safetensors"
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)
        lines.append(f"{fname} {status} {fragment}\n")
    with open(os.path.join(out, "EXPECTED"), "w", encoding="utf-8") as f:
        f.write("# FILE STATUS message-fragment (generated by tools/make_bad_safetensors.py)\n")
        f.writelines(lines)
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(README)
    print(f"wrote {len(CASES)} files to {out}")


if __name__ == "__main__":
    main()
