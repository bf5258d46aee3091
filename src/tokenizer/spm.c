// SentencePiece-style BPE as llama.cpp's llm_tokenizer_spm runs it: spaces become
// U+2581, the text is split into UTF-8 characters, and adjacent pairs whose
// concatenation is a token are merged, highest score first (leftmost on a tie),
// until none is left. A final piece that is not a token is emitted as byte tokens.
// Splitting out special tokens and adding BOS/EOS is tokenize.c's job.
#include "kvant/kv_tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_int.h"

typedef struct {
    int32_t prev, next; // neighbours in the chain, -1 at the ends
    uint32_t off, n;    // bytes of the escaped text; n == 0 once merged away
} sym;

typedef struct {
    int32_t left, right;
    float score;
    uint32_t size; // n of left + n of right when queued; a mismatch marks it stale
} bigram;

typedef struct {
    const kv_vocab *v;
    const char *text; // escaped text
    sym *syms;
    bigram *heap;
    size_t n_heap, cap_heap;
} spm_state;

// ---- the work queue: a binary heap, best bigram at the top ----

static bool better(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static kv_status heap_push(spm_state *s, bigram b, kv_err *err) {
    if (s->n_heap == s->cap_heap) {
        size_t cap = s->cap_heap ? s->cap_heap * 2 : 64;
        bigram *h = realloc(s->heap, cap * sizeof(*h));
        if (!h)
            return KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory for the merge queue");
        s->heap = h;
        s->cap_heap = cap;
    }
    size_t i = s->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!better(&b, &s->heap[parent]))
            break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = b;
    return KV_OK;
}

static bigram heap_pop(spm_state *s) {
    bigram top = s->heap[0];
    bigram last = s->heap[--s->n_heap];
    size_t n = s->n_heap, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && better(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!better(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0)
        s->heap[i] = last;
    return top;
}

// ---- merging ----

// Queues the pair (left, right) when their joined text is a token.
static kv_status try_bigram(spm_state *s, int32_t left, int32_t right, kv_err *err) {
    if (left < 0 || right < 0)
        return KV_OK;
    const sym *l = &s->syms[left];
    uint32_t size = l->n + s->syms[right].n; // right follows left in the text
    kv_token id = kv__vocab_lookup(s->v, s->text + l->off, size);
    if (id == KV_TOKEN_NULL)
        return KV_OK;
    bigram b = {left, right, s->v->scores[id], size};
    return heap_push(s, b, err);
}

static kv_status merge_all(spm_state *s, int32_t n_syms, kv_err *err) {
    kv_status st = KV_OK;
    for (int32_t i = 1; i < n_syms && st == KV_OK; i++)
        st = try_bigram(s, i - 1, i, err);
    while (st == KV_OK && s->n_heap > 0) {
        bigram b = heap_pop(s);
        sym *l = &s->syms[b.left];
        sym *r = &s->syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; // one side was merged since this pair was queued
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s->syms[r->next].prev = b.left;
        st = try_bigram(s, l->prev, b.left, err);
        if (st == KV_OK)
            st = try_bigram(s, b.left, l->next, err);
    }
    return st;
}

// Emits a final piece: its token, or one byte token per byte.
static kv_status emit(const kv_vocab *v, const char *p, uint32_t n, kv_toklist *out,
                      kv_err *err) {
    kv_token id = kv__vocab_lookup(v, p, n);
    if (id != KV_TOKEN_NULL)
        return kv__toklist_push(out, id, err);
    for (uint32_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)p[i];
        kv_token bt = v->byte_tok[b];
        if (bt == KV_TOKEN_NULL)
            bt = v->special[KV_SPECIAL_UNK];
        if (bt == KV_TOKEN_NULL)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "tokenize: the vocabulary has no token for byte 0x%02X "
                           "(no <0x%02X> token and no unknown token)", b, b);
        kv_status st = kv__toklist_push(out, bt, err);
        if (st != KV_OK)
            return st;
    }
    return KV_OK;
}

// ---- entry ----

// Writes the escaped text (optional leading space, ' ' -> U+2581) to dst; returns its length.
static size_t escape(const char *text, size_t len, bool space_prefix, char *dst) {
    size_t n = 0;
    for (size_t i = (space_prefix ? 0 : 1); i <= len; i++) {
        char c = i == 0 ? ' ' : text[i - 1];
        if (c == ' ') {
            memcpy(dst + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            dst[n++] = c;
        }
    }
    return n;
}

// Splits the escaped text into UTF-8 characters (length from the lead byte, cut at
// the end of the text, as llama.cpp does, so invalid UTF-8 still makes progress).
static int32_t split_chars(const char *t, size_t n, sym *syms) {
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

kv_status kv__spm_tokenize(const kv_vocab *v, const char *text, size_t len, bool space_prefix,
                           kv_toklist *out, kv_err *err) {
    size_t cap = 3 * (len + 1); // len <= KV_TOKENIZE_MAX_TEXT, so no overflow
    spm_state s = {v, NULL, NULL, NULL, 0, 0};
    char *buf = malloc(cap);
    s.syms = malloc(sizeof(*s.syms) * (len + 1));
    kv_status st = KV_OK;
    if (!buf || !s.syms) {
        st = KV_FAIL(err, KV_ERR_NOMEM, "tokenize: no memory for %zu bytes of text", len);
        goto done;
    }
    size_t n = escape(text, len, space_prefix, buf);
    s.text = buf;
    int32_t n_syms = split_chars(buf, n, s.syms);
    st = merge_all(&s, n_syms, err);
    for (int32_t i = 0; st == KV_OK && n_syms > 0 && i != -1; i = s.syms[i].next)
        st = emit(v, buf + s.syms[i].off, s.syms[i].n, out, err);
done:
    free(s.heap);
    free(s.syms);
    free(buf);
    return st;
}
