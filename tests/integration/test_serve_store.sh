#!/usr/bin/env bash
# kvant serve --store changes the store over HTTP: /api/blobs/DIGEST (HEAD,
# POST), /api/create, /api/copy, /api/delete, driven by the official `ollama`
# npm client (serve_store.mjs) and by curl for the bad input: a blob whose bytes
# do not match its digest, a blob that is no GGUF, hostile names and digests.
# The store's files are checked after each; the server must answer after all.
. "$(dirname "$0")/lib.sh"

OLLAMA_VERSION=0.6.4

require_demo_model
require_cmds "node, npm or curl is missing (tools/install-deps.sh installs them)" node npm curl sha256sum
CLIENTS=${KV_BUILD_DIR:-$TMP}/node_clients
npm_install_pinned "$CLIENTS" "ollama@$OLLAMA_VERSION" ||
  skip "npm could not install the ollama client (is the registry reachable?)"
cp "$SRC/tests/integration/serve_store.mjs" "$CLIENTS/serve_store.mjs"

demo_gguf
unset OLLAMA_MODELS
export KVANT_MODELS="$TMP/store"
ST="$KVANT_MODELS"
mkdir -p "$ST"
start_server --store --max-body 64000000
pass "server with an empty store listens on 127.0.0.1:$PORT"

get() { curl -s --max-time 30 "$@"; }
code() { curl -s -o "$TMP/body" -w '%{http_code}' --max-time 30 "$@"; }
nblobs() { find "$ST/blobs" -type f 2>/dev/null | wc -l; }

# ---- bad input first, the store stays empty ----
GOOD="sha256:$(sha256sum "$TMP/kjv.gguf" | cut -d' ' -f1)"
C=$(code -X POST --data-binary "@$TMP/kjv.gguf" "$BASE/api/blobs/sha256:$(printf 0%.0s $(seq 64))")
[ "$C" = 400 ] && pass "a blob whose bytes do not match its digest is a 400" || fail "mismatch: $C $(cat "$TMP/body")"
grep -q "sha256:0000" "$TMP/body" && grep -qF "$GOOD" "$TMP/body" && pass "the 400 names both digests" || fail "$(cat "$TMP/body")"
[ "$(nblobs)" = 0 ] && pass "nothing stored after the mismatch" || fail "blobs: $(find "$ST/blobs")"
for d in "sha256:..%2F..%2Fetc" "sha256:ABC" "sha256-$(printf a%.0s $(seq 64))" "md5:$(printf a%.0s $(seq 64))" \
         "sha256:$(printf A%.0s $(seq 64))" "..%2F..%2Fx"; do
  C=$(code -X POST --data-binary x "$BASE/api/blobs/$d")
  [ "$C" = 400 ] && pass "hostile digest '$d' is a 400" || fail "digest '$d': $C $(cat "$TMP/body")"
done
[ -z "$(find "$TMP" -maxdepth 2 -name 'etc*' -newer "$TMP/kjv.gguf")" ] && [ "$(nblobs)" = 0 ] &&
  pass "nothing written for hostile digests" || fail "files: $(find "$ST")"

# a blob that is no GGUF: stored (its digest matches), refused by create
printf 'not a gguf file' >"$TMP/junk"
JUNK="sha256:$(sha256sum "$TMP/junk" | cut -d' ' -f1)"
C=$(code -X POST --data-binary "@$TMP/junk" "$BASE/api/blobs/$JUNK")
[ "$C" = 201 ] && pass "a blob that matches its digest is stored (201)" || fail "junk blob: $C"
C=$(code -X POST "$BASE/api/create" -d "{\"model\":\"junk\",\"files\":{\"j.gguf\":\"$JUNK\"}}")
[ "$C" = 400 ] && grep -q "GGUF" "$TMP/body" && pass "create from a blob that is no GGUF is a 400 naming GGUF" ||
  fail "junk create: $C $(cat "$TMP/body")"
[ ! -e "$ST/manifests/registry.ollama.ai/library/junk" ] && pass "no manifest for it" || fail "junk manifest written"
C=$(code -X POST "$BASE/api/create" -d "{\"model\":\"nob\",\"files\":{\"m.gguf\":\"$GOOD\"}}")
[ "$C" != 200 ] && grep -q "not found" "$TMP/body" && pass "create from a blob not uploaded fails ($C)" ||
  fail "missing blob create: $C $(cat "$TMP/body")"
