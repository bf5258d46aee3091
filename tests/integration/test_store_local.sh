#!/usr/bin/env bash
# The local model store in Ollama's layout: kvant create from a Modelfile with
# the demo model, list, show (and its Modelfile made back into a model), cp, rm
# with blob garbage collection; the files checked one by one against Ollama's
# layout (manifest JSON fields, blob names and contents); a store written by
# hand as `ollama pull` leaves it is listed and runs with `kvant run NAME`;
# hostile names, digests, links and bad Modelfiles are refused with clear errors.
. "$(dirname "$0")/lib.sh"
[ -n "$SHARED" ] || { echo "skip: no demo model"; exit 77; }
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }

demo_gguf
export KVANT_MODELS="$TMP/store"
unset OLLAMA_MODELS
ST="$KVANT_MODELS"
MAN="$ST/manifests/registry.ollama.ai/library"

mkdir -p "$TMP/mf"
cp "$TMP/kjv.gguf" "$TMP/mf/kjv.gguf"
cat >"$TMP/mf/Modelfile" <<'EOF'
# the demo model, with everything a Modelfile may set
FROM ./kjv.gguf
PARAMETER temperature 0.5
PARAMETER stop "<s>"
PARAMETER stop END
PARAMETER num_ctx 256
TEMPLATE """{{ .System }} {{ .Prompt }}"""
SYSTEM """You are
terse."""
LICENSE "public domain"
EOF

# ---- create, and the layout file by file ----
expect_rc 0 "create kjv from a Modelfile (FROM relative to the Modelfile)" \
  "$KVANT" create kjv -f "$TMP/mf/Modelfile"
expect_out "created kjv:latest" "create names the model"
[ -f "$MAN/kjv/latest" ] && pass "manifest at manifests/registry.ollama.ai/library/kjv/latest" \
  || fail "no manifest at $MAN/kjv/latest: $(find "$ST")"

