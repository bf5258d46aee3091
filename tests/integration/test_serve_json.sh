#!/usr/bin/env bash
# format "json" end to end on the demo model: kvant run --format json, then a
# server whose replies to Ollama's format "json" (and a schema) and OpenAI's
# response_format json_object, streamed and not, one at a time and batched, are
# checked by json_reply.py: a reply that stopped is one JSON object, a reply cut
# by the token limit is the start of one. The demo model knows no JSON (nor a
# double quote), so its objects are mostly empty or cut inside a string; the
# point is that they are always valid. Also: format "text" leaves sampling free,
# and unknown formats are 400s naming the field.
. "$(dirname "$0")/lib.sh"

CHECK="$SRC/tests/integration/json_reply.py"

expect_rc 2 "run --format xml is a usage error" "$KVANT" run x.gguf --format xml
expect_out "--format" "the usage error names --format"

require_demo_model
require_cmds "curl or python3 is missing (tools/install-deps.sh installs them)" curl python3

demo_gguf

# check DESC API FILE: the reply in FILE follows the rule; counts stops in N_STOP.
N_STOP=0
N_REPLIES=0
check() {
  local desc=$1 api=$2 file=$3 res
  res=$(python3 "$CHECK" "$api" "$file" 2>&1)
  if [ $? -eq 0 ]; then
    pass "$desc: ${res:0:100}"
    N_REPLIES=$((N_REPLIES + 1))
    case $res in stop*) N_STOP=$((N_STOP + 1)) ;; esac
  else
    fail "$desc: $res"
  fi
  LAST=$res
}

# ---- kvant run ----
for seed in 1 2 3; do
  "$KVANT" run "$TMP/kjv.gguf" "And God said" --format json -n 300 --seed "$seed" \
    --no-display-prompt -t 2 >"$TMP/run.out" 2>"$TMP/run.err"
  reason=$(sed -n 's/.*; stop: //p' "$TMP/run.err")
  head -c -1 "$TMP/run.out" >"$TMP/run.txt" # run ends the text with a newline
  python3 -c 'import json,sys; print(json.dumps({"response": open(sys.argv[1]).read(),
    "done_reason": sys.argv[2]}))' "$TMP/run.txt" "$reason" >"$TMP/run.json"
  check "kvant run --format json, seed $seed" ollama-generate "$TMP/run.json"
done

# ---- the server ----
start_server --model "kjv=$TMP/kjv.gguf" --parallel 4 --ctx 512
post() { curl -s --max-time 120 -X POST "$BASE$1" -d "$2"; }

# Ollama generate: three prompts, four seeds each, streamed and not.
i=0
for prompt in "And God said" "The LORD is my shepherd" "In the beginning"; do
  for seed in 1 2 3 4; do
    i=$((i + 1))
    stream=$([ $((i % 2)) -eq 0 ] && echo true || echo false)
    post /api/generate "{\"model\":\"kjv\",\"prompt\":\"$prompt\",\"format\":\"json\",
      \"stream\":$stream,\"options\":{\"seed\":$seed,\"num_predict\":300}}" >"$TMP/g$i"
    check "generate '$prompt' seed $seed stream $stream" ollama-generate "$TMP/g$i"
  done
done
if [ "$N_STOP" -ge 3 ]; then
  pass "$N_STOP of $N_REPLIES replies so far closed their object"
else
  fail "only $N_STOP of $N_REPLIES replies closed their object"
fi

# Streaming gives the same text as a whole reply (greedy), in several chunks.
body='{"model":"kjv","prompt":"And God said","format":"json","options":{"temperature":0,"num_predict":120}'
post /api/generate "$body,\"stream\":false}" >"$TMP/whole"
check "greedy generate" ollama-generate "$TMP/whole"
whole=$LAST
post /api/generate "$body,\"stream\":true}" >"$TMP/streamed"
check "greedy generate streamed" ollama-generate "$TMP/streamed"
if [ "${whole#* * }" = "${LAST#* * }" ] && [ "$(wc -l <"$TMP/streamed")" -gt 3 ]; then
  pass "streamed and whole replies agree"
else
  fail "streamed and whole replies differ: $whole / $LAST"
