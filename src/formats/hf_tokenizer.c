// The SentencePiece vocab of a Hugging Face folder (tokenizer.model plus
// added_tokens.json and tokenizer_config.json's added_tokens_decoder), built the
// way llama.cpp's convert_hf_to_gguf.py builds it, so token lists, scores and
// types match its GGUF files byte for byte. Also the vocab buffer helpers.
#include "formats/hf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/json_int.h"
#include "kvant/kv_spm.h"

// llama.cpp's scores for ids no piece fills, and for added tokens.
#define KV_HF_SCORE_PAD -10000.0f
#define KV_HF_SCORE_ADDED -1000.0f

// ---- folder and buffer helpers ----

char *kv__hf_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t off = a;
    if (a && dir[a - 1] != '/')
        p[off++] = '/';
    memcpy(p + off, name, b + 1);
    return p;
}

bool kv__hf_exists(const char *dir, const char *name) {
    char *p = kv__hf_path(dir, name);
    struct stat sb;
    bool ok = p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
    free(p);
    return ok;
}

kv_status kv__hf_json_opt(const char *dir, const char *name, json_t **out, kv_err *err) {
    *out = NULL;
    if (!kv__hf_exists(dir, name))
        return KV_OK;
    char *p = kv__hf_path(dir, name);
    if (!p)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", dir);
    kv_status s = kv__json_load_file(p, KV_HF_MAX_JSON, KV_JSON_BIG_INT_AS_REAL, out, err);
    free(p);
    return s;
}

kv_status kv__hf_vocab_alloc(kv__hf_vocab_buf *b, int64_t n, bool with_scores, const char *what,
                             kv_err *err) {
    if (n < 1 || n > KV_HF_MAX_VOCAB)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: vocab of %lld tokens, expected 1..%d", what,
                       (long long)n, KV_HF_MAX_VOCAB);
    b->tokens = calloc((size_t)n, sizeof *b->tokens);
    b->types = calloc((size_t)n, sizeof *b->types);
    b->scores = with_scores ? calloc((size_t)n, sizeof *b->scores) : NULL;
    if (!b->tokens || !b->types || (with_scores && !b->scores))
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %lld tokens", what, (long long)n);
    b->v.n_tokens = n;
    b->v.tokens = (const char *const *)b->tokens;
    b->v.types = b->types;
    b->v.scores = b->scores;
    return KV_OK;
}

void kv__hf_vocab_free(kv__hf_vocab_buf *b) {
    if (b->tokens)
        for (int64_t i = 0; i < b->v.n_tokens; i++)
            free(b->tokens[i]);
    if (b->merges)
        for (int64_t i = 0; i < b->v.n_merges; i++)
            free(b->merges[i]);
    free(b->tokens);
    free(b->scores);
    free(b->types);
    free(b->merges);
    free(b->chat_template);
    memset(b, 0, sizeof *b);
}

kv_status kv__hf_vocab_set(kv__hf_vocab_buf *b, int64_t i, const char *s, size_t len,
                           kv_err *err) {
    char *p = malloc(len + 1);
    if (!p)
        return KV_FAIL(err, KV_ERR_NOMEM, "vocab: out of memory");
    memcpy(p, s, len);
    p[len] = '\0';
    free(b->tokens[i]);
    b->tokens[i] = p;
    return KV_OK;
}

static bool starts_ends(const char *s, const char *pre, const char *suf) {
    size_t n = strlen(s), a = strlen(pre), b = strlen(suf);
    return n >= a + b && memcmp(s, pre, a) == 0 && memcmp(s + n - b, suf, b) == 0;
}

bool kv__hf_token_looks_special(const char *s) {
    static const char *const named[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strcmp(s, named[i]) == 0)
            return true;
    return starts_ends(s, "<|", "|>") ||
           starts_ends(s, "<\xef\xbd\x9c", "\xef\xbd\x9c>") || // fullwidth bars "<｜...｜>"
           starts_ends(s, "<unused", ">");
}

// ---- SentencePiece vocab ----

kv_status kv__hf_vocab_set_unescaped(kv__hf_vocab_buf *b, int64_t i, const char *s,
                                     kv_err *err) {
    size_t n = strlen(s), j = 0;
    char *tmp = malloc(n + 1);
    if (!tmp)
        return KV_FAIL(err, KV_ERR_NOMEM, "vocab: out of memory");
    for (size_t k = 0; k < n;) {
        if (n - k >= 3 && memcmp(s + k, "\xe2\x96\x81", 3) == 0) {
            tmp[j++] = ' ';
            k += 3;
        } else {
            tmp[j++] = s[k++];
        }
    }
    kv_status st = kv__hf_vocab_set(b, i, tmp, j, err);
    free(tmp);
    return st;
}

