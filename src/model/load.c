// Model loading: maps a GGUF file, reads the hyper-parameters of llama, qwen2,
// qwen3, gemma2/3, phi3 or bert from the {arch}.* keys and binds each tensor of the forward pass with shape and type
// checks, so a bad file fails here with one sentence naming the key or tensor.
// The forward pass itself is in llama.c.
#include "kvant/kv_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_int.h"

#define NAME_SLOT 64 // bytes kept per tensor name ("blk.1023.attn_output.weight")

// ---- keys ----

static bool has_key(const kv_gguf *g, const char *key) { return kv_gguf_find(g, key) >= 0; }

// {arch}.suffix as an integer in [lo, hi]; absent keys take def unless required.
static kv_status key_int(const kv_gguf *g, const char *arch, const char *suffix, bool required,
                         int64_t def, int64_t lo, int64_t hi, int64_t *out, kv_err *err) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const char *path = kv_gguf_path(g);
    if (!has_key(g, key)) {
        if (required)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: missing key '%s'", path, key);
        *out = def;
        return KV_OK;
    }
    int64_t v = 0;
    kv_status st = kv_gguf_get_int(g, key, &v, err);
    if (st != KV_OK) {
        kv_err_prefix(err, path);
        return st;
    }
    if (v < lo || v > hi)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: key '%s' is %lld, expected %lld..%lld", path, key,
                       (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return KV_OK;
}

static kv_status key_f32(const kv_gguf *g, const char *arch, const char *suffix, bool required,
                         float def, float *out, kv_err *err) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const char *path = kv_gguf_path(g);
    if (!has_key(g, key)) {
        if (required)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: missing key '%s'", path, key);
        *out = def;
        return KV_OK;
    }
    kv_status st = kv_gguf_get_f32(g, key, out, err);
    if (st != KV_OK) {
        kv_err_prefix(err, path);
        return st;
    }
    if (!(*out == *out))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: key '%s' is NaN", path, key);
    return KV_OK;
}

// The architectures kvant runs: Llama's pass with these differences.
static const kv_arch ARCHS[] = {
    {"llama", false, false, false, 0, false, false},
    {"qwen2", true, false, false, 0, false, false},
    {"qwen3", true, true, false, 0, false, false},
    {"gemma2", true, false, true, 2, false, false}, // layers 0, 2, 4.. local
    {"gemma3", true, true, true, 6, false, false},  // layers 5, 11, 17.. global
    // phi3.attention.sliding_window is read by nobody: llama.cpp turns Phi-3's
    // window off ("Phi SWA is currently disabled"), and so does kvant
    {"phi3", true, false, false, 0, true, false},
    {"bert", false, false, false, 0, false, true}, // no RoPE: rope.dimension_count 0
};

static kv_status read_arch(const kv_gguf *g, kv_hparams *hp, const kv_arch **arch,
                           kv_err *err) {
    const char *path = kv_gguf_path(g);
    kv_str s;
    if (!has_key(g, "general.architecture"))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: missing key 'general.architecture'", path);
    kv_status st = kv_gguf_get_str(g, "general.architecture", &s, err);
    if (st != KV_OK) {
        kv_err_prefix(err, path);
        return st;
    }
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (s.n == strlen(ARCHS[i].name) && memcmp(s.p, ARCHS[i].name, s.n) == 0) {
            *arch = &ARCHS[i];
            snprintf(hp->arch, sizeof hp->arch, "%s", ARCHS[i].name);
            return KV_OK;
        }
    return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                   "%s: architecture '%.*s' is not supported (kvant runs: llama, qwen2, qwen3, gemma2, gemma3, phi3, bert)",
                   path, (int)(s.n > 64 ? 64 : s.n), s.p);
}

