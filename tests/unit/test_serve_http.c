// The server in-process over loopback HTTP: routing, limits and error shapes
// without a model; then, with the demo model (converted to Q8_0 in a temporary
// folder), generation streamed and not, chat, completions, embeddings, prompt
// limits, keep_alive unloading, client disconnects, the bounded queue and
// batching of concurrent requests.
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kv_test.h"
#include "kvant/kv_convert.h"
#include "kvant/kv_serve.h"

// Longest a test waits for one reply.
#define REPLY_TIMEOUT_S 60

typedef struct {
    int status;
    char *head; // status line and headers
    char *body;
    size_t body_len;
} reply;

static void reply_free(reply *r) {
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static int connect_to(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {REPLY_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

// Sends an HTTP/1.0 request (the server closes after the reply, streams included).
static int send_request(uint16_t port, const char *method, const char *path, const char *body) {
    int fd = connect_to(port);
    if (fd < 0)
        return -1;
    char head[512];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, body ? strlen(body) : 0);
    send_all(fd, head, (size_t)n);
    if (body)
        send_all(fd, body, strlen(body));
    return fd;
}

// Reads until the server closes, and splits status, headers and body.
static void read_reply(int fd, reply *r) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 2048 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t k = recv(fd, buf + n, cap - n - 1, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    close(fd);
    memset(r, 0, sizeof *r);
    char *sep = strstr(buf, "\r\n\r\n");
    size_t head_n = sep ? (size_t)(sep - buf) : n;
    r->head = strndup(buf, head_n);
    r->body_len = sep ? n - head_n - 4 : 0;
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, sep ? sep + 4 : "", r->body_len);
    r->body[r->body_len] = '\0';
    sscanf(buf, "HTTP/1.%*d %d", &r->status);
    free(buf);
}

static void http(uint16_t port, const char *method, const char *path, const char *body, reply *r) {
    int fd = send_request(port, method, path, body);
    assert_true(fd >= 0);
    read_reply(fd, r);
}

// body as JSON (the test fails when it is not).
static json_t *body_json(const reply *r) {
    json_error_t je;
    json_t *v = json_loadb(r->body, r->body_len, 0, &je);
    if (!v)
        print_error("not JSON (%s): %s\n", je.text, r->body);
    assert_non_null(v);
    return v;
}

// ---- a server without models loaded ----

typedef struct {
    char *dir;
    kv_serve *srv;
    uint16_t port;
} fixture;

static int start_empty(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = kv_test_tmpdir();
    kv_serve_params p = kv_serve_default_params();
    p.port = 0;
    p.models_dir = f->dir;
    p.body_max = 4096;
    kv_err err;
    if (kv_serve_start(&p, &f->srv, &err) != KV_OK) {
        print_error("kv_serve_start: %s\n", err.msg);
        return -1;
    }
    f->port = kv_serve_port(f->srv);
    *state = f;
    return 0;
}

static int stop_server(void **state) {
    fixture *f = *state;
    kv_serve_stop(f->srv);
    kv_test_rmdir(f->dir);
    free(f);
    return 0;
}

static void test_basics(void **state) {
    fixture *f = *state;
    reply r;
    http(f->port, "GET", "/", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "kvant is running");
    reply_free(&r);
    http(f->port, "GET", "/api/version", NULL, &r);
    json_t *v = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(v, "version")), KV_VERSION);
    json_decref(v);
    reply_free(&r);
    http(f->port, "GET", "/api/tags", NULL, &r);
    assert_string_equal(r.body, "{\"models\":[]}");
    reply_free(&r);
    http(f->port, "GET", "/v1/models", NULL, &r);
    assert_string_equal(r.body, "{\"object\":\"list\",\"data\":[]}");
    reply_free(&r);
    http(f->port, "GET", "/health", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"ok\""));
    reply_free(&r);
    http(f->port, "GET", "/ui", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "text/html"));
    assert_non_null(strstr(r.body, "kvant chat"));
    reply_free(&r);
}

