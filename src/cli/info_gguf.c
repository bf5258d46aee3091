// kvant info for GGUF files: header, every key-value, tokenizer summary, tensor table,
// and what --repack auto would allocate for a kernel table.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/info_int.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_model.h"
#include "kvant/kv_types.h"

#define ARRAY_SHOW_MAX 16 // arrays longer than this are summarised, not listed

static json_t *json_str(kv_str s) {
    json_t *j = json_stringn(s.p, s.n);
    return j ? j : json_string("<not valid UTF-8>");
}

static json_t *scalar_json(const kv_gguf_val *v) {
    const uint8_t *d = v->data;
    int64_t i;
    switch (v->type) {
    case KV_GGUF_U8: return json_integer(d[0]);
    case KV_GGUF_I8: return json_integer((int8_t)d[0]);
    case KV_GGUF_U16: return json_integer(kv_le16(d));
    case KV_GGUF_I16: return json_integer((int16_t)kv_le16(d));
    case KV_GGUF_U32: return json_integer(kv_le32(d));
    case KV_GGUF_I32: return json_integer((int32_t)kv_le32(d));
    case KV_GGUF_U64: return json_integer((json_int_t)kv_le64(d));
    case KV_GGUF_I64: memcpy(&i, d, 8); return json_integer((json_int_t)i);
    case KV_GGUF_F32: {
        uint32_t u = kv_le32(d);
        float f;
        memcpy(&f, &u, 4);
        return json_real(f);
    }
    case KV_GGUF_F64: {
        uint64_t u = kv_le64(d);
        double f;
        memcpy(&f, &u, 8);
        return json_real(f);
    }
    case KV_GGUF_BOOL: return json_boolean(d[0] != 0);
    case KV_GGUF_STRING: return json_str(v->str);
    default: return json_null();
    }
}

static json_t *value_json(const kv_gguf *g, const kv_gguf_val *v, int depth) {
    if (v->type != KV_GGUF_ARRAY)
        return scalar_json(v);
    if (v->n > ARRAY_SHOW_MAX || depth > 2) {
        json_t *o = json_object();
        json_object_set_new(o, "array_type", json_string(kv_gguf_vtype_name(v->elem_type)));
        json_object_set_new(o, "count", json_integer((json_int_t)v->n));
        return o;
    }
    json_t *a = json_array();
    for (uint64_t j = 0; j < v->n; j++) {
        kv_gguf_val e;
        if (kv_gguf_arr_elem(g, v, j, &e, NULL) != KV_OK)
            break;
        json_array_append_new(a, value_json(g, &e, depth + 1));
    }
    return a;
}

// Text form of a value: JSON for scalars, a summary for long arrays and strings.
static void print_value(const kv_gguf *g, const kv_gguf_val *v) {
    if (v->type == KV_GGUF_STRING) {
        size_t n = v->str.n;
        int show = n > 72 ? 72 : (int)n;
        printf("\"");
        for (int i = 0; i < show; i++) {
            char c = v->str.p[i];
            putchar(c == '\n' ? ' ' : c);
        }
        printf(n > 72 ? "\"... (%zu bytes)" : "\"", n);
        return;
    }
    if (v->type == KV_GGUF_ARRAY && v->n > ARRAY_SHOW_MAX) {
        printf("[%s x %" PRIu64 "]", kv_gguf_vtype_name(v->elem_type), v->n);
        if (v->elem_type == KV_GGUF_STRING) {
            printf(" ");
            for (uint64_t j = 0; j < 4; j++) {
                kv_str s;
                if (kv_gguf_arr_str(g, v, j, &s, NULL) == KV_OK)
                    printf("%s'%.*s'", j ? ", " : "", (int)(s.n > 16 ? 16 : s.n), s.p);
            }
            printf(", ...");
        }
        return;
    }
    json_t *j = value_json(g, v, 0);
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(9));
    printf("%s", s ? s : "?");
    free(s);
    json_decref(j);
}

// The tokenizer model and pre-tokenizer (tokenizer.ggml.model and .pre) in a line.
static void tokenizer_line(const kv_gguf *g, const kv__info_opts *o, json_t *root) {
    kv_str model = {0}, pre = {0};
    kv_err err;
    if (kv_gguf_find(g, "tokenizer.ggml.model") < 0 ||
        kv_gguf_get_str(g, "tokenizer.ggml.model", &model, &err) != KV_OK)
        return;
    if (kv_gguf_find(g, "tokenizer.ggml.pre") < 0 ||
        kv_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &err) != KV_OK)
        pre = (kv_str){"default", 7};
    if (o->json) {
        json_t *t = json_object();
        json_object_set_new(t, "model", json_str(model));
        json_object_set_new(t, "pre", json_str(pre));
        json_object_set_new(root, "tokenizer", t);
        return;
    }
    printf("\ntokenizer:    %.*s, pre-tokenizer %.*s\n", (int)model.n, model.p, (int)pre.n, pre.p);
}