static kv_status read_rope_scaling(const kv_gguf *g, kv_hparams *hp, kv_err *err) {
    const char *path = kv_gguf_path(g);
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", hp->arch);
    bool linear = false;
    if (has_key(g, key)) {
        kv_str s;
        kv_status st = kv_gguf_get_str(g, key, &s, err);
        if (st != KV_OK) {
            kv_err_prefix(err, path);
            return st;
        }
        linear = s.n == 6 && memcmp(s.p, "linear", 6) == 0;
        if (!linear && !(s.n == 4 && memcmp(s.p, "none", 4) == 0))
            return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                           "%s: rope scaling '%.*s' is not supported (only none and linear)", path,
                           (int)(s.n > 64 ? 64 : s.n), s.p);
    }
    float factor = 1.0f;
    kv_status st = KV_OK;
    if (linear)
        st = key_f32(g, hp->arch, "rope.scaling.factor", false, 1.0f, &factor, err);
    else if (!has_key(g, "llama.rope.scaling.type"))
        st = key_f32(g, hp->arch, "rope.scale_linear", false, 1.0f, &factor, err);
    if (st != KV_OK)
        return st;
    if (!(factor > 0.0f))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: rope scaling factor %g is not positive", path,
                       (double)factor);
    hp->rope_freq_scale = 1.0f / factor;
    return KV_OK;
}

// n_vocab: the tokenizer's token count, else {arch}.vocab_size, else 0 (taken
// from token_embd later).
static kv_status read_vocab(const kv_gguf *g, kv_hparams *hp, kv_err *err) {
    if (has_key(g, "tokenizer.ggml.tokens")) {
        const kv_gguf_val *arr;
        kv_status st = kv_gguf_get_arr(g, "tokenizer.ggml.tokens", KV_GGUF_STRING, &arr, err);
        if (st != KV_OK) {
            kv_err_prefix(err, kv_gguf_path(g));
            return st;
        }
        if (arr->n < 1 || arr->n > (uint64_t)KV_MODEL_MAX_VOCAB)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %llu tokens",
                           kv_gguf_path(g), (unsigned long long)arr->n);
        hp->n_vocab = (int64_t)arr->n;
        return KV_OK;
    }
    return key_int(g, hp->arch, "vocab_size", false, 0, 1, KV_MODEL_MAX_VOCAB, &hp->n_vocab, err);
}

static kv_status read_sizes(const kv_gguf *g, kv_hparams *hp, kv_err *err) {
    const char *a = hp->arch;
    const int64_t D = KV_MODEL_MAX_DIM;
    kv_status st = key_int(g, a, "block_count", true, 0, 1, KV_MODEL_MAX_LAYERS, &hp->n_layer, err);
    if (st == KV_OK)
        st = key_int(g, a, "context_length", true, 0, 1, INT32_MAX, &hp->n_ctx_train, err);
    if (st == KV_OK)
        st = key_int(g, a, "embedding_length", true, 0, 1, D, &hp->n_embd, err);
    if (st == KV_OK)
        st = key_int(g, a, "feed_forward_length", true, 0, 1, D, &hp->n_ff, err);
    if (st == KV_OK)
        st = key_int(g, a, "attention.head_count", true, 0, 1, D, &hp->n_head, err);
    if (st == KV_OK)
        st = key_int(g, a, "attention.head_count_kv", false, hp->n_head, 1, hp->n_head,
                     &hp->n_head_kv, err);
    if (st != KV_OK)
        return st;
    if (hp->n_head % hp->n_head_kv != 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: %lld heads do not divide into %lld KV heads",
                       kv_gguf_path(g), (long long)hp->n_head, (long long)hp->n_head_kv);
    // Without key_length/value_length the head size is n_embd / n_head, which must divide.
    const int64_t head = hp->n_embd % hp->n_head == 0 ? hp->n_embd / hp->n_head : 0;
    st = key_int(g, a, "attention.key_length", head == 0, head, 1, D / hp->n_head,
                 &hp->n_embd_head_k, err);
    if (st == KV_OK)
        st = key_int(g, a, "attention.value_length", head == 0, head, 1, D / hp->n_head,
                     &hp->n_embd_head_v, err);
    const bool bert = strcmp(a, "bert") == 0;
    if (st == KV_OK)
        st = key_int(g, a, "rope.dimension_count", false, bert ? 0 : hp->n_embd_head_k, 0,
                     bert ? 0 : hp->n_embd_head_k, &hp->n_rot, err);
    if (st == KV_OK && hp->n_rot % 2 != 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: rope dimension count %lld is odd", kv_gguf_path(g),
                       (long long)hp->n_rot);
    return st;
}

