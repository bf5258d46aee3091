// kvant serve --store: the kv_serve_store_ops the server's /api/create,
// /api/copy, /api/delete and /api/blobs call, over the model store's folder.
// Only names the registry can serve (no '/': the default host and namespace)
// are created or copied to. Also the read-only /v2/ (manifests and blob files)
// and /api/pull, /api/push over the store's OCI client (store/oci.h), which
// keeps libcurl out of libkvant_serve.
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "store/models.h"
#include "store/oci.h"

#include "kvant/kv_gotmpl.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[4096];

static kv_status blob_has(void *user, const char *digest, kv_err *err) {
    (void)user;
    return kv__mstore_blob_has(g_dir, digest, err);
}

static kv_status blob_put(void *user, const char *digest, const void *data, size_t n,
                          kv_err *err) {
    (void)user;
    return kv__mstore_blob_put(g_dir, digest, data, n, err);
}

// s parsed as a name the server serves; its display form into name.
static kv_status served_name(const char *field, const char *s, kv__mname *n, char *name,
                             size_t cap, kv_err *err) {
    kv_status st = kv__mname_parse(s, n, err);
    if (st != KV_OK) {
        kv_err_prefix(err, field);
        return st;
    }
    kv__mstore_canonical(g_dir, n); // KJV:V1 is the stored kjv:v1
    kv__mname_display(n, name, cap);
    if (strchr(name, '/'))
        return KV_FAIL(err, KV_ERR_INVALID,
                       "%s: '%.200s': kvant serve serves the default namespace only (a name "
                       "without '/')",
                       field, s);
    return KV_OK;
}

// Ollama's "parameters" object as Modelfile PARAMETER lines (a list: one each).
static kv_status params_from_json(const char *text, kv__modelfile *mf, kv_err *err) {
    json_t *o = json_loads(text, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return KV_FAIL(err, KV_ERR_INVALID, "field 'parameters' must be an object");
    }
    size_t cap = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) cap += json_is_array(v) ? json_array_size(v) : 1;
    mf->params = calloc(cap ? cap : 1, sizeof *mf->params);
    kv_status st = mf->params ? KV_OK : KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    json_object_foreach(o, k, v) {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; st == KV_OK && i < n; i++) {
            json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
            char num[64];
            const char *val = NULL;
            if (json_is_string(x))
                val = json_string_value(x);
            else if (json_is_integer(x))
                snprintf(num, sizeof num, "%lld", (long long)json_integer_value(x)), val = num;
            else if (json_is_real(x) && isfinite(json_real_value(x)))
                snprintf(num, sizeof num, "%.17g", json_real_value(x)), val = num;
            else if (json_is_boolean(x))
                val = json_is_true(x) ? "true" : "false";
            if (!val) {
                st = KV_FAIL(err, KV_ERR_INVALID,
                             "field 'parameters': '%.80s' must be a string, number, boolean "
                             "or a list of them",
                             k);
                break;
            }
            kv__mf_param *p = &mf->params[mf->n_params++];
            p->key = strdup(k);
            p->value = strdup(val);
            if (!p->key || !p->value)
                st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        }
    }
    json_decref(o);
    return st;
}

