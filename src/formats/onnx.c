// ONNX model files: a serialized onnx.ModelProto, unpacked with protobuf-c (code
// generated from Debian's /usr/include/onnx/onnx.proto) and summarised into a
// plain kv_onnx_info: what kvant info shows. Hostile input: the file size is
// capped, the message nesting is bounded on the wire before unpacking, every
// string protobuf-c may leave NULL is read through kv__onnx_s, sizes saturate.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kvant/kv_core.h"
#include "onnx_int.h"

// ---- data types ----

static const char *const DTYPE[] = {
    "undefined", "float",  "uint8",     "int8",       "uint16",   "int16",
    "int32",     "int64",  "string",    "bool",       "float16",  "double",
    "uint32",    "uint64", "complex64", "complex128", "bfloat16", "float8e4m3fn",
    "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4", "int4"};
// bits per element (0: strings or undefined)
static const int DBITS[] = {0, 32, 8, 8, 16, 16, 32, 64, 0, 8, 16, 64,
                            32, 64, 64, 128, 16, 8, 8, 8, 8, 4, 4};
#define N_DTYPE ((int)(sizeof DTYPE / sizeof DTYPE[0]))

static void dtype_name(char *buf, size_t cap, int32_t t) {
    if (t >= 0 && t < N_DTYPE)
        snprintf(buf, cap, "%s", DTYPE[t]);
    else
        snprintf(buf, cap, "dtype%d", (int)t);
}

static uint64_t sat_mul(uint64_t a, uint64_t b) {
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}
static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

// ---- building the summary ----

static char *dup(const char *s) { return kv__onnx_dup(kv__onnx_s(s)); }

static void type_str(char *buf, size_t cap, const Onnx__TypeProto *t, int depth) {
    char a[64], b[96];
    if (!t || depth > 8) {
        snprintf(buf, cap, "?");
        return;
    }
    switch (t->value_case) {
    case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE:
        dtype_name(buf, cap, t->tensor_type ? t->tensor_type->elem_type : 0);
        return;
    case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE:
        dtype_name(a, sizeof a, t->sparse_tensor_type ? t->sparse_tensor_type->elem_type : 0);
        snprintf(buf, cap, "sparse(%s)", a);
        return;
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
        type_str(b, sizeof b, t->sequence_type ? t->sequence_type->elem_type : NULL, depth + 1);
        snprintf(buf, cap, "seq(%s)", b);
        return;
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE:
        type_str(b, sizeof b, t->optional_type ? t->optional_type->elem_type : NULL, depth + 1);
        snprintf(buf, cap, "optional(%s)", b);
        return;
    case ONNX__TYPE_PROTO__VALUE_MAP_TYPE:
        dtype_name(a, sizeof a, t->map_type ? t->map_type->key_type : 0);
        type_str(b, sizeof b, t->map_type ? t->map_type->value_type : NULL, depth + 1);
        snprintf(buf, cap, "map(%s,%s)", a, b);
        return;
    default: snprintf(buf, cap, "?"); return;
    }
}

