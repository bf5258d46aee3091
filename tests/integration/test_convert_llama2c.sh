#!/usr/bin/env bash
# llama2.c checkpoints -> GGUF. tools/make_llama2c.py writes the demo model's BF16
# weights (widened to F32, q/k rows in Meta's interleaved order) in llama2.c's
# legacy and version-1/2 layouts with a tokenizer.bin; converting those must give
# the same tensors, tokens, perplexity and greedy text as converting the HF
# folder to F32. Shared and separate classifiers, and truncated or lying files
# (one clear error, nothing written).
source "$(dirname "$0")/lib.sh"
[ -n "$SHARED" ] || { echo "skip: no demo model"; exit 77; }
PY=python3
$PY -c 'import numpy' 2>/dev/null || PY=/usr/bin/python3
$PY -c 'import numpy' 2>/dev/null || { echo "skip: no python3 with numpy (tools/install-deps.sh)"; exit 77; }
DIG="python3 $SRC/tests/integration/gguf_digests.py"
MK="$PY $SRC/tools/make_llama2c.py $SHARED/models/kjv-llama-7m"
TEXT="$TMP/text.txt"
head -c 4000 "$SHARED/data/kjv-test.txt" >"$TEXT"

$MK "$TMP/v0.bin" --tokenizer "$TMP/tok.bin" || { fail "make_llama2c.py"; finish; exit 1; }
$MK "$TMP/v1.bin" --version 1
$MK "$TMP/v0s.bin" --classifier shared
$MK "$TMP/v0e.bin" --classifier embed-copy
$MK "$TMP/v1s.bin" --version 1 --classifier shared
$MK "$TMP/v2.bin" --version 2

expect_rc 0 "convert the HF folder to F32" "$KVANT" convert "$SHARED/models/kjv-llama-7m" \
  -o "$TMP/ref.gguf" --outtype f32 -q
ppl() { "$KVANT" perplexity "$1" -f "$TEXT" -c 128 --chunks 3 -t 2 2>&1 | grep '^Final estimate'; }
gen() { "$KVANT" run "$1" "And God said" --temp 0 -n 24 -t 2 --no-display-prompt 2>/dev/null; }
REF_DIG=$($DIG "$TMP/ref.gguf")
REF_PPL=$(ppl "$TMP/ref.gguf")
REF_GEN=$(gen "$TMP/ref.gguf")
REF_TOK=$("$KVANT" tokenize "$TMP/ref.gguf" -f "$TEXT" 2>&1)
[ -n "$REF_PPL" ] && [ -n "$REF_GEN" ] || fail "reference perplexity/run gave nothing"

for v in v0 v1; do
  expect_rc 0 "$v: convert to F32" "$KVANT" convert "$TMP/$v.bin" --tokenizer "$TMP/tok.bin" \
    -o "$TMP/$v.gguf" --outtype f32 -q
  [ "$($DIG "$TMP/$v.gguf")" = "$REF_DIG" ] && pass "$v: every tensor equals the HF conversion's" \
    || fail "$v: tensors differ: $(diff <(echo "$REF_DIG") <($DIG "$TMP/$v.gguf") | head -4)"
  p=$(ppl "$TMP/$v.gguf")
  [ "$p" = "$REF_PPL" ] && pass "$v: perplexity identical ($p)" || fail "$v: '$p' vs '$REF_PPL'"
  [ "$(gen "$TMP/$v.gguf")" = "$REF_GEN" ] && pass "$v: greedy text identical" \
    || fail "$v: greedy text differs"
  [ "$("$KVANT" tokenize "$TMP/$v.gguf" -f "$TEXT" 2>&1)" = "$REF_TOK" ] \
    && pass "$v: tokenizer.bin vocabulary tokenizes like tokenizer.model" || fail "$v: tokens differ"
done

# without --tokenizer, tokenizer.bin beside the model is used; Q8_0 in one step
cp "$TMP/tok.bin" "$TMP/tokenizer.bin"
expect_rc 0 "v1: convert to Q8_0 (tokenizer.bin beside it)" "$KVANT" convert "$TMP/v1.bin" \
  -o "$TMP/v1q.gguf" --outtype q8_0 -q
expect_rc 0 "HF folder: convert to Q8_0" "$KVANT" convert "$SHARED/models/kjv-llama-7m" \
  -o "$TMP/refq.gguf" --outtype q8_0 -q
