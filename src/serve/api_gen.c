// Handlers that run the model: Ollama's /api/generate, /api/chat, /api/embed
// and /api/embeddings, OpenAI's /v1/chat/completions, /v1/completions and
// /v1/embeddings. Each validates the body, finds and loads the model, builds
// the prompt (chat template or raw text), tokenizes it, checks it against the
// context, and hands a job to the model's scheduler; api_format.c writes the
// replies.
#include "serve/api_int.h"
#include "serve/buf_int.h"
#include "serve/call_int.h"
#include "serve/duration_int.h"
#include "serve/job_int.h"
#include "serve/registry_int.h"
#include "serve/request_int.h"
#include "serve/sched_int.h"
#include "serve/server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_gotmpl.h"

// The hint a "json" format adds to the system prompt. The scheduler also
// constrains sampling (kv_sample_next_json), so the reply is a JSON object
// whether or not the model heeds the hint; the hint keeps the content sensible.
#define JSON_HINT "Respond only with valid JSON."

// ---- models ----

// Finds and loads the request's model: 404 when it is unknown, 500 when its
// file does not load.
static kv_status open_model(kv__call *c, const kv__req *r, kv__model_ent **e, double *load_s,
                            kv_err *err) {
    const char *name = r->model;
    *e = kv__registry_find(c->srv->reg, name);
    if (!*e) {
        c->status = 404;
        c->code = "model_not_found";
        return KV_FAIL(err, KV_ERR_INVALID, "model '%.200s' not found", name);
    }
    double keep = r->keep_alive_set ? r->keep_alive_s : c->srv->p.keep_alive_s;
    kv_status st = kv__registry_acquire(c->srv->reg, *e, keep, load_s, err);
    if (st != KV_OK) {
        c->status = st == KV_ERR_NOMEM ? 503 : 500;
        kv_err_prefix(err, "cannot load the model");
    }
    return st;
}

// ---- prompts ----

// Messages with a system message for the JSON hint (prepended, or appended to
// the first system message), in a new array (caller frees).
static kv_chat_msg *with_hint(const kv_chat_msg *m, size_t n, size_t *n_out, char **owned) {
    kv_chat_msg *out = calloc(n + 1, sizeof *out);
    if (!out)
        return NULL;
    if (n > 0 && m[0].role == KV_CHAT_ROLE_SYSTEM) {
        size_t len = strlen(m[0].content) + sizeof JSON_HINT + 2;
        *owned = malloc(len);
        if (!*owned) {
            free(out);
            return NULL;
        }
        snprintf(*owned, len, "%s\n%s", m[0].content, JSON_HINT);
        memcpy(out, m, n * sizeof *m);
        out[0].content = *owned;
        *n_out = n;
    } else {
        out[0] = (kv_chat_msg){KV_CHAT_ROLE_SYSTEM, JSON_HINT};
        memcpy(out + 1, m, n * sizeof *m);
        *n_out = n + 1;
    }
    return out;
}

// Renders messages m[0..n) in the model's template and appends the text to out:
// a store model's Modelfile TEMPLATE (Go template) when r has one, else its own Jinja template when it has one kvant runs (a raise_exception there
// fails the request), else the template family's renderer.
static kv_status render_into(const kv__req *r, kv__sched *sch, const kv_chat_msg *m, size_t n,
                             kv__buf *out, kv_err *err) {
    const kv_vocab *v = kv__sched_vocab(sch);
    const char *eos = kv_vocab_text(v, kv_vocab_eos(v), NULL);
    char *text = NULL;
    size_t len = 0;
    kv_status st = KV_ERR_UNSUPPORTED;
    kv_gotmpl *g = NULL;
    // a store model's TEMPLATE (checked by the store when it was read)
    if (r->gotmpl && kv_gotmpl_parse(r->gotmpl, strlen(r->gotmpl), &g, NULL) == KV_OK) {
        st = kv_gotmpl_render(g, m, n, &text, &len, err);
        kv_gotmpl_free(g);
        if (st != KV_OK)
            return st;
    }
    if (st != KV_OK && kv__sched_jinja(sch)) {
        kv_err jerr = {0};
        st = kv_jinja_render_vocab(kv__sched_jinja(sch), v, m, n, true, &text, &len, &jerr);
        if (st != KV_OK && st != KV_ERR_UNSUPPORTED && st != KV_ERR_FORMAT) {
            if (err)
                *err = jerr;
            return st;
        }
    }
    if (st != KV_OK)
        st = kv_chat_render(kv__sched_tmpl(sch), m, n, true, eos, &text, &len, err);
    if (st == KV_OK)
        st = kv__buf_add(out, text, len, err);
    free(text);
    return st;
}

