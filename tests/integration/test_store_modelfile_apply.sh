#!/usr/bin/env bash
# A store model's Modelfile applies when it generates, as in Ollama: SYSTEM is
# the default system message, PARAMETER values the default options, TEMPLATE
# (a Go template, kv_gotmpl's subset) renders the prompt; a request's own
# values win. Checked through `kvant serve --store` (/api/chat, /api/generate,
# /v1/chat/completions: token counts against `kvant tokenize` of the expected
# rendering, greedy text against a raw prompt of that rendering, eval_count
# against num_predict, stop) and `kvant run NAME --verbose-prompt`; a TEMPLATE
# outside the subset is refused at create naming its line, and one planted in
# the store falls back with a warning; hostile stored params never stop the server.
. "$(dirname "$0")/lib.sh"

require_demo_model
require_cmds "curl or sha256sum is missing" curl sha256sum
demo_gguf
unset OLLAMA_MODELS
export KVANT_MODELS="$TMP/store"
ST="$KVANT_MODELS"
MAN="$ST/manifests/registry.ollama.ai/library"
mkdir -p "$TMP/mf"
cp "$TMP/kjv.gguf" "$TMP/mf/kjv.gguf"

modelfile() { # STOP: a Modelfile with SYSTEM, temperature 0, num_predict 5, stop STOP, TEMPLATE
  cat <<EOF
FROM ./kjv.gguf
SYSTEM """And God said"""
PARAMETER temperature 0
PARAMETER num_predict 5
PARAMETER stop "$1"
TEMPLATE """{{- if .System }}{{ .System }}, {{ end }}{{ .Prompt }}:{{ .Response }}"""
EOF
}
modelfile Amen >"$TMP/mf/Modelfile"
expect_rc 0 "create kjv with SYSTEM, PARAMETER and TEMPLATE" "$KVANT" create kjv -f "$TMP/mf/Modelfile"

WANT="And God said, let there be light:"   # the template's rendering of SYSTEM and the prompt
count() { "$KVANT" tokenize --count "$TMP/kjv.gguf" "$1"; }
N_WANT=$(count "$WANT")
N_BARE=$(count "let there be light")
[ "$N_WANT" -gt "$N_BARE" ] && pass "the rendering has more tokens ($N_WANT) than the bare prompt ($N_BARE)" ||
  fail "token counts $N_WANT vs $N_BARE"

# ---- a TEMPLATE outside the subset: refused at create, naming the Modelfile's line ----
printf 'FROM ./kjv.gguf\n# a comment\nTEMPLATE """{{ .System }}\n{{ .Prompt | upper }}"""\n' >"$TMP/mf/Bad"
expect_rc 1 "create refuses a TEMPLATE with a pipe" "$KVANT" create bad -f "$TMP/mf/Bad"
expect_out "Bad:4: TEMPLATE: pipes" "the error names the Modelfile's line 4 and the construct"
[ ! -e "$MAN/bad" ] && pass "no model 'bad'" || fail "bad was created"

# ---- MESSAGE: a messages layer, prepended to chats after SYSTEM ----
cat >"$TMP/mf/Msg" <<'EOF'
FROM ./kjv.gguf
SYSTEM """And God said"""
PARAMETER temperature 0
PARAMETER num_predict 2
MESSAGE user In the beginning
message NARRATOR x
EOF
expect_rc 1 "create refuses a MESSAGE of an unknown role" "$KVANT" create kjvmsg -f "$TMP/mf/Msg"
expect_out "Msg:6: MESSAGE: unknown role 'NARRATOR'" "the error names the Modelfile's line 6 and the role"
[ ! -e "$MAN/kjvmsg" ] && pass "no model 'kjvmsg'" || fail "kjvmsg was created"
sed -i '$d' "$TMP/mf/Msg"
printf 'MESSAGE assistant """God created\nthe heaven"""\n%s\n' \
  'TEMPLATE """{{- range .Messages }}{{ .Role }}: {{ .Content }}|{{ end }}assistant:"""' >>"$TMP/mf/Msg"
