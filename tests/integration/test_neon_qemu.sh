#!/usr/bin/env bash
# neon/cross: cross-compiles the core and the kernel unit tests for aarch64
# (tests/cross, cmake/aarch64-linux-gnu.cmake) into $KV_BUILD_DIR/aarch64 and runs
# them under qemu-aarch64 -cpu max, so the NEON kernels are tested against the
# scalar references. Exits 77 (skipped) when the cross toolchain is missing; on an
# aarch64 machine the main build runs the same tests natively.
set -euo pipefail
SRC=${KV_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${KV_BUILD_DIR:-$SRC/build}/aarch64
JOBS=${KV_JOBS:-2}

skip() { echo "skipped: $*"; exit 77; }
case $(uname -m) in aarch64 | arm64) skip "this machine is aarch64: unit/test_kernels_neon runs natively" ;; esac
command -v aarch64-linux-gnu-gcc >/dev/null || skip "no aarch64-linux-gnu-gcc (make deps installs gcc-aarch64-linux-gnu)"
command -v qemu-aarch64 >/dev/null || skip "no qemu-aarch64 (make deps installs qemu-user)"
[ -f /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] ||
  skip "no aarch64 libc in /usr/aarch64-linux-gnu (make deps installs libc6-dev-arm64-cross)"
[ -f /usr/lib/aarch64-linux-gnu/pkgconfig/cmocka.pc ] ||
  skip "no arm64 cmocka (make deps installs libcmocka-dev:arm64)"

t0=$(date +%s)
mkdir -p "$BUILD"
cmake -S "$SRC/tests/cross" -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$SRC/cmake/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD/configure.log" 2>&1 || {
  cat "$BUILD/configure.log"
  exit 1
}
cmake --build "$BUILD" -j "$JOBS"
t1=$(date +%s)
ctest --test-dir "$BUILD" --output-on-failure
t2=$(date +%s)
echo "aarch64 build $((t1 - t0)) s, tests under qemu $((t2 - t1)) s"
