#!/usr/bin/env bash
# bench/run.sh [KVANT]: kvant's speed on llama-160m- and tinyllama-1.1b-shaped
# models (random weights, real shapes), side by side with llama.cpp's
# llama-bench when one is available, written up in bench/RESULTS.md.
#
# For each shape: ../shared/tools/synth_model.py writes a Hugging Face
# checkpoint to bench/models/SHAPE/, kvant converts it to F16 and quantizes
# that to Q8_0, Q4_K_M and Q4_0 (bench/models/SHAPE-TYPE.gguf), then for each
# file `kvant bench` and `llama-bench` run one after the other on the same file,
# with the same threads, prompt and generation lengths. Results go to
# bench/work/results/*.json, logs to bench/work/logs/; bench/report.py turns
# them into RESULTS.md. Everything already made or measured is kept, so an
# interrupted run picks up where it stopped (FORCE=1 measures again).
#
# Settings (environment):
#   LLAMA_BENCH  llama-bench to compare with (default ../llama.cpp/build/bin/llama-bench
#                when it exists; LLAMA_BENCH=none skips llama.cpp)
#   THREADS=2  N_PROMPT=512  N_GEN=128  REPS=3  KERNELS=auto (or ref, or avx2: no VNNI builds)
#   REPS_<SHAPE>  repetitions for one shape, e.g. REPS_tinyllama_1_1b=2
#   SHAPES="llama-160m tinyllama-1.1b"  TYPES="Q4_0 Q4_K_M Q8_0 F16" (measured in this order)
#   FORCE=1  measure again even where results exist
#   BENCH_WORK  folder for results and logs (default bench/work)
#   BENCH_NOTES_FILE  a text file report.py appends to RESULTS.md as "Notes on this run"
#   RESULTS_MD  where the write-up goes (default bench/RESULTS.md)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KVANT=${1:-${KVANT:-$ROOT/build/kvant}}
SHARED=${KV_SHARED:-$ROOT/../shared}
THREADS=${THREADS:-2}
N_PROMPT=${N_PROMPT:-512}
N_GEN=${N_GEN:-128}
REPS=${REPS:-3}
KERNELS=${KERNELS:-auto}
SHAPES=${SHAPES:-"llama-160m tinyllama-1.1b"}
TYPES=${TYPES:-"Q4_0 Q4_K_M Q8_0 F16"}
FORCE=${FORCE:-0}
MODELS=$ROOT/bench/models
WORK=${BENCH_WORK:-$ROOT/bench/work}
RESULTS=$WORK/results
LOGS=$WORK/logs

die() { echo "bench/run.sh: $*" >&2; exit 1; }
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[ -x "$KVANT" ] || die "no kvant binary at $KVANT (build first: make build)"
KVANT=$(cd "$(dirname "$KVANT")" && pwd)/$(basename "$KVANT")
SYNTH=$SHARED/tools/synth_model.py
[ -f "$SYNTH" ] || die "no $SYNTH (set KV_SHARED to the shared folder)"
# synth_model.py needs numpy: take the first python3 that has it.
PYTHON=
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c "import numpy" 2>/dev/null; then PYTHON=$p; break; fi
done
[ -n "$PYTHON" ] || die "no python3 with numpy (Debian: apt-get install python3-numpy)"

if [ -z "${LLAMA_BENCH:-}" ] && [ -x "$ROOT/../llama.cpp/build/bin/llama-bench" ]; then
  LLAMA_BENCH=$(cd "$ROOT/../llama.cpp/build/bin" && pwd)/llama-bench
fi
[ "${LLAMA_BENCH:-}" = none ] && LLAMA_BENCH=
if [ -n "${LLAMA_BENCH:-}" ] && ! "$LLAMA_BENCH" --help >/dev/null 2>&1; then
  say "warning: $LLAMA_BENCH does not run; measuring kvant alone"
  LLAMA_BENCH=
fi
mkdir -p "$MODELS" "$RESULTS" "$LOGS"

reps_for() { # the REPS_<shape> override, or REPS
  local var="REPS_${1//[-.]/_}"
  echo "${!var:-$REPS}"
}

