// mlx-lm quantized layers: config.json's quantization entries, the packed
// uint32 weights with their scales and biases, and the exact transcodes between
// MLX's affine groups of 32 and GGUF's Q4_1 / Q8_0 blocks.
#define _POSIX_C_SOURCE 200809L
#include "kvant/kv_mlx.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json_int.h"
#include "kvant/kv_core.h"
#include "kvant/kv_f16.h"

struct kv_mlx_config {
    json_t *root; // the quantization object (new reference)
    kv_mlx_quant dflt;
};

// {"group_size": G, "bits": B, "mode": "affine"} -> q; what names it in errors.
static kv_status parse_layout(const json_t *o, const char *file, const char *what, bool need_all,
                              kv_mlx_quant *q, kv_err *err) {
    static const char *const KEYS[] = {"group_size", "bits"};
    int *dst[] = {&q->group_size, &q->bits};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(o, KEYS[i]);
        if (!v && !need_all)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > (i == 0 ? 1 << 20 : 8))
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: %s.%s is %s, expected an integer %s", file, what, KEYS[i],
                           v ? kv__json_type_name(v) : "missing",
                           i == 0 ? "from 1 to 1048576" : "from 1 to 8");
        *dst[i] = (int)json_integer_value(v);
    }
    const json_t *mode = json_object_get(o, "mode");
    if (mode && (!json_is_string(mode) || strcmp(json_string_value(mode), "affine") != 0))
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: %s.mode is %s%s%s, only \"affine\" quantization is read", file, what,
                       json_is_string(mode) ? "\"" : "",
                       json_is_string(mode) ? json_string_value(mode) : kv__json_type_name(mode),
                       json_is_string(mode) ? "\"" : "");
    return KV_OK;
}

kv_status kv_mlx_config_parse(const void *text, size_t n, const char *file, kv_mlx_config **out,
                              kv_err *err) {
    *out = NULL;
    json_t *root = NULL;
    KV_TRY(kv__json_load_mem(text, n, file, KV_JSON_BIG_INT_AS_REAL, &root, err));
    const char *key = "quantization";
    json_t *q = json_object_get(root, key);
    if (!q) {
        key = "quantization_config";
        q = json_object_get(root, key);
        // Hugging Face's own quantization_config (GPTQ, AWQ, bitsandbytes, fp8: they name a
        // quant_method; mlx-lm's copy of "quantization" has none) is not MLX's layout
        if (!json_is_object(q) || json_object_get(q, "quant_method"))
            q = NULL;
    }
    if (!q || json_is_null(q)) {
        json_decref(root);
        return KV_OK;
    }
    kv_status st = KV_OK;
    kv_mlx_quant dflt = {0, 0};
    if (!json_is_object(q))
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s: %s is %s, expected an object", file, key,
                     kv__json_type_name(q));
    if (st == KV_OK)
        st = parse_layout(q, file, key, true, &dflt, err);
    const char *k;
    json_t *v;
    json_object_foreach(q, k, v) {
        if (st != KV_OK)
            break;
        if (!strcmp(k, "group_size") || !strcmp(k, "bits") || !strcmp(k, "mode") ||
            !strcmp(k, "quant_method"))
            continue;
        if (json_is_false(v) || json_is_true(v))
            continue;
        if (!json_is_object(v)) {
            st = KV_FAIL(err, KV_ERR_FORMAT, "%s: %s[\"%.200s\"] is %s, expected an object "
                         "{group_size, bits} or false", file, key, k, kv__json_type_name(v));
            break;
        }
        kv_mlx_quant o = dflt;
        char what[300];
        snprintf(what, sizeof what, "%s[\"%.200s\"]", key, k);
        st = parse_layout(v, file, what, false, &o, err);
    }
    kv_mlx_config *c = st == KV_OK ? calloc(1, sizeof *c) : NULL;
    if (st == KV_OK && !c)
        st = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", file);
    if (st != KV_OK) {
        json_decref(root);
        return st;
    }
    c->root = json_incref(q);
    c->dflt = dflt;
    json_decref(root);
    *out = c;
    return KV_OK;
}

kv_status kv_mlx_config_load(const char *dir, kv_mlx_config **out, kv_err *err) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = NULL;
    size_t n = 0;
    KV_TRY(kv_read_file(path, KV_MLX_MAX_CONFIG, &text, &n, err));
    kv_status st = kv_mlx_config_parse(text, n, path, out, err);
    free(text);
    return st;
}

void kv_mlx_config_free(kv_mlx_config *c) {
    if (!c)
        return;
    json_decref(c->root);
    free(c);
}

