// jansson helpers for the formats module: type names and file loading with
// line/column errors. Everything else about JSON is done by jansson itself.
#include "formats/json_int.h"

#include <stdlib.h>
#include <string.h>

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

// Whether the integer literal s[0..n) ([-]digits) is outside jansson's json_int_t.
static bool int_too_big(const char *s, size_t n) {
    bool neg = s[0] == '-';
    size_t i = neg, digits = n - i;
    while (digits > 1 && s[i] == '0') { // leading zeros are invalid JSON anyway
        i++;
        digits--;
    }
    const char *lim = neg ? "9223372036854775808" : "9223372036854775807";
    return digits > 19 || (digits == 19 && memcmp(s + i, lim, 19) > 0);
}

// A copy of JSON text with ".0" after every integer literal too big for json_int_t
// (outside strings), so jansson reads it as a real; NULL when out of memory.
static char *widen_big_ints(const char *t, size_t n, size_t *n_out) {
    size_t extra = 0;
    bool in_str = false;
    for (int pass = 0; pass < 2; pass++) {
        char *out = pass ? malloc(n + extra + 1) : NULL;
        if (pass && !out)
            return NULL;
        size_t j = 0;
        in_str = false;
        for (size_t i = 0; i < n;) {
            char c = t[i];
            bool starts = !in_str && (c == '-' || (c >= '0' && c <= '9')) &&
                          (i == 0 || !(t[i - 1] == '.' || t[i - 1] == 'e' || t[i - 1] == 'E' ||
                                       t[i - 1] == '+' || t[i - 1] == '-' ||
                                       (t[i - 1] >= '0' && t[i - 1] <= '9')));
            if (!starts) {
                if (c == '"' && !in_str)
                    in_str = true;
                else if (c == '"')
                    in_str = false;
                else if (c == '\\' && in_str && i + 1 < n) {
                    if (out)
                        out[j] = c;
                    j++;
                    c = t[++i];
                }
                if (out)
                    out[j] = c;
                j++;
                i++;
                continue;
            }
            size_t k = i + (c == '-');
            while (k < n && t[k] >= '0' && t[k] <= '9')
                k++;
            bool plain = k == n || (t[k] != '.' && t[k] != 'e' && t[k] != 'E');
            bool widen = plain && k > i + (c == '-') && int_too_big(t + i, k - i);
            if (out) {
                memcpy(out + j, t + i, k - i);
                if (widen)
                    memcpy(out + j + (k - i), ".0", 2);
            }
            j += k - i + (widen ? 2 : 0);
            extra += !pass && widen ? 2 : 0;
            i = k;
        }
        if (pass) {
            out[j] = '\0';
            *n_out = j;
            return out;
        }
    }
    return NULL;
}

kv_status kv__json_load_mem(const void *data, size_t n, const char *what, size_t flags,
                            json_t **out, kv_err *err) {
    json_error_t je;
    char *wide = NULL;
    if (flags & KV_JSON_BIG_INT_AS_REAL) {
        flags &= ~(size_t)KV_JSON_BIG_INT_AS_REAL;
        wide = widen_big_ints((const char *)data, n, &n);
        if (!wide)
            return KV_FAIL(err, KV_ERR_NOMEM, "%s: no memory to parse JSON", what);
        data = wide;
    }
    *out = json_loadb((const char *)data, n, flags, &je);
    free(wide);
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
