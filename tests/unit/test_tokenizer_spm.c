// The SPM tokenizer on a small hand-built vocabulary: merge order (score, then
// leftmost), space escaping and the prefix space, byte fallback, special tokens in
// the text, BOS/EOS, vocabulary checks and fixups, and detokenization.
#include "kvant/kv_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"

#define SP "\xe2\x96\x81" // U+2581, SentencePiece's space

enum {
    T_UNK = 0, T_BOS = 1, T_EOS = 2, T_BYTE0 = 3, // 256 byte tokens from 3
    T_SP = 259, T_A, T_B, T_C, T_AB, T_BC, T_AA, T_SPA, T_USER, T_END, T_X, N_TOK
};

typedef struct {
    const char *text;
    float score;
    int32_t type;
} tok_def;

static const tok_def defs[] = {
    [T_SP] = {SP, -1.0f, KV_TOKEN_TYPE_NORMAL},
    [T_A] = {"a", -2.0f, KV_TOKEN_TYPE_NORMAL},
    [T_B] = {"b", -2.0f, KV_TOKEN_TYPE_NORMAL},
    [T_C] = {"c", -2.0f, KV_TOKEN_TYPE_NORMAL},
    [T_AB] = {"ab", -3.0f, KV_TOKEN_TYPE_NORMAL},
    [T_BC] = {"bc", -1.5f, KV_TOKEN_TYPE_NORMAL},
    [T_AA] = {"aa", -1.0f, KV_TOKEN_TYPE_NORMAL},
    [T_SPA] = {SP "a", -0.5f, KV_TOKEN_TYPE_NORMAL},
    [T_USER] = {"<|user|>", 0.0f, KV_TOKEN_TYPE_USER_DEFINED},
    [T_END] = {"<|end|>", 0.0f, KV_TOKEN_TYPE_CONTROL},
    [T_X] = {"x x", -2.0f, KV_TOKEN_TYPE_NORMAL}, // never matches: spaces are escaped
};

typedef struct {
    char byte_text[256][8];
    const char *texts[N_TOK];
    float scores[N_TOK];
    int32_t types[N_TOK];
    kv_vocab_params p;
} vocab_src;

// Fills src with the test vocabulary; the caller may adjust src->p before building.
static void make_src(vocab_src *src) {
    kv_vocab_params_init(&src->p, KV_VOCAB_SPM);
    src->texts[T_UNK] = "<unk>";
    src->texts[T_BOS] = "<s>";
    src->texts[T_EOS] = "</s>";
    src->types[T_UNK] = KV_TOKEN_TYPE_UNKNOWN;
    src->types[T_BOS] = src->types[T_EOS] = KV_TOKEN_TYPE_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(src->byte_text[b], sizeof(src->byte_text[b]), "<0x%02X>", b);
        src->texts[T_BYTE0 + b] = src->byte_text[b];
        src->types[T_BYTE0 + b] = KV_TOKEN_TYPE_BYTE;
    }
    for (int i = T_SP; i < N_TOK; i++) {
        src->texts[i] = defs[i].text;
        src->scores[i] = defs[i].score;
        src->types[i] = defs[i].type;
    }
    src->p.n_tokens = N_TOK;
    src->p.texts = src->texts;
    src->p.scores = src->scores;
    src->p.types = src->types;
}

static kv_vocab *build(vocab_src *src) {
    kv_vocab *v = NULL;
    kv_err err;
    kv_status st = kv_vocab_new(&src->p, &v, &err);
    if (st != KV_OK)
        print_message("kv_vocab_new: %s\n", err.msg);
    assert_int_equal(st, KV_OK);
    return v;
}

static kv_vocab *make_vocab(bool space_prefix) {
    vocab_src src;
    make_src(&src);
    src.p.add_space_prefix = space_prefix;
    return build(&src);
}

