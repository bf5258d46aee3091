#!/usr/bin/env bash
# SIGTERM, SIGINT or SIGHUP while an output is being written: the writer removes
# its temporary (.NAME.tmp.PID.RANDOM) before it dies of the signal, so nothing
# is left for a later writer to sweep (kill -9, which cannot be caught, is
# test_crash_consistency.sh's). For kvant quantize (SIGTERM), convert (SIGINT),
# export onnx (SIGHUP) and create FROM a folder (SIGTERM) on a 31M-parameter
# random-weight checkpoint, as test_crash_consistency.sh makes it: the writer
# runs at nice 19, gets the signal once its temporary exists (the output still
# absent), and then
# - it was killed by that signal (the shell's 128+N: 143, 130, 129),
# - no temporary and no output are left, and the input is unchanged.
# Also: an ignored SIGHUP (nohup) stays ignored.
source "$(dirname "$0")/lib.sh"
MODEL=$SRC/models/kjv-llama-7m

# running PID: the process exists and is not a zombie (builtins only: no fork).
running() {
  local _p _c state
  [ -r "/proc/$1/stat" ] && read -r _p _c state _ <"/proc/$1/stat" 2>/dev/null && [ "$state" != Z ]
}

# signal_mid_write DESC SIG RC OUT CMD...: runs CMD at nice 19 in the background
# (SIG at its default action: a background job of a script otherwise starts with
# SIGINT ignored); once OUT's temporary exists (the writer running, OUT absent)
# the writer gets SIG. A writer that finished first is tried again (5 times).
signal_mid_write() {
  local desc=$1 sig=$2 want=$3 out=$4; shift 4
  local dir name try pid tmp f rc
  dir=$(dirname "$out") name=$(basename "$out")
  for try in 1 2 3 4 5; do
    rm -f "$out"
    env --default-signal="$sig" nice -n 19 "$@" >"$TMP/bg.log" 2>&1 &
    pid=$! tmp=
    local deadline=$((SECONDS + 120))
    while [ -z "$tmp" ] && running "$pid" && [ $SECONDS -lt $deadline ]; do
      for f in "$dir/.$name.tmp."*; do
        [ -f "$f" ] && [ ! -e "$out" ] && tmp=$f
      done
      [ -n "$tmp" ] || sleep 0.01
    done
    kill -s "$sig" "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    if [ -n "$tmp" ] && [ ! -e "$out" ] || [ $rc -ne 0 ]; then
      [ -n "$tmp" ] && pass "$desc: SIG$sig with the temporary $(basename "$tmp") in flight" ||
        fail "$desc: no temporary seen before SIG$sig"
      [ $rc -eq "$want" ] && pass "$desc: killed by SIG$sig (exit $rc)" ||
        fail "$desc: exit $rc, wanted $want: $(cat "$TMP/bg.log")"
      local left
      left=$(find "$dir" -maxdepth 1 -name ".$name.tmp.*")
      [ -z "$left" ] && pass "$desc: no temporary left" || fail "$desc: temporaries left: $left"
      [ ! -e "$out" ] && pass "$desc: no output" || fail "$desc: $out exists"
      return
    fi
    rm -f "$out" # finished before the signal: try again
  done
  fail "$desc: the writer always finished before SIG$sig could reach it"
}

# unchanged DESC FILE SUM: FILE still has the digest SUM.
unchanged() {
  [ "$(sha256sum <"$2")" = "$3" ] && pass "$1: the input is unchanged" || fail "$1: the input changed"
}

BIG=$TMP/big
expect_rc 0 "make a 31M-parameter checkpoint" "${KV_PYTHON:-/usr/bin/python3}" \
  "$SRC/tools/make_tiny_model.py" "$BIG" --tokenizer-from "$MODEL" --hidden 768 --ff 2048 \
  --layers 4 --heads 12 --kv-heads 4
