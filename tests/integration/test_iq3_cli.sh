#!/usr/bin/env bash
# IQ3_XXS and IQ3_S tensors through the CLI: kvant quantize with --tensor-type
# overrides writes both types into one file (the same bytes at 1 and 2 threads),
# and kvant run and perplexity work on it, its perplexity near F32's. The tensor
# bytes against llama.cpp are tests/golden/test_golden_iq3.c; the kernels are
# tests/unit/test_kernels_iq3.c.
source "$(dirname "$0")/lib.sh"
require_demo_model
expect_rc 0 "convert the demo model to F32" "$KVANT" convert "$SHARED/models/kjv-llama-7m" -o "$TMP/f32.gguf" --outtype f32 -q
IM=$SHARED/testdata/golden/kjv-llama-7m.imatrix.dat
for t in 1 2; do
  expect_rc 0 "quantize layers 0-1 to IQ3_XXS, 2-3 to IQ3_S ($t threads)" "$KVANT" quantize \
    "$TMP/f32.gguf" "$TMP/iq3-$t.gguf" Q4_K_M "$t" --imatrix "$IM" \
    --tensor-type 'blk\.[01]\..*_(q|k|v|output|gate|up|down)\.weight=iq3_xxs' \
    --tensor-type 'blk\.[23]\..*_(q|k|v|output|gate|up|down)\.weight=iq3_s'
done
expect_out "blk.0.ffn_down.weight" "the summary lists the tensors"
grep -E 'blk\.1\.attn_q\.weight .*-> IQ3_XXS' <<<"$OUT" >/dev/null && pass "layer 1 is IQ3_XXS" || fail "layer 1 not IQ3_XXS: $OUT"
grep -E 'blk\.3\.ffn_up\.weight .*-> IQ3_S ' <<<"$OUT" >/dev/null && pass "layer 3 is IQ3_S" || fail "layer 3 not IQ3_S: $OUT"
cmp -s "$TMP/iq3-1.gguf" "$TMP/iq3-2.gguf" && pass "1 and 2 threads write the same bytes" || fail "the thread counts differ"
M=$TMP/iq3-2.gguf
expect_rc 0 "greedy run" "$KVANT" run "$M" "In the beginning" -n 16 --temp 0 --no-display-prompt
expect_out "tokens/s" "run reports its speed"
ppl() { "$KVANT" perplexity "$1" -f "$SHARED/data/kjv-test.txt" -c 128 --chunks 4 -q 2>&1 | sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p'; }
base=$(ppl "$TMP/f32.gguf")
got=$(ppl "$M")
# measured: F32 61.0 on these 4 chunks of 128, this file 1.1% above it
python3 -c 'import sys; b, g = map(float, sys.argv[1:]); sys.exit(0 if 1 <= g / b < 1.05 else 1)' "$base" "$got" \
  && pass "perplexity $got within 5% above F32's $base" || fail "perplexity '$got' vs F32 '$base'"
finish
