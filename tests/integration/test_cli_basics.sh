#!/usr/bin/env bash
# The kvant command's surface: --version, --help on every command, usage errors,
# convert and info end to end on the demo model, errors that name the file.
source "$(dirname "$0")/lib.sh"

expect_rc 0 "--version" "$KVANT" --version
expect_out "kvant " "--version prints the version"
expect_rc 0 "--help" "$KVANT" --help
for cmd in $("$KVANT" --help | awk '/^commands:/{on=1; next} on && !NF {exit} on {print $1}'); do
  expect_rc 0 "$cmd --help" "$KVANT" "$cmd" --help
  expect_out "usage: kvant $cmd" "$cmd --help shows usage"
done
expect_rc 2 "unknown command" "$KVANT" frobnicate
expect_rc 2 "convert without SRC" "$KVANT" convert
expect_rc 2 "convert with an unknown option" "$KVANT" convert x --bogus

MODEL=$SRC/models/kjv-llama-7m
expect_rc 1 "convert of a missing folder" "$KVANT" convert "$TMP/nope" -o "$TMP/x.gguf"
expect_out "$TMP/nope" "the error names the missing folder"
expect_rc 1 "convert into a missing directory" "$KVANT" convert "$MODEL" -o "$TMP/no/such/dir/x.gguf"
expect_out "$TMP/no/such/dir/x.gguf" "the error names the output path"
expect_rc 1 "convert with an unknown outtype" "$KVANT" convert "$MODEL" -o "$TMP/x.gguf" --outtype q9_9
expect_out "q9_9" "the error names the bad type"
[ -z "$(ls -A "$TMP")" ] && pass "failed converts leave no files" || fail "files left: $(ls -A "$TMP")"

expect_rc 0 "convert the demo model to F16" "$KVANT" convert "$MODEL" -o "$TMP/kjv.gguf" -q
[ -s "$TMP/kjv.gguf" ] && pass "output written" || fail "no output file"
[ -z "$(ls -A "$TMP" | grep -v '^kjv.gguf$')" ] && pass "no temporary file left" || fail "stray files: $(ls -A "$TMP")"
expect_rc 0 "info on the GGUF" "$KVANT" info "$TMP/kjv.gguf"
expect_out "llama.block_count" "info shows hyper-parameters"
expect_out "blk.5.ffn_down.weight" "info shows the tensor table"
expect_out "bits/weight" "info shows bits per weight"
expect_rc 0 "info --json on the GGUF" "$KVANT" info --json "$TMP/kjv.gguf"
n=$(python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(len(d["tensors"]), d["metadata"]["general.architecture"], d["n_params"])' <<<"$OUT")
[ "$n" = "57 llama 6819072" ] && pass "info --json parses: $n" || fail "info --json gave: $n"
expect_rc 0 "info on the HF folder" "$KVANT" info "$MODEL"
expect_out "LlamaForCausalLM" "folder info names the architecture"
expect_out "4096 tokens" "folder info summarises the tokenizer"
expect_rc 0 "info on the safetensors file" "$KVANT" info "$MODEL/model.safetensors"
expect_out "model.layers.5.mlp.down_proj.weight" "safetensors info lists tensors"

head -c 100000 "$TMP/kjv.gguf" > "$TMP/cut.gguf"
expect_rc 1 "info on a truncated GGUF" "$KVANT" info "$TMP/cut.gguf"
expect_out "cut.gguf" "the error names the file"
expect_out "truncated" "the error says truncated"

# A failed convert keeps whatever was at the output path.
echo "precious" > "$TMP/existing.gguf"
expect_rc 1 "convert of a broken folder over an existing file" "$KVANT" convert "$TMP" -o "$TMP/existing.gguf"
[ "$(cat "$TMP/existing.gguf")" = "precious" ] && pass "existing output kept" || fail "existing output changed"

if [ -n "$SHARED" ]; then
  for f in "$SHARED"/testdata/vocab/*.gguf; do
    expect_rc 0 "info on llama.cpp's $(basename "$f")" "$KVANT" info --no-tensors "$f"
    expect_out "tokenizer.ggml.tokens" "$(basename "$f") lists its vocabulary"
  done
  V=$SHARED/testdata/vocab/ggml-vocab-gpt-2.gguf
  expect_rc 0 "info names the pre-tokenizer" "$KVANT" info --no-tensors "$V"
  expect_out "tokenizer:    gpt2, pre-tokenizer gpt-2" "the tokenizer line"
  # --jsonl: one id list per JSON string line, the same as one call per text
  printf '%s\n' '"Hello world"' '' '" 123\n\ta"' > "$TMP/texts.jsonl"
  expect_rc 0 "tokenize --jsonl" "$KVANT" tokenize "$V" --jsonl "$TMP/texts.jsonl"
  one=$("$KVANT" tokenize "$V" "Hello world")
  two=$("$KVANT" tokenize "$V" "$(printf ' 123\n\ta')")
  [ "$OUT" = "$(printf '%s\n%s' "$one" "$two")" ] && pass "--jsonl matches single calls" ||
    fail "--jsonl gave '$OUT', single calls '$one' '$two'"
  printf '%s\n' '"ok"' 'not json' > "$TMP/bad.jsonl"
  expect_rc 1 "tokenize --jsonl with a bad line" "$KVANT" tokenize "$V" --jsonl "$TMP/bad.jsonl"
  expect_out "bad.jsonl: line 2 is not a JSON string" "the error names the file and line"
else
  echo "note: ../shared is absent: llama.cpp vocab files not checked"
fi
finish
