// Handlers that describe the server and its models: GET /, /health, /metrics,
// Ollama's /api/version, /api/tags, /api/show, /api/ps and OpenAI's
// /v1/models and /v1/models/{id}. Model details come from the GGUF metadata.
#include "serve/api_int.h"
#include "serve/buf_int.h"
#include "serve/call_int.h"
#include "serve/duration_int.h"
#include "serve/metrics_int.h"
#include "serve/registry_int.h"
#include "serve/request_int.h"
#include "serve/server_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "kvant/kv_gguf.h"

kv_status kv__h_root(kv__call *c, kv_err *err) {
    c->ctype = "text/plain; charset=utf-8";
    return kv__buf_adds(&c->out, "kvant is running", err);
}

kv_status kv__h_version(kv__call *c, kv_err *err) {
    return kv__call_json(c, json_pack("{s:s}", "version", KV_VERSION), err);
}

// 200 while the server takes requests; 503 (with Retry-After) once it is
// stopping, so that load balancers and readiness probes send no more. There is
// no loading phase: the server listens only once it is ready, and models load
// on their first request.
kv_status kv__h_health(kv__call *c, kv_err *err) {
    kv__gauges g;
    kv__registry_gauges(c->srv->reg, &g);
    bool stopping = c->srv->stopping != 0;
    if (stopping) {
        c->status = 503;
        c->retry_after = 5;
    }
    return kv__call_json(c,
                         json_pack("{s:s,s:I,s:I,s:I}", "status", stopping ? "stopping" : "ok",
                                   "models_loaded",
                                   (json_int_t)g.models_loaded, "requests_running",
                                   (json_int_t)g.running, "requests_waiting",
                                   (json_int_t)g.waiting),
                         err);
}

kv_status kv__h_metrics(kv__call *c, kv_err *err) {
    kv__gauges g;
    kv__registry_gauges(c->srv->reg, &g);
    c->ctype = "text/plain; version=0.0.4; charset=utf-8";
    return kv__metrics_render(&c->srv->metrics, &g, &c->out, err);
}

// ---- model descriptions ----

// A stable identifier for a file, shaped like Ollama's digests (64 hex digits)
// but made from FNV-1a hashes of its path, size and time: not the SHA-256 of
// the contents, which would mean reading every byte of every model on each
// listing.
static void digest(const char *path, uint64_t size, double mtime, char out[72]) {
    char key[4200];
    int n = snprintf(key, sizeof key, "%s|%llu|%.0f", path, (unsigned long long)size, mtime);
    int w = 0;
    for (uint64_t round = 0; round < 4; round++) {
        uint64_t h = 14695981039346656037ull ^ round;
        for (int i = 0; i < n && i < (int)sizeof key; i++) {
            h ^= (unsigned char)key[i];
            h *= 1099511628211ull;
        }
        w += snprintf(out + w, 72 - (size_t)w, "%016llx", (unsigned long long)h);
    }
}

static json_t *details_json(const kv__model_info *in) {
    return json_pack("{s:s,s:s,s:s,s:[s],s:s,s:s}", "parent_model", "", "format", "gguf", "family",
                     in->family, "families", in->family, "parameter_size", in->param_size,
                     "quantization_level", in->quant);
}

static json_t *time_json(double t) {
    char ts[48];
    kv__rfc3339(t, ts, sizeof ts);
    return json_string(ts);
}

// One entry of /api/tags or /api/ps.
static json_t *model_json(kv__registry *r, kv__model_ent *e, uint64_t size, double mtime, bool ps,
                          double expires) {
    kv__model_info info;
    kv_err err;
    if (kv__ent_info(r, e, &info, &err) != KV_OK)
        return NULL; // a file that went bad is left out of listings
    char dg[72];
    digest(kv__ent_path(e), size, mtime, dg);
    json_t *m =
        json_pack("{s:s,s:s,s:I,s:s,s:o}", "name", kv__ent_name(e), "model", kv__ent_name(e),
                  "size", (json_int_t)size, "digest", dg, "details", details_json(&info));
    if (!m)
        return NULL;
    if (ps) {
        // "never" is Go's longest duration from now (about 292 years), as Ollama writes it
        double t = isinf(expires) ? kv__wall_now() + KV__FOREVER_S : expires;
        json_object_set_new(m, "expires_at", time_json(t));
        json_object_set_new(m, "size_vram", json_integer(0));
    } else {
        json_object_set_new(m, "modified_at", time_json(mtime));
    }
    return m;
}

static json_t *oai_model_json(const char *name, double created) {
    return json_pack("{s:s,s:s,s:I,s:s}", "id", name, "object", "model", "created",
                     (json_int_t)created, "owned_by", "kvant");
}

typedef struct {
    kv__registry *reg;
    json_t *list;
    bool ps;
    bool openai;
} list_ctx;

static void list_one(void *user, kv__model_ent *e, bool loaded, double expires, uint64_t size,
                     double mtime) {
    list_ctx *lc = user;
    if (lc->ps && !loaded)
        return;
    json_t *m = lc->openai ? oai_model_json(kv__ent_name(e), mtime)
                           : model_json(lc->reg, e, size, mtime, lc->ps, expires);
    if (m)
        json_array_append_new(lc->list, m);
}

static kv_status list_models(kv__call *c, bool ps, bool openai, kv_err *err) {
    list_ctx lc = {c->srv->reg, json_array(), ps, openai};
    if (!lc.list)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the model list");
    kv__registry_each(c->srv->reg, !ps, list_one, &lc);
    json_t *v = openai ? json_pack("{s:s,s:o}", "object", "list", "data", lc.list)
                       : json_pack("{s:o}", "models", lc.list);
    return kv__call_json(c, v, err);
}

