// The vocab of a Hugging Face BPE tokenizer (tokenizer.json, no tokenizer.model),
// built as llama.cpp's converter builds it for Llama-family models:
//  - byte-fallback BPE with a Sequence decoder (SentencePiece-style, LlamaHfVocab):
//    model "llama", base tokens then added tokens, score -1000, types BYTE for
//    "<0xXX>", CONTROL for special added tokens, USER_DEFINED for other added ones;
//  - otherwise byte-level BPE (GPT-2 style): model "gpt2", one token per id up to
//    vocab_size ("[PAD<id>]" where no token has the id), merges.
// tokenizer.json layout: {"added_tokens": [{"id", "content", "special", ...}],
//   "pre_tokenizer": {...}, "decoder": {...},
//   "model": {"type": "BPE", "vocab": {TOKEN: id}, "merges": ["a b" | ["a", "b"]],
//             "byte_fallback": bool}}
#include "formats/hf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json_int.h"
#include "kvant/kv_core.h"
#include "kvant/kv_pretok.h"

#define KV_HF_SCORE_HF -1000.0f // llama.cpp's score for every LlamaHfVocab token

// Tokens by id: text borrowed from the JSON, and the added_tokens entry if any.
typedef struct {
    int64_t n;
    const char **text;
    const json_t **added;
} id_table;

static void table_free(id_table *t) {
    free(t->text);
    free((void *)t->added);
}

// Checks ids in model.vocab and added_tokens; *max_id is the largest, *n_distinct
// the number of distinct token texts.
static kv_status scan_ids(const char *path, const json_t *vocab, const json_t *added,
                          int64_t *max_id, int64_t *n_distinct, kv_err *err) {
    const char *k;
    json_t *v;
    *max_id = -1;
    *n_distinct = (int64_t)json_object_size(vocab);
    json_object_foreach((json_t *)vocab, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= KV_HF_MAX_VOCAB)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: model.vocab['%.100s'] is not an id in 0..%d", path, k,
                           KV_HF_MAX_VOCAB - 1);
        if (json_integer_value(v) > *max_id)
            *max_id = (int64_t)json_integer_value(v);
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i), *id = json_object_get(a, "id");
        const char *content = json_string_value(json_object_get(a, "content"));
        if (!content || !json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= KV_HF_MAX_VOCAB)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: added_tokens[%zu] is not {\"id\": 0..%d, \"content\": TEXT}", path,
                           i, KV_HF_MAX_VOCAB - 1);
        if (json_integer_value(id) > *max_id)
            *max_id = (int64_t)json_integer_value(id);
        if (!json_object_get(vocab, content))
            (*n_distinct)++;
    }
    return KV_OK;
}

static kv_status table_fill(const char *path, const json_t *vocab, const json_t *added,
                            int64_t n, id_table *t, kv_err *err) {
    t->n = n;
    t->text = calloc((size_t)n, sizeof *t->text);
    t->added = calloc((size_t)n, sizeof *t->added);
    if (!t->text || !t->added)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %lld tokens", path, (long long)n);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)vocab, k, v) {
        if (json_integer_value(v) < n)
            t->text[json_integer_value(v)] = k;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        if (id < n) {
            t->text[id] = json_string_value(json_object_get(a, "content"));
            t->added[id] = a;
        }
    }
    return KV_OK;
}

static bool added_is_special(const json_t *a) {
    return json_is_true(json_object_get(a, "special")) ||
           kv__hf_token_looks_special(json_string_value(json_object_get(a, "content")));
}

// ---- merges ----

// A copy of s with each space written as U+0120 ("Ġ"), as gguf-py stores merge
// pairs whose parts contain spaces.
static char *escape_spaces(const char *s) {
    size_t n = strlen(s), j = 0;
    char *out = malloc(2 * n + 1);
    if (!out)
        return NULL;
    for (; *s; s++) {
        if (*s == ' ') {
            out[j++] = (char)0xc4;
            out[j++] = (char)0xa0;
        } else {
            out[j++] = *s;
        }
    }
    out[j] = '\0';
    return out;
}

