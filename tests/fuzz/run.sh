#!/usr/bin/env bash
# Runs every libFuzzer harness built in BUILD_DIR (files named fuzz_*) for SECONDS
# seconds each, over a scratch copy of its seed corpus tests/fuzz/corpus/<name>/
# (the checked-in seeds are never modified), with tests/fuzz/<name>.dict as its
# dictionary when there is one. Prints one summary line per harness
# and exits non-zero when any harness crashes, leaks, times out or fails to run;
# the reproducing inputs are kept in BUILD_DIR/fuzz-artifacts/<name>/.
# Usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]
set -u

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [SECONDS]" >&2
  exit 2
fi
build=$1
secs=${2:-20}
src=$(cd "$(dirname "$0")/../.." && pwd)

shopt -s nullglob
bins=()
for f in "$build"/fuzz_*; do
  [ -f "$f" ] && [ -x "$f" ] && bins+=("$f")
done
if [ ${#bins[@]} -eq 0 ]; then
  echo "fuzz: no fuzz_* harnesses in $build (build with -DKV_FUZZ=ON)" >&2
  exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/kvant-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

failed=0
n_ok=0
n_bad=0
for bin in "${bins[@]}"; do
  name=$(basename "$bin")
  corpus="$scratch/$name/corpus"
  mkdir -p "$corpus"
  seeds="$src/tests/fuzz/corpus/$name"
  n_seeds=0
  if [ -d "$seeds" ]; then
    cp -R "$seeds/." "$corpus/"
    n_seeds=$(find "$seeds" -type f | wc -l)
  fi
  arts="$build/fuzz-artifacts/$name"
  rm -rf "$arts"
  mkdir -p "$arts"
  log="$scratch/$name/log"
  dict=()
  [ -f "$src/tests/fuzz/$name.dict" ] && dict=(-dict="$src/tests/fuzz/$name.dict")
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    ${dict[@]+"${dict[@]}"} -artifact_prefix="$arts/" "$corpus" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  n_corpus=$(find "$corpus" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    n_ok=$((n_ok + 1))
    rmdir "$arts" 2>/dev/null
    echo "fuzz: $name ok: ${runs:-?} runs in ${secs}s, corpus $n_seeds -> $n_corpus"
  else
    failed=1
    n_bad=$((n_bad + 1))
    cp "$log" "$arts/log.txt"
    echo "fuzz: $name FAILED (exit $rc) after ${runs:-?} runs; inputs and log in $arts"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 5 | sed 's/^/    /'
  fi
done
echo "fuzz: $n_ok passed, $n_bad failed"
exit $failed
