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

finish
