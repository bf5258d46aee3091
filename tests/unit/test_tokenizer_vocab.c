// Vocabularies read from GGUF files written by llama.cpp: every case of the
// ggml-vocab-*.gguf.inp/.out pairs (read the way llama.cpp's test-tokenizer-0 reads
// them: add_special and parse_special off), the demo model's llama-tokenize golden,
// round trips and streaming over the held-out text, and bad tokenizer metadata.
#define _POSIX_C_SOURCE 200809L // clock_gettime
#include "kvant/kv_tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvant/kv_core.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_vocab_gguf.h"
#include "kv_test.h"

#define MAX_FILE ((size_t)64 << 20)
#define CASE_SEP "\n__ggml_vocab_test__\n"

// Reads a file of ../shared into *buf (the caller frees it). The caller's
// pointer is filled directly: returning a local that kv_read_file wrote made
// gcc 12 at -O3 take later pointer arithmetic on the text for a dangling
// pointer to that local (-Werror=dangling-pointer, a false positive).
static void read_shared(const char *rel, char **buf, size_t *n) {
    kv_err err;
    kv_status st = kv_read_file(kv_test_shared_path(rel), MAX_FILE, buf, n, &err);
    if (st != KV_OK)
        print_message("%s\n", err.msg);
    assert_int_equal(st, KV_OK);
}

static kv_vocab *load_vocab(const char *path) {
    kv_gguf *g = NULL;
    kv_vocab *v = NULL;
    kv_err err;
    kv_status st = kv_gguf_open(path, &g, &err);
    if (st == KV_OK)
        st = kv_vocab_from_gguf(g, &v, &err);
    if (st != KV_OK)
        print_message("%s\n", err.msg);
    assert_int_equal(st, KV_OK);
    kv_gguf_close(g);
    return v;
}

static kv_vocab *load_shared_vocab(const char *name) {
    char rel[256];
    snprintf(rel, sizeof(rel), "testdata/vocab/%s", name);
    return load_vocab(kv_test_shared_path(rel));
}

// Parses one .out line (ids separated by spaces, surrounding whitespace ignored).
static int64_t parse_ids(const char *line, size_t len, kv_token *ids, int64_t cap) {
    int64_t n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\r' || line[i] == '\t'))
            i++;
        if (i == len)
            break;
        assert_true(n < cap);
        ids[n++] = (kv_token)strtol(line + i, NULL, 10);
        while (i < len && line[i] != ' ')
            i++;
    }
    return n;
}

// Checks that streaming the pieces through kv_utf8_stream gives the joined pieces
// (for SPM: what kv_detokenize gives, less its prefix-space rule) and that each push
// of valid UTF-8 input is itself valid UTF-8.
static void check_stream(const kv_vocab *v, const kv_token *ids, int64_t n, const char *text,
                         size_t len) {
    bool text_ok = kv_utf8_valid(text, len, NULL);
    char *joined = malloc(len * 3 + 64);
    char *want = malloc(len * 3 + 64);
    size_t total = 0, want_len = 0;
    kv_utf8_stream s = {0};
    for (int64_t i = 0; i < n; i++) {
        size_t plen = 0;
        const char *p = kv_vocab_piece(v, ids[i], false, &plen);
        memcpy(want + want_len, p, plen);
        want_len += plen;
        size_t w = kv_utf8_stream_push(&s, p, plen, joined + total);
        if (text_ok)
            assert_true(kv_utf8_valid(joined + total, w, NULL));
        total += w;
    }
    total += kv_utf8_stream_flush(&s, joined + total);
    if (kv_vocab_type_of(v) != KV_VOCAB_SPM) {
        assert_int_equal(total, want_len);
        assert_memory_equal(joined, want, want_len);
        free(want);
        free(joined);
        return;
    }
    free(want);
    kv_err err;
    assert_int_equal(kv_detokenize_alloc(v, ids, n, false, false, &want, &want_len, &err), KV_OK);
    // kv_detokenize drops the prefix space; the raw pieces keep it
    size_t skip = total > want_len ? 1 : 0;
    assert_int_equal(total - skip, want_len);
    assert_memory_equal(joined + skip, want, want_len);
    free(want);
    free(joined);
}

