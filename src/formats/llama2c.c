// llama2.c checkpoints and tokenizer.bin (see kv_llama2c.h). The header's
// fields are checked for range first, then every weight is placed at its
// offset in the file's order, each placement checked against the file size, so
// a truncated or lying header fails naming the file and the field before any
// large allocation; the weights stay in the mapping.
#include "kvant/kv_llama2c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"

#define MAX_DIM (1 << 16)
#define MAX_HIDDEN (1 << 20)
#define MAX_LAYERS 1024
#define MAX_VOCAB (1 << 22)
#define MAX_SEQ (1 << 24)
#define MAX_TOKEN_LEN (1 << 16)
#define HEADER_V_SIZE 256 // export.py pads versioned headers to 256 bytes

enum { T_EMB, T_NORM, T_OUT, T_LAYER0 };
enum { L_ATT_NORM, L_Q, L_K, L_V, L_O, L_FFN_NORM, L_GATE, L_DOWN, L_UP, L_COUNT };

static const char *const LAYER_NAMES[L_COUNT] = {
    "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
    "ffn_norm",  "ffn_gate", "ffn_down", "ffn_up",
};

struct kv_llama2c {
    kv_map model_map, tok_map; // zeroed when the bytes are borrowed
    const char *model_name, *tok_name;
    kv_llama2c_header h;
    kv_llama2c_tensor *tensors;
    int64_t n_tensors;
    char **tokens;
    float *scores;
    int32_t *types;
    int64_t n_tokens;
};

bool kv_llama2c_has_magic(const void *data, size_t size) {
    return data && size >= 4 && kv_le32(data) == KV_LLAMA2C_MAGIC;
}

// ---- header ----

static kv_status check_field(const char *path, const char *field, int64_t v, int64_t lo,
                             int64_t hi, kv_err *err) {
    if (v < lo || v > hi)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: header field %s = %lld is out of range [%lld, %lld]",
                       path, field, (long long)v, (long long)lo, (long long)hi);
    return KV_OK;
}

#define TRY(expr) KV_TRY(expr)

static kv_status parse_header(const uint8_t *p, size_t size, const char *path,
                              kv_llama2c_header *h, kv_err *err) {
    memset(h, 0, sizeof *h);
    size_t off = 0;
    if (size >= 4 && memcmp(p, "GGUF", 4) == 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: a GGUF file, not a llama2.c checkpoint (kvant quantize converts GGUF)",
                       path);
    if (size >= 9 && p[8] == '{' && kv_le64(p) <= size - 8)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: a safetensors file, not a llama2.c checkpoint (pass the model's folder)",
                       path);
    if (kv_llama2c_has_magic(p, size)) {
        if (size < 8)
            return KV_FAIL(err, KV_ERR_TRUNCATED, "%s: truncated: no version after the magic",
                           path);
        int32_t version = (int32_t)kv_le32(p + 4);
        if (version != 1 && version != 2)
            return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                           "%s: llama2.c header version %d, kvant reads versions 1 and 2", path,
                           (int)version);
        h->version = version;
        off = 8;
    }
    if (size < off + 28)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: %zu bytes, the llama2.c header needs %zu", path, size,
                       off + 28);
    int32_t f[7];
    for (int i = 0; i < 7; i++)
        f[i] = (int32_t)kv_le32(p + off + 4 * (size_t)i);
    h->dim = f[0];
    h->hidden_dim = f[1];
    h->n_layers = f[2];
    h->n_heads = f[3];
    h->n_kv_heads = f[4];
    h->vocab_size = f[5];
    h->seq_len = f[6];
    if (h->version == 0) {
        h->shared_classifier = h->vocab_size > 0;
        if (h->vocab_size < 0 && h->vocab_size != INT32_MIN)
            h->vocab_size = -h->vocab_size;
        h->data_offset = 28;
    } else {
        if (size < HEADER_V_SIZE)
            return KV_FAIL(err, KV_ERR_TRUNCATED,
                           "%s: truncated: %zu bytes, the llama2.c version %d header needs %d",
                           path, size, h->version, HEADER_V_SIZE);
        uint8_t shared = p[36];
        if (shared > 1)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: header field shared_classifier = %u, not 0 or 1",
                           path, (unsigned)shared);
        h->shared_classifier = shared != 0;
        if (h->version == 2)
            h->group_size = (int32_t)kv_le32(p + 37);
        h->data_offset = HEADER_V_SIZE;
    }
    TRY(check_field(path, "dim", h->dim, 2, MAX_DIM, err));
    TRY(check_field(path, "hidden_dim", h->hidden_dim, 1, MAX_HIDDEN, err));
    TRY(check_field(path, "n_layers", h->n_layers, 1, MAX_LAYERS, err));
    TRY(check_field(path, "n_heads", h->n_heads, 1, h->dim, err));
    TRY(check_field(path, "n_kv_heads", h->n_kv_heads, 1, h->n_heads, err));
    TRY(check_field(path, "vocab_size", h->vocab_size, 1, MAX_VOCAB, err));
    TRY(check_field(path, "seq_len", h->seq_len, 1, MAX_SEQ, err));
    if (h->dim % h->n_heads != 0 || (h->dim / h->n_heads) % 2 != 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: header field dim = %d is not n_heads = %d times an even head size",
                       path, (int)h->dim, (int)h->n_heads);
    if (h->n_heads % h->n_kv_heads != 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: header field n_heads = %d is not a multiple of n_kv_heads = %d", path,
                       (int)h->n_heads, (int)h->n_kv_heads);
    if (h->version == 2) {
        TRY(check_field(path, "group_size", h->group_size, 1, h->dim, err));
        if (h->dim % h->group_size != 0)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: header field group_size = %d does not divide dim = %d", path,
                           (int)h->group_size, (int)h->dim);
    }
    return KV_OK;
}

