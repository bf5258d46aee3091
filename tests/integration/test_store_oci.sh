#!/usr/bin/env bash
# kvant pull / push over the OCI distribution API and OCI image layouts:
#   - a real registry (Debian's docker-registry, the distribution project's
#     server) started here on loopback with a temporary config and storage:
#     push (one PUT, and PATCH chunks), HEAD skips, pull back into an empty store
#     with byte-identical blobs and manifest;
#   - a second kvant serve --store as the remote (edge pulls from a site server),
#     its /v2/ Range and hostile paths, and Ollama's /api/pull and /api/push
#     driven by the official ollama npm client (serve_oci.mjs);
#   - offline: push --to / pull --from an OCI image layout;
#   - faults: kill -9 during a throttled pull (only complete models listed, the
#     next pull resumes with fewer bytes), a corrupted blob on the remote (refused,
#     nothing enters the store), a full disk (a 4 MiB tmpfs in a user+mount
#     namespace) and a write failure mid-blob (ulimit -f);
#   - hostile registries (oci_fake_registry.py): a manifest over the size limit,
#     bad digests, a Content-Length larger than the blob, more bytes than the
#     manifest says, a Docker-Content-Digest that lies, a bearer-token challenge.
. "$(dirname "$0")/lib.sh"

OLLAMA_VERSION=0.6.4

require_demo_model
require_cmds "docker-registry, python3 or curl is missing (tools/install-deps.sh installs them)" \
  docker-registry python3 curl sha256sum
unset OLLAMA_MODELS KVANT_REGISTRY KVANT_REGISTRY_TOKEN KVANT_REGISTRY_AUTH
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
demo_gguf

REGPID= FAKEPID= TLSPID=
stop_extra() { kill $REGPID $FAKEPID $TLSPID 2>/dev/null; wait $REGPID $FAKEPID $TLSPID 2>/dev/null; }
trap 'stop_extra; cleanup' EXIT

# ---- the registry ----
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_registry() {
  for _ in 1 2 3; do
    RP=$(free_port)
    cat >"$TMP/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $TMP/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$RP
EOF
    docker-registry serve "$TMP/registry.yml" >"$TMP/registry.log" 2>&1 &
    REGPID=$!
    for _ in $(seq 1 100); do
      curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$RP/v2/" && return 0
      kill -0 $REGPID 2>/dev/null || break
      sleep 0.1
    done
    kill $REGPID 2>/dev/null; wait $REGPID 2>/dev/null
  done
  cat "$TMP/registry.log"; fail "docker-registry did not start"; finish; exit 1
}
start_registry
pass "docker-registry listens on 127.0.0.1:$RP"
REG="127.0.0.1:$RP"

# store A: the model, with system text and parameters
export KVANT_MODELS="$TMP/a"
mkdir -p "$TMP/mf"
cp "$TMP/kjv.gguf" "$TMP/mf/kjv.gguf"
printf 'FROM ./kjv.gguf\nSYSTEM """terse"""\nPARAMETER temperature 0.5\n' >"$TMP/mf/Modelfile"
expect_rc 0 "create kjv:v1 in store A" "$KVANT" create kjv:v1 -f "$TMP/mf/Modelfile"
MANA="$TMP/a/manifests/registry.ollama.ai/library/kjv/v1"
BIG=$(sha256sum "$TMP/kjv.gguf" | cut -d' ' -f1)
SIZE=$(stat -c %s "$TMP/kjv.gguf")

# Every blob and the manifest of kjv:v1 in store $1 are store A's, byte for byte.
same_model() {
  local st=$1 man=$2 f
  cmp -s "$MANA" "$st/manifests/$man" || { echo "manifest differs"; return 1; }
  for f in $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(" ".join([m["config"]["digest"]]+[l["digest"] for l in m["layers"]]))' "$MANA"); do
    cmp -s "$TMP/a/blobs/sha256-${f#sha256:}" "$st/blobs/sha256-${f#sha256:}" || { echo "blob $f differs"; return 1; }
  done
}
no_leftovers() { [ -z "$(find "$1" -name '*-partial' -o -name '*.tmp-*' 2>/dev/null)" ]; }

