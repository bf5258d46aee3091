#!/usr/bin/env bash
# Speculative decoding in kvant run on the demo model: greedy output with a draft
# model (Q2_K and Q4_0 drafting for F32 and Q8_0) and with --lookup is byte for
# byte what the model alone writes, with guesses made and kept; at temperature 1
# the continuations with --lookup follow the same distribution as without
# (two-sample chi-square over many seeds); bad options are refused.
source "$(dirname "$0")/lib.sh"
require_demo_model
command -v python3 >/dev/null || skip "no python3"

expect_rc 0 "convert to F32" "$KVANT" convert "$SHARED/models/kjv-llama-7m" -o "$TMP/f32.gguf" \
  --outtype f32 -q
for t in q8_0 q4_0 q2_k; do
  expect_rc 0 "quantize to $t" "$KVANT" quantize "$TMP/f32.gguf" "$TMP/$t.gguf" "$t"
done
PROMPT="And God said, Let there be light: and there was light. And God saw the light, that it was good"
run() { "$KVANT" run "$@" --no-display-prompt; }

# same_greedy MODEL DESC ARGS...: greedy output with ARGS equals the plain run's
# (with $COMMON for both) and guesses were kept (the stderr line).
COMMON=()
same_greedy() {
  local model=$1 desc=$2
  shift 2
  run "$TMP/$model.gguf" "$PROMPT" -n 160 --temp 0 -t 2 "${COMMON[@]}" >"$TMP/plain.txt" 2>/dev/null
  run "$TMP/$model.gguf" "$PROMPT" -n 160 --temp 0 -t 2 "${COMMON[@]}" "$@" >"$TMP/spec.txt" \
    2>"$TMP/spec.err"
  local acc
  acc=$(sed -n 's/^speculative: \([0-9]*\) drafted, \([0-9]*\) accepted.*/\2/p' "$TMP/spec.err")
  if cmp -s "$TMP/plain.txt" "$TMP/spec.txt" && [ -s "$TMP/plain.txt" ] && [ "${acc:-0}" -gt 0 ]; then
    pass "$desc: same greedy text, $(grep '^speculative' "$TMP/spec.err")"
  else
    fail "$desc: $(cat "$TMP/spec.err"); $(diff "$TMP/plain.txt" "$TMP/spec.txt" | head -5)"
  fi
}
same_greedy f32 "F32, Q2_K draft" --draft "$TMP/q2_k.gguf"
same_greedy f32 "F32, Q4_0 draft, 3 a step" --draft "$TMP/q4_0.gguf" --draft-max 3
same_greedy q8_0 "Q8_0, Q2_K draft" --draft "$TMP/q2_k.gguf" --draft-max 16
same_greedy q8_0 "Q8_0, Q4_0 draft" --draft "$TMP/q4_0.gguf"
same_greedy f32 "F32, lookup 3" --lookup 3
same_greedy q8_0 "Q8_0, lookup 1, 2 a step" --lookup 1 --draft-max 2
# with penalties, which change each kept token's successor
COMMON=(--repeat-penalty 1.3)
same_greedy f32 "F32, lookup with a repeat penalty" --lookup 2
same_greedy f32 "F32, draft with a repeat penalty" --draft "$TMP/q2_k.gguf"
COMMON=()

# a context that fills while guesses are checked: still the same text
expect_rc 0 "plain run to a full context" run "$TMP/f32.gguf" "$PROMPT" -n -1 --ignore-eos --temp 0 \
  -c 64 -t 2
PLAIN=$OUT
expect_rc 0 "lookup run to a full context" run "$TMP/f32.gguf" "$PROMPT" -n -1 --ignore-eos --temp 0 \
  -c 64 -t 2 --lookup 3 --draft-max 16
if [ "$(grep -v '^speculative' <<<"$OUT" | sed 's/in [0-9.]* s ([0-9.]* tokens\/s)//g')" = \
     "$(sed 's/in [0-9.]* s ([0-9.]* tokens\/s)//g' <<<"$PLAIN")" ]; then
  pass "a full context ends both runs at the same text"
else
  fail "full context: $PLAIN // $OUT"
fi