// ---- weight placement ----

typedef struct {
    kv_llama2c *m;
    const uint8_t *base;
    size_t size;
    uint64_t cur;
} placer;

static kv_llama2c_tensor *slot(kv_llama2c *m, int kind, int layer) {
    if (kind < T_LAYER0)
        return &m->tensors[kind];
    return &m->tensors[T_LAYER0 + (int64_t)layer * L_COUNT + (kind - T_LAYER0)];
}

// Advances over n bytes of tensor t (named in the message), or fails when the
// file ends first. Returns the bytes' start in *at.
static kv_status take(placer *pl, const char *what, uint64_t n, const uint8_t **at, kv_err *err) {
    if (n > pl->size || pl->cur > pl->size - n)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: %s needs bytes %llu..%llu but the file has %zu bytes "
                       "(the header's sizes do not match the file)",
                       pl->m->model_name, what, (unsigned long long)pl->cur,
                       (unsigned long long)(pl->cur + n), pl->size);
    if (at)
        *at = pl->base + pl->cur;
    pl->cur += n;
    return KV_OK;
}

enum { PART_F32, PART_Q, PART_SCALES };

// Places every layer's tensor of one kind (kind >= T_LAYER0) or a global one.
static kv_status place(placer *pl, int kind, int part, kv_err *err) {
    kv_llama2c *m = pl->m;
    int n = kind >= T_LAYER0 ? m->h.n_layers : 1;
    for (int l = 0; l < n; l++) {
        kv_llama2c_tensor *t = slot(m, kind, l);
        uint64_t ne = (uint64_t)t->n_elements;
        uint64_t bytes = part == PART_F32 ? ne * 4 : part == PART_Q ? ne : ne / (uint64_t)m->h.group_size * 4;
        const char *what = part == PART_SCALES ? "scales of" : part == PART_Q ? "int8 data of" : "";
        char label[96];
        snprintf(label, sizeof label, "%s%stensor '%s'", what, *what ? " " : "", t->name);
        const uint8_t **dst = part == PART_F32 ? &t->f32 : part == PART_Q ? &t->q : &t->scales;
        TRY(take(pl, label, bytes, dst, err));
        t->group_size = m->h.group_size;
    }
    return KV_OK;
}

static void set_tensor(kv_llama2c_tensor *t, const char *name, int n_dims, int64_t ne0,
                       int64_t ne1) {
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = n_dims > 1 ? ne1 : 1;
    t->n_elements = t->ne[0] * t->ne[1];
}