expect_rc 0 "create kjvmsg with two MESSAGEs" "$KVANT" create kjvmsg -f "$TMP/mf/Msg"
ML=$(grep -o '"application/vnd.ollama.image.messages","digest":"sha256:[0-9a-f]*' "$MAN/kjvmsg/latest" | sed 's/.*sha256://')
MWANT='[{"role":"user","content":"In the beginning"},{"role":"assistant","content":"God created\nthe heaven"}]'
[ -n "$ML" ] && [ "$(cat "$ST/blobs/sha256-$ML")" = "$MWANT" ] &&
  pass "the messages layer (application/vnd.ollama.image.messages) holds $MWANT" || fail "messages layer: $(cat "$MAN/kjvmsg/latest")"
"$KVANT" show kjvmsg --modelfile >"$TMP/show.out"
grep -qxF 'MESSAGE user """In the beginning"""' "$TMP/show.out" && grep -qxF 'MESSAGE assistant """God created' "$TMP/show.out" &&
  pass "show --modelfile prints the MESSAGE lines" || fail "show: $(cat "$TMP/show.out")"
MSGWANT=$'system: And God said|user: In the beginning|assistant: God created\nthe heaven|user: let there be light|assistant:'
N_MSG=$(count "$MSGWANT")
echo "let there be light" | "$KVANT" run kjvmsg --verbose-prompt >"$TMP/run.out" 2>"$TMP/run.err"
grep -qF 'rendered prompt: "system: And God said|user: In the beginning|assistant: God created\nthe heaven|user: let there be light|assistant:"' "$TMP/run.err" &&
  grep -q "($N_MSG prompt tokens" "$TMP/run.err" &&
  pass "kvant run (chat): SYSTEM, then the MESSAGEs, then the line ($N_MSG tokens)" || fail "run msg: $(cat "$TMP/run.err")"

# ---- kvant run NAME ----
"$KVANT" run kjv "let there be light" --verbose-prompt >"$TMP/run.out" 2>"$TMP/run.err"
grep -qxF "rendered prompt: \"$WANT\"" "$TMP/run.err" && pass "kvant run renders SYSTEM and the prompt in TEMPLATE" ||
  fail "run: $(cat "$TMP/run.err")"
grep -q "generation: 5 tokens" "$TMP/run.err" && pass "kvant run: num_predict 5 from the Modelfile" ||
  fail "run: $(cat "$TMP/run.err")"
"$KVANT" run kjv "let there be light" -n 2 --system Moses --verbose-prompt >"$TMP/run.out" 2>"$TMP/run.err"
grep -qxF 'rendered prompt: "Moses, let there be light:"' "$TMP/run.err" && grep -q "generation: 2 tokens" "$TMP/run.err" &&
  pass "kvant run: --system and -n replace the Modelfile's" || fail "run: $(cat "$TMP/run.err")"

# ---- a model with a stored template outside the subset, and one with hostile params ----
modelfile Amen >"$TMP/mf/Other"
expect_rc 0 "create badtmpl" "$KVANT" create badtmpl -f "$TMP/mf/Other"
expect_rc 0 "create hostile" "$KVANT" create hostile -f "$TMP/mf/Other"
expect_rc 0 "create hostile2" "$KVANT" create hostile2 -f "$TMP/mf/Other"
plant() { # MODEL MEDIATYPE TEXT: replaces MODEL's layer of MEDIATYPE by a blob of TEXT
  local f="$TMP/planted" d n
  printf '%s' "$3" >"$f"
  d=$(sha256sum "$f" | cut -d' ' -f1); n=$(stat -c %s "$f")
  cp "$f" "$ST/blobs/sha256-$d"
  sed -i "s|\"$2\",\"digest\":\"sha256:[0-9a-f]*\",\"size\":[0-9]*|\"$2\",\"digest\":\"sha256:$d\",\"size\":$n|" "$MAN/$1/latest"
  grep -q "sha256:$d" "$MAN/$1/latest" || fail "planting $2 in $1"
}
plant badtmpl application/vnd.ollama.image.template '{{ .Prompt | upper }}'
plant hostile application/vnd.ollama.image.params \
  '{"temperature":"hot","num_predict":1e308,"top_k":[1],"stop":[1,{}],"num_ctx":1e300,"seed":-1e300}'
