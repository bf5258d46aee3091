// libFuzzer harness for the llama2.c checkpoint and tokenizer.bin reader. The
// input is a little-endian uint32 n, then n bytes of checkpoint (fewer when the
// input is shorter), then the tokenizer.bin bytes. On success the first and last
// elements of every tensor are read as float32 and every token is walked.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kvant/kv_llama2c.h"

static void walk(const kv_llama2c *m) {
    float out[4];
    kv_err err;
    for (int64_t i = 0; i < kv_llama2c_tensor_count(m); i++) {
        const kv_llama2c_tensor *t = kv_llama2c_tensor_at(m, i);
        int64_t n = t->n_elements < 4 ? t->n_elements : 4;
        if (kv_llama2c_read_f32(t, 0, n, out, &err) != KV_OK ||
            kv_llama2c_read_f32(t, t->n_elements - n, n, out, &err) != KV_OK)
            __builtin_trap(); // in-range reads of an opened file cannot fail
    }
    kv_llama2c_vocab v;
    kv_llama2c_vocab_of(m, &v);
    size_t total = 0;
    for (int64_t i = 0; i < v.n_tokens; i++)
        total += strlen(v.tokens[i]) + (size_t)(v.types[i] == 6) + (v.scores[i] > 0.0f);
    (void)total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4)
        return 0;
    uint32_t n = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                 (uint32_t)data[3] << 24;
    size_t model_size = n < size - 4 ? n : size - 4;
    const uint8_t *model = data + 4, *tok = model + model_size;
    size_t tok_size = size - 4 - model_size;
    kv_llama2c *m = NULL;
    kv_err err;
    if (kv_llama2c_open_mem(model, model_size, "fuzz.bin", tok, tok_size, "fuzz-tokenizer.bin", &m,
                            &err) == KV_OK) {
        walk(m);
        kv_llama2c_close(m);
    }
    return 0;
}