static kv_status read_hparams(const kv_gguf *g, kv_hparams *hp, kv_err *err) {
    kv_status st = read_sizes(g, hp, err);
    if (st == KV_OK)
        st = key_f32(g, hp->arch, "rope.freq_base", false, 10000.0f, &hp->rope_freq_base, err);
    const bool bert = strcmp(hp->arch, "bert") == 0; // LayerNorm's epsilon, pooling, no mask
    if (st == KV_OK)
        st = key_f32(g, hp->arch,
                     bert ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon",
                     true, 0, &hp->norm_rms_eps, err);
    int64_t pooling = 0;
    if (st == KV_OK)
        st = key_int(g, hp->arch, "pooling_type", false, 0, 0, 2, &pooling, err);
    hp->pooling_type = (int32_t)pooling;
    hp->causal_attn = true;
    char key[160];
    snprintf(key, sizeof key, "%s.attention.causal", hp->arch);
    if (st == KV_OK && has_key(g, key) && (st = kv_gguf_get_bool(g, key, &hp->causal_attn, err)) != KV_OK)
        kv_err_prefix(err, kv_gguf_path(g));
    if (st != KV_OK)
        return st;
    if (!(hp->rope_freq_base > 0.0f) || !(hp->norm_rms_eps >= 0.0f))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: rope base %g or norm epsilon %g out of range",
                       kv_gguf_path(g), (double)hp->rope_freq_base, (double)hp->norm_rms_eps);
    st = read_rope_scaling(g, hp, err);
    if (st == KV_OK)
        st = read_vocab(g, hp, err);
    return st;
}

// The query scale, soft-caps and sliding window; llama.cpp's keys and defaults
// for gemma2 (caps 50 and 30, window 4096). The scale is {arch}.attention.scale
// when present (kvant writes it when query_pre_attn_scalar is not head_dim),
// else llama.cpp's rule: 1/sqrt(n_embd / n_head) for the 46-layer Gemma 2 27B,
// 1/sqrt(n_embd_head_k) otherwise.
static kv_status read_attention(const kv_gguf *g, kv_model *m, kv_err *err) {
    const kv_hparams *hp = &m->hp;
    const bool gemma2 = strcmp(hp->arch, "gemma2") == 0, gemma3 = strcmp(hp->arch, "gemma3") == 0;
    float def = 1.0f / sqrtf((float)hp->n_embd_head_k);
    if ((gemma2 && hp->n_layer == 46) || (gemma3 && hp->n_layer == 62))
        def = 1.0f / sqrtf((float)hp->n_embd / (float)hp->n_head);
    int64_t swa = 0;
    kv_status st = key_f32(g, hp->arch, "attention.scale", false, def, &m->attn_scale, err);
    if (st == KV_OK)
        st = key_f32(g, hp->arch, "attn_logit_softcapping", false, gemma2 ? 50.0f : 0.0f,
                     &m->attn_softcap, err);
    if (st == KV_OK)
        st = key_f32(g, hp->arch, "final_logit_softcapping", false, gemma2 ? 30.0f : 0.0f,
                     &m->final_softcap, err);
    if (st == KV_OK && gemma3) // llama.cpp's base for Gemma 3's local layers
        st = key_f32(g, hp->arch, "rope.freq_base_swa", false, 10000.0f, &m->rope_base_swa, err);
    if (st == KV_OK) // LongRoPE: cos and sin scaled (llama.cpp's rope attn_factor)
        st = key_f32(g, hp->arch, "rope.scaling.attn_factor", false, 1.0f, &m->rope_attn_factor,
                     err);
    int64_t orig = 0;
    if (st == KV_OK)
        st = key_int(g, hp->arch, "rope.scaling.original_context_length", false, hp->n_ctx_train,
                     1, INT32_MAX, &orig, err);
    m->n_ctx_orig = (int32_t)orig;
    if (st == KV_OK && !(m->rope_attn_factor > 0.0f && m->rope_attn_factor < 1e3f))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: rope.scaling.attn_factor %g out of range",
                       kv_gguf_path(g), (double)m->rope_attn_factor);
    if (st == KV_OK && m->arch->swa_period > 0)
        st = key_int(g, hp->arch, "attention.sliding_window", false, 4096, 0, INT32_MAX, &swa,
                     err);
    if (st != KV_OK)
        return st;
    m->n_swa = (int32_t)swa;
    if (!(m->rope_base_swa >= 0.0f))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: rope.freq_base_swa %g out of range",
                       kv_gguf_path(g), (double)m->rope_base_swa);
    if (!(m->attn_scale > 0.0f) || !(m->attn_softcap >= 0.0f) || !(m->final_softcap >= 0.0f))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: attention scale %g or soft-caps %g, %g out of range", kv_gguf_path(g),
                       (double)m->attn_scale, (double)m->attn_softcap, (double)m->final_softcap);
    return KV_OK;
}

