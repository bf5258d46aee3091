#!/usr/bin/env python3
"""Writes the hand-made seeds of the fuzz harnesses fuzz_hf, fuzz_imatrix,
fuzz_logits, fuzz_chat, fuzz_serve_duration and fuzz_repack_cache into
tests/fuzz/corpus/<name>/ (small valid inputs and a few broken ones; libFuzzer grows the rest).
Usage: tests/fuzz/make_seeds.py  (from anywhere; overwrites these seeds only)"""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- fuzz_hf: files separated by "\n%%\n" ----
SEP = b"\n%%\n"


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num, wire, payload):
    return varint(num << 3 | wire) + payload


def ld(num, data):  # length-delimited
    return field(num, 2, varint(len(data)) + data)


def spm_model(pieces, byte_fallback=True):
    """A SentencePiece ModelProto: pieces (text, score, type), trainer and normalizer."""
    out = b""
    for text, score, typ in pieces:
        p = ld(1, text.encode()) + field(2, 5, struct.pack("<f", score)) + field(3, 0, varint(typ))
        out += ld(1, p)
    trainer = field(3, 0, varint(2)) + field(35, 0, varint(1 if byte_fallback else 0))
    trainer += field(40, 0, varint(0)) + field(41, 0, varint(1)) + field(42, 0, varint(2))
    out += ld(2, trainer)
    out += ld(3, field(3, 0, varint(1)) + field(4, 0, varint(1)))
    return out


SPM = spm_model([("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3), ("<0x41>", 0, 6),
                 ("\u2581the", -1.0, 1), ("a", -2.0, 1), ("b", -3.0, 1), ("<tool>", 0, 4)])

CONFIG = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
          "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
          "vocab_size": 10, "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False,
          "torch_dtype": "bfloat16", "rope_scaling": {"type": "linear", "factor": 2.0}}
TOK_CONFIG = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>",
              "eos_token": {"content": "</s>"}, "unk_token": "<unk>", "pad_token": None,
              "chat_template": "{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}",
              "added_tokens_decoder": {"8": {"content": "<|user|>", "special": True},
                                       "9": {"content": "\u2581x", "special": False}}}
ADDED = {"<extra>": 9}
CHAT_TEMPLATE = {"chat_template": "{{ '<start_of_turn>' }}"}
INDEX = {"metadata": {"total_size": 16}, "weight_map": {"w": "model.safetensors"}}
BPE = {"added_tokens": [{"id": 5, "content": "<|endoftext|>", "special": True}],
       "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
           {"type": "Split", "pattern": {"Regex": "(?i:'s|'t)"}}, {"type": "ByteLevel"}]},
       "post_processor": {"type": "TemplateProcessing",
                          "single": [{"SpecialToken": {"id": "<|endoftext|>"}},
                                     {"Sequence": {"id": "A"}}]},
       "decoder": {"type": "ByteLevel"},
       "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120a": 4},
                 "merges": ["a b", ["\u0120", "a"]], "byte_fallback": False}}


def hf(parts):
    """parts: config, tokenizer_config, tokenizer.json, added_tokens, chat_template,
    index, tokenizer.model; None leaves the file out."""
    enc = [b"" if p is None else p if isinstance(p, bytes) else json.dumps(p).encode()
           for p in parts]
    return SEP.join(enc)


put("fuzz_hf", "spm_full", hf([CONFIG, TOK_CONFIG, None, ADDED, CHAT_TEMPLATE, INDEX, SPM]))
put("fuzz_hf", "spm_minimal", hf([dict(CONFIG, vocab_size=None), None, None, None, None, None, SPM]))
put("fuzz_hf", "bpe", hf([dict(CONFIG, vocab_size=None), {"bos_token": "<|endoftext|>"}, BPE]))
put("fuzz_hf", "bpe_byte_fallback", hf([CONFIG, TOK_CONFIG, dict(BPE, decoder={
    "type": "Sequence", "decoders": []}, model=dict(BPE["model"], byte_fallback=True))]))
