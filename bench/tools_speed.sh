#!/usr/bin/env bash
# Tools speed (issue 15 item 6), wall and CPU time (GNU time) at THREADS threads:
#
#   bench/tools_speed.sh IN_F16.gguf WORK_DIR [TYPE...]
#     kvant quantize against llama-quantize on the same F16 GGUF, for each TYPE
#     (default q8_0 q4_0 q4_k_m) REPS runs of each, alternating (run i starts with
#     kvant when i is odd, with llama-quantize when even); checks that both wrote
#     the same bytes.
#   bench/tools_speed.sh HF_DIR WORK_DIR [TYPE...]
#     the same, on the F16 file `kvant convert HF_DIR --outtype f16` makes, and also
#     one-pass `kvant convert HF_DIR --outtype T -t THREADS` against `kvant convert
#     --outtype f16` followed by `kvant quantize F16 T -t THREADS`, for each T of
#     CONVERT_TYPES (default q4_k_m), REPS rounds alternating which goes first;
#     says whether the one-pass and two-step files are the same bytes.
#
# Prints the load average before each run, one line per run, and a markdown
# summary (means over the runs) to paste into bench/RESULTS.md's "Tools" section.
# Settings: KVANT (default build/kvant), LLAMA_QUANTIZE (default
# ../llama.cpp/build/bin/llama-quantize beside the repo, else
# /work/llama.cpp/build/bin/llama-quantize; LLAMA_QUANTIZE=none skips it),
# THREADS=2, REPS=3, CONVERT_TYPES="q4_k_m", QUANTIZE=0 (HF_DIR: skip the
# quantize comparison). Every output goes to WORK_DIR and is removed after use.
set -euo pipefail
usage="usage: tools_speed.sh IN_F16.gguf|HF_DIR WORK_DIR [TYPE...]"
IN=${1:?$usage}
WORK=${2:?$usage}
shift 2
TYPES=("$@")
[ ${#TYPES[@]} -gt 0 ] || TYPES=(q8_0 q4_0 q4_k_m)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
K=${KVANT:-$ROOT/build/kvant}
L=${LLAMA_QUANTIZE:-$ROOT/../llama.cpp/build/bin/llama-quantize}
[ -x "$L" ] || [ -n "${LLAMA_QUANTIZE:-}" ] || L=/work/llama.cpp/build/bin/llama-quantize
[ "$L" = none ] && L=
THREADS=${THREADS:-2}
REPS=${REPS:-3}
read -r -a CONVERT_TYPES <<<"${CONVERT_TYPES:-q4_k_m}"
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "tools_speed.sh: needs GNU time at $TIME (Debian: apt-get install time)" >&2; exit 1; }
[ -x "$K" ] || { echo "tools_speed.sh: no kvant at $K (make build, or set KVANT)" >&2; exit 1; }
if [ -n "$L" ] && [ ! -x "$L" ]; then
  echo "tools_speed.sh: no llama-quantize at $L (set LLAMA_QUANTIZE, or none)" >&2
  exit 1
fi
mkdir -p "$WORK"
SUMMARY=$WORK/summary.txt # one line per run: KIND TYPE WHO WALL CPU
: >"$SUMMARY"
: >"$WORK/files.txt"

# timed KIND TYPE WHO CMD...: runs CMD under GNU time (its output to WORK/WHO.err),
# prints and records the wall and CPU seconds; stops the script if CMD fails.
timed() {
  local kind=$1 type=$2 who=$3; shift 3
  local t=$WORK/$who.time
  if ! "$TIME" -o "$t" -f "%e %U %S" "$@" >/dev/null 2>"$WORK/$who.err"; then
    tail -5 "$WORK/$who.err" >&2
    echo "tools_speed.sh: $who failed: $*" >&2
    exit 1
  fi
  local wall user sys
  read -r wall user sys <"$t"
  echo "$who $type wall $wall user $user sys $sys"
  echo "$kind $type $who $wall $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" >>"$SUMMARY"
}

load() { echo "load $(cut -d' ' -f1-3 /proc/loadavg)"; }

# first_diff A B: "identical bytes", else where the two files part and whether
# their tensors (name, type, data; tests/integration/gguf_digests.py) agree.
first_diff() {
  if cmp -s "$1" "$2"; then
    echo "identical bytes"
    return
  fi
  local at tensors="tensor digests not compared (no python3)"
  at=$(cmp "$1" "$2" 2>&1 | head -1 | sed 's/.* differ: //')
  if command -v python3 >/dev/null; then
    if cmp -s <(python3 "$ROOT/tests/integration/gguf_digests.py" "$1") \
      <(python3 "$ROOT/tests/integration/gguf_digests.py" "$2"); then
      tensors="every tensor's name, type and data the same (metadata or order differ)"
    else
      tensors="TENSOR DATA DIFFER"
    fi
  fi
  echo "differ from $at; $tensors"
}

F16=$IN
if [ -d "$IN" ]; then
  HF=$IN
  F16=$WORK/f16.gguf
  echo "# kvant convert $HF --outtype f16 (the input of the quantize runs)"
  load
  timed convert f16 kvant-convert-f16 "$K" convert "$HF" -o "$F16" --outtype f16 -q
else
  HF=
  [ -f "$IN" ] || { echo "tools_speed.sh: no file or folder $IN" >&2; exit 1; }
fi

if [ -z "$HF" ] || [ "${QUANTIZE:-1}" != 0 ]; then
  for T in "${TYPES[@]}"; do
    echo "# quantize $T: kvant quantize -t $THREADS against llama-quantize ... $THREADS"
    for i in $(seq 1 "$REPS"); do
      order=(kvant llama)
      [ $((i % 2)) -eq 0 ] && order=(llama kvant)
      for who in "${order[@]}"; do
        load
        if [ "$who" = kvant ]; then
          timed quantize "$T" kvant "$K" quantize "$F16" "$WORK/k-$T.gguf" "$T" -t "$THREADS" -q
        elif [ -n "$L" ]; then
          timed quantize "$T" llama "$L" "$F16" "$WORK/l-$T.gguf" "$T" "$THREADS"
        fi
      done
    done
    [ -z "$L" ] || echo "$T: kvant and llama-quantize files: $(first_diff "$WORK/k-$T.gguf" "$WORK/l-$T.gguf")" \
      | tee -a "$WORK/files.txt"
    rm -f "$WORK/k-$T.gguf" "$WORK/l-$T.gguf"
  done
fi

if [ -n "$HF" ]; then
  for T in "${CONVERT_TYPES[@]}"; do
    echo "# convert $T: one pass against convert to F16 + quantize"
    for i in $(seq 1 "$REPS"); do
      order=(one two)
      [ $((i % 2)) -eq 0 ] && order=(two one)
      for how in "${order[@]}"; do
        load
        if [ "$how" = one ]; then
          timed convert "$T" one-pass "$K" convert "$HF" -o "$WORK/one-$T.gguf" --outtype "$T" \
            -t "$THREADS" -q
        else
          timed convert "$T" two-step-f16 "$K" convert "$HF" -o "$WORK/two-f16.gguf" --outtype f16 -q
          timed convert "$T" two-step-quantize "$K" quantize "$WORK/two-f16.gguf" "$WORK/two-$T.gguf" \
            "$T" -t "$THREADS" -q
        fi
      done
    done
    echo "$T: one-pass and two-step files: $(first_diff "$WORK/one-$T.gguf" "$WORK/two-$T.gguf")" \
      | tee -a "$WORK/files.txt"
    rm -f "$WORK/one-$T.gguf" "$WORK/two-$T.gguf" "$WORK/two-f16.gguf"
  done
fi
rm -f "$WORK/f16.gguf"

# The summary: means over the runs.
echo
echo "## summary (means of $REPS runs, $THREADS threads; CPU = user + sys)"
awk '
  { n[$1" "$2" "$3]++; w[$1" "$2" "$3] += $4; c[$1" "$2" "$3] += $5; seen[$1" "$2] = 1 }
  function m(a, k) { return n[k] ? a[k] / n[k] : 0 }
  function r(x, y) { return y > 0 ? sprintf("%.2f", x / y) : "—" }
  END {
    q = 0
    for (s in seen) {
      split(s, p, " ")
      if (p[1] != "quantize") continue
      if (!q++) {
        print "| type | kvant wall s | llama wall s | kvant CPU s | llama CPU s | wall ratio (llama/kvant) | CPU ratio |"
        print "|---|---:|---:|---:|---:|---:|---:|"
      }
      k = s " kvant"; l = s " llama"
      printf "| %s | %.2f | %s | %.2f | %s | %s | %s |\n", p[2], m(w, k), n[l] ? sprintf("%.2f", m(w, l)) : "—",
        m(c, k), n[l] ? sprintf("%.2f", m(c, l)) : "—",
        n[l] ? r(m(w, l), m(w, k)) : "—", n[l] ? r(m(c, l), m(c, k)) : "—"
    }
    h = 0
    for (s in seen) {
      split(s, p, " ")
      if (p[1] != "convert" || p[2] == "f16") continue
      if (!h++) {
        print ""
        print "| type | one-pass wall s | convert f16 + quantize wall s | one-pass CPU s | two-step CPU s | wall ratio (two-step/one-pass) | CPU ratio |"
        print "|---|---:|---:|---:|---:|---:|---:|"
      }
      o = s " one-pass"; a = s " two-step-f16"; b = s " two-step-quantize"
      printf "| %s | %.2f | %.2f + %.2f | %.2f | %.2f + %.2f | %s | %s |\n", p[2], m(w, o), m(w, a), m(w, b),
        m(c, o), m(c, a), m(c, b), r(m(w, a) + m(w, b), m(w, o)), r(m(c, a) + m(c, b), m(c, o))
    }
  }' "$SUMMARY"
[ ! -s "$WORK/files.txt" ] || { echo; cat "$WORK/files.txt"; }
rm -f "$WORK/files.txt"
