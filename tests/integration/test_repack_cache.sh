#!/usr/bin/env bash
# The repack cache (--repack-cache, model/repack_cache.c) and the repack line
# of kvant info. On the demo model in Q4_0 and Q4_K_M, for every kernel table
# KVANT_KERNELS names (one the CPU lacks falls back): the logits of a prompt
# batch are byte-identical with the cache off, cold (written) and warm
# (mapped), and info's --repack bytes equal bench's repack_bytes. A stale
# cache (the model replaced), a truncated one, one with a flipped data byte
# and one that cannot be written are each named in one warning and the load
# goes on with the right logits; the cache is then rebuilt. Two loads at once
# on a cold cache both succeed and leave one valid file.
source "$(dirname "$0")/lib.sh"
require_demo_model
require_cmds "python3 is missing" python3

TOKENS=$(seq -s, 1 97) # more rows than the packed paths' minimum and than one 64-row block
D=$TMP/models
mkdir -p "$D"
for q in q4_0 q4_k_m; do
  "$KVANT" convert "$SHARED/models/kjv-llama-7m" -o "$D/kjv-$q.gguf" --outtype "$q" \
    >"$TMP/convert.log" 2>&1 || { cat "$TMP/convert.log"; fail "convert the demo model to $q"; }
done

logits() { # OUT MODEL [options...]: logits of TOKENS, stderr in $TMP/l.err
  local out=$1 m=$2; shift 2
  "$KVANT" logits "$m" --tokens "$TOKENS" -t 2 -o "$out" "$@" >/dev/null 2>"$TMP/l.err"
}
bench_json() { # MODEL KEY [options...]: one field of bench's JSON
  local m=$1 key=$2; shift 2
  "$KVANT" bench "$m" -p 16 -n 0 -r 1 --no-warmup --bw-mib 0 -t 2 -o json "$@" 2>"$TMP/b.err" |
    python3 -c "import json, sys; print(json.load(sys.stdin)[0]['$key'])"
}

