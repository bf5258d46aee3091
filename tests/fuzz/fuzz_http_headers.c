// libFuzzer harness for the HTTP request guard (src/serve/http_guard.c) over
// request headers as they arrive: the first byte picks HTTP/1.0 or 1.1 and the
// address the server is bound to; the rest is a header block, "Name: value"
// lines, split as libmicrohttpd splits them. X-Origins and X-Hosts lines, when
// present, become --origins and --allowed-hosts. Every check must answer
// without crashing, with a status it documents and a printable message; and
// without extra origins or hosts, a name under the ".evil" domain is never an
// allowed Host, nor an http(s) Origin there allowed unless it is the Host's own.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve/http_guard_int.h"

#define MAX_HEADERS 64

static void check_msg(const char *msg) {
    if (!*msg)
        __builtin_trap(); // a refusal says why
    for (const char *p = msg; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            __builtin_trap(); // only printable ASCII of the input is quoted
}

// Whether the name part of authority a ("name[:port]", no brackets) is under .evil.
static bool evil_name(const char *a) {
    if (a[0] == '[')
        return false;
    size_t n = strcspn(a, ":/");
    if (n > 0 && a[n - 1] == '.')
        n--;
    return n >= 5 && strncasecmp(a + n - 5, ".evil", 5) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    static const char *const BINDS[] = {"127.0.0.1", "0.0.0.0", "192.168.1.5", "kvant.lan"};
    bool http11 = data[0] & 1;
    const char *bind = BINDS[(data[0] >> 1) & 3];
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';

    // split into lines and "name: value", trimming the value as libmicrohttpd does
    const char *names[MAX_HEADERS], *values[MAX_HEADERS];
    int n = 0;
    const char *origins = NULL, *hosts = NULL, *want = NULL;
    for (char *line = text; line && n < MAX_HEADERS;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        char *colon = strchr(line, ':');
        if (colon && colon != line) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            char *e = v + strlen(v);
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                *--e = '\0';
            names[n] = line;
            values[n++] = v;
            if (strcasecmp(line, "X-Origins") == 0)
                origins = v;
            else if (strcasecmp(line, "X-Hosts") == 0)
                hosts = v;
            else if (strcasecmp(line, "Access-Control-Request-Headers") == 0)
                want = v;
        }
        line = next;
    }

    kv__http_guard g;
    kv_err err;
    if (kv__http_guard_init(&g, bind, origins, hosts, "mybox", &err) != KV_OK) {
        check_msg(err.msg);
        kv__http_guard_free(&g);
        free(text);
        return 0;
    }
    kv__http_hdrs h = {0};
    for (int i = 0; i < n; i++)
        kv__http_hdrs_add(&h, names[i], values[i]);

    char msg[256] = "";
    uint64_t len = 0;
    unsigned st = kv__http_framing(&h, http11, &len, msg, sizeof msg);
    if (st != 0 && st != 400 && st != 501)
        __builtin_trap();
    if (st != 0)
        check_msg(msg);
    if (st == 0 && h.n_cl == 1 && len != strtoull(h.cl, NULL, 10))
        __builtin_trap(); // the length is the header's
    if (st == 0 && (h.n_cl > 1 || h.n_host > 1 || (h.n_cl && h.n_te) || (http11 && !h.n_host)))
        __builtin_trap(); // ambiguous framing never passes

    msg[0] = '\0';
    unsigned hs = kv__http_host_check(&g, h.host, msg, sizeof msg);
    if (hs != 0 && hs != 400 && hs != 403)
        __builtin_trap();
    if (hs != 0)
        check_msg(msg);
    bool plain = !origins && !hosts;
    if (plain && hs == 0 && h.host && evil_name(h.host))
        __builtin_trap(); // a rebinding name got through

    bool ok = kv__http_origin_allowed(&g, h.origin, h.host);
    msg[0] = '\0';
    unsigned os = kv__http_origin_check(&g, h.origin, h.host, msg, sizeof msg);
    if (os != (ok ? 0u : 403u))
        __builtin_trap(); // the status agrees with the answer
    if (os != 0)
        check_msg(msg);
    if (plain && ok && h.origin) {
        const char *rest = NULL;
        if (strncasecmp(h.origin, "http://", 7) == 0)
            rest = h.origin + 7;
        else if (strncasecmp(h.origin, "https://", 8) == 0)
            rest = h.origin + 8;
        if (rest && evil_name(rest) && !(h.host && strcasecmp(rest, h.host) == 0))
            __builtin_trap(); // another site's origin got through
    }

    if (want && kv__http_token_list(want) && strpbrk(want, "\r\n:;\"") != NULL)
        __builtin_trap(); // only plain lists are echoed
    if (n >= 2)
        (void)kv__http_glob(values[0], values[1]);
    kv__http_guard_free(&g);
    free(text);
    return 0;
}
