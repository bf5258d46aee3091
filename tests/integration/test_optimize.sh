#!/usr/bin/env bash
# kvant optimize end to end on the demo model (short texts, three types and one
# searched mix): the pick meets the goals, the Pareto front is right for the
# measured points, a rerun measures nothing, one more type measures only it, an
# impossible goal exits 2 naming the closest and the goal, Ctrl-C stops and the
# rerun continues from the cache, the searched mix loads and runs with the
# chosen per-tensor types and the KLD and size results.json reports, recipes
# (printed, read back, an error naming file:line), kvant recommend, and the
# report in headless Chromium (screenshot: $KV_BUILD_DIR/artifacts/optimize_report.png).
. "$(dirname "$0")/lib.sh"

PLAYWRIGHT_VERSION=1.65.1
CHROMIUM=${KV_CHROMIUM:-/usr/bin/chromium}
if [ -z "$SHARED" ]; then echo "skip: the demo model (../shared) is absent"; exit 77; fi
if ! command -v gnuplot >/dev/null; then
  echo "skip: gnuplot is missing (tools/install-deps.sh installs gnuplot-nox)"; exit 77
fi

MODEL=$SHARED/models/kjv-llama-7m
head -c 24000 "$SHARED/data/kjv-train-sample.txt" >"$TMP/text.txt"
OUTD=$TMP/out
COMMON=(--text "$TMP/text.txt" --ctx 64 --chunks 6 --calib-chunks 8 -t 2
        --bench-prompt 32 --bench-gen 8 --bench-reps 1)
SEARCH=(--search-mix Q4_K_M --search-types Q4_K,Q6_K --search-chunks 1)

# jq-like checks in python: py 'EXPR' evaluates with r = results.json
py() { python3 -c "import json,sys; r=json.load(open('$OUTD/results.json')); $1"; }

t0=$(date +%s)
expect_rc 0 "optimize: three types and a searched mix" \
  "$KVANT" optimize "$MODEL" -o "$OUTD" "${COMMON[@]}" --types Q8_0,Q4_K_M,Q2_K "${SEARCH[@]}" \
  --max-kld 0.02 --max-size 6MiB
echo "$OUT" | tail -n 8 | sed 's/^/  /'
echo "  first run: $(( $(date +%s) - t0 )) s"
expect_out "ETA" "progress lines carry an ETA"
py "
v=r['variants']; n=[x['name'] for x in v]
assert n==['Q8_0','Q4_K_M','Q2_K','mix@Q4_K_M'], n
assert r['n_measured']==4 and not any(x['cached'] for x in v), r['n_measured']
p=[x for x in v if x['name']==r['pick']][0]
assert p['kld_mean']<=0.02 and p['size_bytes']<=6*1048576 and p['meets_all'], p
# the pick is the lowest-KLD variant among those meeting both goals
ok=[x for x in v if x['kld_mean']<=0.02 and x['size_bytes']<=6*1048576]
assert p['kld_mean']==min(x['kld_mean'] for x in ok)
for a in v:
  dom=any(b is not a and b['size_bytes']<=a['size_bytes'] and b['kld_mean']<=a['kld_mean'] and
          (b['size_bytes']<a['size_bytes'] or b['kld_mean']<a['kld_mean']) for b in v)
  assert a['pareto']==(not dom), a['name']
for x in v:
  for k in ('size_bytes','bpw','ppl','kld_mean','kld_p99','same_top_p','prompt_tps','gen_tps'):
    assert x[k]>0, (x['name'],k)
" && pass "pick meets the goals, Pareto front recomputed, every field measured" \
  || fail "results.json: $(cat "$OUTD/results.json" | head -c 3000)"
PICK_PATH=$(py "print([x['path'] for x in r['variants'] if x['name']==r['pick']][0])")
cmp -s "$PICK_PATH" "$OUTD/model.gguf" && pass "model.gguf is the pick" || fail "model.gguf differs from the pick"
grep -q '^FROM ./model.gguf' "$OUTD/Modelfile" && pass "Modelfile names model.gguf" || fail "Modelfile"

# a rerun measures nothing; one more type measures only that one
expect_rc 0 "rerun" "$KVANT" optimize "$MODEL" -o "$OUTD" "${COMMON[@]}" \
  --types Q8_0,Q4_K_M,Q2_K "${SEARCH[@]}" --max-kld 0.02 --max-size 6MiB -q
py "assert r['n_measured']==0 and all(x['cached'] for x in r['variants'])" \
  && pass "rerun: every variant from the cache, none measured" || fail "rerun measured again"
expect_rc 0 "rerun with Q6_K added" "$KVANT" optimize "$MODEL" -o "$OUTD" "${COMMON[@]}" \
  --types Q8_0,Q4_K_M,Q2_K,Q6_K "${SEARCH[@]}" --max-kld 0.02 --max-size 6MiB -q
