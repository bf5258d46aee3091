#!/usr/bin/env python3
"""Writes a SmolLM2-style byte-level BPE tokenizer (tokenizer.json and
tokenizer_config.json) with a small vocabulary learned from a text, for kvant's
tests: the pre-tokenizer is SmolLM's (a Sequence of Digits with individual_digits
and ByteLevel with GPT-2's regex, no prefix space), so kvant convert names it
"smollm", and the same tokenizer.json goes to the Hugging Face tokenizers library
as the oracle.

  make_bpe_tokenizer.py OUT_DIR [--merges N] [--text FILE]

Ids: <|endoftext|> 0, <|im_start|> 1, <|im_end|> 2 (special, as SmolLM2), then the
256 byte characters of GPT-2's byte-to-unicode table, then one token per merge
(N, default 600, learned greedily from FILE, default data/kjv-heldout.txt, split
into words roughly as GPT-2's pattern does). tokenizer_config.json carries
SmolLM2-Instruct's ChatML chat template.
"""
import argparse
import collections
import json
import os
import re

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
            "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by "
            "Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
            "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
            "{{ '<|im_start|>assistant\\n' }}{% endif %}")


def byte_chars():
    """GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others
    are mapped to 256 + n."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def learn_merges(text, n_merges, bc):
    words = collections.Counter(re.findall(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[^\sA-Za-z0-9]+|\s+",
                                           text))
    seqs = {w: [bc[b] for b in w.encode("utf-8")] for w in words}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, f in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[a, b] += f
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append((a, b))
        for w in words:
            s, out, i = seqs[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--merges", type=int, default=600)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--text", default=os.path.join(here, "..", "data", "kjv-heldout.txt"))
    a = ap.parse_args()
    with open(a.text, encoding="utf-8") as f:
        text = f.read()
    bc = byte_chars()
    vocab = {t: i for i, t in enumerate(SPECIAL)}
    for b in range(256):
        vocab[bc[b]] = len(vocab)
    merges = learn_merges(text, a.merges, bc)
    for x, y in merges:
        if x + y not in vocab:
            vocab[x + y] = len(vocab)
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for i, t in enumerate(SPECIAL)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": True}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{x} {y}" for x, y in merges]},
    }
    cfg = {"add_prefix_space": False, "bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
           "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>",
           "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
           "clean_up_tokenization_spaces": False, "model_max_length": 8192,
           "tokenizer_class": "GPT2Tokenizer", "vocab_size": len(vocab), "chat_template": TEMPLATE}
    os.makedirs(a.out, exist_ok=True)
    for name, obj in (("tokenizer.json", tok), ("tokenizer_config.json", cfg)):
        tmp = os.path.join(a.out, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        os.replace(tmp, os.path.join(a.out, name))
    print(len(vocab))


if __name__ == "__main__":
    main()
