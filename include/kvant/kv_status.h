// Status codes and error messages shared by every kvant function that can fail.
// A function returns a kv_status and, when it fails, fills the caller's kv_err
// (which may be NULL) with one sentence naming the file, field or offset.
#ifndef KV_STATUS_H
#define KV_STATUS_H

typedef enum {
    KV_OK = 0,
    KV_ERR_IO,          // open/read/write/mmap failed; message includes strerror(errno)
    KV_ERR_NOMEM,       // an allocation failed
    KV_ERR_INVALID,     // the caller passed a bad argument
    KV_ERR_FORMAT,      // not what it claims to be: magic, version, type id, missing field
    KV_ERR_TRUNCATED,   // ends before the data it declares
    KV_ERR_UNSUPPORTED, // valid, but kvant does not handle it (architecture, quant type)
    KV_ERR_LIMIT,       // over a configured cap (string length, tensor count, body size)
    KV_ERR_NOT_FOUND,   // a named thing (a stored model, a blob) does not exist
} kv_status;

#define KV_ERR_MSG_SIZE 512

typedef struct {
    kv_status status;
    char msg[KV_ERR_MSG_SIZE];
} kv_err;

// Short lower-case name of a status ("truncated", "io error", ...). Never NULL.
const char *kv_status_str(kv_status s);

// Records status s and a printf-style message in err (when err is not NULL) and
// returns s. Use through KV_FAIL so debug builds can note where it happened.
kv_status kv__fail(kv_err *err, kv_status s, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

#define KV_FAIL(err, st, ...) kv__fail((err), (st), __FILE__, __LINE__, __VA_ARGS__)

// Evaluates expr (a kv_status) and returns it from the enclosing function when it
// is not KV_OK.
#define KV_TRY(expr)                                                                           \
    do {                                                                                       \
        kv_status kv_try_st_ = (expr);                                                         \
        if (kv_try_st_ != KV_OK)                                                               \
            return kv_try_st_;                                                                 \
    } while (0)

// Clears err to KV_OK with an empty message (err may be NULL).
void kv_err_clear(kv_err *err);

// Prefixes err's message with "prefix: " (used to add a file name to an inner error).
void kv_err_prefix(kv_err *err, const char *prefix);

#endif