static kv_status create(void *user, const kv_serve_create_req *rq, char *name, size_t name_cap,
                        char *path, size_t path_cap, kv_err *err) {
    (void)user;
    kv__mname n;
    kv_status st = served_name("field 'model'", rq->model, &n, name, name_cap, err);
    if (st != KV_OK)
        return st;
    char blob[4096];
    kv__modelfile mf = {0};
    if (rq->gguf) {
        // a blob uploaded first: create reads it as a GGUF file (refused if not)
        if ((st = kv__mstore_blob_has(g_dir, rq->gguf, err)) != KV_OK ||
            (st = kv__mstore_blob_path(g_dir, rq->gguf, blob, sizeof blob, err)) != KV_OK) {
            kv_err_prefix(err, "field 'files'");
            return st;
        }
    } else {
        kv__mname base;
        char bname[KV__MNAME_TEXT_MAX];
        if ((st = served_name("field 'from'", rq->from, &base, bname, sizeof bname, err)) != KV_OK)
            return st;
        snprintf(blob, sizeof blob, "%s", bname);
    }
    mf.from = blob;
    mf.from_line = 1;
    mf.tmpl = (char *)rq->tmpl;
    mf.system = (char *)rq->system;
    mf.license = (char *)rq->license;
    if (rq->params_json)
        st = params_from_json(rq->params_json, &mf, err);
    if (st == KV_OK)
        st = kv__mstore_create(g_dir, &n, &mf, NULL, "/api/create", err);
    for (size_t i = 0; i < mf.n_params; i++)
        free(mf.params[i].key), free(mf.params[i].value);
    free(mf.params);
    if (st == KV_OK)
        st = kv__mstore_model_path(g_dir, name, path, path_cap, err);
    return st;
}

static kv_status copy(void *user, const char *src, const char *dst, char *name, size_t name_cap,
                      char *path, size_t path_cap, kv_err *err) {
    (void)user;
    kv__mname s, d;
    kv_status st = kv__mname_parse(src, &s, err);
    if (st != KV_OK)
        kv_err_prefix(err, "field 'source'");
    if (st == KV_OK)
        st = served_name("field 'destination'", dst, &d, name, name_cap, err);
    if (st == KV_OK)
        st = kv__mstore_copy(g_dir, &s, &d, err);
    if (st == KV_OK)
        st = kv__mstore_model_path(g_dir, name, path, path_cap, err);
    return st;
}

static kv_status remove_model(void *user, const char *model, char *name, size_t name_cap,
                              kv_err *err) {
    (void)user;
    kv__mname n;
    size_t n_blobs = 0;
    kv_status st = kv__mname_parse(model, &n, err);
    if (st != KV_OK) {
        kv_err_prefix(err, "field 'model'");
        return st;
    }
    kv__mname_display(&n, name, name_cap);
    return kv__mstore_remove(g_dir, &n, &n_blobs, err);
}

// ---- the registry API (/v2/) and /api/pull, /api/push ----

