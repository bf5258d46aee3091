#!/usr/bin/env bash
# kvant ps: the models a running server has loaded (GET /api/ps), found by
# --host, $KVANT_HOST or $OLLAMA_HOST (Ollama's [http://]HOST[:PORT]); a keyed
# server with --api-key / $KVANT_API_KEY (401 without); clear errors for no
# server, a server that does not speak HTTP, https and bad addresses.
. "$(dirname "$0")/lib.sh"
require_demo_model
require_cmds "curl or python3 is missing" curl python3
demo_gguf

DB="$TMP/keys.db"
VIEW=$("$KVANT" keys create --name v --role viewer --db "$DB" 2>/dev/null)
USER=$("$KVANT" keys create --name u --role user --db "$DB" 2>/dev/null)
start_server --model "kjv=$TMP/kjv.gguf" --db "$DB" --ctx 256 --keep-alive 10m

expect_rc 1 "ps without a key against a keyed server fails" "$KVANT" ps --host "127.0.0.1:$PORT"
expect_out "answered 401" "... naming the server's 401"
expect_rc 0 "ps with a viewer key" "$KVANT" ps --host "127.0.0.1:$PORT" --api-key "$VIEW"
expect_out "NAME" "ps prints its header"
grep -q "^kjv" <<<"$OUT" && fail "ps lists kjv before anything loaded it" || pass "... and no model before one is loaded"

G=$(curl -s --max-time 60 -H "Authorization: Bearer $USER" "$BASE/api/generate" \
  -d '{"model":"kjv","prompt":"In the beginning","stream":false,"options":{"num_predict":2}}')
grep -q '"done":true' <<<"$G" && pass "a generate loads kjv" || fail "generate: $G"

export KVANT_API_KEY="$VIEW"
OLLAMA_HOST="http://127.0.0.1:$PORT" expect_rc 0 "ps finds the server by OLLAMA_HOST=http://HOST:PORT" "$KVANT" ps
grep -Eq '^kjv:latest +[0-9a-f]{12} +[0-9.]+ [KMG]?B +100% CPU +[0-9]+ minutes? from now' <<<"$OUT" \
  && pass "... and lists kjv:latest: ID, size, 100% CPU, until (keep-alive 10m)" || fail "ps: $OUT"
KVANT_HOST="127.0.0.1:$PORT" OLLAMA_HOST="127.0.0.1:1" expect_rc 0 "KVANT_HOST comes before OLLAMA_HOST" "$KVANT" ps
expect_out "kjv:latest" "... the same list"
ID=$(curl -s -H "Authorization: Bearer $VIEW" "$BASE/api/ps" | python3 -c 'import json,sys; print(json.load(sys.stdin)["models"][0]["digest"][:12])')
expect_out "$ID" "ps's ID is /api/ps's digest, 12 digits"
unset KVANT_API_KEY

# ---- bad addresses and servers ----
FREE=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_rc 1 "ps with no server there fails" "$KVANT" ps --host "127.0.0.1:$FREE"
expect_out "cannot reach a server at 127.0.0.1:$FREE" "... naming the address"
expect_rc 2 "https is refused" "$KVANT" ps --host "https://127.0.0.1:$PORT"
expect_rc 2 "a port that is no number is refused" "$KVANT" ps --host "127.0.0.1:abc"
expect_rc 2 "an unknown option is a usage error" "$KVANT" ps --bogus
python3 - "$TMP/junk.port" <<'PY' &
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
for reply in (b"garbage\r\n", b"HTTP/1.1 200 OK\r\n\r\n{\"models\":7}", b"HTTP/1.1 500 x\r\n\r\n{\"error\":\"boom\"}"):
    c, _ = s.accept(); c.recv(4096); c.sendall(reply); c.close()
PY
JUNK=$!
for _ in $(seq 50); do [ -s "$TMP/junk.port" ] && break; sleep 0.1; done
JP=$(cat "$TMP/junk.port")
expect_rc 1 "a server that does not speak HTTP" "$KVANT" ps --host "127.0.0.1:$JP"
expect_out "did not answer in HTTP" "... is named so"
expect_rc 1 "a 200 without a model list" "$KVANT" ps --host "127.0.0.1:$JP"
expect_out "without a model list" "... is named so"
expect_rc 1 "a 500 with an error" "$KVANT" ps --host "127.0.0.1:$JP"
expect_out "answered 500: boom" "... gives the server's error"
wait "$JUNK"
OUT=$(curl -s --max-time 30 -H "Authorization: Bearer $VIEW" "$BASE/api/version")
expect_out '"version"' "the server still answers"
finish
