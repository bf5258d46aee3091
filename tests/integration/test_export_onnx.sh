#!/usr/bin/env bash
# kvant export onnx, checked in ONNX Runtime (npm onnxruntime-node, CPU provider,
# graph optimizations off) and by ONNX's own checker (python3-onnx,
# check_model full_check). The ORT side (onnx_export_ort.mjs) runs a 64-token
# prompt, then feeds tokens one at a time with past_key_values <- present.*, as
# ONNX Runtime GenAI does, and compares every row of logits with `kvant logits`
# on the same tokens in one batch.
#   - fp32 from the Hugging Face folder: logits within 1e-4 relative of kvant's F32
#     logits (prompt and 32 cached decode steps), same greedy tokens; the
#     tokenizer files and genai_config.json are there.
#   - fp32 --kv-f16 (float16 cache, queries rounded as kvant does): within 5e-5.
#   - fp16 weights: within 1e-4 (the demo model's BF16 weights are exact in F16).
#   - int4 from the Q4_0 GGUF: every Q4_0 tensor transcoded exactly (the summary
#     says so; the Q6_K output layer is kept float), 64 greedy tokens equal kvant's
#     on the Q4_0 GGUF, logits within 1e-2 relative of kvant's (kvant rounds
#     activations to Q8_0 for its Q4_0 dot products, ORT does not); and within
#     5e-5 of kvant's F32 logits on the same Q4_0 weights dequantized (exactness).
#   - --activations q8 (each quantized weight's input rounded to Q8_0/Q8_K blocks as
#     kvant and llama.cpp do): on a GGUF whose only quantized weight is one Q4_0
#     matrix, ORT is within 2e-3 of kvant (float activations: 8e-3); with only a
#     Q6_K output layer, the median row within 1e-3 (float: 1.5e-2). On the whole
#     Q4_0 model the same 64 greedy tokens and 1e-2 relative, but not closer than
#     float activations: one rounding that falls the other way (float sums in
#     another order) moves the next layer's roundings, and by the logits the
#     difference is as large as kvant's own between its reference and SIMD kernels
#     (printed). Both variants: mean KL divergence from kvant's Q4_0 logits within
#     3x kvant's own between its F16 and F32 caches (2.3e-5 here; ORT 2.3e-5 and
#     2.8e-5; the F32 weights in place of the Q4_0 ones: 2.6e-3). The rounding
#     itself is checked value for value (onnx_act_q8.py): every Q8_0/Q8_K block's
#     output in ORT equals kvant's quantizer's arithmetic on ORT's input (halves
#     away from zero: ONNX's Round alone would differ).
#   - int4 requantized from F32 with blocks of 32/64/128: summary says requantized.
#   - Q4_1 blocks with whole zero points (q4_1_snap.py) and int8 from Q8_0:
#     transcoded exactly, within 5e-5 of kvant's F32 logits on the same weights.
#   - llama3, qwen2, qwen3, gemma2 (soft-caps, sliding window, GeGLU, post norms),
#     gemma3 (local RoPE base, q/k norms), phi3 (fused qkv and gate_up) shapes
#     (tools/make_arch_model.py), phi4mini (partial rotary: 48 of 64 dims rotate),
#     phi3long (LongRoPE, original context 64 of 256: on the 64-token prompt + 32
#     decode steps kvant takes the long factors and the attention factor, as the
#     export's tables do for its 256 context), --kv-f16: within 1e-4 (qwen3, gemma3 2e-4).
#   - a GGUF source: tokenizer.model derived from its SentencePiece vocabulary
#     encodes kjv-test.txt as the original does (python3-sentencepiece).
#   - bad input: exit 1/2 with a message naming the file or the option.
source "$(dirname "$0")/lib.sh"
require_demo_model
require_cmds "node and npm are needed for onnxruntime-node" node npm
PY=/usr/bin/python3 # Debian's, with python3-onnx and python3-numpy
require_py_modules "python3-onnx, python3-numpy and python3-sentencepiece are needed \
(tools/install-deps.sh)" onnx numpy sentencepiece
ORT_DIR=${KV_BUILD_DIR:-$TMP}/node_ort
# the CPU provider is in the package; the install script would fetch GPU binaries
export ONNXRUNTIME_NODE_INSTALL=skip
npm_install_pinned "$ORT_DIR" onnxruntime-node@1.30.0 || { fail "npm install onnxruntime-node"; finish; exit 1; }
ORT="node $SRC/tests/integration/onnx_export_ort.mjs $ORT_DIR"
HF=$SHARED/models/kjv-llama-7m