# Temperature 1, top-k 3: the 3-token continuations of a repetitive prompt with
# and without --lookup (and with the Q2_K draft), N seeds each.
N=${KV_SPEC_SAMPLES:-250} # seeds per distribution (fewer only to try the script quickly)
REP="And it came to pass, that I will not be not. And it came to pass, that I will not be not. And it came to pass, that"
sample() { # OUTFILE ARGS...
  local out=$1 s
  shift
  : >"$out"
  for s in $(seq 1 $N); do
    run "$TMP/f32.gguf" "$REP" -n 3 --temp 1 --top-k 3 --seed "$s" -t 1 "$@" 2>/dev/null | tr '\n' '|' >>"$out"
    echo >>"$out"
  done
}
sample "$TMP/t_plain.txt"
sample "$TMP/t_lookup.txt" --lookup 3 --draft-max 4
sample "$TMP/t_draft.txt" --draft "$TMP/q2_k.gguf" --draft-max 2
# Two-sample chi-square over the continuations (rare ones pooled). Under the same
# distribution the statistic is about its degrees of freedom df; the bound df +
# 4 sqrt(2 df) + 6 is passed with probability about 1e-4. The seeds are fixed, so
# the outcome does not vary from run to run (kernel tables could move a few
# draws: the statistics here are a third of the bound or less), while keeping
# (nearly) every lookup guess passes it.
chi2() {
  python3 - "$1" "$2" <<'PY'
import collections, math, sys
a = collections.Counter(open(sys.argv[1]).read().split('\n')[:-1])
b = collections.Counter(open(sys.argv[2]).read().split('\n')[:-1])
na, nb = sum(a.values()), sum(b.values())
keys = [k for k in set(a) | set(b) if a[k] + b[k] >= 10]
ra = na - sum(a[k] for k in keys); rb = nb - sum(b[k] for k in keys)
cells = [(a[k], b[k]) for k in keys] + ([(ra, rb)] if ra + rb > 0 else [])
x = 0.0
for ca, cb in cells:
    e = (ca + cb) / (na + nb)
    x += (ca - na * e) ** 2 / (na * e) + (cb - nb * e) ** 2 / (nb * e)
df = max(len(cells) - 1, 1)
bound = df + 4 * math.sqrt(2 * df) + 6
print(f"chi2 {x:.1f}, df {df}, bound {bound:.1f}, distinct {len(set(a) | set(b))}")
sys.exit(0 if x < bound else 1)
PY
}
expect_rc 0 "temperature 1, --lookup: same distribution" chi2 "$TMP/t_plain.txt" "$TMP/t_lookup.txt"
echo "  $OUT"
expect_rc 0 "temperature 1, Q2_K draft: same distribution" chi2 "$TMP/t_plain.txt" "$TMP/t_draft.txt"
echo "  $OUT"