plant hostile2 application/vnd.ollama.image.params '{"num_ctx":99999999999999999999999,"stop":["a"'

start_server --store
post() { curl -s --max-time 60 "$BASE$1" -d "$2"; }
num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$OUT"; }
str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" <<<"$OUT"; }
CHAT='"model":"kjv","messages":[{"role":"user","content":"let there be light"}],"stream":false'

OUT=$(post /api/chat "{$CHAT}")
[ "$(num prompt_eval_count)" = "$N_WANT" ] && pass "/api/chat: prompt_eval_count $N_WANT, the tokens of '$WANT'" ||
  fail "/api/chat prompt: $OUT"
[ "$(num eval_count)" = 5 ] && pass "/api/chat: eval_count 5 from PARAMETER num_predict" || fail "/api/chat eval: $OUT"
A=$(str content)
OUT=$(post /api/generate "{\"model\":\"kjv\",\"prompt\":\"$WANT\",\"raw\":true,\"stream\":false}")
[ -n "$A" ] && [ "$(str response)" = "$A" ] &&
  pass "/api/chat's greedy reply '$A' is that of the raw rendering (temperature 0 applied, same prompt)" ||
  fail "raw: $OUT vs chat '$A'"
OUT=$(post /api/chat "{$CHAT,\"options\":{\"num_predict\":3}}")
[ "$(num eval_count)" = 3 ] && pass "/api/chat: the request's num_predict 3 wins" || fail "num_predict 3: $OUT"
OUT=$(post /api/chat '{"model":"kjv","messages":[{"role":"system","content":"Moses"},{"role":"user","content":"let there be light"}],"stream":false}')
[ "$(num prompt_eval_count)" = "$(count "Moses, let there be light:")" ] &&
  pass "/api/chat: the request's system message replaces SYSTEM" || fail "system: $OUT"
OUT=$(post /api/generate '{"model":"kjv","prompt":"let there be light","stream":false}')
[ "$(num prompt_eval_count)" = "$N_WANT" ] && [ "$(str response)" = "$A" ] &&
  pass "/api/generate (not raw): SYSTEM and TEMPLATE render the prompt" || fail "generate: $OUT"
OUT=$(post /api/generate '{"model":"kjv","prompt":"let there be light","system":"Moses","stream":false}')
[ "$(num prompt_eval_count)" = "$(count "Moses, let there be light:")" ] &&
  pass "/api/generate: the request's system replaces SYSTEM" || fail "generate system: $OUT"
OUT=$(post /v1/chat/completions '{"model":"kjv","messages":[{"role":"user","content":"let there be light"}]}')
[ "$(num prompt_tokens)" = "$N_WANT" ] && [ "$(num completion_tokens)" = 5 ] &&
  pass "/v1/chat/completions: SYSTEM, TEMPLATE and num_predict apply" || fail "openai: $OUT"
OUT=$(post /v1/chat/completions '{"model":"kjv","messages":[{"role":"user","content":"let there be light"}],"max_tokens":2}')
[ "$(num completion_tokens)" = 2 ] && pass "/v1/chat/completions: max_tokens 2 wins" || fail "openai max_tokens: $OUT"