static kv_status render_chat(const kv__req *r, kv__sched *sch, const kv_chat_msg *m, size_t n,
                             kv__buf *out, kv_err *err) {
    if (!r->format_json)
        return render_into(r, sch, m, n, out, err);
    size_t n2 = 0;
    char *owned = NULL;
    kv_chat_msg *m2 = with_hint(m, n, &n2, &owned);
    if (!m2)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the prompt");
    kv_status st = render_into(r, sch, m2, n2, out, err);
    free(m2);
    free(owned);
    return st;
}

// The prompt text of a generation request other than a chat (chat_prompt
// makes those); *special: it came from a chat template, so control tokens
// written in it are parsed.
static kv_status build_prompt(const kv__req *r, kv__sched *sch, kv__buf *out, bool *special,
                              kv_err *err) {
    *special = false;
    const char *system = r->system;
    bool templated = r->ep == KV__EP_GENERATE && !r->raw &&
                     (kv__sched_tmpl(sch) != KV_CHAT_PLAIN || kv__sched_jinja(sch) || r->gotmpl);
    if (templated) {
        kv_chat_msg m[2] = {{KV_CHAT_ROLE_SYSTEM, system ? system : ""},
                            {KV_CHAT_ROLE_USER, r->prompt}};
        *special = true;
        return render_chat(r, sch, system ? m : m + 1, system ? 2 : 1, out, err);
    }
    // raw text: the system prompt (and the JSON hint) go first, as plain text
    kv_status st = kv__buf_add(out, "", 0, err);
    if (st == KV_OK && system && *system)
        st = kv__buf_adds(out, system, err);
    if (st == KV_OK && r->format_json && r->ep == KV__EP_GENERATE)
        st = kv__buf_adds(out, out->n ? "\n" JSON_HINT : JSON_HINT, err);
    if (st == KV_OK && out->n > 0)
        st = kv__buf_adds(out, "\n\n", err);
    if (st == KV_OK)
        st = kv__buf_adds(out, r->prompt ? r->prompt : "", err);
    return st;
}

// The request's context: num_ctx (at least KV__MIN_CTX, request.c sees to
// that) within the server's.
static int32_t request_n_ctx(const kv__req *r, kv__sched *sch) {
    int32_t n_ctx = kv__sched_n_ctx(sch);
    return r->n_ctx > 0 && r->n_ctx < n_ctx ? r->n_ctx : n_ctx;
}

// Cuts t[0..*n) (*n >= n_ctx >= 2) to half the context: num_keep tokens of its
// start (BOS alone when the request did not say; -1: as many as can be) and
// its end, at least one token of it.
static void cut_tokens(const kv__req *r, const kv_vocab *v, kv_token *t, int64_t *n,
                       int32_t n_ctx) {
    int32_t keep = n_ctx / 2; // >= 1
    int64_t head = r->n_keep == -2   ? (t[0] == kv_vocab_bos(v) ? 1 : 0)
                   : r->n_keep == -1 ? keep - 1
                                     : r->n_keep;
    if (head > keep - 1)
        head = keep - 1;
    int64_t tail = keep - head; // 1..keep, and *n - tail >= head
    memmove(t + head, t + *n - tail, (size_t)tail * sizeof *t);
    *n = keep;
}

