// Routing (paths, methods, prefix arguments, which API's error shape), the
// status codes for kv_status failures, both APIs' error bodies, stop strings
// over streamed text, and JSON text from bytes that are not all UTF-8.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "serve/api_int.h"
#include "serve/buf_int.h"
#include "serve/call_int.h"
#include "serve/server_int.h"
#include "serve/stop_int.h"

static void test_routes(void **state) {
    (void)state;
    static const struct {
        unsigned method;
        const char *path;
        unsigned status;
        kv__api api;
        kv__handler fn;
    } CASES[] = {
        {KV__GET, "/", 200, KV__API_PLAIN, kv__h_root},
        {KV__HEAD, "/", 200, KV__API_PLAIN, kv__h_root},
        {KV__POST, "/api/generate", 200, KV__API_OLLAMA, kv__h_generate},
        {KV__GET, "/api/generate", 405, KV__API_OLLAMA, NULL},
        {KV__POST, "/api/chat", 200, KV__API_OLLAMA, kv__h_chat},
        {KV__POST, "/api/embed", 200, KV__API_OLLAMA, kv__h_embed},
        {KV__GET, "/api/tags", 200, KV__API_OLLAMA, kv__h_tags},
        {KV__POST, "/api/show", 200, KV__API_OLLAMA, kv__h_show},
        {KV__GET, "/api/ps", 200, KV__API_OLLAMA, kv__h_ps},
        {KV__GET, "/api/version", 200, KV__API_OLLAMA, kv__h_version},
        {KV__POST, "/v1/chat/completions", 200, KV__API_OPENAI, kv__h_oai_chat},
        {KV__GET, "/v1/chat/completions", 405, KV__API_OPENAI, NULL},
        {KV__POST, "/v1/completions", 200, KV__API_OPENAI, kv__h_oai_complete},
        {KV__POST, "/v1/embeddings", 200, KV__API_OPENAI, kv__h_oai_embed},
        {KV__GET, "/v1/models", 200, KV__API_OPENAI, kv__h_oai_models},
        {KV__GET, "/v1/models/kjv:latest", 200, KV__API_OPENAI, kv__h_oai_model},
        {KV__GET, "/v1/nothing", 404, KV__API_OPENAI, NULL},
        {KV__GET, "/api/nothing", 404, KV__API_OLLAMA, NULL},
        {KV__GET, "/metrics", 200, KV__API_PLAIN, kv__h_metrics},
        {KV__GET, "/health", 200, KV__API_PLAIN, kv__h_health},
        {KV__GET, "/ui", 200, KV__API_PLAIN, kv__h_ui},
        {KV__GET, "/ui/index.html", 200, KV__API_PLAIN, kv__h_ui},
        {KV__DELETE, "/api/tags", 405, KV__API_OLLAMA, NULL},
        {KV__GET, "/v2/library/x/manifests/v1", 200, KV__API_OLLAMA, kv__h_v2},
        {KV__PUT, "/v2/library/x/manifests/v1", 200, KV__API_OLLAMA, kv__h_v2_push},
        {KV__PATCH, "/v2/library/x/blobs/uploads/ab", 200, KV__API_OLLAMA, kv__h_v2_push},
        {KV__POST, "/v2/library/x/blobs/uploads/", 200, KV__API_OLLAMA, kv__h_v2_push},
        {KV__DELETE, "/v2/library/x/blobs/uploads/ab", 405, KV__API_OLLAMA, NULL},
        {KV__PUT, "/api/tags", 405, KV__API_OLLAMA, NULL},
        {0, "/api/tags", 405, KV__API_OLLAMA, NULL},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        unsigned status = 0;
        kv__api api;
        const kv__route *r = kv__route_find(CASES[i].method, CASES[i].path, &status, &api);
        assert_int_equal(status, CASES[i].status);
        assert_int_equal(api, CASES[i].api);
        if (CASES[i].fn) {
            assert_non_null(r);
            assert_ptr_equal(r->fn, CASES[i].fn);
        } else {
            assert_null(r);
        }
    }
    assert_int_equal(kv__method_from_name("POST"), KV__POST);
    assert_int_equal(kv__method_from_name("PATCH"), KV__PATCH);
    assert_int_equal(kv__method_from_name("PUT"), KV__PUT);
    assert_int_equal(kv__method_from_name("BREW"), 0);
    assert_string_equal(kv__method_name(KV__PATCH), "PATCH");
    assert_string_equal(kv__method_name(0), "?");
}

