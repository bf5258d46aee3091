// Byte-level BPE on a small hand-built vocabulary: GPT-2's pre-tokenizer rules
// (contractions, letters, numbers, runs of spaces), merge order by rank, invalid
// UTF-8, special tokens, pieces and the space clean-up of detokenize.
#include "kvant/kv_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"

#define G_SP "\xc4\xa0" // "Ġ": GPT-2's stand-in for the byte 0x20

// Tokens 0..255 are the bytes (as GPT-2 characters); then merged tokens.
enum { T_AB = 256, T_ABC, T_GA, T_BC, T_TQ, T_12, T_G1, T_EOT, T_GG, T_EURO, T_XYZ, N_TOK };

static const char *const extra[] = {
    [T_AB - 256] = "ab",        [T_ABC - 256] = "abc",
    [T_GA - 256] = G_SP "a",    [T_BC - 256] = "bc",
    [T_TQ - 256] = "t'",        [T_12 - 256] = "12",
    [T_G1 - 256] = G_SP "1",    [T_EOT - 256] = "<|endoftext|>",
    [T_GG - 256] = G_SP G_SP,   [T_EURO - 256] = "\xe2\x82\xac", // not a GPT-2 character
    [T_XYZ - 256] = "xyz",      // no merge makes it
};

// Highest priority first.
static const char *const merges[] = {
    "a b", "ab c", G_SP " a", "b c", "t '", "1 2", G_SP " 1", G_SP " " G_SP,
};

// GPT-2's character for byte b, as UTF-8.
static void byte_char(unsigned b, char out[3]) {
    unsigned c = b;
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    if (!printable)
        c = 256 + (b <= 0x20 ? b : b <= 0xA0 ? 33 + (b - 0x7F) : 67);
    if (c < 0x80) {
        out[0] = (char)c;
        out[1] = '\0';
    } else {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        out[2] = '\0';
    }
}

static kv_vocab *make_vocab(const char *pre) {
    static char bytes[256][3];
    const char *texts[N_TOK];
    int32_t types[N_TOK];
    for (unsigned b = 0; b < 256; b++) {
        byte_char(b, bytes[b]);
        texts[b] = bytes[b];
        types[b] = KV_TOKEN_TYPE_NORMAL;
    }
    for (int i = T_AB; i < N_TOK; i++) {
        texts[i] = extra[i - 256];
        types[i] = i == T_EOT ? KV_TOKEN_TYPE_CONTROL : KV_TOKEN_TYPE_NORMAL;
    }
    kv_vocab_params p;
    kv_vocab_params_init(&p, KV_VOCAB_BPE);
    p.n_tokens = N_TOK;
    p.texts = texts;
    p.types = types;
    p.special[KV_SPECIAL_BOS] = p.special[KV_SPECIAL_EOS] = T_EOT;
    p.pre = pre;
    p.n_merges = sizeof(merges) / sizeof(merges[0]);
    p.merges = merges;
    kv_vocab *v = NULL;
    kv_err err;
    kv_status st = kv_vocab_new(&p, &v, &err);
    if (st != KV_OK)
        print_message("kv_vocab_new: %s\n", err.msg);
    assert_int_equal(st, KV_OK);
    return v;
}

