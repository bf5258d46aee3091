// Reply bodies of the generation and embedding endpoints: Ollama's NDJSON
// objects (stream ends with "done": true, durations in nanoseconds) and
// OpenAI's objects and server-sent events (stream ends with "data: [DONE]").
// Each formatter is a kv__job_fmt; it runs on the HTTP side under the job's lock.
#include "serve/api_int.h"
#include "serve/buf_int.h"
#include "serve/call_int.h"
#include "serve/duration_int.h"
#include "serve/job_int.h"
#include "serve/metrics_int.h"
#include "serve/registry_int.h"
#include "serve/request_int.h"

#include <stdio.h>
#include <string.h>

static json_int_t ns(double s) {
    return (json_int_t)(s * 1e9);
}

// Drops the line end put() wrote, for a whole (non-streamed) body.
static void drop_newline(kv__buf *out) {
    if (out->n > 0 && out->p[out->n - 1] == '\n')
        out->p[--out->n] = '\0';
}

// Appends v (consumed) and a line end: "\n" for NDJSON, or as an SSE event.
static kv_status put(json_t *v, bool sse, kv__buf *out, kv_err *err) {
    if (!v)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a reply");
    kv_status st = sse ? kv__buf_adds(out, "data: ", err) : KV_OK;
    if (st == KV_OK)
        st = kv__buf_add_json(out, v, err);
    if (st == KV_OK)
        st = kv__buf_adds(out, sse ? "\n\n" : "\n", err);
    json_decref(v);
    return st;
}

static kv_status put_error(kv__job *j, bool line, kv__buf *out, kv_err *err) {
    json_t *v = kv__error_json(j->api, j->http_status, NULL, j->msg);
    bool sse = line && j->api == KV__API_OPENAI;
    kv_status st = put(v, sse, out, err);
    if (st == KV_OK && !line)
        drop_newline(out);
    if (st == KV_OK && sse)
        st = kv__buf_adds(out, "data: [DONE]\n\n", err);
    return st;
}

// ---- Ollama ----

static kv_status fmt_ollama(kv__job *j, const char *text, size_t n, bool final, kv__buf *out,
                            kv_err *err) {
    bool stream = j->req.stream;
    if (final && j->st != KV_OK)
        return put_error(j, stream, out, err);
    char ts[48];
    kv__rfc3339(kv__wall_now(), ts, sizeof ts);
    json_t *t = kv__json_text(text ? text : "", text ? n : 0);
    json_t *v = json_pack("{s:s,s:s}", "model", kv__ent_name(j->ent), "created_at", ts);
    if (v && j->req.ep == KV__EP_CHAT)
        json_object_set_new(v, "message",
                            json_pack("{s:s,s:o}", "role", "assistant", "content", t));
    else if (v)
        json_object_set_new(v, "response", t);
    if (v)
        json_object_set_new(v, "done", json_boolean(final));
    if (v && final) {
        const kv__job_stats *s = &j->stats;
        json_t *d = json_pack("{s:s,s:I,s:I,s:i,s:I,s:i,s:I}", "done_reason",
                              s->done_reason ? s->done_reason : "stop", "total_duration",
                              ns(s->total_s), "load_duration", ns(s->load_s), "prompt_eval_count",
                              s->n_prompt, "prompt_eval_duration", ns(s->prompt_s), "eval_count",
                              s->n_gen, "eval_duration", ns(s->gen_s));
        json_object_update(v, d);
        json_decref(d);
        if (s->spec) { // speculative decoding's acceptance
            json_object_set_new(v, "draft_count", json_integer(s->n_drafted));
            json_object_set_new(v, "draft_accepted_count", json_integer(s->n_accepted));
        }
    }
    kv_status st = put(v, false, out, err);
    if (st == KV_OK && !stream)
        drop_newline(out);
    return st;
}

static json_t *vector_json(const float *x, int32_t n) {
    json_t *a = json_array();
    for (int32_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_real(x[i]));
    return a;
}

static kv_status fmt_ollama_embed(kv__job *j, const char *text, size_t n, bool final, kv__buf *out,
                                  kv_err *err) {
    (void)text;
    (void)n;
    (void) final;
    if (j->st != KV_OK)
        return put_error(j, false, out, err);
    json_t *v;
    if (j->req.ep == KV__EP_EMBEDDINGS) {
        v = json_pack("{s:o}", "embedding", vector_json(j->embd, j->n_embd));
    } else {
        json_t *all = json_array();
        for (int32_t i = 0; all && i < j->n_inputs; i++)
            json_array_append_new(all, vector_json(j->embd + (size_t)i * j->n_embd, j->n_embd));
        v = json_pack("{s:s,s:o,s:I,s:I,s:i}", "model", kv__ent_name(j->ent), "embeddings", all,
                      "total_duration", ns(j->stats.total_s), "load_duration", ns(j->stats.load_s),
                      "prompt_eval_count", j->stats.n_prompt);
    }
    kv_status st = put(v, false, out, err);
    if (st == KV_OK)
        drop_newline(out);
    return st;
}

// ---- OpenAI ----

// With speculative decoding, an extension field: usage.speculative
// {draft_tokens, accepted_tokens}.
static json_t *usage_json(const kv__job *j) {
    json_t *u = json_pack("{s:i,s:i,s:i}", "prompt_tokens", j->stats.n_prompt, "completion_tokens",
                          j->stats.n_gen, "total_tokens", j->stats.n_prompt + j->stats.n_gen);
    if (u && j->stats.spec)
        json_object_set_new(u, "speculative",
                            json_pack("{s:i,s:i}", "draft_tokens", j->stats.n_drafted,
                                      "accepted_tokens", j->stats.n_accepted));
    return u;
}