// Ollama's model-store endpoints are 501 naming the feature on a server without
// a store (p.store NULL; with one, test_serve_store); unknown paths beside them
// stay 404 (issue 11).
static void test_unsupported(void **state) {
    (void)state;
    static const struct {
        unsigned method;
        const char *path;
        const char *feature;
    } CASES[] = {
        {KV__POST, "/api/pull", "/api/pull"},
        {KV__POST, "/api/push", "/api/push"},
        {KV__POST, "/api/create", "/api/create"},
        {KV__POST, "/api/copy", "/api/copy"},
        {KV__DELETE, "/api/delete", "/api/delete"},
        {KV__POST, "/api/blobs/sha256:29fdb92e57cf0827ded04ae6461b5931d01fa5", "/api/blobs"},
        {KV__HEAD, "/api/blobs/sha256:0123", "/api/blobs"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        unsigned status = 0;
        kv__api api;
        const kv__route *r = kv__route_find(CASES[i].method, CASES[i].path, &status, &api);
        assert_non_null(r);
        assert_int_equal(api, KV__API_OLLAMA);
        static kv_serve no_store; // zeroed: p.store is NULL
        kv__call c = {.srv = &no_store, .api = api, .method = CASES[i].method,
                      .path = CASES[i].path};
        kv__route_run(r, &c);
        assert_int_equal(c.status, 501);
        assert_non_null(strstr(c.out.p, CASES[i].feature));
        assert_non_null(strstr(c.out.p, "not supported"));
        kv__buf_free(&c.out);
    }
    static const struct {
        unsigned method;
        const char *path;
        unsigned status;
    } OTHERS[] = {
        {KV__GET, "/api/pull", 405},     {KV__POST, "/api/delete", 405},
        {KV__POST, "/api/blobs", 404},   {KV__POST, "/api/pullx", 404},
        {KV__POST, "/api/nothing", 404}, {KV__GET, "/v1/pull", 404},
    };
    for (size_t i = 0; i < sizeof OTHERS / sizeof OTHERS[0]; i++) {
        unsigned status = 0;
        kv__api api;
        assert_null(kv__route_find(OTHERS[i].method, OTHERS[i].path, &status, &api));
        assert_int_equal(status, OTHERS[i].status);
    }
}

static void test_statuses(void **state) {
    (void)state;
    assert_int_equal(kv__http_status(KV_ERR_INVALID), 400);
    assert_int_equal(kv__http_status(KV_ERR_FORMAT), 400);
    assert_int_equal(kv__http_status(KV_ERR_LIMIT), 413);
    assert_int_equal(kv__http_status(KV_ERR_UNSUPPORTED), 422);
    assert_int_equal(kv__http_status(KV_ERR_NOMEM), 503);
    assert_int_equal(kv__http_status(KV_ERR_IO), 500);
    assert_int_equal(kv__http_status(KV_ERR_TRUNCATED), 500);
}

static void test_error_shapes(void **state) {
    (void)state;
    kv__call c = {.api = KV__API_OLLAMA};
    kv__call_error(&c, 400, "field 'options.top_k': expected an integer");
    assert_int_equal(c.status, 400);
    assert_string_equal(c.out.p, "{\"error\":\"field 'options.top_k': expected an integer\"}");
    kv__buf_free(&c.out);
    kv__call o = {.api = KV__API_OPENAI, .code = "model_not_found"};
    kv__call_error(&o, 404, "model 'x' not found");
    json_t *v = json_loadb(o.out.p, o.out.n, 0, NULL);
    assert_non_null(v);
    json_t *e = json_object_get(v, "error");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "model 'x' not found");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "not_found_error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "model_not_found");
    assert_true(json_is_null(json_object_get(e, "param")));
    json_decref(v);
    kv__buf_free(&o.out);
    kv__call p = {.api = KV__API_OPENAI};
    kv__call_error(&p, 400, "field 'temperature': 3 is outside 0..2");
    v = json_loadb(p.out.p, p.out.n, 0, NULL);
    e = json_object_get(v, "error");
    assert_string_equal(json_string_value(json_object_get(e, "param")), "temperature");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    json_decref(v);
    kv__buf_free(&p.out);
    // bytes that are not UTF-8 in a message still give JSON
    kv__call q = {.api = KV__API_OLLAMA};
    kv__call_error(&q, 500, "file '\xff\xfe.gguf' is bad");
    v = json_loadb(q.out.p, q.out.n, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "error")), "file '??.gguf' is bad");
    json_decref(v);
    kv__buf_free(&q.out);
}