# jq-free JSON field: json FIELD <<<JSON
json() { "$PY" -c "import json,sys; v=json.load(sys.stdin)['$1']; print(','.join(map(str,v)) if isinstance(v,list) else v)"; }
# le A B: A <= B as numbers
le() { "$PY" -c "import sys; sys.exit(0 if float('$1') <= float('$2') else 1)"; }
# checked DIR: onnx.checker.check_model(full_check=True) on DIR/model.onnx
checked() {
  expect_rc 0 "$1: onnx.checker full_check" "$PY" -c \
    "import onnx,sys; onnx.checker.check_model(sys.argv[1], full_check=True)" "$TMP/$1/model.onnx"
}
# compare NAME DIR NEXT_IDS KVANT_LOGITS MAX_REL: ORT vs kvant logits within MAX_REL
compare() {
  local r
  r=$($ORT "$TMP/$2" "$PROMPT" "$3" "$4")
  echo "$1: $r" | cut -c1-220
  R=$r
  local rel; rel=$(json max_rel <<<"$r")
  if [ -n "$rel" ] && le "$rel" "$5"; then pass "$1: logits within $5 relative ($rel)"; else fail "$1: max_rel $rel over $5"; fi
}

# kld A B: mean over rows of KL(softmax A || softmax B), two kvant logits files
kld() {
  "$PY" -c "
import numpy as np, sys
a, b = (np.fromfile(f, dtype=np.float32).reshape(-1, 4096).astype(np.float64) for f in sys.argv[1:])
ls = lambda x: x - x.max(1, keepdims=True) - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True))
print(float((np.exp(ls(a)) * (ls(a) - ls(b))).sum(1).mean()))" "$1" "$2"
}
# near_self NAME: ORT's last result ($R) is no farther from kvant's Q4_0 logits than
# 3x kvant's own F16-cache run from its F32-cache run (mean KL divergence $SELF):
# 8-bit activations turn any float difference into a different rounding here and
# there, so that is the scale of "the same function" (a wrong graph is 100x off)
near_self() {
  local k lim; k=$(json mean_kld <<<"$R"); lim=$("$PY" -c "print(3 * $SELF)")
  le "$k" "$lim" && pass "$1: mean KL divergence $k within 3x kvant's own cache-type spread ($SELF)" ||
    fail "$1: mean KL divergence $k over 3 x $SELF"
}

expect_rc 0 "convert the demo model to F32" "$KVANT" convert "$HF" -o "$TMP/f32.gguf" --outtype f32
expect_rc 0 "quantize to Q4_0" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/q4_0.gguf" q4_0
expect_rc 0 "the Q4_0 weights dequantized to F32" "$KVANT" quantize "$TMP/q4_0.gguf" \
  "$TMP/deq.gguf" f32 --allow-requantize
PROMPT=$("$KVANT" tokenize "$TMP/f32.gguf" -f "$SHARED/data/kjv-test.txt" | tr -d '[] ' | cut -d, -f1-64)
[ "$(tr ',' '\n' <<<"$PROMPT" | wc -l)" = 64 ] && pass "a 64-token prompt" || fail "prompt: $PROMPT"
G32=$("$KVANT" logits "$TMP/f32.gguf" --tokens "$PROMPT" --greedy 32 -t 2 | tr ' ' ',')
"$KVANT" logits "$TMP/f32.gguf" --tokens "$PROMPT,$G32" -o "$TMP/f32.logits" -t 2 >/dev/null
G64=$("$KVANT" logits "$TMP/q4_0.gguf" --tokens "$PROMPT" --greedy 64 -t 2 | tr ' ' ',')
"$KVANT" logits "$TMP/q4_0.gguf" --tokens "$PROMPT,$G64" -o "$TMP/q4.logits" -t 2 >/dev/null
"$KVANT" logits "$TMP/deq.gguf" --tokens "$PROMPT,$G64" -o "$TMP/deq.logits" -t 2 >/dev/null

# ---- fp32 from the Hugging Face folder ----
expect_rc 0 "export fp32 from the HF folder" "$KVANT" export onnx "$HF" -o "$TMP/fp32"
expect_out "opset 17, IR 8" "fp32: the summary states opset and IR version"
expect_out "tokenizer files: 4 copied" "fp32: tokenizer files copied"
for f in model.onnx model.onnx.data genai_config.json tokenizer.model tokenizer_config.json; do
  [ -s "$TMP/fp32/$f" ] && pass "fp32: $f" || fail "fp32: no $f"