# Checks a manifest against Ollama's layout; prints one line per problem.
check_layout() {
  python3 - "$1" "$ST" "$2" <<'EOF'
import hashlib, json, os, re, sys
path, store, gguf = sys.argv[1:]
m = json.load(open(path))
bad = []
def want(c, what):
    if not c: bad.append(what)
want(m.get("schemaVersion") == 2, "schemaVersion 2")
want(m.get("mediaType") == "application/vnd.docker.distribution.manifest.v2+json", "manifest mediaType")
want(list(m.keys()) == ["schemaVersion", "mediaType", "config", "layers"], "manifest key order")
def blob(l, what):
    want(set(l) == {"mediaType", "digest", "size"}, what + " keys")
    d = l["digest"]
    want(re.fullmatch(r"sha256:[0-9a-f]{64}", d), what + " digest form")
    f = os.path.join(store, "blobs", d.replace(":", "-"))
    data = open(f, "rb").read()
    want(hashlib.sha256(data).hexdigest() == d[7:], what + " blob content matches its name")
    want(len(data) == l["size"], what + " size")
    return data
cfg = json.loads(blob(m["config"], "config"))
want(m["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json", "config mediaType")
want(cfg.get("model_format") == "gguf", "config model_format")
want(cfg.get("model_family") == "llama" and cfg.get("model_families") == ["llama"], "config family")
want(cfg.get("rootfs", {}).get("type") == "layers", "rootfs type")
want(cfg["rootfs"].get("diff_ids") == [l["digest"] for l in m["layers"]], "rootfs diff_ids")
kinds = {}
for i, l in enumerate(m["layers"]):
    kinds[l["mediaType"]] = blob(l, "layers[%d]" % i)
P = "application/vnd.ollama.image."
want(kinds.get(P + "model") == open(gguf, "rb").read(), "model layer is the GGUF, byte for byte")
want(kinds.get(P + "template") == b"{{ .System }} {{ .Prompt }}", "template layer")
want(kinds.get(P + "system") == b"You are\nterse.", "system layer")
want(kinds.get(P + "license") == b"public domain", "license layer")
want(json.loads(kinds.get(P + "params", b"null")) == {"num_ctx": 256, "stop": ["<s>", "END"], "temperature": 0.5}, "params layer JSON")
for n in os.listdir(os.path.join(store, "blobs")):
    want(re.fullmatch(r"sha256-[0-9a-f]{64}", n), "blob file name " + n)
print("\n".join(bad))
EOF
}
PROBLEMS=$(check_layout "$MAN/kjv/latest" "$TMP/kjv.gguf" 2>&1)
[ -z "$PROBLEMS" ] && pass "manifest, config and layer blobs are in Ollama's layout" \
  || fail "layout: $PROBLEMS"
[ "$(ls "$ST/blobs" | wc -l)" -eq 6 ] && pass "six blobs: config, model, template, system, license, params" \
  || fail "blobs: $(ls "$ST/blobs")"
ls "$ST/blobs" | grep -q tmp && fail "a temporary file was left in blobs/" || pass "no temporary files left"

# ---- list ----
ID=$(sha256sum "$MAN/kjv/latest" | cut -c1-12)
expect_rc 0 "list" "$KVANT" list
expect_out "NAME" "list has a header"
grep -qE "^kjv:latest +$ID +7\.[0-9] MB +" <<<"$OUT" && pass "list: name, ID (12 hex of the manifest digest), size" \
  || fail "list line for kjv (ID $ID): $OUT"

# ---- show ----
expect_rc 0 "show" "$KVANT" show kjv
expect_out "sha256:$(sha256sum "$MAN/kjv/latest" | cut -d' ' -f1)" "show gives the manifest digest"
expect_out '"temperature":0.5' "show gives the parameters"
expect_rc 0 "show --modelfile" "$KVANT" show kjv:latest --modelfile
expect_out "FROM $ST/blobs/sha256-$(sha256sum "$TMP/kjv.gguf" | cut -d' ' -f1)" "the Modelfile's FROM is the model blob"
expect_out 'PARAMETER stop "END"' "the Modelfile has each stop"
printf '%s\n' "$OUT" >"$TMP/shown.Modelfile"
expect_rc 0 "the shown Modelfile makes a model again" "$KVANT" create again -f "$TMP/shown.Modelfile"
python3 - "$MAN/kjv/latest" "$MAN/again/latest" <<'EOF' && pass "... with the same layers" || fail "the re-created model's layers differ"
import json, sys
a, b = (json.load(open(p))["layers"] for p in sys.argv[1:])
sys.exit(0 if sorted(map(str, a)) == sorted(map(str, b)) else 1)
EOF

# ---- FROM an existing model, cp ----
printf 'FROM kjv\nSYSTEM other\n' >"$TMP/mf/Derived"
expect_rc 0 "create FROM an existing model" "$KVANT" create me/derived:v2 -f "$TMP/mf/Derived"
python3 - "$MAN/kjv/latest" "$ST/manifests/registry.ollama.ai/me/derived/v2" <<'EOF' && pass "the derived model shares the model and template layers, not the system one" || fail "derived layers"
import json, sys
a, b = ({l["mediaType"]: l["digest"] for l in json.load(open(p))["layers"]} for p in sys.argv[1:])
P = "application/vnd.ollama.image."
sys.exit(0 if a[P + "model"] == b[P + "model"] and a[P + "template"] == b[P + "template"] and a[P + "system"] != b[P + "system"] else 1)
EOF
expect_rc 0 "cp" "$KVANT" cp kjv example.com:5000/team/copy:t1
cmp -s "$MAN/kjv/latest" "$ST/manifests/example.com:5000/team/copy/t1" \
  && pass "cp writes the same manifest bytes (same ID)" || fail "cp's manifest differs"
expect_rc 0 "list after cp" "$KVANT" list
expect_out "example.com:5000/team/copy:t1" "list shows the full name of another host"
expect_out "me/derived:v2" "list shows the namespace when not library"

# ---- names compare case-insensitively, as Ollama's (KJV:V1 is kjv:v1) ----
expect_rc 0 "show finds kjv as KJV:LATEST" "$KVANT" show KJV:LATEST --modelfile
expect_out 'PARAMETER stop "END"' "... the same model"
expect_rc 0 "run finds kjv as Kjv" "$KVANT" run Kjv "In the beginning" -n 2 --temp 0 --seed 1
expect_rc 0 "create ME/Derived:V2 writes the existing me/derived:v2" "$KVANT" create ME/Derived:V2 -f "$TMP/mf/Derived"
[ ! -e "$ST/manifests/registry.ollama.ai/ME" ] && [ -f "$ST/manifests/registry.ollama.ai/me/derived/v2" ] \
  && pass "... no second spelling on disk" || fail "spellings: $(find "$ST/manifests")"
expect_rc 1 "a name that differs in more than case is still not found" "$KVANT" show KJV:LATES
expect_out "not found" "... saying so"

# ---- rm and garbage collection ----
NB=$(ls "$ST/blobs" | wc -l)
SYS1=$(printf 'You are\nterse.' | sha256sum | cut -d' ' -f1)
expect_rc 0 "rm kjv" "$KVANT" rm kjv
expect_out "0 unused blobs removed" "rm keeps blobs other models use"
[ ! -e "$MAN/kjv" ] && pass "rm removes the model's empty folder" || fail "left $MAN/kjv"
expect_rc 0 "rm the copy" "$KVANT" rm example.com:5000/team/copy:t1
expect_rc 0 "rm again" "$KVANT" rm again
# kjv's system and config blobs had no other user (me/derived has its own).
[ "$NB" -eq 8 ] && [ "$(ls "$ST/blobs" | wc -l)" -eq 6 ] && [ ! -e "$ST/blobs/sha256-$SYS1" ] \
  && pass "rm of the last user of kjv's system and config blobs removes them (8 -> 6)" \
  || fail "blobs after rm: $(ls "$ST/blobs" | wc -l) (from $NB)"
expect_rc 0 "rm the last model" "$KVANT" rm me/derived:v2
[ -z "$(ls "$ST/blobs")" ] && pass "no blob left once no manifest names one" || fail "left: $(ls "$ST/blobs")"
expect_rc 1 "rm of a missing model fails" "$KVANT" rm kjv
expect_out "model 'kjv:latest' not found" "... saying it is not found"

# ---- a store as `ollama pull` leaves it ----
OL="$TMP/ollama"
mkdir -p "$OL/blobs" "$OL/manifests/registry.ollama.ai/library/tiny"
put_blob() { # put_blob FILE: copies FILE into $OL's blobs, prints its digest
  local h; h=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$OL/blobs/sha256-$h"
  echo "sha256:$h"
}
printf '{{ .Prompt }}' >"$TMP/tmpl"
printf '{"model_format":"gguf","model_family":"llama","model_families":["llama"],"model_type":"7M","file_type":"Q8_0","renderer":"","parser":"","rootfs":{"type":"layers","diff_ids":[]}}' >"$TMP/cfg"
DM=$(put_blob "$TMP/kjv.gguf"); DT=$(put_blob "$TMP/tmpl"); DC=$(put_blob "$TMP/cfg")
printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"%s","size":%d},{"mediaType":"application/vnd.ollama.image.template","digest":"%s","size":%d}]}' \
  "$DC" "$(stat -c %s "$TMP/cfg")" "$DM" "$(stat -c %s "$TMP/kjv.gguf")" "$DT" "$(stat -c %s "$TMP/tmpl")" \
  >"$OL/manifests/registry.ollama.ai/library/tiny/latest"
