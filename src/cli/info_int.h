// Internal to kvant info: one printer per kind of input.
#ifndef KV_CLI_INFO_INT_H
#define KV_CLI_INFO_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

typedef struct {
    bool json;    // fill root instead of printing text
    bool tensors; // include the tensor table
} kv__info_opts;

// Each prints text to stdout, or fills root (a JSON object) when o->json.
kv_status kv__info_gguf(const char *path, const kv__info_opts *o, json_t *root, kv_err *err);
kv_status kv__info_safetensors(const char *path, const kv__info_opts *o, json_t *root,
                               kv_err *err);
kv_status kv__info_llama2c(const char *path, const kv__info_opts *o, json_t *root, kv_err *err);
// ONNX: validation problems fail it (KV_ERR_FORMAT) after the summary is out.
kv_status kv__info_onnx(const char *path, const kv__info_opts *o, json_t *root, kv_err *err);
kv_status kv__info_hf(const char *dir, const kv__info_opts *o, json_t *root, kv_err *err);

// "256 x 4096" (or "scalar") into buf.
void kv__info_shape(char *buf, size_t cap, int n_dims, const int64_t *dims);
// Parameters, sizes and bits per weight, as text or JSON fields of root.
void kv__info_totals(json_t *root, bool as_json, uint64_t n_params, uint64_t data_bytes,
                     uint64_t file_bytes);

#endif
