// Stop strings (stop.c): generated text held back until it cannot start one.
#ifndef KV_SERVE_STOP_INT_H
#define KV_SERVE_STOP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "kvant/kv_status.h"
#include "serve/buf_int.h"

// Feeds piece[0..n) of generated text through the stop strings: text that can
// no longer be part of a stop string is appended to out; a suffix that may
// still become one stays in held. Returns true when a stop string appeared:
// the text before it is in out and the rest is dropped. Stop strings are
// non-empty; held grows by at most the longest of them.
bool kv__stop_feed(kv__buf *held, const char *const *stop, size_t n_stop, const char *piece,
                   size_t n, kv__buf *out, kv_status *st, kv_err *err);

#endif