for q in q4_0 q4_k_m; do
  M=$D/kjv-$q.gguf
  for kn in ref avx2 avx2-vnni avx512 amx; do
    export KVANT_KERNELS=$kn
    rm -f "$D"/*.kvrepack
    logits "$TMP/off.bin" "$M" --repack-cache off || fail "logits $q $kn cache off: $(cat "$TMP/l.err")"
    logits "$TMP/cold.bin" "$M" --repack-cache on || fail "logits $q $kn cold: $(cat "$TMP/l.err")"
    [ -s "$TMP/l.err" ] && fail "$q $kn cold load warned: $(cat "$TMP/l.err")"
    logits "$TMP/warm.bin" "$M" --repack-cache on || fail "logits $q $kn warm: $(cat "$TMP/l.err")"
    [ -s "$TMP/l.err" ] && fail "$q $kn warm load warned: $(cat "$TMP/l.err")"
    if [ -s "$TMP/off.bin" ] && cmp -s "$TMP/off.bin" "$TMP/cold.bin" &&
      cmp -s "$TMP/off.bin" "$TMP/warm.bin"; then
      pass "$q $kn: logits byte-identical with the cache off, cold and warm"
    else
      fail "$q $kn: logits differ between cache off, cold and warm"
    fi
    INFO=$("$KVANT" info --kernels "$kn" --json --no-tensors "$M" |
      python3 -c 'import json, sys; r = json.load(sys.stdin)["repack"]; print(r["kernels"], r["bytes"])')
    read -r TABLE IB <<<"$INFO"
    BB=$(bench_json "$M" repack_bytes --repack-cache off)
    if [ -n "$IB" ] && [ "$IB" = "$BB" ]; then
      pass "$q $kn: info's --repack bytes ($IB on $TABLE) are bench's repack_bytes"
    else
      fail "$q $kn: info says '$IB' bytes on '$TABLE', bench '$BB'"
    fi
    C=$M.$TABLE.kvrepack
    if [ "$IB" = 0 ]; then
      [ -e "$C" ] && fail "$q $kn: nothing to repack, yet $C was written" ||
        pass "$q $kn: nothing to repack, no cache file"
    else
      [ "$(bench_json "$M" repack_source --repack-cache on)" = cache-mapped ] &&
        pass "$q $kn: bench maps $(basename "$C")" || fail "$q $kn: bench did not map $C"
      # the file is the header (a page, for this many tensors) and the packed rows
      SZ=$(stat -c %s "$C")
      [ "$SZ" -eq $((IB + 4096)) ] && pass "$q $kn: cache is $SZ bytes: 4096 + info's $IB" ||
        fail "$q $kn: cache is $SZ bytes, expected 4096 + $IB"
    fi
  done
done
unset KVANT_KERNELS

# ---- broken caches: warned, ignored, rebuilt; never other logits ----
M=$D/kjv-q4_0.gguf
TABLE=$("$KVANT" info --json --no-tensors "$M" | python3 -c 'import json, sys; print(json.load(sys.stdin)["repack"]["kernels"])')
C=$M.$TABLE.kvrepack
if [ "$TABLE" = ref ]; then
  echo "note: this CPU's table ($TABLE) has no packed path: the broken-cache cases need one"
  finish
fi
rm -f "$D"/*.kvrepack
logits "$TMP/ref.bin" "$M" --repack off
logits "$TMP/x.bin" "$M" --repack-cache on

broken_case() { # DESC FRAGMENT: the next load warns naming C and FRAGMENT, logits unchanged, then warm
  local desc=$1 frag=$2
  logits "$TMP/x.bin" "$M" --repack-cache on || fail "$desc: the load failed: $(cat "$TMP/l.err")"
  local msg
  msg=$(cat "$TMP/l.err")
  if [ "$(wc -l <"$TMP/l.err")" -eq 1 ] && grep -qF "warning: repack cache $C" <<<"$msg" &&
    grep -qF "$frag" <<<"$msg"; then
    pass "$desc: one warning naming the file and '$frag'"
  else
    fail "$desc: warning '$msg' (wanted $C and '$frag')"
  fi
  cmp -s "$TMP/x.bin" "$TMP/ref.bin" && pass "$desc: logits unchanged" || fail "$desc: logits differ"
  logits "$TMP/x.bin" "$M" --repack-cache on
  [ ! -s "$TMP/l.err" ] && [ "$(bench_json "$M" repack_source --repack-cache on)" = cache-mapped ] &&
    pass "$desc: rebuilt (the next load maps it, silently)" ||
    fail "$desc: not rebuilt: $(cat "$TMP/l.err")"
}

truncate -s $(($(stat -c %s "$C") / 2)) "$C"
broken_case "truncated cache" "truncated"
: >"$C"
broken_case "empty cache" "truncated: 0 bytes"
printf 'X' | dd of="$C" bs=1 seek=$(($(stat -c %s "$C") - 100)) conv=notrunc 2>/dev/null
broken_case "a flipped byte in the packed rows" "fail their checksum"
printf 'X' | dd of="$C" bs=1 seek=300 conv=notrunc 2>/dev/null
broken_case "a flipped byte in the tensor table" "header's checksum"
printf 'NOTREPAK' | dd of="$C" bs=1 seek=0 conv=notrunc 2>/dev/null
broken_case "another file's magic" "not a kvant repack cache"
KVANT_KERNELS=avx2 logits "$TMP/x.bin" "$M" --repack-cache on
[ "$TABLE" != avx2 ] && cp "$M.avx2.kvrepack" "$C" && broken_case "another table's cache" "packed for the 'avx2' kernels"

# the model replaced by another (same path; different size, header and mtime)
cp "$D/kjv-q4_k_m.gguf" "$M"
logits "$TMP/ref.bin" "$M" --repack off
broken_case "stale cache (the model replaced)" "stale: written for another model file"
# the same bytes written again: only the modification time differs
cp "$M" "$M.new" && touch -d '2001-01-01' "$M.new" && mv "$M.new" "$M"
broken_case "stale cache (the model rewritten, same bytes)" "stale"

# ---- a cache that cannot be written: the load goes on, warned ----
rm -f "$C" && mkdir "$C"
logits "$TMP/x.bin" "$M" --repack-cache on
grep -qF "$C" "$TMP/l.err" && cmp -s "$TMP/x.bin" "$TMP/ref.bin" &&
  pass "unwritable cache path: warned ($(head -c 160 "$TMP/l.err")...), logits right" ||
  fail "unwritable cache path: $(cat "$TMP/l.err")"
rmdir "$C"

# ---- --repack-cache DIR ----
CD=$TMP/cachedir
mkdir -p "$CD"
logits "$TMP/x.bin" "$M" --repack-cache "$CD"
N=$(ls "$CD"/kjv-q4_0.gguf.*."$TABLE".kvrepack 2>/dev/null | wc -l)
[ "$N" = 1 ] && [ ! -e "$C" ] && pass "--repack-cache DIR writes one file there, none beside the model" ||
  fail "--repack-cache DIR: $(ls "$CD" "$D")"
[ "$(bench_json "$M" repack_source --repack-cache "$CD")" = cache-mapped ] &&
  pass "--repack-cache DIR: the next load maps it" || fail "--repack-cache DIR: not mapped"
expect_rc 2 "--repack-cache with a missing folder" "$KVANT" logits "$M" --tokens 1 \
  --repack-cache "$TMP/nowhere"
expect_out "--repack-cache '$TMP/nowhere'" "the usage error names the option and the value"

# ---- two cold loads at once ----
rm -f "$C"
logits "$TMP/c1.bin" "$M" --repack-cache on & P1=$!
"$KVANT" logits "$M" --tokens "$TOKENS" -t 2 -o "$TMP/c2.bin" --repack-cache on >/dev/null \
  2>"$TMP/c2.err" & P2=$!
wait $P1; R1=$?
wait $P2; R2=$?
[ $R1 = 0 ] && [ $R2 = 0 ] && cmp -s "$TMP/c1.bin" "$TMP/ref.bin" && cmp -s "$TMP/c2.bin" "$TMP/ref.bin" &&
  pass "two loads at once on a cold cache: both right" || fail "concurrent loads: $R1 $R2 $(cat "$TMP/c2.err")"
logits "$TMP/x.bin" "$M" --repack-cache on
[ ! -s "$TMP/l.err" ] && [ "$(bench_json "$M" repack_source --repack-cache on)" = cache-mapped ] &&
  pass "after them, the cache maps cleanly" || fail "after concurrent loads: $(cat "$TMP/l.err")"
ls -a "$D" | grep -q '\.tmp\.' && fail "temporary files left: $(ls -a "$D")" || pass "no temporary left"
finish
