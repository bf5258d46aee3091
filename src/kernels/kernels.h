// The kernel dispatch table: every numeric inner loop the runtime uses, as
// function pointers filled once from the CPU's features (dispatch.c). ref/ holds
// the scalar reference versions, which are the specification; SIMD versions in
// avx2/, avxvnni/, avx512/, amx/ and neon/ implement the same signatures and are
// tested against them.
// Kernels never allocate and never do I/O.
#ifndef KV_KERNELS_H
#define KV_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_f16.h"
#include "kvant/kv_types.h"

// Dot product of one weight row w (n elements of the slot's weight type) with
// one activation row x (n elements already in the slot's vec_dot_type): *out = w . x.
// n is a multiple of the weight type's block size.
typedef void (*kv_vec_dot_fn)(int64_t n, float *out, const void *w, const void *x);

// Converts an activation row of n floats to a type (a vec_dot_type); n is a
// multiple of that type's block size.
typedef void (*kv_from_float_fn)(const float *x, void *y, int64_t n);

// A register tile: weight rows [0, nw) (rows w_row_size bytes apart) times
// activation rows [0, nx) (x_row_size apart), n elements each, into
// y[j * y_stride + i] for weight row i and activation row j. nw <= tile_nw and
// nx <= tile_nx. Each result has exactly the bits vec_dot gives for that pair,
// so the batch size never changes a sequence's numbers.
typedef void (*kv_tile_fn)(int64_t n, float *y, int64_t y_stride, const void *w,
                           size_t w_row_size, int64_t nw, const void *x, size_t x_row_size,
                           int64_t nx);

// How a weight type is multiplied: activations are first converted to
// vec_dot_type (with from_float[vec_dot_type]), then vec_dot runs per row pair.
// As in ggml: F16/BF16 activations for F16/BF16 weights, Q8_0 for
// Q4_0/Q5_0/Q8_0/IQ4_NL, Q8_1 for Q4_1/Q5_1 and Q8_K for the K-quants, IQ4_XS
// and TQ types (ref/dot_pairs.c). Types without such a dot dequantize a block
// at a time and take F32 activations.
// Copies nw <= pack_nw weight rows (w_row_size bytes apart, n elements each)
// into out in a kernel's own interleaved layout (pack_size(n) bytes); the
// lanes of missing rows hold anything (tile_packed drops their results).
typedef void (*kv_pack_fn)(int64_t n, const void *w, size_t w_row_size, int64_t nw, void *out);

// A tile over packed weight rows: the nw rows that pack wrote to wp times
// activation rows [0, nx) (nx <= pack_nx), into y[j * y_stride + i]. Like
// kv_tile_fn, each result has exactly the bits vec_dot gives for that pair.
typedef void (*kv_packed_tile_fn)(int64_t n, float *y, int64_t y_stride, const void *wp,
                                  int64_t nw, const void *x, size_t x_row_size, int64_t nx);

typedef struct {
    kv_type vec_dot_type;
    kv_vec_dot_fn vec_dot; // NULL: this type cannot be a matmul weight
    kv_tile_fn tile;       // NULL: matmul calls vec_dot per pair
    int tile_nw, tile_nx;  // the tile's full shape
    // Batches of at least pack_min_rows activation rows may instead repack
    // pack_nw weight rows at a time into the caller's scratch and run
    // tile_packed over them (NULL: no packed path).
    kv_pack_fn pack;
    size_t (*pack_size)(int64_t n);
    kv_packed_tile_fn tile_packed;
    int pack_nw, pack_nx, pack_min_rows;
} kv_type_kernels;

// One matrix product: w (n_out, n_in) of type w_type @ x (n_rows, n_in) in the
// vec_dot_type -> y (n_rows, n_out), row r of y at y + r * y_stride.
typedef struct {
    kv_type w_type;
    const void *w;
    size_t w_row_size; // bytes per weight row
    const void *x;
    size_t x_row_size; // bytes per activation row
    float *y;
    int64_t y_stride; // floats between rows of y
    int64_t n_in;
    int64_t n_rows;
    // Optional: w repacked once (kv_matmul_repack) with the pack function
    // wp_pack; the packed path reads its groups instead of packing per call
    // when wp_pack is the table's pack for w_type (same bytes, same bits).
    const void *wp;
    kv_pack_fn wp_pack;
} kv_matmul_args;

