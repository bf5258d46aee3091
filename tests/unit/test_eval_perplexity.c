// Perplexity: the per-row NLL, the estimate and its error, chunk planning, and
// the driver on a tiny model against the naive reference scored by hand the
// way llama-perplexity scores (BOS first in each chunk, second half scored);
// saving base logits and reading them back for a KL run of the same model.
#include "kvant/kv_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kv_test_llama.h"

// float max and expf inside the log-softmax, as llama-perplexity does
#define TOL_NLL 1e-5
// the runtime vs the naive pass (see test_model_forward.c), relative on PPL
#define TOL_PPL 1e-4

static uint64_t seed = 99;
static float frand(void) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(seed >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static void test_nll(void **state) {
    (void)state;
    enum { V = 300 };
    float l[V];
    for (int r = 0; r < 20; r++) {
        for (int i = 0; i < V; i++)
            l[i] = 8.0f * frand() + (r == 7 ? 1000.0f : 0.0f); // a shifted row too
        long double z = 0;
        for (int i = 0; i < V; i++)
            z += expl((long double)l[i] - l[0]);
        const int tok = (r * 37) % V;
        const double want = -(double)((long double)l[tok] - l[0] - logl(z));
        assert_float_equal(kv_eval_nll(l, V, tok), want, TOL_NLL);
    }
}

static void test_ppl_value(void **state) {
    (void)state;
    kv_ppl_acc a = {0};
    double ppl, unc;
    kv_ppl_value(&a, &ppl, &unc);
    assert_true(ppl == 0.0 && unc == 0.0);
    for (int i = 0; i < 50; i++)
        kv_ppl_add(&a, log(10.0));
    kv_ppl_value(&a, &ppl, &unc);
    assert_float_equal(ppl, 10.0, 1e-12);
    assert_float_equal(unc, 0.0, 1e-6);
    kv_ppl_acc b = {0};
    kv_ppl_add(&b, 1.0);
    kv_ppl_add(&b, 3.0); // mean 2, E[x^2] - mean^2 = 1, over count - 1 = 1
    kv_ppl_value(&b, &ppl, &unc);
    assert_float_equal(ppl, exp(2.0), 1e-12);
    assert_float_equal(unc, exp(2.0), 1e-12);
}

static void test_plan(void **state) {
    (void)state;
    kv_ppl_plan p;
    kv_err err;
    assert_int_equal(kv_ppl_plan_make(1000, 256, -1, &p, NULL), KV_OK);
    assert_int_equal(p.n_chunks, 3);
    assert_int_equal(p.first, 128);
    assert_int_equal(kv_ppl_plan_make(55245, 256, 32, &p, NULL), KV_OK);
    assert_int_equal(p.n_chunks, 32);
    assert_int_equal(kv_ppl_plan_make(511, 256, -1, &p, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "511 tokens"));
    assert_non_null(strstr(err.msg, "at least 512"));
    assert_int_equal(kv_ppl_plan_make(1000, 2, -1, &p, &err), KV_ERR_INVALID);
}

// ---- driver ----

enum { NCTX = 16, NTOK = 70, BOS = 1 };

static int progress_calls;
static void progress(void *user, uint64_t done, uint64_t total, const char *label) {
    (void)user;
    progress_calls++;
    assert_true(done >= 1 && done <= total);
    assert_non_null(strchr(label, ']'));
}

// llama-perplexity's scoring, written out over the naive pass.
static double reference_ppl(const kv_test_llama *ref, const int32_t *tokens, int n_chunks) {
    const int V = ref->o.n_vocab;
    float *logits = malloc((size_t)NCTX * V * sizeof *logits);
    double nll = 0;
    int count = 0;
    for (int c = 0; c < n_chunks; c++) {
        int32_t chunk[NCTX];
        memcpy(chunk, tokens + c * NCTX, sizeof chunk);
        chunk[0] = BOS;
        kv_test_llama_forward(ref, chunk, NCTX, logits, NULL);
        for (int j = NCTX / 2; j < NCTX - 1; j++) {
            const float *row = logits + j * V;
            double z = 0, max = row[0];
            for (int i = 0; i < V; i++)
                max = row[i] > max ? row[i] : max;
            for (int i = 0; i < V; i++)
                z += exp(row[i] - max);
            nll += -(row[tokens[c * NCTX + j + 1]] - max - log(z));
            count++;
        }
    }
    free(logits);
    return exp(nll / count);
}

static void test_driver(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    char path[512], base[512];
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    snprintf(base, sizeof base, "%s/base.logits", dir);
    kv_test_llama_opts o = kv_test_llama_defaults();
    kv_test_llama *ref = kv_test_llama_new(&o);
    assert_int_equal(kv_test_llama_write(ref, path), 0);
    kv_model *m = NULL;
    assert_int_equal(kv_model_open(path, &m, NULL), KV_OK);
    int32_t tokens[NTOK];
    for (int i = 0; i < NTOK; i++)
        tokens[i] = (i * 31 + 7) % o.n_vocab;
    const double want = reference_ppl(ref, tokens, NTOK / NCTX);

    const int batches[] = {NCTX, 5}; // a chunk in one batch, and in pieces
    double first = 0;
    for (int b = 0; b < 2; b++) {
        kv_ctx_params cp = kv_ctx_default_params();
        cp.n_ctx = NCTX;
        cp.n_batch = batches[b];
        cp.n_threads = 2;
        kv_ctx *c = NULL;
        assert_int_equal(kv_ctx_new(m, &cp, &c, NULL), KV_OK);
        kv_ppl_params pp = {NCTX, -1, BOS, b == 0 ? base : NULL, progress, NULL};
        kv_ppl_result r;
        progress_calls = 0;
        kv_err err = {0};
        assert_int_equal(kv_eval_perplexity(c, tokens, NTOK, &pp, &r, &err), KV_OK);
        assert_int_equal(r.n_chunks, 4);
        assert_int_equal(r.n_scored, 4 * (NCTX - 1 - NCTX / 2));
        assert_int_equal(progress_calls, 4);
        assert_float_equal(r.ppl / want, 1.0, TOL_PPL);
        assert_true(r.ppl_unc > 0.0);
        if (b == 0)
            first = r.ppl;
        else
            assert_float_equal(r.ppl / first, 1.0, 1e-6);
        print_message("ppl %.6f +/- %.6f (naive %.6f)\n", r.ppl, r.ppl_unc, want);

        // The same model against its own saved logits: no divergence.
        kv_kld_params kp = {base, -1, BOS, NULL, NULL};
        kv_kld_stats ks;
        assert_int_equal(kv_eval_kld(c, &kp, &ks, &err), KV_OK);
        assert_int_equal(ks.count, 4 * (NCTX - 1 - NCTX / 2));
        assert_true(fabs(ks.kld_mean) < 2e-4); // 16-bit log-probabilities
        assert_float_equal(ks.same_top, 1.0, 0.0);
        assert_float_equal(ks.ppl / ks.ppl_base, 1.0, 1e-3);
        assert_float_equal(ks.ppl / r.ppl, 1.0, 1e-5);
        kv_ctx_free(c);
    }
    // Too short a text, and a context too small for the chunks.
    kv_ctx_params cp = kv_ctx_default_params();
    cp.n_ctx = 8;
    kv_ctx *c = NULL;
    assert_int_equal(kv_ctx_new(m, &cp, &c, NULL), KV_OK);
    kv_ppl_params pp = {NCTX, -1, BOS, NULL, NULL, NULL};
    kv_ppl_result r;
    kv_err err;
    assert_int_equal(kv_eval_perplexity(c, tokens, NTOK, &pp, &r, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "chunks need 16"));
    assert_int_equal(kv_eval_perplexity(c, tokens, 20, &pp, &r, &err), KV_ERR_INVALID);
    kv_ctx_free(c);
    kv_model_close(m);
    kv_test_llama_free(ref);
    kv_test_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nll),  cmocka_unit_test(test_ppl_value),
        cmocka_unit_test(test_plan), cmocka_unit_test(test_driver),
    };
    return cmocka_run_group_tests_name("eval_perplexity", tests, NULL, NULL);
}
