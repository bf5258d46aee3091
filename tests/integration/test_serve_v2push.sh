#!/usr/bin/env bash
# kvant serve --store as a registry one pushes into: `kvant push --insecure
# HOST:PORT/library/x:v1` (chunked and whole) into a kvant serve, then `kvant
# pull` from it into another store, byte-identical, and the pushed model served
# at once; keys: viewer and user 403, operator 202, none/bad/revoked 401;
# POST /api/blobs bodies streamed to disk past --max-body; hostile uploads (a
# wrong digest, over --max-blob, a client gone mid-body, no digest, unknown
# upload, bad repository, a manifest naming a missing blob) leave no temporary
# file and the server answers afterwards.
. "$(dirname "$0")/lib.sh"
require_demo_model
require_cmds "curl or python3 is missing" curl python3
demo_gguf

A="$TMP/a" B="$TMP/b" C="$TMP/c"
printf 'FROM %s\nSYSTEM terse\nPARAMETER temperature 0.5\n' "$TMP/kjv.gguf" >"$TMP/Modelfile"
KVANT_MODELS="$B" "$KVANT" create kjv:v1 -f "$TMP/Modelfile" >/dev/null || fail "create in B"
GG=$(sha256sum "$TMP/kjv.gguf" | cut -d' ' -f1)
temps() { find "$A" -name '.upload-*' 2>/dev/null | wc -l; }
same_store() { # same_store X Y: every blob of X is in Y with the same bytes
  local f n=0
  for f in "$1"/blobs/sha256-*; do cmp -s "$f" "$2/blobs/$(basename "$f")" || return 1; n=$((n + 1)); done
  [ "$n" -ge 3 ]
}

# ---- no keys, loopback: push, pull back ----
KVANT_MODELS="$A" start_server --store --max-body 65536 --max-blob 20000000
H="127.0.0.1:$PORT"
KVANT_MODELS="$B" "$KVANT" cp kjv:v1 "$H/library/x:v1" >/dev/null
KVANT_MODELS="$B" KVANT_OCI_CHUNK=1000000 expect_rc 0 "kvant push --insecure into kvant serve (1 MB chunks: PATCH x7, PUT)" \
  "$KVANT" push --insecure "$H/library/x:v1"
[ -f "$A/manifests/registry.ollama.ai/library/x/v1" ] && cmp -s "$A/blobs/sha256-$GG" "$TMP/kjv.gguf" \
  && pass "the server's store has the manifest and the GGUF blob, byte-identical" || fail "store A: $(find "$A")"
[ "$(temps)" = 0 ] && pass "no upload file is left" || fail "upload files left: $(find "$A" -name '.upload-*')"
OUT=$(curl -s --max-time 30 "$BASE/api/tags")
expect_out '"x:v1"' "the pushed model is served at once (/api/tags)"
OUT=$(curl -s --max-time 60 "$BASE/api/generate" -d '{"model":"x:v1","prompt":"In the beginning","stream":false,"options":{"num_predict":2}}')
expect_out '"done":true' "... and generates"
expect_rc 0 "kvant pull from it into a third store (--store)" "$KVANT" pull --insecure "$H/library/x:v1" --store "$C"
expect_rc 2 "pull refuses --ollama-store (it writes)" "$KVANT" pull --insecure "$H/library/x:v1" --ollama-store "$C"
same_store "$B" "$C" && pass "the pulled blobs are byte-identical to the pushed ones" || fail "blobs differ B/C"
cmp -s "$B/manifests/registry.ollama.ai/library/kjv/v1" "$C/manifests/$H/library/x/v1" \
  && pass "... and so is the manifest" || fail "manifests differ"
KVANT_MODELS="$B" "$KVANT" cp kjv:v1 "$H/team/y:v2" >/dev/null
expect_rc 0 "a whole-blob push (one PUT) to a namespace, the store by --ollama-store (read only)" \
  "$KVANT" push --insecure "$H/team/y:v2" --ollama-store "$B"
[ -f "$A/manifests/registry.ollama.ai/team/y/v2" ] && pass "stored as team/y:v2" || fail "no team/y/v2"
KVANT_MODELS="$B" expect_rc 0 "pushing again: every blob already there" "$KVANT" push --insecure "$H/library/x:v1"
expect_out "already there" "... says so"

# ---- POST /api/blobs: streamed to disk, past --max-body (65536) ----
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X POST --data-binary "@$TMP/kjv.gguf" "$BASE/api/blobs/sha256:$GG")
[ "$CODE" = 200 ] && pass "/api/blobs of a blob already there: 200" || fail "/api/blobs existing: $CODE"
head -c 3000000 /dev/urandom >"$TMP/rand"
RD=$(sha256sum "$TMP/rand" | cut -d' ' -f1)
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X POST --data-binary "@$TMP/rand" "$BASE/api/blobs/sha256:$RD")
[ "$CODE" = 201 ] && cmp -s "$TMP/rand" "$A/blobs/sha256-$RD" \
  && pass "a 3 MB /api/blobs upload past --max-body 65536 is stored (201, byte-identical)" || fail "/api/blobs 3 MB: $CODE"
