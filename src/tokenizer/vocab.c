// The vocabulary: token texts with a hash from text to id, scores, attributes,
// special ids, and the text-based fixups llama.cpp applies when it loads one (EOT/EOG
// detection, unused control tokens, Phi-3's right-stripping special tokens). Reading
// the GGUF keys is vocab_gguf.c's job, BPE merges vocab_bpe.c's; the algorithms live
// in spm.c, bpe.c and tokenize.c.
#include "kvant/kv_tokenizer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"
#include "tokenizer/tokenizer_int.h"

static const char *const special_names[KV_SPECIAL_COUNT] = {
    "bos", "eos", "eot", "eom", "unknown", "seperator", "padding", "mask",
    "fim_pre", "fim_suf", "fim_mid", "fim_pad", "fim_rep", "fim_sep",
};

const char *kv_special_name(kv_special s) {
    return (unsigned)s < KV_SPECIAL_COUNT ? special_names[s] : "?";
}

void kv_vocab_params_init(kv_vocab_params *p, kv_vocab_type t) {
    memset(p, 0, sizeof(*p));
    p->type = t;
    for (int i = 0; i < KV_SPECIAL_COUNT; i++)
        p->special[i] = KV_TOKEN_NULL;
    if (t == KV_VOCAB_BPE) { // llama.cpp's defaults for tokenizer.ggml.model "gpt2"
        p->special[KV_SPECIAL_BOS] = 11;
        p->special[KV_SPECIAL_EOS] = 11;
        return;
    }
    if (t == KV_VOCAB_WPM) { // llama.cpp's defaults for tokenizer.ggml.model "bert"
        p->special[KV_SPECIAL_BOS] = 101;
        p->special[KV_SPECIAL_UNK] = 100;
        p->special[KV_SPECIAL_SEP] = 102;
        p->special[KV_SPECIAL_PAD] = 0;
        p->special[KV_SPECIAL_MASK] = 103;
        p->add_bos = true;
        return;
    }
    // llama.cpp's defaults for tokenizer.ggml.model "llama"
    p->special[KV_SPECIAL_BOS] = 1;
    p->special[KV_SPECIAL_EOS] = 2;
    p->special[KV_SPECIAL_UNK] = 0;
    p->add_bos = true;
    p->add_eos = false;
    p->add_space_prefix = true;
}

// ---- hash of token text -> id ----

uint64_t kv__hash_bytes(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) { // FNV-1a
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

kv_token kv__vocab_lookup(const kv_vocab *v, const char *text, size_t len) {
    size_t mask = v->n_slots - 1;
    for (size_t i = (size_t)kv__hash_bytes(KV__HASH_INIT, text, len) & mask;; i = (i + 1) & mask) {
        int32_t id = v->slots[i];
        if (id < 0)
            return KV_TOKEN_NULL;
        if (v->text_len[id] == len && memcmp(kv__vocab_text(v, id), text, len) == 0)
            return id;
    }
}

// Inserts id; fails when another token has the same text.
static kv_status hash_insert(kv_vocab *v, kv_token id, kv_err *err) {
    const char *text = kv__vocab_text(v, id);
    size_t len = v->text_len[id];
    size_t mask = v->n_slots - 1;
    for (size_t i = (size_t)kv__hash_bytes(KV__HASH_INIT, text, len) & mask;; i = (i + 1) & mask) {
        int32_t other = v->slots[i];
        if (other < 0) {
            v->slots[i] = id;
            return KV_OK;
        }
        if (v->text_len[other] == len && memcmp(kv__vocab_text(v, other), text, len) == 0)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "duplicate token in vocabulary: '%.64s' has ids %d and %d", text,
                           (int)other, (int)id);
    }
}

// ---- building ----

static uint32_t attr_of_type(int32_t type) {
    switch (type) {
    case KV_TOKEN_TYPE_UNKNOWN: return KV_TOKEN_ATTR_UNKNOWN;
    case KV_TOKEN_TYPE_UNUSED: return KV_TOKEN_ATTR_UNUSED;
    case KV_TOKEN_TYPE_NORMAL: return KV_TOKEN_ATTR_NORMAL;
    case KV_TOKEN_TYPE_CONTROL: return KV_TOKEN_ATTR_CONTROL;
    case KV_TOKEN_TYPE_USER_DEFINED: return KV_TOKEN_ATTR_USER_DEFINED;
    case KV_TOKEN_TYPE_BYTE: return KV_TOKEN_ATTR_BYTE;
    default: return KV_TOKEN_ATTR_UNDEFINED;
    }
}

