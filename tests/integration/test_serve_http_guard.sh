#!/usr/bin/env bash
# kvant serve's HTTP guard on 127.0.0.1, against the demo model:
#  - cross-site access: a Host that is not this machine's (DNS rebinding) and a
#    cross-origin text/plain POST from a web page get 403 and start nothing;
#    allowed origins (Ollama's defaults, KVANT_ORIGINS, --origins) get CORS
#    headers and preflights; the /ui page's own requests (same origin) work;
#  - request smuggling: two Content-Length headers, Content-Length with
#    Transfer-Encoding, a malformed Content-Length and unknown codings are
#    refused and the connection closed;
#  - slow clients: 2,000 connections from 127.0.0.2-9 sending headers a byte at
#    a time do not keep a normal request from being answered, and each is closed
#    once its header timeout passes; --max-conn-per-ip refuses the excess; a
#    body sent a byte at a time is closed once its time is up too.
# Raw-socket clients: http_raw.py.
. "$(dirname "$0")/lib.sh"

RAW="$SRC/tests/integration/http_raw.py"

# ---- the CLI surface ----
expect_rc 0 "serve --help" "$KVANT" serve --help
for opt in --origins --allowed-hosts --header-timeout --max-connections --max-conn-per-ip \
    --shutdown-timeout; do
  expect_out "$opt" "serve --help lists $opt"
done
expect_rc 2 "--header-timeout 0 is a usage error" "$KVANT" serve --header-timeout 0 --model a=b.gguf
expect_rc 2 "--max-connections 0 is a usage error" "$KVANT" serve --max-connections 0 --model a=b.gguf
expect_rc 2 "--max-conn-per-ip -1 is a usage error" "$KVANT" serve --max-conn-per-ip -1 --model a=b.gguf
expect_rc 1 "--origins with a control byte fails" "$KVANT" serve --port 0 --origins $'a\x01' \
  --models "$TMP"
expect_out "--origins" "the failure names --origins"

require_demo_model
require_cmds "curl or python3 is missing (tools/install-deps.sh installs them)" curl python3
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

demo_gguf
KVANT_ORIGINS="https://app.example.com" start_server --model "kjv=$TMP/kjv.gguf" --ctx 256 \
  --origins 'chrome-extension://*' --header-timeout 5
HOSTPORT="127.0.0.1:$PORT"

# code ARGS...: curl's HTTP status for ARGS; the headers go to $TMP/head, the body to $TMP/body.
code() { curl -s -D "$TMP/head" -o "$TMP/body" -w '%{http_code}' --max-time 60 "$@"; }
# expect_code WANT DESC ARGS...
expect_code() {
  local want=$1 desc=$2 got; shift 2
  got=$(code "$@")
  if [ "$got" = "$want" ]; then pass "$desc"; else fail "$desc (HTTP $got, wanted $want: $(head -c 300 "$TMP/body"))"; fi
}
has_head() { if grep -qi -- "$1" "$TMP/head"; then pass "$2"; else fail "$2 (no '$1' in: $(tr -d '\r' <"$TMP/head"))"; fi; }
has_body() { if grep -qF -- "$1" "$TMP/body"; then pass "$2"; else fail "$2 (no '$1' in: $(head -c 300 "$TMP/body"))"; fi; }
GEN='{"model":"kjv","prompt":"In the beginning","stream":false,"options":{"num_predict":4}}'

# ---- Host: DNS rebinding ----
expect_code 200 "Host 127.0.0.1:PORT" "$BASE/api/version"
expect_code 200 "Host localhost:PORT" -H "Host: localhost:$PORT" "$BASE/api/version"
expect_code 200 "Host [::1]:PORT" -H "Host: [::1]:$PORT" "$BASE/api/version"
expect_code 200 "Host sub.localhost" -H "Host: kvant.localhost:$PORT" "$BASE/api/version"
expect_code 403 "Host evil.example.com is refused" -H "Host: evil.example.com:$PORT" "$BASE/api/version"
has_body '"error"' "the refusal is a JSON error"
has_body "evil.example.com" "the refusal names the host"
expect_code 403 "a rebinding POST (Host attacker.test) starts no generation" \
  -H "Host: attacker.test:$PORT" -X POST -d "$GEN" "$BASE/api/generate"
expect_code 400 "a malformed Host is a 400" -H "Host: a@b:$PORT" "$BASE/api/version"

# ---- Origin: cross-site requests from web pages ----
expect_code 403 "a cross-origin text/plain POST is refused" -H "Origin: https://evil.example.com" \
  -H "Content-Type: text/plain" -X POST -d "$GEN" "$BASE/api/generate"
