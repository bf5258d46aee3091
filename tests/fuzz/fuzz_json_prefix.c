// libFuzzer harness for the JSON prefix automaton, checked against jansson: the
// first byte picks the root (any value or an object), the rest is text fed one
// byte at a time. The accepted prefix must close (kv_json_prefix_closing) to text
// jansson parses; a text the automaton calls whole must parse as it is; a text
// jansson parses must be accepted up to kvant's own bounds (a whitespace run, a
// container past the depth limit). Feeding at once and byte by byte agree.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kvant/kv_json_prefix.h"

// jansson parses s[0..n) as one value (of the root's kind); *limit: it refused
// what RFC 8259 allows but jansson does not take (a number too large for a
// double, \u0000 in an object key).
static bool jansson_parses(const char *s, size_t n, kv_json_root root, bool *limit) {
    json_error_t e;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &e);
    *limit = !v && (strstr(e.text, "overflow") || strstr(e.text, "too big") ||
                    strstr(e.text, "NUL byte"));
    bool ok = v && (root == KV_JSON_ROOT_ANY || json_is_object(v));
    json_decref(v);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096)
        return 0;
    const kv_json_root root = data[0] & 1 ? KV_JSON_ROOT_OBJECT : KV_JSON_ROOT_ANY;
    const char *text = (const char *)data + 1;
    const size_t n = size - 1;
    kv_json_prefix p, whole;
    kv_json_prefix_init(&p, root);
    size_t ok = 0;
    while (ok < n && kv_json_prefix_feed(&p, text + ok, 1))
        ok++;
    kv_json_prefix_init(&whole, root);
    if (kv_json_prefix_feed(&whole, text, n) != (ok == n))
        __builtin_trap(); // at once and byte by byte agree
    kv_json_prefix_init(&whole, root);
    if (!kv_json_prefix_feed(&whole, text, ok))
        __builtin_trap();
    if (kv_json_prefix_complete(&whole) != kv_json_prefix_complete(&p) ||
        kv_json_prefix_done(&whole) != kv_json_prefix_done(&p))
        __builtin_trap();
    bool limit = false;
    char *buf = malloc(ok + KV_JSON_CLOSING_MAX);
    if (!buf)
        return 0;
    memcpy(buf, text, ok);
    const size_t k = kv_json_prefix_closing(&p, buf + ok);
    kv_json_prefix q = p;
    if (!kv_json_prefix_feed(&q, buf + ok, k) || !kv_json_prefix_complete(&q))
        __builtin_trap(); // every accepted prefix can be completed
    if (!jansson_parses(buf, ok + k, root, &limit) && !limit)
        __builtin_trap(); // ... into text a strict parser takes
    free(buf);
    if (ok == n && kv_json_prefix_complete(&p) && !jansson_parses(text, n, root, &limit) &&
        !limit)
        __builtin_trap(); // whole means parseable
    // (jansson ends a top-level number at a NUL byte, so texts with one are not compared)
    if (ok < n && !memchr(text, 0, n) && jansson_parses(text, n, root, &limit)) {
        const char b = text[ok]; // refused only for kvant's bounds, never for the grammar
        if (b != ' ' && b != '\t' && b != '\n' && b != '\r' && b != '[' && b != '{')
            __builtin_trap();
    }
    return 0;
}