// Fits tokens t[0..n) (taken over: *out on success, freed on failure) to the
// request's context: a prompt that leaves no room for a reply (n_ctx - 1
// tokens or more) fails (400) unless truncate is set, which cuts it (cut_tokens).
static kv_status fit_tokens(const kv__req *r, kv__sched *sch, kv_token *t, int64_t n,
                            int32_t **out, int32_t *n_out, kv_err *err) {
    int32_t n_ctx = request_n_ctx(r, sch);
    bool chat = r->ep == KV__EP_CHAT || r->ep == KV__EP_OAI_CHAT;
    const char *field = chat ? "messages" : "prompt";
    kv_status st = KV_OK;
    if (n == 0)
        st = KV_FAIL(err, KV_ERR_INVALID, "field 'prompt': the prompt is empty");
    else if (n >= n_ctx && !r->truncate)
        st = KV_FAIL(err, KV_ERR_INVALID,
                     "field '%s': %lld tokens do not fit the context of %d (num_ctx); send "
                     "\"truncate\": true to %s",
                     field, (long long)n, n_ctx,
                     chat ? "drop the oldest messages" : "keep the end");
    else if (n >= n_ctx && n_ctx < 2)
        st = KV_FAIL(err, KV_ERR_INVALID,
                     "field '%s': the server's context of %d token leaves no room for a "
                     "reply (--ctx)",
                     field, n_ctx);
    if (st != KV_OK) {
        free(t);
        return st;
    }
    if (n >= n_ctx)
        cut_tokens(r, kv__sched_vocab(sch), t, &n, n_ctx);
    *out = t;
    *n_out = (int32_t)n;
    return KV_OK;
}

// ---- chats longer than the context ----

// Messages m[0..n) through the chat template, tokenized into *t (caller frees).
static kv_status chat_tokens(const kv__req *r, kv__sched *sch, const kv_chat_msg *m, size_t n,
                             kv_token **t, int64_t *n_tok, kv_err *err) {
    kv__buf text = {0};
    kv_status st = render_chat(r, sch, m, n, &text, err);
    if (st == KV_OK)
        st = kv_tokenize_alloc(kv__sched_vocab(sch), text.p, text.n, true, true, t, n_tok, err);
    kv__buf_free(&text);
    return st;
}

// Tokens a chat whose old turns must go leaves for the reply: num_predict, or
// a quarter of the context when it is not given; half the context at most.
static int64_t reply_room(const kv__req *r, int32_t n_ctx) {
    int64_t room = r->n_predict >= 0 ? r->n_predict : n_ctx / 4;
    if (room > n_ctx / 2)
        room = n_ctx / 2;
    return room < 1 ? 1 : room;
}

// The chat without its messages before cut, except system ones, into kept
// (room for r->n_msgs); returns how many there are.
static size_t keep_from(const kv__req *r, size_t cut, kv_chat_msg *kept) {
    size_t n = 0;
    for (size_t i = 0; i < r->n_msgs; i++)
        if (i >= cut || r->msgs[i].role == KV_CHAT_ROLE_SYSTEM)
            kept[n++] = r->msgs[i];
    return n;
}

// Tokens of the chat from cut on (see keep_from); *fits: they leave the
// reply its room.
static kv_status try_cut(const kv__req *r, kv__sched *sch, size_t cut, kv_chat_msg *kept,
                         int64_t budget, kv_token **t, int64_t *n, bool *fits, kv_err *err) {
    free(*t);
    *t = NULL;
    kv_status st = chat_tokens(r, sch, kept, keep_from(r, cut, kept), t, n, err);
    *fits = st == KV_OK && *n <= budget;
    return st;
}

