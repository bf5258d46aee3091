// kvant onnx quantize: any ONNX model's MatMul/Gemm nodes with a constant float
// weight (a 2-D float32 initializer that is not also a graph input) rewritten as
//   dynamic, QOperator: DynamicQuantizeLinear + MatMulInteger + Cast + Mul (as
//     ONNX Runtime's quantize_dynamic does; com.microsoft DynamicQuantizeMatMul
//     below ai.onnx opset 11, which lacks DynamicQuantizeLinear);
//   dynamic, QDQ: an int8 weight behind a DequantizeLinear;
//   weight-int4: com.microsoft MatMulNBits (MatMul only);
//   static: QuantizeLinear/DequantizeLinear on the activation (range from a
//     calibration table) and an int8 weight behind a DequantizeLinear.
// Weights are int8 symmetric (scale = largest magnitude / 127), per tensor or per
// output column. The original message is modified through arrays built here
// (node, initializer, opset lists) and restored before protobuf-c frees it.
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kvant/kv_onnx.h"
#include "kvant/kv_onnx_export.h"
#include "onnx/onnx_export_int.h"

#define DT_FLOAT ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define DT_INT8 ONNX__TENSOR_PROTO__DATA_TYPE__INT8
#define DT_UINT8 ONNX__TENSOR_PROTO__DATA_TYPE__UINT8

typedef struct {
    const char *name;
    float lo, hi;
} range;

typedef struct {
    const kv_onnx_quant_opts *o;
    Onnx__ModelProto *m;
    Onnx__GraphProto *gr;
    const char *dir; // the input's folder, for external data
    kv__ox g;
    int64_t opset;     // ai.onnx
    bool use_ms;       // a com.microsoft node was added
    kv_onnx_quant_report *rep;
    size_t cap_entries;
    // initializers quantized (their float originals may go)
    const char **touched;
    size_t n_touched, cap_touched;
    // Transposes of quantized constants (dropped when nothing reads them any more)
    const Onnx__NodeProto **folded;
    size_t n_folded, cap_folded;
    // activation Q/DQ already made (static): tensor name -> dequantized name
    const char **act_from, **act_to;
    size_t n_act, cap_act;
    range *ranges;
    size_t n_ranges;
    kv_err *err;
    kv_status st; // first hard failure (I/O, memory)
} qctx;

static bool grow(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap)
        return true;
    size_t c = *cap ? 2 * *cap : 64;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = c;
    return true;
}

static const char *S(const char *s) { return s ? s : ""; }

static void entry(qctx *q, const Onnx__NodeProto *n, bool quantized, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void entry(qctx *q, const Onnx__NodeProto *n, bool quantized, const char *fmt, ...) {
    kv_onnx_quant_report *r = q->rep;
    if (!grow((void **)&r->entries, &q->cap_entries, (size_t)r->n_entries, sizeof *r->entries)) {
        q->st = KV_FAIL(q->err, KV_ERR_NOMEM, "out of memory");
        return;
    }
    kv_onnx_quant_entry *e = &r->entries[r->n_entries++];
    memset(e, 0, sizeof *e);
    snprintf(e->node, sizeof e->node, "%s", S(n->name));
    snprintf(e->op, sizeof e->op, "%s", S(n->op_type));
    e->quantized = quantized;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->what, sizeof e->what, fmt, ap);
    va_end(ap);
    if (quantized)
        r->n_quantized++;
    else
        r->n_float++;
}

// Whether name is one of the comma-separated items of list.
static bool in_list(const char *list, const char *name) {
    if (!list || !name)
        return false;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return true;
        if (!c)
            break;
        p = c + 1;
    }
    return false;
}

static Onnx__TensorProto *find_init(const Onnx__GraphProto *gr, const char *name) {
    for (size_t i = 0; i < gr->n_initializer; i++)
        if (gr->initializer[i] && !strcmp(S(gr->initializer[i]->name), name))
            return gr->initializer[i];
    return NULL;
}

static bool is_input(const Onnx__GraphProto *gr, const char *name) {
    for (size_t i = 0; i < gr->n_input; i++)
        if (gr->input[i] && !strcmp(S(gr->input[i]->name), name))
            return true;
    return false;
}

static bool is_node_output(const Onnx__GraphProto *gr, const char *name) {
    for (size_t i = 0; i < gr->n_node; i++)
        for (size_t j = 0; gr->node[i] && j < gr->node[i]->n_output; j++)
            if (!strcmp(S(gr->node[i]->output[j]), name))
                return true;
    return false;
}

static const char *ext_field(const Onnx__TensorProto *t, const char *key) {
    for (size_t i = 0; i < t->n_external_data; i++)
        if (t->external_data[i] && !strcmp(S(t->external_data[i]->key), key))
            return S(t->external_data[i]->value);
    return NULL;
}

static bool is_external(const Onnx__TensorProto *t) {
    return t->has_data_location &&
           t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

// Reads an external tensor's bytes (want of them) from the input's folder.
static kv_status read_external(qctx *q, const Onnx__TensorProto *t, size_t want, void *dst) {
    const char *loc = ext_field(t, "location"), *so = ext_field(t, "offset"),
               *sl = ext_field(t, "length");
    if (!loc || !*loc || loc[0] == '/' || strstr(loc, ".."))
        return KV_FAIL(q->err, KV_ERR_FORMAT,
                       "initializer '%s': external data location '%s' is missing or outside "
                       "the model's folder", S(t->name), loc ? loc : "");
    unsigned long long off = so ? strtoull(so, NULL, 10) : 0;
    if (sl && strtoull(sl, NULL, 10) != want)
        return KV_FAIL(q->err, KV_ERR_FORMAT,
                       "initializer '%s': external length %s, its shape needs %zu bytes",
                       S(t->name), sl, want);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", q->dir, loc);
    FILE *f = fopen(path, "rb");
    if (!f)
        return KV_FAIL(q->err, KV_ERR_IO, "%s: cannot open the external data of '%s'", path,
                       S(t->name));
    bool ok = fseeko(f, (off_t)off, SEEK_SET) == 0 && fread(dst, 1, want, f) == want;
    fclose(f);
    if (!ok)
        return KV_FAIL(q->err, KV_ERR_TRUNCATED,
                       "%s: ends before the %zu bytes of '%s' at offset %llu", path, want,
                       S(t->name), off);
    return KV_OK;
}

// Element count of t (false when a dimension is negative or the count overflows).
static bool numel(const Onnx__TensorProto *t, size_t *n) {
    size_t c = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || (t->dims[i] && c > ((size_t)1 << 40) / (size_t)t->dims[i]))
            return false;
        c *= (size_t)t->dims[i];
    }
    *n = c;
    return true;
}