# a model whose template layer is not UTF-8 (hostile for /api/show)
mkdir -p "$OL/manifests/registry.ollama.ai/library/badtext"
printf 'a\xff\xfeb' >"$TMP/badtmpl"
DB8=$(put_blob "$TMP/badtmpl")
printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"%s","size":%d},{"mediaType":"application/vnd.ollama.image.template","digest":"%s","size":4}]}' \
  "$DC" "$(stat -c %s "$TMP/cfg")" "$DM" "$(stat -c %s "$TMP/kjv.gguf")" "$DB8" \
  >"$OL/manifests/registry.ollama.ai/library/badtext/latest"
(
  unset KVANT_MODELS
  export OLLAMA_MODELS="$OL"
  expect_rc 0 "list reads an Ollama store (OLLAMA_MODELS)" "$KVANT" list
  expect_out "tiny:latest" "... and lists its model"
  expect_rc 0 "kvant run NAME from the Ollama store" "$KVANT" run tiny "In the beginning" -n 8 --temp 0 --seed 1
  A=$OUT
  expect_rc 0 "kvant run of the GGUF file itself" "$KVANT" run "$TMP/kjv.gguf" "In the beginning" -n 8 --temp 0 --seed 1
  [ "$(head -1 <<<"$A")" = "$(head -1 <<<"$OUT")" ] && pass "run NAME gives the same text as run FILE" \
    || fail "run NAME: '$(head -1 <<<"$A")' vs FILE: '$(head -1 <<<"$OUT")'"
  expect_rc 0 "show --modelfile of an Ollama model" "$KVANT" show tiny --modelfile
  expect_out 'TEMPLATE """{{ .Prompt }}"""' "... gives its template"
  finish >"$TMP/sub.result"
) | tee "$TMP/sub.out"
N_PASS=$((N_PASS + $(grep -c '^ok:' "$TMP/sub.out")))
N_FAIL=$((N_FAIL + $(grep -c '^FAIL:' "$TMP/sub.out")))

