// Request bodies: JSON parsed by jansson, then checked field by field against
// what each endpoint takes (Ollama's and OpenAI's names), into one kv__req.
// Errors name the field. Unknown fields are ignored, as both servers do; fields
// for features kvant lacks (images, tools, n > 1, logprobs) are refused.
#include "serve/buf_int.h"
#include "serve/duration_int.h"
#include "serve/request_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_json.h"
#include "kvant/kv_speculative.h"

// ---- field readers ----

// Absent and null both read as "not given".
static const json_t *field(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static kv_status get_str(const json_t *obj, const char *key, const char *path, bool required,
                         const char **out, kv_err *err) {
    const json_t *v = field(obj, key);
    if (!v) {
        if (required)
            return KV_FAIL(err, KV_ERR_INVALID, "field '%s' is required", path);
        return KV_OK;
    }
    if (!json_is_string(v))
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s': expected a string, got %s", path,
                       kv_json_type_name(v));
    *out = json_string_value(v);
    return KV_OK;
}

static kv_status get_bool(const json_t *obj, const char *key, const char *path, bool *out,
                          kv_err *err) {
    const json_t *v = field(obj, key);
    if (!v)
        return KV_OK;
    if (!json_is_boolean(v))
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s': expected a boolean, got %s", path,
                       kv_json_type_name(v));
    *out = json_is_true(v);
    return KV_OK;
}

static kv_status get_num(const json_t *obj, const char *key, const char *path, double lo, double hi,
                         float *out, kv_err *err) {
    const json_t *v = field(obj, key);
    if (!v)
        return KV_OK;
    if (!json_is_number(v))
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s': expected a number, got %s", path,
                       kv_json_type_name(v));
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi))
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s': %g is outside %g..%g", path, x, lo, hi);
    *out = (float)x;
    return KV_OK;
}

static kv_status get_int(const json_t *obj, const char *key, const char *path, int64_t lo,
                         int64_t hi, int64_t *out, kv_err *err) {
    const json_t *v = field(obj, key);
    if (!v)
        return KV_OK;
    json_int_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 9e15) {
        x = (json_int_t)json_real_value(v); // 5.0 is an integer to JavaScript clients
    } else {
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s': expected an integer, got %s", path,
                       kv_json_type_name(v));
    }
    if (x < lo || x > hi)
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s': %lld is outside %lld..%lld", path,
                       (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return KV_OK;
}

static kv_status get_i32(const json_t *obj, const char *key, const char *path, int64_t lo,
                         int64_t hi, int32_t *out, kv_err *err) {
    int64_t v = *out;
    kv_status st = get_int(obj, key, path, lo, hi, &v, err);
    *out = (int32_t)v;
    return st;
}

// Fields whose presence asks for something kvant does not do.
static kv_status refuse_nonempty(const json_t *obj, const char *key, const char *what,
                                 kv_err *err) {
    const json_t *v = field(obj, key);
    if (!v || json_is_false(v) || (json_is_array(v) && json_array_size(v) == 0) ||
        (json_is_string(v) && json_string_length(v) == 0))
        return KV_OK;
    return KV_FAIL(err, KV_ERR_UNSUPPORTED, "field '%s': %s are not supported", key, what);
}

// ---- shared fields ----

static kv_status check_name(const char *s, const char *path, kv_err *err) {
    size_t n = strlen(s);
    if (n == 0 || n > KV__MAX_NAME)
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s' must have 1 to %d bytes", path,
                       KV__MAX_NAME);
    return KV_OK;
}

