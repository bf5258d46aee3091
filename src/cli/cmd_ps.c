// kvant ps: the models a running server has loaded (its GET /api/ps), as
// `ollama ps` prints them. The server is --host, else $KVANT_HOST, else
// $OLLAMA_HOST ([http://]HOST[:PORT], Ollama's form), else 127.0.0.1:11434.
#define _POSIX_C_SOURCE 200809L // getaddrinfo, strndup
#define _DEFAULT_SOURCE         // timegm
#include "cli/cli.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PS_REPLY_MAX ((size_t)4 << 20) // bytes of a reply read at most
#define PS_TIMEOUT_S 30

static const char PS_USAGE[] =
    "usage: kvant ps [--host [http://]HOST[:PORT]] [--api-key KEY]\n"
    "Lists the models a running kvant (or Ollama) server has loaded: name, ID,\n"
    "size, processor and until when it stays loaded (GET /api/ps).\n"
    "  --host ADDR     the server (default $KVANT_HOST, else $OLLAMA_HOST, else\n"
    "                  127.0.0.1:11434); https is not spoken\n"
    "  --api-key KEY   sent as 'Authorization: Bearer KEY' (default $KVANT_API_KEY);\n"
    "                  a keyed server needs a viewer key or better\n";

// Splits [http://]HOST[:PORT][/] (HOST may be [v6]) into host and port.
static int split_addr(const char *addr, char *host, size_t hcap, char *port, size_t pcap) {
    if (strncmp(addr, "http://", 7) == 0)
        addr += 7;
    else if (strstr(addr, "://"))
        return kv_cli_usage_error("ps", "--host '%s': only http:// is spoken", addr);
    size_t n = strcspn(addr, "/");
    const char *colon = NULL;
    const char *h = addr;
    size_t hl;
    if (*addr == '[') {
        const char *close = memchr(addr, ']', n);
        if (!close)
            return kv_cli_usage_error("ps", "--host '%s': no ']' after '['", addr);
        h = addr + 1;
        hl = (size_t)(close - h);
        if (close[1] == ':')
            colon = close + 1;
    } else {
        colon = memchr(addr, ':', n);
        hl = colon ? (size_t)(colon - addr) : n;
    }
    size_t pl = colon ? n - (size_t)(colon + 1 - addr) : 0;
    if (hl == 0)
        h = "127.0.0.1", hl = 9;
    if (hl >= hcap || pl >= pcap)
        return kv_cli_usage_error("ps", "--host '%.80s' is too long", addr);
    memcpy(host, h, hl);
    host[hl] = 0;
    if (pl) {
        memcpy(port, colon + 1, pl);
        port[pl] = 0;
    } else {
        snprintf(port, pcap, "11434");
    }
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return kv_cli_usage_error("ps", "--host: port '%s' is not a number", port);
    return 0;
}

// GET path from host:port; the reply's status and body (malloc'ed) on success.
static int http_get(const char *host, const char *port, const char *path, const char *key,
                    int *status, char **body) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "kvant ps: %s: %s\n", host, gai_strerror(rc));
        return 1;
    }
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {.tv_sec = PS_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        fprintf(stderr, "kvant ps: cannot reach a server at %s:%s: %s\n", host, port,
                strerror(errno));
        return 1;
    }
    char req[1024];
    bool v6 = strchr(host, ':') != NULL;
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.0\r\nHost: %s%s%s:%s\r\nAccept: application/json\r\n", path,
                     v6 ? "[" : "", host, v6 ? "]" : "", port);
    if (key && *key)
        n += snprintf(req + n, sizeof req - (size_t)n, "Authorization: Bearer %s\r\n", key);
    n += snprintf(req + n, sizeof req - (size_t)n, "Connection: close\r\n\r\n");
    if (n >= (int)sizeof req) {
        close(fd);
        fprintf(stderr, "kvant ps: the API key is too long\n");
        return 1;
    }
    for (int off = 0; off < n;) {
        ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "kvant ps: sending to %s:%s: %s\n", host, port, strerror(errno));
            close(fd);
            return 1;
        }
        off += (int)w;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    for (bool more = buf != NULL; more;) {
        if (len == cap) {
            if (cap >= PS_REPLY_MAX) {
                fprintf(stderr, "kvant ps: the reply has more than %zu bytes\n", PS_REPLY_MAX);
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "kvant ps: reading from %s:%s: %s\n", host, port, strerror(errno));
            free(buf);
            buf = NULL;
        }
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf)
        return 1;
    buf[len] = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/%*d.%*d %d", status) != 1 || !sep) {
        fprintf(stderr, "kvant ps: %s:%s did not answer in HTTP\n", host, port);
        free(buf);
        return 1;
    }
    *body = strdup(sep + 4);
    free(buf);
    return *body ? 0 : 1;
}

