// WordPiece ("bert") on a small hand-built vocabulary: uncased BERT normalization
// (lowercase, accents stripped, control characters dropped, CJK split), splits at
// whitespace and punctuation, longest-match pieces with continuations, [UNK] for a
// word with no cut or over 100 characters, [CLS] ... [SEP] with add_special, and
// pieces (a word start's "▁" as a space).
#include "kvant/kv_tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "kv_test.h"

#define WS "\xe2\x96\x81" // "▁": a word start in the GGUF vocabulary

enum { PAD, UNK, CLS, SEP, MASK, W_UN, C_AFF, C_ABLE, W_CAFE, W_A, C_A, W_COMMA, W_ZHONG, W_X, N_TOK };

static const char *const texts[N_TOK] = {
    [PAD] = "[PAD]", [UNK] = "[UNK]", [CLS] = "[CLS]", [SEP] = "[SEP]", [MASK] = "[MASK]",
    [W_UN] = WS "un", [C_AFF] = "aff", [C_ABLE] = "able", [W_CAFE] = WS "cafe",
    [W_A] = WS "a", [C_A] = "a", [W_COMMA] = WS ",", [W_ZHONG] = WS "\xe4\xb8\xad", [W_X] = WS "x",
};

static kv_vocab *make_vocab(void) {
    int32_t types[N_TOK];
    for (int i = 0; i < N_TOK; i++)
        types[i] = i <= MASK ? KV_TOKEN_TYPE_CONTROL : KV_TOKEN_TYPE_NORMAL;
    kv_vocab_params p;
    kv_vocab_params_init(&p, KV_VOCAB_WPM);
    p.n_tokens = N_TOK;
    p.texts = texts;
    p.types = types;
    p.special[KV_SPECIAL_BOS] = CLS;
    p.special[KV_SPECIAL_UNK] = UNK;
    p.special[KV_SPECIAL_SEP] = SEP;
    p.special[KV_SPECIAL_PAD] = PAD;
    p.special[KV_SPECIAL_MASK] = MASK;
    kv_vocab *v = NULL;
    kv_err err;
    assert_int_equal(kv_vocab_new(&p, &v, &err), KV_OK);
    return v;
}

static void expect(kv_vocab *v, const char *text, bool add_special, const kv_token *want,
                   int64_t n_want) {
    kv_token *ids = NULL;
    int64_t n = 0;
    kv_err err;
    assert_int_equal(kv_tokenize_alloc(v, text, strlen(text), add_special, true, &ids, &n, &err),
                     KV_OK);
    assert_int_equal(n, n_want);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
    free(ids);
}

static void test_pieces_and_unknown(void **state) {
    (void)state;
    kv_vocab *v = make_vocab();
    const kv_token a[] = {W_UN, C_AFF, C_ABLE, W_COMMA, W_CAFE};
    expect(v, "UNAFFABLE,Café", false, a, 5);          // lowercase, accent stripped, split at ","
    const kv_token b[] = {W_A, C_A, C_A, UNK, W_ZHONG, W_X}; // "ab": no cut -> [UNK]
    expect(v, "\taaa\x01 ab\xe4\xb8\xadx", false, b, 6); // control dropped, CJK a word of its own
    const kv_token c[] = {CLS, W_X, MASK, SEP};
    expect(v, "x[MASK]", true, c, 4);
    char longw[102];
    memset(longw, 'a', 101);
    longw[101] = '\0';
    const kv_token d[] = {UNK};
    expect(v, longw, false, d, 1); // 101 characters: over max_input_chars_per_word
    longw[100] = '\0';
    kv_token *ids = NULL;
    int64_t n = 0;
    kv_err err;
    assert_int_equal(kv_tokenize_alloc(v, longw, 100, false, false, &ids, &n, &err), KV_OK);
    assert_int_equal(n, 100); // 100: still cut
    free(ids);
    expect(v, " \xef\xbf\xbd \xff ", false, NULL, 0); // U+FFFD and a bad byte: dropped
    size_t len = 0;
    const char *p = kv_vocab_piece(v, W_CAFE, false, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p, " cafe", 5);
    p = kv_vocab_piece(v, C_ABLE, false, &len);
    assert_int_equal(len, 4);
    assert_int_equal(kv_vocab_type_of(v), KV_VOCAB_WPM);
    kv_vocab_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_and_unknown),
    };
    return cmocka_run_group_tests_name("tokenizer_wpm", tests, NULL, NULL);
}
