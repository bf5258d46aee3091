#!/usr/bin/env bash
# Model families beyond Llama 1/2: Llama 3.x (llama3 rope scaling -> rope_freqs.weight,
# tied embeddings), Qwen2/2.5 (q/k/v biases, NEOX RoPE) and Qwen3 (per-head q/k
# norms, head_dim != hidden/heads), Gemma 2 ((1 + w) sandwich norms, GeGLU,
# soft-caps, query_pre_attn_scalar, sliding window on even layers) and Gemma 3
# (q/k norms, 5 local layers with their own RoPE base per global one) and Phi-3
# (fused attn_qkv and gate+up ffn_up, NEOX RoPE, untied output; LongRoPE below) and
# Phi-4-mini (the Phi-3 path with partial_rotary_factor 0.75, tied output). For each, a tiny random checkpoint of the real
# shape family (tools/make_arch_model.py) is converted to F32 and its logits are
# compared with an independent numpy forward pass (tests/reference/forward.py,
# rounding q/k/v to F16 like the KV cache): max error <= 1e-4 of the largest
# |logit| and 64 greedy tokens the same; then Q8_0 and Q4_K_M quantizations run,
# and `kvant serve` answers one /api/generate per family. With an F32 KV cache
# nothing is rounded: within 1e-5 of the reference without the F16 rounding.
source "$(dirname "$0")/lib.sh"
PY=${KV_PYTHON:-/usr/bin/python3} # Debian's python3 with python3-numpy
"$PY" -c 'import numpy' 2>/dev/null || { echo "python3-numpy is missing (tools/install-deps.sh)"; exit 1; }
# 48 positions: enough for llama3's scaled low frequencies to show in the logits
TOKENS=$(seq -s, 7 83 3990)

