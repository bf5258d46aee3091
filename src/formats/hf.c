// Opening a Hugging Face model folder: config.json (hf_config.c), the tokenizer
// (tokenizer.model first, as llama.cpp tries it first: hf_tokenizer.c; else
// tokenizer.json: hf_bpe.c), special tokens (hf_special.c) and the safetensors
// weights (safetensors*.c). Nothing here converts anything; the converter reads
// the result.
#include "kvant/kv_hf.h"

#include <stdlib.h>
#include <string.h>

#include "formats/hf_int.h"
#include "formats/json_int.h"

const kv_hf_config *kv_hf_config_of(const kv_hf *hf) { return &hf->cfg; }
const kv_hf_vocab *kv_hf_vocab_of(const kv_hf *hf) { return &hf->voc.v; }
const kv_safetensors *kv_hf_tensors(const kv_hf *hf) { return hf->st; }
const char *kv_hf_dir(const kv_hf *hf) { return hf->dir; }

void kv_hf_close(kv_hf *hf) {
    if (!hf)
        return;
    kv_safetensors_close(hf->st);
    kv__hf_vocab_free(&hf->voc);
    if (hf->config)
        json_decref(hf->config);
    free(hf->name);
    free(hf->dir);
    free(hf);
}

// The folder's base name, without trailing slashes.
static char *base_name(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    char *s = malloc(n - start + 1);
    if (s) {
        memcpy(s, dir + start, n - start);
        s[n - start] = '\0';
    }
    return s;
}

// An optional JSON file that must hold an object when present.
static kv_status load_object(const char *dir, const char *name, json_t **out, kv_err *err) {
    kv_status s = kv__hf_json_opt(dir, name, out, err);
    if (s == KV_OK && *out && !json_is_object(*out)) {
        s = KV_FAIL(err, KV_ERR_FORMAT, "%s/%s: is a JSON %s, expected an object", dir, name,
                    kv__json_type_name(*out));
        json_decref(*out);
        *out = NULL;
    }
    return s;
}

// sentence-transformers' pooling (modules.json -> its Pooling module's
// config.json), as llama.cpp's BertModel converter reads it: mean or CLS.
static kv_status read_pooling(const char *dir, kv_hf_config *c, kv_err *err) {
    c->pooling_type = -1;
    json_t *mods = NULL, *pc = NULL;
    kv_status s = kv__hf_json_opt(dir, "modules.json", &mods, err);
    const char *sub = NULL;
    for (size_t i = 0; s == KV_OK && i < json_array_size(mods); i++) {
        const json_t *m = json_array_get(mods, i);
        const char *t = json_string_value(json_object_get(m, "type"));
        if (t && strcmp(t, "sentence_transformers.models.Pooling") == 0)
            sub = json_string_value(json_object_get(m, "path"));
    }
    char *name = NULL;
    if (s == KV_OK && sub) {
        name = kv__hf_path(sub, "config.json");
        s = name ? kv__hf_json_opt(dir, name, &pc, err)
                 : KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", dir);
        if (s == KV_OK && !pc)
            s = KV_FAIL(err, KV_ERR_FORMAT, "%s/modules.json: field 'path' names '%.100s', which "
                        "has no config.json", dir, sub);
    }
    if (s == KV_OK && pc) {
        if (json_is_true(json_object_get(pc, "pooling_mode_mean_tokens")))
            c->pooling_type = 1;
        else if (json_is_true(json_object_get(pc, "pooling_mode_cls_token")))
            c->pooling_type = 2;
        else
            s = KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s/%s: neither 'pooling_mode_mean_tokens' nor "
                        "'pooling_mode_cls_token' is true (kvant pools by mean or CLS)", dir, name);
    }
    free(name);
    json_decref(mods);
    json_decref(pc);
    return s;
}

static kv_status load_config(kv_hf *hf, kv__hf_files *f, kv_err *err) {
    char *path = kv__hf_path(hf->dir, "config.json");
    if (!path)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", hf->dir);
    kv_status s = kv__json_load_file(path, KV_HF_MAX_JSON, KV_JSON_BIG_INT_AS_REAL, &f->config, err);
    if (s == KV_OK)
        s = kv__hf_config_parse(f->config, path, &hf->cfg, err);
    if (s == KV_OK && strcmp(hf->cfg.arch, "bert") == 0)
        s = read_pooling(hf->dir, &hf->cfg, err);
    free(path);
    hf->cfg.name = hf->name;
    return s;
}

static bool is_wordpiece(const kv__hf_files *f) {
    const char *t = json_string_value(json_object_get(json_object_get(f->tok_json, "model"), "type"));
    return t && strcmp(t, "WordPiece") == 0;
}

