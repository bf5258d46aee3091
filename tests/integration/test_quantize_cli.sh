#!/usr/bin/env bash
# kvant quantize end to end: a quantized file that kvant reads back, the summary,
# and bad input: unknown type, not GGUF, truncated, requantizing, a foreign
# imatrix, a missing output directory, a write error mid-file.
source "$(dirname "$0")/lib.sh"
MODEL=$SRC/models/kjv-llama-7m

expect_rc 0 "convert to F32" "$KVANT" convert "$MODEL" -o "$TMP/f32.gguf" --outtype f32 -q
expect_rc 0 "quantize to Q4_K_M" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/q4km.gguf" q4_k_m -t 2
expect_out "blk.0.ffn_down.weight" "summary has a line per tensor"
expect_out "bits/weight" "summary gives bits per weight"
expect_rc 0 "info on the result" "$KVANT" info "$TMP/q4km.gguf"
expect_out "Q4_K" "tensors are Q4_K"
expect_out "general.file_type" "file type recorded"
# One pass (convert --outtype TYPE) writes what convert to F32 + quantize writes,
# byte for byte (the demo model is BF16, so F32 holds it exactly): same tensor
# order, same metadata order, same bits; with an importance matrix too
for ty in q4_k_m q4_0; do
  expect_rc 0 "convert to $ty in one pass" "$KVANT" convert "$MODEL" -o "$TMP/one_$ty.gguf" --outtype $ty -t 2 -q
  expect_rc 0 "quantize the F32 file to $ty" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/two_$ty.gguf" $ty -t 2 -q
  cmp -s "$TMP/one_$ty.gguf" "$TMP/two_$ty.gguf" && pass "$ty: one pass = two steps" \
    || fail "$ty: one pass and two steps differ: $(cmp "$TMP/one_$ty.gguf" "$TMP/two_$ty.gguf")"
  rm -f "$TMP/one_$ty.gguf" "$TMP/two_$ty.gguf"
done
IMAT=$SHARED/testdata/golden/kjv-llama-7m.imatrix.dat
if [ -n "$SHARED" ]; then
  expect_rc 0 "convert to Q4_K_M with an imatrix in one pass" "$KVANT" convert "$MODEL" -o "$TMP/one_im.gguf" --outtype q4_k_m --imatrix "$IMAT" -t 2 -q
  expect_rc 0 "quantize the F32 file with the imatrix" "$KVANT" quantize --imatrix "$IMAT" "$TMP/f32.gguf" "$TMP/two_im.gguf" q4_k_m -t 2 -q
  cmp -s "$TMP/one_im.gguf" "$TMP/two_im.gguf" && pass "with an imatrix: one pass = two steps" \
    || fail "with an imatrix: one pass and two steps differ: $(cmp "$TMP/one_im.gguf" "$TMP/two_im.gguf")"
  rm -f "$TMP/one_im.gguf" "$TMP/two_im.gguf"
else
  echo "skip: the golden imatrix (../shared) is absent: one pass = two steps with an imatrix not checked"
fi
expect_rc 0 "numeric file type id" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/q8.gguf" 7 -q
expect_rc 0 "info --json on the Q8_0 file" "$KVANT" info --json "$TMP/q8.gguf"
expect_out '"general.file_type": 7' "id 7 is Q8_0"

expect_rc 1 "unknown type" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/x.gguf" Q9_X
expect_out "Q4_K_M" "the error lists valid types"
expect_rc 1 "more threads than the limit" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/x.gguf" Q4_0 -t 257
expect_out "threads 257 is outside 0..256" "the error names the count and the limit"
[ ! -e "$TMP/x.gguf" ] && pass "nothing written" || fail "$TMP/x.gguf left behind"
expect_rc 1 "Q2_K_S without an imatrix" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/x.gguf" Q2_K_S
expect_out "imatrix" "the error says an imatrix is needed"
echo "not a model" > "$TMP/text.gguf"
expect_rc 1 "input that is not GGUF" "$KVANT" quantize "$TMP/text.gguf" "$TMP/x.gguf" Q4_0
expect_out "text.gguf" "the error names the input"
head -c 5000000 "$TMP/f32.gguf" > "$TMP/cut.gguf"
expect_rc 1 "truncated input" "$KVANT" quantize "$TMP/cut.gguf" "$TMP/x.gguf" Q4_0
expect_out "truncated" "the error says truncated"
expect_rc 1 "requantizing without --allow-requantize" "$KVANT" quantize "$TMP/q4km.gguf" "$TMP/x.gguf" Q4_0
expect_out "allow-requantize" "the error names the option"
expect_rc 0 "requantizing with --allow-requantize" "$KVANT" quantize --allow-requantize "$TMP/q4km.gguf" "$TMP/rq.gguf" Q4_0 -q
expect_rc 1 "output in a missing directory" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/none/x.gguf" Q4_0
expect_out "$TMP/none/x.gguf" "the error names the output"
# An imatrix whose entry names no tensor of this model
python3 - "$TMP/foreign.dat" <<'PY'
import struct, sys
name = b"blk.99.ffn_up.weight"
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<i", 1) + struct.pack("<i", len(name)) + name)
    f.write(struct.pack("<ii", 1, 256) + struct.pack("<256f", *([1.0] * 256)))
    f.write(struct.pack("<i", 1) + struct.pack("<i", 4) + b"x.tx")
PY
expect_rc 1 "imatrix for another model" "$KVANT" quantize --imatrix "$TMP/foreign.dat" "$TMP/f32.gguf" "$TMP/x.gguf" Q4_K_M
expect_out "blk.99.ffn_up.weight" "the error names the foreign entry"
# A write error half way (file size limit; SIGXFSZ ignored so write() fails with EFBIG)
OUT=$(bash -c "trap '' XFSZ; ulimit -f 2000; exec \"$KVANT\" quantize \"$TMP/f32.gguf\" \"$TMP/full.gguf\" Q8_0 -q" 2>&1); rc=$?
[ $rc -eq 1 ] && pass "write error exits 1" || fail "write error exit $rc: $OUT"
expect_out "write failed" "the error says the write failed"
# A NaN in row 100 (column 7) of a 128-row tensor: with 2 threads the second one
# quantizes rows 64..127, and the error counts from there
"$KVANT" info --json "$TMP/f32.gguf" > "$TMP/info.json"
python3 - "$TMP/f32.gguf" "$TMP/nan.gguf" "$TMP/info.json" <<'PY'
import json, struct, sys
info = json.load(open(sys.argv[3]))
data = bytearray(open(sys.argv[1], "rb").read())
start = info["file_bytes"] - max(t["offset"] + t["bytes"] for t in info["tensors"])
t = next(t for t in info["tensors"] if t["name"] == "blk.0.attn_v.weight")
assert t["type"] == "F32" and t["shape"] == [256, 128], t
struct.pack_into("<f", data, start + t["offset"] + 4 * (256 * 100 + 7), float("nan"))
open(sys.argv[2], "wb").write(data)
PY
expect_rc 1 "a NaN in the input" "$KVANT" quantize "$TMP/nan.gguf" "$TMP/x.gguf" Q4_0 -t 2
expect_out "blk.0.attn_v.weight: rows 64..127: Q4_0: input row 36 column 7 is NaN" \
  "the error names the tensor, the rows and the element"
rm -f "$TMP/nan.gguf"
[ -z "$(ls -A "$TMP" | grep -E 'x.gguf|full.gguf|tmp')" ] && pass "failed runs leave no files" || fail "left: $(ls -A "$TMP")"
finish
