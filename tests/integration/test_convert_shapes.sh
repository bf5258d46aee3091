#!/usr/bin/env bash
# Conversion of model shapes the demo model lacks: rows that fit no K-quant block
# (fallbacks reported, or refused with --no-fallback), tied embeddings (no
# output.weight), and one-step convert equal to convert-then-quantize.
source "$(dirname "$0")/lib.sh"
DIG="python3 $SRC/tests/integration/gguf_digests.py"
python3 "$SRC/tools/make_tiny_model.py" "$TMP/tiny" --tokenizer-from "$SRC/models/kjv-llama-7m" \
  --hidden 96 --ff 160 --layers 2 --heads 4 --kv-heads 2 --tied

expect_rc 0 "one-step convert to Q4_K_M" "$KVANT" convert "$TMP/tiny" -o "$TMP/one.gguf" --outtype Q4_K_M
expect_out "fallbacks:" "fallbacks are reported in the summary"
expect_out "blk.0.attn_q.weight: Q4_K -> Q5_0" "each fallback is named"
expect_rc 1 "--no-fallback refuses" "$KVANT" convert "$TMP/tiny" -o "$TMP/nf.gguf" --outtype Q4_K_M --no-fallback
expect_out "rows of 96 do not fit Q4_K" "the error explains the row length"
[ ! -e "$TMP/nf.gguf" ] && pass "no output after --no-fallback error" || fail "output left"

expect_rc 0 "convert to F32" "$KVANT" convert "$TMP/tiny" -o "$TMP/f32.gguf" --outtype f32 -q
expect_rc 0 "quantize to Q4_K_M" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/two.gguf" Q4_K_M -q
a=$($DIG "$TMP/one.gguf"); b=$($DIG "$TMP/two.gguf")
[ -n "$a" ] && [ "$a" = "$b" ] && pass "one step == convert then quantize ($(wc -l <<<"$a") tensors)" \
  || fail "one-step and two-step differ: $(diff <(echo "$a") <(echo "$b") | head -5)"
grep -q "^output.weight" <<<"$a" && fail "tied model has output.weight" || pass "tied model: no output.weight"

expect_rc 0 "convert with 1 thread" "$KVANT" convert "$TMP/tiny" -o "$TMP/t1.gguf" --outtype Q4_K_M -t 1 -q
cmp -s "$TMP/one.gguf" "$TMP/t1.gguf" && pass "1 and 2 threads: identical files" || fail "thread counts differ"
finish