# ---- push, pull back ----
expect_rc 1 "push to a name the store lacks fails" "$KVANT" push --insecure "$REG/library/kjv:v1"
expect_out "not found" "it says the model is not found"
expect_rc 0 "cp kjv:v1 $REG/library/kjv:v1" "$KVANT" cp kjv:v1 "$REG/library/kjv:v1"
expect_rc 1 "push without --insecure to a plain-HTTP registry fails" "$KVANT" push "$REG/library/kjv:v1"
expect_rc 0 "push --insecure to docker-registry" "$KVANT" push --insecure "$REG/library/kjv:v1"
expect_out "pushed $REG/library/kjv:v1: " "push reports what it sent"
grep -q "pushing manifest" <<<"$OUT" && grep -q "success" <<<"$OUT" && pass "push prints progress to success" ||
  fail "push progress: $OUT"
OUT=$(curl -s --max-time 10 -H "Accept: application/vnd.docker.distribution.manifest.v2+json" \
  "http://$REG/v2/library/kjv/manifests/v1")
[ "$OUT" = "$(cat "$MANA")" ] && pass "the registry serves the stored manifest byte for byte" ||
  fail "registry manifest: $OUT"
C=$(curl -s -o /dev/null -w '%{http_code}' -I --max-time 10 "http://$REG/v2/library/kjv/blobs/sha256:$BIG")
[ "$C" = 200 ] && pass "the registry has the GGUF blob" || fail "blob HEAD: $C"
expect_rc 0 "a second push" "$KVANT" push --insecure "$REG/library/kjv:v1"
expect_out "0 bytes sent" "sends nothing (HEAD finds every blob)"

export KVANT_MODELS="$TMP/b"
KVANT_REGISTRY=$REG expect_rc 0 "pull kjv:v1 into an empty store (KVANT_REGISTRY=$REG)" \
  "$KVANT" pull --insecure kjv:v1
grep -q "pulling manifest" <<<"$OUT" && grep -q "verifying sha256 digest" <<<"$OUT" &&
  grep -q "writing manifest" <<<"$OUT" && grep -Eq "pulling [0-9a-f]{12} $SIZE/$SIZE" <<<"$OUT" &&
  pass "pull prints status, digest and completed/total lines" || fail "pull progress: $OUT"
OUT_LIST=$("$KVANT" list)
grep -q "^kjv:v1 " <<<"$OUT_LIST" && pass "kvant list shows kjv:v1 under the name as typed" || fail "list: $OUT_LIST"
M=$(same_model "$TMP/b" registry.ollama.ai/library/kjv/v1) && pass "blobs and manifest byte-identical to store A" ||
  fail "pulled model differs: $M"
expect_rc 0 "show --modelfile of the pulled model" "$KVANT" show kjv:v1 --modelfile
expect_out "terse" "its system text came along"
expect_rc 0 "the pulled model runs" "$KVANT" run kjv:v1 "In the beginning" -n 4 --temp 0
KVANT_REGISTRY=$REG expect_rc 0 "pulling again" "$KVANT" pull --insecure kjv:v1
expect_out "0 bytes received" "receives nothing (every blob present)"
KVANT_REGISTRY=$REG expect_rc 1 "pulling a tag the registry lacks fails" "$KVANT" pull --insecure kjv:nope
expect_out "404" "naming HTTP 404"

# chunked upload (PATCH with Content-Range) and pull back
export KVANT_MODELS="$TMP/a"
"$KVANT" cp kjv:v1 "$REG/chunks/kjv:c" >/dev/null
KVANT_OCI_CHUNK=1000000 expect_rc 0 "push in 1 MB chunks (PATCH) to another repository" \
  "$KVANT" push --insecure "$REG/chunks/kjv:c"
export KVANT_MODELS="$TMP/c"
expect_rc 0 "pull the chunked upload back" "$KVANT" pull --insecure "$REG/chunks/kjv:c"
M=$(same_model "$TMP/c" "$REG/chunks/kjv/c") && pass "the chunked upload is byte-identical" || fail "chunked: $M"

# ---- TLS: a registry with its own certificate (KVANT_REGISTRY_CA), as a site CA would issue ----
if command -v openssl >/dev/null &&
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/tls.key" -out "$TMP/tls.crt" -days 2 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1; then
  TP=$(free_port)
  cat >"$TMP/tls.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $TMP/tls-data