# --ollama-store DIR (and --store DIR): the Ollama store by option, read only
SUM0=$(find "$OL" -type f -exec sha256sum {} + | sort)
expect_rc 0 "list --ollama-store DIR" "$KVANT" list --ollama-store "$OL"
expect_out "tiny:latest" "... lists the Ollama store's model"
expect_rc 0 "show NAME --ollama-store DIR" "$KVANT" show tiny --ollama-store "$OL" --modelfile
expect_out 'TEMPLATE """{{ .Prompt }}"""' "... shows it"
expect_rc 0 "run NAME --ollama-store DIR" "$KVANT" run tiny "In the beginning" -n 2 --temp 0 --ollama-store "$OL"
expect_rc 0 "list --store DIR" "$KVANT" list --store "$OL"
expect_out "tiny:latest" "... the same store"
expect_rc 2 "create with --ollama-store is refused (read only)" "$KVANT" create y -f "$TMP/mf/Plain" --ollama-store "$OL"
expect_out "read only" "... saying so"
expect_rc 2 "rm with --ollama-store is refused" "$KVANT" rm tiny --ollama-store "$OL"
expect_rc 1 "--ollama-store of a missing folder" "$KVANT" list --ollama-store "$TMP/nope"
expect_out "not a folder" "... is named"
if command -v curl >/dev/null; then
  start_server --ollama-store "$OL"
  OUT=$(curl -s --max-time 30 "$BASE/api/tags")
  expect_out '"tiny:latest"' "serve --ollama-store lists the model"
  OUT=$(curl -s --max-time 60 "$BASE/api/generate" -d '{"model":"tiny","prompt":"In the","stream":false,"options":{"num_predict":2}}')
  expect_out '"done":true' "... and generates with it"
  for req in "DELETE /api/delete {\"model\":\"tiny\"}" "POST /api/copy {\"source\":\"tiny\",\"destination\":\"t2\"}" \
             "POST /api/create {\"model\":\"t3\",\"from\":\"tiny\"}" "POST /api/pull {\"model\":\"127.0.0.1:1/library/z\",\"stream\":false}"; do
    read -r m u b <<<"$req"
    C=$(curl -s -o "$TMP/ro.json" -w '%{http_code}' --max-time 30 -X "$m" "$BASE$u" -d "$b")
    [ "$C" = 422 ] && grep -q "read only" "$TMP/ro.json" && pass "serve --ollama-store: $m $u is 422 (read only)" \
      || fail "$m $u: $C $(cat "$TMP/ro.json")"
  done
  C=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X POST "$BASE/v2/library/tiny/blobs/uploads/")
  [ "$C" = 405 ] && pass "serve --ollama-store: a /v2/ push is 405" || fail "/v2/ push: $C"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=
  rm -f "$TMP/serve.out"
fi
[ "$SUM0" = "$(find "$OL" -type f -exec sha256sum {} + | sort)" ] && pass "the Ollama store is unchanged, byte for byte" \
  || fail "the Ollama store changed"

