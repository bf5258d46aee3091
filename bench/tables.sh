#!/usr/bin/env bash
# bench/tables.sh [KVANT]: kvant's kernel tables side by side on one machine
# (pp and tg of `kvant bench` per table), for the files bench/run.sh makes
# (bench/models/SHAPE-TYPE.gguf; run it first, or make them as it does).
# Tables alternate run by run (round-robin, ROUNDS rounds), so a burst of other
# work on a shared machine hits each table alike; each run's load average is
# kept. Prints a markdown table: per file, test and table the median and the
# best of the rounds' t/s, and each table's median over the first table's.
#
# Settings (environment): TABLES="avx2-vnni avx512 amx" (tables the CPU lacks
# fall back to the best it has: the kernels column says which ran)
#   SHAPES="llama-160m tinyllama-1.1b" TYPES="Q4_0 Q4_K_M Q8_0" THREADS=2
#   N_PROMPT=512 N_GEN=128 ROUNDS=3 (ROUNDS_<shape>, e.g. ROUNDS_tinyllama_1_1b=2)
#   BENCH_WORK (default bench/work-tables): the per-run JSON
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KVANT=${1:-${KVANT:-$ROOT/build/kvant}}
TABLES=${TABLES:-"avx2-vnni avx512 amx"}
SHAPES=${SHAPES:-"llama-160m tinyllama-1.1b"}
TYPES=${TYPES:-"Q4_0 Q4_K_M Q8_0"}
THREADS=${THREADS:-2}
N_PROMPT=${N_PROMPT:-512}
N_GEN=${N_GEN:-128}
ROUNDS=${ROUNDS:-3}
WORK=${BENCH_WORK:-$ROOT/bench/work-tables}
PYTHON=/usr/bin/python3
[ -x "$KVANT" ] || { echo "bench/tables.sh: no kvant at $KVANT" >&2; exit 1; }
mkdir -p "$WORK"
for shape in $SHAPES; do
  var="ROUNDS_${shape//[-.]/_}"
  rounds=${!var:-$ROUNDS}
  for type in $TYPES; do
    f=$ROOT/bench/models/$shape-$type.gguf
    [ -f "$f" ] || { echo "bench/tables.sh: no $f, skipped" >&2; continue; }
    for r in $(seq 1 "$rounds"); do
      for k in $TABLES; do
        out=$WORK/$shape-$type@$k@$r.json
        [ -s "$out" ] && continue
        load=$(cut -d' ' -f1 /proc/loadavg)
        echo "[$(date +%H:%M:%S)] $shape $type $k round $r (load $load)" >&2
        if "$KVANT" bench -m "$f" -p "$N_PROMPT" -n "$N_GEN" -t "$THREADS" -r 1 --bw-mib 0 \
             --kernels "$k" -o json >"$out.tmp" 2>/dev/null; then
          "$PYTHON" - "$out.tmp" "$load" <<'PY' && mv "$out.tmp" "$out"
import json, sys
runs = json.load(open(sys.argv[1]))
for r in runs: r["load_avg"] = float(sys.argv[2])
json.dump(runs, open(sys.argv[1], "w"))
PY
        fi
        rm -f "$out.tmp"
      done
    done
  done
done
"$PYTHON" - "$WORK" "$TABLES" <<'PY'
import glob, json, os, statistics, sys
work, tables = sys.argv[1], sys.argv[2].split()
rows = {}  # (shape, type, test) -> table -> [t/s], loads, kernel names
for p in sorted(glob.glob(os.path.join(work, "*.json"))):
    name = os.path.basename(p)[:-5]
    shape_type, table, _ = name.split("@")
    for r in json.load(open(p)):
        test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
        key = (shape_type, test)
        d = rows.setdefault(key, {})
        e = d.setdefault(table, {"ts": [], "load": [], "kernels": set()})
        e["ts"].append(r["avg_ts"]); e["load"].append(r["load_avg"]); e["kernels"].add(r["kernels"])
hdr = "| file | test | " + " | ".join(f"{t} t/s (median, best)" for t in tables) + " | " + \
      " | ".join(f"{t} / {tables[0]}" for t in tables[1:]) + " | load (min-max) |"
print(hdr)
print("|" + " --- |" * (3 + 2 * len(tables) - 1))
for (st, test), d in sorted(rows.items()):
    cells, med = [], {}
    loads = [l for e in d.values() for l in e["load"]]
    for t in tables:
        e = d.get(t)
        if not e:
            cells.append("—"); continue
        med[t] = statistics.median(e["ts"])
        ran = ",".join(sorted(e["kernels"]))
        cells.append(f"{med[t]:.1f}, {max(e['ts']):.1f} (n={len(e['ts'])}{'' if ran == t else ', ran ' + ran})")
    ratios = [f"{med[t] / med[tables[0]]:.2f}" if t in med and tables[0] in med else "—" for t in tables[1:]]
    print(f"| {st} | {test} | " + " | ".join(cells) + " | " + " | ".join(ratios) +
          f" | {min(loads):.1f}-{max(loads):.1f} |")
PY
