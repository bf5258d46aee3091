#!/usr/bin/env bash
# The files of deploy/: HAProxy accepts haproxy.cfg; systemd-analyze verifies
# kvant.service without a complaint and rates its hardening; the Kubernetes
# example has a Deployment whose probes ask /health with Prometheus scrape
# annotations for /metrics, and a Service that reaches its port. The command
# lines of the unit and of the Deployment run: kvant accepts their options
# and answers /health (on loopback, with a port of its choosing and the demo
# model as the models folder).
. "$(dirname "$0")/lib.sh"

D="$SRC/deploy"

# ---- HAProxy ----
if command -v haproxy >/dev/null; then
  expect_rc 0 "haproxy -c accepts deploy/haproxy.cfg" haproxy -c -f "$D/haproxy.cfg"
else
  fail "haproxy is missing (tools/install-deps.sh installs it)"
fi

# ---- systemd ----
sed "s|/usr/local/bin/kvant|$KVANT|" "$D/kvant.service" >"$TMP/kvant.service"
if command -v systemd-analyze >/dev/null; then
  OUT=$(systemd-analyze verify "$TMP/kvant.service" 2>&1)
  rc=$?
  [ "$rc" = 0 ] && [ -z "$OUT" ] && pass "systemd-analyze verify kvant.service: no complaint" ||
    fail "systemd-analyze verify (exit $rc): $OUT"
  OUT=$(systemd-analyze security --offline=true "$TMP/kvant.service" 2>&1)
  level=$(sed -n 's/.*Overall exposure level for kvant.service: \([0-9.]*\).*/\1/p' <<<"$OUT")
  [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l < 2.0) }' &&
    pass "systemd-analyze security: exposure $level (below 2.0)" ||
    fail "systemd-analyze security: '$level': $(tail -3 <<<"$OUT")"
else
  echo "note: systemd-analyze is absent; kvant.service is not verified"
fi
for k in DynamicUser=yes ProtectSystem=strict ProtectHome=yes NoNewPrivileges=yes \
  PrivateTmp=yes CapabilityBoundingSet= SystemCallFilter=@system-service; do
  grep -qx "$k" "$D/kvant.service" && pass "kvant.service has $k" || fail "kvant.service lacks $k"
done

# ---- Kubernetes ----
PY=
for p in python3 /usr/bin/python3; do
  "$p" -c 'import yaml' 2>/dev/null && { PY=$p; break; }
done
if [ -z "$PY" ]; then
  fail "no python3 with yaml (tools/install-deps.sh installs python3-yaml)"
else
  OUT=$("$PY" - "$D/kubernetes.yaml" <<'EOF' 2>&1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {d["kind"]: d for d in docs}
dep, svc = kinds["Deployment"], kinds["Service"]
pod = dep["spec"]["template"]
assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items(), "Service selects no pod"
c = pod["spec"]["containers"][0]
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
for probe in ("readinessProbe", "livenessProbe"):
    g = c[probe]["httpGet"]
    assert g["path"] == "/health", probe
    assert g["port"] in ports or g["port"] in ports.values(), probe + " port"
ann = pod["metadata"]["annotations"]
assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/path"] == "/metrics"
assert int(ann["prometheus.io/port"]) in ports.values(), "scrape port"
t = svc["spec"]["ports"][0]["targetPort"]
assert t in ports or t in ports.values(), "Service targetPort"
assert c["args"][0] == "serve"
print(" ".join(c["args"][1:]))
EOF
  )
  if [ $? = 0 ]; then
    K8S_ARGS=$(tail -1 <<<"$OUT")
    pass "kubernetes.yaml: probes on /health, scrape annotations on /metrics, Service port"
  else
    fail "kubernetes.yaml: $OUT"
  fi
fi

# ---- the command lines run ----
if [ -z "$SHARED" ]; then
  echo "skip: the demo model (../shared) is absent: the command lines are not run"
  finish
  exit $([ "$N_FAIL" = 0 ] && echo 77 || echo 1)
fi
demo_gguf
mkdir -p "$TMP/models"
mv "$TMP/kjv.gguf" "$TMP/models/kjv.gguf"
# run_args DESC ARGS...: `kvant ARGS` with --host, --port and --models pointed
# here answers /health and a generate request for kjv.
run_args() {
  local desc=$1 args=() a
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --host) args+=(--host 127.0.0.1); shift ;;
      --port) args+=(--port 0); shift ;;
      --models) args+=(--models "$TMP/models"); shift ;;
      *) args+=("$1") ;;
    esac
    shift
  done
  "$KVANT" "${args[@]}" >"$TMP/serve.out" 2>"$TMP/serve.err" &
  SERVER=$!
  wait_listening
  if [ -n "$PORT" ] &&
    curl -sf --max-time 10 "http://127.0.0.1:$PORT/health" | grep -q '"status":"ok"' &&
    curl -sf --max-time 60 "http://127.0.0.1:$PORT/api/generate" \
      -d '{"model":"kjv","prompt":"And","stream":false,"options":{"num_predict":2}}' |
    grep -q '"done":true'; then
    pass "$desc runs: kvant ${args[*]}"
  else
    fail "$desc does not run: kvant ${args[*]}: $(cat "$TMP/serve.err")"
  fi
  kill "$SERVER" 2>/dev/null
  wait "$SERVER" 2>/dev/null
  SERVER=
}
exec_start=$(sed -n 's/^ExecStart=[^ ]* //p' "$D/kvant.service")
read -r -a unit_args <<<"$exec_start"
run_args "kvant.service's ExecStart" "${unit_args[@]}"
if [ -n "${K8S_ARGS:-}" ]; then
  read -r -a k8s_args <<<"$K8S_ARGS"
  run_args "the Deployment's args" serve "${k8s_args[@]}"
fi
finish