// Runs every case of <vocab>.inp/.out.
static void run_cases(const char *vocab_name) {
    KV_NEED_SHARED();
    kv_vocab *v = load_shared_vocab(vocab_name);
    char rel[256];
    size_t n_inp = 0, n_out = 0;
    snprintf(rel, sizeof(rel), "testdata/vocab/%s.inp", vocab_name);
    char *inp = NULL;
    read_shared(rel, &inp, &n_inp);
    snprintf(rel, sizeof(rel), "testdata/vocab/%s.out", vocab_name);
    char *out = NULL;
    read_shared(rel, &out, &n_out);
    const size_t sep_len = strlen(CASE_SEP);
    size_t pos = 0;
    const char *line = out;
    int n_cases = 0;
    while (pos < n_inp) {
        const char *next = strstr(inp + pos, CASE_SEP);
        size_t end = next ? (size_t)(next - inp) : n_inp;
        const char *eol = strchr(line, '\n');
        assert_non_null(eol); // as many output lines as cases
        kv_token want[512], got[512];
        int64_t n_want = parse_ids(line, (size_t)(eol - line), want, 512), n_got = 0;
        kv_err err;
        assert_int_equal(kv_tokenize(v, inp + pos, end - pos, false, false, got, 512, &n_got,
                                     &err), KV_OK);
        if (n_got != n_want || memcmp(got, want, (size_t)n_got * sizeof(kv_token)) != 0)
            fail_msg("%s case %d ('%.*s'): %lld tokens, expected %lld", vocab_name, n_cases + 1,
                     (int)(end - pos), inp + pos, (long long)n_got, (long long)n_want);
        check_stream(v, got, n_got, inp + pos, end - pos);
        n_cases++;
        line = eol + 1;
        pos = next ? end + sep_len : n_inp;
    }
    assert_int_equal(*line, '\0');
    print_message("%s: %d cases match llama.cpp\n", vocab_name, n_cases);
    assert_int_equal(n_cases, 46);
    free(inp);
    free(out);
    kv_vocab_free(v);
}

static void test_llama_spm_cases(void **state) {
    (void)state;
    run_cases("ggml-vocab-llama-spm.gguf");
}

static void test_phi3_cases(void **state) {
    (void)state;
    run_cases("ggml-vocab-phi-3.gguf");
}

static void test_gpt2_cases(void **state) {
    (void)state;
    run_cases("ggml-vocab-gpt-2.gguf");
}

static void test_llama_spm_metadata(void **state) {
    (void)state;
    KV_NEED_SHARED();
    kv_vocab *v = load_shared_vocab("ggml-vocab-llama-spm.gguf");
    assert_int_equal(kv_vocab_type_of(v), KV_VOCAB_SPM);
    assert_int_equal(kv_vocab_n_tokens(v), 32000);
    assert_int_equal(kv_vocab_bos(v), 1);
    assert_int_equal(kv_vocab_eos(v), 2);
    assert_int_equal(kv_vocab_unk(v), 0);
    assert_int_equal(kv_vocab_pad(v), KV_TOKEN_NULL);
    assert_int_equal(kv_vocab_eot(v), KV_TOKEN_NULL);
    assert_int_equal(kv_vocab_nl(v), 13); // <0x0A>
    assert_true(kv_vocab_add_bos(v));
    assert_false(kv_vocab_add_eos(v));
    assert_true(kv_vocab_add_space_prefix(v));
    assert_true(kv_vocab_is_eog(v, 2));
    assert_int_equal(kv_vocab_attr(v, 0), KV_TOKEN_ATTR_UNKNOWN);
    assert_int_equal(kv_vocab_attr(v, 1), KV_TOKEN_ATTR_CONTROL);
    assert_string_equal(kv_vocab_text(v, 15043, NULL), "\xe2\x96\x81Hello");
    kv_token ids[8];
    int64_t n = 0;
    kv_err err;
    // parse_special turns "<s>" in the text into BOS; the text after it gets a space
    assert_int_equal(kv_tokenize(v, "<s>Hello", 8, false, true, ids, 8, &n, &err), KV_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 15043);
    kv_vocab_free(v);
}

