#!/usr/bin/env bash
# Checks the layer edges of DESIGN.md over the #include lines of a source tree:
#
#   cli                      9
#   serve   optimize         8
#   store                    7
#   pipeline  onnx           6
#   eval                     5
#   model                    4
#   tokenizer                3
#   formats   quant          2
#   kernels                  1
#   core                     0
#
# A file under src/<folder>/ may include its own folder's headers and those of
# lower layers; an include of a higher layer, or of a sibling (another folder on
# the same line), is an error. Public headers (include/kvant/*.h) belong to the
# layer that implements them (the table below; a header missing from it is an
# error, so a new one gets a layer when it arrives) and obey the same rule among
# themselves. A module-private header (src/<folder>/*_int.h) is included only by
# its own folder. Includes of system headers and of generated files are not
# checked. Usage: check_layers.sh [ROOT] (default: the repository this script is
# in). Prints one line per bad edge and exits 1 when there is any.
set -uo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

declare -A RANK=(
  [core]=0 [kernels]=1 [formats]=2 [quant]=2 [tokenizer]=3 [model]=4 [eval]=5
  [pipeline]=6 [onnx]=6 [store]=7 [serve]=8 [optimize]=8 [cli]=9
)

# The folder each public header belongs to. kv_types.h, kv_blocks.h and
# kv_quant.h are the kernels' view of the quant layer: the type table, the block
# layouts and the reference quantizers every kernel is specified against. Their
# code is in src/quant (and kv_types.h's in src/core), but the kernels and
# formats include them, so they sit at the kernels' level.
declare -A HEADER=(
  [kv_status.h]=core [kv_core.h]=core [kv_buf.h]=core [kv_f16.h]=core [kv_threadpool.h]=core
  [kv_types.h]=kernels [kv_blocks.h]=kernels [kv_quant.h]=kernels
  [kv_gguf.h]=formats [kv_safetensors.h]=formats [kv_hf.h]=formats [kv_llama2c.h]=formats
  [kv_imatrix.h]=formats [kv_spm.h]=formats [kv_mlx.h]=formats [kv_mix.h]=quant
  [kv_onnx.h]=formats
  [kv_pretok.h]=formats # data: the pre-tokenizer regexes tokenizer.json defines
  [kv_tokenizer.h]=tokenizer [kv_chat.h]=tokenizer
  [kv_model.h]=model [kv_sample.h]=model [kv_json_prefix.h]=model [kv_json.h]=model [kv_json_schema.h]=model [kv_jinja.h]=model
  [kv_generate.h]=model [kv_vocab_gguf.h]=model [kv_speculative.h]=model
  [kv_gotmpl.h]=model
  [kv_eval.h]=eval [kv_bench.h]=eval [kv_imatrix_eval.h]=eval
  [kv_convert.h]=pipeline
  [kv_onnx_export.h]=onnx
  [kv_serve.h]=serve
)

n_bad=0
bad() { echo "layers: $*"; n_bad=$((n_bad + 1)); }

# check FILE OWNER: every quoted include of FILE, which belongs to folder OWNER.
check() {
  local file=$1 owner=$2 line inc target
  local rel=${file#"$ROOT"/}
  while IFS= read -r line; do
    local n=${line%%:*}
    inc=${line#*\"}
    inc=${inc%%\"*}
    target=
    case $inc in
      kvant/kvant.h) bad "$rel:$n: includes the umbrella header kvant/kvant.h"; continue ;;
      kvant/*)
        target=${HEADER[${inc#kvant/}]:-}
        if [ -z "$target" ]; then
          bad "$rel:$n: $inc has no layer in tools/check_layers.sh"
          continue
        fi ;;
      */*)
        target=${inc%%/*}
        [ -n "${RANK[$target]:-}" ] || continue
        case $inc in
          *_int.h)
            if [ "$target" != "$owner" ]; then
              bad "$rel:$n: $owner includes $inc, private to $target"
              continue
            fi ;;
        esac ;;
      *) continue ;; # same folder or generated
    esac
    [ "$target" = "$owner" ] && continue
    if [ "${RANK[$target]}" -gt "${RANK[$owner]}" ]; then
      bad "$rel:$n: $owner (layer ${RANK[$owner]}) includes $inc of the higher layer $target (${RANK[$target]})"
    elif [ "${RANK[$target]}" -eq "${RANK[$owner]}" ]; then
      bad "$rel:$n: $owner includes $inc of its sibling $target"
    fi
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file")
}

shopt -s nullglob
for dir in "$ROOT"/src/*/; do
  folder=$(basename "$dir")
  if [ -z "${RANK[$folder]:-}" ]; then
    bad "src/$folder has no layer in tools/check_layers.sh"
    continue
  fi
  while IFS= read -r -d '' f; do
    check "$f" "$folder"
  done < <(find "$dir" -type f \( -name '*.c' -o -name '*.h' \) -print0)
done
for h in "$ROOT"/include/kvant/*.h; do
  name=$(basename "$h")
  [ "$name" = kvant.h ] && continue
  owner=${HEADER[$name]:-}
  if [ -z "$owner" ]; then
    bad "include/kvant/$name has no layer in tools/check_layers.sh"
    continue
  fi
  check "$h" "$owner"
done

if [ "$n_bad" -gt 0 ]; then
  echo "layers: $n_bad include(s) against the layer order"
  exit 1
fi
echo "layers: ok"
