// libFuzzer harness for the GGUF reader: opens the input from memory, and when it
// is accepted walks every key-value (array elements too, nested arrays and strings,
// within a budget) and every tensor, checking the reader's promises as it goes.
// Accepted files are also copied into a writer (metadata and tensor declarations;
// no file is written). A refusal must carry a message naming the input.
// Seeds: tests/fuzz/corpus/fuzz_gguf/.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_gguf.h"

#define NAME "fuzz.gguf"
#define ELEM_BUDGET 200000 // array elements visited per input, to keep each run fast

typedef struct {
    const uint8_t *lo;
    const uint8_t *hi;
    long budget;
} walk;

static void check(int ok) {
    if (!ok)
        abort();
}

static void in_file(const walk *w, const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    check(b >= w->lo && b <= w->hi && n <= (size_t)(w->hi - b));
}

static void touch(const void *p, size_t n) {
    // Read first and last byte so ASan sees any access outside the input.
    volatile uint8_t sink = 0;
    if (n > 0) {
        sink ^= ((const uint8_t *)p)[0];
        sink ^= ((const uint8_t *)p)[n - 1];
    }
    (void)sink;
}

static void walk_val(const kv_gguf *g, const kv_gguf_val *v, walk *w, int depth) {
    check(depth <= KV_GGUF_MAX_DEPTH);
    if (v->type == KV_GGUF_STRING) {
        in_file(w, v->str.p, v->str.n);
        touch(v->str.p, v->str.n);
        return;
    }
    if (v->type != KV_GGUF_ARRAY) {
        check(v->size == kv_gguf_vtype_size(v->type));
        in_file(w, v->data, v->size);
        touch(v->data, v->size);
        return;
    }
    in_file(w, v->data - 12, v->size);
    for (uint64_t j = 0; j < v->n && w->budget > 0; j++, w->budget--) {
        kv_gguf_val e;
        kv_err err;
        check(kv_gguf_arr_elem(g, v, j, &e, &err) == KV_OK);
        check(e.type == v->elem_type);
        if (e.type == KV_GGUF_STRING) {
            kv_str s;
            check(kv_gguf_arr_str(g, v, j, &s, &err) == KV_OK);
            check(s.p == e.str.p && s.n == e.str.n);
        }
        walk_val(g, &e, w, depth + 1);
    }
    kv_gguf_val e;
    kv_err err;
    check(kv_gguf_arr_elem(g, v, v->n, &e, &err) == KV_ERR_INVALID);
}

// Keys without NUL bytes can be looked up by name, and find their own entry.
static void check_lookup(const kv_gguf *g, kv_str key, int64_t i, int tensor) {
    if (memchr(key.p, 0, key.n))
        return;
    char *c = malloc(key.n + 1);
    check(c != NULL);
    memcpy(c, key.p, key.n);
    c[key.n] = '\0';
    if (tensor) {
        check(kv_gguf_find_tensor(g, c) == i);
    } else {
        check(kv_gguf_find(g, c) == i);
        int64_t v;
        kv_err err;
        (void)kv_gguf_get_int(g, c, &v, &err);
        kv_str s;
        (void)kv_gguf_get_str(g, c, &s, &err);
        const kv_gguf_val *a;
        (void)kv_gguf_get_arr(g, c, KV_GGUF_TYPE_COUNT, &a, &err);
    }
    free(c);
}

static void walk_file(const kv_gguf *g, const uint8_t *data, size_t size) {
    walk w = {data, data + size, ELEM_BUDGET};
    size_t align = kv_gguf_alignment(g);
    check(align > 0 && (align & (align - 1)) == 0);
    for (int64_t i = 0; i < kv_gguf_kv_count(g); i++) {
        kv_str key = kv_gguf_kv_key(g, i);
        check(key.n > 0 && key.n <= KV_GGUF_MAX_KEY);
        in_file(&w, key.p, key.n);
        walk_val(g, kv_gguf_kv_val(g, i), &w, 0);
        check_lookup(g, key, i, 0);
    }
    for (int64_t i = 0; i < kv_gguf_tensor_count(g); i++) {
        const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
        check(kv_type_get(t->type) != NULL);
        check(t->n_dims >= 1 && t->n_dims <= KV_GGUF_MAX_DIMS);
        check(t->offset % align == 0);
        check(kv_gguf_data_offset(g) % align == 0);
        in_file(&w, t->name.p, t->name.n);
        in_file(&w, t->data, t->size);
        touch(t->data, t->size);
        check_lookup(g, t->name, i, 1);
    }
}

// Every accepted key-value can be copied into a writer, and the copy keeps its
// size; tensors are declared again (names a writer refuses are skipped).
static void copy_to_writer(const kv_gguf *g) {
    kv_gguf_writer *w = NULL;
    check(kv_gguf_writer_new(&w, NULL) == KV_OK);
    uint64_t meta = 24;
    for (int64_t i = 0; i < kv_gguf_kv_count(g); i++) {
        check(kv_gguf_set_from(w, g, i, NULL) == KV_OK);
        meta += 8 + kv_gguf_kv_key(g, i).n + 4 + kv_gguf_kv_val(g, i)->size;
    }
    check(kv_gguf_writer_file_size(w) >= meta);
    for (int64_t i = 0; i < kv_gguf_tensor_count(g); i++) {
        const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
        char name[KV_GGUF_MAX_TENSOR_NAME + 1];
        if (t->name.n > KV_GGUF_MAX_TENSOR_NAME || memchr(t->name.p, 0, t->name.n))
            continue;
        memcpy(name, t->name.p, t->name.n);
        name[t->name.n] = '\0';
        if (name[0] != '\0')
            check(kv_gguf_add_tensor(w, name, t->type, t->n_dims, t->ne, NULL) == KV_OK);
    }
    kv_gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kv_gguf *g = NULL;
    kv_err err;
    kv_err_clear(&err);
    kv_status st = kv_gguf_open_mem(data, size, NAME, &g, &err);
    if (st != KV_OK) {
        check(g == NULL && err.status == st && strstr(err.msg, NAME) != NULL);
        return 0;
    }
    check(g != NULL && kv_gguf_file_size(g) == size);
    walk_file(g, data, size);
    copy_to_writer(g);
    kv_gguf_close(g);
    return 0;
}
