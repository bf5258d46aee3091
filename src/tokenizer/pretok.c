// BPE pre-tokenizers: the text is cut into words by a list of regular expressions
// (llama.cpp's per-model lists, tokenizer.json's Split steps), run in turn with
// PCRE2 (UTF + UCP, JIT-compiled). Each expression splits every piece the previous
// ones left into its matches and the text between them ("Isolated" splitting), so
// no byte is lost. The expressions themselves are data (kv_pretok.h).
#include "kvant/kv_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_pretok.h"
#include "tokenizer/tokenizer_int.h"

#define MAX_RES 8

// A pre-tokenizer by its tokenizer.ggml.pre names, with llama.cpp's flags for it.
typedef struct {
    const char *names; // '|'-separated
    const char *re[MAX_RES];
    bool clean_spaces, ignore_merges, add_bos;
} pretok_def;

static const pretok_def defs[] = {
    {"llama-bpe|llama3|llama-v3|falcon3", {KV_PRETOK_RE_LLAMA3}, true, true, true},
    {"dbrx|smaug-bpe", {KV_PRETOK_RE_LLAMA3}, true, false, false},
    {"qwen2|deepseek-r1-qwen", {KV_PRETOK_RE_QWEN2}, false, false, false},
    {"stablelm2|megrez", {KV_PRETOK_RE_QWEN2}, true, false, false},
    {"deepseek-v3", {KV_PRETOK_RE_DIGIT3, KV_PRETOK_RE_CJK_JA, KV_PRETOK_RE_DEEPSEEK3},
     false, false, false},
    {"deepseek-llm",
     {KV_PRETOK_RE_NEWLINE, KV_PRETOK_RE_LLM_LETTERS, KV_PRETOK_RE_LLM_PUNCT,
      KV_PRETOK_RE_LLM_SPACE_END, KV_PRETOK_RE_CJK_KO, KV_PRETOK_RE_DIGITS},
     false, false, false},
    {"deepseek-coder",
     {KV_PRETOK_RE_NEWLINE, KV_PRETOK_RE_CODER_LETTERS, KV_PRETOK_RE_CODER_PUNCT,
      KV_PRETOK_RE_CJK_KO, KV_PRETOK_RE_DIGIT},
     false, false, false},
    {"falcon", {KV_PRETOK_RE_PUNCT, KV_PRETOK_RE_GPT2, KV_PRETOK_RE_TRIPLES}, true, false, false},
    {"starcoder|refact|codeshell|exaone|minerva-7b", {KV_PRETOK_RE_DIGIT, KV_PRETOK_RE_GPT2},
     true, false, false},
    {"smollm|command-r", {KV_PRETOK_RE_DIGIT, KV_PRETOK_RE_GPT2}, false, false, false},
    {"gpt-2|mpt|olmo|jais|phi-2|jina-es|jina-de|gigachat|jina-v1-en|jina-v2-es|jina-v2-de|"
     "jina-v2-code|roberta-bpe|a.x-4.0|mellum|modern-bert|exaone4",
     {KV_PRETOK_RE_GPT2}, true, false, false},
    {"trillion|granite-docling", {KV_PRETOK_RE_GPT2}, false, false, false},
};

static bool name_in(const char *names, const char *name) {
    size_t n = strlen(name);
    for (const char *p = names; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p += len + (bar != NULL);
    }
    return false;
}

static const pretok_def *find_def(const char *name) {
    for (size_t i = 0; name && i < sizeof(defs) / sizeof(defs[0]); i++) {
        if (name_in(defs[i].names, name))
            return &defs[i];
    }
    return NULL;
}

bool kv_pretok_known(const char *name) { return find_def(name) != NULL; }

bool kv__bpe_pre_supported(const char *pre, bool *clean_spaces) {
    const pretok_def *d = find_def(pre);
    if (d)
        *clean_spaces = d->clean_spaces;
    return d != NULL;
}

void kv_vocab_params_set_pre(kv_vocab_params *p, const char *pre) {
    p->pre = pre;
    const pretok_def *d = find_def(pre);
    if (p->type == KV_VOCAB_BPE && d && d->add_bos)
        p->add_bos = true;
}

// ---- compiling ----

struct kv__pretok {
    const pretok_def *def;
    pcre2_code *code[MAX_RES];
    int n;
};