static void test_errors(void **state) {
    fixture *f = *state;
    reply r;
    http(f->port, "GET", "/nowhere", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"error\":\"not found\"}");
    reply_free(&r);
    http(f->port, "GET", "/api/generate", NULL, &r);
    assert_int_equal(r.status, 405);
    reply_free(&r);
    http(f->port, "POST", "/api/generate", "{\"model\": \"m\",\n \"prompt\": }", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "line 2, column"));
    reply_free(&r);
    http(f->port, "POST", "/api/generate", "{\"model\":\"nope\",\"prompt\":\"x\"}", &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"error\":\"model 'nope' not found\"}");
    reply_free(&r);
    http(f->port, "POST", "/v1/chat/completions",
         "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r);
    assert_int_equal(r.status, 404);
    json_t *v = body_json(&r);
    json_t *e = json_object_get(v, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "model_not_found");
    json_decref(v);
    reply_free(&r);
    http(f->port, "POST", "/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\",\"n\":3}", &r);
    assert_int_equal(r.status, 422);
    reply_free(&r);
    http(f->port, "GET", "/v1/models/nope:latest", NULL, &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
}

static void test_body_limit(void **state) {
    fixture *f = *state;
    // a body over --max-body (4096 here), sent in full
    char *big = malloc(6001);
    memset(big, ' ', 6000);
    big[0] = '{';
    big[5999] = '}';
    big[6000] = '\0';
    reply r;
    http(f->port, "POST", "/api/generate", big, &r);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "\"error\""));
    reply_free(&r);
    free(big);
    // a Content-Length over the cap is refused before the body is read
    int fd = connect_to(f->port);
    const char *req = "POST /v1/chat/completions HTTP/1.0\r\nContent-Length: 100000000\r\n\r\n{";
    send_all(fd, req, strlen(req));
    read_reply(fd, &r);
    assert_int_equal(r.status, 413);
    json_t *v = body_json(&r);
    assert_non_null(json_object_get(json_object_get(v, "error"), "message"));
    json_decref(v);
    reply_free(&r);
}