kv_status kv__h_tags(kv__call *c, kv_err *err) {
    return list_models(c, false, false, err);
}

kv_status kv__h_ps(kv__call *c, kv_err *err) {
    return list_models(c, true, false, err);
}

kv_status kv__h_oai_models(kv__call *c, kv_err *err) {
    return list_models(c, false, true, err);
}

static kv__model_ent *find_or_404(kv__call *c, const char *name, kv_err *err) {
    kv__model_ent *e = kv__registry_find(c->srv->reg, name);
    if (!e) {
        c->status = 404;
        c->code = "model_not_found";
        KV_FAIL(err, KV_ERR_INVALID, "model '%.200s' not found", name);
    }
    return e;
}

kv_status kv__h_oai_model(kv__call *c, kv_err *err) {
    kv__model_ent *e = find_or_404(c, c->arg, err);
    if (!e)
        return err->status;
    struct stat sb;
    if (stat(kv__ent_path(e), &sb) != 0) {
        c->status = 500;
        return KV_FAIL(err, KV_ERR_IO, "model '%s': %s: %s", kv__ent_name(e), kv__ent_path(e),
                       strerror(errno));
    }
    return kv__call_json(c, oai_model_json(kv__ent_name(e), (double)sb.st_mtime), err);
}

// ---- /api/show ----

// A GGUF value as JSON: scalars as they are, arrays as null (as Ollama does
// without "verbose"), long strings cut.
static json_t *gguf_value_json(const kv_gguf_val *v) {
    const uint8_t *d = v->data;
    switch (v->type) {
    case KV_GGUF_U8: return json_integer(d[0]);
    case KV_GGUF_I8: return json_integer((int8_t)d[0]);
    case KV_GGUF_U16: return json_integer(kv_le16(d));
    case KV_GGUF_I16: return json_integer((int16_t)kv_le16(d));
    case KV_GGUF_U32: return json_integer(kv_le32(d));
    case KV_GGUF_I32: return json_integer((int32_t)kv_le32(d));
    case KV_GGUF_U64: return json_integer((json_int_t)kv_le64(d));
    case KV_GGUF_I64: return json_integer((json_int_t)kv_le64(d));
    case KV_GGUF_BOOL: return json_boolean(d[0] != 0);
    case KV_GGUF_F32: {
        uint32_t u = kv_le32(d);
        float f;
        memcpy(&f, &u, sizeof f);
        return json_real(f);
    }
    case KV_GGUF_F64: {
        uint64_t u = kv_le64(d);
        double f;
        memcpy(&f, &u, sizeof f);
        return json_real(f);
    }
    case KV_GGUF_STRING: return kv__json_text(v->str.p, v->str.n < 4096 ? v->str.n : 4096);
    default: return json_null();
    }
}

static json_t *model_info_json(const kv_gguf *g) {
    json_t *o = json_object();
    for (int64_t i = 0; o && i < kv_gguf_kv_count(g); i++) {
        kv_str k = kv_gguf_kv_key(g, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(k.n < 255 ? k.n : 255), k.p);
        json_t *v = gguf_value_json(kv_gguf_kv_val(g, i));
        if (v && json_object_set_new(o, key, v) != 0)
            continue; // a key that is not UTF-8 is left out
    }
    return o;
}

kv_status kv__h_show(kv__call *c, kv_err *err) {
    kv__req req;
    kv_status st = kv__req_parse(KV__EP_SHOW, c->body, c->body_len, &req, err);
    if (st != KV_OK)
        return st;
    kv__model_ent *e = find_or_404(c, req.model, err);
    kv__model_info info;
    kv_gguf *g = NULL;
    if (!e)
        st = err->status;
    if (st == KV_OK)
        st = kv__ent_info(c->srv->reg, e, &info, err);
    if (st == KV_OK)
        st = kv_gguf_open(kv__ent_path(e), &g, err);
    // A store model's own Modelfile, parameters, template, system and license
    // (kvant serve --store); a model given as a file has its GGUF's alone.
    json_t *sj = NULL;
    const kv_serve_store_ops *o = c->srv->p.store;
    if (st == KV_OK && o && o->show) {
        char *text = NULL;
        kv_err serr;
        kv_status ss = o->show(o->user, kv__ent_name(e), &text, &serr);
        if (ss == KV_OK)
            sj = json_loads(text, 0, NULL);
        else if (ss != KV_ERR_NOT_FOUND)
            st = KV_FAIL(err, ss, "%s", serr.msg);
        free(text);
    }
    if (st == KV_OK) {
        char modelfile[4400];
        snprintf(modelfile, sizeof modelfile, "# Modelfile generated by kvant\nFROM %s\n",
                 kv__ent_path(e));
        json_t *v =
            json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:[s,s]}", "license", "", "modelfile", modelfile,
                      "parameters", "", "template", info.tmpl_name, "details", details_json(&info),
                      "model_info", model_info_json(g), "capabilities", "completion", "embedding");
        const char *keys[5] = {"modelfile", "parameters", "template", "system", "license"};
        for (int i = 0; v && sj && i < 5; i++) {
            json_t *x = json_object_get(sj, keys[i]);
            if (json_is_string(x))
                json_object_set(v, keys[i], x);
        }
        json_t *msgs = json_object_get(sj, "messages"); // the Modelfile's MESSAGEs
        if (v && json_is_array(msgs))
            json_object_set(v, "messages", msgs);
        json_t *mt = json_object_get(sj, "mtime");
        if (v && json_is_integer(mt))
            json_object_set_new(v, "modified_at", time_json((double)json_integer_value(mt)));
        st = kv__call_json(c, v, err);
    }
    json_decref(sj);
    kv_gguf_close(g);
    kv__req_free(&req);
    return st;
}
