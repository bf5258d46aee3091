// Special tokens of a Hugging Face folder, found the way gguf-py's SpecialVocab
// finds them (so kvant's GGUF metadata matches llama.cpp's):
//  1. tokenizer.json's post_processor may say BOS/EOS are added;
//  2. when tokenizer_config.json exists and is not empty: add_<type>_token flags,
//     the chat template, and <type>_token names mapped to ids through
//     tokenizer.json's added_tokens (without tokenizer.json, no name maps to an id);
//  3. config.json's <type>_token_id fills the types still unset.
// An id set first is kept. generation_config.json is not read (SpecialVocab doesn't).
#include "formats/hf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"

enum { T_BOS, T_EOS, T_UNK, T_SEP, T_PAD, T_CLS, T_MASK, T_COUNT };
static const char *const type_names[T_COUNT] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};

typedef struct {
    int64_t n_limit;
    int64_t id[T_COUNT];    // -1 while unset
    int add[T_COUNT];       // -1 while unset
    const json_t *entry[T_COUNT]; // tokenizer_config's <type>_token (string or object)
    const char *override[T_COUNT]; // a name that replaces entry (from the post_processor)
} specials;

static void set_id(specials *sp, int typ, const json_t *v) {
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return; // llama.cpp rejects negative ids outright; kvant just ignores them
    int64_t id = (int64_t)json_integer_value(v);
    if (sp->id[typ] < 0 && (sp->n_limit < 0 || id < sp->n_limit))
        sp->id[typ] = id;
}

// Python truthiness of a JSON value (what `if not x` tests).
static bool truthy(const json_t *v) {
    if (!v)
        return false;
    switch (json_typeof(v)) {
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_OBJECT: return json_object_size(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0.0;
    case JSON_TRUE: return true;
    default: return false;
    }
}

// The name a type's token has: an override, or tokenizer_config's string (an
// object entry compares unequal to any string, as in Python).
static const char *type_str(const specials *sp, int typ) {
    return sp->override[typ] ? sp->override[typ] : json_string_value(sp->entry[typ]);
}

static bool same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static const char *special_token_id(const json_t *piece) {
    return json_string_value(json_object_get(json_object_get(piece, "SpecialToken"), "id"));
}

// TemplateProcessing: a special token first in "single" means BOS is added, one
// last means EOS is added (and becomes the EOS token).
static void template_processing(specials *sp, const json_t *proc, bool have_tc) {
    const json_t *single = json_object_get(proc, "single");
    size_t n = json_array_size(single);
    if (n <= 1)
        return;
    const char *first = special_token_id(json_array_get(single, 0));
    if (first) {
        if (!have_tc)
            sp->override[T_BOS] = first;
        sp->add[T_BOS] = same(first, type_str(sp, T_BOS)) || same(first, type_str(sp, T_CLS));
    }
    const char *last = special_token_id(json_array_get(single, n - 1));
    if (last) {
        if (!have_tc || !same(last, type_str(sp, T_EOS)))
            sp->override[T_EOS] = last;
        sp->add[T_EOS] = 1;
    }
}

static void post_processor(specials *sp, const json_t *tok_json, bool have_tc) {
    const json_t *pp = json_object_get(tok_json, "post_processor");
    if (!truthy(pp))
        return;
    const json_t *list = json_object_get(pp, "processors");
    size_t n = json_is_array(list) ? json_array_size(list) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *proc = json_is_array(list) ? json_array_get(list, i) : pp;
        const char *type = json_string_value(json_object_get(proc, "type"));
        if (same(type, "RobertaProcessing")) {
            sp->add[T_BOS] = sp->add[T_EOS] = sp->add[T_SEP] = 1;
        } else if (same(type, "TemplateProcessing")) {
            template_processing(sp, proc, have_tc);
        }
    }
}

// The id of the first added token whose content is name.
static const json_t *added_id(const json_t *added, const char *name) {
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        if (same(json_string_value(json_object_get(a, "content")), name))
            return json_object_get(a, "id");
    }
    return NULL;
}

static kv_status copy_template(const char *s, kv__hf_vocab_buf *b, const char *dir,
                               kv_err *err) {
    size_t n = strlen(s);
    b->chat_template = malloc(n + 1);
    if (!b->chat_template)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for the chat template", dir);
    memcpy(b->chat_template, s, n + 1);
    b->v.chat_template = b->chat_template;
    return KV_OK;
}

