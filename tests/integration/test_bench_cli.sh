#!/usr/bin/env bash
# kvant bench end to end on the demo model (Q8_0): the markdown table, JSON
# records with llama-bench's field names and kvant's bandwidth fields, CSV, the
# kernel choice, and bad options. Timings are only checked to be positive.
source "$(dirname "$0")/lib.sh"
MODEL=$SRC/models/kjv-llama-7m
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }

expect_rc 0 "convert to Q8_0" "$KVANT" convert "$MODEL" -o "$TMP/m.gguf" --outtype q8_0 -q
RUN=("$KVANT" bench "$TMP/m.gguf" -p 32 -n 8 -r 2 -t 2 --bw-mib 64)

expect_rc 0 "bench, markdown" "${RUN[@]}"
expect_out "| model " "the table has llama-bench's header"
expect_out " t/s |" "a t/s column"
expect_out " pp32 |" "a pp32 row"
expect_out " tg8 |" "a tg8 row"
expect_out "llama 7M Q8_0" "the model type"
expect_out "memory bandwidth:" "the bandwidth line"
expect_out "of the bandwidth limit" "the fraction of the limit"

expect_rc 0 "bench -o json" "${RUN[@]}" -o json
printf '%s' "$OUT" > "$TMP/b.json"
expect_rc 0 "info --json" "$KVANT" info --json "$TMP/m.gguf"
printf '%s' "$OUT" > "$TMP/info.json"
expect_rc 0 "the JSON records have llama-bench's fields" python3 - "$TMP/b.json" "$TMP/info.json" <<'PY'
import json, sys
recs = json.load(open(sys.argv[1]))
info = json.load(open(sys.argv[2]))
assert isinstance(recs, list) and len(recs) == 2, recs
pp, tg = recs
for r in recs:
    for k in ("n_prompt", "n_gen", "n_threads", "avg_ts", "stddev_ts", "model_size",
              "model_n_params", "model_type", "samples_ts", "samples_ns", "n_batch", "test_time"):
        assert k in r, k
    assert r["n_threads"] == 2
    assert r["avg_ts"] > 0 and r["stddev_ts"] >= 0
    assert len(r["samples_ts"]) == 2 and all(t > 0 for t in r["samples_ts"])
    assert abs(r["avg_ts"] - sum(r["samples_ts"]) / 2) <= 1e-6 * r["avg_ts"]
    assert r["model_type"] == "llama 7M Q8_0", r["model_type"]
    assert r["model_n_params"] == info["n_params"], (r["model_n_params"], info["n_params"])
    assert r["model_size"] == info["tensor_bytes"], (r["model_size"], info["tensor_bytes"])
assert (pp["n_prompt"], pp["n_gen"], pp["n_batch"]) == (32, 0, 32), pp
assert (tg["n_prompt"], tg["n_gen"]) == (0, 8), tg
assert "bound_ts" not in pp
for k in ("bandwidth_gbs", "bound_ts", "bound_fraction", "bytes_per_token"):
    assert tg[k] > 0, k
assert tg["bytes_per_token"] < tg["model_size"]
assert abs(tg["bound_ts"] - tg["bandwidth_gbs"] * 1e9 / tg["bytes_per_token"]) <= 1e-6 * tg["bound_ts"]
assert abs(tg["bound_fraction"] - tg["avg_ts"] / tg["bound_ts"]) <= 1e-6
PY

expect_rc 0 "bench -o csv" "${RUN[@]}" -o csv --bw-mib 0
printf '%s\n' "$OUT" > "$TMP/b.csv"
expect_rc 0 "the CSV has a header and two records" python3 - "$TMP/b.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 2, rows
assert rows[0]["n_prompt"] == "32" and rows[1]["n_gen"] == "8"
assert float(rows[1]["avg_ts"]) > 0
assert rows[1]["bound_ts"] == ""  # --bw-mib 0: not measured
PY

expect_rc 0 "--kernels ref" "$KVANT" bench "$TMP/m.gguf" -p 8 -n 0 -r 1 --kernels ref
expect_out "CPU (ref)" "the backend names the reference kernels"
# The wider x86 tables where this CPU has them (else the best it has runs)
if grep -qw avx512_vnni /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo; then
  expect_rc 0 "--kernels avx512" "$KVANT" bench "$TMP/m.gguf" -p 8 -n 0 -r 1 --kernels avx512
  expect_out "CPU (avx512)" "the backend names the AVX-512 table"
else
  echo "skipped: --kernels avx512 (this CPU lacks AVX-512 F/BW/VL/VNNI)"
fi
if grep -qw amx_int8 /proc/cpuinfo && grep -qw avx512_vnni /proc/cpuinfo; then
  expect_rc 0 "--kernels amx" "$KVANT" bench "$TMP/m.gguf" -p 16 -n 0 -r 1 --kernels amx
  expect_out "CPU (amx)" "the backend names the AMX table"
else
  echo "skipped: --kernels amx (this CPU lacks AMX-INT8)"
fi
expect_rc 2 "an unknown kernel table" "$KVANT" bench "$TMP/m.gguf" -p 8 -n 0 --kernels sse
expect_out "--kernels takes" "the error names the option"
expect_rc 0 "-b splits the prompt" "$KVANT" bench -m "$TMP/m.gguf" -p 16 -n 0 -r 1 -b 4 -o json
expect_out '"n_batch": 4' "n_batch recorded"
expect_rc 0 "--help" "$KVANT" bench --help
expect_out "usage: kvant bench" "help text"
expect_rc 0 "kvant help lists bench" "$KVANT" help
expect_out "bench" "bench in the command list"

expect_rc 2 "nothing to measure" "$KVANT" bench "$TMP/m.gguf" -p 0 -n 0
expect_rc 2 "unknown output format" "$KVANT" bench "$TMP/m.gguf" -o xml
expect_rc 2 "zero repetitions" "$KVANT" bench "$TMP/m.gguf" -r 0
expect_out "-r needs an integer" "the error names the option"
expect_rc 2 "missing model" "$KVANT" bench -p 8
expect_rc 1 "a file that is not there" "$KVANT" bench "$TMP/none.gguf" -p 8 -n 0
expect_out "none.gguf" "the error names the file"
finish
