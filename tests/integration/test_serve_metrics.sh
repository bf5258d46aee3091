#!/usr/bin/env bash
# kvant serve's /metrics, read with Prometheus' own Python parser
# (prom_parse.py, which also checks that every histogram is well formed), around
# single requests to the demo model: each kind of request moves the per-model
# counters and histogram buckets by what its reply says (tokens, durations,
# done_reason); a stop string counts as "stop", a client that leaves as
# "abort", a request past --timeout as "error". Also the process_* series,
# kvant_build_info, the KV cache usage fraction and /health.
. "$(dirname "$0")/lib.sh"

require_demo_model
PY=
for p in python3 /usr/bin/python3; do
  "$p" -c 'import prometheus_client' 2>/dev/null && { PY=$p; break; }
done
if [ -z "$PY" ]; then
  fail "no python3 with prometheus_client (tools/install-deps.sh installs python3-prometheus-client)"
  finish
  exit 1
fi

demo_gguf
M='model="kjv:latest"'
N=0 # scrapes so far

# scrape: parses /metrics into $TMP/s$N (one sample a line), N++; fails the test
# when the text does not parse.
scrape() {
  N=$((N + 1))
  curl -s --max-time 30 "$BASE/metrics" >"$TMP/m$N.txt"
  "$PY" "$SRC/tests/integration/prom_parse.py" "$TMP/m$N.txt" >"$TMP/s$N" 2>"$TMP/p$N.err" ||
    fail "scrape $N does not parse: $(cat "$TMP/p$N.err")"
}
# v N SAMPLE: the value of SAMPLE (name{labels sorted}) in scrape N, or "none".
v() { awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print "none" }' "$TMP/s$1"; }
# d SAMPLE: how much SAMPLE moved between the last two scrapes (a series that
# appears starts from 0).
d() { "$PY" -c 'import sys; a, b = sys.argv[1:]; a = "0" if a == "none" else a
print("none" if b == "none" else
  ("%d" % (float(b) - float(a)) if float(b) == int(float(b)) and float(a) == int(float(a))
   else repr(float(b) - float(a))))' "$(v $((N - 1)) "$1")" "$(v $N "$1")"; }
# is DESC GOT WANT
is() { [ "$2" = "$3" ] && pass "$1 ($2)" || fail "$1: got '$2', wanted '$3'"; }
# near DESC A B: |A - B| < 1e-5 (seconds as the reply's nanoseconds say)
near() {
  "$PY" -c 'import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) < 1e-5 else 1)' \
    "$2" "$3" 2>/dev/null && pass "$1 ($2)" || fail "$1: $2 vs $3"
}
fin() { echo "kvant_requests_finished_total{finished_reason=\"$1\",$M}"; }
bucket() { echo "${1}_bucket{le=\"$2\",$M}"; }
json() { "$PY" -c 'import json, sys
r = json.loads(sys.stdin.read().strip().splitlines()[-1])
print(r[sys.argv[1]])' "$1"; }

start_server --model "kjv=$TMP/kjv.gguf" --parallel 2 --ctx 4096

# ---- before any request ----
OUT=$(curl -s -w ' %{http_code}' --max-time 30 "$BASE/health")
expect_out '"status":"ok"' "/health says ok"
expect_out ' 200' "/health is 200"
scrape
is "no model series before a request" "$(grep -c "$M" "$TMP/s1")" 0
version=$("$KVANT" --version | awk '{print $2}')
grep -q "^kvant_build_info{kernels=\"[a-z0-9-]*\",version=\"$version\"} 1$" "$TMP/s1" &&
  pass "kvant_build_info names version $version" || fail "build info: $(grep build_info "$TMP/s1")"
rss=$(v 1 process_resident_memory_bytes)
fds=$(v 1 process_open_fds)
cpu0=$(v 1 process_cpu_seconds_total)
[ "$rss" != none ] && [ "$rss" -gt 1000000 ] && pass "process_resident_memory_bytes $rss" ||
  fail "RSS '$rss'"
ls_fds=$(ls /proc/"$SERVER"/fd | wc -l)
[ "$fds" != none ] && [ $((fds - ls_fds)) -le 2 ] && [ $((ls_fds - fds)) -le 2 ] &&
  pass "process_open_fds $fds (/proc/$SERVER/fd has $ls_fds)" || fail "open fds '$fds' vs $ls_fds"
start=$(v 1 process_start_time_seconds)
now=$(date +%s)
[ "$start" != none ] && "$PY" -c "import sys; sys.exit(0 if $now - 600 < $start <= $now + 1 else 1)" &&
  pass "process_start_time_seconds is a moment ago" || fail "start time '$start', now $now"

# ---- a non-streaming generate cut by num_predict ----
OUT=$(curl -s --max-time 60 "$BASE/api/generate" \
  -d '{"model":"kjv","prompt":"And God said","stream":false,"options":{"num_predict":8,"temperature":0}}')
scrape
expect_out '"done_reason":"length"' "generate ends with length"
p=$(json prompt_eval_count <<<"$OUT")
is "finished{length} +1" "$(d "$(fin length)")" 1
is "finished{stop} +0" "$(d "$(fin stop)")" 0
is "generated tokens +8" "$(d "kvant_generated_tokens_total{$M}")" 8
is "prompt tokens + prompt_eval_count" "$(d "kvant_prompt_tokens_total{$M}")" "$p"
is "request_prompt_tokens_sum + prompt_eval_count" "$(d "kvant_request_prompt_tokens_sum{$M}")" "$p"
is "generation length 8: bucket le=5 +0" "$(d "$(bucket kvant_request_generation_tokens 5)")" 0
is "generation length 8: bucket le=10 +1" "$(d "$(bucket kvant_request_generation_tokens 10)")" 1
is "generation length 8: bucket +Inf +1" "$(d "$(bucket kvant_request_generation_tokens +Inf)")" 1
is "one TTFT" "$(d "kvant_time_to_first_token_seconds_count{$M}")" 1
is "7 inter-token latencies" "$(d "kvant_inter_token_latency_seconds_count{$M}")" 7
is "one time per output token" "$(d "kvant_request_time_per_output_token_seconds_count{$M}")" 1
is "one queue time" "$(d "kvant_request_queue_time_seconds_count{$M}")" 1
for k in e2e_request_latency:total_duration request_prefill_time:prompt_eval_duration \
  request_decode_time:eval_duration; do
  ns=$(json "${k#*:}" <<<"$OUT")
  near "kvant_${k%%:*}_seconds_sum moved by the reply's ${k#*:}" \
    "$(d "kvant_${k%%:*}_seconds_sum{$M}")" "$("$PY" -c "print($ns / 1e9)")"
done
use=$(v $N "kvant_kv_cache_usage_perc{$M}")
blocks=$(v $N kvant_kv_blocks_in_use)
total=$(v $N kvant_kv_blocks_total)
"$PY" -c "import sys; sys.exit(0 if 0 < $use <= 1 and abs($use - $blocks / $total) < 1e-9 else 1)" &&
  pass "kvant_kv_cache_usage_perc $use = $blocks / $total blocks" ||
  fail "usage '$use' with $blocks of $total blocks"

# ---- streaming chat and OpenAI requests ----
curl -s --max-time 60 "$BASE/api/chat" -d '{"model":"kjv","messages":[{"role":"user",
  "content":"Who made the heaven?"}],"options":{"num_predict":6,"temperature":0}}' >"$TMP/chat.out"