static size_t text_len_of(const kv_vocab_params *p, int64_t i) {
    return p->text_lens ? p->text_lens[i] : strlen(p->texts[i]);
}

// Copies the texts into one buffer ("[EMPTY_<id>]" for empty ones).
static kv_status copy_texts(kv_vocab *v, const kv_vocab_params *p, kv_err *err) {
    size_t total = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (!p->texts[i])
            return KV_FAIL(err, KV_ERR_INVALID, "vocabulary: token %d has no text", (int)i);
        size_t n = text_len_of(p, i);
        if (n > KV_VOCAB_MAX_TOKEN_LEN)
            return KV_FAIL(err, KV_ERR_LIMIT, "vocabulary: token %d is %zu bytes, limit %zu",
                           (int)i, n, KV_VOCAB_MAX_TOKEN_LEN);
        if (!kv_add_ok(total, (n ? n : 24) + 1, &total)) // "[EMPTY_<id>]" fits in 24
            return KV_FAIL(err, KV_ERR_LIMIT, "vocabulary: token texts overflow memory");
    }
    v->text_buf = malloc(total ? total : 1);
    if (!v->text_buf)
        return KV_FAIL(err, KV_ERR_NOMEM, "vocabulary: no memory for %zu bytes of text", total);
    size_t off = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        size_t n = text_len_of(p, i);
        char *dst = v->text_buf + off;
        if (n == 0)
            n = (size_t)snprintf(dst, 24, "[EMPTY_%d]", (int)i);
        else
            memcpy(dst, p->texts[i], n);
        dst[n] = '\0';
        v->text_off[i] = off;
        v->text_len[i] = (uint32_t)n;
        off += n + 1;
    }
    return KV_OK;
}

static kv_status alloc_arrays(kv_vocab *v, kv_err *err) {
    size_t n = (size_t)v->n_tokens;
    v->n_slots = 16;
    while (v->n_slots < 2 * n)
        v->n_slots *= 2;
    v->text_off = calloc(n + 1, sizeof(*v->text_off));
    v->text_len = calloc(n + 1, sizeof(*v->text_len));
    v->scores = calloc(n + 1, sizeof(*v->scores));
    v->attrs = calloc(n + 1, sizeof(*v->attrs));
    v->eog = calloc(n + 1, 1);
    v->piece_off = calloc(n + 1, sizeof(*v->piece_off));
    v->piece_len = calloc(n + 1, sizeof(*v->piece_len));
    v->special_cache = calloc(n + 1, sizeof(*v->special_cache));
    v->slots = malloc(v->n_slots * sizeof(*v->slots));
    if (!v->text_off || !v->text_len || !v->scores || !v->attrs || !v->eog || !v->piece_off ||
        !v->piece_len || !v->special_cache || !v->slots)
        return KV_FAIL(err, KV_ERR_NOMEM, "vocabulary: no memory for %zu tokens", n);
    memset(v->slots, 0xff, v->n_slots * sizeof(*v->slots));
    return KV_OK;
}

static void find_byte_tokens(kv_vocab *v) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        kv_token id = kv__vocab_lookup(v, buf, 6);
        if (id == KV_TOKEN_NULL) {
            char c = (char)b;
            id = kv__vocab_lookup(v, &c, 1);
        }
        v->byte_tok[b] = id;
    }
}

// llama.cpp: SPM's newline token is the byte token for '\n'; BPE's the first token
// of "\n"; else the padding token.
static void find_newline(kv_vocab *v) {
    v->nl = v->special[KV_SPECIAL_PAD];
    if (v->type == KV_VOCAB_SPM) {
        if (v->byte_tok['\n'] != KV_TOKEN_NULL)
            v->nl = v->byte_tok['\n'];
        return;
    }
    if (v->type == KV_VOCAB_WPM)
        return; // the padding token, as llama.cpp
    kv_toklist l = {NULL, 0, 0};
    if (kv__bpe_tokenize(v, "\n", 1, &l, NULL) == KV_OK && l.n > 0)
        v->nl = l.ids[0];
    free(l.ids);
}

