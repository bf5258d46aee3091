// The paged KV cache: blocks in use and bytes allocated follow the sequences'
// lengths and freed blocks are reused; where a sequence's blocks lie in the
// pool does not change a single bit of its logits (scattered blocks, other
// sequences in between, shared blocks copied on write, cells removed from
// shared blocks); an exhausted pool fails a decode without changing anything
// and the context stays usable; many sequences of different lengths agree with
// the naive reference.
#include "kvant/kv_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kv_test_llama.h"

// Runtime vs the naive double-precision pass (see test_model_forward.c).
#define TOL_LOGIT 1e-3
#define B KV_CTX_BLOCK_CELLS
#define MAX_TOK 80

static char *dir;
static kv_test_llama *ref;
static kv_model *model;
static int64_t V;

static int setup(void **state) {
    (void)state;
    dir = kv_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    kv_test_llama_opts o = kv_test_llama_defaults();
    ref = kv_test_llama_new(&o);
    V = o.n_vocab;
    return kv_test_llama_write(ref, path) != 0 || kv_model_open(path, &model, NULL) != KV_OK;
}

static int teardown(void **state) {
    (void)state;
    kv_model_close(model);
    kv_test_llama_free(ref);
    kv_test_rmdir(dir);
    return 0;
}

static kv_ctx *new_ctx(int n_ctx, int n_seq, int64_t n_cells_max) {
    kv_ctx_params p = kv_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = 64;
    p.n_seq_max = n_seq;
    p.n_cells_max = n_cells_max;
    p.n_threads = 2;
    kv_ctx *c = NULL;
    kv_err err = {0};
    kv_status st = kv_ctx_new(model, &p, &c, &err);
    if (st != KV_OK)
        print_error("kv_ctx_new: %s\n", err.msg);
    assert_int_equal(st, KV_OK);
    return c;
}

// Token i of text `salt`.
static int32_t tok(int i, int salt) {
    return (int32_t)((i * 31 + salt * 17 + 1) % V);
}

// Decodes tokens pos0..pos0+n-1 of text salt into sequence seq, in pieces of
// step, each token with logits copied to out (n, V) when out is not NULL.
static kv_status feed(kv_ctx *c, int seq, int salt, int pos0, int n, int step, float *out) {
    int32_t t[MAX_TOK], p[MAX_TOK], s[MAX_TOK];
    int8_t lg[MAX_TOK];
    for (int i0 = 0; i0 < n; i0 += step) {
        int k = n - i0 < step ? n - i0 : step;
        for (int i = 0; i < k; i++) {
            t[i] = tok(pos0 + i0 + i, salt);
            p[i] = pos0 + i0 + i;
            s[i] = seq;
            lg[i] = 1;
        }
        kv_batch b = {k, t, p, s, lg};
        kv_status st = kv_ctx_decode(c, &b, NULL);
        if (st != KV_OK)
            return st;
        for (int i = 0; out && i < k; i++)
            memcpy(out + (size_t)(i0 + i) * V, kv_ctx_logits(c, i), (size_t)V * sizeof *out);
    }
    return KV_OK;
}

static float *logits_buf(int n) {
    return calloc((size_t)n * (size_t)V, sizeof(float));
}

static void assert_same_bits(const float *a, const float *b, int n) {
    assert_memory_equal(a, b, (size_t)n * (size_t)V * sizeof *a);
}

static int32_t blocks_for(int n) {
    return (n + B - 1) / B;
}

