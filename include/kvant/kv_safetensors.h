// safetensors checkpoints, single-file or sharded, read by mmap.
// File layout: u64 header_size (little-endian), header_size bytes of JSON
//   { "NAME": {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [begin, end]}, ...,
//     "__metadata__": {"k": "v"} }
// then the data; offsets are relative to the end of the header. Shapes are
// row-major, outermost dimension first (the reverse of GGUF's ne order).
#ifndef KV_SAFETENSORS_H
#define KV_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

#define KV_ST_MAX_DIMS 8
#define KV_ST_MAX_HEADER ((size_t)100 << 20) // bytes of JSON header
#define KV_ST_MAX_TENSORS 1000000
#define KV_ST_MAX_SHARDS 4096
#define KV_ST_MAX_NAME 4096

typedef enum {
    KV_ST_BOOL,
    KV_ST_U8,
    KV_ST_I8,
    KV_ST_U16,
    KV_ST_I16,
    KV_ST_U32,
    KV_ST_I32,
    KV_ST_U64,
    KV_ST_I64,
    KV_ST_F16,
    KV_ST_BF16,
    KV_ST_F32,
    KV_ST_F64,
    KV_ST_F8_E4M3,
    KV_ST_F8_E5M2,
    KV_ST_DTYPE_COUNT,
} kv_st_dtype;

// "BF16", "F32", ... (the strings safetensors uses).
const char *kv_st_dtype_name(kv_st_dtype d);
size_t kv_st_dtype_size(kv_st_dtype d);

typedef struct {
    const char *name;     // NUL-terminated, owned by the kv_safetensors
    kv_st_dtype dtype;
    int n_dims;           // 0 for a scalar
    int64_t shape[KV_ST_MAX_DIMS]; // outermost first, as in the file
    int64_t n_elements;
    const void *data;     // in the mapping of its shard; may be unaligned
    size_t size;          // bytes
    const char *file;     // path of the shard holding it
} kv_st_tensor;

typedef struct kv_safetensors kv_safetensors;

// Opens a checkpoint. path may be a .safetensors file, a
// model.safetensors.index.json (every shard it names is opened), or a directory
// holding either. Each header is checked: valid JSON, known dtypes, shapes whose
// byte size equals data_offsets' span, spans inside the file, no overlaps,
// no duplicate names across shards. On failure *out is NULL and err names the
// file and the tensor or field.
kv_status kv_safetensors_open(const char *path, kv_safetensors **out, kv_err *err);
// One file's bytes already in memory (borrowed), for fuzzing and tests.
kv_status kv_safetensors_open_mem(const void *data, size_t size, const char *name,
                                  kv_safetensors **out, kv_err *err);
void kv_safetensors_close(kv_safetensors *st);

// Tensors in file order (shards in the order of their file names). Borrowed
// pointers are valid until kv_safetensors_close; reading is thread-safe.
int64_t kv_safetensors_count(const kv_safetensors *st);
const kv_st_tensor *kv_safetensors_at(const kv_safetensors *st, int64_t i);
int64_t kv_safetensors_find(const kv_safetensors *st, const char *name); // -1 if absent
int kv_safetensors_shard_count(const kv_safetensors *st);
// Value of a "__metadata__" entry in the first shard, or NULL.
const char *kv_safetensors_meta(const kv_safetensors *st, const char *key);

// Converts n elements of a float tensor (F32, F16, BF16, F64) starting at element
// `first` to F32. Fails with KV_ERR_UNSUPPORTED for other dtypes and
// KV_ERR_INVALID when [first, first + n) is not inside the tensor.
kv_status kv_safetensors_read_f32(const kv_st_tensor *t, int64_t first, int64_t n, float *out,
                                  kv_err *err);

// Writing a single-file checkpoint, streamed: declare every tensor (name, dtype,
// shape), begin (writes the header, with "__metadata__": {"format": format} when
// format is not NULL), then write each tensor's bytes in declaration order, then
// finish. The file goes to a temporary name renamed by finish; free without
// finish removes it.
typedef struct kv_st_writer kv_st_writer;
kv_status kv_st_writer_new(kv_st_writer **out, kv_err *err);
kv_status kv_st_writer_add(kv_st_writer *w, const char *name, kv_st_dtype dtype, int n_dims,
                           const int64_t *shape, kv_err *err);
kv_status kv_st_writer_begin(kv_st_writer *w, const char *path, const char *format, kv_err *err);
kv_status kv_st_writer_write(kv_st_writer *w, const void *data, size_t n, kv_err *err);
kv_status kv_st_writer_finish(kv_st_writer *w, kv_err *err);
uint64_t kv_st_writer_data_size(const kv_st_writer *w); // bytes of tensor data declared
void kv_st_writer_free(kv_st_writer *w);

#endif
