// The registry client's HTTP layer: one libcurl handle per registry session,
// requests with a capped body (memory or a file), a Bearer challenge answered
// once from the token endpoint it names. libcurl takes proxies from the
// environment (http_proxy, https_proxy, no_proxy) by itself.
#define _POSIX_C_SOURCE 200809L // clock_gettime, strndup
#include "store/oci_int.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_rc = CURLE_OK;

static void global_init(void) {
    g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// A header value a server sends may only be printable ASCII.
static bool printable(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

kv_status kv__reg_open(kv__reg *r, const kv__mname *remote, kv__oci_opts *o, kv_err *err) {
    memset(r, 0, sizeof *r);
    r->o = o;
    pthread_once(&g_once, global_init);
    if (g_init_rc != CURLE_OK)
        return KV_FAIL(err, KV_ERR_IO, "libcurl: %s", curl_easy_strerror(g_init_rc));
    snprintf(r->base, sizeof r->base, "%s://%s", o->insecure ? "http" : "https", remote->host);
    snprintf(r->repo, sizeof r->repo, "%s/%s", remote->ns, remote->model);
    if (o->token) {
        if (strlen(o->token) > KV__OCI_TOKEN_MAX || !printable(o->token))
            return KV_FAIL(err, KV_ERR_INVALID, "the registry token is too long or not printable");
        snprintf(r->auth, sizeof r->auth, "Authorization: Bearer %s", o->token);
    }
    if (!(r->h = curl_easy_init()))
        return KV_FAIL(err, KV_ERR_NOMEM, "libcurl: cannot make a handle");
    return KV_OK;
}

void kv__reg_close(kv__reg *r) {
    if (r->h)
        curl_easy_cleanup(r->h);
    r->h = NULL;
}

void kv__reg_resp_init(kv__reg_resp *resp, size_t cap, int fd) {
    memset(resp, 0, sizeof *resp);
    resp->cap = cap;
    resp->fd = fd;
}

void kv__reg_resp_free(kv__reg_resp *resp) {
    free(resp->mem);
    resp->mem = NULL;
}

static bool ok_code(long c) {
    return c >= 200 && c < 300;
}

// Appends to mem, up to cap bytes (the rest is dropped, over set when want_all).
static bool mem_put(kv__reg_resp *r, const char *p, size_t n, size_t cap) {
    if (r->n + n > cap) {
        n = r->n < cap ? cap - r->n : 0;
        r->over = true;
    }
    char *m = realloc(r->mem, r->n + n + 1);
    if (!m)
        return false;
    memcpy(m + r->n, p, n);
    r->mem = m;
    r->n += n;
    m[r->n] = 0;
    return true;
}

typedef struct {
    kv__reg *r;
    kv__reg_resp *resp;
} cb_ctx;

static size_t on_write(char *p, size_t sz, size_t nm, void *u) {
    cb_ctx *c = u;
    kv__reg_resp *r = c->resp;
    size_t n = sz * nm;
    if (!ok_code(r->code)) { // an error's body: its start is kept for the message
        if (r->n < 1024) {
            bool over = r->over;
            mem_put(r, p, n, 1024);
            r->over = over;
        }
        return n;
    }
    if (r->fd < 0) {
        if (!mem_put(r, p, n, r->cap) || r->over)
            return 0; // over the cap: the transfer stops
        return n;
    }
    if (r->fd_n + n > r->cap) {
        r->over = true;
        return 0;
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(r->fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            r->write_errno = w < 0 ? errno : EIO;
            return 0;
        }
        done += (size_t)w;
    }
    r->fd_n += n;
    if (r->md)
        EVP_DigestUpdate(r->md, p, n);
    kv__oci_opts *o = c->r->o;
    o->bytes_moved += n;
    double t = now_s();
    if (o->progress && t - r->last_progress >= 0.25) {
        r->last_progress = t;
        char st[96];
        snprintf(st, sizeof st, "%s %.12s", c->r->action, c->r->digest ? c->r->digest + 7 : "");
        o->progress(o->user, st, c->r->digest, r->fd_base + r->fd_n, r->fd_total);
    }
    return n;
}

static void keep_header(char *dst, size_t cap, const char *v, size_t n) {
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *u) {
    cb_ctx *c = u;
    kv__reg_resp *r = c->resp;
    size_t n = sz * nm, len = n;
    while (len && (p[len - 1] == '\r' || p[len - 1] == '\n'))
        len--;
    if (len > 5 && !strncmp(p, "HTTP/", 5)) { // a new response (after a redirect or 100)
        char line[64];
        keep_header(line, sizeof line, p, len);
        long code = 0;
        if (sscanf(line, "%*s %ld", &code) != 1)
            return 0;
        r->code = code;
        if (code == 200 && r->ranged && r->fd >= 0) {
            r->range_ignored = true;
            return 0;
        }
        r->www_auth[0] = r->location[0] = r->digest[0] = r->content_range[0] = 0;
        r->has_length = false;
        return n;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - p);
    const char *v = colon + 1;
    while (v < p + len && (*v == ' ' || *v == '\t'))
        v++;
    size_t vlen = (size_t)(p + len - v);
#define IS(name) (klen == sizeof(name) - 1 && !strncasecmp(p, name, klen))
    if (IS("WWW-Authenticate"))
        keep_header(r->www_auth, sizeof r->www_auth, v, vlen);
    else if (IS("Location"))
        keep_header(r->location, sizeof r->location, v, vlen);
    else if (IS("Docker-Content-Digest"))
        keep_header(r->digest, sizeof r->digest, v, vlen);
    else if (IS("Content-Range"))
        keep_header(r->content_range, sizeof r->content_range, v, vlen);
    else if (IS("Content-Length")) {
        char num[32];
        keep_header(num, sizeof num, v, vlen);
        char *end;
        errno = 0;
        unsigned long long x = strtoull(num, &end, 10);
        if (errno || end == num || *end || num[0] == '-')
            return 0; // not a length: stop
        r->has_length = true;
        r->length = x;
        // A body longer than what is wanted stops before a byte is taken.
        if (ok_code(r->code) && r->fd >= 0 && x > r->cap - r->fd_n) {
            r->over = true;
            return 0;
        }
        if (ok_code(r->code) && r->fd < 0 && x > r->cap) {
            r->over = true;
            return 0;
        }
    }
#undef IS
    return n;
}

typedef struct {
    kv__reg *r;
    kv__reg_src *s;
    double last;
} rd_ctx;

static size_t on_read(char *p, size_t sz, size_t nm, void *u) {
    rd_ctx *c = u;
    kv__reg_src *s = c->s;
    size_t want = sz * nm;
    if ((uint64_t)want > s->n - s->pos)
        want = (size_t)(s->n - s->pos);
    if (!want)
        return 0;
    if (s->mem) {
        memcpy(p, s->mem + s->pos, want);
    } else {
        ssize_t got;
        do
            got = pread(s->fd, p, want, (off_t)(s->off + s->pos));
        while (got < 0 && errno == EINTR);
        if (got <= 0)
            return CURL_READFUNC_ABORT;
        want = (size_t)got;
    }
    s->pos += want;
    kv__oci_opts *o = c->r->o;
    if (!s->mem)
        o->bytes_moved += want;
    double t = now_s();
    if (o->progress && !s->mem && (t - c->last >= 0.25 || s->pos == s->n)) {
        c->last = t;
        char st[96];
        snprintf(st, sizeof st, "%s %.12s", c->r->action, c->r->digest ? c->r->digest + 7 : "");
        o->progress(o->user, st, c->r->digest, s->off + s->pos, s->total);
    }
    return want;
}

static int on_seek(void *u, curl_off_t offset, int origin) {
    rd_ctx *c = u;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > c->s->n)
        return CURL_SEEKFUNC_CANTSEEK;
    c->s->pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

// Copies the value of param (quoted or not) from a challenge's list.
static bool challenge_param(const char *h, const char *param, char *out, size_t cap) {
    out[0] = 0;
    size_t pl = strlen(param);
    for (const char *p = h; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *eq = strchr(p, '=');
        if (!eq)
            return true;
        bool match = (size_t)(eq - p) == pl && !strncasecmp(p, param, pl);
        const char *v = eq + 1, *end;
        if (*v == '"') {
            v++;
            end = strchr(v, '"');
            if (!end)
                return false;
        } else {
            end = v + strcspn(v, ",");
        }
        if (match) {
            if ((size_t)(end - v) >= cap)
                return false;
            memcpy(out, v, (size_t)(end - v));
            out[end - v] = 0;
            return true;
        }
        p = *end == '"' ? end + 1 : end;
    }
    return true;
}

bool kv__oci_parse_challenge(const char *h, char *realm, size_t rcap, char *service,
                             size_t scap, char *scope, size_t xcap) {
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    return challenge_param(h, "realm", realm, rcap) && realm[0] &&
           challenge_param(h, "service", service, scap) &&
           challenge_param(h, "scope", scope, xcap);
}

// Answers the challenge in resp: a token from its realm into r->auth.
static kv_status fetch_token(kv__reg *r, const kv__reg_resp *resp, kv_err *err) {
    char realm[1024], service[512], scope[1024];
    if (!kv__oci_parse_challenge(resp->www_auth, realm, sizeof realm, service, sizeof service,
                                 scope, sizeof scope))
        return KV_FAIL(err, KV_ERR_IO, "%s: HTTP 401 and no Bearer challenge to answer (%.200s)",
                       r->base, resp->www_auth[0] ? resp->www_auth : "no WWW-Authenticate");
    if (strncmp(realm, "https://", 8) != 0 && !(r->o->insecure && !strncmp(realm, "http://", 7)))
        return KV_FAIL(err, KV_ERR_IO,
                       "%s: the token endpoint '%.200s' is not https (--insecure allows http)",
                       r->base, realm);
    CURL *h = curl_easy_init();
    if (!h)
        return KV_FAIL(err, KV_ERR_NOMEM, "libcurl: cannot make a handle");
    char *es = curl_easy_escape(h, service, 0), *ex = curl_easy_escape(h, scope, 0);
    char url[4096];
    int w = snprintf(url, sizeof url, "%s%s%s%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
                     service[0] ? "service=" : "", service[0] && es ? es : "",
                     scope[0] ? (service[0] ? "&scope=" : "scope=") : "",
                     scope[0] && ex ? ex : "");
    curl_free(es);
    curl_free(ex);
    kv_status st = KV_OK;
    kv__reg_resp tr;
    kv__reg_resp_init(&tr, KV__OCI_TOKEN_MAX, -1);
    kv__reg tmp = *r; // for the callbacks' context only
    cb_ctx cc = {&tmp, &tr};
    if (w < 0 || (size_t)w >= sizeof url) {
        st = KV_FAIL(err, KV_ERR_LIMIT, "%s: the token URL is too long", r->base);
    } else {
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "kvant");
        if (r->o->ca_file)
            curl_easy_setopt(h, CURLOPT_CAINFO, r->o->ca_file);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &cc);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &cc);
        if (r->o->basic) {
            curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            curl_easy_setopt(h, CURLOPT_USERPWD, r->o->basic);
        }
        CURLcode rc = curl_easy_perform(h);
        if (rc != CURLE_OK)
            st = KV_FAIL(err, tr.over ? KV_ERR_LIMIT : KV_ERR_IO, "token endpoint %.200s: %s",
                         realm, tr.over ? "reply too long" : curl_easy_strerror(rc));
        else if (!ok_code(tr.code))
            st = KV_FAIL(err, KV_ERR_IO, "token endpoint %.200s: HTTP %ld", realm, tr.code);
    }
    curl_easy_cleanup(h);
    json_t *j = st == KV_OK ? json_loadb(tr.mem ? tr.mem : "", tr.n, 0, NULL) : NULL;
    json_t *t = json_object_get(j, "token");
    if (!json_is_string(t))
        t = json_object_get(j, "access_token");
    if (st == KV_OK && (!json_is_string(t) || !json_string_value(t)[0] ||
                        !printable(json_string_value(t))))
        st = KV_FAIL(err, KV_ERR_FORMAT, "token endpoint %.200s: no token in its reply", realm);
    if (st == KV_OK)
        snprintf(r->auth, sizeof r->auth, "Authorization: Bearer %s", json_string_value(t));
    json_decref(j);
    kv__reg_resp_free(&tr);
    return st;
}