done
ls -a "$TMP/fp32" | grep -q '\.tmp\|kvant-export-src' && fail "fp32: temporaries left: $(ls -a "$TMP/fp32")" || pass "fp32: no temporary left"
expect_rc 0 "genai_config.json has the model builder's fields" "$PY" -c "
import json,sys; c=json.load(open(sys.argv[1])); d=c['model']['decoder']
assert d['filename']=='model.onnx' and d['num_hidden_layers']==6 and d['num_key_value_heads']==4
assert d['num_attention_heads']==8 and d['head_size']==32 and d['hidden_size']==256
assert d['inputs']['past_key_names']=='past_key_values.%d.key' and d['outputs']['present_value_names']=='present.%d.value'
assert c['model']['vocab_size']==4096 and c['model']['context_length']==512 and c['model']['eos_token_id']==2
assert c['search']['max_length']==512" "$TMP/fp32/genai_config.json"
checked fp32
compare "fp32" fp32 "$G32" "$TMP/f32.logits" 1e-4
[ "$(json ort_greedy <<<"$R" | cut -d, -f1-32)" = "$G32" ] &&
  pass "fp32: ORT's greedy tokens are kvant's" || fail "fp32: greedy $(json ort_greedy <<<"$R") vs $G32"

expect_rc 0 "export fp32 --kv-f16 from the GGUF" "$KVANT" export onnx "$TMP/f32.gguf" -o "$TMP/fp32h" --kv-f16
expect_out "tokenizer.model and tokenizer_config.json from the GGUF" "a GGUF source: tokenizer files derived"
# the derived tokenizer.model encodes like the original (Debian's sentencepiece as the oracle)
expect_rc 0 "derived tokenizer.model encodes kjv-test.txt as the original" "$PY" -c "
import sys, sentencepiece as spm
a = spm.SentencePieceProcessor(model_file=sys.argv[1]); b = spm.SentencePieceProcessor(model_file=sys.argv[2])
lines = open(sys.argv[3]).read().splitlines() + ['Hello  world 123 ünïcödé 😀', ' lead', 'a\tb']
bad = [l for l in lines if a.encode(l) != b.encode(l)]
assert not bad, bad[:3]
print(len(lines), 'lines')" "$TMP/fp32h/tokenizer.model" "$HF/tokenizer.model" "$SHARED/data/kjv-test.txt"
checked fp32h
compare "fp32 kv-f16" fp32h "$G32" "$TMP/f32.logits" 5e-5
[ "$(json kv_type <<<"$R")" = float16 ] && pass "kv-f16: the cache is float16" || fail "kv-f16: cache $(json kv_type <<<"$R")"

expect_rc 0 "export fp16" "$KVANT" export onnx "$TMP/f32.gguf" -o "$TMP/fp16" --precision fp16 -q
checked fp16
compare "fp16" fp16 "$G32" "$TMP/f32.logits" 1e-4

# ---- int4 from the Q4_0 GGUF ----
expect_rc 0 "export int4 from Q4_0" "$KVANT" export onnx "$TMP/q4_0.gguf" -o "$TMP/int4" --precision int4
expect_out "int4: 42 tensors exact (transcoded), 0 requantized, 1 kept float" "int4: Q4_0 tensors transcoded exactly"
expect_out "output.weight                Q6_K   -> kept float32" "int4: the Q6_K output layer kept float"
checked int4
compare "int4 vs kvant Q4_0" int4 "$G64" "$TMP/q4.logits" 1e-2
echo "int4: max |ORT - kvant| = $(json max_abs <<<"$R") over 128 rows"
KV32="--cache-type-k f32 --cache-type-v f32"
"$KVANT" logits "$TMP/q4_0.gguf" --tokens "$PROMPT,$G64" -o "$TMP/q4kv32.logits" -t 2 $KV32 >/dev/null
SELF=$(kld "$TMP/q4.logits" "$TMP/q4kv32.logits")
near_self "int4"
[ "$(json ort_greedy <<<"$R" | cut -d, -f1-64)" = "$G64" ] &&
  pass "int4: 64 greedy tokens equal kvant's on the Q4_0 GGUF" || fail "int4: greedy $(json ort_greedy <<<"$R") vs $G64"