// ---- tensors ----

typedef enum {
    T_MATMUL, // a matmul weight: any type with a vec_dot kernel
    T_EMBD,   // rows looked up: any type with a to_float kernel
    T_VEC,    // a norm weight, bias or factor table: F32
} tensor_use;

typedef struct {
    kv_model *m;
    int n_names;
} binder;

static kv_status check_tensor(const kv_model *m, const kv_gguf_tensor *gt, const char *name,
                              int64_t ne0, int64_t ne1, tensor_use use, kv_err *err) {
    const char *path = kv_gguf_path(m->gguf);
    const int64_t want_dims = ne1 > 0 ? 2 : 1;
    bool ok = gt->ne[0] == ne0 && gt->ne[2] == 1 && gt->ne[3] == 1 &&
              (ne1 > 0 ? gt->ne[1] == ne1 : gt->ne[1] == 1);
    if (!ok) {
        char want[64], have[128];
        if (want_dims == 2)
            snprintf(want, sizeof want, "[%lld, %lld]", (long long)ne0, (long long)ne1);
        else
            snprintf(want, sizeof want, "[%lld]", (long long)ne0);
        size_t off = 0;
        for (uint32_t d = 0; d < gt->n_dims && d < KV_GGUF_MAX_DIMS; d++)
            off += (size_t)snprintf(have + off, sizeof have - off, "%s%lld", d ? ", " : "",
                                    (long long)gt->ne[d]);
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%s' has shape [%s], expected %s", path,
                       name, have, want);
    }
    const kv_kernels *k = m->kernels;
    const uint32_t t = gt->type;
    bool type_ok = use == T_VEC ? t == KV_TYPE_F32
                                : t < KV_TYPE_COUNT && (use == T_MATMUL ? k->types[t].vec_dot != NULL
                                                                        : k->to_float[t] != NULL);
    if (!type_ok)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which kvant %s", path,
                       name, kv_type_name(t),
                       use == T_VEC ? "does not take here (expected F32)"
                       : use == T_MATMUL ? "cannot multiply yet"
                                         : "cannot read yet");
    return KV_OK;
}

// Binds tensor `name` with shape [ne0] (ne1 == 0) or [ne0, ne1] to *t.
static kv_status bind(binder *b, kv_tensor *t, const char *name, int64_t ne0, int64_t ne1,
                      tensor_use use, bool required, kv_err *err) {
    kv_model *m = b->m;
    memset(t, 0, sizeof *t);
    int64_t i = kv_gguf_find_tensor(m->gguf, name);
    if (i < 0) {
        if (required)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: missing tensor '%s'", kv_gguf_path(m->gguf),
                           name);
        return KV_OK;
    }
    const kv_gguf_tensor *gt = kv_gguf_tensor_at(m->gguf, i);
    kv_status st = check_tensor(m, gt, name, ne0, ne1, use, err);
    if (st != KV_OK)
        return st;
    t->type = (kv_type)gt->type;
    t->ne[0] = ne0;
    t->ne[1] = ne1 > 0 ? ne1 : 1;
    t->row_size = kv_type_row_size(t->type, ne0);
    if (t->row_size == 0 || gt->size / t->row_size < (size_t)t->ne[1])
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%s' (%s) has %zu bytes, too few for its shape",
                       kv_gguf_path(m->gguf), name, kv_type_name(t->type), gt->size);
    t->data = gt->data;
    char *slot = m->names + (size_t)b->n_names++ * NAME_SLOT;
    snprintf(slot, NAME_SLOT, "%s", name);
    t->name = slot;
    return KV_OK;
}

