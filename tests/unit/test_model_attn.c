// Attention's items (several query rows sharing their cached keys: the heads of
// a group of grouped-query heads, consecutive tokens of one sequence) on tiny
// random models of several head layouts: one KV head per head, groups of 2, 3
// (head size 12: the score tile's tail), 8 and 16 heads. A sequence's logits
// have the same bits whether its prompt comes in one batch, token by token, in
// pieces, or interleaved with another sequence in uneven runs; and they agree
// with the naive pass of tests/support/kv_test_llama.c. Checked with the
// reference kernels and with this CPU's table; the batch invariance also with
// F32, Q8_0 and Q4_0 caches.
#include "kvant/kv_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kv_test.h"
#include "kv_test_llama.h"
#include "model/model_int.h"

// Runtime vs the naive double-precision pass (as in test_model_forward.c).
#define TOL_LOGIT 1e-3

enum { N_TOK = 37, N_CTX = 64 }; // two full KV blocks and part of a third

static const struct {
    int n_head, n_head_kv, head_dim;
} LAYOUTS[] = {{4, 4, 16}, {4, 2, 16}, {6, 2, 12}, {8, 1, 8}, {16, 1, 4}, {4, 2, 32}};
#define N_LAYOUTS_F16 5 // the last layout only for the cache types (head size 32)

// What the contexts' KV cache stores keys and values as
static kv_type cache_type = KV_TYPE_F16;

typedef struct {
    char *dir;
    kv_test_llama *ref;
    kv_model *m;
    int64_t V;
} fixture;

static void open_model(fixture *f, int layout) {
    kv_test_llama_opts o = kv_test_llama_defaults();
    o.n_head = LAYOUTS[layout].n_head;
    o.n_head_kv = LAYOUTS[layout].n_head_kv;
    o.head_dim = LAYOUTS[layout].head_dim;
    o.n_rot = o.head_dim < 16 ? o.head_dim : 16;
    o.seed = 11 + (uint64_t)layout;
    f->V = o.n_vocab;
    f->dir = kv_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.gguf", f->dir);
    f->ref = kv_test_llama_new(&o);
    assert_int_equal(kv_test_llama_write(f->ref, path), 0);
    kv_err err = {0};
    if (kv_model_open(path, &f->m, &err) != KV_OK)
        fail_msg("%s", err.msg);
}

static void close_model(fixture *f) {
    kv_model_close(f->m);
    kv_test_llama_free(f->ref);
    kv_test_rmdir(f->dir);
}

// A context with kernel table k, two threads, room for two sequences.
static kv_ctx *new_ctx(fixture *f, const kv_kernels *k) {
    const kv_kernels *own = f->m->kernels;
    f->m->kernels = k;
    kv_ctx_params p = kv_ctx_default_params();
    p.n_ctx = N_CTX;
    p.n_batch = 2 * N_TOK;
    p.n_seq_max = 2;
    p.n_threads = 2;
    p.type_k = p.type_v = cache_type;
    kv_ctx *c = NULL;
    kv_err err = {0};
    const kv_status st = kv_ctx_new(f->m, &p, &c, &err);
    f->m->kernels = own;
    if (st != KV_OK)
        fail_msg("kv_ctx_new: %s", err.msg);
    return c;
}

static int32_t tok(int i, int text) {
    return (int32_t)((i * 37 + text * 23 + 5) % 100);
}

// Feeds texts 0 and 1 (N_TOK tokens each, into sequences 0 and 1) in batches:
// batch b holds piece[b] tokens, taking the next token of text 1 where
// text1[i] says so (and it has any left) and of text 0 otherwise. Logits of
// text t's token i go to out[t] + i * V.
static void feed(fixture *f, kv_ctx *c, const int *piece, int n_pieces, const char *text1,
                 float *out[2]) {
    int next[2] = {0, 0}, used = 0;
    for (int b = 0; b < n_pieces; b++) {
        int32_t t[2 * N_TOK], p[2 * N_TOK], s[2 * N_TOK];
        int8_t lg[2 * N_TOK];
        for (int i = 0; i < piece[b]; i++, used++) {
            int seq = text1 != NULL && text1[used % strlen(text1)] == '1' ? 1 : 0;
            if (next[seq] == N_TOK)
                seq = 1 - seq;
            p[i] = next[seq]++;
            s[i] = seq;
            t[i] = tok(p[i], seq);
            lg[i] = 1;
        }
        kv_batch batch = {piece[b], t, p, s, lg};
        kv_err err = {0};
        if (kv_ctx_decode(c, &batch, &err) != KV_OK)
            fail_msg("decode: %s", err.msg);
        for (int i = 0; i < piece[b]; i++)
            memcpy(out[s[i]] + (size_t)p[i] * (size_t)f->V, kv_ctx_logits(c, i),
                   (size_t)f->V * sizeof(float));
    }
}

