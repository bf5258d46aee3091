// libFuzzer harness for the BPE pre-tokenizers (PCRE2 expressions) through the
// public tokenizer: arbitrary bytes (any UTF-8, valid or not) are tokenized with a
// byte-level vocabulary (the 256 byte tokens only) under the pre-tokenizer the first
// input byte picks. Checks: no failure, and for valid UTF-8 the pieces of the ids
// are the text itself, one byte token per byte.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_tokenizer.h"

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_pretok: check failed: %s (line %d)\n", #cond, __LINE__);  \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static const char *const pres[] = {"llama-bpe", "qwen2", "deepseek-v3", "deepseek-llm",
                                   "deepseek-coder", "falcon", "starcoder", "smollm", "gpt-2"};
#define N_PRES (sizeof(pres) / sizeof(pres[0]))
static kv_vocab *vocabs[N_PRES];

// GPT-2's character for byte b, as UTF-8.
static void byte_char(unsigned b, char out[3]) {
    unsigned c = b;
    int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
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

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    static char bytes[256][3];
    const char *texts[256];
    for (unsigned b = 0; b < 256; b++) {
        byte_char(b, bytes[b]);
        texts[b] = bytes[b];
    }
    for (size_t i = 0; i < N_PRES; i++) {
        kv_vocab_params p;
        kv_vocab_params_init(&p, KV_VOCAB_BPE);
        p.n_tokens = 256;
        p.texts = texts;
        kv_vocab_params_set_pre(&p, pres[i]);
        p.add_bos = false;
        kv_err err;
        CHECK(kv_vocab_new(&p, &vocabs[i], &err) == KV_OK);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    const kv_vocab *v = vocabs[data[0] % N_PRES];
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    kv_token *ids = NULL;
    int64_t n_ids = 0;
    kv_err err;
    CHECK(kv_tokenize_alloc(v, text, n, false, false, &ids, &n_ids, &err) == KV_OK);
    size_t n_back = 0; // the pieces joined (detokenize would also clean up spaces)
    for (int64_t i = 0; i < n_ids; i++) {
        size_t len = 0;
        CHECK(kv_vocab_piece(v, ids[i], false, &len) != NULL);
        n_back += len;
    }
    char *back = malloc(n_back + 1);
    CHECK(back != NULL);
    n_back = 0;
    for (int64_t i = 0; i < n_ids; i++) {
        size_t len = 0;
        const char *p = kv_vocab_piece(v, ids[i], false, &len);
        memcpy(back + n_back, p, len);
        n_back += len;
    }
    if (kv_utf8_valid(text, n, NULL)) // one byte token per byte: nothing is lost
        CHECK(n_back == n && memcmp(back, text, n) == 0 && n_ids == (int64_t)n);
    else
        CHECK(n_back > 0); // bad bytes come back as U+FFFD (surrogates as they were)
    free(back);
    free(ids);
    return 0;
}
