// The model store's files: manifests and blobs in Ollama's layout (models.h).
#define _POSIX_C_SOURCE 200809L // openat, mkstemp, fdopen
#define _DEFAULT_SOURCE         // DT_* in dirent
#include "store/models.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvant/kv_gguf.h"
#include "kvant/kv_gotmpl.h"

#define PATH_CAP 4096

static void sha256_digest(const void *p, size_t n, char out[72]) {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    kv__digest_format(md, out);
}

static kv_status path_fmt(char *out, size_t cap, kv_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static kv_status path_fmt(char *out, size_t cap, kv_err *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap)
        return KV_FAIL(err, KV_ERR_LIMIT, "path too long");
    return KV_OK;
}

kv_status kv__mstore_blob_path(const char *dir, const char *d, char *out, size_t cap,
                               kv_err *err) {
    kv_status st = kv__digest_check(d, err);
    if (st != KV_OK)
        return st;
    return path_fmt(out, cap, err, "%s/blobs/sha256-%s", dir, d + 7);
}

// Names compare case-insensitively, as Ollama's: when path's last part (of
// len bytes, starting at part) is not there, an entry of its folder that
// equals it ignoring ASCII case takes its place (the first by byte order, so
// the choice does not depend on readdir's). Returns whether one did.
static bool existing_spelling(char *path, size_t part) {
    size_t len = strlen(path + part);
    char saved = path[part - 1];
    path[part - 1] = 0; // the folder, without the '/'
    DIR *d = opendir(path);
    path[part - 1] = saved;
    if (!d)
        return false;
    char best[KV__MNAME_HOST_MAX + 1] = "";
    struct dirent *e;
    while ((e = readdir(d)))
        if (strlen(e->d_name) == len && len < sizeof best &&
            strcasecmp(e->d_name, path + part) == 0 && (!best[0] || strcmp(e->d_name, best) < 0))
            memcpy(best, e->d_name, len + 1);
    closedir(d);
    if (!best[0])
        return false;
    memcpy(path + part, best, len);
    return true;
}

// Refuses a symbolic link at any folder of name's manifest path below dir, and
// at the file itself. KV_ERR_NOT_FOUND when a part is missing. A part that is
// there in another case is that one (existing_spelling), for reading and for
// writing, so KJV:V1 is kjv:v1 and a create of KJV:V1 replaces it.
static kv_status manifest_path(const char *dir, const kv__mname *n, char *out, size_t cap,
                               bool must_exist, kv_err *err) {
    const char *parts[5] = {"manifests", n->host, n->ns, n->model, n->tag};
    size_t len = (size_t)snprintf(out, cap, "%s", dir);
    bool missing = false;
    for (int i = 0; i < 5; i++) {
        int w = snprintf(out + len, cap - len, "/%s", parts[i]);
        if (w < 0 || (size_t)w >= cap - len)
            return KV_FAIL(err, KV_ERR_LIMIT, "path too long");
        len += (size_t)w;
        struct stat sb;
        if (missing)
            continue;
        if (lstat(out, &sb) != 0 &&
            (i == 0 || !existing_spelling(out, len - (size_t)w + 1) || lstat(out, &sb) != 0)) {
            missing = true;
            if (!must_exist)
                continue;
            char shown[KV__MNAME_TEXT_MAX];
            kv__mname_display(n, shown, sizeof shown);
            return KV_FAIL(err, KV_ERR_NOT_FOUND, "model '%s' not found in %s", shown, dir);
        }
        if (S_ISLNK(sb.st_mode))
            return KV_FAIL(err, KV_ERR_INVALID, "%s is a symbolic link; the store follows none",
                           out);
    }
    return KV_OK;
}

void kv__mstore_canonical(const char *dir, kv__mname *n) {
    char path[PATH_CAP];
    kv_err err;
    if (manifest_path(dir, n, path, sizeof path, false, &err) != KV_OK)
        return;
    // path ends in /manifests/HOST/NS/MODEL/TAG, each part as long as n's
    char *parts[4] = {n->host, n->ns, n->model, n->tag};
    size_t at = strlen(path);
    for (int i = 3; i >= 0; i--) {
        size_t len = strlen(parts[i]);
        if (at < len + 1 || path[at - len - 1] != '/')
            return;
        memcpy(parts[i], path + at - len, len);
        at -= len + 1;
    }
}

kv_status kv__store_read_capped(const char *path, size_t max, char **out, size_t *n,
                                int64_t *mtime, kv_err *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return KV_FAIL(err, errno == ENOENT ? KV_ERR_NOT_FOUND : KV_ERR_IO, "%s: %s", path,
                       strerror(errno));
    struct stat sb;
    kv_status st = KV_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s: not a regular file", path);
    else if ((uint64_t)sb.st_size > max)
        st = KV_FAIL(err, KV_ERR_LIMIT, "%s: %lld bytes, more than the %zu allowed", path,
                     (long long)sb.st_size, max);
    char *buf = NULL;
    if (st == KV_OK && !(buf = malloc((size_t)sb.st_size + 1)))
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    size_t got = 0;
    while (st == KV_OK && got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            st = KV_FAIL(err, KV_ERR_IO, "%s: read failed", path);
        else
            got += (size_t)r;
    }
    close(fd);
    if (st != KV_OK) {
        free(buf);
        return st;
    }
    buf[got] = 0;
    *out = buf;
    *n = got;
    if (mtime)
        *mtime = (int64_t)sb.st_mtime;
    return KV_OK;
}

