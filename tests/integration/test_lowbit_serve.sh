#!/usr/bin/env bash
# The low-bit file types through the rest of the tools: IQ2_XXS, IQ1_M and IQ3_XS files of the
# demo model (made with llama.cpp's imatrix) are benchmarked by `kvant bench` and served by
# `kvant serve`, whose greedy /api/generate text equals `kvant run`'s on the same file. Their
# bytes and perplexity against llama.cpp are tests/golden/test_golden_lowbit.c.
source "$(dirname "$0")/lib.sh"
require_demo_model
require_cmds "curl and python3 are needed" curl python3
IM=$SHARED/testdata/golden/kjv-llama-7m.imatrix.dat
expect_rc 0 "convert the demo model to F32" "$KVANT" convert "$SHARED/models/kjv-llama-7m" \
  -o "$TMP/f32.gguf" --outtype f32 -q
TYPES="IQ2_XXS IQ1_M IQ3_XS"
args=()
for t in $TYPES; do
  expect_rc 0 "quantize to $t" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/$t.gguf" "$t" 2 --imatrix "$IM" -q
  expect_rc 0 "$t: bench" "$KVANT" bench "$TMP/$t.gguf" -p 32 -n 8 -r 1 -t 2
  expect_out "tg8" "$t: bench measured generation"
  expect_rc 0 "$t: greedy run" "$KVANT" run "$TMP/$t.gguf" "And God said" -n 12 --temp 0 \
    --no-display-prompt -t 2
  printf '%s' "$OUT" | sed -n '1,/^prompt: /p' | sed '$d' >"$TMP/$t.run"
  args+=(--model "$t=$TMP/$t.gguf")
done
start_server "${args[@]}"
for t in $TYPES; do
  expect_rc 0 "$t: /api/generate" curl -sf "$BASE/api/generate" -d "{\"model\":\"$t\",\"prompt\":\"And God said\",\"stream\":false,\"options\":{\"temperature\":0,\"num_predict\":12}}"
  got=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["response"], end="")' "$OUT" 2>/dev/null)
  want=$(cat "$TMP/$t.run")
  [ -n "$got" ] && [ "$got" = "${want#And God said}" ] && pass "$t: the server's text is run's" \
    || fail "$t: server '$got', run '$want'"
done
finish