WRONG=$(printf 'x' | sha256sum | cut -d' ' -f1)
OUT=$(curl -s -w ' %{http_code}' --max-time 60 -X POST --data-binary "@$TMP/rand" "$BASE/api/blobs/sha256:$WRONG")
expect_out "400" "/api/blobs with a wrong digest: 400"
expect_out "sha256:$RD" "... naming the digest of the bytes received"
[ ! -e "$A/blobs/sha256-$WRONG" ] && [ "$(temps)" = 0 ] && pass "... nothing stored, no upload file left" || fail "after a wrong /api/blobs digest"

# ---- hostile /v2/ uploads ----
loc() { sed -n 's/^[Ll]ocation: *//p' "$TMP/h" | tr -d '\r'; }
open_upload() { curl -s -D "$TMP/h" -o /dev/null -w '%{http_code}' --max-time 30 -X POST "$BASE/v2/library/h/blobs/uploads/"; }
CODE=$(open_upload)
[ "$CODE" = 202 ] && [ -n "$(loc)" ] && pass "POST .../blobs/uploads/ opens an upload (202, Location)" || fail "open: $CODE"
U=$(loc)
[ "$(temps)" = 1 ] && pass "... one upload file while it is open" || fail "temps: $(temps)"
CODE=$(curl -s -o "$TMP/o" -w '%{http_code}' --max-time 30 -X PUT --data-binary "@$TMP/rand" "$BASE$U?digest=sha256:$WRONG")
[ "$CODE" = 400 ] && grep -q "sha256:$RD" "$TMP/o" && pass "PUT with a wrong digest: 400 naming the bytes' digest" || fail "wrong digest: $CODE $(cat "$TMP/o")"
[ "$(temps)" = 0 ] && [ ! -e "$A/blobs/sha256-$WRONG" ] && pass "... the upload file is gone, nothing stored" || fail "after wrong digest: $(temps)"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X PATCH --data-binary "x" "$BASE$U")
[ "$CODE" = 404 ] && pass "the ended upload is unknown (404)" || fail "ended upload: $CODE"
open_upload >/dev/null; U=$(loc)
head -c 25000000 /dev/zero >"$TMP/big"
CODE=$(curl -s -o "$TMP/o" -w '%{http_code}' --max-time 60 -X PATCH --data-binary "@$TMP/big" "$BASE$U")
[ "$CODE" = 413 ] && pass "a chunk over --max-blob (25 MB > 20 MB): 413" || fail "over-long: $CODE $(cat "$TMP/o")"
[ "$(temps)" = 0 ] && pass "... the upload file is gone" || fail "over-long left $(temps)"
open_upload >/dev/null; U=$(loc)
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X PUT --data-binary "x" "$BASE$U")
[ "$CODE" = 400 ] && pass "PUT without ?digest=: 400" || fail "no digest: $CODE"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X PUT --data-binary "x" "$BASE$U?digest=sha256:../../etc")
[ "$CODE" = 400 ] && pass "PUT with a digest that walks out: 400" || fail "../ digest: $CODE"
# a client gone mid-body: 1 MB announced, 100 kB sent, the socket closed
python3 - "$PORT" "$U" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n" % sys.argv[2].encode())
s.sendall(b"y" * 100000); time.sleep(0.3); s.close()
PY
for _ in $(seq 50); do [ "$(temps)" = 0 ] && break; sleep 0.1; done
[ "$(temps)" = 0 ] && pass "a client gone mid-body leaves no upload file" || fail "aborted: $(temps) left"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X PATCH --data-binary "x" "$BASE/v2/library/h/blobs/uploads/0123456789abcdef0123456789abcdef")
[ "$CODE" = 404 ] && pass "PATCH of an upload never opened: 404" || fail "unknown upload: $CODE"
CODE=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' --max-time 30 -X POST "$BASE/v2/library/../../etc/blobs/uploads/")
[ "$CODE" = 404 ] && pass "a repository with '..': 404" || fail "bad repo: $CODE"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X POST "$BASE/v2/Upper/blobs/uploads/")
[ "$CODE" = 404 ] && pass "a repository with capitals (not the spec's): 404" || fail "caps: $CODE"
M='{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:'$WRONG'","size":1},"layers":[]}'
CODE=$(curl -s -o "$TMP/o" -w '%{http_code}' --max-time 30 -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' --data-binary "$M" "$BASE/v2/library/h/manifests/v1")
[ "$CODE" = 400 ] && grep -q "not in the store" "$TMP/o" && pass "a manifest naming a missing blob: 400" || fail "missing blob manifest: $CODE $(cat "$TMP/o")"
[ ! -e "$A/manifests/registry.ollama.ai/library/h" ] && pass "... nothing written" || fail "h written"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X PUT --data-binary 'not json' "$BASE/v2/library/h/manifests/v1")
[ "$CODE" = 400 ] && pass "a manifest that is not JSON: 400" || fail "junk manifest: $CODE"
for i in $(seq 33); do open_upload >"$TMP/code"; done
[ "$(cat "$TMP/code")" = 429 ] && pass "the 33rd open upload: 429" || fail "33rd: $(cat "$TMP/code")"
OUT=$(curl -s --max-time 30 "$BASE/api/version")
expect_out '"version"' "the server answers after the hostile uploads"
kill "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=
[ "$(temps)" = 0 ] && pass "the server's stop deletes the uploads left open" || fail "left at stop: $(temps)"