static kv_status set_specials(kv_vocab *v, const kv_vocab_params *p, kv_err *err) {
    for (int i = 0; i < KV_SPECIAL_COUNT; i++) {
        kv_token id = p->special[i];
        v->special[i] = (id >= 0 && id < v->n_tokens) ? id : KV_TOKEN_NULL;
    }
    if (v->add_bos && v->special[KV_SPECIAL_BOS] == KV_TOKEN_NULL)
        return KV_FAIL(err, KV_ERR_FORMAT, "tokenizer.ggml.add_bos_token is true, but "
                                           "tokenizer.ggml.bos_token_id is not set");
    if (v->add_eos && v->special[KV_SPECIAL_EOS] == KV_TOKEN_NULL)
        return KV_FAIL(err, KV_ERR_FORMAT, "tokenizer.ggml.add_eos_token is true, but "
                                           "tokenizer.ggml.eos_token_id is not set");
    return KV_OK;
}

// ---- llama.cpp's text-based fixups ----

// Texts that name a role when the model's metadata does not (llama.cpp's lists).
static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>",
    "<end_of_utterance>", NULL};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
static const char *const fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
    "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>", "\xe2\x96\x81<PRE>",
    "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
    "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>", "<SUF>", "\xe2\x96\x81<SUF>",
    "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>",
    "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>", "\xe2\x96\x81<MID>",
    "<|code_middle|>", "<|middle|>", NULL};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
                                            "[PAD]", NULL};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                            "<REPO>", "<reponame>", NULL};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", "[e~[", NULL};
// gpt-oss: always rendered, never control
static const char *const always_user_texts[] = {"<|channel|>", "<|message|>", "<|start|>",
                                                "<|constrain|>", NULL};

static kv_token find_str(const kv_vocab *v, const char *s) {
    return kv__vocab_lookup(v, s, strlen(s));
}

// Fills an unset role from the first listed text present, making it a control token.
static void detect_role(kv_vocab *v, kv_special role, const char *const *texts) {
    if (v->special[role] != KV_TOKEN_NULL)
        return;
    for (; *texts; texts++) {
        kv_token id = find_str(v, *texts);
        if (id != KV_TOKEN_NULL) {
            v->special[role] = id;
            v->attrs[id] |= KV_TOKEN_ATTR_CONTROL;
            return;
        }
    }
}

static void mark_unused(kv_vocab *v) {
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if ((v->attrs[i] & KV_TOKEN_ATTR_CONTROL) && strstr(kv__vocab_text(v, i), "unused"))
            v->attrs[i] |= KV_TOKEN_ATTR_UNUSED;
    }
}

static void set_eog(kv_vocab *v, kv_token id) {
    if (id >= 0 && id < v->n_tokens)
        v->eog[id] = 1;
}

static void find_eog(kv_vocab *v) {
    set_eog(v, v->special[KV_SPECIAL_FIM_PAD]);
    set_eog(v, v->special[KV_SPECIAL_FIM_REP]);
    set_eog(v, v->special[KV_SPECIAL_FIM_SEP]);
    for (const char *const *t = eog_texts; *t; t++) {
        kv_token id = find_str(v, *t);
        if (id != KV_TOKEN_NULL) {
            v->eog[id] = 1;
            v->attrs[id] |= KV_TOKEN_ATTR_CONTROL;
        }
    }
    for (const char *const *t = always_user_texts; *t; t++) {
        kv_token id = find_str(v, *t);
        if (id != KV_TOKEN_NULL)
            v->attrs[id] = KV_TOKEN_ATTR_USER_DEFINED;
    }
    set_eog(v, v->special[KV_SPECIAL_EOS]);
    set_eog(v, v->special[KV_SPECIAL_EOT]);
    set_eog(v, v->special[KV_SPECIAL_EOM]);
    // o200k_harmony / solar-open: "<|end|>" is not the end when "<|return|>" and
    // "<|call|>" (or "<|calls|>" and "<|flush|>") end generation instead
    kv_token end = find_str(v, "<|end|>");
    kv_token ret = find_str(v, "<|return|>"), call = find_str(v, "<|call|>");
    kv_token calls = find_str(v, "<|calls|>"), flush = find_str(v, "<|flush|>");
    bool has_call = (call != KV_TOKEN_NULL && v->eog[call]) ||
                    (calls != KV_TOKEN_NULL && v->eog[calls]);
    bool has_ret = ret != KV_TOKEN_NULL && v->eog[ret];
    bool has_flush = flush != KV_TOKEN_NULL && v->eog[flush];
    if (end != KV_TOKEN_NULL && v->eog[end] && has_call && (has_ret || has_flush)) {
        v->eog[end] = 0;
        v->attrs[end] = KV_TOKEN_ATTR_USER_DEFINED;
    }
    // gemma4 / paddleocr: "</s>" is an ordinary token next to "<|tool_response>"
    kv_token tool = find_str(v, "<|tool_response>"), s_end = find_str(v, "</s>");
    if (tool != KV_TOKEN_NULL && v->eog[tool] && s_end != KV_TOKEN_NULL && v->eog[s_end]) {
        v->eog[s_end] = 0;
        v->attrs[s_end] = KV_TOKEN_ATTR_NORMAL;
    }
}

// Control, user-defined and unknown tokens, longest text first (ties by id), the
// order in which tokenize.c splits them out of the text.
static void build_special_cache(kv_vocab *v) {
    const uint32_t mask = KV_TOKEN_ATTR_CONTROL | KV_TOKEN_ATTR_USER_DEFINED |
                          KV_TOKEN_ATTR_UNKNOWN;
    int32_t n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (v->attrs[i] & mask)
            v->special_cache[n++] = i;
    }
    // insertion sort keeps it stable; these lists are short
    for (int32_t i = 1; i < n; i++) {
        kv_token id = v->special_cache[i];
        int32_t j = i;
        while (j > 0 && v->text_len[v->special_cache[j - 1]] < v->text_len[id]) {
            v->special_cache[j] = v->special_cache[j - 1];
            j--;
        }
        v->special_cache[j] = id;
    }
    v->n_special_cache = n;
}