http:
  addr: 127.0.0.1:$TP
  tls:
    certificate: $TMP/tls.crt
    key: $TMP/tls.key
EOF
  docker-registry serve "$TMP/tls.yml" >"$TMP/tls.log" 2>&1 &
  TLSPID=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null --max-time 2 --cacert "$TMP/tls.crt" "https://127.0.0.1:$TP/v2/" && break
    sleep 0.1
  done
  export KVANT_MODELS="$TMP/a"
  "$KVANT" cp kjv:v1 "127.0.0.1:$TP/library/kjv:v1" >/dev/null
  expect_rc 1 "push over TLS to a certificate the system does not trust fails" \
    "$KVANT" push "127.0.0.1:$TP/library/kjv:v1"
  grep -qi "certificate" <<<"$OUT" && pass "naming the certificate problem" || fail "untrusted TLS: $OUT"
  KVANT_REGISTRY_CA="$TMP/tls.crt" expect_rc 0 "push over TLS trusting KVANT_REGISTRY_CA" \
    "$KVANT" push "127.0.0.1:$TP/library/kjv:v1"
  export KVANT_MODELS="$TMP/tls-store"
  KVANT_REGISTRY_CA="$TMP/tls.crt" expect_rc 0 "pull over TLS into an empty store" \
    "$KVANT" pull "127.0.0.1:$TP/library/kjv:v1"
  M=$(same_model "$TMP/tls-store" "127.0.0.1:$TP/library/kjv/v1") && pass "byte-identical over TLS" || fail "TLS: $M"
  kill $TLSPID 2>/dev/null; wait $TLSPID 2>/dev/null; TLSPID=
else
  echo "note: openssl could not make a certificate; the TLS case did not run"
fi

# ---- kill -9 during a pull, then resume ----
export KVANT_MODELS="$TMP/d"
KVANT_OCI_LIMIT_RATE=1000000 "$KVANT" pull --insecure "$REG/library/kjv:v1" >"$TMP/killed.out" 2>&1 &
PP=$!
PART="$TMP/d/blobs/sha256-$BIG-partial"
for _ in $(seq 1 200); do
  [ -f "$PART" ] && [ "$(stat -c %s "$PART")" -gt 1000000 ] && break
  sleep 0.05
done
kill -9 $PP 2>/dev/null; wait $PP 2>/dev/null
HAVE=$(stat -c %s "$PART" 2>/dev/null || echo 0)
[ "$HAVE" -gt 0 ] && [ "$HAVE" -lt "$SIZE" ] && pass "killed mid-blob: $HAVE of $SIZE bytes in the partial file" ||
  fail "partial: $HAVE ($(cat "$TMP/killed.out"))"
OUT_LIST=$("$KVANT" list)
[ "$(wc -l <<<"$OUT_LIST")" = 1 ] && pass "kvant list shows no model after the kill" || fail "list after kill: $OUT_LIST"
[ ! -e "$TMP/d/blobs/sha256-$BIG" ] && pass "no blob under the GGUF's name" || fail "blob present after kill"
# a second kill, later in the same blob, after a resumed start
KVANT_OCI_LIMIT_RATE=1000000 "$KVANT" pull --insecure "$REG/library/kjv:v1" >"$TMP/killed2.out" 2>&1 &
PP=$!
for _ in $(seq 1 200); do
  [ -f "$PART" ] && [ "$(stat -c %s "$PART")" -gt $((HAVE + 1000000)) ] && break
  sleep 0.05
done
kill -9 $PP 2>/dev/null; wait $PP 2>/dev/null
HAVE2=$(stat -c %s "$PART" 2>/dev/null || echo 0)
grep -q "pulling ${BIG:0:12} $HAVE/$SIZE" "$TMP/killed2.out" && [ "$HAVE2" -gt "$HAVE" ] && [ "$HAVE2" -lt "$SIZE" ] &&
  pass "a second throttled pull resumed from byte $HAVE and was killed at $HAVE2" ||
  fail "second kill: have=$HAVE have2=$HAVE2 $(head -5 "$TMP/killed2.out")"