static void human_size(double b, char *out, size_t cap) {
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000 && i < 4)
        b /= 1000, i++;
    snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

// An RFC 3339 time (as Ollama writes it: fraction and zone optional) as "N
// minutes from now", "Forever" past 100 years, or the text as it is.
static void until_text(const char *s, char *out, size_t cap) {
    struct tm tm = {0};
    int used = 0;
    if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6) {
        snprintf(out, cap, "%s", s ? s : "");
        return;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    double t = (double)timegm(&tm);
    const char *z = s + used;
    if (*z == '.')
        for (z++; *z >= '0' && *z <= '9'; z++) {
        }
    int zh, zm;
    if ((*z == '+' || *z == '-') && sscanf(z + 1, "%d:%d", &zh, &zm) == 2)
        t -= (*z == '+' ? 1 : -1) * (zh * 3600.0 + zm * 60.0);
    double left = t - (double)time(NULL);
    if (left > 100 * 365.25 * 86400)
        snprintf(out, cap, "Forever");
    else if (left < 1)
        snprintf(out, cap, "Stopping...");
    else if (left < 60)
        snprintf(out, cap, "%d seconds from now", (int)left);
    else if (left < 2 * 3600)
        snprintf(out, cap, "%d minute%s from now", (int)(left / 60), left < 120 ? "" : "s");
    else if (left < 2 * 86400)
        snprintf(out, cap, "%d hours from now", (int)(left / 3600));
    else
        snprintf(out, cap, "%d days from now", (int)(left / 86400));
}

int kv_cli_ps(int argc, char **argv) {
    const char *addr = getenv("KVANT_HOST");
    if (!addr || !*addr)
        addr = getenv("OLLAMA_HOST");
    if (!addr || !*addr)
        addr = "127.0.0.1:11434";
    const char *key = getenv("KVANT_API_KEY");
    for (int i = 1; i < argc; i++) {
        if (kv_cli_is_help(argv[i])) {
            printf("%s", PS_USAGE);
            return 0;
        }
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
            addr = argv[++i];
        else if (strcmp(argv[i], "--api-key") == 0 && i + 1 < argc)
            key = argv[++i];
        else
            return kv_cli_usage_error("ps", "unexpected argument '%s'", argv[i]);
    }
    char host[256], port[16];
    if (split_addr(addr, host, sizeof host, port, sizeof port) != 0)
        return 2;
    int status = 0;
    char *body = NULL;
    if (http_get(host, port, "/api/ps", key, &status, &body) != 0)
        return 1;
    json_error_t je;
    json_t *root = json_loads(body, 0, &je);
    free(body);
    json_t *models = json_object_get(root, "models");
    if (status != 200 || !json_is_array(models)) {
        const char *msg = json_string_value(json_object_get(root, "error"));
        fprintf(stderr, "kvant ps: %s:%s answered %d%s%s\n", host, port, status,
                msg ? ": " : (status == 200 ? " without a model list" : ""), msg ? msg : "");
        json_decref(root);
        return 1;
    }
    printf("%-32s %-14s %-10s %-10s %s\n", "NAME", "ID", "SIZE", "PROCESSOR", "UNTIL");
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *dg = json_string_value(json_object_get(m, "digest"));
        json_t *js = json_object_get(m, "size"), *jv = json_object_get(m, "size_vram");
        double size = json_is_number(js) ? json_number_value(js) : 0;
        double vram = json_is_number(jv) ? json_number_value(jv) : 0;
        char sz[32], until[64], proc[32];
        human_size(size, sz, sizeof sz);
        until_text(json_string_value(json_object_get(m, "expires_at")), until, sizeof until);
        int gpu = size > 0 ? (int)(vram / size * 100 + 0.5) : 0;
        if (gpu <= 0)
            snprintf(proc, sizeof proc, "100%% CPU");
        else if (gpu >= 100)
            snprintf(proc, sizeof proc, "100%% GPU");
        else
            snprintf(proc, sizeof proc, "%d%%/%d%% CPU/GPU", 100 - gpu, gpu);
        printf("%-32s %-14.12s %-10s %-10s %s\n", name ? name : "?",
               dg ? (strncmp(dg, "sha256:", 7) == 0 ? dg + 7 : dg) : "", sz, proc, until);
    }
    json_decref(root);
    return 0;
}