static kv_status plan_tensors(kv_llama2c *m, kv_err *err) {
    const kv_llama2c_header *h = &m->h;
    int64_t d = h->dim, hd = h->dim / h->n_heads, kv = hd * h->n_kv_heads, ff = h->hidden_dim,
            v = h->vocab_size;
    m->n_tensors = T_LAYER0 + (int64_t)h->n_layers * L_COUNT;
    m->tensors = calloc((size_t)m->n_tensors, sizeof *m->tensors);
    if (!m->tensors)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %lld tensors", m->model_name,
                       (long long)m->n_tensors);
    set_tensor(&m->tensors[T_EMB], "token_embd.weight", 2, d, v);
    set_tensor(&m->tensors[T_NORM], "output_norm.weight", 1, d, 1);
    set_tensor(&m->tensors[T_OUT], "output.weight", 2, d, v);
    const int64_t shapes[L_COUNT][3] = {
        {1, d, 1}, {2, d, d}, {2, d, kv}, {2, d, kv}, {2, d, d},
        {1, d, 1}, {2, d, ff}, {2, ff, d}, {2, d, ff},
    };
    for (int l = 0; l < h->n_layers; l++)
        for (int k = 0; k < L_COUNT; k++) {
            char name[48];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, LAYER_NAMES[k]);
            set_tensor(slot(m, T_LAYER0 + k, l), name, (int)shapes[k][0], shapes[k][1],
                       shapes[k][2]);
        }
    if (h->version == 2)
        for (int64_t i = 0; i < m->n_tensors; i++)
            if (m->tensors[i].n_elements % h->group_size != 0)
                return KV_FAIL(err, KV_ERR_FORMAT,
                               "%s: header field group_size = %d does not divide tensor '%s'",
                               m->model_name, (int)h->group_size, m->tensors[i].name);
    return KV_OK;
}

static kv_status place_all(kv_llama2c *m, const uint8_t *data, size_t size, kv_err *err) {
    const kv_llama2c_header *h = &m->h;
    placer pl = {m, data, size, h->data_offset};
    const int matrices[] = {T_EMB,          T_LAYER0 + L_Q,    T_LAYER0 + L_K,
                            T_LAYER0 + L_V, T_LAYER0 + L_O,    T_LAYER0 + L_GATE,
                            T_LAYER0 + L_DOWN, T_LAYER0 + L_UP};
    const int n_mat = (int)(sizeof matrices / sizeof *matrices);
    if (h->version == 0) {
        const int order[] = {T_EMB,           T_LAYER0 + L_ATT_NORM, T_LAYER0 + L_Q,
                             T_LAYER0 + L_K,  T_LAYER0 + L_V,        T_LAYER0 + L_O,
                             T_LAYER0 + L_FFN_NORM, T_LAYER0 + L_GATE, T_LAYER0 + L_DOWN,
                             T_LAYER0 + L_UP, T_NORM};
        for (size_t i = 0; i < sizeof order / sizeof *order; i++)
            TRY(place(&pl, order[i], PART_F32, err));
        uint64_t rope = (uint64_t)h->seq_len * (uint64_t)(h->dim / h->n_heads) / 2 * 4;
        TRY(take(&pl, "the RoPE cosine table", rope, NULL, err));
        TRY(take(&pl, "the RoPE sine table", rope, NULL, err));
    } else {
        TRY(place(&pl, T_LAYER0 + L_ATT_NORM, PART_F32, err));
        TRY(place(&pl, T_LAYER0 + L_FFN_NORM, PART_F32, err));
        TRY(place(&pl, T_NORM, PART_F32, err));
        int part = h->version == 1 ? PART_F32 : PART_Q;
        for (int i = 0; i < n_mat; i++)
            TRY(place(&pl, matrices[i], part, err));
    }
    if (!h->shared_classifier)
        TRY(place(&pl, T_OUT, h->version == 2 ? PART_Q : PART_F32, err));
    if (h->version == 2) {
        for (int i = 0; i < n_mat; i++)
            TRY(place(&pl, matrices[i], PART_SCALES, err));
        if (!h->shared_classifier)
            TRY(place(&pl, T_OUT, PART_SCALES, err));
    }
    if (h->shared_classifier) {
        kv_llama2c_tensor *o = &m->tensors[T_OUT], *e = &m->tensors[T_EMB];
        o->f32 = e->f32;
        o->q = e->q;
        o->scales = e->scales;
        o->group_size = e->group_size;
    }
    if (pl.cur != size)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: %llu bytes after the last weight (at byte %llu): the header's "
                       "sizes do not match the file",
                       m->model_name, (unsigned long long)(size - pl.cur),
                       (unsigned long long)pl.cur);
    return KV_OK;
}

