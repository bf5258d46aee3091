# Shared helpers for the integration scripts (sourced, not run).
set -uo pipefail
: "${KVANT:?KVANT must name the kvant binary}"
SRC=${KV_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SHARED=${KV_SHARED:-$SRC/../shared}
[ -f "$SHARED/models/kjv-llama-7m/config.json" ] || SHARED=
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kvant-it-XXXXXX")
# kvant serve reads keys from $KVANT_HOME/kvant.db when it exists: none of the user's
export KVANT_HOME="$TMP/kvant-home"
SERVER= # a `kvant serve` started by start_server
STREAM= # a client a script keeps running in the background
cleanup() {
  kill $STREAM $SERVER 2>/dev/null
  [ -z "$SERVER" ] || wait "$SERVER" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
N_PASS=0
N_FAIL=0

pass() { N_PASS=$((N_PASS + 1)); echo "ok: $*"; }
fail() { N_FAIL=$((N_FAIL + 1)); echo "FAIL: $*"; }

# expect_rc WANT DESC CMD... : runs CMD, captures output in $OUT, checks the exit code.
expect_rc() {
  local want=$1 desc=$2; shift 2
  OUT=$("$@" 2>&1); local rc=$?
  if [ "$rc" -eq "$want" ]; then pass "$desc"; else fail "$desc (exit $rc, wanted $want): $OUT"; fi
}

# expect_out FRAGMENT DESC : the last command's output contains FRAGMENT.
expect_out() {
  if grep -qF -- "$1" <<<"$OUT"; then pass "$2"; else fail "$2 (no '$1' in: $OUT)"; fi
}

# demo_gguf: the demo model converted to Q8_0 at $TMP/kjv.gguf; ends the script
# with a failure when that does not work.
demo_gguf() {
  "$KVANT" convert "$SHARED/models/kjv-llama-7m" -o "$TMP/kjv.gguf" --outtype q8_0 \
    >"$TMP/convert.log" 2>&1 || { cat "$TMP/convert.log"; fail "convert the demo model"; finish; exit 1; }
}

# wait_listening: waits (10 s at most) for the server $SERVER, its stdout in
# $TMP/serve.out, to say where it listens; sets PORT, empty when it did not (it
# exited or took too long).
wait_listening() {
  PORT=
  for _ in $(seq 1 100); do
    PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$TMP/serve.out")
    [ -n "$PORT" ] && break
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
}

# start_server ARGS...: `kvant serve --port 0 --threads 2 ARGS` in the background;
# sets SERVER (stopped on exit), PORT and BASE once it listens on loopback, or
# ends the script with a failure and the server's messages.
start_server() {
  "$KVANT" serve --port 0 --threads 2 "$@" >"$TMP/serve.out" 2>"$TMP/serve.err" &
  SERVER=$!
  wait_listening
  if [ -z "$PORT" ]; then
    cat "$TMP/serve.err"
    fail "server did not start"
    finish
    exit 1
  fi
  BASE="http://127.0.0.1:$PORT"
}

finish() {
  echo "$N_PASS passed, $N_FAIL failed"
  [ "$N_FAIL" -eq 0 ]
}

# skip REASON: ends the script as skipped (exit 77, ctest's SKIP_RETURN_CODE),
# printing "skip: REASON" and the counts so far.
skip() {
  echo "skip: $*"
  finish
  exit 77
}

# require_demo_model: skips the rest unless the demo model (../shared) is there.
require_demo_model() {
  [ -n "$SHARED" ] || skip "the demo model (../shared) is absent"
}

# require_cmds REASON CMD...: skips the rest with REASON unless every CMD is on PATH.
require_cmds() {
  local reason=$1 cmd
  shift
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null || skip "$reason"
  done
}

# require_py_modules REASON MODULE...: fails the test with REASON (exit 1: a missing
# dependency of tools/install-deps.sh) unless "$PY" imports every MODULE.
require_py_modules() {
  local reason=$1
  shift
  "$PY" -c "import $(IFS=,; echo "$*")" 2>/dev/null && return 0
  fail "$reason"
  finish
  exit 1
}

# npm_install_pinned DIR PKG@VERSION...: npm-installs the packages into DIR (once:
# nothing runs when each is already there at exactly its version). On failure it
# shows npm's last lines and returns 1. NPM_TIMEOUT bounds npm (seconds, 300).
npm_install_pinned() {
  local dir=$1 spec need=0
  shift
  for spec in "$@"; do
    [ "$(node -p "require('$dir/node_modules/${spec%@*}/package.json').version" 2>/dev/null)" = \
      "${spec##*@}" ] || need=1
  done
  [ "$need" = 1 ] || return 0
  mkdir -p "$dir"
  if ! timeout "${NPM_TIMEOUT:-300}" npm install --no-audit --no-fund --prefix "$dir" "$@" \
      >"$TMP/npm.log" 2>&1; then
    tail -n 5 "$TMP/npm.log"
    return 1
  fi
}
