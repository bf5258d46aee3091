// kv_onnx_export: a GGUF decoder (llama, mistral, qwen2, qwen3, gemma2, gemma3,
// phi3) as an ONNX graph
// in ONNX Runtime GenAI's decoder layout. The graph is built from standard ops
// (opset 17): Gather embeddings, RMSNorm as Mul/ReduceMean/Add/Sqrt/Reciprocal,
// rotate-half RoPE from cos/sin tables gathered by position_ids, attention as
// MatMul/Softmax over the past keys and values Concat'ed with the new ones
// (present.N.*), a causal mask from attention_mask's length, SwiGLU MLP. Query
// heads are grouped per KV head as a 5-D [batch, kv_heads, group, seq, head_dim]
// tensor, so grouped-query attention needs no key copies.
//
// Weights stream into model.onnx.data one tensor at a time (memory ~ one tensor
// plus its transpose). Llama GGUFs keep q/k rows in the interleaved RoPE order
// llama.cpp's converter made; they are put back in Hugging Face's rotate-half
// order (a row permutation, exact for every type, block-quantized rows included).
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kvant/kv_blocks.h"
#include "kvant/kv_f16.h"
#include "kvant/kv_hf.h"
#include "kvant/kv_model.h"
#include "kvant/kv_spm.h"
#include "kvant/kv_onnx_export.h"
#include "kvant/kv_quant.h"
#include "kvant/kv_types.h"
#include "kernels/ref/dot_ref.h"
#include "onnx/onnx_export_int.h"

#define F32 ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define F16 ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16
#define I64 ONNX__TENSOR_PROTO__DATA_TYPE__INT64
#define U8 ONNX__TENSOR_PROTO__DATA_TYPE__UINT8
#define BOOL ONNX__TENSOR_PROTO__DATA_TYPE__BOOL

typedef struct {
    kv__ox g;
    const kv_onnx_export_opts *o;
    const kv_gguf *gguf;
    const kv_hparams *hp;
    const char *path;
    bool unpermute; // llama-style interleaved q/k rows in the GGUF
    int block;
    kv_onnx_export_report *rep;
    uint64_t done, total; // progress, in tensors
    // the last activation rounded to 8 bits (q, k and v share one, as do gate and up)
    const char *act_src, *act_dst;
    kv_type act_kind;
    kv_err *err;
    kv_status st; // first failure
} ex;

// ---- small graph helpers ----

static const char *op1(ex *e, const char *op, const char *a) {
    const char *in[] = {a};
    return kv__ox_out(kv__ox_node(&e->g, "", op, 1, in, 1), 0);
}
static const char *op2(ex *e, const char *op, const char *a, const char *b) {
    const char *in[] = {a, b};
    return kv__ox_out(kv__ox_node(&e->g, "", op, 2, in, 1), 0);
}
static const char *op3(ex *e, const char *op, const char *a, const char *b, const char *c) {
    const char *in[] = {a, b, c};
    return kv__ox_out(kv__ox_node(&e->g, "", op, 3, in, 1), 0);
}
static const char *ints(ex *e, int n, const int64_t *v) { return kv__ox_const_i64(&e->g, n, v, false); }
static const char *scalar_i(ex *e, int64_t v) { return kv__ox_const_i64(&e->g, 1, &v, true); }
static const char *reshape(ex *e, const char *x, int n, const int64_t *shape) {
    return op2(e, "Reshape", x, ints(e, n, shape));
}
static const char *transpose(ex *e, const char *x, int n, const int64_t *perm) {
    const char *in[] = {x};
    Onnx__NodeProto *nd = kv__ox_node(&e->g, "", "Transpose", 1, in, 1);
    kv__ox_attr_is(&e->g, nd, "perm", n, perm);
    return kv__ox_out(nd, 0);
}
static const char *unsqueeze(ex *e, const char *x, int n, const int64_t *axes) {
    return op2(e, "Unsqueeze", x, ints(e, n, axes));
}
static const char *concat(ex *e, const char *a, const char *b, int64_t axis) {
    const char *in[] = {a, b};
    Onnx__NodeProto *nd = kv__ox_node(&e->g, "", "Concat", 2, in, 1);
    kv__ox_attr_i(&e->g, nd, "axis", axis);
    return kv__ox_out(nd, 0);
}

static const char *cast(ex *e, const char *x, int32_t to) {
    const char *in[] = {x};
    Onnx__NodeProto *nd = kv__ox_node(&e->g, "", "Cast", 1, in, 1);
    kv__ox_attr_i(&e->g, nd, "to", to);
    return kv__ox_out(nd, 0);
}

static bool failed(ex *e) {
    if (e->st == KV_OK && e->g.oom)
        e->st = KV_FAIL(e->err, KV_ERR_NOMEM, "out of memory building the ONNX graph");
    if (e->st == KV_OK && e->g.io_failed)
        e->st = e->err->status != KV_OK ? e->err->status : KV_ERR_IO;
    return e->st != KV_OK;
}

// ---- reading tensors ----

static const kv_gguf_tensor *tensor(ex *e, const char *name, bool required) {
    int64_t i = kv_gguf_find_tensor(e->gguf, name);
    if (i < 0) {
        if (required && e->st == KV_OK)
            e->st = KV_FAIL(e->err, KV_ERR_FORMAT, "%s: missing tensor '%s'", e->path, name);
        return NULL;
    }
    return kv_gguf_tensor_at(e->gguf, i);
}

// The GGUF row holding output row r: the identity, or for llama q/k rows the
// interleaved position of Hugging Face's rotate-half row r.
static int64_t src_row(int64_t r, int64_t head_dim, bool unperm) {
    if (!unperm)
        return r;
    return kv_hf_qk_gguf_row(r, head_dim);
}

static bool dequant_rows(ex *e, const kv_gguf_tensor *t, float *dst, int64_t head_dim,
                         bool unperm) {
    const int64_t K = t->ne[0], N = t->n_dims > 1 ? t->ne[1] : 1;
    const size_t rs = kv_type_row_size((kv_type)t->type, K);
    for (int64_t r = 0; r < N; r++) {
        const uint8_t *src = (const uint8_t *)t->data + (size_t)src_row(r, head_dim, unperm) * rs;
        kv_status s = kv_dequant_row((kv_type)t->type, src, dst + (size_t)r * (size_t)K, K, e->err);
        if (s != KV_OK) {
            kv_err_prefix(e->err, e->path);
            e->st = s;
            return false;
        }
    }
    return true;
}

