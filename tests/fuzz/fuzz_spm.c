// libFuzzer harness for the SentencePiece model reader: arbitrary bytes as a
// tokenizer.model; on success every piece is read and the trainer ids checked.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kvant/kv_spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kv_spm_model *m = NULL;
    kv_err err;
    if (kv_spm_model_parse(data, size, "fuzz.model", &m, &err) != KV_OK)
        return 0;
    size_t total = 0;
    for (int64_t i = 0; i < m->n_pieces; i++) {
        total += strlen(m->pieces[i]);
        if (m->types[i] < 1 || m->types[i] > 6)
            __builtin_trap(); // the reader promises GGUF token types
    }
    if (m->unk_id >= m->n_pieces || m->bos_id >= m->n_pieces || total == 0)
        __builtin_trap(); // ids are checked; pieces are never empty
    kv_spm_model_free(m);
    return 0;
}