// BertTokenizer's roles found by name in a vocab.txt vocabulary ([CLS] also as BOS,
// [SEP] also as EOS, as gguf-py falls back), where config.json gave no id.
static void bert_roles(const kv__hf_files *f, kv__hf_vocab_buf *b) {
    struct {
        int64_t *id;
        const char *key, *def;
    } r[] = {{&b->v.bos_id, "cls_token", "[CLS]"}, {&b->v.eos_id, "sep_token", "[SEP]"},
             {&b->v.unk_id, "unk_token", "[UNK]"}, {&b->v.sep_id, "sep_token", "[SEP]"},
             {&b->v.pad_id, "pad_token", "[PAD]"}};
    for (size_t k = 0; k < sizeof r / sizeof *r; k++) {
        const json_t *e = json_object_get(f->tok_config, r[k].key);
        const char *name = json_is_object(e) ? json_string_value(json_object_get(e, "content"))
                                             : json_string_value(e);
        name = name ? name : r[k].def;
        for (int64_t i = 0; *r[k].id < 0 && i < b->v.n_tokens; i++)
            if (strcmp(b->tokens[i], name) == 0)
                *r[k].id = i;
    }
}

static kv_status load_vocab(kv_hf *hf, const kv__hf_files *f, kv_err *err) {
    kv_status s;
    const bool bert = strcmp(hf->cfg.arch, "bert") == 0;
    if (bert && f->tok_json && !is_wordpiece(f))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s/tokenizer.json: field 'model.type' is not "
                       "WordPiece (BERT's vocabulary)", f->dir);
    if (bert && !f->tok_json && !kv__hf_exists(f->dir, "vocab.txt"))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s/vocab.txt: missing, and no tokenizer.json either "
                       "(BERT's WordPiece vocabulary is read from one of them)", f->dir);
    if (bert)
        s = kv__hf_vocab_wpm(f, hf->cfg.n_vocab, &hf->voc, err);
    else if (kv__hf_exists(f->dir, "tokenizer.model"))
        s = kv__hf_vocab_spm(f, hf->cfg.n_vocab, &hf->voc, err);
    else if (f->tok_json)
        s = kv__hf_vocab_bpe(f, hf->cfg.n_vocab, &hf->voc, err);
    else
        s = KV_FAIL(err, KV_ERR_FORMAT, "%s: no tokenizer.model or tokenizer.json in this folder",
                    f->dir);
    if (s != KV_OK)
        return s;
    kv_hf_vocab *v = &hf->voc.v;
    const json_t *aps = json_object_get(f->tok_config, "add_prefix_space");
    v->add_space_prefix_cfg = json_is_boolean(aps) ? json_is_true(aps) : -1;
    // SentencePiece-style vocabs bound the special ids by the vocab; GPT-2 style do not.
    bool bounded = strcmp(v->model, "gpt2") != 0;
    s = kv__hf_special(f, bounded ? v->n_tokens : -1, &hf->voc, err);
    if (s == KV_OK && bert && !f->tok_json) // vocab.txt: the roles by their token names
        bert_roles(f, &hf->voc);
    if (hf->cfg.n_vocab == 0)
        hf->cfg.n_vocab = v->n_tokens; // as llama.cpp: the tokenizer's size
    return s;
}

kv_status kv_hf_open(const char *dir, kv_hf **out, kv_err *err) {
    *out = NULL;
    if (!dir)
        return KV_FAIL(err, KV_ERR_INVALID, "hf: no folder given");
    kv_hf *hf = calloc(1, sizeof *hf);
    kv__hf_files f = {.dir = dir};
    kv_status s = KV_OK;
    if (!hf || !(hf->dir = malloc(strlen(dir) + 1)) || !(hf->name = base_name(dir))) {
        s = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    strcpy(hf->dir, dir);
    if ((s = load_config(hf, &f, err)) != KV_OK ||
        (s = load_object(dir, "tokenizer_config.json", &f.tok_config, err)) != KV_OK ||
        (s = load_object(dir, "tokenizer.json", &f.tok_json, err)) != KV_OK ||
        (s = load_vocab(hf, &f, err)) != KV_OK)
        goto done;
    s = kv_safetensors_open(dir, &hf->st, err);
done:
    if (hf) {
        hf->config = f.config;
        f.config = NULL;
    }
    if (f.tok_config)
        json_decref(f.tok_config);
    if (f.tok_json)
        json_decref(f.tok_json);
    if (s != KV_OK) {
        kv_hf_close(hf);
        return s;
    }
    *out = hf;
    return KV_OK;
}