static kv_status manifest(void *user, const char *repo, const char *tag, char **text, size_t *n,
                          char *media_type, size_t mt_cap, char *digest, size_t digest_cap,
                          kv_err *err) {
    (void)user;
    char full[KV__MNAME_TEXT_MAX + 8];
    kv__mname nm;
    // A repository is NAMESPACE/MODEL or MODEL, stored under the default host.
    int w = snprintf(full, sizeof full, "%s%.*s:%.*s",
                     strchr(repo, '/') ? "" : KV__MNAME_DEFAULT_NS "/", 300, repo, 200, tag);
    if (w < 0 || (size_t)w >= sizeof full || strlen(repo) > 300 || strlen(tag) > 200)
        return KV_FAIL(err, KV_ERR_NOT_FOUND, "no such manifest");
    if (strchr(repo, '/') && strchr(strchr(repo, '/') + 1, '/'))
        return KV_FAIL(err, KV_ERR_NOT_FOUND, "no such repository '%.200s'", repo);
    kv_status st = kv__mname_parse(full, &nm, err);
    if (st != KV_OK)
        return st;
    kv__manifest *m = malloc(sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    if ((st = kv__mstore_manifest_bytes(g_dir, &nm, text, n, err)) == KV_OK &&
        (st = kv__manifest_parse(*text, *n, "manifest", m, err)) == KV_OK) {
        snprintf(digest, digest_cap, "%s", m->digest);
        json_t *j = json_loadb(*text, *n, 0, NULL);
        json_t *mt = json_object_get(j, "mediaType");
        snprintf(media_type, mt_cap, "%s", json_is_string(mt) ? json_string_value(mt) : "");
        json_decref(j);
    } else if (*text) {
        free(*text);
        *text = NULL;
    }
    free(m);
    return st;
}

static kv_status blob_path(void *user, const char *digest, char *path, size_t cap, kv_err *err) {
    (void)user;
    kv_status st = kv__mstore_blob_has(g_dir, digest, err);
    if (st == KV_OK)
        st = kv__mstore_blob_path(g_dir, digest, path, cap, err);
    return st;
}

// Reads the manifest of the store model into *m (free() it) and the text of its layers of
// media types mts[0..n) into txt[0..n) (NULL where it has no such layer; free() each), its
// parsed name into *nm. KV_ERR_NOT_FOUND when model is no store name or the store has no
// such model; then *m is NULL. A failed layer read leaves *m set.
static kv_status read_text_layers(const char *model, kv__mname *nm, const char *const *mts,
                                  int n, kv__manifest **m, char **txt, kv_err *err) {
    *m = NULL;
    for (int i = 0; i < n; i++)
        txt[i] = NULL;
    kv_status st = kv__mname_parse(model, nm, err);
    if (st != KV_OK)
        return KV_FAIL(err, KV_ERR_NOT_FOUND, "not a store name");
    if (!(*m = malloc(sizeof **m)))
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    if ((st = kv__mstore_read(g_dir, nm, *m, err)) != KV_OK) {
        free(*m);
        *m = NULL;
        return st;
    }
    for (int i = 0; i < n && st == KV_OK; i++) {
        const kv__layer *l = kv__manifest_layer(*m, mts[i]);
        size_t len;
        if (l)
            st = kv__mstore_blob_read(g_dir, l->digest, &txt[i], &len, err);
    }
    return st;
}

// /api/show's store fields of model: a JSON object of the Modelfile, Ollama's
// parameters text, template, system, license (absent when the model has no
// such layer) and mtime (the manifest's, seconds). KV_ERR_NOT_FOUND when the
// store has no such model.
static kv_status show(void *user, const char *model, char **out, kv_err *err) {
    (void)user;
    *out = NULL;
    kv__mname nm;
    kv__manifest *m;
    static const char *const mts[5] = {KV__MT_TEMPLATE, KV__MT_SYSTEM, KV__MT_LICENSE,
                                       KV__MT_PARAMS, KV__MT_MESSAGES};
    char *txt[5];
    kv_status st = read_text_layers(model, &nm, mts, 5, &m, txt, err);
    if (!m)
        return st;
    char blob[4096] = "";
    const kv__layer *ml = kv__manifest_layer(m, KV__MT_MODEL);
    if (st == KV_OK && ml)
        st = kv__mstore_blob_path(g_dir, ml->digest, blob, sizeof blob, err);
    char *mf = NULL, *params = NULL;
    size_t mfn = 0;
    FILE *f = st == KV_OK ? open_memstream(&mf, &mfn) : NULL;
    if (f) {
        char shown[KV__MNAME_TEXT_MAX];
        kv__mname_display(&nm, shown, sizeof shown);
        kv_cli_modelfile(f, shown, blob, txt[0], txt[1], txt[3], txt[2], txt[4]);
        fclose(f);
    }
    if (st == KV_OK && (!mf || !(params = kv_cli_params_text(txt[3]))))
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    if (st == KV_OK) {
        json_t *o = json_object();
        json_object_set_new(o, "modelfile", json_string(mf));
        json_object_set_new(o, "parameters", json_string(params));
        const char *keys[3] = {"template", "system", "license"};
        for (int i = 0; i < 3; i++)
            if (txt[i])
                json_object_set_new(o, keys[i], json_string(txt[i]));
        json_object_set_new(o, "mtime", json_integer((json_int_t)m->mtime));
        // json_string refuses text that is not UTF-8: such a layer is an error
        if (json_object_size(o) != (size_t)(3 + !!txt[0] + !!txt[1] + !!txt[2]) ||
            !(*out = json_dumps(o, JSON_COMPACT)))
            st = KV_FAIL(err, KV_ERR_FORMAT, "model '%.200s': a text layer is not UTF-8",
                         model);
        json_t *msgs = st == KV_OK && txt[4] ? json_loads(txt[4], 0, NULL) : NULL;
        if (json_is_array(msgs)) { // Ollama's /api/show "messages"
            free(*out);
            json_object_set(o, "messages", msgs);
            if (!(*out = json_dumps(o, JSON_COMPACT)))
                st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        }
        json_decref(msgs);
        json_decref(o);
    }
    for (int i = 0; i < 5; i++)
        free(txt[i]);
    free(mf);
    free(params);
    free(m);
    return st;
}

// Warns once per layer (kvant serve's log is stderr).
static void warn_layer(const char *digest, const char *fmt, const char *model, const char *msg) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char last[72];
    pthread_mutex_lock(&mu);
    if (strcmp(last, digest) != 0) {
        snprintf(last, sizeof last, "%s", digest);
        fprintf(stderr, fmt, model, msg);
    }
    pthread_mutex_unlock(&mu);
}