// Tokenizes s and compares with the expected ids (terminated by -1).
static void expect_tokens(const kv_vocab *v, const char *s, size_t len, bool add_special,
                          bool parse_special, const int *want) {
    kv_token got[64];
    int64_t n = -1;
    kv_err err;
    assert_int_equal(kv_tokenize(v, s, len, add_special, parse_special, got, 64, &n, &err), KV_OK);
    int64_t n_want = 0;
    while (want[n_want] >= 0)
        n_want++;
    if (n != n_want) {
        for (int64_t i = 0; i < n; i++)
            print_message("got[%lld] = %d\n", (long long)i, got[i]);
    }
    assert_int_equal(n, n_want);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(got[i], want[i]);
}

#define EXPECT(v, s, add, parse, ...)                                                      \
    do {                                                                                   \
        const int want_[] = {__VA_ARGS__, -1};                                             \
        expect_tokens((v), (s), sizeof(s) - 1, (add), (parse), want_);                     \
    } while (0)

static void test_merge_order(void **state) {
    (void)state;
    kv_vocab *v = make_vocab(false);
    EXPECT(v, "abc", false, false, T_A, T_BC);  // "bc" scores higher than the leftmost "ab"
    EXPECT(v, "ab", false, false, T_AB);
    EXPECT(v, "aaa", false, false, T_AA, T_A);  // equal scores: leftmost pair first
    EXPECT(v, "aaaa", false, false, T_AA, T_AA);
    EXPECT(v, "aaaaa", false, false, T_AA, T_AA, T_A);
    kv_vocab_free(v);
}

static void test_space_prefix_and_escape(void **state) {
    (void)state;
    kv_vocab *v = make_vocab(true);
    EXPECT(v, "abc", false, false, T_SPA, T_BC);
    EXPECT(v, " a", false, false, T_SP, T_SPA); // "▁▁a": "▁▁" is no token
    EXPECT(v, "a a", false, false, T_SPA, T_SPA);
    EXPECT(v, "x x", false, false, T_SP, T_BYTE0 + 'x', T_SP, T_BYTE0 + 'x');
    kv_vocab_free(v);
    v = make_vocab(false);
    EXPECT(v, " ", false, false, T_SP);
    kv_vocab_free(v);
}

static void test_byte_fallback(void **state) {
    (void)state;
    kv_vocab *v = make_vocab(false);
    EXPECT(v, "\xc3\xa9", false, false, T_BYTE0 + 0xc3, T_BYTE0 + 0xa9); // "é" is no token
    EXPECT(v, "d", false, false, T_BYTE0 + 'd');
    EXPECT(v, "a\0b", false, false, T_A, T_BYTE0, T_B);
    // invalid UTF-8 still tokenizes: a stray byte, and a lead byte cut off by the end
    EXPECT(v, "a\xff", false, false, T_A, T_BYTE0 + 0xff);
    EXPECT(v, "\x80" "a", false, false, T_BYTE0 + 0x80, T_A);
    EXPECT(v, "a\xe2\x96", false, false, T_A, T_BYTE0 + 0xe2, T_BYTE0 + 0x96);
    // a lead byte swallows what follows as one character, as in llama.cpp
    EXPECT(v, "\xc3" "ab", false, false, T_BYTE0 + 0xc3, T_BYTE0 + 'a', T_B);
    EXPECT(v, "\xff" "ab", false, false, T_BYTE0 + 0xff, T_BYTE0 + 'a', T_BYTE0 + 'b');
    // ... even the bytes of an escaped space: more symbols than input bytes
    EXPECT(v, "\xc3 \xc3 ", false, false, T_BYTE0 + 0xc3, T_BYTE0 + 0xe2, T_BYTE0 + 0x96,
           T_BYTE0 + 0x81, T_BYTE0 + 0xc3, T_BYTE0 + 0xe2, T_BYTE0 + 0x96, T_BYTE0 + 0x81);
    kv_vocab_free(v);
}

