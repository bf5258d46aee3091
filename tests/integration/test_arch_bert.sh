#!/usr/bin/env bash
# BERT (BertModel -> GGUF arch "bert", an encoder for embeddings): a tiny random
# checkpoint with its own WordPiece tokenizer and sentence-transformers pooling
# (tools/make_arch_model.py bert, mean; and --pooling cls) is converted with
# llama.cpp's tensor names and keys, and `kvant serve` answers /api/embed,
# /api/embeddings and /v1/embeddings with vectors equal to an independent numpy
# BertModel (tests/reference/forward.py: embeddings + positions + token type 0,
# LayerNorm, non-causal attention, post-LayerNorm blocks, erf GELU; q/k/v rounded
# to F16 like the KV cache) pooled as the GGUF says and scaled to unit length:
# max |difference| <= 1e-4 of the largest |value| (F32), 5e-2 for Q8_0. Inputs
# over the 128 positions are cut (truncate) or refused; generation is refused.
# With KV_LLAMA_CPP_BIN (a llama.cpp build's bin/), its llama-quantize must give
# the same Q4_K_M tensors byte for byte and llama-tokenize the same ids.
source "$(dirname "$0")/lib.sh"
PY=${KV_PYTHON:-/usr/bin/python3}
"$PY" -c 'import numpy' 2>/dev/null || { echo "python3-numpy is missing (tools/install-deps.sh)"; exit 1; }
REF=$SRC/tests/reference/forward.py

expect_rc 0 "make the mean-pooled checkpoint" "$PY" "$SRC/tools/make_arch_model.py" bert "$TMP/bm"
expect_rc 0 "make the CLS-pooled checkpoint" "$PY" "$SRC/tools/make_arch_model.py" bert "$TMP/bc" \
  --pooling cls --seed 2
for m in bm bc; do
  expect_rc 0 "$m: convert to F32" "$KVANT" convert "$TMP/$m" -o "$TMP/$m.f32.gguf" --outtype f32
done
expect_rc 0 "bm: quantize to Q8_0" "$KVANT" quantize "$TMP/bm.f32.gguf" "$TMP/bm.q8_0.gguf" q8_0 -q -t 2
expect_rc 0 "bm: quantize to Q4_K_M" "$KVANT" quantize "$TMP/bm.f32.gguf" "$TMP/bm.q4_k_m.gguf" q4_k_m -q -t 2

# llama.cpp's names and keys (BertModel in convert_hf_to_gguf.py)
expect_rc 0 "bm: info" "$KVANT" info "$TMP/bm.f32.gguf"
for want in "general.architecture *\"bert\"" "bert.attention.causal *false" "bert.pooling_type *1" \
  "bert.attention.layer_norm_epsilon" "bert.context_length *128" "tokenizer.ggml.model *\"bert\"" \
  "tokenizer.ggml.token_type_count *2" "token_embd.weight" "token_types.weight *F32 *256 x 2 " \
  "position_embd.weight *F32 *256 x 128 " "token_embd_norm.bias" "blk.1.attn_q.bias" \
  "blk.1.attn_output_norm.weight" "blk.1.ffn_up.bias *F32 *512 " "blk.1.layer_output_norm.bias"; do
  grep -qE -- "$want" <<<"$OUT" && pass "bm: $want" || fail "bm: $want (not in: $OUT)"
done
[ -z "$(grep -E 'pooler|^[0-9]+ +output_norm|ffn_gate|rope' <<<"$OUT")" ] && pass "bm: no pooler, gate or RoPE" ||
  fail "bm: no pooler, gate or RoPE"
expect_rc 0 "bc: info" "$KVANT" info "$TMP/bc.f32.gguf"
expect_out "bert.pooling_type                            2" "bc: pooling_type 2 (CLS)"

start_server --model bm="$TMP/bm.f32.gguf" --model bc="$TMP/bc.f32.gguf" --model bq="$TMP/bm.q8_0.gguf"
TEXTS=("In the beginning God created the heaven and the earth."
  "Café naïve résumé — 中文 and unbelievable words, [MASK] too!"
  "$(printf 'And the LORD spake unto Moses, saying, %.0s' 1 2 3 4 5)")
# check MODEL DIR POOLING LIMIT TEXT EMBEDDING_JSON [TOKENS]: the reference on the
# text's tokens as the server makes them ([CLS] text [SEP]; "[MASK]" in text is text)
check() {
  local toks=${7:-$("$KVANT" tokenize "$TMP/$2.f32.gguf" --no-parse-special "$5" | tr -d '[] ')}
  printf '%s' "$6" >"$TMP/emb.json"
  expect_rc 0 "$1 ($3): ${5:0:30}... equals the reference within $4" "$PY" "$REF" "$TMP/$2" \
    --tokens "$toks" --embedding "$TMP/emb.json" --pooling "$3" --kv-f16 --max-rel "$4"
  echo "$OUT"
}
body=$("$PY" -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "input": sys.argv[2:]}))' \
  bm "${TEXTS[@]}")
R=$(curl -s --max-time 60 "$BASE/api/embed" -d "$body")
for i in 0 1 2; do
  check bm bm mean 1e-4 "${TEXTS[$i]}" "$("$PY" -c "import json,sys; print(json.dumps(json.load(sys.stdin)['embeddings'][$i]))" <<<"$R")"
