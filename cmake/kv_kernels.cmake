# Per-file compile flags of the quantizers and kernels, shared by the main build
# (CMakeLists.txt) and the core-only cross build (tests/cross/CMakeLists.txt) so
# that both compile them the same way.
#  - src/kernels/avx2/*.c (and avxvnni/*.c, with -mavxvnni too; avx512/*.c with
#    -mavx512f/bw/vl/dq/vnni too; amx/*.c with -mamx-tile -mamx-int8 on top) on x86-64 and src/kernels/neon/*.c on aarch64 are added
#    to the target with their own ISA flags, and only they get those flags: the
#    rest of the binary runs on any CPU of the architecture, and dispatch picks
#    the SIMD kernels from the CPU's features.
#  - The reference quantizers and kernels must not contract a*b+c into FMA:
#    bit-exactness with ggml.

# kv_add_kernel_sources(TARGET ROOT): ROOT is the source tree's top folder.
function(kv_add_kernel_sources target root)
  file(GLOB avx2_srcs CONFIGURE_DEPENDS ${root}/src/kernels/avx2/*.c)
  file(GLOB vnni_srcs CONFIGURE_DEPENDS ${root}/src/kernels/avxvnni/*.c)
  file(GLOB avx512_srcs CONFIGURE_DEPENDS ${root}/src/kernels/avx512/*.c)
  file(GLOB amx_srcs CONFIGURE_DEPENDS ${root}/src/kernels/amx/*.c)
  file(GLOB neon_srcs CONFIGURE_DEPENDS ${root}/src/kernels/neon/*.c)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64" AND avx2_srcs)
    target_sources(${target} PRIVATE ${avx2_srcs} ${vnni_srcs} ${avx512_srcs} ${amx_srcs})
    set_source_files_properties(${avx2_srcs} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
    set_source_files_properties(${vnni_srcs} PROPERTIES
      COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavxvnni")
    set_source_files_properties(${avx512_srcs} PROPERTIES COMPILE_OPTIONS
      "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni")
    set_source_files_properties(${amx_srcs} PROPERTIES COMPILE_OPTIONS
      "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mamx-tile;-mamx-int8")
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64" AND neon_srcs)
    target_sources(${target} PRIVATE ${neon_srcs})
    set_source_files_properties(${neon_srcs} PROPERTIES
      COMPILE_OPTIONS "-march=armv8.2-a+dotprod+fp16")
  endif()
  file(GLOB exact_srcs CONFIGURE_DEPENDS ${root}/src/quant/*.c ${root}/src/kernels/ref/*.c)
  set_source_files_properties(${exact_srcs} PROPERTIES COMPILE_OPTIONS "-ffp-contract=off")
endfunction()
