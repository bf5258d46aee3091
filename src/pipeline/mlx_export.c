// GGUF -> mlx-lm folder: tensors under their Hugging Face names in one
// safetensors file, 2-D weights as MLX affine groups (Q4_1 / Q8_0 blocks
// transcoded exactly, other types dequantized and requantized), config.json with
// the quantization entry, and tokenizer files derived from the GGUF when there is
// no Hugging Face folder to copy them from.
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvant/kv_convert.h"
#include "kvant/kv_f16.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_hf.h"
#include "kvant/kv_mlx.h"
#include "kvant/kv_quant.h"
#include "kvant/kv_spm.h"
#include "kvant/kv_types.h"
#include "pipeline/pipeline_int.h"

typedef struct {
    const kv_gguf_tensor *t;
    char hf[96];         // HF name, ".weight" (or ".bias") included
    int64_t rows, cols;  // rows: product of the outer dims (1-D: 1 row)
    int64_t head_dim;    // > 0: llama q/k rows (or 1-D bias entries) un-permuted
    bool minus_one;      // Gemma's norms: GGUF holds 1 + w, Hugging Face and mlx-lm w
    int how;             // 0 float, 1 exact, 2 requantized
    kv_st_dtype dtype;   // float tensors
    int shard;           // which model-N-of-M.safetensors holds it
} plan_t;

static int64_t key_int(const kv_gguf *g, const char *arch, const char *suffix, int64_t dflt) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v;
    return kv_gguf_find(g, key) >= 0 && kv_gguf_get_int(g, key, &v, NULL) == KV_OK ? v : dflt;
}

static float key_f32(const kv_gguf *g, const char *arch, const char *suffix, float dflt) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    float v;
    return kv_gguf_find(g, key) >= 0 && kv_gguf_get_f32(g, key, &v, NULL) == KV_OK ? v : dflt;
}

// Q8_0 blocks hold MLX's bits 8 exactly when -128 * d fits float16 in every block.
static bool q8_0_fits(const kv_gguf_tensor *t) {
    const kv_block_q8_0 *b = (const kv_block_q8_0 *)t->data;
    for (size_t i = 0; i < t->size / sizeof *b; i++) {
        kv_f16 d;
        memcpy(&d, &b[i].d, sizeof d);
        const float bias = -128.0f * kv_f16_to_f32(d);
        if (kv_f16_to_f32(kv_f32_to_f16(bias)) != bias)
            return false;
    }
    return true;
}

static kv_status plan_one(const kv_gguf *g, const char *arch, int64_t i, const kv_mlx_quant *q,
                          plan_t *p, kv_err *err) {
    const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
    memset(p, 0, sizeof *p);
    p->t = t;
    int permute = 0;
    if (!kv__hf_name_of(name, arch, p->hf, sizeof p->hf, &permute))
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: tensor '%s' has no Hugging Face name",
                       kv_gguf_path(g), name);
    p->cols = t->ne[0];
    p->rows = 1;
    for (uint32_t d = 1; d < t->n_dims; d++)
        p->rows *= t->ne[d];
    if (permute && strcmp(arch, "llama") == 0) {
        const int64_t heads = key_int(g, arch, permute == 1 ? "attention.head_count"
                                                            : "attention.head_count_kv", 0);
        const int64_t n = t->n_dims > 1 ? p->rows : p->cols;
        if (heads <= 0 || n % (2 * heads) != 0)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%s' has %lld rows, not a multiple of "
                           "2 x %lld heads", kv_gguf_path(g), name, (long long)n, (long long)heads);
        p->head_dim = n / heads;
    }
    const size_t nl = strlen(p->hf);
    const bool weight = nl > 7 && strcmp(p->hf + nl - 7, ".weight") == 0;
    if (!strncmp(arch, "gemma", 5) && nl > 11 && !strcmp(p->hf + nl - 11, "norm.weight") &&
        t->n_dims == 1) { // as F32: (1 + w) - 1 is w wherever GGUF's 1 + w was exact
        p->minus_one = true;
        p->dtype = KV_ST_F32;
        return KV_OK;
    }
    if (t->n_dims == 2 && weight && p->cols % q->group_size == 0) {
        const bool g32 = q->group_size == 32;
        p->how = g32 && q->bits == 4 && t->type == KV_TYPE_Q4_1 ? 1
                 : g32 && q->bits == 8 && t->type == KV_TYPE_Q8_0 && q8_0_fits(t) ? 1
                                                                                   : 2;
        p->hf[nl - 7] = '\0'; // the module; .weight/.scales/.biases added when declared
        return KV_OK;
    }
    p->dtype = t->type == KV_TYPE_F16 ? KV_ST_F16 : t->type == KV_TYPE_BF16 ? KV_ST_BF16 : KV_ST_F32;
    return KV_OK;
}

