// The ONNX graph builder: protobuf-c messages made from pieces that are all kept
// in one list (kv__ox_free frees them at once), initializers streamed into the
// external data file as they are made, and the final ModelProto packed.
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_export_int.h"

void *kv__ox_alloc(kv__ox *g, size_t n) {
    if (g->oom)
        return NULL;
    if (g->n_ptrs == g->cap_ptrs) {
        size_t cap = g->cap_ptrs ? 2 * g->cap_ptrs : 1024;
        void **p = realloc(g->ptrs, cap * sizeof *p);
        if (!p) {
            g->oom = true;
            return NULL;
        }
        g->ptrs = p;
        g->cap_ptrs = cap;
    }
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        g->oom = true;
        return NULL;
    }
    g->ptrs[g->n_ptrs++] = p;
    return p;
}

char *kv__ox_str(kv__ox *g, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = kv__ox_alloc(g, (size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void kv__ox_free(kv__ox *g) {
    for (size_t i = 0; i < g->n_ptrs; i++)
        free(g->ptrs[i]);
    free(g->ptrs);
    free(g->nodes);
    free(g->inits);
    free(g->inputs);
    free(g->outputs);
    g->ptrs = NULL;
    g->nodes = NULL;
    g->inits = NULL;
    g->inputs = g->outputs = NULL;
}

// Appends p to a growing array of pointers.
static void push(kv__ox *g, void ***arr, size_t *n, size_t *cap, void *p) {
    if (g->oom || !p)
        return;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 256;
        void **a = realloc(*arr, c * sizeof *a);
        if (!a) {
            g->oom = true;
            return;
        }
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = p;
}

// A zeroed message of type T set to its INIT value.
static void *new_msg(kv__ox *g, size_t size, const void *init) {
    void *m = kv__ox_alloc(g, size);
    if (m)
        memcpy(m, init, size);
    return m;
}
#define NEW(g, T, INIT) ((T *)new_msg((g), sizeof(T), &(T)INIT))

Onnx__NodeProto *kv__ox_node(kv__ox *g, const char *domain, const char *op, int n_in,
                             const char *const *in, int n_out) {
    Onnx__NodeProto *n = NEW(g, Onnx__NodeProto, ONNX__NODE_PROTO__INIT);
    if (!n)
        return NULL;
    int64_t id = g->n_tmp++;
    n->op_type = kv__ox_str(g, "%s", op);
    n->name = kv__ox_str(g, "%s_%lld", op, (long long)id);
    if (domain && *domain)
        n->domain = kv__ox_str(g, "%s", domain);
    n->input = kv__ox_alloc(g, (size_t)(n_in ? n_in : 1) * sizeof(char *));
    n->output = kv__ox_alloc(g, (size_t)(n_out ? n_out : 1) * sizeof(char *));
    if (!n->input || !n->output)
        return NULL;
    for (int i = 0; i < n_in; i++)
        n->input[i] = kv__ox_str(g, "%s", in[i] ? in[i] : "");
    n->n_input = (size_t)n_in;
    for (int i = 0; i < n_out; i++)
        n->output[i] = kv__ox_str(g, "%s_%lld_out%d", op, (long long)id, i);
    n->n_output = (size_t)n_out;
    push(g, (void ***)&g->nodes, &g->n_nodes, &g->cap_nodes, n);
    return g->oom ? NULL : n;
}

const char *kv__ox_out(const Onnx__NodeProto *n, int i) {
    return n && (size_t)i < n->n_output && n->output[i] ? n->output[i] : "";
}

void kv__ox_rename_out(kv__ox *g, Onnx__NodeProto *n, int i, const char *name) {
    if (n && (size_t)i < n->n_output)
        n->output[i] = kv__ox_str(g, "%s", name);
}

static Onnx__AttributeProto *attr(kv__ox *g, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type) {
    if (!n)
        return NULL;
    Onnx__AttributeProto *a = NEW(g, Onnx__AttributeProto, ONNX__ATTRIBUTE_PROTO__INIT);
    if (!a)
        return NULL;
    a->name = kv__ox_str(g, "%s", name);
    a->has_type = 1;
    a->type = type;
    Onnx__AttributeProto **arr = kv__ox_alloc(g, (n->n_attribute + 1) * sizeof *arr);
    if (!arr)
        return NULL;
    if (n->n_attribute)
        memcpy(arr, n->attribute, n->n_attribute * sizeof *arr);
    arr[n->n_attribute++] = a;
    n->attribute = arr; // the old array stays in the list, freed at the end
    return a;
}

void kv__ox_attr_i(kv__ox *g, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = 1;
        a->i = v;
    }
}

void kv__ox_attr_f(kv__ox *g, Onnx__NodeProto *n, const char *name, float v) {
    Onnx__AttributeProto *a = attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) {
        a->has_f = 1;
        a->f = v;
    }
}

void kv__ox_attr_is(kv__ox *g, Onnx__NodeProto *n, const char *name, int n_v, const int64_t *v) {
    Onnx__AttributeProto *a = attr(g, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (!a)
        return;
    a->ints = kv__ox_alloc(g, (size_t)n_v * sizeof(int64_t));
    if (a->ints) {
        memcpy(a->ints, v, (size_t)n_v * sizeof(int64_t));
        a->n_ints = (size_t)n_v;
    }
}

static Onnx__StringStringEntryProto *entry(kv__ox *g, const char *k, const char *v) {
    Onnx__StringStringEntryProto *e =
        NEW(g, Onnx__StringStringEntryProto, ONNX__STRING_STRING_ENTRY_PROTO__INIT);
    if (e) {
        e->key = kv__ox_str(g, "%s", k);
        e->value = kv__ox_str(g, "%s", v);
    }
    return e;
}

// A new initializer named name of dtype and shape dims[0..n_dims) (none: a scalar), its data
// not yet set; NULL when out of memory.
static Onnx__TensorProto *new_tensor(kv__ox *g, const char *name, int32_t dtype, int n_dims,
                                     const int64_t *dims) {
    Onnx__TensorProto *t = NEW(g, Onnx__TensorProto, ONNX__TENSOR_PROTO__INIT);
    if (!t)
        return NULL;
    t->name = kv__ox_str(g, "%s", name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->dims = kv__ox_alloc(g, (size_t)(n_dims ? n_dims : 1) * sizeof(int64_t));
    if (!t->dims)
        return NULL;
    if (n_dims)
        memcpy(t->dims, dims, (size_t)n_dims * sizeof(int64_t));
    t->n_dims = (size_t)n_dims;
    return t;
}

const char *kv__ox_init(kv__ox *g, const char *name, int32_t dtype, int n_dims,
                        const int64_t *dims, const void *data, size_t bytes) {
    if (bytes > KV__OX_INLINE_MAX && g->data) {
        uint64_t off = 0;
        if (!kv__ox_ext_begin(g, &off) || !kv__ox_ext_write(g, data, bytes))
            return "";
        return kv__ox_ext_end(g, name, dtype, n_dims, dims, off);
    }
    Onnx__TensorProto *t = new_tensor(g, name, dtype, n_dims, dims);
    if (!t)
        return "";
    t->has_raw_data = 1;
    t->raw_data.data = kv__ox_alloc(g, bytes);
    if (!t->raw_data.data)
        return "";
    memcpy(t->raw_data.data, data, bytes);
    t->raw_data.len = bytes;
    push(g, (void ***)&g->inits, &g->n_inits, &g->cap_inits, t);
    return t->name ? t->name : "";
}

bool kv__ox_ext_begin(kv__ox *g, uint64_t *off) {
    if (g->io_failed || g->oom || !g->data)
        return false;
    if (kv_out_pad(g->data, KV__OX_DATA_ALIGN, g->err) != KV_OK) {
        g->io_failed = true;
        return false;
    }
    *off = g->data->written;
    return true;
}

bool kv__ox_ext_write(kv__ox *g, const void *p, size_t n) {
    if (g->io_failed || kv_out_write(g->data, p, n, g->err) != KV_OK) {
        g->io_failed = true;
        return false;
    }
    return true;
}

const char *kv__ox_ext_end(kv__ox *g, const char *name, int32_t dtype, int n_dims,
                           const int64_t *dims, uint64_t off) {
    if (g->io_failed)
        return "";
    Onnx__TensorProto *t = new_tensor(g, name, dtype, n_dims, dims);
    if (!t)
        return "";
    t->external_data = kv__ox_alloc(g, 3 * sizeof *t->external_data);
    if (!t->external_data)
        return "";
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    char so[32], sl[32];
    snprintf(so, sizeof so, "%llu", (unsigned long long)off);
    snprintf(sl, sizeof sl, "%llu", (unsigned long long)(g->data->written - off));
    t->external_data[0] = entry(g, "location", g->data_name);
    t->external_data[1] = entry(g, "offset", so);
    t->external_data[2] = entry(g, "length", sl);
    t->n_external_data = 3;
    push(g, (void ***)&g->inits, &g->n_inits, &g->cap_inits, t);
    return t->name && !g->oom ? t->name : "";
}

const char *kv__ox_const_i64(kv__ox *g, int n, const int64_t *v, bool scalar) {
    char *name = kv__ox_str(g, "const_i64_%lld", (long long)g->n_tmp++);
    int64_t d = n;
    return name ? kv__ox_init(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, scalar ? 0 : 1, &d, v,
                              (size_t)n * sizeof(int64_t))
                : "";
}

const char *kv__ox_const_f32(kv__ox *g, float v) {
    char *name = kv__ox_str(g, "const_f32_%lld", (long long)g->n_tmp++);
    return name ? kv__ox_init(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &v, sizeof v)
                : "";
}

static Onnx__ValueInfoProto *value_info(kv__ox *g, const char *name, int32_t dtype, int n_dims,
                                        const kv__ox_dim *dims) {
    Onnx__ValueInfoProto *vi = NEW(g, Onnx__ValueInfoProto, ONNX__VALUE_INFO_PROTO__INIT);
    Onnx__TypeProto *tp = NEW(g, Onnx__TypeProto, ONNX__TYPE_PROTO__INIT);
    Onnx__TypeProto__Tensor *tt = NEW(g, Onnx__TypeProto__Tensor, ONNX__TYPE_PROTO__TENSOR__INIT);
    Onnx__TensorShapeProto *sh = NEW(g, Onnx__TensorShapeProto, ONNX__TENSOR_SHAPE_PROTO__INIT);
    if (!vi || !tp || !tt || !sh)
        return NULL;
    vi->name = kv__ox_str(g, "%s", name);
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = dtype;
    tt->shape = sh;
    sh->dim = kv__ox_alloc(g, (size_t)(n_dims ? n_dims : 1) * sizeof *sh->dim);
    if (!sh->dim)
        return NULL;
    for (int i = 0; i < n_dims; i++) {
        Onnx__TensorShapeProto__Dimension *d =
            NEW(g, Onnx__TensorShapeProto__Dimension, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT);
        if (!d)
            return NULL;
        if (dims[i].param) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = kv__ox_str(g, "%s", dims[i].param);
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i].v;
        }
        sh->dim[i] = d;
    }
    sh->n_dim = (size_t)n_dims;
    return vi;
}

void kv__ox_input(kv__ox *g, const char *name, int32_t dtype, int n_dims, const kv__ox_dim *dims) {
    push(g, (void ***)&g->inputs, &g->n_inputs, &g->cap_inputs,
         value_info(g, name, dtype, n_dims, dims));
}

void kv__ox_output(kv__ox *g, const char *name, int32_t dtype, int n_dims,
                   const kv__ox_dim *dims) {
    push(g, (void ***)&g->outputs, &g->n_outputs, &g->cap_outputs,
         value_info(g, name, dtype, n_dims, dims));
}

kv_status kv__ox_pack(kv__ox *g, const char *graph_name, int64_t ir_version, int64_t opset,
                      int64_t ms_opset, const char *producer_version, uint8_t **out,
                      size_t *size, kv_err *err) {
    *out = NULL;
    *size = 0;
    Onnx__ModelProto *m = NEW(g, Onnx__ModelProto, ONNX__MODEL_PROTO__INIT);
    Onnx__GraphProto *gr = NEW(g, Onnx__GraphProto, ONNX__GRAPH_PROTO__INIT);
    Onnx__OperatorSetIdProto *o1 =
        NEW(g, Onnx__OperatorSetIdProto, ONNX__OPERATOR_SET_ID_PROTO__INIT);
    Onnx__OperatorSetIdProto *o2 =
        NEW(g, Onnx__OperatorSetIdProto, ONNX__OPERATOR_SET_ID_PROTO__INIT);
    Onnx__OperatorSetIdProto **ops = kv__ox_alloc(g, 2 * sizeof *ops);
    if (g->oom || !m || !gr || !o1 || !o2 || !ops)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory building the ONNX graph");
    o1->domain = kv__ox_str(g, "%s", "");
    o1->has_version = 1;
    o1->version = opset;
    o2->domain = kv__ox_str(g, "%s", "com.microsoft");
    o2->has_version = 1;
    o2->version = ms_opset;
    ops[0] = o1;
    ops[1] = o2;
    m->has_ir_version = 1;
    m->ir_version = ir_version;
    m->opset_import = ops;
    m->n_opset_import = 2;
    m->producer_name = kv__ox_str(g, "%s", "kvant");
    m->producer_version = kv__ox_str(g, "%s", producer_version);
    m->graph = gr;
    gr->name = kv__ox_str(g, "%s", graph_name);
    gr->node = g->nodes;
    gr->n_node = g->n_nodes;
    gr->initializer = g->inits;
    gr->n_initializer = g->n_inits;
    gr->input = g->inputs;
    gr->n_input = g->n_inputs;
    gr->output = g->outputs;
    gr->n_output = g->n_outputs;
    if (g->oom)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory building the ONNX graph");
    size_t n = protobuf_c_message_get_packed_size(&m->base);
    if (n > ((size_t)2 << 30) - 1)
        return KV_FAIL(err, KV_ERR_LIMIT, "the ONNX graph is %zu bytes, over protobuf's 2 GiB", n);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory packing the ONNX graph (%zu bytes)", n);
    *size = protobuf_c_message_pack(&m->base, buf);
    *out = buf;
    return KV_OK;
}
