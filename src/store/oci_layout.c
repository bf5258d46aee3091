// kvant push --to DIR and pull --from DIR: an OCI image layout (image-layout
// spec 1.0) on a drive. DIR/oci-layout ({"imageLayoutVersion":"1.0.0"}),
// DIR/index.json (a manifest per model, named by the annotation
// org.opencontainers.image.ref.name) and DIR/blobs/sha256/HEX (the manifests,
// configs and layers). Every blob is hashed on its way in either direction and
// compared with its digest; index.json and blobs are written through temporary
// files and renamed.
#define _POSIX_C_SOURCE 200809L
#include "store/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "kvant/kv_core.h"

#define PATH_CAP 4096
#define INDEX_MAX ((size_t)16 << 20) // bytes in index.json
#define REF_NAME "org.opencontainers.image.ref.name"

static void progress(kv__oci_opts *o, const char *status, const char *digest, uint64_t done,
                     uint64_t total) {
    if (!o->progress)
        return;
    char st[64];
    if (digest && !strcmp(status, "copying")) {
        snprintf(st, sizeof st, "%s %.12s", status, digest + 7);
        status = st;
    }
    o->progress(o->user, status, digest, done, total);
}

// Copies n bytes of the regular file src to dst_tmp (created or truncated) and
// hashes them; their digest into d. A short file or a failed write is an error
// and removes dst_tmp.
static kv_status copy_hashed(const char *src, uint64_t n, const char *dst_tmp, char d[72],
                             kv__oci_opts *o, const char *digest, kv_err *err) {
    int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return KV_FAIL(err, errno == ENOENT ? KV_ERR_NOT_FOUND : KV_ERR_IO, "%s: %s", src,
                       strerror(errno));
    struct stat sb;
    if (fstat(in, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != n) {
        close(in);
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: not a regular file of the %" PRIu64
                       " bytes its manifest says", src, n);
    }
    int out = open(dst_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return KV_FAIL(err, KV_ERR_IO, "cannot create %s: %s", dst_tmp, strerror(errno));
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t cap = (size_t)1 << 20;
    char *buf = malloc(cap);
    bool ok = c && buf && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    uint64_t done = 0;
    int e = 0;
    while (ok && done < n) {
        ssize_t r = read(in, buf, cap);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            ok = false;
            e = r < 0 ? errno : EIO;
            break;
        }
        EVP_DigestUpdate(c, buf, (size_t)r);
        for (ssize_t w_done = 0; ok && w_done < r;) {
            ssize_t w = write(out, buf + w_done, (size_t)(r - w_done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                ok = false;
                e = w < 0 ? errno : EIO;
            } else {
                w_done += w;
            }
        }
        done += (uint64_t)r;
        o->bytes_moved += (uint64_t)r;
        progress(o, "copying", digest, done, n);
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1;
    if (ok && fsync(out) != 0) {
        ok = false;
        e = errno;
    }
    if (close(out) != 0 && ok) {
        ok = false;
        e = errno;
    }
    close(in);
    EVP_MD_CTX_free(c);
    free(buf);
    if (!ok) {
        unlink(dst_tmp);
        return KV_FAIL(err, KV_ERR_IO, "copying %s to %s: %s", src, dst_tmp, strerror(e));
    }
    kv__digest_format(md, d);
    return KV_OK;
}

static kv_status mkdir_one(const char *p, kv_err *err) {
    struct stat sb;
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        return KV_FAIL(err, KV_ERR_IO, "cannot create %s: %s", p, strerror(errno));
    if (lstat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return KV_FAIL(err, KV_ERR_INVALID, "%s is not a folder (links are not followed)", p);
    return KV_OK;
}

static kv_status layout_blob_path(const char *layout, const char *d, char *out, size_t cap,
                                  kv_err *err) {
    kv_status st = kv__digest_check(d, err);
    if (st == KV_OK && snprintf(out, cap, "%s/blobs/sha256/%s", layout, d + 7) >= (int)cap)
        st = KV_FAIL(err, KV_ERR_LIMIT, "path too long");
    return st;
}

// The whole name as a ref.name: HOST/NAMESPACE/MODEL:TAG.
static void ref_name(const kv__mname *n, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s/%s:%s", n->host, n->ns, n->model, n->tag);
}

static bool same_name(const kv__mname *a, const kv__mname *b) {
    return !strcmp(a->host, b->host) && !strcmp(a->ns, b->ns) && !strcmp(a->model, b->model) &&
           !strcmp(a->tag, b->tag);
}

// Copies store blob l into the layout unless a file of its size is there.
static kv_status put_blob(const char *dir, const char *layout, const kv__layer *l,
                          kv__oci_opts *o, kv_err *err) {
    char src[PATH_CAP], dst[PATH_CAP], tmp[PATH_CAP + 16], d[72];
    kv_status st = kv__mstore_blob_path(dir, l->digest, src, sizeof src, err);
    if (st == KV_OK)
        st = layout_blob_path(layout, l->digest, dst, sizeof dst, err);
    if (st != KV_OK)
        return st;
    struct stat sb;
    if (lstat(dst, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == l->size) {
        o->bytes_present += l->size;
        return KV_OK;
    }
    snprintf(tmp, sizeof tmp, "%s.partial", dst);
    // Tracked before copy_hashed creates it: a signal removes this push's partial
    // copy (never resumed: copy_hashed truncates it) even while it is being made.
    int slot;
    if ((st = kv_tmp_track(tmp, &slot, err)) != KV_OK)
        return st;
    if ((st = copy_hashed(src, l->size, tmp, d, o, l->digest, err)) != KV_OK) {
        kv_tmp_untrack(slot);
        return st;
    }
    if (strcmp(d, l->digest) != 0) {
        unlink(tmp);
        kv_tmp_untrack(slot);
        return KV_FAIL(err, KV_ERR_FORMAT, "the store's blob %s has digest %s; not copied",
                       l->digest, d);
    }
    if (rename(tmp, dst) != 0) {
        st = KV_FAIL(err, KV_ERR_IO, "cannot write %s: %s", dst, strerror(errno));
        unlink(tmp);
    }
    kv_tmp_untrack(slot);
    return st;
}

kv_status kv__oci_layout_push(const char *dir, const kv__mname *name, const char *layout,
                              kv__oci_opts *o, kv_err *err) {
    char *text = NULL, *itext = NULL;
    size_t n = 0, in = 0;
    kv__manifest *m = malloc(sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    char p[PATH_CAP];
    kv_status st = kv__mstore_manifest_bytes(dir, name, &text, &n, err);
    if (st == KV_OK)
        st = kv__manifest_parse(text, n, "the stored manifest", m, err);
    if (st == KV_OK)
        st = mkdir_one(layout, err);
    snprintf(p, sizeof p, "%s/blobs", layout);
    if (st == KV_OK)
        st = mkdir_one(p, err);
    snprintf(p, sizeof p, "%s/blobs/sha256", layout);
    if (st == KV_OK)
        st = mkdir_one(p, err);
    snprintf(p, sizeof p, "%s/oci-layout", layout);
    struct stat sb;
    if (st == KV_OK && lstat(p, &sb) != 0) {
        const char *ol = "{\"imageLayoutVersion\":\"1.0.0\"}";
        st = kv__store_write_atomic(p, ol, strlen(ol), err);
    }
    for (size_t i = 0; st == KV_OK && i <= m->n_layers; i++)
        st = put_blob(dir, layout, i == 0 ? &m->config : &m->layers[i - 1], o, err);
    // The manifest, as a blob of its own.
    char bp[PATH_CAP];
    if (st == KV_OK && (st = layout_blob_path(layout, m->digest, bp, sizeof bp, err)) == KV_OK)
        st = kv__store_write_atomic(bp, text, n, err);
    // index.json: this name's entry replaced or added.
    snprintf(p, sizeof p, "%s/index.json", layout);
    json_t *idx = NULL;
    if (st == KV_OK) {
        kv_err e;
        kv_status rs = kv__store_read_capped(p, INDEX_MAX, &itext, &in, NULL, &e);
        if (rs == KV_OK) {
            json_error_t je;
            idx = json_loadb(itext, in, 0, &je);
            if (!json_is_object(idx) || !json_is_array(json_object_get(idx, "manifests")))
                st = KV_FAIL(err, KV_ERR_FORMAT, "%s: not an OCI index (an object with a "
                             "manifests array)", p);
        } else if (rs == KV_ERR_NOT_FOUND) {
            idx = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType",
                            "application/vnd.oci.image.index.v1+json", "manifests");
        } else {
            st = KV_FAIL(err, e.status, "%s", e.msg);
        }
    }
    char ref[KV__MNAME_TEXT_MAX];
    ref_name(name, ref, sizeof ref);
    if (st == KV_OK) {
        json_t *arr = json_object_get(idx, "manifests");
        for (size_t i = json_array_size(arr); i-- > 0;) {
            json_t *r = json_object_get(json_object_get(json_array_get(arr, i), "annotations"),
                                        REF_NAME);
            kv__mname rn;
            kv_err e;
            if (json_is_string(r) && kv__mname_parse(json_string_value(r), &rn, &e) == KV_OK &&
                same_name(&rn, name))
                json_array_remove(arr, i);
        }
        json_t *mt = NULL;
        json_t *mj = json_loadb(text, n, 0, NULL);
        mt = json_object_get(mj, "mediaType");
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType",
                           json_is_string(mt) ? json_string_value(mt) : KV__MT_MANIFEST,
                           "digest", m->digest, "size", (json_int_t)n, "annotations",
                           REF_NAME, ref));
        json_decref(mj);
        char *out = json_dumps(idx, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        st = out ? kv__store_write_atomic(p, out, strlen(out), err)
                 : KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        free(out);
    }
    if (st == KV_OK)
        progress(o, "success", NULL, 0, 0);
    json_decref(idx);
    free(itext);
    free(text);
    free(m);
    return st;
}

// The index entry's manifest for name: its digest into d.
static kv_status find_entry(const char *layout, const kv__mname *name, char d[72], uint64_t *size,
                            kv_err *err) {
    char p[PATH_CAP], *text = NULL;
    size_t n = 0;
    snprintf(p, sizeof p, "%s/oci-layout", layout);
    kv_status st = kv__store_read_capped(p, 4096, &text, &n, NULL, err);
    json_t *j = st == KV_OK ? json_loadb(text, n, 0, NULL) : NULL;
    if (st == KV_OK && !json_is_string(json_object_get(j, "imageLayoutVersion")))
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s: no imageLayoutVersion; not an OCI image layout", p);
    if (st != KV_OK)
        kv_err_prefix(err, "not an OCI image layout");
    json_decref(j);
    free(text);
    text = NULL;
    snprintf(p, sizeof p, "%s/index.json", layout);
    if (st == KV_OK)
        st = kv__store_read_capped(p, INDEX_MAX, &text, &n, NULL, err);
    json_error_t je;
    j = st == KV_OK ? json_loadb(text, n, 0, &je) : NULL;
    json_t *arr = json_object_get(j, "manifests");
    if (st == KV_OK && !json_is_array(arr))
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s: not an OCI index (an object with a manifests array)",
                     p);
    bool found = false;
    for (size_t i = 0; st == KV_OK && !found && i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        json_t *r = json_object_get(json_object_get(e, "annotations"), REF_NAME);
        kv__mname rn;
        kv_err ne;
        if (!json_is_string(r) || kv__mname_parse(json_string_value(r), &rn, &ne) != KV_OK ||
            !same_name(&rn, name))
            continue;
        json_t *dg = json_object_get(e, "digest"), *sz = json_object_get(e, "size");
        if (!json_is_string(dg) || !json_is_integer(sz) || json_integer_value(sz) < 0) {
            st = KV_FAIL(err, KV_ERR_FORMAT, "%s: manifests[%zu] needs digest and size", p, i);
        } else if ((st = kv__digest_check(json_string_value(dg), err)) != KV_OK) {
            kv_err_prefix(err, p);
        } else if ((uint64_t)json_integer_value(sz) > KV__MANIFEST_MAX) {
            st = KV_FAIL(err, KV_ERR_LIMIT, "%s: manifests[%zu]: %lld bytes, more than the %zu "
                         "a manifest may have", p, i, (long long)json_integer_value(sz),
                         KV__MANIFEST_MAX);
        } else {
            snprintf(d, 72, "%s", json_string_value(dg));
            *size = (uint64_t)json_integer_value(sz);
            found = true;
        }
    }
    if (st == KV_OK && !found) {
        char ref[KV__MNAME_TEXT_MAX];
        ref_name(name, ref, sizeof ref);
        st = KV_FAIL(err, KV_ERR_NOT_FOUND, "%s: no manifest named '%s'", p, ref);
    }
    json_decref(j);
    free(text);
    return st;
}

kv_status kv__oci_layout_pull(const char *dir, const kv__mname *name, const char *layout,
                              kv__oci_opts *o, kv_err *err) {
    char d[72], p[PATH_CAP], *text = NULL;
    uint64_t size = 0;
    size_t n = 0;
    kv__manifest *m = malloc(sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    progress(o, "reading manifest", NULL, 0, 0);
    int lk = -1;
    kv_status st = kv__mstore_lock(dir, true, &lk, err); // no blob collection meanwhile
    if (st == KV_OK)
        st = find_entry(layout, name, d, &size, err);
    if (st == KV_OK && (st = layout_blob_path(layout, d, p, sizeof p, err)) == KV_OK)
        st = kv__store_read_capped(p, KV__MANIFEST_MAX, &text, &n, NULL, err);
    char got[72];
    if (st == KV_OK) {
        unsigned char md[32];
        unsigned int mdlen = 0;
        EVP_Digest(text, n, md, &mdlen, EVP_sha256(), NULL);
        kv__digest_format(md, got);
        if (strcmp(got, d) != 0 || n != size)
            st = KV_FAIL(err, KV_ERR_FORMAT,
                         "%s: %zu bytes of digest %s; index.json says %" PRIu64 " bytes of %s",
                         p, n, got, size, d);
    }
    if (st == KV_OK)
        st = kv__manifest_parse(text, n, p, m, err);
    // Room for what is missing, then each blob hashed into the store.
    uint64_t need = 0;
    for (size_t i = 0; st == KV_OK && i <= m->n_layers; i++) {
        const kv__layer *l = i == 0 ? &m->config : &m->layers[i - 1];
        kv_err e;
        if (kv__mstore_blob_has(dir, l->digest, &e) != KV_OK)
            need += l->size;
    }
    struct statvfs sv;
    char bdir[PATH_CAP];
    snprintf(bdir, sizeof bdir, "%s/blobs", dir);
    if (st == KV_OK && (st = kv__mstore_partial_path(dir, m->config.digest, p, sizeof p, err)) ==
                           KV_OK &&
        statvfs(bdir, &sv) == 0 && need > (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize)
        st = KV_FAIL(err, KV_ERR_IO,
                     "%s: the model needs %" PRIu64 " more bytes, the disk has %" PRIu64
                     " free; nothing was written",
                     dir, need, (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize);
    for (size_t i = 0; st == KV_OK && i <= m->n_layers; i++) {
        const kv__layer *l = i == 0 ? &m->config : &m->layers[i - 1];
        kv_err e;
        if (kv__mstore_blob_has(dir, l->digest, &e) == KV_OK) {
            o->bytes_present += l->size;
            continue;
        }
        char src[PATH_CAP], part[PATH_CAP];
        if ((st = layout_blob_path(layout, l->digest, src, sizeof src, err)) != KV_OK ||
            (st = kv__mstore_partial_path(dir, l->digest, part, sizeof part, err)) != KV_OK ||
            (st = copy_hashed(src, l->size, part, got, o, l->digest, err)) != KV_OK)
            break;
        progress(o, "verifying sha256 digest", l->digest, 0, 0);
        st = kv__mstore_blob_commit(dir, l->digest, part, err);
    }
    if (st == KV_OK) {
        progress(o, "writing manifest", NULL, 0, 0);
        st = kv__mstore_manifest_put(dir, name, text, n, err);
    }
    kv__mstore_unlock(lk);
    if (st == KV_OK)
        progress(o, "success", NULL, 0, 0);
    free(text);
    free(m);
    return st;
}
