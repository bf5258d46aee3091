// kvant pull and push over the OCI distribution API (oci.h): a manifest by tag,
// blobs by digest. A pull keeps each blob's download in blobs/sha256-HEX-partial
// until it is whole and hashed, resumes it with a Range request, and writes the
// manifest (the bytes as the registry sent them) only when every blob is in.
#define _POSIX_C_SOURCE 200809L
#include "store/oci_int.h"

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

#define PATH_CAP 4096
#define URL_CAP 8192
#define ACCEPT_MANIFEST                                                                        \
    "Accept: " KV__MT_MANIFEST ", application/vnd.oci.image.manifest.v1+json"
// Blobs larger than this go up in PATCH chunks of this size ($KVANT_OCI_CHUNK).
#define DEFAULT_CHUNK ((uint64_t)64 << 20)

static void progress(kv__oci_opts *o, const char *status, const char *digest, uint64_t done,
                     uint64_t total) {
    if (!o->progress)
        return;
    char st[64];
    if (digest && (!strcmp(status, "pulling") || !strcmp(status, "pushing"))) {
        snprintf(st, sizeof st, "%s %.12s", status, digest + 7); // as Ollama's
        status = st;
    }
    o->progress(o->user, status, digest, done, total);
}

static const char *env_set(const char *k) {
    const char *v = getenv(k);
    return v && *v ? v : NULL;
}

void kv__oci_opts_from_env(kv__oci_opts *o) {
    o->token = env_set("KVANT_REGISTRY_TOKEN");
    o->basic = env_set("KVANT_REGISTRY_AUTH");
    o->ca_file = env_set("KVANT_REGISTRY_CA");
}

kv_status kv__oci_registry_name(const char *given, const kv__mname *n, kv__mname *remote,
                                kv_err *err) {
    int slashes = 0;
    for (const char *p = given; *p; p++)
        slashes += *p == '/';
    const char *reg = getenv("KVANT_REGISTRY");
    if (slashes >= 2 || !reg || !*reg)
        return KV_OK;
    char full[KV__MNAME_TEXT_MAX + KV__MNAME_HOST_MAX];
    snprintf(full, sizeof full, "%s/%s/%s:%s", reg, n->ns, n->model, n->tag);
    kv_status st = kv__mname_parse(full, remote, err);
    if (st != KV_OK)
        kv_err_prefix(err, "KVANT_REGISTRY");
    return st;
}

static void sha256_hex(const void *p, size_t n, char out[72]) {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    kv__digest_format(md, out);
}

// The manifest of tag: its bytes (checked against Docker-Content-Digest when
// the registry sends it) and parsed form.
static kv_status get_manifest(kv__reg *r, const char *tag, char **text, size_t *n,
                              kv__manifest *m, kv_err *err) {
    char url[URL_CAP];
    snprintf(url, sizeof url, "/v2/%s/manifests/%s", r->repo, tag);
    const char *hdr[] = {ACCEPT_MANIFEST, NULL};
    kv__reg_resp resp;
    kv__reg_resp_init(&resp, KV__MANIFEST_MAX, -1);
    kv_status st = kv__reg_do(r, "GET", url, hdr, NULL, &resp, err);
    if (st == KV_OK && resp.code != 200)
        st = kv__reg_fail(r, "manifest of", &resp, err);
    char d[72];
    if (st == KV_OK) {
        sha256_hex(resp.mem ? resp.mem : "", resp.n, d);
        if (resp.digest[0] && strcmp(resp.digest, d) != 0)
            st = KV_FAIL(err, KV_ERR_FORMAT,
                         "%s/%s:%s: the manifest's bytes have digest %s, the registry says %.80s",
                         r->base, r->repo, tag, d, resp.digest);
    }
    if (st == KV_OK)
        st = kv__manifest_parse(resp.mem ? resp.mem : "", resp.n, "the registry's manifest", m,
                                err);
    if (st != KV_OK) {
        kv__reg_resp_free(&resp);
        return st;
    }
    *text = resp.mem ? resp.mem : strdup("");
    *n = resp.n;
    return *text ? KV_OK : KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
}

// Refuses a pull whose missing blobs do not fit on the store's disk.
static kv_status check_space(const char *dir, uint64_t need, kv_err *err) {
    struct statvfs sv;
    char blobs[PATH_CAP];
    snprintf(blobs, sizeof blobs, "%s/blobs", dir);
    if (statvfs(blobs, &sv) != 0)
        return KV_OK; // cannot tell; writes will say
    uint64_t avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    if (need > avail)
        return KV_FAIL(err, KV_ERR_IO,
                       "%s: the model needs %" PRIu64 " more bytes, the disk has %" PRIu64
                       " free; nothing was written",
                       dir, need, avail);
    return KV_OK;
}