static void test_phi3_metadata(void **state) {
    (void)state;
    KV_NEED_SHARED();
    kv_vocab *v = load_shared_vocab("ggml-vocab-phi-3.gguf");
    assert_int_equal(kv_vocab_n_tokens(v), 32064);
    assert_int_equal(kv_vocab_eos(v), 32000);
    assert_int_equal(kv_vocab_pad(v), 32000);
    assert_int_equal(kv_vocab_eot(v), 32007); // "<|end|>", found by its text
    assert_true(kv_vocab_is_eog(v, 32000));
    assert_true(kv_vocab_is_eog(v, 32007));
    assert_false(kv_vocab_is_eog(v, 32010));
    assert_true(kv_vocab_attr(v, 32010) & KV_TOKEN_ATTR_RSTRIP); // Phi-3's special tokens
    assert_false(kv_vocab_attr(v, 32000) & KV_TOKEN_ATTR_RSTRIP);
    kv_token ids[16];
    int64_t n = 0;
    kv_err err;
    // "<|user|>" eats the newline after it; "Hi" then starts a fragment (prefix space)
    assert_int_equal(kv_tokenize(v, "<|user|>\nHi<|end|>", 18, true, true, ids, 16, &n, &err),
                     KV_OK);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 32010);
    assert_int_equal(ids[2], kv_vocab_find(v, "\xe2\x96\x81Hi", 5));
    assert_int_equal(ids[3], 32007);
    char text[64];
    size_t len = 0;
    assert_int_equal(kv_detokenize(v, ids, n, true, true, text, sizeof(text), &len, &err), KV_OK);
    assert_string_equal(text, "<|user|> Hi<|end|>");
    assert_int_equal(kv_detokenize(v, ids, n, true, false, text, sizeof(text), &len, &err), KV_OK);
    assert_string_equal(text, " Hi");
    kv_vocab_free(v);
}

