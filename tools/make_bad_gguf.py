#!/usr/bin/env python3
"""Writes the broken-GGUF corpus and the GGUF fuzz seeds.

tests/golden/bad/gguf/*.gguf   files broken on purpose, one defect each
tests/golden/bad/gguf/EXPECTED lines "FILE STATUS message-fragment" that the reader must produce
tests/fuzz/corpus/fuzz_gguf/   the bad files plus two valid ones, as libFuzzer seeds

Python 3 standard library only, no randomness: running it again gives the same bytes.
Usage: tools/make_bad_gguf.py [SOURCE_DIR]   (default: the repository this script is in)
"""
import os
import shutil
import struct
import sys

# GGUF value type ids
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
# ggml tensor type ids used here
T_F32, T_F16, T_Q8_0 = 0, 1, 8

ALIGN = 32


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def i64(v):
    return struct.pack("<q", v)


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return u64(len(b)) + b


def kv(key, vtype, payload):
    """One key-value: key, u32 type, payload (already encoded)."""
    return gstr(key) + u32(vtype) + payload


def kv_u32(key, v):
    return kv(key, U32, u32(v))


def kv_str(key, s):
    return kv(key, STRING, gstr(s))


def arr(elem_type, elems):
    """Array payload: u32 elem type, u64 count, encoded elements."""
    return u32(elem_type) + u64(len(elems)) + b"".join(elems)


def header(n_tensors, n_kv, version=3, magic=b"GGUF"):
    return magic + u32(version) + u64(n_tensors) + u64(n_kv)


def tinfo(name, ne, ttype, offset):
    return gstr(name) + u32(len(ne)) + b"".join(u64(d & (2**64 - 1)) for d in ne) + \
        u32(ttype) + u64(offset)


def pad(b, align=ALIGN):
    return b + b"\0" * ((-len(b)) % align)


def gguf(kvs, tensors, data=b"", align=ALIGN, n_tensors=None, n_kv=None, version=3):
    """A file from encoded kvs and tensor infos; data follows the aligned table."""
    meta = header(len(tensors) if n_tensors is None else n_tensors,
                  len(kvs) if n_kv is None else n_kv, version) + b"".join(kvs) + b"".join(tensors)
    return pad(meta, align) + data


def f32s(vals):
    return b"".join(struct.pack("<f", v) for v in vals)


def base_kvs():
    return [kv_str("general.architecture", "llama"), kv_str("general.name", "bad"),
            kv_u32("llama.context_length", 128)]


def q8_0_block(scale_bits, qs):
    return struct.pack("<H", scale_bits) + bytes(q & 0xff for q in qs)


def valid_small():
    """Two tensors: a (F32, 8x2) and b (Q8_0, 32)."""
    a = f32s([i * 0.5 for i in range(16)])
    b = q8_0_block(0x3c00, range(-16, 16))
    data = pad(a) + pad(b)
    tensors = [tinfo("a", [8, 2], T_F32, 0), tinfo("b", [32], T_Q8_0, len(pad(a)))]
    return gguf(base_kvs(), tensors, data)


def valid_all_types():
    """Every value type, a string array, nested arrays and a 64-byte alignment."""
    kvs = [
        kv("t.u8", U8, b"\xfe"), kv("t.i8", I8, b"\xfe"),
        kv("t.u16", U16, struct.pack("<H", 65000)), kv("t.i16", I16, struct.pack("<h", -300)),
        kv("t.u32", U32, u32(4000000000)), kv("t.i32", I32, struct.pack("<i", -70000)),
        kv("t.f32", F32, struct.pack("<f", 1.5)), kv("t.bool", BOOL, b"\x01"),
        kv("t.str", STRING, gstr("hello")), kv("t.u64", U64, u64(2**63 + 5)),
        kv("t.i64", I64, i64(-2**40)), kv("t.f64", F64, struct.pack("<d", -0.25)),
        kv("t.arr_str", ARRAY, arr(STRING, [gstr("a"), gstr(""), gstr("ccc")])),
        kv("t.arr_i32", ARRAY, arr(I32, [struct.pack("<i", v) for v in (1, -2, 3)])),
        kv("t.nested", ARRAY, arr(ARRAY, [arr(U8, [b"\x01", b"\x02"]),
                                          arr(STRING, [gstr("x")]), arr(ARRAY, [])])),
        kv("general.alignment", U32, u32(64)),
    ]
    t = f32s([1.0, 2.0, 3.0, 4.0])
    return gguf(kvs, [tinfo("t", [4], T_F32, 0)], pad(t, 64), align=64)


def nested(depth):
    """An array value nested depth levels deep (innermost: empty u8 array)."""
    p = arr(U8, [])
    for _ in range(depth - 1):
        p = u32(ARRAY) + u64(1) + p
    return p


