// libFuzzer harness for the WordPiece tokenizer (tokenizer.ggml.model "bert"):
// arbitrary bytes (invalid UTF-8, control characters, anything ICU's NFD and case
// tables meet) are tokenized with a small built-in BERT vocabulary. The first
// byte picks add_special (bit 0) and parse_special (bit 1). Checks: no failure,
// ids in range, [CLS] first and [SEP] last with add_special, and a word of plain
// lowercase ASCII letters the vocabulary spells comes back as its pieces.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_tokenizer.h"

static kv_vocab *vocab;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_wordpiece: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

// [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, then every ASCII letter, digit
// and punctuation character as a word start ("▁c") and a continuation ("c"),
// and a few whole words.
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static char store[2 * 95][8];
    static const char *const words[] = {"\xe2\x96\x81" "the", "\xe2\x96\x81" "un", "believ",
                                        "able", "\xe2\x96\x81" "\xe4\xb8\xad"};
    const char *texts[5 + 2 * 95 + 5];
    int32_t types[5 + 2 * 95 + 5];
    int n = 0;
    static const char *const special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++)
        texts[n] = special[i], types[n++] = KV_TOKEN_TYPE_CONTROL;
    for (int c = 33, k = 0; c < 127; c++) {
        if (c >= 'A' && c <= 'Z')
            continue;
        snprintf(store[k], sizeof store[k], "\xe2\x96\x81%c", c);
        texts[n] = store[k++], types[n++] = KV_TOKEN_TYPE_NORMAL;
        snprintf(store[k], sizeof store[k], "%c", c);
        texts[n] = store[k++], types[n++] = KV_TOKEN_TYPE_NORMAL;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        texts[n] = words[i], types[n++] = KV_TOKEN_TYPE_NORMAL;
    kv_vocab_params p;
    kv_vocab_params_init(&p, KV_VOCAB_WPM);
    p.n_tokens = n;
    p.texts = texts;
    p.types = types;
    p.special[KV_SPECIAL_BOS] = 2;
    p.special[KV_SPECIAL_UNK] = 1;
    p.special[KV_SPECIAL_SEP] = 3;
    p.special[KV_SPECIAL_PAD] = 0;
    p.special[KV_SPECIAL_MASK] = 4;
    kv_err err;
    CHECK(kv_vocab_new(&p, &vocab, &err) == KV_OK);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    const bool add_special = data[0] & 1, parse_special = data[0] & 2;
    const char *text = (const char *)data + 1;
    const size_t n = size - 1;
    kv_token *ids = NULL;
    int64_t n_ids = 0;
    kv_err err;
    CHECK(kv_tokenize_alloc(vocab, text, n, add_special, parse_special, &ids, &n_ids, &err) ==
          KV_OK);
    for (int64_t i = 0; i < n_ids; i++)
        CHECK(ids[i] >= 0 && ids[i] < kv_vocab_n_tokens(vocab));
    if (add_special)
        CHECK(n_ids >= 2 && ids[0] == 2 && ids[n_ids - 1] == 3);
    free(ids);
    // a lowercase ASCII word of up to 100 letters: one piece per letter at most
    size_t m = 0;
    while (m < n && m < 100 && text[m] >= 'a' && text[m] <= 'z')
        m++;
    if (m > 0) {
        CHECK(kv_tokenize_alloc(vocab, text, m, false, false, &ids, &n_ids, &err) == KV_OK);
        CHECK(n_ids >= 1 && n_ids <= (int64_t)m);
        for (int64_t i = 0; i < n_ids; i++)
            CHECK(ids[i] != 1); // never [UNK]: every letter is in the vocabulary
        free(ids);
    }
    return 0;
}