// Hashes the first n bytes of fd into md.
static bool hash_prefix(int fd, uint64_t n, EVP_MD_CTX *md) {
    char *buf = malloc((size_t)1 << 20);
    bool ok = buf && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    for (uint64_t off = 0; ok && off < n;) {
        size_t want = n - off < ((uint64_t)1 << 20) ? (size_t)(n - off) : (size_t)1 << 20;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        ok = r > 0;
        if (ok) {
            EVP_DigestUpdate(md, buf, (size_t)r);
            off += (uint64_t)r;
        }
    }
    free(buf);
    return ok;
}

// Fetches blob l into its partial file (resuming from its length), hashing the
// bytes on their way in, and makes it the blob when the digest matches.
static kv_status pull_blob(kv__reg *r, const char *dir, const kv__layer *l, kv_err *err) {
    char part[PATH_CAP];
    kv_status st = kv__mstore_partial_path(dir, l->digest, part, sizeof part, err);
    if (st != KV_OK)
        return st;
    int fd = open(part, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return KV_FAIL(err, KV_ERR_IO, "cannot open %s: %s", part, strerror(errno));
    struct stat sb;
    uint64_t have = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    if (have > l->size && ftruncate(fd, 0) == 0)
        have = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !hash_prefix(fd, have, md)) {
        EVP_MD_CTX_free(md);
        close(fd);
        return KV_FAIL(err, KV_ERR_IO, "cannot read %s: %s", part, strerror(errno));
    }
    r->o->bytes_resumed += have;
    r->digest = l->digest;
    for (int round = 0; st == KV_OK && have < l->size; round++) {
        char url[URL_CAP], range[64];
        snprintf(url, sizeof url, "/v2/%s/blobs/%s", r->repo, l->digest);
        snprintf(range, sizeof range, "Range: bytes=%" PRIu64 "-", have);
        const char *hdr[] = {range, NULL};
        kv__reg_resp resp;
        kv__reg_resp_init(&resp, l->size - have, fd);
        resp.fd_base = have;
        resp.fd_total = l->size;
        resp.md = md;
        resp.ranged = have > 0;
        progress(r->o, "pulling", l->digest, have, l->size);
        st = kv__reg_do(r, "GET", url, have ? hdr : NULL, NULL, &resp, err);
        // The registry ignores Range (200, nothing taken) or the partial is longer
        // than the blob it has (416): begin again from byte 0, once.
        bool restart = st == KV_OK && round == 0 && have &&
                       (resp.code == 200 || resp.code == 416);
        if (restart) {
            kv__reg_resp_free(&resp);
            r->o->bytes_resumed -= have;
            have = 0;
            if (ftruncate(fd, 0) != 0 || !hash_prefix(fd, 0, md)) {
                st = KV_FAIL(err, KV_ERR_IO, "cannot truncate %s: %s", part, strerror(errno));
                break;
            }
            continue;
        }
        if (st == KV_OK && resp.code != 200 && resp.code != 206) {
            st = kv__reg_fail(r, "blob of", &resp, err);
        } else if (st == KV_OK && resp.code == 206) {
            uint64_t start = 0;
            if (sscanf(resp.content_range, "bytes %" SCNu64 "-", &start) != 1 || start != have)
                st = KV_FAIL(err, KV_ERR_FORMAT,
                             "blob %s: asked from byte %" PRIu64 ", got Content-Range '%.60s'",
                             l->digest, have, resp.content_range);
        }
        if (st == KV_OK) {
            have += resp.fd_n;
            if (have != l->size)
                st = KV_FAIL(err, KV_ERR_TRUNCATED,
                             "blob %s: %" PRIu64 " of %" PRIu64
                             " bytes came; pull again to resume",
                             l->digest, have, l->size);
        } else if (resp.write_errno || st == KV_ERR_LIMIT || st == KV_ERR_FORMAT) {
            // The disk is full (or failing), or the registry sent what it must
            // not: what came is dropped, not kept for a resume.
            if (ftruncate(fd, 0) != 0 || unlink(part) != 0)
                kv_err_prefix(err, "could not remove the partial download");
        }
        kv__reg_resp_free(&resp);
        break;
    }
    unsigned char h[32];
    unsigned int hlen = 0;
    bool synced = fsync(fd) == 0, hashed = EVP_DigestFinal_ex(md, h, &hlen) == 1;
    EVP_MD_CTX_free(md);
    close(fd);
    if (st == KV_OK && (!synced || !hashed))
        st = KV_FAIL(err, KV_ERR_IO, "%s: %s", part, strerror(errno));
    if (st == KV_OK) {
        char got[72];
        kv__digest_format(h, got);
        progress(r->o, "pulling", l->digest, l->size, l->size);
        progress(r->o, "verifying sha256 digest", l->digest, 0, 0);
        st = kv__mstore_blob_adopt(dir, l->digest, part, got, err);
    }
    r->digest = NULL;
    return st;
}