py "
assert r['n_measured']==1, r['n_measured']
assert [x['name'] for x in r['variants'] if not x['cached']]==['Q6_K']" \
  && pass "one more type: only Q6_K measured" || fail "one more type: $(py "print(r['n_measured'])")"

# OUTDIR moved: still all from the cache, every path under the new place
mv "$OUTD" "$TMP/moved"
expect_rc 0 "rerun in a moved OUTDIR" "$KVANT" optimize "$MODEL" -o "$TMP/moved" "${COMMON[@]}" \
  --types Q8_0,Q4_K_M,Q2_K,Q6_K "${SEARCH[@]}" --max-kld 0.02 --max-size 6MiB -q
python3 -c "
import json; r=json.load(open('$TMP/moved/results.json'))
assert r['n_measured']==0, r['n_measured']
assert all(x['path'].startswith('$TMP/moved/cache/') for x in r['variants']), [x['path'] for x in r['variants']]" \
  && pass "moved OUTDIR: nothing measured, paths follow the folder" || fail "moved OUTDIR"
mv "$TMP/moved" "$OUTD"

# an impossible goal: exit 2, the closest named with the goal it misses, no model left
expect_rc 2 "impossible goal exits 2" "$KVANT" optimize "$MODEL" -o "$OUTD" "${COMMON[@]}" \
  --types Q8_0,Q4_K_M,Q2_K --max-kld 0.00000001 -q
expect_out "closest" "names the closest candidate"
expect_out "max_kld" "names the goal it misses"
[ ! -e "$OUTD/model.gguf" ] && pass "no model.gguf when nothing meets the goals" || fail "model.gguf left"
py "assert r['pick'] is None and r['closest']=='Q8_0' and 'max_kld' in r['missed']" \
  && pass "results.json: no pick, closest Q8_0" || fail "results.json pick/closest"

# the searched mix: loads, runs, per-tensor types as chosen, KLD and size as reported
"$KVANT" optimize "$MODEL" -o "$OUTD" "${COMMON[@]}" --types Q8_0,Q4_K_M,Q2_K "${SEARCH[@]}" -q \
  >/dev/null 2>&1
MIX=$(py "print([x['path'] for x in r['variants'] if x['name']=='mix@Q4_K_M'][0])")
"$KVANT" info "$MIX" >"$TMP/mix.info" 2>&1
python3 - "$OUTD/results.json" "$TMP/mix.info" <<'PYEOF' && pass "mix: every tensor has the type the search chose" || fail "mix tensor types"
import json, sys, re
r = json.load(open(sys.argv[1]))
m = [x for x in r['variants'] if x['name'] == 'mix@Q4_K_M'][0]
types = {}
for line in open(sys.argv[2]):
    f = line.split()
    if len(f) >= 3 and f[0].isdigit() and f[1].endswith('.weight'):
        types[f[1]] = f[2]
tt = m['tensor_types']
assert len(tt) == 44, len(tt)
for name, t in tt.items():
    assert types.get(name, '').upper() == t.upper(), (name, types.get(name), t)
lo = sum(1 for t in tt.values() if t.upper() == 'Q4_K')
assert 0 < lo < len(tt), lo  # a real mix: some lowered, some kept
PYEOF
SIZE=$(stat -c %s "$MIX")
py "assert [x for x in r['variants'] if x['name']=='mix@Q4_K_M'][0]['size_bytes']==$SIZE" \
  && pass "mix: size as reported ($SIZE bytes)" || fail "mix size"
py "m=[x for x in r['variants'] if x['name']=='mix@Q4_K_M'][0]; q=[x for x in r['variants'] if x['name']=='Q4_K_M'][0]; assert m['size_bytes']<=q['size_bytes']" \
  && pass "mix@Q4_K_M is no larger than Q4_K_M" || fail "mix over its budget"
LOGITS=$(py "print(r['base']['logits'])")
KLD=$("$KVANT" perplexity "$MIX" --kld "$LOGITS" -t 2 -q 2>&1 | awk '/Mean +KLD/ {print $3}')
py "m=[x for x in r['variants'] if x['name']=='mix@Q4_K_M'][0]; assert abs(m['kld_mean']-float('$KLD'))<=5e-7, (m['kld_mean'],'$KLD')" \
  && pass "mix: kvant perplexity --kld measures the reported KLD ($KLD)" || fail "mix KLD $KLD"
"$KVANT" run "$MIX" "In the beginning" -n 8 --temp 0 >"$TMP/run.out" 2>&1 && [ -s "$TMP/run.out" ] \
  && pass "mix: runs in kvant" || fail "mix run: $(cat "$TMP/run.out")"

# Ctrl-C between steps: exit 130, and the rerun continues from the cache
OUT2=$TMP/out2
"$KVANT" optimize "$MODEL" -o "$OUT2" "${COMMON[@]}" --types Q8_0,Q6_K,Q5_K_M --no-bench \
  >"$TMP/int.out" 2>"$TMP/int.err" &