kv_status kv__mstore_blob_read(const char *dir, const char *d, char **out, size_t *n,
                               kv_err *err) {
    char path[PATH_CAP];
    kv_status st = kv__mstore_blob_path(dir, d, path, sizeof path, err);
    if (st != KV_OK)
        return st;
    if ((st = kv__store_read_capped(path, KV__MANIFEST_MAX, out, n, NULL, err)) != KV_OK)
        return st;
    char got[72];
    sha256_digest(*out, *n, got);
    if (strcmp(got, d) != 0) {
        free(*out);
        *out = NULL;
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: content's digest is %s, not its name's", path,
                       got);
    }
    return KV_OK;
}

static kv_status parse_layer(json_t *j, const char *path, const char *what, kv__layer *l,
                             kv_err *err) {
    json_t *mt = json_object_get(j, "mediaType"), *dg = json_object_get(j, "digest"),
           *sz = json_object_get(j, "size");
    if (!json_is_object(j) || !json_is_string(mt) || !json_is_string(dg) || !json_is_integer(sz) ||
        json_integer_value(sz) < 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: %s needs mediaType, digest (strings) and size (an integer >= 0)",
                       path, what);
    if (strlen(json_string_value(mt)) >= sizeof l->media_type)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: %s: mediaType too long", path, what);
    kv_status st = kv__digest_check(json_string_value(dg), err);
    if (st != KV_OK) {
        kv_err_prefix(err, what);
        kv_err_prefix(err, path);
        return st;
    }
    snprintf(l->media_type, sizeof l->media_type, "%s", json_string_value(mt));
    snprintf(l->digest, sizeof l->digest, "%s", json_string_value(dg));
    l->size = (uint64_t)json_integer_value(sz);
    return KV_OK;
}

static kv_status parse_manifest(const char *text, size_t n, const char *path, kv__manifest *m,
                                kv_err *err) {
    json_error_t je;
    json_t *root = json_loadb(text, n, 0, &je);
    if (!root)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: invalid JSON: %s at line %d", path, je.text,
                       je.line);
    kv_status st = KV_OK;
    json_t *sv = json_object_get(root, "schemaVersion"), *cfg = json_object_get(root, "config"),
           *layers = json_object_get(root, "layers");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2)
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s: schemaVersion is not 2", path);
    else if (!json_is_array(layers))
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s: no layers array", path);
    else if (json_array_size(layers) > KV__MANIFEST_LAYERS_MAX)
        st = KV_FAIL(err, KV_ERR_LIMIT, "%s: %zu layers, at most %d", path,
                     json_array_size(layers), KV__MANIFEST_LAYERS_MAX);
    else
        st = parse_layer(cfg, path, "config", &m->config, err);
    m->n_layers = 0;
    m->size = m->config.size;
    for (size_t i = 0; st == KV_OK && i < json_array_size(layers); i++) {
        char what[32];
        snprintf(what, sizeof what, "layers[%zu]", i);
        st = parse_layer(json_array_get(layers, i), path, what, &m->layers[i], err);
        m->size += m->layers[i].size;
        m->n_layers++;
    }
    json_decref(root);
    if (st == KV_OK)
        sha256_digest(text, n, m->digest);
    return st;
}

kv_status kv__mstore_read(const char *dir, const kv__mname *name, kv__manifest *out,
                          kv_err *err) {
    memset(out, 0, sizeof *out);
    char path[PATH_CAP];
    kv_status st = manifest_path(dir, name, path, sizeof path, true, err);
    if (st != KV_OK)
        return st;
    char *text;
    size_t n;
    if ((st = kv__store_read_capped(path, KV__MANIFEST_MAX, &text, &n, &out->mtime, err)) != KV_OK)
        return st;
    st = parse_manifest(text, n, path, out, err);
    free(text);
    out->name = *name;
    return st;
}

const kv__layer *kv__manifest_layer(const kv__manifest *m, const char *mt) {
    for (size_t i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].media_type, mt) == 0)
            return &m->layers[i];
    return NULL;
}

// ---- writing ----

// mkdir -p of path, whose first base_len bytes are the store's folder; refuses
// links below it.
static kv_status mkdirs(char *path, size_t base_len, kv_err *err) {
    for (char *p = path + 1;; p++) {
        char c = *p;
        if (c != '/' && c != 0)
            continue;
        *p = 0;
        struct stat sb;
        int rc = mkdir(path, 0755);
        // The store's own path may pass through links; nothing below it may.
        bool below = (size_t)(p - path) > base_len;
        if ((rc != 0 && errno != EEXIST) || (below ? lstat(path, &sb) : stat(path, &sb)) != 0) {
            kv_status st = KV_FAIL(err, KV_ERR_IO, "cannot create %s: %s", path, strerror(errno));
            *p = c;
            return st;
        }
        if (!S_ISDIR(sb.st_mode)) {
            kv_status st = KV_FAIL(err, KV_ERR_INVALID, "%s is not a folder (links are not followed)",
                                   path);
            *p = c;
            return st;
        }
        *p = c;
        if (!c)
            return KV_OK;
    }
}

