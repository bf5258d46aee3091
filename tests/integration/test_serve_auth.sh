#!/usr/bin/env bash
# API keys and the audit log end to end: `kvant keys` and `kvant audit` on the
# command line; a server with keys of every role answering an RBAC matrix (every
# endpoint x no key, a bad key, a revoked key and each role: 401, 403, or the
# endpoint's own answer), in each API's error shape; revocation while it runs;
# the OpenAI npm client with apiKey (when npm can install it); refusing a
# non-loopback --host without keys; audit entries for generate/chat; and
# `audit verify` catching an edited row, a deleted middle row and a deleted last
# row (against the head file) made with the sqlite3 shell.
. "$(dirname "$0")/lib.sh"

OPENAI_VERSION=6.30.1 # as test_serve_clients.sh

DB="$TMP/keys.db"
# ---- the CLI surface ----
expect_rc 0 "keys --help" "$KVANT" keys --help
expect_out "operator" "keys --help names the roles"
expect_rc 2 "keys create without --role is a usage error" "$KVANT" keys create --name a --db "$DB"
expect_rc 2 "an unknown role is a usage error" "$KVANT" keys create --name a --role root --db "$DB"
expect_rc 2 "a key name with a space is refused" "$KVANT" keys create --name "a b" --role user --db "$DB"
expect_rc 2 "a 65-byte key name is refused" "$KVANT" keys create --name "$(printf 'a%.0s' $(seq 65))" --role user --db "$DB"
expect_rc 1 "keys list on a missing database fails" "$KVANT" keys list --db "$TMP/none.db"
expect_out "$TMP/none.db" "the missing database is named"

declare -A KEY
for role in viewer user operator admin; do
  KEY[$role]=$("$KVANT" keys create --name "$role-k" --role "$role" --db "$DB" 2>/dev/null)
  if [[ "${KEY[$role]}" =~ ^kv-[A-Za-z0-9_-]{43}$ ]]; then pass "a $role key: kv- and 256 bits of base64url"
  else fail "$role key looks wrong: '${KEY[$role]}'"; fi
done
REVOKED=$("$KVANT" keys create --name gone --role admin --db "$DB" 2>/dev/null)
expect_rc 0 "keys revoke" "$KVANT" keys revoke gone --db "$DB"
expect_rc 1 "revoking it again fails" "$KVANT" keys revoke gone --db "$DB"
expect_rc 1 "a taken name is refused" "$KVANT" keys create --name user-k --role user --db "$DB"
expect_rc 0 "keys list" "$KVANT" keys list --db "$DB"
expect_out "operator-k" "keys list names the keys"
expect_out "revoked" "keys list shows the revoked one"
if sqlite3 "$DB" ".dump keys" | grep -qF -- "${KEY[user]}"; then fail "a key's text is in the database"
else pass "the database keeps no key text"; fi
[ "$(stat -c %a "$DB")" = 600 ] && pass "the database is created 0600" || fail "database mode $(stat -c %a "$DB")"

if [ -z "$SHARED" ] || ! command -v curl >/dev/null || ! command -v sqlite3 >/dev/null; then
  echo "skip: the demo model, curl or sqlite3 is missing"
  finish
  exit 77
fi
demo_gguf

# ---- no keys: loopback only ----
mkdir -p "$KVANT_HOME"
expect_rc 2 "serve --host 0.0.0.0 without keys is refused" \
  "$KVANT" serve --host 0.0.0.0 --port 0 --model "kjv=$TMP/kjv.gguf"
expect_out "insecure-no-auth" "the refusal names --insecure-no-auth"
expect_rc 2 "serve --host :: without keys is refused" \
  "$KVANT" serve --host :: --port 0 --db "$TMP/empty.db" --model "kjv=$TMP/kjv.gguf"

# ---- the RBAC matrix ----
start_server --model "kjv=$TMP/kjv.gguf" --db "$DB" --ctx 256
pass "server with keys listens on 127.0.0.1:$PORT"

