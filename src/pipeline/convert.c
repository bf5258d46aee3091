// Hugging Face folder -> GGUF: metadata (general.*, {arch}.*, tokenizer.ggml.*)
// as llama.cpp's converter writes it, tensor names mapped to GGUF's, q/k rows
// permuted from rotate-half to interleaved RoPE order. The bytes are written by
// the emitter (emit.c); this file decides names, shapes, metadata and types.
#define _POSIX_C_SOURCE 200809L
#include "kvant/kv_convert.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/pipeline_int.h"
#include "kvant/kv_f16.h"
#include "kvant/kv_hf.h"
#include "kvant/kv_mlx.h"
#include "kvant/kv_safetensors.h"
#include "kvant/kv_types.h"

// ---- tensor names ----

typedef struct {
    const char *hf;   // suffix after "model.layers.N."
    const char *gguf; // suffix after "blk.N."
    int permute;      // 0 none, 1 q (n_head), 2 k (n_head_kv)
} layer_name;

static const layer_name LAYER_NAMES[] = {
    {"self_attn.q_proj.weight", "attn_q.weight", 1},
    {"self_attn.k_proj.weight", "attn_k.weight", 2},
    {"self_attn.v_proj.weight", "attn_v.weight", 0},
    {"self_attn.o_proj.weight", "attn_output.weight", 0},
    {"self_attn.q_proj.bias", "attn_q.bias", 1},
    {"self_attn.k_proj.bias", "attn_k.bias", 2},
    {"self_attn.v_proj.bias", "attn_v.bias", 0},
    {"self_attn.o_proj.bias", "attn_output.bias", 0},
    {"self_attn.q_norm.weight", "attn_q_norm.weight", 0}, // qwen3
    {"self_attn.k_norm.weight", "attn_k_norm.weight", 0},
    {"self_attn.qkv_proj.weight", "attn_qkv.weight", 0}, // phi3: q, k, v rows stacked
    {"mlp.gate_up_proj.weight", "ffn_up.weight", 0},      // phi3: gate rows, then up
    {"mlp.gate_proj.weight", "ffn_gate.weight", 0},
    {"mlp.up_proj.weight", "ffn_up.weight", 0},
    {"mlp.down_proj.weight", "ffn_down.weight", 0},
    {"input_layernorm.weight", "attn_norm.weight", 0},
    {"post_attention_layernorm.weight", "ffn_norm.weight", 0},
};

// Gemma 2's sandwich norms: llama.cpp's names, checked before LAYER_NAMES.
static const layer_name GEMMA_NAMES[] = {
    {"post_attention_layernorm.weight", "post_attention_norm.weight", 0},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight", 0},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight", 0},
};

// BERT (BertModel, "bert." prefix of the pre-training heads dropped): llama.cpp's names.
static const layer_name BERT_LAYER_NAMES[] = {
    {"attention.self.query.weight", "attn_q.weight", 0},
    {"attention.self.query.bias", "attn_q.bias", 0},
    {"attention.self.key.weight", "attn_k.weight", 0},
    {"attention.self.key.bias", "attn_k.bias", 0},
    {"attention.self.value.weight", "attn_v.weight", 0},
    {"attention.self.value.bias", "attn_v.bias", 0},
    {"attention.output.dense.weight", "attn_output.weight", 0},
    {"attention.output.dense.bias", "attn_output.bias", 0},
    {"attention.output.LayerNorm.weight", "attn_output_norm.weight", 0},
    {"attention.output.LayerNorm.bias", "attn_output_norm.bias", 0},
    {"intermediate.dense.weight", "ffn_up.weight", 0},
    {"intermediate.dense.bias", "ffn_up.bias", 0},
    {"output.dense.weight", "ffn_down.weight", 0},
    {"output.dense.bias", "ffn_down.bias", 0},
    {"output.LayerNorm.weight", "layer_output_norm.weight", 0},
    {"output.LayerNorm.bias", "layer_output_norm.bias", 0},
};

// A whole tensor name outside the layers.
typedef struct {
    const char *hf, *gguf;
} global_name;

#define N_OF(a) (sizeof(a) / sizeof *(a))

// The GGUF name of the HF name hf in t[0..n), or NULL.
static const char *global_gguf(const global_name *t, size_t n, const char *hf) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(hf, t[i].hf) == 0)
            return t[i].gguf;
    return NULL;
}

// For name = prefix "N." rest with 0 <= N < n_layer: rest, and N in *layer; else NULL.
static const char *layer_rest(const char *name, const char *prefix, int64_t n_layer,
                              long *layer) {
    const size_t np = strlen(prefix);
    if (strncmp(name, prefix, np) != 0)
        return NULL;
    const char *p = name + np;
    char *end;
    *layer = strtol(p, &end, 10);
    if (end == p || *end != '.' || *layer < 0 || *layer >= n_layer)
        return NULL;
    return end + 1;
}

// The entry of t[0..n) whose HF suffix is rest, or NULL.
static const layer_name *layer_find(const layer_name *t, size_t n, const char *rest) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(rest, t[i].hf) == 0)
            return &t[i];
    return NULL;
}

static const global_name BERT_GLOBAL_NAMES[] = {
    {"embeddings.word_embeddings.weight", "token_embd.weight"},
    {"embeddings.token_type_embeddings.weight", "token_types.weight"},
    {"embeddings.position_embeddings.weight", "position_embd.weight"},
    {"embeddings.LayerNorm.weight", "token_embd_norm.weight"},
    {"embeddings.LayerNorm.bias", "token_embd_norm.bias"},
};