static void test_blocks_follow_length(void **state) {
    (void)state;
    kv_ctx *c = new_ctx(128, 3, 0);
    assert_int_equal(kv_ctx_kv_blocks_max(c), 3 * 128 / B);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 0);
    assert_int_equal(kv_ctx_kv_size(c), 0); // nothing reserved up front
    assert_int_equal(kv_ctx_seq_n_blocks_needed(c, 0, 1), 1);
    assert_int_equal(feed(c, 0, 0, 0, 1, 1, NULL), KV_OK);
    const uint64_t block = kv_ctx_kv_size(c);
    assert_true(block > 0);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 1);
    assert_int_equal(kv_ctx_seq_n_blocks_needed(c, 0, B - 1), 0);
    assert_int_equal(kv_ctx_seq_n_blocks_needed(c, 0, B), 1);
    assert_int_equal(feed(c, 0, 0, 1, B - 1, 8, NULL), KV_OK); // exactly one block full
    assert_int_equal(kv_ctx_kv_blocks_used(c), 1);
    assert_int_equal(feed(c, 0, 0, B, 1, 1, NULL), KV_OK);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 2);
    assert_int_equal(feed(c, 1, 1, 0, 40, 16, NULL), KV_OK);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 2 + 3);
    assert_int_equal(kv_ctx_kv_size(c), 5 * block);
    assert_int_equal(kv_ctx_seq_rm(c, 1, 20, -1, NULL), KV_OK); // 20 cells: 2 blocks
    assert_int_equal(kv_ctx_kv_blocks_used(c), 2 + 2);
    kv_ctx_seq_clear(c, 0);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 2);
    assert_int_equal(kv_ctx_kv_size(c), 5 * block); // kept for reuse
    assert_int_equal(feed(c, 2, 2, 0, 48, 16, NULL), KV_OK);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 5);
    assert_int_equal(kv_ctx_kv_size(c), 5 * block); // the freed blocks were reused
    assert_int_equal(feed(c, 2, 2, 48, 1, 1, NULL), KV_OK);
    assert_int_equal(kv_ctx_kv_size(c), 6 * block);
    kv_ctx_seq_clear(c, -1);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 0);
    assert_int_equal(kv_ctx_seq_n_blocks_needed(c, 7, 1), 0); // no such sequence
    kv_ctx_free(c);
}

// Fills sequences first..n_seq-1 and frees every other one, so that blocks
// in use and free ones alternate in the pool.
static void scramble(kv_ctx *c, int first, int n_seq) {
    for (int s = first; s < n_seq; s++)
        assert_int_equal(feed(c, s, 10 + s, 0, 5 + 11 * (s - first + 1), 16, NULL), KV_OK);
    for (int s = first; s < n_seq; s += 2)
        kv_ctx_seq_clear(c, s);
}

#define N_LONG 70

static void test_layout_does_not_change_bits(void **state) {
    (void)state;
    float *want = logits_buf(N_LONG), *got = logits_buf(N_LONG);
    kv_ctx *c = new_ctx(N_LONG, 1, 0);
    assert_int_equal(feed(c, 0, 0, 0, N_LONG, 9, want), KV_OK);
    kv_ctx_free(c);
    // the same text in sequence 0 of a pool that other sequences use and leave
    c = new_ctx(N_LONG, 4, 0);
    scramble(c, 1, 4);
    for (int i0 = 0; i0 < N_LONG; i0 += 9) {
        int k = N_LONG - i0 < 9 ? N_LONG - i0 : 9;
        assert_int_equal(feed(c, 0, 0, i0, k, 9, got + (size_t)i0 * V), KV_OK);
        if (i0 == 27)
            kv_ctx_seq_clear(c, 2);
        else if (kv_ctx_seq_n_cells(c, 3) + 5 <= N_LONG)
            assert_int_equal(feed(c, 3, 3, kv_ctx_seq_n_cells(c, 3), 5, 5, NULL), KV_OK);
    }
    assert_same_bits(got, want, N_LONG);
    // and both agree with the naive pass over all five blocks
    float *naive = logits_buf(N_LONG);
    int32_t t[N_LONG];
    for (int i = 0; i < N_LONG; i++)
        t[i] = tok(i, 0);
    kv_test_llama_forward(ref, t, N_LONG, naive, NULL);
    for (size_t i = 0; i < (size_t)N_LONG * (size_t)V; i++)
        assert_true(fabs((double)got[i] - naive[i]) <= TOL_LOGIT);
    kv_ctx_free(c);
    free(want), free(got), free(naive);
}