# status METHOD PATH BODY KEY: the reply's status; its body in $TMP/body
status() {
  local auth=()
  [ -n "$4" ] && auth=(-H "Authorization: Bearer $4")
  curl -s --max-time 60 -o "$TMP/body" -w '%{http_code}' -X "$1" "${auth[@]}" \
    -H 'Content-Type: application/json' ${3:+--data "$3"} "$BASE$2"
}
G='"model":"kjv","options":{"num_predict":2},"stream":false'
# METHOD PATH NEED BODY; NEED: public viewer user operator admin; the status the
# endpoint gives a key with the right (the operator routes, Ollama's model store, are
# routed but unsupported: 501 naming the feature; the admin ones do not exist: 404)
ENDPOINTS=(
  "GET|/|public||200" "GET|/health|public||200" "GET|/ui|public||200"
  "GET|/api/version|viewer||200" "GET|/api/tags|viewer||200" "GET|/api/ps|viewer||200"
  "POST|/api/show|viewer|{\"model\":\"kjv\"}|200" "GET|/metrics|viewer||200"
  "GET|/v1/models|viewer||200" "GET|/v1/models/kjv:latest|viewer||200"
  "POST|/api/generate|user|{$G,\"prompt\":\"In the\"}|200"
  "POST|/api/chat|user|{$G,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}|200"
  "POST|/api/embed|user|{\"model\":\"kjv\",\"input\":\"light\"}|200"
  "POST|/api/embeddings|user|{\"model\":\"kjv\",\"prompt\":\"light\"}|200"
  "POST|/v1/chat/completions|user|{\"model\":\"kjv\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}|200"
  "POST|/v1/completions|user|{\"model\":\"kjv\",\"max_tokens\":2,\"prompt\":\"In the\"}|200"
  "POST|/v1/embeddings|user|{\"model\":\"kjv\",\"input\":\"light\"}|200"
  "POST|/api/pull|operator|{\"model\":\"x\"}|501" "POST|/api/create|operator|{\"model\":\"x\"}|501"
  "POST|/api/copy|operator|{}|501" "DELETE|/api/delete|operator|{}|501" "POST|/api/push|operator|{}|501"
  "POST|/api/blobs/sha256:$(printf 0%.0s $(seq 64))|operator|x|501"
  "GET|/v2/|viewer||501" "GET|/v2/library/kjv/manifests/latest|viewer||501"
  "POST|/v2/library/kjv/blobs/uploads/|operator||501" "PATCH|/v2/library/kjv/blobs/uploads/ab|operator|x|501"
  "PUT|/v2/library/kjv/blobs/uploads/ab?digest=sha256:$(printf 0%.0s $(seq 64))|operator|x|501"
  "PUT|/v2/library/kjv/manifests/latest|operator|{}|501"
  "GET|/api/keys|admin||404" "GET|/api/audit|admin||404"
)
CREDS=(none bad revoked viewer user operator admin)
rank() { case $1 in public) echo 0 ;; viewer) echo 1 ;; user) echo 2 ;; operator) echo 3 ;; admin) echo 4 ;; *) echo -1 ;; esac; }
n_cells=0 n_ok=0 n_401=0 n_403=0 n_allowed=0
for ep in "${ENDPOINTS[@]}"; do
  IFS='|' read -r method path need body ok <<<"$ep"
  for cred in "${CREDS[@]}"; do
    case $cred in none) key= ;; bad) key="kv-${KEY[user]:3:20}not-a-key" ;; revoked) key=$REVOKED ;; *) key=${KEY[$cred]} ;; esac
    if [ "$need" = public ]; then want=$ok
    elif [ "$(rank "$cred")" -lt 0 ]; then want=401
    elif [ "$(rank "$cred")" -lt "$(rank "$need")" ]; then want=403
    else want=$ok; fi
    got=$(status "$method" "$path" "$body" "$key")
    n_cells=$((n_cells + 1))
    if [ "$got" = "$want" ]; then
      n_ok=$((n_ok + 1))
      case $want in 401) n_401=$((n_401 + 1)) ;; 403) n_403=$((n_403 + 1)) ;; *) n_allowed=$((n_allowed + 1)) ;; esac
    else
      fail "$method $path with $cred key: $got, wanted $want: $(head -c 200 "$TMP/body")"
    fi
  done
done
echo "RBAC matrix: ${#ENDPOINTS[@]} endpoints x ${#CREDS[@]} credentials = $n_cells requests;" \
  "$n_ok as expected ($n_401 x 401, $n_403 x 403, $n_allowed let through)"
[ "$n_ok" -eq "$n_cells" ] && pass "RBAC matrix: all $n_cells cells as expected"