// stop: a string or an array of strings.
static kv_status get_stop(kv__req *r, const json_t *obj, const char *path, kv_err *err) {
    const json_t *v = field(obj, "stop");
    if (!v)
        return KV_OK;
    const json_t *one = json_is_string(v) ? v : NULL;
    if (!one && !json_is_array(v))
        return KV_FAIL(err, KV_ERR_INVALID,
                       "field '%s': expected a string or an array of "
                       "strings, got %s",
                       path, kv_json_type_name(v));
    size_t n = one ? 1 : json_array_size(v);
    if (n > KV__MAX_STOP)
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s': %zu stop strings, at most %d", path, n,
                       KV__MAX_STOP);
    r->n_stop = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = one ? one : json_array_get(v, i);
        if (!json_is_string(s))
            return KV_FAIL(err, KV_ERR_INVALID, "field '%s[%zu]': expected a string, got %s", path,
                           i, kv_json_type_name(s));
        size_t len = json_string_length(s);
        if (len > KV__MAX_STOP_LEN)
            return KV_FAIL(err, KV_ERR_INVALID, "field '%s[%zu]': %zu bytes, at most %d", path, i,
                           len, KV__MAX_STOP_LEN);
        if (len > 0)
            r->stop[r->n_stop++] = json_string_value(s);
    }
    return KV_OK;
}

static kv_status get_seed(kv__req *r, const json_t *obj, const char *path, kv_err *err) {
    int64_t seed = -1;
    kv_status st = get_int(obj, "seed", path, INT64_MIN, INT64_MAX, &seed, err);
    if (st == KV_OK && field(obj, "seed") && seed >= 0) {
        r->smp.seed = (uint64_t)seed;
        r->smp.seed_set = true;
    }
    return st;
}

// Speculative decoding's fields (lookup, draft_max, draft) of obj, named
// prefix + key in errors: Ollama's options, or the OpenAI extension object
// "speculative".
static kv_status get_spec(kv__req *r, const json_t *obj, const char *prefix, kv_err *err) {
    char path[3][48];
    snprintf(path[0], sizeof path[0], "%slookup", prefix);
    snprintf(path[1], sizeof path[1], "%sdraft_max", prefix);
    snprintf(path[2], sizeof path[2], "%sdraft", prefix);
    bool draft = false;
    kv_status st = get_i32(obj, "lookup", path[0], 0, KV_SPEC_MAX_LOOKUP, &r->lookup, err);
    if (st == KV_OK)
        st = get_i32(obj, "draft_max", path[1], 1, KV_SPEC_MAX_DRAFT, &r->draft_max, err);
    if (st == KV_OK)
        st = get_bool(obj, "draft", path[2], &draft, err);
    if (st != KV_OK)
        return st;
    if (field(obj, "draft"))
        r->draft = draft ? 1 : 0;
    if (r->draft == 1 && r->lookup > 0) // one proposer per request
        return KV_FAIL(err, KV_ERR_INVALID,
                       "field '%s': true with %s %d; speculative decoding takes a draft model "
                       "or n-gram lookup, not both",
                       path[2], path[0], r->lookup);
    return KV_OK;
}

// The OpenAI endpoints' extension object "speculative": {"lookup": N,
// "draft_max": N, "draft": bool}, as Ollama's options take them.
static kv_status get_openai_spec(kv__req *r, const json_t *root, kv_err *err) {
    const json_t *v = field(root, "speculative");
    if (!v)
        return KV_OK;
    if (!json_is_object(v))
        return KV_FAIL(err, KV_ERR_INVALID, "field 'speculative': expected an object, got %s",
                       kv_json_type_name(v));
    const char *key;
    const json_t *x;
    json_object_foreach((json_t *)v, key, x) {
        if (strcmp(key, "lookup") != 0 && strcmp(key, "draft_max") != 0 &&
            strcmp(key, "draft") != 0)
            return KV_FAIL(err, KV_ERR_INVALID,
                           "field 'speculative.%.64s': unknown (lookup, draft_max and draft are "
                           "known)",
                           key);
    }
    return get_spec(r, v, "speculative.", err);
}