curl -s --max-time 60 "$BASE/v1/chat/completions" -d '{"model":"kjv","stream":true,"max_tokens":4,
  "messages":[{"role":"user","content":"Hello"}]}' >"$TMP/oai.out"
curl -s --max-time 60 "$BASE/v1/completions" \
  -d '{"model":"kjv","prompt":"In the beginning","max_tokens":3}' >"$TMP/cmpl.out"
scrape
is "three more finished{length}" "$(d "$(fin length)")" 3
is "generated tokens +13" "$(d "kvant_generated_tokens_total{$M}")" 13
is "lengths 6, 4, 3: bucket le=2 +0" "$(d "$(bucket kvant_request_generation_tokens 2)")" 0
is "lengths 6, 4, 3: bucket le=5 +2" "$(d "$(bucket kvant_request_generation_tokens 5)")" 2
is "lengths 6, 4, 3: bucket le=10 +3" "$(d "$(bucket kvant_request_generation_tokens 10)")" 3
is "10 inter-token latencies" "$(d "kvant_inter_token_latency_seconds_count{$M}")" 10
is "three end-to-end latencies" "$(d "kvant_e2e_request_latency_seconds_count{$M}")" 3

# ---- a stop string ----
OUT=$(curl -s --max-time 60 "$BASE/api/generate" \
  -d '{"model":"kjv","prompt":"And God said","stream":false,"options":{"num_predict":40,"temperature":0}}')
