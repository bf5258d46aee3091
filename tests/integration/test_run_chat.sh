#!/usr/bin/env bash
# kvant run's interactive mode: a chat in the model's template when its GGUF has
# a tokenizer.chat_template (run as Jinja; a family kvant recognises when it
# cannot run it) or --chat-template names one, plain continuation otherwise.
source "$(dirname "$0")/lib.sh"

EDIT=$SRC/tests/integration/gguf_edit.py
CHATML="{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

expect_rc 0 "convert the demo model to Q8_0" \
  "$KVANT" convert "$SRC/models/kjv-llama-7m" -o "$TMP/m.gguf" --outtype q8_0 -q
expect_rc 0 "add a ChatML chat template" \
  python3 "$EDIT" "$TMP/m.gguf" "$TMP/chat.gguf" --add-str tokenizer.chat_template "$CHATML"
expect_rc 0 "add an unknown chat template" \
  python3 "$EDIT" "$TMP/m.gguf" "$TMP/odd.gguf" --add-str tokenizer.chat_template "{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}{% endfor %}<assistant>"
expect_rc 0 "add a ChatML template kvant's Jinja cannot run" \
  python3 "$EDIT" "$TMP/m.gguf" "$TMP/unsup.gguf" --add-str tokenizer.chat_template "<|im_start|>{{ messages | wordcount }}"

# run_lines MODEL ARGS... : two lines on stdin; stdout in $STDOUT, stderr in $ERR.
run_lines() {
  local model=$1; shift
  printf 'In the beginning\nAnd God said\n' |
    "$KVANT" run "$model" --temp 0 -n 16 "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  STDOUT=$(cat "$TMP/out")
  ERR=$(cat "$TMP/err")
}

check() { if eval "$1"; then pass "$2"; else fail "$2 (stdout: $STDOUT; stderr: $ERR)"; fi; }

run_lines "$TMP/chat.gguf"
check '[ "$RC" -eq 0 ]' "chat with the model's ChatML template exits 0"
check 'grep -q "chat mode, the model.s tokenizer.chat_template (Jinja, family chatml)" <<<"$ERR"' \
  "stderr names the Jinja template (chatml family)"
# the first turn's prompt is the template's rendering, token for token
printf '[{"role":"user","content":"In the beginning"}]' >"$TMP/turn1.json"
"$KVANT" template render -m "$TMP/chat.gguf" --messages "$TMP/turn1.json" --add-generation-prompt >"$TMP/turn1.txt"
want=$("$KVANT" tokenize "$TMP/chat.gguf" -f "$TMP/turn1.txt" --count)
got=$(grep "stop: " <<<"$ERR" | sed -n 1p | sed -E 's/^\(([0-9]+) prompt tokens.*/\1/')
check '[ -n "$want" ] && [ "$got" = "$want" ]' "the first prompt is the rendered template ($got tokens, want $want)"
check '[ "$(grep -c "stop: " <<<"$ERR")" -eq 2 ]' "two replies"
check '[ -n "$(tr -d " \n" <<<"$STDOUT")" ]' "the replies have text"
check '! grep -q "In the beginning" <<<"$STDOUT"' "chat mode does not echo the user's lines"
reused=$(grep "stop: " <<<"$ERR" | sed -n 2p | sed -E 's/.* ([0-9]+) reused.*/\1/')
check '[ "$reused" -gt 0 ]' "the second turn reuses the first turn's cached prompt ($reused tokens)"
FIRST=$STDOUT

run_lines "$TMP/chat.gguf" --system "You are terse."
check '[ "$RC" -eq 0 ] && [ "$(grep -c "stop: " <<<"$ERR")" -eq 2 ]' "chat with --system: two replies"

run_lines "$TMP/chat.gguf" -c 64
check '[ "$RC" -eq 0 ] && [ "$(grep -c "stop: " <<<"$ERR")" -eq 2 ]' "chat in a small context: two replies"
check 'grep -q "context full: starting over" <<<"$ERR"' "... starting over when the conversation is full"

run_lines "$TMP/m.gguf"
check '[ "$RC" -eq 0 ]' "plain model exits 0"
check 'grep -q "plain continuation mode" <<<"$ERR"' "plain model reports plain continuation mode"
check 'grep -q "no chat template" <<<"$ERR"' "... because it has no template"
check 'grep -q "In the beginning" <<<"$STDOUT" && grep -q "And God said" <<<"$STDOUT"' \
  "plain mode continues each line"

run_lines "$TMP/odd.gguf"
check '[ "$RC" -eq 0 ] && grep -q "(Jinja, family plain)" <<<"$ERR"' \
  "a template of no known family chats through the Jinja interpreter"
check '[ "$(grep -c "stop: " <<<"$ERR")" -eq 2 ]' "... two replies"

run_lines "$TMP/unsup.gguf"
check '[ "$RC" -eq 0 ] && grep -q "cannot run the model.s chat template" <<<"$ERR"' \
  "a template the interpreter cannot run is reported"
check 'grep -q "wordcount" <<<"$ERR" && grep -q "chat mode, template chatml" <<<"$ERR"' \
  "... naming the filter, and the chatml family takes over"

run_lines "$TMP/m.gguf" --chat-template llama3
check '[ "$RC" -eq 0 ]' "--chat-template llama3 on the plain model exits 0"
check 'grep -q "chat mode, template llama3 (--chat-template)" <<<"$ERR"' "stderr names llama3"
check '[ "$(grep -c "stop: " <<<"$ERR")" -eq 2 ]' "llama3: two replies"

run_lines "$TMP/chat.gguf" --chat-template chatml
check '[ "$STDOUT" = "$FIRST" ]' "greedy replies are the same with the template named"

expect_rc 2 "an unknown --chat-template is a usage error" "$KVANT" run "$TMP/m.gguf" --chat-template jinja
expect_out "'jinja'" "the error names the template"

finish