static void tensor_table(const kv_gguf *g, const kv__info_opts *o, json_t *root,
                         uint64_t *n_params, uint64_t *bytes) {
    json_t *arr = o->json && o->tensors ? json_array() : NULL;
    if (!o->json && o->tensors)
        printf("\n%-4s %-34s %-8s %-22s %12s\n", "#", "tensor", "type", "shape", "bytes");
    for (int64_t i = 0; i < kv_gguf_tensor_count(g); i++) {
        const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
        uint64_t ne = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            ne *= (uint64_t)t->ne[d];
        *n_params += ne;
        *bytes += t->size;
        char shape[96];
        kv__info_shape(shape, sizeof shape, (int)t->n_dims, t->ne);
        if (arr) {
            json_t *jt = json_object(), *js = json_array();
            json_object_set_new(jt, "name", json_str(t->name));
            json_object_set_new(jt, "type", json_string(kv_type_name(t->type)));
            for (uint32_t d = 0; d < t->n_dims; d++)
                json_array_append_new(js, json_integer(t->ne[d]));
            json_object_set_new(jt, "shape", js);
            json_object_set_new(jt, "offset", json_integer((json_int_t)t->offset));
            json_object_set_new(jt, "bytes", json_integer((json_int_t)t->size));
            json_array_append_new(arr, jt);
        } else if (o->tensors && !o->json) {
            printf("%-4lld %-34.*s %-8s %-22s %12zu\n", (long long)i, (int)t->name.n, t->name.p,
                   kv_type_name(t->type), shape, t->size);
        }
    }
    if (arr)
        json_object_set_new(root, "tensors", arr);
}

// The memory --repack auto costs on the kernel table this process uses (the
// CPU's, or --kernels'): the model is bound (weights mapped, nothing packed:
// the caller set KVANT_REPACK=off) and each matmul weight's packed size summed
// from its type and shape, as the loader's plan does. A file that does not
// load as a model says why instead.
static void repack_line(const char *path, const kv__info_opts *o, json_t *root) {
    kv_model *m = NULL;
    kv_err err = {0};
    json_t *j = o->json ? json_object() : NULL;
    if (kv_model_open(path, &m, &err) != KV_OK) {
        if (j)
            json_object_set_new(j, "error", json_string(err.msg));
        else
            printf("repack:       none (%s)\n", err.msg);
    } else {
        uint64_t bytes[KV_TYPE_COUNT];
        uint32_t n[KV_TYPE_COUNT];
        const uint64_t total = kv_model_repack_plan(m, bytes, n);
        const char *table = kv_model_kernels_name(m);
        json_t *types = j ? json_object() : NULL;
        if (!j)
            printf("repack:       %.2f MiB on the %s kernels with --repack auto", total / 1048576.0,
                   table);
        int k = 0;
        for (int t = 0; t < KV_TYPE_COUNT; t++) {
            if (!n[t])
                continue;
            if (types) {
                json_t *e = json_object();
                json_object_set_new(e, "tensors", json_integer(n[t]));
                json_object_set_new(e, "bytes", json_integer((json_int_t)bytes[t]));
                json_object_set_new(types, kv_type_name((uint32_t)t), e);
            } else {
                printf("%s%s: %u tensors, %.2f MiB", k++ ? "; " : " (", kv_type_name((uint32_t)t),
                       n[t], bytes[t] / 1048576.0);
            }
        }
        if (j) {
            json_object_set_new(j, "kernels", json_string(table));
            json_object_set_new(j, "bytes", json_integer((json_int_t)total));
            json_object_set_new(j, "types", types);
        } else {
            printf("%s, held beside the mapped file%s\n", k ? ")" : "",
                   total ? "; --repack off: none" : " (no packed layout for its types here)");
        }
    }
    if (j)
        json_object_set_new(root, "repack", j);
    kv_model_close(m);
}

kv_status kv__info_gguf(const char *path, const kv__info_opts *o, json_t *root, kv_err *err) {
    kv_gguf *g = NULL;
    kv_status st = kv_gguf_open(path, &g, err);
    if (st != KV_OK)
        return st;
    json_t *meta = o->json ? json_object() : NULL;
    if (o->json) {
        json_object_set_new(root, "format", json_string("gguf"));
        json_object_set_new(root, "path", json_string(path));
        json_object_set_new(root, "version", json_integer(kv_gguf_version(g)));
        json_object_set_new(root, "alignment", json_integer((json_int_t)kv_gguf_alignment(g)));
    } else {
        printf("file:         %s\n", path);
        printf("format:       GGUF v%u, %lld key-values, %lld tensors, alignment %zu\n",
               kv_gguf_version(g), (long long)kv_gguf_kv_count(g),
               (long long)kv_gguf_tensor_count(g), kv_gguf_alignment(g));
        printf("\nmetadata:\n");
    }
    for (int64_t i = 0; i < kv_gguf_kv_count(g); i++) {
        kv_str k = kv_gguf_kv_key(g, i);
        const kv_gguf_val *v = kv_gguf_kv_val(g, i);
        if (meta) {
            char key[512];
            snprintf(key, sizeof key, "%.*s", (int)k.n, k.p);
            json_object_set_new(meta, key, value_json(g, v, 0));
        } else {
            printf("  %-44.*s ", (int)k.n, k.p);
            print_value(g, v);
            printf("\n");
        }
    }
    if (meta)
        json_object_set_new(root, "metadata", meta);
    tokenizer_line(g, o, root);
    uint64_t n_params = 0, bytes = 0;
    tensor_table(g, o, root, &n_params, &bytes);
    if (!o->json)
        printf("\n");
    kv__info_totals(root, o->json, n_params, bytes, kv_gguf_file_size(g));
    kv_gguf_close(g);
    repack_line(path, o, root);
    return KV_OK;
}