put("fuzz_hf", "mistral_rope_parameters", hf([{
    "architectures": ["MistralForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
    "sliding_window": None,
    "rope_parameters": {"rope_theta": 1e6, "rope_type": "yarn", "factor": 4.0,
                        "original_max_position_embeddings": 128}}, None, BPE]))
put("fuzz_hf", "bad_config", hf([{"architectures": "LlamaForCausalLM"}, None, BPE]))
put("fuzz_hf", "no_tokenizer", hf([CONFIG]))

# ---- fuzz_imatrix: llama.cpp imatrix.dat ----


def imatrix(entries, trailer=(3, "calib.txt")):
    out = struct.pack("<i", len(entries))
    for name, ncall, values in entries:
        out += struct.pack("<i", len(name)) + name.encode()
        out += struct.pack("<ii", ncall, len(values)) + struct.pack("<%df" % len(values), *values)
    if trailer:
        out += struct.pack("<ii", trailer[0], len(trailer[1])) + trailer[1].encode()
    return out


put("fuzz_imatrix", "two_entries", imatrix([("blk.0.attn_q.weight", 2, [1, 2, 3, 4]),
                                            ("blk.0.ffn_down.weight", 0, [5, 6])]))
put("fuzz_imatrix", "duplicate_name", imatrix([("a", 1, [1]), ("b", 1, [2]), ("a", 4, [8, 8])]))
put("fuzz_imatrix", "no_trailer", imatrix([("x", 1, [0.5])], trailer=None))
put("fuzz_imatrix", "truncated", imatrix([("blk.0.attn_k.weight", 1, [1, 2, 3])])[:30])
put("fuzz_imatrix", "gguf", b"GGUF\x03\x00\x00\x00" + bytes(16))

# ---- fuzz_logits: "_logits_" n_ctx n_vocab n_chunk tokens rows ----


def logits(n_ctx, n_vocab, n_chunk, token=lambda i: i):
    out = b"_logits_" + struct.pack("<III", n_ctx, n_vocab, n_chunk)
    out += b"".join(struct.pack("<i", token(i) % n_vocab) for i in range(n_chunk * n_ctx))
    words = 2 * ((n_vocab + 1) // 2) + 4
    rows = n_chunk * (n_ctx - 1 - n_ctx // 2)
    for r in range(rows):
        out += struct.pack("<ff", 16.0 / 65535, -16.0)
        out += b"".join(struct.pack("<H", (r * 977 + i * 131) & 0xFFFF) for i in range(words - 4))
    return out


put("fuzz_logits", "two_chunks", logits(8, 5, 2))
put("fuzz_logits", "one_chunk_vocab_1", logits(4, 1, 1))
put("fuzz_logits", "no_chunks", logits(16, 100, 0))
put("fuzz_logits", "bad_token", logits(8, 3, 1)[:20] + struct.pack("<i", 7) + logits(8, 3, 1)[24:])

# ---- fuzz_chat: flags, template, eos, then role byte + content, NUL-separated ----


def chat(flags, tmpl, eos, msgs):
    return bytes([flags]) + b"\0".join([tmpl.encode(), eos.encode()] +
                                       [bytes([r]) + c.encode() for r, c in msgs])


MSGS = [(0, "You are terse."), (1, " Hello there "), (2, "Hi."), (1, "Again?"), (3, "tool out")]
put("fuzz_chat", "chatml", chat(1, "{{ '<|im_start|>' + m.role }}", "", MSGS))
put("fuzz_chat", "llama3", chat(1, "<|start_header_id|>x<|end_header_id|>", "", MSGS))
put("fuzz_chat", "llama2", chat(0, "[INST] <<SYS>>", "</s>", MSGS))
put("fuzz_chat", "mistral", chat(2, "[INST]", "</s>", MSGS))
put("fuzz_chat", "gemma", chat(1, "<start_of_turn>", "", MSGS))
put("fuzz_chat", "phi3", chat(1, "<|assistant|><|end|>", "", MSGS))
put("fuzz_chat", "zephyr", chat(3, "<|user|>", "<eos>", MSGS))
put("fuzz_chat", "plain_forced", chat(32 | (7 << 2) | 1, "", "", MSGS))
put("fuzz_chat", "empty_chat", chat(1, "", "", []))

# ---- fuzz_serve_duration: a string, also read as JSON ----
for i, s in enumerate(["5m", "1h30m", "1.5s", "-1m", "0", "300", "-1", "2h45m30.5s", "10\u00b5s",
                       "100us", "3ms", "\"5m\"", "\"-1\"", "12.75", "1e3", "null", "\"\"",
                       "1x", "+5h"]):
    put("fuzz_serve_duration", "seed_%02d" % i, s)

# ---- fuzz_gguf_model: a GGUF with a vocabulary and a tiny llama model ----
GT = {"u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": 8, "arr": 9}


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gval(typ, v):
    if typ == "u32":
        return struct.pack("<I", v)
    if typ == "i32":
        return struct.pack("<i", v)
    if typ == "f32":
        return struct.pack("<f", v)
    if typ == "bool":
        return struct.pack("<B", 1 if v else 0)
    if typ == "str":
        return gstr(v)
    et, items = v
    return struct.pack("<IQ", GT[et], len(items)) + b"".join(gval(et, x) for x in items)


def gguf(kvs, tensors):
    """kvs: (key, type, value); tensors: (name, shape) of F32 values (zeros)."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", GT[t]) + gval(t, v)
    off, datas = 0, []
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        out += gstr(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<IQ", 0, off)
        data = struct.pack("<%df" % n, *[((i * 7) % 13 - 6) / 16 for i in range(n)])
        data += bytes(-len(data) % 32)
        datas.append(data)
        off += len(data)
    out += bytes(-len(out) % 32)
    return out + b"".join(datas)


TOKENS = ["<unk>", "<s>", "</s>", "<|user|>"] + ["<0x%02X>" % b for b in (0x0A, 0x20, 0x41)] + \
    ["\u2581the", "\u2581a", "t", "h", "e", "a", "\u2581", "th", "he"]
VOCAB_KVS = [("tokenizer.ggml.model", "str", "llama"),
             ("tokenizer.ggml.tokens", "arr", ("str", TOKENS)),
             ("tokenizer.ggml.scores", "arr", ("f32", [-float(i) for i in range(len(TOKENS))])),
             ("tokenizer.ggml.token_type", "arr", ("i32", [2, 3, 3, 4, 6, 6, 6] + [1] * 9)),
             ("tokenizer.ggml.bos_token_id", "u32", 1), ("tokenizer.ggml.eos_token_id", "u32", 2),
             ("tokenizer.ggml.add_bos_token", "bool", True),
             ("tokenizer.chat_template", "str", "{{ '<|im_start|>' }}")]
E, F, V = 8, 16, len(TOKENS)
MODEL_KVS = [("general.architecture", "str", "llama"), ("llama.block_count", "u32", 1),
             ("llama.context_length", "u32", 64), ("llama.embedding_length", "u32", E),
             ("llama.feed_forward_length", "u32", F), ("llama.attention.head_count", "u32", 2),
             ("llama.attention.head_count_kv", "u32", 1),
             ("llama.attention.layer_norm_rms_epsilon", "f32", 1e-5),
             ("llama.rope.freq_base", "f32", 10000.0)]
TENSORS = [("token_embd.weight", [E, V]), ("output_norm.weight", [E]), ("output.weight", [E, V]),
           ("blk.0.attn_norm.weight", [E]), ("blk.0.attn_q.weight", [E, E]),
           ("blk.0.attn_k.weight", [E, E // 2]), ("blk.0.attn_v.weight", [E, E // 2]),
           ("blk.0.attn_output.weight", [E, E]), ("blk.0.ffn_norm.weight", [E]),
           ("blk.0.ffn_gate.weight", [E, F]), ("blk.0.ffn_up.weight", [E, F]),
           ("blk.0.ffn_down.weight", [F, E])]
put("fuzz_gguf_model", "tiny_llama.gguf", gguf(MODEL_KVS + VOCAB_KVS, TENSORS))
put("fuzz_gguf_model", "vocab_only.gguf", gguf(VOCAB_KVS, []))
put("fuzz_gguf_model", "bpe_vocab.gguf", gguf([
    ("tokenizer.ggml.model", "str", "gpt2"), ("tokenizer.ggml.pre", "str", "gpt-2"),
    ("tokenizer.ggml.tokens", "arr", ("str", ["a", "b", "ab", "\u0120", "\u0120a", "<|endoftext|>"])),
    ("tokenizer.ggml.token_type", "arr", ("i32", [1, 1, 1, 1, 1, 3])),
    ("tokenizer.ggml.merges", "arr", ("str", ["a b", "\u0120 a"])),
    ("tokenizer.ggml.eos_token_id", "u32", 5)], []))
put("fuzz_gguf_model", "model_no_tensors.gguf", gguf(MODEL_KVS + VOCAB_KVS, []))


# ---- fuzz_repack_cache: a repack cache for the harness's fixed key ----
M64 = (1 << 64) - 1


def fnv1a(h, data):
    for b in data:
        h = ((h ^ b) * 1099511628211) & M64
    return h


FNV_INIT = 1469598103934665603


def repack_sum(data):  # kv__repack_cache_sum: four multiply-xor lanes, then FNV-1a
    h = [FNV_INIT, 0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f, 0x165667b19e3779f9]
    k = 0xff51afd7ed558ccd
    i = 0
    while len(data) - i >= 32:
        for lane in range(4):
            w = struct.unpack_from("<Q", data, i + 8 * lane)[0]
            h[lane] = ((h[lane] ^ w) * k) & M64
            h[lane] ^= h[lane] >> 29
        i += 32
    r = fnv1a(h[0] ^ ((h[1] << 1) & M64) ^ ((h[2] << 2) & M64) ^ ((h[3] << 3) & M64), data[i:])
    return fnv1a(r, struct.pack("<Q", len(data)))


REPACK_ENTRIES = [(0x1111, 2, 64, 16, 0, 0, 128), (0x2222, 14, 256, 8, 4096, 128, 192)]


def repack_cache(version=b"fuzz", table=b"amx", entries=REPACK_ENTRIES, data=None):
    data = bytes((i * 7 + 1) & 0xFF for i in range(320)) if data is None else data
    hsize = (136 + 64 * len(entries) + 4095) // 4096 * 4096
    head = bytearray(hsize)
    head[0:8] = b"KVREPACK"
    struct.pack_into("<IIQ", head, 8, 1, 0, hsize)
    head[32:32 + len(version)] = version
    head[64:64 + len(table)] = table
    struct.pack_into("<QQqqQQQ", head, 80, 0x1234, 1000, 1700000000, 5, 0xABCDEF, len(entries),
                     len(data))
    for j, (nh, t, ne0, ne1, src, off, size) in enumerate(entries):
        struct.pack_into("<QIIqqQQQQ", head, 136 + 64 * j, nh, t, 0, ne0, ne1, src, off, size,
                         repack_sum(data[off:off + size]))
    s = fnv1a(fnv1a(FNV_INIT, head[:24]), bytes(8))
    struct.pack_into("<Q", head, 24, fnv1a(s, head[32:]))
    return bytes(head) + data


put("fuzz_repack_cache", "good", repack_cache())
put("fuzz_repack_cache", "truncated", repack_cache()[:4200])
put("fuzz_repack_cache", "other_table", repack_cache(table=b"avx512"))
put("fuzz_repack_cache", "bad_sum", repack_cache()[:-1] + b"\x00")
put("fuzz_repack_cache", "header_only", repack_cache()[:136])
