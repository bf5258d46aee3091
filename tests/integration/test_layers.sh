#!/usr/bin/env bash
# The layer order of DESIGN.md holds over every #include in src/ and include/kvant
# (tools/check_layers.sh), and the check fails on a copy of the tree given one
# bad include of each kind: a higher layer, a sibling, another module's *_int.h,
# a public header with no layer.
source "$(dirname "$0")/lib.sh"
CHECK="$SRC/tools/check_layers.sh"

expect_rc 0 "the tree keeps the layer order" bash "$CHECK" "$SRC"
expect_out "layers: ok" "the check says so"

# bad_copy FILE LINE: a copy of src/ and include/ at $TMP/tree with LINE added
# at the top of FILE.
bad_copy() {
  rm -rf "$TMP/tree"
  mkdir -p "$TMP/tree"
  cp -r "$SRC/src" "$SRC/include" "$TMP/tree/"
  { echo "$2"; cat "$TMP/tree/$1"; } >"$TMP/tree/$1.new" && mv "$TMP/tree/$1.new" "$TMP/tree/$1"
}

bad_copy src/tokenizer/vocab.c '#include "kvant/kv_model.h"'
expect_rc 1 "tokenizer including the model fails" bash "$CHECK" "$TMP/tree"
expect_out "src/tokenizer/vocab.c:1: tokenizer (layer 3) includes kvant/kv_model.h of the higher layer model" \
  "the message names the file, line and layers"

bad_copy src/formats/gguf_read.c '#include "kvant/kv_mix.h"'
expect_rc 1 "formats including its sibling quant fails" bash "$CHECK" "$TMP/tree"
expect_out "includes kvant/kv_mix.h of its sibling quant" "the message names the sibling"

bad_copy src/kernels/ref/dot_q.c '#include "quant/quant_int.h"'
expect_rc 1 "kernels including quant's private header fails" bash "$CHECK" "$TMP/tree"
expect_out "kernels includes quant/quant_int.h, private to quant" "the message names the owner"

bad_copy include/kvant/kv_tokenizer.h '#include "kvant/kv_gguf.h"'
expect_rc 0 "a public header may include a lower layer's" bash "$CHECK" "$TMP/tree"
bad_copy include/kvant/kv_gguf.h '#include "kvant/kv_tokenizer.h"'
expect_rc 1 "a public header including a higher layer's fails" bash "$CHECK" "$TMP/tree"

bad_copy src/core/status.c '#include "kvant/kv_core.h"'
touch "$TMP/tree/include/kvant/kv_new_thing.h"
expect_rc 1 "a public header with no layer fails" bash "$CHECK" "$TMP/tree"
expect_out "include/kvant/kv_new_thing.h has no layer" "the message asks for its layer"

# The server's private headers (src/serve/*_int.h): each compiles on its own,
# included twice (it includes what it uses and its guard holds), and their
# includes of each other have no cycle. Checked on a broken copy too.
CC=${CC:-cc}
JANSSON_CFLAGS=$(pkg-config --cflags jansson 2>/dev/null)
# header_alone ROOT H: a file that includes serve/H twice compiles against ROOT.
header_alone() {
  # shellcheck disable=SC2086 # JANSSON_CFLAGS is a list of flags
  printf '#include "serve/%s"\n#include "serve/%s"\n' "$2" "$2" |
    $CC -std=gnu11 -Wall -Wextra -Wshadow -Werror -fsyntax-only -I"$1/src" -I"$1/include" \
      $JANSSON_CFLAGS -x c - 2>&1
}
# reaches ROOT FROM H DEPTH: serve/FROM includes serve/H, directly or through others.
reaches() {
  local i
  [ "$4" -gt 32 ] && return 0 # deeper than the headers there are: a cycle
  for i in $(sed -n 's|^#include "serve/\([a-z_]*\.h\)".*|\1|p' "$1/src/serve/$2"); do
    [ "$i" = "$3" ] && return 0
    reaches "$1" "$i" "$3" $(($4 + 1)) && return 0
  done
  return 1
}
# header_cycles ROOT: names each serve header that includes itself through others.
header_cycles() {
  local h n=0
  for h in "$1"/src/serve/*_int.h; do
    h=${h##*/}
    if reaches "$1" "$h" "$h" 0; then echo "cycle through serve/$h"; n=$((n + 1)); fi
  done
  [ "$n" -eq 0 ]
}
for h in "$SRC"/src/serve/*_int.h; do
  expect_rc 0 "serve/${h##*/} compiles alone" header_alone "$SRC" "${h##*/}"
done
expect_rc 0 "the serve headers include each other without a cycle" header_cycles "$SRC"

rm -rf "$TMP/tree" && mkdir -p "$TMP/tree" && cp -r "$SRC/src" "$SRC/include" "$TMP/tree/"
sed -i '/#include "serve\/buf_int.h"/d' "$TMP/tree/src/serve/stop_int.h"
expect_rc 1 "a serve header missing an include it needs fails" header_alone "$TMP/tree" stop_int.h
expect_out "kv__buf" "the compiler names what is missing"
bad_copy src/serve/buf_int.h '#include "serve/stop_int.h"'
expect_rc 1 "an include cycle among the serve headers fails" header_cycles "$TMP/tree"
expect_out "cycle through serve/buf_int.h" "the message names a header on the cycle"

finish
