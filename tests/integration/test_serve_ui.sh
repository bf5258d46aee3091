#!/usr/bin/env bash
# The web chat page (/ui) in headless Chromium: Debian's chromium driven by npm
# playwright-core (serve_ui.mjs) against `kvant serve` over the demo model. The
# screenshot is kept as a test artifact: $KV_BUILD_DIR/artifacts/serve_ui.png.
# Then against a server with keys (serve_ui_key.mjs): the page's API key field.
. "$(dirname "$0")/lib.sh"

PLAYWRIGHT_VERSION=1.65.1
CHROMIUM=${KV_CHROMIUM:-/usr/bin/chromium}

if [ -z "$SHARED" ]; then echo "skip: the demo model (../shared) is absent"; exit 77; fi
if [ ! -x "$CHROMIUM" ] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "skip: chromium, node or npm is missing (tools/install-deps.sh installs them)"
  exit 77
fi
CLIENTS=${KV_BUILD_DIR:-$TMP}/node_clients
if [ "$(node -p "require('$CLIENTS/node_modules/playwright-core/package.json').version" 2>/dev/null)" \
     != "$PLAYWRIGHT_VERSION" ]; then
  mkdir -p "$CLIENTS"
  if ! timeout 300 npm install --no-audit --no-fund --prefix "$CLIENTS" \
      "playwright-core@$PLAYWRIGHT_VERSION" >"$TMP/npm.log" 2>&1; then
    tail -n 5 "$TMP/npm.log"
    echo "skip: npm could not install playwright-core (is the registry reachable?)"
    exit 77
  fi
fi
cp "$SRC/tests/integration/serve_ui.mjs" "$SRC/tests/integration/serve_ui_key.mjs" "$CLIENTS/"

demo_gguf
start_server --model "kjv=$TMP/kjv.gguf" --ctx 256

ARTIFACTS=${KV_BUILD_DIR:-$TMP}/artifacts
mkdir -p "$ARTIFACTS"
SHOT="$ARTIFACTS/serve_ui.png"
rm -f "$SHOT"
OUT=$(KV_BASE="http://127.0.0.1:$PORT" KV_SHOT="$SHOT" KV_CHROMIUM="$CHROMIUM" \
      timeout 300 node "$CLIENTS/serve_ui.mjs" 2>&1)
rc=$?
echo "$OUT" | sed 's/^/  browser: /'
[ "$rc" -eq 0 ] && pass "web chat page in headless Chromium" || fail "web chat page (exit $rc)"
[ -s "$SHOT" ] && pass "screenshot kept at $SHOT" || fail "no screenshot at $SHOT"

# ---- a server with keys: the API key field ----
kill "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=
rm -f "$TMP/serve.out"
UKEY=$("$KVANT" keys create --name ui --role user --db "$TMP/keys.db" 2>/dev/null)
start_server --model "kjv=$TMP/kjv.gguf" --ctx 256 --db "$TMP/keys.db"
OUT=$(KV_BASE="http://127.0.0.1:$PORT" KV_USER_KEY="$UKEY" KV_CHROMIUM="$CHROMIUM" \
      timeout 300 node "$CLIENTS/serve_ui_key.mjs" 2>&1)
rc=$?
echo "$OUT" | sed 's/^/  browser: /'
[ "$rc" -eq 0 ] && pass "web chat page with an API key against a keyed server" || fail "keyed web chat page (exit $rc)"
finish
