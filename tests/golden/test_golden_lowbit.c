// kvant quantize of the demo model to the ten IQ1/IQ2/IQ3 file types against
// llama-quantize (../shared/testdata/golden/kjv-llama-7m-lowbit.json, made with
// the golden imatrix): every tensor's type, shape and SHA-256 and the metadata
// must match with 2 threads, and 1 thread must write the same file. Then the
// perplexity and mean KL divergence against the F32 model (kjv-test.txt, n_ctx
// 256, 32 chunks) must be within 1% and 10% of llama-perplexity's.
//
// KV_LOWBIT_FILES="IQ2_XXS IQ2_XS" restricts the file types (for development on
// a branch that cannot write them all yet); unset, all ten are required.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_golden.h"
#include "kv_test.h"
#include "kvant/kv_convert.h"
#include "kvant/kv_eval.h"
#include "kvant/kv_model.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"

static char *g_dir;
static char g_f32[4200];

static const char *const ALL[] = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S",
                                  "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M"};
#define N_ALL (sizeof ALL / sizeof ALL[0])

static int setup(void **state) {
    (void)state;
    if (!kv_test_shared())
        return 0;
    g_dir = kv_test_tmpdir();
    snprintf(g_f32, sizeof g_f32, "%s/f32.gguf", g_dir);
    kv_convert_opts o = {.outtype = "f32"};
    kv_err err = {0};
    if (kv_convert_hf(kv_test_shared_path("models/kjv-llama-7m"), g_f32, &o, NULL, &err) != KV_OK) {
        fprintf(stderr, "convert to F32 failed: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    kv_test_rmdir(g_dir);
    return 0;
}

// Whether KV_LOWBIT_FILES (space-separated) names type; all when unset.
static bool selected(const char *type) {
    const char *sel = getenv("KV_LOWBIT_FILES");
    if (!sel || !*sel)
        return true;
    const size_t n = strlen(type);
    for (const char *p = strstr(sel, type); p; p = strstr(p + 1, type))
        if ((p == sel || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return true;
    return false;
}

static const char *const PATH_KEYS[] = {"quantize.imatrix.file", "quantize.imatrix.dataset", NULL};

static int quantize_one(const char *type, int n_threads, const char *out) {
    kv_quantize_opts o = {0};
    kv_err err = {0};
    if (kv_ftype_parse(type, &o.plan.ftype, &err) != KV_OK) {
        fprintf(stderr, "%s: %s\n", type, err.msg);
        return 1;
    }
    o.plan.n_threads = n_threads;
    o.plan.imatrix_path = kv_test_shared_path("testdata/golden/kjv-llama-7m.imatrix.dat");
    if (kv_quantize_gguf(g_f32, out, &o, NULL, &err) != KV_OK) {
        fprintf(stderr, "quantize %s: %s\n", type, err.msg);
        return 1;
    }
    return 0;
}

static bool same_file(const char *a, const char *b) {
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

static void path_of(const char *type, int n_threads, char *out, size_t size) {
    snprintf(out, size, "%s/%s-t%d.gguf", g_dir, type, n_threads);
}

static void test_quantize(void **s) {
    (void)s;
    KV_NEED_SHARED();
    assert_non_null(kv_golden_lowbit());
    int failed = 0, n = 0;
    for (size_t i = 0; i < N_ALL; i++) {
        if (!selected(ALL[i]))
            continue;
        n++;
        char t2[4300], t1[4300];
        path_of(ALL[i], 2, t2, sizeof t2);
        path_of(ALL[i], 1, t1, sizeof t1);
        int bad = quantize_one(ALL[i], 2, t2);
        if (!bad)
            bad = kv_golden_compare_in(kv_golden_lowbit(), t2, "quantize_imatrix", ALL[i], true,
                                       PATH_KEYS);
        if (!bad && (quantize_one(ALL[i], 1, t1) || !same_file(t1, t2))) {
            fprintf(stderr, "%s: 1 thread wrote a different file than 2\n", ALL[i]);
            bad = 1;
        }
        print_message("%s: %s\n", ALL[i], bad ? "DIFFERS" : "matches llama.cpp (1 and 2 threads)");
        failed += bad ? 1 : 0;
    }
    print_message("%d of %d low-bit file types match llama.cpp\n", n - failed, n);
    assert_true(n > 0);
    assert_int_equal(failed, 0);
}

static double golden_eval(const char *type, const char *field) {
    char entry[64];
    snprintf(entry, sizeof entry, "%s+imatrix", type);
    json_t *e = json_object_get(json_object_get(kv_golden_lowbit(), "eval"), entry);
    json_t *v = json_object_get(e, field);
    return v ? json_number_value(v) : NAN;
}

// ---- perplexity and KL divergence against llama-perplexity's figures ----

#define N_CTX 256
#define N_CHUNKS 32
#define TOL_PPL 0.01
#define TOL_KLD_REL 0.10

static kv_ctx *open_ctx(const char *path, kv_model **m) {
    kv_err err = {0};
    if (kv_model_open(path, m, &err) != KV_OK)
        fail_msg("%s", err.msg);
    kv_ctx_params p = kv_ctx_default_params();
    p.n_ctx = p.n_batch = p.n_outputs_max = N_CTX;
    p.n_threads = 2;
    kv_ctx *c = NULL;
    if (kv_ctx_new(*m, &p, &c, &err) != KV_OK)
        fail_msg("%s", err.msg);
    return c;
}

// Saves the F32 model's logits on kjv-test.txt to base (the KLD reference).
static void save_base(const char *base) {
    kv_model *m = NULL;
    kv_ctx *c = open_ctx(g_f32, &m);
    kv_vocab *v = NULL;
    char *text = NULL;
    size_t len = 0;
    kv_token *ids = NULL;
    int64_t n = 0;
    kv_err err = {0};
    if (kv_read_file(kv_test_shared_path("data/kjv-test.txt"), (size_t)1 << 28, &text, &len,
                     &err) != KV_OK ||
        kv_vocab_from_gguf(kv_model_gguf(m), &v, &err) != KV_OK ||
        kv_tokenize_alloc(v, text, len, true, true, &ids, &n, &err) != KV_OK)
        fail_msg("%s", err.msg);
    kv_ppl_params p = {N_CTX, N_CHUNKS, 1, base, NULL, NULL};
    kv_ppl_result r;
    if (kv_eval_perplexity(c, ids, n, &p, &r, &err) != KV_OK)
        fail_msg("%s", err.msg);
    free(text);
    free(ids);
    kv_vocab_free(v);
    kv_ctx_free(c);
    kv_model_close(m);
}

static void test_eval(void **s) {
    (void)s;
    KV_NEED_SHARED();
    char base[4300];
    snprintf(base, sizeof base, "%s/base.kld", g_dir);
    save_base(base);
    int bad = 0, n = 0;
    for (size_t i = 0; i < N_ALL; i++) {
        if (!selected(ALL[i]))
            continue;
        char file[4300];
        path_of(ALL[i], 2, file, sizeof file);
        if (access(file, R_OK) != 0 && quantize_one(ALL[i], 2, file)) {
            bad++;
            continue;
        }
        n++;
        kv_model *m = NULL;
        kv_ctx *c = open_ctx(file, &m);
        kv_kld_params kp = {base, N_CHUNKS, 1, NULL, NULL};
        kv_kld_stats st;
        kv_err err = {0};
        if (kv_eval_kld(c, &kp, &st, &err) != KV_OK)
            fail_msg("%s: %s", file, err.msg);
        kv_ctx_free(c);
        kv_model_close(m);
        const double ppl = golden_eval(ALL[i], "ppl"), kld = golden_eval(ALL[i], "mean_kld");
        const bool ok = fabs(st.ppl / ppl - 1) <= TOL_PPL && fabs(st.kld_mean / kld - 1) <= TOL_KLD_REL;
        print_message("%-8s PPL %9.4f (llama.cpp %9.4f)  KLD %.6f (llama.cpp %.6f)  same top "
                      "%.2f%% (llama.cpp %.2f%%)  %s\n",
                      ALL[i], st.ppl, ppl, st.kld_mean, kld, 100 * st.same_top,
                      golden_eval(ALL[i], "same_top_p_pct"), ok ? "ok" : "DIFFERS");
        bad += ok ? 0 : 1;
    }
    assert_true(n > 0);
    assert_int_equal(bad, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize),
        cmocka_unit_test(test_eval),
    };
    return cmocka_run_group_tests_name("golden_lowbit", tests, setup, teardown);
}