// The Modelfile defaults of model for generation (kv_serve_store_ops.defaults):
// {"system", "options", "template"} from its layers; a params layer that is not
// a JSON object, text that is not UTF-8 and a template outside kv_gotmpl's subset
// are left out (the last with a warning). KV_ERR_NOT_FOUND when it has none.
static kv_status defaults(void *user, const char *model, char **out, kv_err *err) {
    (void)user;
    *out = NULL;
    kv__mname nm;
    kv__manifest *m;
    static const char *const mts[4] = {KV__MT_SYSTEM, KV__MT_PARAMS, KV__MT_TEMPLATE,
                                       KV__MT_MESSAGES};
    char *txt[4];
    kv_status st = read_text_layers(model, &nm, mts, 4, &m, txt, err);
    if (!m)
        return st;
    json_t *o = st == KV_OK ? json_object() : NULL;
    if (o && txt[0])
        json_object_set_new(o, "system", json_string(txt[0]));
    json_error_t je;
    json_t *params = o && txt[1] ? json_loads(txt[1], 0, &je) : NULL;
    if (json_is_object(params))
        json_object_set(o, "options", params);
    else if (o && txt[1])
        warn_layer(kv__manifest_layer(m, KV__MT_PARAMS)->digest,
                   "kvant serve: model '%s': its params layer is not a JSON object (%s); "
                   "ignored\n",
                   model, params ? "another JSON value" : je.text);
    json_decref(params);
    if (o && txt[2]) {
        kv_gotmpl *g = NULL;
        kv_err terr = {0};
        if (kv_gotmpl_parse(txt[2], strlen(txt[2]), &g, &terr) == KV_OK)
            json_object_set_new(o, "template", json_string(txt[2]));
        else
            warn_layer(kv__manifest_layer(m, KV__MT_TEMPLATE)->digest,
                       "kvant serve: model '%s': its TEMPLATE cannot run (%s); using the GGUF's "
                       "chat template\n",
                       model, terr.msg);
        kv_gotmpl_free(g);
    }
    json_t *msgs = o && txt[3] ? json_loads(txt[3], 0, NULL) : NULL;
    if (json_is_array(msgs))
        json_object_set(o, "messages", msgs);
    else if (o && txt[3])
        warn_layer(kv__manifest_layer(m, KV__MT_MESSAGES)->digest,
                   "kvant serve: model '%s': its messages layer is not a JSON array%s; ignored\n",
                   model, "");
    json_decref(msgs);
    if (o && json_object_size(o) == 0)
        st = KV_FAIL(err, KV_ERR_NOT_FOUND, "no defaults");
    else if (o && !(*out = json_dumps(o, JSON_COMPACT)))
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    json_decref(o);
    for (int i = 0; i < 4; i++)
        free(txt[i]);
    free(m);
    return st;
}