// A chat's prompt tokens. When truncate is set (the default for chats) and the
// whole chat leaves its reply no room (reply_room), the oldest messages go, as
// in Ollama: the system messages stay, and so do the last user message and
// what follows it; the fewest messages that make it fit go. *n_dropped says
// how many went. What is left may still be too long; fit_tokens cuts it.
static kv_status chat_prompt(const kv__req *r, kv__sched *sch, kv_token **t, int64_t *n,
                             size_t *n_dropped, kv_err *err) {
    *n_dropped = 0;
    int32_t n_ctx = request_n_ctx(r, sch);
    int64_t budget = n_ctx - reply_room(r, n_ctx);
    kv_status st = chat_tokens(r, sch, r->msgs, r->n_msgs, t, n, err);
    if (st != KV_OK || !r->truncate || *n <= budget || r->n_msgs == 0)
        return st;
    size_t last = r->n_msgs - 1; // the last user message, else the last one
    while (last > 0 && r->msgs[last].role != KV_CHAT_ROLE_USER)
        last--;
    if (r->msgs[last].role != KV_CHAT_ROLE_USER)
        last = r->n_msgs - 1;
    kv_chat_msg *kept = calloc(r->n_msgs, sizeof *kept);
    if (!kept)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %zu messages", r->n_msgs);
    // Cutting at 0 is too long, at last is the least there can be. Fewer
    // messages make fewer tokens, so the shortest cut that fits is found by
    // bisection: lo does not fit, hi fits (or is last).
    size_t lo = 0, hi = last;
    bool fits = false;
    while (st == KV_OK && hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        st = try_cut(r, sch, mid, kept, budget, t, n, &fits, err);
        if (fits)
            hi = mid;
        else
            lo = mid;
    }
    if (st == KV_OK)
        st = try_cut(r, sch, hi, kept, budget, t, n, &fits, err);
    for (size_t i = 0; i < hi; i++)
        *n_dropped += r->msgs[i].role != KV_CHAT_ROLE_SYSTEM;
    free(kept);
    return st;
}

// The prompt tokens of a generation request, fitted to its context.
static kv_status prompt_tokens(kv__call *c, const kv__req *r, kv__sched *sch, int32_t **out,
                               int32_t *n_out, kv_err *err) {
    kv_token *t = NULL;
    int64_t n = 0;
    kv_status st;
    if (r->ep == KV__EP_CHAT || r->ep == KV__EP_OAI_CHAT) {
        size_t n_dropped = 0;
        st = chat_prompt(r, sch, &t, &n, &n_dropped, err);
        if (st == KV_OK && n_dropped > 0)
            kv__log(c->srv,
                    "chat for %s: dropped the oldest %zu of %zu messages to fit the "
                    "context of %d tokens (%lld tokens left)",
                    r->model, n_dropped, r->n_msgs, request_n_ctx(r, sch), (long long)n);
    } else {
        kv__buf text = {0};
        bool special = false;
        st = build_prompt(r, sch, &text, &special, err);
        if (st == KV_OK)
            st = kv_tokenize_alloc(kv__sched_vocab(sch), text.p, text.n, true, special, &t, &n,
                                   err);
        kv__buf_free(&text);
    }
    if (st != KV_OK) {
        free(t);
        return st;
    }
    return fit_tokens(r, sch, t, n, out, n_out, err);
}

// ---- load-only requests ----

// Ollama loads (or, with keep_alive 0, unloads) a model when generate has no
// prompt or chat no messages, and answers at once with done_reason "load" or "unload".
static kv_status answer_load(kv__call *c, kv__req *r, kv__model_ent *e, double load_s,
                             kv_err *err) {
    char ts[48];
    kv__rfc3339(kv__wall_now(), ts, sizeof ts);
    bool unload = r->keep_alive_set && r->keep_alive_s == 0;
    json_t *v = json_pack("{s:s,s:s,s:b,s:s,s:I}", "model", kv__ent_name(e), "created_at", ts,
                          "done", 1, "done_reason", unload ? "unload" : "load", "load_duration",
                          (json_int_t)(load_s * 1e9));
    if (v && r->ep == KV__EP_CHAT)
        json_object_set_new(v, "message",
                            json_pack("{s:s,s:s}", "role", "assistant", "content", ""));
    else if (v)
        json_object_set_new(v, "response", json_string(""));
    kv__registry_release(c->srv->reg, e);
    return kv__call_json(c, v, err);
}

