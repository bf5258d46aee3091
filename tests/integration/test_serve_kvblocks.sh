#!/usr/bin/env bash
# kvant serve's paged KV cache over the demo model, driven with curl. First with
# a long context: blocks in use rise while a stream runs and fall back when its
# client leaves. Then with a small cache (--kv-cells 256: 16 blocks of 16 cells):
# the block gauges; a request alone that fills the cache ends with "length";
# two prompts that do not fit together run one after the other (the second
# waits in the queue) and say what they say alone; blocks are reused, not
# allocated again; a prompt larger than the whole cache is refused.
. "$(dirname "$0")/lib.sh"

expect_rc 2 "serve --kv-cells abc is a usage error" "$KVANT" serve --kv-cells abc
expect_rc 0 "serve --help" "$KVANT" serve --help
expect_out "--kv-cells" "serve --help lists --kv-cells"

require_demo_model
require_cmds "curl is missing" curl

demo_gguf
stop_server() {
  kill "$SERVER"
  wait "$SERVER" 2>/dev/null
  SERVER=
}

get() { curl -s --max-time 60 "$@"; }
post() { get -X POST "$BASE/api/generate" -d "$1"; }
metric() { get "$BASE/metrics" | sed -n "s/^$1 \([0-9][0-9]*\)\$/\1/p"; }
field() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p"; }
text() { sed -n 's/.*"response":"\([^"]*\)".*/\1/p'; }

# ---- blocks rise with a stream and fall back when its client leaves ----
# A long context (the default budget, 2 x 4096 cells), so that the stream runs long.
start_server --model "kjv=$TMP/kjv.gguf" --parallel 2 --ctx 4096
curl -s -N --max-time 60 -X POST "$BASE/api/generate" \
  -d '{"model":"kjv","prompt":"Jesus","options":{"num_predict":2000,"temperature":0}}' \
  >"$TMP/stream.out" &
STREAM=$!
first= high=0
for _ in $(seq 1 3000); do
  b=$(metric kvant_kv_blocks_in_use)
  [ -z "$b" ] && continue
  [ -z "$first" ] && [ "$b" -ge 1 ] && first=$b
  [ "$b" -gt "$high" ] && high=$b
  [ -n "$first" ] && [ "$high" -ge $((first + 2)) ] && break
done
kill "$STREAM" 2>/dev/null
wait "$STREAM" 2>/dev/null
STREAM=
[ -n "$first" ] && [ "$high" -ge $((first + 2)) ] \
  && pass "blocks in use rose from $first to $high while the stream ran" \
  || fail "blocks in use while streaming: first '$first', highest $high"
for _ in $(seq 1 100); do
  [ "$(metric kvant_kv_blocks_in_use)" = 0 ] && [ "$(metric kvant_requests_running)" = 0 ] && break
  sleep 0.05
done
[ "$(metric kvant_kv_blocks_in_use)" = 0 ] && pass "the client left: its blocks are free again" \
  || fail "blocks in use after the client left: $(metric kvant_kv_blocks_in_use)"
grep -q '"done":true' "$TMP/stream.out" && fail "the stream ended before its client left"
stop_server

# ---- a small cache: 256 cells, 16 blocks ----
start_server --model "kjv=$TMP/kjv.gguf" --parallel 2 --ctx 512 --kv-cells 256
post '{"model":"kjv"}' >/dev/null # loads it; no tokens yet
[ "$(metric kvant_kv_blocks_total)" = 16 ] && pass "kvant_kv_blocks_total is 16" \
  || fail "kvant_kv_blocks_total: $(metric kvant_kv_blocks_total)"
[ "$(metric kvant_kv_blocks_in_use)" = 0 ] && pass "no blocks in use before a prompt" \
  || fail "blocks in use before any prompt: $(metric kvant_kv_blocks_in_use)"
[ "$(metric kvant_kv_bytes)" = 0 ] && pass "no KV bytes allocated before a prompt" \
  || fail "KV bytes before any prompt: $(metric kvant_kv_bytes)"

# ---- a request alone fills the cache ----
OUT=$(post '{"model":"kjv","prompt":"And","stream":false,"options":{"num_predict":2000,"temperature":0}}')
expect_out '"done_reason":"length"' "a request alone that fills the cache ends with length"
n=$(echo "$OUT" | field eval_count)
p=$(echo "$OUT" | field prompt_eval_count)
# the last token generated is never decoded: prompt + generated - 1 cells
[ -n "$n" ] && [ -n "$p" ] && [ $((p + n - 1)) = 256 ] \
  && pass "it stopped at the cache's 256 cells ($p + $n tokens)" \
  || fail "prompt_eval_count '$p' + eval_count '$n' - 1 is not 256"