kv_mlx_quant kv_mlx_default_quant(const kv_mlx_config *c) {
    kv_mlx_quant none = {0, 0};
    return c ? c->dflt : none;
}

kv_mlx_quant kv_mlx_quant_of(const kv_mlx_config *c, const char *module) {
    kv_mlx_quant q = {0, 0};
    if (!c)
        return q;
    q = c->dflt;
    const json_t *v = json_object_get(c->root, module);
    if (json_is_false(v)) {
        q.bits = 0;
    } else if (json_is_object(v)) { // checked by the parser
        const json_t *g = json_object_get(v, "group_size"), *b = json_object_get(v, "bits");
        if (g)
            q.group_size = (int)json_integer_value(g);
        if (b)
            q.bits = (int)json_integer_value(b);
    }
    return q;
}

// ---- reading ----

static float scalar_at(const kv_st_tensor *t, int64_t i) {
    const uint8_t *p = (const uint8_t *)t->data;
    if (t->dtype == KV_ST_F32) {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    return t->dtype == KV_ST_F16 ? kv_f16_to_f32(h) : kv_bf16_to_f32(h);
}

static uint16_t f16_at(const kv_st_tensor *t, int64_t i) {
    if (t->dtype == KV_ST_F16) {
        uint16_t h;
        memcpy(&h, (const uint8_t *)t->data + 2 * i, 2);
        return h;
    }
    return kv_f32_to_f16(scalar_at(t, i));
}

static bool f16_exact(const kv_st_tensor *t) {
    if (t->dtype == KV_ST_F16)
        return true;
    for (int64_t i = 0; i < t->n_elements; i++) {
        const float v = scalar_at(t, i);
        if (kv_f32_bits(kv_f16_to_f32(kv_f32_to_f16(v))) != kv_f32_bits(v))
            return false;
    }
    return true;
}

kv_status kv_mlx_linear_check(kv_mlx_linear *l, kv_err *err) {
    const kv_st_tensor *w = l->w;
    const int bits = l->q.bits, g = l->q.group_size;
    if (bits != 2 && bits != 4 && bits != 8)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: tensor '%s' is quantized with %d bits; kvant reads MLX's 2, 4 and "
                       "8 bits", w->file, w->name, bits);
    if (w->dtype != KV_ST_U32 || w->n_dims != 2)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: tensor '%s' has scales but is %s with %d dimensions, expected "
                       "packed U32 [rows, cols * %d / 32]", w->file, w->name,
                       kv_st_dtype_name(w->dtype), w->n_dims, bits);
    const int64_t rows = w->shape[0], cols = w->shape[1] * 32 / bits;
    if (g <= 0 || cols % g != 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: tensor '%s' has rows of %lld values, not a multiple of group_size %d",
                       w->file, w->name, (long long)cols, g);
    const kv_st_tensor *sb[2] = {l->scales, l->biases};
    for (int i = 0; i < 2; i++) {
        const kv_st_tensor *t = sb[i];
        if (t->dtype != KV_ST_F16 && t->dtype != KV_ST_BF16 && t->dtype != KV_ST_F32)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: tensor '%s' is %s, expected F16, BF16 or F32",
                           t->file, t->name, kv_st_dtype_name(t->dtype));
        if (t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols / g)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld] for "
                           "'%s' [%lld, %lld] packed at %d bits in groups of %d (wrong packed "
                           "shape or group_size)",
                           t->file, t->name, (long long)(t->n_dims > 0 ? t->shape[0] : 0),
                           (long long)(t->n_dims > 1 ? t->shape[1] : 0), (long long)rows,
                           (long long)(cols / g), w->name, (long long)rows,
                           (long long)w->shape[1], bits, g);
    }
    l->rows = rows;
    l->cols = cols;
    l->f16_exact = f16_exact(l->scales) && f16_exact(l->biases);
    l->q8_0_exact = bits == 8 && g == 32 && l->f16_exact;
    for (int64_t i = 0; l->q8_0_exact && i < l->scales->n_elements; i++)
        l->q8_0_exact = scalar_at(l->biases, i) == -128.0f * scalar_at(l->scales, i);
    return KV_OK;
}

static inline unsigned q_at(const uint8_t *row, int64_t k, int bits) {
    const int64_t bit = k * bits; // words are little-endian, so the bit stream is byte order
    return (unsigned)(row[bit >> 3] >> (bit & 7)) & ((1u << bits) - 1u);
}

static const uint8_t *packed_row(const kv_mlx_linear *l, int64_t r) {
    return (const uint8_t *)l->w->data + (size_t)r * (size_t)l->w->shape[1] * 4;
}