OPID=$!
for _ in $(seq 600); do grep -q "Q6_K .*quantize" "$TMP/int.err" 2>/dev/null && break; sleep 0.1; done
kill -INT "$OPID"
wait "$OPID"; rc=$?
[ "$rc" -eq 130 ] && pass "Ctrl-C: exit 130" || fail "Ctrl-C: exit $rc: $(cat "$TMP/int.err")"
grep -q "stopped" "$TMP/int.err" && pass "Ctrl-C: says it stopped" || fail "Ctrl-C message"
expect_rc 0 "after Ctrl-C: rerun" "$KVANT" optimize "$MODEL" -o "$OUT2" "${COMMON[@]}" \
  --types Q8_0,Q6_K,Q5_K_M --no-bench -q
python3 -c "
import json; r=json.load(open('$OUT2/results.json')); c={x['name']:x['cached'] for x in r['variants']}
assert c['Q8_0'] and r['n_measured']<=2, (c, r['n_measured'])" \
  && pass "after Ctrl-C: what was measured comes from the cache" || fail "after Ctrl-C: $(cat "$OUT2/results.json" | head -c 600)"

# recipes: printed, read back (same digests: nothing measured), errors name file:line
"$KVANT" optimize "$MODEL" -o "$OUTD" "${COMMON[@]}" --types Q8_0,Q4_K_M,Q2_K "${SEARCH[@]}" \
  --max-kld 0.02 --max-size 6MiB --print-recipe >"$TMP/recipe.yaml"
grep -q "type: quantize" "$TMP/recipe.yaml" && pass "--print-recipe writes a recipe" || fail "recipe: $(cat "$TMP/recipe.yaml")"
expect_rc 0 "optimize --recipe" "$KVANT" optimize --recipe "$TMP/recipe.yaml" -q
py "assert r['n_measured']==0 and r['goals']['max_kld']==0.02 and r['pick']" \
  && pass "the recipe reproduces the run (all cached, same goals)" || fail "recipe run"
printf 'input: x\noutput: y\npasses:\n  - type: quantize\n    typez: [Q8_0]\n' >"$TMP/bad.yaml"
expect_rc 1 "a bad recipe fails" "$KVANT" optimize --recipe "$TMP/bad.yaml"
expect_out "bad.yaml:5:" "the error names file:line"
printf 'input: [x\n' >"$TMP/bad2.yaml"
expect_rc 1 "a recipe that is not YAML fails" "$KVANT" optimize --recipe "$TMP/bad2.yaml"
expect_out "bad2.yaml:2:" "the YAML error names file:line"

# recommend: from the measurements, and from estimates
expect_rc 0 "recommend from results.json" "$KVANT" recommend --disk 6MiB "$OUTD/results.json"
expect_out "MEASURED" "measured results are labelled measured"
expect_out "<- recommended" "one recommendation"
expect_rc 0 "recommend from the model" "$KVANT" recommend --ram 5MiB "$MODEL"
expect_out "ESTIMATES" "estimates are labelled estimates"
expect_rc 2 "recommend: nothing fits" "$KVANT" recommend --disk 1KB "$OUTD/results.json"

# the report in headless Chromium
if [ ! -x "$CHROMIUM" ] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  fail "chromium, node or npm is missing (tools/install-deps.sh installs them)"
else
  CLIENTS=${KV_BUILD_DIR:-$TMP}/node_clients
  if [ "$(node -p "require('$CLIENTS/node_modules/playwright-core/package.json').version" 2>/dev/null)" \
       != "$PLAYWRIGHT_VERSION" ]; then
    mkdir -p "$CLIENTS"
    timeout 300 npm install --no-audit --no-fund --prefix "$CLIENTS" \
      "playwright-core@$PLAYWRIGHT_VERSION" >"$TMP/npm.log" 2>&1 || tail -n 5 "$TMP/npm.log"
  fi
  cp "$SRC/tests/integration/optimize_report.mjs" "$CLIENTS/optimize_report.mjs"
  ARTIFACTS=${KV_BUILD_DIR:-$TMP}/artifacts
  mkdir -p "$ARTIFACTS"
  SHOT="$ARTIFACTS/optimize_report.png"
  rm -f "$SHOT"
  BOUT=$(KV_REPORT="$OUTD/report.html" KV_RESULTS="$OUTD/results.json" KV_SHOT="$SHOT" \
         KV_CHROMIUM="$CHROMIUM" timeout 300 node "$CLIENTS/optimize_report.mjs" 2>&1)
  rc=$?
  echo "$BOUT" | sed 's/^/  browser: /'
  [ "$rc" -eq 0 ] && pass "report in headless Chromium" || fail "report (exit $rc)"
  [ -s "$SHOT" ] && pass "screenshot kept at $SHOT" || fail "no screenshot at $SHOT"
fi
echo "  whole script: $(( $(date +%s) - t0 )) s"
finish
