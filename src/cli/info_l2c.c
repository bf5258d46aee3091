// kvant info for llama2.c checkpoints (model.bin): the header and the weights
// in GGUF's names, read without the tokenizer.
#include <stdio.h>

#include "cli/info_int.h"
#include "kvant/kv_llama2c.h"

kv_status kv__info_llama2c(const char *path, const kv__info_opts *o, json_t *root, kv_err *err) {
    kv_llama2c *m = NULL;
    kv_status s = kv_llama2c_open(path, NULL, &m, err);
    if (s != KV_OK)
        return s;
    const kv_llama2c_header *h = kv_llama2c_header_of(m);
    static const char *const FIELDS[] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                         "n_kv_heads", "vocab_size", "seq_len"};
    const int32_t vals[] = {h->dim,        h->hidden_dim, h->n_layers, h->n_heads,
                            h->n_kv_heads, h->vocab_size, h->seq_len};
    if (o->json) {
        json_object_set_new(root, "format", json_string("llama2.c"));
        json_object_set_new(root, "path", json_string(path));
        json_object_set_new(root, "version", json_integer(h->version));
        for (int i = 0; i < 7; i++)
            json_object_set_new(root, FIELDS[i], json_integer(vals[i]));
        json_object_set_new(root, "shared_classifier", json_boolean(h->shared_classifier));
        if (h->version == 2)
            json_object_set_new(root, "group_size", json_integer(h->group_size));
    } else {
        printf("file:         %s\n", path);
        printf("format:       llama2.c checkpoint, %s header\n",
               h->version == 0 ? "legacy" : h->version == 1 ? "version 1 (float32)"
                                                            : "version 2 (int8 groups)");
        for (int i = 0; i < 7; i++)
            printf("  %-12s %d\n", FIELDS[i], (int)vals[i]);
        printf("  %-12s %s\n", "classifier", h->shared_classifier ? "shared" : "separate");
        if (h->version == 2)
            printf("  %-12s %d\n", "group_size", (int)h->group_size);
    }
    json_t *arr = o->json && o->tensors ? json_array() : NULL;
    if (!o->json && o->tensors)
        printf("\n%-4s %-40s %-6s %-18s\n", "#", "tensor (GGUF name)", "type", "shape");
    uint64_t n_params = 0, bytes = 0;
    for (int64_t i = 0; i < kv_llama2c_tensor_count(m); i++) {
        const kv_llama2c_tensor *t = kv_llama2c_tensor_at(m, i);
        bool copy = h->shared_classifier && i == 2; // output.weight = token_embd.weight
        if (!copy) {
            n_params += (uint64_t)t->n_elements;
            bytes += (uint64_t)t->n_elements * (t->f32 ? 4 : 1) +
                     (t->f32 ? 0 : (uint64_t)t->n_elements / (uint64_t)t->group_size * 4);
        }
        const char *type = t->f32 ? "F32" : "I8";
        char shape[128];
        kv__info_shape(shape, sizeof shape, t->n_dims, t->ne);
        if (arr) {
            json_t *jt = json_object(), *js = json_array();
            json_object_set_new(jt, "name", json_string(t->name));
            json_object_set_new(jt, "type", json_string(type));
            for (int d = 0; d < t->n_dims; d++)
                json_array_append_new(js, json_integer(t->ne[d]));
            json_object_set_new(jt, "shape", js);
            json_object_set_new(jt, "shared", json_boolean(copy));
            json_array_append_new(arr, jt);
        } else if (o->tensors && !o->json) {
            printf("%-4lld %-40s %-6s %-18s%s\n", (long long)i, t->name, type, shape,
                   copy ? " (the embeddings)" : "");
        }
    }
    if (arr)
        json_object_set_new(root, "tensors", arr);
    if (!o->json)
        printf("\n");
    kv__info_totals(root, o->json, n_params, bytes, bytes);
    kv_llama2c_close(m);
    return KV_OK;
}
