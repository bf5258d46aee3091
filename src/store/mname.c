// Model names and digests, checked before either becomes a path (the class of
// Ollama's CVE-2024-37032: a digest or name that walks out of the store).
#include "store/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_alnum_(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// kind: "host", "namespace", "model", "tag".
static kv_status check_part(const char *kind, const char *s, size_t len, size_t max,
                            const char *whole, kv_err *err) {
    if (len == 0)
        return KV_FAIL(err, KV_ERR_INVALID, "model name '%.*s': empty %s", 100, whole, kind);
    if (len > max)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "model name '%.60s...': %s is %zu bytes, at most %zu", whole, kind, len,
                       max);
    if (!is_alnum_(s[0]))
        return KV_FAIL(err, KV_ERR_INVALID,
                       "model name '%.100s': %s must start with a letter, digit or '_'", whole,
                       kind);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = is_alnum_(c) || c == '-' || (c == '.' && strcmp(kind, "namespace") != 0) ||
                  (c == ':' && strcmp(kind, "host") == 0);
        if (!ok)
            return KV_FAIL(err, KV_ERR_INVALID,
                           "model name '%.100s': %s has a character not allowed (byte 0x%02x)",
                           whole, kind, (unsigned char)c);
        if (c == '.' && i + 1 < len && s[i + 1] == '.')
            return KV_FAIL(err, KV_ERR_INVALID, "model name '%.100s': '..' in the %s", whole,
                           kind);
    }
    return KV_OK;
}

kv_status kv__mname_parse(const char *s, kv__mname *out, kv_err *err) {
    memset(out, 0, sizeof *out);
    if (!s || !*s)
        return KV_FAIL(err, KV_ERR_INVALID, "model name is empty");
    size_t total = strlen(s);
    if (total >= KV__MNAME_TEXT_MAX)
        return KV_FAIL(err, KV_ERR_INVALID, "model name '%.60s...' is %zu bytes, at most %d", s,
                       total, KV__MNAME_TEXT_MAX - 1);
    if (s[0] == '/')
        return KV_FAIL(err, KV_ERR_INVALID, "model name '%.100s': an absolute path is not a name",
                       s);
    // Split on '/': up to three parts.
    const char *seg[4];
    size_t seglen[4];
    size_t nseg = 0;
    const char *p = s;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (nseg == 3)
            return KV_FAIL(err, KV_ERR_INVALID,
                           "model name '%.100s': more than HOST/NAMESPACE/MODEL", s);
        seg[nseg] = p;
        seglen[nseg] = slash ? (size_t)(slash - p) : strlen(p);
        nseg++;
        if (!slash)
            break;
        p = slash + 1;
    }
    // The tag: after the one ':' of the last part.
    const char *last = seg[nseg - 1];
    size_t lastlen = seglen[nseg - 1];
    const char *colon = memchr(last, ':', lastlen);
    size_t mlen = lastlen;
    const char *tag = KV__MNAME_DEFAULT_TAG;
    size_t tlen = strlen(tag);
    if (colon) {
        if (memchr(colon + 1, ':', lastlen - (size_t)(colon + 1 - last)))
            return KV_FAIL(err, KV_ERR_INVALID, "model name '%.100s': more than one ':'", s);
        mlen = (size_t)(colon - last);
        tag = colon + 1;
        tlen = lastlen - mlen - 1;
    }
    kv_status st;
    if ((st = check_part("model", last, mlen, KV__MNAME_PART_MAX, s, err)) != KV_OK ||
        (st = check_part("tag", tag, tlen, KV__MNAME_PART_MAX, s, err)) != KV_OK)
        return st;
    memcpy(out->model, last, mlen);
    memcpy(out->tag, tag, tlen);
    const char *ns = KV__MNAME_DEFAULT_NS, *host = KV__MNAME_DEFAULT_HOST;
    size_t nslen = strlen(ns), hlen = strlen(host);
    if (nseg >= 2) {
        ns = seg[nseg - 2];
        nslen = seglen[nseg - 2];
    }
    if (nseg == 3) {
        host = seg[0];
        hlen = seglen[0];
    }
    if ((st = check_part("namespace", ns, nslen, KV__MNAME_PART_MAX, s, err)) != KV_OK ||
        (st = check_part("host", host, hlen, KV__MNAME_HOST_MAX, s, err)) != KV_OK)
        return st;
    memcpy(out->ns, ns, nslen);
    memcpy(out->host, host, hlen);
    return KV_OK;
}

void kv__mname_display(const kv__mname *n, char *out, size_t cap) {
    if (strcmp(n->host, KV__MNAME_DEFAULT_HOST) != 0)
        snprintf(out, cap, "%s/%s/%s:%s", n->host, n->ns, n->model, n->tag);
    else if (strcmp(n->ns, KV__MNAME_DEFAULT_NS) != 0)
        snprintf(out, cap, "%s/%s:%s", n->ns, n->model, n->tag);
    else
        snprintf(out, cap, "%s:%s", n->model, n->tag);
}

void kv__digest_format(const unsigned char md[32], char out[72]) {
    static const char H[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = H[md[i] >> 4];
        out[8 + 2 * i] = H[md[i] & 15];
    }
    out[71] = 0;
}

kv_status kv__digest_check(const char *d, kv_err *err) {
    if (!d)
        return KV_FAIL(err, KV_ERR_INVALID, "missing digest");
    if (strncmp(d, "sha256:", 7) != 0)
        return KV_FAIL(err, KV_ERR_INVALID, "digest '%.100s' does not start with 'sha256:'", d);
    size_t i = 0;
    for (; d[7 + i]; i++) {
        char c = d[7 + i];
        if (i >= 64 || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return KV_FAIL(err, KV_ERR_INVALID,
                           "digest '%.100s' is not 'sha256:' and 64 lowercase hex digits", d);
    }
    if (i != 64)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "digest '%.100s' is not 'sha256:' and 64 lowercase hex digits", d);
    return KV_OK;
}

kv_status kv__mstore_default_dir(char *out, size_t cap, kv_err *err) {
    const char *v;
    int n;
    if ((v = getenv("KVANT_MODELS")) && *v)
        n = snprintf(out, cap, "%s", v);
    else if ((v = getenv("OLLAMA_MODELS")) && *v)
        n = snprintf(out, cap, "%s", v);
    else if ((v = getenv("KVANT_HOME")) && *v)
        n = snprintf(out, cap, "%s/models", v);
    else if ((v = getenv("HOME")) && *v)
        n = snprintf(out, cap, "%s/.kvant/models", v);
    else
        return KV_FAIL(err, KV_ERR_INVALID,
                       "no model store: set KVANT_MODELS, KVANT_HOME or HOME");
    if (n < 0 || (size_t)n >= cap)
        return KV_FAIL(err, KV_ERR_INVALID, "the model store's path is too long");
    return KV_OK;
}
