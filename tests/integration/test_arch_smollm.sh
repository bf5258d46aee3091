#!/usr/bin/env bash
# SmolLM2 (LlamaForCausalLM with tied embeddings and a GPT-2-style byte-level BPE
# whose tokenizer.json pre-tokenizer is SmolLM's: Digits (individual) + ByteLevel):
# a tiny checkpoint (tools/make_arch_model.py smollm2, its tokenizer from
# tools/make_bpe_tokenizer.py) goes through kvant convert (which names the
# pre-tokenizer "smollm"), its ids equal the Hugging Face tokenizers library's on
# the shared corpus (npm @anush008/tokenizers), its F32 logits the numpy reference
# (<= 1e-4 of the largest, 64 greedy tokens), and Q8_0 runs and serves a chat
# through the model's own ChatML template. With KV_LLAMA_CPP_BIN, llama-tokenize
# must give kvant's ids on the converted file.
. "$(dirname "$0")/lib.sh"
PY=${KV_PYTHON:-/usr/bin/python3}
"$PY" -c 'import numpy' 2>/dev/null || { echo "python3-numpy is missing (tools/install-deps.sh)"; exit 1; }
require_cmds "node or npm is missing (tools/install-deps.sh installs them)" node npm
MODS=${KV_BUILD_DIR:-$TMP}/node_tok
NPM_TIMEOUT=500 npm_install_pinned "$MODS" "@anush008/tokenizers@0.6.0" ||
  skip "npm could not install the tokenizers (is the registry reachable?)"

d=$TMP/smollm2
expect_rc 0 "make the checkpoint" "$PY" "$SRC/tools/make_arch_model.py" smollm2 "$d"
expect_rc 0 "convert to F32" "$KVANT" convert "$d" -o "$d.f32.gguf" --outtype f32
expect_rc 0 "info" "$KVANT" info "$d.f32.gguf"
expect_out "pre-tokenizer smollm" "info names the pre-tokenizer smollm"
expect_out 'general.architecture                         "llama"' "architecture llama"

CORPUS=$TMP/corpus.jsonl
cat "$SRC/tests/data/tokenizer_corpus.jsonl" "$SRC/tests/data/wordpiece_corpus_extra.jsonl" >"$CORPUS"
"$KVANT" tokenize "$d.f32.gguf" --no-bos --jsonl "$CORPUS" >"$TMP/ids" 2>"$TMP/err" || cat "$TMP/err"
if OUT=$(node "$SRC/tests/integration/tokenizer_oracle.mjs" "$MODS/node_modules" "$d/tokenizer.json" \
    "$CORPUS" "$TMP/ids" "" 2>&1); then
  pass "smollm tokenizer: $(echo "$OUT" | tail -n 1)"
else
  echo "$OUT"
  fail "smollm tokenizer: ids differ from the tokenizers library"
fi

# 48+ tokens of real text (ids below the 859 the tokenizer has)
TOKENS=$("$KVANT" tokenize "$d.f32.gguf" --no-bos "$(head -c 400 "$SRC/data/kjv-heldout.txt")" |
  tr -d '[] ' | cut -d, -f1-56)
expect_rc 0 "kvant logits" "$KVANT" logits "$d.f32.gguf" --tokens "$TOKENS" -o "$d.logits" --greedy 64 -t 2
greedy=$OUT
expect_rc 0 "logits and 64 greedy tokens match the numpy reference" "$PY" \
  "$SRC/tests/reference/forward.py" "$d" --tokens "$TOKENS" --logits "$d.logits" --kv-f16 \
  --max-rel 1e-4 --greedy-ids "$greedy"
echo "$OUT"
expect_rc 0 "kvant logits, F32 cache" "$KVANT" logits "$d.f32.gguf" --tokens "$TOKENS" -o "$d.c32.logits" \
  --greedy 64 -t 2 --cache-type-k f32 --cache-type-v f32
greedy=$OUT
expect_rc 0 "F32 cache: logits within 1e-5 of the unrounded reference, 64 greedy tokens" "$PY" \
  "$SRC/tests/reference/forward.py" "$d" --tokens "$TOKENS" --logits "$d.c32.logits" \
  --max-rel 1e-5 --greedy-ids "$greedy"
echo "$OUT"

expect_rc 0 "quantize to Q8_0" "$KVANT" quantize "$d.f32.gguf" "$d.q8_0.gguf" q8_0 -t 2 -q
expect_rc 0 "run Q8_0" "$KVANT" run "$d.q8_0.gguf" "In the beginning" --temp 0 -n 8 -t 2
[ -n "$OUT" ] && pass "run printed text" || fail "run printed nothing"
start_server --model smol="$d.q8_0.gguf"
OUT=$(curl -s --max-time 60 "$BASE/api/chat" -d '{"model":"smol","stream":false,"messages":[{"role":"user","content":"And God said"}],"options":{"num_predict":4,"temperature":0}}')
expect_out '"done":true' "serve answers /api/chat"
# the ChatML prompt: system line added by the template, then the user turn
printf '%s' '[{"role":"user","content":"hi"}]' >"$TMP/msgs.json"
OUT=$("$KVANT" template render -m "$d.q8_0.gguf" --messages "$TMP/msgs.json" --add-generation-prompt 2>&1)
expect_out "<|im_start|>system" "the model's own template renders (system line added)"
expect_out "<|im_start|>assistant" "the generation prompt opens the assistant's turn"

LB=${KV_LLAMA_CPP_BIN:-}
if [ -n "$LB" ] && [ -x "$LB/llama-tokenize" ]; then
  text="In the beginning, 2024 years: God's \"word\"!"
  want=$(LD_LIBRARY_PATH=$LB "$LB/llama-tokenize" -m "$d.f32.gguf" -p "$text" --ids --no-bos --log-disable 2>/dev/null | tail -n 1)
  got=$("$KVANT" tokenize "$d.f32.gguf" --no-bos "$text")
  [ "$got" = "$want" ] && pass "llama-tokenize gives kvant's ids" || fail "llama-tokenize: $want, kvant $got"
else
  echo "KV_LLAMA_CPP_BIN not set: llama.cpp comparison not run"
fi
finish
