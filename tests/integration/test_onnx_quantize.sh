#!/usr/bin/env bash
# kvant onnx quantize, checked in ONNX Runtime (npm onnxruntime-node, CPU) and by
# ONNX's own checker (python3-onnx check_model full_check) on every output.
#   - ONNX's backend test data (Debian libonnx-testdata, pytorch-converted/): every
#     model ORT 1.30 loads (59 of 82) still loads and runs after --mode dynamic and
#     --mode weight-int4 on the package's input_0.pb; outputs compared with
#     output_0.pb: models with nothing quantized within 1e-5 relative (as the
#     originals), quantized ones (test_Linear_no_bias: a Transpose of a constant,
#     folded) within 2e-2 (int8) and 1e-1 (int4) relative. A MatMul weight that is
#     a graph input: "nothing quantized", exit 0.
#   - kvant info and kvant onnx quantize never crash (no signal) on the package's
#     models: every 8th of the 1,072 here, all of them with KV_ONNXQ_FULL=1.
#   - kvant's fp32 export of the demo model quantized dynamically (QOperator, QDQ
#     per channel), statically (calibration table recorded by ORT on
#     kjv-train-sample.txt through `kvant onnx calib-model`; minmax, entropy,
#     percentile; and by kvant's own runtime with --calib, whose ranges equal ORT's
#     within 1e-3) and weight-int4: ORT perplexity on 1,024 tokens of kjv-test.txt
#     within 2% of the fp32 export's (int4: 5%); a table with absurdly narrow ranges
#     makes static perplexity far worse (the activations do pass through QDQ).
#   - excludes, external data (OUT.data, no temporaries), bad input messages.
source "$(dirname "$0")/lib.sh"
require_demo_model
require_cmds "node and npm are needed for onnxruntime-node" node npm
PY=/usr/bin/python3 # Debian's, with python3-onnx and python3-numpy
require_py_modules "python3-onnx and python3-numpy are needed (tools/install-deps.sh)" onnx numpy
TD=/usr/share/libonnx-testdata/data
[ -d "$TD/pytorch-converted" ] ||
  { fail "libonnx-testdata is needed (tools/install-deps.sh)"; finish; exit 1; }
ORT_DIR=${KV_BUILD_DIR:-$TMP}/node_ort
export ONNXRUNTIME_NODE_INSTALL=skip
npm_install_pinned "$ORT_DIR" onnxruntime-node@1.30.0 || { fail "npm install onnxruntime-node"; finish; exit 1; }
HF=$SHARED/models/kjv-llama-7m
le() { "$PY" -c "import sys; sys.exit(0 if float('$1') <= float('$2') else 1)"; }
checker() { # FILE...: check_model(full_check) on each; prints the failures
  "$PY" - "$@" <<'EOF'
import onnx, sys
bad = 0
for f in sys.argv[1:]:
    try:
        onnx.checker.check_model(f, full_check=True)
    except Exception as e:
        bad += 1
        print(f, str(e).splitlines()[0][:200])
sys.exit(1 if bad else 0)
EOF
}

# ---- ONNX backend test data: pytorch-converted ----
PC=$TD/pytorch-converted
"$PY" "$SRC/tests/integration/onnx_pb_to_raw.py" "$TMP/raw" "$PC"/*/
: >"$TMP/orig.list"
: >"$TMP/q.list"
mkdir -p "$TMP/pc"
nq=0
for d in "$PC"/*/; do
  n=$(basename "$d")
  echo "$n $d/model.onnx $TMP/raw/$n" >>"$TMP/orig.list"
  for m in dynamic weight-int4; do
    if "$KVANT" onnx quantize "$d/model.onnx" "$TMP/pc/$n.$m.onnx" --mode "$m" -v >"$TMP/pc/$n.$m.log" 2>&1; then
      echo "$n.$m $TMP/pc/$n.$m.onnx $TMP/raw/$n" >>"$TMP/q.list"
      grep -q "^quantized" "$TMP/pc/$n.$m.log" && nq=$((nq + 1))
    else
      fail "pytorch-converted $n: onnx quantize --mode $m: $(tail -1 "$TMP/pc/$n.$m.log")"
    fi
  done