// Ollama's options object.
static kv_status get_options(kv__req *r, const json_t *root, kv_err *err) {
    const json_t *o = field(root, "options");
    if (!o)
        return KV_OK;
    if (!json_is_object(o))
        return KV_FAIL(err, KV_ERR_INVALID, "field 'options': expected an object, got %s",
                       kv_json_type_name(o));
    kv__sampling *s = &r->smp;
    kv_status st = get_num(o, "temperature", "options.temperature", 0, 100, &s->temp, err);
    if (st == KV_OK)
        st = get_i32(o, "top_k", "options.top_k", 0, INT32_MAX, &s->top_k, err);
    if (st == KV_OK)
        st = get_num(o, "top_p", "options.top_p", 0, 1, &s->top_p, err);
    if (st == KV_OK)
        st = get_num(o, "min_p", "options.min_p", 0, 1, &s->min_p, err);
    if (st == KV_OK)
        st = get_seed(r, o, "options.seed", err);
    if (st == KV_OK)
        st = get_i32(o, "num_predict", "options.num_predict", INT32_MIN, INT32_MAX, &r->n_predict,
                     err);
    if (st == KV_OK)
        st = get_i32(o, "num_ctx", "options.num_ctx", 1, INT32_MAX, &r->n_ctx, err);
    if (st == KV_OK)
        st = get_spec(r, o, "options.", err);
    if (st == KV_OK)
        st = get_i32(o, "num_keep", "options.num_keep", -1, INT32_MAX, &r->n_keep, err);
    if (st == KV_OK)
        st = get_stop(r, o, "options.stop", err);
    if (st == KV_OK)
        st =
            get_num(o, "repeat_penalty", "options.repeat_penalty", 0, 100, &s->repeat_penalty, err);
    if (st == KV_OK)
        st =
            get_i32(o, "repeat_last_n", "options.repeat_last_n", -1, 65536, &s->repeat_last_n, err);
    if (st == KV_OK)
        st = get_num(o, "frequency_penalty", "options.frequency_penalty", -100, 100,
                     &s->freq_penalty, err);
    if (st == KV_OK)
        st = get_num(o, "presence_penalty", "options.presence_penalty", -100, 100,
                     &s->presence_penalty, err);
    if (st != KV_OK)
        return st;
    if (r->n_predict < 0)
        r->n_predict = -1;
    if (r->n_ctx > 0 && r->n_ctx < KV__MIN_CTX)
        r->n_ctx = KV__MIN_CTX; // a prompt token and a reply need room
    return KV_OK;
}

// A JSON schema v given in field path, compiled into r->schema; what kvant does
// not enforce is refused, the message naming the keyword.
static kv_status get_schema(kv__req *r, const json_t *v, const char *path, kv_err *err) {
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for field '%s'", path);
    kv_err e;
    kv_status st = kv_json_schema_compile(text, strlen(text), &r->schema, &e);
    free(text);
    if (st != KV_OK)
        return KV_FAIL(err, st, "field '%s': %s", path, e.msg);
    r->format_json = true;
    return KV_OK;
}

// Ollama's format: "json" (one JSON object), "" or a JSON schema object (enforced).
static kv_status get_format(kv__req *r, const json_t *root, kv_err *err) {
    const json_t *v = field(root, "format");
    if (!v || (json_is_string(v) && json_string_length(v) == 0))
        return KV_OK;
    if (json_is_object(v))
        return get_schema(r, v, "format", err);
    if (json_is_string(v) && strcmp(json_string_value(v), "json") == 0) {
        r->format_json = true;
        return KV_OK;
    }
    return KV_FAIL(err, KV_ERR_INVALID, "field 'format': expected \"json\" or a JSON schema");
}

static kv_status get_keep_alive(kv__req *r, const json_t *root, kv_err *err) {
    const json_t *v = field(root, "keep_alive");
    if (!v)
        return KV_OK;
    r->keep_alive_set = true;
    return kv__keep_alive_from_json(v, "keep_alive", &r->keep_alive_s, err);
}

// ---- messages ----