static bool is_bert(const char *arch) { return strcmp(arch, "bert") == 0; }

// What llama.cpp's BertModel converter leaves out: the pooler, the position ids
// buffer and the pre-training heads.
static bool bert_skipped(const char *hf) {
    if (strncmp(hf, "bert.", 5) == 0)
        hf += 5;
    return strncmp(hf, "pooler.", 7) == 0 || strcmp(hf, "embeddings.position_ids") == 0 ||
           strncmp(hf, "cls.", 4) == 0;
}

static bool map_bert_name(const char *hf, char *out, size_t cap, int64_t n_layer) {
    if (strncmp(hf, "bert.", 5) == 0)
        hf += 5;
    const char *g = global_gguf(BERT_GLOBAL_NAMES, N_OF(BERT_GLOBAL_NAMES), hf);
    if (g) {
        snprintf(out, cap, "%s", g);
        return true;
    }
    long layer;
    const char *rest = layer_rest(hf, "encoder.layer.", n_layer, &layer);
    const layer_name *l =
        rest ? layer_find(BERT_LAYER_NAMES, N_OF(BERT_LAYER_NAMES), rest) : NULL;
    if (!l)
        return false;
    snprintf(out, cap, "blk.%ld.%s", layer, l->gguf);
    return true;
}

static bool is_gemma(const char *arch) {
    return strcmp(arch, "gemma2") == 0 || strcmp(arch, "gemma3") == 0;
}

static const global_name GLOBAL_NAMES[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

// Tensors that carry nothing GGUF needs.
static bool skipped_name(const char *hf) {
    size_t n = strlen(hf);
    static const char *const SUFFIXES[] = {"rotary_emb.inv_freq", "attn.masked_bias", "attn.bias"};
    for (size_t i = 0; i < sizeof SUFFIXES / sizeof *SUFFIXES; i++) {
        size_t m = strlen(SUFFIXES[i]);
        if (n >= m && strcmp(hf + n - m, SUFFIXES[i]) == 0)
            return true;
    }
    return false;
}

// Maps an HF tensor name to its GGUF name; *permute says which q/k permutation
// applies. Returns false for a name kvant does not know.
static bool map_name(const char *hf, char *out, size_t cap, int *permute, int64_t n_layer,
                     bool gemma) {
    *permute = 0;
    const char *g = global_gguf(GLOBAL_NAMES, N_OF(GLOBAL_NAMES), hf);
    if (g) {
        snprintf(out, cap, "%s", g);
        return true;
    }
    long layer;
    const char *rest = layer_rest(hf, "model.layers.", n_layer, &layer);
    if (!rest)
        return false;
    const layer_name *l = gemma ? layer_find(GEMMA_NAMES, N_OF(GEMMA_NAMES), rest) : NULL;
    if (!l)
        l = layer_find(LAYER_NAMES, N_OF(LAYER_NAMES), rest);
    if (!l)
        return false;
    snprintf(out, cap, "blk.%ld.%s", layer, l->gguf);
    *permute = l->permute;
    return true;
}

bool kv__hf_name_of(const char *gguf, const char *arch, char *out, size_t cap, int *permute) {
    *permute = 0;
    const bool phi3 = strcmp(arch, "phi3") == 0;
    for (size_t i = 0; i < N_OF(GLOBAL_NAMES); i++)
        if (strcmp(gguf, GLOBAL_NAMES[i].gguf) == 0) {
            snprintf(out, cap, "%s", GLOBAL_NAMES[i].hf);
            return true;
        }
    long layer;
    const char *rest = layer_rest(gguf, "blk.", INT64_MAX, &layer);
    if (!rest)
        return false;
    for (size_t i = 0; is_gemma(arch) && i < N_OF(GEMMA_NAMES); i++)
        if (strcmp(rest, GEMMA_NAMES[i].gguf) == 0) {
            snprintf(out, cap, "model.layers.%ld.%s", layer, GEMMA_NAMES[i].hf);
            return true;
        }
    bool found = false; // the first match for phi3 (fused gate_up_proj), else the last (up_proj)
    for (size_t i = 0; i < N_OF(LAYER_NAMES) && !(phi3 && found); i++)
        if (strcmp(rest, LAYER_NAMES[i].gguf) == 0 &&
            (phi3 || strstr(LAYER_NAMES[i].hf, "qkv_proj") == NULL)) {
            snprintf(out, cap, "model.layers.%ld.%s", layer, LAYER_NAMES[i].hf);
            *permute = LAYER_NAMES[i].permute;
            found = true;
        }
    return found;
}

// ---- row readers ----

typedef struct {
    const kv_st_tensor *t;
    int64_t n_cols;
    int64_t n_heads; // > 0: rows are permuted in groups of n_rows / n_heads
    int64_t n_rows;
    bool add_one;    // Gemma's norm weights: 1 + w, rounded to the source type as
                     // llama.cpp's converter adds in the checkpoint's dtype
} hf_src;

// GGUF row r of a permuted q/k weight comes from HF row: within each head, HF keeps
// the first halves of all rotation pairs, then the second halves; GGUF interleaves them.
static int64_t hf_row_of(const hf_src *s, int64_t r) {
    if (s->n_heads <= 0)
        return r;
    return kv_hf_qk_hf_row(r, s->n_rows / s->n_heads);
}

static void add_one(const hf_src *s, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float v = dst[i] + 1.0f;
        dst[i] = s->t->dtype == KV_ST_BF16  ? kv_bf16_to_f32(kv_f32_to_bf16(v))
                 : s->t->dtype == KV_ST_F16 ? kv_f16_to_f32(kv_f32_to_f16(v))
                                            : v;
    }
}

