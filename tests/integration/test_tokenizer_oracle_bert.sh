#!/usr/bin/env bash
# WordPiece (BERT) tokenization against the Hugging Face `tokenizers` library itself
# (Rust, through npm @anush008/tokenizers). tools/make_bert_tokenizer.py writes a
# bert-base-uncased-style tokenizer.json (BertNormalizer with lowercase, accents
# stripped and CJK split; BertPreTokenizer; WordPiece with "##" and [UNK] over 100
# characters); a tiny BertModel with it (tools/make_arch_model.py bert) is converted
# by `kvant convert`, and `kvant tokenize --jsonl` must give the library's ids
# (add_special_tokens false) on the shared corpus plus tests/data/wordpiece_corpus_extra.jsonl
# (accents, case, CJK, control and zero-width characters, long words, [MASK] in
# text). With special tokens: [CLS] first and [SEP] last, as both add them. A
# folder with vocab.txt instead of tokenizer.json converts to the same ids.
. "$(dirname "$0")/lib.sh"

TOKENIZERS_VERSION=0.6.0
PY=${KV_PYTHON:-/usr/bin/python3}
"$PY" -c 'import numpy' 2>/dev/null || { echo "python3-numpy is missing (tools/install-deps.sh)"; exit 1; }
require_cmds "node or npm is missing (tools/install-deps.sh installs them)" node npm
MODS=${KV_BUILD_DIR:-$TMP}/node_tok
NPM_TIMEOUT=500 npm_install_pinned "$MODS" "@anush008/tokenizers@$TOKENIZERS_VERSION" ||
  skip "npm could not install the tokenizers (is the registry reachable?)"
CORPUS=$TMP/corpus.jsonl
cat "$SRC/tests/data/tokenizer_corpus.jsonl" "$SRC/tests/data/wordpiece_corpus_extra.jsonl" >"$CORPUS"
n=$(wc -l <"$CORPUS")
[ "$n" -ge 300 ] && pass "corpus of $n texts" || fail "corpus of $n texts (want >= 300)"

d=$TMP/bert
expect_rc 0 "make the BERT checkpoint and its tokenizer" "$PY" "$SRC/tools/make_arch_model.py" bert "$d"
expect_rc 0 "kvant convert" "$KVANT" convert "$d" -o "$TMP/bert.gguf"
expect_rc 0 "kvant info" "$KVANT" info "$TMP/bert.gguf"
expect_out "tokenizer:    bert" "info names the WordPiece tokenizer"
"$KVANT" tokenize "$TMP/bert.gguf" --no-bos --jsonl "$CORPUS" >"$TMP/bert.ids" 2>"$TMP/bert.err" ||
  cat "$TMP/bert.err"
if OUT=$(node "$SRC/tests/integration/tokenizer_oracle.mjs" "$MODS/node_modules" "$d/tokenizer.json" \
    "$CORPUS" "$TMP/bert.ids" "" 2>&1); then
  pass "bert: $(echo "$OUT" | tail -n 1)"
else
  echo "$OUT"
  fail "bert: ids differ from the tokenizers library"