// Rows [r0, r0 + n) of t as a tensor of its own (rows are whole blocks of any
// type). It keeps t's name; no_hook: the matmul hook sees the fused weight once.
static kv_tensor slice(const kv_tensor *t, int64_t r0, int64_t n, bool no_hook) {
    kv_tensor s = *t;
    s.ne[1] = n;
    s.data = (const uint8_t *)t->data + (size_t)r0 * t->row_size;
    s.no_hook = no_hook;
    return s;
}

static kv_status bind_layer(binder *b, int64_t il, kv_layer *L, kv_err *err) {
    const kv_hparams *hp = &b->m->hp;
    const int64_t e = hp->n_embd;
    const int64_t nq = hp->n_head * hp->n_embd_head_k;
    const int64_t nk = hp->n_head_kv * hp->n_embd_head_k;
    const int64_t nv = hp->n_head_kv * hp->n_embd_head_v;
    const int64_t no = hp->n_head * hp->n_embd_head_v;
    const bool qk_norm = b->m->arch->qk_norm;
    const bool gemma = b->m->arch->gemma;
    const bool fused = b->m->arch->fused, sep = !fused;
    const bool bert = b->m->arch->bert, pre = !bert; // bert: norms after the residuals
    kv_tensor qkv, gate_up;
    const struct {
        kv_tensor *t;
        const char *suffix;
        int64_t ne0, ne1;
        tensor_use use;
        bool required;
    } spec[] = {
        {&L->attn_norm, pre ? "attn_norm.weight" : NULL, e, 0, T_VEC, true},
        {&L->wq, sep ? "attn_q.weight" : NULL, e, nq, T_MATMUL, true},
        {&L->wk, sep ? "attn_k.weight" : NULL, e, nk, T_MATMUL, true},
        {&L->wv, sep ? "attn_v.weight" : NULL, e, nv, T_MATMUL, true},
        {&qkv, fused ? "attn_qkv.weight" : NULL, e, nq + nk + nv, T_MATMUL, true},
        {&L->wo, "attn_output.weight", no, e, T_MATMUL, true},
        {&L->bq, "attn_q.bias", nq, 0, T_VEC, false},
        {&L->bk, "attn_k.bias", nk, 0, T_VEC, false},
        {&L->bv, "attn_v.bias", nv, 0, T_VEC, false},
        {&L->bo, "attn_output.bias", e, 0, T_VEC, false},
        {&L->q_norm, qk_norm ? "attn_q_norm.weight" : NULL, hp->n_embd_head_k, 0, T_VEC, true},
        {&L->k_norm, qk_norm ? "attn_k_norm.weight" : NULL, hp->n_embd_head_k, 0, T_VEC, true},
        {&L->ffn_norm, pre ? "ffn_norm.weight" : NULL, e, 0, T_VEC, true},
        {&L->ffn_gate, sep && pre ? "ffn_gate.weight" : NULL, e, hp->n_ff, T_MATMUL, true},
        {&L->ffn_up, sep ? "ffn_up.weight" : NULL, e, hp->n_ff, T_MATMUL, true},
        {&gate_up, fused ? "ffn_up.weight" : NULL, e, 2 * hp->n_ff, T_MATMUL, true},
        {&L->ffn_down, "ffn_down.weight", hp->n_ff, e, T_MATMUL, true},
        {&L->attn_post_norm, gemma ? "post_attention_norm.weight" : NULL, e, 0, T_VEC, true},
        {&L->ffn_post_norm, gemma ? "post_ffw_norm.weight" : NULL, e, 0, T_VEC, true},
        {&L->attn_out_norm, bert ? "attn_output_norm.weight" : NULL, e, 0, T_VEC, true},
        {&L->attn_out_norm_b, bert ? "attn_output_norm.bias" : NULL, e, 0, T_VEC, true},
        {&L->out_norm, bert ? "layer_output_norm.weight" : NULL, e, 0, T_VEC, true},
        {&L->out_norm_b, bert ? "layer_output_norm.bias" : NULL, e, 0, T_VEC, true},
        {&L->b_up, bert ? "ffn_up.bias" : NULL, hp->n_ff, 0, T_VEC, true},
        {&L->b_down, bert ? "ffn_down.bias" : NULL, e, 0, T_VEC, true},
    };
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        if (!spec[i].suffix) { // not part of this architecture
            memset(spec[i].t, 0, sizeof *spec[i].t);
            continue;
        }
        char name[NAME_SLOT];
        snprintf(name, sizeof name, "blk.%lld.%s", (long long)il, spec[i].suffix);
        kv_status st = bind(b, spec[i].t, name, spec[i].ne0, spec[i].ne1, spec[i].use,
                            spec[i].required, err);
        if (st != KV_OK)
            return st;
    }
    if (fused) { // q, k, v and gate, up: consecutive rows of the fused weights
        L->wq = slice(&qkv, 0, nq, false);
        L->wk = slice(&qkv, nq, nk, true);
        L->wv = slice(&qkv, nq + nk, nv, true);
        L->ffn_gate = slice(&gate_up, 0, hp->n_ff, false);
        L->ffn_up = slice(&gate_up, hp->n_ff, hp->n_ff, true);
    }
    return KV_OK;
}