static kv_status declare(kv_st_writer *w, const plan_t *p, const kv_mlx_quant *q, kv_err *err) {
    const kv_gguf_tensor *t = p->t;
    if (p->how == 0) {
        int64_t shape[4];
        for (uint32_t d = 0; d < t->n_dims; d++)
            shape[d] = t->ne[t->n_dims - 1 - d];
        return kv_st_writer_add(w, p->hf, p->dtype, (int)t->n_dims, shape, err);
    }
    char n[128];
    int64_t shape[2] = {p->rows, p->cols * q->bits / 32};
    snprintf(n, sizeof n, "%s.weight", p->hf);
    KV_TRY(kv_st_writer_add(w, n, KV_ST_U32, 2, shape, err));
    shape[1] = p->cols / q->group_size;
    snprintf(n, sizeof n, "%s.scales", p->hf);
    KV_TRY(kv_st_writer_add(w, n, KV_ST_F16, 2, shape, err));
    snprintf(n, sizeof n, "%s.biases", p->hf);
    return kv_st_writer_add(w, n, KV_ST_F16, 2, shape, err);
}

static int64_t src_row(const plan_t *p, int64_t r) {
    return p->head_dim > 0 ? kv_hf_qk_gguf_row(r, p->head_dim) : r;
}

static kv_status write_one(kv_st_writer *w, const plan_t *p, const kv_mlx_quant *q, kv_err *err) {
    const kv_gguf_tensor *t = p->t;
    const size_t rs = kv_type_row_size((kv_type)t->type, p->cols);
    const bool one_d = t->n_dims == 1;
    float *row = malloc((size_t)p->cols * sizeof *row);
    kv_status st = row ? KV_OK : KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    if (p->how == 0) {
        const size_t es = kv_st_dtype_size(p->dtype);
        uint8_t *out = st == KV_OK ? malloc((size_t)p->cols * es) : NULL;
        if (st == KV_OK && !out)
            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        for (int64_t r = 0; st == KV_OK && r < p->rows; r++) {
            const uint8_t *src = (const uint8_t *)t->data + (size_t)src_row(p, r) * rs;
            if (p->minus_one) {
                st = kv_dequant_row((kv_type)t->type, src, row, p->cols, err);
                for (int64_t k = 0; k < p->cols; k++)
                    row[k] -= 1.0f;
                memcpy(out, row, (size_t)p->cols * sizeof *row);
            } else if ((p->dtype == KV_ST_F16 && t->type == KV_TYPE_F16) ||
                (p->dtype == KV_ST_BF16 && t->type == KV_TYPE_BF16) ||
                (p->dtype == KV_ST_F32 && t->type == KV_TYPE_F32))
                memcpy(out, src, rs);
            else {
                st = kv_dequant_row((kv_type)t->type, src, row, p->cols, err);
                memcpy(out, row, (size_t)p->cols * sizeof *row); // F32 (the only other dtype)
            }
            if (st == KV_OK && one_d && p->head_dim > 0) { // a q/k bias: entries permuted
                memcpy(row, out, (size_t)p->cols * es);
                for (int64_t k = 0; k < p->cols; k++)
                    memcpy(out + k * es, (uint8_t *)row + src_row(p, k) * es, es);
            }
            if (st == KV_OK)
                st = kv_st_writer_write(w, out, (size_t)p->cols * es, err);
        }
        free(out);
        free(row);
        return st;
    }
    const int64_t wpr = p->cols * q->bits / 32, gpr = p->cols / q->group_size;
    uint32_t *packed = malloc((size_t)(p->rows * wpr) * sizeof *packed);
    uint16_t *sc = malloc((size_t)(p->rows * gpr) * sizeof *sc);
    uint16_t *bi = malloc((size_t)(p->rows * gpr) * sizeof *bi);
    if (st == KV_OK && (!packed || !sc || !bi))
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory for tensor '%s'", p->hf);
    for (int64_t r = 0; st == KV_OK && r < p->rows; r++) {
        const uint8_t *src = (const uint8_t *)t->data + (size_t)src_row(p, r) * rs;
        uint32_t *pw = packed + r * wpr;
        uint16_t *ps = sc + r * gpr, *pb = bi + r * gpr;
        if (p->how == 1 && t->type == KV_TYPE_Q4_1)
            kv_mlx_row_from_q4_1((const kv_block_q4_1 *)src, p->cols, pw, ps, pb);
        else if (p->how == 1)
            (void)kv_mlx_row_from_q8_0((const kv_block_q8_0 *)src, p->cols, pw, ps, pb);
        else if ((st = kv_dequant_row((kv_type)t->type, src, row, p->cols, err)) == KV_OK)
            kv_mlx_quantize_row(row, p->cols, *q, pw, ps, pb);
    }
    if (st == KV_OK)
        st = kv_st_writer_write(w, packed, (size_t)(p->rows * wpr) * sizeof *packed, err);
    if (st == KV_OK)
        st = kv_st_writer_write(w, sc, (size_t)(p->rows * gpr) * sizeof *sc, err);
    if (st == KV_OK)
        st = kv_st_writer_write(w, bi, (size_t)(p->rows * gpr) * sizeof *bi, err);
    free(packed);
    free(sc);
    free(bi);
    free(row);
    return st;
}

