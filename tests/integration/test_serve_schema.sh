#!/usr/bin/env bash
# JSON schemas enforced end to end on the demo model: Ollama's format {schema}
# and OpenAI's response_format json_schema, for several schemas (nested objects
# with required, enum, integer arrays, anyOf; $ref recursion; formats and
# number bounds), streamed and not, one at a time and batched; every reply is
# validated by ajv, and the openai SDK's chat.completions.parse() with a zod
# schema must return a parsed object (serve_schema.mjs). Then hostile and
# unsupported schemas: each a 400 naming what is wrong, and the server answers
# after them. The npm packages are installed once into $KV_BUILD_DIR/node_schema.
. "$(dirname "$0")/lib.sh"

OPENAI_VERSION=6.30.1 # as test_serve_clients.sh; its helpers take zod ^3.25 || ^4
ZOD_VERSION=3.25.76
AJV_VERSION=8.17.1
AJV_FORMATS_VERSION=3.0.1

require_demo_model
require_cmds "node, npm or curl is missing (tools/install-deps.sh installs them)" node npm curl

# ---- the npm packages ----
PKGS=${KV_BUILD_DIR:-$TMP}/node_schema
npm_install_pinned "$PKGS" "openai@$OPENAI_VERSION" "zod@$ZOD_VERSION" "ajv@$AJV_VERSION" \
  "ajv-formats@$AJV_FORMATS_VERSION" ||
  skip "npm could not install the packages (is the registry reachable?)"
cp "$SRC/tests/integration/serve_schema.mjs" "$PKGS/serve_schema.mjs"

# ---- the server ----
demo_gguf
# a context of 1024 (the model was trained on 512): the demo model pads JSON with
# whitespace, and a reply cut by the token limit would not be a whole document
start_server --model "kjv=$TMP/kjv.gguf" --parallel 4 --ctx 1024

OUT=$(KV_BASE="$BASE" timeout 600 node "$PKGS/serve_schema.mjs" 2>&1)
rc=$?
echo "$OUT" | cut -c1-160 | sed 's/^/  node: /'
if [ "$rc" -eq 0 ]; then pass "schema replies: $(echo "$OUT" | grep -c '^ok:') checks"; else fail "schema replies (exit $rc)"; fi
echo "$OUT" | grep -q '^ok: zod parse' && pass "the openai SDK's parse() with zod returned parsed objects" \
  || fail "no zod parse succeeded"

# ---- refusals: a 400 naming the keyword, or what is wrong, and where ----
gen() { # gen SCHEMA: an Ollama generate request with format SCHEMA
  curl -s -i --max-time 60 -X POST "$BASE/api/generate" \
    -d "{\"model\":\"kjv\",\"prompt\":\"a\",\"stream\":false,\"format\":$1,\"options\":{\"num_predict\":8}}"
}
refused() { # refused DESC SCHEMA FRAGMENT
  OUT=$(gen "$2")
  if grep -q "400 Bad Request" <<<"$OUT" && grep -qF -- "$3" <<<"$OUT"; then
    pass "$1 is a 400: $(tail -n 1 <<<"$OUT" | cut -c1-120)"
  else
    fail "$1: wanted a 400 with '$3', got: $(tail -n 1 <<<"$OUT")"
  fi
}
refused "patternProperties" '{"type":"object","properties":{"x":{"type":"object","patternProperties":{"a":{}}}}}' \
  'unsupported JSON schema keyword \"patternProperties\" at /properties/x'
refused "pattern" '{"type":"string","pattern":"^a+$"}' 'keyword \"pattern\"'
refused "oneOf" '{"oneOf":[{"type":"string"},{"type":"null"}]}' 'keyword \"oneOf\"'
refused "format email" '{"type":"string","format":"email"}' 'format \"email\"'
refused "a wrong type name" '{"type":"strng"}' 'keyword \"type\" at /'
refused "type given as a number" '{"type":5}' 'keyword \"type\"'
refused "minItems as a string" '{"type":"array","minItems":"3"}' '\"minItems\" at /'
refused "an unresolved \$ref" '{"$ref":"#/$defs/missing"}' 'does not resolve'
refused "a remote \$ref" '{"$ref":"https://example.com/s.json"}' 'does not resolve'
refused "circular \$refs" '{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}' 'circular'
refused "required recursion without end" \
  '{"$defs":{"n":{"type":"object","properties":{"c":{"$ref":"#/$defs/n"}},"required":["c"]}},"$ref":"#/$defs/n"}' \
  'no document'
deep=$(python3 -c 'print("{\"items\":" * 200 + "{}" + "}" * 200)')
refused "a schema nested 200 deep" "$deep" 'nested deeper than 64'
huge=$(python3 -c 'import json; print(json.dumps({"enum": list(range(20000))}))')
refused "an enum of 20000 values" "$huge" 'at most 4096'
OUT=$(curl -s -i --max-time 60 -X POST "$BASE/v1/chat/completions" -d '{"model":"kjv",
  "messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_schema",
  "json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"allOf":[{}]}}}}}}')
expect_out "400 Bad Request" "OpenAI: an unsupported keyword is a 400"
expect_out '"param":"response_format.json_schema.schema"' "OpenAI: the 400 names the field as param"
expect_out 'keyword \"allOf\" at /properties/a' "OpenAI: ... and the keyword with its place"

# the server still answers, with a schema, after all that
OUT=$(curl -s --max-time 60 -X POST "$BASE/api/generate" -d '{"model":"kjv","prompt":"a","stream":false,
  "format":{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]},"options":{"seed":1}}')
expect_out '"response":"' "the server answers after the refusals"
python3 -c 'import json,sys; v=json.loads(json.loads(sys.argv[1])["response"]); assert type(v["ok"]) is bool and len(v)==1' "$OUT" \
  && pass "... with a reply that matches its schema" || fail "reply after refusals: $OUT"
finish