fi
# with special tokens: [CLS] ... [SEP], as the library's post-processor adds them
for text in "Hello, World!" "Café 中文 unbelievable"; do
  got=$("$KVANT" tokenize "$TMP/bert.gguf" "$text")
  want=$(node -e "const{Tokenizer}=require('$MODS/node_modules/@anush008/tokenizers');
    Tokenizer.fromFile('$d/tokenizer.json').encode(process.argv[1]).then(e =>
      console.log(JSON.stringify(Array.from(e.getIds())).replace(/,/g, ', ')))" "$text")
  [ "$got" = "$want" ] && pass "with special tokens: $text" || fail "with special tokens: $got, want $want"
done

# llama.cpp's own bge vocabulary test (a real uncased BERT vocabulary, 30522 tokens;
# the .out ids come from Hugging Face's tokenizer), when a llama.cpp source tree is given
V=${KV_LLAMA_CPP_SRC:-}/models/ggml-vocab-bert-bge.gguf
if [ -n "${KV_LLAMA_CPP_SRC:-}" ] && [ -f "$V" ]; then
  "$PY" - "$V.inp" "$TMP/bge.jsonl" <<'PY'
import json, sys
t = open(sys.argv[1], encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for x in (t[:-1] if t and t[-1] == "" else t):
        f.write(json.dumps(x, ensure_ascii=False) + "\n")
PY
  "$KVANT" tokenize "$V" --no-bos --jsonl "$TMP/bge.jsonl" | tr -d '[],' | sed 's/^\(.\)/ \1/' >"$TMP/bge.got"
  head -n "$(wc -l <"$TMP/bge.jsonl")" "$V.out" >"$TMP/bge.want"
  if diff -q "$TMP/bge.got" "$TMP/bge.want" >/dev/null; then
    pass "llama.cpp's ggml-vocab-bert-bge test: $(wc -l <"$TMP/bge.want") texts agree"
  else fail "ggml-vocab-bert-bge: $(diff "$TMP/bge.got" "$TMP/bge.want" | head -5)"; fi
else
  echo "KV_LLAMA_CPP_SRC not set: llama.cpp's bge vocabulary test not run"
fi

# a folder with vocab.txt (BertTokenizer's file) instead of tokenizer.json: the
# same vocabulary in the same order gives the same ids, with and without specials
mkdir -p "$TMP/vtxt"
cp "$d/config.json" "$d/model.safetensors" "$d/tokenizer_config.json" "$TMP/vtxt/"
"$PY" - "$d/tokenizer.json" "$TMP/vtxt/vocab.txt" <<'PY'
import json, sys
v = json.load(open(sys.argv[1], encoding="utf-8"))["model"]["vocab"]
open(sys.argv[2], "w", encoding="utf-8").write("".join(t + "\n" for t, _ in sorted(v.items(), key=lambda kv: kv[1])))
PY
expect_rc 0 "vocab.txt: kvant convert" "$KVANT" convert "$TMP/vtxt" -o "$TMP/vtxt.gguf"
"$KVANT" tokenize "$TMP/vtxt.gguf" --no-bos --jsonl "$CORPUS" >"$TMP/vtxt.ids"
cmp -s "$TMP/vtxt.ids" "$TMP/bert.ids" && pass "vocab.txt: the same ids on the $n texts" ||
  fail "vocab.txt: ids differ from the tokenizer.json conversion"
a=$("$KVANT" tokenize "$TMP/vtxt.gguf" "Hello, World!") b=$("$KVANT" tokenize "$TMP/bert.gguf" "Hello, World!")
[ "$a" = "$b" ] && pass "vocab.txt: [CLS] ... [SEP] as well" || fail "vocab.txt: $a, want $b"

# a BERT folder with neither vocab.txt nor tokenizer.json, or with a cased
# normalizer: one line naming the file and the field, nothing written
mkdir -p "$TMP/notok"
cp "$d/config.json" "$d/model.safetensors" "$TMP/notok/"
expect_rc 1 "no tokenizer.json or vocab.txt" "$KVANT" convert "$TMP/notok" -o "$TMP/notok.gguf"
expect_out "notok/vocab.txt: missing, and no tokenizer.json either" "the error names the files"
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] && pass "one line" || fail "one line: $OUT"
cp -r "$d" "$TMP/cased"
sed -i 's/"lowercase": true/"lowercase": false/' "$TMP/cased/tokenizer.json"
expect_rc 1 "a cased normalizer" "$KVANT" convert "$TMP/cased" -o "$TMP/cased.gguf"
expect_out "tokenizer.json: field 'normalizer'" "the error names the file and the field"
[ ! -e "$TMP/notok.gguf" ] && [ ! -e "$TMP/cased.gguf" ] && pass "nothing written" ||
  fail "nothing written: $(ls "$TMP")"
finish