// The shortest decimal that reads back as f (1e-05, not 9.99999975e-06).
static double short_real(float f) {
    char buf[32];
    for (int p = 1; p < 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return (double)f;
}

// Bytes a planned tensor takes (its three parts when quantized).
static uint64_t plan_bytes(const plan_t *p, const kv_mlx_quant *q) {
    const uint64_t n = (uint64_t)(p->rows * p->cols);
    return p->how ? n * (uint64_t)q->bits / 8 + (uint64_t)(p->rows * (p->cols / q->group_size)) * 4
                  : n * kv_st_dtype_size(p->dtype);
}

// model.safetensors, or model-0000K-of-0000N.safetensors (mlx-lm's names)
static void shard_path(char *out, size_t cap, const char *dir, int sh, int n_shards) {
    if (n_shards <= 1)
        snprintf(out, cap, "%s/model.safetensors", dir);
    else
        snprintf(out, cap, "%s/model-%05d-of-%05d.safetensors", dir, sh + 1, n_shards);
}

// model.safetensors.index.json: {"metadata": {"total_size": N}, "weight_map": {name: file}}
static kv_status write_index(const char *dir, const plan_t *ps, int64_t n, const kv_mlx_quant *q,
                             int n_shards, uint64_t total, kv_err *err) {
    (void)q;
    json_t *map = json_object();
    json_t *idx = json_pack("{s{sI}so}", "metadata", "total_size", (json_int_t)total,
                            "weight_map", map);
    char file[64], name[128];
    static const char *const PARTS[] = {".weight", ".scales", ".biases"};
    for (int64_t i = 0; idx && i < n; i++) {
        snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", ps[i].shard + 1, n_shards);
        if (!ps[i].how) {
            json_object_set_new(map, ps[i].hf, json_string(file));
            continue;
        }
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "%s%s", ps[i].hf, PARTS[k]);
            json_object_set_new(map, name, json_string(file));
        }
    }
    char *text = idx ? json_dumps(idx, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(idx);
    if (!text)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for model.safetensors.index.json");
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    kv_out out;
    kv_status st = kv_out_open(&out, path, err);
    if (st == KV_OK) {
        st = kv_out_write(&out, text, strlen(text), err);
        st = st == KV_OK ? kv_out_commit(&out, err) : (kv_out_abort(&out), st);
    }
    free(text);
    return st;
}

