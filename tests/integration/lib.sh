# Shared helpers for the integration scripts (sourced, not run).
set -uo pipefail
: "${KVANT:?KVANT must name the kvant binary}"
SRC=${KV_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SHARED=${KV_SHARED:-$SRC/../shared}
[ -f "$SHARED/models/kjv-llama-7m/config.json" ] || SHARED=
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kvant-it-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
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

finish() {
  echo "$N_PASS passed, $N_FAIL failed"
  [ "$N_FAIL" -eq 0 ]
}
