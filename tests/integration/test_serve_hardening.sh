#!/usr/bin/env bash
# kvant serve against hostile request values (issue 11): every answer is a
# reply or a 4xx naming the field, never a crash or a hang, and the server
# answers afterwards.
# - Sizes: num_ctx, num_predict, num_keep, max_tokens and friends at 0, 1, 2,
#   negative, huge and of the wrong type, on prompts that fit and prompts that
#   must be truncated (num_ctx 1 with truncate used to abort the process).
# - Durations: keep_alive 1e19 or "9999999999999999h" used to make the model
#   reaper spin with the registry lock held (no HTTP answer, SIGTERM ignored);
#   1e18 made /api/ps print an invalid date. Now any value is safe, huge means
#   forever, and expires_at is always a valid RFC 3339 date; the same for
#   --keep-alive.
# - Chats longer than the context drop their oldest turns (keeping the system
#   prompt and the last user turn) instead of failing: the reply is the one
#   the shortened chat gets, and prompt_eval_count says what was evaluated.
# - Ollama endpoints kvant lacks (pull, push, create, copy, delete, blobs) are
#   501 naming the feature; unknown paths stay 404.
. "$(dirname "$0")/lib.sh"

require_demo_model
require_cmds "curl or python3 is missing (tools/install-deps.sh installs them)" curl python3

demo_gguf
CTX=256
start_server --model "kjv=$TMP/kjv.gguf" --ctx $CTX

# req METHOD PATH [BODY]: the status in CODE, the body in $TMP/body.
req() {
  local data=()
  [ $# -ge 3 ] && data=(-d "$3")
  CODE=$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time "${REQ_TIMEOUT:-60}" -X "$1" "$BASE$2" \
    "${data[@]}")
}
# jget EXPR: a Python expression over the reply j, printed (empty when it fails).
jget() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$TMP/body" 2>/dev/null; }
# answers: the server is alive and answers /api/version within 10 s.
answers() {
  kill -0 "$SERVER" 2>/dev/null &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/api/version")" = 200 ]
}
# stop_server: SIGTERM; true when the server exits within 20 s (else it is killed).
stop_server() {
  kill -TERM "$SERVER"
  for _ in $(seq 1 200); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$SERVER" 2>/dev/null; then
    kill -KILL "$SERVER"
    wait "$SERVER" 2>/dev/null
    SERVER=
    return 1
  fi
  wait "$SERVER" 2>/dev/null
  SERVER=
}

# need_server WHAT: ends the script with a failure when the server no longer answers.
need_server() {
  answers && return 0
  fail "the server no longer answers; $1 is not tried"
  kill -KILL "$SERVER" 2>/dev/null
  SERVER=
  finish
  exit 1
}

LONG=$(python3 -c 'print("In the beginning God created the heaven and the earth. " * 40)')

# ---- sizes ----

# try DESC PATH BODY: the reply is a 200 that ended, or a 4xx with an error
# (grep, not python: there are hundreds of these).
N_TRIED=0
BAD=()
try() {
  N_TRIED=$((N_TRIED + 1))
  req POST "$2" "$3"
  case $CODE in
    200) grep -q '"done":true\|"choices":\[{' "$TMP/body" || BAD+=("$1: 200 $(head -c 200 "$TMP/body")") ;;
    4??) grep -q '^{"error":' "$TMP/body" || BAD+=("$1: $CODE without an error: $(head -c 200 "$TMP/body")") ;;
    *) BAD+=("$1: HTTP $CODE $(head -c 200 "$TMP/body")") ;;
  esac
}

# The issue's request, on both Ollama endpoints.
req POST /api/generate '{"model":"kjv","prompt":"hello there","stream":false,"truncate":true,"options":{"num_ctx":1}}'
[ "$CODE" = 200 ] && [ "$(jget 'j["done"]')" = True ] \
  && pass "generate with num_ctx 1 and truncate answers (prompt_eval_count $(jget 'j["prompt_eval_count"]'))" \
  || fail "generate with num_ctx 1 and truncate: HTTP $CODE $(head -c 300 "$TMP/body")"
answers && pass "the server answers after it" || fail "the server is gone after num_ctx 1"
req POST /api/chat '{"model":"kjv","messages":[{"role":"user","content":"hello there"}],"stream":false,"truncate":true,"options":{"num_ctx":1}}'
[ "$CODE" = 200 ] && [ "$(jget 'j["done"]')" = True ] \
  && pass "chat with num_ctx 1 and truncate answers" \
  || fail "chat with num_ctx 1 and truncate: HTTP $CODE $(head -c 300 "$TMP/body")"

