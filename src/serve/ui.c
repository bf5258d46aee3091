// The web chat page: static files from src/serve/ui/, compiled into the binary
// (cmake/embed_files.cmake), served at /ui and /ui/{name}.
#include "serve/api_int.h"
#include "serve/buf_int.h"
#include "serve/call_int.h"
#include "serve/ui_int.h"

#include <string.h>

static const char *content_type(const char *name) {
    static const struct {
        const char *ext;
        const char *type;
    } TYPES[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
    };
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
        size_t k = strlen(TYPES[i].ext);
        if (n > k && strcmp(name + n - k, TYPES[i].ext) == 0)
            return TYPES[i].type;
    }
    return "application/octet-stream";
}

kv_status kv__h_ui(kv__call *c, kv_err *err) {
    const char *name = c->arg && *c->arg ? c->arg : "index.html";
    for (const kv__serve_file *f = kv__serve_files; f->name; f++) {
        if (strcmp(f->name, name) != 0)
            continue;
        c->ctype = content_type(f->name);
        return kv__buf_add(&c->out, f->data, f->size, err);
    }
    c->status = 404;
    return KV_FAIL(err, KV_ERR_INVALID, "no file '%.100s' in the web page", name);
}