static bool contains_ci(const char *s, const char *needle) {
    size_t n = strlen(needle);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && tolower((unsigned char)s[i]) == needle[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

static void set_attr_bit(kv_vocab *v, const char *text, uint32_t bit, bool on) {
    kv_token id = find_str(v, text);
    if (id == KV_TOKEN_NULL)
        return;
    v->attrs[id] = on ? (v->attrs[id] | bit) : (v->attrs[id] & ~bit);
}

// Per-model attributes llama.cpp sets by general.name.
static void model_fixups(kv_vocab *v, const char *name) {
    if (!name)
        return;
    if (contains_ci(name, "phi-3") || contains_ci(name, "phi3")) {
        for (int32_t i = 0; i < v->n_special_cache; i++)
            v->attrs[v->special_cache[i]] |= KV_TOKEN_ATTR_RSTRIP;
        set_attr_bit(v, "</s>", KV_TOKEN_ATTR_RSTRIP, true);
        set_attr_bit(v, "<unk>", KV_TOKEN_ATTR_RSTRIP, false);
        set_attr_bit(v, "<s>", KV_TOKEN_ATTR_RSTRIP, false);
        set_attr_bit(v, "<|endoftext|>", KV_TOKEN_ATTR_RSTRIP, false);
    } else if (contains_ci(name, "modern-bert")) {
        set_attr_bit(v, "[MASK]", KV_TOKEN_ATTR_LSTRIP, true);
    }
}

// ---- pieces (llama.cpp's token-to-piece cache, special tokens rendered) ----

// The byte of "<0xXX>": up to two hex digits after the first three characters.
static unsigned char byte_of_text(const char *t, size_t n) {
    unsigned val = 0;
    for (size_t i = 3; i < n && i < 5; i++) {
        int d = kv_hex_digit(t[i]);
        if (d < 0)
            break;
        val = val * 16 + (unsigned)d;
    }
    return (unsigned char)val;
}

// Writes token id's piece to dst (NULL: just measure); returns its length.
static size_t render_piece(const kv_vocab *v, kv_token id, char *dst) {
    const char *t = kv__vocab_text(v, id);
    size_t n = v->text_len[id];
    uint32_t a = v->attrs[id];
    if (a & (KV_TOKEN_ATTR_UNKNOWN | KV_TOKEN_ATTR_CONTROL | KV_TOKEN_ATTR_USER_DEFINED)) {
        if (dst)
            memcpy(dst, t, n);
        return n;
    }
    if ((a & KV_TOKEN_ATTR_NORMAL) && v->type == KV_VOCAB_BPE)
        return kv__bpe_decode(t, n, dst);
    if (a & KV_TOKEN_ATTR_NORMAL) {
        size_t out = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 2 < n && memcmp(t + i, "\xe2\x96\x81", 3) == 0) {
                if (dst)
                    dst[out] = ' ';
                i += 2;
            } else if (dst) {
                dst[out] = t[i];
            }
            out++;
        }
        return out;
    }
    if (a & KV_TOKEN_ATTR_BYTE) {
        if (dst)
            dst[0] = (char)byte_of_text(t, n);
        return 1;
    }
    return 0;
}