static char *merge_text(const json_t *m) {
    if (json_is_string(m)) {
        const char *s = json_string_value(m);
        size_t n = strlen(s);
        char *out = malloc(n + 1);
        if (out)
            memcpy(out, s, n + 1);
        return out;
    }
    const char *a = json_string_value(json_array_get(m, 0));
    const char *b = json_string_value(json_array_get(m, 1));
    if (json_array_size(m) != 2 || !a || !b)
        return NULL;
    char *pa = escape_spaces(a), *pb = escape_spaces(b);
    char *out = NULL;
    if (pa && pb && (out = malloc(strlen(pa) + strlen(pb) + 2)))
        sprintf(out, "%s %s", pa, pb);
    free(pa);
    free(pb);
    return out;
}

static kv_status merges_from_json(const char *path, const json_t *merges, kv__hf_vocab_buf *b,
                                  kv_err *err) {
    size_t n = json_array_size(merges);
    b->merges = calloc(n ? n : 1, sizeof *b->merges);
    if (!b->merges)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %zu merges", path, n);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(merges, i);
        if (!json_is_string(m) && !json_is_array(m))
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: model.merges[%zu] has type %s, expected \"a b\" or [\"a\", \"b\"]",
                           path, i, kv__json_type_name(m));
        b->merges[i] = merge_text(m);
        if (!b->merges[i])
            return KV_FAIL(err, json_is_array(m) ? KV_ERR_FORMAT : KV_ERR_NOMEM,
                           "%s: model.merges[%zu] is not a pair of strings", path, i);
        b->v.n_merges = (int64_t)i + 1;
    }
    b->v.merges = (const char *const *)b->merges;
    return KV_OK;
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// One merges.txt line [p, end): exactly two whitespace-separated parts -> "a b".
static char *merge_line(const char *p, const char *end) {
    const char *part[3];
    size_t len[3];
    int n = 0;
    while (p < end && n < 3) {
        while (p < end && is_space(*p))
            p++;
        if (p == end)
            break;
        part[n] = p;
        while (p < end && !is_space(*p))
            p++;
        len[n] = (size_t)(p - part[n]);
        n++;
    }
    if (n != 2)
        return NULL; // llama.cpp skips malformed lines
    char *out = malloc(len[0] + len[1] + 2);
    if (out)
        sprintf(out, "%.*s %.*s", (int)len[0], part[0], (int)len[1], part[1]);
    return out;
}

// merges.txt: one "a b" per line; a first line starting with '#' is a comment.
static kv_status merges_from_txt(const char *dir, kv__hf_vocab_buf *b, kv_err *err) {
    char *path = kv__hf_path(dir, "merges.txt"), *text = NULL;
    size_t size = 0;
    kv_status s = path ? kv_read_file(path, KV_HF_MAX_JSON, &text, &size, err)
                       : KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", dir);
    size_t n_lines = 1;
    for (size_t i = 0; s == KV_OK && i < size; i++)
        n_lines += text[i] == '\n';
    if (s == KV_OK && !(b->merges = calloc(n_lines, sizeof *b->merges)))
        s = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    const char *p = text, *end = text + size;
    for (bool first = true; s == KV_OK && p < end; first = false) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *q = p;
        while (q < eol && is_space(*q))
            q++;
        if (!(first && q < eol && *q == '#') && q < eol) {
            char *m = merge_line(q, eol);
            if (m)
                b->merges[b->v.n_merges++] = m;
        }
        p = eol + (eol < end);
    }
    b->v.merges = (const char *const *)b->merges;
    free(text);
    free(path);
    return s;
}

// ---- pre-tokenizer ----

// llama.cpp names the pre-tokenizer by hashing a test tokenization against a table
// of known models; kvant reads tokenizer.json's pre_tokenizer instead: its steps
// (Split patterns, Digits, Punctuation, ByteLevel's own pattern) written as the
// expressions they run, compared with each known pre-tokenizer's list.
#define MAX_STEPS 8

