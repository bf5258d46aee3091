// The BPE pre-tokenizers (PCRE2): how each family's expressions cut text into
// words, checked on cases where the families differ (digit runs, contractions,
// newlines, CJK, punctuation, Unicode whitespace), and that the words always tile
// the text.
#include "kvant/kv_tokenizer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "tokenizer/tokenizer_int.h"

// The words of text as "|"-joined pieces.
static char *split(const char *pre, const char *text) {
    kv__pretok *p = NULL;
    kv_err err;
    if (kv__pretok_new(pre, &p, &err) != KV_OK)
        fail_msg("%s: %s", pre, err.msg);
    kv__pieces w = {NULL, 0, 0};
    size_t n = strlen(text);
    assert_int_equal(kv__pretok_split(p, text, n, &w, &err), KV_OK);
    char *out = malloc(2 * n + 2);
    size_t j = 0, next = 0;
    for (size_t i = 0; i < w.n; i++) {
        assert_int_equal(w.p[i].off, next); // the words tile the text, in order
        assert_true(w.p[i].len > 0);
        next = w.p[i].off + w.p[i].len;
        if (i)
            out[j++] = '|';
        memcpy(out + j, text + w.p[i].off, w.p[i].len);
        j += w.p[i].len;
    }
    assert_int_equal(next, n);
    out[j] = '\0';
    free(w.p);
    kv__pretok_free(p);
    return out;
}

static void expect_split(const char *pre, const char *text, const char *want) {
    char *got = split(pre, text);
    if (strcmp(got, want) != 0)
        fail_msg("%s: '%s' splits as '%s', want '%s'", pre, text, got, want);
    free(got);
}

static void test_gpt2_family(void **state) {
    (void)state;
    expect_split("gpt-2", "it's 12345 ok", "it|'s| 12345| ok");
    expect_split("gpt-2", "a  b", "a| | b");            // \s+(?!\S) leaves one space
    expect_split("gpt-2", "IT'S", "IT|'|S");            // contractions are lower case only
    expect_split("mpt", "x!!  y", "x|!!| | y");
    expect_split("starcoder", "ab 123", "ab| |1|2|3");  // digits one by one first
    expect_split("refact", "ab 123", "ab| |1|2|3");
    expect_split("smollm", "v1.2", "v|1|.|2");
    expect_split("falcon", "a,b 12345", "a|,|b| |123|45"); // punctuation, GPT-2, digit triples
    expect_split("falcon", "x1234567", "x|123|456|7");
}

static void test_llama3_qwen2(void **state) {
    (void)state;
    expect_split("llama-bpe", "it's IT'S", "it|'s| IT|'S");    // (?i:...) contractions
    expect_split("llama-bpe", "1234567", "123|456|7");
    expect_split("qwen2", "1234", "1|2|3|4");
    expect_split("llama-bpe", "a\n\n  b", "a|\n\n| | b");
    expect_split("llama-bpe", "x;\n\ny", "x|;\n\n|y");           // punctuation keeps newlines
    expect_split("llama-bpe", "$hello", "$hello");              // one non-letter leads a word
    expect_split("llama-bpe", "a \xc2\x85 b", "a| \xc2\x85| b"); // U+0085 is whitespace
    expect_split("qwen2", "a\xe3\x80\x80\xe3\x80\x80" "b", "a|\xe3\x80\x80|\xe3\x80\x80" "b");
}

static void test_deepseek(void **state) {
    (void)state;
    // v3: digits by three, Chinese/Japanese runs, then letters with marks, punctuation
    expect_split("deepseek-v3", "abc12345\xe4\xbd\xa0\xe5\xa5\xbd!!x",
                 "abc|123|45|\xe4\xbd\xa0\xe5\xa5\xbd|!!|x");
    expect_split("deepseek-v3", ".method x", ".method| x"); // ASCII punctuation leads a word
    // coder: newlines alone, letters with one leading space, punctuation, digits one by one
    expect_split("deepseek-coder", "ab\ncd 12", "ab|\n|cd| |1|2");
    expect_split("deepseek-coder", " hi, there", " hi|,| there");
    // llm: Hangul runs, digit runs whole, trailing spaces
    expect_split("deepseek-llm", "\xed\x95\x9c\xea\xb8\x80 123  ", "\xed\x95\x9c\xea\xb8\x80| |123|  ");
}

static void test_unknown(void **state) {
    (void)state;
    kv__pretok *p = NULL;
    kv_err err;
    assert_int_equal(kv__pretok_new("tekken", &p, &err), KV_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'tekken'"));
    assert_null(p);
    assert_true(kv_pretok_known("llama-bpe"));
    assert_true(kv_pretok_known("deepseek-r1-qwen"));
    assert_false(kv_pretok_known("default"));
    assert_false(kv_pretok_known("llama"));
    // llama-bpe adds BOS by default (a GGUF key may still turn it off)
    kv_vocab_params vp;
    kv_vocab_params_init(&vp, KV_VOCAB_BPE);
    kv_vocab_params_set_pre(&vp, "llama-bpe");
    assert_true(vp.add_bos);
    kv_vocab_params_init(&vp, KV_VOCAB_BPE);
    kv_vocab_params_set_pre(&vp, "qwen2");
    assert_false(vp.add_bos);
}

// Long inputs stay linear enough and never fail: whitespace and digit runs.
static void test_long_runs(void **state) {
    (void)state;
    size_t n = 200000;
    char *text = malloc(n + 2);
    memset(text, ' ', n);
    text[n] = 'x';
    text[n + 1] = '\0';
    static const char *const pres[] = {"llama-bpe", "qwen2", "deepseek-v3", "deepseek-llm",
                                       "deepseek-coder", "falcon", "starcoder", "gpt-2"};
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
        char *got = split(pres[i], text);
        assert_int_equal(strlen(got) >= n + 1, 1);
        free(got);
    }
    memset(text, '7', n);
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++)
        free(split(pres[i], text));
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2_family), cmocka_unit_test(test_llama3_qwen2),
        cmocka_unit_test(test_deepseek),    cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_long_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