def cases():
    """(file name, bytes, status, message fragment) for every broken file."""
    good_t = [tinfo("a", [8], T_F32, 0)]
    data8 = pad(f32s(range(8)))
    c = []

    def add(name, b, status, frag):
        c.append((name, b, status, frag))

    add("empty.gguf", b"", "KV_ERR_TRUNCATED", "file is empty")
    add("truncated_header.gguf", b"GGUF" + u32(3) + b"\x01\x00", "KV_ERR_TRUNCATED",
        "n_tensors needs 8 bytes at offset 8")
    add("bad_magic.gguf", header(0, 0, magic=b"GGML"), "KV_ERR_FORMAT",
        'bad magic "GGML", expected "GGUF"')
    add("version0.gguf", header(0, 0, version=0), "KV_ERR_FORMAT", "bad GGUF version 0")
    add("version1.gguf", header(0, 0, version=1), "KV_ERR_UNSUPPORTED",
        "GGUF version 1 is no longer supported")
    add("version4.gguf", header(0, 0, version=4), "KV_ERR_UNSUPPORTED",
        "GGUF version 4 is newer than kvant supports")
    add("big_endian.gguf", header(0, 0, version=0x03000000), "KV_ERR_UNSUPPORTED",
        "big-endian")
    add("absurd_n_tensors.gguf", header(9999999999, 0), "KV_ERR_LIMIT",
        "n_tensors 9999999999 is over the limit of 1048576")
    add("absurd_n_kv.gguf", header(0, 2**40), "KV_ERR_LIMIT",
        "n_kv 1099511627776 is over the limit of 1048576")
    add("n_kv_past_end.gguf", header(0, 1000) + kv_u32("a", 1), "KV_ERR_TRUNCATED",
        "n_kv 1000 needs at least 14000 bytes")
    add("n_tensors_past_end.gguf", gguf([], [], n_tensors=1000), "KV_ERR_TRUNCATED",
        "n_tensors 1000 needs at least 32000 bytes")
    add("string_past_end.gguf", header(0, 1) + gstr("k") + u32(STRING) + u64(1000) + b"abcde",
        "KV_ERR_TRUNCATED", "key 'k' has a string of 1000 bytes")
    add("string_over_limit.gguf", header(0, 1) + gstr("k") + u32(STRING) + u64(2**40),
        "KV_ERR_LIMIT", "over the limit of 67108864")
    add("key_too_long.gguf", header(0, 1) + u64(70000) + b"general.", "KV_ERR_LIMIT",
        "key at offset 24 has length 70000, over the limit of 65535")
    add("key_past_end.gguf", header(0, 1) + u64(50) + b"general.", "KV_ERR_TRUNCATED",
        "key at offset 24 has length 50")
    add("empty_key.gguf", header(0, 1) + kv_u32("", 1), "KV_ERR_FORMAT",
        "key 0 at offset 24 is empty")
    add("value_past_end.gguf", header(0, 1) + gstr("k") + u32(U32) + b"\x01\x02",
        "KV_ERR_TRUNCATED", "key 'k' u32 value at offset 37 needs 4 bytes")
    add("unknown_value_type.gguf", header(0, 1) + kv("weird", 13, u32(0)), "KV_ERR_FORMAT",
        "key 'weird' has unknown value type 13")
    add("array_unknown_elem.gguf", header(0, 1) + kv("k", ARRAY, u32(77) + u64(0)),
        "KV_ERR_FORMAT", "key 'k' has an array of unknown value type 77")
    add("array_absurd_count.gguf", header(0, 1) + kv("k", ARRAY, u32(U32) + u64(2**62)),
        "KV_ERR_TRUNCATED", "key 'k' has an array of 4611686018427387904 u32")
    add("array_str_past_end.gguf",
        header(0, 1) + kv("tok", ARRAY, u32(STRING) + u64(2) + gstr("ab") + u64(99) + b"x" * 8),
        "KV_ERR_TRUNCATED", "key 'tok' has a string of 99 bytes")
    add("nested_too_deep.gguf", header(0, 1) + kv("deep", ARRAY, nested(9)), "KV_ERR_LIMIT",
        "key 'deep' has arrays nested deeper than 8")
    dup_at = len(header(0, 0) + b"".join(base_kvs()))
    add("duplicate_key.gguf", gguf(base_kvs() + [kv_str("general.name", "again")], good_t, data8),
        "KV_ERR_FORMAT", "duplicate key 'general.name' at offset %d" % dup_at)
    add("alignment_0.gguf", gguf(base_kvs() + [kv_u32("general.alignment", 0)], good_t, data8),
        "KV_ERR_FORMAT", "general.alignment is 0, expected a nonzero power of two")
    add("alignment_3.gguf", gguf(base_kvs() + [kv_u32("general.alignment", 3)], good_t, data8),
        "KV_ERR_FORMAT", "general.alignment is 3, expected a nonzero power of two")
    add("alignment_type.gguf",
        gguf(base_kvs() + [kv("general.alignment", U64, u64(32))], good_t, data8),
        "KV_ERR_FORMAT", "key 'general.alignment' has type u64, expected u32")
    add("tensor_name_past_end.gguf", header(1, 0) + u64(40) + b"blk.0" + b"\0" * 30,
        "KV_ERR_TRUNCATED", "tensor name at offset 24 has length 40")
    add("unknown_tensor_type.gguf", gguf(base_kvs(), [tinfo("w", [8], 99, 0)], data8),
        "KV_ERR_FORMAT", "tensor 'w' has unknown type id 99")
    add("removed_tensor_type.gguf", gguf(base_kvs(), [tinfo("w", [8], 4, 0)], data8),
        "KV_ERR_FORMAT", "tensor 'w' has unknown type id 4")
    add("duplicate_tensor.gguf",
        gguf(base_kvs(), [tinfo("a", [8], T_F32, 0), tinfo("a", [8], T_F32, 32)], data8 * 2),
        "KV_ERR_FORMAT", "duplicate tensor name 'a'")
    add("n_dims_0.gguf", gguf(base_kvs(), [tinfo("s", [], T_F32, 0)], data8), "KV_ERR_FORMAT",
        "tensor 's' has n_dims 0, expected 1..4")
    add("n_dims_5.gguf", gguf(base_kvs(), [tinfo("s", [1, 1, 1, 1, 8], T_F32, 0)], data8),
        "KV_ERR_FORMAT", "tensor 's' has n_dims 5, expected 1..4")
    add("negative_dim.gguf", gguf(base_kvs(), [tinfo("n", [8, -5], T_F32, 0)], data8),
        "KV_ERR_FORMAT", "tensor 'n' dimension 1 is -5, expected >= 0")
    add("overflow_dims.gguf",
        gguf(base_kvs(), [tinfo("o", [2**32, 2**32, 2**32], T_F32, 0)], data8),
        "KV_ERR_FORMAT", "more elements than an int64 holds")
    add("row_not_block_multiple.gguf", gguf(base_kvs(), [tinfo("q", [33], T_Q8_0, 0)], data8),
        "KV_ERR_FORMAT", "tensor 'q' of type Q8_0 has rows of 33 elements, not a multiple")
    add("misaligned_offset.gguf",
        gguf(base_kvs(), [tinfo("a", [4], T_F32, 0), tinfo("b", [4], T_F32, 16)], data8),
        "KV_ERR_FORMAT", "tensor 'b' has offset 16, not a multiple of the alignment 32")
    add("offset_past_eof.gguf",
        gguf(base_kvs(), [tinfo("blk.3.ffn_down.weight", [8], T_F32, 1 << 20)], data8),
        "KV_ERR_TRUNCATED", "tensor 'blk.3.ffn_down.weight' needs bytes")
    add("offset_wraps.gguf", gguf(base_kvs(), [tinfo("w", [8], T_F32, 2**64 - 32)], data8),
        "KV_ERR_TRUNCATED", "tensor 'w' has offset 18446744073709551584, past the end")
    full = gguf(base_kvs(), [tinfo("a", [8], T_F32, 0), tinfo("b", [64], T_F32, 32)],
                data8 + pad(f32s(range(64))))
    cut = len(full) - 100
    data_off = len(full) - 32 - 256
    add("truncated_tensor_data.gguf", full[:cut], "KV_ERR_TRUNCATED",
        "tensor 'b' needs bytes %d..%d, file has %d" % (data_off + 32, data_off + 288, cut))
    meta = header(1, 0) + tinfo("z", [0], T_F32, 0)
    add("data_section_past_end.gguf", meta, "KV_ERR_TRUNCATED",
        "the data section starts at offset %d" % len(meta))
    return c


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))
    bad = os.path.join(src, "tests", "golden", "bad", "gguf")
    seeds = os.path.join(src, "tests", "fuzz", "corpus", "fuzz_gguf")
    for d in (bad, seeds):
        os.makedirs(d, exist_ok=True)
        for name in os.listdir(d):
            if name.endswith(".gguf"):
                os.remove(os.path.join(d, name))
    lines = []
    for name, data, status, frag in cases():
        write(os.path.join(bad, name), data)
        shutil.copyfile(os.path.join(bad, name), os.path.join(seeds, name))
        lines.append("%s %s %s\n" % (name, status, frag))
    with open(os.path.join(bad, "EXPECTED"), "w") as f:
        f.writelines(lines)
    write(os.path.join(seeds, "valid_small.gguf"), valid_small())
    write(os.path.join(seeds, "valid_all_types.gguf"), valid_all_types())
    print("wrote %d broken files to %s and %d seeds to %s" % (len(lines), bad, len(lines) + 2,
                                                              seeds))


if __name__ == "__main__":
    main()