static bool fill_value(kv_onnx_value *v, const Onnx__ValueInfoProto *vi) {
    char t[256];
    type_str(t, sizeof t, vi->type, 0);
    v->name = dup(vi->name);
    v->type = kv__onnx_dup(t);
    v->n_dims = -1;
    if (!v->name || !v->type)
        return false;
    const Onnx__TensorShapeProto *sh = NULL;
    if (vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
        vi->type->tensor_type)
        sh = vi->type->tensor_type->shape;
    if (!sh || sh->n_dim > 4096)
        return true;
    v->dims = calloc(sh->n_dim ? sh->n_dim : 1, sizeof *v->dims);
    if (!v->dims)
        return false;
    v->n_dims = (int)sh->n_dim;
    for (size_t d = 0; d < sh->n_dim; d++) {
        const Onnx__TensorShapeProto__Dimension *dm = sh->dim[d];
        if (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            v->dims[d].value = dm->dim_value;
        else if (!(v->dims[d].param = kv__onnx_dup(
                       dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                           ? kv__onnx_s(dm->dim_param)
                           : "?")))
            return false;
    }
    return true;
}

static bool fill_values(kv_onnx_value **out, int *n, Onnx__ValueInfoProto **vi, size_t cnt) {
    if (cnt > (size_t)INT32_MAX)
        return false;
    *out = calloc(cnt ? cnt : 1, sizeof **out);
    if (!*out)
        return false;
    for (size_t i = 0; i < cnt; i++) {
        (*n)++; // counted first, so a half-filled entry is freed too
        if (!fill_value(&(*out)[i], vi[i]))
            return false;
    }
    return true;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool fill_ops(kv_onnx_info *info, const Onnx__GraphProto *g) {
    if (!g->n_node)
        return true;
    char **keys = calloc(g->n_node, sizeof *keys);
    info->ops = calloc(g->n_node, sizeof *info->ops);
    bool ok = keys && info->ops;
    size_t n = 0;
    for (; ok && n < g->n_node; n++) {
        const Onnx__NodeProto *nd = g->node[n];
        const char *dom = kv__onnx_s(nd->domain), *op = kv__onnx_s(nd->op_type);
        if (!strcmp(dom, "ai.onnx"))
            dom = "";
        size_t len = strlen(dom) + strlen(op) + 2;
        if (!(keys[n] = malloc(len)))
            ok = false;
        else
            snprintf(keys[n], len, "%s:%s", dom, op);
    }
    if (ok) {
        qsort(keys, n, sizeof *keys, cmp_str);
        for (size_t i = 0; i < n; i++) {
            if (info->n_ops && !strcmp(info->ops[info->n_ops - 1].op, keys[i])) {
                info->ops[info->n_ops - 1].count++;
                free(keys[i]);
            } else {
                info->ops[info->n_ops].op = keys[i];
                info->ops[info->n_ops++].count = 1;
            }
            keys[i] = NULL;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(keys ? keys[i] : NULL);
    free(keys);
    return ok;
}

static const char *ext_key(const Onnx__TensorProto *t, const char *key) {
    for (size_t i = 0; i < t->n_external_data; i++)
        if (!strcmp(kv__onnx_s(t->external_data[i]->key), key))
            return kv__onnx_s(t->external_data[i]->value);
    return NULL;
}

// Bytes a tensor's data takes.
static uint64_t tensor_bytes(const Onnx__TensorProto *t, bool external) {
    const char *len = external ? ext_key(t, "length") : NULL;
    if (len && *len)
        return strtoull(len, NULL, 10);
    if (!external && t->has_raw_data)
        return t->raw_data.len;
    if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__STRING) {
        uint64_t b = 0;
        for (size_t i = 0; i < t->n_string_data; i++)
            b = sat_add(b, t->string_data[i].len);
        return b;
    }
    uint64_t n = 1;
    for (size_t d = 0; d < t->n_dims; d++)
        n = sat_mul(n, t->dims[d] < 0 ? 0 : (uint64_t)t->dims[d]);
    int bits = t->data_type >= 0 && t->data_type < N_DTYPE ? DBITS[t->data_type] : 0;
    return n == UINT64_MAX ? n : (sat_mul(n, (uint64_t)bits) + 7) / 8;
}

static bool add_external(kv_onnx_info *info, const Onnx__TensorProto *t, uint64_t bytes) {
    const char *loc = ext_key(t, "location");
    if (!loc || !*loc)
        return kv__onnx_problem(info, "initializer '%s' is stored externally but names no location",
                                kv__onnx_s(t->name));
    if (loc[0] == '/' || strstr(loc, ".."))
        return kv__onnx_problem(info, "initializer '%s': external data location '%s' leaves the "
                                      "model's folder", kv__onnx_s(t->name), loc);
    const char *off = ext_key(t, "offset");
    uint64_t end = sat_add(off ? strtoull(off, NULL, 10) : 0, bytes);
    for (int i = 0; i < info->n_externals; i++) {
        kv_onnx_external *e = &info->externals[i];
        if (!strcmp(e->location, loc)) {
            e->n_tensors++;
            e->bytes = end > e->bytes ? end : e->bytes; // the extent the tensors need
            return true;
        }
    }
    kv_onnx_external *ne = realloc(info->externals, (size_t)(info->n_externals + 1) * sizeof *ne);
    if (!ne)
        return false;
    info->externals = ne;
    ne[info->n_externals] = (kv_onnx_external){kv__onnx_dup(loc), 1, end, -1};
    return ne[info->n_externals++].location != NULL;
}

static kv_onnx_dtype_stat *dtype_slot(kv_onnx_info *info, int32_t t) {
    char nm[32];
    dtype_name(nm, sizeof nm, t);
    for (int i = 0; i < info->n_dtypes; i++)
        if (!strcmp(info->dtypes[i].dtype, nm))
            return &info->dtypes[i];
    kv_onnx_dtype_stat *nd = realloc(info->dtypes, (size_t)(info->n_dtypes + 1) * sizeof *nd);
    if (!nd)
        return NULL;
    info->dtypes = nd;
    nd[info->n_dtypes] = (kv_onnx_dtype_stat){kv__onnx_dup(nm), 0, 0};
    return nd[info->n_dtypes].dtype ? &nd[info->n_dtypes++] : NULL;
}

static bool add_tensor(kv_onnx_info *info, const Onnx__TensorProto *t) {
    bool external = t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    uint64_t b = tensor_bytes(t, external);
    kv_onnx_dtype_stat *s = dtype_slot(info, t->data_type);
    if (!s)
        return false;
    s->count++;
    s->bytes = sat_add(s->bytes, b);
    info->n_initializers++;
    info->initializer_bytes = sat_add(info->initializer_bytes, b);
    return !external || add_external(info, t, b);
}

static int cmp_dtype(const void *a, const void *b) {
    return strcmp(((const kv_onnx_dtype_stat *)a)->dtype, ((const kv_onnx_dtype_stat *)b)->dtype);
}

static bool is_standard_domain(const char *d) {
    return !*d || !strcmp(d, "ai.onnx") || !strcmp(d, "ai.onnx.ml") ||
           !strcmp(d, "ai.onnx.training") || !strcmp(d, "ai.onnx.preview.training");
}

static bool add_custom_domain(kv_onnx_info *info, const char *d) {
    if (is_standard_domain(d))
        return true;
    for (int i = 0; i < info->n_custom_domains; i++)
        if (!strcmp(info->custom_domains[i], d))
            return true;
    char **nd = realloc(info->custom_domains, (size_t)(info->n_custom_domains + 1) * sizeof *nd);
    if (!nd)
        return false;
    info->custom_domains = nd;
    if (!(nd[info->n_custom_domains] = kv__onnx_dup(d)))
        return false;
    info->n_custom_domains++;
    return true;
}

static bool summarise(const Onnx__ModelProto *m, kv_onnx_info *info) {
    info->ir_version = m->ir_version;
    info->model_version = m->model_version;
    info->n_functions = (int64_t)m->n_functions;
    if (!(info->producer_name = dup(m->producer_name)) ||
        !(info->producer_version = dup(m->producer_version)) || !(info->domain = dup(m->domain)))
        return false;
    info->opsets = calloc(m->n_opset_import ? m->n_opset_import : 1, sizeof *info->opsets);
    if (!info->opsets)
        return false;
    for (size_t i = 0; i < m->n_opset_import; i++, info->n_opsets++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        info->opsets[i].version = o->version;
        if (!(info->opsets[i].domain = dup(o->domain)) ||
            !add_custom_domain(info, info->opsets[i].domain))
            return false;
    }
    const Onnx__GraphProto *g = m->graph;
    if (g) {
        if (!(info->graph_name = dup(g->name)) ||
            !fill_values(&info->inputs, &info->n_inputs, g->input, g->n_input) ||
            !fill_values(&info->outputs, &info->n_outputs, g->output, g->n_output) ||
            !fill_ops(info, g))
            return false;
        info->n_nodes = (int64_t)g->n_node;
        for (size_t i = 0; i < g->n_node; i++)
            if (!add_custom_domain(info, kv__onnx_s(g->node[i]->domain)))
                return false;
        for (size_t i = 0; i < g->n_initializer; i++)
            if (!add_tensor(info, g->initializer[i]))
                return false;
        for (size_t i = 0; i < g->n_sparse_initializer; i++) {
            const Onnx__SparseTensorProto *sp = g->sparse_initializer[i];
            if (sp->values && !add_tensor(info, sp->values))
                return false;
            if (sp->indices && !add_tensor(info, sp->indices))
                return false;
            if (sp->indices)
                info->n_initializers--; // values and indices are one sparse initializer
        }
        if (info->n_dtypes)
            qsort(info->dtypes, (size_t)info->n_dtypes, sizeof *info->dtypes, cmp_dtype);
    } else if (!(info->graph_name = kv__onnx_dup(""))) {
        return false;
    }
    return kv__onnx_check_graph(m, info);
}

// ---- public API ----

void kv_onnx_info_free(kv_onnx_info *info) {
    if (!info)
        return;
    free(info->producer_name);
    free(info->producer_version);
    free(info->domain);
    free(info->graph_name);
    for (int i = 0; i < info->n_opsets; i++)
        free(info->opsets[i].domain);
    free(info->opsets);
    kv_onnx_value *vals[2] = {info->inputs, info->outputs};
    int nv[2] = {info->n_inputs, info->n_outputs};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; vals[k] && i < nv[k]; i++) {
            free(vals[k][i].name);
            free(vals[k][i].type);
            for (int d = 0; vals[k][i].dims && d < vals[k][i].n_dims; d++)
                free(vals[k][i].dims[d].param);
            free(vals[k][i].dims);
        }
        free(vals[k]);
    }
    for (int i = 0; i < info->n_ops; i++)
        free(info->ops[i].op);
    free(info->ops);
    for (int i = 0; i < info->n_dtypes; i++)
        free(info->dtypes[i].dtype);
    free(info->dtypes);
    for (int i = 0; i < info->n_externals; i++)
        free(info->externals[i].location);
    free(info->externals);
    for (int i = 0; i < info->n_custom_domains; i++)
        free(info->custom_domains[i]);
    free(info->custom_domains);
    for (int i = 0; i < info->n_problems; i++)
        free(info->problems[i]);
    free(info->problems);
    free(info);
}

kv_status kv_onnx_info_parse(const void *data, size_t size, const char *name,
                             kv_onnx_info **out, kv_err *err) {
    *out = NULL;
    if (size == 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: empty file, not an ONNX model", name);
    if (size > KV_ONNX_MAX_FILE)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: %zu bytes, over the limit of %zu for an ONNX model",
                       name, size, KV_ONNX_MAX_FILE);
    if (!kv__onnx_depth_ok(data, size, &onnx__model_proto__descriptor, KV_ONNX_MAX_DEPTH))
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: messages nested deeper than %d levels", name,
                       KV_ONNX_MAX_DEPTH);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, data);
    if (!m)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: not a valid ONNX model (the protobuf ModelProto does not decode: "
                       "truncated or another format)", name);
    kv_onnx_info *info = calloc(1, sizeof *info);
    kv_status s = KV_OK;
    if (!info || !summarise(m, info)) {
        kv_onnx_info_free(info);
        info = NULL;
        s = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", name);
    } else if (!m->has_ir_version && !m->graph && m->n_opset_import == 0) {
        // every field is optional, so random bytes can decode: ask for a graph or a version
        kv_onnx_info_free(info);
        info = NULL;
        s = KV_FAIL(err, KV_ERR_FORMAT, "%s: not an ONNX model (no ir_version, opset or graph)",
                    name);
    }
    onnx__model_proto__free_unpacked(m, NULL);
    *out = info;
    return s;
}