// A float32 initializer's values, malloc'd; NULL with *why set when it cannot be read.
static float *get_f32(qctx *q, const Onnx__TensorProto *t, size_t n, const char **why) {
    float *w = malloc((n ? n : 1) * sizeof *w);
    if (!w) {
        q->st = KV_FAIL(q->err, KV_ERR_NOMEM, "out of memory reading '%s'", S(t->name));
        return NULL;
    }
    if (is_external(t)) {
        kv_status s = read_external(q, t, n * sizeof *w, w);
        if (s != KV_OK) {
            q->st = s;
            free(w);
            return NULL;
        }
    } else if (t->has_raw_data && t->raw_data.len == n * sizeof *w) {
        memcpy(w, t->raw_data.data, n * sizeof *w);
    } else if (!t->has_raw_data && t->n_float_data == n) {
        memcpy(w, t->float_data, n * sizeof *w);
    } else {
        *why = "its data does not match its shape";
        free(w);
        return NULL;
    }
    return w;
}

// ---- new graph pieces ----

static void push_node(qctx *q, Onnx__NodeProto *n) {
    kv__ox *g = &q->g;
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes, sizeof *g->nodes))
        g->oom = true;
    else
        g->nodes[g->n_nodes++] = n;
}

static Onnx__NodeProto *node(qctx *q, const char *domain, const char *op, int n_in,
                             const char *const *in, const char *base, const char *suffix) {
    Onnx__NodeProto *n = kv__ox_node(&q->g, domain, op, n_in, in, 1);
    if (!n)
        return NULL;
    n->name = kv__ox_str(&q->g, "%s_kvq_%s", base, suffix);
    n->output[0] = kv__ox_str(&q->g, "%s_kvq_%s", base, suffix);
    if (domain && !strcmp(domain, "com.microsoft"))
        q->use_ms = true;
    return n;
}

static const char *init(qctx *q, const char *base, const char *suffix, int32_t dt, int nd,
                        const int64_t *dims, const void *data, size_t bytes) {
    char *name = kv__ox_str(&q->g, "%s_kvq_%s", base, suffix);
    return name ? kv__ox_init(&q->g, name, dt, nd, dims, data, bytes) : "";
}

static void touch(qctx *q, const char *w) {
    for (size_t i = 0; i < q->n_touched; i++)
        if (!strcmp(q->touched[i], w))
            return;
    if (!grow((void **)&q->touched, &q->cap_touched, q->n_touched, sizeof *q->touched))
        q->g.oom = true;
    else
        q->touched[q->n_touched++] = w;
}

// EXPOSE: name becomes a graph output (once).
static void expose(qctx *q, const char *name) {
    kv__ox *g = &q->g;
    for (size_t i = 0; i < g->n_outputs; i++)
        if (!strcmp(S(g->outputs[i]->name), name))
            return;
    for (size_t i = 0; i < q->gr->n_output; i++)
        if (q->gr->output[i] && !strcmp(S(q->gr->output[i]->name), name))
            return;
    kv__ox_output(g, name, DT_FLOAT, 0, NULL);
    // no shape: unknown rank, not a scalar
    if (g->n_outputs && g->outputs[g->n_outputs - 1]->type &&
        g->outputs[g->n_outputs - 1]->type->tensor_type)
        g->outputs[g->n_outputs - 1]->type->tensor_type->shape = NULL;
}

static void fold(qctx *q, const Onnx__NodeProto *tr) {
    for (size_t i = 0; i < q->n_folded; i++)
        if (q->folded[i] == tr)
            return;
    if (!grow((void **)&q->folded, &q->cap_folded, q->n_folded, sizeof *q->folded))
        q->g.oom = true;
    else
        q->folded[q->n_folded++] = tr;
}

// int8 symmetric quantization of W [K,N] (row-major), per tensor or per column.
// wq [K*N], scale [per_channel ? N : 1].
static void quant_i8(const float *w, int64_t K, int64_t N, bool per_channel, int8_t *wq,
                     float *scale) {
    int64_t ns = per_channel ? N : 1;
    for (int64_t c = 0; c < ns; c++)
        scale[c] = 0;
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < N; c++) {
            float a = fabsf(w[k * N + c]);
            float *s = &scale[per_channel ? c : 0];
            if (a > *s)
                *s = a;
        }
    for (int64_t c = 0; c < ns; c++) { // a subnormal maximum's scale can round to 0
        const float s = scale[c] / 127.0f;
        scale[c] = s > 0 ? s : 1.0f;
    }
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < N; c++) {
            float v = nearbyintf(w[k * N + c] / scale[per_channel ? c : 0]);
            wq[k * N + c] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
}

// The weight as an int8 initializer + scale + zero point, in its stored layout
// [R,C]; axis: the column axis for per-channel scales (1), or 0 (rows are the
// output channels: Gemm with transB). Returns the DequantizeLinear output.
static const char *weight_dq(qctx *q, const char *wname, const float *w, int64_t R, int64_t C,
                             int axis, uint64_t *bytes_out) {
    // initializer names are made from the node's output (unique), not the weight's
    // (a weight may feed several nodes)
    bool pc = q->o->per_channel;
    // quantize as [K,N] with N the channel axis: transpose when axis 0
    int64_t K = axis == 1 ? R : C, N = axis == 1 ? C : R;
    float *wt = calloc((size_t)(K * N), sizeof *wt); // calloc: gcc -O3 cannot see every element is set
    int8_t *wq = malloc((size_t)(K * N));
    float *sc = malloc((size_t)N * sizeof *sc);
    int8_t *zp = calloc((size_t)N, 1);
    int8_t *stored = malloc((size_t)(K * N));
    const char *out = NULL;
    if (!wt || !wq || !sc || !zp || !stored) {
        q->g.oom = true;
        goto done;
    }
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            if (axis == 1)
                wt[r * C + c] = w[r * C + c];
            else
                wt[c * R + r] = w[r * C + c];
        }
    quant_i8(wt, K, N, pc, wq, sc);
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++)
            stored[r * C + c] = axis == 1 ? wq[r * C + c] : wq[c * R + r];
    int64_t dims[2] = {R, C}, dn = N;
    const char *qn = init(q, wname, "w_quantized", DT_INT8, 2, dims, stored, (size_t)(R * C));
    const char *sn = init(q, wname, "w_scale", DT_FLOAT, pc ? 1 : 0, &dn, sc,
                          (size_t)(pc ? N : 1) * sizeof(float));
    const char *zn = init(q, wname, "w_zero_point", DT_INT8, pc ? 1 : 0, &dn, zp,
                          (size_t)(pc ? N : 1));
    *bytes_out += (uint64_t)(R * C) + (uint64_t)(pc ? N : 1) * 5;
    // per-axis DequantizeLinear is ai.onnx 13; per-tensor 10; below: com.microsoft's
    bool std = q->opset >= (pc ? 13 : 10);
    const char *in[3] = {qn, sn, zn};
    Onnx__NodeProto *n = node(q, std ? "" : "com.microsoft", "DequantizeLinear", 3, in, wname,
                              "dequantized");
    if (n && pc)
        kv__ox_attr_i(&q->g, n, "axis", axis);
    out = n ? n->output[0] : NULL;
