#!/usr/bin/env bash
# MLX (mlx-lm folders) both ways.
#   - GGUF Q4_1 (--pure) -> kvant export mlx (bits 4, group 32) -> kvant convert:
#     every tensor's data is byte-identical to the source GGUF's (gguf_digests.py),
#     the summary says every quantized layer was transcoded exactly, and the logits
#     of the folder read back equal the source's bit for bit (kvant logits).
#   - the same for Q8_0 -> bits 8, group 32 (bias = -128 * scale) -> Q8_0.
#   - F32 -> bits 4 group 64 and bits 8 group 128 (requantized, the summary says so):
#     read back, the logits stay close to F32's (top token agreement), and the
#     values equal the folder's own (mlx_check.py dequantizes it independently).
#   - a Hugging Face folder as SRC: config.json is the source's plus "quantization",
#     the tokenizer files are copied.
#   - an mlx-community style folder (tools/make_mlx_model.py: Llama-3.2-1B-Instruct-4bit
#     config fields, group 64 / bits 4 with per-module overrides, bfloat16 scales,
#     tie_word_embeddings, rope_scaling llama3): kvant convert transcodes exactly the
#     layers GGUF can hold (Q8_0 for bits 8 with bias -128 * scale, Q4_1 for bits 4
#     group 32 in float16 values), dequantizes the rest (a bfloat16 scale outside
#     float16 included), and numpy's own dequantizer (mlx_check.py) agrees on every
#     value; the model runs (kvant logits).
#   - gemma2, gemma3, phi3 from their Hugging Face folders (bits 8): mlx-lm's names
#     and Gemma's norms as w (equal to the source's), and the folder read back gives
#     the numpy reference's logits on the folder's own weights (mlx_dequant.py +
#     tests/reference/forward.py); from a Q8_0 GGUF alone (config.json from its keys,
#     phi4mini's partial_rotary_factor too): byte-identical tensors and bit-identical
#     logits read back; LongRoPE from a GGUF alone: refused, naming what to do.
#   - bad folders: missing scales, wrong packed shape, 3 bits, a group size that does
#     not divide the row, a mode other than affine: one line naming the file and
#     tensor (or field), exit 1, no output file.
source "$(dirname "$0")/lib.sh"
require_demo_model
PY=/usr/bin/python3 # Debian's, with python3-numpy
require_py_modules "python3-numpy is needed (tools/install-deps.sh)" numpy
HF=$SHARED/models/kjv-llama-7m
DIGESTS="$PY $SRC/tests/integration/gguf_digests.py"
TOKENS=1,450,3041,310,278,3186,1550,17,1,29,30,31,500,600,700,800

expect_rc 0 "convert the demo model to F32" "$KVANT" convert "$HF" -o "$TMP/f32.gguf" --outtype f32
expect_rc 0 "quantize to Q4_1 --pure" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/q4_1.gguf" q4_1 --pure
expect_rc 0 "quantize to Q8_0 --pure" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/q8_0.gguf" q8_0 --pure

# round_trip NAME GGUF BITS: GGUF -> MLX -> GGUF, same tensor bytes and logits
round_trip() {
  local name=$1 src=$2 bits=$3
  expect_rc 0 "$name: export mlx --q-bits $bits" "$KVANT" export mlx "$src" -o "$TMP/$name" --q-bits "$bits"
  expect_out "44 exact (transcoded), 0 requantized" "$name: every quantized layer transcoded exactly"
  for f in model.safetensors config.json tokenizer.model tokenizer_config.json; do
    [ -s "$TMP/$name/$f" ] && pass "$name: $f written" || fail "$name: no $f"
  done
  grep -q "\"bits\": $bits" "$TMP/$name/config.json" && grep -q '"group_size": 32' "$TMP/$name/config.json" &&
    pass "$name: config.json has quantization {group_size 32, bits $bits}" || fail "$name: config.json quantization"
  expect_rc 0 "$name: convert the MLX folder back" "$KVANT" convert "$TMP/$name" -o "$TMP/$name.gguf"
  expect_out "44 transcoded exactly, 0 dequantized" "$name: the reader transcodes every layer exactly"
  if cmp -s <($DIGESTS "$src") <($DIGESTS "$TMP/$name.gguf"); then
    pass "$name: every tensor's data byte-identical after GGUF -> MLX -> GGUF ($($DIGESTS "$src" | wc -l) tensors)"
  else
    fail "$name: tensor data differs: $(diff <($DIGESTS "$src") <($DIGESTS "$TMP/$name.gguf") | head -4)"
  fi
  "$KVANT" logits "$src" --tokens $TOKENS -o "$TMP/$name.src.bin" >/dev/null 2>&1
  "$KVANT" logits "$TMP/$name.gguf" --tokens $TOKENS -o "$TMP/$name.back.bin" >/dev/null 2>&1
  if [ -s "$TMP/$name.src.bin" ] && cmp -s "$TMP/$name.src.bin" "$TMP/$name.back.bin"; then
    pass "$name: logits of the folder read back equal the source's bit for bit"
  else
    fail "$name: logits differ"
  fi
}
round_trip q4_1 "$TMP/q4_1.gguf" 4
round_trip q8_0 "$TMP/q8_0.gguf" 8