// Batches of several sequences give the same bits in a fresh pool and in one
// where other sequences take and free blocks between the batches.
static void test_batched_sequences_same_bits(void **state) {
    (void)state;
    enum { N_SEQ = 3, ROUNDS = 12, PER = 4, N_ROWS = N_SEQ * PER };
    float *out[2];
    for (int run = 0; run < 2; run++) {
        out[run] = logits_buf(ROUNDS * N_ROWS);
        kv_ctx *c = new_ctx(64, N_SEQ + 3, 0);
        if (run == 1)
            scramble(c, N_SEQ, N_SEQ + 3);
        for (int r = 0; r < ROUNDS; r++) {
            int32_t t[N_ROWS], p[N_ROWS], s[N_ROWS];
            int8_t lg[N_ROWS];
            for (int i = 0; i < N_ROWS; i++) {
                s[i] = i % N_SEQ;
                p[i] = r * PER + i / N_SEQ;
                t[i] = tok(p[i], s[i]);
                lg[i] = 1;
            }
            kv_batch b = {N_ROWS, t, p, s, lg};
            assert_int_equal(kv_ctx_decode(c, &b, NULL), KV_OK);
            for (int i = 0; i < N_ROWS; i++)
                memcpy(out[run] + ((size_t)r * N_ROWS + i) * V, kv_ctx_logits(c, i),
                       (size_t)V * sizeof(float));
            int other = N_SEQ + r % 3;
            if (run == 1 && r % 2 == 0)
                kv_ctx_seq_clear(c, other);
            else if (run == 1 && kv_ctx_seq_n_cells(c, other) + 7 <= 64)
                assert_int_equal(feed(c, other, r, kv_ctx_seq_n_cells(c, other), 7, 7, NULL),
                                 KV_OK);
        }
        kv_ctx_free(c);
    }
    assert_same_bits(out[0], out[1], ROUNDS * N_ROWS);
    free(out[0]), free(out[1]);
}

#define N_PREFIX 40 // two full blocks and a partial one
#define N_MORE 12

// Logits of text `salt` at positions N_PREFIX.. after prefix text 0, each in a
// fresh context of its own; with rm_p0 >= 0, positions rm_p0..rm_p1-1 are
// removed after `pre` tokens of text pre_salt and before the N_MORE.
static void fresh_tail(int pre_salt, int pre, int rm_p0, int rm_p1, int salt, float *out) {
    kv_ctx *c = new_ctx(64, 1, 0);
    assert_int_equal(feed(c, 0, 0, 0, N_PREFIX, 8, NULL), KV_OK);
    assert_int_equal(feed(c, 0, pre_salt, N_PREFIX, pre, 4, NULL), KV_OK);
    if (rm_p0 >= 0)
        assert_int_equal(kv_ctx_seq_rm(c, 0, rm_p0, rm_p1, NULL), KV_OK);
    assert_int_equal(feed(c, 0, salt, N_PREFIX + pre, N_MORE, 4, out), KV_OK);
    kv_ctx_free(c);
}

static void test_copy_on_write(void **state) {
    (void)state;
    float *want = logits_buf(N_MORE), *got = logits_buf(N_MORE);
    kv_ctx *c = new_ctx(64, 2, 0);
    assert_int_equal(feed(c, 0, 0, 0, N_PREFIX, 8, NULL), KV_OK);
    assert_int_equal(kv_ctx_seq_cp(c, 0, 1, NULL), KV_OK);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 3); // shared, not copied
    assert_int_equal(kv_ctx_seq_n_cells(c, 1), N_PREFIX);
    assert_int_equal(kv_ctx_seq_pos_max(c, 1), N_PREFIX - 1);
    assert_int_equal(kv_ctx_seq_n_blocks_needed(c, 1, 1), 1); // the partial block's copy
    // sequence 1 diverges: it copies the partial block and goes on alone
    assert_int_equal(feed(c, 1, 2, N_PREFIX, N_MORE, 4, got), KV_OK);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 3 + 1 + 1);
    fresh_tail(0, 0, -1, -1, 2, want);
    assert_same_bits(got, want, N_MORE);
    // sequence 0 still sees its own cells
    assert_int_equal(kv_ctx_seq_n_blocks_needed(c, 0, 1), 0);
    assert_int_equal(feed(c, 0, 1, N_PREFIX, N_MORE, 4, got), KV_OK);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 6);
    fresh_tail(0, 0, -1, -1, 1, want);
    assert_same_bits(got, want, N_MORE);
    // a hole in the middle of a sequence whose blocks are all shared
    assert_int_equal(kv_ctx_seq_cp(c, 0, 1, NULL), KV_OK);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 4);
    assert_int_equal(kv_ctx_seq_rm(c, 1, 5, 20, NULL), KV_OK);
    assert_int_equal(kv_ctx_seq_n_cells(c, 1), N_PREFIX + N_MORE - 15);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 4 + 3); // three blocks rewritten, copied
    assert_int_equal(feed(c, 1, 3, N_PREFIX + N_MORE, N_MORE, 4, got), KV_OK);
    fresh_tail(1, N_MORE, 5, 20, 3, want);
    assert_same_bits(got, want, N_MORE);
    assert_int_equal(feed(c, 0, 4, N_PREFIX + N_MORE, N_MORE, 4, got), KV_OK);
    fresh_tail(1, N_MORE, -1, -1, 4, want);
    assert_same_bits(got, want, N_MORE);
    kv_ctx_seq_clear(c, 0);
    kv_ctx_seq_clear(c, 1);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 0);
    kv_ctx_free(c);
    free(want), free(got);
}