static kv_status get_role(const json_t *m, const char *path, kv_chat_role *out, kv_err *err) {
    const char *role = NULL;
    kv_status st = get_str(m, "role", path, true, &role, err);
    if (st != KV_OK)
        return st;
    static const struct {
        const char *name;
        kv_chat_role role;
    } ROLES[] = {
        {"system", KV_CHAT_ROLE_SYSTEM},       {"developer", KV_CHAT_ROLE_SYSTEM},
        {"user", KV_CHAT_ROLE_USER},           {"assistant", KV_CHAT_ROLE_ASSISTANT},
        {"tool", KV_CHAT_ROLE_TOOL},
    };
    for (size_t i = 0; i < sizeof ROLES / sizeof ROLES[0]; i++)
        if (strcmp(role, ROLES[i].name) == 0) {
            *out = ROLES[i].role;
            return KV_OK;
        }
    return KV_FAIL(err, KV_ERR_INVALID,
                   "field '%s': unknown role '%.32s' (system, user, "
                   "assistant or tool)",
                   path, role);
}

// One text part {"type": "text", "text": "..."} of OpenAI content, appended to b.
static kv_status add_part(kv__buf *b, const json_t *p, const char *path, size_t i, kv_err *err) {
    char sub[160];
    const char *type = NULL, *text = NULL;
    if (!json_is_object(p))
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s[%zu]': expected an object", path, i);
    snprintf(sub, sizeof sub, "%.100s[%zu].type", path, i);
    kv_status st = get_str(p, "type", sub, true, &type, err);
    if (st != KV_OK)
        return st;
    if (strcmp(type, "text") != 0)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "field '%s': content type '%.32s' is not "
                       "supported (only text)",
                       sub, type);
    snprintf(sub, sizeof sub, "%.100s[%zu].text", path, i);
    st = get_str(p, "text", sub, true, &text, err);
    if (st == KV_OK)
        st = kv__buf_adds(b, text, err);
    return st;
}

// OpenAI content as an array of parts: the text parts, joined, owned by r.
static kv_status join_parts(kv__req *r, const json_t *parts, const char *path, const char **out,
                            kv_err *err) {
    kv__buf b = {0};
    kv_status st = kv__buf_add(&b, "", 0, err);
    for (size_t i = 0; st == KV_OK && i < json_array_size(parts); i++)
        st = add_part(&b, json_array_get(parts, i), path, i, err);
    char **grown = NULL;
    if (st == KV_OK) {
        grown = realloc(r->parts, (r->n_parts + 1) * sizeof *grown);
        if (!grown)
            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory for message parts");
    }
    if (st != KV_OK) {
        kv__buf_free(&b);
        return st;
    }
    r->parts = grown;
    r->parts[r->n_parts++] = b.p;
    *out = b.p;
    return KV_OK;
}

static kv_status get_message(kv__req *r, const json_t *m, size_t i, kv_err *err) {
    char path[64];
    snprintf(path, sizeof path, "messages[%zu]", i);
    if (!json_is_object(m))
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s': expected an object, got %s", path,
                       kv_json_type_name(m));
    kv_chat_msg *msg = &r->msgs[i];
    char sub[160];
    snprintf(sub, sizeof sub, "%s.role", path);
    kv_status st = get_role(m, sub, &msg->role, err);
    if (st != KV_OK)
        return st;
    snprintf(sub, sizeof sub, "%s.images", path);
    if (refuse_nonempty(m, "images", "images", NULL) != KV_OK)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "field '%s': images are not supported", sub);
    snprintf(sub, sizeof sub, "%s.content", path);
    const json_t *c = field(m, "content");
    msg->content = "";
    if (json_is_array(c))
        return join_parts(r, c, sub, &msg->content, err);
    if (c && !json_is_string(c))
        return KV_FAIL(err, KV_ERR_INVALID,
                       "field '%s': expected a string or an array of "
                       "parts, got %s",
                       sub, kv_json_type_name(c));
    if (c)
        msg->content = json_string_value(c);
    return KV_OK;
}

