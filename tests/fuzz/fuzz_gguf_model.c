// libFuzzer harness for what kvant reads from a GGUF beyond its layout (that is
// fuzz_gguf): the tokenizer.ggml.* keys (kv_vocab_from_gguf), the chat template
// key (kv_chat_detect_gguf) and the model's hyper-parameters and tensor binding
// (kv_model_from_gguf). The input is one GGUF file, opened from memory. A vocab
// that loads tokenizes and detokenizes a few fixed texts (ids in range); a model
// that loads has hyper-parameters within the promised bounds and a vocabulary
// size that matches its embedding. Seeds: a tiny llama model (16 tokens, one
// block, n_embd 8) and vocab-only files, from tests/fuzz/make_seeds.py.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_chat.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_model.h"
#include "kvant/kv_tokenizer.h"

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_gguf_model: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static const char *const TEXTS[] = {"", "the a", " hello\nworld <|user|> </s>", "\xe2\x96\x81\xff"};

static void use_vocab(const kv_vocab *v) {
    const int64_t n_vocab = kv_vocab_n_tokens(v);
    CHECK(n_vocab >= 1);
    for (size_t t = 0; t < sizeof TEXTS / sizeof TEXTS[0]; t++) {
        kv_token *ids = NULL;
        int64_t n = 0;
        kv_err err;
        if (kv_tokenize_alloc(v, TEXTS[t], strlen(TEXTS[t]), true, true, &ids, &n, &err) != KV_OK)
            continue; // a vocab may lack what a text needs (no byte tokens): refused, not a crash
        for (int64_t i = 0; i < n; i++)
            CHECK(ids[i] >= 0 && ids[i] < n_vocab);
        char *text = NULL;
        size_t len = 0;
        if (kv_detokenize_alloc(v, ids, n, false, false, &text, &len, &err) == KV_OK)
            CHECK(strlen(text) <= len);
        free(text);
        free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kv_gguf *g = NULL;
    kv_err err;
    if (kv_gguf_open_mem(data, size, "fuzz.gguf", &g, &err) != KV_OK)
        return 0;
    kv_vocab *v = NULL;
    if (kv_vocab_from_gguf(g, &v, &err) == KV_OK) {
        use_vocab(v);
        kv_vocab_free(v);
    } else {
        CHECK(v == NULL && err.msg[0] != '\0');
    }
    bool has_template = false;
    kv_chat_tmpl t = kv_chat_detect_gguf(g, &has_template);
    CHECK(t >= KV_CHAT_PLAIN && t < KV_CHAT_COUNT);
    kv_model *m = NULL;
    if (kv_model_from_gguf(g, &m, &err) == KV_OK) { // the model owns g now
        const kv_hparams *hp = kv_model_hparams(m);
        CHECK(hp->n_vocab >= 1 && hp->n_layer >= 1 && hp->n_embd >= 1 && hp->n_head >= 1);
        CHECK(hp->n_head_kv >= 1 && hp->n_head % hp->n_head_kv == 0);
        CHECK(kv_model_gguf(m) != NULL);
        kv_model_close(m);
    } else {
        CHECK(m == NULL && strstr(err.msg, "fuzz.gguf") != NULL);
    }
    return 0;
}