# bad options: a clear error, no crash
expect_rc 2 "--lookup 0" run "$TMP/f32.gguf" "x" --lookup 0
expect_out "--lookup" "names the option"
expect_rc 2 "--lookup 17" run "$TMP/f32.gguf" "x" --lookup 17
expect_rc 2 "--draft-max 65" run "$TMP/f32.gguf" "x" --lookup 2 --draft-max 65
expect_rc 2 "--draft-max x" run "$TMP/f32.gguf" "x" --lookup 2 --draft-max x
expect_rc 1 "a missing draft file" run "$TMP/f32.gguf" "x" --draft "$TMP/none.gguf"
expect_out "none.gguf" "names the file"
# one proposer per run: --draft with --lookup is refused, not one of them ignored
expect_rc 2 "--draft with --lookup" run "$TMP/f32.gguf" "x" --draft "$TMP/q2_k.gguf" --lookup 2
expect_out "not both" "says why"
# ---- kvant serve: options.lookup per request ----
require_cmds "curl is missing" curl
start_server --model "kjv=$TMP/f32.gguf" --parallel 3
gen() { # OPTIONS PROMPT: the non-streamed reply
  curl -s --max-time 60 -X POST "$BASE/api/generate" \
    -d "{\"model\":\"kjv\",\"prompt\":\"$2\",\"stream\":false,\"options\":{$1}}"
}
resp() { python3 -c 'import json,sys; print(json.load(sys.stdin)["response"])'; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', -1))"; }
P1="And God said, Let there be light: and there was light. And God saw the light"
P2="And it came to pass, that I will not be not. And it came to pass, that"
P3="In the beginning"
i=0
for p in "$P1" "$P2" "$P3"; do
  i=$((i + 1))
  gen '"num_predict":80,"temperature":0' "$p" | resp >"$TMP/plain.$i"
done
# three requests with lookup at once: batched together, each checks its guesses
i=0 pids=()
for p in "$P1" "$P2" "$P3"; do
  i=$((i + 1))
  gen '"num_predict":80,"temperature":0,"lookup":3,"draft_max":6' "$p" >"$TMP/lk.$i" &
  pids+=($!)
done
wait "${pids[@]}"
same=0 drafted=0 accepted=0
for i in 1 2 3; do
  [ "$(resp <"$TMP/lk.$i")" = "$(cat "$TMP/plain.$i")" ] && [ -s "$TMP/plain.$i" ] && same=$((same + 1))
  drafted=$((drafted + $(field draft_count <"$TMP/lk.$i")))
  accepted=$((accepted + $(field draft_accepted_count <"$TMP/lk.$i")))
done
[ "$same" = 3 ] && [ "$accepted" -gt 0 ] \
  && pass "serve: 3 parallel greedy replies with lookup equal the plain ones ($accepted of $drafted guesses kept)" \
  || fail "serve lookup: $same of 3 the same, drafted $drafted, accepted $accepted: $(cat "$TMP/lk.1")"
[ "$(gen '"num_predict":5,"temperature":0' "$P3" | field draft_count)" = -1 ] \
  && pass "no draft counts without lookup" || fail "draft counts without lookup"
for bad in '"lookup":-1' '"lookup":17' '"lookup":"3"' '"lookup":2.5' '"draft_max":0' \
           '"draft_max":65' '"lookup":3,"draft_max":-5' '"lookup":1e300'; do
  code=$(curl -s -o "$TMP/bad.json" -w '%{http_code}' --max-time 30 -X POST "$BASE/api/generate" \
    -d "{\"model\":\"kjv\",\"prompt\":\"x\",\"stream\":false,\"options\":{$bad}}")
  [ "$code" = 400 ] && grep -q "options\.\(lookup\|draft_max\)" "$TMP/bad.json" \
    && pass "serve refuses $bad" || fail "serve $bad: $code $(cat "$TMP/bad.json")"
done
# sampled, streamed, with the largest draft: the server still answers afterwards
curl -s -N --max-time 60 -X POST "$BASE/api/generate" -d "{\"model\":\"kjv\",\"prompt\":\"$P2\",
  \"options\":{\"num_predict\":60,\"temperature\":1,\"lookup\":16,\"draft_max\":64}}" >"$TMP/st.out"
grep -q '"done":true' "$TMP/st.out" && grep -q '"draft_count"' "$TMP/st.out" \
  && pass "a sampled stream with lookup 16 ends with its counts" || fail "stream: $(tail -c 300 "$TMP/st.out")"
[ "$(gen '"num_predict":80,"temperature":0' "$P1" | resp)" = "$(cat "$TMP/plain.1")" ] \
  && pass "the server answers as before" || fail "the server's reply changed"

# ---- OpenAI endpoints: the "speculative" extension object, usage.speculative ----
oai() { # PATH BODY: the reply, status code on the last line
  curl -s --max-time 60 -w '\n%{http_code}' -X POST "$BASE$1" -d "$2"
}
metric() { # NAME: the model kjv's sample of NAME
  curl -s --max-time 30 "$BASE/metrics" | sed -n "s/^$1{model=\"kjv:latest\"} \([0-9]*\)$/\1/p"
}
ext() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().rstrip('\n').rsplit('\n',1)[0]); $1"; }
d0=$(metric kvant_spec_decode_num_draft_tokens_total)
a0=$(metric kvant_spec_decode_num_accepted_tokens_total)
oai /v1/completions "{\"model\":\"kjv\",\"prompt\":\"$P2\",\"max_tokens\":60,\"temperature\":0}" \
  | ext 'print(d["choices"][0]["text"])' >"$TMP/oai.plain"
oai /v1/completions "{\"model\":\"kjv\",\"prompt\":\"$P2\",\"max_tokens\":60,\"temperature\":0,
  \"speculative\":{\"lookup\":3,\"draft_max\":6}}" >"$TMP/oai.lk"