# error shapes
status POST /api/generate "{$G,\"prompt\":\"x\"}" "" >/dev/null
OUT=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; print("ollama-shape" if isinstance(e,str) else "bad")' "$TMP/body")
expect_out "ollama-shape" "a 401 on an Ollama endpoint is {\"error\": \"...\"}"
status POST /v1/chat/completions '{"model":"kjv","messages":[]}' "$REVOKED" >/dev/null
OUT=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; print(e["type"], e["code"], "msg" if e["message"] else "")' "$TMP/body")
expect_out "invalid_request_error invalid_api_key msg" "a 401 on an OpenAI endpoint is {\"error\": {message, type, code}}"
status POST /v1/completions '{"model":"kjv","prompt":"x"}' "${KEY[viewer]}" >/dev/null
OUT=$(cat "$TMP/body")
expect_out '"code":"insufficient_permissions"' "a 403 on an OpenAI endpoint has its code"
expect_out "viewer" "the 403 names the key's role"
OUT=$(status GET /api/tags "" "Basic ${KEY[admin]}"; echo)
expect_out "401" "another scheme than Bearer is a 401"

# revocation takes effect while the server runs
"$KVANT" keys create --name late --role user --db "$DB" >"$TMP/late.key" 2>/dev/null
# (the server rereads keys at most every 0.5 s; a loaded machine gets up to 10 s)
until_status() { # WANT KEYFILE: polls /api/tags with the key until it answers WANT
  for _ in $(seq 1 50); do
    OUT=$(status GET /api/tags "" "$(cat "$2")")
    [ "$OUT" = "$1" ] && return
    sleep 0.2
  done
}
until_status 200 "$TMP/late.key"
expect_out "200" "a key created while the server runs works"
"$KVANT" keys revoke late --db "$DB" 2>/dev/null
until_status 401 "$TMP/late.key"
expect_out "401" "a key revoked while the server runs is refused"

# streamed generation is audited at its end
curl -s --max-time 60 -H "Authorization: Bearer ${KEY[user]}" \
  --data '{"model":"kjv","prompt":"In the","options":{"num_predict":3}}' "$BASE/api/generate" >"$TMP/stream"
grep -q '"done":true' "$TMP/stream" && pass "a streamed generate with a user key" || fail "stream: $(head -c 300 "$TMP/stream")"

# ---- the OpenAI npm client with apiKey ----
CLIENTS=${KV_BUILD_DIR:-$TMP}/node_clients
if command -v npm >/dev/null && npm_install_pinned "$CLIENTS" "openai@$OPENAI_VERSION"; then
  cat >"$CLIENTS/auth_client.mjs" <<'JS'
import OpenAI from "openai";
const [base, key, bad] = process.argv.slice(2);
const ok = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0 });
const r = await ok.chat.completions.create({ model: "kjv", max_tokens: 3,
  messages: [{ role: "user", content: "hi" }] });
console.log("chat-ok", r.choices[0].finish_reason);
try {
  await new OpenAI({ baseURL: base + "/v1", apiKey: bad, maxRetries: 0 }).models.list();
  console.log("bad-key-accepted");
} catch (e) { console.log("bad-key", e.status, e.constructor.name, e.code); }
JS
  OUT=$(timeout 120 node "$CLIENTS/auth_client.mjs" "$BASE" "${KEY[user]}" "$REVOKED" 2>&1)
  expect_out "chat-ok" "the OpenAI SDK with apiKey chats"
  expect_out "bad-key 401 AuthenticationError invalid_api_key" "the OpenAI SDK sees a revoked key as AuthenticationError"
else
  echo "note: npm could not install openai@$OPENAI_VERSION; the SDK check is left out"
fi