static void note(ex *e, const kv_gguf_tensor *t, kv_onnx_weight_how how, uint64_t bytes) {
    kv_onnx_export_report *r = e->rep;
    kv_onnx_export_tensor *a = realloc(r->tensors, (size_t)(r->n_tensors + 1) * sizeof *a);
    if (!a) {
        e->g.oom = true;
        return;
    }
    r->tensors = a;
    kv_onnx_export_tensor *x = &a[r->n_tensors++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%.*s", (int)t->name.n, t->name.p);
    x->from_type = t->type;
    x->how = how;
    x->bytes = bytes;
    r->n_exact += how == KV_ONNX_W_EXACT;
    r->n_requant += how == KV_ONNX_W_REQUANT;
    r->n_kept_float += how == KV_ONNX_W_KEPT_FLOAT;
    e->done++;
    if (e->o->progress)
        e->o->progress(e->o->progress_user, e->done, e->total, x->name);
    kv_map_release(t->data, t->size);
}

// The activation format of the tensor note() recorded last.
static void noted_act(ex *e, kv_type act) {
    if (e->rep->n_tensors > 0)
        e->rep->tensors[e->rep->n_tensors - 1].act_type = (uint32_t)act;
}

// A 1-D float initializer (norm weights, biases), rows permuted like q/k when asked.
static const char *vec(ex *e, const char *gname, const char *oname, int64_t head_dim, bool unperm) {
    const kv_gguf_tensor *t = tensor(e, gname, true);
    if (!t || failed(e))
        return "";
    int64_t n = t->ne[0];
    float *v = malloc((size_t)n * sizeof *v);
    float *w = malloc((size_t)n * sizeof *w);
    const char *name = "";
    if (!v || !w)
        e->g.oom = true;
    else if (kv_dequant_row((kv_type)t->type, t->data, v, n, e->err) != KV_OK)
        e->st = e->err->status;
    else {
        for (int64_t i = 0; i < n; i++)
            w[i] = v[src_row(i, head_dim, unperm)];
        name = kv__ox_init(&e->g, oname, F32, 1, &n, w, (size_t)n * sizeof *w);
        note(e, t, KV_ONNX_W_FLOAT, (uint64_t)n * 4);
    }
    free(v);
    free(w);
    return name;
}

// ---- activations rounded to 8 bits as kvant's runtime does (--activations q8) ----

static Onnx__NodeProto *node1(ex *e, const char *op, const char *a) {
    const char *in[] = {a};
    return kv__ox_node(&e->g, "", op, 1, in, 1);
}

// roundf(v): halves away from zero, as kvant's (and ggml's) Q8_0 quantizer rounds.
// ONNX's Round takes halves to even, so it is spelled out: |v| = f + r with f =
// floor(|v|) and r = |v| - f (exact), then sign(v) * (f + (r >= 0.5)).
static const char *round_away(ex *e, const char *v) {
    const char *a = op1(e, "Abs", v), *f = op1(e, "Floor", a);
    const char *up = cast(e, op2(e, "GreaterOrEqual", op2(e, "Sub", a, f), kv__ox_const_f32(&e->g, 0.5f)), F32);
    return op2(e, "Mul", op1(e, "Sign", v), op2(e, "Add", f, up));
}

// x [B, S, K] through Q8_0 blocks and back to floats, with the arithmetic of
// kvant's quantizer (quant/q8.c; ggml's quantize_row_q8_0): per 32 values d =
// amax / 127, q = roundf(x * (1 / d)) (0 when d = 0), and the dot product uses d
// rounded to float16. Q8_1 (for Q4_1/Q5_1) has the same d and q.
static const char *act_q8_0(ex *e, const char *x) {
    const int64_t blocks[4] = {0, 0, -1, 32}, flat[3] = {0, 0, -1}, last = -1;
    const char *xb = reshape(e, x, 4, blocks);
    Onnx__NodeProto *mx = node1(e, "ReduceMax", op1(e, "Abs", xb));
    kv__ox_attr_is(&e->g, mx, "axes", 1, &last);
    kv__ox_attr_i(&e->g, mx, "keepdims", 1);
    const char *zero = kv__ox_const_f32(&e->g, 0.0f);
    const char *d = op2(e, "Div", kv__ox_out(mx, 0), kv__ox_const_f32(&e->g, 127.0f));
    const char *id = op3(e, "Where", op2(e, "Equal", d, zero), zero,
                         op2(e, "Div", kv__ox_const_f32(&e->g, 1.0f), d));
    const char *q = round_away(e, op2(e, "Mul", xb, id));
    const char *dh = cast(e, cast(e, d, F16), F32);
    return reshape(e, op2(e, "Mul", q, dh), 3, flat);
}

// x [B, S, K] through Q8_K blocks and back, as kvant's quantizer: per 256 values
// max = the first value of largest magnitude (sign kept), iscale = -127 / max,
// q = min(nearest-even(iscale * x), 127) (ONNX's Round), d = 1 / iscale (float);
// a block of zeros stays zeros.
static const char *act_q8_k(ex *e, const char *x) {
    const int64_t blocks[4] = {0, 0, -1, 256}, flat[3] = {0, 0, -1};
    const char *xb = reshape(e, x, 4, blocks);
    Onnx__NodeProto *am = node1(e, "ArgMax", op1(e, "Abs", xb)); // the first largest
    kv__ox_attr_i(&e->g, am, "axis", -1);
    kv__ox_attr_i(&e->g, am, "keepdims", 1);
    const char *gin[] = {xb, kv__ox_out(am, 0)};
    Onnx__NodeProto *ge = kv__ox_node(&e->g, "", "GatherElements", 2, gin, 1);
    kv__ox_attr_i(&e->g, ge, "axis", -1);
    const char *mx = kv__ox_out(ge, 0);
    const char *safe = op3(e, "Where", op2(e, "Equal", mx, kv__ox_const_f32(&e->g, 0.0f)),
                           kv__ox_const_f32(&e->g, 1.0f), mx);
    const char *is = op2(e, "Div", kv__ox_const_f32(&e->g, -127.0f), safe);
    const char *q = op2(e, "Min", op1(e, "Round", op2(e, "Mul", xb, is)),
                        kv__ox_const_f32(&e->g, 127.0f));
    const char *d = op2(e, "Div", kv__ox_const_f32(&e->g, 1.0f), is);
    return reshape(e, op2(e, "Mul", q, d), 3, flat);
}

// The activation format kvant multiplies weights of type w with, when it is one of
// the 8-bit block formats (else KV_TYPE_F32: float activations).
static kv_type act_format(uint32_t w) {
    const kv__dot_pair *p = kv__dot_pair_ref((kv_type)w);
    if (p && (p->act == KV_TYPE_Q8_0 || p->act == KV_TYPE_Q8_1 || p->act == KV_TYPE_Q8_K))
        return p->act;
    return KV_TYPE_F32;
}

// x as the input of the weight t: unchanged, or rounded as kvant does (--activations q8).
static const char *act_input(ex *e, const char *x, const kv_gguf_tensor *t, kv_type *kind) {
    *kind = e->o->activations == KV_ONNX_ACT_Q8 ? act_format(t->type) : KV_TYPE_F32;
    if (*kind == KV_TYPE_F32 || failed(e))
        return x;
    const kv_type block = *kind == KV_TYPE_Q8_K ? KV_TYPE_Q8_K : KV_TYPE_Q8_0;
    if (e->act_src && e->act_kind == block && !strcmp(e->act_src, x))
        return e->act_dst;
    e->act_src = x;
    e->act_kind = block;
    e->act_dst = block == KV_TYPE_Q8_K ? act_q8_k(e, x) : act_q8_0(e, x);
    return e->act_dst;
}

// ---- int4 blocks for MatMulNBits ----

// Q4_0 block -> MatMulNBits block of 32 (element i in byte i/2, low nibble first;
// zero point 8, the default for 4 bits). Exact.
static void q4_0_block(const kv_block_q4_0 *b, uint8_t *q, float *scale) {
    uint8_t v[32];
    for (int j = 0; j < 16; j++) {
        v[j] = b->qs[j] & 15;
        v[j + 16] = b->qs[j] >> 4;
    }
    for (int i = 0; i < 16; i++)
        q[i] = (uint8_t)(v[2 * i] | v[2 * i + 1] << 4);
    *scale = kv_f16_to_f32(b->d);
}

// Q4_1 (d * q + m) as (q - zp) * d needs m == -zp * d for an integer zp in 0..15.
static bool q4_1_exact(const kv_block_q4_1 *b, int *zp) {
    const float d = kv_f16_to_f32(b->d), m = kv_f16_to_f32(b->m);
    if (d == 0.0f)
        return m == 0.0f ? (*zp = 0, true) : false;
    const float z = -m / d;
    if (!(z >= 0.0f && z <= 15.0f) || z != floorf(z) || -(float)(int)z * d != m)
        return false;
    *zp = (int)z;
    return true;
}

// Symmetric 4-bit quantization of n values (n <= block; the rest are zero) as
// ggml's Q4_0 does it: the value of largest magnitude maps to -8.
static void quant_block(const float *x, int n, int block, uint8_t *q, float *scale) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    memset(q, 0, (size_t)block / 2);
    for (int i = 0; i < block; i++) {
        int v = 8;
        if (i < n) {
            v = (int)(x[i] * id + 8.5f);
            v = v < 0 ? 0 : v > 15 ? 15 : v;
        }
        q[i / 2] |= (uint8_t)(v << (4 * (i & 1)));
    }
    *scale = d;
}

