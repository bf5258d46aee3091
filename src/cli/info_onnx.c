// kvant info for ONNX models: IR version, producer, opsets, graph inputs and
// outputs (types, shapes with symbolic dims by name), the op histogram,
// initializers by data type, external data files and validation problems.
// Problems are printed (stderr in text mode, "problems" in JSON) and fail the
// command: kvant info exits 1.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/info_int.h"
#include "kvant/kv_onnx.h"

static json_t *jstr(const char *s) {
    json_t *j = json_string(s);
    return j ? j : json_string("<not valid UTF-8>");
}

static json_t *value_json(const kv_onnx_value *v) {
    json_t *o = json_object();
    json_object_set_new(o, "name", jstr(v->name));
    json_object_set_new(o, "type", jstr(v->type));
    if (v->n_dims < 0) {
        json_object_set_new(o, "shape", json_null());
        return o;
    }
    json_t *a = json_array();
    for (int d = 0; d < v->n_dims; d++)
        json_array_append_new(a, v->dims[d].param ? jstr(v->dims[d].param)
                                                  : json_integer((json_int_t)v->dims[d].value));
    json_object_set_new(o, "shape", a);
    return o;
}

static void fill_json(const kv_onnx_info *m, json_t *root) {
    json_object_set_new(root, "format", json_string("onnx"));
    json_object_set_new(root, "ir_version", json_integer((json_int_t)m->ir_version));
    json_object_set_new(root, "producer_name", jstr(m->producer_name));
    json_object_set_new(root, "producer_version", jstr(m->producer_version));
    json_object_set_new(root, "domain", jstr(m->domain));
    json_object_set_new(root, "model_version", json_integer((json_int_t)m->model_version));
    json_object_set_new(root, "graph_name", jstr(m->graph_name));
    json_t *ops = json_object();
    for (int i = 0; i < m->n_opsets; i++)
        json_object_set_new(ops, m->opsets[i].domain,
                            json_integer((json_int_t)m->opsets[i].version));
    json_object_set_new(root, "opset_import", ops);
    json_t *in = json_array(), *out = json_array();
    for (int i = 0; i < m->n_inputs; i++)
        json_array_append_new(in, value_json(&m->inputs[i]));
    for (int i = 0; i < m->n_outputs; i++)
        json_array_append_new(out, value_json(&m->outputs[i]));
    json_object_set_new(root, "inputs", in);
    json_object_set_new(root, "outputs", out);
    json_object_set_new(root, "n_nodes", json_integer((json_int_t)m->n_nodes));
    json_object_set_new(root, "n_functions", json_integer((json_int_t)m->n_functions));
    json_t *h = json_object();
    for (int i = 0; i < m->n_ops; i++)
        json_object_set_new(h, m->ops[i].op, json_integer((json_int_t)m->ops[i].count));
    json_object_set_new(root, "ops", h);
    json_t *ini = json_object();
    for (int i = 0; i < m->n_dtypes; i++) {
        json_t *d = json_object();
        json_object_set_new(d, "count", json_integer((json_int_t)m->dtypes[i].count));
        json_object_set_new(d, "bytes", json_integer((json_int_t)m->dtypes[i].bytes));
        json_object_set_new(ini, m->dtypes[i].dtype, d);
    }
    json_t *it = json_object();
    json_object_set_new(it, "count", json_integer((json_int_t)m->n_initializers));
    json_object_set_new(it, "bytes", json_integer((json_int_t)m->initializer_bytes));
    json_object_set_new(it, "by_dtype", ini);
    json_object_set_new(root, "initializers", it);
    json_t *ex = json_array();
    for (int i = 0; i < m->n_externals; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "location", jstr(m->externals[i].location));
        json_object_set_new(e, "n_tensors", json_integer((json_int_t)m->externals[i].n_tensors));
        json_object_set_new(e, "bytes", json_integer((json_int_t)m->externals[i].bytes));
        json_object_set_new(e, "file_bytes", m->externals[i].file_bytes < 0 ? json_null()
                                : json_integer((json_int_t)m->externals[i].file_bytes));
        json_array_append_new(ex, e);
    }
    json_object_set_new(root, "external_data", ex);
    json_t *cd = json_array();
    for (int i = 0; i < m->n_custom_domains; i++)
        json_array_append_new(cd, jstr(m->custom_domains[i]));
    json_object_set_new(root, "custom_domains", cd);
    json_t *pr = json_array();
    for (int i = 0; i < m->n_problems; i++)
        json_array_append_new(pr, jstr(m->problems[i]));
    json_object_set_new(root, "problems", pr);
}