// Feeds pieces through the stop strings; returns what came out, and whether it stopped.
static bool feed_all(const char *const *stop, size_t n_stop, const char *const *pieces, char *out,
                     size_t cap) {
    kv__buf held = {0}, o = {0};
    kv__buf_add(&o, "", 0, NULL);
    kv_status st;
    bool stopped = false;
    for (size_t i = 0; pieces[i] && !stopped; i++)
        stopped = kv__stop_feed(&held, stop, n_stop, pieces[i], strlen(pieces[i]), &o, &st, NULL);
    if (!stopped)
        kv__buf_add(&o, held.p ? held.p : "", held.n, NULL);
    snprintf(out, cap, "%s", o.p);
    kv__buf_free(&held);
    kv__buf_free(&o);
    return stopped;
}

static void test_stop_strings(void **state) {
    (void)state;
    static const char *const STOP[] = {"Amen", "\n\n"};
    char out[128];
    const char *const a[] = {"And the ", "LORD said", " A", "me", "n and more", NULL};
    assert_true(feed_all(STOP, 2, a, out, sizeof out));
    assert_string_equal(out, "And the LORD said ");
    const char *const b[] = {"Am", "en", NULL}; // split across pieces at the very start
    assert_true(feed_all(STOP, 2, b, out, sizeof out));
    assert_string_equal(out, "");
    const char *const c[] = {"A", "m", "e", "ricans", NULL}; // a false start is released
    assert_false(feed_all(STOP, 2, c, out, sizeof out));
    assert_string_equal(out, "Americans");
    const char *const d[] = {"one\n", "\ntwo", NULL};
    assert_true(feed_all(STOP, 2, d, out, sizeof out));
    assert_string_equal(out, "one");
    // what is held back at each step: only a possible start of a stop string
    kv__buf held = {0}, o = {0};
    kv_status st;
    assert_false(kv__stop_feed(&held, STOP, 2, "xAm", 3, &o, &st, NULL));
    assert_int_equal(o.n, 1);
    assert_int_equal(held.n, 2);
    kv__buf_free(&held);
    kv__buf_free(&o);
    const char *const e[] = {"no stops at all", NULL};
    assert_false(feed_all(NULL, 0, e, out, sizeof out));
    assert_string_equal(out, "no stops at all");
}

static void test_json_text(void **state) {
    (void)state;
    json_t *v = kv__json_text("ok \xc3\xa9", 5);
    assert_string_equal(json_string_value(v), "ok \xc3\xa9");
    json_decref(v);
    v = kv__json_text("a\xff"
                      "b\xe2\x82",
                      5);
    assert_string_equal(json_string_value(v), "a\xef\xbf\xbd"
                                              "b\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(v);
}

static void test_ui_files(void **state) {
    (void)state;
    kv__call c = {.arg = ""};
    kv_err err;
    assert_int_equal(kv__h_ui(&c, &err), KV_OK);
    assert_non_null(strstr(c.out.p, "<title>kvant chat</title>"));
    assert_non_null(strstr(c.ctype, "text/html"));
    // the page reaches nothing outside this server
    assert_null(strstr(c.out.p, "http://"));
    assert_null(strstr(c.out.p, "https://"));
    kv__buf_free(&c.out);
    kv__call d = {.arg = "secret.txt"};
    assert_int_equal(kv__h_ui(&d, &err), KV_ERR_INVALID);
    assert_int_equal(d.status, 404);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),       cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_error_shapes), cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_json_text),    cmocka_unit_test(test_ui_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