static kv_status get_messages(kv__req *r, const json_t *root, bool required, kv_err *err) {
    const json_t *v = field(root, "messages");
    if (!v && !required)
        return KV_OK;
    if (!json_is_array(v))
        return KV_FAIL(err, KV_ERR_INVALID, "field 'messages': expected an array of messages%s",
                       v ? "" : " (it is required)");
    size_t n = json_array_size(v);
    if (required && n == 0)
        return KV_FAIL(err, KV_ERR_INVALID, "field 'messages' must not be empty");
    if (n > KV__MAX_MESSAGES)
        return KV_FAIL(err, KV_ERR_INVALID, "field 'messages': %zu messages, at most %d", n,
                       KV__MAX_MESSAGES);
    r->msgs = calloc(n ? n : 1, sizeof *r->msgs);
    if (!r->msgs)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %zu messages", n);
    r->n_msgs = n;
    for (size_t i = 0; i < n; i++) {
        kv_status st = get_message(r, json_array_get(v, i), i, err);
        if (st != KV_OK)
            return st;
    }
    return KV_OK;
}

// ---- embedding inputs ----

static kv_status get_inputs(kv__req *r, const json_t *root, kv_err *err) {
    const json_t *v = field(root, "input");
    if (!v)
        return KV_FAIL(err, KV_ERR_INVALID, "field 'input' is required");
    bool one = json_is_string(v);
    if (!one && !json_is_array(v))
        return KV_FAIL(err, KV_ERR_INVALID,
                       "field 'input': expected a string or an array of "
                       "strings, got %s",
                       kv_json_type_name(v));
    size_t n = one ? 1 : json_array_size(v);
    if (n == 0 || n > KV__MAX_INPUTS)
        return KV_FAIL(err, KV_ERR_INVALID, "field 'input': %zu inputs, expected 1 to %d", n,
                       KV__MAX_INPUTS);
    r->inputs = calloc(n, sizeof *r->inputs);
    if (!r->inputs)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %zu inputs", n);
    r->n_inputs = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = one ? v : json_array_get(v, i);
        bool tokens = json_is_array(s) || (i == 0 && json_is_integer(s)); // OpenAI's token input
        if (tokens)
            return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                           "field 'input[%zu]': token ids as input "
                           "are not supported; send text",
                           i);
        if (!json_is_string(s))
            return KV_FAIL(err, KV_ERR_INVALID, "field 'input[%zu]': expected a string, got %s", i,
                           kv_json_type_name(s));
        r->inputs[i] = json_string_value(s);
    }
    return KV_OK;
}

// ---- endpoints ----

static kv_status parse_ollama(kv__req *r, const json_t *root, kv_err *err) {
    kv_status st = get_str(root, "model", "model", true, &r->model, err);
    if (st == KV_OK)
        st = check_name(r->model, "model", err);
    if (st == KV_OK)
        st = get_bool(root, "stream", "stream", &r->stream, err);
    if (st == KV_OK)
        st = get_options(r, root, err);
    if (st == KV_OK)
        st = get_format(r, root, err);
    if (st == KV_OK)
        st = get_keep_alive(r, root, err);
    if (st == KV_OK)
        st = get_bool(root, "truncate", "truncate", &r->truncate, err);
    if (st == KV_OK)
        st = refuse_nonempty(root, "images", "images", err);
    if (st == KV_OK)
        st = refuse_nonempty(root, "tools", "tools", err);
    if (st != KV_OK)
        return st;
    switch (r->ep) {
    case KV__EP_GENERATE:
        st = get_str(root, "prompt", "prompt", false, &r->prompt, err);
        if (st == KV_OK)
            st = get_str(root, "system", "system", false, &r->system, err);
        if (st == KV_OK)
            st = get_bool(root, "raw", "raw", &r->raw, err);
        if (st == KV_OK)
            st = refuse_nonempty(root, "suffix", "suffixes (fill-in-the-middle)", err);
        if (st == KV_OK)
            st = refuse_nonempty(root, "template", "per-request templates", err);
        if (st == KV_OK)
            st = refuse_nonempty(root, "context", "context token arrays", err);
        if (st != KV_OK)
            return st;
        return KV_OK;
    case KV__EP_CHAT: return get_messages(r, root, false, err);
    case KV__EP_EMBED:
        if (!field(root, "truncate"))
            r->truncate = true; // Ollama's default for embeddings
        st = refuse_nonempty(root, "dimensions", "reduced dimensions", err);
        if (st != KV_OK)
            return st;
        return get_inputs(r, root, err);
    case KV__EP_EMBEDDINGS:
        r->truncate = true;
        return get_str(root, "prompt", "prompt", true, &r->prompt, err);
    default: return KV_OK;
    }
}

