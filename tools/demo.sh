#!/usr/bin/env bash
# The README's main job on the bundled demo model: convert it to GGUF, quantize it
# to several types, measure each against F32 on held-out text (perplexity, KL
# divergence, top-token agreement, generation speed) and generate a passage.
# Outputs go to out/demo/ (ignored by git).
set -euo pipefail
KVANT=${1:-build/kvant}
cd "$(dirname "$0")/.."
MODEL=models/kjv-llama-7m
OUT=out/demo
TYPES=${DEMO_TYPES:-"Q8_0 Q6_K Q5_K_M Q4_K_M Q4_0 Q3_K_M Q2_K"}
CHUNKS=${DEMO_CHUNKS:-16}
TEXT=../shared/data/kjv-test.txt
[ -f "$TEXT" ] || TEXT=data/kjv-heldout.txt
mkdir -p "$OUT"

echo "== kvant convert $MODEL -> F32 GGUF"
"$KVANT" convert "$MODEL" -o "$OUT/kjv-F32.gguf" --outtype f32 -q
"$KVANT" info --no-tensors "$OUT/kjv-F32.gguf" | sed -n '1,3p;/llama.block_count/p;/bits\/weight/p'

echo "== kvant perplexity (F32 base, $CHUNKS chunks of 256 tokens of $TEXT)"
"$KVANT" perplexity "$OUT/kjv-F32.gguf" -f "$TEXT" -c 256 --chunks "$CHUNKS" -q \
  --kld-base "$OUT/base.kld" | grep "Final estimate"

gen_speed() { # MODEL -> generation tokens/s of a 64-token greedy run
  "$KVANT" run "$1" "And God said" -n 64 --temp 0 --ignore-eos 2>&1 >/dev/null |
    sed -n 's/.*generation: .*(\([0-9.]*\) tokens\/s).*/\1/p'
}

row() { # TYPE FILE
  local size bpw ppl kld top tps
  size=$(stat -c %s "$2")
  bpw=$("$KVANT" info "$2" | awk '/^bits\/weight/ {print $2}')
  if [ "$1" = F32 ]; then
    ppl=$("$KVANT" perplexity "$2" -f "$TEXT" -c 256 --chunks "$CHUNKS" -q | sed -n 's/.*PPL = \([0-9.]*\).*/\1/p')
    kld=0; top=100
  else
    local rep
    rep=$("$KVANT" perplexity "$2" --kld "$OUT/base.kld" -q)
    ppl=$(awk '/^Mean PPL\(Q\) / {print $4}' <<<"$rep")
    kld=$(awk '/^Mean    KLD:/ {print $3}' <<<"$rep")
    top=$(awk '/^Same top p:/ {print $4}' <<<"$rep")
  fi
  tps=$(gen_speed "$2")
  printf "| %-7s | %8.2f MiB | %5s | %9s | %9s | %8s %% | %8s |\n" "$1" \
    "$(awk -v s="$size" 'BEGIN {print s / 1048576}')" "$bpw" "$ppl" "$kld" "$top" "$tps"
}

echo
echo "== quantize and evaluate against F32"
echo "| type    |       size | bpw   |       PPL |  mean KLD | same top p | gen t/s  |"
echo "|---------|------------|-------|-----------|-----------|------------|----------|"
row F32 "$OUT/kjv-F32.gguf"
for t in $TYPES; do
  "$KVANT" quantize "$OUT/kjv-F32.gguf" "$OUT/kjv-$t.gguf" "$t" -q
  row "$t" "$OUT/kjv-$t.gguf"
done

echo
echo "== kvant run $OUT/kjv-Q4_K_M.gguf \"And God said\" (seed 42)"
"$KVANT" run "$OUT/kjv-Q4_K_M.gguf" "And God said" -n 48 --seed 42 --temp 0.7