static kv_status hf_read_rows(const void *ctx, int64_t row0, int64_t n_rows, float *dst,
                              kv_err *err) {
    const hf_src *s = (const hf_src *)ctx;
    if (s->add_one) {
        kv_status st = kv_safetensors_read_f32(s->t, row0 * s->n_cols, n_rows * s->n_cols, dst, err);
        if (st == KV_OK)
            add_one(s, dst, n_rows * s->n_cols);
        return st;
    }
    if (s->n_heads <= 0)
        return kv_safetensors_read_f32(s->t, row0 * s->n_cols, n_rows * s->n_cols, dst, err);
    for (int64_t r = 0; r < n_rows; r++) {
        kv_status st = kv_safetensors_read_f32(s->t, hf_row_of(s, row0 + r) * s->n_cols,
                                               s->n_cols, dst + r * s->n_cols, err);
        if (st != KV_OK)
            return st;
    }
    return KV_OK;
}

// An MLX quantized layer: rows dequantized, or transcoded to Q4_1 / Q8_0 blocks.
typedef struct {
    kv_mlx_linear l;
    int64_t n_heads;   // > 0: q/k rows permuted as for hf_src
    uint32_t exact;    // KV_TYPE_Q4_1, KV_TYPE_Q8_0, or KV_TYPE_COUNT (requantized)
} mlx_src;

static int64_t mlx_row(const mlx_src *s, int64_t r) {
    return s->n_heads > 0 ? kv_hf_qk_hf_row(r, s->l.rows / s->n_heads) : r;
}

static kv_status mlx_read_rows(const void *ctx, int64_t row0, int64_t n_rows, float *dst,
                               kv_err *err) {
    (void)err;
    const mlx_src *s = (const mlx_src *)ctx;
    for (int64_t r = 0; r < n_rows; r++)
        kv_mlx_dequant_row(&s->l, mlx_row(s, row0 + r), dst + r * s->l.cols);
    return KV_OK;
}

static kv_status mlx_read_raw(const void *ctx, int64_t row0, int64_t n_rows, void *dst,
                              kv_err *err) {
    (void)err;
    const mlx_src *s = (const mlx_src *)ctx;
    const int64_t nb = s->l.cols / 32;
    for (int64_t r = 0; r < n_rows; r++) {
        if (s->exact == KV_TYPE_Q4_1)
            kv_mlx_row_to_q4_1(&s->l, mlx_row(s, row0 + r), (kv_block_q4_1 *)dst + r * nb);
        else
            kv_mlx_row_to_q8_0(&s->l, mlx_row(s, row0 + r), (kv_block_q8_0 *)dst + r * nb);
    }
    return KV_OK;
}

static uint32_t st_to_kv_type(kv_st_dtype d) {
    switch (d) {
    case KV_ST_F32: return KV_TYPE_F32;
    case KV_ST_F16: return KV_TYPE_F16;
    case KV_ST_BF16: return KV_TYPE_BF16;
    case KV_ST_F64: return KV_TYPE_F64;
    default: return KV_TYPE_COUNT;
    }
}

// ---- llama3 rope frequency factors ----

// rope_freqs.weight for rope_scaling type llama3: per rotation pair i, the divisor of
// its frequency, computed in float32 the way llama.cpp's converter does (with the
// top-level original_max_position_embeddings, default 8192, as it reads it).
typedef struct {
    const kv_hf_config *c;
    const float *table; // longrope: the factors as config.json lists them; NULL: llama3's
} rope_src;

static kv_status rope_freqs_rows(const void *ctx, int64_t row0, int64_t n_rows, float *dst,
                                 kv_err *err) {
    const kv_hf_config *c = ((const rope_src *)ctx)->c;
    if (row0 != 0 || n_rows != 1) // one row of head_dim / 2 factors
        return KV_FAIL(err, KV_ERR_INVALID, "rope_freqs.weight: rows %lld..%lld asked, it has 1",
                       (long long)row0, (long long)(row0 + n_rows));
    const float *table = ((const rope_src *)ctx)->table;
    if (table) {
        memcpy(dst, table, (size_t)c->n_rope_factors * sizeof *dst);
        return KV_OK;
    }
    const int64_t dim = c->head_dim;
    const float factor = c->rope_scaling_factor, lo = c->rope_low_freq_factor;
    const float hi = c->rope_high_freq_factor, old_ctx = (float)c->rope_llama3_orig_ctx;
    const float lo_wavelen = old_ctx / lo, hi_wavelen = old_ctx / hi;
    for (int64_t i = 0; i < dim / 2; i++) {
        const float freq = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)dim);
        const float wavelen = (float)(2.0 * 3.14159265358979323846) / freq;
        float f;
        if (wavelen < hi_wavelen)
            f = 1.0f;
        else if (wavelen > lo_wavelen)
            f = factor;
        else {
            const float smooth = (old_ctx / wavelen - lo) / (hi - lo);
            f = 1.0f / ((1.0f - smooth) / factor + smooth);
        }
        dst[i] = f;
    }
    return KV_OK;
}

static bool wants_rope_freqs(const kv_hf_config *c) {
    return c->rope_scaling_type && strcmp(c->rope_scaling_type, "llama3") == 0;
}

static bool wants_longrope(const kv_hf_config *c) {
    return c->rope_scaling_type && strcmp(c->rope_scaling_type, "longrope") == 0;
}