// Symmetric 8-bit quantization as ggml's Q8_0 does it (d = amax / 127, q =
// round(x / d)), stored unsigned with MatMulNBits' default zero point 128.
static void quant_block8(const float *x, int n, int block, uint8_t *q, float *scale) {
    float amax = 0.0f;
    for (int i = 0; i < n; i++)
        amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < block; i++)
        q[i] = (uint8_t)((i < n ? (int)roundf(x[i] * id) : 0) + 128);
    *scale = d;
}

// ---- linear layers ----

// x @ W^T for the GGUF weight gname ([N rows of K]); n_head > 0 un-permutes q/k rows.
static const char *linear(ex *e, const char *x, const char *gname, int64_t head_dim, bool unperm,
                          bool is_output) {
    const kv_gguf_tensor *t = tensor(e, gname, true);
    if (!t || failed(e))
        return "";
    const int64_t K = t->ne[0], N = t->n_dims > 1 ? t->ne[1] : 1;
    const kv_type_traits *tr = kv_type_get(t->type);
    const bool quantized = tr && tr->quantized;
    const int bs = e->block;
    kv_type act;
    x = act_input(e, x, t, &act);
    // 0 exact Q4_0, 1 exact Q4_1, 2 requantize, 3 kept float, 4 exact Q8_0 (int8)
    int how = -1;
    const int bits = e->o->precision == KV_ONNX_INT8 ? 8 : 4;
    if (e->o->precision == KV_ONNX_INT8)
        how = t->type == KV_TYPE_Q8_0 && bs == 32 ? 4 : 2;
    if (e->o->precision == KV_ONNX_INT4) {
        how = 2;
        if (t->type == KV_TYPE_Q4_0 && bs == 32)
            how = 0;
        else if (t->type == KV_TYPE_Q4_1 && bs == 32) {
            how = 1;
            const kv_block_q4_1 *b = t->data;
            int zp;
            for (int64_t i = 0; i < N * (K / 32) && how == 1; i++)
                if (!q4_1_exact(&b[i], &zp))
                    how = 2;
        }
        // llama.cpp keeps the output layer finer (Q6_K...) than the rest; so do we:
        // an output stored at over 5 bits per weight is not requantized to 4
        if (how == 2 && quantized && is_output && tr->type_size * 8 > 5 * (size_t)tr->block_size)
            how = 3;
    }
    if (how == -1 || how == 3) {
        // [K, N] for MatMul: the dequantized rows, written out a column at a time
        const bool half = e->o->precision == KV_ONNX_FP16;
        float *w = malloc((size_t)N * (size_t)K * sizeof *w);
        void *col = malloc((size_t)N * sizeof(float));
        const char *out = "";
        uint64_t off = 0;
        if (!w || !col)
            e->g.oom = true;
        else if (dequant_rows(e, t, w, head_dim, unperm) && kv__ox_ext_begin(&e->g, &off)) {
            for (int64_t k = 0; k < K; k++) {
                for (int64_t n = 0; n < N; n++) {
                    const float v = w[(size_t)n * (size_t)K + (size_t)k];
                    if (half)
                        ((kv_f16 *)col)[n] = kv_f32_to_f16(v);
                    else
                        ((float *)col)[n] = v;
                }
                if (!kv__ox_ext_write(&e->g, col, (size_t)N * (half ? 2 : 4)))
                    break;
            }
            const int64_t dims[2] = {K, N};
            const char *wn = kv__ox_ext_end(&e->g, gname, half ? F16 : F32, 2, dims, off);
            if (half)
                wn = cast(e, wn, F32);
            out = op2(e, "MatMul", x, wn);
            note(e, t, how == 3 ? KV_ONNX_W_KEPT_FLOAT : KV_ONNX_W_FLOAT,
                 (uint64_t)N * (uint64_t)K * (half ? 2 : 4));
            noted_act(e, act);
        }
        free(w);
        free(col);
        return out;
    }
    // MatMulNBits: blob = bytes of one block of quants
    const int64_t nb = (K + bs - 1) / bs, nzp = (nb + 1) / 2, blob = bs * bits / 8;
    uint8_t *q = calloc((size_t)(N * nb * blob), 1);
    float *sc = malloc((size_t)(N * nb) * sizeof *sc);
    uint8_t *zp = how == 1 ? malloc((size_t)(N * nzp)) : NULL;
    float *row = how == 2 ? malloc((size_t)K * sizeof *row) : NULL;
    const char *out = "";
    if (!q || !sc || (how == 1 && !zp) || (how == 2 && !row)) {
        e->g.oom = true;
        goto done;
    }
    const size_t rs = kv_type_row_size((kv_type)t->type, K);
    for (int64_t n = 0; n < N; n++) {
        const uint8_t *src = (const uint8_t *)t->data + (size_t)src_row(n, head_dim, unperm) * rs;
        uint8_t *qn = q + (size_t)(n * nb * blob);
        float *sn = sc + (size_t)(n * nb);
        if (how == 0) {
            for (int64_t b = 0; b < nb; b++)
                q4_0_block((const kv_block_q4_0 *)src + b, qn + b * 16, &sn[b]);
        } else if (how == 4) { // d * q as (u - 128) * d with u = q + 128: exact
            for (int64_t b = 0; b < nb; b++) {
                const kv_block_q8_0 *bl = (const kv_block_q8_0 *)src + b;
                for (int i = 0; i < 32; i++)
                    qn[b * 32 + i] = (uint8_t)(bl->qs[i] + 128);
                sn[b] = kv_f16_to_f32(bl->d);
            }
        } else if (how == 1) {
            memset(zp + n * nzp, 0, (size_t)nzp);
            for (int64_t b = 0; b < nb; b++) {
                const kv_block_q4_1 *bl = (const kv_block_q4_1 *)src + b;
                int z = 0;
                q4_1_exact(bl, &z);
                uint8_t v[32];
                for (int j = 0; j < 16; j++) {
                    v[j] = bl->qs[j] & 15;
                    v[j + 16] = bl->qs[j] >> 4;
                }
                for (int i = 0; i < 16; i++)
                    qn[b * 16 + i] = (uint8_t)(v[2 * i] | v[2 * i + 1] << 4);
                sn[b] = kv_f16_to_f32(bl->d);
                zp[n * nzp + b / 2] |= (uint8_t)(z << (4 * (b & 1)));
            }
        } else {
            if (kv_dequant_row((kv_type)t->type, src, row, K, e->err) != KV_OK) {
                kv_err_prefix(e->err, e->path);
                e->st = e->err->status;
                goto done;
            }
            for (int64_t b = 0; b < nb; b++) {
                int64_t k0 = b * bs, m = K - k0 < bs ? K - k0 : bs;
                if (bits == 4)
                    quant_block(row + k0, (int)m, bs, qn + b * blob, &sn[b]);
                else
                    quant_block8(row + k0, (int)m, bs, qn + b * blob, &sn[b]);
            }
        }
    }
    {
        char nm[160];
        const int64_t bd[3] = {N, nb, blob}, sd = N * nb, zd = N * nzp;
        snprintf(nm, sizeof nm, "%s.qweight", gname);
        const char *bn = kv__ox_init(&e->g, nm, U8, 3, bd, q, (size_t)(N * nb * blob));
        snprintf(nm, sizeof nm, "%s.scales", gname);
        const char *sn = kv__ox_init(&e->g, nm, F32, 1, &sd, sc, (size_t)sd * sizeof(float));
        const char *zn = "";
        if (how == 1) {
            snprintf(nm, sizeof nm, "%s.qzeros", gname);
            zn = kv__ox_init(&e->g, nm, U8, 1, &zd, zp, (size_t)zd);
        }
        const char *in[] = {x, bn, sn, zn};
        Onnx__NodeProto *nd = kv__ox_node(&e->g, "com.microsoft", "MatMulNBits", how == 1 ? 4 : 3,
                                          in, 1);
        kv__ox_attr_i(&e->g, nd, "K", K);
        kv__ox_attr_i(&e->g, nd, "N", N);
        kv__ox_attr_i(&e->g, nd, "bits", bits);
        kv__ox_attr_i(&e->g, nd, "block_size", bs);
        if (e->o->accuracy_level > 0)
            kv__ox_attr_i(&e->g, nd, "accuracy_level", e->o->accuracy_level);
        out = kv__ox_out(nd, 0);
        note(e, t, how == 2 ? KV_ONNX_W_REQUANT : KV_ONNX_W_EXACT,
             (uint64_t)(N * nb * blob) + (uint64_t)sd * 4 + (how == 1 ? (uint64_t)zd : 0));
        noted_act(e, act);
    }
done:
    free(q);
    free(sc);
    free(zp);
    free(row);
    return out;
}

