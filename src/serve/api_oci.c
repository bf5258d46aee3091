// kvant serve --store as a registry and as Ollama's puller:
//   - GET/HEAD /v2/ and /v2/NAME/manifests/TAG, /v2/NAME/blobs/DIGEST: the
//     read-only OCI distribution API over the store, blobs sent from their files
//     with Range (one range; anything else gets the whole blob), so an edge box
//     runs kvant pull --insecure SITE:PORT/library/MODEL:TAG against it;
//   - POST /api/pull and /api/push (Ollama's API): the store's pull/push over
//     the registry the name names; the progress objects (status, digest, total,
//     completed) are streamed as lines while the work runs (stream:false: one
//     status object after it).
#define _POSIX_C_SOURCE 200809L
#include "serve/api_int.h"
#include "serve/call_int.h"
#include "serve/registry_int.h"
#include "serve/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t pull_mu = PTHREAD_MUTEX_INITIALIZER; // one pull or push at a time

#define NAME_CAP 1024
#define PATH_CAP 4096

static const kv_serve_store_ops *ops(kv__call *c, bool want_v2, kv_err *err) {
    const kv_serve_store_ops *o = c->srv->p.store;
    if (!o || (want_v2 ? !o->manifest || !o->blob_path : !o->pull || !o->push)) {
        c->status = 501;
        KV_FAIL(err, KV_ERR_UNSUPPORTED,
                "%s is not supported by kvant without a model store: it serves the GGUF files "
                "it was given (kvant serve --store serves the model store)",
                want_v2 ? "the registry API (/v2/)" : "pulling and pushing (/api/pull, /api/push)");
        return NULL;
    }
    return o;
}

kv_status kv__h_v2_root(kv__call *c, kv_err *err) {
    if (!ops(c, true, err))
        return KV_ERR_UNSUPPORTED;
    return kv__call_json(c, json_object(), err);
}

// Parses "bytes=A-B" or "bytes=A-" against size; false when it is something
// else (then the whole blob is sent); *bad when it cannot be satisfied.
static bool one_range(const char *h, uint64_t size, uint64_t *a, uint64_t *b, bool *bad) {
    *bad = false;
    if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return false;
    const char *p = h + 6;
    if (*p < '0' || *p > '9')
        return false; // suffix ranges ("-N") are not asked by registry clients
    char *end;
    errno = 0;
    unsigned long long x = strtoull(p, &end, 10), y = UINT64_MAX;
    if (errno || *end != '-')
        return false;
    p = end + 1;
    if (*p) {
        if (*p < '0' || *p > '9')
            return false;
        y = strtoull(p, &end, 10);
        if (errno || *end || y < x)
            return false;
    }
    if (x >= size) {
        *bad = true;
        return true;
    }
    *a = x;
    *b = y >= size ? size - 1 : y;
    return true;
}

static kv_status v2_blob(kv__call *c, const kv_serve_store_ops *o, const char *digest,
                         kv_err *err) {
    if (!kv__serve_digest_ok(digest)) {
        c->status = 400;
        return KV_FAIL(err, KV_ERR_INVALID,
                       "blob digest '%.80s' must be sha256: and 64 lowercase hex digits", digest);
    }
    char path[PATH_CAP];
    kv_status st = o->blob_path(o->user, digest, path, sizeof path, err);
    if (st != KV_OK) {
        c->status = st == KV_ERR_NOT_FOUND ? 404 : 0;
        return st;
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        c->status = 404;
        return KV_FAIL(err, KV_ERR_NOT_FOUND, "blob %s not found", digest);
    }
    uint64_t size = (uint64_t)sb.st_size, a = 0, b = size ? size - 1 : 0;
    bool bad = false;
    snprintf(c->hdr_digest, sizeof c->hdr_digest, "%s", digest);
    if (c->range && one_range(c->range, size, &a, &b, &bad)) {
        if (bad) {
            close(fd);
            c->status = 416;
            snprintf(c->hdr_range, sizeof c->hdr_range, "bytes */%" PRIu64, size);
            return KV_FAIL(err, KV_ERR_INVALID, "range '%.60s' is past the blob's %" PRIu64
                           " bytes", c->range, size);
        }
        c->status = 206;
        snprintf(c->hdr_range, sizeof c->hdr_range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, a,
                 b, size);
    }
    c->has_file = true;
    c->file_fd = fd;
    c->file_off = a;
    c->file_len = size ? b - a + 1 : 0;
    c->ctype = "application/octet-stream";
    return KV_OK;
}