// name: rope_freqs.weight (llama3, computed) or rope_factors_long/short.weight
// (longrope, from table)
static void plan_rope_freqs(const kv_hf_config *c, kv__emit_tensor *t, rope_src *src,
                            const char *name, const float *table) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    src->table = table;
    t->n_dims = 1;
    t->ne[0] = table ? c->n_rope_factors : c->head_dim / 2;
    t->ne[1] = t->ne[2] = t->ne[3] = 1;
    t->src_type = KV_TYPE_F32;
    src->c = c;
    t->read_rows = rope_freqs_rows;
    t->ctx = src;
}

// ---- metadata ----

// "kjv-llama-7m" -> name "Kjv Llama 7m", basename "kjv-llama", size label "7M",
// as llama.cpp derives them from the folder name; the size label falls back to
// the parameter count ("1.1B") when the name has none.
static void name_parts(const char *folder, uint64_t n_params, char *name, char *base, char *size,
                       size_t cap) {
    snprintf(name, cap, "%s", folder);
    bool up = true;
    for (char *p = name; *p; p++) {
        if (*p == '-' || *p == '_') {
            *p = ' ';
            up = true;
        } else {
            *p = up ? (char)toupper((unsigned char)*p) : *p;
            up = false;
        }
    }
    snprintf(base, cap, "%s", folder);
    size[0] = '\0';
    char *dash = strrchr(base, '-');
    if (dash) {
        const char *s = dash + 1;
        char *e;
        double v = strtod(s, &e);
        if (e != s && v > 0 && strchr("kKmMbBtT", *e) && *e && e[1] == '\0') {
            snprintf(size, cap, "%s", s);
            size[strlen(size) - 1] = (char)toupper((unsigned char)*e);
            *dash = '\0';
        }
    }
    if (size[0] == '\0') {
        static const char SUFFIX[] = {'K', 'M', 'B', 'T'};
        double v = (double)n_params / 1e3;
        int i = 0;
        while (v >= 1000.0 && i < 3) {
            v /= 1000.0;
            i++;
        }
        snprintf(size, cap, v < 10.0 ? "%.1f%c" : "%.0f%c", v, SUFFIX[i]);
    }
}

#define TRY(expr) KV_TRY(expr)

// BertModel's keys: no KV heads or RoPE; LayerNorm epsilon, non-causal, pooling.
static kv_status set_bert_keys(kv_gguf_writer *w, const kv_hf_config *c, kv_err *err) {
    TRY(kv_gguf_set_u32(w, "bert.block_count", (uint32_t)c->n_layer, err));
    TRY(kv_gguf_set_u32(w, "bert.context_length", (uint32_t)c->n_ctx, err));
    TRY(kv_gguf_set_u32(w, "bert.embedding_length", (uint32_t)c->n_embd, err));
    TRY(kv_gguf_set_u32(w, "bert.feed_forward_length", (uint32_t)c->n_ff, err));
    TRY(kv_gguf_set_u32(w, "bert.attention.head_count", (uint32_t)c->n_head, err));
    TRY(kv_gguf_set_f32(w, "bert.attention.layer_norm_epsilon", c->rms_eps, err));
    TRY(kv_gguf_set_bool(w, "bert.attention.causal", false, err));
    if (c->pooling_type > 0)
        TRY(kv_gguf_set_u32(w, "bert.pooling_type", (uint32_t)c->pooling_type, err));
    return KV_OK;
}