[ "$(wc -l <<<"$("$KVANT" list)")" = 1 ] && pass "kvant list still shows no model" || fail "list after 2nd kill: $("$KVANT" list)"
HAVE=$HAVE2
expect_rc 0 "pull again resumes" "$KVANT" pull --insecure "$REG/library/kjv:v1"
RESUMED=$(sed -n 's/.* \([0-9]*\) resumed.*/\1/p' <<<"$OUT")
RECV=$(sed -n 's/.*: \([0-9]*\) bytes received.*/\1/p' <<<"$OUT")
[ "$RESUMED" = "$HAVE" ] && [ "$RECV" -lt "$SIZE" ] &&
  pass "resumed from byte $RESUMED: $RECV bytes received, $HAVE bytes saved of $SIZE" ||
  fail "resume: resumed=$RESUMED received=$RECV have=$HAVE: $OUT"
echo "note: resume saved $HAVE of $SIZE bytes ($((100 * HAVE / SIZE))%)"
M=$(same_model "$TMP/d" "$REG/library/kjv/v1") && pass "the resumed model is byte-identical" || fail "resumed: $M"
no_leftovers "$TMP/d" && pass "no partial or temporary files left" || fail "leftovers: $(find "$TMP/d")"

# ---- rm during a pull: its blob collection waits for no one and takes nothing the pull wrote ----
export KVANT_MODELS="$TMP/lk"
# another model of its own blobs (the GGUF with 32 bytes after its data, still a GGUF)
cp "$TMP/kjv.gguf" "$TMP/mf/old.gguf" && printf '%032d' 0 >>"$TMP/mf/old.gguf"
printf 'FROM ./old.gguf\nSYSTEM """old"""\n' >"$TMP/mf/Modelfile.old"
"$KVANT" create old:v1 -f "$TMP/mf/Modelfile.old" >/dev/null
KVANT_OCI_LIMIT_RATE=1000000 "$KVANT" pull --insecure "$REG/library/kjv:v1" >"$TMP/lk.out" 2>&1 &
PP=$!
for _ in $(seq 1 200); do
  [ -f "$TMP/lk/blobs/sha256-$BIG-partial" ] && [ "$(stat -c %s "$TMP/lk/blobs/sha256-$BIG-partial")" -gt 100000 ] && break
  sleep 0.05
done
expect_rc 0 "rm of another model while a pull runs" "$KVANT" rm old:v1
expect_out "(0 unused blobs removed)" "keeps every blob while the pull holds the store's lock"
wait $PP; rc=$?
[ $rc = 0 ] && pass "the pull completes (its config blob, written before the rm, is still there)" ||
  fail "pull during rm: rc $rc $(tail -3 "$TMP/lk.out")"
M=$(same_model "$TMP/lk" "$REG/library/kjv/v1") && pass "and is byte-identical" || fail "pull during rm: $M"
expect_rc 0 "an rm after it" "$KVANT" rm "$REG/library/kjv:v1"
grep -Eq "\(([1-9][0-9]*) unused blobs? removed\)" <<<"$OUT" && pass "collects the blobs then ($OUT)" || fail "later rm: $OUT"

# ---- a corrupted blob on the remote ----
RB=$(find "$TMP/registry-data" -path "*/blobs/sha256/*/$BIG/data")
if [ -f "$RB" ]; then
  cp "$RB" "$TMP/blob.orig"
  python3 - "$RB" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0xFF
open(p, "wb").write(b)
EOF
  export KVANT_MODELS="$TMP/e"
  expect_rc 1 "pull of a corrupted blob fails" "$KVANT" pull --insecure "$REG/library/kjv:v1"
  expect_out "sha256:$BIG: the bytes received have digest" "naming the blob and the digest it got"
  [ ! -e "$TMP/e/blobs/sha256-$BIG" ] && no_leftovers "$TMP/e" && [ -z "$(find "$TMP/e/manifests" -type f 2>/dev/null)" ] &&
    pass "nothing of it entered the store (no blob, no partial, no manifest)" || fail "store e: $(find "$TMP/e")"
  cp "$TMP/blob.orig" "$RB"
else
  fail "the registry's blob file was not found under $TMP/registry-data"
fi