// ---- submitting ----

static kv_status submit(kv__call *c, kv__job *j, kv_err *err) {
    int retry = 0;
    kv_status st = kv__sched_submit(kv__ent_sched(j->ent), j, &retry, err);
    if (st != KV_OK && st != KV_ERR_INVALID) {
        c->status = 503;
        c->retry_after = retry > 0 ? retry : 1;
    }
    if (st != KV_OK) {
        kv__job_unref(j);
        return st;
    }
    c->job = j;
    return KV_OK;
}

// The request parsed again over its store model's Modelfile defaults (SYSTEM,
// PARAMETER, TEMPLATE), when the store has any for it.
static kv_status with_defaults(kv__call *c, kv__endpoint ep, const kv__model_ent *e, kv__req *r,
                               kv_err *err) {
    const kv_serve_store_ops *o = c->srv->p.store;
    char *text = NULL;
    if (!o || !o->defaults || o->defaults(o->user, kv__ent_name(e), &text, NULL) != KV_OK)
        return KV_OK;
    json_t *defs = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!json_is_object(defs)) {
        json_decref(defs);
        return KV_OK;
    }
    kv__req r2;
    kv_status st = kv__req_parse_with(ep, c->body, c->body_len, defs, &r2, err);
    if (st != KV_OK)
        return st;
    if (r2.defaults_bad)
        kv__log(c->srv, "model %s: its PARAMETER values are not valid options; ignored",
                kv__ent_name(e));
    kv__req_free(r);
    *r = r2;
    return KV_OK;
}

static kv_status generate(kv__call *c, kv__endpoint ep, kv_err *err) {
    kv__req r;
    kv_status st = kv__req_parse(ep, c->body, c->body_len, &r, err);
    if (st != KV_OK)
        return st;
    kv__model_ent *e = kv__registry_find(c->srv->reg, r.model);
    if (e && (st = with_defaults(c, ep, e, &r, err)) != KV_OK) {
        kv__req_free(&r);
        return st;
    }
    double load_s = 0;
    st = open_model(c, &r, &e, &load_s, err);
    if (st != KV_OK) {
        kv__req_free(&r);
        return st;
    }
    bool load_only = (ep == KV__EP_GENERATE && (!r.prompt || !*r.prompt)) ||
                     (ep == KV__EP_CHAT && r.n_msgs == 0);
    if (load_only) {
        st = answer_load(c, &r, e, load_s, err);
        kv__req_free(&r);
        return st;
    }
    int32_t *tokens = NULL, n_tokens = 0;
    // an encoder (bert) has no next-token head: Ollama's answer for such models
    if (!kv_model_hparams(kv__sched_model(kv__ent_sched(e)))->causal_attn)
        st = KV_FAIL(err, KV_ERR_INVALID, "\"%s\" does not support generate (an embedding model: "
                     "use /api/embed)", r.model);
    if (st == KV_OK)
        st = prompt_tokens(c, &r, kv__ent_sched(e), &tokens, &n_tokens, err);
    kv__job *j = NULL;
    if (st == KV_OK)
        st = kv__job_new(c, KV__JOB_GENERATE, &r, e, load_s, &j, err);
    if (st != KV_OK) {
        free(tokens);
        kv__req_free(&r);
        kv__registry_release(c->srv->reg, e);
        return st;
    }
    j->tokens = tokens;
    j->n_tokens = n_tokens;
    j->fmt = kv__fmt_for(ep);
    j->ctype = c->api == KV__API_OPENAI ? "text/event-stream" : "application/x-ndjson";
    if (!j->req.smp.seed_set)
        j->req.smp.seed = (uint64_t)(kv__wall_now() * 1e6) ^ (uint64_t)(uintptr_t)j;
    return submit(c, j, err);
}

kv_status kv__h_generate(kv__call *c, kv_err *err) {
    return generate(c, KV__EP_GENERATE, err);
}

