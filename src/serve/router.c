// The routing table: which handler serves which method and path, and in which
// API's error shape its failures are written.
#include "serve/api_int.h"
#include "serve/call_int.h"

#include <string.h>

#define GET_HEAD (KV__GET | KV__HEAD)

static const kv__route ROUTES[] = {
    {GET_HEAD, "/", false, KV__API_PLAIN, kv__h_root},
    {GET_HEAD, "/health", false, KV__API_PLAIN, kv__h_health},
    {GET_HEAD, "/metrics", false, KV__API_PLAIN, kv__h_metrics},
    {GET_HEAD, "/ui", false, KV__API_PLAIN, kv__h_ui},
    {GET_HEAD, "/ui/", true, KV__API_PLAIN, kv__h_ui},
    {GET_HEAD, "/api/version", false, KV__API_OLLAMA, kv__h_version},
    {GET_HEAD, "/api/tags", false, KV__API_OLLAMA, kv__h_tags},
    {GET_HEAD, "/api/ps", false, KV__API_OLLAMA, kv__h_ps},
    {KV__POST, "/api/show", false, KV__API_OLLAMA, kv__h_show},
    {KV__POST, "/api/generate", false, KV__API_OLLAMA, kv__h_generate},
    {KV__POST, "/api/chat", false, KV__API_OLLAMA, kv__h_chat},
    {KV__POST, "/api/embed", false, KV__API_OLLAMA, kv__h_embed},
    {KV__POST, "/api/embeddings", false, KV__API_OLLAMA, kv__h_embeddings},
    {KV__POST, "/v1/chat/completions", false, KV__API_OPENAI, kv__h_oai_chat},
    {KV__POST, "/v1/completions", false, KV__API_OPENAI, kv__h_oai_complete},
    {KV__POST, "/v1/embeddings", false, KV__API_OPENAI, kv__h_oai_embed},
    {GET_HEAD, "/v1/models", false, KV__API_OPENAI, kv__h_oai_models},
    {GET_HEAD, "/v1/models/", true, KV__API_OPENAI, kv__h_oai_model},
    {KV__POST, "/api/pull", false, KV__API_OLLAMA, kv__h_pull},
    {KV__POST, "/api/push", false, KV__API_OLLAMA, kv__h_push},
    {GET_HEAD, "/v2/", false, KV__API_OLLAMA, kv__h_v2_root},
    {GET_HEAD, "/v2/", true, KV__API_OLLAMA, kv__h_v2},
    {KV__POST | KV__PATCH | KV__PUT, "/v2/", true, KV__API_OLLAMA, kv__h_v2_push},
    {KV__POST, "/api/create", false, KV__API_OLLAMA, kv__h_create},
    {KV__POST, "/api/copy", false, KV__API_OLLAMA, kv__h_copy},
    {KV__DELETE, "/api/delete", false, KV__API_OLLAMA, kv__h_delete},
    {KV__POST | KV__HEAD, "/api/blobs/", true, KV__API_OLLAMA, kv__h_blob},
};

unsigned kv__method_from_name(const char *name) {
    static const struct {
        const char *name;
        unsigned m;
    } M[] = {{"GET", KV__GET},       {"POST", KV__POST}, {"HEAD", KV__HEAD},
             {"DELETE", KV__DELETE}, {"PUT", KV__PUT},   {"PATCH", KV__PATCH}};
    for (size_t i = 0; i < sizeof M / sizeof M[0]; i++)
        if (strcmp(name, M[i].name) == 0)
            return M[i].m;
    return 0;
}

const char *kv__method_name(unsigned method) {
    switch (method) {
    case KV__GET: return "GET";
    case KV__POST: return "POST";
    case KV__HEAD: return "HEAD";
    case KV__DELETE: return "DELETE";
    case KV__PUT: return "PUT";
    case KV__PATCH: return "PATCH";
    default: return "?";
    }
}

static bool path_matches(const kv__route *r, const char *path) {
    if (!r->prefix)
        return strcmp(r->path, path) == 0;
    size_t n = strlen(r->path);
    return strncmp(r->path, path, n) == 0 && path[n] != '\0';
}

const kv__route *kv__route_find(unsigned method, const char *path, unsigned *status, kv__api *api) {
    bool path_known = false;
    *api = strncmp(path, "/v1/", 4) == 0 ? KV__API_OPENAI : KV__API_OLLAMA;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        const kv__route *r = &ROUTES[i];
        if (!path_matches(r, path))
            continue;
        path_known = true;
        *api = r->api;
        if (r->methods & method) {
            *status = 200;
            return r;
        }
    }
    *status = path_known ? 405 : 404;
    return NULL;
}

void kv__route_run(const kv__route *r, kv__call *c) {
    kv_err err;
    kv_err_clear(&err);
    if (r->prefix)
        c->arg = c->path + strlen(r->path);
    kv_status st = r->fn(c, &err);
    if (st != KV_OK)
        kv__call_error(c, c->status ? c->status : kv__http_status(st), err.msg);
}