// GPT-2: BPE defaults, the newline token, space clean-up on detokenize, and the
// held-out text back from its tokens.
static void test_gpt2_metadata(void **state) {
    (void)state;
    KV_NEED_SHARED();
    kv_vocab *v = load_shared_vocab("ggml-vocab-gpt-2.gguf");
    assert_int_equal(kv_vocab_type_of(v), KV_VOCAB_BPE);
    assert_int_equal(kv_vocab_n_tokens(v), 50257);
    assert_int_equal(kv_vocab_bos(v), 50256);
    assert_int_equal(kv_vocab_eos(v), 50256);
    assert_int_equal(kv_vocab_unk(v), KV_TOKEN_NULL);
    assert_int_equal(kv_vocab_nl(v), 198); // "\n" is the byte-level token "Ċ"
    assert_false(kv_vocab_add_bos(v));
    assert_false(kv_vocab_add_space_prefix(v));
    assert_true(kv_vocab_is_eog(v, 50256));
    kv_token ids[16];
    int64_t n = 0;
    kv_err err;
    const char *s = "Hi , you ' re ok !";
    assert_int_equal(kv_tokenize(v, s, strlen(s), true, false, ids, 16, &n, &err), KV_OK);
    char text[64];
    size_t len = 0;
    assert_int_equal(kv_detokenize(v, ids, n, false, false, text, sizeof(text), &len, &err),
                     KV_OK);
    assert_string_equal(text, "Hi, you're ok!"); // llama.cpp's clean_up_tokenization_spaces

    size_t n_text = 0;
    char *kjv = NULL;
    read_shared("data/kjv-test.txt", &kjv, &n_text);
    kv_token *all = NULL;
    int64_t n_all = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kv_tokenize_alloc(v, kjv, n_text, false, false, &all, &n_all, &err), KV_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("kjv-test.txt with GPT-2's BPE: %lld tokens in %.1f ms\n", (long long)n_all,
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    check_stream(v, all, n_all, kjv, n_text); // the raw pieces are the text again
    char *back = NULL;
    assert_int_equal(kv_detokenize_alloc(v, all, n_all, false, false, &back, &len, &err), KV_OK);
    assert_int_equal(len, n_text);
    assert_memory_equal(back, kjv, n_text);
    free(back);
    free(all);
    free(kjv);
    kv_vocab_free(v);
}

// The held-out text survives tokenize + detokenize; with BOS added, llama.cpp's
// detokenizer keeps the prefix space of the first word.
static void test_roundtrip_kjv(void **state) {
    (void)state;
    KV_NEED_SHARED();
    kv_vocab *v = load_shared_vocab("ggml-vocab-llama-spm.gguf");
    size_t n = 0;
    char *text = NULL;
    read_shared("data/kjv-test.txt", &text, &n);
    size_t bad = 0;
    assert_true(kv_utf8_valid(text, n, &bad));
    kv_token *ids = NULL;
    int64_t n_ids = 0;
    char *back = NULL;
    size_t n_back = 0;
    kv_err err;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kv_tokenize_alloc(v, text, n, false, false, &ids, &n_ids, &err), KV_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("kjv-test.txt: %zu bytes -> %lld tokens in %.1f ms\n", n, (long long)n_ids,
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    assert_int_equal(kv_detokenize_alloc(v, ids, n_ids, false, false, &back, &n_back, &err),
                     KV_OK);
    assert_int_equal(n_back, n);
    assert_memory_equal(back, text, n);
    check_stream(v, ids, n_ids, text, n);
    free(ids);
    free(back);

    assert_int_equal(kv_tokenize_alloc(v, text, n, true, false, &ids, &n_ids, &err), KV_OK);
    assert_int_equal(ids[0], 1);
    assert_int_equal(kv_detokenize_alloc(v, ids, n_ids, true, false, &back, &n_back, &err),
                     KV_OK);
    assert_int_equal(n_back, n + 1);
    assert_int_equal(back[0], ' ');
    assert_memory_equal(back + 1, text, n);
    free(ids);
    free(back);
    free(text);
    kv_vocab_free(v);
}

// The demo model's vocabulary against llama-tokenize's output (BOS added, special
// tokens parsed, as llama-tokenize does by default). The converted demo GGUF is not
// part of the tree yet: KV_DEMO_GGUF names it.
static void test_demo_golden(void **state) {
    (void)state;
    KV_NEED_SHARED();
    const char *path = getenv("KV_DEMO_GGUF");
    if (!path || !*path) {
        print_message("skipped: set KV_DEMO_GGUF to the converted kjv-llama-7m GGUF to compare "
                      "with llama-tokenize's golden ids\n");
        skip();
    }
    kv_vocab *v = load_vocab(path);
    json_error_t jerr;
    json_t *golden = json_load_file(kv_test_shared_path("testdata/golden/kjv-llama-7m.json"), 0,
                                    &jerr);
    assert_non_null(golden);
    json_t *tt = json_object_get(golden, "tokenize_test");
    size_t n = 0;
    char *text = NULL;
    read_shared("data/kjv-test.txt", &text, &n);
    kv_token *ids = NULL;
    int64_t n_ids = 0;
    kv_err err;
    assert_int_equal(kv_tokenize_alloc(v, text, n, true, true, &ids, &n_ids, &err), KV_OK);
    assert_int_equal(n_ids, json_integer_value(json_object_get(tt, "n_tokens")));
    json_t *first = json_object_get(tt, "first_32");
    for (size_t i = 0; i < json_array_size(first); i++)
        assert_int_equal(ids[i], json_integer_value(json_array_get(first, i)));
    char *joined = malloc((size_t)n_ids * 12 + 1);
    size_t len = 0;
    for (int64_t i = 0; i < n_ids; i++)
        len += (size_t)sprintf(joined + len, i ? ",%d" : "%d", ids[i]);
    char hex[65];
    kv_test_sha256_hex(joined, len, hex);
    assert_string_equal(hex, json_string_value(json_object_get(tt, "sha256_of_ids")));
    free(joined);
    free(ids);
    free(text);
    json_decref(golden);
    kv_vocab_free(v);
}

// ---- bad or unusual tokenizer metadata, written with the GGUF writer ----

typedef enum {
    BAD_NONE,
    BAD_NO_MODEL,
    BAD_MODEL_T5,
    BAD_SHORT_SCORES,
    BAD_TYPES_F32,
    BAD_TOKENS_U32,
    BAD_DUPLICATE,
    BAD_ADD_BOS_STR,
    ODD_IDS, // a BOS id outside the vocabulary, EOS as u64, integer scores
} bad_kind;

// Writes a four-token vocabulary with one defect to dir/v.gguf and loads it.
static kv_status load_bad(const char *dir, bad_kind kind, kv_vocab **v, kv_err *err) {
    const char *toks[] = {"<unk>", "<s>", "</s>", kind == BAD_DUPLICATE ? "<s>" : "\xe2\x96\x81"};
    const float scores[] = {0, 0, 0, -1};
    const int32_t iscores[] = {0, 0, 0, -1};
    const int32_t types[] = {2, 3, 3, 1};
    const uint32_t u32s[] = {1, 2, 3, 4};
    kv_gguf_writer *w = NULL;
    char path[4200];
    snprintf(path, sizeof(path), "%s/v.gguf", dir);
    assert_int_equal(kv_gguf_writer_new(&w, err), KV_OK);
    if (kind != BAD_NO_MODEL)
        kv_gguf_set_str(w, "tokenizer.ggml.model", kind == BAD_MODEL_T5 ? "t5" : "llama", err);
    if (kind == BAD_TOKENS_U32)
        kv_gguf_set_arr(w, "tokenizer.ggml.tokens", KV_GGUF_U32, u32s, 4, err);
    else
        kv_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4, err);
    if (kind == ODD_IDS)
        kv_gguf_set_arr(w, "tokenizer.ggml.scores", KV_GGUF_I32, iscores, 4, err);
    else
        kv_gguf_set_arr(w, "tokenizer.ggml.scores", KV_GGUF_F32, scores,
                        kind == BAD_SHORT_SCORES ? 3 : 4, err);
    kv_gguf_set_arr(w, "tokenizer.ggml.token_type", kind == BAD_TYPES_F32 ? KV_GGUF_F32 :
                    KV_GGUF_I32, types, 4, err);
    if (kind == BAD_ADD_BOS_STR)
        kv_gguf_set_str(w, "tokenizer.ggml.add_bos_token", "yes", err);
    if (kind == ODD_IDS) {
        kv_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 99, err);
        kv_gguf_set_u64(w, "tokenizer.ggml.eos_token_id", 3, err);
        kv_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", false, err);
    }
    assert_int_equal(kv_gguf_writer_begin(w, path, err), KV_OK);
    assert_int_equal(kv_gguf_writer_finish(w, err), KV_OK);
    kv_gguf_writer_free(w);
    kv_gguf *g = NULL;
    assert_int_equal(kv_gguf_open(path, &g, err), KV_OK);
    kv_status st = kv_vocab_from_gguf(g, v, err);
    kv_gguf_close(g);
    return st;
}

