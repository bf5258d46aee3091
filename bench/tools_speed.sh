#!/usr/bin/env bash
# Quantization speed, kvant quantize against llama-quantize: for each type, 3 runs
# of each, alternating, at 2 threads, on the same F16 GGUF; prints wall, user and
# sys seconds (/usr/bin/time) and the load average before each pair, and checks
# that both programs wrote the same bytes. Results go into bench/RESULTS.md's
# "Tools" section by hand.
#   bench/tools_speed.sh IN_F16.gguf WORK_DIR [TYPE...]   (default q8_0 q4_0 q4_k_m)
# KVANT (default build/kvant) and LLAMA_QUANTIZE (default
# /work/llama.cpp/build/bin/llama-quantize) name the programs; REPS the run count.
set -euo pipefail
IN=${1:?usage: tools_speed.sh IN_F16.gguf WORK_DIR [TYPE...]}
WORK=${2:?usage: tools_speed.sh IN_F16.gguf WORK_DIR [TYPE...]}
shift 2
TYPES=("$@")
[ ${#TYPES[@]} -gt 0 ] || TYPES=(q8_0 q4_0 q4_k_m)
K=${KVANT:-$(dirname "$0")/../build/kvant}
L=${LLAMA_QUANTIZE:-/work/llama.cpp/build/bin/llama-quantize}
REPS=${REPS:-3}
mkdir -p "$WORK"
for T in "${TYPES[@]}"; do
    for i in $(seq 1 "$REPS"); do
        echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
        /usr/bin/time -f "kvant $T run$i wall %e user %U sys %S" \
            "$K" quantize "$IN" "$WORK/k-$T.gguf" "$T" -t 2 >/dev/null 2>"$WORK/k.err" ||
            { cat "$WORK/k.err"; exit 1; }
        tail -1 "$WORK/k.err"
        /usr/bin/time -f "llama $T run$i wall %e user %U sys %S" \
            "$L" "$IN" "$WORK/l-$T.gguf" "$T" 2 >/dev/null 2>"$WORK/l.err" ||
            { cat "$WORK/l.err"; exit 1; }
        tail -1 "$WORK/l.err"
    done
    if cmp -s "$WORK/k-$T.gguf" "$WORK/l-$T.gguf"; then echo "$T: identical bytes"; else echo "$T: FILES DIFFER"; fi
    rm -f "$WORK/k-$T.gguf" "$WORK/l-$T.gguf"
done