for fam in llama3 qwen2 qwen3 gemma2 gemma3 phi3 phi4mini; do
  d="$TMP/$fam"
  # gemma3: 2e-4. It needs 6 layers for one global one, and 6 layers round 3x as
  # many values to F16 in the cache; where kvant's F32 value and the reference's
  # float64 one fall on either side of a half's rounding boundary, the ~5e-4 step
  # shows: at position 0 (no RoPE, one key) seeds 2, 3 give 3e-7, seeds 4, 5 1e-4;
  # gemma2 made 6 layers deep gives 1.2e-4 over the 48 tokens too
  lim=1e-4
  [ "$fam" = gemma3 ] && lim=2e-4
  expect_rc 0 "$fam: make the checkpoint" "$PY" "$SRC/tools/make_arch_model.py" "$fam" "$d" \
    --tokenizer-from "$SRC/models/kjv-llama-7m"
  expect_rc 0 "$fam: convert to F32" "$KVANT" convert "$d" -o "$d.f32.gguf" --outtype f32
  expect_rc 0 "$fam: kvant logits" "$KVANT" logits "$d.f32.gguf" --tokens "$TOKENS" \
    -o "$d.logits" --greedy 64 -t 2
  greedy=$OUT
  expect_rc 0 "$fam: logits and 64 greedy tokens match the numpy reference" \
    "$PY" "$SRC/tests/reference/forward.py" "$d" --tokens "$TOKENS" --logits "$d.logits" \
    --kv-f16 --max-rel "$lim" --greedy-ids "$greedy"
  echo "$OUT"
  # an F32 cache rounds nothing (the queries neither): within 1e-5 of the exact
  # float64 reference (measured 4e-7..6e-7; a query rounded to F16 gives 1.4e-4..4.5e-4)
  expect_rc 0 "$fam: kvant logits, F32 cache" "$KVANT" logits "$d.f32.gguf" --tokens "$TOKENS" \
    -o "$d.c32.logits" --greedy 64 -t 2 --cache-type-k f32 --cache-type-v f32
  greedy=$OUT
  expect_rc 0 "$fam: F32 cache: logits and 64 greedy tokens match the unrounded reference" \
    "$PY" "$SRC/tests/reference/forward.py" "$d" --tokens "$TOKENS" --logits "$d.c32.logits" \
    --max-rel 1e-5 --greedy-ids "$greedy"
  echo "$OUT"
  # quantized: logits near the reference (random weights quantize badly; a wrong
  # layout or type gives errors of order 1), and `kvant run` generates
  for q in q8_0:0.1 q4_k_m:0.6; do
    lim=${q#*:} q=${q%:*}
    expect_rc 0 "$fam: quantize to $q" "$KVANT" quantize "$d.f32.gguf" "$d.$q.gguf" "$q" -t 2 -q
    expect_rc 0 "$fam: $q logits" "$KVANT" logits "$d.$q.gguf" --tokens "$TOKENS" -o "$d.$q.logits" -t 2
    expect_rc 0 "$fam: $q logits within $lim of the reference" "$PY" "$SRC/tests/reference/forward.py" \
      "$d" --tokens "$TOKENS" --logits "$d.$q.logits" --kv-f16 --max-rel "$lim"
    echo "$OUT"
    expect_rc 0 "$fam: run $q" "$KVANT" run "$d.$q.gguf" "In the beginning" --temp 0 -n 8 -t 2
    [ -n "$OUT" ] && pass "$fam: run $q printed text" || fail "$fam: run $q printed nothing"
  done
done

# llama3's frequency factors: llama.cpp's converter rule, recomputed in float32,
# kept as they are by quantize
for f in f32 q4_k_m; do
  expect_rc 0 "llama3 $f: rope_freqs.weight as llama.cpp computes it" "$PY" \
    "$SRC/tests/reference/rope_freqs.py" "$TMP/llama3.$f.gguf" "$TMP/llama3/config.json"
  echo "$OUT"
done

# gemma2's sliding window (8 on layer 0) really hides older keys: the reference
# without it is far from kvant's logits (the 48 tokens reach 6 windows back)
expect_rc 1 "gemma2: the reference without the sliding window differs" "$PY" \
  "$SRC/tests/reference/forward.py" "$TMP/gemma2" --tokens "$TOKENS" --logits "$TMP/gemma2.logits" \
  --kv-f16 --no-window --max-rel 0.1
expect_out "max relative logit error" "gemma2: the error was measured"
echo "$OUT"
expect_rc 1 "gemma3: the reference without the sliding window differs" "$PY" \
  "$SRC/tests/reference/forward.py" "$TMP/gemma3" --tokens "$TOKENS" --logits "$TMP/gemma3.logits" \
  --kv-f16 --no-window --max-rel 0.1
expect_out "max relative logit error" "gemma3: the error was measured"
echo "$OUT"
# Gemma 2's metadata as llama.cpp's converter writes it, norms stored as 1 + w
expect_rc 0 "gemma2 GGUF lists its keys and tensors" "$KVANT" info "$TMP/gemma2.f32.gguf"
for want in gemma2.attn_logit_softcapping gemma2.final_logit_softcapping \
  gemma2.attention.sliding_window gemma2.attention.scale blk.1.post_attention_norm.weight \
  blk.1.post_ffw_norm.weight blk.0.ffn_norm.weight; do
  expect_out "$want" "gemma2: $want written"
done
expect_rc 0 "gemma3 GGUF lists its keys and tensors" "$KVANT" info "$TMP/gemma3.f32.gguf"
for want in gemma3.rope.freq_base gemma3.rope.scaling.factor gemma3.attention.sliding_window \
  blk.5.attn_q_norm.weight blk.5.post_ffw_norm.weight; do
  expect_out "$want" "gemma3: $want written"
done
[ -z "$(printf '%s\n' "$OUT" | grep softcapping)" ] && pass "gemma3: no soft-capping keys" ||
  fail "gemma3: no soft-capping keys"
# a Gemma 3 layer pattern llama.cpp cannot express is refused, naming the field
mkdir -p "$TMP/g3bad"
cp "$TMP/gemma3/"* "$TMP/g3bad/"
sed -i 's/"sliding_window_pattern": 6/"sliding_window_pattern": 4/' "$TMP/g3bad/config.json"
expect_rc 1 "gemma3: sliding_window_pattern 4" "$KVANT" convert "$TMP/g3bad" -o "$TMP/g3bad.gguf"
expect_out "field 'sliding_window_pattern' is 4" "gemma3: the error names the field"
[ ! -e "$TMP/g3bad.gguf" ] && pass "gemma3: nothing written" || fail "gemma3: nothing written"

# Phi-3: the fused tensors and Phi3MiniModel's keys, as llama.cpp writes them;
# Q4_K_M gives attn_qkv Q5_K (llama-quantize's rule for attn_qkv)
expect_rc 0 "phi3 GGUF lists its keys and tensors" "$KVANT" info "$TMP/phi3.f32.gguf"
for want in "blk.1.attn_qkv.weight *F32 *256 x 512" "blk.1.ffn_up.weight *F32 *256 x 1024" \
  "phi3.rope.dimension_count *64" "phi3.rope.scaling.original_context_length *4096" \
  "phi3.attention.sliding_window *2047" "output.weight"; do
  grep -qE -- "$want" <<<"$OUT" && pass "phi3: $want" || fail "phi3: $want (not in: $OUT)"
done
[ -z "$(printf '%s\n' "$OUT" | grep -E 'attn_q\.|ffn_gate')" ] && pass "phi3: nothing split" ||
  fail "phi3: nothing split"
expect_rc 0 "phi3 Q4_K_M lists its tensors" "$KVANT" info "$TMP/phi3.q4_k_m.gguf"
grep -qE "blk.0.attn_qkv.weight +Q5_K" <<<"$OUT" && pass "phi3: Q4_K_M attn_qkv is Q5_K" ||
  fail "phi3: Q4_K_M attn_qkv is Q5_K ($OUT)"
# the fused weights reach the imatrix once each, by their GGUF names: 2 layers x
# (attn_qkv, attn_output, ffn_up, ffn_down)
expect_rc 0 "phi3: imatrix" "$KVANT" imatrix "$TMP/phi3.f32.gguf" -f "$SRC/data/kjv-heldout.txt" \
  -o "$TMP/phi3.imat" --chunks 1 -c 64 -t 2
expect_rc 0 "phi3: quantize with the imatrix" "$KVANT" quantize "$TMP/phi3.f32.gguf" \
  "$TMP/phi3.iq.gguf" q4_k_m --imatrix "$TMP/phi3.imat" -t 2 -q
expect_rc 0 "phi3: imatrix GGUF keys" "$KVANT" info "$TMP/phi3.iq.gguf"
grep -qE "quantize.imatrix.entries_count +8$" <<<"$OUT" && pass "phi3: 8 imatrix entries" ||
  fail "phi3: 8 imatrix entries ($OUT)"

# Phi-4-mini's partial rotary (0.75 of head_dim 64: the first 48 dimensions of each
# head rotate): rope.dimension_count 48, tied output; the reference rotating all 64
# is far from kvant's logits
expect_rc 0 "phi4mini GGUF lists its keys and tensors" "$KVANT" info "$TMP/phi4mini.f32.gguf"
for want in "phi3.rope.dimension_count *48" "phi3.attention.sliding_window *0"; do
  grep -qE -- "$want" <<<"$OUT" && pass "phi4mini: $want" || fail "phi4mini: $want ($OUT)"
done
[ -z "$(grep -E '^[0-9]+ +output.weight' <<<"$OUT")" ] && pass "phi4mini: tied output" ||
  fail "phi4mini: tied output"
mkdir -p "$TMP/phi4full"
ln -s "$TMP/phi4mini/model.safetensors" "$TMP/phi4full/model.safetensors"
sed 's/"partial_rotary_factor": 0.75/"partial_rotary_factor": 1.0/' "$TMP/phi4mini/config.json" \
  >"$TMP/phi4full/config.json"
expect_rc 1 "phi4mini: the reference rotating every dimension differs" "$PY" \
  "$SRC/tests/reference/forward.py" "$TMP/phi4full" --tokens "$TOKENS" --logits "$TMP/phi4mini.logits" \
  --kv-f16 --max-rel 0.1
expect_out "max relative logit error" "phi4mini: the error was measured"
echo "$OUT"
# a factor giving an odd rotary count (0.71 x 256 / 4 -> 45) is refused, naming the field
mkdir -p "$TMP/phi4bad"
cp "$TMP/phi4mini/"* "$TMP/phi4bad/"
sed -i 's/"partial_rotary_factor": 0.75/"partial_rotary_factor": 0.71/' "$TMP/phi4bad/config.json"
expect_rc 1 "phi4mini: partial_rotary_factor 0.71" "$KVANT" convert "$TMP/phi4bad" -o "$TMP/phi4bad.gguf"
expect_out "field 'partial_rotary_factor' is 0.71" "phi4mini: the error names the field"
[ ! -e "$TMP/phi4bad.gguf" ] && pass "phi4mini: nothing written" || fail "phi4mini: nothing written"

# Phi-3 LongRoPE (the 128k models; here original context 64, max 256): both
# factor tables and the attn factor written as llama.cpp writes them; kvant takes
# the long factors when its context is over 64 (48 tokens + 64 greedy: 113) and
# the short ones otherwise (48 tokens alone), cos and sin x the attn factor.
# 2e-4: the attn factor (1.15) scales q and k before their F16 rounding (9e-5 here)
d="$TMP/phi3long"
expect_rc 0 "phi3 longrope: make the checkpoint" "$PY" "$SRC/tools/make_arch_model.py" phi3long "$d" \
  --tokenizer-from "$SRC/models/kjv-llama-7m"
expect_rc 0 "phi3 longrope: convert to F32" "$KVANT" convert "$d" -o "$d.f32.gguf" --outtype f32
expect_rc 0 "phi3 longrope GGUF lists its keys and tensors" "$KVANT" info "$d.f32.gguf"
for want in "rope_factors_long.weight *F32 *32 " "rope_factors_short.weight *F32 *32 " \
  "phi3.rope.scaling.attn_factor *1.1547" "phi3.rope.scaling.original_context_length *64"; do
  grep -qE -- "$want" <<<"$OUT" && pass "phi3 longrope: $want" || fail "phi3 longrope: $want ($OUT)"
done
expect_rc 0 "phi3 longrope: kvant logits, context 113" "$KVANT" logits "$d.f32.gguf" \
  --tokens "$TOKENS" -o "$d.logits" --greedy 64 -t 2
greedy=$OUT
expect_rc 0 "phi3 longrope: context 113 matches the reference with the long factors" \
  "$PY" "$SRC/tests/reference/forward.py" "$d" --tokens "$TOKENS" --logits "$d.logits" \
  --kv-f16 --max-rel 2e-4 --greedy-ids "$greedy" --rope-factors long
echo "$OUT"
expect_rc 0 "phi3 longrope: kvant logits, context 113, F32 cache" "$KVANT" logits "$d.f32.gguf" \
  --tokens "$TOKENS" -o "$d.c32.logits" --greedy 64 -t 2 --cache-type-k f32 --cache-type-v f32
greedy=$OUT
expect_rc 0 "phi3 longrope: F32 cache matches the unrounded reference within 1e-5" \
  "$PY" "$SRC/tests/reference/forward.py" "$d" --tokens "$TOKENS" --logits "$d.c32.logits" \
  --max-rel 1e-5 --greedy-ids "$greedy" --rope-factors long
echo "$OUT"
expect_rc 0 "phi3 longrope: kvant logits, context 49" "$KVANT" logits "$d.f32.gguf" \
  --tokens "$TOKENS" -o "$d.short.logits" -t 2
expect_rc 0 "phi3 longrope: context 49 matches the reference with the short factors" \
  "$PY" "$SRC/tests/reference/forward.py" "$d" --tokens "$TOKENS" --logits "$d.short.logits" \
  --kv-f16 --max-rel 2e-4 --rope-factors short
echo "$OUT"
expect_rc 1 "phi3 longrope: the factors matter (context 49 vs the long factors)" \
  "$PY" "$SRC/tests/reference/forward.py" "$d" --tokens "$TOKENS" --logits "$d.short.logits" \
  --kv-f16 --max-rel 0.1 --rope-factors long
expect_out "max relative logit error" "phi3 longrope: the error was measured"
# a factor list of the wrong length is refused, naming the field; nothing written
mkdir -p "$TMP/phi3bad"
cp "$d/"* "$TMP/phi3bad/"
sed -i 's/"short_factor": \[/"short_factor": [1.0, /' "$TMP/phi3bad/config.json"
expect_rc 1 "phi3 longrope: 33 short factors" "$KVANT" convert "$TMP/phi3bad" -o "$TMP/phi3bad.gguf"
expect_out "field 'rope_scaling.short_factor' has 33 numbers, expected 32" "phi3 longrope: the error names the field"
[ ! -e "$TMP/phi3bad.gguf" ] && pass "phi3 longrope: nothing written" || fail "phi3 longrope: nothing written"

# the architecture-specific tensors are there, named as llama.cpp names them
expect_rc 0 "llama3 GGUF lists its tensors" "$KVANT" info "$TMP/llama3.f32.gguf"
expect_out "rope_freqs.weight" "llama3: rope_freqs.weight written"
expect_rc 0 "qwen3 GGUF lists its tensors" "$KVANT" info "$TMP/qwen3.f32.gguf"
expect_out "blk.1.attn_k_norm.weight" "qwen3: attn_k_norm written"
expect_rc 0 "qwen2 GGUF lists its tensors" "$KVANT" info "$TMP/qwen2.f32.gguf"
expect_out "blk.0.attn_q.bias" "qwen2: attn_q.bias written"

start_server --model llama3="$TMP/llama3.q4_k_m.gguf" --model qwen2="$TMP/qwen2.q4_k_m.gguf" \
  --model qwen3="$TMP/qwen3.q8_0.gguf" --model gemma2="$TMP/gemma2.q4_k_m.gguf" \
  --model gemma3="$TMP/gemma3.q4_k_m.gguf" --model phi3="$TMP/phi3.q4_k_m.gguf" \
  --model phi4mini="$TMP/phi4mini.q4_k_m.gguf"
for fam in llama3 qwen2 qwen3 gemma2 gemma3 phi3 phi4mini; do
  OUT=$(curl -s --max-time 60 "$BASE/api/generate" \
    -d "{\"model\":\"$fam\",\"prompt\":\"And God said\",\"stream\":false,\"options\":{\"num_predict\":4,\"temperature\":0}}")
  expect_out '"done":true' "$fam: serve answers /api/generate"
done

# kvant logits refuses what it cannot run, writing nothing
expect_rc 1 "logits: a token over the vocabulary" "$KVANT" logits "$TMP/qwen2.f32.gguf" \
  --tokens 1,4096 -o "$TMP/none.logits"
expect_out "token 4096 is over the vocabulary (4096)" "logits: the error names the token"
[ ! -e "$TMP/none.logits" ] && pass "logits: nothing written" || fail "logits: nothing written"
expect_rc 2 "logits: bad --tokens" "$KVANT" logits "$TMP/qwen2.f32.gguf" --tokens 1,x

# an architecture kvant does not convert: one line naming the file and the field
mkdir -p "$TMP/bad"
cp "$TMP/qwen2/"* "$TMP/bad/"
sed -i 's/"Qwen2ForCausalLM"/"GPTNeoXForCausalLM"/' "$TMP/bad/config.json"
expect_rc 1 "unknown architectures value" "$KVANT" convert "$TMP/bad" -o "$TMP/bad.gguf"
expect_out "config.json: field 'architectures' names 'GPTNeoXForCausalLM'" "the error names file and field"
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] && pass "the error is one line" || fail "the error is one line: $OUT"
[ ! -e "$TMP/bad.gguf" ] && [ -z "$(ls "$TMP" | grep '^bad\.gguf')" ] && pass "nothing written" ||
  fail "nothing written: $(ls "$TMP")"
finish
