#!/usr/bin/env bash
# Soak test of `kvant serve`: for DURATION seconds, rounds of mixed requests
# to the demo model on loopback (Ollama and OpenAI, generate and chat,
# streaming and not; every 5th a stream its client drops after the first
# chunk), at most CONCURRENCY at once. Between rounds it samples the server's
# resident memory (process_resident_memory_bytes of /metrics, checked against
# /proc) and counts errors.
#
# usage: tests/soak/soak.sh DURATION [KVANT]
#   KVANT: the kvant binary (default: $KVANT, else build-asan/kvant, else
#   build/kvant). An ASan/UBSan build (make sanitize) is the point: its
#   reports go to a log that must stay empty, leaks at exit included.
#   SOAK_CONCURRENCY (default 4), SOAK_ROUND (requests per round, default 12),
#   SOAK_RSS_GROWTH_MB (default 48): how much the RSS may grow from the end of
#   the first fifth of the run (caches and allocator pools are warm by then)
#   to the end.
#
# Exit 77 (skip) without the demo model. Fails (exit 1) when the server crashes or reports a sanitizer error, does not
# stop cleanly on SIGTERM, a request fails or hangs (a dropped stream is the
# client's doing and does not count), or the RSS grows past the bound.
set -uo pipefail
DURATION=${1:?usage: soak.sh DURATION [KVANT]}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
KVANT=${2:-${KVANT:-}}
if [ -z "$KVANT" ]; then
  KVANT=$SRC/build/kvant
  [ -x "$SRC/build-asan/kvant" ] && KVANT=$SRC/build-asan/kvant