typedef struct {
    const char *name;
    int clean; // tokenizer_config's clean_up_tokenization_spaces it goes with; -1 either
    const char *steps[MAX_STEPS];
} pre_sig;

static const pre_sig pre_sigs[] = {
    {"llama-bpe", -1, {KV_PRETOK_RE_LLAMA3}},
    {"qwen2", -1, {KV_PRETOK_RE_QWEN2}},
    {"deepseek-v3", -1, {KV_PRETOK_RE_DIGIT3, KV_PRETOK_RE_CJK_JA, KV_PRETOK_RE_DEEPSEEK3}},
    {"deepseek-llm", -1,
     {KV_PRETOK_RE_NEWLINE, KV_PRETOK_RE_LLM_LETTERS, KV_PRETOK_RE_LLM_PUNCT,
      KV_PRETOK_RE_LLM_SPACE_END, KV_PRETOK_RE_CJK_KO, KV_PRETOK_RE_DIGITS}},
    {"deepseek-coder", -1,
     {KV_PRETOK_RE_NEWLINE, KV_PRETOK_RE_CODER_LETTERS, KV_PRETOK_RE_CODER_PUNCT,
      KV_PRETOK_RE_CJK_KO, KV_PRETOK_RE_DIGIT}},
    {"falcon", -1, {KV_PRETOK_RE_PUNCT, KV_PRETOK_RE_GPT2, KV_PRETOK_RE_DIGITS,
                    KV_PRETOK_RE_TRIPLES}},
    {"smollm", 0, {KV_PRETOK_RE_DIGIT, KV_PRETOK_RE_GPT2}},
    {"starcoder", -1, {KV_PRETOK_RE_DIGIT, KV_PRETOK_RE_GPT2}},
    {"gpt-2", -1, {KV_PRETOK_RE_GPT2}},
};

typedef struct {
    const char *step[MAX_STEPS];
    int n;
    bool byte_level; // a ByteLevel step (with or without its pattern) was seen
    char found[200]; // what was read, for the error message
} pre_walk;

static void walk_note(pre_walk *w, const char *fmt, const char *arg) {
    size_t k = strlen(w->found);
    if (k + 4 < sizeof w->found)
        snprintf(w->found + k, sizeof w->found - k, fmt, k ? ", " : "", arg);
}

static bool walk_step(pre_walk *w, const char *re) {
    if (w->n == MAX_STEPS)
        return false;
    w->step[w->n++] = re;
    return true;
}

// Reads one pre_tokenizer node; false when it is not a step kvant knows.
static bool walk_pre(const json_t *pt, pre_walk *w, int depth) {
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!type || depth > 4) {
        walk_note(w, "%s%s", "(no type)");
        return false;
    }
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(pt, "pretokenizers");
        for (size_t i = 0; i < json_array_size(list); i++)
            if (!walk_pre(json_array_get(list, i), w, depth + 1))
                return false;
        return json_is_array(list);
    }
    if (strcmp(type, "Split") == 0) {
        const char *re = json_string_value(json_object_get(json_object_get(pt, "pattern"), "Regex"));
        const char *beh = json_string_value(json_object_get(pt, "behavior"));
        walk_note(w, "%sSplit /%.60s/", re ? re : "(not a regex)");
        return re && (!beh || strcmp(beh, "Isolated") == 0) &&
               !json_is_true(json_object_get(pt, "invert")) && walk_step(w, re);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        bool use_regex = !json_is_false(json_object_get(pt, "use_regex"));
        walk_note(w, "%s%s", use_regex ? "ByteLevel" : "ByteLevel (no regex)");
        w->byte_level = true;
        return !use_regex || walk_step(w, KV_PRETOK_RE_GPT2);
    }
    if (strcmp(type, "Digits") == 0) {
        bool each = json_is_true(json_object_get(pt, "individual_digits"));
        walk_note(w, "%s%s", each ? "Digits (individual)" : "Digits");
        return walk_step(w, each ? KV_PRETOK_RE_DIGIT : KV_PRETOK_RE_DIGITS);
    }
    if (strcmp(type, "Punctuation") == 0) {
        walk_note(w, "%s%s", "Punctuation");
        return walk_step(w, KV_PRETOK_RE_PUNCT);
    }
    walk_note(w, "%s%s", type);
    return false;
}