kv_status kv__h_chat(kv__call *c, kv_err *err) {
    return generate(c, KV__EP_CHAT, err);
}

kv_status kv__h_oai_chat(kv__call *c, kv_err *err) {
    return generate(c, KV__EP_OAI_CHAT, err);
}

kv_status kv__h_oai_complete(kv__call *c, kv_err *err) {
    return generate(c, KV__EP_OAI_COMPLETE, err);
}

// ---- embeddings ----

// Tokenizes every input one after another into j (cut to the context when
// truncate is set, else a 400).
static kv_status tokenize_inputs(kv__job *j, kv__sched *sch, kv_err *err) {
    const kv__req *r = &j->req;
    const char *one[1] = {r->prompt};
    const char *const *in = r->ep == KV__EP_EMBEDDINGS ? one : r->inputs;
    size_t n_in = r->ep == KV__EP_EMBEDDINGS ? 1 : r->n_inputs;
    int32_t n_ctx = kv__sched_n_ctx(sch);
    j->input_off = calloc(n_in + 1, sizeof *j->input_off);
    if (!j->input_off)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %zu inputs", n_in);
    j->n_inputs = (int32_t)n_in;
    kv__buf all = {0};
    kv_status st = KV_OK;
    for (size_t i = 0; i < n_in && st == KV_OK; i++) {
        kv_token *t = NULL;
        int64_t n = 0;
        st =
            kv_tokenize_alloc(kv__sched_vocab(sch), in[i], strlen(in[i]), true, false, &t, &n, err);
        if (st == KV_OK && n == 0)
            st = KV_FAIL(err, KV_ERR_INVALID, "field 'input[%zu]': the text is empty", i);
        if (st == KV_OK && n > n_ctx && !r->truncate)
            st = KV_FAIL(err, KV_ERR_INVALID,
                         "field 'input[%zu]': %lld tokens do not fit the "
                         "context of %d",
                         i, (long long)n, n_ctx);
        if (st == KV_OK && n > n_ctx)
            n = n_ctx;
        if (st == KV_OK && (int64_t)all.n / 4 + n > INT32_MAX)
            st = KV_FAIL(err, KV_ERR_LIMIT, "field 'input': too many tokens in all");
        if (st == KV_OK)
            st = kv__buf_add(&all, t, (size_t)n * sizeof *t, err);
        j->input_off[i + 1] = (int32_t)(all.n / sizeof *t);
        free(t);
    }
    j->tokens = (int32_t *)(void *)all.p;
    j->n_tokens = (int32_t)(all.n / sizeof(int32_t));
    if (st != KV_OK)
        return st;
    return KV_OK;
}

static kv_status embed(kv__call *c, kv__endpoint ep, kv_err *err) {
    kv__req r;
    kv_status st = kv__req_parse(ep, c->body, c->body_len, &r, err);
    if (st != KV_OK)
        return st;
    r.stream = false;
    kv__model_ent *e = NULL;
    double load_s = 0;
    st = open_model(c, &r, &e, &load_s, err);
    if (st != KV_OK) {
        kv__req_free(&r);
        return st;
    }
    kv__job *j = NULL;
    st = kv__job_new(c, KV__JOB_EMBED, &r, e, load_s, &j, err);
    if (st != KV_OK) {
        kv__req_free(&r);
        kv__registry_release(c->srv->reg, e);
        return st;
    }
    j->fmt = kv__fmt_for(ep);
    st = tokenize_inputs(j, kv__ent_sched(e), err);
    if (st != KV_OK) {
        kv__job_unref(j);
        return st;
    }
    return submit(c, j, err);
}

kv_status kv__h_embed(kv__call *c, kv_err *err) {
    return embed(c, KV__EP_EMBED, err);
}

kv_status kv__h_embeddings(kv__call *c, kv_err *err) {
    return embed(c, KV__EP_EMBEDDINGS, err);
}

kv_status kv__h_oai_embed(kv__call *c, kv_err *err) {
    return embed(c, KV__EP_OAI_EMBED, err);
}
