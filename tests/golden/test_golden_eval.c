// Evaluation of every quantized demo model against llama-perplexity's record:
// for each golden `eval` entry, the file kvant quantizes (from its own F32
// conversion; "+imatrix" entries with llama.cpp's importance matrix) must give
// the same perplexity on kjv-test.txt (n_ctx 256, 32 chunks) within 0.3% for
// F32/F16/BF16/Q8_0 and 1% otherwise, and the same mean KL divergence against the
// F32 model within 10% where it is above 0.001. Then kvant's own importance
// matrix (kvant imatrix on kjv-train-sample.txt) must guide Q4_K_M to within 10%
// of llama.cpp's imatrix-guided KLD.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_golden.h"
#include "kv_test.h"
#include "kvant/kv_convert.h"
#include "kvant/kv_eval.h"
#include "kvant/kv_model.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"

#define N_CTX 256
#define N_CHUNKS 32
#define TOL_PPL_EXACT 0.003 // F32, F16, BF16, Q8_0: the bound
#define TOL_PPL_QUANT 0.01  // every other type
#define TOL_KLD_REL 0.10    // mean KLD, relative, where KLD > KLD_FLOOR
#define KLD_FLOOR 0.001

static char *dir;
static char f32_path[4200], base_path[4200];

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

static int32_t *tokens_of(const char *text_path, kv_model *m, int64_t *n) {
    kv_vocab *v = NULL;
    char *text = NULL;
    size_t len = 0;
    kv_token *ids = NULL;
    kv_err err = {0};
    if (kv_read_file(text_path, (size_t)1 << 28, &text, &len, &err) != KV_OK ||
        kv_vocab_from_gguf(kv_model_gguf(m), &v, &err) != KV_OK ||
        kv_tokenize_alloc(v, text, len, true, true, &ids, n, &err) != KV_OK)
        fail_msg("%s", err.msg);
    free(text);
    kv_vocab_free(v);
    return ids;
}