for body in '{"model":"../../x","from":"a"}' '{"model":"/abs","from":"a"}' '{"model":"a:b:c","from":"a"}' \
            '{"model":"ns/m","from":"a"}' '{"model":"ok","from":"../../etc/passwd"}' \
            '{"model":"ok","files":{"../x.gguf":"sha256:../../x"}}' '{"model":"ok","files":{"x.safetensors":"'"$GOOD"'"}}' \
            '{"model":"ok"}' '{"model":7,"from":"a"}' '{"model":"ok","from":"a","parameters":[1]}' '[1]' '{'; do
  C=$(code -X POST "$BASE/api/create" -d "$body")
  case "$C" in 400|404|422) pass "create $body: $C" ;; *) fail "create $body: $C $(cat "$TMP/body")" ;; esac
done
for body in '{"source":"../x","destination":"y"}' '{"source":"a","destination":"../../y"}' '{"source":"a"}'; do
  C=$(code -X POST "$BASE/api/copy" -d "$body")
  case "$C" in 400|404) pass "copy $body: $C" ;; *) fail "copy $body: $C $(cat "$TMP/body")" ;; esac
done
for body in '{"model":"../../x"}' '{"model":"nothere"}' '{}'; do
  C=$(code -X DELETE "$BASE/api/delete" -d "$body")
  case "$C" in 400|404) pass "delete $body: $C" ;; *) fail "delete $body: $C $(cat "$TMP/body")" ;; esac
done
[ -z "$(find "$ST/manifests" -type f 2>/dev/null)" ] && pass "no manifest after the bad requests" ||
  fail "manifests: $(find "$ST/manifests" -type f)"
OUT=$(get "$BASE/api/tags")
expect_out '"models":[]' "the server answers after the bad input, with no models"

# ---- the ollama client ----
OUT=$(KV_BASE="$BASE" KV_GGUF="$TMP/kjv.gguf" timeout 300 node "$CLIENTS/serve_store.mjs" 2>&1)
rc=$?
echo "$OUT" | sed 's/^/  client: /'
if [ "$rc" -eq 0 ]; then pass "ollama client: $(echo "$OUT" | grep -c '^ok:') checks"; else fail "ollama client (exit $rc)"; fi

# the store's files follow: what the client made, in Ollama's layout
MAN="$ST/manifests/registry.ollama.ai/library"
[ -f "$MAN/copied/x" ] && [ -f "$MAN/terse/latest" ] && [ -f "$MAN/made/latest" ] && [ -f "$MAN/made2/v1" ] &&
  pass "manifests for copied:x, terse, made, made2:v1" || fail "manifests: $(find "$MAN" -type f)"
[ -f "$ST/blobs/sha256-${GOOD#sha256:}" ] && cmp -s "$ST/blobs/sha256-${GOOD#sha256:}" "$TMP/kjv.gguf" &&
  pass "the GGUF blob is the uploaded file" || fail "no GGUF blob"
grep -q "application/vnd.ollama.image.system" "$MAN/terse/latest" &&
  grep -q "application/vnd.ollama.image.params" "$MAN/terse/latest" &&
  pass "terse's manifest has system and params layers" || fail "terse: $(cat "$MAN/terse/latest")"
expect_rc 0 "kvant list reads what the server wrote" "$KVANT" list
expect_out "terse:latest" "kvant list shows terse"

# ---- a restart serves the same models ----
kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null
rm -f "$TMP/serve.out" # else start_server may read the old server's port before the new one writes
start_server --store
OUT=$(get "$BASE/api/tags")
expect_out '"copied:x"' "after a restart /api/tags lists copied:x"
kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null

# ---- without --store the endpoints answer 501 ----
rm -f "$TMP/serve.out"
start_server --model "kjv=$TMP/kjv.gguf"
C=$(code -X POST "$BASE/api/create" -d '{"model":"x","from":"kjv"}')
[ "$C" = 501 ] && pass "without --store /api/create is 501" || fail "no store create: $C"
C=$(code -I "$BASE/api/blobs/$GOOD")
[ "$C" = 501 ] && pass "without --store HEAD /api/blobs is 501" || fail "no store blob: $C"
kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null
finish