kv_status kv__oci_pull(const char *dir, const kv__mname *local, const kv__mname *remote,
                       kv__oci_opts *o, kv_err *err) {
    kv__reg r;
    kv__manifest *m = malloc(sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    int lk = -1;
    kv_status st = kv__mstore_lock(dir, true, &lk, err); // no blob collection meanwhile
    if (st == KV_OK)
        st = kv__reg_open(&r, remote, o, err);
    else
        memset(&r, 0, sizeof r);
    r.action = "pulling";
    char *text = NULL;
    size_t n = 0;
    progress(o, "pulling manifest", NULL, 0, 0);
    if (st == KV_OK)
        st = get_manifest(&r, remote->tag, &text, &n, m, err);
    // What is missing, each blob once.
    const kv__layer *todo[KV__MANIFEST_LAYERS_MAX + 1];
    size_t nt = 0;
    uint64_t need = 0;
    char part[PATH_CAP];
    for (size_t i = 0; st == KV_OK && i <= m->n_layers; i++) {
        const kv__layer *l = i == 0 ? &m->config : &m->layers[i - 1];
        bool dup = false;
        for (size_t j = 0; j < nt && !dup; j++)
            dup = !strcmp(todo[j]->digest, l->digest);
        kv_err e;
        if (dup)
            continue;
        if (kv__mstore_blob_has(dir, l->digest, &e) == KV_OK) {
            o->bytes_present += l->size;
            progress(o, "pulling", l->digest, l->size, l->size);
            continue;
        }
        struct stat sb;
        uint64_t have = 0;
        if ((st = kv__mstore_partial_path(dir, l->digest, part, sizeof part, err)) == KV_OK &&
            lstat(part, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size <= l->size)
            have = (uint64_t)sb.st_size;
        need += l->size - have;
        todo[nt++] = l;
    }
    if (st == KV_OK)
        st = check_space(dir, need, err);
    for (size_t i = 0; st == KV_OK && i < nt; i++)
        st = pull_blob(&r, dir, todo[i], err);
    if (st == KV_OK) {
        progress(o, "writing manifest", NULL, 0, 0);
        st = kv__mstore_manifest_put(dir, local, text, n, err);
    }
    kv__mstore_unlock(lk);
    if (st == KV_OK)
        progress(o, "success", NULL, 0, 0);
    kv__reg_close(&r);
    free(text);
    free(m);
    return st;
}

// ---- push ----

// A media type: letters, digits and . + - / _ only.
static bool mt_ok(const char *s) {
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(".+-/_", *s)))
            return false;
    return true;
}

// The upload URL a 202 names in Location, absolute.
static kv_status upload_url(const kv__reg *r, const kv__reg_resp *resp, char *out, size_t cap,
                            kv_err *err) {
    if (!resp->location[0])
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: an upload answer without Location", r->base);
    int w = resp->location[0] == '/' ? snprintf(out, cap, "%s%s", r->base, resp->location)
                                     : snprintf(out, cap, "%s", resp->location);
    if (w < 0 || (size_t)w >= cap)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: upload Location too long", r->base);
    if (strncmp(out, r->base, strlen(r->base)) != 0 ||
        (out[strlen(r->base)] != '/' && out[strlen(r->base)] != 0))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: the upload Location '%.200s' is another server's",
                       r->base, out);
    return KV_OK;
}