done:
    free(wt);
    free(wq);
    free(sc);
    free(zp);
    free(stored);
    return out;
}

// A copy of n with input i renamed (the rest of the node shared with the original).
static Onnx__NodeProto *with_input(qctx *q, const Onnx__NodeProto *n, size_t i, const char *v) {
    Onnx__NodeProto *c = kv__ox_alloc(&q->g, sizeof *c);
    char **in = kv__ox_alloc(&q->g, n->n_input * sizeof *in);
    if (!c || !in)
        return NULL;
    *c = *n;
    memcpy(in, n->input, n->n_input * sizeof *in);
    in[i] = (char *)v;
    c->input = in;
    return c;
}

static const range *find_range(const qctx *q, const char *name) {
    for (size_t i = 0; i < q->n_ranges; i++)
        if (!strcmp(q->ranges[i].name, name))
            return &q->ranges[i];
    return NULL;
}

// Static: QuantizeLinear -> DequantizeLinear on activation a (uint8, asymmetric).
static const char *act_qdq(qctx *q, const char *a, const range *r) {
    for (size_t i = 0; i < q->n_act; i++)
        if (!strcmp(q->act_from[i], a))
            return q->act_to[i];
    float lo = r->lo < 0 ? r->lo : 0, hi = r->hi > 0 ? r->hi : 0;
    float scale = (hi - lo) / 255.0f;
    if (!(scale > 0))
        scale = 1.0f;
    float z = nearbyintf(-lo / scale);
    uint8_t zp = (uint8_t)(z < 0 ? 0 : z > 255 ? 255 : z);
    const char *sn = init(q, a, "act_scale", DT_FLOAT, 0, NULL, &scale, sizeof scale);
    const char *zn = init(q, a, "act_zero_point", DT_UINT8, 0, NULL, &zp, 1);
    const char *dom = q->opset >= 10 ? "" : "com.microsoft";
    const char *in1[3] = {a, sn, zn};
    Onnx__NodeProto *qn = node(q, dom, "QuantizeLinear", 3, in1, a, "act_quantized");
    if (!qn)
        return NULL;
    const char *in2[3] = {qn->output[0], sn, zn};
    Onnx__NodeProto *dq = node(q, dom, "DequantizeLinear", 3, in2, a, "act_dequantized");
    if (!dq)
        return NULL;
    if (!grow((void **)&q->act_from, &q->cap_act, q->n_act, sizeof *q->act_from)) {
        q->g.oom = true;
        return NULL;
    }
    size_t cap = q->cap_act, n = q->n_act;
    const char **to = realloc(q->act_to, cap * sizeof *to);
    if (!to) {
        q->g.oom = true;
        return NULL;
    }
    q->act_to = to;
    q->act_from[n] = a;
    q->act_to[n] = dq->output[0];
    q->n_act++;
    return dq->output[0];
}

static int64_t attr_i(const Onnx__NodeProto *n, const char *name, int64_t dflt) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i] && !strcmp(S(n->attribute[i]->name), name) && n->attribute[i]->has_i)
            return n->attribute[i]->i;
    return dflt;
}

static float attr_f(const Onnx__NodeProto *n, const char *name, float dflt) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i] && !strcmp(S(n->attribute[i]->name), name) && n->attribute[i]->has_f)
            return n->attribute[i]->f;
    return dflt;
}

// Gemm's "+ beta C" after the rewritten product y (nothing for MatMul), and the
// last node made writes the original node's output name.
static bool gemm_tail(qctx *q, const Onnx__NodeProto *n, const char *y, const char *bias,
                      float beta) {
    const char *base = n->output[0];
    if (bias && *bias) {
        const char *b = bias;
        if (beta != 1.0f) {
            const char *bs = init(q, base, "beta", DT_FLOAT, 0, NULL, &beta, sizeof beta);
            const char *inb[2] = {bias, bs};
            Onnx__NodeProto *mb = node(q, "", "Mul", 2, inb, base, "beta_c");
            if (!mb)
                return false;
            if (q->opset < 7)
                kv__ox_attr_i(&q->g, mb, "broadcast", 1);
            b = mb->output[0];
        }
        const char *ina[2] = {y, b};
        Onnx__NodeProto *ad = node(q, "", "Add", 2, ina, base, "bias");
        if (!ad)
            return false;
        if (q->opset < 7)
            kv__ox_attr_i(&q->g, ad, "broadcast", 1);
    }
    q->g.nodes[q->g.n_nodes - 1]->output[0] = n->output[0];
    return !q->g.oom;
}

// Dynamic, QOperator: Y = (A_q - A_zp)(W_q) * (A_scale * W_scale) [* alpha] [+ beta C].
// w is [K,N] (Gemm's transB undone by the caller).
static bool dyn_qop(qctx *q, const Onnx__NodeProto *n, const char *wname, const float *w,
                    int64_t K, int64_t N, float alpha, const char *bias, float beta,
                    uint64_t *bytes_out) {
    bool pc = q->o->per_channel;
    int8_t *wq = malloc((size_t)(K * N));
    float *sc = malloc((size_t)N * sizeof *sc);
    int8_t *zp = calloc((size_t)N, 1);
    bool ok = false;
    if (!wq || !sc || !zp) {
        q->g.oom = true;
        goto done;
    }
    quant_i8(w, K, N, pc, wq, sc);
    int64_t dims[2] = {K, N}, dn = N;
    const char *qn = init(q, wname, "w_quantized", DT_INT8, 2, dims, wq, (size_t)(K * N));
    const char *zn = init(q, wname, "w_zero_point", DT_INT8, pc ? 1 : 0, &dn, zp,
                          (size_t)(pc ? N : 1));
    for (int64_t c = 0; c < (pc ? N : 1); c++)
        sc[c] *= alpha;
    const char *sn = init(q, wname, "w_scale", DT_FLOAT, pc ? 1 : 0, &dn, sc,
                          (size_t)(pc ? N : 1) * sizeof(float));
    *bytes_out += (uint64_t)(K * N) + (uint64_t)(pc ? N : 1) * 5;
    const char *base = n->output[0];
    const char *y;
    if (q->opset >= 11) {
        const char *in0[1] = {n->input[0]};
        Onnx__NodeProto *d = kv__ox_node(&q->g, "", "DynamicQuantizeLinear", 1, in0, 3);
        if (!d)
            goto done;
        d->name = kv__ox_str(&q->g, "%s_kvq_dql", base);
        for (int i = 0; i < 3; i++)
            d->output[i] = kv__ox_str(&q->g, "%s_kvq_dql%d", base, i);
        const char *in1[4] = {d->output[0], qn, d->output[2], zn};
        Onnx__NodeProto *mi = node(q, "", "MatMulInteger", 4, in1, base, "matmul_int");
        if (!mi)
            goto done;
        const char *in2[1] = {mi->output[0]};
        Onnx__NodeProto *ca = node(q, "", "Cast", 1, in2, base, "cast");
        kv__ox_attr_i(&q->g, ca, "to", DT_FLOAT);
        const char *in3[2] = {d->output[1], sn};
        Onnx__NodeProto *ms = node(q, "", "Mul", 2, in3, base, "scale");
        if (!ca || !ms)
            goto done;
        const char *in4[2] = {ca->output[0], ms->output[0]};
        Onnx__NodeProto *mo = node(q, "", "Mul", 2, in4, base, "out");
        if (!mo)
            goto done;
        y = mo->output[0];
    } else {
        const char *in1[4] = {n->input[0], qn, sn, zn};
        Onnx__NodeProto *dm =
            node(q, "com.microsoft", "DynamicQuantizeMatMul", 4, in1, base, "dqmatmul");
        if (!dm)
            goto done;
        y = dm->output[0];
    }
    ok = gemm_tail(q, n, y, bias, beta);
done:
    free(wq);
    free(sc);
    free(zp);
    return ok && !q->g.oom;
}