fi
SHARED=${KV_SHARED:-$SRC/../shared}
CONC=${SOAK_CONCURRENCY:-4}
ROUND=${SOAK_ROUND:-12}
GROWTH_MB=${SOAK_RSS_GROWTH_MB:-48}
[ -x "$KVANT" ] || { echo "soak: no kvant binary at '$KVANT'"; exit 1; }
# exit 77 (make soak-short passes it as a skip, as ctest does the integration tests)
[ -f "$SHARED/models/kjv-llama-7m/config.json" ] || { echo "skip: no demo model in $SHARED"; exit 77; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kvant-soak-XXXXXX")
SERVER=
cleanup() {
  [ -z "$SERVER" ] || { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; }
  rm -rf "$TMP"
}
trap cleanup EXIT

asan=no
[ "$(nm "$KVANT" 2>/dev/null | grep -c __asan_init)" -gt 0 ] && asan=yes
# Sanitizer reports go to files; the quarantine is kept small so that RSS
# measures kvant, not ASan's delay of reuse.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:quarantine_size_mb=16:log_path=$TMP/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$TMP/ubsan"
export LSAN_OPTIONS="log_path=$TMP/lsan"

"$KVANT" convert "$SHARED/models/kjv-llama-7m" -o "$TMP/kjv.gguf" --outtype q8_0 >"$TMP/convert.log" 2>&1 ||
  { cat "$TMP/convert.log"; echo "soak: cannot convert the demo model"; exit 1; }
rm -f "$TMP"/asan* "$TMP"/ubsan* "$TMP"/lsan* # the converter's, if any, are not the server's

"$KVANT" serve --port 0 --threads 2 --parallel 4 --model "kjv=$TMP/kjv.gguf" --model "psalms=$TMP/kjv.gguf" \
  >"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVER=$!
PORT=
for _ in $(seq 1 300); do
  PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$TMP/serve.out")
  [ -n "$PORT" ] && break
  kill -0 "$SERVER" 2>/dev/null || break
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$TMP/serve.err"; echo "soak: the server did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT"
echo "soak: $KVANT (ASan: $asan), $DURATION s, $CONC at a time, rounds of $ROUND, port $PORT"

rss_metric() {
  curl -s --max-time 30 "$BASE/metrics" | awk '$1 == "process_resident_memory_bytes" { print int($2) }'
}
metric_sum() { # sums the samples whose name and labels start with $1
  curl -s --max-time 30 "$BASE/metrics" | awk -v k="$1" 'index($1, k) == 1 { s += $2 } END { print s + 0 }'
}

t0=$(date +%s)
warm_at=$((t0 + DURATION / 5))
rss0=$(rss_metric) rss_warm= rss_max=0
ok=0 retry=0 other=0 hangs=0 cancelled=0 rounds=0 fails=0
every=$((DURATION / 20 > 0 ? DURATION / 20 : 1)) # seconds between lines of the table
next_print=0
printf '%6s %8s %10s %6s %6s %6s %6s %6s\n' t rounds rss_MiB ok cancel retry other hangs
while [ $(($(date +%s) - t0)) -lt "$DURATION" ]; do
  line=$(python3 "$SRC/tests/integration/lb_load.py" "$BASE" "$ROUND" "$CONC" --models kjv,psalms \
    --timeout 120 --cancel-every 5 --max-tokens 4-64 --seed "$rounds" 2>&1)
  counts=$(grep '^requests=' <<<"$line")
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$counts"; }
  if [ -z "$counts" ]; then
    echo "soak: the load driver failed: $line"
    fails=$((fails + 1))
    break
  fi
  ok=$((ok + $(get ok))) retry=$((retry + $(get retryable))) other=$((other + $(get other)))
  hangs=$((hangs + $(get hangs))) cancelled=$((cancelled + $(get cancelled)))
  [ "$(get retryable)$(get other)$(get hangs)" = 000 ] || grep '^  ' <<<"$line" | head -5
  rounds=$((rounds + 1))
  kill -0 "$SERVER" 2>/dev/null || { echo "soak: the server died"; break; }
  rss=$(rss_metric)
  [ -n "$rss" ] || { echo "soak: no process_resident_memory_bytes"; fails=$((fails + 1)); break; }
  [ "$rss" -gt "$rss_max" ] && rss_max=$rss
  [ -z "$rss_warm" ] && [ "$(date +%s)" -ge "$warm_at" ] && rss_warm=$rss
  [ "$(date +%s)" -ge "$next_print" ] || continue
  next_print=$(($(date +%s) + every))
  printf '%6d %8d %10.1f %6d %6d %6d %6d %6d\n' $(($(date +%s) - t0)) "$rounds" \
    "$(awk -v r="$rss" 'BEGIN { print r / 1048576 }')" "$ok" "$cancelled" "$retry" "$other" "$hangs"
done

status=0
if kill -0 "$SERVER" 2>/dev/null; then
  # the metric is the process's own: compare with what the kernel says of it
  proc_rss=$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$SERVER/status")
  rss_end=$(rss_metric)
  aborts=$(curl -s --max-time 30 "$BASE/metrics" |
    awk '/^kvant_requests_finished_total\{.*finished_reason="abort"/ { s += $2 } END { print s + 0 }')
  finished=$(metric_sum 'kvant_requests_finished_total{')
  health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$BASE/health")
  kill -TERM "$SERVER"
  wait "$SERVER"
  rc=$?
  SERVER=
  [ "$rc" = 0 ] || { echo "soak: the server exited with status $rc on SIGTERM"; status=1; }
  [ "$health" = 200 ] || { echo "soak: /health answered $health"; status=1; }
  diff=$((proc_rss - rss_end))
  [ "${diff#-}" -le $((8 << 20)) ] ||
    { echo "soak: process_resident_memory_bytes $rss_end, /proc says $proc_rss"; status=1; }
else
  wait "$SERVER"
  echo "soak: the server crashed (status $?)"
  SERVER=
  status=1
  rss_end=0 finished=0 aborts=0
fi
reports=$(cat "$TMP"/asan* "$TMP"/ubsan* "$TMP"/lsan* 2>/dev/null)
if [ -n "$reports" ]; then
  echo "soak: sanitizer reports:"
  head -60 <<<"$reports"
  status=1
fi
if grep -qiE 'AddressSanitizer|runtime error|LeakSanitizer' "$TMP/serve.err"; then
  grep -iE -A20 'AddressSanitizer|runtime error|LeakSanitizer' "$TMP/serve.err" | head -60
  status=1
fi
[ -n "$rss_warm" ] || rss_warm=$rss_end
growth=$((rss_end - rss_warm))
echo "soak: $rounds rounds, $((ok + cancelled + retry + other + hangs)) requests: ok $ok, cancelled by" \
  "the client $cancelled (server counted $aborts aborts), retryable $retry, other $other, hangs $hangs;" \
  "$finished generation requests finished"
echo "soak: RSS start $((rss0 >> 20)) MiB, after warm-up $((rss_warm >> 20)) MiB, end" \
  "$((rss_end >> 20)) MiB, peak $((rss_max >> 20)) MiB (growth after warm-up $((growth >> 20)) MiB," \
  "bound $GROWTH_MB MiB)"
[ $((retry + other + hangs + fails)) = 0 ] || { echo "soak: requests failed"; status=1; }
[ "$ok" -gt 0 ] || { echo "soak: no request succeeded"; status=1; }
[ "$cancelled" = 0 ] || [ "$aborts" -gt 0 ] ||
  { echo "soak: clients dropped $cancelled streams but the server counted no abort"; status=1; }
[ "$growth" -le $((GROWTH_MB << 20)) ] || { echo "soak: RSS grew by $((growth >> 20)) MiB"; status=1; }
[ "$status" = 0 ] && echo "soak: PASS" || echo "soak: FAIL"
exit "$status"