kv_status kv__store_write_atomic(const char *path, const void *data, size_t n, kv_err *err) {
    char tmp[PATH_CAP];
    kv_status st = path_fmt(tmp, sizeof tmp, err, "%s.tmp-XXXXXX", path);
    if (st != KV_OK)
        return st;
    int slot;
    int fd = kv_tmp_mkstemp(tmp, &slot, err);
    if (fd < 0)
        return err ? err->status : KV_ERR_IO;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    bool ok = done == n && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
    int e = errno;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        if (ok)
            e = errno;
        unlink(tmp);
        kv_tmp_untrack(slot);
        return KV_FAIL(err, KV_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    kv_tmp_untrack(slot);
    return KV_OK;
}

static kv_status blobs_dir(const char *dir, char *out, size_t cap, kv_err *err) {
    kv_status st = path_fmt(out, cap, err, "%s/blobs", dir);
    if (st == KV_OK)
        st = mkdirs(out, strlen(dir), err);
    return st;
}

// Stores n bytes as a blob; its digest into d.
static kv_status blob_put_mem(const char *dir, const void *p, size_t n, char d[72], kv_err *err) {
    char path[PATH_CAP];
    kv_status st = blobs_dir(dir, path, sizeof path, err);
    if (st != KV_OK)
        return st;
    sha256_digest(p, n, d);
    if ((st = kv__mstore_blob_path(dir, d, path, sizeof path, err)) != KV_OK)
        return st;
    return kv__store_write_atomic(path, p, n, err);
}

kv_status kv__mstore_blob_put(const char *dir, const char *want, const void *p, size_t n,
                              kv_err *err) {
    char d[72];
    kv_status st = kv__digest_check(want, err);
    if (st != KV_OK)
        return st;
    sha256_digest(p, n, d);
    if (strcmp(d, want) != 0)
        return KV_FAIL(err, KV_ERR_INVALID, "blob's bytes have digest %s, not %s", d, want);
    return blob_put_mem(dir, p, n, d, err);
}

kv_status kv__mstore_blob_has(const char *dir, const char *d, kv_err *err) {
    char path[PATH_CAP];
    struct stat sb;
    kv_status st = kv__mstore_blob_path(dir, d, path, sizeof path, err);
    if (st == KV_OK && (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)))
        st = KV_FAIL(err, KV_ERR_NOT_FOUND, "blob %s not found", d);
    return st;
}