// MatMul -> MatMulNBits (4 bits): B [N, blocks, block/2] nibble-packed, scales
// [N*blocks], zero points [N * ceil(blocks/2)] when asymmetric.
static bool int4(qctx *q, const Onnx__NodeProto *n, const char *wname, const float *w,
                 int64_t K, int64_t N, float alpha, const char *bias, float beta,
                 uint64_t *bytes_out) {
    int64_t bs = q->o->block ? q->o->block : 32;
    int64_t nb = (K + bs - 1) / bs, zb = (nb + 1) / 2;
    uint8_t *b = calloc((size_t)(N * nb * bs / 2), 1);
    float *sc = malloc((size_t)(N * nb) * sizeof *sc);
    uint8_t *zp = calloc((size_t)(N * zb), 1);
    bool ok = false;
    if (!b || !sc || !zp) {
        q->g.oom = true;
        goto done;
    }
    for (int64_t c = 0; c < N; c++)
        for (int64_t j = 0; j < nb; j++) {
            int64_t k0 = j * bs, k1 = k0 + bs < K ? k0 + bs : K;
            float d, lo = 0, hi = 0, amax = 0, vmax = 0;
            int z = 8;
            for (int64_t k = k0; k < k1; k++) {
                float v = w[k * N + c];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
                if (fabsf(v) > amax) {
                    amax = fabsf(v);
                    vmax = v;
                }
            }
            if (q->o->symmetric) {
                d = vmax / -8.0f; // the value of largest magnitude maps to -8
            } else {
                d = (hi - lo) / 15.0f;
                float zf = d != 0 ? nearbyintf(-lo / d) : 8;
                z = (int)(zf < 0 ? 0 : zf > 15 ? 15 : zf);
            }
            float id = d != 0 ? 1.0f / d : 0;
            sc[c * nb + j] = d * alpha;
            if (!q->o->symmetric)
                zp[c * zb + j / 2] |= (uint8_t)(z << (4 * (j & 1)));
            for (int64_t k = k0; k < k0 + bs; k++) {
                int v = z;
                if (k < k1) {
                    float f = nearbyintf(w[k * N + c] * id) + (float)z;
                    if (f != f) // 0 * inf: a subnormal scale's reciprocal overflows
                        f = (float)z;
                    v = (int)(f < 0 ? 0 : f > 15 ? 15 : f);
                }
                int64_t i = k - k0;
                b[(c * nb + j) * (bs / 2) + i / 2] |= (uint8_t)(v << (4 * (i & 1)));
            }
        }
    int64_t bd[3] = {N, nb, bs / 2}, sd = N * nb, zd = N * zb;
    const char *bn = init(q, wname, "w_q4", DT_UINT8, 3, bd, b, (size_t)(N * nb * bs / 2));
    const char *sn = init(q, wname, "w_scales", DT_FLOAT, 1, &sd, sc, (size_t)sd * sizeof(float));
    const char *zn = q->o->symmetric ? NULL : init(q, wname, "w_zero_points", DT_UINT8, 1, &zd, zp,
                                                   (size_t)zd);
    *bytes_out += (uint64_t)(N * nb * bs / 2) + (uint64_t)sd * 4 + (zn ? (uint64_t)zd : 0);
    const char *in[4] = {n->input[0], bn, sn, zn};
    Onnx__NodeProto *mn =
        node(q, "com.microsoft", "MatMulNBits", zn ? 4 : 3, in, n->output[0], "matmulnbits");
    if (!mn)
        goto done;
    kv__ox_attr_i(&q->g, mn, "K", K);
    kv__ox_attr_i(&q->g, mn, "N", N);
    kv__ox_attr_i(&q->g, mn, "bits", 4);
    kv__ox_attr_i(&q->g, mn, "block_size", bs);
    if (q->o->accuracy_level > 0)
        kv__ox_attr_i(&q->g, mn, "accuracy_level", q->o->accuracy_level);
    if (!bias) // MatMulNBits is the last node
        mn->output[0] = n->output[0];
    else
        ok = gemm_tail(q, n, mn->output[0], bias, beta);
    ok = !bias || ok;
done:
    free(b);
    free(sc);
    free(zp);
    return ok && !q->g.oom;
}

static const char *dtype_name(int32_t t) {
    static const char *const N[] = {"undefined", "float", "uint8", "int8", "uint16", "int16",
                                    "int32", "int64", "string", "bool", "float16", "double",
                                    "uint32", "uint64", "complex64", "complex128", "bfloat16"};
    return t >= 0 && t < (int32_t)(sizeof N / sizeof N[0]) ? N[t] : "another type";
}

// The node of gr that outputs name when it is an ai.onnx Transpose (else NULL).
static const Onnx__NodeProto *producer(const Onnx__GraphProto *gr, const char *name) {
    for (size_t i = 0; i < gr->n_node; i++) {
        const Onnx__NodeProto *n = gr->node[i];
        if (n && n->n_output == 1 && !strcmp(S(n->output[0]), name))
            return !strcmp(S(n->op_type), "Transpose") && (!n->domain || !*n->domain) ? n : NULL;
    }
    return NULL;
}

