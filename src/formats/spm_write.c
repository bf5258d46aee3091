// Tokenizer files for an export (ONNX, MLX) whose source is a GGUF alone: a SentencePiece
// GGUF vocabulary (tokenizer.ggml.model "llama") written back as tokenizer.model
// (protobuf-c, the pieces with their scores and types, BPE, byte fallback when
// the vocabulary has byte pieces) and a tokenizer_config.json naming its
// special tokens, which is what ONNX Runtime GenAI's tokenizer reads for Llama.
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_gguf.h"
#include "kvant/kv_spm.h"
#include "sentencepiece_model.pb-c.h"

static int64_t id_or(const kv_gguf *g, const char *key, int64_t dflt) {
    int64_t v;
    return kv_gguf_find(g, key) >= 0 && kv_gguf_get_int(g, key, &v, NULL) == KV_OK ? v : dflt;
}

static kv_status write_out(const char *dir, const char *name, const void *p, size_t n, kv_err *err) {
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    if (!path)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    sprintf(path, "%s/%s", dir, name);
    kv_out o;
    kv_status s = kv_out_open(&o, path, err);
    if (s == KV_OK) {
        s = kv_out_write(&o, p, n, err);
        s = s == KV_OK ? kv_out_commit(&o, err) : (kv_out_abort(&o), s);
    }
    free(path);
    return s;
}

static char *piece_str(const kv_gguf *g, const kv_gguf_val *toks, int64_t i) {
    kv_str t = {0};
    if (i < 0 || kv_gguf_arr_str(g, toks, (uint64_t)i, &t, NULL) != KV_OK)
        return NULL;
    char *s = malloc(t.n + 1);
    if (s) {
        memcpy(s, t.p, t.n);
        s[t.n] = 0;
    }
    return s;
}

static kv_status config_json(const kv_gguf *g, const kv_gguf_val *toks, const char *dir,
                             kv_err *err) {
    char *bos = piece_str(g, toks, id_or(g, "tokenizer.ggml.bos_token_id", -1));
    char *eos = piece_str(g, toks, id_or(g, "tokenizer.ggml.eos_token_id", -1));
    char *unk = piece_str(g, toks, id_or(g, "tokenizer.ggml.unknown_token_id", -1));
    bool add_bos = true, add_eos = false;
    if (kv_gguf_find(g, "tokenizer.ggml.add_bos_token") >= 0)
        kv_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos, NULL);
    if (kv_gguf_find(g, "tokenizer.ggml.add_eos_token") >= 0)
        kv_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &add_eos, NULL);
    json_t *c = json_pack("{s:s,s:b,s:b,s:b}", "tokenizer_class", "LlamaTokenizer",
                          "add_bos_token", add_bos, "add_eos_token", add_eos, "legacy", 1);
    if (c && bos)
        json_object_set_new(c, "bos_token", json_string(bos));
    if (c && eos)
        json_object_set_new(c, "eos_token", json_string(eos));
    if (c && unk)
        json_object_set_new(c, "unk_token", json_string(unk));
    char *text = c ? json_dumps(c, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(c);
    free(bos);
    free(eos);
    free(unk);
    if (!text)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory writing tokenizer_config.json");
    kv_status s = write_out(dir, "tokenizer_config.json", text, strlen(text), err);
    free(text);
    return s;
}

