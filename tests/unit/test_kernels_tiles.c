// Register tiles and the matmul driver: for every kernel table of this CPU and
// every weight type with a tile, each tile shape (1..tile_nw weight rows by
// 1..tile_nx activation rows) gives, pair by pair, exactly the bits of vec_dot;
// so do the packed tiles (weight rows repacked for batches) and the matmul
// driver for batches of 1 to 130 rows and odd weight-row ranges (the split
// between threads). The AVX-VNNI builds give the same bits as
// the plain AVX2 ones, and the AVX-512 table's packed tiles the bits of the
// AVX2 table's dot products. Bit equality is the contract: a sequence's numbers must
// not depend on how many other rows share its batch.
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv_rand.h"
#include "kv_test.h"
#include "kernels/avx2/avx2.h"
#include "kernels/amx/amx.h"
#include "kernels/avx512/avx512.h"
#include "kernels/kernels.h"
#include "kvant/kv_blocks.h"
#include "kvant/kv_quant.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float frand(void) { // uniform in [-1, 1)
    return (float)(2.0 * kv_rand_u01(&rng) - 1.0);
}

// rows x n floats, each row with its own magnitude so scales differ
static float *random_rows(int64_t rows, int64_t n) {
    float *v = malloc((size_t)(rows * n) * sizeof *v);
    assert_non_null(v);
    for (int64_t r = 0; r < rows; r++) {
        const float mag = 0.01f + 3.0f * (frand() + 1.0f);
        for (int64_t i = 0; i < n; i++)
            v[r * n + i] = mag * frand();
    }
    return v;
}

// The lattice i-quants with tiles get an importance vector (IQ2_XXS, IQ2_XS
// and IQ1_S refuse to quantize without one); other types quantize plain.
static bool takes_imatrix(kv_type t) {
    return t == KV_TYPE_IQ2_XXS || t == KV_TYPE_IQ2_XS || t == KV_TYPE_IQ2_S ||
           t == KV_TYPE_IQ1_S || t == KV_TYPE_IQ1_M || t == KV_TYPE_IQ3_XXS || t == KV_TYPE_IQ3_S;
}

static uint8_t *quantize_rows(kv_type t, const float *v, int64_t rows, int64_t n) {
    uint8_t *q = malloc(kv_type_row_size(t, n) * (size_t)rows);
    assert_non_null(q);
    float *imatrix = NULL;
    if (takes_imatrix(t)) {
        imatrix = malloc((size_t)n * sizeof *imatrix);
        assert_non_null(imatrix);
        for (int64_t i = 0; i < n; i++)
            imatrix[i] = 0.5f + frand() * frand();
    }
    kv_err err;
    if (kv_quant_rows(t, v, q, rows, n, imatrix, &err) != KV_OK)
        fail_msg("quantize %s: %s", kv_type_name(t), err.msg);
    free(imatrix);
    return q;
}

static void convert_rows(const kv_kernels *k, kv_type vt, const float *v, uint8_t *q,
                         int64_t rows, int64_t n) {
    const size_t rs = kv_type_row_size(vt, n);
    for (int64_t r = 0; r < rows; r++)
        k->from_float[vt](v + r * n, q + (size_t)r * rs, n);
}

enum { MAX_W = 37, MAX_X = 130 };

typedef struct {
    const kv_kernels *k;
    kv_type t, vt;
    int64_t n;
    uint8_t *w, *x;
    size_t w_rs, x_rs;
} fixture;

static void fixture_make(fixture *f, const kv_kernels *k, kv_type t, int64_t n) {
    f->k = k, f->t = t, f->n = n;
    f->vt = k->types[t].vec_dot_type;
    f->w_rs = kv_type_row_size(t, n);
    f->x_rs = kv_type_row_size(f->vt, n);
    float *wf = random_rows(MAX_W, n), *xf = random_rows(MAX_X, n);
    f->w = quantize_rows(t, wf, MAX_W, n);
    f->x = malloc(f->x_rs * MAX_X);
    assert_non_null(f->x);
    convert_rows(k, f->vt, xf, f->x, MAX_X, n);
    free(wf), free(xf);
}

static void fixture_free(fixture *f) { free(f->w), free(f->x); }

