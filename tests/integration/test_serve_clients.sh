#!/usr/bin/env bash
# kvant serve end to end: the CLI's options and errors, then a server on
# 127.0.0.1 (port chosen by the server) over the demo model converted to Q8_0,
# driven with curl and with the official npm clients `ollama` and `openai`
# (serve_clients.mjs): every endpoint streamed and not, greedy agreement across
# APIs, repeats and `kvant run`, 16 concurrent streams batched together, a clean
# SIGTERM.
# The clients are installed once into $KV_BUILD_DIR/node_clients.
. "$(dirname "$0")/lib.sh"

OPENAI_VERSION=6.30.1 # the newest line that runs on node 20
OLLAMA_VERSION=0.6.4

# ---- the CLI surface (no model needed) ----
expect_rc 0 "serve --help" "$KVANT" serve --help
expect_out "--keep-alive" "serve --help lists its options"
expect_rc 1 "serve without models fails" "$KVANT" serve --port 0
expect_out "no models" "serve without models says so"
expect_rc 2 "serve --port abc is a usage error" "$KVANT" serve --port abc
expect_rc 2 "serve --model without NAME= is a usage error" "$KVANT" serve --model x.gguf
expect_rc 1 "serve --model with a missing file fails" "$KVANT" serve --model a=/nonexistent.gguf
expect_out "/nonexistent.gguf" "the missing file is named"

require_demo_model
require_cmds "node, npm or curl is missing (tools/install-deps.sh installs them)" node npm curl

# ---- the npm clients ----
CLIENTS=${KV_BUILD_DIR:-$TMP}/node_clients
npm_install_pinned "$CLIENTS" "openai@$OPENAI_VERSION" "ollama@$OLLAMA_VERSION" ||
  skip "npm could not install the clients (is the registry reachable?)"
cp "$SRC/tests/integration/serve_clients.mjs" "$CLIENTS/serve_clients.mjs"

# ---- the server ----
demo_gguf
start_server --model "kjv=$TMP/kjv.gguf" --parallel 16 --ctx 512
pass "server listens on 127.0.0.1:$PORT"

get() { curl -s --max-time 30 "$@"; }
OUT=$(get "$BASE/")
expect_out "kvant is running" "GET /"
OUT=$(get "$BASE/health")
expect_out '"status":"ok"' "GET /health"
OUT=$(get "$BASE/ui")
expect_out "<title>kvant chat</title>" "GET /ui serves the chat page"
OUT=$(get -i -X POST "$BASE/api/generate" -d '{"model":"kjv","prompt":')
expect_out "400 Bad Request" "malformed JSON is a 400"
expect_out "line 1, column" "the 400 names line and column"
OUT=$(get -i -X POST "$BASE/api/chat" -d '{"model":"kjv","messages":[{"role":"user"}],"options":{"top_k":"many"}}')
expect_out "options.top_k" "a bad option is a 400 naming it"
OUT=$(get -i "$BASE/v1/models/none")
expect_out "404 Not Found" "an unknown model is a 404"

OUT=$(KV_BASE="$BASE" KV_MODEL_PATH="$TMP/kjv.gguf" KVANT="$KVANT" \
      timeout 600 node "$CLIENTS/serve_clients.mjs" 2>&1)
rc=$?
echo "$OUT" | sed 's/^/  client: /'
if [ "$rc" -eq 0 ]; then pass "npm clients: $(echo "$OUT" | grep -c '^ok:') checks"; else fail "npm clients (exit $rc)"; fi

OUT=$(get "$BASE/metrics")
expect_out "kvant_requests_total{status=\"200\"}" "metrics count requests by status"
expect_out "kvant_generated_tokens_total" "metrics count generated tokens"

# ---- a clean stop ----
kill -TERM "$SERVER"
for _ in $(seq 1 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SERVER" 2>/dev/null; then
  fail "server still running 10 s after SIGTERM"
else
  wait "$SERVER"
  rc=$?
  [ "$rc" -eq 0 ] && pass "SIGTERM stops the server (exit 0)" || fail "server exit $rc after SIGTERM"
fi
grep -q "shutting down" "$TMP/serve.err" && pass "the server says it is shutting down" \
  || fail "no shutdown line: $(cat "$TMP/serve.err")"
finish
