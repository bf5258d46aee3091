// The WordPiece vocab of a BERT folder (tokenizer.json, model type "WordPiece", or
// else vocab.txt, one token per line, with tokenizer_config.json's role names),
// as llama.cpp's BertModel converter stores it: tokens by id, a word-start token
// "hello" as "▁hello", a continuation "##llo" as "llo", "[...]" tokens as they are;
// added special tokens CONTROL, other added tokens USER_DEFINED, the rest NORMAL.
// kvant tokenizes "bert" vocabularies as uncased BERT does (BertNormalizer with
// lowercase, accents stripped, CJK split, text cleaned; BertPreTokenizer;
// continuation prefix "##"; words over 100 characters unknown), so a tokenizer.json
// that says otherwise is refused, naming the field.
#include "formats/hf_int.h"

#include <stdlib.h>
#include <string.h>

#include "formats/json_int.h"
#include "kvant/kv_core.h"

static bool flag_is(const json_t *o, const char *k, bool want, bool absent_ok) {
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return absent_ok;
    return json_is_boolean(v) && json_is_true(v) == want;
}

static kv_status check_shape(const char *path, const json_t *tj, kv_err *err) {
    const json_t *m = json_object_get(tj, "model");
    const json_t *n = json_object_get(tj, "normalizer");
    const json_t *pt = json_object_get(tj, "pre_tokenizer");
    const char *nt = json_string_value(json_object_get(n, "type"));
    const char *pre = json_string_value(json_object_get(pt, "type"));
    const char *pfx = json_string_value(json_object_get(m, "continuing_subword_prefix"));
    const json_t *mx = json_object_get(m, "max_input_chars_per_word");
    if (!nt || strcmp(nt, "BertNormalizer") != 0 || !flag_is(n, "lowercase", true, false) ||
        !flag_is(n, "strip_accents", true, true) || !flag_is(n, "handle_chinese_chars", true, true) ||
        !flag_is(n, "clean_text", true, true))
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: field 'normalizer' is not BertNormalizer with lowercase (kvant's "
                       "WordPiece is uncased BERT's: lowercase, accents stripped, CJK split)", path);
    if (!pre || strcmp(pre, "BertPreTokenizer") != 0)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: field 'pre_tokenizer' is %s, expected "
                       "BertPreTokenizer", path, pre ? pre : "missing");
    if (pfx && strcmp(pfx, "##") != 0)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: field 'model.continuing_subword_prefix' is "
                       "'%.20s', expected '##'", path, pfx);
    if (mx && !json_is_null(mx) && (!json_is_integer(mx) || json_integer_value(mx) != 100))
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: field 'model.max_input_chars_per_word' is "
                       "not 100", path);
    if (!json_is_object(json_object_get(m, "vocab")))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: field 'model.vocab' is missing or not an object",
                       path);
    return KV_OK;
}

// The token as llama.cpp's converter stores it ("phantom space" form).
static kv_status set_phantom(kv__hf_vocab_buf *b, int64_t i, const char *t, kv_err *err) {
    size_t n = strlen(t);
    if (n >= 2 && t[0] == '[' && t[n - 1] == ']')
        return kv__hf_vocab_set(b, i, t, n, err);
    if (n >= 2 && t[0] == '#' && t[1] == '#')
        return kv__hf_vocab_set(b, i, t + 2, n - 2, err);
    char *tmp = malloc(n + 4);
    if (!tmp)
        return KV_FAIL(err, KV_ERR_NOMEM, "vocab: out of memory");
    memcpy(tmp, "\xe2\x96\x81", 3);
    memcpy(tmp + 3, t, n + 1);
    kv_status st = kv__hf_vocab_set(b, i, tmp, n + 3, err);
    free(tmp);
    return st;
}

// A role's token name in tokenizer_config.json ("cls_token": "[CLS]" or {"content"}),
// else BertTokenizer's default.
static const char *role_name(const kv__hf_files *f, const char *key, const char *def) {
    const json_t *e = json_object_get(f->tok_config, key);
    const char *s = json_is_object(e) ? json_string_value(json_object_get(e, "content"))
                                      : json_string_value(e);
    return s ? s : def;
}

