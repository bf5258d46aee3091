// SentencePiece model files (tokenizer.model): a serialized ModelProto, decoded
// with protobuf-c from our own minimal schema (sentencepiece_model.proto), then
// checked and copied into a plain kv_spm_model. Layout, as protobuf fields:
//   ModelProto { repeated SentencePiece pieces = 1 {piece = 1, score = 2, type = 3};
//                TrainerSpec trainer_spec = 2; NormalizerSpec normalizer_spec = 3 }
// Fields the schema does not name are skipped by protobuf-c.
#include "kvant/kv_spm.h"

#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"
#include "kvant/kv_hf.h" // KV_HF_MAX_VOCAB
#include "sentencepiece_model.pb-c.h"

// The largest tokenizer.model kvant reads (Llama 2's is 0.5 MB; Gemma's 4 MB).
#define KV_SPM_MAX_FILE ((size_t)256 << 20)

void kv_spm_model_free(kv_spm_model *m) {
    if (!m)
        return;
    if (m->pieces)
        for (int64_t i = 0; i < m->n_pieces; i++)
            free(m->pieces[i]);
    free(m->pieces);
    free(m->scores);
    free(m->types);
    free(m);
}

// Trainer ids are -1 (disabled) or a piece index.
static kv_status check_id(const char *name, const char *field, int32_t id, int64_t n,
                          int64_t *out, kv_err *err) {
    if (id < -1 || id >= n)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: trainer_spec.%s is %d, outside the %lld pieces (or -1)", name, field,
                       id, (long long)n);
    *out = id;
    return KV_OK;
}

static kv_status copy_specs(const Sentencepiece__ModelProto *mp, const char *name,
                            kv_spm_model *m, kv_err *err) {
    const Sentencepiece__TrainerSpec *ts = mp->trainer_spec;
    // An absent message reads as all defaults, as in protobuf itself.
    Sentencepiece__TrainerSpec tdef = SENTENCEPIECE__TRAINER_SPEC__INIT;
    Sentencepiece__NormalizerSpec ndef = SENTENCEPIECE__NORMALIZER_SPEC__INIT;
    if (!ts)
        ts = &tdef;
    const Sentencepiece__NormalizerSpec *ns = mp->normalizer_spec ? mp->normalizer_spec : &ndef;
    m->model_type = (int)ts->model_type;
    if (m->model_type < 1 || m->model_type > 4)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: trainer_spec.model_type %d is not 1..4", name,
                       m->model_type);
    m->byte_fallback = ts->byte_fallback != 0;
    m->add_dummy_prefix = ns->add_dummy_prefix != 0;
    m->remove_extra_whitespaces = ns->remove_extra_whitespaces != 0;
    kv_status s;
    if ((s = check_id(name, "unk_id", ts->unk_id, m->n_pieces, &m->unk_id, err)) != KV_OK ||
        (s = check_id(name, "bos_id", ts->bos_id, m->n_pieces, &m->bos_id, err)) != KV_OK ||
        (s = check_id(name, "eos_id", ts->eos_id, m->n_pieces, &m->eos_id, err)) != KV_OK ||
        (s = check_id(name, "pad_id", ts->pad_id, m->n_pieces, &m->pad_id, err)) != KV_OK)
        return s;
    return KV_OK;
}

static kv_status copy_piece(const Sentencepiece__ModelProto__SentencePiece *p, int64_t i,
                            const char *name, kv_spm_model *m, kv_err *err) {
    if (!p->has_piece || p->piece.len == 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: piece %lld has no text", name, (long long)i);
    if (memchr(p->piece.data, 0, p->piece.len))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: piece %lld contains a NUL byte", name,
                       (long long)i);
    if (p->type < 1 || p->type > 6)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: piece %lld has type %d, expected 1..6", name,
                       (long long)i, (int)p->type);
    m->pieces[i] = malloc(p->piece.len + 1);
    if (!m->pieces[i])
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", name);
    memcpy(m->pieces[i], p->piece.data, p->piece.len);
    m->pieces[i][p->piece.len] = '\0';
    m->scores[i] = p->score;
    m->types[i] = (int32_t)p->type; // SentencePiece's numbers are GGUF's token types
    return KV_OK;
}

static kv_status copy_model(const Sentencepiece__ModelProto *mp, const char *name,
                            kv_spm_model *m, kv_err *err) {
    if (mp->n_pieces == 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: the model has no pieces", name);
    if (mp->n_pieces > KV_HF_MAX_VOCAB)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: %zu pieces, over the limit of %d", name,
                       mp->n_pieces, KV_HF_MAX_VOCAB);
    size_t n = mp->n_pieces;
    m->pieces = calloc(n, sizeof *m->pieces);
    m->scores = calloc(n, sizeof *m->scores);
    m->types = calloc(n, sizeof *m->types);
    if (!m->pieces || !m->scores || !m->types)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %zu pieces", name, n);
    m->n_pieces = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        kv_status s = copy_piece(mp->pieces[i], (int64_t)i, name, m, err);
        if (s != KV_OK)
            return s;
    }
    return copy_specs(mp, name, m, err);
}

kv_status kv_spm_model_parse(const void *data, size_t size, const char *name,
                             kv_spm_model **out, kv_err *err) {
    *out = NULL;
    if (!name)
        name = "<memory>";
    if (size == 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: empty file, expected a SentencePiece model", name);
    Sentencepiece__ModelProto *mp = sentencepiece__model_proto__unpack(NULL, size, data);
    if (!mp)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: not a SentencePiece model (protobuf decoding of %zu bytes failed)",
                       name, size);
    kv_spm_model *m = calloc(1, sizeof *m);
    kv_status s = m ? copy_model(mp, name, m, err)
                    : KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", name);
    sentencepiece__model_proto__free_unpacked(mp, NULL);
    if (s != KV_OK) {
        kv_spm_model_free(m);
        return s;
    }
    *out = m;
    return KV_OK;
}

kv_status kv_spm_model_load(const char *path, kv_spm_model **out, kv_err *err) {
    *out = NULL;
    kv_map map;
    kv_status s = kv_map_open(path, &map, err);
    if (s != KV_OK)
        return s;
    if (map.size > KV_SPM_MAX_FILE)
        s = KV_FAIL(err, KV_ERR_LIMIT, "%s: %zu bytes, over the limit of %zu for a tokenizer.model",
                    path, map.size, KV_SPM_MAX_FILE);
    else
        s = kv_spm_model_parse(map.data, map.size, path, out, err);
    kv_map_close(&map);
    return s;
}