static void test_metrics(void **state) {
    fixture *f = *state;
    reply r;
    http(f->port, "GET", "/nowhere", NULL, &r);
    reply_free(&r);
    http(f->port, "GET", "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "text/plain; version=0.0.4"));
    assert_non_null(strstr(r.body, "kvant_requests_total{status=\"404\"}"));
    assert_non_null(strstr(r.body, "kvant_requests_running 0"));
    reply_free(&r);
}

// ---- with the demo model ----

// Concurrent requests (the batching test) and their replies.
#define N_CONCURRENT 4 // one per slot

static int start_model(void **state) {
    fixture *f = calloc(1, sizeof *f);
    *state = f;
    if (!kv_test_shared())
        return 0; // the tests skip themselves
    f->dir = kv_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/kjv.gguf", f->dir);
    kv_convert_opts o = {.outtype = "q8_0"};
    kv_err err;
    if (kv_convert_hf(kv_test_shared_path("models/kjv-llama-7m"), path, &o, NULL, &err) != KV_OK) {
        print_error("convert: %s\n", err.msg);
        return -1;
    }
    kv_serve_params p = kv_serve_default_params();
    // the same file once more, as a model with a chat template set by hand
    kv_serve_model chatml = {"kjv-chatml", path, "chatml", NULL};
    p.models = &chatml;
    p.n_models = 1;
    p.port = 0;
    p.models_dir = f->dir;
    p.n_parallel = 4;
    p.n_ctx = 256;
    p.queue_max = 2;
    p.n_threads = 2;
    if (kv_serve_start(&p, &f->srv, &err) != KV_OK) {
        print_error("kv_serve_start: %s\n", err.msg);
        return -1;
    }
    f->port = kv_serve_port(f->srv);
    return 0;
}

static int stop_model(void **state) {
    fixture *f = *state;
    kv_serve_stop(f->srv);
    if (f->dir)
        kv_test_rmdir(f->dir);
    free(f);
    return 0;
}

// POSTs body and returns the parsed reply (status must be want).
static json_t *post_json(const fixture *f, const char *path, const char *body, int want) {
    reply r;
    http(f->port, "POST", path, body, &r);
    if (r.status != want)
        print_error("%s %s: status %d, body %s\n", path, body, r.status, r.body);
    assert_int_equal(r.status, want);
    json_t *v = body_json(&r);
    reply_free(&r);
    return v;
}

static long metric(const fixture *f, const char *name);
// Series of the demo model (per-model series carry a model label).
#define KJV_CACHED "kvant_prompt_tokens_cached_total{model=\"kjv:latest\"}"
#define KJV_GENERATED "kvant_generated_tokens_total{model=\"kjv:latest\"}"
#define KJV_ABORTED "kvant_requests_finished_total{model=\"kjv:latest\",finished_reason=\"abort\"}"

// Concatenates the "response" (or message.content) of each NDJSON line; the
// last line is returned in *last.
static char *join_ndjson(const char *body, json_t **last) {
    size_t cap = strlen(body) + 1, n = 0;
    char *out = calloc(1, cap);
    *last = NULL;
    for (const char *p = body; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        json_t *v = json_loadb(p, len, 0, NULL);
        assert_non_null(v);
        json_t *m = json_object_get(v, "message");
        const char *t = json_string_value(json_object_get(m ? m : v, m ? "content" : "response"));
        size_t k = t ? strlen(t) : 0;
        assert_true(n + k < cap);
        memcpy(out + n, t ? t : "", k);
        n += k;
        json_decref(*last);
        *last = v;
        p += len + (nl ? 1 : 0);
    }
    return out;
}

static void test_model_listing(void **state) {
    KV_NEED_SHARED();
    fixture *f = *state;
    reply r;
    http(f->port, "GET", "/api/tags", NULL, &r);
    json_t *v = body_json(&r);
    json_t *models = json_object_get(v, "models"), *m = NULL;
    for (size_t i = 0; i < json_array_size(models) && !m; i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(models, i), "name")),
                   "kjv:latest") == 0)
            m = json_array_get(models, i);
    assert_non_null(m);
    json_t *d = json_object_get(m, "details");
    assert_string_equal(json_string_value(json_object_get(d, "family")), "llama");
    assert_string_equal(json_string_value(json_object_get(d, "quantization_level")), "Q8_0");
    assert_string_equal(json_string_value(json_object_get(d, "format")), "gguf");
    json_decref(v);
    reply_free(&r);
    v = post_json(f, "/api/show", "{\"model\":\"kjv\"}", 200);
    json_t *info = json_object_get(v, "model_info");
    assert_string_equal(json_string_value(json_object_get(info, "general.architecture")), "llama");
    assert_string_equal(json_string_value(json_object_get(v, "template")), "plain");
    json_decref(v);
    http(f->port, "GET", "/v1/models/kjv:latest", NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

#define GREEDY "\"options\":{\"temperature\":0,\"num_predict\":12}"

static void test_generate(void **state) {
    KV_NEED_SHARED();
    fixture *f = *state;
    const char *body =
        "{\"model\":\"kjv\",\"prompt\":\"In the beginning\",\"stream\":false," GREEDY "}";
    json_t *a = post_json(f, "/api/generate", body, 200);
    const char *text = json_string_value(json_object_get(a, "response"));
    assert_true(strlen(text) > 0);
    assert_true(json_is_true(json_object_get(a, "done")));
    assert_string_equal(json_string_value(json_object_get(a, "done_reason")), "length");
    assert_int_equal(json_integer_value(json_object_get(a, "eval_count")), 12);
    assert_true(json_integer_value(json_object_get(a, "prompt_eval_count")) > 1);
    assert_true(json_integer_value(json_object_get(a, "total_duration")) > 0);
    // the same request again (its prompt is now cached) gives the same text
    long cached = metric(f, KJV_CACHED);
    json_t *b = post_json(f, "/api/generate", body, 200);
    long n_prompt = (long)json_integer_value(json_object_get(a, "prompt_eval_count"));
    assert_int_equal(metric(f, KJV_CACHED) - cached, n_prompt - 1);
    assert_string_equal(json_string_value(json_object_get(b, "response")), text);
    json_decref(b);
    // and streamed, the pieces join to it
    reply r;
    http(f->port, "POST", "/api/generate",
         "{\"model\":\"kjv\",\"prompt\":\"In the beginning\"," GREEDY "}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "application/x-ndjson"));
    json_t *last;
    char *joined = join_ndjson(r.body, &last);
    assert_string_equal(joined, text);
    assert_true(json_is_true(json_object_get(last, "done")));
    assert_int_equal(json_integer_value(json_object_get(last, "eval_count")), 12);
    free(joined);
    json_decref(last);
    reply_free(&r);
    json_decref(a);
}

static void test_openai(void **state) {
    KV_NEED_SHARED();
    fixture *f = *state;
    json_t *a = post_json(f, "/v1/completions",
                          "{\"model\":\"kjv\",\"prompt\":\"In the beginning\",\"max_tokens\":12,"
                          "\"temperature\":0}",
                          200);
    json_t *c = json_array_get(json_object_get(a, "choices"), 0);
    const char *text = json_string_value(json_object_get(c, "text"));
    assert_string_equal(json_string_value(json_object_get(c, "finish_reason")), "length");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(a, "usage"), "completion_tokens")), 12);
    // Ollama's generate with the same greedy settings says the same
    json_t *o = post_json(
        f, "/api/generate",
        "{\"model\":\"kjv\",\"prompt\":\"In the beginning\",\"stream\":false," GREEDY "}", 200);
    assert_string_equal(json_string_value(json_object_get(o, "response")), text);
    json_decref(o);
    reply r;
    http(f->port, "POST", "/v1/chat/completions",
         "{\"model\":\"kjv\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
         "\"max_tokens\":5,\"temperature\":0,\"stream\":true}",
         &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "text/event-stream"));
    assert_non_null(strstr(r.body, "\"role\":\"assistant\""));
    assert_non_null(strstr(r.body, "\"finish_reason\":\"length\""));
    size_t n = strlen(r.body);
    assert_true(n > 16 && strcmp(r.body + n - 16, "data: [DONE]\n\n\n") != 0);
    assert_non_null(strstr(r.body, "data: [DONE]\n\n"));
    reply_free(&r);
    json_decref(a);
}

