#!/usr/bin/env python3
"""Rewrite a GGUF file with a change, for bad-input tests (standard library only).

    gguf_edit.py IN OUT --set-str KEY VALUE     replace a string value
    gguf_edit.py IN OUT --drop-tensor NAME      leave a tensor out
    gguf_edit.py IN OUT --drop-key KEY          leave a key out
"""
import struct
import sys

SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def main():
    src, dst, op, *args = sys.argv[1:]
    data = open(src, "rb").read()
    off = 4

    def take(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, data, off)[0]
        off += struct.calcsize("<" + fmt)
        return v

    def string():
        nonlocal off
        n = take("Q")
        s = data[off:off + n]
        off += n
        return s

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

    version, n_t, n_kv = take("I"), take("Q"), take("Q")
    kvs, align = [], 32
    for _ in range(n_kv):
        key = string()
        t = take("I")
        start = off
        if key == b"general.alignment":
            align = struct.unpack_from("<I", data, off)[0]
        skip(t)
        kvs.append([key, t, data[start:off]])
    infos = []
    for _ in range(n_t):
        name, nd = string(), take("I")
        ne = [take("Q") for _ in range(nd)]
        infos.append([name, ne, take("I"), take("Q")])
    base = (off + align - 1) // align * align
    ends = sorted(i[3] for i in infos) + [len(data) - base]
    blobs = {}
    for i in infos:
        nxt = min(e for e in ends if e > i[3])
        blobs[i[0]] = data[base + i[3]:base + nxt]
    if op == "--set-str":
        for kv in kvs:
            if kv[0] == args[0].encode():
                v = args[1].encode()
                kv[2] = struct.pack("<Q", len(v)) + v
    elif op == "--drop-tensor":
        infos = [i for i in infos if i[0] != args[0].encode()]
    elif op == "--drop-key":
        kvs = [kv for kv in kvs if kv[0] != args[0].encode()]
    out = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(infos), len(kvs)))
    for key, t, raw in kvs:
        out += struct.pack("<Q", len(key)) + key + struct.pack("<I", t) + raw
    pos, body = 0, bytearray()
    for i in infos:
        out += struct.pack("<Q", len(i[0])) + i[0] + struct.pack("<I", len(i[1]))
        out += b"".join(struct.pack("<Q", d) for d in i[1]) + struct.pack("<IQ", i[2], pos)
        blob = blobs[i[0]]
        body += blob
        pos += len(blob)
    out += b"\0" * ((align - len(out) % align) % align)
    open(dst, "wb").write(bytes(out + body))


if __name__ == "__main__":
    main()