static float pair_dot(const fixture *f, int64_t i, int64_t j) {
    float out;
    f->k->types[f->t].vec_dot(f->n, &out, f->w + (size_t)i * f->w_rs, f->x + (size_t)j * f->x_rs);
    return out;
}

static void check_tile_shapes(const fixture *f) {
    const kv_type_kernels *tk = &f->k->types[f->t];
    enum { YS = 16 };
    float y[YS * 8];
    for (int nw = 1; nw <= tk->tile_nw; nw++)
        for (int nx = 1; nx <= tk->tile_nx; nx++) {
            memset(y, 0xAB, sizeof y);
            tk->tile(f->n, y, YS, f->w + 3 * f->w_rs, f->w_rs, nw, f->x + 5 * f->x_rs, f->x_rs, nx);
            for (int i = 0; i < nw; i++)
                for (int j = 0; j < nx; j++) {
                    const float want = pair_dot(f, 3 + i, 5 + j);
                    if (memcmp(&y[j * YS + i], &want, sizeof want) != 0)
                        fail_msg("%s %s tile %dx%d n=%lld: pair (%d,%d) %.9g, vec_dot %.9g",
                                 f->k->name, kv_type_name(f->t), nw, nx, (long long)f->n, i, j,
                                 y[j * YS + i], want);
                }
        }
}

// The packed path's tile over every shape (1..pack_nw packed rows by
// 1..pack_nx activation rows), pair by pair against vec_dot.
static void check_packed_shapes(const fixture *f) {
    const kv_type_kernels *tk = &f->k->types[f->t];
    enum { YS = 16, XS = 32 };
    float y[YS * XS];
    assert_true(tk->pack_nw >= 1 && tk->pack_nw <= YS && tk->pack_nx >= 1 && tk->pack_nx <= XS);
    void *packed = malloc(tk->pack_size(f->n));
    assert_non_null(packed);
    for (int nw = 1; nw <= tk->pack_nw; nw++)
        for (int nx = 1; nx <= tk->pack_nx; nx++) {
            memset(y, 0xAB, sizeof y);
            tk->pack(f->n, f->w + 2 * f->w_rs, f->w_rs, nw, packed);
            tk->tile_packed(f->n, y, YS, packed, nw, f->x + 7 * f->x_rs, f->x_rs, nx);
            for (int i = 0; i < nw; i++)
                for (int j = 0; j < nx; j++) {
                    const float want = pair_dot(f, 2 + i, 7 + j);
                    if (memcmp(&y[j * YS + i], &want, sizeof want) != 0)
                        fail_msg("%s %s packed %dx%d n=%lld: pair (%d,%d) %.9g, vec_dot %.9g",
                                 f->k->name, kv_type_name(f->t), nw, nx, (long long)f->n, i, j,
                                 y[j * YS + i], want);
                }
        }
    free(packed);
}

// The driver over weight rows [o0, o1) and n_rows activation rows; where the
// type has a packed path, once more with the whole matrix repacked ahead
// (kv_matmul_repack, as a model load does), [o0, o1) starting anywhere.
static void check_matmul(const fixture *f, int64_t n_rows, int64_t o0, int64_t o1) {
    float *y = malloc((size_t)(n_rows * MAX_W) * sizeof *y);
    assert_non_null(y);
    kv_matmul_args a = {f->t, f->w, f->w_rs, f->x, f->x_rs, y, MAX_W, f->n, n_rows, NULL, NULL};
    // with the scratch of the packed path where the type has one
    const size_t scratch_size = kv_matmul_scratch_size(f->k, f->t, f->n);
    void *scratch = scratch_size ? malloc(scratch_size) : NULL;
    const size_t rp_size = kv_matmul_repack_size(f->k, f->t, f->n, MAX_W);
    void *rp = NULL;
    if (rp_size) {
        const kv_type_kernels *tk = &f->k->types[f->t];
        rp = aligned_alloc(64, (rp_size + 63) / 64 * 64);
        assert_non_null(rp);
        kv_matmul_repack(f->k, f->t, f->n, MAX_W, f->w, f->w_rs, 0,
                         (MAX_W + tk->pack_nw - 1) / tk->pack_nw, rp);
    }
    for (int pass = 0; pass < (rp ? 2 : 1); pass++) {
        a.wp = pass ? rp : NULL;
        a.wp_pack = pass ? f->k->types[f->t].pack : NULL;
        memset(y, 0xAB, (size_t)(n_rows * MAX_W) * sizeof *y);
        f->k->matmul(f->k, &a, o0, o1, scratch, scratch_size);
        for (int64_t r = 0; r < n_rows; r++)
            for (int64_t o = o0; o < o1; o++) {
                const float want = pair_dot(f, o, r);
                if (memcmp(&y[r * MAX_W + o], &want, sizeof want) != 0)
                    fail_msg("%s %s matmul%s rows=%lld out=[%lld,%lld): (%lld,%lld) %.9g vs %.9g",
                             f->k->name, kv_type_name(f->t), pass ? " repacked" : "",
                             (long long)n_rows, (long long)o0, (long long)o1, (long long)o,
                             (long long)r, y[r * MAX_W + o], want);
            }
    }
    free(rp);
    free(scratch);
    free(y);
}

