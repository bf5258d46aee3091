// ONNX model files (.onnx), parsed with protobuf-c from Debian's onnx.proto into
// a plain summary: opsets, producer, graph inputs/outputs with types and shapes,
// an op histogram, initializer totals by data type, external data files, and the
// problems a validation pass found (dangling node inputs, domains without an
// opset_import, an empty graph, missing external files).
#ifndef KV_ONNX_H
#define KV_ONNX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

// The largest .onnx file kvant reads (protobuf itself caps a message at 2 GiB;
// bigger models keep their weights in external data files).
#define KV_ONNX_MAX_FILE ((size_t)4 << 30)
// Deepest nesting of messages (graphs in attributes in nodes in graphs...) accepted.
#define KV_ONNX_MAX_DEPTH 64

typedef struct {
    int64_t value; // when param is NULL
    char *param;   // symbolic dimension name, or "?" when the dimension is unset
} kv_onnx_dim;

typedef struct {
    char *name;
    char *type;      // "float", "int64", "seq(float)", "map(string,float)", "?" ...
    int n_dims;      // -1 when the shape is unknown
    kv_onnx_dim *dims;
} kv_onnx_value;

typedef struct {
    char *domain; // "" for the default ai.onnx domain
    int64_t version;
} kv_onnx_opset;

typedef struct {
    char *op; // "domain:op_type", domain "" for ai.onnx ("":Add is written ":Add")
    int64_t count;
} kv_onnx_op_count;

typedef struct {
    char *dtype; // "float", "float16", ...
    int64_t count;
    uint64_t bytes;
} kv_onnx_dtype_stat;

typedef struct {
    char *location; // as written in the model, relative to its folder
    int64_t n_tensors;
    uint64_t bytes;     // bytes the tensors declare (length, or their size)
    int64_t file_bytes; // size on disk, -1 when missing or not checked
} kv_onnx_external;

typedef struct {
    int64_t ir_version, model_version;
    char *producer_name, *producer_version, *domain, *graph_name;
    int n_opsets, n_inputs, n_outputs, n_ops, n_dtypes, n_externals, n_custom_domains;
    kv_onnx_opset *opsets;
    kv_onnx_value *inputs, *outputs; // graph inputs include initializers in old IRs
    int64_t n_nodes, n_functions;
    kv_onnx_op_count *ops;      // sorted by op name
    int64_t n_initializers;     // dense and sparse
    uint64_t initializer_bytes; // total of dtypes[].bytes
    kv_onnx_dtype_stat *dtypes; // sorted by dtype name
    kv_onnx_external *externals;
    char **custom_domains; // domains other than ai.onnx, ai.onnx.ml, ai.onnx.training...
    int n_problems;
    char **problems; // validation errors, one sentence each
} kv_onnx_info;

// Parses a serialized ModelProto. name names it in messages. Validation problems
// do not fail the parse: they are listed in (*out)->problems. On success *out is
// owned by the caller (kv_onnx_info_free).
kv_status kv_onnx_info_parse(const void *data, size_t size, const char *name,
                             kv_onnx_info **out, kv_err *err);
// Reads a file (at most KV_ONNX_MAX_FILE bytes), parses it and checks that its
// external data files exist beside it (a missing one is a problem).
kv_status kv_onnx_info_load(const char *path, kv_onnx_info **out, kv_err *err);
void kv_onnx_info_free(kv_onnx_info *info);

#endif
