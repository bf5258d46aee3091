// The HTTP request guard's pure checks: framing headers (duplicate or malformed
// Content-Length, Content-Length with Transfer-Encoding, codings other than
// chunked, Host required in HTTP/1.1), Host names against DNS rebinding for
// loopback, specific and wildcard binds and --allowed-hosts, Origins (Ollama's
// defaults, same origin, --origins patterns), the glob and the preflight's
// header-list check.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kv_test.h"
#include "serve/http_guard_int.h"

// Framing of a header list {name, value, name, value, ..., NULL}.
static unsigned framing(bool http11, uint64_t *len, const char *const *kv) {
    kv__http_hdrs h = {0};
    for (; kv[0]; kv += 2)
        kv__http_hdrs_add(&h, kv[0], kv[1]);
    char msg[256] = "";
    unsigned st = kv__http_framing(&h, http11, len, msg, sizeof msg);
    if (st != 0)
        assert_true(strlen(msg) > 0);
    return st;
}

static void test_framing(void **state) {
    (void)state;
    uint64_t len = 7;
    assert_int_equal(framing(true, &len, (const char *[]){"Host", "a", NULL}), 0);
    assert_true(len == 0);
    assert_int_equal(framing(false, &len, (const char *[]){NULL}), 0); // HTTP/1.0: no Host needed
    assert_int_equal(framing(true, &len, (const char *[]){NULL}), 400);
    assert_int_equal(framing(true, &len, (const char *[]){"Host", "a", "host", "b", NULL}), 400);
    assert_int_equal(
        framing(true, &len, (const char *[]){"Host", "a", "Content-Length", "0005", NULL}), 0);
    assert_true(len == 5);
    // two Content-Lengths, different or not, and in any letter case
    assert_int_equal(framing(true, &len, (const char *[]){"Host", "a", "Content-Length", "5",
                                                          "content-length", "6", NULL}),
                     400);
    assert_int_equal(framing(true, &len, (const char *[]){"Host", "a", "Content-Length", "5",
                                                          "CONTENT-LENGTH", "5", NULL}),
                     400);
    // Content-Length with Transfer-Encoding (RFC 9112 §6.3), either order
    assert_int_equal(framing(true, &len, (const char *[]){"Host", "a", "Content-Length", "5",
                                                          "Transfer-Encoding", "chunked", NULL}),
                     400);
    assert_int_equal(framing(true, &len, (const char *[]){"Host", "a", "Transfer-Encoding",
                                                          "chunked", "Content-Length", "5", NULL}),
                     400);
    assert_int_equal(framing(true, &len, (const char *[]){"Host", "a", "Transfer-Encoding",
                                                          "Chunked", NULL}),
                     0);
    assert_true(len == UINT64_MAX);
    assert_int_equal(framing(false, &len, (const char *[]){"Transfer-Encoding", "chunked", NULL}),
                     400);
    assert_int_equal(framing(true, &len, (const char *[]){"Host", "a", "Transfer-Encoding",
                                                          "gzip, chunked", NULL}),
                     501);
    assert_int_equal(framing(true, &len, (const char *[]){"Host", "a", "Transfer-Encoding",
                                                          "chunked", "Transfer-Encoding",
                                                          "chunked", NULL}),
                     501);
    static const char *const BAD_CL[] = {"",   "-1", "+5",    "5 ", " 5",
                                         "5,5", "0x10", "1e3", "12345678901234567890"};
    for (size_t i = 0; i < sizeof BAD_CL / sizeof BAD_CL[0]; i++)
        assert_int_equal(
            framing(true, &len, (const char *[]){"Host", "a", "Content-Length", BAD_CL[i], NULL}),
            400);
    assert_int_equal(framing(true, &len, (const char *[]){"Host", "a", "Origin", "http://x",
                                                          "Origin", "http://y", NULL}),
                     400);
    // a message quotes only printable ASCII of what it names
    kv__http_hdrs h = {0};
    kv__http_hdrs_add(&h, "Host", "a");
    kv__http_hdrs_add(&h, "Content-Length", "1\r\n\x01\xff");
    char msg[64];
    assert_int_equal(kv__http_framing(&h, true, &len, msg, sizeof msg), 400);
    for (const char *p = msg; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

static unsigned host(const kv__http_guard *g, const char *h) {
    char msg[256] = "";
    unsigned st = kv__http_host_check(g, h, msg, sizeof msg);
    if (st != 0)
        assert_true(strlen(msg) > 0);
    return st;
}

static void test_host_loopback(void **state) {
    (void)state;
    kv__http_guard g;
    assert_int_equal(kv__http_guard_init(&g, "127.0.0.1", NULL, NULL, "MyBox", NULL), KV_OK);
    static const char *const OK[] = {
        NULL,          "",           "localhost",           "LOCALHOST:11434", "localhost.",
        "app.localhost:80", "127.0.0.1", "127.0.0.1:11434",  "127.9.9.9",       "[::1]:11434",
        "[::1]",       "[::ffff:127.0.0.1]", "0.0.0.0:11434", "[::]",           "mybox",
        "MYBOX:8080",  "localhost:",
    };
    for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++)
        assert_int_equal(host(&g, OK[i]), 0);
    // names an attacker's DNS can point at 127.0.0.1, and other machines' addresses
    static const char *const NO[] = {
        "evil.example.com", "evil.example.com:11434", "localhost.evil.com", "127.0.0.1.nip.io",
        "mybox.evil.com",   "10.0.0.1",               "[2001:db8::1]:11434", "127.1",
        "[::ffff:10.0.0.1]", "0",
    };
    for (size_t i = 0; i < sizeof NO / sizeof NO[0]; i++)
        assert_int_equal(host(&g, NO[i]), 403);
    static const char *const BAD[] = {
        "a b", "evil.com:80:80", "[::1", "[::1]x", "host:abc", "host:123456", "host:65536",
        ":80", "ho/st", "h\xc3\xa9", "a@b", "[::g]", "[]", "\r\n",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        assert_int_equal(host(&g, BAD[i]), 400);
    kv__http_guard_free(&g);
}

static void test_host_binds(void **state) {
    (void)state;
    kv__http_guard g;
    // a wildcard: any address literal (it cannot be rebound), names as before
    assert_int_equal(kv__http_guard_init(&g, "0.0.0.0", NULL, NULL, NULL, NULL), KV_OK);
    assert_true(g.bind_wildcard);
    assert_int_equal(host(&g, "10.0.0.1:11434"), 0);
    assert_int_equal(host(&g, "[2001:db8::1]"), 0);
    assert_int_equal(host(&g, "evil.example.com"), 403);
    kv__http_guard_free(&g);
    assert_int_equal(kv__http_guard_init(&g, "[::]", NULL, NULL, NULL, NULL), KV_OK);
    assert_true(g.bind_wildcard);
    kv__http_guard_free(&g);
    // a specific address: that one and loopback
    assert_int_equal(kv__http_guard_init(&g, "192.168.1.5", NULL, NULL, NULL, NULL), KV_OK);
    assert_false(g.bind_wildcard);
    assert_int_equal(host(&g, "192.168.1.5:11434"), 0);
    assert_int_equal(host(&g, "localhost"), 0);
    assert_int_equal(host(&g, "192.168.1.6"), 403);
    kv__http_guard_free(&g);
    assert_int_equal(kv__http_guard_init(&g, "[2001:DB8::5]", NULL, NULL, NULL, NULL), KV_OK);
    assert_int_equal(host(&g, "[2001:db8:0::5]:1"), 0);
    assert_int_equal(host(&g, "[2001:db8::6]"), 403);
    kv__http_guard_free(&g);
    // a name
    assert_int_equal(kv__http_guard_init(&g, "KVant.lan", NULL, NULL, NULL, NULL), KV_OK);
    assert_int_equal(host(&g, "kvant.lan:11434"), 0);
    assert_int_equal(host(&g, "other.lan"), 403);
    kv__http_guard_free(&g);
    // --allowed-hosts: exact names and domains
    assert_int_equal(kv__http_guard_init(&g, "127.0.0.1", NULL, "kvant.example.com, .corp.internal",
                                         NULL, NULL),
                     KV_OK);
    assert_int_equal(host(&g, "kvant.example.com"), 0);
    assert_int_equal(host(&g, "a.b.corp.internal:443"), 0);
    assert_int_equal(host(&g, "corp.internal"), 0);
    assert_int_equal(host(&g, "xcorp.internal"), 403);
    assert_int_equal(host(&g, "example.com"), 403);
    kv__http_guard_free(&g);
    assert_int_equal(kv__http_guard_init(&g, "127.0.0.1", NULL, "*", NULL, NULL), KV_OK);
    assert_int_equal(host(&g, "evil.example.com"), 0);
    assert_int_equal(host(&g, "a b"), 400); // still well-formed
    kv__http_guard_free(&g);
}

static void test_guard_init_errors(void **state) {
    (void)state;
    kv__http_guard g;
    kv_err err;
    char many[KV__HTTP_MAX_PATTERNS * 4 + 8] = "";
    for (int i = 0; i <= KV__HTTP_MAX_PATTERNS; i++)
        strcat(many, "a,");
    assert_int_equal(kv__http_guard_init(&g, "127.0.0.1", many, NULL, NULL, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "--origins"));
    kv__http_guard_free(&g);
    assert_int_equal(kv__http_guard_init(&g, "127.0.0.1", NULL, "ok,b\x01", NULL, &err),
                     KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "--allowed-hosts"));
    kv__http_guard_free(&g);
    char longer[KV__HTTP_MAX_PATTERN + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(kv__http_guard_init(&g, "127.0.0.1", longer, NULL, NULL, &err),
                     KV_ERR_INVALID);
    kv__http_guard_free(&g);
    // empty entries and spaces are skipped
    assert_int_equal(kv__http_guard_init(&g, "127.0.0.1", " , ,http://a.test,,", NULL, NULL, &err),
                     KV_OK);
    assert_int_equal(g.n_origins, 1);
    kv__http_guard_free(&g);
}

static void test_origins(void **state) {
    (void)state;
    kv__http_guard g;
    assert_int_equal(kv__http_guard_init(&g, "127.0.0.1", NULL, NULL, "mybox", NULL), KV_OK);
    static const char *const OK[] = {
        "http://localhost",     "http://localhost:3000", "https://localhost:8443",
        "http://127.0.0.1",     "https://127.0.0.1:1",   "http://0.0.0.0:8080",
        "HTTP://LOCALHOST:1",   "app://anything",        "file://",
        "tauri://localhost",    "vscode-webview://abc",  "vscode-file://vscode-app",
    };
    for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++)
        assert_true(kv__http_origin_allowed(&g, OK[i], "127.0.0.1:11434"));
    assert_true(kv__http_origin_allowed(&g, NULL, "127.0.0.1:11434"));
    static const char *const NO[] = {
        "http://evil.example.com", "http://localhost.evil.com", "http://localhost:3000.evil.com",
        "null",                    "http://localhost:80@evil.com", "http://127.0.0.1:99999",
        "http://localhost/path",   "http://localhost:1 http://evil.com", "",
        "http://10.0.0.1:11434",   "chrome-extension://abc", "ftp://localhost",
    };
    for (size_t i = 0; i < sizeof NO / sizeof NO[0]; i++)
        assert_false(kv__http_origin_allowed(&g, NO[i], "127.0.0.1:11434"));
    // the same origin as the Host: the server's own page
    assert_true(kv__http_origin_allowed(&g, "http://mybox:11434", "mybox:11434"));
    assert_true(kv__http_origin_allowed(&g, "https://MyBox:11434", "mybox:11434"));
    assert_false(kv__http_origin_allowed(&g, "http://mybox:11435", "mybox:11434"));
    assert_false(kv__http_origin_allowed(&g, "http://evil.com:11434", "mybox:11434"));
    char msg[128];
    assert_int_equal(kv__http_origin_check(&g, "http://evil\r\n.example.com", "a", msg, sizeof msg),
                     403);
    assert_non_null(strstr(msg, "http://evil??.example.com"));
    assert_int_equal(kv__http_origin_check(&g, "http://localhost:1", "a", msg, sizeof msg), 0);
    char longer[1200] = "http://localhost:";
    memset(longer + strlen(longer), '1', 1100);
    longer[sizeof longer - 1] = '\0';
    assert_false(kv__http_origin_allowed(&g, longer, "127.0.0.1"));
    kv__http_guard_free(&g);
    assert_int_equal(kv__http_guard_init(&g, "127.0.0.1",
                                         "https://*.example.com,chrome-extension://*", NULL, NULL,
                                         NULL),
                     KV_OK);
    assert_true(kv__http_origin_allowed(&g, "https://app.example.com", "127.0.0.1"));
    assert_true(kv__http_origin_allowed(&g, "chrome-extension://abcdef", "127.0.0.1"));
    assert_false(kv__http_origin_allowed(&g, "https://example.com", "127.0.0.1"));
    assert_false(kv__http_origin_allowed(&g, "http://app.example.com", "127.0.0.1"));
    assert_true(kv__http_origin_allowed(&g, "http://localhost:5173", "127.0.0.1")); // defaults stay
    kv__http_guard_free(&g);
    assert_int_equal(kv__http_guard_init(&g, "127.0.0.1", "*", NULL, NULL, NULL), KV_OK);
    assert_true(kv__http_origin_allowed(&g, "http://evil.example.com", "127.0.0.1"));
    kv__http_guard_free(&g);
}

static void test_glob_and_tokens(void **state) {
    (void)state;
    assert_true(kv__http_glob("*", ""));
    assert_true(kv__http_glob("a*b*c", "aXXbYYc"));
    assert_true(kv__http_glob("a*b*c", "abbbc"));
    assert_true(kv__http_glob("A*", "abc"));
    assert_false(kv__http_glob("a*", "b"));
    assert_false(kv__http_glob("a*c", "abcd"));
    assert_false(kv__http_glob("abc", "ab"));
    assert_true(kv__http_token_list("content-type, x-stainless-os,Authorization"));
    assert_true(kv__http_token_list(""));
    assert_false(kv__http_token_list("a\r\nX-Evil: 1"));
    assert_false(kv__http_token_list("a;b"));
    char longer[1100];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_false(kv__http_token_list(longer));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),         cmocka_unit_test(test_host_loopback),
        cmocka_unit_test(test_host_binds),      cmocka_unit_test(test_guard_init_errors),
        cmocka_unit_test(test_origins),         cmocka_unit_test(test_glob_and_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