done
R=$(curl -s --max-time 60 "$BASE/api/embeddings" -d "{\"model\":\"bm\",\"prompt\":\"${TEXTS[0]}\"}")
check bm bm mean 1e-4 "${TEXTS[0]}" "$("$PY" -c "import json,sys; print(json.dumps(json.load(sys.stdin)['embedding']))" <<<"$R")"
for m in bc:bc:cls:1e-4 bq:bm:mean:5e-2; do
  IFS=: read -r name dir pool lim <<<"$m"
  R=$(curl -s --max-time 60 "$BASE/v1/embeddings" -d "{\"model\":\"$name\",\"input\":[\"${TEXTS[1]}\"]}")
  check "$name" "$dir" "$pool" "$lim" "${TEXTS[1]}" \
    "$("$PY" -c "import json,sys; print(json.dumps(json.load(sys.stdin)['data'][0]['embedding']))" <<<"$R")"
done
# pooling matters: the CLS model's vector is not its mean-pooled one
R=$(curl -s --max-time 60 "$BASE/api/embed" -d "{\"model\":\"bc\",\"input\":\"${TEXTS[0]}\"}")
printf '%s' "$("$PY" -c "import json,sys; print(json.dumps(json.load(sys.stdin)['embeddings'][0]))" <<<"$R")" >"$TMP/emb.json"
expect_rc 1 "bc: the mean of its states is far from what it returns" "$PY" "$REF" "$TMP/bc" \
  --tokens "$("$KVANT" tokenize "$TMP/bc.f32.gguf" "${TEXTS[0]}" | tr -d '[] ')" \
  --embedding "$TMP/emb.json" --pooling mean --kv-f16 --max-rel 0.1
expect_out "max relative embedding error" "bc: the error was measured"

# over the 128 positions: cut to 128 tokens by default (Ollama's truncate), 400 without
long=$(printf 'the heaven and the earth %.0s' $(seq 1 40))
R=$(curl -s --max-time 60 "$BASE/api/embed" -d "{\"model\":\"bm\",\"input\":\"$long\"}")
toks=$("$KVANT" tokenize "$TMP/bm.f32.gguf" "$long" | tr -d '[] ' | cut -d, -f1-128)
check bm bm mean 1e-4 "$long" "$("$PY" -c "import json,sys; print(json.dumps(json.load(sys.stdin)['embeddings'][0]))" <<<"$R")" "$toks"
code=$(curl -s -o "$TMP/r.json" -w '%{http_code}' --max-time 60 "$BASE/api/embed" \
  -d "{\"model\":\"bm\",\"input\":\"$long\",\"truncate\":false}")
[ "$code" = 400 ] && grep -q "do not fit the context of 128" "$TMP/r.json" && pass "truncate false: 400" ||
  fail "truncate false: $code $(cat "$TMP/r.json")"
# an embedding model does not generate
code=$(curl -s -o "$TMP/r.json" -w '%{http_code}' --max-time 60 "$BASE/api/generate" \
  -d '{"model":"bm","prompt":"hello","stream":false}')
[ "$code" = 400 ] && grep -q 'does not support generate' "$TMP/r.json" && pass "generate: 400" ||
  fail "generate: $code $(cat "$TMP/r.json")"

expect_rc 1 "kvant run on an encoder" "$KVANT" run "$TMP/bm.f32.gguf" "hello" -n 4
expect_out "is an embedding model; it does not generate" "run: the error says why"
expect_rc 1 "kvant perplexity on an encoder" "$KVANT" perplexity "$TMP/bm.f32.gguf" \
  -f "$SRC/data/kjv-heldout.txt" -c 64
expect_out "is an embedding model" "perplexity: the error says why"

# llama.cpp's own tools on kvant's files, when a build is given
LB=${KV_LLAMA_CPP_BIN:-}
if [ -n "$LB" ] && [ -x "$LB/llama-quantize" ]; then
  LD_LIBRARY_PATH=$LB "$LB/llama-quantize" "$TMP/bm.f32.gguf" "$TMP/bm.l4.gguf" Q4_K_M 2 >/dev/null 2>&1
  if diff <("$PY" "$SRC/tests/integration/gguf_digests.py" "$TMP/bm.l4.gguf") \
      <("$PY" "$SRC/tests/integration/gguf_digests.py" "$TMP/bm.q4_k_m.gguf") >/dev/null; then
    pass "Q4_K_M: every tensor as llama-quantize writes it"
  else fail "Q4_K_M differs from llama-quantize"; fi
  want=$(LD_LIBRARY_PATH=$LB "$LB/llama-tokenize" -m "$TMP/bm.f32.gguf" -p "${TEXTS[0]}" --ids --log-disable 2>/dev/null | tail -n 1)
  got=$("$KVANT" tokenize "$TMP/bm.f32.gguf" "${TEXTS[0]}")
  [ "$got" = "$want" ] && pass "llama-tokenize gives kvant's ids" || fail "llama-tokenize: $want, kvant $got"
else
  echo "KV_LLAMA_CPP_BIN not set: llama.cpp comparisons not run"
fi

# bad input: one line naming the file and the field, nothing written
mkdir -p "$TMP/bad"
cp -r "$TMP/bm/"* "$TMP/bad/"
sed -i 's/"hidden_act": "gelu"/"hidden_act": "relu"/' "$TMP/bad/config.json"
expect_rc 1 "hidden_act relu" "$KVANT" convert "$TMP/bad" -o "$TMP/bad.gguf"
expect_out "config.json: field 'hidden_act' is 'relu'" "the error names the file and the field"
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] && pass "one line" || fail "one line: $OUT"
[ ! -e "$TMP/bad.gguf" ] && pass "nothing written" || fail "nothing written"
finish