void kv_mlx_dequant_row(const kv_mlx_linear *l, int64_t r, float *dst) {
    const uint8_t *p = packed_row(l, r);
    const int64_t ng = l->cols / l->q.group_size;
    for (int64_t gi = 0; gi < ng; gi++) {
        const float s = scalar_at(l->scales, r * ng + gi), b = scalar_at(l->biases, r * ng + gi);
        for (int64_t j = 0; j < l->q.group_size; j++) {
            const int64_t k = gi * l->q.group_size + j;
            dst[k] = s * (float)q_at(p, k, l->q.bits) + b;
        }
    }
}

void kv_mlx_row_to_q4_1(const kv_mlx_linear *l, int64_t r, kv_block_q4_1 *dst) {
    const uint8_t *p = packed_row(l, r);
    const int64_t nb = l->cols / 32;
    for (int64_t b = 0; b < nb; b++) {
        dst[b].d = f16_at(l->scales, r * nb + b);
        dst[b].m = f16_at(l->biases, r * nb + b);
        for (int j = 0; j < 16; j++) // GGUF: low nibble = value j, high = value j + 16
            dst[b].qs[j] = (uint8_t)(q_at(p, b * 32 + j, 4) | q_at(p, b * 32 + j + 16, 4) << 4);
    }
}

void kv_mlx_row_to_q8_0(const kv_mlx_linear *l, int64_t r, kv_block_q8_0 *dst) {
    const uint8_t *p = packed_row(l, r);
    const int64_t nb = l->cols / 32;
    for (int64_t b = 0; b < nb; b++) {
        dst[b].d = f16_at(l->scales, r * nb + b);
        for (int j = 0; j < 32; j++)
            dst[b].qs[j] = (int8_t)((int)p[b * 32 + j] - 128);
    }
}

// ---- writing ----

static inline void put_q(uint32_t *packed, int64_t k, int bits, unsigned q) {
    const int64_t bit = k * bits;
    packed[bit >> 5] |= (uint32_t)q << (bit & 31);
}

void kv_mlx_row_from_q4_1(const kv_block_q4_1 *b, int64_t cols, uint32_t *packed,
                          uint16_t *scales, uint16_t *biases) {
    memset(packed, 0, (size_t)cols / 8 * 4);
    for (int64_t i = 0; i < cols / 32; i++) {
        scales[i] = b[i].d;
        biases[i] = b[i].m;
        for (int j = 0; j < 16; j++) {
            put_q(packed, i * 32 + j, 4, b[i].qs[j] & 15u);
            put_q(packed, i * 32 + j + 16, 4, b[i].qs[j] >> 4);
        }
    }
}

bool kv_mlx_row_from_q8_0(const kv_block_q8_0 *b, int64_t cols, uint32_t *packed,
                          uint16_t *scales, uint16_t *biases) {
    memset(packed, 0, (size_t)cols / 4 * 4);
    bool exact = true;
    for (int64_t i = 0; i < cols / 32; i++) {
        scales[i] = b[i].d;
        const float bias = -128.0f * kv_f16_to_f32(b[i].d);
        biases[i] = kv_f32_to_f16(bias);
        exact = exact && kv_f16_to_f32(biases[i]) == bias;
        for (int j = 0; j < 32; j++)
            put_q(packed, i * 32 + j, 8, (unsigned)((int)b[i].qs[j] + 128));
    }
    return exact;
}

void kv_mlx_quantize_row(const float *x, int64_t cols, kv_mlx_quant q, uint32_t *packed,
                         uint16_t *scales, uint16_t *biases) {
    const int g = q.group_size, bits = q.bits;
    const float n_bins = (float)((1 << bits) - 1);
    memset(packed, 0, (size_t)(cols * bits / 32) * 4);
    for (int64_t i = 0; i < cols / g; i++) {
        const float *v = x + i * g;
        float lo = v[0], hi = v[0];
        for (int j = 1; j < g; j++) {
            lo = v[j] < lo ? v[j] : lo;
            hi = v[j] > hi ? v[j] : hi;
        }
        biases[i] = kv_f32_to_f16(lo);
        scales[i] = kv_f32_to_f16((hi - lo) / n_bins);
        const float b = kv_f16_to_f32(biases[i]), s = kv_f16_to_f32(scales[i]);
        const float inv = s != 0.0f ? 1.0f / s : 0.0f;
        for (int j = 0; j < g; j++) {
            float r = roundf((v[j] - b) * inv);
            r = r < 0.0f ? 0.0f : r > n_bins ? n_bins : r;
            put_q(packed, i * g + j, bits, (unsigned)r);
        }
    }
}
