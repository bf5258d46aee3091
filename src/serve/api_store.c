// Ollama's store endpoints over the params' kv_serve_store_ops (kvant serve
// --store): /api/blobs/DIGEST (HEAD, POST), /api/create, /api/copy and
// /api/delete. Digests and JSON fields are checked here before the store is
// called; the store's operations run one at a time; each change is given to
// the registry at once, so /api/tags, /api/show and generation follow it
// without a restart. The work is done before the reply, so a streamed create
// gets its progress lines ({"status": ...}) in one body, ending in "success".
#define _POSIX_C_SOURCE 200809L
#include "serve/api_int.h"
#include "serve/call_int.h"
#include "serve/registry_int.h"
#include "serve/server_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t store_mu = PTHREAD_MUTEX_INITIALIZER;

#define NAME_CAP 1024
#define PATH_CAP 4096

static const kv_serve_store_ops *ops_or_501(kv__call *c, const char *what, kv_err *err) {
    const kv_serve_store_ops *o = c->srv->p.store;
    if (!o) {
        c->status = 501;
        KV_FAIL(err, KV_ERR_UNSUPPORTED,
                "%s is not supported by kvant without a model store: it serves the GGUF files "
                "it was given (kvant serve --store serves and changes the model store)",
                what);
    }
    return o;
}

// c's body as a JSON object, or a 400.
static json_t *body_object(kv__call *c, kv_err *err) {
    json_error_t je;
    json_t *v = json_loadb(c->body ? c->body : "", c->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!v || !json_is_object(v)) {
        if (v)
            KV_FAIL(err, KV_ERR_INVALID, "request body must be a JSON object");
        else
            KV_FAIL(err, KV_ERR_INVALID, "request body is not JSON: %s (line %d, column %d)",
                    je.text, je.line, je.column);
        json_decref(v);
        return NULL;
    }
    return v;
}

// Field key of o: absent gives *out NULL; present must be a string.
static kv_status opt_str(json_t *o, const char *key, const char **out, kv_err *err) {
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return KV_OK;
    if (!json_is_string(v))
        return KV_FAIL(err, KV_ERR_INVALID, "field '%s' must be a string", key);
    *out = json_string_value(v);
    return KV_OK;
}

static kv_status req_str(json_t *o, const char *key, const char **out, kv_err *err) {
    kv_status st = opt_str(o, key, out, err);
    if (st == KV_OK && (!*out || !**out))
        st = KV_FAIL(err, KV_ERR_INVALID, "field '%s' is required", key);
    return st;
}

static kv_status status_reply(kv__call *c, kv_err *err) {
    return kv__call_json(c, json_pack("{s:s}", "status", "success"), err);
}

// ---- /api/blobs/DIGEST ----

kv_status kv__h_blob(kv__call *c, kv_err *err) {
    const kv_serve_store_ops *o = ops_or_501(c, "uploading blobs (/api/blobs)", err);
    if (!o)
        return KV_ERR_UNSUPPORTED;
    if (!kv__serve_digest_ok(c->arg))
        return KV_FAIL(err, KV_ERR_INVALID,
                       "blob digest '%.80s' must be sha256: and 64 lowercase hex digits", c->arg);
    pthread_mutex_lock(&store_mu);
    kv_status st = o->blob_has(o->user, c->arg, err);
    if (c->method == KV__HEAD) {
        if (st == KV_ERR_NOT_FOUND)
            c->status = 404;
    } else if (st == KV_OK) {
        c->status = 200; // already there: nothing to write
    } else {
        kv_err_clear(err);
        st = c->sink ? kv__blob_from_sink(c, c->arg, err)
                     : o->blob_put(o->user, c->arg, c->body ? c->body : "", c->body_len, err);
        if (st == KV_OK)
            c->status = 201;
    }
    pthread_mutex_unlock(&store_mu);
    return st;
}

// ---- /api/create ----