# A truncated prompt keeps half the context; num_keep tokens of its start stay.
for keep in "" ',"num_keep":0' ',"num_keep":5' ',"num_keep":-1' ',"num_keep":100000'; do
  req POST /api/generate "{\"model\":\"kjv\",\"prompt\":\"$LONG\",\"stream\":false,\"truncate\":true,
    \"options\":{\"num_ctx\":64,\"num_predict\":4$keep}}"
  n=$(jget 'j["prompt_eval_count"]')
  [ "$CODE" = 200 ] && [ "$n" = 32 ] \
    && pass "a long prompt in num_ctx 64$keep is cut to 32 tokens" \
    || fail "a long prompt in num_ctx 64$keep: HTTP $CODE, prompt_eval_count '$n' (wanted 32)"
done
req POST /api/generate "{\"model\":\"kjv\",\"prompt\":\"$LONG\",\"stream\":false}"
[ "$CODE" = 400 ] && jget 'j["error"]' | grep -q "truncate" \
  && pass "without truncate a long generate prompt is a 400 that says so" \
  || fail "long prompt without truncate: HTTP $CODE $(head -c 300 "$TMP/body")"

VALUES='0 1 2 3 -1 -2 2147483647 2147483648 1e19 1.5 "8" [] null'
for key in num_ctx num_predict num_keep; do
  for v in $VALUES; do
    # num_predict runs in a small context, so that a huge one ends soon
    opts="\"$key\":$v,$([ $key = num_predict ] && echo '"num_ctx":32' || echo '"num_predict":4')"
    for ep in generate chat; do
      if [ $ep = generate ]; then p="\"prompt\":\"$LONG\""; else
        p="\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"$LONG\"}]"; fi
      try "$ep $key $v truncate" /api/$ep "{\"model\":\"kjv\",$p,\"stream\":false,\"truncate\":true,\"options\":{$opts}}"
      try "$ep $key $v short" /api/$ep "{\"model\":\"kjv\",\"prompt\":\"hello\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"stream\":false,\"options\":{$opts}}"
    done
  done
done
for key in top_k repeat_last_n seed temperature; do
  for v in $VALUES; do
    try "generate $key $v" /api/generate "{\"model\":\"kjv\",\"prompt\":\"hello\",\"stream\":false,\"options\":{\"$key\":$v,\"num_predict\":4}}"
  done
done
for key in max_tokens max_completion_tokens; do
  for v in $VALUES; do
    try "openai chat $key $v" /v1/chat/completions "{\"model\":\"kjv\",\"messages\":[{\"role\":\"user\",\"content\":\"$LONG\"}],\"truncate\":true,\"$key\":$v}"
    try "openai completion $key $v" /v1/completions "{\"model\":\"kjv\",\"prompt\":\"hello\",\"$key\":$v}"
  done
done
# streamed, since streaming ends a job through another path
for v in 1 2 3 -1 2147483647; do
  out=$(curl -s --max-time 60 -X POST "$BASE/api/generate" -d "{\"model\":\"kjv\",\"prompt\":\"$LONG\",
    \"truncate\":true,\"options\":{\"num_ctx\":$v,\"num_predict\":4}}")
  N_TRIED=$((N_TRIED + 1))
  grep -q '"done":true\|^{"error":"field .options.num_ctx' <<<"$out" \
    || BAD+=("streamed generate num_ctx $v: ${out:0:200}")