# ---- the audit log ----
expect_rc 0 "audit list" "$KVANT" audit list --db "$DB"
expect_out "POST /api/generate" "audit list shows generate"
expect_rc 0 "audit list --key user-k --json" "$KVANT" audit list --db "$DB" --key user-k --json
N_GEN=$(grep -c '"action":"POST /api/generate","model":"kjv","client":"127.0.0.1","status":200' <<<"$OUT")
[ "$N_GEN" -ge 2 ] && pass "generate entries (plain and streamed) with who, model, client, status" || fail "generate entries: $N_GEN"
expect_out '"action":"POST /api/chat"' "chat is audited"
expect_out '"action":"POST /v1/chat/completions"' "OpenAI chat is audited"
grep '"POST /api/generate"' <<<"$OUT" | grep -q '"tokens_out":3' && pass "the streamed entry has its tokens out (3)" || fail "tokens_out 3 missing"
expect_out '"content":null' "prompt text is not logged without --audit-content"
expect_rc 0 "audit list --key - shows refusals" "$KVANT" audit list --db "$DB" --key - --json
expect_out '"status":401' "refused requests are audited with status 401"
expect_rc 0 "audit list --since a future day is empty" "$KVANT" audit list --db "$DB" --since 2999-01-01 --json
[ -z "$OUT" ] && pass "nothing after 2999-01-01" || fail "--since 2999: $OUT"
expect_rc 2 "audit list --since garbage is a usage error" "$KVANT" audit list --db "$DB" --since yesterday
OUT=$(status GET /api/tags "" "${KEY[admin]}")
[ "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE action LIKE '%/api/tags'")" = 0 ] &&
  pass "reads (tags) are not audited" || fail "tags was audited"

kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=

# --audit-content keeps the prompt
start_server --model "kjv=$TMP/kjv.gguf" --db "$DB" --ctx 256 --audit-content
OUT=$(status POST /api/generate "{$G,\"prompt\":\"secret words\"}" "${KEY[user]}")
# fail closed: when the audit log cannot be written, the request fails
rm -f "$DB.audit-head"; mkdir "$DB.audit-head"
OUT=$(status POST /api/generate "{$G,\"prompt\":\"x\"}" "${KEY[user]}"; cat "$TMP/body")
expect_out "500" "a generate whose audit entry cannot be written fails with 500"
expect_out "cannot write the audit log" "and says why"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE content LIKE '%\"x\"%'")" = 0 ] &&
  pass "the failed request left no entry" || fail "the failed request's entry was kept"
rmdir "$DB.audit-head"
OUT=$(status POST /api/chat "{$G,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" "${KEY[user]}")
expect_out "200" "with the log writable again, requests succeed"
kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=
OUT=$("$KVANT" audit export --db "$DB" | grep "secret words")
expect_out '"action":"POST /api/generate"' "--audit-content logs the prompt"
[ "$(stat -c %a "$DB.audit-head")" = 600 ] && pass "the head file is 0600" || fail "head file mode"

expect_rc 0 "audit verify on the untouched log" "$KVANT" audit verify --db "$DB"
N=$(sqlite3 "$DB" "SELECT count(*) FROM audit")
expect_out "$N entries verified" "audit verify counts every entry ($N)"
expect_rc 0 "audit export" "$KVANT" audit export --db "$DB"
[ "$(wc -l <<<"$OUT")" = "$N" ] && pass "export writes $N JSON lines" || fail "export lines: $(wc -l <<<"$OUT")"

cp "$DB" "$TMP/good.db"; cp "$DB.audit-head" "$TMP/good.head"
restore() { cp "$TMP/good.db" "$DB"; cp "$TMP/good.head" "$DB.audit-head"; }
sqlite3 "$DB" "UPDATE audit SET model = 'other' WHERE id = 3"
expect_rc 1 "audit verify fails after one field is edited" "$KVANT" audit verify --db "$DB"
expect_out "audit entry 3:" "it names the edited entry"
restore
sqlite3 "$DB" "UPDATE audit SET status = 200 WHERE id = 2"
expect_rc 1 "audit verify fails after a status is edited" "$KVANT" audit verify --db "$DB"
expect_out "audit entry 2:" "it names that entry"
restore
sqlite3 "$DB" "DELETE FROM audit WHERE id = 4"
expect_rc 1 "audit verify fails after a middle row is deleted" "$KVANT" audit verify --db "$DB"
expect_out "audit entry 5:" "it names the entry after the gap"
restore
sqlite3 "$DB" "DELETE FROM audit WHERE id = (SELECT max(id) FROM audit)"
expect_rc 1 "audit verify fails after the last row is deleted" "$KVANT" audit verify --db "$DB"
expect_out "audit entry $N: missing; the head file says the log ends at entry $N" "the head file catches it"
restore
expect_rc 0 "the restored log verifies again" "$KVANT" audit verify --db "$DB"
finish
