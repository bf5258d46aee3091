// bench/kernels_mb.c: one matrix product per x86 kernel table, timed in the
// calling thread's CPU time (best of REPS), so that a machine shared with other
// jobs slows it less than wall-clock benchmarks. Not part of the build:
//
//   cc -O2 -Isrc -Iinclude bench/kernels_mb.c build/libkvant.a -lm -lpthread -o /tmp/kernels_mb
//   /tmp/kernels_mb [ROWS [REPS [N_IN [N_OUT [iq]]]]]   (defaults 512 7 2048 512)
//
// With "iq" last it times the lattice i-quants (IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_XS,
// IQ2_S, IQ1_S, IQ1_M; quantized with a flat importance vector) instead.
//
// Prints, per weight type and table (avx2-vnni or avx2, avx512, amx: those the
// CPU runs), the time of one (N_OUT x N_IN) @ (ROWS x N_IN) product through the
// table's matmul driver (its packed path for batches) and the multiply-adds
// per second, and again with the weights repacked ahead (kv_matmul_repack, as
// --repack does at load) where the table has a packed path for the type: the
// time, the speed-up and the repacked copy's size. The weights and
// activations are random.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/amx/amx.h"
#include "kernels/avx2/avx2.h"
#include "kernels/avx512/avx512.h"
#include "kernels/kernels.h"
#include "kvant/kv_quant.h"

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    const int64_t rows = argc > 1 ? atoll(argv[1]) : 512;
    const int reps = argc > 2 ? atoi(argv[2]) : 7;
    const int64_t n_in = argc > 3 ? atoll(argv[3]) : 2048;
    const int64_t n_out = argc > 4 ? atoll(argv[4]) : 512;
    if (!kv__cpu_has_avx2()) {
        fprintf(stderr, "kernels_mb: this CPU lacks AVX2\n");
        return 1;
    }
    static kv_kernels tables[3];
    int nt = 0;
    tables[nt] = *kv_kernels_ref();
    kv__kernels_fill_avx2(&tables[nt++], kv__cpu_has_avxvnni());
    if (kv__cpu_has_avx512()) {
        tables[nt] = *kv_kernels_ref();
        kv__kernels_fill_avx512(&tables[nt++]);
    }
    if (kv__cpu_has_amx()) {
        tables[nt] = *kv_kernels_ref();
        kv__kernels_fill_amx(&tables[nt++]);
    }
    const bool iq = argc > 5 && strcmp(argv[5], "iq") == 0;
    static const kv_type plain[] = {KV_TYPE_Q4_0, KV_TYPE_Q8_0, KV_TYPE_Q4_K, KV_TYPE_Q6_K,
                                    KV_TYPE_F16,  KV_TYPE_Q5_K, KV_TYPE_IQ4_XS, KV_TYPE_BF16};
    static const kv_type iqs[] = {KV_TYPE_IQ3_XXS, KV_TYPE_IQ3_S, KV_TYPE_IQ2_XXS, KV_TYPE_IQ2_XS,
                                  KV_TYPE_IQ2_S,   KV_TYPE_IQ1_S, KV_TYPE_IQ1_M};
    const kv_type *types = iq ? iqs : plain;
    const size_t n_types = iq ? sizeof iqs / sizeof iqs[0] : sizeof plain / sizeof plain[0];
    float *imatrix = malloc((size_t)n_in * sizeof *imatrix);
    if (!imatrix)
        return 1;
    for (int64_t i = 0; i < n_in; i++)
        imatrix[i] = 1.0f;
    float *wf = malloc((size_t)(n_in * n_out) * sizeof *wf);
    float *xf = malloc((size_t)(n_in * rows) * sizeof *xf);
    float *y = malloc((size_t)(rows * n_out) * sizeof *y);
    if (!wf || !xf || !y)
        return 1;
    srand(1);
    for (int64_t i = 0; i < n_in * n_out; i++)
        wf[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (int64_t i = 0; i < n_in * rows; i++)
        xf[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (size_t ti = 0; ti < n_types; ti++) {
        const kv_type t = types[ti];
        const size_t wrs = kv_type_row_size(t, n_in);
        uint8_t *w = malloc(wrs * (size_t)n_out);
        kv_err err;
        if (!w || kv_quant_rows(t, wf, w, n_out, n_in, iq ? imatrix : NULL, &err) != KV_OK)
            return 1;
        for (int k = 0; k < nt; k++) {
            const kv_kernels *K = &tables[k];
            const kv_type vt = K->types[t].vec_dot_type;
            const size_t xrs = kv_type_row_size(vt, n_in);
            uint8_t *x = malloc(xrs * (size_t)rows);
            const size_t ss = kv_matmul_scratch_size(K, t, n_in);
            // cache-line aligned, as the model's per-thread scratch is
            void *scratch = ss ? aligned_alloc(64, (ss + 63) / 64 * 64) : NULL;
            if (!x || (ss && !scratch))
                return 1;
            for (int64_t r = 0; r < rows; r++)
                K->from_float[vt](xf + r * n_in, x + (size_t)r * xrs, n_in);
            kv_matmul_args a = {t, w, wrs, x, xrs, y, n_out, n_in, rows, NULL, NULL};
            // then with the weights repacked ahead (kv_matmul_repack, as --repack does at load)
            const size_t rps = kv_matmul_repack_size(K, t, n_in, n_out);
            void *rp = rps ? aligned_alloc(64, (rps + 63) / 64 * 64) : NULL;
            if (rp)
                kv_matmul_repack(K, t, n_in, n_out, w, wrs, 0,
                                 (n_out + K->types[t].pack_nw - 1) / K->types[t].pack_nw, rp);
            double plain = 0;
            for (int pass = 0; pass < (rp ? 2 : 1); pass++) {
                a.wp = pass ? rp : NULL;
                a.wp_pack = pass ? K->types[t].pack : NULL;
                double best = 1e30;
                for (int r = 0; r < reps; r++) {
                    const double t0 = cpu_now();
                    K->matmul(K, &a, 0, n_out, scratch, ss);
                    const double dt = cpu_now() - t0;
                    best = dt < best ? dt : best;
                }
                printf("%-5s %-10s %lldx%lld @ %lld rows  %8.3f ms  %6.1f GMAC/s", kv_type_name(t),
                       K->name, (long long)n_out, (long long)n_in, (long long)rows, best * 1e3,
                       (double)(n_in * n_out * rows) / best / 1e9);
                if (pass)
                    printf("  repacked: %.3fx, %.1f MiB for %.1f MiB", plain / best,
                           (double)rps / 1048576, (double)(wrs * (size_t)n_out) / 1048576);
                printf("\n");
                plain = best;
            }
            free(rp), free(x), free(scratch);
        }
        free(w);
    }
    free(wf), free(xf), free(y), free(imatrix);
    return 0;
}
