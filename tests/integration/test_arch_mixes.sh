#!/usr/bin/env bash
# Quantization mixes of the new architectures against llama-quantize: kvant's files for
# seven mixes of the Llama 3, Qwen2, Gemma 2 and Phi-3 checkpoints of
# tools/make_arch_model.py are byte-identical to llama-quantize's (tests/data/arch_mixes.sha256,
# made by tools/arch_mixes_golden.sh with llama.cpp c392e50). This covers llama-quantize's
# rules for tied output (llama3), attn_qkv and fused ffn_up (phi3), q/k/v biases (qwen2) and
# post-norm tensors (gemma2). The F32 inputs are checked first, so a changed converter is
# told apart from a changed quantizer. llama-perplexity's figures on the same F32 files are
# matched within 0.3%.
source "$(dirname "$0")/lib.sh"
PY=${KV_PYTHON:-/usr/bin/python3}
"$PY" -c 'import numpy' 2>/dev/null || { echo "python3-numpy is missing (tools/install-deps.sh)"; exit 1; }
require_demo_model
GOLD="$SRC/tests/data/arch_mixes.sha256"
sha() { sha256sum <"$1" | cut -c1-64; }
for fam in $(grep -v '^#' "$GOLD" | cut -d' ' -f1 | uniq); do
  d="$TMP/$fam"
  expect_rc 0 "$fam: make the checkpoint" "$PY" "$SRC/tools/make_arch_model.py" "$fam" "$d" \
    --tokenizer-from "$SRC/models/kjv-llama-7m"
  expect_rc 0 "$fam: convert to F32" "$KVANT" convert "$d" -o "$d.F32.gguf" --outtype f32 -q
  while read -r f q want; do
    [ "$f" = "$fam" ] || continue
    if [ "$q" = PPL ]; then
      expect_rc 0 "$fam: kvant perplexity" "$KVANT" perplexity "$d.F32.gguf" \
        -f "$SHARED/data/kjv-test.txt" -c 128 --chunks 8 -t 2 -q
      got=$(grep -o 'PPL = [0-9.]*' <<<"$OUT" | tail -1 | cut -d' ' -f3)
      awk -v a="$got" -v b="$want" 'BEGIN { r = a / b - 1; exit !(a > 0 && r < 0.003 && r > -0.003) }' \
        && pass "$fam: PPL $got within 0.3% of llama.cpp's $want" \
        || fail "$fam: PPL $got, llama.cpp's $want (more than 0.3% apart)"
      continue
    fi
    if [ "$q" != F32 ]; then
      expect_rc 0 "$fam: quantize to $q" "$KVANT" quantize "$d.F32.gguf" "$d.$q.gguf" "$q" -t 2 -q
    fi
    got=$(sha "$d.$q.gguf" 2>/dev/null)
    [ "$got" = "$want" ] && pass "$fam $q: same bytes as llama.cpp's" \
      || fail "$fam $q: sha256 $got, llama.cpp's file has $want"
  done < <(grep -v '^#' "$GOLD")
done
finish
