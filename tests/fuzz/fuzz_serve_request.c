// libFuzzer harness for the server's request handling below HTTP: the first
// byte picks an endpoint, the rest is the body, parsed and validated as that
// endpoint's request. Accepted chat requests are rendered in every template
// family; rejected ones must carry a message, and become the API's error body.
// The body also goes through the keep_alive duration parser and the JSON text
// sanitiser.
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_speculative.h"
#include "serve/buf_int.h"
#include "serve/call_int.h"
#include "serve/duration_int.h"
#include "serve/request_int.h"

static void check_accepted(const kv__req *r) {
    if (!r->model || !*r->model || strlen(r->model) > KV__MAX_NAME)
        __builtin_trap(); // the model name is checked
    if (r->n_stop > KV__MAX_STOP || r->n_msgs > KV__MAX_MESSAGES || r->n_inputs > KV__MAX_INPUTS)
        __builtin_trap(); // counts are capped
    if ((r->n_ctx != 0 && r->n_ctx < KV__MIN_CTX) || r->n_keep < -2 || r->n_predict < -1)
        __builtin_trap(); // sizes are in range: num_ctx 1..3 reads as 4
    if (r->keep_alive_set &&
        !(r->keep_alive_s >= 0 && (isinf(r->keep_alive_s) || r->keep_alive_s < KV__FOREVER_S)))
        __builtin_trap(); // a keep_alive is safe to add to a clock, or forever
    if (r->lookup < 0 || r->lookup > KV_SPEC_MAX_LOOKUP || r->draft_max < 1 ||
        r->draft_max > KV_SPEC_MAX_DRAFT || r->draft < -1 || r->draft > 1 ||
        (r->draft == 1 && r->lookup > 0))
        __builtin_trap(); // speculative decoding's fields are in range, one proposer
    for (size_t i = 0; i < r->n_stop; i++)
        if (!r->stop[i][0] || strlen(r->stop[i]) > KV__MAX_STOP_LEN)
            __builtin_trap();
    for (int t = 0; t < KV_CHAT_COUNT; t++) {
        char *out = NULL;
        size_t len = 0;
        if (kv_chat_render((kv_chat_tmpl)t, r->msgs, r->n_msgs, true, NULL, &out, &len, NULL) !=
            KV_OK)
            __builtin_trap(); // rendering validated messages cannot fail
        if (strlen(out) != len)
            __builtin_trap(); // the length matches the text
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    kv__endpoint ep = (kv__endpoint)(data[0] % KV__EP_COUNT);
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    kv__req r;
    kv_err err;
    kv_err_clear(&err);
    if (kv__req_parse(ep, body, n, &r, &err) == KV_OK) {
        check_accepted(&r);
        kv__req_free(&r);
    } else {
        if (!err.msg[0] || r.root)
            __builtin_trap(); // a failure says why and leaves nothing behind
        kv__call c = {.api = ep >= KV__EP_OAI_CHAT ? KV__API_OPENAI : KV__API_OLLAMA};
        kv__call_error(&c, kv__http_status(err.status), err.msg);
        if (!c.out.p || c.out.p[0] != '{')
            __builtin_trap();
        kv__buf_free(&c.out);
    }
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    memcpy(s, body, n);
    s[n] = '\0';
    double seconds;
    char ts[48];
    if (kv__duration_parse(s, &seconds, NULL) == KV_OK) {
        double ka = kv__keep_alive_saturate(seconds);
        if (!(ka >= 0 && (isinf(ka) || ka < KV__FOREVER_S)))
            __builtin_trap();
        kv__rfc3339(seconds, ts, sizeof ts); // any time gives a four-digit year
        if (strlen(ts) != 30 || ts[4] != '-' || ts[29] != 'Z')
            __builtin_trap();
    }
    json_t *t = kv__json_text(body, n);
    if (!t)
        __builtin_trap(); // any bytes become a JSON string
    json_decref(t);
    free(s);
    return 0;
}