static int setup(void **state) {
    (void)state;
    if (!kv_test_shared())
        return 0;
    dir = kv_test_tmpdir();
    snprintf(f32_path, sizeof f32_path, "%s/f32.gguf", dir);
    snprintf(base_path, sizeof base_path, "%s/base.kld", dir);
    kv_convert_opts o = {.outtype = "f32"};
    kv_err err = {0};
    if (kv_convert_hf(kv_test_shared_path("models/kjv-llama-7m"), f32_path, &o, NULL, &err) != KV_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    return 0;
}

static double golden_eval(const char *entry, const char *field) {
    json_t *e = json_object_get(json_object_get(kv_golden(), "eval"), entry);
    json_t *v = json_object_get(e, field);
    return v ? json_number_value(v) : NAN;
}

static int teardown(void **state) {
    (void)state;
    kv_test_rmdir(dir);
    return 0;
}

// KL divergence run of path against the base logits (also gives its PPL).
static void kld_of(const char *path, kv_kld_stats *s) {
    kv_model *m = NULL;
    kv_ctx *c = open_ctx(path, &m);
    kv_kld_params kp = {base_path, N_CHUNKS, 1, NULL, NULL};
    kv_err err = {0};
    if (kv_eval_kld(c, &kp, s, &err) != KV_OK)
        fail_msg("%s: %s", path, err.msg);
    kv_ctx_free(c);
    kv_model_close(m);
}

static int quantize_to(const char *type, const char *imatrix, const char *out) {
    kv_quantize_opts o = {0};
    kv_err err = {0};
    o.plan.imatrix_path = imatrix;
    if (kv_ftype_parse(type, &o.plan.ftype, &err) != KV_OK ||
        kv_quantize_gguf(f32_path, out, &o, NULL, &err) != KV_OK) {
        fprintf(stderr, "%s: %s\n", type, err.msg);
        return 1;
    }
    return 0;
}

// F32 perplexity, saving the base logits every other check compares against.
static void test_f32_base(void **state) {
    (void)state;
    KV_NEED_SHARED();
    kv_model *m = NULL;
    kv_ctx *c = open_ctx(f32_path, &m);
    int64_t n = 0;
    int32_t *ids = tokens_of(kv_test_shared_path("data/kjv-test.txt"), m, &n);
    kv_ppl_params p = {N_CTX, N_CHUNKS, 1, base_path, NULL, NULL};
    kv_ppl_result r;
    kv_err err = {0};
    if (kv_eval_perplexity(c, ids, n, &p, &r, &err) != KV_OK)
        fail_msg("%s", err.msg);
    double want = golden_eval("F32", "ppl");
    print_message("F32: PPL %.4f (llama.cpp %.4f)\n", r.ppl, want);
    assert_true(fabs(r.ppl / want - 1) <= TOL_PPL_EXACT);
    free(ids);
    kv_ctx_free(c);
    kv_model_close(m);
}

static bool exact_type(const char *t) {
    return !strcmp(t, "F16") || !strcmp(t, "BF16") || !strcmp(t, "Q8_0");
}

static int check_entry(const char *entry, const char *file) {
    kv_kld_stats s;
    kld_of(file, &s);
    double ppl = golden_eval(entry, "ppl"), kld = golden_eval(entry, "mean_kld");
    double tol = exact_type(entry) ? TOL_PPL_EXACT : TOL_PPL_QUANT;
    bool ok = fabs(s.ppl / ppl - 1) <= tol;
    if (kld > KLD_FLOOR)
        ok = ok && fabs(s.kld_mean / kld - 1) <= TOL_KLD_REL;
    print_message("%-16s PPL %9.4f (llama.cpp %9.4f)  KLD %.6f (llama.cpp %.6f)  same top %.2f%% "
                  "(llama.cpp %.2f%%)  %s\n",
                  entry, s.ppl, ppl, s.kld_mean, kld, 100 * s.same_top,
                  golden_eval(entry, "same_top_p_pct"), ok ? "ok" : "DIFFERS");
    return ok ? 0 : 1;
}

static void test_every_type(void **state) {
    (void)state;
    KV_NEED_SHARED();
    const char *entry;
    json_t *v;
    int bad = 0;
    char out[4300], type[64];
    snprintf(out, sizeof out, "%s/q.gguf", dir);
    json_object_foreach(json_object_get(kv_golden(), "eval"), entry, v) {
        (void)v;
        if (!strcmp(entry, "F32"))
            continue;
        snprintf(type, sizeof type, "%s", entry);
        char *plus = strchr(type, '+');
        const char *im = NULL;
        if (plus) {
            *plus = '\0';
            im = kv_test_shared_path("testdata/golden/kjv-llama-7m.imatrix.dat");
        }
        bad += quantize_to(type, im, out) || check_entry(entry, out);
    }
    assert_int_equal(bad, 0);
}

// kvant imatrix end to end: calibration text -> imatrix.dat -> Q4_K_M -> KLD.
static void test_kvant_imatrix(void **state) {
    (void)state;
    KV_NEED_SHARED();
    kv_model *m = NULL;
    kv_ctx *c = open_ctx(f32_path, &m);
    int64_t n = 0;
    int32_t *ids = tokens_of(kv_test_shared_path("data/kjv-train-sample.txt"), m, &n);
    char im[4300], out[4300];
    snprintf(im, sizeof im, "%s/imatrix.dat", dir);
    snprintf(out, sizeof out, "%s/q4km-im.gguf", dir);
    kv_imatrix_params p = {N_CTX, -1, 1, false, "kjv-train-sample.txt", NULL, NULL};
    kv_err err = {0};
    if (kv_eval_imatrix(c, ids, n, &p, im, NULL, &err) != KV_OK)
        fail_msg("%s", err.msg);
    free(ids);
    kv_ctx_free(c);
    kv_model_close(m);
    assert_int_equal(quantize_to("Q4_K_M", im, out), 0);
    assert_int_equal(check_entry("Q4_K_M+imatrix", out), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_base),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_kvant_imatrix),
    };
    return cmocka_run_group_tests_name("golden_eval", tests, setup, teardown);
}
