// kvant serve --store as a registry one pushes into (the OCI distribution API's
// upload side), and blob bodies streamed to disk:
//   - POST /v2/NAME/blobs/uploads/ opens an upload (a temporary file in the
//     store, named by a random id: 202 with Location); PATCH appends a chunk;
//     PUT ?digest=D appends the last bytes, and the file becomes blob D when its
//     SHA-256 is D (else it is deleted; 400). PUT /v2/NAME/manifests/TAG stores
//     the manifest when every blob it names is there, and serves the model;
//   - the bytes of PATCH, PUT and POST /api/blobs/DIGEST go to the file as they
//     arrive (kv__sink_*, called by the HTTP layer before the body is read), so
//     an upload needs no memory of its size. A body past the upload limit (413),
//     a write that fails, a wrong digest or a client gone mid-body leaves no
//     file; an upload nobody touches for UPLOAD_IDLE_S goes when the next opens.
// Who may push is auth.c's: operator and admin (kv__method_right).
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE // getentropy
#include "serve/api_int.h"
#include "serve/call_int.h"
#include "serve/duration_int.h"
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

#define UPLOADS_MAX 32
#define UPLOAD_IDLE_S 600.0
#define REPO_MAX 255
#define PATH_CAP 4096
#define NAME_CAP 1024
#define DEFAULT_BLOB_MAX ((uint64_t)1 << 40)

typedef struct {
    bool used, busy; // busy: a PATCH or PUT is writing it
    char id[33];
    char repo[REPO_MAX + 1];
    char path[PATH_CAP];
    uint64_t size;
    double t_last;
} upload;

struct kv__sink {
    int fd;
    char path[PATH_CAP];
    int slot; // the upload's, or -1 (POST /api/blobs: a file of its own)
    uint64_t limit;
    bool over;
    int err; // errno of a failed write
};

static pthread_mutex_t up_mu = PTHREAD_MUTEX_INITIALIZER;
static upload g_up[UPLOADS_MAX];

static const kv_serve_store_ops *push_ops(const kv_serve *s) {
    const kv_serve_store_ops *o = s->p.store;
    return o && o->upload_tmp && o->blob_commit && o->manifest_put ? o : NULL;
}

static uint64_t blob_max(const kv_serve_store_ops *o) {
    return o->blob_max ? o->blob_max : DEFAULT_BLOB_MAX;
}