ext 'print(d["choices"][0]["text"])' <"$TMP/oai.lk" >"$TMP/oai.spec"
u=$(ext 'u=d["usage"]["speculative"]; print(u["draft_tokens"], u["accepted_tokens"])' <"$TMP/oai.lk")
if cmp -s "$TMP/oai.plain" "$TMP/oai.spec" && [ -s "$TMP/oai.plain" ] && [ "${u#* }" -gt 0 ]; then
  pass "/v1/completions with speculative.lookup: the same greedy text, usage.speculative $u"
else
  fail "/v1/completions lookup: $u $(head -c 400 "$TMP/oai.lk")"
fi
oai /v1/chat/completions "{\"model\":\"kjv\",\"messages\":[{\"role\":\"user\",\"content\":\"$P2\"}],
  \"max_tokens\":40,\"temperature\":0,\"speculative\":{\"lookup\":2}}" >"$TMP/oai.chat"
u2=$(ext 'u=d["usage"]["speculative"]; print(u["draft_tokens"], u["accepted_tokens"])' <"$TMP/oai.chat")
[ -n "$u2" ] && pass "/v1/chat/completions reports usage.speculative ($u2)" \
  || fail "chat usage: $(head -c 400 "$TMP/oai.chat")"
oai /v1/completions '{"model":"kjv","prompt":"x","max_tokens":2}' \
  | ext 'sys.exit("speculative" in d["usage"])' \
  && pass "no usage.speculative without it" || fail "usage.speculative without speculative decoding"