text=$(json response <<<"$OUT")
stop=${text:6:3}
OUT=$(curl -s --max-time 60 "$BASE/api/generate" -d "$("$PY" -c 'import json, sys
print(json.dumps({"model": "kjv", "prompt": "And God said", "stream": False,
  "options": {"num_predict": 40, "temperature": 0, "stop": [sys.argv[1]]}}))' "$stop")")
scrape
expect_out '"done_reason":"stop"' "the stop string '$stop' ends the reply"
is "finished{stop} +1" "$(d "$(fin stop)")" 1
is "finished{length} +1 (the first one)" "$(d "$(fin length)")" 1

# ---- a client that leaves ----
curl -s -N --max-time 0.5 "$BASE/api/generate" \
  -d '{"model":"kjv","prompt":"Jesus","options":{"num_predict":100000,"temperature":0}}' >/dev/null
for _ in $(seq 1 300); do
  scrape
  [ "$(v $N "$(fin abort)")" = 1 ] && break
  sleep 0.1
done
is "a client that left counts as abort" "$(v $N "$(fin abort)")" 1
is "no errors so far" "$(v $N "$(fin error)")" 0
cpu1=$(v $N process_cpu_seconds_total)
"$PY" -c "import sys; sys.exit(0 if $cpu1 > $cpu0 else 1)" &&
  pass "process_cpu_seconds_total rose from $cpu0 to $cpu1" || fail "cpu $cpu0 -> $cpu1"
e2e=$(v $N "kvant_e2e_request_latency_seconds_count{$M}")
is "every generation request has an end-to-end latency" "$e2e" 7
is "...and a queue time" "$(v $N "kvant_request_queue_time_seconds_count{$M}")" 7
is "...and a prompt length" "$(v $N "kvant_request_prompt_tokens_count{$M}")" 7
is "prompt tokens counted are the requests' prompt lengths" \
  "$(v $N "kvant_prompt_tokens_total{$M}")" "$(v $N "kvant_request_prompt_tokens_sum{$M}")"
is "generated tokens counted are the requests' generation lengths" \
  "$(v $N "kvant_generated_tokens_total{$M}")" "$(v $N "kvant_request_generation_tokens_sum{$M}")"

# ---- a request past --timeout ----
kill "$SERVER"
wait "$SERVER" 2>/dev/null
start_server --model "kjv=$TMP/kjv.gguf" --ctx 4096 --timeout 0.2
scrape
OUT=$(curl -s -w ' %{http_code}' --max-time 60 "$BASE/api/generate" \
  -d '{"model":"kjv","prompt":"Jesus","stream":false,"options":{"num_predict":100000}}')
scrape
expect_out "timed out" "a request past --timeout fails"
is "it counts as error" "$(v $N "$(fin error)")" 1
is "not as abort" "$(v $N "$(fin abort)")" 0
finish