static kv_status build_pieces(kv_vocab *v, kv_err *err) {
    size_t total = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        total += render_piece(v, i, NULL);
    v->piece_buf = malloc(total ? total : 1);
    if (!v->piece_buf)
        return KV_FAIL(err, KV_ERR_NOMEM, "vocabulary: no memory for %zu bytes of pieces", total);
    size_t off = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        size_t n = render_piece(v, i, v->piece_buf + off);
        v->piece_off[i] = off;
        v->piece_len[i] = (uint32_t)n;
        off += n;
    }
    return KV_OK;
}

// ---- construction ----

static kv_status check_params(const kv_vocab_params *p, kv_err *err) {
    if (!p)
        return KV_FAIL(err, KV_ERR_INVALID, "vocabulary: no parameters");
    if (p->type != KV_VOCAB_SPM && p->type != KV_VOCAB_BPE && p->type != KV_VOCAB_WPM)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "vocabulary: tokenizer type %d is not supported",
                       (int)p->type);
    bool clean;
    if (p->type == KV_VOCAB_BPE && !kv__bpe_pre_supported(p->pre, &clean))
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "vocabulary: pre-tokenizer '%.64s' "
                       "(tokenizer.ggml.pre) is not supported; kvant knows llama-bpe, qwen2, "
                       "deepseek-llm, deepseek-coder, deepseek-v3, falcon, starcoder, refact, "
                       "smollm, gpt-2 and their aliases", p->pre ? p->pre : "(none)");
    if (p->n_tokens <= 0 || !p->texts)
        return KV_FAIL(err, KV_ERR_INVALID, "vocabulary: no tokens");
    if (p->n_tokens > KV_VOCAB_MAX_TOKENS)
        return KV_FAIL(err, KV_ERR_LIMIT, "vocabulary: %lld tokens, limit %lld",
                       (long long)p->n_tokens, (long long)KV_VOCAB_MAX_TOKENS);
    return KV_OK;
}

static kv_status fill(kv_vocab *v, const kv_vocab_params *p, kv_err *err) {
    kv_status st = alloc_arrays(v, err);
    if (st == KV_OK)
        st = copy_texts(v, p, err);
    for (int32_t i = 0; st == KV_OK && i < v->n_tokens; i++) {
        v->scores[i] = p->scores ? p->scores[i] : 0.0f;
        v->attrs[i] = p->types ? attr_of_type(p->types[i]) : KV_TOKEN_ATTR_NORMAL;
        st = hash_insert(v, i, err);
    }
    if (st == KV_OK)
        st = set_specials(v, p, err);
    if (st == KV_OK && (v->type == KV_VOCAB_BPE || p->n_merges > 0))
        st = kv__vocab_set_merges(v, p, err);
    if (st != KV_OK)
        return st;
    find_byte_tokens(v);
    find_newline(v);
    detect_role(v, KV_SPECIAL_EOT, eot_texts);
    detect_role(v, KV_SPECIAL_EOM, eom_texts);
    detect_role(v, KV_SPECIAL_FIM_PRE, fim_pre_texts);
    detect_role(v, KV_SPECIAL_FIM_SUF, fim_suf_texts);
    detect_role(v, KV_SPECIAL_FIM_MID, fim_mid_texts);
    detect_role(v, KV_SPECIAL_FIM_PAD, fim_pad_texts);
    detect_role(v, KV_SPECIAL_FIM_REP, fim_rep_texts);
    detect_role(v, KV_SPECIAL_FIM_SEP, fim_sep_texts);
    mark_unused(v);
    find_eog(v);
    build_special_cache(v);
    st = build_pieces(v, err);
    model_fixups(v, p->name);
    return st;
}