// Gemma 2/3's and Phi-3's own config.json fields from the GGUF keys (with the defaults
// kvant's loader and llama.cpp take when a key is absent). Nonzero when out of memory.
static int arch_config(const kv_gguf *g, const char *arch, json_t *c) {
    const bool g2 = strcmp(arch, "gemma2") == 0, g3 = strcmp(arch, "gemma3") == 0;
    const int64_t n_embd = key_int(g, arch, "embedding_length", 0);
    const int64_t n_head = key_int(g, arch, "attention.head_count", 1);
    const int64_t n_layer = key_int(g, arch, "block_count", 0);
    const int64_t hd = key_int(g, arch, "attention.key_length", n_embd / n_head);
    int r = 0;
    if (g2 || g3) {
        // query_pre_attn_scalar: the inverse square of attention.scale, else llama.cpp's rule
        const bool big = (g2 && n_layer == 46) || (g3 && n_layer == 62);
        const float sc = key_f32(g, arch, "attention.scale", 0.0f);
        const json_int_t qpas = sc > 0.0f ? (json_int_t)llround(1.0 / ((double)sc * (double)sc))
                                : big     ? (json_int_t)(n_embd / n_head)
                                          : (json_int_t)hd;
        const float fcap = key_f32(g, arch, "final_logit_softcapping", g2 ? 30.0f : 0.0f);
        const float acap = key_f32(g, arch, "attn_logit_softcapping", g2 ? 50.0f : 0.0f);
        r |= json_object_set_new(c, "query_pre_attn_scalar", json_integer(qpas));
        r |= json_object_set_new(c, "sliding_window",
                                 json_integer(key_int(g, arch, "attention.sliding_window", 4096)));
        r |= json_object_set_new(c, "hidden_activation", json_string("gelu_pytorch_tanh"));
        r |= json_object_set_new(c, "final_logit_softcapping",
                                 fcap > 0.0f ? json_real(short_real(fcap)) : json_null());
        r |= json_object_set_new(c, "attn_logit_softcapping",
                                 acap > 0.0f ? json_real(short_real(acap)) : json_null());
    }
    if (g3) {
        r |= json_object_set_new(c, "rope_local_base_freq",
                                 json_real(short_real(key_f32(g, arch, "rope.freq_base_swa", 1e4f))));
        r |= json_object_set_new(c, "sliding_window_pattern", json_integer(6));
        char key[160];
        kv_str t = {0};
        snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
        if (kv_gguf_find(g, key) >= 0 && kv_gguf_get_str(g, key, &t, NULL) == KV_OK &&
            t.n == 6 && memcmp(t.p, "linear", 6) == 0)
            r |= json_object_set_new(
                c, "rope_scaling",
                json_pack("{sssf}", "rope_type", "linear", "factor",
                          short_real(key_f32(g, arch, "rope.scaling.factor", 1.0f))));
    }
    if (strcmp(arch, "phi3") == 0) {
        const int64_t n_rot = key_int(g, arch, "rope.dimension_count", hd);
        if (n_rot != hd) // Phi-4-mini: rope.dimension_count = int(factor * hidden) / heads
            r |= json_object_set_new(
                c, "partial_rotary_factor",
                json_real(short_real((float)((double)(n_rot * n_head) / (double)n_embd))));
        const int64_t orig = key_int(g, arch, "rope.scaling.original_context_length", 0);
        if (orig > 0)
            r |= json_object_set_new(c, "original_max_position_embeddings", json_integer(orig));
        r |= json_object_set_new(c, "hidden_act", json_string("silu"));
    }
    return r;
}

