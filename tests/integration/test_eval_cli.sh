#!/usr/bin/env bash
# kvant tokenize, run and perplexity end to end on the demo model, against
# llama.cpp's golden figures where ../shared has them, and their bad input:
# unsupported architecture, missing tensor or key, context too long, text that
# is not UTF-8, an empty file.
source "$(dirname "$0")/lib.sh"
EDIT="python3 $SRC/tests/integration/gguf_edit.py"
expect_rc 0 "convert the demo model to F32" "$KVANT" convert "$SRC/models/kjv-llama-7m" -o "$TMP/f32.gguf" --outtype f32 -q
M=$TMP/f32.gguf

expect_rc 0 "tokenize" "$KVANT" tokenize "$M" "In the beginning"
expect_out "[1, 1036, 261, 2271]" "ids of 'In the beginning' with BOS"
# empty text, as llama-tokenize: BOS alone ([1]), or [] without it (an empty file was an error)
: >"$TMP/empty.txt"
for args in "-f $TMP/empty.txt|[1]" "-f $TMP/empty.txt --no-bos|[]" "|[1]" "--no-bos|[]" \
            "-f $TMP/empty.txt --count --no-bos|0" "-f $TMP/empty.txt --pieces --no-bos|"; do
  a=${args%|*} want=${args##*|}
  if [ "${a:0:2}" = "-f" ]; then set -- $a; else set -- "" $a; fi
  expect_rc 0 "tokenize empty text ($a)" "$KVANT" tokenize "$M" "$@"
  [ "$OUT" = "$want" ] && pass "empty text ($a) gives '$want'" || fail "empty text ($a): '$OUT', wanted '$want'"
done
expect_rc 0 "greedy run" "$KVANT" run "$M" "In the beginning" -n 32 --temp 0 --no-display-prompt
expect_out "tokens/s" "run reports its speed"
if [ -n "$SHARED" ]; then
  G=$SHARED/testdata/golden/kjv-llama-7m.json
  want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["greedy"]["text"].removeprefix("<s> In the beginning"))' "$G")
  got=$("$KVANT" run "$M" "In the beginning" -n 32 --temp 0 --no-display-prompt 2>/dev/null)
  [ "$got" = "$want" ] && pass "greedy continuation equals llama-simple's" || fail "greedy: got '$got' want '$want'"
  n=$("$KVANT" tokenize "$M" -f "$SHARED/data/kjv-test.txt" | python3 -c '
import sys, json, hashlib
ids = json.loads(sys.stdin.read())
print(len(ids), hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest())')
  want=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tokenize_test"]; print(t["n_tokens"], t["sha256_of_ids"])' "$G")
  [ "$n" = "$want" ] && pass "kjv-test.txt tokenizes as llama-tokenize: $n" || fail "tokenize: $n, want $want"
  expect_rc 0 "perplexity, 4 chunks of 128" "$KVANT" perplexity "$M" -f "$SHARED/data/kjv-test.txt" -c 128 --chunks 4 --kld-base "$TMP/base.kld"
  expect_out "Final estimate: PPL = " "perplexity prints the final estimate"
  expect_rc 0 "KL divergence of Q8_0 against F32" bash -c "'$KVANT' quantize '$M' '$TMP/q8.gguf' Q8_0 -q && '$KVANT' perplexity '$TMP/q8.gguf' --kld '$TMP/base.kld'"
  expect_out "Mean    KLD:" "KLD report"
  expect_out "Same top p:" "same-top-p report"
  # A base logits file whose token after the last row of a decode batch is past
  # the vocabulary (that token is not in a checked batch yet): an error, not a crash
  python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[20 + 4 * 96:24 + 4 * 96] = (2**31 - 1).to_bytes(4, "little"); open(sys.argv[2], "wb").write(b)' "$TMP/base.kld" "$TMP/bad.kld"
  expect_rc 1 "KL divergence against a token past the vocabulary" "$KVANT" perplexity "$TMP/q8.gguf" --kld "$TMP/bad.kld" -b 32
  expect_out "bad.kld: token 96 of chunk 0 (offset 404) is 2147483647, outside the vocabulary" "the error names the file, token and offset"
fi

# bad input
$EDIT "$M" "$TMP/arch.gguf" --set-str general.architecture mamba9
expect_rc 1 "unsupported architecture" "$KVANT" run "$TMP/arch.gguf" "x" -n 1
expect_out "mamba9" "the error names the architecture"
$EDIT "$M" "$TMP/notensor.gguf" --drop-tensor blk.1.attn_k.weight
expect_rc 1 "missing tensor" "$KVANT" run "$TMP/notensor.gguf" "x" -n 1
expect_out "blk.1.attn_k.weight" "the error names the missing tensor"
$EDIT "$M" "$TMP/nokey.gguf" --drop-key llama.block_count
expect_rc 1 "missing key" "$KVANT" perplexity "$TMP/nokey.gguf" -f "$SRC/README.md"
expect_out "llama.block_count" "the error names the missing key"
printf 'abc\xff\xfedef' > "$TMP/latin.txt"
expect_rc 1 "text that is not UTF-8" "$KVANT" perplexity "$M" -f "$TMP/latin.txt"
expect_out "offset 3" "the error gives the byte offset"
: > "$TMP/empty.txt"
expect_rc 1 "empty text" "$KVANT" perplexity "$M" -f "$TMP/empty.txt"
expect_out "empty" "the error says empty"
expect_rc 1 "context longer than the model's" "$KVANT" perplexity "$M" -f "$SRC/README.md" -c 1024
expect_out "longer than the model's 512" "the error gives both lengths"
expect_rc 1 "text too short for two chunks" "$KVANT" perplexity "$M" -f "$SRC/models/kjv-llama-7m/config.json" -c 256
expect_rc 1 "missing model" "$KVANT" run "$TMP/none.gguf" "x"
expect_out "$TMP/none.gguf" "the error names the file"
finish