# kvant serve --store serves the Ollama store's model by name.
if command -v curl >/dev/null; then
  SAVED=$KVANT_MODELS
  export KVANT_MODELS="$OL"
  start_server --store
  export KVANT_MODELS="$SAVED"
  OUT=$(curl -s --max-time 30 "$BASE/api/tags")
  expect_out '"tiny:latest"' "serve --store lists the store's model in /api/tags"
  OUT=$(curl -s --max-time 60 "$BASE/api/generate" -d '{"model":"tiny","prompt":"In the beginning","stream":false,"options":{"num_predict":4,"temperature":0}}')
  expect_out '"done":true' "serve --store generates with the model named 'tiny'"
  OUT=$(curl -s --max-time 60 "$BASE/api/show" -d '{"model":"TINY:Latest"}')
  expect_out '"family":"llama"' "serve --store finds 'tiny' as TINY:Latest (names ignore case)"
  expect_out '"template":"{{ .Prompt }}"' "/api/show gives the store's template layer"
  expect_out 'FROM '"$OL"'/blobs/sha256-' "/api/show's modelfile is the store's (FROM its blob)"
  CODE=$(curl -s -o "$TMP/bad.json" -w '%{http_code}' --max-time 30 "$BASE/api/show" -d '{"model":"badtext"}')
  OUT=$(cat "$TMP/bad.json")
  [ "$CODE" != 200 ] && pass "/api/show of a model whose template is not UTF-8 fails ($CODE)" || fail "badtext: 200 $OUT"
  expect_out "not UTF-8" "... saying so"
  OUT=$(curl -s --max-time 30 "$BASE/api/show" -d '{"model":"tiny"}')
  expect_out '"template":"{{ .Prompt }}"' "the server answers afterwards"
  curl -s --max-time 30 "$BASE/api/copy" -d '{"source":"TINY","destination":"Tiny2"}' >/dev/null
  cp "$TMP/kjv.gguf" "$TMP/kjv2.gguf"; printf '\0\0\0\0' >>"$TMP/kjv2.gguf" # another blob, still GGUF
  D2="sha256:$(sha256sum "$TMP/kjv2.gguf" | cut -d' ' -f1)"
  curl -s --max-time 30 "$BASE/api/blobs/$D2" --data-binary "@$TMP/kjv2.gguf" >/dev/null
  curl -s --max-time 30 "$BASE/api/create" -d '{"model":"TINY2","files":{"k.gguf":"'"$D2"'"},"stream":false}' >/dev/null
  OUT=$(curl -s --max-time 30 "$BASE/api/tags")
  grep -q '"Tiny2:latest"' <<<"$OUT" && ! grep -q '"TINY2:latest"' <<<"$OUT" \
    && [ -f "$OL/manifests/registry.ollama.ai/library/Tiny2/latest" ] && [ ! -e "$OL/manifests/registry.ollama.ai/library/TINY2" ] \
    && pass "/api/create of TINY2 rewrites the stored Tiny2 and serves it under that spelling" || fail "spellings: $OUT"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=
fi

# ---- hostile input ----
printf 'FROM ./kjv.gguf\n' >"$TMP/mf/Plain"
LONG=$(printf 'a%.0s' $(seq 1 300))
NAMES=("../x" "/abs" "a:b:c" "$LONG" "x/../y" "m:..")
WHYS=("namespace must start" "absolute path" "more than one ':'" "at most 80" "namespace must start" "tag must start")
for i in "${!NAMES[@]}"; do
  expect_rc 1 "create refuses the name '${NAMES[$i]:0:20}'" "$KVANT" create "${NAMES[$i]}" -f "$TMP/mf/Plain"
  expect_out "${WHYS[$i]}" "... saying '${WHYS[$i]}'"
done
expect_rc 1 "show refuses ../../etc/passwd" "$KVANT" show ../../etc/passwd
[ ! -e "$TMP/x" ] && [ -z "$(ls "$ST/manifests" 2>/dev/null)" ] && pass "nothing was written for a refused name" \
  || fail "something was written: $(find "$ST/manifests" "$TMP/x" 2>/dev/null)"

mkdir -p "$MAN/evil"
printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"%s","size":1},"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:../../../kjv.gguf","size":1}]}' \
  "$DC" >"$MAN/evil/latest"
expect_rc 1 "show refuses a manifest whose digest walks out of the store" "$KVANT" show evil
expect_out "digest 'sha256:../../../kjv.gguf' is not 'sha256:' and 64 lowercase hex digits" "... naming the digest"
expect_rc 1 "run refuses it too (not a file, not a good model)" "$KVANT" run evil "x" -n 1
expect_rc 0 "list skips it" "$KVANT" list
grep -q evil <<<"$OUT" && fail "list shows the hostile manifest" || pass "... and does not show it"
rm -rf "$MAN/evil"

mkdir -p "$MAN/linked"
ln -s "$OL/manifests/registry.ollama.ai/library/tiny/latest" "$MAN/linked/latest"
expect_rc 1 "a manifest that is a symbolic link is not followed" "$KVANT" show linked
expect_out "symbolic link" "... saying so"
rm -rf "$MAN/linked"