// ---- tokenizer.bin ----

static int32_t token_type(int64_t id, const char *s, size_t n) {
    if (id == 0)
        return 2; // unknown
    if (id == 1 || id == 2)
        return 3; // control: llama2.c's BOS and EOS
    if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' &&
        strchr("0123456789ABCDEFabcdef", s[3]) && strchr("0123456789ABCDEFabcdef", s[4]) && s[3] &&
        s[4])
        return 6; // byte
    return 1;
}

// llama2.c's text -> SentencePiece's piece: "\n<s>\n" -> "<s>", ' ' -> U+2581.
static char *to_piece(const uint8_t *b, size_t n) {
    if (n >= 2 && b[0] == '\n' && b[n - 1] == '\n' &&
        ((n == 5 && memcmp(b, "\n<s>\n", 5) == 0) || (n == 6 && memcmp(b, "\n</s>\n", 6) == 0))) {
        b++;
        n -= 2;
    }
    char *s = malloc(3 * n + 1), *o = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (b[i] == ' ') {
            memcpy(o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            *o++ = (char)b[i];
        }
    }
    *o = '\0';
    return s;
}

static kv_status parse_tokenizer(kv_llama2c *m, const uint8_t *p, size_t size, kv_err *err) {
    const char *path = m->tok_name;
    int64_t n = m->h.vocab_size;
    if (size < 4)
        return KV_FAIL(err, KV_ERR_TRUNCATED, "%s: truncated: no max_token_length", path);
    int32_t max_len = (int32_t)kv_le32(p);
    TRY(check_field(path, "max_token_length", max_len, 0, MAX_TOKEN_LEN, err));
    // every token takes at least 8 bytes, so a short file fails before the arrays exist
    if ((size - 4) / 8 < (uint64_t)n)
        return KV_FAIL(err, KV_ERR_TRUNCATED,
                       "%s: truncated: %zu bytes cannot hold the %lld tokens of vocab_size in %s",
                       path, size, (long long)n, m->model_name);
    m->tokens = calloc((size_t)n, sizeof *m->tokens);
    m->scores = calloc((size_t)n, sizeof *m->scores);
    m->types = calloc((size_t)n, sizeof *m->types);
    if (!m->tokens || !m->scores || !m->types)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %lld tokens", path, (long long)n);
    m->n_tokens = n;
    size_t off = 4;
    for (int64_t i = 0; i < n; i++) {
        if (size - off < 8)
            return KV_FAIL(err, KV_ERR_TRUNCATED,
                           "%s: truncated at byte %zu: token %lld of %lld has no score and length",
                           path, off, (long long)i, (long long)n);
        uint32_t bits = kv_le32(p + off);
        memcpy(&m->scores[i], &bits, 4);
        int32_t len = (int32_t)kv_le32(p + off + 4);
        off += 8;
        if (len < 0 || len > max_len)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: token %lld at byte %zu has length %d, outside [0, "
                           "max_token_length = %d]",
                           path, (long long)i, off - 4, (int)len, (int)max_len);
        if (size - off < (size_t)len)
            return KV_FAIL(err, KV_ERR_TRUNCATED,
                           "%s: truncated at byte %zu: token %lld needs %d bytes", path, off,
                           (long long)i, (int)len);
        m->tokens[i] = to_piece(p + off, (size_t)len);
        if (!m->tokens[i])
            return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for token %lld", path,
                           (long long)i);
        m->types[i] = token_type(i, m->tokens[i], strlen(m->tokens[i]));
        off += (size_t)len;
    }
    if (off != size)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: %zu bytes after token %lld: the tokenizer has more tokens than "
                       "vocab_size = %lld in %s",
                       path, size - off, (long long)(n - 1), (long long)n, m->model_name);
    return KV_OK;
}