// PCRE2's \s in UCP mode is the Z categories plus \t\n\v\f\r; Unicode's White_Space
// (what llama.cpp and the tokenizers library match) also has U+0085. Writes pattern
// with \s and \S widened to include it.
static char *widen_spaces(const char *re) {
    size_t n = strlen(re);
    char *out = malloc(n * 4 + 1); // "\s" (2) becomes at most "[^\s\x{85}]" (11)
    if (!out)
        return NULL;
    size_t j = 0;
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        if (c == '\\' && i + 1 < n) {
            char e = re[i + 1];
            const char *rep = NULL;
            if (e == 's')
                rep = in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
            else if (e == 'S' && !in_class)
                rep = "[^\\s\\x{85}]";
            if (rep) {
                size_t k = strlen(rep);
                memcpy(out + j, rep, k);
                j += k;
            } else {
                out[j++] = c;
                out[j++] = e;
            }
            i++;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            out[j++] = c;
            if (i + 1 < n && re[i + 1] == '^')
                out[j++] = re[++i];
            if (i + 1 < n && re[i + 1] == ']')
                out[j++] = re[++i]; // a leading ']' is literal
            continue;
        }
        if (c == ']' && in_class)
            in_class = false;
        out[j++] = c;
    }
    out[j] = '\0';
    return out;
}

void kv__pretok_free(kv__pretok *p) {
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        pcre2_code_free(p->code[i]);
    free(p);
}

kv_status kv__pretok_new(const char *name, kv__pretok **out, kv_err *err) {
    *out = NULL;
    const pretok_def *d = find_def(name);
    if (!d)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "vocabulary: pre-tokenizer '%.64s' (tokenizer.ggml.pre) is not supported",
                       name ? name : "(none)");
    kv__pretok *p = calloc(1, sizeof(*p));
    if (!p)
        return KV_FAIL(err, KV_ERR_NOMEM, "vocabulary: no memory for the pre-tokenizer");
    p->def = d;
    for (int i = 0; i < MAX_RES && d->re[i]; i++) {
        char *re = widen_spaces(d->re[i]);
        if (!re) {
            kv__pretok_free(p);
            return KV_FAIL(err, KV_ERR_NOMEM, "vocabulary: no memory for the pre-tokenizer");
        }
        int ec = 0;
        PCRE2_SIZE eo = 0;
        p->code[i] = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                                   &ec, &eo, NULL);
        free(re);
        if (!p->code[i]) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof(msg));
            kv__pretok_free(p);
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "vocabulary: pre-tokenizer '%s' expression %d: %s at offset %zu", name,
                           i, (const char *)msg, (size_t)eo);
        }
        p->n = i + 1;
        pcre2_jit_compile(p->code[i], PCRE2_JIT_COMPLETE); // the interpreter when JIT is absent
    }
    *out = p;
    return KV_OK;
}

bool kv__pretok_ignore_merges(const kv__pretok *p) { return p->def->ignore_merges; }

// ---- splitting ----

static kv_status push_piece(kv__pieces *l, size_t off, size_t len, kv_err *err) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        kv__piece *q = realloc(l->p, cap * sizeof(*q));
        if (!q)
            return KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory for %zu words", cap);
        l->p = q;
        l->cap = cap;
    }
    l->p[l->n].off = off;
    l->p[l->n].len = len;
    l->n++;
    return KV_OK;
}

static size_t char_len(unsigned char b) {
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

static int match_at(const pcre2_code *code, const char *s, size_t n, size_t pos,
                    pcre2_match_data *md) {
    int rc = pcre2_match(code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) // deep backtracking: the interpreter uses the heap
        rc = pcre2_match(code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
    return rc;
}

// Splits one piece [off, off+len) of text by code, appending to out.
static kv_status split_piece(const pcre2_code *code, const char *text, size_t off, size_t len,
                             pcre2_match_data *md, kv__pieces *out, kv_err *err) {
    const char *s = text + off;
    size_t pos = 0, last = 0;
    kv_status st = KV_OK;
    while (st == KV_OK && pos < len) {
        int rc = match_at(code, s, len, pos, md);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof(msg));
            return KV_FAIL(err, KV_ERR_LIMIT, "tokenize: pre-tokenizer match failed at byte %zu: %s",
                           off + pos, (const char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t b = ov[0], e = ov[1];
        if (e <= b) { // an empty match splits nothing
            pos = b + char_len((unsigned char)s[b]);
            continue;
        }
        if (b > last)
            st = push_piece(out, off + last, b - last, err);
        if (st == KV_OK)
            st = push_piece(out, off + b, e - b, err);
        last = pos = e;
    }
    if (st == KV_OK && last < len)
        st = push_piece(out, off + last, len - last, err);
    return st;
}

kv_status kv__pretok_split(const kv__pretok *p, const char *text, size_t len, kv__pieces *out,
                           kv_err *err) {
    out->n = 0;
    kv_status st = len ? push_piece(out, 0, len, err) : KV_OK;
    kv__pieces next = {NULL, 0, 0};
    pcre2_match_data *md = pcre2_match_data_create(16, NULL);
    if (!md)
        st = KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory for the pre-tokenizer");
    for (int r = 0; r < p->n && st == KV_OK; r++) {
        next.n = 0;
        for (size_t i = 0; i < out->n && st == KV_OK; i++)
            st = split_piece(p->code[r], text, out->p[i].off, out->p[i].len, md, &next, err);
        kv__pieces tmp = *out;
        *out = next;
        next = tmp;
    }
    pcre2_match_data_free(md);
    free(next.p);
    return st;
}