// Adds the bias gname when the model has it.
static const char *bias(ex *e, const char *x, const char *gname, int64_t head_dim, bool unperm) {
    if (!tensor(e, gname, false))
        return x;
    return op2(e, "Add", x, vec(e, gname, gname, head_dim, unperm));
}

// x * w / sqrt(mean(x^2) + eps) over the last axis.
static const char *rms_norm(ex *e, const char *x, const char *gname) {
    const char *sq = op2(e, "Mul", x, x);
    const char *in[] = {sq};
    Onnx__NodeProto *rm = kv__ox_node(&e->g, "", "ReduceMean", 1, in, 1);
    const int64_t ax = -1;
    kv__ox_attr_is(&e->g, rm, "axes", 1, &ax);
    kv__ox_attr_i(&e->g, rm, "keepdims", 1);
    const char *ms = op2(e, "Add", kv__ox_out(rm, 0), kv__ox_const_f32(&e->g, e->hp->norm_rms_eps));
    const char *inv = op1(e, "Reciprocal", op1(e, "Sqrt", ms));
    return op2(e, "Mul", op2(e, "Mul", x, inv), vec(e, gname, gname, 0, false));
}

// Rotate-half RoPE on the first n_rot values of the last axis (head_dim): cos and
// sin broadcast to x; with partial rotary (Phi-4-mini) the rest passes through.
static const char *rope(ex *e, const char *x, const char *cs, const char *sn) {
    const int64_t half = e->hp->n_rot / 2, pass = e->hp->n_embd_head_k - e->hp->n_rot;
    const int64_t sp[3] = {half, half, pass};
    const int n_out = pass > 0 ? 3 : 2;
    const char *in[] = {x, ints(e, n_out, sp)};
    Onnx__NodeProto *s = kv__ox_node(&e->g, "", "Split", 2, in, n_out);
    kv__ox_attr_i(&e->g, s, "axis", -1);
    const char *x1 = kv__ox_out(s, 0), *x2 = kv__ox_out(s, 1);
    const char *a = op2(e, "Sub", op2(e, "Mul", x1, cs), op2(e, "Mul", x2, sn));
    const char *b = op2(e, "Add", op2(e, "Mul", x2, cs), op2(e, "Mul", x1, sn));
    const char *r = concat(e, a, b, -1);
    return pass > 0 ? concat(e, r, kv__ox_out(s, 2), -1) : r;
}

