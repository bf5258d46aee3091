// SentencePiece model files (a Hugging Face folder's tokenizer.model), parsed
// with protobuf-c: the pieces, their scores and types, and the normalizer and
// trainer settings the GGUF tokenizer keys are made from.
#ifndef KV_SPM_H
#define KV_SPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

typedef struct {
    int64_t n_pieces;
    char **pieces;
    float *scores;
    int32_t *types;             // KV_TOKEN_*
    int model_type;             // 1 UNIGRAM, 2 BPE, 3 WORD, 4 CHAR
    bool add_dummy_prefix;
    bool remove_extra_whitespaces;
    bool byte_fallback;
    int64_t unk_id, bos_id, eos_id, pad_id; // trainer_spec ids, -1 when disabled
} kv_spm_model;

// Parses a tokenizer.model file. On success *out is owned by the caller
// (kv_spm_model_free).
kv_status kv_spm_model_load(const char *path, kv_spm_model **out, kv_err *err);
kv_status kv_spm_model_parse(const void *data, size_t size, const char *name,
                             kv_spm_model **out, kv_err *err);
void kv_spm_model_free(kv_spm_model *m);

// A SentencePiece GGUF vocabulary (tokenizer.ggml.model "llama") written back as
// dir/tokenizer.model and dir/tokenizer_config.json, for exports whose source is a
// GGUF alone (spm_write.c); *written false (and KV_OK) for other vocabularies.
struct kv_gguf;
kv_status kv_spm_write_from_gguf(const struct kv_gguf *g, const char *dir, bool *written,
                                 kv_err *err);

#endif