// A decode that fails leaves every count as it was.
static void expect_full(kv_ctx *c, int seq, int salt, int n) {
    const int32_t used = kv_ctx_kv_blocks_used(c);
    int32_t cells[2], pmax[2];
    for (int s = 0; s < 2; s++) {
        cells[s] = kv_ctx_seq_n_cells(c, s);
        pmax[s] = kv_ctx_seq_pos_max(c, s);
    }
    int32_t t[MAX_TOK], p[MAX_TOK], sid[MAX_TOK];
    for (int i = 0; i < n; i++) {
        p[i] = cells[seq] + i;
        t[i] = tok(p[i], salt);
        sid[i] = seq;
    }
    kv_batch b = {n, t, p, sid, NULL};
    kv_err err = {0};
    assert_int_equal(kv_ctx_decode(c, &b, &err), KV_ERR_LIMIT);
    if (!strstr(err.msg, "KV cache is full"))
        fail_msg("message '%s' lacks 'KV cache is full'", err.msg);
    assert_null(kv_ctx_logits(c, n - 1));
    assert_int_equal(kv_ctx_kv_blocks_used(c), used);
    for (int s = 0; s < 2; s++) {
        assert_int_equal(kv_ctx_seq_n_cells(c, s), cells[s]);
        assert_int_equal(kv_ctx_seq_pos_max(c, s), pmax[s]);
    }
}

static void test_pool_exhausted(void **state) {
    (void)state;
    float *want = logits_buf(1), *got = logits_buf(1);
    kv_ctx *c = new_ctx(64, 2, 40); // 40 cells: 3 blocks
    assert_int_equal(kv_ctx_kv_blocks_max(c), 3);
    assert_int_equal(feed(c, 0, 0, 0, N_PREFIX, 8, NULL), KV_OK);
    expect_full(c, 1, 1, 1);
    assert_int_equal(feed(c, 0, 0, N_PREFIX, 8, 8, NULL), KV_OK); // the last block's rest
    expect_full(c, 0, 0, 1);
    // sharing takes no blocks; writing to shared ones or past them needs some
    assert_int_equal(kv_ctx_seq_cp(c, 0, 1, NULL), KV_OK);
    expect_full(c, 1, 1, 1);
    kv_err err = {0};
    assert_int_equal(kv_ctx_seq_rm(c, 1, 4, 8, &err), KV_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "KV cache is full"));
    assert_int_equal(kv_ctx_seq_n_cells(c, 1), 48);
    assert_int_equal(kv_ctx_seq_rm(c, 1, N_PREFIX, -1, NULL), KV_OK); // a tail needs none
    assert_int_equal(kv_ctx_seq_n_blocks_needed(c, 1, 1), 1);
    expect_full(c, 1, 0, 1);
    // once sequence 0 lets go, sequence 1 has the partial block to itself
    kv_ctx_seq_clear(c, 0);
    assert_int_equal(kv_ctx_kv_blocks_used(c), 3);
    assert_int_equal(kv_ctx_seq_n_blocks_needed(c, 1, 1), 0);
    assert_int_equal(feed(c, 1, 5, N_PREFIX, 1, 1, got), KV_OK);
    kv_ctx_free(c);
    c = new_ctx(64, 1, 0);
    assert_int_equal(feed(c, 0, 0, 0, N_PREFIX, 8, NULL), KV_OK);
    assert_int_equal(feed(c, 0, 5, N_PREFIX, 1, 1, want), KV_OK);
    assert_same_bits(got, want, 1);
    kv_ctx_free(c);
    free(want), free(got);
}