static void io(ex *e, bool out, const char *name, int32_t dtype, int n, const kv__ox_dim *d) {
    if (out)
        kv__ox_output(&e->g, name, dtype, n, d);
    else
        kv__ox_input(&e->g, name, dtype, n, d);
}

// What the architecture adds to the Llama graph, read from the GGUF keys with
// the defaults kvant's loader (and llama.cpp) use.
typedef struct {
    bool gemma, fused;
    float scale, attn_cap, final_cap, base_swa;
    float rope_mscale;             // LongRoPE's attention factor on cos and sin
    const kv_gguf_tensor *factors; // rope_freqs, or LongRoPE's short/long factors
    int64_t n_ctx_orig;            // LongRoPE's original context
    int swa_period;
    int64_t n_swa;
} arch_params;

static float key_f(ex *e, const char *name, float dflt) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", e->hp->arch, name);
    float v = dflt;
    if (kv_gguf_find(e->gguf, key) >= 0 && kv_gguf_get_f32(e->gguf, key, &v, e->err) != KV_OK)
        e->st = e->err->status;
    return v;
}

static bool read_arch(ex *e, arch_params *ap) {
    const kv_hparams *hp = e->hp;
    const bool g2 = !strcmp(hp->arch, "gemma2"), g3 = !strcmp(hp->arch, "gemma3");
    memset(ap, 0, sizeof *ap);
    ap->gemma = g2 || g3;
    ap->fused = !strcmp(hp->arch, "phi3");
    float def = 1.0f / sqrtf((float)hp->n_embd_head_k);
    if ((g2 && hp->n_layer == 46) || (g3 && hp->n_layer == 62))
        def = 1.0f / sqrtf((float)hp->n_embd / (float)hp->n_head);
    ap->scale = key_f(e, "attention.scale", def);
    ap->attn_cap = key_f(e, "attn_logit_softcapping", g2 ? 50.0f : 0.0f);
    ap->final_cap = key_f(e, "final_logit_softcapping", g2 ? 30.0f : 0.0f);
    ap->base_swa = g3 ? key_f(e, "rope.freq_base_swa", 10000.0f) : 0.0f;
    ap->swa_period = g2 ? 2 : g3 ? 6 : 0;
    if (ap->swa_period) {
        char key[128];
        snprintf(key, sizeof key, "%s.attention.sliding_window", hp->arch);
        ap->n_swa = 4096;
        if (kv_gguf_find(e->gguf, key) >= 0 && kv_gguf_get_int(e->gguf, key, &ap->n_swa, e->err) != KV_OK)
            e->st = e->err->status;
    }
    // LongRoPE: kvant (as llama.cpp) takes the long factors for a context over the
    // original one, for every position; the export is for the context
    // genai_config.json states (n_ctx_train), so its tables use what kvant uses there.
    ap->rope_mscale = key_f(e, "rope.scaling.attn_factor", 1.0f);
    ap->n_ctx_orig = hp->n_ctx_train;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.original_context_length", hp->arch);
    if (e->st == KV_OK && kv_gguf_find(e->gguf, key) >= 0 &&
        kv_gguf_get_int(e->gguf, key, &ap->n_ctx_orig, e->err) != KV_OK)
        e->st = e->err->status;
    ap->factors = tensor(e, "rope_freqs.weight", false);
    if (!ap->factors)
        ap->factors = tensor(e, hp->n_ctx_train > ap->n_ctx_orig ? "rope_factors_long.weight"
                                                                   : "rope_factors_short.weight",
                             false);
    return e->st == KV_OK;
}

typedef struct {
    const char *cq, *sq, *ck, *sk;
} rope_cs;

// cos/sin tables [n_ctx_train, n_rot / 2] as kv_rope_cos_sin computes them (times
// mscale), gathered by position_ids and broadcast for q and k.
static rope_cs rope_tables(ex *e, const char *name, float base, float freq_scale,
                           const kv_gguf_tensor *ff, float mscale) {
    const kv_hparams *hp = e->hp;
    kv__ox *g = &e->g;
    rope_cs r = {"", "", "", ""};
    const int64_t n_pos = hp->n_ctx_train > 0 ? hp->n_ctx_train : 4096, half = hp->n_rot / 2;
    float *cos_t = malloc((size_t)(n_pos * half) * sizeof(float));
    float *sin_t = malloc((size_t)(n_pos * half) * sizeof(float));
    float *factors = ff ? malloc((size_t)half * sizeof(float)) : NULL;
    const char *ct = "", *st = "";
    if (!cos_t || !sin_t || (ff && !factors)) {
        g->oom = true;
    } else if (ff && kv_dequant_row((kv_type)ff->type, ff->data, factors, half, e->err) != KV_OK) {
        e->st = e->err->status;
    } else {
        for (int64_t p = 0; p < n_pos; p++)
            for (int64_t i = 0; i < half; i++) {
                double th = (double)p * (double)freq_scale *
                            pow((double)base, -2.0 * (double)i / (double)hp->n_rot);
                if (factors)
                    th /= (double)factors[i];
                cos_t[p * half + i] = (float)cos(th) * mscale;
                sin_t[p * half + i] = (float)sin(th) * mscale;
            }
        const int64_t dims[2] = {n_pos, half};
        char nm[64];
        snprintf(nm, sizeof nm, "%s.cos_cache", name);
        ct = kv__ox_init(g, nm, F32, 2, dims, cos_t, (size_t)(n_pos * half) * sizeof(float));
        snprintf(nm, sizeof nm, "%s.sin_cache", name);
        st = kv__ox_init(g, nm, F32, 2, dims, sin_t, (size_t)(n_pos * half) * sizeof(float));
    }
    free(cos_t);
    free(sin_t);
    free(factors);
    if (failed(e))
        return r;
    const char *cpos = op2(e, "Gather", ct, "position_ids"); // [B,S,half]
    const char *spos = op2(e, "Gather", st, "position_ids");
    const int64_t a12[2] = {1, 2}, a1 = 1;
    r.cq = unsqueeze(e, cpos, 2, a12);
    r.sq = unsqueeze(e, spos, 2, a12);
    r.ck = unsqueeze(e, cpos, 1, &a1);
    r.sk = unsqueeze(e, spos, 1, &a1);
    return r;
}

