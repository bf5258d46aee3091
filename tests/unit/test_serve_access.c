// Access control in the server: the right each path needs (unknown paths need
// admin), and kv__auth_check over a key hook: Bearer parsing, 401 for no,
// unknown or revoked keys, 403 for a role below the path's right, no check
// when the hook says authentication is off or there is no hook.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "serve/auth_int.h"
#include "serve/server_int.h"

static void test_rights(void **state) {
    (void)state;
    static const struct {
        const char *path;
        int right;
    } CASES[] = {
        {"/", KV__RIGHT_PUBLIC},          {"/health", KV__RIGHT_PUBLIC},
        {"/ui", KV__RIGHT_PUBLIC},        {"/ui/app.js", KV__RIGHT_PUBLIC},
        {"/api/version", KV__RIGHT_VIEWER}, {"/api/tags", KV__RIGHT_VIEWER},
        {"/api/ps", KV__RIGHT_VIEWER},    {"/api/show", KV__RIGHT_VIEWER},
        {"/metrics", KV__RIGHT_VIEWER},   {"/v1/models", KV__RIGHT_VIEWER},
        {"/v1/models/kjv", KV__RIGHT_VIEWER},
        {"/api/generate", KV__RIGHT_USER}, {"/api/chat", KV__RIGHT_USER},
        {"/api/embed", KV__RIGHT_USER},   {"/api/embeddings", KV__RIGHT_USER},
        {"/v1/chat/completions", KV__RIGHT_USER}, {"/v1/completions", KV__RIGHT_USER},
        {"/v1/embeddings", KV__RIGHT_USER},
        {"/api/pull", KV__RIGHT_OPERATOR}, {"/api/push", KV__RIGHT_OPERATOR},
        {"/api/create", KV__RIGHT_OPERATOR}, {"/api/copy", KV__RIGHT_OPERATOR},
        {"/api/delete", KV__RIGHT_OPERATOR}, {"/api/blobs/sha256:ab", KV__RIGHT_OPERATOR},
        {"/api/keys", KV__RIGHT_ADMIN},   {"/nothing", KV__RIGHT_ADMIN},
        {"/api/generate/", KV__RIGHT_ADMIN}, {"/healthz", KV__RIGHT_ADMIN},
        {"/ui/", KV__RIGHT_ADMIN},        {"/v1/models/", KV__RIGHT_ADMIN},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        if (kv__path_right(CASES[i].path) != CASES[i].right)
            fail_msg("%s: right %d, wanted %d", CASES[i].path, kv__path_right(CASES[i].path),
                     CASES[i].right);
}

// A push into /v2/ (anything but GET and HEAD) needs operator; reading it, viewer.
static void test_method_rights(void **state) {
    (void)state;
    assert_int_equal(kv__method_right(KV__GET, "/v2/library/x/manifests/v1"), KV__RIGHT_VIEWER);
    assert_int_equal(kv__method_right(KV__HEAD, "/v2/library/x/blobs/sha256:0"), KV__RIGHT_VIEWER);
    assert_int_equal(kv__method_right(KV__POST, "/v2/library/x/blobs/uploads/"),
                     KV__RIGHT_OPERATOR);
    assert_int_equal(kv__method_right(KV__PATCH, "/v2/library/x/blobs/uploads/ab"),
                     KV__RIGHT_OPERATOR);
    assert_int_equal(kv__method_right(KV__PUT, "/v2/library/x/manifests/v1"), KV__RIGHT_OPERATOR);
    assert_int_equal(kv__method_right(KV__PUT, "/v2/"), KV__RIGHT_OPERATOR);
    assert_int_equal(kv__method_right(KV__POST, "/api/tags"), KV__RIGHT_VIEWER);
    assert_int_equal(kv__method_right(KV__PUT, "/api/keys"), KV__RIGHT_ADMIN);
}

static const char *last_token;
static int off;

// Keys "kv-v", "kv-u", "kv-o", "kv-a" for the four roles; "kv-r" is revoked.
static int fake_auth(void *user, const char *token, char *who, size_t cap) {
    (void)user;
    last_token = token;
    if (off)
        return -1;
    static const char *const K[] = {"kv-v", "kv-u", "kv-o", "kv-a"};
    for (int i = 0; i < 4; i++)
        if (token && strcmp(token, K[i]) == 0) {
            snprintf(who, cap, "key%d", i + 1);
            return i + 1;
        }
    return 0;
}

static void test_check(void **state) {
    (void)state;
    kv_serve *s = calloc(1, sizeof *s);
    assert_non_null(s);
    char who[KV__WHO_MAX], msg[256];
    // no hook: everything goes through
    assert_int_equal(kv__auth_check(s, KV__GET, "/api/generate", NULL, who, sizeof who, msg, sizeof msg), 0);
    assert_string_equal(who, "-");
    s->p.auth = fake_auth;
    assert_int_equal(kv__auth_check(s, KV__GET, "/api/generate", NULL, who, sizeof who, msg, sizeof msg),
                     401);
    assert_non_null(strstr(msg, "missing API key"));
    assert_int_equal(kv__auth_check(s, KV__GET, "/api/tags", "Bearer kv-x", who, sizeof who, msg, sizeof msg),
                     401);
    assert_non_null(strstr(msg, "invalid or revoked"));
    assert_int_equal(kv__auth_check(s, KV__GET, "/api/tags", "Bearer kv-r", who, sizeof who, msg, sizeof msg),
                     401);
    // public paths never ask
    last_token = "unset";
    assert_int_equal(kv__auth_check(s, KV__GET, "/health", NULL, who, sizeof who, msg, sizeof msg), 0);
    assert_string_equal(last_token, "unset");
    // the Bearer scheme, case-insensitive, with spaces around the token
    assert_int_equal(
        kv__auth_check(s, KV__GET, "/api/tags", "  bearer   kv-v  ", who, sizeof who, msg, sizeof msg), 0);
    assert_string_equal(last_token, "kv-v");
    assert_string_equal(who, "key1");
    assert_int_equal(kv__auth_check(s, KV__GET, "/api/tags", "Basic kv-v", who, sizeof who, msg, sizeof msg),
                     401);
    assert_null(last_token);
    assert_int_equal(kv__auth_check(s, KV__GET, "/api/tags", "Bearerkv-v", who, sizeof who, msg, sizeof msg),
                     401);
    assert_int_equal(kv__auth_check(s, KV__GET, "/api/tags", "Bearer ", who, sizeof who, msg, sizeof msg),
                     401);
    char big[KV__MAX_TOKEN + 16];
    snprintf(big, sizeof big, "Bearer ");
    memset(big + 7, 'k', sizeof big - 8);
    big[sizeof big - 1] = '\0';
    assert_int_equal(kv__auth_check(s, KV__GET, "/api/tags", big, who, sizeof who, msg, sizeof msg), 401);
    assert_null(last_token); // over the cap: not even looked up
    // roles against rights
    static const char *const P[] = {"/api/tags", "/api/chat", "/api/pull", "/api/keys"};
    static const char *const K[] = {"Bearer kv-v", "Bearer kv-u", "Bearer kv-o", "Bearer kv-a"};
    for (int role = 1; role <= 4; role++)
        for (int need = 1; need <= 4; need++) {
            unsigned st = kv__auth_check(s, KV__GET, P[need - 1], K[role - 1], who, sizeof who, msg,
                                         sizeof msg);
            assert_int_equal(st, role >= need ? 0u : 403u);
            if (st == 403)
                assert_non_null(strstr(msg, P[need - 1]));
        }
    // the hook says authentication is off (no keys): let in, who "-"
    off = 1;
    assert_int_equal(kv__auth_check(s, KV__GET, "/api/keys", NULL, who, sizeof who, msg, sizeof msg), 0);
    assert_string_equal(who, "-");
    off = 0;
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rights),
        cmocka_unit_test(test_method_rights),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
