// Replies: HTTP status codes for kv_status failures and the two APIs' error
// shapes (Ollama's {"error": "..."} and OpenAI's {"error": {message, type,
// param, code}}), plus the helper that writes a handler's JSON answer.
#include "serve/buf_int.h"
#include "serve/call_int.h"

#include <stdio.h>
#include <string.h>

#include "kvant/kv_tokenizer.h"

unsigned kv__http_status(kv_status st) {
    switch (st) {
    case KV_OK: return 200;
    case KV_ERR_INVALID:
    case KV_ERR_FORMAT: return 400;
    case KV_ERR_LIMIT: return 413;
    case KV_ERR_NOT_FOUND: return 404;
    case KV_ERR_UNSUPPORTED: return 422;
    case KV_ERR_NOMEM: return 503;
    default: return 500;
    }
}

// The field a validation message names ("field 'options.top_k': ..."), into out.
static bool message_field(const char *msg, char *out, size_t cap) {
    const char *p = strstr(msg, "field '");
    if (!p)
        return false;
    p += strlen("field '");
    const char *q = strchr(p, '\'');
    if (!q || (size_t)(q - p) >= cap)
        return false;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = '\0';
    return true;
}

static const char *openai_type(unsigned status) {
    if (status == 404)
        return "not_found_error";
    if (status == 503 || status == 429)
        return "overloaded_error";
    return status >= 500 ? "server_error" : "invalid_request_error";
}

json_t *kv__error_json(kv__api api, unsigned status, const char *code, const char *msg) {
    // jansson takes only UTF-8, and messages may quote file names or input bytes
    char clean[KV_ERR_MSG_SIZE];
    snprintf(clean, sizeof clean, "%s", msg);
    size_t bad, n = strlen(clean);
    while (!kv_utf8_valid(clean, n, &bad) && bad < n)
        clean[bad] = '?';
    if (api != KV__API_OPENAI)
        return json_pack("{s:s}", "error", clean);
    char param[128];
    json_t *jparam = message_field(clean, param, sizeof param) ? json_string(param) : json_null();
    json_t *jcode = code ? json_string(code) : json_null();
    return json_pack("{s:{s:s,s:s,s:o,s:o}}", "error", "message", clean, "type",
                     openai_type(status), "param", jparam, "code", jcode);
}

void kv__call_error(kv__call *c, unsigned status, const char *msg) {
    c->status = status;
    c->ctype = "application/json";
    c->out.n = 0;
    json_t *v = kv__error_json(c->api, status, c->code, msg);
    kv_err e;
    if (!v || kv__buf_add_json(&c->out, v, &e) != KV_OK) {
        c->out.n = 0;
        kv__buf_adds(&c->out, "{\"error\":\"out of memory\"}", NULL);
        c->status = 503;
    }
    json_decref(v);
}

kv_status kv__call_json(kv__call *c, json_t *v, kv_err *err) {
    if (!v)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the reply");
    c->ctype = "application/json";
    kv_status st = kv__buf_add_json(&c->out, v, err);
    json_decref(v);
    return st;
}

json_t *kv__json_text(const char *s, size_t n) {
    size_t bad;
    if (kv_utf8_valid(s, n, &bad))
        return json_stringn(s, n);
    // replace each byte that starts no valid sequence with U+FFFD
    kv__buf b = {0};
    size_t off = 0;
    while (off < n) {
        if (kv_utf8_valid(s + off, n - off, &bad)) {
            kv__buf_add(&b, s + off, n - off, NULL);
            break;
        }
        kv__buf_add(&b, s + off, bad, NULL);
        kv__buf_add(&b, "\xef\xbf\xbd", 3, NULL);
        off += bad + 1;
    }
    json_t *v = b.p ? json_stringn(b.p, b.n) : json_string("");
    kv__buf_free(&b);
    return v;
}