// (sizes that are no multiple of a type's block apply to the float types only)
static const int64_t SIZES[] = {5, 32, 37, 64, 96, 256, 512, 768, 2048 + 32, 2048 + 256, 2048 + 261};
static const int64_t ROWS[] = {1, 2, 3, 5, 64, 65, 130};

static void check_table(const kv_kernels *k) {
    int n_tiled = 0;
    for (int t = 0; t < KV_TYPE_COUNT; t++) {
        const kv_type_kernels *tk = &k->types[t];
        if (!tk->tile && !tk->pack) // (BF16 has a packed path and no register tile)
            continue;
        n_tiled++;
        assert_true(!tk->tile || (tk->tile_nw >= 1 && tk->tile_nw <= 16 && tk->tile_nx >= 1 &&
                                  tk->tile_nx <= 8));
        for (size_t s = 0; s < sizeof SIZES / sizeof SIZES[0]; s++) {
            if (SIZES[s] % kv_type_get((kv_type)t)->block_size != 0)
                continue;
            fixture f;
            fixture_make(&f, k, (kv_type)t, SIZES[s]);
            if (tk->tile)
                check_tile_shapes(&f);
            if (tk->pack)
                check_packed_shapes(&f);
            for (size_t r = 0; r < sizeof ROWS / sizeof ROWS[0]; r++) {
                check_matmul(&f, ROWS[r], 0, MAX_W);
                check_matmul(&f, ROWS[r], 5, 14);
            }
            fixture_free(&f);
        }
    }
    print_message("%s: %d weight types with tiles or packed paths\n", k->name, n_tiled);
}

static void test_chosen_table(void **state) {
    (void)state;
    check_table(kv_kernels_get());
}

// The reference table has no tiles: its driver is per-pair vec_dot.
static void test_reference_driver(void **state) {
    (void)state;
    const kv_kernels *ref = kv_kernels_ref();
    for (int t = 0; t < KV_TYPE_COUNT; t++)
        assert_null(ref->types[t].tile);
    fixture f;
    fixture_make(&f, ref, KV_TYPE_Q4_0, 64);
    check_matmul(&f, 3, 1, 9);
    fixture_free(&f);
}