static void expect_bad(const char *dir, bad_kind kind, kv_status want, const char *fragment) {
    kv_vocab *v = NULL;
    kv_err err;
    kv_status st = load_bad(dir, kind, &v, &err);
    if (st != want || !strstr(err.msg, fragment))
        fail_msg("case %d: status %d, message '%s'; expected %d and '%s'", (int)kind, (int)st,
                 err.msg, (int)want, fragment);
    assert_null(v);
    assert_non_null(strstr(err.msg, "v.gguf")); // the message names the file
}

static void test_bad_metadata(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    assert_non_null(dir);
    kv_vocab *v = NULL;
    kv_err err;
    assert_int_equal(load_bad(dir, BAD_NONE, &v, &err), KV_OK);
    assert_int_equal(kv_vocab_n_tokens(v), 4);
    kv_vocab_free(v);
    expect_bad(dir, BAD_NO_MODEL, KV_ERR_FORMAT, "missing key 'tokenizer.ggml.model'");
    expect_bad(dir, BAD_MODEL_T5, KV_ERR_UNSUPPORTED, "tokenizer model 't5'");
    expect_bad(dir, BAD_SHORT_SCORES, KV_ERR_FORMAT, "'tokenizer.ggml.scores' has 3 elements");
    expect_bad(dir, BAD_TYPES_F32, KV_ERR_FORMAT, "'tokenizer.ggml.token_type' is an array of f32");
    expect_bad(dir, BAD_TOKENS_U32, KV_ERR_FORMAT, "tokenizer.ggml.tokens");
    expect_bad(dir, BAD_DUPLICATE, KV_ERR_FORMAT, "duplicate token in vocabulary: '<s>'");
    expect_bad(dir, BAD_ADD_BOS_STR, KV_ERR_FORMAT, "tokenizer.ggml.add_bos_token");

    assert_int_equal(load_bad(dir, ODD_IDS, &v, &err), KV_OK);
    assert_int_equal(kv_vocab_bos(v), 1); // 99 names no token: the default stays
    assert_int_equal(kv_vocab_eos(v), 3);
    assert_false(kv_vocab_add_space_prefix(v));
    assert_true(kv_vocab_score(v, 3) == -1.0f);
    kv_token ids[4];
    int64_t n = 0;
    assert_int_equal(kv_tokenize(v, " ", 1, true, false, ids, 4, &n, &err), KV_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[1], 3);
    // no byte tokens: an unknown character becomes <unk>
    assert_int_equal(kv_tokenize(v, "\xc3\xa9", 2, false, false, ids, 4, &n, &err), KV_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 0);
    kv_vocab_free(v);
    kv_test_rmdir(dir);
}