# ---- bad Modelfiles ----
printf 'FROM ./kjv.gguf\nBOGUS x\n' >"$TMP/mf/Bad"
expect_rc 1 "an unknown instruction is refused" "$KVANT" create b -f "$TMP/mf/Bad"
expect_out "$TMP/mf/Bad:2: unknown instruction 'BOGUS'" "... naming the file and line"
printf 'FROM ./Bad\n' >"$TMP/mf/NotGguf"
expect_rc 1 "a FROM file that is not GGUF is refused" "$KVANT" create b -f "$TMP/mf/NotGguf"
expect_out "FROM is not a GGUF file" "... saying so"
printf 'FROM nosuch\n' >"$TMP/mf/NoSuch"
expect_rc 1 "a FROM that is no file and no model is refused" "$KVANT" create b -f "$TMP/mf/NoSuch"
expect_out "NoSuch:1: FROM 'nosuch': no such file or model" "... naming the line"
printf 'FROM ./kjv.gguf\nPARAMETER top_k lots\n' >"$TMP/mf/BadParam"
expect_rc 1 "a bad parameter value is refused" "$KVANT" create b -f "$TMP/mf/BadParam"
expect_out "BadParam:2: top_k: 'lots' is not an integer" "... naming the line"
[ ! -e "$MAN/b" ] && pass "no manifest for a refused Modelfile" || fail "a manifest was written for b"

# ---- kill -9 during create, at several points ----
KS="$TMP/kstore"
cp "$TMP/kjv.gguf" "$TMP/mf/big.gguf"
head -c 150000000 /dev/zero >>"$TMP/mf/big.gguf" # a long copy to land in (trailing bytes: still GGUF)
printf 'FROM ./big.gguf\nSYSTEM big\n' >"$TMP/mf/Big"
KVANT_MODELS="$KS" "$KVANT" create small -f "$TMP/mf/Plain" >/dev/null
left=0 bad=0
for d in 0.02 0.1 0.25 0.4 0.6 0.9; do
  KVANT_MODELS="$KS" "$KVANT" create "big$d" -f "$TMP/mf/Big" >/dev/null 2>&1 &
  P=$!
  sleep "$d"; kill -9 "$P" 2>/dev/null; wait "$P" 2>/dev/null
  [ -n "$(find "$KS" -name '*.tmp-*' -o -name '.tmp-*')" ] && left=$((left + 1))
  # every model listed is whole: show works and its blob hashes to its name
  for m in $(KVANT_MODELS="$KS" "$KVANT" list | awk 'NR > 1 {print $1}'); do
    KVANT_MODELS="$KS" "$KVANT" show "$m" --modelfile >"$TMP/k.mf" 2>&1 || { bad=$((bad + 1)); continue; }
    b=$(sed -n 's/^FROM //p' "$TMP/k.mf" | tail -1)
    [ "sha256-$(sha256sum "$b" | cut -c1-64)" = "$(basename "$b")" ] || bad=$((bad + 1))
  done
done
[ "$bad" = 0 ] && pass "kill -9 at 6 points of a create: every listed model is whole ($left kills left temporaries)" \
  || fail "$bad listed models were not whole after kill -9"
KVANT_MODELS="$KS" expect_rc 0 "list after the kills" "$KVANT" list
expect_out "small:latest" "... still lists the model made before"
# the killed writers' temporaries, as if their writers died an hour ago, and
# one being written now (fresh): the next create deletes only the stale ones
printf 'partial' >"$KS/blobs/.tmp-AbCdEf"
mkdir -p "$KS/manifests/registry.ollama.ai/library/small"
printf '{' >"$KS/manifests/registry.ollama.ai/library/small/latest.tmp-XyZ123"
find "$KS" \( -name '*.tmp-*' -o -name '.tmp-*' \) -exec touch -d '1 hour ago' {} +
printf 'fresh' >"$KS/blobs/.tmp-fresh1"
KVANT_MODELS="$KS" expect_rc 0 "the next create" "$KVANT" create after -f "$TMP/mf/Plain"
STALE=$(find "$KS" \( -name '*.tmp-*' -o -name '.tmp-*' \) ! -name '.tmp-fresh1')
[ -z "$STALE" ] && pass "... leaves no stale temporary file (blobs and manifests)" || fail "stale: $STALE"
[ -f "$KS/blobs/.tmp-fresh1" ] && pass "... and keeps one a running writer may still be writing" || fail "the fresh temporary went"
KVANT_MODELS="$KS" expect_rc 0 "list" "$KVANT" list
grep -q "tmp" <<<"$OUT" && fail "list shows a temporary: $OUT" || pass "list shows no temporary"
rm -f "$TMP/mf/big.gguf"