// config.json from the GGUF's metadata (the fields kvant's and mlx-lm's loaders read).
static json_t *config_from_gguf(const kv_gguf *g, const char *arch) {
    static const struct {
        const char *arch, *cls;
    } CLASSES[] = {{"llama", "LlamaForCausalLM"},
                   {"qwen2", "Qwen2ForCausalLM"},
                   {"qwen3", "Qwen3ForCausalLM"},
                   {"gemma2", "Gemma2ForCausalLM"},
                   {"gemma3", "Gemma3ForCausalLM"},
                   {"phi3", "Phi3ForCausalLM"}};
    const char *cls = NULL;
    for (size_t i = 0; i < sizeof CLASSES / sizeof *CLASSES; i++)
        if (strcmp(arch, CLASSES[i].arch) == 0)
            cls = CLASSES[i].cls;
    if (!cls)
        return NULL;
    const int64_t n_embd = key_int(g, arch, "embedding_length", 0);
    const int64_t n_head = key_int(g, arch, "attention.head_count", 1);
    int64_t n_vocab = key_int(g, arch, "vocab_size", 0);
    const int64_t ti = kv_gguf_find_tensor(g, "token_embd.weight");
    if (ti >= 0)
        n_vocab = kv_gguf_tensor_at(g, ti)->ne[1];
    json_t *c = json_pack(
        "{s[s]sssIsIsIsIsIsIsfsfsIsIsbss}", "architectures", cls, "model_type",
        strcmp(arch, "gemma3") == 0 ? "gemma3_text" : arch,
        "hidden_size", (json_int_t)n_embd, "intermediate_size",
        (json_int_t)key_int(g, arch, "feed_forward_length", 0), "num_hidden_layers",
        (json_int_t)key_int(g, arch, "block_count", 0), "num_attention_heads", (json_int_t)n_head,
        "num_key_value_heads", (json_int_t)key_int(g, arch, "attention.head_count_kv", n_head),
        "head_dim", (json_int_t)key_int(g, arch, "attention.key_length", n_embd / n_head),
        "rms_norm_eps", short_real(key_f32(g, arch, "attention.layer_norm_rms_epsilon", 1e-5f)),
        "rope_theta", short_real(key_f32(g, arch, "rope.freq_base", 10000.0f)),
        "max_position_embeddings", (json_int_t)key_int(g, arch, "context_length", 2048),
        "vocab_size", (json_int_t)n_vocab, "tie_word_embeddings",
        kv_gguf_find_tensor(g, "output.weight") < 0, "torch_dtype", "float16");
    if (c && arch_config(g, arch, c) != 0) {
        json_decref(c);
        return NULL;
    }
    int64_t v;
    if (c && kv_gguf_find(g, "tokenizer.ggml.bos_token_id") >= 0 &&
        kv_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &v, NULL) == KV_OK)
        json_object_set_new(c, "bos_token_id", json_integer(v));
    if (c && kv_gguf_find(g, "tokenizer.ggml.eos_token_id") >= 0 &&
        kv_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &v, NULL) == KV_OK)
        json_object_set_new(c, "eos_token_id", json_integer(v));
    return c;
}

static kv_status write_config(const kv_gguf *g, const char *arch, const char *dir,
                              const kv_mlx_export_opts *o, const kv_mlx_quant *q, const plan_t *ps,
                              int64_t n, kv_err *err) {
    json_t *c = NULL;
    if (o->hf_config) {
        json_error_t je;
        c = json_load_file(o->hf_config, 0, &je);
        if (!json_is_object(c)) {
            json_decref(c);
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: not a JSON object (%s)", o->hf_config, je.text);
        }
    } else if (!(c = config_from_gguf(g, arch))) {
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: architecture %s: kvant export mlx cannot "
                       "write its config.json (pass the Hugging Face folder)",
                       kv_gguf_path(g), arch);
    }
    json_t *qj = json_pack("{sisi}", "group_size", q->group_size, "bits", q->bits);
    // a 2-D weight kept float (rows that do not divide into groups): false, as mlx-lm writes
    for (int64_t i = 0; qj && i < n; i++) {
        const size_t nl = strlen(ps[i].hf);
        if (ps[i].how == 0 && ps[i].t->n_dims == 2 && nl > 7 &&
            strcmp(ps[i].hf + nl - 7, ".weight") == 0) {
            char m[96];
            snprintf(m, sizeof m, "%.*s", (int)(nl - 7), ps[i].hf);
            json_object_set_new(qj, m, json_false());
        }
    }
    json_object_del(c, "quantization");
    json_object_del(c, "quantization_config");
    json_object_set(c, "quantization", qj);
    json_object_set_new(c, "quantization_config", qj);
    // reals of the GGUF's float32 metadata in their shortest form; a source config.json's as read
    char *text = json_dumps(c, JSON_INDENT(4) | JSON_PRESERVE_ORDER |
                                   (o->hf_config ? 0 : JSON_REAL_PRECISION(9)));
    json_decref(c);
    if (!text)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for config.json");
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    kv_out out;
    kv_status st = kv_out_open(&out, path, err);
    if (st == KV_OK) {
        st = kv_out_write(&out, text, strlen(text), err);
        if (st == KV_OK)
            st = kv_out_write(&out, "\n", 1, err);
        st = st == KV_OK ? kv_out_commit(&out, err) : (kv_out_abort(&out), st);
    }
    free(text);
    return st;
}

