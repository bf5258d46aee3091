#!/usr/bin/env bash
# The quantized KV cache (--cache-type-k/-v f32|f16|q8_0|q4_0) on the demo model:
# perplexity with a q8_0 cache within a small bound of f16's, q4_0 within a
# larger one, f32 at f16's; KL divergence against the f16 cache ordered q8_0 <
# q4_0; greedy text with --lookup on a quantized cache is the plain run's (the
# cache's dot products are per pair, so batch-invariant); bench at a depth with
# cache types in its records; serve with a q8_0 cache answers; bad types refused.
source "$(dirname "$0")/lib.sh"
require_demo_model
require_cmds "python3 or curl is missing" python3 curl

demo_gguf # Q8_0 weights at $TMP/kjv.gguf
M=$TMP/kjv.gguf
TEXT=$SHARED/data/kjv-test.txt
ppl() { # CACHE_TYPE: the final perplexity of 8 chunks of 256 tokens
  "$KVANT" perplexity "$M" -f "$TEXT" -c 256 --chunks 8 -t 2 -q --cache-type-k "$1" \
    --cache-type-v "$1" 2>&1 | sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p'
}
F16=$(ppl f16)
for t in f32 q8_0 q4_0; do
  P=$(ppl "$t")
  case $t in f32) bound=0.0005 ;; q8_0) bound=0.002 ;; q4_0) bound=0.02 ;; esac
  if python3 -c "import sys; r = $P / $F16; sys.exit(0 if abs(r - 1) < $bound else 1)" 2>/dev/null; then
    pass "perplexity with a $t cache $P is within $bound of f16's $F16"
  else
    fail "perplexity with a $t cache '$P' vs f16's '$F16' (bound $bound)"
  fi
done

expect_rc 0 "f16 cache logits as the KL base" "$KVANT" perplexity "$M" -f "$TEXT" -c 256 --chunks 8 \
  -t 2 -q --kld-base "$TMP/base.kld"
kld() {
  "$KVANT" perplexity "$M" --kld "$TMP/base.kld" -t 2 -q --cache-type-k "$1" --cache-type-v "$1" \
    2>&1 | sed -n 's/^Mean *KLD: *\([0-9.e-]*\).*/\1/p'
}
K8=$(kld q8_0)
K4=$(kld q4_0)
if python3 -c "import sys; sys.exit(0 if 0 < $K8 < 1e-4 and $K8 < $K4 < 5e-3 else 1)" 2>/dev/null; then
  pass "mean KLD against the f16 cache: q8_0 $K8 < q4_0 $K4"
else
  fail "mean KLD q8_0 '$K8', q4_0 '$K4'"
fi

PROMPT="And God said, Let there be light: and there was light. And God saw the light"
for t in q8_0 q4_0 f32; do
  "$KVANT" run "$M" "$PROMPT" -n 120 --temp 0 -t 2 --cache-type-k "$t" --cache-type-v "$t" \
    --no-display-prompt >"$TMP/a.txt" 2>/dev/null
  "$KVANT" run "$M" "$PROMPT" -n 120 --temp 0 -t 2 --cache-type-k "$t" --cache-type-v "$t" \
    --lookup 3 --no-display-prompt >"$TMP/b.txt" 2>/dev/null
  if [ -s "$TMP/a.txt" ] && cmp -s "$TMP/a.txt" "$TMP/b.txt"; then
    pass "$t cache: batched checks of guesses give the plain greedy text"
  else
    fail "$t cache: $(diff "$TMP/a.txt" "$TMP/b.txt" | head -4)"
  fi
done

expect_rc 0 "bench at depth 128 with a q8_0/q4_0 cache" "$KVANT" bench "$M" -p 32 -n 4 -d 128 -r 1 \
  -t 2 --bw-mib 0 --cache-type-k q8_0 --cache-type-v q4_0 -o json
printf '%s' "$OUT" >"$TMP/b.json"
expect_rc 0 "records carry depth and cache types" python3 - "$TMP/b.json" <<'PY'
import json, sys
recs = json.load(open(sys.argv[1]))
assert len(recs) == 2, recs
for r in recs:
    assert r["n_depth"] == 128 and r["type_k"] == "q8_0" and r["type_v"] == "q4_0", r
    assert r["avg_ts"] > 0, r
PY
expect_rc 0 "bench markdown names the depth" "$KVANT" bench "$M" -p 16 -n 0 -d 32 -r 1 -t 2 \
  --cache-type-k q4_0
expect_out "pp16 @ d32" "the test column says the depth"
expect_out "q4_0" "the type_k column"
expect_rc 2 "bench with a negative depth" "$KVANT" bench "$M" -p 16 -n 0 -d -1 -r 1
expect_out "-d" "the message names the option"

for cmd in run perplexity bench; do
  expect_rc 2 "$cmd --cache-type-k q4_k" "$KVANT" $cmd "$M" --cache-type-k q4_k
  expect_out "--cache-type-k" "$cmd names the option"
done
expect_rc 2 "serve --cache-type-v bf16" "$KVANT" serve --port 0 --cache-type-v bf16
expect_out "--cache-type-v" "serve names the option"

start_server --model "kjv=$M" --cache-type-k q8_0 --cache-type-v q4_0
R=$(curl -s --max-time 60 -X POST "$BASE/api/generate" \
  -d '{"model":"kjv","prompt":"And God said","stream":false,"options":{"num_predict":16,"temperature":0}}')
grep -q '"done":true' <<<"$R" && grep -q '"response":"[^"]' <<<"$R" \
  && pass "serve with a q8_0/q4_0 cache answers" || fail "serve with a quantized cache: $R"
finish