static void test_chat_and_limits(void **state) {
    KV_NEED_SHARED();
    fixture *f = *state;
    json_t *v = post_json(f, "/api/chat",
                          "{\"model\":\"kjv\",\"stream\":false,\"messages\":[{\"role\":\"user\","
                          "\"content\":\"Who made the heaven?\"}]," GREEDY "}",
                          200);
    json_t *m = json_object_get(v, "message");
    assert_string_equal(json_string_value(json_object_get(m, "role")), "assistant");
    assert_true(strlen(json_string_value(json_object_get(m, "content"))) > 0);
    json_decref(v);
    // a prompt longer than num_ctx fails naming the field, unless truncated
    v = post_json(f, "/api/generate",
                  "{\"model\":\"kjv\",\"prompt\":\"And God said, Let there be light: and there "
                  "was light.\",\"stream\":false,\"options\":{\"num_ctx\":8,\"num_predict\":2}}",
                  400);
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "'prompt'"));
    json_decref(v);
    v = post_json(f, "/api/generate",
                  "{\"model\":\"kjv\",\"prompt\":\"And God said, Let there be light: and there "
                  "was light.\",\"stream\":false,\"truncate\":true,\"options\":{\"num_ctx\":8,"
                  "\"num_predict\":2}}",
                  200);
    json_decref(v);
    // num_ctx 1 with truncate (issue 11: the cut's size was -1, and the server
    // aborted): num_ctx reads as 4 and the prompt is cut to half of it
    v = post_json(f, "/api/generate",
                  "{\"model\":\"kjv\",\"prompt\":\"hello there\",\"stream\":false,"
                  "\"truncate\":true,\"options\":{\"num_ctx\":1}}",
                  200);
    assert_int_equal(json_integer_value(json_object_get(v, "prompt_eval_count")), 2);
    json_decref(v);
    v = post_json(f, "/api/chat",
                  "{\"model\":\"kjv\",\"stream\":false,\"truncate\":true,\"options\":"
                  "{\"num_ctx\":1},\"messages\":[{\"role\":\"user\",\"content\":\"hello "
                  "there\"}]}",
                  200);
    assert_int_equal(json_integer_value(json_object_get(v, "prompt_eval_count")), 2);
    json_decref(v);
    // stop strings end the text before them
    v = post_json(f, "/api/generate",
                  "{\"model\":\"kjv\",\"prompt\":\"In the beginning\",\"stream\":false,"
                  "\"options\":{\"temperature\":0,\"num_predict\":40,\"stop\":[\"the\"]}}",
                  200);
    assert_null(strstr(json_string_value(json_object_get(v, "response")), "the"));
    assert_string_equal(json_string_value(json_object_get(v, "done_reason")), "stop");
    json_decref(v);
}

static void test_template_override(void **state) {
    KV_NEED_SHARED();
    fixture *f = *state;
    json_t *v = post_json(f, "/api/show", "{\"model\":\"kjv-chatml\"}", 200);
    assert_string_equal(json_string_value(json_object_get(v, "template")), "chatml");
    json_decref(v);
    // the same messages make a longer prompt in ChatML than in the plain transcript
    const char *chat = "\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"Hi\"}],\"options\":{\"num_predict\":1}}";
    char body[256];
    snprintf(body, sizeof body, "{\"model\":\"kjv%s", chat);
    json_t *plain = post_json(f, "/api/chat", body, 200);
    snprintf(body, sizeof body, "{\"model\":\"kjv-chatml%s", chat);
    json_t *ml = post_json(f, "/api/chat", body, 200);
    assert_true(json_integer_value(json_object_get(ml, "prompt_eval_count")) >
                json_integer_value(json_object_get(plain, "prompt_eval_count")));
    json_decref(plain);
    json_decref(ml);
    reply r;
    http(f->port, "GET", "/api/tags", NULL, &r);
    assert_non_null(strstr(r.body, "\"kjv-chatml:latest\""));
    reply_free(&r);
}