typedef struct kv_kernels kv_kernels;

struct kv_kernels {
    const char *name; // "ref", "avx2", ...

    kv_type_kernels types[KV_TYPE_COUNT];
    kv_from_float_fn from_float[KV_TYPE_COUNT]; // NULL where no converter exists
    // Converts a row of n elements of a type to floats (embedding lookup); NULL
    // where the type cannot be read.
    void (*to_float[KV_TYPE_COUNT])(const void *x, float *y, int64_t n);

    // Output rows [o0, o1) of a matrix product, every activation row. scratch
    // (scratch_size bytes, private to the calling thread; may be NULL) serves
    // the packed path when it holds kv_matmul_scratch_size bytes.
    void (*matmul)(const kv_kernels *k, const kv_matmul_args *a, int64_t o0, int64_t o1,
                   void *scratch, size_t scratch_size);

    // y = x / sqrt(mean(x^2) + eps) * w (w may be NULL: no weight); y may be x.
    void (*rmsnorm)(int64_t n, float *y, const float *x, const float *w, float eps);
    // In-place softmax of n values; -INFINITY entries get probability 0.
    void (*softmax)(int64_t n, float *x);
    // y = silu(gate) * up, silu(g) = g / (1 + exp(-g)); y may alias gate or up.
    void (*silu_mul)(int64_t n, float *y, const float *gate, const float *up);
    // y += x
    void (*add)(int64_t n, float *y, const float *x);
    // *out = k . q with k in F16 and q in F32 (attention: a cached key against a
    // query); independent of how F16 weights are multiplied.
    kv_vec_dot_fn dot_f16_f32;
    // Attention scores for a tile of cached keys and queries:
    // out[iq * out_stride + ik] = k_ik . q_iq for key rows k + ik * k_stride
    // (n halves each, ik < nk) and query rows q + iq * q_stride (n floats each,
    // iq < nq; attention rounds them through F16 first). Strides count elements.
    // Each pair's result has bits that depend only on n and that pair's two rows,
    // never on nk, nq or where the pair sits in the tile: a query's scores do not
    // depend on what shares its tile (a sequence's logits on the rest of the
    // batch). The per-pair arithmetic is the table's own (it may differ from
    // dot_f16_f32's; within the float-dot bound of kv_dot_f16_f32_ref).
    void (*dot_f16_tile)(int64_t n, const kv_f16 *k, size_t k_stride, int64_t nk, const float *q,
                         size_t q_stride, int64_t nq, float *out, size_t out_stride);
    // y += a * v, v in F16 (attention: weighted sum of cached values).
    void (*axpy_f16)(int64_t n, float *y, float a, const kv_f16 *v);
    // Attention's weighted sum of a block of cached values, row r at
    // v + r * stride (halves): y += a[r] * v_r for the rows with a[r] != 0, in
    // order, with the bits of axpy_f16 called row after row. NULL: the caller
    // loops over axpy_f16.
    void (*axpy_f16_rows)(int64_t n, int64_t rows, size_t stride, const kv_f16 *v,
                          const float *a, float *y);
    // The same for a block of cached values stored as type t (F32, Q8_0, Q4_0;
    // NULL elsewhere): row r at v + r * stride bytes, n elements (a multiple of
    // the block size): y += a[r] * v_r for the rows with a[r] != 0, in order,
    // each element y = a * v + y with v as to_float[t] gives it, the product
    // rounded before the sum (the bits of kv_axpy_rows_*_ref).
    void (*axpy_rows[KV_TYPE_COUNT])(int64_t n, int64_t rows, size_t stride, const void *v,
                                     const float *a, float *y);
    // Rotates n_head heads of head_dim values in place (GGUF "normal" RoPE: pairs
    // (2i, 2i+1) for 2i < n_rot), with cs = {cos theta_i, sin theta_i} for i < n_rot/2.
    void (*rope)(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs);
};

// Scratch bytes per thread that lets matmul take the packed path for weights of
// type t with n_in columns (0: that type has none).
size_t kv_matmul_scratch_size(const kv_kernels *k, kv_type t, int64_t n_in);

