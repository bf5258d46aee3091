#!/usr/bin/env bash
# Writes tests/data/arch_mixes.sha256: for each family of tools/make_arch_model.py that
# llama.cpp runs, the SHA-256 of kvant's F32 conversion and of llama-quantize's file
# for each mix. Usage: tools/arch_mixes_golden.sh KVANT LLAMA_CPP_BIN_DIR > tests/data/arch_mixes.sha256
# (llama.cpp built beside the repository, never in it).
set -euo pipefail
KVANT=$1 BIN=$2
SRC=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
commit=$(git -C "$BIN/../.." rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "# SHA-256 of llama-quantize's (llama.cpp $commit, built beside the repo) files from kvant's F32"
echo "# conversions of tools/make_arch_model.py's checkpoints (seed 0, kjv tokenizer), and of those F32"
echo "# inputs themselves. Made by tools/arch_mixes_golden.sh; checked by tests/integration/test_arch_mixes.sh."
echo "# family type sha256"
for fam in llama3 qwen2 gemma2 phi3; do
  /usr/bin/python3 "$SRC/tools/make_arch_model.py" "$fam" "$TMP/$fam" \
    --tokenizer-from "$SRC/models/kjv-llama-7m" >/dev/null
  "$KVANT" convert "$TMP/$fam" -o "$TMP/$fam.f32.gguf" --outtype f32 -q
  echo "$fam F32 $(sha256sum <"$TMP/$fam.f32.gguf" | cut -c1-64)"
  for q in Q8_0 Q4_K_M Q3_K_M Q2_K Q5_K_M Q6_K IQ4_XS; do
    "$BIN/llama-quantize" "$TMP/$fam.f32.gguf" "$TMP/$fam.$q.gguf" "$q" 2 >/dev/null 2>&1
    echo "$fam $q $(sha256sum <"$TMP/$fam.$q.gguf" | cut -c1-64)"
  done
done