[ "$($DIG "$TMP/v1q.gguf")" = "$($DIG "$TMP/refq.gguf")" ] && pass "Q8_0 tensors equal the HF folder's" \
  || fail "Q8_0 tensors differ"

(K=$(readlink -f "$KVANT"); cd "$TMP" && "$K" convert v1.bin -q) && [ -f "$TMP/v1-f16.gguf" ] \
  && pass "default output name: v1-f16.gguf" || fail "default output name"

# shared classifier: the embeddings serve as output; equal to a separate copy of them
for v in v0s v0e v1s; do
  expect_rc 0 "$v: convert" "$KVANT" convert "$TMP/$v.bin" -o "$TMP/$v.gguf" --outtype f32 -q
done
a=$($DIG "$TMP/v0s.gguf"); b=$($DIG "$TMP/v0e.gguf"); c=$($DIG "$TMP/v1s.gguf")
[ "$a" = "$b" ] && [ "$a" = "$c" ] && pass "shared classifier (legacy and v1) == separate copy of the embeddings" \
  || fail "shared classifier differs: $(diff <(echo "$a") <(echo "$b") | head -4)"
[ "$(grep '^output.weight' <<<"$a" | cut -d' ' -f3)" = "$(grep '^token_embd.weight' <<<"$a" | cut -d' ' -f3)" ] \
  && pass "shared: output.weight holds the embeddings" || fail "shared: output.weight is not the embeddings"
[ "$(ppl "$TMP/v0s.gguf")" = "$(ppl "$TMP/v0e.gguf")" ] && pass "shared and copied classifier: same perplexity" \
  || fail "shared vs copy perplexity differs"
[ "$a" != "$REF_DIG" ] && pass "shared differs from the demo model's own lm_head" || fail "shared == lm_head?"

# version 2: int8 groups of 64 with float32 scales, dequantized
expect_rc 0 "v2 (int8): convert to F32" "$KVANT" convert "$TMP/v2.bin" -o "$TMP/v2.gguf" --outtype f32 -q
p2=$(ppl "$TMP/v2.gguf" | awk '{print $5}'); p0=$(awk '{print $5}' <<<"$REF_PPL")
awk -v a="$p2" -v b="$p0" 'BEGIN { r = a / b; exit !(r > 0.97 && r < 1.03 && a != b) }' \
  && pass "v2: perplexity $p2 within 3% of F32's $p0" || fail "v2: perplexity $p2 vs $p0"
