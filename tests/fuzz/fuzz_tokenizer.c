// libFuzzer harness for the tokenizer: arbitrary bytes are tokenized and
// detokenized. The first input byte picks add_special (bit 0) and parse_special
// (bit 1); the rest is the text. The vocabulary is the GGUF named by $KV_FUZZ_VOCAB,
// else $KV_SHARED/testdata/vocab/ggml-vocab-llama-spm.gguf, else the same file in the
// ../shared folder beside the source tree (the harness lives in <src>/<build dir>/),
// else a small built-in vocabulary.
// Checks: no failure, ids in range, streamed pieces equal the joined pieces, and
// plain valid UTF-8 comes back unchanged (SPM: detokenized; BPE: as pieces).
// KV_FUZZ_VOCAB may name ggml-vocab-gpt-2.gguf to fuzz the BPE path.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_gguf.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"

static kv_vocab *vocab;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_tokenizer: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static kv_vocab *load_gguf(const char *path) {
    kv_gguf *g = NULL;
    kv_vocab *v = NULL;
    kv_err err;
    if (kv_gguf_open(path, &g, &err) == KV_OK && kv_vocab_from_gguf(g, &v, &err) == KV_OK)
        fprintf(stderr, "fuzz_tokenizer: vocabulary %s\n", path);
    else
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
    kv_gguf_close(g);
    return v;
}

// Byte tokens, a few merges and special tokens of every kind.
static kv_vocab *builtin_vocab(void) {
    static const char *const extra[] = {"\xe2\x96\x81", "a", "b", "ab", ("\xe2\x96\x81" "a"),
                                        "<|user|>", "e", "th", "the"};
    static char bytes[256][8];
    const char *texts[3 + 256 + 9];
    float scores[3 + 256 + 9];
    int32_t types[3 + 256 + 9];
    int n = 0;
    texts[n] = "<unk>", types[n] = KV_TOKEN_TYPE_UNKNOWN, scores[n++] = 0;
    texts[n] = "<s>", types[n] = KV_TOKEN_TYPE_CONTROL, scores[n++] = 0;
    texts[n] = "</s>", types[n] = KV_TOKEN_TYPE_CONTROL, scores[n++] = 0;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof(bytes[b]), "<0x%02X>", b);
        texts[n] = bytes[b], types[n] = KV_TOKEN_TYPE_BYTE, scores[n++] = 0;
    }
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        texts[n] = extra[i];
        types[n] = strcmp(extra[i], "<|user|>") ? KV_TOKEN_TYPE_NORMAL
                                                : KV_TOKEN_TYPE_USER_DEFINED;
        scores[n++] = -(float)i;
    }
    kv_vocab_params p;
    kv_vocab_params_init(&p, KV_VOCAB_SPM);
    p.n_tokens = n;
    p.texts = texts;
    p.scores = scores;
    p.types = types;
    kv_vocab *v = NULL;
    kv_err err;
    CHECK(kv_vocab_new(&p, &v, &err) == KV_OK);
    fprintf(stderr, "fuzz_tokenizer: built-in vocabulary\n");
    return v;
}

#define SPM_VOCAB "testdata/vocab/ggml-vocab-llama-spm.gguf"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *path = getenv("KV_FUZZ_VOCAB");
    char buf[4096];
    const char *shared = getenv("KV_SHARED");
    if (!path && shared) {
        snprintf(buf, sizeof(buf), "%s/" SPM_VOCAB, shared);
        path = buf;
    } else if (!path && *argc > 0) {
        const char *self = (*argv)[0];
        const char *slash = strrchr(self, '/');
        int dir_len = slash ? (int)(slash - self) : 1;
        snprintf(buf, sizeof(buf), "%.*s/../../shared/" SPM_VOCAB, dir_len, slash ? self : ".");
        path = buf;
    }
    if (path)
        vocab = load_gguf(path);
    if (!vocab)
        vocab = builtin_vocab();
    return 0;
}