// /v2/NAME/manifests/TAG and /v2/NAME/blobs/DIGEST (NAME: NAMESPACE/MODEL or MODEL).
kv_status kv__h_v2(kv__call *c, kv_err *err) {
    const kv_serve_store_ops *o = ops(c, true, err);
    if (!o)
        return KV_ERR_UNSUPPORTED;
    const char *a = c->arg, *m = strstr(a, "/manifests/"), *b = strstr(a, "/blobs/");
    const char *sep = m ? m : b;
    if (!sep || (m && b) || sep == a || strlen(a) > 600) {
        c->status = 404;
        return KV_FAIL(err, KV_ERR_NOT_FOUND, "not found (kvant serves /v2/NAME/manifests/TAG "
                       "and /v2/NAME/blobs/DIGEST, read-only)");
    }
    char repo[640];
    snprintf(repo, sizeof repo, "%.*s", (int)(sep - a), a);
    const char *ref = sep + (m ? 11 : 7);
    if (b)
        return v2_blob(c, o, ref, err);
    if (kv__serve_digest_ok(ref)) {
        c->status = 404;
        return KV_FAIL(err, KV_ERR_NOT_FOUND, "manifests by digest are not served; ask by tag");
    }
    char *text = NULL, mt[160] = "";
    size_t n = 0;
    kv_status st = o->manifest(o->user, repo, ref, &text, &n, mt, sizeof mt, c->hdr_digest,
                               sizeof c->hdr_digest, err);
    if (st != KV_OK) {
        c->hdr_digest[0] = 0;
        c->status = st == KV_ERR_NOT_FOUND ? 404 : st == KV_ERR_INVALID ? 400 : 0;
        return st;
    }
    c->out.n = 0;
    st = kv__buf_add(&c->out, text, n, err);
    free(text);
    c->ctype = strcmp(mt, "application/vnd.oci.image.manifest.v1+json") == 0
                   ? "application/vnd.oci.image.manifest.v1+json"
                   : "application/vnd.docker.distribution.manifest.v2+json";
    return st;
}

// ---- /api/pull, /api/push ----

// A pull or push whose progress lines are sent while it runs: a thread does the
// work and appends the lines; the HTTP layer reads them as they come
// (live_read waits) and, when the response is gone, live_free joins the thread
// (so the server outlives the work, and a client that leaves does not stop it).
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    kv__buf out;
    bool started; // a progress line came: errors from now on are lines too
    bool done;
    kv_status st;
    kv_err err;
    pthread_t th;
    kv_serve *srv;
    const kv_serve_store_ops *o;
    char *model;
    bool insecure, pull;
} live;

static void add_line(kv__buf *out, json_t *v) {
    kv__buf_add_json(out, v, NULL);
    kv__buf_adds(out, "\n", NULL);
    json_decref(v);
}

static json_t *progress_json(const char *status, const char *digest, uint64_t done,
                             uint64_t total) {
    json_t *v = json_pack("{s:s}", "status", status);
    if (digest) {
        json_object_set_new(v, "digest", json_string(digest));
        if (total) {
            json_object_set_new(v, "total", json_integer((json_int_t)total));
            json_object_set_new(v, "completed", json_integer((json_int_t)done));
        }
    }
    return v;
}

