// The merge loop SPM and BPE share (llama.cpp's llm_tokenizer_spm and _bpe): text
// split into UTF-8 characters, every adjacent pair that may merge queued with a
// score, and the best pair (highest score, leftmost on a tie) merged until none is
// left. What "may merge" and its score mean is the caller's (token score for SPM,
// minus the merge rank for BPE).
#include "kvant/kv_tokenizer.h"

#include <stdlib.h>

#include "tokenizer/tokenizer_int.h"

typedef struct {
    int32_t left, right;
    float score;
    uint32_t size; // n of left + n of right when queued; a mismatch marks it stale
} bigram;

typedef struct {
    bigram *heap;
    size_t n, cap;
} queue;

// ---- the work queue: a binary heap, best bigram at the top ----

static bool better(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static kv_status push(queue *q, bigram b, kv_err *err) {
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        bigram *h = realloc(q->heap, cap * sizeof(*h));
        if (!h)
            return KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory for the merge queue");
        q->heap = h;
        q->cap = cap;
    }
    size_t i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!better(&b, &q->heap[parent]))
            break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = b;
    return KV_OK;
}

static bigram pop(queue *q) {
    bigram top = q->heap[0];
    bigram last = q->heap[--q->n];
    size_t n = q->n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && better(&q->heap[c + 1], &q->heap[c]))
            c++;
        if (!better(&q->heap[c], &last))
            break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (n > 0)
        q->heap[i] = last;
    return top;
}

// ---- merging ----

int32_t kv__split_chars(const char *t, size_t n, kv__sym *syms) {
    static const uint8_t len_of_high[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    int32_t k = 0;
    size_t off = 0;
    while (off < n) {
        size_t len = len_of_high[(unsigned char)t[off] >> 4];
        if (len > n - off)
            len = n - off;
        syms[k].prev = k - 1;
        syms[k].off = (uint32_t)off;
        syms[k].n = (uint32_t)len;
        off += len;
        syms[k].next = off == n ? -1 : k + 1;
        k++;
    }
    return k;
}

typedef struct {
    const char *text;
    kv__sym *syms;
    kv__pair_score_fn fn;
    const void *ctx;
    queue q;
} merger;

static kv_status try_pair(merger *m, int32_t left, int32_t right, kv_err *err) {
    if (left < 0 || right < 0)
        return KV_OK;
    const kv__sym *l = &m->syms[left], *r = &m->syms[right];
    float score;
    if (!m->fn(m->ctx, m->text, l->off, l->n, r->n, &score))
        return KV_OK;
    bigram b = {left, right, score, l->n + r->n};
    return push(&m->q, b, err);
}

kv_status kv__merge(const char *text, kv__sym *syms, int32_t n_syms, kv__pair_score_fn fn,
                    const void *ctx, kv_err *err) {
    merger m = {text, syms, fn, ctx, {NULL, 0, 0}};
    kv_status st = KV_OK;
    for (int32_t i = 1; i < n_syms && st == KV_OK; i++)
        st = try_pair(&m, i - 1, i, err);
    while (st == KV_OK && m.q.n > 0) {
        bigram b = pop(&m.q);
        kv__sym *l = &syms[b.left];
        kv__sym *r = &syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; // one side was merged since this pair was queued
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            syms[r->next].prev = b.left;
        st = try_pair(&m, l->prev, b.left, err);
        if (st == KV_OK)
            st = try_pair(&m, b.left, l->next, err);
    }
    free(m.q.heap);
    return st;
}