// "files": exactly one "*.gguf" named by digest (safetensors imports are not done).
static kv_status files_gguf(json_t *files, const char **digest, kv_err *err) {
    *digest = NULL;
    if (!files || json_is_null(files))
        return KV_OK;
    if (!json_is_object(files))
        return KV_FAIL(err, KV_ERR_INVALID, "field 'files' must be an object of name: digest");
    const char *k;
    json_t *v;
    json_object_foreach(files, k, v) {
        size_t n = strlen(k);
        if (!json_is_string(v) || !kv__serve_digest_ok(json_string_value(v)))
            return KV_FAIL(err, KV_ERR_INVALID,
                           "field 'files': '%.80s' must name a digest (sha256: and 64 lowercase "
                           "hex digits)",
                           k);
        if (n < 5 || strcmp(k + n - 5, ".gguf") != 0)
            return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                           "field 'files': '%.80s': kvant creates models from one GGUF file only "
                           "(safetensors imports are not supported)",
                           k);
        if (*digest)
            return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                           "field 'files': more than one GGUF file (adapters and split models "
                           "are not supported)");
        *digest = json_string_value(v);
    }
    return KV_OK;
}

// "license": a string or a list of strings (joined by blank lines); malloc'd or NULL.
static kv_status license_text(json_t *v, char **out, kv_err *err) {
    *out = NULL;
    if (!v || json_is_null(v))
        return KV_OK;
    if (json_is_string(v))
        return (*out = strdup(json_string_value(v))) ? KV_OK
                                                     : KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    if (!json_is_array(v))
        return KV_FAIL(err, KV_ERR_INVALID, "field 'license' must be a string or strings");
    kv__buf b = {0};
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) {
            free(b.p);
            return KV_FAIL(err, KV_ERR_INVALID, "field 'license' must be a string or strings");
        }
        if (i)
            kv__buf_adds(&b, "\n\n", NULL);
        kv__buf_adds(&b, json_string_value(s), NULL);
    }
    kv__buf_add(&b, "", 1, NULL);
    *out = b.p ? b.p : strdup("");
    return KV_OK;
}

static void add_status(kv__buf *b, const char *fmt, const char *arg) {
    char line[256];
    snprintf(line, sizeof line, fmt, arg);
    json_t *v = json_pack("{s:s}", "status", line);
    kv__buf_add_json(b, v, NULL);
    kv__buf_adds(b, "\n", NULL);
    json_decref(v);
}

