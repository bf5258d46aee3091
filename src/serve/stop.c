// Stop strings over streamed text: generated text is released as soon as it
// cannot be the start of a stop string, and generation ends where one appears.
#define _GNU_SOURCE // memmem
#include "serve/buf_int.h"
#include "serve/stop_int.h"

#include <string.h>

// Length of the longest proper prefix of stop that text[0..n) ends with.
static size_t tail_overlap(const char *text, size_t n, const char *stop) {
    size_t len = strlen(stop);
    size_t k = len - 1 < n ? len - 1 : n;
    for (; k > 0; k--)
        if (memcmp(text + n - k, stop, k) == 0)
            return k;
    return 0;
}

bool kv__stop_feed(kv__buf *held, const char *const *stop, size_t n_stop, const char *piece,
                   size_t n, kv__buf *out, kv_status *st, kv_err *err) {
    *st = kv__buf_add(held, piece, n, err);
    if (*st != KV_OK)
        return false;
    const char *first = NULL;
    for (size_t i = 0; i < n_stop; i++) {
        const char *at = memmem(held->p, held->n, stop[i], strlen(stop[i]));
        if (at && (!first || at < first))
            first = at;
    }
    if (first) {
        *st = kv__buf_add(out, held->p, (size_t)(first - held->p), err);
        kv__buf_consume(held, held->n);
        return true;
    }
    size_t keep = 0;
    for (size_t i = 0; i < n_stop; i++) {
        size_t k = tail_overlap(held->p, held->n, stop[i]);
        if (k > keep)
            keep = k;
    }
    *st = kv__buf_add(out, held->p, held->n - keep, err);
    kv__buf_consume(held, held->n - keep);
    return false;
}