static void test_special_flags(void **state) {
    (void)state;
    kv_vocab *v = make_vocab(true);
    kv_token out[4];
    int64_t n = -1;
    kv_err err;
    assert_int_equal(kv_tokenize(v, "", 0, false, false, out, 4, &n, &err), KV_OK);
    assert_int_equal(n, 0);
    EXPECT(v, "", true, false, T_BOS); // BOS only: no prefix space without text
    EXPECT(v, "a", true, false, T_BOS, T_SPA);
    kv_vocab_free(v);

    vocab_src src;
    make_src(&src);
    src.p.add_bos = false;
    src.p.add_eos = true;
    v = build(&src);
    EXPECT(v, "a", true, false, T_SPA, T_EOS);
    EXPECT(v, "a", false, false, T_SPA);
    kv_vocab_free(v);
}

static void test_parse_special(void **state) {
    (void)state;
    kv_vocab *v = make_vocab(true);
    // control tokens only with parse_special; text after a special token gets the prefix
    EXPECT(v, "a<|end|>a", false, true, T_SPA, T_END, T_SPA);
    EXPECT(v, "<s>a", false, true, T_BOS, T_SPA);
    EXPECT(v, "<|end|>", false, false, T_SP, T_BYTE0 + '<', T_BYTE0 + '|', T_BYTE0 + 'e',
           T_BYTE0 + 'n', T_BYTE0 + 'd', T_BYTE0 + '|', T_BYTE0 + '>');
    // user-defined tokens are split out either way
    EXPECT(v, "a<|user|>b", false, false, T_SPA, T_USER, T_SP, T_B);
    EXPECT(v, "<|user|><|user|>", false, false, T_USER, T_USER);
    EXPECT(v, "<unk>", false, true, T_UNK);
    kv_vocab_free(v);
}

static void test_rstrip_phi3(void **state) {
    (void)state;
    vocab_src src;
    make_src(&src);
    src.p.name = "Phi3 test"; // llama.cpp makes Phi-3's special tokens eat spaces on their right
    kv_vocab *v = build(&src);
    assert_true(kv_vocab_attr(v, T_USER) & KV_TOKEN_ATTR_RSTRIP);
    assert_true(kv_vocab_attr(v, T_EOS) & KV_TOKEN_ATTR_RSTRIP);
    assert_false(kv_vocab_attr(v, T_BOS) & KV_TOKEN_ATTR_RSTRIP);
    EXPECT(v, "<|user|>  \n a", false, false, T_USER, T_SPA);
    EXPECT(v, "<|user|>   ", false, false, T_USER);
    EXPECT(v, "<s>  a", false, true, T_BOS, T_SP, T_SP, T_SPA);
    kv_vocab_free(v);
    v = make_vocab(true);
    EXPECT(v, "<|user|> a", false, false, T_USER, T_SP, T_SPA);
    kv_vocab_free(v);
}

static void test_capacity(void **state) {
    (void)state;
    kv_vocab *v = make_vocab(false);
    kv_token out[2];
    int64_t n = -1;
    kv_err err;
    assert_int_equal(kv_tokenize(v, "dddd", 4, false, false, out, 2, &n, &err), KV_ERR_LIMIT);
    assert_int_equal(n, 4);
    assert_non_null(strstr(err.msg, "needs 4 tokens"));
    assert_int_equal(kv_tokenize(v, "dddd", 4, false, false, NULL, 0, &n, &err), KV_ERR_LIMIT);
    assert_int_equal(n, 4);
    kv_token *all = NULL;
    assert_int_equal(kv_tokenize_alloc(v, "dddd", 4, true, false, &all, &n, &err), KV_OK);
    assert_int_equal(n, 5);
    assert_int_equal(all[0], T_BOS);
    free(all);
    kv_vocab_free(v);
}

