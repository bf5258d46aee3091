// Loads a vocabulary from GGUF metadata: the tokenizer.ggml.* keys llama.cpp
// writes and reads (SPM "llama" and BPE "gpt2" models), with llama.cpp's defaults
// where a key is absent. Builds a
// kv_vocab_params and leaves everything else to kv_vocab_new (tokenizer/vocab.c);
// and finds the chat template family of tokenizer.chat_template. This glue is the
// model layer's: the tokenizer sees only a vocabulary, never a GGUF file.
#include "kvant/kv_vocab_gguf.h"

#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"

// GGUF key of each role, in kv_special order.
static const char *const special_keys[KV_SPECIAL_COUNT] = {
    "tokenizer.ggml.bos_token_id",     "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",     "tokenizer.ggml.eom_token_id",
    "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
    "tokenizer.ggml.padding_token_id", "tokenizer.ggml.mask_token_id",
    "tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
    "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.fim_pad_token_id",
    "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id",
};

// Older names of the FIM roles, read when the new ones are absent.
static const struct {
    kv_special role;
    const char *key;
} old_fim_keys[] = {
    {KV_SPECIAL_FIM_PRE, "tokenizer.ggml.prefix_token_id"},
    {KV_SPECIAL_FIM_SUF, "tokenizer.ggml.suffix_token_id"},
    {KV_SPECIAL_FIM_MID, "tokenizer.ggml.middle_token_id"},
};

typedef struct {
    kv_vocab_params p;
    const char **texts;
    size_t *lens;
    float *scores;
    int32_t *types;
    char *name;
    char *pre;
    const char **merges;
    size_t *merge_lens;
} loaded;

static void loaded_free(loaded *l) {
    free(l->texts);
    free(l->lens);
    free(l->scores);
    free(l->types);
    free(l->name);
    free(l->pre);
    free(l->merges);
    free(l->merge_lens);
}

static kv_status read_model(const kv_gguf *g, kv_vocab_type *type, kv_err *err) {
    kv_str model;
    kv_status st = kv_gguf_get_str(g, KEY_MODEL, &model, err);
    if (st != KV_OK)
        return st;
    if (model.n == 5 && memcmp(model.p, "llama", 5) == 0) {
        *type = KV_VOCAB_SPM;
        return KV_OK;
    }
    if (model.n == 4 && memcmp(model.p, "gpt2", 4) == 0) {
        *type = KV_VOCAB_BPE;
        return KV_OK;
    }
    if (model.n == 4 && memcmp(model.p, "bert", 4) == 0) {
        *type = KV_VOCAB_WPM;
        return KV_OK;
    }
    return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                   "%s: tokenizer model '%.*s' (key '" KEY_MODEL "') is not supported; "
                   "kvant reads 'llama' (SentencePiece), 'gpt2' (BPE) and 'bert' (WordPiece) vocabularies",
                   kv_gguf_path(g), (int)(model.n > 64 ? 64 : model.n), model.p);
}

// A NUL-terminated copy of an optional string key (NULL when absent).
static kv_status read_opt_str(const kv_gguf *g, const char *key, char **out, kv_err *err) {
    *out = NULL;
    if (kv_gguf_find(g, key) < 0)
        return KV_OK;
    kv_str s;
    kv_status st = kv_gguf_get_str(g, key, &s, err);
    if (st != KV_OK)
        return st;
    *out = malloc(s.n + 1);
    if (!*out)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: no memory for key '%s'", kv_gguf_path(g), key);
    if (s.n)
        memcpy(*out, s.p, s.n);
    (*out)[s.n] = '\0';
    return KV_OK;
}

// Points texts/lens at the n strings of a string-array key.
static kv_status read_str_arr(const kv_gguf *g, const kv_gguf_val *arr, const char ***texts,
                              size_t **lens, kv_err *err) {
    size_t n = (size_t)arr->n;
    *texts = malloc((n ? n : 1) * sizeof(**texts));
    *lens = malloc((n ? n : 1) * sizeof(**lens));
    if (!*texts || !*lens)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: no memory for %zu strings", kv_gguf_path(g), n);
    for (size_t i = 0; i < n; i++) {
        kv_str s;
        kv_status st = kv_gguf_arr_str(g, arr, i, &s, err);
        if (st != KV_OK)
            return st;
        (*texts)[i] = s.p ? s.p : "";
        (*lens)[i] = s.n;
    }
    return KV_OK;
}