done
node "$SRC/tests/integration/onnx_quant_ort.mjs" "$ORT_DIR" "$TMP/orig.list" >"$TMP/orig.jsonl"
node "$SRC/tests/integration/onnx_quant_ort.mjs" "$ORT_DIR" "$TMP/q.list" >"$TMP/q.jsonl"
"$PY" - "$TMP/orig.jsonl" "$TMP/q.jsonl" "$TMP/pc" >"$TMP/pc.report" <<'EOF'
import json, os, sys
orig = {j['name']: j for j in map(json.loads, open(sys.argv[1]))}
q = {j['name']: j for j in map(json.loads, open(sys.argv[2]))}
loads = [n for n, j in orig.items() if j['ran']]
print('summary: %d of %d pytorch-converted models run in ORT' % (len(loads), len(orig)))
bad = 0
for mode, lim in (('dynamic', 2e-2), ('weight-int4', 1e-1)):
    ok = quantized = 0
    for n in sorted(loads):
        r = q.get(n + '.' + mode, {'ran': False, 'error': 'not written'})
        log = open(os.path.join(sys.argv[3], '%s.%s.log' % (n, mode))).read()
        isq = log.startswith('quantized') or '\nquantized' in log
        quantized += isq
        tol = lim if isq else 1e-5
        if r['ran'] and r['rel'] <= tol:
            ok += 1
            if isq:
                print('  %s %s: quantized, max_abs %.3g, rel %.3g' % (n, mode, r['max_abs'], r['rel']))
        else:
            bad += 1
            print('  BAD %s %s: %s' % (n, mode, r.get('error') or 'rel %s over %g' % (r.get('rel'), tol)))
    print('summary: %s: %d of %d load and run within tolerance (%d with weights quantized)'
          % (mode, ok, len(loads), quantized))
sys.exit(1 if bad or len(loads) < 59 else 0)
EOF
rc=$?
cat "$TMP/pc.report"
[ $rc = 0 ] && pass "pytorch-converted: every model ORT loads still runs after dynamic and weight-int4, outputs within tolerance" ||
  fail "pytorch-converted: see above"
[ "$nq" -ge 2 ] && pass "pytorch-converted: weights quantized in $nq model/mode pairs" || fail "pytorch-converted: only $nq quantized"
grep -q "(a Transpose of the constant, folded)" "$TMP/pc/test_Linear_no_bias.dynamic.log" &&
  pass "test_Linear_no_bias: the Transpose of a constant is folded into the weight" || fail "no fold: $(cat "$TMP/pc/test_Linear_no_bias.dynamic.log")"