static void test_vocab_checks(void **state) {
    (void)state;
    vocab_src src;
    kv_vocab *v = NULL;
    kv_err err;
    make_src(&src);
    src.texts[T_X] = "ab"; // same text as T_AB
    assert_int_equal(kv_vocab_new(&src.p, &v, &err), KV_ERR_FORMAT);
    assert_null(v);
    assert_non_null(strstr(err.msg, "duplicate token"));

    make_src(&src);
    src.p.special[KV_SPECIAL_BOS] = N_TOK + 5; // outside: dropped, but add_bos needs it
    assert_int_equal(kv_vocab_new(&src.p, &v, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "add_bos_token"));

    make_src(&src);
    src.texts[T_X] = "";
    v = build(&src);
    size_t len = 0;
    assert_string_equal(kv_vocab_text(v, T_X, &len), "[EMPTY_269]");
    assert_int_equal(len, 11);
    assert_int_equal(kv_vocab_find(v, "bc", 2), T_BC);
    assert_int_equal(kv_vocab_find(v, "bcd", 3), KV_TOKEN_NULL);
    assert_null(kv_vocab_text(v, N_TOK, NULL));
    kv_vocab_free(v);

    kv_vocab_params none;
    kv_vocab_params_init(&none, KV_VOCAB_SPM);
    assert_int_equal(kv_vocab_new(&none, &v, &err), KV_ERR_INVALID);
    kv_vocab_free(NULL);
}

static void test_roles(void **state) {
    (void)state;
    kv_vocab *v = make_vocab(true);
    assert_int_equal(kv_vocab_bos(v), T_BOS);
    assert_int_equal(kv_vocab_eos(v), T_EOS);
    assert_int_equal(kv_vocab_unk(v), T_UNK);
    assert_int_equal(kv_vocab_pad(v), KV_TOKEN_NULL);
    assert_int_equal(kv_vocab_nl(v), T_BYTE0 + '\n');
    assert_int_equal(kv_vocab_eot(v), T_END); // found by its text, as llama.cpp does
    assert_true(kv_vocab_is_eog(v, T_EOS));
    assert_true(kv_vocab_is_eog(v, T_END));
    assert_false(kv_vocab_is_eog(v, T_A));
    assert_false(kv_vocab_is_eog(v, -1));
    assert_string_equal(kv_special_name(KV_SPECIAL_UNK), "unknown");
    kv_vocab_free(v);
}

// ---- detokenization ----

static void expect_detok(const kv_vocab *v, const kv_token *t, int64_t n, bool remove_special,
                         bool unparse_special, const char *want) {
    char buf[256];
    size_t len = 0;
    kv_err err;
    assert_int_equal(kv_detokenize(v, t, n, remove_special, unparse_special, buf, sizeof(buf),
                                   &len, &err), KV_OK);
    assert_int_equal(len, strlen(want));
    assert_string_equal(buf, want);
}