#if defined(__x86_64__)
// Both AVX2 builds (plain and VNNI, where the CPU runs it) against each other.
static void test_avx2_builds_agree(void **state) {
    (void)state;
    if (!kv__cpu_has_avx2()) {
        print_message("skipped: this CPU lacks AVX2, FMA or F16C\n");
        skip();
    }
    kv_kernels plain = *kv_kernels_ref();
    kv__kernels_fill_avx2(&plain, false);
    assert_non_null(plain.types[KV_TYPE_Q4_0].tile);
    assert_non_null(plain.types[KV_TYPE_Q8_0].tile);
    assert_non_null(plain.types[KV_TYPE_Q4_K].tile);
    assert_non_null(plain.types[KV_TYPE_Q6_K].tile);
    static const kv_type iq[] = {KV_TYPE_IQ3_XXS, KV_TYPE_IQ3_S, KV_TYPE_IQ2_XXS, KV_TYPE_IQ2_XS,
                                 KV_TYPE_IQ2_S,   KV_TYPE_IQ1_S, KV_TYPE_IQ1_M};
    for (size_t i = 0; i < sizeof iq / sizeof iq[0]; i++)
        assert_non_null(plain.types[iq[i]].tile);
    assert_non_null(plain.types[KV_TYPE_Q4_K].pack);
    assert_non_null(plain.types[KV_TYPE_Q5_K].pack);
    assert_non_null(plain.types[KV_TYPE_IQ4_XS].pack);
    check_table(&plain);
    if (!kv__cpu_has_avxvnni()) {
        print_message("this CPU lacks AVX-VNNI: only the plain AVX2 build checked\n");
        return;
    }
    kv_kernels vnni = *kv_kernels_ref();
    kv__kernels_fill_avx2(&vnni, true);
    check_table(&vnni);
    const kv_type types[] = {KV_TYPE_Q4_0, KV_TYPE_Q8_0, KV_TYPE_Q4_K,
                             KV_TYPE_Q6_K, KV_TYPE_Q5_K, KV_TYPE_IQ4_XS};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        fixture f;
        fixture_make(&f, &plain, types[i], 2048 + 256);
        for (int64_t w = 0; w < MAX_W; w++)
            for (int64_t x = 0; x < MAX_X; x += 7) {
                float a, b;
                plain.types[types[i]].vec_dot(f.n, &a, f.w + w * f.w_rs, f.x + x * f.x_rs);
                vnni.types[types[i]].vec_dot(f.n, &b, f.w + w * f.w_rs, f.x + x * f.x_rs);
                if (memcmp(&a, &b, sizeof a) != 0)
                    fail_msg("%s: avx2 %.9g, avx2-vnni %.9g", kv_type_name(types[i]), a, b);
            }
        fixture_free(&f);
    }
}
#endif

#if defined(__x86_64__)
// Blocks at the ends of their ranges: every quant and scale at its largest or
// smallest (rows of one repeated byte, the F16 scales set to 1 and 0.5) against
// activations of all +127, all -127 or alternating. The tiles' int16 and int32
// sums must neither saturate nor wrap: each pair keeps vec_dot's bits through
// the packed path (16 weight rows by 9 activation rows), and vec_dot stays
// within float rounding of the reference.
static void check_extremes(const kv_kernels *k, kv_type t) {
    enum { NW = 16, NX = 9, N = 512 };
    const size_t wrs = kv_type_row_size(t, N), xrs = kv_type_row_size(KV_TYPE_Q8_K, N);
    const size_t bsz = kv_type_get(t)->type_size;
    size_t d_off = 0, dmin_off = SIZE_MAX;
    if (t == KV_TYPE_Q4_K || t == KV_TYPE_Q5_K)
        dmin_off = 2;
    else if (t == KV_TYPE_Q6_K)
        d_off = offsetof(kv_block_q6_k, d);
    static const uint8_t PAT[] = {0xFF, 0x00, 0x0F, 0xF0, 0xAA, 0x55, 0x3F, 0xC0};
    uint8_t *w = malloc(wrs * NW), *x = malloc(xrs * NX);
    assert_non_null(w);
    assert_non_null(x);
    for (int r = 0; r < NW; r++) {
        memset(w + r * wrs, PAT[r % 8], wrs);
        for (size_t b = 0; b < wrs / bsz; b++) {
            uint8_t *blk = w + r * wrs + b * bsz;
            const kv_f16 one = 0x3C00, half = 0x3800;
            memcpy(blk + d_off, r < 8 ? &one : &half, sizeof one);
            if (dmin_off != SIZE_MAX)
                memcpy(blk + dmin_off, r < 8 ? &half : &one, sizeof one);
        }
    }
    for (int j = 0; j < NX; j++) {
        kv_block_q8_k *xb = (kv_block_q8_k *)(x + j * xrs);
        for (int b = 0; b < N / KV_QK_K; b++) {
            xb[b].d = j % 2 ? 1.0f : 0.25f;
            for (int e = 0; e < KV_QK_K; e++)
                xb[b].qs[e] = (int8_t)(j % 3 == 0 ? 127 : j % 3 == 1 ? -127 : (e % 2 ? 127 : -127));
            for (int g = 0; g < KV_QK_K / 16; g++) {
                int s = 0;
                for (int e = 0; e < 16; e++)
                    s += xb[b].qs[16 * g + e];
                xb[b].bsums[g] = (int16_t)s;
            }
        }
    }
    const kv_type_kernels *tk = &k->types[t];
    float y[NX * NW];
    kv_matmul_args a = {t, w, wrs, x, xrs, y, NW, N, NX, NULL, NULL};
    const size_t ss = kv_matmul_scratch_size(k, t, N);
    void *scratch = ss ? malloc(ss) : NULL;
    assert_true(tk->pack != NULL && ss > 0 && NX >= tk->pack_min_rows);
    k->matmul(k, &a, 0, NW, scratch, ss);
    const kv_kernels *ref = kv_kernels_ref();
    for (int j = 0; j < NX; j++)
        for (int i = 0; i < NW; i++) {
            float want, exact;
            tk->vec_dot(N, &want, w + i * wrs, x + j * xrs);
            ref->types[t].vec_dot(N, &exact, w + i * wrs, x + j * xrs);
            if (memcmp(&y[j * NW + i], &want, sizeof want) != 0)
                fail_msg("%s %s extremes: pair (%d,%d) %.9g, vec_dot %.9g", k->name,
                         kv_type_name(t), i, j, y[j * NW + i], want);
            // float rounding against the largest magnitude a pair reaches here
            // (|w| <= 127 * 63 per weight, |x| <= 127); a saturated or wrapped
            // int16 sum is off by thousands
            if (fabsf(want - exact) > 0x1p-20f * 127.0f * 63.0f * 127.0f * N)
                fail_msg("%s %s extremes: pair (%d,%d) vec_dot %.9g, reference %.9g", k->name,
                         kv_type_name(t), i, j, want, exact);
        }
    free(scratch), free(w), free(x);
}

