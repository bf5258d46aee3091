// The SIMD kernel table against the reference table on the demo model, as the
// Speed issue asks: its Q8_0, Q4_0 and Q4_K_M conversions must give the same
// greedy continuation and perplexities within 0.1% over the first chunks of
// kjv-test.txt. Both tables run in one process: the model's table is switched
// to the reference for the second context (a white-box step, model_int.h).
// Skips without ../shared or when this CPU gets the reference table anyway.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_golden.h"
#include "kv_test.h"
#include "kernels/kernels.h"
#include "kvant/kv_convert.h"
#include "kvant/kv_eval.h"
#include "kvant/kv_model.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"
#include "model/model_int.h"

// The bound: perplexity with SIMD kernels equals the reference's within 0.1%.
#define TOL_PPL_REL 0.001
enum { N_PREDICT = 32, PPL_CTX = 128, PPL_CHUNKS = 4 };

// The benchmark types (F32 runs against llama.cpp in test_golden_runtime.c),
// two lattice i-quants (made with the golden importance matrix), and the other
// types with packed paths (Q5_K, IQ4_XS, BF16: its register tile, packed paths and dot)
static const char *const TYPES[] = {"q8_0",  "q4_0",   "q4_k_m", "iq2_xxs",
                                    "iq1_m", "q5_k_m", "iq4_xs", "bf16"};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

static char *dir;
static kv_token *text_toks;
static int64_t n_text_toks;

static void path_of(char *out, size_t cap, const char *type) {
    snprintf(out, cap, "%s/%s.gguf", dir, type);
}