static kv_status read_merges(const kv_gguf *g, loaded *l, kv_err *err) {
    const kv_gguf_val *arr;
    kv_status st = kv_gguf_get_arr(g, KEY_MERGES, KV_GGUF_STRING, &arr, err);
    if (st != KV_OK)
        return st;
    if (arr->n > (uint64_t)KV_VOCAB_MAX_TOKENS)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: key '" KEY_MERGES "' has %llu merges, limit %lld",
                       kv_gguf_path(g), (unsigned long long)arr->n,
                       (long long)KV_VOCAB_MAX_TOKENS);
    st = read_str_arr(g, arr, &l->merges, &l->merge_lens, err);
    l->p.n_merges = (int64_t)arr->n;
    l->p.merges = l->merges;
    l->p.merge_lens = l->merge_lens;
    return st;
}

static kv_status read_tokens(const kv_gguf *g, loaded *l, kv_err *err) {
    const kv_gguf_val *arr;
    kv_status st = kv_gguf_get_arr(g, KEY_TOKENS, KV_GGUF_STRING, &arr, err);
    if (st != KV_OK)
        return st;
    if (arr->n == 0 || arr->n > (uint64_t)KV_VOCAB_MAX_TOKENS)
        return KV_FAIL(err, arr->n ? KV_ERR_LIMIT : KV_ERR_FORMAT,
                       "%s: key '" KEY_TOKENS "' has %llu tokens, expected 1..%lld",
                       kv_gguf_path(g), (unsigned long long)arr->n,
                       (long long)KV_VOCAB_MAX_TOKENS);
    st = read_str_arr(g, arr, &l->texts, &l->lens, err);
    if (st != KV_OK)
        return st;
    l->p.n_tokens = (int64_t)arr->n;
    l->p.texts = l->texts;
    l->p.text_lens = l->lens;
    return KV_OK;
}

// Finds an optional array key of at least n elements, of one of two element types.
static kv_status find_arr(const kv_gguf *g, const char *key, size_t n, kv_gguf_vtype t1,
                          kv_gguf_vtype t2, const kv_gguf_val **out, kv_err *err) {
    *out = NULL;
    if (kv_gguf_find(g, key) < 0)
        return KV_OK;
    const kv_gguf_val *arr;
    kv_status st = kv_gguf_get_arr(g, key, KV_GGUF_TYPE_COUNT, &arr, err);
    if (st != KV_OK)
        return st;
    if (arr->elem_type != t1 && arr->elem_type != t2)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: key '%s' is an array of %s, expected %s",
                       kv_gguf_path(g), key, kv_gguf_vtype_name(arr->elem_type),
                       kv_gguf_vtype_name(t1));
    if (arr->n < n)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: key '%s' has %llu elements, expected %zu (one per "
                       "token)", kv_gguf_path(g), key, (unsigned long long)arr->n, n);
    *out = arr;
    return KV_OK;
}

static kv_status read_scores_types(const kv_gguf *g, loaded *l, kv_err *err) {
    size_t n = (size_t)l->p.n_tokens;
    const kv_gguf_val *sc, *ty;
    kv_status st = find_arr(g, KEY_SCORES, n, KV_GGUF_F32, KV_GGUF_I32, &sc, err);
    if (st == KV_OK)
        st = find_arr(g, KEY_TYPES, n, KV_GGUF_I32, KV_GGUF_I32, &ty, err);
    if (st != KV_OK)
        return st;
    if (sc) {
        l->scores = malloc(n * sizeof(*l->scores));
        if (!l->scores)
            return KV_FAIL(err, KV_ERR_NOMEM, "%s: no memory for scores", kv_gguf_path(g));
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = kv_le32(sc->data + 4 * i);
            float f;
            memcpy(&f, &bits, sizeof(f));
            l->scores[i] = sc->elem_type == KV_GGUF_F32 ? f : (float)(int32_t)bits;
        }
        l->p.scores = l->scores;
    }
    if (ty) {
        l->types = malloc(n * sizeof(*l->types));
        if (!l->types)
            return KV_FAIL(err, KV_ERR_NOMEM, "%s: no memory for token types", kv_gguf_path(g));
        for (size_t i = 0; i < n; i++)
            l->types[i] = (int32_t)kv_le32(ty->data + 4 * i);
        l->p.types = l->types;
    }
    return KV_OK;
}