static void test_extremes(void **state) {
    (void)state;
    if (!kv__cpu_has_avx2()) {
        print_message("skipped: this CPU lacks AVX2, FMA or F16C\n");
        skip();
    }
    static const kv_type types[] = {KV_TYPE_Q4_K, KV_TYPE_Q5_K, KV_TYPE_Q6_K, KV_TYPE_IQ4_XS};
    kv_kernels t[3];
    int nt = 0;
    t[nt] = *kv_kernels_ref();
    kv__kernels_fill_avx2(&t[nt++], false);
    if (kv__cpu_has_avxvnni()) {
        t[nt] = *kv_kernels_ref();
        kv__kernels_fill_avx2(&t[nt++], true);
    }
    if (kv__cpu_has_avx512()) {
        t[nt] = *kv_kernels_ref();
        kv__kernels_fill_avx512(&t[nt++]);
    }
    for (int i = 0; i < nt; i++)
        for (size_t j = 0; j < sizeof types / sizeof types[0]; j++)
            check_extremes(&t[i], types[j]);
}
#endif

#if defined(__x86_64__)
// A batch through each packed path of table t against the AVX2 table's dot,
// pair by pair.
static void check_against_avx2(const kv_kernels *t) {
    kv_kernels avx2 = *kv_kernels_ref();
    kv__kernels_fill_avx2(&avx2, kv__cpu_has_avxvnni());
    const kv_type types[] = {KV_TYPE_Q4_0, KV_TYPE_Q8_0, KV_TYPE_Q4_K, KV_TYPE_Q6_K,
                             KV_TYPE_F16,  KV_TYPE_Q5_K, KV_TYPE_IQ4_XS, KV_TYPE_BF16};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const bool flt = types[i] == KV_TYPE_F16 || types[i] == KV_TYPE_BF16;
        fixture f;
        fixture_make(&f, t, types[i], flt ? 2048 + 261 : 2048 + 256);
        const int64_t rows = 65;
        float *y = malloc((size_t)(rows * MAX_W) * sizeof *y);
        assert_non_null(y);
        kv_matmul_args a = {f.t, f.w, f.w_rs, f.x, f.x_rs, y, MAX_W, f.n, rows, NULL, NULL};
        const size_t ss = kv_matmul_scratch_size(t, f.t, f.n);
        void *scratch = ss ? malloc(ss) : NULL;
        t->matmul(t, &a, 0, MAX_W, scratch, ss);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t o = 0; o < MAX_W; o++) {
                float want;
                avx2.types[f.t].vec_dot(f.n, &want, f.w + o * f.w_rs, f.x + r * f.x_rs);
                if (memcmp(&y[r * MAX_W + o], &want, sizeof want) != 0)
                    fail_msg("%s: %s batch (%lld,%lld) %.9g, %s dot %.9g", kv_type_name(f.t),
                             t->name, (long long)o, (long long)r, y[r * MAX_W + o], avx2.name,
                             want);
            }
        free(scratch), free(y);
        fixture_free(&f);
    }
}