# ---- full disk: a 4 MiB tmpfs (user and mount namespace), and a write failing mid-blob ----
if unshare -rm true 2>/dev/null; then
  mkdir -p "$TMP/small"
  OUT=$(unshare -rm sh -c 'mount -t tmpfs -o size=4m tmpfs "$1" && KVANT_MODELS="$1/store" "$2" pull --insecure "$3"; echo "rc=$?"; find "$1" -type f' \
    sh "$TMP/small" "$KVANT" "$REG/library/kjv:v1" 2>&1)
  grep -q "rc=1" <<<"$OUT" && grep -q "the disk has .* free; nothing was written" <<<"$OUT" &&
    ! grep -q "/store/" <<<"$(grep -v '^kvant' <<<"$OUT" | grep '^/' | grep -v '/.kvant-lock$')" &&
    pass "a 4 MiB disk: refused before writing, naming the bytes needed and free" || fail "tmpfs: $OUT"
else
  echo "note: unshare -rm is not permitted here; the tmpfs case did not run (ulimit -f below still does)"
fi
export KVANT_MODELS="$TMP/f"
OUT=$( (ulimit -f 2048; "$KVANT" pull --insecure "$REG/library/kjv:v1") 2>&1); rc=$?
[ $rc = 1 ] && grep -q "File too large" <<<"$OUT" && pass "a write failing mid-blob (ulimit -f 1 MiB) is a clear error" ||
  fail "ulimit: rc=$rc $OUT"
[ ! -e "$TMP/f/blobs/sha256-$BIG" ] && no_leftovers "$TMP/f" && [ -z "$(find "$TMP/f/manifests" -type f 2>/dev/null)" ] &&
  pass "and leaves no partial file and no manifest" || fail "store f: $(find "$TMP/f")"

# ---- offline: an OCI image layout ----
export KVANT_MODELS="$TMP/a"
expect_rc 0 "push --to DIR writes an OCI image layout" "$KVANT" push --to "$TMP/drive" kjv:v1
python3 - "$TMP/drive" <<'EOF' && pass "oci-layout, index.json (ref.name annotation) and blobs/sha256 hash to their names" || fail "layout check"
import hashlib, json, os, sys
d = sys.argv[1]
assert json.load(open(f"{d}/oci-layout"))["imageLayoutVersion"] == "1.0.0"
idx = json.load(open(f"{d}/index.json"))
e = [m for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "registry.ollama.ai/library/kjv:v1"]
assert len(e) == 1
for f in os.listdir(f"{d}/blobs/sha256"):
    assert hashlib.sha256(open(f"{d}/blobs/sha256/{f}", "rb").read()).hexdigest() == f, f
assert os.path.exists(f"{d}/blobs/sha256/{e[0]['digest'][7:]}")
EOF
expect_rc 0 "push --to the same DIR again" "$KVANT" push --to "$TMP/drive" kjv:v1
[ "$(grep -c ref.name "$TMP/drive/index.json")" = 1 ] && pass "index.json keeps one entry per name" || fail "$(cat "$TMP/drive/index.json")"
export KVANT_MODELS="$TMP/g"
KVANT_REGISTRY=127.0.0.1:1 expect_rc 0 "pull --from DIR into an empty store (no registry reachable)" \
  "$KVANT" pull --from "$TMP/drive" kjv:v1
M=$(same_model "$TMP/g" registry.ollama.ai/library/kjv/v1) && pass "the layout's model is byte-identical" || fail "layout: $M"
export KVANT_MODELS="$TMP/h"
cp -r "$TMP/drive" "$TMP/drive2"
printf 'X' | dd of="$TMP/drive2/blobs/sha256/$BIG" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect_rc 1 "pull --from a layout with a corrupted blob fails" "$KVANT" pull --from "$TMP/drive2" kjv:v1
expect_out "have digest" "naming the digest mismatch"
[ -z "$(find "$TMP/h" -type f 2>/dev/null | grep -v -e '/blobs/sha256-[0-9a-f]*$' -e '/.kvant-lock$')" ] &&
  [ ! -e "$TMP/h/blobs/sha256-$BIG" ] && pass "nothing of it entered the store" || fail "store h: $(find "$TMP/h")"
expect_rc 1 "pull --from a folder that is no layout fails" "$KVANT" pull --from "$TMP/mf" kjv:v1
expect_out "not an OCI image layout" "saying so"
expect_rc 1 "pull --from a layout without that name fails" "$KVANT" pull --from "$TMP/drive" other:v1
expect_out "no manifest named 'registry.ollama.ai/library/other:v1'" "naming it"