static bool sig_matches(const pre_sig *s, const pre_walk *w) {
    int n = 0;
    while (n < MAX_STEPS && s->steps[n])
        n++;
    if (n != w->n)
        return false;
    for (int i = 0; i < n; i++)
        if (strcmp(s->steps[i], w->step[i]) != 0)
            return false;
    return true;
}

// The tokenizer.ggml.pre name of a byte-level BPE tokenizer.json, or an error that
// names the file, the field and what it holds.
static kv_status pre_name(const kv__hf_files *f, const char *path, const char **out,
                          kv_err *err) {
    const json_t *pt = json_object_get(f->tok_json, "pre_tokenizer");
    pre_walk w;
    memset(&w, 0, sizeof w);
    bool ok = pt && !json_is_null(pt) && walk_pre(pt, &w, 0) && w.byte_level;
    const json_t *clean_j = json_object_get(f->tok_config, "clean_up_tokenization_spaces");
    int clean = json_is_boolean(clean_j) ? json_is_true(clean_j) : -1;
    for (size_t i = 0; ok && i < sizeof pre_sigs / sizeof pre_sigs[0]; i++) {
        const pre_sig *s = &pre_sigs[i];
        if (sig_matches(s, &w) && (s->clean < 0 || s->clean == clean)) {
            *out = s->name;
            return KV_OK;
        }
    }
    return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                   "%s: field 'pre_tokenizer' (%s) is not a pre-tokenizer kvant knows (it "
                   "knows those of llama-bpe, qwen2, deepseek-llm, deepseek-coder, deepseek-v3, "
                   "falcon, starcoder, smollm and gpt-2)",
                   path, !pt || json_is_null(pt) ? "none" : w.found[0] ? w.found : "empty");
}

// ---- the two vocab shapes ----

static kv_status vocab_gpt2(const char *path, const id_table *t, kv__hf_vocab_buf *b,
                            kv_err *err) {
    kv_status s = kv__hf_vocab_alloc(b, t->n, false, path, err);
    char pad[32];
    for (int64_t i = 0; s == KV_OK && i < t->n; i++) {
        if (!t->text[i]) {
            int n = snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
            s = kv__hf_vocab_set(b, i, pad, (size_t)n, err);
            b->types[i] = KV_TOKEN_UNUSED;
        } else if (t->added[i] && added_is_special(t->added[i])) {
            s = kv__hf_vocab_set(b, i, t->text[i], strlen(t->text[i]), err);
            b->types[i] = KV_TOKEN_CONTROL;
        } else if (t->added[i]) {
            s = kv__hf_vocab_set_unescaped(b, i, t->text[i], err);
            b->types[i] = KV_TOKEN_USER_DEFINED;
        } else {
            s = kv__hf_vocab_set(b, i, t->text[i], strlen(t->text[i]), err);
            b->types[i] = KV_TOKEN_NORMAL;
        }
    }
    b->v.model = "gpt2";
    return s;
}

static bool is_byte_token(const char *s) {
    static const char hex[] = "0123456789abcdefABCDEF";
    return strlen(s) == 6 && memcmp(s, "<0x", 3) == 0 && s[3] && strchr(hex, s[3]) && s[4] &&
           strchr(hex, s[4]) && s[5] == '>';
}

