#!/usr/bin/env bash
# Three `kvant serve` replicas of the demo model (served as two model names)
# behind HAProxy with deploy/haproxy.cfg (its ports replaced), all on loopback:
# - requests for one model, one at a time, all go to the same replica (its
#   prefix cache is reused); requests without a model are spread over all three;
# - 200 mixed requests (Ollama and OpenAI, generate and chat, streaming and
#   not, 8 at a time) while the busiest replica is killed with SIGKILL after
#   60 of them: every request succeeds or fails cleanly in a way a client can
#   retry (502/503/504, or a stream cut short), none hangs (each client has a
#   60 s limit), nothing else; then the two others go on serving.
. "$(dirname "$0")/lib.sh"

require_demo_model
if ! command -v haproxy >/dev/null; then
  fail "haproxy is missing (tools/install-deps.sh installs it)"
  finish
  exit 1
fi
demo_gguf

PORTS=() PIDS=() HA=
cleanup() { # replaces lib.sh's: stops every process this script started
  for p in $HA "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in $HA "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$TMP"
}

# ---- replicas ----
for r in 1 2 3; do
  "$KVANT" serve --port 0 --threads 1 --parallel 4 --model "kjv=$TMP/kjv.gguf" \
    --model "genesis=$TMP/kjv.gguf" >"$TMP/r$r.out" 2>"$TMP/r$r.err" &
  PIDS+=($!)
done
for r in 0 1 2; do
  p=
  for _ in $(seq 1 100); do
    p=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$TMP/r$((r + 1)).out")
    [ -n "$p" ] && break
    sleep 0.1
  done
  [ -n "$p" ] || { cat "$TMP/r$((r + 1)).err"; fail "replica $((r + 1)) did not start"; finish; exit 1; }
  PORTS+=("$p")
done
pass "three replicas listen on ${PORTS[*]}"