expect_rc 0 "export int4 --kv-f16" "$KVANT" export onnx "$TMP/q4_0.gguf" -o "$TMP/int4h" --precision int4 --kv-f16 -q
checked int4h
compare "int4 vs kvant F32 on the dequantized Q4_0 weights" int4h "$G64" "$TMP/deq.logits" 5e-5
expect_rc 0 "export int4 --accuracy-level 4" "$KVANT" export onnx "$TMP/q4_0.gguf" -o "$TMP/int4a" --precision int4 --accuracy-level 4 -q
checked int4a
compare "int4 accuracy_level 4 vs kvant Q4_0" int4a "$G64" "$TMP/q4.logits" 1e-2

# ---- --activations q8: inputs rounded to 8 bits as kvant does ----
expect_rc 0 "export int4 --activations q8 --kv-f16" "$KVANT" export onnx "$TMP/q4_0.gguf" -o "$TMP/int4q" --precision int4 --activations q8 --kv-f16
expect_out "activations: 42 weights take Q8_0 inputs, 0 Q8_1, 1 Q8_K" "q8: the summary names the activation formats"
expect_out "output.weight                Q6_K   -> kept float32, activations Q8_K" "q8: the Q6_K output layer takes Q8_K inputs"
checked int4q
# the rounding itself, value for value: every block's input and output exposed,
# run on the prompt, compared with kvant's quantizers' arithmetic (onnx_act_q8.py)
expect_rc 0 "q8: rounding blocks exposed as outputs" "$PY" "$SRC/tests/integration/onnx_act_q8.py" expose "$TMP/int4q" "$TMP/int4qx"
expect_out "25 rounding blocks exposed" "q8: 4 per layer and the output's"
mkdir -p "$TMP/int4qd"
ORT_DUMP="$TMP/int4qd" $ORT "$TMP/int4qx" "$PROMPT" "" "" >/dev/null
expect_rc 0 "q8: ORT's rounded activations equal kvant's rounding" "$PY" "$SRC/tests/integration/onnx_act_q8.py" check "$TMP/int4qx" "$TMP/int4qd"
expect_out " 0 differ from kvant's rounding" "q8: no value differs"
compare "int4 --activations q8 vs kvant Q4_0" int4q "$G64" "$TMP/q4.logits" 1e-2
echo "int4 q8: max |ORT - kvant| = $(json max_abs <<<"$R"), median row $(json row_median_abs <<<"$R")"
near_self "int4 q8"
[ "$(json ort_greedy <<<"$R" | cut -d, -f1-64)" = "$G64" ] &&
  pass "int4 q8: 64 greedy tokens equal kvant's on the Q4_0 GGUF" || fail "int4 q8: greedy $(json ort_greedy <<<"$R") vs $G64"
# context: kvant against itself, reference kernels vs this CPU's SIMD ones
KVANT_KERNELS=ref "$KVANT" logits "$TMP/q4_0.gguf" --tokens "$PROMPT,$G64" -o "$TMP/q4ref.logits" -t 2 >/dev/null
echo "kvant Q4_0, reference vs SIMD kernels: max |difference| = $("$PY" -c "
import numpy as np, sys
a, b = (np.fromfile(f, dtype=np.float32) for f in sys.argv[1:])
print(float(np.abs(a - b).max()))" "$TMP/q4ref.logits" "$TMP/q4.logits"), mean KL divergence $(kld "$TMP/q4.logits" "$TMP/q4ref.logits")"
# One quantized weight at a time (the rest F32, cache F32): a rounding that lands
# the other way cannot cascade through later layers, so the rounding itself is checked.
expect_rc 0 "a GGUF whose only quantized weight is blk.0.attn_q (Q4_0)" "$KVANT" quantize "$TMP/f32.gguf" \
  "$TMP/one_q4.gguf" f32 --tensor-type 'blk\.0\.attn_q=q4_0'
expect_rc 0 "a GGUF whose only quantized weight is output (Q6_K)" "$KVANT" quantize "$TMP/f32.gguf" \
  "$TMP/one_q6k.gguf" f32 --output-tensor-type q6_k