fi

# Ollama chat, with "json" and with a schema (test_serve_schema.sh checks schemas further).
msgs='"messages":[{"role":"user","content":"List the sons of Noah as JSON."}]'
for seed in 5 6; do
  post /api/chat "{\"model\":\"kjv\",$msgs,\"format\":\"json\",\"stream\":false,
    \"options\":{\"seed\":$seed,\"num_predict\":200}}" >"$TMP/c$seed"
  check "chat format json seed $seed" ollama-chat "$TMP/c$seed"
  post /api/chat "{\"model\":\"kjv\",$msgs,\"format\":{\"type\":\"object\",
    \"properties\":{\"sons\":{\"type\":\"array\",\"items\":{\"enum\":[\"Shem\",\"Ham\",
    \"Japheth\"]},\"maxItems\":3}},\"required\":[\"sons\"]},\"options\":{\"seed\":$seed,
    \"num_predict\":200}}" >"$TMP/s$seed"
  check "chat format schema seed $seed, streamed" ollama-chat "$TMP/s$seed"
done

# OpenAI chat and completions with response_format json_object.
for seed in 7 8; do
  post /v1/chat/completions "{\"model\":\"kjv\",$msgs,\"seed\":$seed,\"max_tokens\":200,
    \"response_format\":{\"type\":\"json_object\"}}" >"$TMP/o$seed"
  check "openai chat json_object seed $seed" openai-chat "$TMP/o$seed"
  post /v1/chat/completions "{\"model\":\"kjv\",$msgs,\"seed\":$seed,\"max_tokens\":200,
    \"stream\":true,\"response_format\":{\"type\":\"json_object\"}}" >"$TMP/os$seed"
  check "openai chat json_object seed $seed, streamed" openai-chat "$TMP/os$seed"
  post /v1/completions "{\"model\":\"kjv\",\"prompt\":\"And God said\",\"seed\":$seed,
    \"max_tokens\":200,\"response_format\":{\"type\":\"json_object\"}}" >"$TMP/oc$seed"
  check "openai completions json_object seed $seed" openai-complete "$TMP/oc$seed"
done

# response_format text leaves sampling free: the greedy reply is scripture, not JSON.
OUT=$(post /v1/chat/completions "{\"model\":\"kjv\",$msgs,\"temperature\":0,\"max_tokens\":40,
  \"response_format\":{\"type\":\"text\"}}")
text=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["choices"][0]["message"]["content"])' "$OUT")
case $(printf '%s' "$text" | tr -d ' \n\t') in
  "{"*) fail "response_format text gave a JSON-like reply: $text" ;;
  "") fail "response_format text gave nothing: $OUT" ;;
  *) pass "response_format text is unconstrained: ${text:0:60}" ;;
esac

# Batched: eight JSON requests at once, different seeds, all valid.
pids=()
for seed in $(seq 11 18); do
  post /api/generate "{\"model\":\"kjv\",\"prompt\":\"And God said\",\"format\":\"json\",
    \"stream\":true,\"options\":{\"seed\":$seed,\"num_predict\":250}}" >"$TMP/b$seed" &
  pids+=($!)
done
wait "${pids[@]}"
for seed in $(seq 11 18); do
  check "batched generate seed $seed" ollama-generate "$TMP/b$seed"
done
pass "$N_STOP of $N_REPLIES replies in all closed their object"

# Unknown formats are 400s naming the field.
OUT=$(curl -s -i -X POST "$BASE/api/generate" -d '{"model":"kjv","prompt":"a","format":"xml"}')
expect_out "400 Bad Request" "format xml is a 400"
expect_out "field 'format'" "the 400 names format"
OUT=$(curl -s -i -X POST "$BASE/api/chat" -d '{"model":"kjv","messages":[],"format":3}')
expect_out "field 'format'" "a numeric format is a 400 naming format"
OUT=$(curl -s -i -X POST "$BASE/v1/chat/completions" \
  -d "{\"model\":\"kjv\",$msgs,\"response_format\":{\"type\":\"yaml\"}}")
expect_out "400 Bad Request" "response_format yaml is a 400"
expect_out "response_format.type" "the 400 names response_format.type"
finish
