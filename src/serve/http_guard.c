// The request guard: framing, Host and Origin checks as pure functions over
// header values (see http_guard_int.h). Header values come from the network: every
// one is length-checked and only printable ASCII of them goes into a message.
#define _POSIX_C_SOURCE 200809L // strdup
#include "serve/http_guard_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// The origins a browser page may call from without --origins (Ollama's list).
static const char *const DEFAULT_ORIGINS[] = {
    "http://localhost",        "https://localhost",        "http://localhost:*",
    "https://localhost:*",     "http://127.0.0.1",         "https://127.0.0.1",
    "http://127.0.0.1:*",      "https://127.0.0.1:*",      "http://0.0.0.0",
    "https://0.0.0.0",         "http://0.0.0.0:*",         "https://0.0.0.0:*",
    "app://*",                 "file://*",                 "tauri://*",
    "vscode-webview://*",      "vscode-file://*",
};

#define MAX_ORIGIN_LEN 1024

// Copies printable ASCII of s (others as '?') into out, cut to fit with "...".
static const char *printable(const char *s, char *out, size_t cap) {
    size_t n = 0;
    for (; *s && n + 4 < cap; s++)
        out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s && cap >= 4) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

static void lower(char *s) {
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

// ---- building the guard ----

static kv_status add_list(const char *list, const char *what, char **dst, int *n, bool *any,
                          kv_err *err) {
    if (!list)
        return KV_OK;
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ", \t");
        if (len > KV__HTTP_MAX_PATTERN)
            return KV_FAIL(err, KV_ERR_INVALID, "%s: an entry is over %d bytes", what,
                           KV__HTTP_MAX_PATTERN);
        for (size_t i = 0; i < len; i++)
            if (p[i] < 0x21 || p[i] > 0x7e)
                return KV_FAIL(err, KV_ERR_INVALID, "%s: entry %d has a byte that is not "
                               "printable ASCII", what, *n + 1);
        if (*n >= KV__HTTP_MAX_PATTERNS)
            return KV_FAIL(err, KV_ERR_INVALID, "%s: more than %d entries", what,
                           KV__HTTP_MAX_PATTERNS);
        char *e = strndup(p, len);
        if (!e)
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %s", what);
        lower(e);
        if (strcmp(e, "*") == 0)
            *any = true;
        dst[(*n)++] = e;
        p += len;
    }
    return KV_OK;
}

kv_status kv__http_guard_init(kv__http_guard *g, const char *bind_host, const char *origins,
                              const char *hosts, const char *hostname, kv_err *err) {
    memset(g, 0, sizeof *g);
    kv_status st = add_list(origins, "--origins", g->origins, &g->n_origins, &g->any_origin, err);
    if (st == KV_OK)
        st = add_list(hosts, "--allowed-hosts", g->hosts, &g->n_hosts, &g->any_host, err);
    if (st != KV_OK)
        return st;
    const char *b = bind_host ? bind_host : "";
    size_t n = strlen(b);
    if (n >= 2 && b[0] == '[' && b[n - 1] == ']') {
        b++;
        n -= 2;
    }
    if (n >= sizeof g->bind_name)
        return KV_FAIL(err, KV_ERR_INVALID, "--host is over %d bytes", KV__HTTP_MAX_NAME - 1);
    memcpy(g->bind_name, b, n);
    g->bind_name[n] = '\0';
    lower(g->bind_name);
    unsigned char a[16];
    if (n == 0 || (inet_pton(AF_INET, g->bind_name, a) == 1 && memcmp(a, "\0\0\0\0", 4) == 0) ||
        (inet_pton(AF_INET6, g->bind_name, a) == 1 &&
         memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0)) {
        g->bind_wildcard = true;
        g->bind_name[0] = '\0';
    }
    if (hostname && strlen(hostname) < sizeof g->hostname) {
        strcpy(g->hostname, hostname);
        lower(g->hostname);
    }
    return KV_OK;
}

void kv__http_guard_free(kv__http_guard *g) {
    for (int i = 0; i < g->n_origins; i++)
        free(g->origins[i]);
    for (int i = 0; i < g->n_hosts; i++)
        free(g->hosts[i]);
    memset(g, 0, sizeof *g);
}

// ---- headers and framing ----