# ---- hostile registries and names ----
python3 "$SRC/tests/integration/oci_fake_registry.py" >"$TMP/fake.out" 2>&1 &
FAKEPID=$!
for _ in $(seq 1 100); do FP=$(sed -n 's/^port //p' "$TMP/fake.out"); [ -n "$FP" ] && break; sleep 0.1; done
[ -n "$FP" ] || { fail "the fake registry did not start: $(cat "$TMP/fake.out")"; finish; exit 1; }
FAKE="127.0.0.1:$FP"
export KVANT_MODELS="$TMP/i"
hostile() { # REPO WANT DESC
  OUT=$("$KVANT" pull --insecure "$FAKE/$1:t" 2>&1); local rc=$?
  if [ $rc = 1 ] && grep -q -- "$2" <<<"$OUT" && [ -z "$(find "$TMP/i/manifests" -type f 2>/dev/null)" ] &&
    no_leftovers "$TMP/i"; then pass "$3"; else fail "$3 (rc $rc): $OUT"; fi
}
hostile hostile/bigmanifest "longer than the 1048576 bytes" "a 2 MiB manifest is refused (over the 1 MiB limit)"
hostile hostile/baddigest "is not 'sha256:' and 64 lowercase hex" "a manifest naming digest sha256:../../etc/passwd is refused"
hostile hostile/hugesize "the disk has" "a layer of 10^15 bytes is refused before any write"
hostile hostile/hugelen "longer than the" "a blob whose Content-Length exceeds its size is refused before its body"
hostile hostile/morebytes "longer than the" "a blob sending more bytes than its size is cut off and refused"
hostile hostile/corrupt "the bytes received have digest" "a blob of the right size and wrong bytes is refused"
hostile hostile/dcd "the registry says" "a Docker-Content-Digest that is not the manifest's is refused"
hostile hostile/notjson "invalid JSON" "a manifest that is no JSON is refused"
[ -z "$(find "$TMP/i/blobs" -type f -name 'sha256-*' 2>/dev/null | grep -v "$(printf '%s' '{"model_format":"gguf"}' | sha256sum | cut -c1-64)")" ] &&
  pass "no hostile layer entered the store" || fail "blobs: $(find "$TMP/i/blobs")"
# a partial download from an earlier pull, and a registry that ignores Range
LD=$(printf 'hello, registry' | sha256sum | cut -c1-64)
printf 'hello' >"$TMP/i/blobs/sha256-$LD-partial"
expect_rc 0 "a registry ignoring Range (200 to a resumed pull): begun again from byte 0" \
  "$KVANT" pull --insecure "$FAKE/good/norange:t"
expect_out "0 resumed" "nothing counted as resumed"
cmp -s "$TMP/i/blobs/sha256-$LD" <(printf 'hello, registry') && pass "the blob is whole" || fail "norange blob"
"$KVANT" rm "$FAKE/good/norange:t" >/dev/null
printf 'HELLO' >"$TMP/i/blobs/sha256-$LD-partial" # a partial that is no prefix of the blob
expect_rc 1 "a resumed pull over a bad partial file fails its digest check" "$KVANT" pull --insecure "$FAKE/good/ok:t"
expect_out "the bytes received have digest" "naming the mismatch"
no_leftovers "$TMP/i" && pass "and deletes the bad partial file" || fail "$(find "$TMP/i")"
expect_rc 0 "so the next pull succeeds" "$KVANT" pull --insecure "$FAKE/good/ok:t"
expect_rc 0 "a registry asking for a bearer token (WWW-Authenticate challenge) is answered" \
  "$KVANT" pull --insecure "$FAKE/auth/ok:t"
[ -f "$TMP/i/manifests/$FAKE/auth/ok/t" ] && pass "the authorized pull is stored" || fail "auth pull: $OUT"
for n in "../x" "a/../../b" "x:../y" "/abs" "h/n/m/x:t" "$FAKE/../m:t"; do
  expect_rc 1 "pull of hostile name '$n' is refused" "$KVANT" pull --insecure "$n"
done
stop_extra; REGPID= FAKEPID=
start_registry # a fresh one for the server tests (the old storage is kept)
REG="127.0.0.1:$RP"