done
if [ ${#BAD[@]} -eq 0 ]; then
  pass "$N_TRIED hostile size values: each a reply or a 4xx with an error"
else
  fail "${#BAD[@]} of $N_TRIED hostile size values went wrong; first: ${BAD[*]:0:3}"
fi
answers && pass "the server answers after the hostile sizes" || fail "the server is gone after the hostile sizes"

# ---- keep_alive ----
need_server "keep_alive"

# ps_dates: every expires_at of /api/ps is a valid RFC 3339 date not in the past.
PS_CHECK='
import datetime, json, re, sys, time
j = json.load(open(sys.argv[1]))
for m in j["models"]:
    s = m["expires_at"]
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", s):
        sys.exit("not RFC 3339: " + s)
    t = datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    if t.timestamp() < time.time() - 5:
        sys.exit("in the past: " + s)
print(" ".join(m["expires_at"] for m in j["models"]))'
REQ_TIMEOUT=15 # a hang shows here as requests that time out
for ka in 1e19 '"9999999999999999h"' 1e18 1.7976931348623157e308 -1e308 '"-1m"' -1 \
          '"2562047h47m16.854775807s"' '"2562048h"' 9223372036.854775807 '"99999999999999999999999999999s"' 300; do
  req POST /api/generate "{\"model\":\"kjv\",\"prompt\":\"hello\",\"stream\":false,\"keep_alive\":$ka,\"options\":{\"num_predict\":2}}"
  code=$CODE dates=
  req GET /api/ps
  if [ "$code" = 200 ] && [ "$CODE" = 200 ] && dates=$(python3 -c "$PS_CHECK" "$TMP/body" 2>&1); then
    pass "keep_alive $ka: the request and /api/ps answer; expires_at $dates"
  else
    fail "keep_alive $ka: generate HTTP $code, /api/ps HTTP $CODE: $dates $(head -c 200 "$TMP/body")"
    answers || break
  fi
done
req POST /api/generate '{"model":"kjv","prompt":"hello","stream":false,"keep_alive":1e19,"options":{"num_predict":2}}'
sleep 1 # the reaper looks at the model once it is idle
answers && pass "the server answers a second after keep_alive 1e19" || fail "no answer a second after keep_alive 1e19"
req POST /api/generate '{"model":"kjv","prompt":"hello","stream":false,"keep_alive":"1e3s"}'
[ "$CODE" = 400 ] && jget 'j["error"]' | grep -q "keep_alive" \
  && pass "a malformed keep_alive is a 400 naming the field" \
  || fail "keep_alive \"1e3s\": HTTP $CODE $(head -c 200 "$TMP/body")"
REQ_TIMEOUT=60

# ---- chat longer than the context ----
need_server "a chat longer than the context"

# A system prompt, 40 turns of ~20 tokens and a last question: more than $CTX tokens.
python3 - "$TMP" <<'EOF'
import json, sys
verses = ["And God said, Let there be light: and there was light.",
          "And the LORD spake unto Moses, saying, Speak unto the children of Israel.",
          "The LORD is my shepherd; I shall not want.",
          "In my Father's house are many mansions: if it were not so, I would have told you."]
msgs = [{"role": "system", "content": "Thou art a scribe of the king."}]
for i in range(40):
    msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": verses[i % 4]})
msgs.append({"role": "user", "content": "Who made the heaven and the earth?"})
base = {"model": "kjv", "stream": False, "options": {"temperature": 0, "num_predict": 16}}
json.dump(dict(base, messages=msgs), open(sys.argv[1] + "/long_chat.json", "w"))
json.dump(msgs, open(sys.argv[1] + "/long_msgs.json", "w"))
EOF
req POST /api/chat "$(cat "$TMP/long_chat.json")"
n_long=$(jget 'j["prompt_eval_count"]')
reply_long=$(jget 'j["message"]["content"]')
if [ "$CODE" = 200 ] && [ -n "$n_long" ] && [ "$n_long" -le $((CTX - 16)) ]; then
  pass "a chat longer than the context answers (prompt_eval_count $n_long, room for 16 tokens of reply)"
else
  fail "a chat longer than the context: HTTP $CODE, prompt_eval_count '$n_long': $(head -c 300 "$TMP/body")"
fi
dropped=$(sed -n 's/.*dropped the oldest \([0-9][0-9]*\) of.*/\1/p' "$TMP/serve.err" | tail -n 1)
if [ -n "$dropped" ] && [ "$dropped" -gt 0 ]; then
  pass "the server log says it dropped the oldest $dropped messages"
  # The same chat shortened by hand (system prompt + the messages kept) gets the same reply.
  short=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); k=int(sys.argv[2])
print(json.dumps({"model":"kjv","stream":False,"options":{"temperature":0,"num_predict":16},
                  "messages":[m[0]]+m[1+k:]}))' "$TMP/long_msgs.json" "$dropped")
  req POST /api/chat "$short"
  [ "$CODE" = 200 ] && [ "$(jget 'j["prompt_eval_count"]')" = "$n_long" ] \
    && [ "$(jget 'j["message"]["content"]')" = "$reply_long" ] \
    && pass "it is the reply of the chat shortened by hand (system prompt kept)" \
    || fail "the chat shortened by hand: HTTP $CODE $(head -c 300 "$TMP/body"), wanted $n_long tokens and '$reply_long'"
  # One message more than kept would not have left room for the reply: that
  # chat loses exactly that message.
  longer=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); k=int(sys.argv[2])
