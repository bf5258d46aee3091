#!/usr/bin/env bash
# A model's own chat template end to end: `kvant convert` copies the "default"
# template of tokenizer_config.json's list into tokenizer.chat_template, and
# `kvant serve` renders /api/chat and /v1/chat/completions prompts with it (the
# prompt is the rendering, with one BOS), passing a raise_exception on as a 400.
. "$(dirname "$0")/lib.sh"

require_demo_model
require_cmds "curl is missing" curl

# ---- convert: the template travels from tokenizer_config.json into the GGUF ----
DEMO=$SHARED/models/kjv-llama-7m
mkdir -p "$TMP/hf"
for f in "$DEMO"/*; do ln -s "$f" "$TMP/hf/$(basename "$f")"; done
rm "$TMP/hf/tokenizer_config.json"
TEMPLATE="{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system messages here') }}{% endif %}[{{ m.role | upper }}] {{ m.content | trim }}
{% endfor %}{% if add_generation_prompt %}[ASSISTANT]{% endif %}"
python3 - "$DEMO/tokenizer_config.json" "$TMP/hf/tokenizer_config.json" "$TEMPLATE" <<'EOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["chat_template"] = [{"name": "tool_use", "template": "{{ 'tools' }}"},
                        {"name": "default", "template": sys.argv[3]}]
json.dump(cfg, open(sys.argv[2], "w"), indent=1)
EOF
expect_rc 0 "convert a model whose tokenizer_config.json lists named templates" \
  "$KVANT" convert "$TMP/hf" -o "$TMP/t.gguf" --outtype q8_0 -q
printf '[{"role":"user","content":"  In the beginning "}]' >"$TMP/user.json"
expect_rc 0 "template render -m reads the GGUF's template" \
  "$KVANT" template render -m "$TMP/t.gguf" --messages "$TMP/user.json" --add-generation-prompt
[ "$OUT" = "<s>[USER] In the beginning
[ASSISTANT]" ] && pass "the GGUF holds the 'default' template, BOS from the vocabulary" \
  || fail "rendered: $OUT"

# ---- serve: the prompt is the rendering ----
"$KVANT" template render -m "$TMP/t.gguf" --messages "$TMP/user.json" --add-generation-prompt --bos "" >"$TMP/prompt.txt"
WANT=$("$KVANT" tokenize "$TMP/t.gguf" -f "$TMP/prompt.txt" --count)        # BOS added once
{ printf '<s>'; cat "$TMP/prompt.txt"; } >"$TMP/prompt_bos.txt"
DOUBLE=$("$KVANT" tokenize "$TMP/t.gguf" -f "$TMP/prompt_bos.txt" --count)
[ "$DOUBLE" -eq $((WANT + 1)) ] && pass "a BOS in the text would be a second BOS ($WANT vs $DOUBLE tokens)" \
  || fail "BOS counts: $WANT and $DOUBLE"

start_server --model "t=$TMP/t.gguf" --ctx 256
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
BODY='{"model":"t","messages":[{"role":"user","content":"  In the beginning "}],"stream":false,"options":{"num_predict":2,"temperature":0}}'
GOT=$(curl -s --max-time 60 "$BASE/api/chat" -d "$BODY" | field 'd["prompt_eval_count"]')
[ "$GOT" = "$WANT" ] && pass "/api/chat prompt is the template's rendering with one BOS ($GOT tokens)" \
  || fail "/api/chat prompt_eval_count $GOT, want $WANT"
BODY='{"model":"t","messages":[{"role":"user","content":"  In the beginning "}],"max_tokens":2,"temperature":0}'
GOT=$(curl -s --max-time 60 "$BASE/v1/chat/completions" -d "$BODY" | field 'd["usage"]["prompt_tokens"]')
[ "$GOT" = "$WANT" ] && pass "/v1/chat/completions prompt likewise ($GOT tokens)" \
  || fail "/v1/chat/completions prompt_tokens $GOT, want $WANT"
OUT=$(curl -s -i --max-time 60 "$BASE/api/chat" \
  -d '{"model":"t","messages":[{"role":"system","content":"x"},{"role":"user","content":"y"}],"stream":false}')
expect_out "400 Bad Request" "a raise_exception in the template is a 400"
expect_out "no system messages here" "... carrying the template's message"

finish