// The AVX-512 table (where the CPU has F, BW, VL and VNNI): its 512-bit packed
// tiles keep the contract against its vec_dot, which is the AVX2 table's, so
// a batch gives the AVX2 table's bits too.
static void test_avx512_table(void **state) {
    (void)state;
    if (!kv__cpu_has_avx512()) {
        print_message("skipped: this CPU lacks AVX-512 F, BW, VL or VNNI\n");
        skip();
    }
    kv_kernels t = *kv_kernels_ref();
    kv__kernels_fill_avx512(&t);
    assert_string_equal(t.name, "avx512");
    assert_ptr_equal(t.types[KV_TYPE_Q4_0].tile_packed, kv_packed_q4_0_q8_0_avx512);
    assert_ptr_equal(t.types[KV_TYPE_Q8_0].tile_packed, kv_packed_q8_0_q8_0_avx512);
    assert_ptr_equal(t.types[KV_TYPE_Q4_K].tile_packed, kv_packed_q4_k_q8_k_avx512);
    assert_ptr_equal(t.types[KV_TYPE_Q6_K].tile_packed, kv_packed_q6_k_q8_k_avx512);
    assert_ptr_equal(t.types[KV_TYPE_Q5_K].tile_packed, kv_packed_q5_k_q8_k_avx512);
    assert_ptr_equal(t.types[KV_TYPE_IQ4_XS].tile_packed, kv_packed_iq4_xs_q8_k_avx512);
    assert_ptr_equal(t.types[KV_TYPE_F16].tile_packed, kv_packed_f16_f16_avx512);
    assert_ptr_equal(t.types[KV_TYPE_BF16].tile_packed, kv_packed_bf16_bf16_avx512);
    check_table(&t);
    check_against_avx2(&t);
}

// The AMX table (where the CPU has AMX-INT8 and the OS grants the tile state):
// its tile paths keep the contract and give the AVX2 table's bits.
static void test_amx_table(void **state) {
    (void)state;
    if (!kv__cpu_has_amx()) {
        print_message("skipped: this CPU or OS gives no AMX-INT8 (or no AVX-512)\n");
        skip();
    }
    kv_kernels t = *kv_kernels_ref();
    kv__kernels_fill_amx(&t);
    assert_string_equal(t.name, "amx");
    assert_ptr_equal(t.types[KV_TYPE_Q4_0].tile_packed, kv_packed_q_q8_0_amx);
    assert_ptr_equal(t.types[KV_TYPE_Q8_0].tile_packed, kv_packed_q_q8_0_amx);
    assert_ptr_equal(t.types[KV_TYPE_Q4_K].tile_packed, kv_packed_q4_k_q8_k_amx);
    assert_ptr_equal(t.types[KV_TYPE_Q6_K].tile_packed, kv_packed_q6_k_q8_k_amx);
    check_table(&t);
    check_against_avx2(&t);
}
#endif

#if defined(__aarch64__) && defined(__linux__)
// The NEON table (where the CPU has dotprod) has its tiles, and they keep the
// contract; under qemu-aarch64 -cpu max (the neon/cross test) it is the chosen table.
static void test_neon_table(void **state) {
    (void)state;
    const kv_kernels *neon = kv__kernels_neon();
    if (neon == NULL) {
        print_message("skipped: this CPU lacks the dot-product extension\n");
        skip();
    }
    const kv_type types[] = {KV_TYPE_Q4_0, KV_TYPE_Q8_0, KV_TYPE_Q4_K, KV_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        assert_non_null(neon->types[types[i]].tile);
    if (kv_kernels_get() != neon) // else test_chosen_table checked it
        check_table(neon);
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chosen_table),
        cmocka_unit_test(test_reference_driver),
#if defined(__x86_64__)
        cmocka_unit_test(test_avx2_builds_agree),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_avx512_table),
        cmocka_unit_test(test_amx_table),
#endif
#if defined(__aarch64__) && defined(__linux__)
        cmocka_unit_test(test_neon_table),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