kv_status kv__h_create(kv__call *c, kv_err *err) {
    const kv_serve_store_ops *o = ops_or_501(c, "creating models (/api/create)", err);
    if (!o)
        return KV_ERR_UNSUPPORTED;
    json_t *b = body_object(c, err);
    if (!b)
        return KV_ERR_INVALID;
    kv_serve_create_req rq = {0};
    char *license = NULL, *params = NULL;
    json_t *stream = json_object_get(b, "stream");
    json_t *pv = json_object_get(b, "parameters");
    kv_status st = req_str(b, "model", &rq.model, err);
    if (st == KV_OK && !rq.model[0])
        st = KV_FAIL(err, KV_ERR_INVALID, "field 'model' is required");
    if (st == KV_OK)
        st = opt_str(b, "from", &rq.from, err);
    if (st == KV_OK)
        st = opt_str(b, "template", &rq.tmpl, err);
    if (st == KV_OK)
        st = opt_str(b, "system", &rq.system, err);
    if (st == KV_OK)
        st = files_gguf(json_object_get(b, "files"), &rq.gguf, err);
    if (st == KV_OK)
        st = license_text(json_object_get(b, "license"), &license, err);
    if (st == KV_OK && json_object_get(b, "modelfile"))
        st = KV_FAIL(err, KV_ERR_INVALID,
                     "field 'modelfile' is Ollama's old create API; send 'from' or 'files'");
    if (st == KV_OK && json_object_get(b, "quantize"))
        st = KV_FAIL(err, KV_ERR_UNSUPPORTED,
                     "field 'quantize' is not supported here (use kvant quantize)");
    if (st == KV_OK && stream && !json_is_boolean(stream) && !json_is_null(stream))
        st = KV_FAIL(err, KV_ERR_INVALID, "field 'stream' must be true or false");
    if (st == KV_OK && pv && !json_is_null(pv)) {
        if (!json_is_object(pv))
            st = KV_FAIL(err, KV_ERR_INVALID, "field 'parameters' must be an object");
        else if (!(params = json_dumps(pv, JSON_COMPACT)))
            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    }
    if (st == KV_OK && !rq.from == !rq.gguf)
        st = KV_FAIL(err, KV_ERR_INVALID,
                     rq.from ? "give either 'from' or 'files', not both"
                             : "field 'from' or 'files' is required");
    rq.license = license;
    rq.params_json = params;
    char name[NAME_CAP], path[PATH_CAP];
    if (st == KV_OK) {
        pthread_mutex_lock(&store_mu);
        st = o->create(o->user, &rq, name, sizeof name, path, sizeof path, err);
        if (st == KV_OK)
            st = kv__registry_put(c->srv->reg, name, path, err);
        pthread_mutex_unlock(&store_mu);
    }
    if (st == KV_OK && (!stream || json_is_true(stream))) {
        // Ollama's lines for these steps
        add_status(&c->out, "%s", rq.gguf ? "parsing GGUF" : "reading model metadata");
        add_status(&c->out, "using existing layer %s", rq.gguf ? rq.gguf : "from the base model");
        add_status(&c->out, "%s", "writing manifest");
        add_status(&c->out, "%s", "success");
        c->ctype = "application/x-ndjson";
    } else if (st == KV_OK) {
        st = status_reply(c, err);
    }
    free(license);
    free(params);
    json_decref(b);
    return st;
}

// ---- /api/copy, /api/delete ----

kv_status kv__h_copy(kv__call *c, kv_err *err) {
    const kv_serve_store_ops *o = ops_or_501(c, "copying models (/api/copy)", err);
    if (!o)
        return KV_ERR_UNSUPPORTED;
    json_t *b = body_object(c, err);
    if (!b)
        return KV_ERR_INVALID;
    const char *src, *dst;
    char name[NAME_CAP], path[PATH_CAP];
    kv_status st = req_str(b, "source", &src, err);
    if (st == KV_OK)
        st = req_str(b, "destination", &dst, err);
    if (st == KV_OK) {
        pthread_mutex_lock(&store_mu);
        st = o->copy(o->user, src, dst, name, sizeof name, path, sizeof path, err);
        if (st == KV_OK)
            st = kv__registry_put(c->srv->reg, name, path, err);
        pthread_mutex_unlock(&store_mu);
    }
    if (st == KV_ERR_NOT_FOUND)
        c->status = 404;
    if (st == KV_OK)
        st = status_reply(c, err);
    json_decref(b);
    return st;
}

kv_status kv__h_delete(kv__call *c, kv_err *err) {
    const kv_serve_store_ops *o = ops_or_501(c, "deleting models (/api/delete)", err);
    if (!o)
        return KV_ERR_UNSUPPORTED;
    json_t *b = body_object(c, err);
    if (!b)
        return KV_ERR_INVALID;
    const char *model;
    char name[NAME_CAP];
    kv_status st = opt_str(b, "model", &model, err);
    if (st == KV_OK && !model) // the ollama npm client sends "name"
        st = req_str(b, "name", &model, err);
    if (st == KV_OK) {
        pthread_mutex_lock(&store_mu);
        st = o->remove(o->user, model, name, sizeof name, err);
        if (st == KV_OK)
            kv__registry_drop(c->srv->reg, name);
        pthread_mutex_unlock(&store_mu);
    }
    if (st == KV_ERR_NOT_FOUND)
        c->status = 404;
    if (st == KV_OK)
        st = status_reply(c, err);
    json_decref(b);
    return st;
}