// A template given as a string, or as a list of {"name", "template"} (take "default").
static kv_status take_template(const json_t *t, kv__hf_vocab_buf *b, const char *dir,
                               kv_err *err) {
    if (json_is_string(t))
        return copy_template(json_string_value(t), b, dir, err);
    for (size_t i = 0; i < json_array_size(t); i++) {
        const json_t *e = json_array_get(t, i);
        const char *tpl = json_string_value(json_object_get(e, "template"));
        if (same(json_string_value(json_object_get(e, "name")), "default") && tpl)
            return copy_template(tpl, b, dir, err);
    }
    return KV_OK;
}

// tokenizer_config.json's "chat_template"; when it has none, chat_template.jinja
// or chat_template.json's "chat_template".
static kv_status chat_template(const kv__hf_files *f, kv__hf_vocab_buf *b, kv_err *err) {
    const json_t *t = json_object_get(f->tok_config, "chat_template");
    if (t)
        return take_template(t, b, f->dir, err);
    kv_status s = KV_OK;
    if (kv__hf_exists(f->dir, "chat_template.jinja")) {
        char *path = kv__hf_path(f->dir, "chat_template.jinja"), *text = NULL;
        if (!path)
            return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", f->dir);
        s = kv_read_file(path, KV_HF_MAX_JSON, &text, NULL, err);
        if (s == KV_OK)
            s = copy_template(text, b, f->dir, err);
        free(text);
        free(path);
        return s;
    }
    json_t *ct = NULL;
    s = kv__hf_json_opt(f->dir, "chat_template.json", &ct, err);
    if (s == KV_OK && ct)
        s = take_template(json_object_get(ct, "chat_template"), b, f->dir, err);
    json_decref(ct);
    return s;
}

static kv_status from_tok_config(const kv__hf_files *f, specials *sp, kv__hf_vocab_buf *b,
                                 kv_err *err) {
    kv_status s = chat_template(f, b, err);
    if (s != KV_OK)
        return s;
    const json_t *added = json_object_get(f->tok_json, "added_tokens");
    for (int t = 0; t < T_COUNT; t++) {
        char key[32];
        snprintf(key, sizeof key, "add_%s_token", type_names[t]);
        const json_t *add = json_object_get(f->tok_config, key);
        if (json_is_boolean(add))
            sp->add[t] = json_is_true(add);
        const char *name = sp->override[t];
        if (!name && json_is_object(sp->entry[t]))
            name = json_string_value(json_object_get(sp->entry[t], "content"));
        else if (!name)
            name = json_string_value(sp->entry[t]);
        if (name)
            set_id(sp, t, added_id(added, name));
    }
    return KV_OK;
}

static void from_config(const kv__hf_files *f, specials *sp) {
    const json_t *text_config = json_object_get(f->config, "text_config");
    for (int t = 0; t < T_COUNT; t++) {
        char key[32];
        snprintf(key, sizeof key, "%s_token_id", type_names[t]);
        const json_t *v = json_object_get(f->config, key);
        if (!v || json_is_null(v))
            v = json_object_get(text_config, key);
        set_id(sp, t, v);
    }
}

kv_status kv__hf_special(const kv__hf_files *f, int64_t n_limit, kv__hf_vocab_buf *b,
                         kv_err *err) {
    specials sp;
    memset(&sp, 0, sizeof sp);
    sp.n_limit = n_limit;
    for (int t = 0; t < T_COUNT; t++) {
        sp.id[t] = -1;
        sp.add[t] = -1;
        char key[32];
        snprintf(key, sizeof key, "%s_token", type_names[t]);
        sp.entry[t] = json_object_get(f->tok_config, key);
    }
    bool have_tc = truthy(f->tok_config);
    if (f->tok_json) {
        // A missing BOS/EOS name falls back to the CLS/SEP name.
        if (have_tc && !truthy(sp.entry[T_BOS]) && truthy(sp.entry[T_CLS]))
            sp.entry[T_BOS] = sp.entry[T_CLS];
        if (have_tc && !truthy(sp.entry[T_EOS]) && truthy(sp.entry[T_SEP]))
            sp.entry[T_EOS] = sp.entry[T_SEP];
        post_processor(&sp, f->tok_json, have_tc);
    }
    if (have_tc) {
        kv_status s = from_tok_config(f, &sp, b, err);
        if (s != KV_OK)
            return s;
    }
    from_config(f, &sp);
    b->v.bos_id = sp.id[T_BOS];
    b->v.eos_id = sp.id[T_EOS];
    b->v.unk_id = sp.id[T_UNK];
    b->v.sep_id = sp.id[T_SEP];
    b->v.pad_id = sp.id[T_PAD];
    b->v.add_bos = sp.add[T_BOS];
    b->v.add_eos = sp.add[T_EOS];
    return KV_OK;
}