// OpenAI's sampling fields, plus llama.cpp's extensions (top_k, min_p, repeat_penalty).
static kv_status get_openai_sampling(kv__req *r, const json_t *root, kv_err *err) {
    kv__sampling *s = &r->smp;
    int64_t n = 1;
    kv_status st = get_num(root, "temperature", "temperature", 0, 2, &s->temp, err);
    if (st == KV_OK)
        st = get_num(root, "top_p", "top_p", 0, 1, &s->top_p, err);
    if (st == KV_OK)
        st = get_i32(root, "top_k", "top_k", 0, INT32_MAX, &s->top_k, err);
    if (st == KV_OK)
        st = get_num(root, "min_p", "min_p", 0, 1, &s->min_p, err);
    if (st == KV_OK)
        st = get_num(root, "repeat_penalty", "repeat_penalty", 0, 100, &s->repeat_penalty, err);
    if (st == KV_OK)
        st = get_num(root, "frequency_penalty", "frequency_penalty", -2, 2, &s->freq_penalty, err);
    if (st == KV_OK)
        st =
            get_num(root, "presence_penalty", "presence_penalty", -2, 2, &s->presence_penalty, err);
    if (st == KV_OK)
        st = get_seed(r, root, "seed", err);
    if (st == KV_OK)
        st = get_i32(root, "max_tokens", "max_tokens", 0, INT32_MAX, &r->n_predict, err);
    if (st == KV_OK)
        st = get_i32(root, "max_completion_tokens", "max_completion_tokens", 0, INT32_MAX,
                     &r->n_predict, err);
    if (st == KV_OK)
        st = get_stop(r, root, "stop", err);
    if (st == KV_OK)
        st = get_int(root, "n", "n", 1, 128, &n, err);
    if (st != KV_OK)
        return st;
    if (n != 1)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "field 'n': only n = 1 is supported");
    return KV_OK;
}

static kv_status get_openai_stream(kv__req *r, const json_t *root, kv_err *err) {
    kv_status st = get_bool(root, "stream", "stream", &r->stream, err);
    const json_t *so = field(root, "stream_options");
    if (st != KV_OK || !so)
        return st;
    if (!json_is_object(so))
        return KV_FAIL(err, KV_ERR_INVALID, "field 'stream_options': expected an object");
    return get_bool(so, "include_usage", "stream_options.include_usage", &r->stream_usage, err);
}

static kv_status get_response_format(kv__req *r, const json_t *root, kv_err *err) {
    const json_t *v = field(root, "response_format");
    if (!v)
        return KV_OK;
    const char *type = NULL;
    if (!json_is_object(v))
        return KV_FAIL(err, KV_ERR_INVALID, "field 'response_format': expected an object");
    kv_status st = get_str(v, "type", "response_format.type", true, &type, err);
    if (st != KV_OK)
        return st;
    if (strcmp(type, "json_object") == 0 || strcmp(type, "json_schema") == 0)
        r->format_json = true;
    else if (strcmp(type, "text") != 0)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "field 'response_format.type': expected text, "
                       "json_object or json_schema");
    // {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}; llama.cpp
    // also takes "schema" beside "type"
    const json_t *js = field(v, "json_schema");
    if (js && !json_is_object(js))
        return KV_FAIL(err, KV_ERR_INVALID, "field 'response_format.json_schema': expected an "
                       "object");
    if (r->format_json && field(js, "schema"))
        return get_schema(r, field(js, "schema"), "response_format.json_schema.schema", err);
    if (r->format_json && field(v, "schema"))
        return get_schema(r, field(v, "schema"), "response_format.schema", err);
    return KV_OK;
}