static int setup(void **state) {
    (void)state;
    if (!kv_test_shared() || strcmp(kv_kernels_get()->name, "ref") == 0)
        return 0;
    dir = kv_test_tmpdir();
    kv_err err = {0};
    for (size_t i = 0; i < N_TYPES; i++) {
        char path[4200];
        path_of(path, sizeof path, TYPES[i]);
        kv_convert_opts o = {.outtype = TYPES[i]};
        char imatrix[4200]; // kv_test_shared_path's buffer is reused by the next call
        snprintf(imatrix, sizeof imatrix, "%s",
                 kv_test_shared_path("testdata/golden/kjv-llama-7m.imatrix.dat"));
        if (strncmp(TYPES[i], "iq", 2) == 0)
            o.plan.imatrix_path = imatrix;
        if (kv_convert_hf(kv_test_shared_path("models/kjv-llama-7m"), path, &o, NULL, &err) !=
            KV_OK) {
            fprintf(stderr, "setup: %s\n", err.msg);
            return 1;
        }
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(text_toks);
    if (dir)
        kv_test_rmdir(dir);
    return 0;
}

#define NEED_SIMD()                                                                        \
    do {                                                                                   \
        KV_NEED_SHARED();                                                                  \
        if (strcmp(kv_kernels_get()->name, "ref") == 0) {                                  \
            print_message("skipped: this CPU runs the reference kernels only\n");          \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

// A context on m with kernel table k
static kv_ctx *new_ctx(kv_model *m, const kv_kernels *k, int n_ctx) {
    const kv_kernels *own = m->kernels;
    m->kernels = k;
    kv_ctx_params p = kv_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = n_ctx;
    p.n_threads = 2;
    kv_ctx *c = NULL;
    kv_err err = {0};
    const kv_status st = kv_ctx_new(m, &p, &c, &err);
    m->kernels = own;
    if (st != KV_OK)
        fail_msg("kv_ctx_new: %s", err.msg);
    return c;
}

// Greedy continuation of the golden prompt: N_PREDICT token ids into out
static void greedy(kv_ctx *c, const kv_vocab *v, kv_token out[N_PREDICT]) {
    const char *prompt =
        json_string_value(json_object_get(json_object_get(kv_golden(), "greedy"), "prompt"));
    kv_token toks[64];
    int64_t n = 0;
    assert_int_equal(kv_tokenize(v, prompt, strlen(prompt), true, false, toks, 64, &n, NULL),
                     KV_OK);
    const int32_t n_vocab = kv_model_hparams(kv_ctx_model(c))->n_vocab;
    kv_batch b = {(int32_t)n, toks, NULL, NULL, NULL};
    for (int i = 0; i < N_PREDICT; i++) {
        assert_int_equal(kv_ctx_decode(c, &b, NULL), KV_OK);
        const float *l = kv_ctx_logits(c, b.n_tokens - 1);
        kv_token best = 0;
        for (kv_token t = 1; t < n_vocab; t++)
            best = l[t] > l[best] ? t : best;
        out[i] = toks[0] = best;
        b.n_tokens = 1;
    }
}

// kjv-test.txt as tokens into text_toks, once
static void load_text(const kv_vocab *v) {
    if (text_toks != NULL)
        return;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(
        kv_read_file(kv_test_shared_path("data/kjv-test.txt"), 1 << 26, &text, &len, NULL), KV_OK);
    assert_int_equal(kv_tokenize_alloc(v, text, len, true, false, &text_toks, &n_text_toks, NULL),
                     KV_OK);
    free(text);
}

// The demo model converted to type, its vocabulary, and the text's tokens
static void open_type(const char *type, kv_model **m, kv_vocab **v) {
    char path[4200];
    path_of(path, sizeof path, type);
    kv_err err = {0};
    if (kv_model_open(path, m, &err) != KV_OK ||
        kv_vocab_from_gguf(kv_model_gguf(*m), v, &err) != KV_OK)
        fail_msg("%s: %s", path, err.msg);
    load_text(*v);
}

static double perplexity(kv_ctx *c, const kv_vocab *v) {
    kv_ppl_params p = {PPL_CTX, PPL_CHUNKS, kv_vocab_bos(v), NULL, NULL, NULL};
    kv_ppl_result r;
    kv_err err = {0};
    if (kv_eval_perplexity(c, text_toks, n_text_toks, &p, &r, &err) != KV_OK)
        fail_msg("perplexity: %s", err.msg);
    assert_int_equal(r.n_chunks, PPL_CHUNKS);
    return r.ppl;
}

static void test_simd_against_ref(void **state) {
    (void)state;
    NEED_SIMD();
    for (size_t i = 0; i < N_TYPES; i++) {
        kv_model *m = NULL;
        kv_vocab *v = NULL;
        open_type(TYPES[i], &m, &v);
        kv_ctx *simd = new_ctx(m, kv_kernels_get(), PPL_CTX);
        kv_ctx *ref = new_ctx(m, kv_kernels_ref(), PPL_CTX);
        kv_token want[N_PREDICT], got[N_PREDICT];
        greedy(ref, v, want);
        greedy(simd, v, got);
        for (int t = 0; t < N_PREDICT; t++)
            if (got[t] != want[t])
                fail_msg("%s: greedy token %d is %d with %s kernels, %d with ref", TYPES[i], t,
                         got[t], kv_kernels_get()->name, want[t]);
        const double p_ref = perplexity(ref, v), p_simd = perplexity(simd, v);
        print_message("%-7s PPL %s %.5f, ref %.5f (%+.4f%%)\n", TYPES[i], kv_kernels_get()->name,
                      p_simd, p_ref, 100 * (p_simd / p_ref - 1));
        assert_true(fabs(p_simd / p_ref - 1) < TOL_PPL_REL);
        kv_ctx_free(simd);
        kv_ctx_free(ref);
        kv_vocab_free(v);
        kv_model_close(m);
    }
}

// ---- batch invariance on the real model ----

enum { N_SEQ = 10, STEPS = 4 };

// Sequence s: a prompt of 3 + s tokens of the text, then STEPS more, one at a time.
static int prompt_len(int s) { return 3 + s; }
static kv_token seq_tok(int s, int i) { return text_toks[40 * s + i]; }

// Sequence s alone in a context: the logits after its prompt and after each step
static void run_alone(kv_model *m, int s, float *out, int32_t V) {
    kv_ctx *c = new_ctx(m, kv_kernels_get(), 64);
    kv_token t[16];
    for (int i = 0; i < prompt_len(s); i++)
        t[i] = seq_tok(s, i);
    kv_batch b = {prompt_len(s), t, NULL, NULL, NULL};
    for (int step = 0; step <= STEPS; step++) {
        assert_int_equal(kv_ctx_decode(c, &b, NULL), KV_OK);
        memcpy(out + (size_t)step * V, kv_ctx_logits(c, b.n_tokens - 1), (size_t)V * sizeof(float));
        t[0] = seq_tok(s, prompt_len(s) + step);
        b.n_tokens = 1;
    }
    kv_ctx_free(c);
}

// All sequences in one context: their prompts in one batch, then batches of
// one token of every sequence; each batch's logits compared with the solo ones.
static void run_together(kv_model *m, const char *type, const float *alone, int32_t V) {
    kv_ctx_params p = kv_ctx_default_params();
    p.n_ctx = 64;
    p.n_batch = 128;
    p.n_seq_max = N_SEQ;
    p.n_outputs_max = N_SEQ;
    p.n_threads = 2;
    kv_ctx *c = NULL;
    assert_int_equal(kv_ctx_new(m, &p, &c, NULL), KV_OK);
    for (int step = 0; step <= STEPS; step++) {
        int32_t t[128], sid[128], row[N_SEQ];
        int8_t lg[128] = {0};
        int n = 0;
        for (int s = 0; s < N_SEQ; s++) {
            const int from = step == 0 ? 0 : prompt_len(s) + step - 1;
            const int to = step == 0 ? prompt_len(s) : from + 1;
            for (int i = from; i < to; i++, n++)
                t[n] = seq_tok(s, i), sid[n] = s;
            row[s] = n - 1;
            lg[n - 1] = 1;
        }
        kv_batch b = {n, t, NULL, sid, lg};
        assert_int_equal(kv_ctx_decode(c, &b, NULL), KV_OK);
        for (int s = 0; s < N_SEQ; s++) {
            const float *want = alone + ((size_t)s * (STEPS + 1) + (size_t)step) * (size_t)V;
            if (memcmp(kv_ctx_logits(c, row[s]), want, (size_t)V * sizeof(float)) != 0)
                fail_msg("%s: sequence %d, step %d: logits in a batch of %d rows differ from "
                         "its logits alone", type, s, step, n);
        }
    }
    kv_ctx_free(c);
}

// The kernels' contract on the demo model: a sequence's logits are the same
// bits alone (generation: one activation row) and batched with nine others
// (prompt batches of up to 75 rows, steps of 10 rows: the packed and tiled
// matmul paths).
static void test_batch_invariance(void **state) {
    (void)state;
    NEED_SIMD();
    for (size_t i = 0; i < N_TYPES; i++) {
        kv_model *m = NULL;
        kv_vocab *v = NULL;
        open_type(TYPES[i], &m, &v);
        assert_true(n_text_toks > 40 * N_SEQ);
        const int32_t V = kv_model_hparams(m)->n_vocab;
        float *alone = malloc((size_t)N_SEQ * (STEPS + 1) * (size_t)V * sizeof(float));
        assert_non_null(alone);
        for (int s = 0; s < N_SEQ; s++)
            run_alone(m, s, alone + (size_t)s * (STEPS + 1) * (size_t)V, V);
        run_together(m, TYPES[i], alone, V);
        free(alone);
        kv_vocab_free(v);
        kv_model_close(m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simd_against_ref),
        cmocka_unit_test(test_batch_invariance),
    };
    return cmocka_run_group_tests_name("golden_kernels", tests, setup, teardown);
}