kv_status kv_vocab_new(const kv_vocab_params *p, kv_vocab **out, kv_err *err) {
    if (!out)
        return KV_FAIL(err, KV_ERR_INVALID, "vocabulary: no output pointer");
    *out = NULL;
    kv_status st = check_params(p, err);
    if (st != KV_OK)
        return st;
    kv_vocab *v = calloc(1, sizeof(*v));
    if (!v)
        return KV_FAIL(err, KV_ERR_NOMEM, "vocabulary: no memory");
    v->type = p->type;
    v->n_tokens = (int32_t)p->n_tokens;
    v->add_bos = p->add_bos;
    v->add_eos = p->add_eos;
    v->add_space_prefix = p->add_space_prefix;
    if (v->type == KV_VOCAB_BPE) {
        kv__bpe_pre_supported(p->pre, &v->clean_spaces);
        size_t n = strlen(p->pre); // check_params: p->pre names a known pre-tokenizer
        v->pre = malloc(n + 1);
        if (v->pre)
            memcpy(v->pre, p->pre, n + 1);
        st = v->pre ? kv__pretok_new(p->pre, &v->pretok, err)
                    : KV_FAIL(err, KV_ERR_NOMEM, "vocabulary: no memory");
    }
    if (st == KV_OK)
        st = fill(v, p, err);
    if (st != KV_OK) {
        kv_vocab_free(v);
        return st;
    }
    *out = v;
    return KV_OK;
}

void kv_vocab_free(kv_vocab *v) {
    if (!v)
        return;
    free(v->text_buf);
    free(v->text_off);
    free(v->text_len);
    free(v->scores);
    free(v->attrs);
    free(v->eog);
    free(v->piece_buf);
    free(v->piece_off);
    free(v->piece_len);
    free(v->slots);
    free(v->special_cache);
    free(v->merge_buf);
    free(v->merge_off);
    free(v->merge_len);
    free(v->merge_split);
    free(v->merge_slots);
    free(v->pre);
    kv__pretok_free(v->pretok);
    free(v);
}

// ---- accessors ----

static bool in_range(const kv_vocab *v, kv_token id) { return id >= 0 && id < v->n_tokens; }

kv_vocab_type kv_vocab_type_of(const kv_vocab *v) { return v->type; }
const char *kv_vocab_pre(const kv_vocab *v) { return v->pre; }
int64_t kv_vocab_n_tokens(const kv_vocab *v) { return v->n_tokens; }

kv_token kv_vocab_special(const kv_vocab *v, kv_special s) {
    return (unsigned)s < KV_SPECIAL_COUNT ? v->special[s] : KV_TOKEN_NULL;
}

kv_token kv_vocab_bos(const kv_vocab *v) { return v->special[KV_SPECIAL_BOS]; }
kv_token kv_vocab_eos(const kv_vocab *v) { return v->special[KV_SPECIAL_EOS]; }
kv_token kv_vocab_eot(const kv_vocab *v) { return v->special[KV_SPECIAL_EOT]; }
kv_token kv_vocab_unk(const kv_vocab *v) { return v->special[KV_SPECIAL_UNK]; }
kv_token kv_vocab_pad(const kv_vocab *v) { return v->special[KV_SPECIAL_PAD]; }
kv_token kv_vocab_nl(const kv_vocab *v) { return v->nl; }
bool kv_vocab_add_bos(const kv_vocab *v) { return v->add_bos; }
bool kv_vocab_add_eos(const kv_vocab *v) { return v->add_eos; }
bool kv_vocab_add_space_prefix(const kv_vocab *v) { return v->add_space_prefix; }

bool kv_vocab_is_eog(const kv_vocab *v, kv_token id) { return in_range(v, id) && v->eog[id]; }

const char *kv_vocab_text(const kv_vocab *v, kv_token id, size_t *len) {
    if (!in_range(v, id))
        return NULL;
    if (len)
        *len = v->text_len[id];
    return kv__vocab_text(v, id);
}

float kv_vocab_score(const kv_vocab *v, kv_token id) {
    return in_range(v, id) ? v->scores[id] : 0.0f;
}

uint32_t kv_vocab_attr(const kv_vocab *v, kv_token id) {
    return in_range(v, id) ? v->attrs[id] : 0;
}

kv_token kv_vocab_find(const kv_vocab *v, const char *text, size_t len) {
    return kv__vocab_lookup(v, text, len);
}

const char *kv_vocab_piece(const kv_vocab *v, kv_token id, bool special, size_t *len) {
    if (!in_range(v, id))
        return NULL;
    size_t n = v->piece_len[id];
    if (!special && (v->attrs[id] & (KV_TOKEN_ATTR_UNKNOWN | KV_TOKEN_ATTR_CONTROL)))
        n = 0;
    if (len)
        *len = n;
    return v->piece_buf + v->piece_off[id];
}
