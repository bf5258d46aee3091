// String-keyed index for GGUF keys and tensor names: open addressing with linear
// probing over FNV-1a hashes. It stores slot numbers only; keys stay in the
// caller's table. Used to refuse duplicates in O(1) and to find keys by name.
#include "formats/gguf_int.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(kv_str s) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < s.n; i++) {
        h ^= (uint8_t)s.p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool str_eq(kv_str a, kv_str b) {
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

kv_status kv__gguf_index_init(kv__gguf_index *ix, size_t n_max, kv__gguf_key_fn key_of,
                              const void *table, kv_err *err) {
    memset(ix, 0, sizeof *ix);
    // Keep the load at or under one half so probes stay short.
    size_t n_slots = 16;
    while (n_slots / 2 < n_max) {
        if (n_slots > SIZE_MAX / 4 / sizeof(uint32_t))
            return KV_FAIL(err, KV_ERR_LIMIT, "index of %zu names is too large", n_max);
        n_slots *= 2;
    }
    ix->slots = calloc(n_slots, sizeof *ix->slots);
    if (!ix->slots)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for an index of %zu names", n_max);
    ix->mask = n_slots - 1;
    ix->key_of = key_of;
    ix->table = table;
    return KV_OK;
}

void kv__gguf_index_free(kv__gguf_index *ix) {
    if (!ix)
        return;
    free(ix->slots);
    memset(ix, 0, sizeof *ix);
}

size_t kv__gguf_index_capacity(const kv__gguf_index *ix) {
    return ix->slots ? (ix->mask + 1) / 2 : 0;
}

int64_t kv__gguf_index_find(const kv__gguf_index *ix, kv_str key) {
    if (!ix->slots)
        return -1;
    for (size_t s = (size_t)hash_str(key) & ix->mask;; s = (s + 1) & ix->mask) {
        uint32_t v = ix->slots[s];
        if (v == 0)
            return -1;
        if (str_eq(ix->key_of(ix->table, v - 1), key))
            return (int64_t)(v - 1);
    }
}

int64_t kv__gguf_index_add(kv__gguf_index *ix, uint32_t i, kv_str key) {
    for (size_t s = (size_t)hash_str(key) & ix->mask;; s = (s + 1) & ix->mask) {
        uint32_t v = ix->slots[s];
        if (v == 0) {
            ix->slots[s] = i + 1;
            return -1;
        }
        if (str_eq(ix->key_of(ix->table, v - 1), key))
            return (int64_t)(v - 1);
    }
}