# sharded: model-0000K-of-0000N.safetensors + index, read back the same
expect_rc 0 "sharded export (1 MiB shards)" "$KVANT" export mlx "$TMP/q4_1.gguf" -o "$TMP/shards" --shard-size-mb 1
n_sh=$(ls "$TMP/shards" | grep -c '^model-.*-of-.*\.safetensors$')
[ "$n_sh" -ge 3 ] && [ -s "$TMP/shards/model.safetensors.index.json" ] && [ ! -e "$TMP/shards/model.safetensors" ] &&
  pass "sharded export: $n_sh shards and model.safetensors.index.json" || fail "sharded export: $(ls "$TMP/shards")"
expect_rc 0 "sharded export: convert back" "$KVANT" convert "$TMP/shards" -o "$TMP/shards.gguf"
cmp -s <($DIGESTS "$TMP/q4_1.gguf") <($DIGESTS "$TMP/shards.gguf") &&
  pass "sharded export: tensor data byte-identical read back" || fail "sharded export: tensor data differs"

# requantized exports: values checked by numpy, logits close to F32's
for bg in "4 64" "8 128"; do
  set -- $bg
  d=req_b$1_g$2
  expect_rc 0 "$d: export mlx from F32" "$KVANT" export mlx "$TMP/f32.gguf" -o "$TMP/$d" --q-bits "$1" --q-group-size "$2"
  expect_out "0 exact (transcoded), 44 requantized" "$d: the summary says every layer was requantized"
  expect_rc 0 "$d: convert back" "$KVANT" convert "$TMP/$d" -o "$TMP/$d.gguf" --outtype f32
  expect_rc 0 "$d: numpy dequantizer agrees with the GGUF kvant read" "$PY" "$SRC/tests/integration/mlx_check.py" "$TMP/$d" "$TMP/$d.gguf"
  "$KVANT" logits "$TMP/f32.gguf" --tokens $TOKENS -o "$TMP/f32.bin" >/dev/null 2>&1
  "$KVANT" logits "$TMP/$d.gguf" --tokens $TOKENS -o "$TMP/$d.bin" >/dev/null 2>&1
  agree=$("$PY" -c "
import numpy as np, sys
a = np.fromfile('$TMP/f32.bin', np.float32).reshape(-1, 4096)
b = np.fromfile('$TMP/$d.bin', np.float32).reshape(-1, 4096)
print((a.argmax(1) == b.argmax(1)).mean())")
  echo "$d: top-token agreement with F32 over 16 positions: $agree"
  "$PY" -c "import sys; sys.exit(0 if float('$agree') >= ${3:-0.75} else 1)" &&
    pass "$d: top token agrees with F32 at $agree of positions" || fail "$d: top-token agreement $agree"
done

# a Hugging Face folder as the source
expect_rc 0 "HF folder: export mlx" "$KVANT" export mlx "$HF" -o "$TMP/from_hf" --q-group-size 64
expect_out "tokenizer files: " "HF folder: tokenizer files copied"
"$PY" - "$HF/config.json" "$TMP/from_hf/config.json" <<'PYEOF' && pass "HF folder: config.json is the source's plus quantization" || fail "HF folder: config.json"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
q = b.pop("quantization"); b.pop("quantization_config")
sys.exit(0 if a == b and q == {"group_size": 64, "bits": 4} else 1)
PYEOF
cmp -s "$HF/tokenizer.model" "$TMP/from_hf/tokenizer.model" && pass "HF folder: tokenizer.model copied" || fail "HF folder: tokenizer.model"
expect_rc 0 "HF folder export: converts back" "$KVANT" convert "$TMP/from_hf" -o "$TMP/from_hf.gguf"

# an mlx-community style folder
expect_rc 0 "make the mlx-community style folder" "$PY" "$SRC/tools/make_mlx_model.py" "$TMP/comm" "$HF"
expect_rc 0 "mlx-community folder: kvant info" "$KVANT" info "$TMP/comm"
expect_out "quantization: MLX affine, group_size 64, bits 4" "kvant info names the folder's MLX quantization"
expect_rc 0 "mlx-community folder: convert" "$KVANT" convert "$TMP/comm" -o "$TMP/comm.gguf"
expect_out "3 transcoded exactly, 11 dequantized" "mlx-community folder: 3 exact, 11 dequantized"
grep -E "blk.0.ffn_down.weight +exact +Q8_0" <<<"$OUT" >/dev/null && pass "bits 8 group 32 with bias -128*scale -> Q8_0 exactly" || fail "down_proj not Q8_0 exact"
grep -E "blk.1.attn_q.weight +exact +Q4_1" <<<"$OUT" >/dev/null && grep -E "blk.1.attn_k.weight +exact +Q4_1" <<<"$OUT" >/dev/null &&
  pass "bits 4 group 32 (bfloat16 values that are float16 values) -> Q4_1 exactly" || fail "q/k not Q4_1 exact"
grep -E "blk.1.attn_v.weight +dequantized .*not a float16 value" <<<"$OUT" >/dev/null && pass "a bfloat16 scale outside float16 is dequantized, not transcoded" || fail "v_proj"
grep -E "blk.1.ffn_down.weight +dequantized .*bits 8, group 32: a bias is not -128 x scale" <<<"$OUT" >/dev/null && pass "bits 8 with a free bias is dequantized, and says why" || fail "layer 1 down_proj"
expect_rc 0 "mlx-community folder: numpy dequantizer agrees on every value" "$PY" "$SRC/tests/integration/mlx_check.py" "$TMP/comm" "$TMP/comm.gguf"
expect_rc 0 "mlx-community folder: kvant info" "$KVANT" info "$TMP/comm.gguf"
expect_out "rope_freqs.weight" "rope_scaling llama3 -> rope_freqs.weight"
# eos_token_id as a list (Llama 3.x) is skipped, as llama.cpp's SpecialVocab skips it
expect_out "tokenizer.ggml.bos_token_id" "bos_token_id read beside an eos_token_id list"
if grep -qE "^[0-9]+ +output.weight " <<<"$OUT"; then fail "tie_word_embeddings: an output.weight was written"; else pass "tie_word_embeddings: no output.weight"; fi
expect_rc 0 "mlx-community folder: the model runs" "$KVANT" logits "$TMP/comm.gguf" --tokens $TOKENS --greedy 4
# re-export as MLX: the exact layers stay exact
expect_rc 0 "mlx-community folder: export mlx from it" "$KVANT" export mlx "$TMP/comm" -o "$TMP/comm2"

# gemma2, gemma3, phi3 (tools/make_arch_model.py) from their Hugging Face folders, bits 8:
# mlx-lm's names (Gemma's pre/post_feedforward_layernorm, Phi-3's fused qkv_proj and
# gate_up_proj) and Gemma's norms as w (GGUF holds 1 + w), equal to the source's; the
# folder read back by kvant gives the logits of the numpy reference (forward.py) run
# on the folder's weights dequantized by numpy (mlx_dequant.py).
for fam in gemma2:1e-4 gemma3:2e-4 phi3:1e-4; do
  f=${fam%%:*} lim=${fam#*:}
  expect_rc 0 "$f: make the checkpoint" "$PY" "$SRC/tools/make_arch_model.py" "$f" "$TMP/$f.hf" --tokenizer-from "$HF"
  expect_rc 0 "$f: export mlx --q-bits 8 from the HF folder" "$KVANT" export mlx "$TMP/$f.hf" -o "$TMP/$f.mlx" --q-bits 8
  expect_rc 0 "$f: mlx-lm's names, float tensors equal to the source's" "$PY" \
    "$SRC/tests/integration/mlx_dequant.py" "$TMP/$f.mlx" "$TMP/$f.deq" --source "$TMP/$f.hf"
  echo "$f: $OUT"
  expect_rc 0 "$f: convert the MLX folder back" "$KVANT" convert "$TMP/$f.mlx" -o "$TMP/$f.back.gguf" --outtype f32
  expect_rc 0 "$f: logits of the folder read back" "$KVANT" logits "$TMP/$f.back.gguf" --tokens $TOKENS -o "$TMP/$f.back.bin" -t 2
  expect_rc 0 "$f: read back = numpy reference on the folder's weights (within $lim)" "$PY" \
    "$SRC/tests/reference/forward.py" "$TMP/$f.deq" --tokens $TOKENS --logits "$TMP/$f.back.bin" --kv-f16 --max-rel "$lim"
  echo "$f: $OUT"
done
# the same families (and phi4mini's partial_rotary_factor) from a Q8_0 GGUF alone:
# config.json built from the GGUF keys, GGUF -> MLX -> GGUF gives the same tensor
# bytes and bit-identical logits
for f in gemma2 gemma3 phi3 phi4mini; do
  [ -d "$TMP/$f.hf" ] || "$PY" "$SRC/tools/make_arch_model.py" "$f" "$TMP/$f.hf" --tokenizer-from "$HF" >/dev/null
  expect_rc 0 "$f: convert to Q8_0 --pure" bash -c "'$KVANT' convert '$TMP/$f.hf' -o '$TMP/$f.f32.gguf' --outtype f32 -q &&
    '$KVANT' quantize '$TMP/$f.f32.gguf' '$TMP/$f.q8.gguf' q8_0 --pure -q"
  expect_rc 0 "$f: export mlx from the GGUF" "$KVANT" export mlx "$TMP/$f.q8.gguf" -o "$TMP/$f.gmlx" --q-bits 8
  expect_rc 0 "$f: convert back" "$KVANT" convert "$TMP/$f.gmlx" -o "$TMP/$f.gback.gguf"
  cmp -s <($DIGESTS "$TMP/$f.q8.gguf") <($DIGESTS "$TMP/$f.gback.gguf") &&
    pass "$f: tensor data byte-identical after GGUF -> MLX -> GGUF" ||
    fail "$f: tensor data differs: $(diff <($DIGESTS "$TMP/$f.q8.gguf") <($DIGESTS "$TMP/$f.gback.gguf") | head -4)"
  "$KVANT" logits "$TMP/$f.q8.gguf" --tokens $TOKENS -o "$TMP/$f.q8.bin" -t 2 >/dev/null 2>&1
  "$KVANT" logits "$TMP/$f.gback.gguf" --tokens $TOKENS -o "$TMP/$f.gback.bin" -t 2 >/dev/null 2>&1
  [ -s "$TMP/$f.q8.bin" ] && cmp -s "$TMP/$f.q8.bin" "$TMP/$f.gback.bin" &&
    pass "$f: logits read back equal the source's bit for bit" || fail "$f: logits differ"
done
expect_rc 1 "phi3 LongRoPE from a GGUF alone: refused" bash -c "'$PY' '$SRC/tools/make_arch_model.py' phi3long '$TMP/pl.hf' --tokenizer-from '$HF' >/dev/null &&
  '$KVANT' convert '$TMP/pl.hf' -o '$TMP/pl.gguf' --outtype f32 -q && '$KVANT' export mlx '$TMP/pl.gguf' -o '$TMP/pl.mlx'"
expect_out "export from the Hugging Face folder" "phi3 LongRoPE from a GGUF alone: the message says what to do"

# bad folders: one line naming file and tensor, exit 1, nothing written
bad() { # bad CASE FRAGMENT
  rm -rf "$TMP/bad"
  cp -r "$TMP/comm" "$TMP/bad"
  "$PY" - "$TMP/bad" "$1" <<'PYEOF'
import json, sys
d, case = sys.argv[1], sys.argv[2]
st = d + "/model.safetensors"
data = open(st, "rb").read()
n = int.from_bytes(data[:8], "little")
h = json.loads(data[8:8 + n])
cfg = json.load(open(d + "/config.json"))
m = "model.layers.0.self_attn.o_proj"
if case == "missing_scales":
    h[m + ".scales_"] = h.pop(m + ".scales")
elif case == "packed_shape":
    h[m + ".weight"]["shape"] = [32, 16]  # same bytes, rows of 128 values
elif case == "bits3":
    cfg["quantization"][m] = {"group_size": 64, "bits": 3}
elif case == "group":
    cfg["quantization"][m] = {"group_size": 48, "bits": 4}
elif case == "mode":
    cfg["quantization"]["mode"] = "mxfp4"
hb = json.dumps(h).encode(); hb += b" " * ((8 - len(hb) % 8) % 8)
open(st, "wb").write(len(hb).to_bytes(8, "little") + hb + data[8 + n:])
json.dump(cfg, open(d + "/config.json", "w"))
PYEOF
  expect_rc 1 "bad $1: exit 1" "$KVANT" convert "$TMP/bad" -o "$TMP/bad.gguf"
  expect_out "$2" "bad $1: the message names it ($2)"
  [ "$(grep -c . <<<"$OUT")" -eq 1 ] && pass "bad $1: one line" || fail "bad $1: $(grep -c . <<<"$OUT") lines"
  [ ! -e "$TMP/bad.gguf" ] && [ -z "$(ls -A "$TMP" | grep '^\.bad')" ] && pass "bad $1: nothing written" || fail "bad $1: output left"
}
bad missing_scales "model.layers.0.self_attn.o_proj.scales' is missing"
bad packed_shape "model.layers.0.self_attn.o_proj.scales' has shape [64, 1], expected [32, 2]"
bad bits3 "tensor 'model.layers.0.self_attn.o_proj.weight' is quantized with 3 bits"
bad group "'model.layers.0.self_attn.o_proj.weight' has rows of 64 values, not a multiple of group_size 48"
bad mode 'quantization.mode is "mxfp4"'
expect_rc 2 "export mlx --q-bits 3: usage error" "$KVANT" export mlx "$TMP/q4_1.gguf" -o "$TMP/x" --q-bits 3
expect_out "--q-bits '3'" "export mlx --q-bits 3 named"
finish