static void live_progress(void *user, const char *status, const char *digest, uint64_t done,
                          uint64_t total) {
    live *l = user;
    if (!strcmp(status, "success"))
        return; // sent once the model is registered too (live_run)
    pthread_mutex_lock(&l->mu);
    l->started = true;
    add_line(&l->out, progress_json(status, digest, done, total));
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void *live_run(void *user) {
    live *l = user;
    kv_err err;
    char name[NAME_CAP], path[PATH_CAP];
    kv_err_clear(&err);
    pthread_mutex_lock(&pull_mu);
    kv_status st = l->pull ? l->o->pull(l->o->user, l->model, l->insecure, live_progress, l, name,
                                        sizeof name, path, sizeof path, &err)
                           : l->o->push(l->o->user, l->model, l->insecure, live_progress, l,
                                        &err);
    if (st == KV_OK && l->pull)
        st = kv__registry_put(l->srv->reg, name, path, &err);
    pthread_mutex_unlock(&pull_mu);
    pthread_mutex_lock(&l->mu);
    if (st != KV_OK && l->started) // Ollama's way: an error object ends the stream
        add_line(&l->out, json_pack("{s:s}", "error", err.msg));
    else if (st == KV_OK)
        add_line(&l->out, json_pack("{s:s}", "status", "success"));
    l->st = st;
    l->err = err;
    l->done = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static size_t live_read(void *ctx, char *buf, size_t max) {
    live *l = ctx;
    pthread_mutex_lock(&l->mu);
    while (l->out.n == 0 && !l->done)
        pthread_cond_wait(&l->cv, &l->mu);
    size_t n = l->out.n < max ? l->out.n : max;
    memcpy(buf, l->out.p, n);
    kv__buf_consume(&l->out, n);
    pthread_mutex_unlock(&l->mu);
    return n;
}

static void live_free(void *ctx) {
    live *l = ctx;
    pthread_join(l->th, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    kv__buf_free(&l->out);
    free(l->model);
    free(l);
}

// Starts l's thread and, once its first progress line came, points c at its
// lines (*st KV_OK). When it ends before any line (a name refused), *st and err
// are its failure, for an ordinary error reply. false when no thread could start.
static bool live_start(kv__call *c, const kv_serve_store_ops *o, const char *model, bool insecure,
                       bool pull, kv_status *st, kv_err *err) {
    live *l = calloc(1, sizeof *l);
    if (!l || !(l->model = strdup(model))) {
        free(l);
        return false;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->srv = c->srv;
    l->o = o;
    l->insecure = insecure;
    l->pull = pull;
    if (pthread_create(&l->th, NULL, live_run, l) != 0) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        free(l->model);
        free(l);
        return false;
    }
    pthread_mutex_lock(&l->mu);
    while (!l->started && !l->done)
        pthread_cond_wait(&l->cv, &l->mu);
    bool early = !l->started;
    pthread_mutex_unlock(&l->mu);
    if (early) {
        *st = l->st;
        if (err)
            *err = l->err;
        live_free(l);
        return true;
    }
    *st = KV_OK;
    c->stream_read = live_read;
    c->stream_free = live_free;
    c->stream_ctx = l;
    c->ctype = "application/x-ndjson";
    return true;
}

typedef struct {
    kv__buf *out;
    bool stream;
} prog_ctx;

static void on_progress(void *user, const char *status, const char *digest, uint64_t done,
                        uint64_t total) {
    prog_ctx *p = user;
    if (p->stream)
        add_line(p->out, progress_json(status, digest, done, total));
}

static kv_status pull_push(kv__call *c, bool pull, kv_err *err) {
    const kv_serve_store_ops *o = ops(c, false, err);
    if (!o)
        return KV_ERR_UNSUPPORTED;
    json_error_t je;
    json_t *b = json_loadb(c->body ? c->body : "", c->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(b)) {
        json_decref(b);
        return KV_FAIL(err, KV_ERR_INVALID, "request body must be a JSON object");
    }
    json_t *mv = json_object_get(b, "model"), *iv = json_object_get(b, "insecure"),
           *sv = json_object_get(b, "stream");
    if (!mv || json_is_null(mv))
        mv = json_object_get(b, "name"); // older clients
    kv_status st = KV_OK;
    if (!json_is_string(mv) || !json_string_value(mv)[0])
        st = KV_FAIL(err, KV_ERR_INVALID, "field 'model' is required");
    else if (iv && !json_is_boolean(iv) && !json_is_null(iv))
        st = KV_FAIL(err, KV_ERR_INVALID, "field 'insecure' must be true or false");
    else if (sv && !json_is_boolean(sv) && !json_is_null(sv))
        st = KV_FAIL(err, KV_ERR_INVALID, "field 'stream' must be true or false");
    prog_ctx pc = {&c->out, !sv || json_is_true(sv)};
    char name[NAME_CAP], path[PATH_CAP];
    if (st == KV_OK && pc.stream &&
        live_start(c, o, json_string_value(mv), json_is_true(iv), pull, &st, err)) {
        json_decref(b);
        if (st == KV_ERR_NOT_FOUND)
            c->status = 404;
        return st;
    }
    if (st == KV_OK) {
        c->out.n = 0;
        pthread_mutex_lock(&pull_mu);
        if (pull) {
            st = o->pull(o->user, json_string_value(mv), json_is_true(iv), on_progress, &pc, name,
                         sizeof name, path, sizeof path, err);
            if (st == KV_OK)
                st = kv__registry_put(c->srv->reg, name, path, err);
        } else {
            st = o->push(o->user, json_string_value(mv), json_is_true(iv), on_progress, &pc, err);
        }
        pthread_mutex_unlock(&pull_mu);
    }
    json_decref(b);
    if (st == KV_ERR_NOT_FOUND)
        c->status = 404;
    if (st != KV_OK)
        return st;
    if (pc.stream) {
        c->ctype = "application/x-ndjson";
        return KV_OK;
    }
    c->out.n = 0;
    return kv__call_json(c, json_pack("{s:s}", "status", "success"), err);
}

kv_status kv__h_pull(kv__call *c, kv_err *err) {
    return pull_push(c, true, err);
}

kv_status kv__h_push(kv__call *c, kv_err *err) {
    return pull_push(c, false, err);
}