static kv_status set_arch_keys(kv_gguf_writer *w, const kv_hf_config *c, kv_err *err) {
    if (is_bert(c->arch))
        return set_bert_keys(w, c, err);
    char key[128];
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s.%s", c->arch, suffix), key)
    TRY(kv_gguf_set_u32(w, ARCH_KEY("block_count"), (uint32_t)c->n_layer, err));
    TRY(kv_gguf_set_u32(w, ARCH_KEY("context_length"), (uint32_t)c->n_ctx, err));
    TRY(kv_gguf_set_u32(w, ARCH_KEY("embedding_length"), (uint32_t)c->n_embd, err));
    TRY(kv_gguf_set_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)c->n_ff, err));
    TRY(kv_gguf_set_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)c->n_head, err));
    TRY(kv_gguf_set_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)c->n_head_kv, err));
    // Gemma2Model writes none (llama.cpp's default 10000); another base needs the key
    if (strcmp(c->arch, "gemma2") != 0 || c->rope_theta != 10000.0f)
        TRY(kv_gguf_set_f32(w, ARCH_KEY("rope.freq_base"), c->rope_theta, err));
    TRY(kv_gguf_set_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), c->rms_eps, err));
    // llama.cpp writes the head size only when config.json gives head_dim; kvant
    // always did for llama, so that stays (the loader needs it when heads do not divide)
    if (c->head_dim_given || strcmp(c->arch, "llama") == 0 || is_gemma(c->arch)) {
        TRY(kv_gguf_set_u32(w, ARCH_KEY("attention.key_length"), (uint32_t)c->head_dim, err));
        TRY(kv_gguf_set_u32(w, ARCH_KEY("attention.value_length"), (uint32_t)c->head_dim, err));
    }
    const bool g2 = strcmp(c->arch, "gemma2") == 0;
    if (is_gemma(c->arch)) { // Gemma2Model's / Gemma3Model's keys; the query scale only
        // when llama.cpp's rule (1/sqrt(head_dim), or n_embd/n_head for 27B) would not give it
        if (g2)
            TRY(kv_gguf_set_f32(w, ARCH_KEY("attn_logit_softcapping"), c->attn_softcap, err));
        if (g2 || c->final_softcap > 0.0f)
            TRY(kv_gguf_set_f32(w, ARCH_KEY("final_logit_softcapping"), c->final_softcap, err));
        // llama.cpp takes 10000 for Gemma 3's local layers; another base needs its key
        if (!g2 && c->rope_local_base != 10000.0f)
            TRY(kv_gguf_set_f32(w, ARCH_KEY("rope.freq_base_swa"), c->rope_local_base, err));
        TRY(kv_gguf_set_u32(w, ARCH_KEY("attention.sliding_window"), (uint32_t)c->sliding_window,
                            err));
        if (c->query_pre_attn_scalar != c->head_dim)
            TRY(kv_gguf_set_f32(w, ARCH_KEY("attention.scale"),
                                1.0f / sqrtf((float)c->query_pre_attn_scalar), err));
    }
    if (strcmp(c->arch, "phi3") == 0) { // Phi3MiniModel's keys (the window is written, not run)
        const int64_t orig = c->rope_scaling_orig_ctx > 0 ? c->rope_scaling_orig_ctx
                             : c->rope_orig_ctx_given    ? c->rope_llama3_orig_ctx
                                                         : 0;
        if (orig > 0)
            TRY(kv_gguf_set_u32(w, ARCH_KEY("rope.scaling.original_context_length"),
                                (uint32_t)orig, err));
        TRY(kv_gguf_set_u32(w, ARCH_KEY("rope.dimension_count"), (uint32_t)c->rope_dims, err));
        if (c->n_rope_factors > 0) // longrope
            TRY(kv_gguf_set_f32(w, ARCH_KEY("rope.scaling.attn_factor"), c->rope_attn_factor, err));
        TRY(kv_gguf_set_u32(w, ARCH_KEY("attention.sliding_window"), (uint32_t)c->sliding_window,
                            err));
    }
    if (c->rope_scaling_type && strcmp(c->rope_scaling_type, "linear") == 0) {
        TRY(kv_gguf_set_str(w, ARCH_KEY("rope.scaling.type"), "linear", err));
        TRY(kv_gguf_set_f32(w, ARCH_KEY("rope.scaling.factor"), c->rope_scaling_factor, err));
    }
    return KV_OK;
#undef ARCH_KEY
}

// no_prefix: the architecture's converter writes add_space_prefix false (Gemma2Model)
static kv_status set_tokenizer_keys(kv_gguf_writer *w, const kv_hf_vocab *v, bool no_prefix,
                                    kv_err *err) {
    TRY(kv_gguf_set_str(w, "tokenizer.ggml.model", v->model, err));
    TRY(kv_gguf_set_str(w, "tokenizer.ggml.pre", v->pre ? v->pre : "default", err));
    TRY(kv_gguf_set_arr_str(w, "tokenizer.ggml.tokens", v->tokens, (uint64_t)v->n_tokens, err));
    if (v->scores)
        TRY(kv_gguf_set_arr(w, "tokenizer.ggml.scores", KV_GGUF_F32, v->scores,
                            (uint64_t)v->n_tokens, err));
    TRY(kv_gguf_set_arr(w, "tokenizer.ggml.token_type", KV_GGUF_I32, v->types,
                        (uint64_t)v->n_tokens, err));
    if (v->n_merges > 0)
        TRY(kv_gguf_set_arr_str(w, "tokenizer.ggml.merges", v->merges, (uint64_t)v->n_merges,
                                err));
    static const char *const ID_KEYS[] = {"bos", "eos", "unknown", "padding", "seperator"};
    const int64_t ids[] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id, v->sep_id};
    for (int i = 0; i < 5; i++) {
        char key[64];
        snprintf(key, sizeof key, "tokenizer.ggml.%s_token_id", ID_KEYS[i]);
        if (ids[i] >= 0 && ids[i] < v->n_tokens)
            TRY(kv_gguf_set_u32(w, key, (uint32_t)ids[i], err));
    }
    if (v->add_bos >= 0)
        TRY(kv_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos != 0, err));
    if (v->add_eos >= 0)
        TRY(kv_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos != 0, err));
    // tokenizer_config.json's add_prefix_space wins; else SentencePiece's add_dummy_prefix
    int prefix = v->add_space_prefix_cfg >= 0 ? v->add_space_prefix_cfg : v->add_space_prefix;
    prefix = no_prefix ? 0 : prefix;
    if (prefix >= 0)
        TRY(kv_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", prefix != 0, err));
    if (v->chat_template)
        TRY(kv_gguf_set_str(w, "tokenizer.chat_template", v->chat_template, err));
    return KV_OK;
}

static kv_status set_metadata(kv_gguf_writer *w, const kv_hf *hf, uint64_t n_params,
                              uint32_t file_type, kv_err *err) {
    const kv_hf_config *c = kv_hf_config_of(hf);
    char name[256], base[256], size[256];
    name_parts(c->name, n_params, name, base, size, sizeof name);
    TRY(kv_gguf_set_str(w, "general.architecture", c->arch, err));
    TRY(kv_gguf_set_str(w, "general.type", "model", err));
    TRY(kv_gguf_set_str(w, "general.name", name, err));
    TRY(kv_gguf_set_str(w, "general.basename", base, err));
    TRY(kv_gguf_set_str(w, "general.size_label", size, err));
    TRY(set_arch_keys(w, c, err));
    TRY(kv_gguf_set_u32(w, "general.file_type", file_type, err));
    char key[128];
    snprintf(key, sizeof key, "%s.vocab_size", c->arch);
    TRY(kv_gguf_set_u32(w, key, (uint32_t)kv_hf_vocab_of(hf)->n_tokens, err));
    if (strcmp(c->arch, "llama") == 0) { // LlamaModel's key; qwen2/qwen3 have none
        snprintf(key, sizeof key, "%s.rope.dimension_count", c->arch);
        TRY(kv_gguf_set_u32(w, key, (uint32_t)c->head_dim, err));
    }
    TRY(set_tokenizer_keys(w, kv_hf_vocab_of(hf), is_gemma(c->arch), err));
    if (is_bert(c->arch)) // token types the model has (kvant, like llama.cpp, uses type 0)
        TRY(kv_gguf_set_u32(w, "tokenizer.ggml.token_type_count", (uint32_t)c->n_token_types,
                            err));
    TRY(kv_gguf_set_u32(w, "general.quantization_version", 2, err));
    return KV_OK;
}