// Copies the file at src into the store, hashing it on the way; its digest into
// d and size into *size.
static kv_status blob_put_file(const char *dir, const char *src, char d[72], uint64_t *size,
                               kv_err *err) {
    char path[PATH_CAP], tmp[PATH_CAP];
    kv_status st = blobs_dir(dir, path, sizeof path, err);
    if (st != KV_OK || (st = path_fmt(tmp, sizeof tmp, err, "%s/.tmp-XXXXXX", path)) != KV_OK)
        return st;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return KV_FAIL(err, KV_ERR_IO, "%s: %s", src, strerror(errno));
    int slot;
    int out = kv_tmp_mkstemp(tmp, &slot, err);
    if (out < 0) {
        close(in);
        return err ? err->status : KV_ERR_IO;
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t cap = (size_t)1 << 20;
    char *buf = malloc(cap);
    bool ok = c && buf && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    *size = 0;
    while (ok) {
        ssize_t r = read(in, buf, cap);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            ok = false;
        if (r <= 0)
            break;
        EVP_DigestUpdate(c, buf, (size_t)r);
        *size += (uint64_t)r;
        for (ssize_t done = 0; ok && done < r;) {
            ssize_t w = write(out, buf + done, (size_t)(r - done));
            if (w < 0 && errno == EINTR)
                continue;
            ok = w > 0;
            done += w > 0 ? w : 0;
        }
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && fchmod(out, 0644) == 0 && fsync(out) == 0;
    ok = close(out) == 0 && ok;
    close(in);
    EVP_MD_CTX_free(c);
    free(buf);
    if (ok) {
        kv__digest_format(md, d);
        if ((st = kv__mstore_blob_path(dir, d, path, sizeof path, err)) == KV_OK &&
            rename(tmp, path) != 0)
            st = KV_FAIL(err, KV_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    } else {
        st = KV_FAIL(err, KV_ERR_IO, "cannot copy %s into the store: %s", src, strerror(errno));
    }
    if (st != KV_OK)
        unlink(tmp);
    kv_tmp_untrack(slot);
    return st;
}

static json_t *layer_json(const kv__layer *l) {
    json_t *o = json_object();
    json_object_set_new(o, "mediaType", json_string(l->media_type));
    json_object_set_new(o, "digest", json_string(l->digest));
    json_object_set_new(o, "size", json_integer((json_int_t)l->size));
    return o;
}

static kv_status write_manifest(const char *dir, const kv__mname *name, const kv__manifest *m,
                                kv_err *err) {
    char path[PATH_CAP];
    kv_status st = manifest_path(dir, name, path, sizeof path, false, err);
    if (st != KV_OK)
        return st;
    char *slash = strrchr(path, '/');
    *slash = 0;
    st = mkdirs(path, strlen(dir), err);
    *slash = '/';
    if (st != KV_OK)
        return st;
    json_t *root = json_object(), *layers = json_array();
    json_object_set_new(root, "schemaVersion", json_integer(2));
    json_object_set_new(root, "mediaType", json_string(KV__MT_MANIFEST));
    json_object_set_new(root, "config", layer_json(&m->config));
    for (size_t i = 0; i < m->n_layers; i++)
        json_array_append_new(layers, layer_json(&m->layers[i]));
    json_object_set_new(root, "layers", layers);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    st = kv__store_write_atomic(path, text, strlen(text), err);
    free(text);
    return st;
}

// Sets (replaces or adds) the layer of media type mt to text's blob.
static kv_status set_text_layer(const char *dir, kv__manifest *m, const char *mt,
                                const char *text, kv_err *err) {
    kv__layer l = {0};
    snprintf(l.media_type, sizeof l.media_type, "%s", mt);
    l.size = strlen(text);
    kv_status st = blob_put_mem(dir, text, l.size, l.digest, err);
    if (st != KV_OK)
        return st;
    kv__layer *old = (kv__layer *)kv__manifest_layer(m, mt);
    if (old) {
        *old = l;
    } else {
        if (m->n_layers == KV__MANIFEST_LAYERS_MAX)
            return KV_FAIL(err, KV_ERR_LIMIT, "too many layers");
        m->layers[m->n_layers++] = l;
    }
    return KV_OK;
}

static kv_status create_locked(const char *dir, const kv__mname *name, const kv__modelfile *mf,
                               const char *base_dir, const char *what, kv_err *err);

// mf's TEMPLATE parsed as kv_gotmpl's subset; an error names the Modelfile's
// line (the template's line L is the TEMPLATE line + L - 1).
static kv_status check_template(const kv__modelfile *mf, const char *what, kv_err *err) {
    kv_gotmpl *g = NULL;
    kv_err terr = {0};
    kv_status st = kv_gotmpl_parse(mf->tmpl, strlen(mf->tmpl), &g, &terr);
    kv_gotmpl_free(g);
    if (st == KV_OK)
        return KV_OK;
    int l = 0, at = 0;
    if (mf->tmpl_line > 0 && sscanf(terr.msg, "line %d: %n", &l, &at) == 1 && at > 0)
        return KV_FAIL(err, st, "%s:%d: TEMPLATE: %s (kvant runs a subset of Go templates)",
                       what, mf->tmpl_line + l - 1, terr.msg + at);
    return KV_FAIL(err, st, "%s: TEMPLATE: %s (kvant runs a subset of Go templates)", what,
                   terr.msg);
}

kv_status kv__mstore_create(const char *dir, const kv__mname *name, const kv__modelfile *mf,
                            const char *base_dir, const char *what, kv_err *err) {
    int lk;
    kv_status st = kv__mstore_lock(dir, true, &lk, err);
    if (st == KV_OK)
        st = create_locked(dir, name, mf, base_dir, what, err);
    kv__mstore_unlock(lk);
    return st;
}

static kv_status create_locked(const char *dir, const kv__mname *name, const kv__modelfile *mf,
                               const char *base_dir, const char *what, kv_err *err) {
    kv__manifest *m = calloc(1, sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    kv_status st = KV_OK;
    char src[PATH_CAP], blob[PATH_CAP];
    if (mf->from[0] == '/' || !base_dir)
        st = path_fmt(src, sizeof src, err, "%s", mf->from);
    else
        st = path_fmt(src, sizeof src, err, "%s/%s", base_dir, mf->from);
    struct stat sb;
    kv__mname base;
    kv_err nerr;
    if (st != KV_OK) {
    } else if (stat(src, &sb) == 0) {
        kv_gguf *g = NULL;
        if ((st = kv_gguf_open(src, &g, err)) != KV_OK) {
            kv_err_prefix(err, "FROM is not a GGUF file");
        } else {
            kv_gguf_close(g);
            kv__layer *l = &m->layers[m->n_layers++];
            snprintf(l->media_type, sizeof l->media_type, "%s", KV__MT_MODEL);
            st = blob_put_file(dir, src, l->digest, &l->size, err);
        }
    } else if (kv__mname_parse(mf->from, &base, &nerr) == KV_OK) {
        st = kv__mstore_read(dir, &base, m, err);
        if (st != KV_OK)
            st = KV_FAIL(err, KV_ERR_IO, "%s:%d: FROM '%.200s': no such file or model", what,
                         mf->from_line, mf->from);
    } else {
        st = KV_FAIL(err, KV_ERR_IO, "%s:%d: FROM '%.200s': no such file, and %s", what,
                     mf->from_line, mf->from, nerr.msg);
    }
    const kv__layer *ml = st == KV_OK ? kv__manifest_layer(m, KV__MT_MODEL) : NULL;
    if (st == KV_OK && !ml)
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: FROM '%.200s' has no model layer", what,
                     mf->from_line, mf->from);
    if (st == KV_OK && mf->tmpl)
        st = check_template(mf, what, err);
    if (st == KV_OK && mf->tmpl)
        st = set_text_layer(dir, m, KV__MT_TEMPLATE, mf->tmpl, err);
    if (st == KV_OK && mf->system)
        st = set_text_layer(dir, m, KV__MT_SYSTEM, mf->system, err);
    if (st == KV_OK && mf->license)
        st = set_text_layer(dir, m, KV__MT_LICENSE, mf->license, err);
    if (st == KV_OK && mf->n_msgs) {
        char *mj = NULL;
        st = kv__modelfile_messages_json(mf, what, &mj, err);
        if (st == KV_OK)
            st = set_text_layer(dir, m, KV__MT_MESSAGES, mj, err);
        free(mj);
    }
    if (st == KV_OK && mf->n_params) {
        char *pj = NULL;
        st = kv__modelfile_params_json(mf, what, &pj, err);
        if (st == KV_OK)
            st = set_text_layer(dir, m, KV__MT_PARAMS, pj, err);
        free(pj);
    }
    // The config blob: what Ollama's config carries that kvant knows.
    char arch[128] = "";
    if (st == KV_OK && (st = kv__mstore_blob_path(dir, kv__manifest_layer(m, KV__MT_MODEL)->digest,
                                                  blob, sizeof blob, err)) == KV_OK) {
        kv_gguf *g = NULL;
        kv_str s;
        if (kv_gguf_open(blob, &g, NULL) == KV_OK &&
            kv_gguf_get_str(g, "general.architecture", &s, NULL) == KV_OK)
            snprintf(arch, sizeof arch, "%.*s", (int)(s.n < 100 ? s.n : 100), s.p);
        kv_gguf_close(g);
    }
    if (st == KV_OK) {
        json_t *cfg = json_object(), *fams = json_array(), *rootfs = json_object(),
               *ids = json_array();
        json_object_set_new(cfg, "model_format", json_string("gguf"));
        json_object_set_new(cfg, "model_family", json_string(arch));
        if (arch[0])
            json_array_append_new(fams, json_string(arch));
        json_object_set_new(cfg, "model_families", fams);
        json_object_set_new(cfg, "model_type", json_string(""));
        json_object_set_new(cfg, "file_type", json_string(""));
        json_object_set_new(rootfs, "type", json_string("layers"));
        for (size_t i = 0; i < m->n_layers; i++)
            json_array_append_new(ids, json_string(m->layers[i].digest));
        json_object_set_new(rootfs, "diff_ids", ids);
        json_object_set_new(cfg, "rootfs", rootfs);
        char *text = json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(cfg);
        if (!text) {
            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        } else {
            snprintf(m->config.media_type, sizeof m->config.media_type, "%s", KV__MT_CONFIG);
            m->config.size = strlen(text);
            st = blob_put_mem(dir, text, m->config.size, m->config.digest, err);
            free(text);
        }
    }
    if (st == KV_OK)
        st = write_manifest(dir, name, m, err);
    free(m);
    return st;
}

// ---- listing, copying, removing ----

typedef struct {
    kv__manifest *v;
    size_t n, cap;
    bool strict; // a manifest that does not read is an error, not skipped
} mlist;

// Whether entry e of folder dir is a folder (want_dir) or a regular file, never
// through a link; lstat when the file system gives no type.
static bool entry_is(const char *dir, const struct dirent *e, bool want_dir) {
    unsigned char t = e->d_type;
    if (t == DT_UNKNOWN) {
        char p[PATH_CAP];
        struct stat sb;
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p || lstat(p, &sb) != 0)
            return false;
        t = S_ISDIR(sb.st_mode) ? DT_DIR : S_ISREG(sb.st_mode) ? DT_REG : DT_LNK;
    }
    return t == (want_dir ? DT_DIR : DT_REG);
}

// Reads every manifest below dir/manifests into l (links are not followed).
static kv_status walk(const char *dir, mlist *l, kv_err *err) {
    char p[PATH_CAP];
    kv_status st = path_fmt(p, sizeof p, err, "%s/manifests", dir);
    if (st != KV_OK)
        return st;
    DIR *d0 = opendir(p);
    if (!d0)
        return errno == ENOENT ? KV_OK
                               : KV_FAIL(err, KV_ERR_IO, "%s: %s", p, strerror(errno));
    struct dirent *e0, *e1, *e2, *e3;
    while (st == KV_OK && (e0 = readdir(d0))) {
        if (e0->d_name[0] == '.' || !entry_is(p, e0, true))
            continue; // DT_LNK and others: not followed
        char p1[PATH_CAP];
        DIR *d1 = snprintf(p1, sizeof p1, "%s/%s", p, e0->d_name) < (int)sizeof p1 ? opendir(p1) : NULL;
        while (d1 && st == KV_OK && (e1 = readdir(d1))) {
            if (e1->d_name[0] == '.' || !entry_is(p1, e1, true))
                continue;
            char p2[PATH_CAP];
            DIR *d2 = snprintf(p2, sizeof p2, "%s/%s", p1, e1->d_name) < (int)sizeof p2 ? opendir(p2) : NULL;
            while (d2 && st == KV_OK && (e2 = readdir(d2))) {
                if (e2->d_name[0] == '.' || !entry_is(p2, e2, true))
                    continue;
                char p3[PATH_CAP];
                DIR *d3 = snprintf(p3, sizeof p3, "%s/%s", p2, e2->d_name) < (int)sizeof p3 ? opendir(p3) : NULL;
                while (d3 && st == KV_OK && (e3 = readdir(d3))) {
                    if (strstr(e3->d_name, ".tmp-") || !entry_is(p3, e3, false))
                        continue;
                    char full[KV__MNAME_TEXT_MAX];
                    if (snprintf(full, sizeof full, "%s/%s/%s:%s", e0->d_name, e1->d_name,
                                 e2->d_name, e3->d_name) >= (int)sizeof full)
                        continue;
                    kv__mname nm;
                    kv_err e;
                    if (kv__mname_parse(full, &nm, &e) != KV_OK)
                        continue; // not a name this store could have written
                    if (l->n == l->cap) {
                        size_t nc = l->cap ? 2 * l->cap : 16;
                        kv__manifest *nv = realloc(l->v, nc * sizeof *nv);
                        if (!nv) {
                            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
                            break;
                        }
                        l->v = nv;
                        l->cap = nc;
                    }
                    if (kv__mstore_read(dir, &nm, &l->v[l->n], &e) == KV_OK)
                        l->n++;
                    else if (l->strict)
                        st = KV_FAIL(err, e.status, "%s", e.msg);
                }
                if (d3)
                    closedir(d3);
            }
            if (d2)
                closedir(d2);
        }
        if (d1)
            closedir(d1);
    }
    closedir(d0);
    return st;
}

static int cmp_manifest(const void *a, const void *b) {
    char x[KV__MNAME_TEXT_MAX], y[KV__MNAME_TEXT_MAX];
    kv__mname_display(&((const kv__manifest *)a)->name, x, sizeof x);
    kv__mname_display(&((const kv__manifest *)b)->name, y, sizeof y);
    return strcmp(x, y);
}

kv_status kv__mstore_list(const char *dir, kv__manifest **out, size_t *n, kv_err *err) {
    mlist l = {0};
    kv_status st = walk(dir, &l, err);
    if (st != KV_OK) {
        free(l.v);
        return st;
    }
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, cmp_manifest);
    *out = l.v;
    *n = l.n;
    return KV_OK;
}

kv_status kv__mstore_copy(const char *dir, const kv__mname *src, const kv__mname *dst,
                          kv_err *err) {
    kv__manifest *m = malloc(sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    char path[PATH_CAP], dpath[PATH_CAP];
    kv_status st = kv__mstore_read(dir, src, m, err);
    free(m);
    char *text = NULL;
    size_t n = 0;
    // Copy the bytes as they are, so the copy has the same digest (as Ollama).
    if (st == KV_OK && (st = manifest_path(dir, src, path, sizeof path, true, err)) == KV_OK &&
        (st = kv__store_read_capped(path, KV__MANIFEST_MAX, &text, &n, NULL, err)) == KV_OK &&
        (st = manifest_path(dir, dst, dpath, sizeof dpath, false, err)) == KV_OK) {
        char *slash = strrchr(dpath, '/');
        *slash = 0;
        st = mkdirs(dpath, strlen(dir), err);
        *slash = '/';
        if (st == KV_OK)
            st = kv__store_write_atomic(dpath, text, n, err);
    }
    free(text);
    return st;
}

static bool is_blob_name(const char *s) {
    if (strncmp(s, "sha256-", 7) != 0 || strlen(s) != 71)
        return false;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

kv_status kv__mstore_remove(const char *dir, const kv__mname *name, size_t *n_blobs,
                            kv_err *err) {
    *n_blobs = 0;
    char path[PATH_CAP];
    kv_status st = manifest_path(dir, name, path, sizeof path, true, err);
    if (st != KV_OK)
        return st;
    if (unlink(path) != 0)
        return KV_FAIL(err, KV_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    // Empty folders up to manifests/ go too.
    for (int i = 0; i < 3; i++) {
        *strrchr(path, '/') = 0;
        if (rmdir(path) != 0)
            break;
    }
    // Blobs no manifest names. A manifest that does not read stops this: its
    // blobs might still be wanted. So does a pull or create in progress (its
    // blobs come before its manifest): they hold the store's lock shared.
    // (Without the lock, whatever the reason, the model is gone and its blobs stay.)
    int lk = -1;
    kv_err lerr;
    if (kv__mstore_lock(dir, false, &lk, &lerr) != KV_OK)
        return KV_OK;
    mlist l = {.strict = true};
    if ((st = walk(dir, &l, err)) != KV_OK) {
        free(l.v);
        kv__mstore_unlock(lk);
        kv_err_prefix(err, "removed the model but kept every blob");
        return st;
    }
    char bdir[PATH_CAP];
    if ((st = path_fmt(bdir, sizeof bdir, err, "%s/blobs", dir)) != KV_OK) {
        free(l.v);
        kv__mstore_unlock(lk);
        return st;
    }
    DIR *d = opendir(bdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!is_blob_name(e->d_name))
            continue;
        bool used = false;
        for (size_t i = 0; i < l.n && !used; i++) {
            const kv__manifest *m = &l.v[i];
            used = strcmp(m->config.digest + 7, e->d_name + 7) == 0;
            for (size_t j = 0; j < m->n_layers && !used; j++)
                used = strcmp(m->layers[j].digest + 7, e->d_name + 7) == 0;
        }
        char bp[PATH_CAP];
        if (!used && snprintf(bp, sizeof bp, "%s/%s", bdir, e->d_name) < (int)sizeof bp &&
            unlink(bp) == 0)
            (*n_blobs)++;
    }
    if (d)
        closedir(d);
    free(l.v);
    kv__mstore_unlock(lk);
    return KV_OK;
}

// ---- the store's lock: writers of blobs shared, the blob collector alone ----

// Seconds a temporary file must be unmodified before a sweep deletes it (a
// writer that runs touches its file more often than this — generously, since
// quantizing one large tensor can take a while before its first bytes are
// written, and `create` hashes its converted file without writing it), and for
// a server's upload file (which waits for the client's next chunk).
#define STALE_TMP_S 900
#define STALE_UPLOAD_S 3600

// Deletes the temporary files a writer killed on its way left below path
// (depth more folder levels): "*.tmp-*" and ".tmp-*" (a blob or manifest being
// written), ".upload-*" (a server's upload), once stale. No link is followed.
static void sweep_dir(const char *path, int depth, time_t now) {
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[PATH_CAP];
        struct stat sb;
        if (snprintf(p, sizeof p, "%s/%s", path, e->d_name) >= (int)sizeof p || lstat(p, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode) && depth > 0) {
            sweep_dir(p, depth - 1, now);
            continue;
        }
        bool up = strncmp(e->d_name, ".upload-", 8) == 0;
        if (S_ISREG(sb.st_mode) && (strstr(e->d_name, ".tmp-") || up) &&
            now - sb.st_mtime > (up ? STALE_UPLOAD_S : STALE_TMP_S))
            unlink(p);
    }
    if (d)
        closedir(d);
}

static void sweep(const char *dir) {
    char p[PATH_CAP];
    time_t now = time(NULL);
    if (snprintf(p, sizeof p, "%s/blobs", dir) < (int)sizeof p)
        sweep_dir(p, 0, now);
    if (snprintf(p, sizeof p, "%s/manifests", dir) < (int)sizeof p)
        sweep_dir(p, 3, now); // HOST/NAMESPACE/MODEL/TAG
}

kv_status kv__mstore_lock(const char *dir, bool shared, int *fd, kv_err *err) {
    *fd = -1;
    char path[PATH_CAP];
    kv_status st = blobs_dir(dir, path, sizeof path, err);
    if (st != KV_OK || (st = path_fmt(path, sizeof path, err, "%s/.kvant-lock", dir)) != KV_OK)
        return st;
    int f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f < 0)
        return KV_FAIL(err, KV_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    int rc;
    // Alone in the store (no pull, create or collection runs): what a killed
    // writer left goes first. A writer gets its shared lock after that.
    if (flock(f, LOCK_EX | LOCK_NB) == 0) {
        sweep(dir);
        if (!shared) {
            *fd = f;
            return KV_OK;
        }
    }
    do
        rc = flock(f, shared ? LOCK_SH : LOCK_EX | LOCK_NB);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        close(f);
        if (!shared && e == EWOULDBLOCK)
            return KV_FAIL(err, KV_ERR_LIMIT, "a pull or create is writing to the store");
        return KV_FAIL(err, KV_ERR_IO, "cannot lock %s: %s", path, strerror(e));
    }
    *fd = f;
    return KV_OK;
}

void kv__mstore_unlock(int fd) {
    if (fd >= 0)
        close(fd); // releases the lock
}

// ---- manifests and blobs as bytes (pull, push, OCI layouts) ----

kv_status kv__manifest_parse(const char *text, size_t n, const char *what, kv__manifest *out,
                             kv_err *err) {
    memset(out, 0, sizeof *out);
    if (n > KV__MANIFEST_MAX)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: %zu bytes, more than the %zu a manifest may have",
                       what, n, KV__MANIFEST_MAX);
    return parse_manifest(text, n, what, out, err);
}