void kv__http_hdrs_add(kv__http_hdrs *h, const char *name, const char *value) {
    if (!name || !value)
        return;
    unsigned *count = NULL;
    const char **first = NULL;
    if (strcasecmp(name, "Host") == 0) {
        count = &h->n_host;
        first = &h->host;
    } else if (strcasecmp(name, "Content-Length") == 0) {
        count = &h->n_cl;
        first = &h->cl;
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        count = &h->n_te;
        first = &h->te;
    } else if (strcasecmp(name, "Origin") == 0) {
        count = &h->n_origin;
        first = &h->origin;
    } else {
        return;
    }
    if ((*count)++ == 0)
        *first = value;
}

unsigned kv__http_framing(const kv__http_hdrs *h, bool http11, uint64_t *body_len, char *msg,
                          size_t cap) {
    char q[64];
    *body_len = 0;
    if (h->n_host > 1) {
        snprintf(msg, cap, "more than one Host header");
        return 400;
    }
    if (http11 && h->n_host == 0) {
        snprintf(msg, cap, "HTTP/1.1 request without a Host header");
        return 400;
    }
    if (h->n_origin > 1) {
        snprintf(msg, cap, "more than one Origin header");
        return 400;
    }
    if (h->n_cl > 1) {
        snprintf(msg, cap, "more than one Content-Length header");
        return 400;
    }
    if (h->n_te > 0) {
        if (h->n_cl > 0) {
            snprintf(msg, cap, "both Content-Length and Transfer-Encoding headers");
            return 400;
        }
        if (!http11) {
            snprintf(msg, cap, "Transfer-Encoding in an HTTP/1.0 request");
            return 400;
        }
        if (h->n_te > 1 || strcasecmp(h->te, "chunked") != 0) {
            snprintf(msg, cap, "Transfer-Encoding '%s' is not supported (only chunked)",
                     h->n_te > 1 ? "(several headers)" : printable(h->te, q, sizeof q));
            return 501;
        }
        *body_len = UINT64_MAX;
        return 0;
    }
    if (h->n_cl == 1) {
        size_t n = strlen(h->cl);
        bool ok = n >= 1 && n <= 19;
        for (size_t i = 0; ok && i < n; i++)
            ok = h->cl[i] >= '0' && h->cl[i] <= '9';
        if (!ok) {
            snprintf(msg, cap, "malformed Content-Length '%s'", printable(h->cl, q, sizeof q));
            return 400;
        }
        *body_len = strtoull(h->cl, NULL, 10);
    }
    return 0;
}

// ---- Host ----

