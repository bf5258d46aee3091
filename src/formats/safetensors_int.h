// Private to the safetensors reader: the checkpoint handle and the steps that
// build it (shards are added one by one, then kv__st_finish indexes the names).
#ifndef KV_SAFETENSORS_INT_H
#define KV_SAFETENSORS_INT_H

#include <jansson.h>

#include "kvant/kv_core.h"
#include "kvant/kv_safetensors.h"

typedef struct {
    kv_map map;           // zeroed when the bytes are borrowed
    const uint8_t *bytes; // the whole file
    size_t size;
    char *path;           // owned; kv_st_tensor.file points here
} kv_st_shard;

struct kv_safetensors {
    kv_st_shard *shards; // fixed capacity, set by kv__st_new
    int n_shards, cap_shards;
    kv_st_tensor *tensors;
    int64_t n_tensors, cap_tensors;
    int64_t *slots; // open-addressing name index: tensor index + 1, 0 when empty
    size_t n_slots;
    json_t *meta;   // "__metadata__" of the first shard, or NULL
};

// An empty checkpoint with room for cap_shards shards; NULL when out of memory.
kv_safetensors *kv__st_new(int cap_shards);
// Maps the file at path and parses its header into st.
kv_status kv__st_add_file(kv_safetensors *st, const char *path, kv_err *err);
// Parses a header over borrowed bytes; name is used in messages and as the file.
kv_status kv__st_add_mem(kv_safetensors *st, const void *data, size_t size, const char *name,
                         kv_err *err);
// Builds the name index; fails on a name found in two shards.
kv_status kv__st_finish(kv_safetensors *st, kv_err *err);
// Opens a model.safetensors.index.json and every shard it names.
kv_status kv__st_open_index(const char *path, kv_safetensors **out, kv_err *err);

#endif