static bool cfg_flag(const kv__hf_files *f, const char *key, bool def) {
    const json_t *v = json_object_get(f->tok_config, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

// vocab.txt (one token per line, the line number its id), as BertTokenizer reads it
// when a folder has no tokenizer.json; tokenizer_config.json must not make it cased.
static kv_status vocab_txt(const kv__hf_files *f, int64_t n_vocab, kv__hf_vocab_buf *b,
                           kv_err *err) {
    char *path = kv__hf_path(f->dir, "vocab.txt"), *text = NULL;
    size_t size = 0;
    if (!path)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", f->dir);
    kv_status st = KV_OK;
    const json_t *sa = json_object_get(f->tok_config, "strip_accents");
    if (!cfg_flag(f, "do_lower_case", true) || json_is_false(sa) ||
        !cfg_flag(f, "tokenize_chinese_chars", true))
        st = KV_FAIL(err, KV_ERR_UNSUPPORTED,
                     "%s/tokenizer_config.json: field 'do_lower_case', 'strip_accents' or "
                     "'tokenize_chinese_chars' makes the WordPiece vocabulary cased or unsplit "
                     "(kvant's is uncased BERT's)", f->dir);
    if (st == KV_OK)
        st = kv_read_file(path, KV_HF_MAX_JSON, &text, &size, err);
    int64_t n = 0;
    for (size_t i = 0; st == KV_OK && i < size; i++)
        n += text[i] == '\n' || i + 1 == size;
    if (st == KV_OK)
        st = kv__hf_vocab_alloc(b, n_vocab > n ? n_vocab : n, false, path, err);
    const char *specials[] = {role_name(f, "unk_token", "[UNK]"), role_name(f, "sep_token", "[SEP]"),
                              role_name(f, "pad_token", "[PAD]"), role_name(f, "cls_token", "[CLS]"),
                              role_name(f, "mask_token", "[MASK]")};
    size_t line = 0;
    for (int64_t id = 0; st == KV_OK && id < n; id++) {
        size_t end = line;
        while (end < size && text[end] != '\n')
            end++;
        size_t len = end - line;
        while (len > 0 && (text[line + len - 1] == '\r' || text[line + len - 1] == ' '))
            len--; // BertTokenizer strips each line
        text[line + len] = '\0';
        b->types[id] = KV_TOKEN_NORMAL;
        for (size_t k = 0; k < sizeof specials / sizeof *specials; k++)
            if (strcmp(text + line, specials[k]) == 0)
                b->types[id] = KV_TOKEN_CONTROL;
        st = b->types[id] == KV_TOKEN_CONTROL ? kv__hf_vocab_set(b, id, text + line, len, err)
                                              : set_phantom(b, id, text + line, err);
        line = end + 1;
    }
    free(text);
    free(path);
    return st;
}

kv_status kv__hf_vocab_wpm(const kv__hf_files *f, int64_t n_vocab, kv__hf_vocab_buf *b,
                           kv_err *err) {
    if (!f->tok_json) {
        kv_status s = vocab_txt(f, n_vocab, b, err);
        char pad[32];
        for (int64_t i = 0; s == KV_OK && i < b->v.n_tokens; i++)
            if (!b->tokens[i]) {
                int m = snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
                b->types[i] = KV_TOKEN_UNUSED;
                s = kv__hf_vocab_set(b, i, pad, (size_t)m, err);
            }
        if (s == KV_OK) {
            b->v.model = "bert";
            b->v.pre = "default";
            b->v.add_space_prefix = -1;
        }
        return s;
    }
    char *path = kv__hf_path(f->dir, "tokenizer.json");
    if (!path)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", f->dir);
    kv_status st = check_shape(path, f->tok_json, err);
    const json_t *vocab = json_object_get(json_object_get(f->tok_json, "model"), "vocab");
    const json_t *added = json_object_get(f->tok_json, "added_tokens");
    int64_t max_id = -1;
    const char *k;
    json_t *v;
    if (st == KV_OK)
        json_object_foreach((json_t *)vocab, k, v) {
            json_int_t id = json_integer_value(v);
            if (!json_is_integer(v) || id < 0 || id >= KV_HF_MAX_VOCAB) {
                st = KV_FAIL(err, KV_ERR_FORMAT, "%s: model.vocab['%.100s'] is not an id in 0..%d",
                             path, k, KV_HF_MAX_VOCAB - 1);
                break;
            }
            max_id = id > max_id ? id : max_id;
        }
    // config.json's vocab_size wins where it is larger (unfilled ids: "[PAD<id>]")
    int64_t n = n_vocab > max_id + 1 ? n_vocab : max_id + 1;
    if (st == KV_OK)
        st = kv__hf_vocab_alloc(b, n, false, path, err);
    if (st == KV_OK)
        json_object_foreach((json_t *)vocab, k, v) {
            int64_t id = (int64_t)json_integer_value(v);
            b->types[id] = KV_TOKEN_NORMAL;
            if ((st = set_phantom(b, id, k, err)) != KV_OK)
                break;
        }
    for (size_t i = 0; st == KV_OK && i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        const char *content = json_string_value(json_object_get(a, "content"));
        if (!content || id < 0 || id >= n)
            continue;
        b->types[id] = json_is_true(json_object_get(a, "special")) ? KV_TOKEN_CONTROL
                                                                    : KV_TOKEN_USER_DEFINED;
        st = kv__hf_vocab_set(b, id, content, strlen(content), err);
    }
    char pad[32];
    for (int64_t i = 0; st == KV_OK && i < n; i++)
        if (!b->tokens[i]) {
            int m = snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
            b->types[i] = KV_TOKEN_UNUSED;
            st = kv__hf_vocab_set(b, i, pad, (size_t)m, err);
        }
    if (st == KV_OK) {
        b->v.model = "bert";
        b->v.pre = "default";
        b->v.add_space_prefix = -1;
    }
    free(path);
    return st;
}