[ "$(metric kvant_kv_blocks_in_use)" = 16 ] && pass "its cells stay cached: 16 blocks in use" \
  || fail "blocks in use after it: $(metric kvant_kv_blocks_in_use)"
bytes=$(metric kvant_kv_bytes)
[ -n "$bytes" ] && [ "$bytes" -gt 0 ] && pass "KV bytes allocated: $bytes" || fail "kv bytes '$bytes'"

# ---- two prompts that do not fit together ----
verse="In the beginning God created the heaven and the earth. And the earth was without form"
long_a=$(for _ in $(seq 1 8); do printf '%s, ' "$verse"; done)
long_b="Behold $long_a"
body() { printf '{"model":"kjv","prompt":"%s","stream":false,"options":{"num_predict":40,"temperature":0}}' "$1"; }
alone_a=$(post "$(body "$long_a")")
alone_b=$(post "$(body "$long_b")")
pa=$(echo "$alone_a" | field prompt_eval_count)
pb=$(echo "$alone_b" | field prompt_eval_count)
# each prompt plus its first token needs over half the 16 blocks, and fits alone
if [ -n "$pa" ] && [ -n "$pb" ] && [ $(( (pa + 16) / 16 + (pb + 16) / 16 )) -gt 16 ] \
   && [ $((pb + 40)) -le 256 ]; then
  pass "prompts of $pa and $pb tokens do not fit together"
else
  fail "prompt sizes $pa and $pb do not suit the test"
fi
steps=$(metric kvant_decode_batch_size_count)
single=$(metric 'kvant_decode_batch_size_bucket{le="1"}')
post "$(body "$long_a")" >"$TMP/a.json" &
A=$!
post "$(body "$long_b")" >"$TMP/b.json" &
B=$!
wait "$A" "$B"
[ "$(text <"$TMP/a.json")" = "$(echo "$alone_a" | text)" ] && [ -n "$(text <"$TMP/a.json")" ] \
  && pass "the first of two big prompts says what it says alone" || fail "a: $(cat "$TMP/a.json")"
[ "$(text <"$TMP/b.json")" = "$(echo "$alone_b" | text)" ] && [ -n "$(text <"$TMP/b.json")" ] \
  && pass "the second waited for room and says what it says alone" || fail "b: $(cat "$TMP/b.json")"
d_steps=$(( $(metric kvant_decode_batch_size_count) - steps ))
d_single=$(( $(metric 'kvant_decode_batch_size_bucket{le="1"}') - single ))
[ "$d_steps" -gt 0 ] && [ "$d_steps" = "$d_single" ] \
  && pass "they never shared a decode step ($d_steps steps)" \
  || fail "$d_single of $d_steps steps had one sequence"

[ "$(metric kvant_kv_bytes)" = "$bytes" ] && pass "later requests reused the blocks: $bytes bytes" \
  || fail "KV bytes went from $bytes to $(metric kvant_kv_bytes)"

# ---- two long generations that outgrow the cache together ----
# Both start at once; when neither can take another block the newer one ends
# (503), and the older one goes on until it alone fills the cache.
long='{"model":"kjv","prompt":"%s","stream":false,"options":{"num_predict":2000,"temperature":0}}'
get -o "$TMP/g1.json" -w '%{http_code}' -X POST "$BASE/api/generate" -d "$(printf "$long" And)" >"$TMP/g1.code" &
G1=$!
get -o "$TMP/g2.json" -w '%{http_code}' -X POST "$BASE/api/generate" -d "$(printf "$long" Jesus)" >"$TMP/g2.code" &
G2=$!
wait "$G1" "$G2"
codes="$(cat "$TMP/g1.code") $(cat "$TMP/g2.code")"
case "$codes" in
  "200 503" | "503 200")
    grep -h -q "KV cache is full" "$TMP/g1.json" "$TMP/g2.json" \
      && pass "the newer of two outgrowing requests ends with 503: KV cache is full" \
      || fail "no 'KV cache is full' in: $(cat "$TMP/g1.json" "$TMP/g2.json")"
    grep -h -q '"done_reason":"length"' "$TMP/g1.json" "$TMP/g2.json" \
      && pass "the older one fills the cache and ends with length" \
      || fail "no length end: $(cat "$TMP/g1.json" "$TMP/g2.json")" ;;
  "200 200") echo "note: the second request came after the first had filled the cache" ;;
  *) fail "statuses $codes: $(cat "$TMP/g1.json" "$TMP/g2.json")" ;;
esac

# ---- a prompt larger than the whole cache ----
huge="$long_a $long_a"
OUT=$(get -i -X POST "$BASE/api/generate" -d "$(body "$huge")")
expect_out "503" "a prompt larger than the cache is refused with 503"
expect_out "--kv-cells" "the refusal names --kv-cells"
finish
