# CMake toolchain file: 64-bit ARM Linux with Debian's cross compiler
# (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross). Target libraries come from
# Debian multiarch (e.g. libcmocka-dev:arm64 in /usr/lib/aarch64-linux-gnu),
# found with pkg-config. Test binaries run under qemu-aarch64 (qemu-user):
# ctest prefixes each test command with CMAKE_CROSSCOMPILING_EMULATOR.
#   cmake -S tests/cross -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# gcc by default; clang works too: -DCMAKE_C_COMPILER=clang -DCMAKE_C_COMPILER_TARGET=aarch64-linux-gnu
if(NOT CMAKE_C_COMPILER)
  set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
endif()

# Headers and libraries of the target only; programs (cmake, pkg-config) of the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)

# pkg-config reads the arm64 .pc files only (never the host's).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# -L: the target's dynamic loader and libc (libc6-dev-arm64-cross), the libc the
# binaries are linked against. LD_LIBRARY_PATH makes that loader take libc from
# there too: otherwise it finds the multiarch libc6:arm64 (a dependency of
# libcmocka0:arm64, another Debian build of glibc) first, and a loader and libc
# of different builds deadlock in pthread_cond_wait. Libraries that are only in
# multiarch (cmocka) are still found in /usr/lib/aarch64-linux-gnu.
# -cpu max: every feature qemu emulates, dotprod and fp16 included.
find_program(KV_QEMU_AARCH64 qemu-aarch64)
if(KV_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${KV_QEMU_AARCH64} -L /usr/aarch64-linux-gnu
    -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib -cpu max)
endif()