static void build(ex *e) {
    const kv_hparams *hp = e->hp;
    const int64_t D = hp->n_embd, H = hp->n_head, KV = hp->n_head_kv, G = H / KV,
                  hd = hp->n_embd_head_k, V = hp->n_vocab;
    kv__ox *g = &e->g;
    const bool kvh = e->o->kv_f16;
    arch_params ap;
    if (!read_arch(e, &ap))
        return;
    const int32_t KVT = kvh ? F16 : F32;

    // inputs and outputs
    const kv__ox_dim bs[2] = {{0, "batch_size"}, {0, "sequence_length"}};
    const kv__ox_dim bt[2] = {{0, "batch_size"}, {0, "total_sequence_length"}};
    io(e, false, "input_ids", I64, 2, bs);
    io(e, false, "attention_mask", I64, 2, bt);
    io(e, false, "position_ids", I64, 2, bs);
    const kv__ox_dim pk[4] = {{0, "batch_size"}, {KV, NULL}, {0, "past_sequence_length"}, {hd, NULL}};
    const kv__ox_dim tk[4] = {{0, "batch_size"}, {KV, NULL}, {0, "total_sequence_length"}, {hd, NULL}};
    for (int64_t l = 0; l < hp->n_layer; l++) {
        io(e, false, kv__ox_str(g, "past_key_values.%lld.key", (long long)l), KVT, 4, pk);
        io(e, false, kv__ox_str(g, "past_key_values.%lld.value", (long long)l), KVT, 4, pk);
    }
    const kv__ox_dim lg[3] = {{0, "batch_size"}, {0, "sequence_length"}, {V, NULL}};
    io(e, true, "logits", F32, 3, lg);
    for (int64_t l = 0; l < hp->n_layer; l++) {
        io(e, true, kv__ox_str(g, "present.%lld.key", (long long)l), KVT, 4, tk);
        io(e, true, kv__ox_str(g, "present.%lld.value", (long long)l), KVT, 4, tk);
    }

    // the mask: query i (absolute position past + i) sees key j when j <= past + i
    // and attention_mask[b, j] is set -> bool [batch, 1, 1, seq, total]
    const char *S = op2(e, "Gather", op1(e, "Shape", "input_ids"), scalar_i(e, 1));
    const char *T = op2(e, "Gather", op1(e, "Shape", "attention_mask"), scalar_i(e, 1));
    const char *P = op2(e, "Sub", T, S);
    const char *one = scalar_i(e, 1);
    const char *rows = op3(e, "Range", P, T, one);
    const char *cols = op3(e, "Range", scalar_i(e, 0), T, one);
    const int64_t a0 = 0, a1 = 1, a123[3] = {1, 2, 3};
    const char *causal =
        op2(e, "LessOrEqual", unsqueeze(e, cols, 1, &a0), unsqueeze(e, rows, 1, &a1));
    const char *cin[] = {"attention_mask"};
    Onnx__NodeProto *cb = kv__ox_node(g, "", "Cast", 1, cin, 1);
    kv__ox_attr_i(g, cb, "to", BOOL);
    const char *allowed = op2(e, "And", causal, unsqueeze(e, kv__ox_out(cb, 0), 3, a123));
    const char *neg = kv__ox_const_f32(g, -3.4028234663852886e38f);

    // RoPE: cos/sin gathered by position_ids, broadcast to q [B,KV,G,S,hd/2] and k [B,KV,S,hd/2]
    rope_cs glob =
        rope_tables(e, "rope", hp->rope_freq_base, hp->rope_freq_scale, ap.factors, ap.rope_mscale);
    rope_cs local = glob;
    if (ap.base_swa > 0.0f) // gemma3's local layers: their own base, unscaled
        local = rope_tables(e, "rope_local", ap.base_swa, 1.0f, NULL, 1.0f);
    if (failed(e))
        return;
    // sliding-window layers: a token at p sees p - window + 1 .. p only
    const char *allowed_local = allowed;
    if (ap.swa_period > 0) {
        const char *lo = unsqueeze(e, op2(e, "Sub", rows, scalar_i(e, ap.n_swa)), 1, &a1);
        allowed_local = op2(e, "And", allowed, op2(e, "Greater", unsqueeze(e, cols, 1, &a0), lo));
    }

    // embeddings
    const kv_gguf_tensor *te = tensor(e, "token_embd.weight", true);
    if (!te || failed(e))
        return;
    { // dequantized a row at a time into the data file
        float *w = malloc((size_t)D * sizeof *w);
        const size_t rs = kv_type_row_size((kv_type)te->type, D);
        uint64_t off = 0;
        if (!w) {
            g->oom = true;
            return;
        }
        if (kv__ox_ext_begin(g, &off)) {
            for (int64_t v = 0; v < V; v++) {
                kv_status st = kv_dequant_row((kv_type)te->type, (const uint8_t *)te->data + (size_t)v * rs, w, D, e->err);
                if (st != KV_OK) {
                    kv_err_prefix(e->err, e->path);
                    e->st = st;
                    break;
                }
                if (!kv__ox_ext_write(g, w, (size_t)D * sizeof *w))
                    break;
            }
            const int64_t dims[2] = {V, D};
            kv__ox_ext_end(g, "token_embd.weight.f32", F32, 2, dims, off);
            note(e, te, KV_ONNX_W_FLOAT, (uint64_t)(V * D) * 4);
        }
        free(w);
    }
    if (failed(e))
        return;
    const char *x = op2(e, "Gather", "token_embd.weight.f32", "input_ids");
    if (ap.gemma) // Gemma scales the embedding by sqrt(n_embd)
        x = op2(e, "Mul", x, kv__ox_const_f32(g, sqrtf((float)D)));
    const char *scale_c = kv__ox_const_f32(g, ap.scale);

    for (int64_t l = 0; l < hp->n_layer && !failed(e); l++) {
        char n1[96], n2[96];
#define TN(buf, fmt) (snprintf(buf, sizeof buf, "blk.%lld." fmt, (long long)l), buf)
        const char *h = rms_norm(e, x, TN(n1, "attn_norm.weight"));
        const char *q, *k, *v;
        if (ap.fused) { // phi3: q, k and v stacked in one matrix
            const int64_t sp[3] = {H * hd, KV * hd, KV * hd};
            const char *in[] = {linear(e, h, TN(n1, "attn_qkv.weight"), 0, false, false),
                                ints(e, 3, sp)};
            Onnx__NodeProto *s3 = kv__ox_node(g, "", "Split", 2, in, 3);
            kv__ox_attr_i(g, s3, "axis", -1);
            q = kv__ox_out(s3, 0);
            k = kv__ox_out(s3, 1);
            v = kv__ox_out(s3, 2);
        } else {
            q = linear(e, h, TN(n1, "attn_q.weight"), hd, e->unpermute, false);
            q = bias(e, q, TN(n2, "attn_q.bias"), hd, e->unpermute);
            k = linear(e, h, TN(n1, "attn_k.weight"), hd, e->unpermute, false);
            k = bias(e, k, TN(n2, "attn_k.bias"), hd, e->unpermute);
            v = linear(e, h, TN(n1, "attn_v.weight"), 0, false, false);
            v = bias(e, v, TN(n2, "attn_v.bias"), 0, false);
        }
        const bool is_local = ap.swa_period > 0 && l % ap.swa_period != ap.swa_period - 1;
        const rope_cs *rc = is_local && ap.base_swa > 0.0f ? &local : &glob;
        const int64_t qs[5] = {0, 0, KV, G, hd}, qp[5] = {0, 2, 3, 1, 4};
        const int64_t ks[4] = {0, 0, KV, hd}, kp[4] = {0, 2, 1, 3};
        const char *q5 = transpose(e, reshape(e, q, 5, qs), 5, qp); // [B,KV,G,S,hd]
        const char *k4 = transpose(e, reshape(e, k, 4, ks), 4, kp); // [B,KV,S,hd]
        const char *v4 = transpose(e, reshape(e, v, 4, ks), 4, kp);
        if (tensor(e, TN(n1, "attn_q_norm.weight"), false)) {
            q5 = rms_norm(e, q5, TN(n1, "attn_q_norm.weight"));
            k4 = rms_norm(e, k4, TN(n1, "attn_k_norm.weight"));
        }
        q5 = rope(e, q5, rc->cq, rc->sq);
        k4 = rope(e, k4, rc->ck, rc->sk);
        if (kvh) { // the cache holds float16; queries are rounded the same way (as kvant does)
            q5 = cast(e, cast(e, q5, F16), F32);
            k4 = cast(e, k4, F16);
            v4 = cast(e, v4, F16);
        }
        char pkn[64], pvn[64];
        snprintf(pkn, sizeof pkn, "past_key_values.%lld.key", (long long)l);
        snprintf(pvn, sizeof pvn, "past_key_values.%lld.value", (long long)l);
        const char *ink[] = {pkn, k4}, *inv[] = {pvn, v4};
        Onnx__NodeProto *ckn = kv__ox_node(g, "", "Concat", 2, ink, 1);
        Onnx__NodeProto *cvn = kv__ox_node(g, "", "Concat", 2, inv, 1);
        kv__ox_attr_i(g, ckn, "axis", 2);
        kv__ox_attr_i(g, cvn, "axis", 2);
        kv__ox_rename_out(g, ckn, 0, kv__ox_str(g, "present.%lld.key", (long long)l));
        kv__ox_rename_out(g, cvn, 0, kv__ox_str(g, "present.%lld.value", (long long)l));
        const int64_t tp[4] = {0, 1, 3, 2}, a2 = 2;
        const char *kc = kv__ox_out(ckn, 0), *vc = kv__ox_out(cvn, 0);
        if (kvh) {
            kc = cast(e, kc, F32);
            vc = cast(e, vc, F32);
        }
        const char *kt = unsqueeze(e, transpose(e, kc, 4, tp), 1, &a2);
        const char *sc = op2(e, "Mul", op2(e, "MatMul", q5, kt), scale_c); // [B,KV,G,S,T]
        if (ap.attn_cap > 0.0f) { // soft-capping: cap * tanh(s / cap)
            const char *cap = kv__ox_const_f32(g, ap.attn_cap);
            sc = op2(e, "Mul", op1(e, "Tanh", op2(e, "Div", sc, cap)), cap);
        }
        sc = op3(e, "Where", is_local ? allowed_local : allowed, sc, neg);
        const char *sin_[] = {sc};
        Onnx__NodeProto *sm = kv__ox_node(g, "", "Softmax", 1, sin_, 1);
        kv__ox_attr_i(g, sm, "axis", -1);
        const char *o = op2(e, "MatMul", kv__ox_out(sm, 0), unsqueeze(e, vc, 1, &a2));
        const int64_t op_[5] = {0, 3, 1, 2, 4}, os[3] = {0, 0, -1};
        o = reshape(e, transpose(e, o, 5, op_), 3, os); // [B,S,H*hd]
        o = linear(e, o, TN(n1, "attn_output.weight"), 0, false, false);
        o = bias(e, o, TN(n2, "attn_output.bias"), 0, false);
        if (tensor(e, TN(n1, "post_attention_norm.weight"), false)) // gemma
            o = rms_norm(e, o, n1);
        x = op2(e, "Add", x, o);
        h = rms_norm(e, x, TN(n1, "ffn_norm.weight"));
        const char *gt, *up;
        if (ap.fused) { // phi3: gate and up stacked in ffn_up
            const int64_t sp[2] = {hp->n_ff, hp->n_ff};
            const char *in[] = {linear(e, h, TN(n1, "ffn_up.weight"), 0, false, false),
                                ints(e, 2, sp)};
            Onnx__NodeProto *s2 = kv__ox_node(g, "", "Split", 2, in, 2);
            kv__ox_attr_i(g, s2, "axis", -1);
            gt = kv__ox_out(s2, 0);
            up = kv__ox_out(s2, 1);
        } else {
            gt = linear(e, h, TN(n1, "ffn_gate.weight"), 0, false, false);
            up = linear(e, h, TN(n1, "ffn_up.weight"), 0, false, false);
        }
        const char *act;
        if (ap.gemma) { // GeGLU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) * up
            const char *x3 = op2(e, "Mul", op2(e, "Mul", gt, gt), gt);
            const char *in = op2(e, "Add", gt, op2(e, "Mul", kv__ox_const_f32(g, 0.044715f), x3));
            const char *th = op1(e, "Tanh", op2(e, "Mul", kv__ox_const_f32(g, 0.7978845608028654f), in));
            const char *hx = op2(e, "Mul", kv__ox_const_f32(g, 0.5f), gt);
            act = op2(e, "Mul", op2(e, "Mul", hx, op2(e, "Add", kv__ox_const_f32(g, 1.0f), th)), up);
        } else {
            act = op2(e, "Mul", op2(e, "Mul", gt, op1(e, "Sigmoid", gt)), up);
        }
        const char *dn = linear(e, act, TN(n1, "ffn_down.weight"), 0, false, false);
        if (tensor(e, TN(n1, "post_ffw_norm.weight"), false)) // gemma
            dn = rms_norm(e, dn, n1);
        x = op2(e, "Add", x, dn);
#undef TN
    }
    if (failed(e))
        return;
    x = rms_norm(e, x, "output_norm.weight");
    const bool tied = !tensor(e, "output.weight", false);
    const char *out = linear(e, x, tied ? "token_embd.weight" : "output.weight", 0, false, true);
    if (ap.final_cap > 0.0f) {
        const char *cap = kv__ox_const_f32(g, ap.final_cap);
        out = op2(e, "Mul", op1(e, "Tanh", op2(e, "Div", out, cap)), cap);
    }
    const char *in[] = {out};
    Onnx__NodeProto *id = kv__ox_node(g, "", "Identity", 1, in, 1);
    kv__ox_rename_out(g, id, 0, "logits");
    (void)D;
}

