#!/usr/bin/env bash
# kvant serve's graceful stop on the demo model:
#  - SIGTERM during a streamed generation: new connections are refused, the
#    stream runs to its end (all its tokens), then the server exits 0;
#  - --shutdown-timeout 1: Ollama and OpenAI streams still running at the
#    deadline end with an error line ({"error":...} / an SSE error event and
#    [DONE]) instead of being cut, and the server exits 0;
#  - a second SIGTERM ends the running streams at once (with the error line)
#    although the timeout is long, and the server exits 0.
. "$(dirname "$0")/lib.sh"

require_demo_model
require_cmds "curl or python3 is missing (tools/install-deps.sh installs them)" curl python3
demo_gguf

# stream NAME PATH BODY: a streamed request in the background, output in $TMP/NAME.
STREAMS=()
stream() {
  curl -sN --max-time 180 -X POST "$BASE$2" -d "$3" >"$TMP/$1" 2>/dev/null &
  STREAMS+=($!)
  STREAM="${STREAMS[*]}"
}
# started NAME: waits (up to 60 s) until NAME has its first line.
started() {
  for _ in $(seq 1 600); do
    [ -s "$TMP/$1" ] && return 0
    sleep 0.1
  done
  return 1
}
# stop_server: waits (up to 60 s) for the server to exit; its status in RC, seconds in WAITED.
stop_server() {
  local t0=$SECONDS
  for _ in $(seq 1 600); do
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
  wait "$SERVER"
  RC=$?
  WAITED=$((SECONDS - t0))
  SERVER=
}
finish_streams() {
  for p in "${STREAMS[@]}"; do wait "$p"; done
  STREAMS=()
  STREAM=
}
last_line() { tail -n 1 "$TMP/$1"; }
GEN() { echo "{\"model\":\"kjv\",\"prompt\":\"In the beginning\",\"options\":{\"num_predict\":$1}}"; }
OAI() { echo "{\"model\":\"kjv\",\"stream\":true,\"max_tokens\":$1,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"; }

# ---- 1. SIGTERM lets a running stream finish ----
start_server --model "kjv=$TMP/kjv.gguf" --ctx 4096 --parallel 2 --shutdown-timeout 120
stream s1 /api/generate "$(GEN 1000)"
started s1 || fail "the stream started"
kill -TERM "$SERVER"
sleep 0.3
curl -s --max-time 5 "$BASE/api/version" >/dev/null
rc=$?
if [ "$rc" -eq 7 ]; then pass "a new connection is refused while draining"; else fail "a new connection is refused while draining (curl exit $rc)"; fi
stop_server
finish_streams
if [ "$RC" -eq 0 ]; then pass "exit 0 after draining"; else fail "exit 0 after draining (exit $RC)"; fi
OUT=$(last_line s1)
expect_out '"done":true' "the stream ended normally"
expect_out '"eval_count":1000' "the stream got all 1000 tokens"
OUT=$(cat "$TMP/serve.err")
expect_out "waiting up to 120 s for 1 running request" "the drain is logged"

# ---- 2. the shutdown timeout ends streams with an error line ----
start_server --model "kjv=$TMP/kjv.gguf" --ctx 4096 --parallel 2 --shutdown-timeout 1
stream s2 /api/generate "$(GEN 100000)"
stream s3 /v1/chat/completions "$(OAI 100000)"
started s2 && started s3 || fail "the streams started"
kill -TERM "$SERVER"
stop_server
finish_streams
if [ "$RC" -eq 0 ]; then pass "exit 0 after the shutdown timeout"; else fail "exit 0 after the shutdown timeout (exit $RC)"; fi
if [ "$WAITED" -lt 20 ]; then pass "stopped after the 1 s timeout (${WAITED} s)"; else fail "stopped after the 1 s timeout (${WAITED} s)"; fi
OUT=$(last_line s2)
expect_out '{"error":"server is shutting down"}' "the Ollama stream ends with an error line"
OUT=$(tail -n 4 "$TMP/s3")
expect_out 'data: {"error":{"message":"server is shutting down"' "the OpenAI stream ends with an error event"
expect_out 'data: [DONE]' "and [DONE]"
OUT=$(cat "$TMP/serve.err")
expect_out "shutdown timeout: ending 2 request(s)" "the timeout is logged"

# ---- 3. a second SIGTERM stops at once ----
start_server --model "kjv=$TMP/kjv.gguf" --ctx 4096 --shutdown-timeout 600
stream s4 /api/generate "$(GEN 100000)"
started s4 || fail "the stream started"
kill -TERM "$SERVER"
sleep 0.5
kill -TERM "$SERVER"
stop_server
finish_streams
if [ "$RC" -eq 0 ]; then pass "exit 0 after a second SIGTERM"; else fail "exit 0 after a second SIGTERM (exit $RC)"; fi
if [ "$WAITED" -lt 20 ]; then pass "the second SIGTERM stops at once (${WAITED} s)"; else fail "the second SIGTERM stops at once (${WAITED} s)"; fi
OUT=$(last_line s4)
expect_out '{"error":"server is shutting down"}' "the stream ends with an error line"
OUT=$(cat "$TMP/serve.err")
expect_out "SIGTERM again" "the second signal is logged"

finish