// GGUF files naming each BPE pre-tokenizer (tokenizer.ggml.pre) load and tokenize;
// llama-bpe adds BOS unless the file says otherwise, as llama.cpp; an unknown name
// fails naming the key.
static kv_status load_pre(const char *dir, const char *pre, int add_bos, kv_vocab **v,
                          kv_err *err) {
    static char bytes[256][3];
    const char *toks[257];
    for (unsigned b = 0; b < 256; b++) { // GPT-2's characters for the bytes
        unsigned c = b;
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (!printable)
            c = 256 + (b <= 0x20 ? b : b <= 0xA0 ? 33 + (b - 0x7F) : 67);
        if (c < 0x80) {
            bytes[b][0] = (char)c;
        } else {
            bytes[b][0] = (char)(0xC0 | (c >> 6));
            bytes[b][1] = (char)(0x80 | (c & 0x3F));
        }
        toks[b] = bytes[b];
    }
    toks[256] = "<|bos|>";
    const char *merges[] = {"1 2"};
    kv_gguf_writer *w = NULL;
    char path[4200];
    snprintf(path, sizeof(path), "%s/pre.gguf", dir);
    assert_int_equal(kv_gguf_writer_new(&w, err), KV_OK);
    kv_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", err);
    kv_gguf_set_str(w, "tokenizer.ggml.pre", pre, err);
    kv_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 257, err);
    kv_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, 1, err);
    kv_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 256, err);
    if (add_bos >= 0)
        kv_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", add_bos != 0, err);
    assert_int_equal(kv_gguf_writer_begin(w, path, err), KV_OK);
    assert_int_equal(kv_gguf_writer_finish(w, err), KV_OK);
    kv_gguf_writer_free(w);
    kv_gguf *g = NULL;
    assert_int_equal(kv_gguf_open(path, &g, err), KV_OK);
    kv_status st = kv_vocab_from_gguf(g, v, err);
    kv_gguf_close(g);
    return st;
}

static void test_bpe_pre_names(void **state) {
    (void)state;
    static const char *const pres[] = {
        "llama-bpe", "llama3", "qwen2", "deepseek-r1-qwen", "deepseek-llm", "deepseek-coder",
        "deepseek-v3", "falcon", "falcon3", "starcoder", "refact", "smollm", "gpt-2", "mpt",
        "olmo", "jais", "phi-2", "dbrx", "stablelm2", "command-r"};
    char *dir = kv_test_tmpdir();
    kv_err err;
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
        kv_vocab *v = NULL;
        if (load_pre(dir, pres[i], -1, &v, &err) != KV_OK)
            fail_msg("%s: %s", pres[i], err.msg);
        assert_string_equal(kv_vocab_pre(v), pres[i]);
        kv_token ids[8];
        int64_t n = 0;
        assert_int_equal(kv_tokenize(v, "a 12", 4, true, false, ids, 8, &n, &err), KV_OK);
        bool bos = strcmp(pres[i], "llama-bpe") == 0 || strcmp(pres[i], "llama3") == 0 ||
                   strcmp(pres[i], "falcon3") == 0;
        assert_int_equal(kv_vocab_add_bos(v), bos);
        assert_true(n >= 3 + bos);
        if (bos)
            assert_int_equal(ids[0], 256);
        kv_vocab_free(v);
    }
    kv_vocab *v = NULL;
    assert_int_equal(load_pre(dir, "llama-bpe", 0, &v, &err), KV_OK); // the key wins
    assert_false(kv_vocab_add_bos(v));
    kv_vocab_free(v);
    assert_int_equal(load_pre(dir, "tekken", -1, &v, &err), KV_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "pre-tokenizer 'tekken' (tokenizer.ggml.pre)"));
    assert_null(v);
    kv_test_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_spm_cases),
        cmocka_unit_test(test_bpe_pre_names),
        cmocka_unit_test(test_phi3_cases),
        cmocka_unit_test(test_gpt2_cases),
        cmocka_unit_test(test_llama_spm_metadata),
        cmocka_unit_test(test_phi3_metadata),
        cmocka_unit_test(test_gpt2_metadata),
        cmocka_unit_test(test_roundtrip_kjv),
        cmocka_unit_test(test_demo_golden),
        cmocka_unit_test(test_bad_metadata),
    };
    return cmocka_run_group_tests_name("tokenizer_vocab", tests, NULL, NULL);
}