# ---- a second kvant serve as the remote (site server -> edge) ----
export KVANT_MODELS="$TMP/a"
start_server --store
OUT=$(curl -s --max-time 10 "$BASE/v2/")
[ "$OUT" = "{}" ] && pass "kvant serve answers GET /v2/" || fail "/v2/: $OUT"
C=$(curl -s -o "$TMP/r" -D "$TMP/hdrs" -w '%{http_code}' --max-time 10 -H "Range: bytes=100-199" \
  "$BASE/v2/library/kjv/blobs/sha256:$BIG")
[ "$C" = 206 ] && [ "$(stat -c %s "$TMP/r")" = 100 ] && grep -qi "content-range: bytes 100-199/$SIZE" "$TMP/hdrs" &&
  cmp -s "$TMP/r" <(tail -c +101 "$TMP/kjv.gguf" | head -c 100) && pass "a Range GET of a blob is 206 with those 100 bytes" ||
  fail "range: $C $(cat "$TMP/hdrs")"
C=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Range: bytes=$SIZE-" "$BASE/v2/library/kjv/blobs/sha256:$BIG")
[ "$C" = 416 ] && pass "a Range past the end is 416" || fail "range past end: $C"
for p in "library/kjv/blobs/sha256:..%2F..%2Fetc" "library/kjv/blobs/sha256:$(printf A%.0s $(seq 64))" \
  "..%2F..%2Fetc/manifests/v1" "library/..%2F..%2Fx/manifests/v1" "a/b/c/manifests/v1" "library/kjv/manifests/..%2F..%2Fx" \
  "library/kjv/manifests/nope" "library/kjv/tags/list"; do
  C=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/v2/$p")
  case "$C" in 400|404) pass "GET /v2/$p: $C" ;; *) fail "GET /v2/$p: $C" ;; esac
done
export KVANT_MODELS="$TMP/edge"
expect_rc 0 "an edge store pulls from kvant serve's /v2/" "$KVANT" pull --insecure "127.0.0.1:$PORT/library/kjv:v1"
M=$(same_model "$TMP/edge" "127.0.0.1:$PORT/library/kjv/v1") && pass "byte-identical to the site server's" || fail "edge: $M"
kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null
rm -f "$TMP/serve.out"

# with keys: /v2/ needs a key of role viewer or up (KVANT_REGISTRY_TOKEN sends it)
export KVANT_MODELS="$TMP/a"
VKEY=$("$KVANT" keys create --name edge --role viewer --db "$TMP/keys.db" 2>/dev/null)
start_server --store --db "$TMP/keys.db"
export KVANT_MODELS="$TMP/edge2"
expect_rc 1 "with keys, a pull from kvant serve without a key fails" "$KVANT" pull --insecure "127.0.0.1:$PORT/library/kjv:v1"
expect_out "HTTP 401" "with HTTP 401"
KVANT_REGISTRY_TOKEN=bad expect_rc 1 "and with a wrong key" "$KVANT" pull --insecure "127.0.0.1:$PORT/library/kjv:v1"
KVANT_REGISTRY_TOKEN=$VKEY expect_rc 0 "a viewer key (KVANT_REGISTRY_TOKEN) pulls" "$KVANT" pull --insecure "127.0.0.1:$PORT/library/kjv:v1"
C=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X POST -H "Authorization: Bearer $VKEY" "$BASE/api/pull" -d '{"model":"x"}')
[ "$C" = 403 ] && pass "a viewer key may not POST /api/pull (403)" || fail "viewer /api/pull: $C"
kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null
rm -f "$TMP/serve.out"