// A 2-D Transpose: perm absent or [1, 0].
static bool perm_10(const Onnx__NodeProto *n) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i] && !strcmp(S(n->attribute[i]->name), "perm"))
            return n->attribute[i]->n_ints == 2 && n->attribute[i]->ints[0] == 1 &&
                   n->attribute[i]->ints[1] == 0;
    return true;
}

// One MatMul/Gemm node: quantized (replacement nodes pushed) or kept (pushed as is).
static void one(qctx *q, Onnx__NodeProto *n) {
    const kv_onnx_quant_opts *o = q->o;
    bool gemm = !strcmp(S(n->op_type), "Gemm");
    if (in_list(o->exclude_nodes, S(n->name)) || in_list(o->exclude_op_types, S(n->op_type))) {
        entry(q, n, false, "excluded (--exclude-%s)",
              in_list(o->exclude_nodes, S(n->name)) ? "nodes" : "op-types");
        goto keep;
    }
    if (n->n_input < 2 || n->n_output < 1 || !n->input[0] || !n->input[1] || !n->output[0]) {
        entry(q, n, false, "fewer inputs or outputs than the op has");
        goto keep;
    }
    const char *wn = n->input[1];
    Onnx__TensorProto *t = find_init(q->gr, wn);
    const Onnx__NodeProto *tr = NULL; // a Transpose of a constant, folded
    if (!t && !is_input(q->gr, wn) && (tr = producer(q->gr, wn)) &&
        !(tr->n_input == 1 && tr->input[0] && (t = find_init(q->gr, tr->input[0])) &&
          t->n_dims == 2 && perm_10(tr)))
        t = NULL, tr = NULL;
    if (!t && is_input(q->gr, wn)) {
        entry(q, n, false, "weight '%s' is a graph input, not an initializer: nothing quantized",
              wn);
        goto keep;
    }
    if (!t) {
        entry(q, n, false, "weight '%s' is %s, not an initializer", wn,
              is_node_output(q->gr, wn) ? "computed by the graph" : "not a constant of this graph");
        goto keep;
    }
    if (t->data_type != DT_FLOAT) {
        entry(q, n, false, "weight '%s' is %s, not float", wn, dtype_name(t->data_type));
        goto keep;
    }
    if (t->n_dims != 2 || t->dims[0] <= 0 || t->dims[1] <= 0) {
        entry(q, n, false, "weight '%s' has %zu dimensions (a 2-D matrix is quantized)", wn,
              t->n_dims);
        goto keep;
    }
    bool trans_b = gemm && attr_i(n, "transB", 0) != 0;
    bool rewrite = o->mode == KV_ONNXQ_INT4 || (o->mode == KV_ONNXQ_DYNAMIC && !o->qdq);
    if (gemm && attr_i(n, "transA", 0) != 0 && rewrite) {
        entry(q, n, false, "Gemm with transA=1 is not rewritten (MatMulInteger/MatMulNBits)");
        goto keep;
    }
    if (o->mode == KV_ONNXQ_EXPOSE) {
        expose(q, n->input[0]);
        entry(q, n, true, "activation '%s' added as a graph output", n->input[0]);
        goto keep;
    }
    const range *ar = NULL;
    // a table entry under the activation's name, else under the weight's (the range of
    // this MatMul's input, as kvant's --calib records it)
    if (o->mode == KV_ONNXQ_STATIC && !(ar = find_range(q, n->input[0])) &&
        !(ar = find_range(q, n->input[1]))) {
        entry(q, n, false, "no calibration range for its input '%s'", n->input[0]);
        goto keep;
    }
    size_t cnt;
    const char *why = NULL;
    if (!numel(t, &cnt) || cnt > ((size_t)1 << 34)) {
        entry(q, n, false, "weight '%s' has a bad shape", wn);
        goto keep;
    }
    float *w = get_f32(q, t, cnt, &why);
    if (!w) {
        if (why)
            entry(q, n, false, "weight '%s': %s", wn, why);
        goto keep;
    }
    for (size_t i = 0; i < cnt; i++)
        if (!isfinite(w[i])) {
            free(w);
            entry(q, n, false, "weight '%s' holds NaN or infinite values", wn);
            goto keep;
        }
    int64_t R = t->dims[0], C = t->dims[1];
    if (tr) { // the weight is t transposed
        float *wt = malloc(cnt * sizeof *wt);
        if (!wt) {
            free(w);
            q->st = KV_FAIL(q->err, KV_ERR_NOMEM, "out of memory");
            return;
        }
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++)
                wt[c * R + r] = w[r * C + c];
        free(w);
        w = wt;
        R = t->dims[1];
        C = t->dims[0];
    }
    uint64_t bytes_out = 0;
    bool ok = false;
    const char *what = "";
    if (rewrite) {
        float *wk = w;
        if (trans_b) { // [N,K] -> [K,N]
            wk = malloc(cnt * sizeof *wk);
            if (wk)
                for (int64_t r = 0; r < R; r++)
                    for (int64_t c = 0; c < C; c++)
                        wk[c * R + r] = w[r * C + c];
        }
        if (!wk) {
            q->g.oom = true;
        } else {
            int64_t K = trans_b ? C : R, N = trans_b ? R : C;
            float alpha = gemm ? attr_f(n, "alpha", 1.0f) : 1.0f, beta = attr_f(n, "beta", 1.0f);
            const char *bias = gemm && n->n_input > 2 ? n->input[2] : NULL;
            if (o->mode == KV_ONNXQ_INT4) {
                ok = int4(q, n, n->output[0], wk, K, N, alpha, bias, beta, &bytes_out);
                what = o->symmetric ? "MatMulNBits 4-bit symmetric"
                                    : "MatMulNBits 4-bit with zero points";
            } else {
                ok = dyn_qop(q, n, n->output[0], wk, K, N, alpha, bias, beta, &bytes_out);
                what = q->opset >= 11 ? "int8 DynamicQuantizeLinear + MatMulInteger"
                                      : "int8 com.microsoft DynamicQuantizeMatMul (opset < 11)";
            }
        }
        if (wk != w)
            free(wk);
    } else {
        const char *dq = weight_dq(q, n->output[0], w, R, C, trans_b ? 0 : 1, &bytes_out);
        Onnx__NodeProto *c = dq ? with_input(q, n, 1, dq) : NULL;
        if (c && ar) {
            const char *a = act_qdq(q, n->input[0], ar);
            c = a ? with_input(q, c, 0, a) : NULL;
        }
        if (c) {
            push_node(q, c);
            ok = !q->g.oom;
        }
        what = ar ? "QDQ int8 weight + uint8 activation" : "int8 weight behind DequantizeLinear";
    }
    free(w);
    if (!ok) {
        q->st = KV_FAIL(q->err, KV_ERR_NOMEM, "out of memory quantizing '%s'", wn);
        return;
    }
    touch(q, S(t->name));
    if (tr)
        fold(q, tr);
    q->rep->weight_bytes_in += (uint64_t)cnt * 4;
    q->rep->weight_bytes_out += bytes_out;
    entry(q, n, true, "%s%s, weight '%s' [%lld,%lld]%s%s", what,
          o->mode != KV_ONNXQ_INT4 ? (o->per_channel ? ", per channel" : ", per tensor") : "", wn,
          (long long)R, (long long)C, tr ? " (a Transpose of the constant, folded)" : "",
          is_input(q->gr, S(t->name)) ? " (its initializer was also a graph input: removed from "
                                        "the inputs, as ONNX Runtime's quantizer does)" : "");
    return;