# one_q4: Q4_0 x Q8_0, largest difference within 2e-3 (float activations: 8e-3);
# one_q6k: Q6_K x Q8_K on the logits themselves, where one rounding the other way
# moves a row by ~5e-3, so the median row: within 1e-3 (float activations: 1.5e-2)
for spec in one_q4:max_abs:2e-3 one_q6k:row_median_abs:1e-3; do
  IFS=: read -r f metric lim <<<"$spec"
  "$KVANT" logits "$TMP/$f.gguf" --tokens "$PROMPT,$G32" -o "$TMP/$f.logits" -t 2 $KV32 >/dev/null
  expect_rc 0 "$f: export, float activations" "$KVANT" export onnx "$TMP/$f.gguf" -o "$TMP/$f.f" -q
  expect_rc 0 "$f: export --activations q8" "$KVANT" export onnx "$TMP/$f.gguf" -o "$TMP/$f.q" --activations q8 -q
  checked "$f.q"
  RF=$($ORT "$TMP/$f.f" "$PROMPT" "$G32" "$TMP/$f.logits")
  RQ=$($ORT "$TMP/$f.q" "$PROMPT" "$G32" "$TMP/$f.logits")
  echo "$f: float activations max $(json max_abs <<<"$RF") median row $(json row_median_abs <<<"$RF"); q8 max $(json max_abs <<<"$RQ") median row $(json row_median_abs <<<"$RQ")"
  v=$(json "$metric" <<<"$RQ")
  le "$v" "$lim" && pass "$f: --activations q8 $metric within $lim of kvant ($v)" || fail "$f: q8 $metric $v over $lim"
done

# ---- Q4_1: real blocks are requantized; blocks with m = -z * d are transcoded exactly ----
expect_rc 0 "quantize to Q4_1" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/q4_1.gguf" q4_1
expect_rc 0 "export int4 from Q4_1" "$KVANT" export onnx "$TMP/q4_1.gguf" -o "$TMP/q41" --precision int4
expect_out "int4: 0 tensors exact (transcoded), 42 requantized, 1 kept float" "Q4_1: minimums off the grid are requantized"
expect_rc 0 "Q4_1 blocks snapped to whole zero points" "$PY" "$SRC/tests/integration/q4_1_snap.py" "$TMP/q4_1.gguf" "$TMP/q4_1s.gguf"
expect_rc 0 "export int4 from the snapped Q4_1" "$KVANT" export onnx "$TMP/q4_1s.gguf" -o "$TMP/q41s" --precision int4 --kv-f16
expect_out "int4: 42 tensors exact (transcoded), 0 requantized, 1 kept float" "snapped Q4_1: transcoded exactly (zero points)"
checked q41s
expect_rc 0 "the snapped Q4_1 dequantized to F32" "$KVANT" quantize "$TMP/q4_1s.gguf" "$TMP/q41deq.gguf" f32 --allow-requantize
"$KVANT" logits "$TMP/q41deq.gguf" --tokens "$PROMPT,$G32" -o "$TMP/q41deq.logits" -t 2 >/dev/null
compare "int4 (Q4_1 zero points) vs kvant F32 on the same weights" q41s "$G32" "$TMP/q41deq.logits" 5e-5

# ---- int4 requantized ----
for b in 32 64 128; do
  expect_rc 0 "export int4 --block $b from F32" "$KVANT" export onnx "$TMP/f32.gguf" -o "$TMP/rq$b" --precision int4 --block $b
  expect_out "int4: 0 tensors exact (transcoded), 43 requantized, 0 kept float" "block $b: every tensor requantized"
  checked "rq$b"
  # 4-bit weights: an error of a few percent, not a wrong layout (order 1)
  compare "int4 block $b requantized" "rq$b" "$G32" "$TMP/f32.logits" 0.1
done

# ---- int8 (MatMulNBits bits 8): Q8_0 transcoded exactly, F32 requantized ----
expect_rc 0 "quantize to Q8_0" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/q8_0.gguf" q8_0
expect_rc 0 "export int8 from Q8_0" "$KVANT" export onnx "$TMP/q8_0.gguf" -o "$TMP/int8" --precision int8 --kv-f16
expect_out "int8: 43 tensors exact (transcoded), 0 requantized, 0 kept float" "int8: Q8_0 transcoded exactly"
checked int8
expect_rc 0 "the Q8_0 weights dequantized to F32" "$KVANT" quantize "$TMP/q8_0.gguf" "$TMP/q8deq.gguf" f32 --allow-requantize
"$KVANT" logits "$TMP/q8deq.gguf" --tokens "$PROMPT,$G32" -o "$TMP/q8deq.logits" -t 2 >/dev/null
compare "int8 vs kvant F32 on the dequantized Q8_0 weights" int8 "$G32" "$TMP/q8deq.logits" 5e-5
expect_rc 0 "export int8 from F32" "$KVANT" export onnx "$TMP/f32.gguf" -o "$TMP/int8r" --precision int8
expect_out "int8: 0 tensors exact (transcoded), 43 requantized, 0 kept float" "int8 from F32: requantized"
checked int8r
compare "int8 requantized vs F32" int8r "$G32" "$TMP/f32.logits" 1e-2