# Ollama's /api/pull and /api/push through the official client
if command -v node >/dev/null && command -v npm >/dev/null &&
  CLIENTS=${KV_BUILD_DIR:-$TMP}/node_clients && npm_install_pinned "$CLIENTS" "ollama@$OLLAMA_VERSION"; then
  cp "$SRC/tests/integration/serve_oci.mjs" "$CLIENTS/serve_oci.mjs"
  export KVANT_MODELS="$TMP/site"
  KVANT_REGISTRY=$REG start_server --store
  OUT=$(KV_BASE="$BASE" KV_REG="$REG" timeout 300 node "$CLIENTS/serve_oci.mjs" 2>&1); rc=$?
  echo "$OUT" | sed 's/^/  client: /'
  [ $rc = 0 ] && pass "ollama client pull/push: $(grep -c '^ok:' <<<"$OUT") checks" || fail "ollama client (exit $rc)"
  # a name with the registry's host: fetched from it, served as MODEL:TAG
  C=$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 60 -X POST "$BASE/api/pull" \
    -d "{\"model\":\"$REG/chunks/kjv:c\",\"insecure\":true,\"stream\":false}")
  [ "$C" = 200 ] && curl -s --max-time 10 "$BASE/api/tags" | grep -q '"kjv:c"' &&
    [ -f "$TMP/site/manifests/registry.ollama.ai/library/kjv/c" ] &&
    pass "/api/pull of $REG/chunks/kjv:c serves it as kjv:c" || fail "hosted /api/pull: $C $(cat "$TMP/body")"
  for body in '{"model":"../../x","insecure":true}' '{"model":"a:b:c"}' '{}' '{"model":7}' '{"model":"x","insecure":"yes"}' '['; do
    C=$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 30 -X POST "$BASE/api/pull" -d "$body")
    case "$C" in 400|404) pass "/api/pull $body: $C" ;; *) fail "/api/pull $body: $C $(cat "$TMP/body")" ;; esac
  done
  kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null
  rm -f "$TMP/serve.out"
  # progress is sent while the pull runs (throttled to 2 MB/s: about 4 s), and a
  # client that leaves early does not stop it
  export KVANT_MODELS="$TMP/live"
  KVANT_REGISTRY=$REG KVANT_OCI_LIMIT_RATE=2000000 start_server --store
  curl -sN --max-time 60 -X POST "$BASE/api/pull" -d '{"model":"kjv:v1","insecure":true}' |
    while IFS= read -r line; do echo "$(date +%s.%N) $line"; done >"$TMP/live.lines"
  FIRST=$(head -1 "$TMP/live.lines" | cut -d' ' -f1); LAST=$(tail -1 "$TMP/live.lines" | cut -d' ' -f1)
  NPROG=$(grep -c '"completed"' "$TMP/live.lines")
  python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) - float(sys.argv[1]) > 1.5 else 1)" "$FIRST" "$LAST" &&
    [ "$NPROG" -ge 3 ] && grep -q '"status": *"success"' <(tail -1 "$TMP/live.lines") &&
    pass "/api/pull's progress lines arrive while it runs ($NPROG with completed/total over $(python3 -c "print('%.1f' % (float('$LAST') - float('$FIRST')))") s)" ||
    fail "live progress: $(head -3 "$TMP/live.lines"; tail -2 "$TMP/live.lines")"
  curl -s --max-time 10 -X POST "$BASE/api/delete" -d '{"model":"kjv:v1"}' >/dev/null
  timeout 2 curl -sN --max-time 60 -X POST "$BASE/api/pull" -d '{"model":"kjv:v1","insecure":true}' >/dev/null
  for _ in $(seq 1 100); do
    curl -s --max-time 5 "$BASE/api/tags" | grep -q '"kjv:v1"' && break
    sleep 0.2
  done
  curl -s --max-time 5 "$BASE/api/tags" | grep -q '"kjv:v1"' &&
    pass "a pull whose client left after 2 s completes and is listed" || fail "pull after the client left"
  kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null
else
  echo "note: node/npm or the ollama client is unavailable; the /api/pull client checks did not run"
  fail "the ollama npm client could not be installed"
fi

# ---- throughput from the local registry, kvant vs curl (a note, not an assertion) ----
export KVANT_MODELS="$TMP/speed"
T0=$(date +%s.%N); "$KVANT" pull --insecure "$REG/library/kjv:v1" >/dev/null 2>&1; T1=$(date +%s.%N)
curl -s -o "$TMP/curl.blob" "http://$REG/v2/library/kjv/blobs/sha256:$BIG"; T2=$(date +%s.%N)
python3 -c "import sys; a,b,c,n=map(float,sys.argv[1:]); print('note: pull of %d bytes: kvant %.1f MB/s (whole pull, hashed), curl of the blob %.1f MB/s' % (n, n/(b-a)/1e6, n/(c-b)/1e6))" "$T0" "$T1" "$T2" "$SIZE"
finish
