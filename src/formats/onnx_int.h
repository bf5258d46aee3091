// Internal to the ONNX reader: the pieces of onnx.c and onnx_check.c.
#ifndef KV_FORMATS_ONNX_INT_H
#define KV_FORMATS_ONNX_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_onnx.h"
#include "onnx.pb-c.h"

// Whether the wire bytes nest messages (as onnx.proto's descriptors say) no
// deeper than max_depth. protobuf-c's unpack recurses without a bound, so
// hostile nesting is refused before it is unpacked. Malformed bytes pass: the
// unpack rejects them.
bool kv__onnx_depth_ok(const uint8_t *p, size_t n, const ProtobufCMessageDescriptor *d,
                       int max_depth);

// Appends a problem (printf-style) to info; false when out of memory.
bool kv__onnx_problem(kv_onnx_info *info, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// Validation of the top-level graph: empty graph, node inputs that name no graph
// input, initializer or earlier node output, node domains without an opset_import.
// False only when out of memory.
bool kv__onnx_check_graph(const Onnx__ModelProto *m, kv_onnx_info *info);

// A malloc'd copy (strdup is not C11).
static inline char *kv__onnx_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    return p ? memcpy(p, s, n) : NULL;
}

// "" for NULL.
static inline const char *kv__onnx_s(const char *s) { return s ? s : ""; }

#endif