static void test_pieces(void **state) {
    (void)state;
    kv_vocab *v = make_vocab(true);
    size_t len = 0;
    const char *p = kv_vocab_piece(v, T_SPA, false, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(p, " a", 2);
    p = kv_vocab_piece(v, T_BYTE0 + 0xc3, false, &len);
    assert_int_equal(len, 1);
    assert_int_equal((unsigned char)p[0], 0xc3);
    kv_vocab_piece(v, T_BOS, false, &len);
    assert_int_equal(len, 0);
    p = kv_vocab_piece(v, T_BOS, true, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(p, "<s>", 3);
    p = kv_vocab_piece(v, T_USER, false, &len); // user-defined: always its text
    assert_int_equal(len, 8);
    assert_null(kv_vocab_piece(v, N_TOK, true, &len));

    char buf[4];
    kv_err err;
    assert_int_equal(kv_token_to_piece(v, T_SPA, false, buf, sizeof(buf), &len, &err), KV_OK);
    assert_memory_equal(buf, " a", 2);
    assert_int_equal(kv_token_to_piece(v, T_USER, false, buf, sizeof(buf), &len, &err),
                     KV_ERR_LIMIT);
    assert_int_equal(len, 8);
    assert_int_equal(kv_token_to_piece(v, -3, false, buf, sizeof(buf), &len, &err),
                     KV_ERR_INVALID);
    kv_vocab_free(v);
}

static void test_detokenize(void **state) {
    (void)state;
    kv_vocab *v = make_vocab(true);
    const kv_token plain[] = {T_SPA, T_BC};
    expect_detok(v, plain, 2, false, false, "abc"); // the prefix space is removed
    const kv_token bos[] = {T_BOS, T_SPA, T_BC, T_EOS};
    expect_detok(v, bos, 3, false, false, " abc"); // after a BOS it stays (llama.cpp)
    expect_detok(v, bos, 3, true, false, " abc");
    expect_detok(v, bos, 4, false, true, "<s> abc</s>");
    expect_detok(v, bos, 4, true, true, " abc</s>"); // EOS is only dropped when added
    const kv_token bytes[] = {T_BYTE0 + 0xc3, T_BYTE0 + 0xa9, T_SP};
    expect_detok(v, bytes, 3, false, false, "\xc3\xa9 ");

    char small[4];
    size_t len = 0;
    kv_err err;
    assert_int_equal(kv_detokenize(v, bos, 4, false, true, small, sizeof(small), &len, &err),
                     KV_ERR_LIMIT);
    assert_int_equal(len, 11);
    const kv_token bad[] = {T_A, N_TOK};
    assert_int_equal(kv_detokenize(v, bad, 2, false, false, small, sizeof(small), &len, &err),
                     KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "outside the vocabulary"));
    char *s = NULL;
    assert_int_equal(kv_detokenize_alloc(v, NULL, 0, false, false, &s, &len, &err), KV_OK);
    assert_string_equal(s, "");
    free(s);
    kv_vocab_free(v);
}

// Random texts over letters the vocabulary merges, spaces, newlines and a two-byte
// character come back unchanged from tokenize + detokenize. (Invalid UTF-8 before a
// space does not: its lead byte swallows the escaped space, as in llama.cpp.)
static void test_roundtrip_random(void **state) {
    (void)state;
    static const char *const atoms[] = {"a", "b", "c", " ", "  ", "\xc3\xa9", "\n", "d"};
    kv_vocab *v = make_vocab(true);
    uint32_t seed = 12345;
    for (int iter = 0; iter < 500; iter++) {
        char text[128];
        size_t n = 0;
        seed = seed * 1664525u + 1013904223u;
        int n_atoms = (int)(seed >> 24) % 40;
        for (int k = 0; k < n_atoms; k++) {
            seed = seed * 1664525u + 1013904223u;
            const char *a = atoms[(seed >> 16) % (sizeof(atoms) / sizeof(atoms[0]))];
            memcpy(text + n, a, strlen(a));
            n += strlen(a);
        }
        kv_token *toks = NULL;
        int64_t nt = 0;
        char *back = NULL;
        size_t nb = 0;
        kv_err err;
        assert_int_equal(kv_tokenize_alloc(v, text, n, false, false, &toks, &nt, &err), KV_OK);
        assert_int_equal(kv_detokenize_alloc(v, toks, nt, false, false, &back, &nb, &err), KV_OK);
        assert_int_equal(nb, n);
        assert_memory_equal(back, text, n);
        free(toks);
        free(back);
    }
    kv_vocab_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_order),
        cmocka_unit_test(test_space_prefix_and_escape),
        cmocka_unit_test(test_byte_fallback),
        cmocka_unit_test(test_special_flags),
        cmocka_unit_test(test_parse_special),
        cmocka_unit_test(test_rstrip_phi3),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_vocab_checks),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_detokenize),
        cmocka_unit_test(test_roundtrip_random),
    };
    return cmocka_run_group_tests_name("tokenizer_spm", tests, NULL, NULL);
}
