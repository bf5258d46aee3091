// jansson helpers for the formats module: type names and file loading with
// line/column errors. Everything else about JSON is done by jansson itself.
#include "formats/json_int.h"

#include <stdlib.h>

#include "kvant/kv_core.h"

const char *kv__json_type_name(const json_t *v) {
    if (!v)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

kv_status kv__json_load_mem(const void *data, size_t n, const char *what, size_t flags,
                            json_t **out, kv_err *err) {
    json_error_t je;
    *out = json_loadb((const char *)data, n, flags, &je);
    if (!*out)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: invalid JSON: %s at line %d, column %d", what,
                       je.text, je.line, je.column);
    return KV_OK;
}

kv_status kv__json_load_file(const char *path, size_t max_size, size_t flags, json_t **out,
                             kv_err *err) {
    *out = NULL;
    char *buf = NULL;
    size_t n = 0;
    kv_status st = kv_read_file(path, max_size, &buf, &n, err);
    if (st != KV_OK)
        return st;
    st = kv__json_load_mem(buf, n, path, flags, out, err);
    free(buf);
    return st;
}