static void print_value(const char *what, const kv_onnx_value *v) {
    printf("  %-7s %-24s %-10s ", what, v->name, v->type);
    if (v->n_dims < 0) {
        printf("shape unknown\n");
        return;
    }
    printf("[");
    for (int d = 0; d < v->n_dims; d++) {
        if (v->dims[d].param)
            printf(d ? ", %s" : "%s", v->dims[d].param);
        else
            printf(d ? ", %lld" : "%lld", (long long)v->dims[d].value);
    }
    printf("]\n");
}

static void print_text(const char *path, const kv_onnx_info *m) {
    printf("file:         %s\nformat:       ONNX (IR version %lld)\n", path,
           (long long)m->ir_version);
    printf("producer:     %s %s\n", m->producer_name, m->producer_version);
    if (*m->domain || m->model_version)
        printf("model:        domain '%s', version %lld\n", m->domain, (long long)m->model_version);
    printf("opsets:      ");
    for (int i = 0; i < m->n_opsets; i++)
        printf(" %s:%lld", *m->opsets[i].domain ? m->opsets[i].domain : "ai.onnx",
               (long long)m->opsets[i].version);
    printf("%s\n", m->n_opsets ? "" : " none");
    printf("graph:        '%s', %lld nodes, %d inputs, %d outputs, %lld functions\n",
           m->graph_name, (long long)m->n_nodes, m->n_inputs, m->n_outputs,
           (long long)m->n_functions);
    for (int i = 0; i < m->n_inputs; i++)
        print_value("input", &m->inputs[i]);
    for (int i = 0; i < m->n_outputs; i++)
        print_value("output", &m->outputs[i]);
    printf("ops:\n");
    for (int i = 0; i < m->n_ops; i++)
        printf("  %-40s %lld\n", m->ops[i].op, (long long)m->ops[i].count);
    printf("initializers: %lld, %.2f MiB\n", (long long)m->n_initializers,
           (double)m->initializer_bytes / 1048576.0);
    for (int i = 0; i < m->n_dtypes; i++)
        printf("  %-12s %8lld tensors %14llu bytes\n", m->dtypes[i].dtype,
               (long long)m->dtypes[i].count, (unsigned long long)m->dtypes[i].bytes);
    for (int i = 0; i < m->n_externals; i++) {
        const kv_onnx_external *e = &m->externals[i];
        printf("external:     %s: %lld tensors, %llu bytes needed, ", e->location,
               (long long)e->n_tensors, (unsigned long long)e->bytes);
        if (e->file_bytes < 0)
            printf("missing\n");
        else
            printf("%lld bytes on disk\n", (long long)e->file_bytes);
    }
    if (m->n_custom_domains) {
        printf("custom domains:");
        for (int i = 0; i < m->n_custom_domains; i++)
            printf(" %s", m->custom_domains[i]);
        printf("\n");
    }
}

kv_status kv__info_onnx(const char *path, const kv__info_opts *o, json_t *root, kv_err *err) {
    kv_onnx_info *m = NULL;
    kv_status s = kv_onnx_info_load(path, &m, err);
    if (s != KV_OK)
        return s;
    if (o->json)
        fill_json(m, root);
    else
        print_text(path, m);
    if (m->n_problems) {
        // one line each on stderr; the first one is the command's error message
        for (int i = 1; i < m->n_problems; i++)
            fprintf(stderr, "kvant info: %s: %s\n", path, m->problems[i]);
        s = KV_FAIL(err, KV_ERR_FORMAT, "%s: %s%s", path, m->problems[0],
                    m->n_problems > 1 ? " (and the problems above)" : "");
    }
    kv_onnx_info_free(m);
    return s;
}