static void check_layout(int layout, const kv_kernels *k) {
    fixture f;
    open_model(&f, layout);
    const size_t n = (size_t)N_TOK * (size_t)f.V;
    float *whole[2] = {malloc(n * 4), malloc(n * 4)}, *got[2] = {malloc(n * 4), malloc(n * 4)};
    // each text alone, in one batch
    for (int t = 0; t < 2; t++) {
        kv_ctx *c = new_ctx(&f, k);
        const int one[] = {N_TOK};
        feed(&f, c, one, 1, t == 1 ? "1" : NULL, whole);
        kv_ctx_free(c);
    }
    int ones[2 * N_TOK];
    for (int i = 0; i < 2 * N_TOK; i++)
        ones[i] = 1;
    const int uneven[] = {5, 1, 9, 2, 17, 8, 3, 29};                   // 74 = 2 * N_TOK
    const char *mixes[] = {"0", "1", "01", "0011100", "000000000111"}; // whose token comes next
    for (size_t mi = 0; mi < sizeof mixes / sizeof mixes[0]; mi++)
        for (int split = 0; split < 2; split++) {
            kv_ctx *c = new_ctx(&f, k);
            if (split == 0)
                feed(&f, c, ones, 2 * N_TOK, mixes[mi], got);
            else
                feed(&f, c, uneven, sizeof uneven / sizeof uneven[0], mixes[mi], got);
            kv_ctx_free(c);
            for (int t = 0; t < 2; t++)
                if (memcmp(got[t], whole[t], n * sizeof(float)) != 0)
                    fail_msg("%s, %d heads / %d KV heads: text %d, mix %s, %s: other bits than "
                             "in one batch",
                             k->name, LAYOUTS[layout].n_head, LAYOUTS[layout].n_head_kv, t,
                             mixes[mi], split ? "uneven pieces" : "token by token");
        }
    if (cache_type != KV_TYPE_F16) { // the naive pass rounds q, k and v to F16
        free(whole[0]), free(whole[1]), free(got[0]), free(got[1]);
        close_model(&f);
        return;
    }
    float *naive = malloc(n * 4);
    int32_t toks[N_TOK];
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < N_TOK; i++)
            toks[i] = tok(i, t);
        kv_test_llama_forward(f.ref, toks, N_TOK, naive, NULL);
        for (size_t i = 0; i < n; i++)
            if (!(fabs((double)whole[t][i] - naive[i]) <= TOL_LOGIT))
                fail_msg("%s, %d heads / %d KV heads: text %d logit %zu %.6g, naive %.6g",
                         k->name, LAYOUTS[layout].n_head, LAYOUTS[layout].n_head_kv, t, i,
                         whole[t][i], naive[i]);
    }
    free(naive), free(whole[0]), free(whole[1]), free(got[0]), free(got[1]);
    close_model(&f);
}

static void test_reference_kernels(void **state) {
    (void)state;
    for (int l = 0; l < N_LAYOUTS_F16; l++)
        check_layout(l, kv_kernels_ref());
}

static void test_chosen_kernels(void **state) {
    (void)state;
    if (kv_kernels_get() == kv_kernels_ref()) {
        print_message("skipped: this CPU runs the reference kernels only\n");
        skip();
    }
    for (int l = 0; l < N_LAYOUTS_F16; l++)
        check_layout(l, kv_kernels_get());
}

// The F32, Q8_0 and Q4_0 caches (their value sums in axpy_rows, their scores in
// the weight tiles, the F32 cache's queries unrounded) keep a sequence's logits
// independent of its batch too, with both tables, on groups of 2 heads of 32
// (and for F32 also one KV head per head of 16).
static void test_cache_types(void **state) {
    (void)state;
    const kv_type types[] = {KV_TYPE_F32, KV_TYPE_Q8_0, KV_TYPE_Q4_0};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        cache_type = types[i];
        check_layout(N_LAYOUTS_F16, kv_kernels_ref());
        check_layout(N_LAYOUTS_F16, kv_kernels_get());
        if (types[i] == KV_TYPE_F32)
            check_layout(0, kv_kernels_get());
    }
    cache_type = KV_TYPE_F16;
}

// The item shape: the largest divisor of the group up to KV_ATT_MAX_Q heads,
// the rest of KV_ATT_MAX_Q query rows in tokens.
static void test_item_shape(void **state) {
    (void)state;
    const int64_t groups[][3] = {{1, 1, 8}, {2, 2, 4}, {3, 3, 2}, {4, 4, 2}, {5, 5, 1},
                                 {8, 8, 1}, {12, 6, 1}, {16, 8, 1}, {32, 8, 1}};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        kv_hparams hp = {0};
        hp.n_head_kv = 2;
        hp.n_head = 2 * groups[i][0];
        int32_t hq = 0, tq = 0;
        kv__llama_attention_shape(&hp, &hq, &tq);
        assert_int_equal(hq, groups[i][1]);
        assert_int_equal(tq, groups[i][2]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_item_shape),
        cmocka_unit_test(test_reference_kernels),
        cmocka_unit_test(test_chosen_kernels),
        cmocka_unit_test(test_cache_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