has_body "not allowed" "the refusal says why"
expect_code 403 "an OpenAI cross-origin POST is refused" -H "Origin: http://localhost.evil.com" \
  -H "Content-Type: text/plain" -X POST -d '{"model":"kjv","messages":[]}' "$BASE/v1/chat/completions"
has_body '"message"' "the OpenAI refusal has OpenAI's error shape"
OUT=$(curl -s --max-time 30 "$BASE/api/ps")
expect_out '"models":[]' "no model was loaded by the refused requests"
expect_code 200 "a request from http://localhost:5173 (default origin) is served" \
  -H "Origin: http://localhost:5173" -X POST -d "$GEN" "$BASE/api/generate"
has_head "Access-Control-Allow-Origin: http://localhost:5173" "its reply echoes the origin"
has_head "Vary: Origin" "its reply varies by origin"
expect_code 200 "KVANT_ORIGINS adds https://app.example.com" -H "Origin: https://app.example.com" \
  "$BASE/api/tags"
has_head "Access-Control-Allow-Origin: https://app.example.com" "KVANT_ORIGINS origin echoed"
expect_code 200 "--origins adds chrome-extension://*" -H "Origin: chrome-extension://abcdef" \
  "$BASE/api/tags"
expect_code 403 "origin 'null' is refused" -H "Origin: null" "$BASE/api/tags"

# CORS preflight
expect_code 204 "a preflight from an allowed origin" -X OPTIONS -H "Origin: http://127.0.0.1:3000" \
  -H "Access-Control-Request-Method: POST" \
  -H "Access-Control-Request-Headers: authorization, content-type, x-stainless-os" \
  "$BASE/v1/chat/completions"
has_head "Access-Control-Allow-Origin: http://127.0.0.1:3000" "the preflight echoes the origin"
has_head "Access-Control-Allow-Methods:.*POST" "the preflight allows POST"
has_head "Access-Control-Allow-Headers:.*Authorization.*Content-Type" \
  "the preflight allows Authorization and Content-Type"
has_head "Access-Control-Allow-Headers:.*x-stainless-os" "the preflight allows the asked headers"
expect_code 403 "a preflight from another site is refused" -X OPTIONS \
  -H "Origin: https://evil.example.com" -H "Access-Control-Request-Method: POST" "$BASE/api/chat"
has_body '"error"' "the preflight refusal is a JSON error"

# the web chat page: same origin, whatever name it was opened under
expect_code 200 "GET /ui" "$BASE/ui"
has_body "<title>kvant chat</title>" "the page is served"
CHAT='{"model":"kjv","messages":[{"role":"user","content":"hi"}],"stream":false,"options":{"num_predict":3}}'
expect_code 200 "the page's own POST /api/chat (Origin http://127.0.0.1:PORT)" \
  -H "Origin: http://$HOSTPORT" -H "Content-Type: application/json" -X POST -d "$CHAT" "$BASE/api/chat"
has_body '"done":true' "the chat reply arrives"
expect_code 200 "the page opened as http://localhost:PORT" -H "Host: localhost:$PORT" \
  -H "Origin: http://localhost:$PORT" -X POST -d "$CHAT" "$BASE/api/chat"

# ---- request smuggling ----
# raw REQUEST DESC WANT: sends REQUEST, expects status WANT and the connection closed.
raw() {
  local req=$1 desc=$2 want=$3
  OUT=$(timeout 30 python3 "$RAW" send "$PORT" "$req" 2>&1)
  if grep -q "^HTTP/1.1 $want " <<<"$OUT" && grep -q '^\[closed\]' <<<"$OUT"; then
    pass "$desc"
  else
    fail "$desc (wanted $want and a closed connection): $(head -c 400 <<<"$OUT")"
  fi
}
SHOW='{"model":"kjv"}'
raw "POST /api/show HTTP/1.1\r\nHost: $HOSTPORT\r\nContent-Length: 15\r\nContent-Length: 50\r\n\r\n$SHOW" \
  "two different Content-Length headers: 400" 400
raw "POST /api/show HTTP/1.1\r\nHost: $HOSTPORT\r\nContent-Length: 15\r\nContent-Length: 15\r\n\r\n$SHOW" \
  "two equal Content-Length headers: 400" 400
raw "POST /api/show HTTP/1.1\r\nHost: $HOSTPORT\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/tags HTTP/1.1\r\nHost: $HOSTPORT\r\n\r\n" \
  "Content-Length with Transfer-Encoding: 400" 400