kv_status kv_spm_write_from_gguf(const kv_gguf *g, const char *dir, bool *written, kv_err *err) {
    *written = false;
    kv_str model = {0};
    if (kv_gguf_find(g, "tokenizer.ggml.model") < 0 ||
        kv_gguf_get_str(g, "tokenizer.ggml.model", &model, NULL) != KV_OK || model.n != 5 ||
        memcmp(model.p, "llama", 5) != 0)
        return KV_OK; // not SentencePiece: nothing to derive here
    const kv_gguf_val *toks = NULL, *scores = NULL, *types = NULL;
    KV_TRY(kv_gguf_get_arr(g, "tokenizer.ggml.tokens", KV_GGUF_STRING, &toks, err));
    if (kv_gguf_find(g, "tokenizer.ggml.scores") >= 0)
        KV_TRY(kv_gguf_get_arr(g, "tokenizer.ggml.scores", KV_GGUF_F32, &scores, err));
    if (kv_gguf_find(g, "tokenizer.ggml.token_type") >= 0)
        KV_TRY(kv_gguf_get_arr(g, "tokenizer.ggml.token_type", KV_GGUF_I32, &types, err));
    const uint64_t n = toks->n;
    if ((scores && scores->n != n) || (types && types->n != n))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tokenizer arrays of different lengths",
                       kv_gguf_path(g));
    Sentencepiece__ModelProto__SentencePiece *ps = calloc(n ? n : 1, sizeof *ps);
    Sentencepiece__ModelProto__SentencePiece **pp = calloc(n ? n : 1, sizeof *pp);
    kv_status s = KV_OK;
    uint8_t *buf = NULL;
    if (!ps || !pp) {
        s = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        goto out;
    }
    bool bytes = false;
    for (uint64_t i = 0; i < n; i++) {
        const Sentencepiece__ModelProto__SentencePiece init =
            SENTENCEPIECE__MODEL_PROTO__SENTENCE_PIECE__INIT;
        ps[i] = init;
        kv_str t;
        if ((s = kv_gguf_arr_str(g, toks, i, &t, err)) != KV_OK)
            goto out;
        ps[i].has_piece = 1;
        ps[i].piece.data = (uint8_t *)(uintptr_t)t.p; // borrowed from the mapping
        ps[i].piece.len = t.n;
        ps[i].has_score = 1;
        float sc = 0.0f;
        int32_t ty = 1;
        if (scores) // the mapping is not aligned for floats
            memcpy(&sc, scores->data + 4 * i, 4);
        if (types)
            memcpy(&ty, types->data + 4 * i, 4);
        ps[i].score = sc;
        if (ty < 1 || ty > 6)
            ty = 1;
        bytes |= ty == 6;
        ps[i].has_type = 1;
        ps[i].type = (Sentencepiece__ModelProto__SentencePiece__Type)ty;
        pp[i] = &ps[i];
    }
    // SentencePiece needs an UNKNOWN piece; GGUF converters often mark <unk> CONTROL
    // (llama.cpp's does for the special tokens of tokenizer_config.json)
    int64_t unk = id_or(g, "tokenizer.ggml.unknown_token_id", -1);
    for (uint64_t i = 0; i < n && unk < 0; i++)
        if (ps[i].type == SENTENCEPIECE__MODEL_PROTO__SENTENCE_PIECE__TYPE__UNKNOWN ||
            (ps[i].piece.len == 5 && !memcmp(ps[i].piece.data, "<unk>", 5)))
            unk = (int64_t)i;
    if (unk < 0 || (uint64_t)unk >= n) {
        s = KV_FAIL(err, KV_ERR_UNSUPPORTED,
                    "%s: the SentencePiece vocabulary has no unknown token to write tokenizer.model",
                    kv_gguf_path(g));
        goto out;
    }
    ps[unk].type = SENTENCEPIECE__MODEL_PROTO__SENTENCE_PIECE__TYPE__UNKNOWN;
    Sentencepiece__TrainerSpec ts = SENTENCEPIECE__TRAINER_SPEC__INIT;
    ts.has_model_type = 1;
    ts.model_type = SENTENCEPIECE__TRAINER_SPEC__MODEL_TYPE__BPE;
    ts.has_vocab_size = 1;
    ts.vocab_size = (int32_t)n;
    ts.has_byte_fallback = 1;
    ts.byte_fallback = bytes;
    ts.has_unk_id = ts.has_bos_id = ts.has_eos_id = ts.has_pad_id = 1;
    ts.unk_id = (int32_t)unk;
    ts.bos_id = (int32_t)id_or(g, "tokenizer.ggml.bos_token_id", -1);
    ts.eos_id = (int32_t)id_or(g, "tokenizer.ggml.eos_token_id", -1);
    ts.pad_id = (int32_t)id_or(g, "tokenizer.ggml.padding_token_id", -1);
    Sentencepiece__NormalizerSpec ns = SENTENCEPIECE__NORMALIZER_SPEC__INIT;
    char name[] = "identity";
    ns.name = name;
    bool prefix = true;
    if (kv_gguf_find(g, "tokenizer.ggml.add_space_prefix") >= 0)
        kv_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &prefix, NULL);
    ns.has_add_dummy_prefix = ns.has_remove_extra_whitespaces = ns.has_escape_whitespaces = 1;
    ns.add_dummy_prefix = prefix;
    ns.remove_extra_whitespaces = 0;
    ns.escape_whitespaces = 1;
    Sentencepiece__ModelProto mp = SENTENCEPIECE__MODEL_PROTO__INIT;
    mp.n_pieces = n;
    mp.pieces = pp;
    mp.trainer_spec = &ts;
    mp.normalizer_spec = &ns;
    const size_t size = protobuf_c_message_get_packed_size(&mp.base);
    buf = malloc(size ? size : 1);
    if (!buf) {
        s = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        goto out;
    }
    protobuf_c_message_pack(&mp.base, buf);
    s = write_out(dir, "tokenizer.model", buf, size, err);
    if (s == KV_OK)
        s = config_json(g, toks, dir, err);
    *written = s == KV_OK;
out:
    free(buf);
    free(ps);
    free(pp);
    return s;
}
