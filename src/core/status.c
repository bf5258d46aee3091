// kv_status names and the KV_FAIL message formatter.
#define _POSIX_C_SOURCE 200809L
#include "kvant/kv_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *kv_status_str(kv_status s) {
    switch (s) {
    case KV_OK: return "ok";
    case KV_ERR_IO: return "io error";
    case KV_ERR_NOMEM: return "out of memory";
    case KV_ERR_INVALID: return "invalid argument";
    case KV_ERR_FORMAT: return "format error";
    case KV_ERR_TRUNCATED: return "truncated";
    case KV_ERR_UNSUPPORTED: return "unsupported";
    case KV_ERR_LIMIT: return "over limit";
    case KV_ERR_NOT_FOUND: return "not found";
    }
    return "unknown status";
}

kv_status kv__fail(kv_err *err, kv_status s, const char *file, int line, const char *fmt, ...) {
    (void)file;
    (void)line;
    if (!err)
        return s;
    err->status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
#ifdef KV_DEBUG_ERRLOC
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, " [%s:%d]", file, line);
#endif
    return s;
}

void kv_err_clear(kv_err *err) {
    if (!err)
        return;
    err->status = KV_OK;
    err->msg[0] = '\0';
}

void kv_err_prefix(kv_err *err, const char *prefix) {
    if (!err || !prefix)
        return;
    char tmp[KV_ERR_MSG_SIZE];
    size_t n = strlen(prefix);
    if (n > sizeof tmp - 3)
        n = sizeof tmp - 3;
    memcpy(tmp, prefix, n);
    tmp[n] = ':';
    tmp[n + 1] = ' ';
    size_t rest = sizeof tmp - (n + 2) - 1;
    size_t m = strnlen(err->msg, sizeof err->msg);
    if (m > rest)
        m = rest;
    memcpy(tmp + n + 2, err->msg, m);
    tmp[n + 2 + m] = '\0';
    memcpy(err->msg, tmp, sizeof tmp);
}
