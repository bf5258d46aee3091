// libFuzzer harness for the server's key check (kv__auth_check in
// src/serve/auth.c) over the Authorization header as a client sends it: the
// first byte picks the path and the role of the one valid key, the rest is the
// header's value. The check must answer 0, 401 or 403 without crashing; let a
// request through to a path that needs a role only with exactly the valid key
// ("kv-" and 43 characters) and a role at least the path's; and say why when
// it refuses.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/auth_int.h"
#include "serve/server_int.h"

static const char GOOD[] = "kv-0123456789abcdefghijABCDEFGHIJ_-klmnopqrstu";
static int good_role;

static int auth(void *user, const char *token, char *who, size_t cap) {
    (void)user;
    if (token && strcmp(token, GOOD) == 0) {
        snprintf(who, cap, "fuzz");
        return good_role;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const PATHS[] = {"/", "/api/tags", "/api/generate", "/v1/chat/completions",
                                        "/api/pull", "/api/keys", "/v2/x/manifests/t", "/ui/a"};
    if (size < 1 || size > 4096)
        return 0;
    const char *path = PATHS[data[0] & 7];
    good_role = 1 + ((data[0] >> 3) & 3);
    char *hdr = malloc(size);
    if (!hdr)
        return 0;
    memcpy(hdr, data + 1, size - 1);
    hdr[size - 1] = '\0';
    static kv_serve s;
    s.p.auth = auth;
    char who[KV__WHO_MAX], msg[256];
    msg[0] = '\0';
    unsigned method = (data[0] & 0x40) ? KV__PUT : KV__GET;
    unsigned st = kv__auth_check(&s, method, path, (data[0] & 0x80) ? NULL : hdr, who, sizeof who,
                                 msg, sizeof msg);
    int need = kv__method_right(method, path);
    if (st != 0 && st != 401 && st != 403)
        __builtin_trap();
    if (st != 0 && !msg[0])
        __builtin_trap(); // a refusal says why
    if (st == 0 && need > KV__RIGHT_PUBLIC &&
        (!strstr(hdr, GOOD) || good_role < need || (data[0] & 0x80)))
        __builtin_trap(); // let through without the key or its right
    if (st == 403 && good_role >= need)
        __builtin_trap();
    free(hdr);
    return 0;
}