# every quantized file passes the checker where its original does (test_PixelShuffle's
# original fails it: a Constant of int64)
out=$("$PY" - "$PC" "$TMP"/pc/*.onnx <<'EOF'
import onnx, os, sys
def ok(f):
    try:
        onnx.checker.check_model(f, full_check=True)
        return True
    except Exception as e:
        return str(e).splitlines()[0][:160]
n = bad = 0
for f in sys.argv[2:]:
    if ok(os.path.join(sys.argv[1], os.path.basename(f).split('.')[0], 'model.onnx')) is True:
        n += 1
        r = ok(f)
        if r is not True:
            bad += 1
            print(f, r)
print('checked', n)
sys.exit(1 if bad or n < 100 else 0)
EOF
) && pass "pytorch-converted: quantized files pass onnx.checker ($out of $(ls "$TMP"/pc/*.onnx | wc -l))" ||
  fail "checker: $(head -3 <<<"$out")"

# a MatMul whose weight is a graph input, one whose weight is computed
"$PY" - "$TMP" <<'EOF'
import sys, numpy as np
from onnx import helper, TensorProto, numpy_helper, save
t = sys.argv[1]
x = helper.make_tensor_value_info('x', TensorProto.FLOAT, [2, 4])
w = helper.make_tensor_value_info('w', TensorProto.FLOAT, [4, 3])
y = helper.make_tensor_value_info('y', TensorProto.FLOAT, [2, 3])
g = helper.make_graph([helper.make_node('MatMul', ['x', 'w'], ['y'], name='mm')], 'g', [x, w], [y])
save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]), t + '/winput.onnx')
c = helper.make_node('Relu', ['w'], ['wr'], name='relu')
g = helper.make_graph([c, helper.make_node('MatMul', ['x', 'wr'], ['y'], name='mm')], 'g', [x], [y],
                      [numpy_helper.from_array(np.ones((4, 3), np.float32), 'w')])
save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]), t + '/wcomputed.onnx')
EOF
expect_rc 0 "a weight that is a graph input: not a failure" "$KVANT" onnx quantize "$TMP/winput.onnx" "$TMP/winput.q.onnx"
expect_out "weight 'w' is a graph input, not an initializer: nothing quantized" "the summary says why"
expect_out "nothing quantized" "the summary says nothing was quantized"
expect_rc 0 "a computed weight: not a failure" "$KVANT" onnx quantize "$TMP/wcomputed.onnx" "$TMP/wcomputed.q.onnx" --mode weight-int4
expect_out "computed by the graph" "the summary says the weight is computed"

# Gemm semantics (transB, alpha, beta, bias C) and MatMul on 3-D activations, opset
# 13 (MatMulInteger) and 9 (com.microsoft DynamicQuantizeMatMul), against numpy
"$PY" - "$TMP" <<'EOF'
import json, os, sys, numpy as np
from onnx import helper, TensorProto, numpy_helper, save
t = sys.argv[1]
rng = np.random.default_rng(7)
x = rng.standard_normal((3, 5, 64)).astype(np.float32)
w = rng.standard_normal((64, 48)).astype(np.float32) * 0.1
b = rng.standard_normal((64, 48)).astype(np.float32) * 0.1  # Gemm B [N, K], transB=1
c = rng.standard_normal((64,)).astype(np.float32)
h = np.matmul(x, w).reshape(15, 48)
y = 0.5 * h @ b.T + 2.0 * c
for opset in (13, 9):
    nodes = [helper.make_node('MatMul', ['x', 'w'], ['h3'], name='mm'),
             helper.make_node('Reshape', ['h3', 'shape'], ['h'], name='rs'),
             helper.make_node('Gemm', ['h', 'b', 'c'], ['y'], name='gemm', transB=1, alpha=0.5, beta=2.0)]
    inits = [numpy_helper.from_array(w, 'w'), numpy_helper.from_array(b, 'b'),
             numpy_helper.from_array(c, 'c'), numpy_helper.from_array(np.array([15, 48], np.int64), 'shape')]
    g = helper.make_graph(nodes, 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [3, 5, 64])],
                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, [15, 64])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', opset)])
    m.ir_version = 7
    save(m, '%s/gemm%d.onnx' % (t, opset))
d = t + '/raw/gemm'
os.makedirs(d, exist_ok=True)
x.tofile(d + '/x.raw'); y.astype(np.float32).tofile(d + '/y.raw')
json.dump({'inputs': [{'name': 'x', 'dtype': 'float32', 'dims': [3, 5, 64], 'file': d + '/x.raw'}],
           'outputs': [{'name': 'y', 'dtype': 'float32', 'dims': [15, 64], 'file': d + '/y.raw'}]},
          open(d + '/meta.json', 'w'))
EOF
: >"$TMP/gemm.list"
for op in 13 9; do
  echo "gemm$op.float $TMP/gemm$op.onnx $TMP/raw/gemm" >>"$TMP/gemm.list"
  for v in "dyn:--mode dynamic" "dynpc:--mode dynamic --per-channel" "qdqpc:--mode dynamic --format qdq --per-channel" \
    "int4:--mode weight-int4" "int4sym:--mode weight-int4 --symmetric --block 64"; do
    "$KVANT" onnx quantize "$TMP/gemm$op.onnx" "$TMP/gemm$op.${v%%:*}.onnx" ${v#*:} -q &&
      echo "gemm$op.${v%%:*} $TMP/gemm$op.${v%%:*}.onnx $TMP/raw/gemm" >>"$TMP/gemm.list" || fail "gemm$op ${v#*:}"
  done
done
node "$SRC/tests/integration/onnx_quant_ort.mjs" "$ORT_DIR" "$TMP/gemm.list" >"$TMP/gemm.jsonl"
cat "$TMP/gemm.jsonl"
"$PY" - "$TMP/gemm.jsonl" <<'EOF' && pass "Gemm (transB, alpha, beta, C) and 3-D MatMul: every variant within tolerance of numpy" || fail "Gemm variants: see above"
import json, sys
bad = 0
for j in map(json.loads, open(sys.argv[1])):
    lim = 1e-5 if j['name'].endswith('float') else 0.02 if 'int4' not in j['name'] else 0.1
    if not j['ran'] or j['rel'] > lim:
        bad += 1
        print('BAD', j, 'limit', lim)
sys.exit(bad)
EOF
out=$(checker "$TMP"/gemm*.onnx) && pass "Gemm variants pass onnx.checker" || fail "checker: $out"

# never a crash on any model of the package: every 8th in the test (bounded time),
# all 1,072 with KV_ONNXQ_FULL=1
crash=0
n_all=0
i=0
step=8
[ "${KV_ONNXQ_FULL:-0}" = 1 ] && step=1
while IFS= read -r f; do
  i=$((i + 1))
  [ $((i % step)) = 0 ] || continue
  n_all=$((n_all + 1))
  "$KVANT" info "$f" >/dev/null 2>&1
  rc=$?
  [ $rc -ge 128 ] && { crash=$((crash + 1)); echo "info crashed ($rc): $f"; }
  "$KVANT" onnx quantize "$f" "$TMP/any.onnx" -q >/dev/null 2>&1
  rc=$?
  [ $rc -ge 128 ] && { crash=$((crash + 1)); echo "quantize crashed ($rc): $f"; }
done < <(find "$TD" -name model.onnx | sort)
[ "$n_all" -ge $((1000 / step)) ] && [ $crash = 0 ] && pass "kvant info and onnx quantize: no crash on $n_all models" ||
  fail "$crash crashes over $n_all models"

# ---- the demo model: kvant's own fp32 export ----
expect_rc 0 "export fp32" "$KVANT" export onnx "$HF" -o "$TMP/fp32" -q
expect_rc 0 "demo as F32 GGUF (tokenizer)" "$KVANT" convert "$HF" -o "$TMP/f32.gguf" --outtype f32
TEST=$("$KVANT" tokenize "$TMP/f32.gguf" -f "$SHARED/data/kjv-test.txt" | tr -d '[] ' | cut -d, -f1-1024)
CAL=$("$KVANT" tokenize "$TMP/f32.gguf" -f "$SHARED/data/kjv-train-sample.txt" | tr -d '[] ' | cut -d, -f1-1024)
PPL="node $SRC/tests/integration/onnx_ppl_ort.mjs $ORT_DIR"
ppl() { $PPL "$TMP/$1" "$TEST" 256 | "$PY" -c "import json,sys; print(json.load(sys.stdin)['ppl'])"; }
P32=$(ppl fp32)
echo "fp32 export: ORT perplexity $P32 (1,024 tokens of kjv-test.txt, windows of 256)"
variant() { # NAME MAX_REL ARGS...: quantize into TMP/NAME, check, perplexity within MAX_REL of fp32
  local name=$1 lim=$2
  shift 2
  mkdir -p "$TMP/$name"
  cp "$TMP/fp32/genai_config.json" "$TMP/$name/"
  expect_rc 0 "$name: onnx quantize" "$KVANT" onnx quantize "$TMP/fp32/model.onnx" "$TMP/$name/model.onnx" "$@"
  grep -q "quantized 43 of 55" <<<"$OUT" && pass "$name: 43 of 55 MatMul quantized (the other 12 multiply activations)" ||
    fail "$name: summary: $(tail -1 <<<"$OUT")"
  [ -s "$TMP/$name/model.onnx.data" ] && pass "$name: external data in model.onnx.data" || fail "$name: no model.onnx.data"
  ls -a "$TMP/$name" | grep -q '\.tmp' && fail "$name: temporaries left" || true
  out=$(checker "$TMP/$name/model.onnx") && pass "$name: onnx.checker full_check" || fail "$name: checker: $out"
  local p; p=$(ppl "$name")
  local rel; rel=$("$PY" -c "print(abs($p / $P32 - 1))")
  echo "$name: ORT perplexity $p vs fp32 $P32 (relative $rel)"
  le "$rel" "$lim" && pass "$name: perplexity within $lim of fp32" || fail "$name: perplexity $p vs $P32"
}
variant dyn 0.02 --mode dynamic
variant dyn_qdq_pc 0.02 --mode dynamic --format qdq --per-channel
mkdir -p "$TMP/cal"
cp "$TMP/fp32/genai_config.json" "$TMP/cal/"
expect_rc 0 "calib-model: activations as outputs" "$KVANT" onnx calib-model "$TMP/fp32/model.onnx" "$TMP/cal/model.onnx"
expect_out "43 activations added as graph outputs" "calib-model summary"
expect_rc 0 "ORT records the calibration table on kjv-train-sample.txt" $PPL "$TMP/cal" "$CAL" 256 "$TMP/table.json" 2048
expect_out '"tensors":25' "25 distinct MatMul activations recorded"
for m in minmax entropy percentile; do
  variant "static_$m" 0.02 --mode static --calib-table "$TMP/table.json" --method "$m"
done
# kvant's own runtime calibrates (--calib): the same ranges as ORT's table, by weight name
for m in minmax entropy percentile; do
  variant "kcal_$m" 0.02 --mode static --calib "$SHARED/data/kjv-train-sample.txt" \
    --calib-model "$TMP/f32.gguf" --calib-tokens 1024 --calib-ctx 256 --method "$m" --save-calib-table "$TMP/kcal.json"
done
expect_rc 0 "kvant's ranges (hook on each GGUF weight's input) equal ORT's (each MatMul's activation) within 1e-3" "$PY" - "$TMP" <<'EOF'
import json, onnx, sys
t = sys.argv[1]
m = onnx.load(t + '/fp32/model.onnx', load_external_data=False)
k, o = json.load(open(t + '/kcal.json')), json.load(open(t + '/table.json'))
worst, n = 0, 0
for nd in m.graph.node:
    if nd.op_type == 'MatMul' and nd.input[1] in k:
        n += 1
        for f in ('min', 'max'):
            worst = max(worst, abs(k[nd.input[1]][f] - o[nd.input[0]][f]) / max(abs(o[nd.input[0]][f]), 1e-6))
print('%d MatMul ranges, worst relative difference %.3g' % (n, worst))
sys.exit(0 if n == 43 and worst <= 1e-3 else 1)
EOF
echo "$OUT"
variant int4 0.05 --mode weight-int4 --block 32
variant int4_sym128 0.05 --mode weight-int4 --block 128 --symmetric --accuracy-level 4
# narrow ranges: the static model must get much worse (the QDQ is really there)
"$PY" -c "
import json; t = json.load(open('$TMP/table.json'))
json.dump({k: [-0.05, 0.05] for k in t}, open('$TMP/narrow.json', 'w'))"
mkdir -p "$TMP/narrow"
cp "$TMP/fp32/genai_config.json" "$TMP/narrow/"
"$KVANT" onnx quantize "$TMP/fp32/model.onnx" "$TMP/narrow/model.onnx" --mode static --calib-table "$TMP/narrow.json" -q
PN=$(ppl narrow)
le "$("$PY" -c "print($P32 * 1.5)")" "$PN" && pass "ranges clipped to 0.05: perplexity $PN, far over fp32's (QDQ is applied)" ||
  fail "narrow ranges did not change perplexity ($PN vs $P32)"

# ---- excludes ----
expect_rc 0 "--exclude-op-types MatMul" "$KVANT" onnx quantize "$TMP/fp32/model.onnx" "$TMP/ex.onnx" --exclude-op-types MatMul
expect_out "excluded (--exclude-op-types)" "excluded by op type, said so"
expect_out "nothing quantized" "nothing quantized when every MatMul is excluded"
NODE=$(grep -o "left float MatMul '[^']*'" <<<"$OUT" | head -1 | cut -d"'" -f2)
expect_rc 0 "--exclude-nodes $NODE" "$KVANT" onnx quantize "$TMP/fp32/model.onnx" "$TMP/ex.onnx" --exclude-nodes "$NODE,nosuch"
expect_out "left float MatMul '$NODE': excluded (--exclude-nodes)" "the excluded node is named"
expect_out "quantized 42 of 55" "the others are quantized"

# ---- bad input ----
printf 'not a model' >"$TMP/junk.onnx"
expect_rc 1 "a non-ONNX file fails" "$KVANT" onnx quantize "$TMP/junk.onnx" "$TMP/junk.q.onnx"
expect_out "junk.onnx" "the message names the file"
[ -e "$TMP/junk.q.onnx" ] && fail "a failed quantize left its output" || pass "a failed quantize leaves no output"
expect_rc 2 "static without a table" "$KVANT" onnx quantize "$TMP/fp32/model.onnx" "$TMP/x.onnx" --mode static
expect_out "--calib-table" "the message names the option"
expect_rc 2 "--calib without --calib-model" "$KVANT" onnx quantize "$TMP/fp32/model.onnx" "$TMP/x.onnx" --mode static --calib "$SHARED/data/kjv-test.txt"
expect_out "--calib-model" "the message names --calib-model"
expect_rc 1 "--calib with a non-GGUF model" "$KVANT" onnx quantize "$TMP/fp32/model.onnx" "$TMP/x.onnx" --mode static --calib "$SHARED/data/kjv-test.txt" --calib-model "$TMP/junk.onnx"
expect_out "junk.onnx" "the message names the model file"
echo '{"a": [1]}' >"$TMP/badtable.json"
expect_rc 1 "a bad calibration table" "$KVANT" onnx quantize "$TMP/fp32/model.onnx" "$TMP/x.onnx" --mode static --calib-table "$TMP/badtable.json"
expect_out "badtable.json: 'a'" "the message names the table and the entry"
echo '{"a": [0, 1]}' >"$TMP/nohist.json"
expect_rc 1 "entropy without histograms" "$KVANT" onnx quantize "$TMP/fp32/model.onnx" "$TMP/x.onnx" --mode static --calib-table "$TMP/nohist.json" --method entropy
expect_out "needs a histogram" "the message says a histogram is needed"
expect_rc 2 "bad --mode" "$KVANT" onnx quantize "$TMP/fp32/model.onnx" "$TMP/x.onnx" --mode int3
expect_rc 2 "bad --block" "$KVANT" onnx quantize "$TMP/fp32/model.onnx" "$TMP/x.onnx" --mode weight-int4 --block 48
expect_rc 0 "onnx quantize --help" "$KVANT" onnx quantize --help
expect_out "MatMulNBits" "help mentions MatMulNBits"
finish