static kv_status get_completion_prompt(kv__req *r, const json_t *root, kv_err *err) {
    const json_t *v = field(root, "prompt");
    if (json_is_array(v)) {
        if (json_array_size(v) != 1 || !json_is_string(json_array_get(v, 0)))
            return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                           "field 'prompt': only one text prompt per "
                           "request is supported");
        r->prompt = json_string_value(json_array_get(v, 0));
        return KV_OK;
    }
    return get_str(root, "prompt", "prompt", true, &r->prompt, err);
}

static kv_status parse_openai(kv__req *r, const json_t *root, kv_err *err) {
    kv_status st = get_str(root, "model", "model", true, &r->model, err);
    if (st == KV_OK)
        st = check_name(r->model, "model", err);
    if (st == KV_OK)
        st = get_bool(root, "truncate", "truncate", &r->truncate, err);
    if (st != KV_OK)
        return st;
    if (r->ep == KV__EP_OAI_EMBED) {
        const char *enc = NULL;
        st = get_str(root, "encoding_format", "encoding_format", false, &enc, err);
        if (st == KV_OK)
            st = refuse_nonempty(root, "dimensions", "reduced dimensions", err);
        if (st != KV_OK)
            return st;
        if (enc && strcmp(enc, "float") != 0 && strcmp(enc, "base64") != 0)
            return KV_FAIL(err, KV_ERR_INVALID,
                           "field 'encoding_format': expected \"float\" or "
                           "\"base64\"");
        r->b64 = enc && strcmp(enc, "base64") == 0;
        r->truncate = true;
        return get_inputs(r, root, err);
    }
    st = get_openai_sampling(r, root, err);
    if (st == KV_OK)
        st = get_openai_spec(r, root, err);
    if (st == KV_OK)
        st = get_openai_stream(r, root, err);
    if (st == KV_OK)
        st = get_response_format(r, root, err);
    if (st == KV_OK)
        st = refuse_nonempty(root, "logprobs", "log probabilities", err);
    if (st == KV_OK)
        st = refuse_nonempty(root, "tools", "tools", err);
    if (st != KV_OK)
        return st;
    if (r->ep == KV__EP_OAI_CHAT)
        return get_messages(r, root, true, err);
    st = refuse_nonempty(root, "echo", "echoed prompts", err);
    if (st == KV_OK)
        st = refuse_nonempty(root, "suffix", "suffixes (fill-in-the-middle)", err);
    if (st != KV_OK)
        return st;
    return get_completion_prompt(r, root, err);
}

// ---- entry points ----

static void set_defaults(kv__req *r, kv__endpoint ep) {
    memset(r, 0, sizeof *r);
    r->ep = ep;
    r->stream = ep == KV__EP_GENERATE || ep == KV__EP_CHAT; // Ollama streams by default
    r->n_predict = -1;
    r->n_keep = -2;
    // Chats drop their oldest turns to fit the context unless told not to, as Ollama's do.
    r->truncate = ep == KV__EP_CHAT || ep == KV__EP_OAI_CHAT;
    r->smp.temp = 0.8f;
    r->smp.top_k = 40;
    r->smp.top_p = 0.95f;
    r->smp.min_p = 0.05f;
    r->smp.repeat_last_n = 64;
    r->draft_max = 8;
    r->draft = -1;
    r->smp.repeat_penalty = 1.0f;
}

kv_status kv__json_parse(const char *body, size_t len, json_t **out, kv_err *err) {
    json_error_t je;
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!*out)
        return KV_FAIL(err, KV_ERR_FORMAT, "invalid JSON at line %d, column %d: %s", je.line,
                       je.column, je.text);
    return KV_OK;
}

static bool generates(kv__endpoint ep) {
    return ep == KV__EP_GENERATE || ep == KV__EP_CHAT || ep == KV__EP_OAI_CHAT ||
           ep == KV__EP_OAI_COMPLETE;
}

// The model's options first (dropped whole when one is bad), then its system
// prompt where the request has none, after the request is parsed.
static kv_status apply_default_options(kv__req *r, json_t *defs) {
    if (!defs || !generates(r->ep))
        return KV_OK;
    kv_err ignored = {0};
    if (get_options(r, defs, &ignored) != KV_OK) {
        kv__endpoint ep = r->ep;
        set_defaults(r, ep);
        r->defaults_bad = true;
    }
    r->defaults = defs;
    return KV_OK;
}