static double norm(json_t *vec) {
    double s = 0;
    for (size_t i = 0; i < json_array_size(vec); i++) {
        double x = json_number_value(json_array_get(vec, i));
        s += x * x;
    }
    return sqrt(s);
}

static void test_embeddings(void **state) {
    KV_NEED_SHARED();
    fixture *f = *state;
    json_t *v = post_json(f, "/api/embed",
                          "{\"model\":\"kjv\",\"input\":[\"In the beginning\",\"Jesus wept\","
                          "\"In the beginning\"]}",
                          200);
    json_t *e = json_object_get(v, "embeddings");
    assert_int_equal(json_array_size(e), 3);
    json_t *e0 = json_array_get(e, 0), *e1 = json_array_get(e, 1), *e2 = json_array_get(e, 2);
    assert_true(json_array_size(e0) > 16);
    assert_true(fabs(norm(e0) - 1) < 1e-4);
    assert_true(json_equal(e0, e2));
    assert_false(json_equal(e0, e1));
    json_t *old =
        post_json(f, "/api/embeddings", "{\"model\":\"kjv\",\"prompt\":\"Jesus wept\"}", 200);
    assert_true(json_equal(json_object_get(old, "embedding"), e1));
    json_decref(old);
    json_t *o = post_json(f, "/v1/embeddings", "{\"model\":\"kjv\",\"input\":\"Jesus wept\"}", 200);
    json_t *d = json_array_get(json_object_get(o, "data"), 0);
    assert_true(json_equal(json_object_get(d, "embedding"), e1));
    json_decref(o);
    json_decref(v);
}

static long metric(const fixture *f, const char *name) {
    reply r;
    http(f->port, "GET", "/metrics", NULL, &r);
    char key[160];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(r.body, key);
    long v = p ? strtol(p + strlen(key), NULL, 10) : -1;
    reply_free(&r);
    return v;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

// Waits (bounded) until no request runs or waits.
static void wait_idle(const fixture *f) {
    for (int i = 0; i < 600; i++) {
        if (metric(f, "kvant_requests_running") == 0 && metric(f, "kvant_requests_waiting") == 0)
            return;
        sleep_s(0.05);
    }
    fail_msg("requests still running after 30 s");
}

static void test_disconnect(void **state) {
    KV_NEED_SHARED();
    fixture *f = *state;
    wait_idle(f);
    long before = metric(f, KJV_GENERATED), aborted = metric(f, KJV_ABORTED);
    // num_predict 2000 would run to the end of the context (256)
    int fd = send_request(f->port, "POST", "/api/generate",
                          "{\"model\":\"kjv\",\"prompt\":\"And\",\"options\":{\"num_predict\":2000,"
                          "\"temperature\":0}}");
    char buf[256];
    assert_true(recv(fd, buf, sizeof buf, 0) > 0); // the reply has started
    // wait for the first generated token, then leave
    for (int i = 0; i < 600 && metric(f, KJV_GENERATED) == before; i++)
        sleep_s(0.05);
    close(fd);
    wait_idle(f);
    long n = metric(f, KJV_GENERATED) - before;
    // the server noticed the client leave and ended the job (a loaded machine may
    // generate some tokens before it does): stopped, not run to the context's end
    assert_int_equal(metric(f, KJV_ABORTED) - aborted, 1);
    assert_true(n >= 1 && n < 250);
}

static void test_queue_full(void **state) {
    KV_NEED_SHARED();
    fixture *f = *state;
    wait_idle(f);
    // 4 slots and a queue of 2: six long streams are taken, the seventh gets 503
    int fds[6];
    for (int i = 0; i < 6; i++) {
        fds[i] = send_request(f->port, "POST", "/api/generate",
                              "{\"model\":\"kjv\",\"prompt\":\"And\",\"options\":{\"num_predict\":"
                              "200}}");
        char c;
        assert_true(recv(fds[i], &c, 1, 0) == 1); // its reply has begun: it holds a place
    }
    reply r;
    http(f->port, "POST", "/api/generate", "{\"model\":\"kjv\",\"prompt\":\"And\"}", &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.head, "Retry-After: "));
    assert_non_null(strstr(r.body, "\"error\""));
    reply_free(&r);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    wait_idle(f); // the queued ones are dropped as well as the running ones
}