// added_tokens.json: {"TEXT": id, ...}, user-defined tokens.
static kv_status apply_added_json(const kv__hf_files *f, kv__hf_vocab_buf *b, kv_err *err) {
    json_t *added = NULL;
    kv_status s = kv__hf_json_opt(f->dir, "added_tokens.json", &added, err);
    if (s != KV_OK || !added)
        return s;
    const char *text;
    json_t *id;
    json_object_foreach(added, text, id) {
        if (!json_is_integer(id) || json_integer_value(id) < 0) {
            s = KV_FAIL(err, KV_ERR_FORMAT,
                        "%s/added_tokens.json: token '%.100s' has id of type %s, expected an "
                        "integer >= 0",
                        f->dir, text, kv__json_type_name(id));
            break;
        }
        int64_t i = (int64_t)json_integer_value(id);
        if (i >= b->v.n_tokens)
            continue; // llama.cpp ignores ids past the vocab
        if ((s = kv__hf_vocab_set(b, i, text, strlen(text), err)) != KV_OK)
            break;
        b->scores[i] = KV_HF_SCORE_ADDED;
        b->types[i] = KV_TOKEN_USER_DEFINED;
    }
    json_decref(added);
    return s;
}

// One added_tokens_decoder entry "ID": {"content": TEXT, "special": bool, ...}.
static kv_status apply_decoder_entry(const kv__hf_files *f, const char *key, const json_t *e,
                                     kv__hf_vocab_buf *b, kv_err *err) {
    char *end = NULL;
    long long id = strtoll(key, &end, 10);
    const char *content = json_string_value(json_object_get(e, "content"));
    if (end == key || *end != '\0' || id < 0 || !content)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s/tokenizer_config.json: added_tokens_decoder entry '%.50s' is not "
                       "\"ID\": {\"content\": TEXT, ...}",
                       f->dir, key);
    if (id >= b->v.n_tokens)
        return KV_OK;
    kv_status s;
    if (json_is_true(json_object_get(e, "special")) || kv__hf_token_looks_special(content)) {
        b->types[id] = KV_TOKEN_CONTROL;
        s = kv__hf_vocab_set(b, id, content, strlen(content), err);
    } else {
        b->types[id] = KV_TOKEN_USER_DEFINED; // pre-normalised: "▁" becomes a space
        s = kv__hf_vocab_set_unescaped(b, id, content, err);
    }
    b->scores[id] = KV_HF_SCORE_ADDED;
    return s;
}

static kv_status apply_added_decoder(const kv__hf_files *f, kv__hf_vocab_buf *b, kv_err *err) {
    const json_t *dec = json_object_get(f->tok_config, "added_tokens_decoder");
    if (!dec || json_is_null(dec))
        return KV_OK;
    if (!json_is_object(dec))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s/tokenizer_config.json: field 'added_tokens_decoder' has type %s, "
                       "expected an object",
                       f->dir, kv__json_type_name(dec));
    const char *key;
    json_t *e;
    json_object_foreach((json_t *)dec, key, e) {
        kv_status s = apply_decoder_entry(f, key, e, b, err);
        if (s != KV_OK)
            return s;
    }
    return KV_OK;
}

// Token type from a SentencePiece piece type: USER_DEFINED pieces count as NORMAL,
// as in llama.cpp (it asks only IsUnknown/IsControl/IsUnused/IsByte).
static int32_t spm_type(int32_t t) {
    return t == KV_TOKEN_USER_DEFINED ? KV_TOKEN_NORMAL : t;
}

static kv_status fill_pieces(const kv_spm_model *m, kv__hf_vocab_buf *b, kv_err *err) {
    char pad[32];
    for (int64_t i = 0; i < b->v.n_tokens; i++) {
        kv_status s;
        if (i < m->n_pieces) {
            s = kv__hf_vocab_set(b, i, m->pieces[i], strlen(m->pieces[i]), err);
            b->scores[i] = m->scores[i];
            b->types[i] = spm_type(m->types[i]);
        } else {
            int n = snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
            s = kv__hf_vocab_set(b, i, pad, (size_t)n, err);
            b->scores[i] = KV_HF_SCORE_PAD;
            b->types[i] = KV_TOKEN_UNUSED;
        }
        if (s != KV_OK)
            return s;
    }
    return KV_OK;
}

kv_status kv__hf_vocab_spm(const kv__hf_files *f, int64_t n_vocab, kv__hf_vocab_buf *b,
                           kv_err *err) {
    char *path = kv__hf_path(f->dir, "tokenizer.model");
    if (!path)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", f->dir);
    kv_spm_model *m = NULL;
    kv_status s = kv_spm_model_load(path, &m, err);
    // config.json's vocab_size wins; pieces past it are dropped, ids past the
    // pieces become "[PAD<id>]" (both as llama.cpp does).
    if (s == KV_OK)
        s = kv__hf_vocab_alloc(b, n_vocab > 0 ? n_vocab : m->n_pieces, true, path, err);
    if (s == KV_OK)
        s = fill_pieces(m, b, err);
    if (s == KV_OK)
        s = apply_added_json(f, b, err);
    if (s == KV_OK)
        s = apply_added_decoder(f, b, err);
    if (s == KV_OK) {
        b->v.model = "llama";
        b->v.pre = "default";
        b->v.add_space_prefix = m->add_dummy_prefix;
        b->v.remove_extra_whitespaces = m->remove_extra_whitespaces;
        b->v.byte_fallback = m->byte_fallback;
    }
    kv_spm_model_free(m);
    free(path);
    return s;
}