static void expect_tokens(const kv_vocab *v, const char *s, size_t len, bool parse_special,
                          const int *want) {
    kv_token got[64];
    int64_t n = -1;
    kv_err err;
    assert_int_equal(kv_tokenize(v, s, len, false, parse_special, got, 64, &n, &err), KV_OK);
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

#define EXPECT(v, s, parse, ...)                                                           \
    do {                                                                                   \
        const int want_[] = {__VA_ARGS__, -1};                                             \
        expect_tokens((v), (s), sizeof(s) - 1, (parse), want_);                            \
    } while (0)

static void test_merge_rank(void **state) {
    (void)state;
    kv_vocab *v = make_vocab("gpt-2");
    EXPECT(v, "abc", false, T_ABC);          // "a b" (rank 0), then "ab c" (rank 1)
    EXPECT(v, "xbc", false, 'x', T_BC);
    EXPECT(v, " abc", false, ' ', T_ABC);    // "a b" outranks "Ġ a"; "Ġ abc" is no merge
    EXPECT(v, " a", false, T_GA);
    EXPECT(v, " 12", false, ' ', T_12);      // "1 2" outranks "Ġ 1"
    kv_vocab_free(v);
}

static void test_pretokenizer(void **state) {
    (void)state;
    kv_vocab *v = make_vocab("gpt-2");
    EXPECT(v, "it's", false, 'i', 't', '\'', 's'); // "'s" is its own word: "t '" never merges
    EXPECT(v, "t'x", false, 't', '\'', 'x');        // "'x" is no contraction: three words
    EXPECT(v, "a  b", false, 'a', ' ', ' ', 'b');  // "\s+(?!\S)" leaves a space to " b"
    EXPECT(v, "a  ", false, 'a', T_GG);            // trailing spaces stay together
    EXPECT(v, "a \n", false, 'a', ' ', '\n');
    EXPECT(v, "a\xc3\xa9", false, 'a', 0xc3, 0xa9);   // é is a letter: one word, two bytes
    EXPECT(v, "!!a", false, '!', '!', 'a');
    kv_vocab_free(v);
}

// llama-bpe (Llama 3) takes a word that is a token whole, merges or not
// (llama.cpp's ignore_merges); it also splits digits in threes.
static void test_llama_bpe(void **state) {
    (void)state;
    kv_vocab *v = make_vocab("llama-bpe");
    EXPECT(v, "xyz", false, T_XYZ);
    EXPECT(v, "xyzxyz", false, 'x', 'y', 'z', 'x', 'y', 'z');
    EXPECT(v, "1212", false, T_12, '1', '2');  // "121" | "2": the second "12" is cut
    EXPECT(v, "IT'S", false, 'I', 'T', '\'', 'S'); // (?i:'s) is its own word
    kv_vocab_free(v);
    v = make_vocab("gpt-2");
    EXPECT(v, "xyz", false, 'x', 'y', 'z');
    EXPECT(v, "1212", false, T_12, T_12);
    kv_vocab_free(v);
}

static void test_invalid_and_special(void **state) {
    (void)state;
    kv_vocab *v = make_vocab("gpt-2");
    EXPECT(v, "\xff", false, 0xef, 0xbf, 0xbd);             // U+FFFD stands in
    EXPECT(v, "\xf4\x90\x80\x80", false, 0xef, 0xbf, 0xbd); // over U+10FFFF
    EXPECT(v, "a<|endoftext|>", true, 'a', T_EOT);
    EXPECT(v, "<|endoftext|>", false, '<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|',
           '>');
    kv_vocab_free(v);
}

static void test_pieces_and_clean(void **state) {
    (void)state;
    kv_vocab *v = make_vocab("gpt-2");
    size_t len = 0;
    const char *p = kv_vocab_piece(v, T_GA, false, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(p, " a", 2);
    p = kv_vocab_piece(v, 0xc3, false, &len);
    assert_int_equal(len, 1);
    assert_int_equal((unsigned char)p[0], 0xc3);
    p = kv_vocab_piece(v, T_EURO, false, &len); // llama.cpp's marker for a non-GPT-2 character
    assert_int_equal(len, strlen("[UNK_BYTE_0xe282ac\xe2\x82\xac]"));
    assert_memory_equal(p, "[UNK_BYTE_0xe282ac\xe2\x82\xac]", len);
    assert_int_equal(kv_vocab_nl(v), '\n');

    const kv_token t[] = {'a', ' ', ',', ' ', '\'', ' ', 's', ' ', '\'', 's', ' ', '.'};
    char out[32];
    kv_err err;
    assert_int_equal(kv_detokenize(v, t, 12, false, false, out, sizeof(out), &len, &err), KV_OK);
    assert_string_equal(out, "a,'s's."); // " ," and " ." lose the space; so do " ' " and " 's"
    kv_vocab_free(v);
    v = make_vocab("trillion"); // a GPT-2-pattern vocabulary without the clean-up
    assert_int_equal(kv_detokenize(v, t, 12, false, false, out, sizeof(out), &len, &err), KV_OK);
    assert_string_equal(out, "a , ' s 's .");
    kv_vocab_free(v);
}

// Any valid UTF-8 comes back unchanged when the vocabulary does not clean spaces.
static void test_roundtrip_random(void **state) {
    (void)state;
    static const char *const atoms[] = {"a", "b", "c", " ", "  ", "\xc3\xa9", "\n", "1", "'s",
                                        "!", "\xf0\x9f\xa6\x99", "\t", "x"};
    kv_vocab *v = make_vocab("trillion");
    uint32_t seed = 99;
    for (int iter = 0; iter < 500; iter++) {
        char text[256];
        size_t n = 0;
        seed = seed * 1664525u + 1013904223u;
        int n_atoms = (int)(seed >> 24) % 50;
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

static void test_bad_params(void **state) {
    (void)state;
    kv_vocab_params p;
    kv_vocab_params_init(&p, KV_VOCAB_BPE);
    assert_int_equal(p.special[KV_SPECIAL_BOS], 11); // llama.cpp's BPE defaults
    assert_false(p.add_bos);
    const char *texts[] = {"a", "b"};
    p.n_tokens = 2;
    p.texts = texts;
    p.special[KV_SPECIAL_BOS] = p.special[KV_SPECIAL_EOS] = KV_TOKEN_NULL;
    p.pre = "tekken"; // a pattern kvant does not implement
    kv_vocab *v = NULL;
    kv_err err;
    assert_int_equal(kv_vocab_new(&p, &v, &err), KV_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "pre-tokenizer 'tekken'"));
    p.pre = NULL;
    assert_int_equal(kv_vocab_new(&p, &v, &err), KV_ERR_UNSUPPORTED);
    p.pre = "gpt-2";
    const char *odd[] = {"a b", "nospace", "a b"}; // no space: pairs nothing; repeat: first wins
    p.merges = odd;
    p.n_merges = 3;
    assert_int_equal(kv_vocab_new(&p, &v, &err), KV_OK);
    kv_token ids[4];
    int64_t n = 0;
    assert_int_equal(kv_tokenize(v, "ab", 2, false, false, ids, 4, &n, &err), KV_OK);
    assert_int_equal(n, 2); // "ab" is no token: the pieces stay apart
    kv_vocab_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_rank),
        cmocka_unit_test(test_pretokenizer),
        cmocka_unit_test(test_llama_bpe),
        cmocka_unit_test(test_invalid_and_special),
        cmocka_unit_test(test_pieces_and_clean),
        cmocka_unit_test(test_roundtrip_random),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests_name("tokenizer_bpe", tests, NULL, NULL);
}