// remote: the name as given, with $KVANT_REGISTRY's host when it names none;
// local: MODEL:TAG, a name the server serves (so "pull site:5000/library/kjv:v1"
// serves kjv:v1, and "push site:5000/library/kjv:v1" sends kjv:v1 there).
static kv_status pull_names(const char *model, kv__mname *local, kv__mname *remote, kv_err *err) {
    kv_status st = kv__mname_parse(model, local, err);
    if (st != KV_OK) {
        kv_err_prefix(err, "field 'model'");
        return st;
    }
    *remote = *local;
    snprintf(local->host, sizeof local->host, "%s", KV__MNAME_DEFAULT_HOST);
    snprintf(local->ns, sizeof local->ns, "%s", KV__MNAME_DEFAULT_NS);
    return kv__oci_registry_name(model, local, remote, err);
}

// What pull() and push() start from: the names (pull_names) and the registry options
// (--insecure, the progress callback, the credentials from the environment).
static kv_status transfer_setup(const char *model, bool insecure, kv_serve_progress_fn progress,
                                void *progress_user, kv__mname *local, kv__mname *remote,
                                kv__oci_opts *o, kv_err *err) {
    *o = (kv__oci_opts){.insecure = insecure, .progress = progress, .user = progress_user};
    kv__oci_opts_from_env(o);
    return pull_names(model, local, remote, err);
}

static kv_status pull(void *user, const char *model, bool insecure, kv_serve_progress_fn progress,
                      void *progress_user, char *name, size_t name_cap, char *path,
                      size_t path_cap, kv_err *err) {
    (void)user;
    kv__mname local, remote;
    kv__oci_opts o;
    kv_status st = transfer_setup(model, insecure, progress, progress_user, &local, &remote, &o,
                                  err);
    if (st == KV_OK)
        st = kv__oci_pull(g_dir, &local, &remote, &o, err);
    if (st == KV_OK) {
        kv__mname_display(&local, name, name_cap);
        st = kv__mstore_model_path(g_dir, name, path, path_cap, err);
    }
    return st;
}

static kv_status push(void *user, const char *model, bool insecure, kv_serve_progress_fn progress,
                      void *progress_user, kv_err *err) {
    (void)user;
    kv__mname local, remote;
    kv__oci_opts o;
    kv_status st = transfer_setup(model, insecure, progress, progress_user, &local, &remote, &o,
                                  err);
    if (st == KV_OK)
        st = kv__oci_push(g_dir, &local, &remote, &o, err);
    return st;
}

static kv_status upload_tmp(void *user, char *path, size_t cap, kv_err *err) {
    (void)user;
    return kv__mstore_upload_tmp(g_dir, path, cap, err);
}

static kv_status blob_commit(void *user, const char *digest, const char *tmp, kv_err *err) {
    (void)user;
    kv_status st = kv__mstore_blob_commit(g_dir, digest, tmp, err);
    if (st != KV_OK)
        unlink(tmp); // also when it could not be read back
    return st;
}