static bool name_char(char c) {
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

static bool port_ok(const char *p) {
    size_t n = strlen(p);
    if (n > 5)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return n < 5 || strcmp(p, "65535") <= 0;
}

// Splits an authority "name[:port]" or "[v6][:port]" into the name (brackets
// dropped, lowercase, one trailing dot dropped) and whether it is an IPv6
// literal; false when malformed.
static bool split_authority(const char *a, char *name, size_t cap, bool *v6) {
    const char *end;
    *v6 = false;
    if (a[0] == '[') {
        end = strchr(a, ']');
        if (!end)
            return false;
        a++;
        *v6 = true;
        for (const char *p = a; p < end; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return false;
        if (end[1] != '\0' && (end[1] != ':' || !port_ok(end + 2)))
            return false;
    } else {
        end = strchr(a, ':');
        if (!end)
            end = a + strlen(a);
        else if (!port_ok(end + 1))
            return false;
        for (const char *p = a; p < end; p++)
            if (!name_char(*p))
                return false;
    }
    size_t n = (size_t)(end - a);
    if (n == 0 || n >= cap)
        return false;
    memcpy(name, a, n);
    name[n] = '\0';
    lower(name);
    if (!*v6 && n > 1 && name[n - 1] == '.')
        name[n - 1] = '\0';
    return true;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

// Whether literal address name (v6 or not) is loopback, unspecified or the bound one.
static bool address_allowed(const kv__http_guard *g, const char *name, bool v6) {
    unsigned char a[16], b[16];
    if (v6) {
        if (inet_pton(AF_INET6, name, a) != 1)
            return false;
        static const unsigned char lo[16] = {[15] = 1}, any[16] = {0};
        static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
        if (memcmp(a, lo, 16) == 0 || memcmp(a, any, 16) == 0 ||
            (memcmp(a, mapped, 12) == 0 && a[12] == 127))
            return true;
        return g->bind_wildcard || (inet_pton(AF_INET6, g->bind_name, b) == 1 && !memcmp(a, b, 16));
    }
    if (inet_pton(AF_INET, name, a) != 1)
        return false;
    if (a[0] == 127 || memcmp(a, "\0\0\0\0", 4) == 0)
        return true;
    return g->bind_wildcard || (inet_pton(AF_INET, g->bind_name, b) == 1 && !memcmp(a, b, 4));
}

unsigned kv__http_host_check(const kv__http_guard *g, const char *host, char *msg, size_t cap) {
    char name[KV__HTTP_MAX_NAME], q[64];
    bool v6;
    if (!host || !*host)
        return 0; // HTTP/1.0 without one, or an empty one: no name to rebind
    if (!split_authority(host, name, sizeof name, &v6)) {
        snprintf(msg, cap, "malformed Host header '%s'", printable(host, q, sizeof q));
        return 400;
    }
    unsigned char a[4];
    if (v6 || inet_pton(AF_INET, name, a) == 1) {
        if (address_allowed(g, name, v6))
            return 0;
    } else if (g->any_host || strcmp(name, "localhost") == 0 || ends_with(name, ".localhost") ||
               strcmp(name, g->bind_name) == 0 || (g->hostname[0] && !strcmp(name, g->hostname))) {
        return 0;
    } else {
        for (int i = 0; i < g->n_hosts; i++) {
            const char *h = g->hosts[i];
            bool domain = h[0] == '.' && (ends_with(name, h) || strcmp(name, h + 1) == 0);
            if (domain || strcmp(name, h) == 0)
                return 0;
        }
    }
    snprintf(msg, cap,
             "Host '%s' is not allowed: this server answers to localhost and its own "
             "addresses (see --allowed-hosts)",
             printable(host, q, sizeof q));
    return 403;
}

// ---- Origin ----

bool kv__http_glob(const char *p, const char *s) {
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p && tolower((unsigned char)*p) == tolower((unsigned char)*s)) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

// Whether origin is "null" or scheme://authority with nothing else.
static bool origin_wellformed(const char *o) {
    if (strcmp(o, "null") == 0)
        return true;
    if (strlen(o) > MAX_ORIGIN_LEN || !isalpha((unsigned char)o[0]))
        return false;
    const char *p = o;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (strncmp(p, "://", 3) != 0)
        return false;
    p += 3;
    if (!*p)
        return true; // file:// and the like
    char name[KV__HTTP_MAX_NAME];
    bool v6;
    return split_authority(p, name, sizeof name, &v6);
}

bool kv__http_origin_allowed(const kv__http_guard *g, const char *origin, const char *host) {
    if (!origin)
        return true;
    if (g->any_origin)
        return true;
    if (!origin_wellformed(origin))
        return false;
    if (host && *host) {
        // the same origin as the page the server itself served (plain or behind TLS)
        const char *rest = NULL;
        if (strncasecmp(origin, "http://", 7) == 0)
            rest = origin + 7;
        else if (strncasecmp(origin, "https://", 8) == 0)
            rest = origin + 8;
        if (rest && strcasecmp(rest, host) == 0)
            return true;
    }
    for (size_t i = 0; i < sizeof DEFAULT_ORIGINS / sizeof DEFAULT_ORIGINS[0]; i++)
        if (kv__http_glob(DEFAULT_ORIGINS[i], origin))
            return true;
    for (int i = 0; i < g->n_origins; i++)
        if (kv__http_glob(g->origins[i], origin))
            return true;
    return false;
}

unsigned kv__http_origin_check(const kv__http_guard *g, const char *origin, const char *host,
                               char *msg, size_t cap) {
    if (kv__http_origin_allowed(g, origin, host))
        return 0;
    char q[96];
    snprintf(msg, cap, "Origin '%s' is not allowed (see --origins)",
             printable(origin, q, sizeof q));
    return 403;
}

bool kv__http_token_list(const char *s) {
    size_t n = 0;
    for (; *s; s++, n++) {
        char c = *s;
        if (n >= 1024 || !(isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~, ", c)))
            return false;
    }
    return true;
}