keep:
    push_node(q, n);
}

// Whether name is read by any node of gr or its subgraphs (or is a graph output).
static bool used(const Onnx__GraphProto *gr, const char *name, int depth) {
    if (!gr || depth > 16)
        return depth > 16;
    for (size_t i = 0; i < gr->n_output; i++)
        if (gr->output[i] && !strcmp(S(gr->output[i]->name), name))
            return true;
    for (size_t i = 0; i < gr->n_node; i++) {
        const Onnx__NodeProto *n = gr->node[i];
        if (!n)
            continue;
        for (size_t j = 0; j < n->n_input; j++)
            if (!strcmp(S(n->input[j]), name))
                return true;
        for (size_t j = 0; j < n->n_attribute; j++) {
            const Onnx__AttributeProto *a = n->attribute[j];
            if (!a)
                continue;
            if (used(a->g, name, depth + 1))
                return true;
            for (size_t k = 0; k < a->n_graphs; k++)
                if (used(a->graphs[k], name, depth + 1))
                    return true;
        }
    }
    return false;
}

// The clipping threshold of |x| from its histogram (n bins over [0, amax]).
static double hist_percentile(const double *h, int n, double amax, double pct) {
    double tot = 0, cum = 0;
    for (int i = 0; i < n; i++)
        tot += h[i];
    for (int i = 0; i < n; i++) {
        cum += h[i];
        if (cum >= tot * pct / 100.0)
            return amax * (i + 1) / n;
    }
    return amax;
}

// Entropy calibration: the threshold (a bin edge) whose clipped histogram, quantized
// to 128 levels and expanded back, is closest to the clipped one in KL divergence.
static double hist_entropy(const double *h, int n, double amax) {
    const int L = 128;
    if (n <= L)
        return amax;
    double *ref = malloc((size_t)n * sizeof *ref), *qd = malloc((size_t)n * sizeof *qd);
    if (!ref || !qd) {
        free(ref);
        free(qd);
        return amax;
    }
    double best = INFINITY;
    int best_i = n;
    for (int i = L; i <= n; i++) {
        double outl = 0;
        for (int j = i; j < n; j++)
            outl += h[j];
        memcpy(ref, h, (size_t)i * sizeof *ref);
        ref[i - 1] += outl;
        // merge h[0:i] into L levels, spread each level over its nonzero bins
        for (int l = 0; l < L; l++) {
            int a = (int)((int64_t)l * i / L), b = (int)((int64_t)(l + 1) * i / L);
            double sum = 0;
            int nz = 0;
            for (int j = a; j < b; j++) {
                sum += h[j];
                nz += h[j] != 0;
            }
            for (int j = a; j < b; j++)
                qd[j] = h[j] != 0 ? sum / nz : 0;
        }
        double sr = 0, sq = 0;
        for (int j = 0; j < i; j++) {
            sr += ref[j];
            sq += qd[j];
        }
        if (!(sr > 0) || !(sq > 0))
            continue;
        double kl = 0;
        for (int j = 0; j < i; j++) {
            double pr = ref[j] / sr, pq = qd[j] / sq;
            if (pr > 0)
                kl += pq > 0 ? pr * log(pr / pq) : pr * 30.0; // a missing level: heavily penalised
        }
        if (kl < best) {
            best = kl;
            best_i = i;
        }
    }
    free(ref);
    free(qd);
    return amax * best_i / n;
}

static kv_status load_ranges(qctx *q) {
    json_error_t je;
    json_t *root = json_load_file(q->o->calib_table, 0, &je);
    if (!root)
        return KV_FAIL(q->err, KV_ERR_FORMAT, "%s: invalid JSON: %s at line %d, column %d",
                       q->o->calib_table, je.text, je.line, je.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return KV_FAIL(q->err, KV_ERR_FORMAT,
                       "%s: a calibration table is an object {tensor: [min, max]}",
                       q->o->calib_table);
    }
    size_t n = json_object_size(root);
    q->ranges = calloc(n ? n : 1, sizeof *q->ranges);
    if (!q->ranges) {
        json_decref(root);
        return KV_FAIL(q->err, KV_ERR_NOMEM, "out of memory");
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        double lo, hi;
        json_t *hist = NULL;
        if (json_is_array(v) && json_array_size(v) == 2 && json_is_number(json_array_get(v, 0)) &&
            json_is_number(json_array_get(v, 1))) {
            lo = json_number_value(json_array_get(v, 0));
            hi = json_number_value(json_array_get(v, 1));
        } else if (json_is_object(v) && json_is_number(json_object_get(v, "min")) &&
                   json_is_number(json_object_get(v, "max"))) {
            lo = json_number_value(json_object_get(v, "min"));
            hi = json_number_value(json_object_get(v, "max"));
            hist = json_object_get(v, "abs_hist");
            if (hist && (!json_is_array(hist) || json_array_size(hist) < 1 ||
                         json_array_size(hist) > 65536)) {
                kv_status s = KV_FAIL(q->err, KV_ERR_FORMAT,
                                      "%s: '%s': abs_hist is not an array of 1 to 65536 counts",
                                      q->o->calib_table, k);
                json_decref(root);
                return s;
            }
        } else {
            kv_status s = KV_FAIL(q->err, KV_ERR_FORMAT,
                                  "%s: '%s': expected [min, max] or {\"min\", \"max\", "
                                  "\"abs_hist\"}", q->o->calib_table, k);
            json_decref(root);
            return s;
        }
        if (q->o->method != KV_ONNX_CALIB_MINMAX && !hist) {
            kv_status s = KV_FAIL(q->err, KV_ERR_FORMAT,
                                  "%s: '%s': the %s method needs a histogram (abs_hist)",
                                  q->o->calib_table, k,
                                  q->o->method == KV_ONNX_CALIB_ENTROPY ? "entropy" : "percentile");
            json_decref(root);
            return s;
        }
        if (hist && q->o->method != KV_ONNX_CALIB_MINMAX && isfinite(lo) && isfinite(hi)) {
            int nb = (int)json_array_size(hist);
            double *h = malloc((size_t)nb * sizeof *h);
            if (!h) {
                json_decref(root);
                return KV_FAIL(q->err, KV_ERR_NOMEM, "out of memory");
            }
            for (int i = 0; i < nb; i++) {
                double c = json_number_value(json_array_get(hist, (size_t)i));
                h[i] = c > 0 && isfinite(c) ? c : 0;
            }
            double amax = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
            double t = q->o->method == KV_ONNX_CALIB_ENTROPY
                           ? hist_entropy(h, nb, amax)
                           : hist_percentile(h, nb, amax,
                                             q->o->percentile > 0 ? q->o->percentile : 99.99);
            free(h);
            lo = lo < -t ? -t : lo;
            hi = hi > t ? t : hi;
        }
        range *r = &q->ranges[q->n_ranges++];
        r->name = kv__ox_str(&q->g, "%s", k);
        r->lo = (float)lo;
        r->hi = (float)hi;
        if (!(r->lo <= r->hi) || !isfinite(r->lo) || !isfinite(r->hi)) {
            kv_status s = KV_FAIL(q->err, KV_ERR_FORMAT, "%s: '%s': min %g over max %g or not "
                                  "finite", q->o->calib_table, k, (double)r->lo, (double)r->hi);
            json_decref(root);
            return s;
        }
    }
    json_decref(root);
    return q->g.oom ? KV_FAIL(q->err, KV_ERR_NOMEM, "out of memory") : KV_OK;
}