# ---- HAProxy with deploy/haproxy.cfg ----
start_haproxy() {
  LB_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  sed -e "s/127\.0\.0\.1:11434/127.0.0.1:$LB_PORT/" -e "s/127\.0\.0\.1:11435/127.0.0.1:${PORTS[0]}/" \
    -e "s/127\.0\.0\.1:11436/127.0.0.1:${PORTS[1]}/" -e "s/127\.0\.0\.1:11437/127.0.0.1:${PORTS[2]}/" \
    "$SRC/deploy/haproxy.cfg" >"$TMP/haproxy.cfg"
  haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
  HA=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$LB_PORT/api/tags" && return 0
    kill -0 "$HA" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
ok=
for _ in 1 2 3; do # the port picked may be taken by someone else meanwhile
  start_haproxy && { ok=1; break; }
  kill "$HA" 2>/dev/null
  wait "$HA" 2>/dev/null
done
[ -n "$ok" ] || { cat "$TMP/haproxy.log"; fail "haproxy did not start"; finish; exit 1; }
LB="http://127.0.0.1:$LB_PORT"
pass "haproxy listens on $LB_PORT"

# finished R MODEL: generation requests replica R (0-2) has finished for MODEL.
finished() {
  curl -s --max-time 10 "http://127.0.0.1:${PORTS[$1]}/metrics" |
    awk -v m="model=\"$2:latest\"" 'index($0, "kvant_requests_finished_total{" m ",") == 1 { s += $2 }
      END { print s + 0 }'
}
# served R: requests replica R has answered (every status).
served() {
  curl -s --max-time 10 "http://127.0.0.1:${PORTS[$1]}/metrics" |
    awk '/^kvant_requests_total\{/ { s += $2 } END { print s + 0 }'
}

# cached R MODEL: prompt tokens replica R took from its prefix cache for MODEL.
cached() {
  curl -s --max-time 10 "http://127.0.0.1:${PORTS[$1]}/metrics" |
    awk -v k="kvant_prompt_tokens_cached_total{model=\"$2:latest\"}" '$1 == k { s += $2 }
      END { print s + 0 }'
}

# ---- one model sticks to one replica ----
# (at least 9 of 10: HAProxy may still count the previous request as running
# on it for a moment, and then the bounded load sends one elsewhere)
for m in kjv genesis; do
  before=($(finished 0 $m) $(finished 1 $m) $(finished 2 $m))
  for i in $(seq 1 10); do
    curl -s --max-time 60 "$LB/api/generate" -d "{\"model\":\"$m\",\"stream\":false,
      \"prompt\":\"In the beginning God created the heaven and the earth. $i\",
      \"options\":{\"num_predict\":4}}" >/dev/null
  done
  got=() home=0
  for r in 0 1 2; do
    got+=($(($(finished $r $m) - ${before[$r]})))
    [ "${got[$r]}" -gt "${got[$home]}" ] && home=$r
  done
  [ "${got[$home]}" -ge 9 ] && [ $((got[0] + got[1] + got[2])) = 10 ] &&
    pass "10 requests for $m, one at a time, went to one replica (${got[*]})" ||
    fail "10 requests for $m went to replicas as ${got[*]}"
  c=$(cached "$home" "$m")
  [ "$c" -gt 0 ] && pass "that replica reused its prefix cache for $m ($c prompt tokens)" ||
    fail "no cached prompt tokens for $m on replica $((home + 1))"
done
before=($(served 0) $(served 1) $(served 2))
for i in $(seq 1 30); do curl -s -o /dev/null --max-time 10 "$LB/api/tags"; done
spread=0
for r in 0 1 2; do
  [ $(($(served $r) - ${before[$r]})) -ge 3 ] && spread=$((spread + 1))
done
[ "$spread" = 3 ] && pass "requests without a model are spread over all three replicas" ||
  fail "30 GET /api/tags reached $spread replicas"

# ---- 200 mixed requests; the busiest replica is killed after 60 ----
python3 "$SRC/tests/integration/lb_load.py" "$LB" 200 8 --models kjv,genesis --timeout 60 \
  --kill-after 60 --replicas "${PORTS[0]}:${PIDS[0]},${PORTS[1]}:${PIDS[1]},${PORTS[2]}:${PIDS[2]}" \
  >"$TMP/load.out" 2>&1
cat "$TMP/load.out"
line=$(grep '^requests=' "$TMP/load.out")
get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
ok=$(get ok) retry=$(get retryable) other=$(get other) hangs=$(get hangs)
[ -n "$line" ] && [ $((ok + retry + other + hangs)) = 200 ] &&
  pass "all 200 requests ended: ok $ok, retryable $retry, other $other, hangs $hangs, max latency $(get max_latency) s" ||
  fail "the load did not account for 200 requests: $(cat "$TMP/load.out")"
[ "$hangs" = 0 ] && pass "no request hung" || fail "$hangs requests hung"
[ "$other" = 0 ] && pass "no request failed uncleanly" || fail "$other requests failed uncleanly"
[ -n "$ok" ] && [ "$ok" -ge 150 ] && pass "most requests succeeded ($ok)" || fail "only $ok succeeded"
killed=$(sed -n 's/.*killed=\([0-9]*\):\([0-9]*\).*/\2/p' <<<"$line")
[ -n "$killed" ] && ! kill -0 "$killed" 2>/dev/null && pass "replica pid $killed is gone" ||
  fail "no replica was killed ('$killed')"

# ---- the two others go on ----
alive=() alive_ports=()
for r in 0 1 2; do
  [ "${PIDS[$r]}" = "$killed" ] && continue
  kill -0 "${PIDS[$r]}" 2>/dev/null && alive+=("$r")
done
[ "${#alive[@]}" = 2 ] && pass "the two other replicas are running" ||
  fail "running replicas: ${alive[*]}"
for r in "${alive[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:${PORTS[$r]}/health")
  [ "$code" = 200 ] && pass "replica $((r + 1)) is healthy" || fail "replica $((r + 1)) /health: $code"
done
python3 "$SRC/tests/integration/lb_load.py" "$LB" 40 4 --models kjv,genesis --timeout 60 \
  >"$TMP/after.out" 2>&1
line=$(grep '^requests=' "$TMP/after.out")
[ "$(get ok)" = 40 ] && pass "after the kill, 40 more requests all succeed" ||
  fail "after the kill: $(cat "$TMP/after.out")"
finish