#define TENSORS_PER_LAYER 25

static kv_status bind_bert(binder *b, kv_err *err) {
    kv_model *m = b->m;
    const kv_hparams *hp = &m->hp;
    int64_t it = kv_gguf_find_tensor(m->gguf, "token_types.weight");
    const int64_t n_types = it >= 0 ? kv_gguf_tensor_at(m->gguf, it)->ne[1] : 1;
    if (hp->n_ctx_train > KV_MODEL_MAX_DIM)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: bert.context_length %lld is too large",
                       kv_gguf_path(m->gguf), (long long)hp->n_ctx_train);
    kv_status st = bind(b, &m->tok_types, "token_types.weight", hp->n_embd, n_types, T_EMBD, true,
                        err);
    if (st == KV_OK)
        st = bind(b, &m->pos_embd, "position_embd.weight", hp->n_embd, hp->n_ctx_train, T_EMBD,
                  true, err);
    if (st == KV_OK)
        st = bind(b, &m->tok_norm, "token_embd_norm.weight", hp->n_embd, 0, T_VEC, true, err);
    if (st == KV_OK)
        st = bind(b, &m->tok_norm_b, "token_embd_norm.bias", hp->n_embd, 0, T_VEC, true, err);
    return st;
}

static kv_status bind_all(kv_model *m, kv_err *err) {
    kv_hparams *hp = &m->hp;
    binder b = {m, 0};
    const size_t n_slots = (size_t)hp->n_layer * TENSORS_PER_LAYER + 10;
    m->names = calloc(n_slots, NAME_SLOT);
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->names || !m->layers)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory binding %lld layers",
                       (long long)hp->n_layer);
    const char *path = kv_gguf_path(m->gguf);
    int64_t ie = kv_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (ie < 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: missing tensor 'token_embd.weight'", path);
    if (hp->n_vocab == 0) // no tokenizer or vocab_size key: the embedding says
        hp->n_vocab = kv_gguf_tensor_at(m->gguf, ie)->ne[1];
    if (hp->n_vocab < 1 || hp->n_vocab > KV_MODEL_MAX_VOCAB)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: vocabulary of %lld tokens", path,
                       (long long)hp->n_vocab);
    kv_status st = bind(&b, &m->output, "output.weight", hp->n_embd, hp->n_vocab, T_MATMUL, false,
                        err);
    if (st != KV_OK)
        return st;
    hp->tied_output = m->output.name == NULL;
    // A tied embedding is both looked up and multiplied.
    st = bind(&b, &m->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab,
              hp->tied_output ? T_MATMUL : T_EMBD, true, err);
    if (st == KV_OK && hp->tied_output && m->kernels->to_float[m->tok_embd.type] == NULL)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: tensor 'token_embd.weight' has type %s, which kvant cannot read yet",
                       path, kv_type_name(m->tok_embd.type));
    const bool bert = m->arch->bert;
    if (st == KV_OK && !bert)
        st = bind(&b, &m->output_norm, "output_norm.weight", hp->n_embd, 0, T_VEC, true, err);
    if (st == KV_OK && bert) // learned positions, token types (all type 0), embedding norm
        st = bind_bert(&b, err);
    if (st == KV_OK)
        st = bind(&b, &m->rope_freqs, "rope_freqs.weight", hp->n_rot / 2, 0, T_VEC, false, err);
    // Phi-3's LongRoPE tables (128k models): short up to the original context, else long
    if (st == KV_OK)
        st = bind(&b, &m->rope_short, "rope_factors_short.weight", hp->n_rot / 2, 0, T_VEC, false,
                  err);
    if (st == KV_OK)
        st = bind(&b, &m->rope_long, "rope_factors_long.weight", hp->n_rot / 2, 0, T_VEC,
                  m->rope_short.name != NULL, err);
    if (st == KV_OK && m->rope_long.name && !m->rope_short.name)
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s: missing tensor 'rope_factors_short.weight'", path);
    if (hp->tied_output)
        m->output = m->tok_embd;
    for (int64_t il = 0; st == KV_OK && il < hp->n_layer; il++)
        st = bind_layer(&b, il, &m->layers[il], err);
    return st;
}

