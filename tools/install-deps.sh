#!/usr/bin/env bash
# Installs the Debian 12 packages kvant needs to build and test, if any is missing.
# Runs apt-get as root, or through sudo otherwise. Safe to run again: it does
# nothing when everything is present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libjansson-dev libprotobuf-c-dev protobuf-c-compiler
  libcmocka-dev libssl-dev libmicrohttpd-dev
  libpcre2-dev # BPE pre-tokenizer regexes
  libicu-dev # WordPiece (BERT) normalization: Unicode categories, NFD
  chromium
  python3 python3-numpy
  # test_crash_consistency.sh: kills a writer blocked in write/fsync (strace's syscall delays)
  strace
  # ARM kernels (test neon/cross): cross compiler and libc, qemu, arm64 cmocka (multiarch)
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libcmocka-dev:arm64
  # serve's operations tests: /metrics read by Prometheus' own parser, deploy/ checked
  # (kubernetes.yaml parsed), replicas behind HAProxy
  python3-prometheus-client python3-yaml
  haproxy
  # the store (API keys, audit log): SQLite, and its command-line shell for the tests
  libsqlite3-dev sqlite3
  # the store's pull/push over OCI registries (libcurl), and a real registry for its tests
  libcurl4-openssl-dev docker-registry openssl
  libyaml-dev # kvant optimize: recipe files
  gnuplot-nox # kvant optimize: the report's plots (svg terminal, run as a subprocess)
  libonnx-dev # ONNX reader: protobuf-c code generated from its onnx.proto
  libonnx-testdata python3-onnx # tests/integration/test_onnx_info.sh: models, and onnx.load as the oracle
  python3-sentencepiece # tests/integration/test_export_onnx.sh: the derived tokenizer.model's oracle
)
# The server's tests run the official npm clients (and the web page in headless
# chromium through npm playwright-core); node may come from
# elsewhere (nodesource), so only ask Debian for it when the commands are absent.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "kvant: installing missing packages: ${missing[*]}" >&2
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "kvant: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# arm64 packages (libcmocka-dev:arm64) need Debian's multiarch: the architecture
# must be enabled before apt-get update fetches its package lists.
if printf '%s\n' "${missing[@]}" | grep -q ':arm64$' && [ "$(dpkg --print-architecture)" != arm64 ] &&
  ! dpkg --print-foreign-architectures | grep -qx arm64; then
  "${SUDO[@]}" dpkg --add-architecture arm64
fi
"${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
"${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
