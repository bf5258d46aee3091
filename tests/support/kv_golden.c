// Golden comparisons of GGUF files: tensors by digest, metadata by value (arrays
// longer than 8 items by the SHA-256 of their GGUF encoding, as the golden records them).
#include "kv_golden.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_types.h"

json_t *kv_golden(void) {
    static json_t *root;
    if (root || !kv_test_shared())
        return root;
    json_error_t e;
    root = json_load_file(kv_test_shared_path("testdata/golden/kjv-llama-7m.json"), 0, &e);
    if (!root)
        fprintf(stderr, "golden json: %s at line %d\n", e.text, e.line);
    return root;
}

json_t *kv_golden_lowbit(void) {
    static json_t *root;
    if (root || !kv_test_shared())
        return root;
    json_error_t e;
    root = json_load_file(kv_test_shared_path("testdata/golden/kjv-llama-7m-lowbit.json"), 0, &e);
    if (!root)
        fprintf(stderr, "golden lowbit json: %s at line %d\n", e.text, e.line);
    return root;
}

static int compare_tensors(const kv_gguf *g, json_t *want) {
    int bad = 0;
    if ((size_t)kv_gguf_tensor_count(g) != json_object_size(want)) {
        fprintf(stderr, "tensor count %lld, golden %zu\n", (long long)kv_gguf_tensor_count(g),
                json_object_size(want));
        bad++;
    }
    const char *name;
    json_t *w;
    json_object_foreach(want, name, w) {
        int64_t i = kv_gguf_find_tensor(g, name);
        if (i < 0) {
            fprintf(stderr, "missing tensor %s\n", name);
            bad++;
            continue;
        }
        const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
        const char *wtype = json_string_value(json_array_get(w, 0));
        json_t *wshape = json_array_get(w, 1);
        char sha[65];
        kv_test_sha256_hex(t->data, t->size, sha);
        bool shape_ok = json_array_size(wshape) == t->n_dims;
        for (uint32_t d = 0; shape_ok && d < t->n_dims; d++)
            shape_ok = json_integer_value(json_array_get(wshape, d)) == t->ne[d];
        if (strcmp(wtype, kv_type_name(t->type)) != 0 || !shape_ok ||
            strcmp(sha, json_string_value(json_array_get(w, 2))) != 0) {
            if (bad < 8)
                fprintf(stderr, "tensor %s: type %s (golden %s), shape %s, digest %s\n", name,
                        kv_type_name(t->type), wtype, shape_ok ? "ok" : "differs",
                        strcmp(sha, json_string_value(json_array_get(w, 2))) ? "differs" : "ok");
            bad++;
        }
    }
    return bad;
}

// SHA-256 of an array value as GGUF encodes it: u32 element type, u64 count, elements.
// The value's bytes (v->size of them) start 12 bytes before its first element.
static void array_digest(const kv_gguf_val *v, char out[65]) {
    kv_test_sha256_hex(v->data - 12, v->size, out);
}

static bool value_matches(const kv_gguf_val *v, json_t *w) {
    switch (v->type) {
    case KV_GGUF_STRING:
        return json_is_string(w) && strlen(json_string_value(w)) == v->str.n &&
               memcmp(json_string_value(w), v->str.p, v->str.n) == 0;
    case KV_GGUF_BOOL: return json_is_boolean(w) && json_is_true(w) == (v->data[0] != 0);
    case KV_GGUF_F32: {
        float f;
        uint32_t u = kv_le32(v->data);
        memcpy(&f, &u, 4);
        return json_is_number(w) && (float)json_number_value(w) == f;
    }
    case KV_GGUF_ARRAY: {
        char want[128], sha[65];
        array_digest(v, sha);
        snprintf(want, sizeof want, "[%llu items, sha256 %s]", (unsigned long long)v->n, sha);
        return json_is_string(w) && strcmp(json_string_value(w), want) == 0;
    }
    default: {
        int64_t iv;
        if (!json_is_integer(w))
            return false;
        switch (v->type) {
        case KV_GGUF_U8: iv = v->data[0]; break;
        case KV_GGUF_I8: iv = (int8_t)v->data[0]; break;
        case KV_GGUF_U16: iv = kv_le16(v->data); break;
        case KV_GGUF_I16: iv = (int16_t)kv_le16(v->data); break;
        case KV_GGUF_U32: iv = kv_le32(v->data); break;
        case KV_GGUF_I32: iv = (int32_t)kv_le32(v->data); break;
        default: iv = (int64_t)kv_le64(v->data); break;
        }
        return iv == json_integer_value(w);
    }
    }
}

static bool skipped(const char *key, const char *const *skip) {
    for (; skip && *skip; skip++)
        if (strcmp(*skip, key) == 0)
            return true;
    return false;
}

static int compare_metadata(const kv_gguf *g, json_t *want, const char *const *skip) {
    int bad = 0;
    const char *key;
    json_t *w;
    json_object_foreach(want, key, w) {
        if (skipped(key, skip))
            continue;
        int64_t i = kv_gguf_find(g, key);
        if (i < 0) {
            fprintf(stderr, "missing key %s\n", key);
            bad++;
        } else if (!value_matches(kv_gguf_kv_val(g, i), w)) {
            char *s = json_dumps(w, JSON_ENCODE_ANY);
            fprintf(stderr, "key %s differs from golden %s\n", key, s ? s : "?");
            free(s);
            bad++;
        }
    }
    return bad;
}

int kv_golden_compare(const char *path, const char *section, const char *entry, bool metadata,
                      const char *const *skip_keys) {
    return kv_golden_compare_in(kv_golden(), path, section, entry, metadata, skip_keys);
}

int kv_golden_compare_in(json_t *root, const char *path, const char *section, const char *entry,
                         bool metadata, const char *const *skip_keys) {
    json_t *want = json_object_get(json_object_get(root, section), entry);
    if (!want) {
        fprintf(stderr, "no golden entry %s.%s\n", section, entry);
        return 1;
    }
    kv_gguf *g = NULL;
    kv_err err = {0};
    if (kv_gguf_open(path, &g, &err) != KV_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int bad = compare_tensors(g, json_object_get(want, "tensors"));
    if (metadata)
        bad += compare_metadata(g, json_object_get(want, "metadata"), skip_keys);
    kv_gguf_close(g);
    return bad;
}