# A checkpoint is complete once synth_model.py has exited cleanly: it is made in
# a temporary folder and renamed.
make_checkpoint() {
  local shape=$1 dir=$MODELS/$1
  [ -f "$dir/model.safetensors" ] && return 0
  say "$shape: writing the checkpoint ($SYNTH)"
  rm -rf "$dir.tmp"
  "$PYTHON" "$SYNTH" --shape "$shape" --out "$dir.tmp" >"$LOGS/$shape-synth.log" 2>&1 \
    || { cat "$LOGS/$shape-synth.log" >&2; return 1; }
  mv "$dir.tmp" "$dir"
}

# kvant writes its output under a temporary name and renames it at the end, so
# an existing GGUF is complete.
make_gguf() {
  local shape=$1 type=$2 out=$MODELS/$1-$2.gguf f16=$MODELS/$1-F16.gguf
  [ -f "$out" ] && return 0
  if [ "$type" = F16 ]; then
    say "$shape: converting to F16"
    "$KVANT" convert "$MODELS/$shape" -o "$out" --outtype f16 -q >"$LOGS/$shape-F16-convert.log" 2>&1
  else
    make_gguf "$shape" F16 || return 1
    say "$shape: quantizing to $type"
    "$KVANT" quantize "$f16" "$out" "$type" -t "$THREADS" -q >"$LOGS/$shape-$type-quantize.log" 2>&1
  fi || { cat "$LOGS/$shape-$type"-*.log >&2; return 1; }
}

valid_json() { [ -s "$1" ] && "$PYTHON" -c "import json,sys; json.load(open(sys.argv[1]))" "$1" 2>/dev/null; }

# run_bench NAME OUT.json CMD...: runs CMD unless OUT.json holds a result already.
run_bench() {
  local name=$1 out=$2; shift 2
  if [ "$FORCE" != 1 ] && valid_json "$out"; then
    say "$name: have $(basename "$out")"
    return 0
  fi
  say "$name: $*"
  local log=$LOGS/$(basename "$out" .json).log
  echo "$*" >"$log"
  # The machine may be shared: keep the load average each run started under.
  cut -d' ' -f1 /proc/loadavg >"$out.load"
  if "$@" >"$out.tmp" 2>>"$log" && valid_json "$out.tmp"; then
    mv "$out.tmp" "$out"
  else
    rm -f "$out.tmp"
    say "$name: failed (see $log)"
    tail -3 "$log" >&2
  fi
}

bench_file() {
  local shape=$1 type=$2 gguf=$MODELS/$1-$2.gguf reps
  reps=$(reps_for "$shape")
  local args=(-m "$gguf" -p "$N_PROMPT" -n "$N_GEN" -t "$THREADS" -r "$reps" -o json)
  run_bench "$shape $type kvant" "$RESULTS/$shape-$type.kvant.json" \
    "$KVANT" bench "${args[@]}" --kernels "$KERNELS"
  if [ -n "${LLAMA_BENCH:-}" ]; then
    run_bench "$shape $type llama.cpp" "$RESULTS/$shape-$type.llama.json" \
      "$LLAMA_BENCH" "${args[@]}"
  fi
}

export BENCH_LOAD_START
BENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for shape in $SHAPES; do
  make_checkpoint "$shape" || die "$shape: the checkpoint could not be made"
  for type in $TYPES; do
    make_gguf "$shape" "$type" || { say "$shape $type: no model file, skipped"; continue; }
    bench_file "$shape" "$type"
  done
done

OUT_MD=${RESULTS_MD:-$ROOT/bench/RESULTS.md}
say "writing $OUT_MD"
export BENCH_KVANT=$KVANT BENCH_LLAMA="${LLAMA_BENCH:-}" BENCH_THREADS=$THREADS \
  BENCH_N_PROMPT=$N_PROMPT BENCH_N_GEN=$N_GEN BENCH_REPS=$REPS BENCH_KERNELS=$KERNELS \
  BENCH_SHAPES=$SHAPES BENCH_TYPES=$TYPES BENCH_RESULTS=$RESULTS
BENCH_REPS_EACH=$(for s in $SHAPES; do printf '%s=%s ' "$s" "$(reps_for "$s")"; done)
export BENCH_REPS_EACH
BENCH_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
export BENCH_LOAD_END
"$PYTHON" "$ROOT/bench/report.py" >"$OUT_MD.tmp" \
  && mv "$OUT_MD.tmp" "$OUT_MD" \
  || die "report.py failed"
say "done: $OUT_MD"