expect_rc 0 "convert the big one to F32" "$KVANT" convert "$BIG" -o "$TMP/big-f32.gguf" --outtype f32 -q
[ "$N_FAIL" -eq 0 ] || { finish; exit 1; }
IN_SUM=$(sha256sum <"$TMP/big-f32.gguf")
ST_SUM=$(sha256sum <"$BIG/model.safetensors")

signal_mid_write "quantize" TERM 143 "$TMP/quant.gguf" \
  "$KVANT" quantize "$TMP/big-f32.gguf" "$TMP/quant.gguf" q4_k_m -t 1 -q
unchanged "quantize" "$TMP/big-f32.gguf" "$IN_SUM"

signal_mid_write "convert" INT 130 "$TMP/conv.gguf" \
  "$KVANT" convert "$BIG" -o "$TMP/conv.gguf" --outtype q4_k_m -t 1 -q
unchanged "convert" "$BIG/model.safetensors" "$ST_SUM"

mkdir -p "$TMP/onnx"
signal_mid_write "export onnx" HUP 129 "$TMP/onnx/model.onnx.data" \
  "$KVANT" export onnx "$TMP/big-f32.gguf" -o "$TMP/onnx" --precision int4 -q
unchanged "export onnx" "$TMP/big-f32.gguf" "$IN_SUM"
[ ! -e "$TMP/onnx/model.onnx" ] && [ -z "$(find "$TMP/onnx" -name '.*.tmp.*')" ] &&
  pass "export onnx: no model.onnx and no temporary of any file" ||
  fail "export onnx: left in the folder: $(ls -A "$TMP/onnx")"

# kvant create FROM a Hugging Face folder converts into the store's blobs folder
# through a placeholder (.tmp-create-XXXXXX) and kv_out's temporary beside it:
# SIGTERM during the conversion leaves neither, and no model.
export KVANT_MODELS=$TMP/store
printf 'FROM %s\n' "$BIG" >"$TMP/Modelfile"
for try in 1 2 3 4 5; do
  rm -rf "$KVANT_MODELS"
  nice -n 19 "$KVANT" create big -f "$TMP/Modelfile" >"$TMP/bg.log" 2>&1 &
  PID=$! SEEN=
  for _ in $(seq 1 12000); do
    SEEN=$(find "$KVANT_MODELS/blobs" -maxdepth 1 -name '.*.tmp.*' 2>/dev/null)
    [ -n "$SEEN" ] || ! running "$PID" && break
    sleep 0.01
  done
  kill -TERM "$PID" 2>/dev/null
  wait "$PID"
  RC=$?
  [ -z "$SEEN" ] && [ $RC -eq 0 ] && continue # finished first: again
  [ -n "$SEEN" ] && pass "create: SIGTERM with $(basename "$SEEN") in flight" ||
    fail "create: no temporary seen (exit $RC): $(cat "$TMP/bg.log")"
  [ $RC -eq 143 ] && pass "create: killed by SIGTERM (exit 143)" || fail "create: exit $RC"
  LEFT=$(find "$KVANT_MODELS" -type f)
  [ -z "$LEFT" ] && pass "create: nothing left in the store" || fail "create: left: $LEFT"
  break
done
unchanged "create" "$BIG/model.safetensors" "$ST_SUM"
unset KVANT_MODELS

# nohup's ignored SIGHUP stays ignored: the writer finishes.
rm -f "$TMP/hup.gguf"
bash -c 'trap "" HUP; exec "$@"' _ "$KVANT" quantize "$TMP/big-f32.gguf" "$TMP/hup.gguf" q8_0 -t 1 -q &
PID=$!
for _ in $(seq 1 1000); do
  [ -n "$(find "$TMP" -maxdepth 1 -name '.hup.gguf.tmp.*')" ] && break
  running "$PID" || break
  sleep 0.01
done
kill -HUP "$PID" 2>/dev/null
wait "$PID"
RC=$?
[ $RC -eq 0 ] && [ -s "$TMP/hup.gguf" ] && pass "an ignored SIGHUP stays ignored (exit 0, output written)" ||
  fail "an ignored SIGHUP: exit $RC"
finish
