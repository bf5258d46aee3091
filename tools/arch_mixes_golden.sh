#!/usr/bin/env bash
# Writes tests/data/arch_mixes.sha256: for each family of tools/make_arch_model.py that
# llama.cpp runs, the SHA-256 of kvant's F32 conversion and of llama-quantize's file
# for each mix. Usage: tools/arch_mixes_golden.sh KVANT LLAMA_CPP_BIN_DIR [COMMIT] > tests/data/arch_mixes.sha256
# (llama.cpp built beside the repository, never in it).
set -euo pipefail
KVANT=$1 BIN=$2 # $3: the llama.cpp commit built (for the header) when its tree has no .git
SRC=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
commit=${3:-$(git -C "$BIN/../.." rev-parse --short HEAD 2>/dev/null || echo unknown)}
echo "# SHA-256 of llama-quantize's (llama.cpp $commit, built beside the repo) files from kvant's F32"
echo "# conversions of tools/make_arch_model.py's checkpoints (seed 0, kjv tokenizer), and of those F32"
echo "# inputs themselves. Made by tools/arch_mixes_golden.sh; checked by tests/integration/test_arch_mixes.sh."
echo "# family type sha256, and llama-perplexity's PPL of the F32 file (-c 128 --chunks 8 -t 2,"
echo "# shared/data/kjv-test.txt; random weights give huge figures, the ratio is what counts):"
echo "# family PPL value. gemma2's is left out: llama.cpp c392e50 aborts on a Gemma 2 that is not 26,"
echo "# 42 or 46 layers deep."
for fam in llama3 qwen2 gemma2 phi3; do
  /usr/bin/python3 "$SRC/tools/make_arch_model.py" "$fam" "$TMP/$fam" \
    --tokenizer-from "$SRC/models/kjv-llama-7m" >/dev/null
  "$KVANT" convert "$TMP/$fam" -o "$TMP/$fam.f32.gguf" --outtype f32 -q
  echo "$fam F32 $(sha256sum <"$TMP/$fam.f32.gguf" | cut -c1-64)"
  if [ "$fam" != gemma2 ]; then
    # llama.cpp sets token attributes by general.name: a model named phi3 needs Phi-3's own
    # special tokens, which the borrowed kjv vocabulary lacks; the same weights under another
    # name load
    cp -r "$TMP/$fam" "$TMP/tiny-$RANDOM" && d=$(ls -d "$TMP"/tiny-* | tail -1)
    "$KVANT" convert "$d" -o "$d.gguf" --outtype f32 -q
    ppl=$("$BIN/llama-perplexity" -m "$d.gguf" -f "$SRC/../shared/data/kjv-test.txt" -c 128 \
      --chunks 8 -t 2 2>&1 | sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p')
    echo "$fam PPL $ppl"
    rm -rf "$d" "$d.gguf"
  fi
  for q in Q8_0 Q4_K_M Q3_K_M Q2_K Q5_K_M Q6_K IQ4_XS; do
    "$BIN/llama-quantize" "$TMP/$fam.f32.gguf" "$TMP/$fam.$q.gguf" "$q" 2 >/dev/null 2>&1
    echo "$fam $q $(sha256sum <"$TMP/$fam.$q.gguf" | cut -c1-64)"
  done
done