// Base tokens 0..n_base-1, then added tokens n_base.. (their ids must follow on).
static kv_status vocab_llama_hf(const char *path, const id_table *t, int64_t n_base,
                                kv__hf_vocab_buf *b, kv_err *err) {
    int64_t n = n_base;
    while (n < t->n && t->added[n])
        n++;
    if (n != t->n)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: added token ids must follow the %lld base tokens without gaps; id %lld "
                       "is missing",
                       path, (long long)n_base, (long long)n);
    kv_status s = kv__hf_vocab_alloc(b, n, true, path, err);
    for (int64_t i = 0; s == KV_OK && i < n; i++) {
        if (!t->text[i])
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: no token has id %lld", path, (long long)i);
        s = kv__hf_vocab_set(b, i, t->text[i], strlen(t->text[i]), err);
        b->scores[i] = KV_HF_SCORE_HF;
        bool special = t->added[i] && json_is_true(json_object_get(t->added[i], "special"));
        if (i < n_base && is_byte_token(t->text[i]))
            b->types[i] = KV_TOKEN_BYTE;
        else if (special)
            b->types[i] = KV_TOKEN_CONTROL;
        else // added tokens are cut out of the raw text, as the tokenizers library does
            b->types[i] = t->added[i] ? KV_TOKEN_USER_DEFINED : KV_TOKEN_NORMAL;
    }
    b->v.model = "llama";
    return s;
}

// SentencePiece-style BPE from tokenizer.json: the merges are kept (kvant merges by
// their rank, as the tokenizers library) and each token a merge makes scores minus
// the rank of its first merge, so llama.cpp's score-ordered SentencePiece merging
// picks the same pairs; other tokens keep the -1000 llama.cpp gives them.
static kv_status merge_scores(const char *path, const json_t *merges, kv__hf_vocab_buf *b,
                              kv_err *err) {
    kv_status s = merges_from_json(path, merges, b, err);
    if (s != KV_OK)
        return s;
    json_t *index = json_object(); // token text -> id
    if (!index)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t i = 0; i < b->v.n_tokens; i++)
        if (json_object_set_new(index, b->tokens[i], json_integer(i)) != 0)
            s = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    size_t n_tok = b->v.n_tokens > 0 && b->v.n_tokens <= KV_HF_MAX_VOCAB ? (size_t)b->v.n_tokens : 1;
    bool *seen = calloc(n_tok, 1);
    if (!seen)
        s = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t r = 0; s == KV_OK && r < b->v.n_merges; r++) {
        char *m = b->merges[r], *sp = strchr(m + (m[0] != '\0'), ' ');
        if (!sp)
            continue;
        // the merged text: both parts without the separating space
        size_t la = (size_t)(sp - m), lb = strlen(sp + 1);
        char *joined = malloc(la + lb + 1);
        if (!joined) {
            s = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        memcpy(joined, m, la);
        memcpy(joined + la, sp + 1, lb + 1);
        const json_t *id = json_object_get(index, joined);
        free(joined);
        if (id && !seen[json_integer_value(id)]) {
            seen[json_integer_value(id)] = true;
            b->scores[json_integer_value(id)] = -(float)r;
        }
    }
    free(seen);
    json_decref(index);
    return s;
}

static kv_status check_model(const char *path, const json_t *tj, const json_t **model,
                             kv_err *err) {
    *model = json_object_get(tj, "model");
    const char *type = json_string_value(json_object_get(*model, "type"));
    if (!json_is_object(*model))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: field 'model' is %s, expected an object", path,
                       *model ? kv__json_type_name(*model) : "missing");
    if (!type || strcmp(type, "BPE") != 0)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: tokenizer model type '%.40s' is not supported (kvant reads BPE here, "
                       "or a SentencePiece tokenizer.model)",
                       path, type ? type : "(none)");
    const json_t *vocab = json_object_get(*model, "vocab");
    if (!json_is_object(vocab))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: field 'model.vocab' is %s, expected an object",
                       path, vocab ? kv__json_type_name(vocab) : "missing");
    const json_t *added = json_object_get(tj, "added_tokens");
    if (added && !json_is_array(added))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: field 'added_tokens' has type %s, expected an array", path,
                       kv__json_type_name(added));
    return KV_OK;
}

