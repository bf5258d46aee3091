#!/usr/bin/env python3
"""Writes a Hugging Face llama folder (config.json, model.safetensors in BF16 or
F32, tokenizer.model) as a llama2.c checkpoint and tokenizer.bin, the way
llama2.c's export.py and tokenizer.py write them, for kvant's converter tests.

  make_llama2c.py MODEL_DIR OUT.bin [--version 0|1|2] [--classifier MODE]
                  [--tokenizer OUT_TOKENIZER.bin] [--group-size N]
  make_llama2c.py --fuzz-seeds DIR   (tiny inputs of tests/fuzz/fuzz_llama2c.c)

--classifier: "separate" (lm_head, the default), "shared" (no classifier: the
embeddings are used), or "embed-copy" (a separate classifier holding the
embeddings, whose logits equal "shared"'s). q/k rows are turned from HF's
rotate-half order back to Meta's interleaved order, which llama2.c uses.
Only python3 and numpy: safetensors and the SentencePiece protobuf are read by hand.
"""
import argparse
import json
import os
import struct
import sys

try:
    import numpy as np
except ImportError:  # --fuzz-seeds needs only the standard library
    np = None


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[a:b]
        if info["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view("<f4")
        elif info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        else:
            sys.exit(f"{path}: tensor {name} has dtype {info['dtype']}, expected BF16 or F32")
        out[name] = arr.reshape(info["shape"]).astype(np.float32)
    return out


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def fields(buf):
    """(field number, wire type, value) of one protobuf message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


def spm_pieces(path):
    """[(piece, score)] of a SentencePiece tokenizer.model (ModelProto.pieces = 1)."""
    buf = open(path, "rb").read()
    pieces = []
    for num, wt, v in fields(buf):
        if num == 1 and wt == 2:
            piece, score = "", 0.0
            for n2, w2, v2 in fields(v):
                if n2 == 1:
                    piece = v2.decode("utf-8")
                elif n2 == 2 and w2 == 5:
                    score = struct.unpack("<f", v2)[0]
            pieces.append((piece, score))
    return pieces


def write_tokenizer(path, pieces, bos, eos):
    texts = []
    for i, (piece, _) in enumerate(pieces):
        t = "\n<s>\n" if i == bos else "\n</s>\n" if i == eos else piece
        texts.append(t.replace("\u2581", " ").encode("utf-8"))
    with open(path, "wb") as f:
        f.write(struct.pack("<i", max(len(b) for b in texts)))
        for (_, score), b in zip(pieces, texts):
            f.write(struct.pack("<fi", score, len(b)))
            f.write(b)


def to_meta(w, n_heads):
    """HF rotate-half rows -> Meta's interleaved rows, head by head."""
    rows, cols = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, 2, hd // 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def quantize_q80(w, gs):
    w = w.reshape(-1, gs)
    scale = np.abs(w).max(axis=1) / 127.0
    safe = np.where(scale == 0, 1.0, scale)
    q = np.round(w / safe[:, None]).astype(np.int8)
    return q.reshape(-1), scale.astype(np.float32)


def fuzz_seeds(out):
    """Tiny checkpoints (dim 8, 1 layer) + tokenizers, framed as fuzz_llama2c reads them:
    uint32 checkpoint length, checkpoint, tokenizer.bin."""
    import random
    rnd = random.Random(42)
    dim, hidden, layers, heads, kv, vocab, seq = 8, 16, 1, 2, 1, 6, 4
    hd = dim // heads

    def floats(n):
        return struct.pack(f"<{n}f", *[rnd.uniform(-1, 1) for _ in range(n)])

    emb, norm = vocab * dim, dim
    q, k, o, ff = dim * dim, kv * hd * dim, dim * dim, hidden * dim
    mats = [emb, q, k, k, o, ff, ff, ff]
    tok = struct.pack("<i", 6)
    for i, t in enumerate([b"<unk>", b"\n<s>\n", b"\n</s>\n", b"<0x0A>", b" a", b"b"]):
        tok += struct.pack("<fi", -float(i), len(t)) + t
    params = [dim, hidden, layers, heads, kv, vocab, seq]
    v0 = struct.pack("<7i", *params[:5], -vocab, seq) + floats(
        emb + norm + q + 2 * k + o + norm + 3 * ff + norm + seq * hd + emb)
    v1 = struct.pack("<Ii7iB", 0x616B3432, 1, *params, 1)
    v1 += b"\0" * (256 - len(v1)) + floats(3 * norm + sum(mats))
    v2 = struct.pack("<Ii7iBi", 0x616B3432, 2, *params, 0, 4)
    n_q = sum(mats) + emb
    v2 += b"\0" * (256 - len(v2)) + floats(3 * norm)
    v2 += bytes(rnd.randrange(256) for _ in range(n_q)) + floats(n_q // 4)
    os.makedirs(out, exist_ok=True)
    for name, model in [("legacy", v0), ("v1_shared", v1), ("v2_int8", v2), ("truncated", v0[:300])]:
        with open(os.path.join(out, name), "wb") as f:
            f.write(struct.pack("<I", len(model)) + model + tok)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--fuzz-seeds":
        return fuzz_seeds(sys.argv[2])
    if np is None:
        sys.exit("make_llama2c.py needs numpy (python3-numpy)")
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--version", type=int, default=0, choices=[0, 1, 2])
    ap.add_argument("--classifier", default="separate", choices=["separate", "shared", "embed-copy"])
    ap.add_argument("--tokenizer", help="also write tokenizer.bin here")
    ap.add_argument("--group-size", type=int, default=64)
    a = ap.parse_args()

    cfg = json.load(open(os.path.join(a.model_dir, "config.json")))
    t = read_safetensors(os.path.join(a.model_dir, "model.safetensors"))
    dim, hidden = cfg["hidden_size"], cfg["intermediate_size"]
    n_layers, n_heads = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_heads)
    vocab, seq_len = cfg["vocab_size"], cfg["max_position_embeddings"]
    hd = dim // n_heads

    def L(name):
        return [t[f"model.layers.{i}.{name}"] for i in range(n_layers)]

    emb = t["model.embed_tokens.weight"]
    cls = None
    if a.classifier == "separate":
        cls = t["lm_head.weight"] if "lm_head.weight" in t else emb
    elif a.classifier == "embed-copy":
        cls = emb
    shared = cls is None
    att_norm, ffn_norm = L("input_layernorm.weight"), L("post_attention_layernorm.weight")
    wq = [to_meta(w, n_heads) for w in L("self_attn.q_proj.weight")]
    wk = [to_meta(w, n_kv) for w in L("self_attn.k_proj.weight")]
    wv, wo = L("self_attn.v_proj.weight"), L("self_attn.o_proj.weight")
    w1, w2, w3 = L("mlp.gate_proj.weight"), L("mlp.down_proj.weight"), L("mlp.up_proj.weight")
    norm = t["model.norm.weight"]
    params = [dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len]

    with open(a.out, "wb") as f:
        def put(*ws):
            for w in ws:
                f.write(np.ascontiguousarray(w, dtype="<f4").tobytes())

        if a.version == 0:
            p = list(params)
            if not shared:
                p[5] = -vocab
            f.write(struct.pack("<7i", *p))
            put(emb, *att_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w1, *w2, *w3, norm)
            freqs = 1.0 / (10000.0 ** (np.arange(0, hd, 2)[: hd // 2].astype(np.float32) / hd))
            ang = np.outer(np.arange(seq_len, dtype=np.float32), freqs)
            put(np.cos(ang), np.sin(ang))
            if not shared:
                put(cls)
        else:
            f.write(struct.pack("<Ii", 0x616B3432, a.version))
            f.write(struct.pack("<7i", *params))
            f.write(struct.pack("<B", int(shared)))
            if a.version == 2:
                f.write(struct.pack("<i", a.group_size))
            f.write(b"\0" * (256 - f.tell()))
            put(*att_norm, *ffn_norm, norm)
            mats = [emb, *wq, *wk, *wv, *wo, *w1, *w2, *w3] + ([] if shared else [cls])
            if a.version == 1:
                put(*mats)
            else:
                scales = []
                for w in mats:
                    q, s = quantize_q80(w, a.group_size)
                    f.write(q.tobytes())
                    scales.append(s)
                put(*scales)

    if a.tokenizer:
        pieces = spm_pieces(os.path.join(a.model_dir, "tokenizer.model"))
        if len(pieces) != vocab:
            sys.exit(f"tokenizer.model has {len(pieces)} pieces, config.json says {vocab}")
        write_tokenizer(a.tokenizer, pieces, cfg.get("bos_token_id", 1), cfg.get("eos_token_id", 2))


if __name__ == "__main__":
    main()