bool kv__serve_digest_ok(const char *d) {
    if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

// A repository name as the distribution spec has it, short: [a-z0-9._/-], no
// leading, trailing or double '/', no "..".
static bool repo_ok(const char *r, size_t n) {
    if (n == 0 || n > REPO_MAX || r[0] == '/' || r[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = r[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == '-' || ch == '/'))
            return false;
        if (i + 1 < n && ((ch == '/' && r[i + 1] == '/') || (ch == '.' && r[i + 1] == '.')))
            return false;
    }
    return true;
}

typedef enum { P_NONE, P_OPEN, P_CHUNK, P_MANIFEST } push_kind;

// Splits a /v2/ path after "/v2/": REPO/blobs/uploads/ (P_OPEN), REPO/blobs/
// uploads/ID (P_CHUNK, *ref = ID), REPO/manifests/TAG (P_MANIFEST, *ref = TAG).
static push_kind split(const char *arg, char *repo, const char **ref) {
    const char *u = strstr(arg, "/blobs/uploads/");
    const char *m = strstr(arg, "/manifests/");
    const char *cut = u ? u : m;
    if (!cut || !repo_ok(arg, (size_t)(cut - arg)))
        return P_NONE;
    memcpy(repo, arg, (size_t)(cut - arg));
    repo[cut - arg] = 0;
    if (u) {
        *ref = u + strlen("/blobs/uploads/");
        return **ref ? P_CHUNK : P_OPEN;
    }
    *ref = m + strlen("/manifests/");
    return **ref && !strchr(*ref, '/') ? P_MANIFEST : P_NONE;
}

static void drop_locked(int i, bool unlink_file) {
    if (unlink_file && g_up[i].path[0])
        unlink(g_up[i].path);
    memset(&g_up[i], 0, sizeof g_up[i]);
}

static void set_upload_headers(kv__call *c, const upload *u) {
    snprintf(c->hdr_location, sizeof c->hdr_location, "/v2/%s/blobs/uploads/%s", u->repo, u->id);
    snprintf(c->hdr_upload_uuid, sizeof c->hdr_upload_uuid, "%s", u->id);
    snprintf(c->hdr_upload_range, sizeof c->hdr_upload_range, "0-%" PRIu64,
             u->size ? u->size - 1 : 0);
}

unsigned kv__sink_open(kv__call *c, char *msg, size_t cap) {
    c->sink = NULL;
    const kv_serve_store_ops *o = push_ops(c->srv);
    if (!o)
        return 0; // no store that takes files: bodies as before
    bool blobs = c->method == KV__POST && strncmp(c->path, "/api/blobs/", 11) == 0;
    bool v2 = (c->method == KV__PATCH || c->method == KV__PUT) && strncmp(c->path, "/v2/", 4) == 0;
    if (!blobs && !v2)
        return 0;
    char repo[REPO_MAX + 1];
    const char *ref = NULL;
    if (blobs && !kv__serve_digest_ok(c->path + 11))
        return 0; // the handler refuses the digest (400)
    if (v2 && split(c->path + 4, repo, &ref) != P_CHUNK)
        return 0; // a manifest (small, held) or a path the handler answers
    struct kv__sink *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(msg, cap, "out of memory");
        return 503;
    }
    k->fd = -1;
    k->slot = -1;
    if (blobs) {
        kv_err err;
        if (o->upload_tmp(o->user, k->path, sizeof k->path, &err) != KV_OK) {
            snprintf(msg, cap, "%s", err.msg);
            free(k);
            return 500;
        }
        k->limit = blob_max(o);
    } else {
        if (c->method == KV__PUT && !kv__serve_digest_ok(c->query_digest)) {
            snprintf(msg, cap, "PUT of an upload needs ?digest=sha256:HEX (64 lowercase hex "
                               "digits), got '%.80s'",
                     c->query_digest ? c->query_digest : "");
            free(k);
            return 400;
        }
        pthread_mutex_lock(&up_mu);
        int slot = -1;
        for (int i = 0; i < UPLOADS_MAX && slot < 0; i++)
            if (g_up[i].used && strcmp(g_up[i].id, ref) == 0 && strcmp(g_up[i].repo, repo) == 0)
                slot = i;
        unsigned st = 0;
        if (slot < 0) {
            snprintf(msg, cap, "upload '%.64s' of %s is not in progress", ref, repo);
            st = 404;
        } else if (g_up[slot].busy) {
            snprintf(msg, cap, "upload '%.64s' is being written by another request", ref);
            st = 409;
        } else {
            g_up[slot].busy = true;
            snprintf(k->path, sizeof k->path, "%s", g_up[slot].path);
            k->slot = slot;
            uint64_t max = blob_max(o);
            k->limit = g_up[slot].size < max ? max - g_up[slot].size : 0;
        }
        pthread_mutex_unlock(&up_mu);
        if (st) {
            free(k);
            return st;
        }
    }
    k->fd = open(k->path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (k->fd < 0) {
        snprintf(msg, cap, "cannot open the upload file %s: %s", k->path, strerror(errno));
        c->sink = k;
        kv__sink_abort(c);
        return 500;
    }
    c->sink = k;
    c->sink_len = 0;
    return 0;
}

bool kv__sink_write(kv__call *c, const char *p, size_t n) {
    struct kv__sink *k = c->sink;
    if (k->over || k->err)
        return false;
    if (n > k->limit - c->sink_len) {
        k->over = true;
        return false;
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(k->fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            k->err = w < 0 ? errno : EIO;
            return false;
        }
        done += (size_t)w;
    }
    c->sink_len += n;
    return true;
}

unsigned kv__sink_failed(const kv__call *c, char *msg, size_t cap) {
    const struct kv__sink *k = c->sink;
    if (!k)
        return 0;
    if (k->over) {
        snprintf(msg, cap, "the upload is over the limit of %" PRIu64 " bytes a blob may have",
                 blob_max(push_ops(c->srv)));
        return 413;
    }
    if (k->err) {
        snprintf(msg, cap, "cannot write the upload: %s", strerror(k->err));
        return k->err == ENOSPC || k->err == EDQUOT ? 507 : 500;
    }
    return 0;
}

void kv__sink_abort(kv__call *c) {
    struct kv__sink *k = c->sink;
    if (!k)
        return;
    if (k->fd >= 0)
        close(k->fd);
    pthread_mutex_lock(&up_mu);
    if (k->slot >= 0)
        drop_locked(k->slot, true);
    else
        unlink(k->path);
    pthread_mutex_unlock(&up_mu);
    free(k);
    c->sink = NULL;
}

// Closes c's sink for the handler: the file's path into path; the upload
// (slot) stays busy until the handler releases it.
static int sink_take(kv__call *c, char *path, size_t cap) {
    struct kv__sink *k = c->sink;
    close(k->fd);
    snprintf(path, cap, "%s", k->path);
    int slot = k->slot;
    free(k);
    c->sink = NULL;
    return slot;
}

void kv__uploads_end(void) {
    pthread_mutex_lock(&up_mu);
    for (int i = 0; i < UPLOADS_MAX; i++)
        if (g_up[i].used && !g_up[i].busy)
            drop_locked(i, true);
    pthread_mutex_unlock(&up_mu);
}

kv_status kv__blob_from_sink(kv__call *c, const char *digest, kv_err *err) {
    const kv_serve_store_ops *o = push_ops(c->srv);
    char path[PATH_CAP];
    sink_take(c, path, sizeof path);
    return o->blob_commit(o->user, digest, path, err); // deletes the file when it fails
}

static kv_status open_upload(kv__call *c, const kv_serve_store_ops *o, const char *repo,
                             kv_err *err) {
    unsigned char rnd[16];
    if (getentropy(rnd, sizeof rnd) != 0)
        return KV_FAIL(err, KV_ERR_IO, "no randomness for an upload id: %s", strerror(errno));
    char path[PATH_CAP];
    kv_status st = o->upload_tmp(o->user, path, sizeof path, err);
    if (st != KV_OK)
        return st;
    double now = kv__now();
    pthread_mutex_lock(&up_mu);
    int slot = -1;
    for (int i = 0; i < UPLOADS_MAX; i++) {
        if (g_up[i].used && !g_up[i].busy && now - g_up[i].t_last > UPLOAD_IDLE_S)
            drop_locked(i, true);
        if (!g_up[i].used && slot < 0)
            slot = i;
    }
    if (slot >= 0) {
        upload *u = &g_up[slot];
        u->used = true;
        for (int i = 0; i < 16; i++)
            snprintf(u->id + 2 * i, 3, "%02x", rnd[i]);
        snprintf(u->repo, sizeof u->repo, "%s", repo);
        snprintf(u->path, sizeof u->path, "%s", path);
        u->t_last = now;
        set_upload_headers(c, u);
    }
    pthread_mutex_unlock(&up_mu);
    if (slot < 0) {
        unlink(path);
        c->status = 429;
        return KV_FAIL(err, KV_ERR_LIMIT, "%d uploads are in progress; try again later",
                       UPLOADS_MAX);
    }
    c->status = 202;
    return KV_OK;
}

static kv_status chunk_done(kv__call *c, const kv_serve_store_ops *o, bool put, kv_err *err) {
    if (!c->sink) // the sink opens for every PATCH and PUT of an upload (kv__sink_open)
        return KV_FAIL(err, KV_ERR_INVALID, "no upload in this request");
    char path[PATH_CAP];
    uint64_t got = c->sink_len;
    int slot = sink_take(c, path, sizeof path);
    pthread_mutex_lock(&up_mu);
    upload *u = &g_up[slot];
    u->size += got;
    u->t_last = kv__now();
    u->busy = false;
    if (!put)
        set_upload_headers(c, u);
    char repo[REPO_MAX + 1];
    snprintf(repo, sizeof repo, "%s", u->repo);
    if (put)
        memset(u, 0, sizeof *u); // the file is the commit's now
    pthread_mutex_unlock(&up_mu);
    if (!put) {
        c->status = 202;
        return KV_OK;
    }
    kv_status st = o->blob_commit(o->user, c->query_digest, path, err);
    if (st != KV_OK) {
        c->status = st == KV_ERR_FORMAT ? 400 : 0;
        return st;
    }
    snprintf(c->hdr_location, sizeof c->hdr_location, "/v2/%s/blobs/%s", repo, c->query_digest);
    snprintf(c->hdr_digest, sizeof c->hdr_digest, "%s", c->query_digest);
    c->status = 201;
    return KV_OK;
}

static kv_status put_manifest(kv__call *c, const kv_serve_store_ops *o, const char *repo,
                              const char *tag, kv_err *err) {
    char digest[80] = "", name[NAME_CAP] = "", path[PATH_CAP] = "";
    kv_status st = o->manifest_put(o->user, repo, tag, c->body, c->body_len, digest,
                                   sizeof digest, name, sizeof name, path, sizeof path, err);
    if (st == KV_OK && name[0])
        st = kv__registry_put(c->srv->reg, name, path, err);
    if (st != KV_OK) {
        c->status = st == KV_ERR_NOT_FOUND || st == KV_ERR_FORMAT || st == KV_ERR_INVALID ? 400 : 0;
        return st;
    }
    snprintf(c->hdr_location, sizeof c->hdr_location, "/v2/%s/manifests/%s", repo, digest);
    snprintf(c->hdr_digest, sizeof c->hdr_digest, "%s", digest);
    c->status = 201;
    return KV_OK;
}

kv_status kv__h_v2_push(kv__call *c, kv_err *err) {
    const kv_serve_store_ops *o = push_ops(c->srv);
    if (!o) {
        c->status = c->srv->p.store ? 405 : 501;
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "pushing into this server (/v2/) is not supported: it %s",
                       c->srv->p.store ? "serves its store read-only"
                                       : "has no model store (kvant serve --store)");
    }
    char repo[REPO_MAX + 1];
    const char *ref = NULL;
    push_kind k = split(c->arg, repo, &ref);
    if (k == P_OPEN && c->method == KV__POST)
        return open_upload(c, o, repo, err);
    if (k == P_CHUNK && (c->method == KV__PATCH || c->method == KV__PUT))
        return chunk_done(c, o, c->method == KV__PUT, err);
    if (k == P_MANIFEST && c->method == KV__PUT)
        return put_manifest(c, o, repo, ref, err);
    c->status = k == P_NONE ? 404 : 405;
    return KV_FAIL(err, KV_ERR_INVALID, "%s %.200s is not a push of the registry API",
                   kv__method_name(c->method), c->path);
}