// One choice: a delta or message (chat) or text (completions).
static json_t *choice_json(const kv__job *j, const char *text, size_t n, bool stream, bool first,
                           const char *finish) {
    bool chat = j->req.ep == KV__EP_OAI_CHAT;
    json_t *c = json_pack("{s:i,s:n}", "index", 0, "logprobs");
    if (!c)
        return NULL;
    json_t *t = text ? kv__json_text(text, n) : NULL;
    if (chat) {
        json_t *m = json_object();
        if (!stream || first)
            json_object_set_new(m, "role", json_string("assistant"));
        if (t)
            json_object_set_new(m, "content", t);
        else if (!stream)
            json_object_set_new(m, "content", json_string(""));
        json_object_set_new(c, stream ? "delta" : "message", m);
    } else {
        json_object_set_new(c, "text", t ? t : json_string(""));
    }
    json_object_set_new(c, "finish_reason", finish ? json_string(finish) : json_null());
    return c;
}

static json_t *completion_json(const kv__job *j, bool stream, json_t *choices) {
    bool chat = j->req.ep == KV__EP_OAI_CHAT;
    const char *object =
        chat ? (stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    return json_pack("{s:s,s:s,s:I,s:s,s:s,s:o}", "id", j->id, "object", object, "created",
                     (json_int_t)j->created, "model", kv__ent_name(j->ent), "system_fingerprint",
                     "kvant", "choices", choices);
}

static kv_status fmt_openai_stream(kv__job *j, const char *text, size_t n, bool final, kv__buf *out,
                                   kv_err *err) {
    bool first = !j->sent_any;
    j->sent_any = true;
    if (final && j->st != KV_OK)
        return put_error(j, true, out, err);
    kv_status st = KV_OK;
    if (!final) {
        json_t *c = choice_json(j, text, n, true, first, NULL);
        return put(completion_json(j, true, json_pack("[o]", c)), true, out, err);
    }
    json_t *c = choice_json(j, NULL, 0, true, first, j->stats.done_reason);
    st = put(completion_json(j, true, json_pack("[o]", c)), true, out, err);
    if (st == KV_OK && j->req.stream_usage) {
        json_t *u = completion_json(j, true, json_array());
        if (u)
            json_object_set_new(u, "usage", usage_json(j));
        st = put(u, true, out, err);
    }
    if (st == KV_OK)
        st = kv__buf_adds(out, "data: [DONE]\n\n", err);
    return st;
}

static kv_status fmt_openai(kv__job *j, const char *text, size_t n, bool final, kv__buf *out,
                            kv_err *err) {
    if (j->req.stream)
        return fmt_openai_stream(j, text, n, final, out, err);
    if (j->st != KV_OK)
        return put_error(j, false, out, err);
    json_t *c = choice_json(j, text, n, false, true, j->stats.done_reason);
    json_t *v = completion_json(j, false, json_pack("[o]", c));
    if (v)
        json_object_set_new(v, "usage", usage_json(j));
    kv_status st = put(v, false, out, err);
    if (st == KV_OK)
        drop_newline(out);
    return st;
}

// ---- OpenAI embeddings ----

// The floats' bytes (little-endian on every target kvant builds for) in base64,
// as OpenAI's encoding_format "base64" sends them.
static json_t *base64_json(const float *x, int32_t n) {
    static const char ABC[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)x;
    size_t nb = (size_t)n * sizeof *x;
    kv__buf b = {0};
    for (size_t i = 0; i < nb; i += 3) {
        size_t k = nb - i < 3 ? nb - i : 3;
        unsigned char in[3] = {p[i], k > 1 ? p[i + 1] : 0, k > 2 ? p[i + 2] : 0};
        char o[4] = {ABC[in[0] >> 2], ABC[((in[0] & 3) << 4) | (in[1] >> 4)],
                     k > 1 ? ABC[((in[1] & 15) << 2) | (in[2] >> 6)] : '=',
                     k > 2 ? ABC[in[2] & 63] : '='};
        if (kv__buf_add(&b, o, 4, NULL) != KV_OK)
            break;
    }
    json_t *v = json_stringn(b.p ? b.p : "", b.n);
    kv__buf_free(&b);
    return v;
}

static kv_status fmt_openai_embed(kv__job *j, const char *text, size_t n, bool final, kv__buf *out,
                                  kv_err *err) {
    (void)text;
    (void)n;
    (void) final;
    if (j->st != KV_OK)
        return put_error(j, false, out, err);
    json_t *data = json_array();
    for (int32_t i = 0; data && i < j->n_inputs; i++) {
        const float *x = j->embd + (size_t)i * j->n_embd;
        json_t *e = j->req.b64 ? base64_json(x, j->n_embd) : vector_json(x, j->n_embd);
        json_array_append_new(
            data, json_pack("{s:s,s:i,s:o}", "object", "embedding", "index", i, "embedding", e));
    }
    json_t *v = json_pack("{s:s,s:o,s:s,s:{s:i,s:i}}", "object", "list", "data", data, "model",
                          kv__ent_name(j->ent), "usage", "prompt_tokens", j->stats.n_prompt,
                          "total_tokens", j->stats.n_prompt);
    kv_status st = put(v, false, out, err);
    if (st == KV_OK)
        drop_newline(out);
    return st;
}

kv__job_fmt kv__fmt_for(kv__endpoint ep) {
    switch (ep) {
    case KV__EP_GENERATE:
    case KV__EP_CHAT: return fmt_ollama;
    case KV__EP_EMBED:
    case KV__EP_EMBEDDINGS: return fmt_ollama_embed;
    case KV__EP_OAI_EMBED: return fmt_openai_embed;
    default: return fmt_openai;
    }
}