// ---- open / close ----

kv_status kv_model_from_gguf(kv_gguf *g, kv_model **out, kv_err *err) {
    *out = NULL;
    kv_model *m = calloc(1, sizeof *m);
    if (!m) {
        kv_gguf_close(g);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the model");
    }
    m->gguf = g;
    m->kernels = kv_kernels_get();
    kv_status st = read_arch(g, &m->hp, &m->arch, err);
    if (st == KV_OK)
        st = read_hparams(g, &m->hp, err);
    if (st == KV_OK)
        st = read_attention(g, m, err);
    if (st == KV_OK)
        st = bind_all(m, err);
    if (st == KV_OK)
        st = kv__model_repack(m, err);
    if (st != KV_OK) {
        kv_model_close(m);
        return st;
    }
    *out = m;
    return KV_OK;
}

kv_status kv_model_open(const char *path, kv_model **out, kv_err *err) {
    *out = NULL;
    kv_gguf *g = NULL;
    kv_status st = kv_gguf_open(path, &g, err);
    if (st != KV_OK)
        return st;
    return kv_model_from_gguf(g, out, err);
}

void kv_model_close(kv_model *m) {
    if (!m)
        return;
    kv_gguf_close(m->gguf);
    free(m->layers);
    free(m->names);
    free(m->repacked);
    kv_map_close(&m->repack_map);
    free(m->repack_cache_path);
    free(m->repack_note);
    free(m);
}

const kv_hparams *kv_model_hparams(const kv_model *m) { return &m->hp; }

const kv_gguf *kv_model_gguf(const kv_model *m) { return m->gguf; }

const char *kv_model_kernels_name(const kv_model *m) {
    return (m ? m->kernels : kv_kernels_get())->name;
}

static uint64_t tensor_bytes(const kv_tensor *t) {
    return t->name ? (uint64_t)t->row_size * (uint64_t)t->ne[1] : 0;
}

uint64_t kv_model_weight_bytes(const kv_model *m) {
    uint64_t n = tensor_bytes(&m->tok_embd) + tensor_bytes(&m->output_norm) +
                 tensor_bytes(&m->pos_embd) + tensor_bytes(&m->tok_types);
    if (!m->hp.tied_output)
        n += tensor_bytes(&m->output);
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        const kv_layer *L = &m->layers[il];
        const kv_tensor *ts[] = {&L->attn_norm, &L->wq,       &L->wk,     &L->wv,
                                 &L->wo,        &L->bq,       &L->bk,     &L->bv,
                                 &L->bo,        &L->ffn_norm, &L->ffn_gate, &L->ffn_up,
                                 &L->ffn_down,  &L->q_norm,   &L->k_norm,
                                 &L->attn_post_norm, &L->ffn_post_norm, &L->attn_out_norm,
                                 &L->attn_out_norm_b, &L->out_norm, &L->out_norm_b,
                                 &L->b_up, &L->b_down};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            n += tensor_bytes(ts[i]);
    }
    return n;
}