// SentencePiece-style BPE: byte fallback on, decoder a Sequence, as llama.cpp checks.
static bool is_llama_hf(const json_t *tj, const json_t *model) {
    const char *dec = json_string_value(json_object_get(json_object_get(tj, "decoder"), "type"));
    return json_is_true(json_object_get(model, "byte_fallback")) && dec &&
           strcmp(dec, "Sequence") == 0;
}

static kv_status build(const kv__hf_files *f, const char *path, int64_t n_vocab,
                       kv__hf_vocab_buf *b, kv_err *err) {
    const json_t *model = NULL;
    kv_status s = check_model(path, f->tok_json, &model, err);
    if (s != KV_OK)
        return s;
    const json_t *vocab = json_object_get(model, "vocab");
    const json_t *added = json_object_get(f->tok_json, "added_tokens");
    int64_t max_id, n_distinct;
    if ((s = scan_ids(path, vocab, added, &max_id, &n_distinct, err)) != KV_OK)
        return s;
    bool hf = is_llama_hf(f->tok_json, model);
    int64_t n = hf ? max_id + 1 : (n_vocab > 0 ? n_vocab : n_distinct);
    if (max_id >= n)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: token id %lld is past the vocab size %lld", path,
                       (long long)max_id, (long long)n);
    id_table t = {0};
    s = table_fill(path, vocab, added, n, &t, err);
    if (s == KV_OK && hf)
        s = vocab_llama_hf(path, &t, (int64_t)json_object_size(vocab), b, err);
    else if (s == KV_OK)
        s = vocab_gpt2(path, &t, b, err);
    table_free(&t);
    if (s != KV_OK)
        return s;
    const json_t *merges = json_object_get(model, "merges");
    if (hf)
        return json_array_size(merges) > 0 ? merge_scores(path, merges, b, err) : KV_OK;
    if (json_array_size(merges) > 0)
        return merges_from_json(path, merges, b, err);
    return kv__hf_exists(f->dir, "merges.txt") ? merges_from_txt(f->dir, b, err) : KV_OK;
}

// Whether a SentencePiece-style tokenizer.json puts "▁" before the text: a Prepend
// normalizer, or a Metaspace pre-tokenizer that prepends (Gemma has neither).
static bool prepends_space(const json_t *tj) {
    const json_t *stack[8];
    int n = 0;
    stack[n++] = json_object_get(tj, "normalizer");
    stack[n++] = json_object_get(tj, "pre_tokenizer");
    while (n > 0) {
        const json_t *node = stack[--n];
        const char *type = json_string_value(json_object_get(node, "type"));
        if (!type)
            continue;
        if (strcmp(type, "Prepend") == 0)
            return true;
        if (strcmp(type, "Metaspace") == 0) {
            const char *scheme = json_string_value(json_object_get(node, "prepend_scheme"));
            return scheme ? strcmp(scheme, "never") != 0
                          : !json_is_false(json_object_get(node, "add_prefix_space"));
        }
        const json_t *list = json_object_get(node, "normalizers");
        if (!list)
            list = json_object_get(node, "pretokenizers");
        for (size_t i = 0; i < json_array_size(list) && n < 8; i++)
            stack[n++] = json_array_get(list, i);
    }
    return false;
}

kv_status kv__hf_vocab_bpe(const kv__hf_files *f, int64_t n_vocab, kv__hf_vocab_buf *b,
                           kv_err *err) {
    char *path = kv__hf_path(f->dir, "tokenizer.json");
    if (!path)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", f->dir);
    kv_status s = build(f, path, n_vocab, b, err);
    b->v.pre = "default";
    if (s == KV_OK && strcmp(b->v.model, "llama") != 0)
        s = pre_name(f, path, &b->v.pre, err);
    free(path);
    if (s != KV_OK)
        return s;
    b->v.byte_fallback = json_is_true(json_object_get(json_object_get(f->tok_json, "model"),
                                                      "byte_fallback"));
    b->v.add_space_prefix = strcmp(b->v.model, "llama") == 0 ? prepends_space(f->tok_json) : -1;
    return KV_OK;
}
