// Internal to the ONNX writer: a graph under construction (protobuf-c messages
// whose every allocation is kept in one list, freed at once) and the external
// data file its weights stream into, one tensor at a time.
#ifndef KV_ONNX_EXPORT_INT_H
#define KV_ONNX_EXPORT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_core.h"
#include "kvant/kv_status.h"
#include "onnx.pb-c.h"

// Initializers of at most this many bytes stay inside model.onnx; bigger ones go
// to the external data file.
#define KV__OX_INLINE_MAX 4096
// Offsets of external tensors are aligned to this many bytes (so a runtime can map them).
#define KV__OX_DATA_ALIGN 64

typedef struct {
    void **ptrs; // every allocation of the graph's messages
    size_t n_ptrs, cap_ptrs;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    Onnx__ValueInfoProto **inputs, **outputs;
    size_t n_inputs, cap_inputs, n_outputs, cap_outputs;
    int64_t n_tmp;       // generated value names
    bool oom;            // an allocation failed; every later call is a no-op
    kv_out *data;        // the external data file
    const char *data_name; // its name, as model.onnx refers to it
    kv_err *err;         // where a failed write is recorded
    bool io_failed;
} kv__ox;

// A dimension: a fixed size (param NULL) or a symbolic name.
typedef struct {
    int64_t v;
    const char *param;
} kv__ox_dim;

void *kv__ox_alloc(kv__ox *g, size_t n);             // zeroed; NULL (and g->oom) on failure
char *kv__ox_str(kv__ox *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kv__ox_free(kv__ox *g);

// A node op(in...) in domain ("" for ai.onnx) with n_out outputs named by the
// builder (the first is returned by kv__ox_out). in may hold "" for an omitted
// optional input.
Onnx__NodeProto *kv__ox_node(kv__ox *g, const char *domain, const char *op, int n_in,
                             const char *const *in, int n_out);
const char *kv__ox_out(const Onnx__NodeProto *n, int i); // "" when n is NULL
void kv__ox_rename_out(kv__ox *g, Onnx__NodeProto *n, int i, const char *name);
void kv__ox_attr_i(kv__ox *g, Onnx__NodeProto *n, const char *name, int64_t v);
void kv__ox_attr_f(kv__ox *g, Onnx__NodeProto *n, const char *name, float v);
void kv__ox_attr_is(kv__ox *g, Onnx__NodeProto *n, const char *name, int n_v, const int64_t *v);

// Initializers: raw little-endian bytes; inline when small, else appended to the
// external data file (streamed: the caller's buffer may be freed after the call).
// Returns the name.
const char *kv__ox_init(kv__ox *g, const char *name, int32_t dtype, int n_dims,
                        const int64_t *dims, const void *data, size_t bytes);
// A big initializer written in pieces: begin (pads; *off is where it starts),
// any number of writes, end (registers it with the bytes written since begin).
bool kv__ox_ext_begin(kv__ox *g, uint64_t *off);
bool kv__ox_ext_write(kv__ox *g, const void *p, size_t n);
const char *kv__ox_ext_end(kv__ox *g, const char *name, int32_t dtype, int n_dims,
                           const int64_t *dims, uint64_t off);
const char *kv__ox_const_i64(kv__ox *g, int n, const int64_t *v, bool scalar);
const char *kv__ox_const_f32(kv__ox *g, float v); // a scalar

void kv__ox_input(kv__ox *g, const char *name, int32_t dtype, int n_dims, const kv__ox_dim *dims);
void kv__ox_output(kv__ox *g, const char *name, int32_t dtype, int n_dims, const kv__ox_dim *dims);

// Packs the model (IR version, opsets ai.onnx and com.microsoft) into a malloc'd buffer.
// genai_config.json for the model m, written into dir (genai.c).
struct kv_model;
kv_status kv__onnx_genai_config(const struct kv_model *m, const char *dir, kv_err *err);

kv_status kv__ox_pack(kv__ox *g, const char *graph_name, int64_t ir_version, int64_t opset,
                      int64_t ms_opset, const char *producer_version, uint8_t **out,
                      size_t *size, kv_err *err);

#endif
