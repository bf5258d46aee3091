// The WordPiece vocab of a BERT folder (tokenizer.json, model type "WordPiece"),
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

kv_status kv__hf_vocab_wpm(const kv__hf_files *f, int64_t n_vocab, kv__hf_vocab_buf *b,
                           kv_err *err) {
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
