// libFuzzer harness for llama.cpp logits files (perplexity --kl-divergence-base):
// arbitrary bytes as one file, opened by path (a memfd under /proc/self/fd, so
// the real mapping code runs). On success every chunk's tokens are read and
// checked against the vocabulary (the reader promises they are in range, as the
// KL driver indexes logits with them), and every encoded row is compared with a
// flat distribution through kv_kld_add, as the driver does with a model's rows.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_memfd.h"
#include "kvant/kv_eval.h"

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "fuzz_logits: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_memfd_path("fuzz.logits", data, size);
    CHECK(path);
    kv_logits_file *f = NULL;
    kv_err err;
    if (kv_logits_open(path, &f, &err) != KV_OK) {
        CHECK(f == NULL && err.msg[0] != '\0');
        return 0;
    }
    const int32_t n_ctx = kv_logits_n_ctx(f), n_vocab = kv_logits_n_vocab(f);
    const int32_t n_chunks = kv_logits_n_chunks(f);
    CHECK(n_ctx >= 4 && n_vocab >= 1 && n_chunks >= 0);
    int32_t *toks = malloc((size_t)n_ctx * sizeof *toks);
    float *logits = n_chunks > 0 ? calloc((size_t)n_vocab, sizeof *logits) : NULL;
    CHECK(toks && (n_chunks == 0 || logits));
    kv_kld_acc acc = {0};
    const int32_t first = n_ctx / 2;
    for (int32_t c = 0; c < n_chunks; c++) {
        kv_logits_tokens(f, c, toks);
        for (int32_t i = 0; i < n_ctx; i++)
            CHECK(toks[i] >= 0 && toks[i] < n_vocab);
        for (int32_t j = first; j <= n_ctx - 2; j++) {
            float kld, p_diff;
            kv_kld_add(&acc, logits, n_vocab, kv_logits_row(f, c, j - first), toks[j + 1], &kld,
                       &p_diff);
        }
    }
    free(logits);
    free(toks);
    kv_logits_close(f);
    return 0;
}
