#!/usr/bin/env bash
# Long fuzzing that grows the checked-in corpus (make fuzz-long; hours, for a
# maintainer): runs every libFuzzer harness in BUILD_DIR (or only those named in
# $FUZZ_ONLY, space-separated) one at a time for SECONDS each (default 3600), over
# a scratch copy of tests/fuzz/corpus/<name>/ with tests/fuzz/<name>.dict, then
# merges what the run found back with -merge=1: an input is added to the
# checked-in corpus only when it adds coverage (new edges), and existing seeds stay. Review
# and commit the new files (git status tests/fuzz/corpus). Stops at the first
# crash, leak or timeout; the reproducer and log are in BUILD_DIR/fuzz-artifacts/<name>/:
# fix the bug and add the reproducer to the corpus as a regression seed.
# Prints per harness: CPU seconds (user+sys), executions, new corpus files.
# Usage: tests/fuzz/long.sh BUILD_DIR [SECONDS]
set -u

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [SECONDS]" >&2
  exit 2
fi
build=$(cd "$1" && pwd) || exit 1
secs=${2:-3600}
src=$(cd "$(dirname "$0")/../.." && pwd)

shopt -s nullglob
bins=()
for f in "$build"/fuzz_*; do
  [ -f "$f" ] && [ -x "$f" ] || continue
  if [ -n "${FUZZ_ONLY:-}" ] && ! grep -qw -- "$(basename "$f")" <<<"$FUZZ_ONLY"; then continue; fi
  bins+=("$f")
done
if [ ${#bins[@]} -eq 0 ]; then
  echo "fuzz-long: no fuzz_* harnesses in $build (build with -DKV_FUZZ=ON)" >&2
  exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/kvant-fuzz-long.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

for bin in "${bins[@]}"; do
  name=$(basename "$bin")
  seeds="$src/tests/fuzz/corpus/$name"
  work="$scratch/$name"
  mkdir -p "$seeds" "$work/corpus"
  cp -R "$seeds/." "$work/corpus/"
  arts="$build/fuzz-artifacts/$name"
  rm -rf "$arts"
  mkdir -p "$arts"
  dict=()
  [ -f "$src/tests/fuzz/$name.dict" ] && dict=(-dict="$src/tests/fuzz/$name.dict")
  before=$(find "$seeds" -type f | wc -l)
  t0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  # -timeout 10 s per input, -rss_limit_mb 2 GiB: a slow or huge input is a bug too
  ( cd "$work" && exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 ${dict[@]+"${dict[@]}"} -artifact_prefix="$arts/" corpus ) \
    >"$work/log" 2>&1
  rc=$?
  t1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  cpu=$(( (t1 - t0) / $(getconf CLK_TCK) ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
  if [ $rc -ne 0 ]; then
    cp "$work/log" "$arts/log.txt"
    echo "fuzz-long: $name FAILED (exit $rc) after ${runs:-?} runs, ${cpu} CPU s; reproducer and log in $arts"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$work/log" | head -n 5 | sed 's/^/    /'
    exit 1
  fi
  rmdir "$arts" 2>/dev/null
  # -use_counters=0: an input is kept for new edges only, not new hit counts,
  # which keeps the checked-in corpus small
  "$bin" -merge=1 -use_counters=0 ${dict[@]+"${dict[@]}"} "$seeds" "$work/corpus" \
    >"$work/merge.log" 2>&1 ||
    { echo "fuzz-long: $name: merge failed:"; tail -n 5 "$work/merge.log"; exit 1; }
  after=$(find "$seeds" -type f | wc -l)
  echo "fuzz-long: $name ok: ${runs:-?} runs, ${cpu} CPU s, corpus $before -> $after files ($(du -sk "$seeds" | cut -f1) KiB)"
done