typedef struct {
    const fixture *f;
    int i;
    char *text;
} worker;

static const char *const PROMPTS[] = {"In the beginning", "Jesus wept"};
#define N_PROMPTS 2

static char *greedy_request(const fixture *f, const char *prompt) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"kjv\",\"prompt\":\"%s\",\"stream\":false,\"options\":{"
             "\"temperature\":0,\"num_predict\":8}}",
             prompt);
    reply r;
    http(f->port, "POST", "/api/generate", body, &r);
    json_t *v = json_loadb(r.body, r.body_len, 0, NULL);
    const char *t = json_string_value(json_object_get(v, "response"));
    char *out = strdup(r.status == 200 && t ? t : "<failed>");
    json_decref(v);
    reply_free(&r);
    return out;
}

static void *run_worker(void *arg) {
    worker *w = arg;
    w->text = greedy_request(w->f, PROMPTS[w->i % N_PROMPTS]);
    return NULL;
}

static void test_concurrent(void **state) {
    KV_NEED_SHARED();
    fixture *f = *state;
    wait_idle(f);
    char *alone[N_PROMPTS];
    for (int i = 0; i < N_PROMPTS; i++)
        alone[i] = greedy_request(f, PROMPTS[i]);
    long batched_before = metric(f, "kvant_decode_batch_size_count") -
                          metric(f, "kvant_decode_batch_size_bucket{le=\"1\"}");
    pthread_t th[N_CONCURRENT];
    worker w[N_CONCURRENT];
    for (int i = 0; i < N_CONCURRENT; i++) {
        w[i] = (worker){f, i, NULL};
        pthread_create(&th[i], NULL, run_worker, &w[i]);
    }
    for (int i = 0; i < N_CONCURRENT; i++)
        pthread_join(th[i], NULL); // all of them before any assertion can leave
    for (int i = 0; i < N_CONCURRENT; i++) {
        assert_string_equal(w[i].text, alone[i % N_PROMPTS]);
        free(w[i].text);
    }
    long batched_after = metric(f, "kvant_decode_batch_size_count") -
                         metric(f, "kvant_decode_batch_size_bucket{le=\"1\"}");
    assert_true(batched_after > batched_before); // some steps decoded several sequences
    for (int i = 0; i < N_PROMPTS; i++)
        free(alone[i]);
}

static void test_keep_alive(void **state) {
    KV_NEED_SHARED();
    fixture *f = *state;
    json_t *v = post_json(f, "/api/generate", "{\"model\":\"kjv\"}", 200);
    assert_string_equal(json_string_value(json_object_get(v, "done_reason")), "load");
    json_decref(v);
    reply r;
    http(f->port, "GET", "/api/ps", NULL, &r);
    assert_non_null(strstr(r.body, "\"kjv:latest\""));
    assert_non_null(strstr(r.body, "\"expires_at\""));
    reply_free(&r);
    v = post_json(f, "/api/generate", "{\"model\":\"kjv\",\"keep_alive\":0}", 200);
    assert_string_equal(json_string_value(json_object_get(v, "done_reason")), "unload");
    json_decref(v);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        http(f->port, "GET", "/api/ps", NULL, &r);
        gone = strstr(r.body, "\"kjv:latest\"") == NULL;
        reply_free(&r);
        if (!gone)
            sleep_s(0.05);
    }
    assert_true(gone);
    // it loads again on the next request
    v = post_json(f, "/api/generate",
                  "{\"model\":\"kjv\",\"prompt\":\"Amen\",\"stream\":false,\"options\":{"
                  "\"num_predict\":1}}",
                  200);
    assert_true(json_integer_value(json_object_get(v, "load_duration")) > 0);
    json_decref(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_metrics),
    };
    const struct CMUnitTest model_tests[] = {
        cmocka_unit_test(test_model_listing), cmocka_unit_test(test_generate),
        cmocka_unit_test(test_openai),        cmocka_unit_test(test_chat_and_limits),
        cmocka_unit_test(test_embeddings),    cmocka_unit_test(test_template_override),
        cmocka_unit_test(test_disconnect),    cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_concurrent),    cmocka_unit_test(test_keep_alive),
    };
    int failed = cmocka_run_group_tests_name("without models", tests, start_empty, stop_server);
    return failed + cmocka_run_group_tests_name("demo model", model_tests, start_model, stop_model);
}