# ---- other shapes ----
T=$(seq -s, 7 83 1300)
# qwen3, gemma3: 2e-4, as test_arch_families.sh allows them against numpy (more
# values rounded through the F16 cache land on either side of a half's boundary)
# phi3long: 2e-4 for the same reason (96 tokens; the attention factor 1.15 on q and k
# and the long factors; kvant vs the numpy reference is 9.6e-5 there); without the
# float16 cache the export equals the numpy reference within 1e-5 (below).
for fam in llama3:1e-4 qwen2:1e-4 qwen3:2e-4 gemma2:1e-4 gemma3:2e-4 phi3:1e-4 phi4mini:1e-4 phi3long:2e-4; do
  f=${fam%%:*} lim=${fam#*:} toks=$T ng=8
  # LongRoPE: 96 tokens, a context over the original 64 (kvant: the long factors)
  [ "$f" = phi3long ] && toks=$PROMPT ng=32
  expect_rc 0 "$f: make and convert" bash -c "'$PY' '$SRC/tools/make_arch_model.py' $f '$TMP/$f.hf' --tokenizer-from '$HF' >/dev/null && '$KVANT' convert '$TMP/$f.hf' -o '$TMP/$f.gguf' --outtype f32"
  g=$("$KVANT" logits "$TMP/$f.gguf" --tokens "$toks" --greedy $ng -t 2 | tr ' ' ',')
  "$KVANT" logits "$TMP/$f.gguf" --tokens "$toks,$g" -o "$TMP/$f.logits" -t 2 >/dev/null
  expect_rc 0 "$f: export" "$KVANT" export onnx "$TMP/$f.gguf" -o "$TMP/$f.onnx" --kv-f16
  checked "$f.onnx"
  R=$($ORT "$TMP/$f.onnx" "$toks" "$g" "$TMP/$f.logits")
  echo "$f: $R" | cut -c1-200
  rel=$(json max_rel <<<"$R")
  le "$rel" "$lim" && pass "$f: logits within $lim ($rel)" || fail "$f: max_rel $rel"
done
# LongRoPE with a float32 cache against the numpy reference (long factors, float64)
expect_rc 0 "phi3long: export fp32 cache" "$KVANT" export onnx "$TMP/phi3long.gguf" -o "$TMP/pl32.onnx" -q
expect_rc 0 "phi3long: numpy reference logits (long factors)" "$PY" "$SRC/tests/reference/forward.py" \
  "$TMP/phi3long.hf" --tokens "$PROMPT,$g" --rope-factors long --write "$TMP/pl.ref"
R=$($ORT "$TMP/pl32.onnx" "$PROMPT" "$g" "$TMP/pl.ref")
echo "phi3long fp32 vs numpy: $R" | cut -c1-200
rel=$(json max_rel <<<"$R")
le "$rel" 1e-5 && pass "phi3long: float32-cache export = numpy reference within 1e-5 ($rel)" || fail "phi3long vs numpy: max_rel $rel"

# ---- bad input ----
printf 'not a model' >"$TMP/junk.gguf"
expect_rc 1 "export of a non-GGUF file fails" "$KVANT" export onnx "$TMP/junk.gguf" -o "$TMP/junk"
expect_out "junk.gguf" "the message names the file"
[ -e "$TMP/junk/model.onnx" ] && fail "a failed export left model.onnx" || pass "a failed export leaves no model.onnx"
expect_rc 2 "bad --precision" "$KVANT" export onnx "$TMP/f32.gguf" -o "$TMP/x" --precision int3
expect_out "--precision" "the message names the option"
expect_rc 2 "bad --activations" "$KVANT" export onnx "$TMP/f32.gguf" -o "$TMP/x" --activations int8
expect_out "--activations" "the message names --activations"
expect_rc 2 "bad --block" "$KVANT" export onnx "$TMP/f32.gguf" -o "$TMP/x" --block 48
expect_rc 2 "no -o" "$KVANT" export onnx "$TMP/f32.gguf"
expect_rc 2 "unknown format" "$KVANT" export tflite "$TMP/f32.gguf" -o "$TMP/x"
expect_rc 0 "export --help" "$KVANT" export onnx --help
expect_out "MatMulNBits" "help mentions MatMulNBits"
finish
