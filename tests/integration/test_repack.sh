#!/usr/bin/env bash
# Weights repacked at load (--repack, model/repack.c) keep the bits: on the
# demo model in Q4_0, Q8_0, Q4_K_M (Q4_K and Q6_K weights), Q5_K_M (Q5_K, Q6_K),
# IQ4_XS, F16 and BF16, every position's logits of a prompt batch and the perplexity are
# byte-identical with --repack on and off, for every kernel table KVANT_KERNELS
# names (a table this CPU lacks falls back to the best below it, which is then
# checked again). bench reports the repacked bytes (none with --repack off,
# none on the reference table, which has no packed path); a bad value is a
# usage error.
source "$(dirname "$0")/lib.sh"
require_demo_model
require_cmds "python3 is missing" python3

TOKENS=$(seq -s, 1 97) # more rows than the packed paths' minimum and than one 64-row block
TEXT=$SHARED/data/kjv-test.txt
for q in q4_0 q8_0 q4_k_m q5_k_m iq4_xs f16 bf16; do
  M=$TMP/kjv-$q.gguf
  "$KVANT" convert "$SHARED/models/kjv-llama-7m" -o "$M" --outtype "$q" >"$TMP/convert.log" 2>&1 ||
    { cat "$TMP/convert.log"; fail "convert the demo model to $q"; continue; }
  for kn in ref avx2 avx2-vnni avx512 amx; do
    for rp in on off; do
      KVANT_KERNELS=$kn "$KVANT" logits "$M" --tokens "$TOKENS" -t 2 --repack "$rp" \
        -o "$TMP/l-$rp.bin" >/dev/null 2>"$TMP/l.err" || { cat "$TMP/l.err"; fail "logits $q $kn $rp"; }
      KVANT_KERNELS=$kn "$KVANT" perplexity "$M" -f "$TEXT" -c 128 --chunks 2 -t 2 --repack "$rp" \
        2>&1 | grep '^Final estimate' >"$TMP/p-$rp.txt"
    done
    if [ -s "$TMP/l-on.bin" ] && cmp -s "$TMP/l-on.bin" "$TMP/l-off.bin"; then
      pass "$q $kn: logits with --repack on are off's, byte for byte"
    else
      fail "$q $kn: logits differ with --repack on and off"
    fi
    if [ -s "$TMP/p-on.txt" ] && cmp -s "$TMP/p-on.txt" "$TMP/p-off.txt"; then
      pass "$q $kn: perplexity $(cat "$TMP/p-on.txt") the same with --repack on and off"
    else
      fail "$q $kn: perplexity '$(cat "$TMP/p-on.txt")' vs '$(cat "$TMP/p-off.txt")'"
    fi
    rm -f "$TMP"/l-*.bin "$TMP"/p-*.txt
  done
done

M=$TMP/kjv-q4_0.gguf
repack_bytes() { # KERNELS REPACK: bench's repack_bytes
  "$KVANT" bench "$M" -p 16 -n 0 -r 1 --no-warmup --bw-mib 0 -t 2 -o json --kernels "$1" \
    --repack "$2" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["repack_bytes"])'
}
if [ "$(uname -m)" = x86_64 ] && grep -qw avx2 /proc/cpuinfo; then
  B=$(repack_bytes auto on)
  if [ "${B:-0}" -gt 0 ] 2>/dev/null; then pass "bench reports $B repacked bytes"; else fail "repack_bytes '$B'"; fi
  expect_rc 0 "bench prints the memory cost" "$KVANT" bench "$M" -p 16 -n 0 -r 1 --no-warmup \
    --bw-mib 0 -t 2
  expect_out "repacked weights:" "the repacked weights' size in bench's table"
  for q in q5_k_m iq4_xs; do # these have packed paths too: the on/off check above compared something
    B=$(M=$TMP/kjv-$q.gguf; repack_bytes auto on)
    if [ "${B:-0}" -gt 0 ] 2>/dev/null; then pass "$q: $B bytes repacked"; else fail "$q: repack_bytes '$B'"; fi
  done
else
  echo "note: no AVX2 here, so no table with packed paths to repack for"
fi
# BF16 has a packed path in the AVX-512 table (avx512/pack_bf16.c): repacked there
if grep -qw avx512_vnni /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo &&
  grep -qw avx512vl /proc/cpuinfo; then
  B=$(M=$TMP/kjv-bf16.gguf repack_bytes avx512 on)
  if [ "${B:-0}" -gt 0 ] 2>/dev/null; then pass "BF16 on avx512: $B repacked bytes"; else fail "BF16 avx512 repack_bytes '$B'"; fi
  # auto leaves the float types (widened to floats: twice their size for a few percent)
  B=$(M=$TMP/kjv-bf16.gguf repack_bytes avx512 auto)
  [ "$B" = 0 ] && pass "BF16 with --repack auto: not repacked" || fail "BF16 auto: repack_bytes '$B'"
  B=$(M=$TMP/kjv-f16.gguf repack_bytes avx512 auto)
  [ "$B" = 0 ] && pass "F16 with --repack auto: not repacked" || fail "F16 auto: repack_bytes '$B'"
  B=$(repack_bytes avx512 auto)
  if [ "${B:-0}" -gt 0 ] 2>/dev/null; then pass "Q4_0 with --repack auto: $B bytes"; else fail "Q4_0 auto: repack_bytes '$B'"; fi
else
  echo "note: no AVX-512 (F, BW, VL, VNNI) here: the BF16 packed path is not checked for repacking"
fi
B=$(repack_bytes auto off)
[ "$B" = 0 ] && pass "--repack off: nothing repacked" || fail "--repack off: repack_bytes '$B'"
B=$(repack_bytes ref on)
[ "$B" = 0 ] && pass "reference table: nothing to repack" || fail "ref: repack_bytes '$B'"

expect_rc 2 "--repack with a bad value" "$KVANT" run "$M" --repack maybe -n 1
expect_out "--repack 'maybe'" "the error names the option and the value"
expect_rc 2 "bench --repack with a bad value" "$KVANT" bench "$M" --repack 1
OUT=$(KVANT_REPACK=bogus "$KVANT" logits "$M" --tokens 1,2 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "KVANT_REPACK" <<<"$OUT" && pass "a bad KVANT_REPACK fails the load, named" ||
  fail "KVANT_REPACK=bogus: exit $rc: $OUT"
finish