# ---- a write that fails (the file size limit, as a full disk): a clear error, no file ----
D="$TMP/d"
: >"$TMP/serve.out" # the old server's port must not be read
(ulimit -f 2000; KVANT_MODELS="$D" exec "$KVANT" serve --port 0 --threads 2 --store) \
  >"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVER=$!
wait_listening
BASE="http://127.0.0.1:$PORT"
OUT=$(curl -s -w ' %{http_code}' --max-time 60 -X POST --data-binary "@$TMP/rand" "$BASE/api/blobs/sha256:$RD")
expect_out "cannot write the upload: File too large\"} 500" "a 3 MB /api/blobs past a 2 MB file size limit: 500 naming the failure"
KVANT_MODELS="$B" "$KVANT" cp kjv:v1 "127.0.0.1:$PORT/library/f:v1" >/dev/null
KVANT_MODELS="$B" expect_rc 1 "kvant push into it fails" "$KVANT" push --insecure "127.0.0.1:$PORT/library/f:v1"
expect_out "File too large" "... naming the server's failure"
[ -z "$(find "$D" -name '.upload-*')" ] && [ ! -e "$D/manifests/registry.ollama.ai/library/f" ] \
  && pass "... no upload file and no manifest left" || fail "after the failed writes: $(find "$D")"
OUT=$(curl -s --max-time 30 "$BASE/api/version")
expect_out '"version"' "the server answers after the failed writes"
kill "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=

# ---- with keys ----
DB="$TMP/keys.db"
declare -A K
for r in viewer user operator admin; do K[$r]=$("$KVANT" keys create --name "$r-k" --role "$r" --db "$DB" 2>/dev/null); done
GONE=$("$KVANT" keys create --name gone --role admin --db "$DB" 2>/dev/null)
"$KVANT" keys revoke gone --db "$DB" >/dev/null
: >"$TMP/serve.out" # the old server's port must not be read
KVANT_MODELS="$A" start_server --store --db "$DB"
st() { curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$@"; }
for r in viewer user; do
  CODE=$(st -X POST -H "Authorization: Bearer ${K[$r]}" "$BASE/v2/library/k/blobs/uploads/")
  [ "$CODE" = 403 ] && pass "$r: push (POST /v2/.../uploads/) 403" || fail "$r push: $CODE"
  CODE=$(st -H "Authorization: Bearer ${K[$r]}" "$BASE/v2/library/x/manifests/v1")
  [ "$CODE" = 200 ] && pass "$r: GET /v2/ manifest 200" || fail "$r get: $CODE"
done
for k in "" "kv-bad" "$GONE"; do
  CODE=$(st -X PATCH --data-binary x ${k:+-H "Authorization: Bearer $k"} "$BASE/v2/library/k/blobs/uploads/abc")
  [ "$CODE" = 401 ] && pass "PATCH with key '${k:0:6}': 401 before the body" || fail "key '${k:0:6}': $CODE"
done
CODE=$(st -X POST --data-binary "@$TMP/rand" -H "Authorization: Bearer ${K[user]}" "$BASE/api/blobs/sha256:$RD")
[ "$CODE" = 403 ] && [ "$(temps)" = 0 ] && pass "user: POST /api/blobs 403, nothing written" || fail "user blobs: $CODE"
H="127.0.0.1:$PORT"
KVANT_MODELS="$B" "$KVANT" cp kjv:v1 "$H/library/z:v1" >/dev/null
KVANT_MODELS="$B" KVANT_REGISTRY_TOKEN="${K[viewer]}" expect_rc 1 "kvant push with a viewer key fails" "$KVANT" push --insecure "$H/library/z:v1"
expect_out "403" "... with the server's 403"
KVANT_MODELS="$B" KVANT_REGISTRY_TOKEN="${K[operator]}" expect_rc 0 "kvant push with an operator key" "$KVANT" push --insecure "$H/library/z:v1"
[ -f "$A/manifests/registry.ollama.ai/library/z/v1" ] && pass "... stored z:v1" || fail "z:v1 missing"
expect_rc 0 "audit list" "$KVANT" audit list --db "$DB"
grep -E 'operator-k.*PUT /v2/library/z/manifests/v1.*201' <<<"$OUT" >/dev/null \
  && pass "the audit log has the operator's manifest PUT (201)" || fail "audit: $OUT"
grep -E 'viewer-k.*PUT /v2/library/z/manifests/v1.*403' <<<"$OUT" >/dev/null \
  && pass "... and the viewer's refused manifest PUT (403)" || fail "audit (viewer): $OUT"
expect_rc 0 "audit verify after pushes" "$KVANT" audit verify --db "$DB"
OUT=$(curl -s --max-time 30 -H "Authorization: Bearer ${K[viewer]}" "$BASE/api/version")
expect_out '"version"' "the keyed server still answers"
finish