void kv_onnx_quant_report_free(kv_onnx_quant_report *r) {
    if (r)
        free(r->entries);
    free(r);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

kv_status kv_onnx_quantize(const char *in_path, const char *out_path,
                           const kv_onnx_quant_opts *o, kv_onnx_quant_report **report,
                           kv_err *err) {
    if (report)
        *report = NULL;
    if (o->mode == KV_ONNXQ_INT4 && o->block && o->block != 32 && o->block != 64 &&
        o->block != 128)
        return KV_FAIL(err, KV_ERR_INVALID, "block size %d: use 32, 64 or 128", o->block);
    if (o->mode == KV_ONNXQ_STATIC && !o->calib_table)
        return KV_FAIL(err, KV_ERR_INVALID, "static quantization needs a calibration table");
    // validation first (size cap, nesting depth, a decodable ModelProto)
    kv_onnx_info *info = NULL;
    kv_status s = kv_onnx_info_load(in_path, &info, err);
    if (s != KV_OK)
        return s;
    bool had_external = info->n_externals > 0;
    kv_onnx_info_free(info);
    char *data = NULL;
    size_t size = 0;
    s = kv_read_file(in_path, KV_ONNX_MAX_FILE, &data, &size, err);
    if (s != KV_OK)
        return s;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, (const uint8_t *)data);
    free(data);
    if (!m)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: not a valid ONNX model", in_path);
    if (!m->graph) {
        onnx__model_proto__free_unpacked(m, NULL);
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: the model has no graph", in_path);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", in_path);
    char *sl = strrchr(dir, '/');
    if (sl)
        *sl = '\0';
    else
        snprintf(dir, sizeof dir, ".");

    qctx q = {.o = o, .m = m, .gr = m->graph, .dir = dir, .err = err, .st = KV_OK};
    q.rep = calloc(1, sizeof *q.rep);
    q.opset = 1;
    for (size_t i = 0; i < m->n_opset_import; i++)
        if (m->opset_import[i] && (!m->opset_import[i]->domain || !*m->opset_import[i]->domain ||
                                   !strcmp(m->opset_import[i]->domain, "ai.onnx")))
            q.opset = m->opset_import[i]->version;
    kv_out data_out = {0};
    char data_path[4096];
    snprintf(data_path, sizeof data_path, "%s.data", out_path);
    const char *data_name = NULL;
    Onnx__GraphProto *gr = m->graph;
    Onnx__NodeProto **old_nodes = gr->node;
    size_t old_n_nodes = gr->n_node;
    Onnx__TensorProto **old_inits = gr->initializer;
    size_t old_n_inits = gr->n_initializer;
    Onnx__ValueInfoProto **old_outputs = gr->output;
    size_t old_n_outputs = gr->n_output;
    Onnx__ValueInfoProto **old_inputs = gr->input, **new_inputs = NULL;
    size_t old_n_inputs = gr->n_input;
    Onnx__OperatorSetIdProto **old_ops = m->opset_import;
    size_t old_n_ops = m->n_opset_import;
    uint8_t *buf = NULL;
    size_t bsize = 0;
    if (!q.rep) {
        s = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (o->calib_table && (s = load_ranges(&q)) != KV_OK)
        goto out;
    if (had_external) {
        if ((s = kv_out_open(&data_out, data_path, err)) != KV_OK)
            goto out;
        data_name = base_name(data_path);
        q.g.data = &data_out;
        q.g.data_name = data_name;
        q.g.err = err;
        q.rep->external = true;
    }
    for (size_t i = 0; i < gr->n_node && q.st == KV_OK && !q.g.io_failed; i++) {
        Onnx__NodeProto *n = gr->node[i];
        bool dflt = n && (!n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx"));
        if (dflt && (!strcmp(S(n->op_type), "MatMul") || !strcmp(S(n->op_type), "Gemm")))
            one(&q, n);
        else
            push_node(&q, n);
    }
    if (q.st != KV_OK) {
        s = q.st;
        goto out;
    }
    // the new node list, then the initializers: the quantized weights' float
    // originals go when nothing reads them any more; external ones are rewritten
    gr->node = q.g.nodes;
    gr->n_node = q.g.n_nodes;
    for (size_t i = 0; i < q.n_folded; i++) {
        if (used(gr, q.folded[i]->output[0], 0))
            continue;
        size_t k = 0;
        for (size_t j = 0; j < gr->n_node; j++)
            if (gr->node[j] != q.folded[i])
                gr->node[k++] = gr->node[j];
        gr->n_node = q.g.n_nodes = k;
    }
    size_t n_new = q.g.n_inits; // the initializers made so far are the new ones
    for (size_t i = 0; i < old_n_inits && !q.g.oom && !q.g.io_failed; i++) {
        Onnx__TensorProto *t = old_inits[i];
        if (!t)
            continue;
        bool gone = false;
        for (size_t j = 0; j < q.n_touched && !gone; j++)
            gone = !strcmp(q.touched[j], S(t->name)) && !used(gr, q.touched[j], 0);
        if (gone) {
            for (size_t j = 0; j < gr->n_input; j++)
                if (gr->input[j] && !strcmp(S(gr->input[j]->name), S(t->name))) {
                    if (!new_inputs) {
                        new_inputs = kv__ox_alloc(&q.g, (gr->n_input ? gr->n_input : 1) *
                                                            sizeof *new_inputs);
                        if (!new_inputs)
                            break;
                        memcpy(new_inputs, gr->input, gr->n_input * sizeof *new_inputs);
                        gr->input = new_inputs;
                    }
                    memmove(&gr->input[j], &gr->input[j + 1],
                            (gr->n_input - j - 1) * sizeof *gr->input);
                    gr->n_input--;
                    break;
                }
            continue;
        }
        if (is_external(t)) {
            size_t cnt, bits = 0;
            switch (t->data_type) {
            case DT_FLOAT: case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
            case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: bits = 32; break;
            case DT_INT8: case DT_UINT8: case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: bits = 8; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
            case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: bits = 64; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16:
            case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
                bits = 16; break;
            default: break;
            }
            if (!bits || !numel(t, &cnt)) {
                s = KV_FAIL(err, KV_ERR_UNSUPPORTED,
                            "external initializer '%s' (%s) cannot be copied", S(t->name),
                            dtype_name(t->data_type));
                goto out;
            }
            size_t bytes = cnt * bits / 8;
            void *b = malloc(bytes ? bytes : 1);
            if (!b) {
                s = KV_FAIL(err, KV_ERR_NOMEM, "out of memory copying '%s'", S(t->name));
                goto out;
            }
            if ((s = read_external(&q, t, bytes, b)) != KV_OK) {
                free(b);
                goto out;
            }
            int64_t *dims = t->dims;
            kv__ox_init(&q.g, S(t->name), t->data_type, (int)t->n_dims, dims, b, bytes);
            free(b);
        } else {
            if (!grow((void **)&q.g.inits, &q.g.cap_inits, q.g.n_inits, sizeof *q.g.inits))
                q.g.oom = true;
            else
                q.g.inits[q.g.n_inits++] = t;
        }
    }
    if (q.g.io_failed) {
        s = KV_ERR_IO;
        goto out;
    }
    gr->initializer = q.g.inits;
    gr->n_initializer = q.g.n_inits;
    // IR < 4: every initializer is also a graph input
    if (m->has_ir_version && m->ir_version < 4 && n_new) {
        for (size_t i = 0; i < n_new; i++) {
            const Onnx__TensorProto *t = q.g.inits[i];
            kv__ox_dim d[4] = {{0}};
            for (size_t j = 0; j < t->n_dims && j < 4; j++)
                d[j].v = t->dims[j];
            kv__ox_input(&q.g, t->name, t->data_type, (int)t->n_dims, d);
        }
        Onnx__ValueInfoProto **ins =
            kv__ox_alloc(&q.g, (gr->n_input + q.g.n_inputs) * sizeof *ins);
        if (ins && !q.g.oom) {
            if (gr->n_input)
                memcpy(ins, gr->input, gr->n_input * sizeof *ins);
            memcpy(ins + gr->n_input, q.g.inputs, q.g.n_inputs * sizeof *ins);
            gr->input = ins;
            gr->n_input += q.g.n_inputs;
        }
    }
    if (q.use_ms) {
        bool have = false;
        for (size_t i = 0; i < old_n_ops; i++)
            have |= old_ops[i] && !strcmp(S(old_ops[i]->domain), "com.microsoft");
        if (!have) {
            Onnx__OperatorSetIdProto **ops = kv__ox_alloc(&q.g, (old_n_ops + 1) * sizeof *ops);
            Onnx__OperatorSetIdProto *ms = kv__ox_alloc(&q.g, sizeof *ms);
            if (ops && ms) {
                Onnx__OperatorSetIdProto init_op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
                *ms = init_op;
                ms->domain = kv__ox_str(&q.g, "com.microsoft");
                ms->has_version = 1;
                ms->version = 1;
                if (old_n_ops)
                    memcpy(ops, old_ops, old_n_ops * sizeof *ops);
                ops[old_n_ops] = ms;
                m->opset_import = ops;
                m->n_opset_import = old_n_ops + 1;
            }
        }
    }
    if (q.g.n_outputs) {
        Onnx__ValueInfoProto **outs =
            kv__ox_alloc(&q.g, (old_n_outputs + q.g.n_outputs) * sizeof *outs);
        if (outs) {
            if (old_n_outputs)
                memcpy(outs, old_outputs, old_n_outputs * sizeof *outs);
            memcpy(outs + old_n_outputs, q.g.outputs, q.g.n_outputs * sizeof *outs);
            gr->output = outs;
            gr->n_output = old_n_outputs + q.g.n_outputs;
        }
    }
    if (q.g.oom) {
        s = KV_FAIL(err, KV_ERR_NOMEM, "out of memory building the quantized graph");
        goto out;
    }
    bsize = protobuf_c_message_get_packed_size(&m->base);
    if (bsize > ((size_t)2 << 30) - 1) {
        s = KV_FAIL(err, KV_ERR_LIMIT, "%s: the quantized graph is %zu bytes, over protobuf's "
                    "2 GiB (the input keeps its weights inside the file)", out_path, bsize);
        goto out;
    }
    buf = malloc(bsize ? bsize : 1);
    if (!buf) {
        s = KV_FAIL(err, KV_ERR_NOMEM, "out of memory packing the model");
        goto out;
    }
    bsize = protobuf_c_message_pack(&m->base, buf);
    kv_out mo = {0};
    if ((s = kv_out_open(&mo, out_path, err)) != KV_OK)
        goto out;
    s = kv_out_write(&mo, buf, bsize, err);
    if (s == KV_OK && q.g.data)
        s = kv_out_commit(&data_out, err);
    s = s == KV_OK ? kv_out_commit(&mo, err) : (kv_out_abort(&mo), s);
out:
    if (q.g.data)
        kv_out_abort(&data_out);
    free(buf);
    gr->node = old_nodes;
    gr->n_node = old_n_nodes;
    gr->initializer = old_inits;
    gr->n_initializer = old_n_inits;
    m->opset_import = old_ops;
    m->n_opset_import = old_n_ops;
    gr->input = old_inputs;
    gr->n_input = old_n_inputs;
    gr->output = old_outputs;
    gr->n_output = old_n_outputs;
    onnx__model_proto__free_unpacked(m, NULL);
    kv__ox_free(&q.g);
    free(q.touched);
    free(q.folded);
    free(q.act_from);
    free(q.act_to);
    free(q.ranges);
    if (s == KV_OK && report)
        *report = q.rep;
    else
        kv_onnx_quant_report_free(q.rep);
    return s;
}