// ---- handle ----

static kv_status build(kv_llama2c *m, const uint8_t *model, size_t model_size, const uint8_t *tok,
                       size_t tok_size, kv_err *err) {
    TRY(parse_header(model, model_size, m->model_name, &m->h, err));
    TRY(plan_tensors(m, err));
    TRY(place_all(m, model, model_size, err));
    return m->tok_name ? parse_tokenizer(m, tok, tok_size, err) : KV_OK;
}

kv_status kv_llama2c_open_mem(const void *model, size_t model_size, const char *model_name,
                              const void *tok, size_t tok_size, const char *tok_name,
                              kv_llama2c **out, kv_err *err) {
    *out = NULL;
    kv_llama2c *m = calloc(1, sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", model_name);
    m->model_name = model_name;
    m->tok_name = tok_name;
    kv_status st = build(m, (const uint8_t *)model, model_size, (const uint8_t *)tok, tok_size, err);
    if (st != KV_OK) {
        kv_llama2c_close(m);
        return st;
    }
    *out = m;
    return KV_OK;
}

kv_status kv_llama2c_open(const char *model_path, const char *tokenizer_path, kv_llama2c **out,
                          kv_err *err) {
    *out = NULL;
    kv_map mm, tm;
    kv_status st = kv_map_open(model_path, &mm, err);
    if (st != KV_OK)
        return st;
    memset(&tm, 0, sizeof tm);
    st = tokenizer_path ? kv_map_open(tokenizer_path, &tm, err) : KV_OK;
    if (st != KV_OK) {
        kv_map_close(&mm);
        return st;
    }
    kv_llama2c *m = calloc(1, sizeof *m);
    if (!m) {
        kv_map_close(&mm);
        kv_map_close(&tm);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", model_path);
    }
    m->model_map = mm;
    m->tok_map = tm;
    m->model_name = mm.path;
    m->tok_name = tm.path;
    st = build(m, mm.data, mm.size, tm.data, tm.size, err);
    if (st != KV_OK) {
        kv_llama2c_close(m);
        return st;
    }
    *out = m;
    return KV_OK;
}

void kv_llama2c_close(kv_llama2c *m) {
    if (!m)
        return;
    if (m->tokens)
        for (int64_t i = 0; i < m->n_tokens; i++)
            free(m->tokens[i]);
    free(m->tokens);
    free(m->scores);
    free(m->types);
    free(m->tensors);
    kv_map_close(&m->model_map);
    kv_map_close(&m->tok_map);
    free(m);
}

const kv_llama2c_header *kv_llama2c_header_of(const kv_llama2c *m) { return &m->h; }
const char *kv_llama2c_path(const kv_llama2c *m) { return m->model_name; }
int64_t kv_llama2c_tensor_count(const kv_llama2c *m) { return m->n_tensors; }

const kv_llama2c_tensor *kv_llama2c_tensor_at(const kv_llama2c *m, int64_t i) {
    return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}

void kv_llama2c_vocab_of(const kv_llama2c *m, kv_llama2c_vocab *v) {
    v->n_tokens = m->n_tokens;
    v->tokens = (const char *const *)m->tokens;
    v->scores = m->scores;
    v->types = m->types;
}

kv_status kv_llama2c_read_f32(const kv_llama2c_tensor *t, int64_t i0, int64_t n, float *dst,
                              kv_err *err) {
    if (i0 < 0 || n < 0 || i0 > t->n_elements - n)
        return KV_FAIL(err, KV_ERR_INVALID, "tensor '%s': elements %lld..%lld outside 0..%lld",
                       t->name, (long long)i0, (long long)(i0 + n), (long long)t->n_elements);
    if (t->f32) {
        for (int64_t i = 0; i < n; i++) {
            uint32_t bits = kv_le32(t->f32 + 4 * (i0 + i));
            memcpy(&dst[i], &bits, 4);
        }
        return KV_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t e = i0 + i;
        uint32_t bits = kv_le32(t->scales + 4 * (e / t->group_size));
        float s;
        memcpy(&s, &bits, 4);
        dst[i] = (float)(int8_t)t->q[e] * s;
    }
    return KV_OK;
}