kv_status kv_onnx_info_load(const char *path, kv_onnx_info **out, kv_err *err) {
    *out = NULL;
    kv_map map;
    kv_status s = kv_map_open(path, &map, err);
    if (s != KV_OK)
        return s;
    s = kv_onnx_info_parse(map.data, map.size, path, out, err);
    kv_map_close(&map);
    if (s != KV_OK)
        return s;
    kv_onnx_info *info = *out;
    char *copy = kv__onnx_dup(path);
    if (!copy) {
        kv_onnx_info_free(info);
        *out = NULL;
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    }
    char *slash = strrchr(copy, '/');
    const char *dir = slash ? copy : ".";
    if (slash)
        *slash = '\0';
    for (int i = 0; i < info->n_externals; i++) {
        kv_onnx_external *e = &info->externals[i];
        size_t len = strlen(dir) + strlen(e->location) + 2;
        char *p = malloc(len);
        struct stat sb;
        bool ok = true;
        if (!p)
            ok = false;
        else if (snprintf(p, len, "%s/%s", dir, e->location), stat(p, &sb) != 0 ||
                 !S_ISREG(sb.st_mode))
            ok = kv__onnx_problem(info, "external data file '%s' (for %lld tensors) is missing",
                                  p, (long long)e->n_tensors);
        else if ((e->file_bytes = (int64_t)sb.st_size), (uint64_t)sb.st_size < e->bytes)
            ok = kv__onnx_problem(info, "external data file '%s' has %lld bytes; its tensors "
                                        "need %llu", p, (long long)sb.st_size,
                                  (unsigned long long)e->bytes);
        free(p);
        if (!ok) {
            free(copy);
            kv_onnx_info_free(info);
            *out = NULL;
            return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
        }
    }
    free(copy);
    return KV_OK;
}
