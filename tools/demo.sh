#!/usr/bin/env bash
# The README's main job on the bundled demo model: convert it to GGUF and show
# what the file holds. Outputs go to out/demo/ (ignored by git).
set -euo pipefail
KVANT=${1:-build/kvant}
cd "$(dirname "$0")/.."
MODEL=models/kjv-llama-7m
OUT=out/demo
mkdir -p "$OUT"

echo "== kvant convert $MODEL (F32, F16, Q8_0)"
for t in f32 f16 q8_0; do
  "$KVANT" convert "$MODEL" -o "$OUT/kjv-llama-7m-$t.gguf" --outtype "$t"
done
echo
echo "== kvant info $OUT/kjv-llama-7m-q8_0.gguf"
"$KVANT" info "$OUT/kjv-llama-7m-q8_0.gguf"