static kv_status push_blob(kv__reg *r, const char *dir, const kv__layer *l, kv_err *err) {
    char url[URL_CAP], path[PATH_CAP];
    snprintf(url, sizeof url, "/v2/%s/blobs/%s", r->repo, l->digest);
    kv__reg_resp resp;
    kv__reg_resp_init(&resp, 4096, -1);
    kv_status st = kv__reg_do(r, "HEAD", url, NULL, NULL, &resp, err);
    bool there = st == KV_OK && resp.code == 200;
    kv__reg_resp_free(&resp);
    if (st != KV_OK)
        return st;
    if (there) {
        r->o->bytes_present += l->size;
        progress(r->o, "pushing", l->digest, l->size, l->size);
        return KV_OK;
    }
    if ((st = kv__mstore_blob_path(dir, l->digest, path, sizeof path, err)) != KV_OK)
        return st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0)
        return KV_FAIL(err, KV_ERR_IO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size != l->size) {
        close(fd);
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: not the %" PRIu64 " bytes the manifest says",
                       path, l->size);
    }
    uint64_t chunk = DEFAULT_CHUNK;
    const char *cv = getenv("KVANT_OCI_CHUNK");
    if (cv && strtoull(cv, NULL, 10) > 0)
        chunk = strtoull(cv, NULL, 10);
    r->digest = l->digest;
    snprintf(url, sizeof url, "/v2/%s/blobs/uploads/", r->repo);
    kv__reg_resp_init(&resp, 4096, -1);
    st = kv__reg_do(r, "POST", url, NULL, NULL, &resp, err);
    if (st == KV_OK && resp.code != 202)
        st = kv__reg_fail(r, "upload to", &resp, err);
    char at[URL_CAP];
    if (st == KV_OK)
        st = upload_url(r, &resp, at, sizeof at, err);
    kv__reg_resp_free(&resp);
    uint64_t off = 0;
    // Chunks: PATCH each (Content-Range), the next URL from each answer.
    while (st == KV_OK && l->size > chunk && off < l->size) {
        uint64_t n = l->size - off < chunk ? l->size - off : chunk;
        kv__reg_src src = {.fd = fd, .off = off, .n = n, .total = l->size};
        char cr[96];
        snprintf(cr, sizeof cr, "Content-Range: %" PRIu64 "-%" PRIu64, off, off + n - 1);
        const char *hdr[] = {cr, "Content-Type: application/octet-stream", NULL};
        kv__reg_resp_init(&resp, 4096, -1);
        st = kv__reg_do(r, "PATCH", at, hdr, &src, &resp, err);
        if (st == KV_OK && resp.code != 202)
            st = kv__reg_fail(r, "chunk upload to", &resp, err);
        if (st == KV_OK)
            st = upload_url(r, &resp, at, sizeof at, err);
        kv__reg_resp_free(&resp);
        off += n;
    }
    if (st == KV_OK) {
        size_t len = strlen(at);
        if (snprintf(at + len, sizeof at - len, "%sdigest=%s", strchr(at, '?') ? "&" : "?",
                     l->digest) >= (int)(sizeof at - len))
            st = KV_FAIL(err, KV_ERR_LIMIT, "upload URL too long");
    }
    if (st == KV_OK) {
        kv__reg_src src = {.fd = fd, .off = off, .n = l->size - off, .total = l->size};
        const char *hdr[] = {"Content-Type: application/octet-stream", NULL};
        kv__reg_resp_init(&resp, 4096, -1);
        st = kv__reg_do(r, "PUT", at, hdr, &src, &resp, err);
        if (st == KV_OK && resp.code != 201)
            st = kv__reg_fail(r, "blob upload to", &resp, err);
        kv__reg_resp_free(&resp);
    }
    close(fd);
    r->digest = NULL;
    return st;
}

kv_status kv__oci_push(const char *dir, const kv__mname *local, const kv__mname *remote,
                       kv__oci_opts *o, kv_err *err) {
    kv__manifest *m = malloc(sizeof *m);
    if (!m)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    char *text = NULL;
    size_t n = 0;
    kv__reg r;
    memset(&r, 0, sizeof r);
    kv_status st = kv__mstore_manifest_bytes(dir, local, &text, &n, err);
    if (st == KV_OK)
        st = kv__manifest_parse(text, n, "the stored manifest", m, err);
    if (st == KV_OK)
        st = kv__reg_open(&r, remote, o, err);
    r.action = "pushing";
    for (size_t i = 0; st == KV_OK && i <= m->n_layers; i++)
        st = push_blob(&r, dir, i == 0 ? &m->config : &m->layers[i - 1], err);
    if (st == KV_OK) {
        progress(o, "pushing manifest", NULL, 0, 0);
        // Its media type as the manifest says (the store writes Docker's v2).
        char ct[200] = "Content-Type: " KV__MT_MANIFEST;
        json_t *j = json_loadb(text, n, 0, NULL);
        json_t *v = json_object_get(j, "mediaType");
        if (json_is_string(v) && strlen(json_string_value(v)) < 150 &&
            mt_ok(json_string_value(v)))
            snprintf(ct, sizeof ct, "Content-Type: %s", json_string_value(v));
        json_decref(j);
        char url[URL_CAP];
        snprintf(url, sizeof url, "/v2/%s/manifests/%s", r.repo, remote->tag);
        const char *hdr[] = {ct, NULL};
        kv__reg_src src = {.mem = text, .n = n};
        kv__reg_resp resp;
        kv__reg_resp_init(&resp, 4096, -1);
        st = kv__reg_do(&r, "PUT", url, hdr, &src, &resp, err);
        if (st == KV_OK && resp.code != 201)
            st = kv__reg_fail(&r, "manifest upload to", &resp, err);
        kv__reg_resp_free(&resp);
    }
    if (st == KV_OK)
        progress(o, "success", NULL, 0, 0);
    kv__reg_close(&r);
    free(text);
    free(m);
    return st;
}