print(json.dumps({"model":"kjv","stream":False,"options":{"num_predict":16},"messages":[m[0]]+m[k:]}))' \
    "$TMP/long_msgs.json" "$dropped")
  req POST /api/chat "$longer"
  n=$(jget 'j["prompt_eval_count"]')
  again=$(sed -n 's/.*dropped the oldest \([0-9][0-9]*\) of.*/\1/p' "$TMP/serve.err" | tail -n 1)
  [ "$CODE" = 200 ] && [ "$n" = "$n_long" ] && [ "$again" = 1 ] \
    && pass "no more than needed was dropped (with one message more, that one goes)" \
    || fail "one message more than kept: HTTP $CODE, prompt_eval_count '$n' (kept $n_long), dropped '$again'"
else
  fail "the server log does not say how many messages it dropped"
fi
# The OpenAI endpoint drops turns the same way.
oai=$(python3 -c 'import json,sys; print(json.dumps({"model":"kjv","max_tokens":16,"temperature":0,
  "messages":json.load(open(sys.argv[1]))}))' "$TMP/long_msgs.json")
req POST /v1/chat/completions "$oai"
[ "$CODE" = 200 ] && [ "$(jget 'j["usage"]["prompt_tokens"]')" = "$n_long" ] \
  && pass "OpenAI chat drops the same turns (prompt_tokens $n_long)" \
  || fail "OpenAI chat longer than the context: HTTP $CODE $(head -c 300 "$TMP/body")"
# truncate false asks for the 400.
req POST /api/chat "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); j["truncate"]=False; print(json.dumps(j))' "$TMP/long_chat.json")"
[ "$CODE" = 400 ] && jget 'j["error"]' | grep -q "context" \
  && pass "with truncate false a long chat is a 400 naming the context" \
  || fail "long chat with truncate false: HTTP $CODE $(head -c 300 "$TMP/body")"
# A last turn longer than the whole context is cut (its end kept).
req POST /api/chat "{\"model\":\"kjv\",\"stream\":false,\"options\":{\"num_predict\":4},\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"$LONG $LONG\"}]}"
n=$(jget 'j["prompt_eval_count"]')
[ "$CODE" = 200 ] && [ -n "$n" ] && [ "$n" -lt $CTX ] \
  && pass "a last turn longer than the context is cut to $n tokens" \
  || fail "a last turn longer than the context: HTTP $CODE $(head -c 300 "$TMP/body")"

# ---- endpoints kvant lacks ----
need_server "the endpoints kvant lacks"

for r in "POST /api/pull" "POST /api/push" "POST /api/create" "POST /api/copy" "DELETE /api/delete" \
         "POST /api/blobs/sha256:0123abcd" "HEAD /api/blobs/sha256:0123abcd"; do
  set -- $r
  if [ "$1" = HEAD ]; then
    CODE=$(curl -s -o /dev/null -I -w '%{http_code}' --max-time 10 "$BASE$2")
    [ "$CODE" = 501 ] && pass "$r is 501" || fail "$r: HTTP $CODE"
    continue
  fi
  req "$1" "$2" '{"model":"kjv","name":"kjv","source":"kjv","destination":"x"}'
  err=$(jget 'j["error"]')
  feature=$(sed 's|/api/\([a-z]*\).*|\1|' <<<"$2")
  [ "$CODE" = 501 ] && grep -qi "$feature" <<<"$err" && grep -qi "not supported\|not implemented" <<<"$err" \
    && pass "$r is 501: $err" || fail "$r: HTTP $CODE $(head -c 200 "$TMP/body")"
done
req GET /api/pull
[ "$CODE" = 405 ] && pass "GET /api/pull is 405" || fail "GET /api/pull: HTTP $CODE"
for p in /api/nothing /api/pullx /v1/nothing /nothing; do
  req GET "$p"
  [ "$CODE" = 404 ] && pass "$p stays 404" || fail "$p: HTTP $CODE"
done

answers && pass "the server answers at the end" || fail "the server does not answer at the end"
stop_server && pass "SIGTERM stops the server" || fail "the server ignored SIGTERM for 20 s"

# ---- --keep-alive on the command line ----
start_server --model "kjv=$TMP/kjv.gguf" --ctx $CTX --keep-alive 9999999999999999h
req POST /api/generate '{"model":"kjv","prompt":"hello","stream":false,"options":{"num_predict":2}}'
code=$CODE dates=
sleep 1
req GET /api/ps
[ "$code" = 200 ] && [ "$CODE" = 200 ] && dates=$(python3 -c "$PS_CHECK" "$TMP/body" 2>&1) \
  && pass "--keep-alive 9999999999999999h: requests and /api/ps answer; expires_at $dates" \
  || fail "--keep-alive 9999999999999999h: generate HTTP $code, /api/ps HTTP $CODE $dates"
stop_server && pass "SIGTERM stops that server" || fail "the --keep-alive server ignored SIGTERM for 20 s"
finish