static kv_status fill_report(kv_convert_report *r, const plan_t *ps, int64_t n,
                             const kv_mlx_quant *q, uint64_t data_size, kv_err *err) {
    memset(r, 0, sizeof *r);
    r->tensors = calloc((size_t)(n > 0 ? n : 1), sizeof *r->tensors);
    if (!r->tensors)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the report");
    r->n_tensors = n;
    for (int64_t i = 0; i < n; i++) {
        kv_convert_tensor *t = &r->tensors[i];
        snprintf(t->name, sizeof t->name, "%s", ps[i].hf);
        t->n_dims = ps[i].t->n_dims;
        memcpy(t->ne, ps[i].t->ne, sizeof t->ne);
        t->from_type = ps[i].t->type;
        t->to_type = ps[i].how ? KV_TYPE_COUNT : ps[i].dtype == KV_ST_F16 ? KV_TYPE_F16
                                             : ps[i].dtype == KV_ST_BF16  ? KV_TYPE_BF16
                                                                          : KV_TYPE_F32;
        t->mlx = (uint8_t)ps[i].how;
        t->bytes = ps[i].how ? (uint64_t)(ps[i].rows * ps[i].cols) * (uint64_t)q->bits / 8 +
                                   (uint64_t)(ps[i].rows * (ps[i].cols / q->group_size)) * 4
                             : (uint64_t)(ps[i].rows * ps[i].cols) * kv_st_dtype_size(ps[i].dtype);
        r->n_params += (uint64_t)(ps[i].rows * ps[i].cols);
        r->bytes_in += ps[i].t->size;
    }
    r->bytes_out = data_size;
    return KV_OK;
}