// Valid UTF-8 without '<' (it could spell a control token) and without U+2581
// (how SPM writes a space): text that must survive a round trip unchanged.
static bool plain_text(const char *s, size_t n) {
    if (!kv_utf8_valid(s, n, NULL) || memchr(s, '<', n))
        return false;
    for (size_t i = 0; i + 2 < n; i++) {
        if (memcmp(s + i, "\xe2\x96\x81", 3) == 0)
            return false;
    }
    return true;
}

// Streams the pieces (special tokens rendered) and checks the result equals their
// concatenation; returns that concatenation (malloc'd) and its length.
static char *check_stream(const kv_token *ids, int64_t n, size_t *n_out) {
    char *all = NULL, *streamed = NULL;
    size_t n_all = 0, n_streamed = 0, cap = 16;
    for (int64_t i = 0; i < n; i++) {
        size_t len = 0;
        kv_vocab_piece(vocab, ids[i], true, &len);
        cap += len;
    }
    all = malloc(cap);
    streamed = malloc(cap + KV_UTF8_STREAM_HOLD);
    CHECK(all && streamed);
    kv_utf8_stream s = {0};
    for (int64_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *p = kv_vocab_piece(vocab, ids[i], true, &len);
        memcpy(all + n_all, p, len);
        n_all += len;
        n_streamed += kv_utf8_stream_push(&s, p, len, streamed + n_streamed);
    }
    n_streamed += kv_utf8_stream_flush(&s, streamed + n_streamed);
    CHECK(n_streamed == n_all && memcmp(all, streamed, n_all) == 0);
    free(streamed);
    *n_out = n_all;
    return all;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    bool add_special = data[0] & 1, parse_special = data[0] & 2;
    size_t n = size - 1;
    char *text = malloc(n ? n : 1); // an exact copy, so reads past the end are caught
    CHECK(text);
    memcpy(text, data + 1, n);
    kv_token *ids = NULL;
    int64_t n_ids = 0;
    kv_err err;
    CHECK(kv_tokenize_alloc(vocab, text, n, add_special, parse_special, &ids, &n_ids, &err) ==
          KV_OK);
    for (int64_t i = 0; i < n_ids; i++)
        CHECK(ids[i] >= 0 && ids[i] < kv_vocab_n_tokens(vocab));
    int64_t n_again = -1;
    kv_token *again = malloc((size_t)(n_ids + 1) * sizeof(*again));
    CHECK(again);
    CHECK(kv_tokenize(vocab, text, n, add_special, parse_special, again, n_ids, &n_again, &err) ==
          KV_OK);
    CHECK(n_again == n_ids && memcmp(ids, again, (size_t)n_ids * sizeof(*ids)) == 0);
    size_t n_pieces = 0;
    char *pieces = check_stream(ids, n_ids, &n_pieces);
    char *back = NULL;
    size_t n_back = 0;
    CHECK(kv_detokenize_alloc(vocab, ids, n_ids, true, false, &back, &n_back, &err) == KV_OK);
    bool plain = !parse_special && plain_text(text, n);
    if (plain && kv_vocab_type_of(vocab) == KV_VOCAB_BPE) {
        // byte-level BPE: the pieces are the text (detokenize may clean spaces)
        size_t skip = 0;
        if (add_special && kv_vocab_add_bos(vocab)) {
            size_t len = 0;
            kv_vocab_piece(vocab, kv_vocab_bos(vocab), true, &len);
            skip = len;
        }
        CHECK(n_pieces >= skip && n_pieces - skip >= n &&
              memcmp(pieces + skip, text, n) == 0);
    } else if (plain) {
        // with BOS added and removed again, llama.cpp's rule keeps the prefix space
        bool kept = add_special && kv_vocab_add_bos(vocab) && kv_vocab_add_space_prefix(vocab);
        size_t lead = kept && n > 0 ? 1 : 0;
        CHECK(n_back == n + lead && memcmp(back + lead, text, n) == 0);
    }
    free(back);
    free(pieces);
    free(again);
    free(ids);
    free(text);
    return 0;
}
