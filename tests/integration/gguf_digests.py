#!/usr/bin/env python3
"""Print 'name type sha256' for every tensor of a GGUF file, sorted by name.

An independent reader (standard library only) used by the integration tests to
compare tensor data of two files regardless of tensor order or metadata."""
import hashlib
import struct
import sys

# ggml type id -> (name, block size, bytes per block), for the types kvant writes
TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
         6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84),
         11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
         14: ("Q6_K", 256, 210), 20: ("IQ4_NL", 32, 18), 23: ("IQ4_XS", 256, 136),
         30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
         16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
         19: ("IQ1_S", 256, 50), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82),
         29: ("IQ1_M", 256, 56)}
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def main(path):
    with open(path, "rb") as f:
        data = f.read()
    off = 0

    def take(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, data, off)
        off += struct.calcsize("<" + fmt)
        return v[0] if len(v) == 1 else v

    def string():
        nonlocal off
        n = take("Q")
        s = data[off:off + n]
        off += n
        return s.decode("utf-8", "replace")

    def skip_value(t):
        nonlocal off
        if t == 8:
            string()
        elif t == 9:
            et, n = take("I"), take("Q")
            for _ in range(n):
                skip_value(et)
        else:
            off += SCALAR[t]

    assert data[:4] == b"GGUF", "not a GGUF file"
    off = 4
    _, n_tensors, n_kv = take("I"), take("Q"), take("Q")
    align = 32
    for _ in range(n_kv):
        key, t = string(), take("I")
        if key == "general.alignment":
            align = take("I")
        else:
            skip_value(t)
    infos = []
    for _ in range(n_tensors):
        name, nd = string(), take("I")
        ne = [take("Q") for _ in range(nd)]
        t, o = take("I"), take("Q")
        infos.append((name, ne, t, o))
    base = (off + align - 1) // align * align
    for name, ne, t, o in sorted(infos):
        tname, bs, ts = TYPES[t]
        n = 1
        for d in ne:
            n *= d
        size = n // bs * ts
        print(name, tname, hashlib.sha256(data[base + o:base + o + size]).hexdigest())


if __name__ == "__main__":
    main(sys.argv[1])