// ---- conversion ----

static kv_status plan_tensor(const kv_hf *hf, const kv_st_tensor *st, kv__emit_tensor *t,
                             hf_src *src, kv_err *err) {
    const kv_hf_config *c = kv_hf_config_of(hf);
    int permute = 0;
    const bool mapped = is_bert(c->arch)
                            ? map_bert_name(st->name, t->name, sizeof t->name, c->n_layer)
                            : map_name(st->name, t->name, sizeof t->name, &permute, c->n_layer,
                                       is_gemma(c->arch));
    if (!mapped)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: tensor '%s' has no GGUF name for architecture %s (%s)", st->file,
                       st->name, c->arch, c->hf_class);
    t->src_type = st_to_kv_type(st->dtype);
    if (t->src_type == KV_TYPE_COUNT)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, expected a float type",
                       st->file, st->name, kv_st_dtype_name(st->dtype));
    if (st->n_dims < 1 || st->n_dims > 4)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions, expected 1 to 4",
                       st->file, st->name, st->n_dims);
    t->n_dims = (uint32_t)st->n_dims;
    for (int d = 0; d < 4; d++)
        t->ne[d] = d < st->n_dims ? st->shape[st->n_dims - 1 - d] : 1;
    src->t = st;
    src->n_cols = t->ne[0];
    src->n_rows = st->n_elements / (t->ne[0] > 0 ? t->ne[0] : 1);
    // llama.cpp permutes q/k for "llama" only; qwen2/qwen3 keep HF's rotate-half
    // order and run NEOX-style RoPE.
    if (strcmp(c->arch, "llama") != 0)
        permute = 0;
    src->n_heads = permute == 1 ? c->n_head : permute == 2 ? c->n_head_kv : 0;
    if (src->n_heads > 0 && (src->n_rows % (2 * src->n_heads) != 0))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: tensor '%s' has %lld rows, not a multiple of 2 x %lld heads", st->file,
                       st->name, (long long)src->n_rows, (long long)src->n_heads);
    const size_t nl = strlen(t->name);
    src->add_one = is_gemma(c->arch) && nl >= 11 && strcmp(t->name + nl - 11, "norm.weight") == 0;
    t->read_rows = hf_read_rows;
    t->read_mt = true; // a pure function of the mapped checkpoint: threads read their own rows
    t->ctx = src;
    t->raw = src->n_heads > 0 || src->add_one ? NULL : st->data;
    t->src_data = st->data;
    t->src_size = st->size;
    return KV_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

// name with its last ".part" replaced by suffix ("" drops it).
static void sibling(const char *name, const char *suffix, char *out, size_t cap) {
    const char *dot = strrchr(name, '.');
    size_t n = dot ? (size_t)(dot - name) : strlen(name);
    snprintf(out, cap, "%.*s%s", (int)n, name, suffix);
}

// A packed weight with its scales and biases, as one GGUF tensor.
static kv_status plan_mlx(const kv_hf *hf, const kv_mlx_config *mc, const kv_st_tensor *w,
                          kv__emit_tensor *t, mlx_src *ms, kv_err *err) {
    const kv_safetensors *sts = kv_hf_tensors(hf);
    const kv_hf_config *c = kv_hf_config_of(hf);
    char module[KV_ST_MAX_NAME], sn[KV_ST_MAX_NAME], bn[KV_ST_MAX_NAME];
    sibling(w->name, "", module, sizeof module);
    sibling(w->name, ".scales", sn, sizeof sn);
    sibling(w->name, ".biases", bn, sizeof bn);
    const int64_t si = kv_safetensors_find(sts, sn), bi = kv_safetensors_find(sts, bn);
    if (!mc)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%s' is quantized (MLX) but config.json "
                       "has no \"quantization\" entry", w->file, w->name);
    if (si < 0 || bi < 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%s' is packed %s but '%s' is missing",
                       w->file, w->name, kv_st_dtype_name(w->dtype), si < 0 ? sn : bn);
    memset(ms, 0, sizeof *ms);
    ms->l.w = w;
    ms->l.scales = kv_safetensors_at(sts, si);
    ms->l.biases = kv_safetensors_at(sts, bi);
    ms->l.q = kv_mlx_quant_of(mc, module);
    if (ms->l.q.bits == 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%s' is packed but config.json's "
                       "quantization says module '%s' is not quantized", w->file, w->name, module);
    KV_TRY(kv_mlx_linear_check(&ms->l, err));
    int permute = 0;
    if (!map_name(w->name, t->name, sizeof t->name, &permute, c->n_layer, is_gemma(c->arch)))
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: tensor '%s' has no GGUF name for architecture %s (%s)", w->file,
                       w->name, c->arch, c->hf_class);
    if (strcmp(c->arch, "llama") != 0)
        permute = 0;
    ms->n_heads = permute == 1 ? c->n_head : permute == 2 ? c->n_head_kv : 0;
    if (ms->n_heads > 0 && ms->l.rows % (2 * ms->n_heads) != 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: tensor '%s' has %lld rows, not a multiple of 2 x %lld heads", w->file,
                       w->name, (long long)ms->l.rows, (long long)ms->n_heads);
    ms->exact = ms->l.q.bits == 4 && ms->l.q.group_size == 32 && ms->l.f16_exact ? KV_TYPE_Q4_1
                : ms->l.q8_0_exact                                               ? KV_TYPE_Q8_0
                                                                                 : KV_TYPE_COUNT;
    t->n_dims = 2;
    t->ne[0] = ms->l.cols;
    t->ne[1] = ms->l.rows;
    t->ne[2] = t->ne[3] = 1;
    t->src_type = ms->exact != KV_TYPE_COUNT ? ms->exact : KV_TYPE_F32;
    t->read_rows = mlx_read_rows;
    t->ctx = ms;
    t->mlx = ms->exact != KV_TYPE_COUNT ? 1 : 2;
    t->mlx_bits = (uint8_t)ms->l.q.bits;
    t->mlx_group = ms->l.q.group_size;
    if (t->mlx == 2 && ms->l.q.group_size == 32 && (ms->l.q.bits == 4 || ms->l.q.bits == 8))
        t->mlx_why = !ms->l.f16_exact ? 1 : 2;
    t->src_data = w->data;
    t->src_size = w->size;
    return KV_OK;
}