// Bytes of a whole weight matrix (n_out rows of n_in) repacked in groups of
// pack_nw rows for the packed path of table k (0: type t has none there).
size_t kv_matmul_repack_size(const kv_kernels *k, kv_type t, int64_t n_in, int64_t n_out);
// Packs groups [g0, g1) of pack_nw weight rows each (the last group may hold
// fewer) into out, group g at g * pack_size(n_in): what the packed path would
// pack per call, done once. Safe to run on disjoint group ranges in parallel.
void kv_matmul_repack(const kv_kernels *k, kv_type t, int64_t n_in, int64_t n_out,
                      const void *w, size_t w_row_size, int64_t g0, int64_t g1, void *out);

// The table for this CPU, chosen once (thread-safe). KVANT_KERNELS=ref in the
// environment forces the reference kernels. Valid for the life of the program.
const kv_kernels *kv_kernels_get(void);
// The reference table, always available (for tests and --kernels ref).
const kv_kernels *kv_kernels_ref(void);
// The NEON table (aarch64 Linux CPUs with dotprod), or NULL on other machines.
const kv_kernels *kv__kernels_neon(void);

// Fills cs (n_rot values: cos, sin pairs) for a position:
// theta_i = pos * freq_scale * base^(-2i / n_rot) / factors[i] (factors may be NULL).
// Computed in double; not a hot loop (once per token, shared by all layers).
void kv_rope_cos_sin(float *cs, int64_t n_rot, int64_t pos, float base, float freq_scale,
                     const float *factors);

// ---- reference kernels (ref/) ----

void kv_dot_f32_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_f16_f32_ref(int64_t n, float *out, const void *w, const void *x);
void kv_dot_bf16_f32_ref(int64_t n, float *out, const void *w, const void *x);
// F16/BF16 weights against F32 activations (attention uses the F16 one for
// cached keys); the weight slots take ggml's same-type pairing instead.
// Quantized weight . F32 activations by dequantizing a block at a time: the
// slot of every quantized type without an integer dot in ref/dot_pairs.c.
void kv_dot_dequant_f32_ref(kv_type t, int64_t n, float *out, const void *w, const float *x);
// Fills the quantized slots of a table (vec_dot and to_float) with the
// dequantizing fallback, for every type the quant module can dequantize.
void kv__kernels_fill_dequant_ref(kv_kernels *k);

void kv_from_float_f32_ref(const float *x, void *y, int64_t n);
void kv_from_float_f16_ref(const float *x, void *y, int64_t n);
void kv_from_float_bf16_ref(const float *x, void *y, int64_t n);
void kv_from_float_q8_0_ref(const float *x, void *y, int64_t n);
void kv_from_float_q8_1_ref(const float *x, void *y, int64_t n);
void kv_from_float_q8_k_ref(const float *x, void *y, int64_t n);
void kv_to_float_f32_ref(const void *x, float *y, int64_t n);
void kv_to_float_f16_ref(const void *x, float *y, int64_t n);
void kv_to_float_bf16_ref(const void *x, float *y, int64_t n);

void kv_matmul_ref(const kv_kernels *k, const kv_matmul_args *a, int64_t o0, int64_t o1,
                   void *scratch, size_t scratch_size);

void kv_rmsnorm_ref(int64_t n, float *y, const float *x, const float *w, float eps);
void kv_softmax_ref(int64_t n, float *x);
void kv_silu_mul_ref(int64_t n, float *y, const float *gate, const float *up);
void kv_add_ref(int64_t n, float *y, const float *x);
void kv_axpy_f16_ref(int64_t n, float *y, float a, const kv_f16 *v);
// axpy_rows of the F32, Q8_0 and Q4_0 value caches (ref/attn.c)
void kv_axpy_rows_f32_ref(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                          float *y);
void kv_axpy_rows_q8_0_ref(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                           float *y);
void kv_axpy_rows_q4_0_ref(int64_t n, int64_t rows, size_t stride, const void *v, const float *a,
                           float *y);
// The dot_f16_tile contract, each pair as kv_dot_f16_f32_ref gives it.
void kv_dot_f16_tile_ref(int64_t n, const kv_f16 *k, size_t k_stride, int64_t nk, const float *q,
                         size_t q_stride, int64_t nq, float *out, size_t out_stride);
void kv_rope_ref(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs);

#endif