kv_status kv__mstore_manifest_bytes(const char *dir, const kv__mname *name, char **text,
                                    size_t *n, kv_err *err) {
    char path[PATH_CAP];
    kv_status st = manifest_path(dir, name, path, sizeof path, true, err);
    if (st == KV_OK)
        st = kv__store_read_capped(path, KV__MANIFEST_MAX, text, n, NULL, err);
    return st;
}

kv_status kv__mstore_manifest_put(const char *dir, const kv__mname *name, const char *text,
                                  size_t n, kv_err *err) {
    kv__manifest *m = malloc(sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    kv_status st = kv__manifest_parse(text, n, "manifest", m, err);
    // Every blob it names must be in the store, whole, before it is written.
    for (size_t i = 0; st == KV_OK && i <= m->n_layers; i++) {
        const kv__layer *l = i == m->n_layers ? &m->config : &m->layers[i];
        char path[PATH_CAP];
        struct stat sb;
        if ((st = kv__mstore_blob_path(dir, l->digest, path, sizeof path, err)) != KV_OK)
            break;
        if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            st = KV_FAIL(err, KV_ERR_NOT_FOUND, "blob %s is not in the store", l->digest);
        else if ((uint64_t)sb.st_size != l->size)
            st = KV_FAIL(err, KV_ERR_FORMAT, "blob %s has %lld bytes, the manifest says %llu",
                         l->digest, (long long)sb.st_size, (unsigned long long)l->size);
    }
    free(m);
    char path[PATH_CAP];
    if (st == KV_OK && (st = manifest_path(dir, name, path, sizeof path, false, err)) == KV_OK) {
        char *slash = strrchr(path, '/');
        *slash = 0;
        st = mkdirs(path, strlen(dir), err);
        *slash = '/';
        if (st == KV_OK)
            st = kv__store_write_atomic(path, text, n, err);
    }
    return st;
}

kv_status kv__mstore_partial_path(const char *dir, const char *d, char *out, size_t cap,
                                  kv_err *err) {
    char path[PATH_CAP];
    kv_status st = blobs_dir(dir, path, sizeof path, err);
    if (st == KV_OK && (st = kv__digest_check(d, err)) == KV_OK)
        st = path_fmt(out, cap, err, "%s/sha256-%s-partial", path, d + 7);
    return st;
}

kv_status kv__mstore_upload_tmp(const char *dir, char *out, size_t cap, kv_err *err) {
    char path[PATH_CAP];
    kv_status st = blobs_dir(dir, path, sizeof path, err);
    if (st == KV_OK)
        st = path_fmt(out, cap, err, "%s/.upload-XXXXXX", path);
    if (st != KV_OK)
        return st;
    int fd = mkstemp(out);
    if (fd < 0)
        return KV_FAIL(err, KV_ERR_IO, "cannot make an upload file in %s: %s", path,
                       strerror(errno));
    close(fd);
    return KV_OK;
}

kv_status kv__mstore_blob_commit(const char *dir, const char *d, const char *tmp, kv_err *err) {
    char path[PATH_CAP];
    kv_status st = kv__mstore_blob_path(dir, d, path, sizeof path, err);
    if (st != KV_OK)
        return st;
    int fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return KV_FAIL(err, KV_ERR_IO, "%s: %s", tmp, strerror(errno));
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t cap = (size_t)1 << 20;
    char *buf = malloc(cap);
    bool ok = c && buf && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    for (ssize_t r; ok;) {
        r = read(fd, buf, cap);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            ok = r == 0;
            break;
        }
        EVP_DigestUpdate(c, buf, (size_t)r);
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && fsync(fd) == 0;
    close(fd);
    EVP_MD_CTX_free(c);
    free(buf);
    if (!ok)
        return KV_FAIL(err, KV_ERR_IO, "cannot read %s back: %s", tmp, strerror(errno));
    char got[72];
    kv__digest_format(md, got);
    return kv__mstore_blob_adopt(dir, d, tmp, got, err);
}

kv_status kv__mstore_blob_adopt(const char *dir, const char *d, const char *tmp, const char *got,
                                kv_err *err) {
    char path[PATH_CAP];
    kv_status st = kv__mstore_blob_path(dir, d, path, sizeof path, err);
    if (st != KV_OK)
        return st;
    if (strcmp(got, d) != 0) {
        unlink(tmp);
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "blob %s: the bytes received have digest %s; deleted, nothing stored", d,
                       got);
    }
    if (chmod(tmp, 0644) != 0 || rename(tmp, path) != 0) {
        st = KV_FAIL(err, KV_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    return st;
}

kv_status kv__mstore_model_path(const char *dir, const char *name, char *out, size_t cap,
                                kv_err *err) {
    kv__mname n;
    kv_status st = kv__mname_parse(name, &n, err);
    if (st != KV_OK)
        return st;
    kv__manifest *m = malloc(sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    if ((st = kv__mstore_read(dir, &n, m, err)) == KV_OK) {
        const kv__layer *l = kv__manifest_layer(m, KV__MT_MODEL);
        if (!l)
            st = KV_FAIL(err, KV_ERR_FORMAT, "model '%s' has no model layer", name);
        else
            st = kv__mstore_blob_path(dir, l->digest, out, cap, err);
    }
    free(m);
    struct stat sb;
    if (st == KV_OK && (lstat(out, &sb) != 0 || !S_ISREG(sb.st_mode)))
        st = KV_FAIL(err, KV_ERR_IO, "model '%s': its blob %s is missing or not a regular file",
                     name, out);
    return st;
}