static kv_status plan_all(const kv_hf *hf, const kv_mlx_config *mc, kv__emit_tensor *ts,
                          hf_src *srcs, mlx_src *ms, rope_src *rs, int64_t *n_out,
                          uint64_t *n_params, kv_err *err) {
    const kv_safetensors *sts = kv_hf_tensors(hf);
    int64_t n = 0;
    *n_params = 0;
    const kv_hf_config *c = kv_hf_config_of(hf);
    if (wants_rope_freqs(c)) // first, as llama.cpp writes it
        plan_rope_freqs(c, &ts[n++], &rs[0], "rope_freqs.weight", NULL);
    if (wants_longrope(c)) { // Phi3MiniModel's extra tensors: long, then short
        plan_rope_freqs(c, &ts[n++], &rs[0], "rope_factors_long.weight", c->rope_long);
        plan_rope_freqs(c, &ts[n++], &rs[1], "rope_factors_short.weight", c->rope_short);
    }
    for (int64_t i = 0; i < kv_safetensors_count(sts); i++) {
        const kv_st_tensor *t = kv_safetensors_at(sts, i);
        if (skipped_name(t->name) || // llama.cpp leaves out Gemma's (tied) lm_head
            (is_gemma(kv_hf_config_of(hf)->arch) && strcmp(t->name, "lm_head.weight") == 0) ||
            (is_bert(kv_hf_config_of(hf)->arch) && bert_skipped(t->name)))
            continue;
        char wn[KV_ST_MAX_NAME], sn[KV_ST_MAX_NAME];
        if (ends_with(t->name, ".scales") || ends_with(t->name, ".biases")) {
            sibling(t->name, ".weight", wn, sizeof wn); // read with its packed weight
            if (kv_safetensors_find(sts, wn) >= 0)
                continue;
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%s' has no packed '%s' beside it",
                           t->file, t->name, wn);
        }
        sibling(t->name, ".scales", sn, sizeof sn);
        if (ends_with(t->name, ".weight") &&
            (t->dtype == KV_ST_U32 || kv_safetensors_find(sts, sn) >= 0)) {
            kv_status st = plan_mlx(hf, mc, t, &ts[n], &ms[n], err);
            if (st != KV_OK)
                return st;
            *n_params += (uint64_t)(ms[n].l.rows * ms[n].l.cols);
            n++;
            continue;
        }
        kv_status st = plan_tensor(hf, t, &ts[n], &srcs[n], err);
        if (st != KV_OK)
            return st;
        ts[n].ctx = &srcs[n];
        *n_params += (uint64_t)t->n_elements;
        n++;
    }
    *n_out = n;
    return KV_OK;
}

// The file types llama.cpp's converter writes itself (f32, f16, bf16, q8_0,
// tq1_0, tq2_0): convert lays them out as it does. Any other type comes from llama-quantize in
// llama.cpp, and one pass writes the layout of `convert` + `quantize`: tensors in
// llama-quantize's order, general.quantization_version and general.file_type
// last (before the imatrix keys). The tensors' bytes are the same either way when
// the intermediate file holds the checkpoint's values exactly.
static bool converter_layout(kv_ftype ftype) {
    return ftype == KV_FTYPE_ALL_F32 || ftype == KV_FTYPE_F16 || ftype == KV_FTYPE_BF16 ||
           ftype == KV_FTYPE_Q8_0 || ftype == KV_FTYPE_TQ1_0 || ftype == KV_FTYPE_TQ2_0;
}

static int cmp_tensor(const void *a, const void *b) {
    return kv_mix_name_cmp(((const kv__emit_tensor *)a)->name, ((const kv__emit_tensor *)b)->name);
}

// llama-quantize's placement of the two keys it re-adds at the end.
static kv_status move_type_keys_last(kv_gguf_writer *w, uint32_t ftype, kv_err *err) {
    kv_gguf_unset(w, "general.quantization_version");
    TRY(kv_gguf_set_u32(w, "general.quantization_version", 2, err));
    kv_gguf_unset(w, "general.file_type");
    return kv_gguf_set_u32(w, "general.file_type", ftype, err);
}