kv_status kv__reg_do(kv__reg *r, const char *method, const char *url, const char *const *headers,
                     kv__reg_src *src, kv__reg_resp *resp, kv_err *err) {
    char full[8192];
    int w = !strncmp(url, "http://", 7) || !strncmp(url, "https://", 8)
                ? snprintf(full, sizeof full, "%s", url)
                : snprintf(full, sizeof full, "%s%s", r->base, url);
    if (w < 0 || (size_t)w >= sizeof full)
        return KV_FAIL(err, KV_ERR_LIMIT, "URL too long");
    if (!strncmp(full, "http://", 7) && !r->o->insecure)
        return KV_FAIL(err, KV_ERR_INVALID, "%.200s is plain HTTP (--insecure allows it)", full);
    const char *rate = getenv("KVANT_OCI_LIMIT_RATE"); // test hook: bytes per second
    for (int attempt = 0;; attempt++) {
        CURL *h = r->h;
        curl_easy_reset(h);
        struct curl_slist *hl = NULL;
        for (size_t i = 0; headers && headers[i]; i++)
            hl = curl_slist_append(hl, headers[i]);
        if (r->auth[0])
            hl = curl_slist_append(hl, r->auth);
        hl = curl_slist_append(hl, "Expect:");
        cb_ctx cc = {r, resp};
        rd_ctx rc_ctx = {r, src, 0};
        curl_easy_setopt(h, CURLOPT_URL, full);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "kvant");
        if (r->o->ca_file)
            curl_easy_setopt(h, CURLOPT_CAINFO, r->o->ca_file);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, r->o->insecure ? "http,https" : "https");
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 120L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &cc);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &cc);
        if (rate && atoll(rate) > 0) {
            curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)atoll(rate));
            curl_easy_setopt(h, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)atoll(rate));
        }
        bool get = !strcmp(method, "GET"), head = !strcmp(method, "HEAD");
        if (get || head) {
            curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L); // blobs may live elsewhere
            curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
            if (head) {
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                resp->cap = SIZE_MAX; // its Content-Length is the blob's, and no body comes
            }
        } else if (!strcmp(method, "POST") && !src) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
        } else {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(src ? src->n : 0));
            if (src) {
                src->pos = 0;
                curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(h, CURLOPT_READDATA, &rc_ctx);
                curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
                curl_easy_setopt(h, CURLOPT_SEEKDATA, &rc_ctx);
            }
        }
        char ebuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
        CURLcode crc = curl_easy_perform(h);
        curl_slist_free_all(hl);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->code);
        if (crc != CURLE_OK && resp->range_ignored)
            return KV_OK; // resp->code 200: the caller begins again from byte 0
        if (crc != CURLE_OK) {
            if (resp->over)
                return KV_FAIL(err, KV_ERR_LIMIT,
                               "%.200s: the reply is longer than the %zu bytes expected", full,
                               resp->cap);
            if (resp->write_errno)
                return KV_FAIL(err, KV_ERR_IO, "writing what %.200s sends: %s", full,
                               strerror(resp->write_errno));
            return KV_FAIL(err, KV_ERR_IO, "%.200s: %s", full,
                           ebuf[0] ? ebuf : curl_easy_strerror(crc));
        }
        // One challenge answered per request: a token for pulling may need
        // another (its scope) for pushing.
        if (resp->code != 401 || attempt > 0)
            return KV_OK;
        r->tried_token = true;
        kv_status st = fetch_token(r, resp, err);
        if (st != KV_OK)
            return st;
        // Again, from a clean response.
        size_t cap = resp->cap;
        int fd = resp->fd;
        uint64_t base = resp->fd_base, total = resp->fd_total;
        EVP_MD_CTX *md = resp->md;
        bool ranged = resp->ranged;
        kv__reg_resp_free(resp);
        kv__reg_resp_init(resp, cap, fd);
        resp->ranged = ranged;
        resp->fd_base = base;
        resp->fd_total = total;
        resp->md = md;
    }
}

kv_status kv__reg_fail(const kv__reg *r, const char *what, const kv__reg_resp *resp, kv_err *err) {
    char first[160] = "";
    if (resp->mem) {
        size_t n = strcspn(resp->mem, "\r\n");
        keep_header(first, sizeof first, resp->mem, n);
        for (char *p = first; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                *p = '?';
    }
    return KV_FAIL(err, resp->code == 404 ? KV_ERR_NOT_FOUND : KV_ERR_IO,
                   "%s %s/%s: HTTP %ld%s%s", what, r->base, r->repo, resp->code,
                   first[0] ? ": " : "", first);
}
