#!/usr/bin/env python3
"""Writes a bert-base-uncased-style WordPiece tokenizer (tokenizer.json and
tokenizer_config.json) with a small vocabulary, for kvant's tests: the same
tokenizer.json goes to kvant convert and to the Hugging Face tokenizers library
(the oracle of tests/integration/test_tokenizer_oracle_bert.sh).

  make_bert_tokenizer.py OUT_DIR [--text FILE]

Layout as bert-base-uncased: [PAD] 0, [unused0..98] 1..99, [UNK] 100, [CLS] 101,
[SEP] 102, [MASK] 103; then single characters (each as a word start and as a
"##" continuation): ASCII punctuation, digits and lowercase letters, Latin
letters without a decomposition (ß, æ, ø, ...), Greek, Cyrillic, Arabic,
Devanagari, kana, a few hundred CJK ideographs, a few emoji; then the 2000 most
frequent words of FILE (default data/kjv-heldout.txt) whole, and the next 1500
cut in two (a word start and a "##" continuation), and common suffixes. The
normalizer is BertNormalizer (lowercase, accents stripped, CJK split, text
cleaned), the pre-tokenizer BertPreTokenizer, the model WordPiece with "##" and
100 characters per word at most.
"""
import argparse
import collections
import json
import os
import re

SPECIAL = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}


def chars():
    cs = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    cs += list("ßæøðþđłœı")
    cs += [chr(c) for c in range(0x3B1, 0x3CA)] + [chr(c) for c in range(0x430, 0x450)]
    cs += [chr(c) for c in range(0x621, 0x64B)] + [chr(c) for c in range(0x905, 0x94D)]
    cs += [chr(c) for c in range(0x3041, 0x3097)] + [chr(c) for c in range(0x30A1, 0x30FB)]
    cs += [chr(c) for c in range(0x4E00, 0x4E00 + 256)]
    cs += list("中文日本語你好世界国人大学生的是了我不在有这个们来到时说要就出会可也你对")
    cs += list("😀😂❤👍🎉🙂🔥✨€£¥©®™°±×÷")
    seen, out = set(), []
    for c in cs:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def build_vocab(text):
    vocab = []
    for i in range(104):
        vocab.append(SPECIAL.get(i, f"[unused{i - 1 if i < 100 else i}]"))
    for c in chars():
        vocab += [c, "##" + c]
    words = collections.Counter(re.findall(r"[a-z]+", text.lower()))
    ranked = [w for w, _ in words.most_common() if len(w) > 1]
    have = set(vocab)

    def add(t):
        if t not in have:
            have.add(t)
            vocab.append(t)

    for w in ranked[:2000]:
        add(w)
    for w in ranked[2000:3500]:
        if len(w) >= 4:
            add(w[: len(w) // 2])
            add("##" + w[len(w) // 2:])
    for s in ("ing", "ed", "es", "er", "est", "ly", "tion", "ness", "ment", "able", "ful", "th",
              "eth", "est", "ation", "s"):
        add("##" + s)
    return vocab


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--text", default=os.path.join(here, "..", "data", "kjv-heldout.txt"))
    a = ap.parse_args()
    with open(a.text, encoding="utf-8") as f:
        vocab = build_vocab(f.read())
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in sorted(SPECIAL.items())]
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": True,
                       "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {t: {"id": t, "ids": [i], "tokens": [t]}
                               for i, t in ((101, "[CLS]"), (102, "[SEP]"))}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(vocab)}},
    }
    cfg = {"do_lower_case": True, "unk_token": "[UNK]", "sep_token": "[SEP]",
           "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
           "tokenize_chinese_chars": True, "strip_accents": None, "model_max_length": 512,
           "tokenizer_class": "BertTokenizer"}
    os.makedirs(a.out, exist_ok=True)
    for name, obj in (("tokenizer.json", tok), ("tokenizer_config.json", cfg)):
        tmp = os.path.join(a.out, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        os.replace(tmp, os.path.join(a.out, name))
    print(len(vocab))


if __name__ == "__main__":
    main()