static void model_facts(const kv_hf_config *c, const kv__emit_tensor *ts, int64_t n,
                        const char **names, kv_mix_model *m) {
    memset(m, 0, sizeof *m);
    m->arch = c->arch;
    m->n_layer = (int)c->n_layer;
    m->n_head = (int)c->n_head;
    m->n_head_kv = (int)c->n_head_kv;
    for (int64_t i = 0; i < n; i++)
        names[i] = ts[i].name;
    m->tensor_names = names;
    m->n_tensors = (size_t)n;
}

kv_status kv_convert_hf(const char *src_dir, const char *out_path, const kv_convert_opts *opts,
                        kv_convert_report *report, kv_err *err) {
    struct stat sb; // a file, not a folder: a llama2.c checkpoint (its reader checks the bytes)
    if (stat(src_dir, &sb) == 0 && S_ISREG(sb.st_mode))
        return kv__convert_llama2c(src_dir, out_path, opts, report, err);
    if (opts->tokenizer)
        return KV_FAIL(err, KV_ERR_INVALID, "%s: --tokenizer applies to llama2.c checkpoint files only",
                       src_dir);
    kv_quant_plan_opts plan = opts->plan;
    kv_status st = kv_ftype_parse(opts->outtype ? opts->outtype : "f16", &plan.ftype, err);
    if (st != KV_OK)
        return st;
    if (plan.ftype == KV_FTYPE_COPY)
        return KV_FAIL(err, KV_ERR_INVALID, "--outtype COPY only applies to kvant quantize");
    kv_hf *hf = NULL;
    kv_mlx_config *mc = NULL;
    mlx_src *ms = NULL;
    kv_gguf_writer *w = NULL;
    kv_imatrix *im = NULL;
    kv__emit_tensor *ts = NULL;
    hf_src *srcs = NULL;
    const char **names = NULL;
    st = kv_hf_open(src_dir, &hf, err);
    if (st != KV_OK)
        return st;
    st = kv_mlx_config_load(src_dir, &mc, err); // an mlx-lm folder's quantization, or none
    if (st != KV_OK) {
        kv_hf_close(hf);
        return st;
    }
    int64_t n_all = kv_safetensors_count(kv_hf_tensors(hf)), n = 0;
    size_t cap = (size_t)n_all + 2; // + rope_freqs.weight or the two longrope tables
    rope_src rs[2];
    ts = calloc(cap, sizeof *ts);
    srcs = calloc(cap, sizeof *srcs);
    names = calloc(cap, sizeof *names);
    ms = calloc(cap, sizeof *ms);
    if (!ts || !srcs || !names || !ms) {
        st = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory planning %lld tensors", src_dir,
                     (long long)n_all);
        goto done;
    }
    uint64_t n_params = 0;
    kv_mix_model model;
    st = plan_all(hf, mc, ts, srcs, ms, rs, &n, &n_params, err);
    const bool quantize_layout = !converter_layout(plan.ftype);
    if (st == KV_OK && quantize_layout) // the mix then also counts layers in that order
        qsort(ts, (size_t)n, sizeof *ts, cmp_tensor); // ctx pointers travel with their entries
    if (st == KV_OK) {
        model_facts(kv_hf_config_of(hf), ts, n, names, &model);
        st = kv__plan_types(ts, n, &model, &plan, true, &im, err);
    }
    for (int64_t i = 0; st == KV_OK && i < n; i++)
        if (ts[i].mlx == 1) { // MLX groups GGUF holds exactly: transcoded, whatever the mix says
            ts[i].dst_type = ((const mlx_src *)ts[i].ctx)->exact;
            ts[i].read_raw = mlx_read_raw;
            ts[i].fallback = false;
            ts[i].imatrix = NULL;
        }
    // an mlx-lm folder whose quantized layers all transcode to one type, converted
    // without --outtype: the file type says that type (as the GGUF it may come from)
    uint32_t ftype = (uint32_t)plan.ftype;
    uint32_t exact = KV_TYPE_COUNT;
    bool one_type = !opts->outtype;
    for (int64_t i = 0; st == KV_OK && i < n; i++) {
        if (ts[i].mlx == 2 || (ts[i].mlx == 1 && exact != KV_TYPE_COUNT && exact != ts[i].dst_type))
            one_type = false;
        if (ts[i].mlx == 1)
            exact = ts[i].dst_type;
    }
    if (one_type && exact != KV_TYPE_COUNT)
        ftype = exact == KV_TYPE_Q4_1 ? KV_FTYPE_Q4_1 : KV_FTYPE_Q8_0;
    if (st == KV_OK)
        st = kv_gguf_writer_new(&w, err);
    if (st == KV_OK)
        st = set_metadata(w, hf, n_params, ftype, err);
    if (st == KV_OK && quantize_layout)
        st = move_type_keys_last(w, ftype, err);
    if (st == KV_OK && im)
        st = kv__set_imatrix_keys(w, plan.imatrix_path, im, err);
    if (st == KV_OK)
        st = kv__emit_gguf(w, out_path, ts, n, plan.n_threads, plan.progress, plan.progress_user,
                           report, err);
done:
    kv_gguf_writer_free(w);
    kv_imatrix_close(im);
    free(names);
    free(srcs);
    free(ms);
    free(ts);
    kv_mlx_config_free(mc);
    kv_hf_close(hf);
    return st;
}