static kv_status apply_default_system(kv__req *r, kv_err *err) {
    const json_t *sys = r->defaults ? field(r->defaults, "system") : NULL;
    const json_t *tmpl = r->defaults ? field(r->defaults, "template") : NULL;
    const json_t *dm = r->defaults ? field(r->defaults, "messages") : NULL;
    if (json_is_string(tmpl))
        r->gotmpl = json_string_value(tmpl);
    bool has_sys = json_is_string(sys) && *json_string_value(sys);
    if (r->ep == KV__EP_GENERATE) {
        if (has_sys && !r->system && !r->raw)
            r->system = json_string_value(sys);
        return KV_OK;
    }
    if (r->ep != KV__EP_CHAT && r->ep != KV__EP_OAI_CHAT)
        return KV_OK;
    for (size_t i = 0; has_sys && i < r->n_msgs; i++)
        if (r->msgs[i].role == KV_CHAT_ROLE_SYSTEM)
            has_sys = false;
    // As Ollama: the SYSTEM (unless the request has one), then the Modelfile's
    // MESSAGEs, then the request's messages.
    size_t n_dm = json_is_array(dm) ? json_array_size(dm) : 0;
    if (!has_sys && n_dm == 0)
        return KV_OK;
    kv_chat_msg *m = calloc(r->n_msgs + n_dm + 1, sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the messages");
    size_t k = 0;
    if (has_sys)
        m[k++] = (kv_chat_msg){KV_CHAT_ROLE_SYSTEM, json_string_value(sys)};
    for (size_t i = 0; i < n_dm; i++) {
        const json_t *e = json_array_get(dm, i), *c = json_is_object(e) ? field(e, "content") : NULL;
        kv_err ignored = {0};
        if (json_is_string(c) && get_role(e, "messages", &m[k].role, &ignored) == KV_OK)
            m[k++].content = json_string_value(c);
    }
    if (r->n_msgs)
        memcpy(m + k, r->msgs, r->n_msgs * sizeof *m);
    free(r->msgs);
    r->msgs = m;
    r->n_msgs += k;
    return KV_OK;
}

kv_status kv__req_parse(kv__endpoint ep, const char *body, size_t len, kv__req *out, kv_err *err) {
    return kv__req_parse_with(ep, body, len, NULL, out, err);
}

kv_status kv__req_parse_with(kv__endpoint ep, const char *body, size_t len, json_t *defaults,
                             kv__req *out, kv_err *err) {
    set_defaults(out, ep);
    if (defaults && !generates(ep)) {
        json_decref(defaults);
        defaults = NULL;
    }
    apply_default_options(out, defaults);
    kv_status st = kv__json_parse(body, len, &out->root, err);
    if (st != KV_OK) {
        kv__req_free(out);
        return st;
    }
    if (!json_is_object(out->root)) {
        st = KV_FAIL(err, KV_ERR_INVALID, "request body must be a JSON object, got %s",
                     kv_json_type_name(out->root));
    } else if (ep == KV__EP_SHOW) {
        // Ollama's older clients send "name"
        st = get_str(out->root, field(out->root, "model") ? "model" : "name", "model", true,
                     &out->model, err);
        if (st == KV_OK)
            st = check_name(out->model, "model", err);
    } else if (ep >= KV__EP_OAI_CHAT) {
        st = parse_openai(out, out->root, err);
    } else {
        st = parse_ollama(out, out->root, err);
    }
    if (st == KV_OK)
        st = apply_default_system(out, err);
    if (st != KV_OK)
        kv__req_free(out);
    return st;
}

void kv__req_free(kv__req *r) {
    json_decref(r->root);
    json_decref(r->defaults);
    kv_json_schema_free(r->schema);
    free(r->msgs);
    free(r->inputs);
    for (size_t i = 0; i < r->n_parts; i++)
        free(r->parts[i]);
    free(r->parts);
    kv__endpoint ep = r->ep;
    set_defaults(r, ep);
}