static kv_status manifest_put(void *user, const char *repo, const char *tag, const char *text,
                              size_t n, char *digest, size_t digest_cap, char *name,
                              size_t name_cap, char *path, size_t path_cap, kv_err *err) {
    (void)user;
    name[0] = 0;
    char full[KV__MNAME_TEXT_MAX + 8];
    int w = snprintf(full, sizeof full, "%s%.*s:%.*s",
                     strchr(repo, '/') ? "" : KV__MNAME_DEFAULT_NS "/", 300, repo, 200, tag);
    if (w < 0 || (size_t)w >= sizeof full || strlen(repo) > 300 || strlen(tag) > 200 ||
        (strchr(repo, '/') && strchr(strchr(repo, '/') + 1, '/')))
        return KV_FAIL(err, KV_ERR_INVALID, "repository '%.200s' is not NAMESPACE/MODEL", repo);
    kv__mname nm;
    kv_status st = kv__mname_parse(full, &nm, err);
    if (st != KV_OK)
        return st;
    if (n > KV__MANIFEST_MAX)
        return KV_FAIL(err, KV_ERR_LIMIT, "a manifest of %zu bytes: at most %zu", n,
                       (size_t)KV__MANIFEST_MAX);
    kv__manifest *m = malloc(sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    if ((st = kv__manifest_parse(text, n, "the manifest", m, err)) == KV_OK)
        snprintf(digest, digest_cap, "%s", m->digest);
    free(m);
    if (st == KV_OK)
        st = kv__mstore_manifest_put(g_dir, &nm, text, n, err);
    if (st != KV_OK)
        return st;
    char shown[KV__MNAME_TEXT_MAX];
    kv__mname_display(&nm, shown, sizeof shown);
    kv_err e2;
    if (!strchr(shown, '/') && kv__mstore_model_path(g_dir, shown, path, path_cap, &e2) == KV_OK)
        snprintf(name, name_cap, "%s", shown);
    return KV_OK;
}

static kv_serve_store_ops OPS = {
    .blob_has = blob_has,
    .blob_put = blob_put,
    .create = create,
    .copy = copy,
    .remove = remove_model,
    .manifest = manifest,
    .blob_path = blob_path,
    .pull = pull,
    .push = push,
    .show = show,
    .defaults = defaults,
    .upload_tmp = upload_tmp,
    .blob_commit = blob_commit,
    .manifest_put = manifest_put,
};

// ---- --ollama-store: the same reads, every change refused ----

static kv_status read_only(kv_err *err) {
    return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                   "the model store %s is read only (kvant serve --ollama-store)", g_dir);
}
static kv_status ro_blob_put(void *u, const char *d, const void *p, size_t n, kv_err *err) {
    (void)u, (void)d, (void)p, (void)n;
    return read_only(err);
}
static kv_status ro_create(void *u, const kv_serve_create_req *rq, char *name, size_t name_cap,
                           char *path, size_t path_cap, kv_err *err) {
    (void)u, (void)rq, (void)name, (void)name_cap, (void)path, (void)path_cap;
    return read_only(err);
}
static kv_status ro_copy(void *u, const char *s, const char *d, char *name, size_t name_cap,
                         char *path, size_t path_cap, kv_err *err) {
    (void)u, (void)s, (void)d, (void)name, (void)name_cap, (void)path, (void)path_cap;
    return read_only(err);
}
static kv_status ro_remove(void *u, const char *m, char *name, size_t name_cap, kv_err *err) {
    (void)u, (void)m, (void)name, (void)name_cap;
    return read_only(err);
}
static kv_status ro_pull(void *u, const char *m, bool insecure, kv_serve_progress_fn pr, void *pu,
                         char *name, size_t name_cap, char *path, size_t path_cap, kv_err *err) {
    (void)u, (void)m, (void)insecure, (void)pr, (void)pu, (void)name, (void)name_cap;
    (void)path, (void)path_cap;
    return read_only(err);
}
static kv_status ro_push(void *u, const char *m, bool insecure, kv_serve_progress_fn pr, void *pu,
                         kv_err *err) {
    (void)u, (void)m, (void)insecure, (void)pr, (void)pu;
    return read_only(err);
}

// No upload ops: /v2/ pushes answer 405 and /api/blobs bodies stay in memory
// (refused by ro_blob_put after blob_has).
static const kv_serve_store_ops RO_OPS = {
    .blob_has = blob_has,
    .blob_put = ro_blob_put,
    .create = ro_create,
    .copy = ro_copy,
    .remove = ro_remove,
    .manifest = manifest,
    .blob_path = blob_path,
    .pull = ro_pull,
    .push = ro_push,
    .show = show,
    .defaults = defaults,
};

int kv_cli_serve_mstore(kv_serve_params *p, uint64_t blob_max, bool readonly) {
    OPS.blob_max = blob_max;
    kv_err err;
    if (kv__mstore_default_dir(g_dir, sizeof g_dir, &err) != KV_OK)
        return kv_cli_fail("serve", &err);
    p->store = readonly ? &RO_OPS : &OPS;
    return 0;
}
