#!/usr/bin/env bash
# Every broken file of tests/golden/bad/ through the CLI: kvant info and kvant
# quantize/convert exit 1 with one line naming the file, never crash, and leave
# no output behind.
source "$(dirname "$0")/lib.sh"

check_corpus() { # DIR EXT
  local dir=$1
  [ -f "$dir/EXPECTED" ] || return 0
  while read -r file status fragment; do
    [ -n "$file" ] && [ "${file#\#}" = "$file" ] || continue
    OUT=$("$KVANT" info "$dir/$file" 2>&1); rc=$?
    if [ $rc -eq 1 ] && grep -qF -- "$file" <<<"$OUT" && grep -qF -- "$fragment" <<<"$OUT" \
       && [ "$(wc -l <<<"$OUT")" -eq 1 ]; then
      pass "info $file: $OUT"
    else
      fail "info $file (exit $rc, wanted 1 with '$fragment' on one line): $OUT"
    fi
  done < "$dir/EXPECTED"
}
check_corpus "$SRC/tests/golden/bad/gguf"
check_corpus "$SRC/tests/golden/bad/safetensors"

# quantize refuses every broken GGUF and writes nothing
for f in "$SRC"/tests/golden/bad/gguf/*.gguf; do
  OUT=$("$KVANT" quantize "$f" "$TMP/out.gguf" Q4_0 2>&1); rc=$?
  if [ $rc -eq 1 ] && [ ! -e "$TMP/out.gguf" ]; then pass "quantize refuses $(basename "$f")";
  else fail "quantize $(basename "$f"): exit $rc, output $( [ -e "$TMP/out.gguf" ] && echo left || echo none): $OUT"; fi
done

# convert refuses a model folder whose weights are broken, and writes nothing
for f in "$SRC"/tests/golden/bad/safetensors/*.safetensors; do
  [ -e "$f" ] || continue
  mkdir -p "$TMP/model"
  cp "$SRC"/models/kjv-llama-7m/*.json "$SRC"/models/kjv-llama-7m/tokenizer.model "$TMP/model/"
  cp "$f" "$TMP/model/model.safetensors"
  OUT=$("$KVANT" convert "$TMP/model" -o "$TMP/out.gguf" -q 2>&1); rc=$?
  if [ $rc -eq 1 ] && [ ! -e "$TMP/out.gguf" ] && grep -qF "model.safetensors" <<<"$OUT"; then
    pass "convert refuses $(basename "$f")"
  else fail "convert $(basename "$f"): exit $rc: $OUT"; fi
  rm -rf "$TMP/model"
done
leftover=$(ls -A "$TMP")
[ -z "$leftover" ] && pass "no files left behind" || fail "left behind: $leftover"
finish