raw "POST /api/show HTTP/1.1\r\nHost: $HOSTPORT\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n" \
  "Transfer-Encoding with Content-Length: 400" 400
raw "POST /api/show HTTP/1.1\r\nHost: $HOSTPORT\r\nContent-Length: 15x\r\n\r\n$SHOW" \
  "a malformed Content-Length: 400" 400
raw "POST /api/show HTTP/1.1\r\nHost: $HOSTPORT\r\nContent-Length: -1\r\n\r\n$SHOW" \
  "a negative Content-Length: 400" 400
raw "POST /api/show HTTP/1.1\r\nHost: $HOSTPORT\r\nTransfer-Encoding: gzip\r\n\r\n$SHOW" \
  "Transfer-Encoding gzip: 501" 501
raw "GET /api/version HTTP/1.1\r\n\r\n" "HTTP/1.1 without Host: 400" 400
raw "GET /api/version HTTP/1.1\r\nHost: $HOSTPORT\r\nHost: evil.example.com\r\n\r\n" \
  "two Host headers: 400" 400
OUT=$(timeout 30 python3 "$RAW" send "$PORT" \
  "POST /api/show HTTP/1.1\r\nHost: $HOSTPORT\r\nTransfer-Encoding: chunked\r\n\r\nf\r\n$SHOW\r\n0\r\n\r\n")
expect_out '"model_info"' "a plain chunked POST is still served"

# ---- slow clients ----
# 2,000 connections over eight loopback addresses (250 each, under the default
# per-address limit of 256), each sending headers a byte a second and reopened
# when closed; meanwhile a normal request from 127.0.0.1.
OUT=$(timeout 120 python3 "$RAW" slow "$PORT" --conns 2000 --sources 127.0.0.2-9 --drip 1 \
  --seconds 40 --header-timeout 5 2>&1)
echo "  slow clients: $OUT"
ATTACK=$OUT
check_json() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if ($1) else 1)" "$ATTACK"; }
if check_json 'd["normal_s"] is not None and d["normal_s"] < 20'; then
  pass "a normal request is answered during the attack ($(python3 -c "import json,sys; print(json.loads(sys.argv[1])['normal_s'])" "$ATTACK") s)"
else
  fail "a normal request is answered during the attack"
fi
if check_json 'd["conns_open"] >= 1900'; then pass "the attack held its connections"; else fail "the attack held its connections"; fi
if check_json 'd["closed_by_server"] >= d["conns_open"] and d["outlived"] == 0'; then
  pass "every slow connection was closed after its header timeout"
else
  fail "every slow connection was closed after its header timeout"
fi
OUT=$(curl -s --max-time 30 "$BASE/api/version")
expect_out '"version"' "the server answers after the attack"
grep -q "request headers took over 5 s" "$TMP/serve.err" && pass "the closings are logged" ||
  fail "the closings are logged"

# per-address limit and header timeout, on their own
kill "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=
start_server --model "kjv=$TMP/kjv.gguf" --ctx 256 --max-conn-per-ip 8 --header-timeout 2
ATTACK=$(timeout 60 python3 "$RAW" slow "$PORT" --conns 20 --sources 127.0.0.10 --drip 0.2 \
  --seconds 15 --header-timeout 2 --reopen 0 2>&1)
echo "  per address: $ATTACK"
if check_json 'd["refused_at_once"] == 12'; then pass "--max-conn-per-ip 8 refuses 12 of 20"; else fail "--max-conn-per-ip 8 refuses 12 of 20"; fi
if check_json 'd["closed_by_server"] == 20 and d["outlived"] == 0 and d["held_max_s"] >= 2'; then
  pass "the 8 slow ones are closed once their 2 s pass, not before"
else
  fail "the 8 slow ones are closed once their 2 s pass, not before"
fi
if check_json 'd["normal_s"] is not None'; then pass "127.0.0.1 is served meanwhile"; else fail "127.0.0.1 is served meanwhile"; fi
# a slow body: complete headers, then 128 KiB a byte at a time; due within 2 s + 2 s
ATTACK=$(timeout 60 python3 "$RAW" slow "$PORT" --conns 4 --sources 127.0.0.11 --drip 0.2 \
  --seconds 15 --header-timeout 4 --reopen 0 --body 131072 2>&1)
echo "  slow body: $ATTACK"
if check_json 'd["closed_by_server"] == 4 and d["outlived"] == 0 and d["held_max_s"] >= 4'; then
  pass "slow bodies are closed once 2 s + 1 s per 64 KiB pass, not before"
else
  fail "slow bodies are closed once 2 s + 1 s per 64 KiB pass, not before"
fi

finish