# blk.0.attn_q dequantized independently (q * scale in float32) must equal the file's bytes
want=$($PY - "$TMP/v2.bin" <<'PY'
import hashlib, struct, sys
import numpy as np
b = open(sys.argv[1], "rb").read()
D, H, L, NH, NKV, V, S = struct.unpack_from("<7i", b, 8)
shared, gs = b[36], struct.unpack_from("<i", b, 37)[0]
kv = D // NH * NKV
per_layer = [D * D, kv * D, kv * D, D * D, H * D, D * H, H * D]
n_q = V * D + L * sum(per_layer) + (0 if shared else V * D)
q0 = 256 + (2 * L + 1) * D * 4 + V * D
s0 = 256 + (2 * L + 1) * D * 4 + n_q + V * D // gs * 4
q = np.frombuffer(b, np.int8, D * D, q0).astype(np.float32).reshape(-1, gs)
sc = np.frombuffer(b, "<f4", D * D // gs, s0)
print(hashlib.sha256((q * sc[:, None]).astype("<f4").tobytes()).hexdigest())
PY
)
got=$($DIG "$TMP/v2.gguf" | awk '$1 == "blk.0.attn_q.weight" {print $3}')
[ -n "$want" ] && [ "$want" = "$got" ] && pass "v2: blk.0.attn_q equals q x scale computed in numpy" \
  || fail "v2: blk.0.attn_q '$got' vs numpy '$want'"
[ "$(grep '^blk.0.attn_norm.weight' <<<"$($DIG "$TMP/v2.gguf")")" = "$(grep '^blk.0.attn_norm.weight' <<<"$REF_DIG")" ] \
  && pass "v2: norms stay float32 (exact)" || fail "v2: norms differ"

# kvant info describes a checkpoint without its tokenizer
expect_rc 0 "info on a legacy checkpoint" "$KVANT" info "$TMP/v0.bin"
expect_out "llama2.c checkpoint, legacy header" "info names the header"
expect_out "blk.5.ffn_up.weight" "info lists the weights by GGUF name"
expect_rc 0 "info --json on a version 2 checkpoint" "$KVANT" info --json --no-tensors "$TMP/v2.bin"
expect_out '"group_size": 64' "info --json gives the group size"

# bad input: one clear error naming the file and field, nothing written
sz=$(stat -c %s "$TMP/v0.bin")
head -c $((sz - 100)) "$TMP/v0.bin" >"$TMP/trunc.bin"
expect_rc 1 "truncated checkpoint refused" "$KVANT" convert "$TMP/trunc.bin" --tokenizer "$TMP/tok.bin" -o "$TMP/bad.gguf"
expect_out "trunc.bin: truncated: tensor 'output.weight'" "the error names the file and the tensor"
head -c 20 "$TMP/v1.bin" >"$TMP/short.bin"
expect_rc 1 "header cut short refused" "$KVANT" convert "$TMP/short.bin" --tokenizer "$TMP/tok.bin" -o "$TMP/bad.gguf"
expect_out "short.bin: truncated" "the error says truncated"
# a lying header: vocab_size 1,000,000 (the file is far too short for it)
{ printf '\x00\x01\x00\x00\x00\x03\x00\x00\x06\x00\x00\x00\x08\x00\x00\x00\x04\x00\x00\x00\x40\x42\x0f\x00\x00\x02\x00\x00'
  tail -c +29 "$TMP/v0s.bin"; } >"$TMP/lie.bin"
expect_rc 1 "lying vocab_size refused" "$KVANT" convert "$TMP/lie.bin" --tokenizer "$TMP/tok.bin" -o "$TMP/bad.gguf"
expect_out "lie.bin: truncated: tensor 'token_embd.weight'" "the error names the first tensor that does not fit"
cp "$TMP/v0s.bin" "$TMP/lie2.bin"
printf '\xff\xff\xff\x7f' | dd of="$TMP/lie2.bin" bs=1 seek=4 conv=notrunc 2>/dev/null
expect_rc 1 "hidden_dim out of range refused" "$KVANT" convert "$TMP/lie2.bin" --tokenizer "$TMP/tok.bin" -o "$TMP/bad.gguf"
expect_out "header field hidden_dim = 2147483647 is out of range" "the error names the field"
cp "$TMP/v0s.bin" "$TMP/extra.bin"; printf 'junk' >>"$TMP/extra.bin"
expect_rc 1 "trailing bytes refused" "$KVANT" convert "$TMP/extra.bin" --tokenizer "$TMP/tok.bin" -o "$TMP/bad.gguf"
expect_out "4 bytes after the last weight" "the error counts the extra bytes"
head -c 30000 "$TMP/tok.bin" >"$TMP/tok-trunc.bin"
expect_rc 1 "truncated tokenizer refused" "$KVANT" convert "$TMP/v0.bin" --tokenizer "$TMP/tok-trunc.bin" -o "$TMP/bad.gguf"
expect_out "tok-trunc.bin: truncated" "the error names the tokenizer"
expect_rc 1 "missing tokenizer refused" "$KVANT" convert "$TMP/v0.bin" --tokenizer "$TMP/none.bin" -o "$TMP/bad.gguf"
expect_out "none.bin" "the error names the missing file"
expect_rc 1 "a GGUF file is not a llama2.c checkpoint" "$KVANT" convert "$TMP/ref.gguf" --tokenizer "$TMP/tok.bin" -o "$TMP/bad.gguf"
expect_out "a GGUF file, not a llama2.c checkpoint" "the error says what the file is"
expect_rc 1 "--tokenizer with a folder refused" "$KVANT" convert "$SHARED/models/kjv-llama-7m" --tokenizer "$TMP/tok.bin" -o "$TMP/bad.gguf"
expect_out "--tokenizer applies to llama2.c checkpoint files only" "the error says why"
[ ! -e "$TMP/bad.gguf" ] && [ -z "$(ls -A "$TMP" | grep '\.tmp\.')" ] && pass "no output or temporary file left" \
  || fail "output left behind"
finish
