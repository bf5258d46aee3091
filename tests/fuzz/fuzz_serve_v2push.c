// libFuzzer harness for the push side of kvant serve's registry API
// (src/serve/api_v2push.c) over the request as a client sends it: the first
// byte picks the method (POST, PATCH, PUT, GET), the rest is the path after
// "/v2/" and, after a newline, the ?digest= value. kv__sink_open (before the
// body) and kv__h_v2_push (after it) run over a store whose writes all fail, so
// nothing touches the disk: both must refuse without crashing, with an HTTP
// status of the protocol's, and leave no sink open.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/api_int.h"
#include "serve/call_int.h"
#include "serve/server_int.h"

static kv_status no_tmp(void *u, char *path, size_t cap, kv_err *err) {
    (void)u, (void)path, (void)cap;
    return KV_FAIL(err, KV_ERR_IO, "no disk in the fuzzer");
}
static kv_status no_commit(void *u, const char *d, const char *tmp, kv_err *err) {
    (void)u, (void)d, (void)tmp;
    return KV_FAIL(err, KV_ERR_FORMAT, "no disk in the fuzzer");
}
static kv_status no_manifest(void *u, const char *repo, const char *tag, const char *text,
                             size_t n, char *digest, size_t dcap, char *name, size_t ncap,
                             char *path, size_t pcap, kv_err *err) {
    (void)u, (void)repo, (void)tag, (void)text, (void)n, (void)digest, (void)dcap;
    (void)name, (void)ncap, (void)path, (void)pcap;
    return KV_FAIL(err, KV_ERR_NOT_FOUND, "no blob in the fuzzer");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const unsigned M[] = {KV__POST, KV__PATCH, KV__PUT, KV__GET};
    if (size < 1 || size > 2048)
        return 0;
    char *text = malloc(size + 4);
    if (!text)
        return 0;
    memcpy(text, "/v2/", 4);
    memcpy(text + 4, data + 1, size - 1);
    text[size + 3] = '\0';
    char *nl = strchr(text, '\n');
    const char *digest = NULL;
    if (nl) {
        *nl = '\0';
        digest = nl + 1;
    }
    static kv_serve_store_ops ops = {
        .upload_tmp = no_tmp, .blob_commit = no_commit, .manifest_put = no_manifest};
    static kv_serve s;
    s.p.store = &ops;
    kv__call c;
    memset(&c, 0, sizeof c);
    c.srv = &s;
    c.method = M[data[0] & 3];
    c.path = text;
    c.query_digest = digest;
    c.body = "{}";
    c.body_len = 2;
    char msg[256] = "";
    unsigned st = kv__sink_open(&c, msg, sizeof msg);
    if (c.sink || (st && !msg[0]) || (st && st != 400 && st != 404 && st != 409 && st != 500))
        __builtin_trap(); // no upload is open, so no sink can be
    if (st == 0 && c.method != KV__GET) {
        c.arg = text + 4;
        kv_err err;
        kv_err_clear(&err);
        kv_status ks = kv__h_v2_push(&c, &err);
        if (ks == KV_OK || !err.msg[0] || c.sink)
            __builtin_trap(); // every write fails here
        if (c.status && c.status != 400 && c.status != 404 && c.status != 405 &&
            c.status != 429)
            __builtin_trap();
    }
    kv__buf_free(&c.out);
    free(text);
    return 0;
}
