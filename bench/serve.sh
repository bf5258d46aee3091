#!/usr/bin/env bash
# Loopback benchmark of `kvant serve`: requests/s and latency percentiles of
# GET /api/tags under wrk, and generated tokens/s with 1, 4 and 16 streams at
# once (greedy, fixed length) against one stream. Numbers go to stdout.
# Usage: bench/serve.sh KVANT MODEL.gguf [SECONDS] [N_PREDICT]
set -euo pipefail
KVANT=$1
MODEL=$2
SECS=${3:-10}
N_PREDICT=${4:-128}
command -v wrk >/dev/null || { echo "bench/serve.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
TMP=$(mktemp -d)
"$KVANT" serve --port 0 --model "m=$MODEL" --parallel 16 --ctx $((N_PREDICT + 64)) >"$TMP/out" 2>"$TMP/err" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$TMP/out" && break; sleep 0.1; done
BASE=$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' "$TMP/out")

echo "== GET /api/tags, wrk -t2 -c32 -d${SECS}s"
wrk -t2 -c32 -d"${SECS}s" --latency "$BASE/api/tags" | grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx|Socket errors" || true

# One greedy request of up to N_PREDICT tokens; prints how many it got.
one() {
  curl -s --max-time 600 "$BASE/api/generate" -d "{\"model\":\"m\",\"prompt\":\"$1\",\"stream\":false,\
\"options\":{\"temperature\":0,\"num_predict\":$N_PREDICT}}" | sed -n 's/.*"eval_count":\([0-9]*\).*/\1/p'
  echo # the reply has no final newline
}
one "warm up" >/dev/null
echo "== generation, $N_PREDICT tokens per stream"
for n in 1 4 16; do
  t0=$(date +%s.%N)
  for i in $(seq 1 "$n"); do one "And it came to pass $i" >"$TMP/n$i" & done
  wait $(jobs -p | grep -v "^$SERVER$") 2>/dev/null || true
  t1=$(date +%s.%N)
  total=$(cat "$TMP"/n* | awk '{s += $1} END {print s}')
  rm -f "$TMP"/n*
  awk -v n="$n" -v tok="$total" -v t="$(echo "$t1 - $t0" | bc)" \
    'BEGIN {printf "%2d streams: %5d tokens in %6.2f s = %7.1f tokens/s\n", n, tok, t, tok / t}'
done
grep -E "^kvant_decode_batch_size_(count|sum)" <(curl -s "$BASE/metrics")
