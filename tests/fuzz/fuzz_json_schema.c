// libFuzzer harness for the JSON schema compiler and matcher. The input is a
// schema text, a NUL byte, then bytes fed to a matcher under the compiled
// schema. Compiling never crashes whatever the schema; feeding at once and byte
// by byte agree; from the longest accepted prefix some byte is always accepted
// until the document is done (no dead ends), which a bounded walk preferring
// closing bytes checks step by step; a done document parses with jansson.
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kvant/kv_json_schema.h"

// Bytes tried first when walking towards the end of a document.
static const char PREFER[] = "\"}]0,:1nft{[a-.e";

static bool takes(const kv_json_match *m, int b) {
    kv_json_match q;
    kv_json_match_copy(&q, m);
    const char c = (char)b;
    return kv_json_match_feed(&q, &c, 1);
}

// A byte m accepts (closing ones first), or -1.
static int next_byte(const kv_json_match *m) {
    for (size_t i = 0; i + 1 < sizeof PREFER; i++)
        if (takes(m, (uint8_t)PREFER[i]))
            return (uint8_t)PREFER[i];
    for (int b = 0; b < 256; b++)
        if (takes(m, b))
            return b;
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192)
        return 0;
    const uint8_t *nul = memchr(data, 0, size);
    const size_t n_schema = nul ? (size_t)(nul - data) : size;
    const char *text = nul ? (const char *)nul + 1 : "";
    const size_t n_text = nul ? size - n_schema - 1 : 0;
    kv_json_schema *s = NULL;
    kv_err e;
    if (kv_json_schema_compile((const char *)data, n_schema, &s, &e) != KV_OK) {
        if (s || e.msg[0] == 0)
            __builtin_trap(); // a failure says why and gives nothing
        return 0;
    }
    kv_json_match m, whole;
    kv_json_match_init(&m, s);
    size_t ok = 0;
    while (ok < n_text && kv_json_match_feed(&m, text + ok, 1))
        ok++;
    kv_json_match_init(&whole, s);
    if (kv_json_match_feed(&whole, text, n_text) != (ok == n_text))
        __builtin_trap(); // at once and byte by byte agree
    char *buf = malloc(ok + 4096);
    if (!buf) {
        kv_json_schema_free(s);
        return 0;
    }
    memcpy(buf, text, ok);
    size_t n = ok;
    for (int step = 0; step < 4096 && !kv_json_match_done(&m); step++) {
        const int b = next_byte(&m);
        if (b < 0)
            __builtin_trap(); // a dead end: the prefix cannot be completed
        const char c = (char)b;
        if (!kv_json_match_feed(&m, &c, 1))
            __builtin_trap();
        buf[n++] = c;
    }
    if (kv_json_match_done(&m)) {
        json_error_t je;
        json_t *v = json_loadb(buf, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!v && !strstr(je.text, "overflow") && !strstr(je.text, "too big"))
            __builtin_trap(); // done means a whole JSON text
        json_decref(v);
    }
    free(buf);
    kv_json_schema_free(s);
    return 0;
}
