// Access control and the audit hook: the right each path needs, the bearer
// key's check before routing, and the audit record of a call.
#define _POSIX_C_SOURCE 200809L // strncasecmp
#include "serve/auth_int.h"
#include "serve/call_int.h"
#include "serve/duration_int.h"
#include "serve/job_int.h"
#include "serve/request_int.h"
#include "serve/server_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *path;
    bool prefix; // path ends with '/', anything may follow
    int right;
} right_entry;

// Paths not listed need admin (future endpoints are closed until given a right).
static const right_entry RIGHTS[] = {
    {"/", false, KV__RIGHT_PUBLIC},
    {"/health", false, KV__RIGHT_PUBLIC},
    {"/ui", false, KV__RIGHT_PUBLIC},
    {"/ui/", true, KV__RIGHT_PUBLIC},
    {"/api/version", false, KV__RIGHT_VIEWER},
    {"/api/tags", false, KV__RIGHT_VIEWER},
    {"/api/ps", false, KV__RIGHT_VIEWER},
    {"/api/show", false, KV__RIGHT_VIEWER},
    {"/metrics", false, KV__RIGHT_VIEWER},
    {"/v1/models", false, KV__RIGHT_VIEWER},
    {"/v1/models/", true, KV__RIGHT_VIEWER},
    {"/v2/", false, KV__RIGHT_VIEWER}, // the read-only registry API
    {"/v2/", true, KV__RIGHT_VIEWER},
    {"/api/generate", false, KV__RIGHT_USER},
    {"/api/chat", false, KV__RIGHT_USER},
    {"/api/embed", false, KV__RIGHT_USER},
    {"/api/embeddings", false, KV__RIGHT_USER},
    {"/v1/chat/completions", false, KV__RIGHT_USER},
    {"/v1/completions", false, KV__RIGHT_USER},
    {"/v1/embeddings", false, KV__RIGHT_USER},
    {"/api/pull", false, KV__RIGHT_OPERATOR},
    {"/api/push", false, KV__RIGHT_OPERATOR},
    {"/api/create", false, KV__RIGHT_OPERATOR},
    {"/api/copy", false, KV__RIGHT_OPERATOR},
    {"/api/delete", false, KV__RIGHT_OPERATOR},
    {"/api/blobs/", true, KV__RIGHT_OPERATOR},
};

int kv__path_right(const char *path) {
    for (size_t i = 0; i < sizeof RIGHTS / sizeof RIGHTS[0]; i++) {
        const right_entry *r = &RIGHTS[i];
        size_t n = strlen(r->path);
        if (r->prefix ? strncmp(path, r->path, n) == 0 && path[n] != '\0'
                      : strcmp(path, r->path) == 0)
            return r->right;
    }
    return KV__RIGHT_ADMIN;
}

int kv__method_right(unsigned method, const char *path) {
    int need = kv__path_right(path);
    if (strncmp(path, "/v2/", 4) == 0 && method != KV__GET && method != KV__HEAD &&
        need < KV__RIGHT_OPERATOR)
        need = KV__RIGHT_OPERATOR;
    return need;
}

static const char *const RIGHT_NAMES[] = {"none", "viewer", "user", "operator", "admin"};

unsigned kv__auth_check(const kv_serve *s, unsigned method, const char *path,
                        const char *authorization, char *who, size_t who_cap, char *msg,
                        size_t msg_cap) {
    snprintf(who, who_cap, "-");
    if (!s->p.auth)
        return 0;
    int need = kv__method_right(method, path);
    if (need == KV__RIGHT_PUBLIC)
        return 0;
    const char *token = NULL;
    char buf[KV__MAX_TOKEN + 1];
    if (authorization) {
        while (*authorization == ' ' || *authorization == '\t')
            authorization++;
        if (strncasecmp(authorization, "Bearer", 6) == 0 &&
            (authorization[6] == ' ' || authorization[6] == '\t')) {
            const char *t = authorization + 7;
            while (*t == ' ' || *t == '\t')
                t++;
            size_t n = strlen(t);
            while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
                n--;
            if (n > 0 && n <= KV__MAX_TOKEN) {
                memcpy(buf, t, n);
                buf[n] = '\0';
                token = buf;
            }
        }
    }
    char name[KV__WHO_MAX];
    name[0] = '\0';
    int role = s->p.auth(s->p.hook_user, token, name, sizeof name);
    if (role < 0)
        return 0; // no keys configured: authentication is off
    if (role == 0) {
        snprintf(msg, msg_cap, token ? "invalid or revoked API key"
                                     : "missing API key (send Authorization: Bearer KEY)");
        return 401;
    }
    snprintf(who, who_cap, "%s", name[0] ? name : "?");
    if (role < need) {
        snprintf(msg, msg_cap, "API key '%s' (role %s) may not use %s, which needs role %s",
                 who, RIGHT_NAMES[role <= KV__RIGHT_ADMIN ? role : 0], path, RIGHT_NAMES[need]);
        return 403;
    }
    return 0;
}

bool kv__audited(const kv_serve *s, unsigned method, const char *path) {
    return s->p.audit && kv__method_right(method, path) >= KV__RIGHT_USER;
}

// The "model" field of a JSON body, into out ("" when there is none).
static void body_model(const char *body, size_t len, char *out, size_t cap) {
    out[0] = '\0';
    if (!body || len == 0)
        return;
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    const char *m = root && json_is_object(root) ? json_string_value(json_object_get(root, "model"))
                                                 : NULL;
    if (m)
        snprintf(out, cap, "%s", m);
    json_decref(root);
}

kv_status kv__audit_call(const kv_serve *s, const kv__call *c, const char *who,
                         const char *client, unsigned status, kv__job *j, kv_err *err) {
    kv_serve_audit_rec r = {
        .who = who,
        .method = kv__method_name(c->method),
        .path = c->path,
        .model = "",
        .client = client,
        .status = status,
        .tokens_in = -1,
        .tokens_out = -1,
        .duration_s = kv__now() - c->t_start,
        .time = kv__wall_now() - (kv__now() - c->t_start),
        .body = c->body,
        .body_len = c->body_len,
    };
    char model[KV__MAX_NAME + 1];
    if (j) {
        pthread_mutex_lock(&j->mu);
        snprintf(model, sizeof model, "%s", j->req.model ? j->req.model : "");
        r.tokens_in = j->stats.n_prompt;
        r.tokens_out = j->kind == KV__JOB_GENERATE ? j->stats.n_gen : 0;
        r.stream = j->req.stream;
        pthread_mutex_unlock(&j->mu);
    } else {
        body_model(c->body, c->body_len, model, sizeof model);
    }
    r.model = model;
    return s->p.audit(s->p.hook_user, &r, err);
}
