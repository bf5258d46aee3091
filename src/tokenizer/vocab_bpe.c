// What a BPE vocabulary adds to the token table: the merges ("left right", ranked by
// position, found through a hash like the tokens). The merge loop is merge.c's; the
// pre-tokenizers are pretok.c's.
#include "kvant/kv_tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "kvant/kv_core.h"
#include "tokenizer/tokenizer_int.h"

int32_t kv__vocab_merge_rank(const kv_vocab *v, const char *left, size_t n_left,
                             const char *right, size_t n_right) {
    if (v->n_merge_slots == 0)
        return -1;
    uint64_t h = kv__hash_bytes(KV__HASH_INIT, left, n_left);
    h = kv__hash_bytes(h, " ", 1);
    h = kv__hash_bytes(h, right, n_right);
    size_t mask = v->n_merge_slots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        int32_t r = v->merge_slots[i];
        if (r < 0)
            return -1;
        const char *m = v->merge_buf + v->merge_off[r];
        if (v->merge_split[r] == n_left && v->merge_len[r] == n_left + 1 + n_right &&
            memcmp(m, left, n_left) == 0 && memcmp(m + n_left + 1, right, n_right) == 0)
            return r;
    }
}

// Inserts merge r unless an earlier merge has the same pair (the first one wins).
static void insert_merge(kv_vocab *v, int32_t r) {
    const char *m = v->merge_buf + v->merge_off[r];
    size_t n = v->merge_len[r], split = v->merge_split[r];
    if (kv__vocab_merge_rank(v, m, split, m + split + 1, n - split - 1) >= 0)
        return;
    size_t mask = v->n_merge_slots - 1;
    for (size_t i = (size_t)kv__hash_bytes(KV__HASH_INIT, m, n) & mask;; i = (i + 1) & mask) {
        if (v->merge_slots[i] < 0) {
            v->merge_slots[i] = r;
            return;
        }
    }
}

// Length of the left part: up to the first space after the first byte (as
// llama.cpp splits a merge line), or n when there is none.
static size_t split_of(const char *m, size_t n) {
    for (size_t i = 1; i < n; i++) {
        if (m[i] == ' ')
            return i;
    }
    return n;
}

kv_status kv__vocab_set_merges(kv_vocab *v, const kv_vocab_params *p, kv_err *err) {
    if (p->n_merges < 0 || p->n_merges > KV_VOCAB_MAX_TOKENS || (p->n_merges > 0 && !p->merges))
        return KV_FAIL(err, KV_ERR_LIMIT, "vocabulary: %lld merges, expected 0..%lld",
                       (long long)p->n_merges, (long long)KV_VOCAB_MAX_TOKENS);
    size_t n = (size_t)p->n_merges, total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = p->merge_lens ? p->merge_lens[i] : strlen(p->merges[i]);
        if (len > KV_VOCAB_MAX_TOKEN_LEN || !kv_add_ok(total, len + 1, &total))
            return KV_FAIL(err, KV_ERR_LIMIT, "vocabulary: merge %zu is %zu bytes, limit %zu", i,
                           len, KV_VOCAB_MAX_TOKEN_LEN);
    }
    v->n_merge_slots = 16;
    while (v->n_merge_slots < 2 * n)
        v->n_merge_slots *= 2;
    v->merge_buf = malloc(total ? total : 1);
    v->merge_off = malloc((n + 1) * sizeof(*v->merge_off));
    v->merge_len = malloc((n + 1) * sizeof(*v->merge_len));
    v->merge_split = malloc((n + 1) * sizeof(*v->merge_split));
    v->merge_slots = malloc(v->n_merge_slots * sizeof(*v->merge_slots));
    if (!v->merge_buf || !v->merge_off || !v->merge_len || !v->merge_split || !v->merge_slots)
        return KV_FAIL(err, KV_ERR_NOMEM, "vocabulary: no memory for %zu merges", n);
    memset(v->merge_slots, 0xff, v->n_merge_slots * sizeof(*v->merge_slots));
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = p->merge_lens ? p->merge_lens[i] : strlen(p->merges[i]);
        memcpy(v->merge_buf + off, p->merges[i], len);
        v->merge_buf[off + len] = '\0';
        v->merge_off[i] = off;
        v->merge_len[i] = (uint32_t)len;
        v->merge_split[i] = (uint32_t)split_of(p->merges[i], len);
        off += len + 1;
    }
    v->n_merges = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
        if (v->merge_split[i] < v->merge_len[i]) // a line without a space pairs nothing
            insert_merge(v, (int32_t)i);
    }
    return KV_OK;
}