static void test_budget_params(void **state) {
    (void)state;
    kv_ctx_params p = kv_ctx_default_params();
    kv_ctx *c = NULL;
    kv_err err = {0};
    p.n_cells_max = -1;
    assert_int_equal(kv_ctx_new(model, &p, &c, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "n_cells_max"));
    assert_null(c);
    p.n_cells_max = (int64_t)KV_CTX_MAX_BLOCKS * B + 1;
    assert_int_equal(kv_ctx_new(model, &p, &c, &err), KV_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "over the limit"));
    p.n_cells_max = 17; // rounded up to whole blocks
    assert_int_equal(kv_ctx_new(model, &p, &c, &err), KV_OK);
    assert_int_equal(kv_ctx_kv_blocks_max(c), 2);
    kv_ctx_free(c);
    p = kv_ctx_default_params();
    p.n_ctx = 20;
    p.n_seq_max = 3; // each sequence can reach n_ctx: 2 blocks each
    assert_int_equal(kv_ctx_new(model, &p, &c, &err), KV_OK);
    assert_int_equal(kv_ctx_kv_blocks_max(c), 6);
    kv_ctx_free(c);
}

#define N_MANY 12 // sequences
#define PER 5      // tokens of each in a batch

// Decodes text s (len[s] tokens) into each sequence s, PER tokens of every
// sequence per batch; the logits of each one's last token go to last (N_MANY, V).
static void decode_together(kv_ctx *c, const int *len, float *last) {
    int done[N_MANY] = {0};
    for (bool more = true; more;) {
        int32_t t[N_MANY * PER], p[N_MANY * PER], sid[N_MANY * PER], row[N_MANY];
        int8_t lg[N_MANY * PER] = {0};
        int n = 0;
        for (int s = 0; s < N_MANY; s++) {
            row[s] = -1;
            for (int k = 0; k < PER && done[s] < len[s]; k++, n++) {
                p[n] = done[s]++;
                t[n] = tok(p[n], s);
                sid[n] = s;
                row[s] = done[s] == len[s] ? n : row[s];
            }
            if (row[s] >= 0)
                lg[row[s]] = 1;
        }
        kv_batch b = {n, t, p, sid, lg};
        assert_int_equal(kv_ctx_decode(c, &b, NULL), KV_OK);
        more = false;
        for (int s = 0; s < N_MANY; s++) {
            if (row[s] >= 0)
                memcpy(last + (size_t)s * V, kv_ctx_logits(c, row[s]), (size_t)V * sizeof(float));
            more = more || done[s] < len[s];
        }
    }
}

// Sequences of many lengths decoded together, then half of them replaced.
static void test_many_sequences(void **state) {
    (void)state;
    enum { N_SEQ = N_MANY };
    int len[N_SEQ];
    int32_t blocks = 0;
    for (int s = 0; s < N_SEQ; s++) {
        len[s] = 1 + (s * 23) % 70;
        blocks += blocks_for(len[s]);
    }
    float *last = logits_buf(N_SEQ), *naive = logits_buf(MAX_TOK);
    kv_ctx *c = new_ctx(MAX_TOK, N_SEQ, 0);
    decode_together(c, len, last);
    assert_int_equal(kv_ctx_kv_blocks_used(c), blocks);
    for (int s = 0; s < N_SEQ; s++) {
        int32_t t[MAX_TOK];
        for (int i = 0; i < len[s]; i++)
            t[i] = tok(i, s);
        kv_test_llama_forward(ref, t, len[s], naive, NULL);
        const float *want = naive + (size_t)(len[s] - 1) * V;
        for (int64_t v = 0; v < V; v++)
            assert_true(fabs((double)last[(size_t)s * V + v] - want[v]) <= TOL_LOGIT);
    }
    // replacing even sequences by shorter texts reuses their blocks
    const uint64_t size = kv_ctx_kv_size(c);
    for (int s = 0; s < N_SEQ; s += 2) {
        blocks -= blocks_for(len[s]);
        kv_ctx_seq_clear(c, s);
    }
    assert_int_equal(kv_ctx_kv_blocks_used(c), blocks);
    for (int s = 0; s < N_SEQ; s += 2) {
        assert_int_equal(feed(c, s, 50 + s, 0, len[s] / 2 + 1, 16, NULL), KV_OK);
        blocks += blocks_for(len[s] / 2 + 1);
    }
    assert_int_equal(kv_ctx_kv_blocks_used(c), blocks);
    assert_int_equal(kv_ctx_kv_size(c), size);
    kv_ctx_free(c);
    free(last), free(naive);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_follow_length),
        cmocka_unit_test(test_layout_does_not_change_bits),
        cmocka_unit_test(test_batched_sequences_same_bits),
        cmocka_unit_test(test_copy_on_write),
        cmocka_unit_test(test_pool_exhausted),
        cmocka_unit_test(test_budget_params),
        cmocka_unit_test(test_many_sequences),
    };
    return cmocka_run_group_tests_name("model_paged", tests, setup, teardown);
}
