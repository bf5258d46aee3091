#!/usr/bin/env bash
# kvant info on ONNX models: every model of Debian's libonnx-testdata (no crash,
# how many parse cleanly), a sample of ~30 cross-checked with python3-onnx's
# onnx.load (opsets, IR version, producer, inputs/outputs with types and shapes,
# op histogram, initializer count), and bad input (truncated, not ONNX, empty,
# a missing external data file, a dangling node input, an unimported domain, no
# nodes, 100,000 nested messages): exit 1 with one line naming the file.
source "$(dirname "$0")/lib.sh"

DATA=/usr/share/libonnx-testdata/data
PY=/usr/bin/python3 # Debian's, with python3-onnx
ORACLE=$SRC/tests/integration/onnx_oracle.py
if [ ! -d "$DATA" ] || ! "$PY" -c "import onnx" 2>/dev/null; then
  fail "libonnx-testdata and python3-onnx are needed (tools/install-deps.sh installs them)"
  finish
  exit 1
fi

# ---- every model of the test data ----
mapfile -t MODELS < <(find "$DATA" -name '*.onnx' | LC_ALL=C sort)
mkdir -p "$TMP/json"
n_ok=0 n_err=0 n_sig=0
for i in "${!MODELS[@]}"; do
  "$KVANT" info --json "${MODELS[$i]}" >"$TMP/json/$i.json" 2>"$TMP/err"
  rc=$?
  case $rc in
  0) n_ok=$((n_ok + 1)) ;;
  1)
    n_err=$((n_err + 1))
    grep -qF "${MODELS[$i]}" "$TMP/err" || fail "error without the file's name: $(cat "$TMP/err")"
    ;;
  *) n_sig=$((n_sig + 1)); fail "kvant info ${MODELS[$i]}: exit $rc: $(tail -3 "$TMP/err")" ;;
  esac
done
echo "libonnx-testdata: ${#MODELS[@]} models, $n_ok parsed cleanly, $n_err with errors, $n_sig crashed"
[ "${#MODELS[@]}" -ge 1000 ] && pass "found ${#MODELS[@]} models" || fail "only ${#MODELS[@]} models in $DATA"
[ "$n_sig" -eq 0 ] && pass "no crash on any model" || fail "$n_sig crashes"
# Debian's test models are all valid ONNX: any problem reported is a false alarm
[ "$n_ok" -eq "${#MODELS[@]}" ] && pass "every model parses cleanly" || fail "$n_err models reported errors"

# ---- known facts ----
idx() { for i in "${!MODELS[@]}"; do [ "${MODELS[$i]}" = "$DATA/$1" ] && echo "$i" && return; done; }
OUT=$(cat "$TMP/json/$(idx node/test_abs/model.onnx).json")
expect_out '":Abs": 1' "test_abs: the histogram has Abs"
OUT=$(cat "$TMP/json/$(idx node/test_conv_with_strides_padding/model.onnx).json")
expect_out '":Conv": 1' "test_conv_with_strides_padding: the histogram has Conv"
expect_out '"x"' "test_conv_with_strides_padding: input x"
# initializers: a 5 x 4 x 3 weight and a bias of 5, float: 65 x 4 = 260 bytes
expect_rc 0 "text summary of pytorch-converted/test_Conv1d" "$KVANT" info "$DATA/pytorch-converted/test_Conv1d/model.onnx"
expect_out "initializers: 2," "test_Conv1d: two initializers"
expect_out "float               2 tensors            260 bytes" "test_Conv1d: 260 bytes of float"
# symbolic dimensions by name
expect_rc 0 "text summary of simple/test_sequence_model8" "$KVANT" info "$DATA/simple/test_sequence_model8/model.onnx"
expect_out "float      [n]" "test_sequence_model8: input X has the symbolic dim n"

# ---- onnx.load as the oracle, on every 36th model (30 of 1,072) ----
sample=() jsons=()
for ((i = 0; i < ${#MODELS[@]}; i += 36)); do sample+=("${MODELS[$i]}"); cp "$TMP/json/$i.json" "$TMP/json/s${#jsons[@]}.json"; jsons+=(x); done
mkdir -p "$TMP/sample"
for j in "${!sample[@]}"; do mv "$TMP/json/s$j.json" "$TMP/sample/$j.json"; done
expect_rc 0 "kvant info agrees with onnx.load on ${#sample[@]} models" "$PY" "$ORACLE" compare "$TMP/sample" "${sample[@]}"
echo "$OUT" | tail -1

# ---- bad input ----
B=$TMP/bad
mkdir -p "$B"
"$PY" "$ORACLE" make "$B" || fail "python3-onnx could not write the test models"
expect_rc 0 "external data present" "$KVANT" info --json "$B/ext.onnx"
expect_out '"file_bytes": 16' "the external file's size is shown"
expect_rc 0 "an imported custom domain is fine" "$KVANT" info "$B/custom.onnx"
expect_out "custom domains: com.example" "the custom domain is listed"
mv "$B/w.bin" "$B/w.moved"
expect_rc 1 "external data file missing" "$KVANT" info "$B/ext.onnx"
expect_out "$B/w.bin' (for 1 tensors) is missing" "the missing file is named"
expect_rc 1 "dangling node input" "$KVANT" info "$B/dangling.onnx"
expect_out "$B/dangling.onnx: node 0 (Add) reads 'nope'" "the dangling input is named"
expect_rc 1 "domain without opset_import" "$KVANT" info --json "$B/domain.onnx"
expect_out "uses domain 'com.example', which the model does not import" "the domain is named"
expect_out '"problems": [' "--json lists the problems"
expect_rc 1 "graph without nodes" "$KVANT" info "$B/empty.onnx"
expect_out "$B/empty.onnx: the graph has no nodes" "the empty graph is reported"
# protobuf-c alone overflows its stack on this one (checked: SIGSEGV)
expect_rc 1 "100,000 nested messages are refused" "$KVANT" info "$B/deep.onnx"
expect_out "$B/deep.onnx: messages nested deeper than 64 levels" "the nesting limit is named"
head -c 60 "$DATA/node/test_abs/model.onnx" >"$B/trunc.onnx"
echo "hello world" >"$B/text.onnx"
: >"$B/zero.onnx"
for f in trunc text zero; do
  expect_rc 1 "$f.onnx fails" "$KVANT" info "$B/$f.onnx"
  [ "$(wc -l <<<"$OUT")" -eq 1 ] && grep -qF "$B/$f.onnx: " <<<"$OUT" &&
    pass "$f.onnx: one line naming the file" || fail "$f.onnx: $OUT"
done
finish