// ---- files ----

static kv_status write_file(const char *path, const void *data, size_t n, kv_err *err) {
    kv_out o;
    KV_TRY(kv_out_open(&o, path, err));
    kv_status s = kv_out_write(&o, data, n, err);
    if (s != KV_OK) {
        kv_out_abort(&o);
        return s;
    }
    return kv_out_commit(&o, err);
}


void kv_onnx_export_report_free(kv_onnx_export_report *r) {
    if (r) {
        free(r->tensors);
        free(r);
    }
}

kv_status kv_onnx_export(const char *gguf_path, const char *dir, const kv_onnx_export_opts *o,
                         kv_onnx_export_report **report, kv_err *err) {
    if (report)
        *report = NULL;
    const kv_onnx_export_opts defaults = {0};
    if (!o)
        o = &defaults;
    const int block = o->block ? o->block : 32;
    if (block != 32 && block != 64 && block != 128)
        return KV_FAIL(err, KV_ERR_INVALID, "block size %d: use 32, 64 or 128", block);
    if (o->precision > KV_ONNX_INT8)
        return KV_FAIL(err, KV_ERR_INVALID, "unknown precision %d", (int)o->precision);
    kv_model *m = NULL;
    KV_TRY(kv_model_open(gguf_path, &m, err));
    const kv_hparams *hp = kv_model_hparams(m);
    const bool llama = !strcmp(hp->arch, "llama");
    if (!llama && strcmp(hp->arch, "qwen2") && strcmp(hp->arch, "qwen3") &&
        strcmp(hp->arch, "gemma2") && strcmp(hp->arch, "gemma3") && strcmp(hp->arch, "phi3")) {
        kv_status s = KV_FAIL(err, KV_ERR_UNSUPPORTED,
                              "%s: the ONNX export handles llama, mistral, qwen2, qwen3, gemma2, gemma3 "
                              "and phi3, not '%s'",
                              gguf_path, hp->arch);
        kv_model_close(m); // hp lives in m
        return s;
    }
    // partial rotary (Phi-4-mini) in the rotate-half layout only: Llama's GGUF rows
    // are permuted over the whole head
    if ((llama && hp->n_rot != hp->n_embd_head_k) || hp->n_rot > hp->n_embd_head_k ||
        hp->n_embd_head_k != hp->n_embd_head_v || hp->n_rot % 2 || hp->n_head % hp->n_head_kv) {
        kv_model_close(m);
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: partial rotary in Llama's layout or unequal key/value head sizes "
                       "are not exported",
                       gguf_path);
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        kv_model_close(m);
        return KV_FAIL(err, KV_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    }
    kv_onnx_export_report *rep = calloc(1, sizeof *rep);
    char *mpath = malloc(strlen(dir) + 32), *dpath = malloc(strlen(dir) + 32);
    kv_out data = {0};
    ex e = {0};
    kv_status s = KV_OK;
    uint8_t *buf = NULL;
    size_t n = 0;
    if (!rep || !mpath || !dpath) {
        s = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        goto out;
    }
    sprintf(mpath, "%s/model.onnx", dir);
    sprintf(dpath, "%s/model.onnx.data", dir);
    s = kv_out_open(&data, dpath, err);
    if (s != KV_OK)
        goto out;
    e.g.data = &data;
    e.g.data_name = "model.onnx.data";
    e.g.err = err;
    e.o = o;
    e.gguf = kv_model_gguf(m);
    e.hp = hp;
    e.path = gguf_path;
    e.unpermute = llama;
    e.block = block;
    e.rep = rep;
    e.err = err;
    e.total = (uint64_t)kv_gguf_tensor_count(e.gguf);
    build(&e);
    if (failed(&e)) {
        s = e.st;
        goto out;
    }
    char ver[64];
    snprintf(ver, sizeof ver, "%s", KV_VERSION);
    s = kv__ox_pack(&e.g, "kvant_decoder", KV_ONNX_EXPORT_IR, KV_ONNX_EXPORT_OPSET, 1, ver, &buf, &n,
                    err);
    if (s != KV_OK)
        goto out;
    rep->n_nodes = (int64_t)e.g.n_nodes;
    rep->data_bytes = data.written;
    rep->model_bytes = n;
    s = kv_out_commit(&data, err);
    if (s == KV_OK)
        s = write_file(mpath, buf, n, err);
    if (s == KV_OK)
        s = kv__onnx_genai_config(m, dir, err);
    if (s == KV_OK && o->write_tokenizer)
        s = kv_spm_write_from_gguf(e.gguf, dir, &rep->tokenizer_written, err);
out:
    kv_out_abort(&data);
    kv__ox_free(&e.g);
    free(buf);
    free(mpath);
    free(dpath);
    kv_model_close(m);
    if (s == KV_OK && report)
        *report = rep;
    else
        kv_onnx_export_report_free(rep);
    return s;
}