static kv_status read_bool(const kv_gguf *g, const char *key, bool *v, kv_err *err) {
    if (kv_gguf_find(g, key) < 0)
        return KV_OK; // keep the default
    return kv_gguf_get_bool(g, key, v, err);
}

// A special id overrides the default only when it names a token (as llama.cpp).
static kv_status read_id(const kv_gguf *g, const char *key, kv_token *id, int64_t n_tokens,
                         kv_err *err) {
    if (kv_gguf_find(g, key) < 0)
        return KV_OK;
    int64_t v;
    kv_status st = kv_gguf_get_int(g, key, &v, err);
    if (st == KV_OK && v >= 0 && v < n_tokens)
        *id = (kv_token)v;
    return st;
}

static kv_status read_flags_ids(const kv_gguf *g, loaded *l, kv_err *err) {
    kv_vocab_params *p = &l->p;
    kv_status st = read_bool(g, "tokenizer.ggml.add_space_prefix", &p->add_space_prefix, err);
    if (st == KV_OK)
        st = read_bool(g, "tokenizer.ggml.add_bos_token", &p->add_bos, err);
    if (st == KV_OK)
        st = read_bool(g, "tokenizer.ggml.add_eos_token", &p->add_eos, err);
    for (int i = 0; i < KV_SPECIAL_COUNT && st == KV_OK; i++) {
        if (p->special[i] >= p->n_tokens)
            p->special[i] = KV_TOKEN_NULL; // a default outside the vocabulary
        st = read_id(g, special_keys[i], &p->special[i], p->n_tokens, err);
    }
    for (size_t i = 0; i < sizeof(old_fim_keys) / sizeof(old_fim_keys[0]) && st == KV_OK; i++)
        st = read_id(g, old_fim_keys[i].key, &p->special[old_fim_keys[i].role], p->n_tokens, err);
    // WordPiece: [CLS] starts the text; gguf-py writes it as cls_token_id, no bos
    if (st == KV_OK && p->type == KV_VOCAB_WPM && kv_gguf_find(g, special_keys[0]) < 0)
        st = read_id(g, "tokenizer.ggml.cls_token_id", &p->special[KV_SPECIAL_BOS], p->n_tokens,
                     err);
    if (st == KV_OK)
        st = read_opt_str(g, "general.name", &l->name, err);
    p->name = l->name;
    return st;
}

kv_status kv_vocab_from_gguf(const kv_gguf *g, kv_vocab **out, kv_err *err) {
    if (!out || !g)
        return KV_FAIL(err, KV_ERR_INVALID, "vocabulary: no GGUF file or no output pointer");
    *out = NULL;
    loaded l;
    memset(&l, 0, sizeof(l));
    kv_vocab_type type = KV_VOCAB_SPM;
    kv_status st = read_model(g, &type, err);
    kv_vocab_params_init(&l.p, type);
    if (st == KV_OK)
        st = read_opt_str(g, "tokenizer.ggml.pre", &l.pre, err);
    kv_vocab_params_set_pre(&l.p, l.pre);
    if (st == KV_OK && (type == KV_VOCAB_BPE || kv_gguf_find(g, KEY_MERGES) >= 0))
        st = read_merges(g, &l, err); // SPM: merges from tokenizer.json, when present
    if (st == KV_OK)
        st = read_tokens(g, &l, err);
    if (st == KV_OK)
        st = read_scores_types(g, &l, err);
    if (st == KV_OK)
        st = read_flags_ids(g, &l, err);
    if (st == KV_OK) {
        st = kv_vocab_new(&l.p, out, err);
        if (st != KV_OK)
            kv_err_prefix(err, kv_gguf_path(g));
    }
    loaded_free(&l);
    return st;
}

kv_chat_tmpl kv_chat_detect_gguf(const kv_gguf *g, bool *has_template) {
    kv_str v;
    bool has = g && kv_gguf_get_str(g, "tokenizer.chat_template", &v, NULL) == KV_OK;
    if (has_template)
        *has_template = has;
    if (!has)
        return KV_CHAT_PLAIN;
    char *t = malloc(v.n + 1);
    if (!t)
        return KV_CHAT_PLAIN;
    memcpy(t, v.p, v.n);
    t[v.n] = '\0';
    kv_chat_tmpl r = kv_chat_detect(t);
    free(t);
    return r;
}