kv_status kv_mlx_export(const char *gguf_path, const char *dir, const kv_mlx_export_opts *o,
                        kv_convert_report *report, bool *tokenizer_written, kv_err *err) {
    kv_mlx_quant q = {o->bits ? o->bits : 4, o->group_size ? o->group_size : 32};
    if ((q.bits != 4 && q.bits != 8) ||
        (q.group_size != 32 && q.group_size != 64 && q.group_size != 128))
        return KV_FAIL(err, KV_ERR_INVALID, "MLX export: bits %d, group size %d: use bits 4 or 8 "
                       "and group size 32, 64 or 128", q.bits, q.group_size);
    if (tokenizer_written)
        *tokenizer_written = false;
    kv_gguf *g = NULL;
    KV_TRY(kv_gguf_open(gguf_path, &g, err));
    char arch[64] = "";
    kv_str a = {0};
    kv_status st = kv_gguf_get_str(g, "general.architecture", &a, err);
    if (st == KV_OK)
        snprintf(arch, sizeof arch, "%.*s", (int)a.n, a.p);
    static const char *const ARCHS[] = {"llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3"};
    bool known = false;
    for (size_t i = 0; i < sizeof ARCHS / sizeof *ARCHS; i++)
        known |= strcmp(arch, ARCHS[i]) == 0;
    if (st == KV_OK && !known)
        st = KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: architecture %s: kvant export mlx writes "
                     "llama, qwen2, qwen3, gemma2, gemma3 and phi3 models", gguf_path, arch);
    if (st == KV_OK && !o->hf_config && (kv_gguf_find_tensor(g, "rope_freqs.weight") >= 0 ||
                                         kv_gguf_find_tensor(g, "rope_factors_long.weight") >= 0))
        st = KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: RoPE factors (llama3's rope_freqs.weight, "
                     "LongRoPE's rope_factors_*) have no config.json form kvant can recover; "
                     "export from the Hugging Face folder",
                     gguf_path);
    const int64_t n_all = kv_gguf_tensor_count(g);
    plan_t *ps = st == KV_OK ? calloc((size_t)(n_all > 0 ? n_all : 1), sizeof *ps) : NULL;
    if (st == KV_OK && !ps)
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    int64_t n = 0;
    for (int64_t i = 0; st == KV_OK && i < n_all; i++) {
        const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
        if ((t->name.n == 17 && memcmp(t->name.p, "rope_freqs.weight", 17) == 0) ||
            (t->name.n > 13 && memcmp(t->name.p, "rope_factors_", 13) == 0))
            continue; // config.json's rope_scaling says it (LongRoPE: from the HF folder only)
        st = plan_one(g, arch, i, &q, &ps[n], err);
        n += st == KV_OK;
    }
    // shards of at most max_shard bytes (mlx-lm's 5 GB), each tensor whole in one
    const uint64_t max_shard = o->max_shard_bytes ? o->max_shard_bytes : (uint64_t)5 << 30;
    int n_shards = n > 0 ? 1 : 0;
    uint64_t cur = 0, data_size = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint64_t b = plan_bytes(&ps[i], &q);
        if (cur > 0 && cur + b > max_shard) {
            n_shards++;
            cur = 0;
        }
        ps[i].shard = n_shards - 1;
        cur += b;
        data_size += b;
    }
    uint64_t total = 0, done = 0;
    for (int64_t i = 0; i < n; i++)
        total += ps[i].t->size;
    int n_written = 0; // shards renamed into place
    char path[4096];
    for (int sh = 0; st == KV_OK && sh < n_shards; sh++) {
        kv_st_writer *w = NULL;
        st = kv_st_writer_new(&w, err);
        for (int64_t i = 0; st == KV_OK && i < n; i++)
            if (ps[i].shard == sh)
                st = declare(w, &ps[i], &q, err);
        shard_path(path, sizeof path, dir, sh, n_shards);
        if (st == KV_OK)
            st = kv_st_writer_begin(w, path, "mlx", err);
        for (int64_t i = 0; st == KV_OK && i < n; i++) {
            if (ps[i].shard != sh)
                continue;
            if (o->progress)
                o->progress(o->progress_user, done, total, ps[i].hf);
            st = write_one(w, &ps[i], &q, err);
            done += ps[i].t->size;
        }
        if (st == KV_OK && (st = kv_st_writer_finish(w, err)) == KV_OK)
            n_written++;
        kv_st_writer_free(w);
    }
    if (st == KV_OK && n_shards > 1)
        st = write_index(dir, ps, n, &q, n_shards, data_size, err);
    bool config_written = false;
    if (st == KV_OK && (st = write_config(g, arch, dir, o, &q, ps, n, err)) == KV_OK)
        config_written = true;
    if (st == KV_OK && !o->hf_config)
        st = kv_spm_write_from_gguf(g, dir, tokenizer_written, err);
    if (st == KV_OK && report)
        st = fill_report(report, ps, n, &q, data_size, err);
    if (st == KV_OK && o->progress)
        o->progress(o->progress_user, total, total, "done");
    if (st != KV_OK) { // remove what this call put in place
        for (int sh = 0; sh < n_written; sh++) {
            shard_path(path, sizeof path, dir, sh, n_shards);
            unlink(path);
        }
        if (n_shards > 1 && n_written == n_shards) {
            snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
            unlink(path);
        }
        if (config_written) {
            snprintf(path, sizeof path, "%s/config.json", dir);
            unlink(path);
        }
    }
    free(ps);
    kv_gguf_close(g);
    return st;
}