# /metrics: the counters grew by exactly what the replies reported
d1=$(metric kvant_spec_decode_num_draft_tokens_total)
a1=$(metric kvant_spec_decode_num_accepted_tokens_total)
[ $((d1 - d0)) = $((${u% *} + ${u2% *})) ] && [ $((a1 - a0)) = $((${u#* } + ${u2#* })) ] \
  && pass "/metrics spec_decode counters: +$((d1 - d0)) drafted, +$((a1 - a0)) accepted" \
  || fail "metrics: $d0 -> $d1 drafted, $a0 -> $a1 accepted; replies $u / $u2"
for bad in '"speculative":{"lookup":17}' '"speculative":{"lookup":-1}' '"speculative":{"lookup":"3"}' \
           '"speculative":{"draft_max":0}' '"speculative":{"draft_max":65}' '"speculative":{"lookup":1e300}' \
           '"speculative":{"draft_max":2.5}' '"speculative":[3]' '"speculative":"fast"' \
           '"speculative":{"lookup":2,"draft":true}' '"speculative":{"draft":1}' '"speculative":{"ngram":3}'; do
  for ep in /v1/completions /v1/chat/completions; do
    body='"prompt":"x"'
    [ $ep = /v1/chat/completions ] && body='"messages":[{"role":"user","content":"x"}]'
    out=$(oai $ep "{\"model\":\"kjv\",$body,\"max_tokens\":3,$bad}")
    [ "${out##*$'\n'}" = 400 ] && grep -q "field 'speculative" <<<"$out" \
      && pass "$ep refuses $bad" || fail "$ep $bad: $out"
  done
done
[ "$(gen '"num_predict":80,"temperature":0' "$P1" | resp)" = "$(cat "$TMP/plain.1")" ] \
  && pass "the server answers after the refusals" || fail "the server's reply changed"
kill "$SERVER" 2>/dev/null
wait "$SERVER" 2>/dev/null

# ---- kvant serve --draft ----
# a draft of another vocabulary is refused at start, naming both files
VOCAB2=$(dirname "$SHARED/models")/testdata/vocab/ggml-vocab-gpt-2.gguf
if [ -f "$VOCAB2" ]; then
  expect_rc 1 "serve --draft of another vocabulary" timeout 60 "$KVANT" serve --port 0 \
    --insecure-no-auth --model "kjv=$TMP/f32.gguf" --draft "$VOCAB2"
  grep -q "ggml-vocab-gpt-2.gguf" <<<"$OUT" && grep -q "f32.gguf" <<<"$OUT" \
    && pass "the refusal names both files" || fail "refusal: $OUT"
fi
expect_rc 2 "serve --draft for an unknown model" timeout 60 "$KVANT" serve --port 0 \
  --insecure-no-auth --model "kjv=$TMP/f32.gguf" --draft "other=$TMP/q2_k.gguf"
expect_rc 1 "serve --draft of a missing file" timeout 60 "$KVANT" serve --port 0 \
  --insecure-no-auth --model "kjv=$TMP/f32.gguf" --draft "$TMP/none.gguf"
expect_out "none.gguf" "names the file"
start_server --model "kjv=$TMP/f32.gguf" --model "kjv8=$TMP/q8_0.gguf" --draft "kjv=$TMP/q2_k.gguf" \
  --parallel 3
# three requests at once use the draft by default: batched, each the plain greedy text
i=0 pids=()
for p in "$P1" "$P2" "$P3"; do
  i=$((i + 1))
  gen '"num_predict":80,"temperature":0' "$p" >"$TMP/dr.$i" &
  pids+=($!)
done
wait "${pids[@]}"
same=0 drafted=0 accepted=0
for i in 1 2 3; do
  [ "$(resp <"$TMP/dr.$i")" = "$(cat "$TMP/plain.$i")" ] && same=$((same + 1))
  drafted=$((drafted + $(field draft_count <"$TMP/dr.$i")))
  accepted=$((accepted + $(field draft_accepted_count <"$TMP/dr.$i")))
done
[ "$same" = 3 ] && [ "$accepted" -gt 0 ] \
  && pass "serve --draft: 3 parallel greedy replies equal the plain ones ($accepted of $drafted guesses kept)" \
  || fail "serve --draft: $same of 3 the same, drafted $drafted, accepted $accepted: $(cat "$TMP/dr.1")"
r=$(gen '"num_predict":80,"temperature":0,"draft":false' "$P1")
[ "$(resp <<<"$r")" = "$(cat "$TMP/plain.1")" ] && [ "$(field draft_count <<<"$r")" = -1 ] \
  && pass "options.draft false: no draft" || fail "draft false: $r"
r=$(gen '"num_predict":80,"temperature":0,"lookup":2' "$P2")
[ "$(resp <<<"$r")" = "$(cat "$TMP/plain.2")" ] && [ "$(field draft_count <<<"$r")" -gt 0 ] \
  && pass "options.lookup beside a server draft: lookup, the same text" || fail "lookup: $r"
# a sampled, streamed draft request, then the long context's end
curl -s -N --max-time 60 -X POST "$BASE/api/generate" -d "{\"model\":\"kjv\",\"prompt\":\"$P2\",
  \"options\":{\"num_predict\":60,\"temperature\":1,\"draft_max\":64}}" >"$TMP/st2.out"
grep -q '"done":true' "$TMP/st2.out" && grep -q '"draft_count"' "$TMP/st2.out" \
  && pass "a sampled stream with the draft ends with its counts" || fail "stream: $(tail -c 300 "$TMP/st2.out")"
r=$(gen '"num_predict":-1,"temperature":0,"num_ctx":64' "$P1")
grep -q '"done_reason":"length"' <<<"$r" && pass "a draft request to a full context ends" \
  || fail "full context: $r"
# the model without a draft: draft true is refused, naming the field
code=$(curl -s -o "$TMP/bad.json" -w '%{http_code}' --max-time 30 -X POST "$BASE/api/generate" \
  -d '{"model":"kjv8","prompt":"x","stream":false,"options":{"draft":true}}')
[ "$code" = 400 ] && grep -q "options.draft" "$TMP/bad.json" \
  && pass "options.draft true without a draft model: 400" || fail "kjv8 draft: $code $(cat "$TMP/bad.json")"
out=$(oai /v1/completions '{"model":"kjv8","prompt":"x","max_tokens":3,"speculative":{"draft":true}}')
[ "${out##*$'\n'}" = 400 ] && grep -q "speculative.draft" <<<"$out" \
  && pass "speculative.draft true without a draft model: 400" || fail "kjv8 oai draft: $out"
out=$(oai /v1/completions "{\"model\":\"kjv\",\"prompt\":\"$P2\",\"max_tokens\":40,\"temperature\":0}")
ext 'sys.exit(0 if d["usage"]["speculative"]["draft_tokens"] > 0 else 1)' <<<"$out" \
  && pass "OpenAI requests use the draft by default (usage.speculative)" || fail "oai draft: $out"
[ "$(metric kvant_spec_decode_num_accepted_tokens_total)" -gt 0 ] \
  && pass "/metrics counts the draft's accepted tokens" || fail "metrics after draft"
[ "$(gen '"num_predict":80,"temperature":0' "$P1" | resp)" = "$(cat "$TMP/plain.1")" ] \
  && pass "the server answers as before" || fail "the server's reply changed"
finish