# stop: a model whose PARAMETER stop is a word of the greedy reply
W=$(awk '{print $3}' <<<"$A")
if [ -n "$W" ]; then
  OUT=$(post /api/create "{\"model\":\"kjvstop\",\"from\":\"kjv\",\"parameters\":{\"stop\":[\"$W\"],\"temperature\":0,\"num_predict\":5}}")
  OUT=$(post /api/chat "{${CHAT/\"kjv\"/\"kjvstop\"}}")
  [ "$(str content)" = "${A%%"$W"*}" ] && [ "$(str done_reason)" = stop ] &&
    pass "PARAMETER stop '$W' ends the reply before it" || fail "stop '$W': $OUT (reply was '$A')"
  OUT=$(post /api/chat "{${CHAT/\"kjv\"/\"kjvstop\"},\"options\":{\"stop\":[\"zzzz\"]}}")
  [ "$(str content)" = "$A" ] && pass "a request's stop list replaces PARAMETER stop" || fail "stop override: $OUT"
else
  fail "the greedy reply '$A' has fewer than 3 words"
fi

# MESSAGE: the stored messages come first in /api/chat and /v1/chat/completions; /api/show lists them
OUT=$(post /api/chat "{${CHAT/\"kjv\"/\"kjvmsg\"}}")
[ "$(num prompt_eval_count)" = "$N_MSG" ] && pass "/api/chat: prompt_eval_count $N_MSG, SYSTEM and the MESSAGEs first" ||
  fail "/api/chat kjvmsg: $OUT"
OUT=$(post /v1/chat/completions "{${CHAT/\"kjv\"/\"kjvmsg\"}}")
[ "$(num prompt_tokens)" = "$N_MSG" ] && pass "/v1/chat/completions: the MESSAGEs first" || fail "openai kjvmsg: $OUT"
OUT=$(post /api/show '{"model":"kjvmsg"}')
grep -qF '"messages":[{"role":"user","content":"In the beginning"},{"role":"assistant","content":"God created\nthe heaven"}]' <<<"$OUT" &&
  grep -qF 'MESSAGE user \"\"\"In the beginning' <<<"$OUT" &&
  pass "/api/show: messages and the Modelfile's MESSAGE lines" || fail "/api/show kjvmsg: $OUT"

# ---- the planted layers: the server answers, falls back, warns ----
OUT=$(post /api/chat "{${CHAT/\"kjv\"/\"badtmpl\"}}")
grep -q '"done":true' <<<"$OUT" && pass "a stored TEMPLATE outside the subset: the chat still answers" || fail "badtmpl: $OUT"
grep -q "model 'badtmpl:latest': its TEMPLATE cannot run (line 1: pipes" "$TMP/serve.err" &&
  pass "... with a warning naming the model and the construct" || fail "no warning: $(cat "$TMP/serve.err")"
[ "$(num prompt_eval_count)" != "$N_WANT" ] && pass "... rendered by the GGUF's template instead" || fail "badtmpl prompt: $OUT"
for m in hostile hostile2; do
  for ep in /api/chat /api/generate /v1/chat/completions; do
    case $ep in # a short reply: the stored num_predict is gone with the rest
      /api/generate) body="{\"model\":\"$m\",\"prompt\":\"let there be light\",\"stream\":false,\"options\":{\"num_predict\":8}}" ;;
      /api/chat) body="{${CHAT/\"kjv\"/\"$m\"},\"options\":{\"num_predict\":8}}" ;;
      *) body="{${CHAT/\"kjv\"/\"$m\"},\"max_tokens\":8}" ;;
    esac
    OUT=$(post $ep "$body")
    grep -q '"done":true\|"finish_reason"' <<<"$OUT" && pass "$m stored params: $ep answers" || fail "$m $ep: $OUT"
  done
done
grep -q "model 'hostile2:latest': its params layer is not a JSON object" "$TMP/serve.err" &&
  pass "the server warns that hostile2's params layer does not parse" || fail "log: $(cat "$TMP/serve.err")"
grep -q "model hostile:latest: its PARAMETER values are not valid options; ignored" "$TMP/serve.err" &&
  pass "the server logs that the hostile params are ignored" || fail "log: $(cat "$TMP/serve.err")"
OUT=$(curl -s --max-time 30 "$BASE/api/tags")
expect_out '"kjvstop:latest"' "the server answers /api/tags afterwards"
kill -0 "$SERVER" 2>/dev/null && pass "the server is still running" || fail "the server died"
finish