# ---- FROM a Hugging Face folder: converted on the way (F16, or --quantize TYPE) ----
HF="$SHARED/models/kjv-llama-7m"
"$KVANT" convert "$HF" -o "$TMP/ref_q4km.gguf" --outtype q4_k_m >/dev/null 2>&1 || fail "convert --outtype q4_k_m"
printf 'FROM %s\nSYSTEM terse\n' "$HF" >"$TMP/mf/Hf"
expect_rc 0 "create FROM a Hugging Face folder --quantize Q4_K_M" "$KVANT" create kjvhf -f "$TMP/mf/Hf" --quantize Q4_K_M
expect_out "converting $HF to Q4_K_M" "... with a progress line"
HD=$(grep -o '"application/vnd.ollama.image.model","digest":"sha256:[0-9a-f]*' "$MAN/kjvhf/latest" | sed 's/.*sha256://')
[ -n "$HD" ] && [ "$HD" = "$(sha256sum "$TMP/ref_q4km.gguf" | cut -d' ' -f1)" ] && cmp -s "$ST/blobs/sha256-$HD" "$TMP/ref_q4km.gguf" &&
  pass "the stored GGUF is byte for byte kvant convert --outtype q4_k_m's (sha256 $HD)" || fail "kjvhf model layer $HD"
expect_rc 0 "create FROM the folder without --quantize" "$KVANT" create kjvhf16 -f "$TMP/mf/Hf"
HD=$(grep -o '"application/vnd.ollama.image.model","digest":"sha256:[0-9a-f]*' "$MAN/kjvhf16/latest" | sed 's/.*sha256://')
"$KVANT" info "$ST/blobs/sha256-$HD" >"$TMP/info16" 2>&1
grep -qE "general.file_type +1$" "$TMP/info16" && pass "... stores F16 (general.file_type 1)" || fail "kjvhf16 info: $(head -20 "$TMP/info16")"
"$KVANT" convert "$HF" -o "$TMP/ref_f16.gguf" --outtype f16 >/dev/null 2>&1
printf 'FROM ./ref.gguf\n' >"$TMP/mf/Gq"; cp "$TMP/ref_f16.gguf" "$TMP/mf/ref.gguf"
"$KVANT" quantize "$TMP/ref_f16.gguf" "$TMP/ref_q.gguf" q4_0 >/dev/null 2>&1 || fail "quantize q4_0"
expect_rc 0 "create FROM a GGUF file --quantize q4_0" "$KVANT" create kjvq -f "$TMP/mf/Gq" --quantize q4_0
HD=$(grep -o '"application/vnd.ollama.image.model","digest":"sha256:[0-9a-f]*' "$MAN/kjvq/latest" | sed 's/.*sha256://')
cmp -s "$ST/blobs/sha256-$HD" "$TMP/ref_q.gguf" && pass "... the stored GGUF is kvant quantize's" || fail "kjvq blob $HD"
mkdir -p "$TMP/mf/notamodel"; echo '{}' >"$TMP/mf/notamodel/readme.json"
printf '# not a model\nFROM ./notamodel\n' >"$TMP/mf/NotModel"
expect_rc 1 "create FROM a folder that is not a model" "$KVANT" create notamodel -f "$TMP/mf/NotModel"
expect_out "NotModel:2: FROM '$TMP/mf/./notamodel'" "... one error naming the Modelfile's line and the folder"
[ "$(grep -c 'kvant create' <<<"$OUT")" = 1 ] && pass "... in one line" || fail "errors: $OUT"
[ ! -e "$MAN/notamodel" ] && [ -z "$(find "$ST/blobs" -name '.tmp-*')" ] && pass "... nothing stored, no temporary left" ||
  fail "notamodel left: $(ls "$MAN") $(find "$ST/blobs" -name '.tmp-*')"
expect_rc 1 "create --quantize with a bogus type" "$KVANT" create kjvbad -f "$TMP/mf/Hf" --quantize Q9_Z
expect_out "--quantize: unknown quantization type 'Q9_Z'" "... names the type"

finish
