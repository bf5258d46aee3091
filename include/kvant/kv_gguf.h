// GGUF v3 files: a bounded, mmap-based reader and a streaming writer.
// The layout is ggml's (little-endian):
//   "GGUF" u32 version(3) u64 n_tensors u64 n_kv
//   n_kv x { str key, u32 value_type, value }
//   n_tensors x { str name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to general.alignment (default 32), then tensor data; each tensor's
//   offset is relative to the data section and a multiple of the alignment.
// str = u64 length + bytes (no NUL); array value = u32 elem_type, u64 count, elems.
#ifndef KV_GGUF_H
#define KV_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_core.h"
#include "kvant/kv_status.h"
#include "kvant/kv_types.h"

// Named limits: anything over them is refused with KV_ERR_LIMIT before allocating.
#define KV_GGUF_MAX_KV ((uint64_t)1 << 20)       // key-value pairs
#define KV_GGUF_MAX_TENSORS ((uint64_t)1 << 20)  // tensors
#define KV_GGUF_MAX_KEY 65535                     // bytes in a key or tensor name
#define KV_GGUF_MAX_STR ((size_t)64 << 20)        // bytes in one string value
#define KV_GGUF_MAX_DEPTH 8                       // nesting of arrays of arrays
#define KV_GGUF_MAX_DIMS 4
#define KV_GGUF_MAX_TENSOR_NAME 63                // the writer's cap: llama.cpp keeps 64 bytes with NUL
#define KV_GGUF_DEFAULT_ALIGNMENT 32

typedef enum {
    KV_GGUF_U8 = 0,
    KV_GGUF_I8 = 1,
    KV_GGUF_U16 = 2,
    KV_GGUF_I16 = 3,
    KV_GGUF_U32 = 4,
    KV_GGUF_I32 = 5,
    KV_GGUF_F32 = 6,
    KV_GGUF_BOOL = 7,
    KV_GGUF_STRING = 8,
    KV_GGUF_ARRAY = 9,
    KV_GGUF_U64 = 10,
    KV_GGUF_I64 = 11,
    KV_GGUF_F64 = 12,
    KV_GGUF_TYPE_COUNT = 13,
} kv_gguf_vtype;

// Name of a value type ("u32", "string", "array", ...), "?" if unknown.
const char *kv_gguf_vtype_name(uint32_t t);
// Bytes of one scalar of type t (0 for string, array and unknown types).
size_t kv_gguf_vtype_size(uint32_t t);

// A string inside the mapped file: not NUL-terminated.
typedef struct {
    const char *p;
    size_t n;
} kv_str;

// A value inside the mapped file. For scalars `data` points at the bytes. For
// strings `str` holds it. For arrays: elem_type, n (element count) and `data`
// at the first element; string elements are reached with kv_gguf_arr_str and
// nested arrays with kv_gguf_arr_elem.
// `size` counts the bytes of the value after its type tag: for strings from the
// length field (which `data` points at), for arrays from elem_type (data - 12).
typedef struct {
    kv_gguf_vtype type;
    const uint8_t *data;
    size_t size;            // bytes the whole value takes in the file
    kv_str str;             // type == STRING
    kv_gguf_vtype elem_type; // type == ARRAY
    uint64_t n;             // type == ARRAY
    uint64_t table;         // internal: where the reader keeps this array's element offsets
} kv_gguf_val;

typedef struct {
    kv_str name;
    uint32_t type;          // kv_type id (checked to be known)
    uint32_t n_dims;
    int64_t ne[KV_GGUF_MAX_DIMS]; // ne[0] is the row length (fastest varying); unused dims are 1
    uint64_t offset;        // relative to the data section
    size_t size;            // bytes of data
    const void *data;       // in the mapping
} kv_gguf_tensor;

// A handle is read-only once open: any number of threads may read it at once.
// Every pointer it hands out (keys, values, strings, tensors, data) is valid
// until kv_gguf_close.
typedef struct kv_gguf kv_gguf;

// Opens a GGUF file and checks its header, key-values and tensor table against
// the file size and the named limits; tensor data is mapped, not copied.
// On success *out owns the mapping; release it with kv_gguf_close().
// On failure *out is NULL and err says what was wrong and where (file, field, offset).
kv_status kv_gguf_open(const char *path, kv_gguf **out, kv_err *err);
// Same, over bytes already in memory (borrowed; must outlive the handle); name
// (NULL: "<memory>") stands for the path in messages. For fuzzing and tests.
kv_status kv_gguf_open_mem(const void *data, size_t size, const char *name, kv_gguf **out,
                           kv_err *err);
void kv_gguf_close(kv_gguf *g);

const char *kv_gguf_path(const kv_gguf *g);
uint32_t kv_gguf_version(const kv_gguf *g);
size_t kv_gguf_alignment(const kv_gguf *g);
// File offset of the data section: the end of the tensor table rounded up to the
// alignment (for a file without tensors that stops short of that: the table's end).
size_t kv_gguf_data_offset(const kv_gguf *g);
size_t kv_gguf_file_size(const kv_gguf *g);

// ---- key-values ----
int64_t kv_gguf_kv_count(const kv_gguf *g);
// Key and value of pair i in file order; an empty key and NULL outside 0..count-1.
kv_str kv_gguf_kv_key(const kv_gguf *g, int64_t i);
const kv_gguf_val *kv_gguf_kv_val(const kv_gguf *g, int64_t i);
// Index of key, or -1 when absent.
int64_t kv_gguf_find(const kv_gguf *g, const char *key);

// Typed accessors: fail with KV_ERR_FORMAT when the key is missing ("missing key 'x'")
// or has another type ("key 'x' has type string, expected u32").
kv_status kv_gguf_get_u32(const kv_gguf *g, const char *key, uint32_t *v, kv_err *err);
kv_status kv_gguf_get_i32(const kv_gguf *g, const char *key, int32_t *v, kv_err *err);
kv_status kv_gguf_get_u64(const kv_gguf *g, const char *key, uint64_t *v, kv_err *err);
kv_status kv_gguf_get_f32(const kv_gguf *g, const char *key, float *v, kv_err *err);
kv_status kv_gguf_get_bool(const kv_gguf *g, const char *key, bool *v, kv_err *err);
kv_status kv_gguf_get_str(const kv_gguf *g, const char *key, kv_str *v, kv_err *err);
// An array whose elements have type elem (KV_GGUF_ARRAY values of any element type
// when elem is KV_GGUF_TYPE_COUNT).
kv_status kv_gguf_get_arr(const kv_gguf *g, const char *key, kv_gguf_vtype elem,
                          const kv_gguf_val **v, kv_err *err);
// Integer of any integer type (u8..i64, bool) that fits an int64, for lenient reads of ids.
kv_status kv_gguf_get_int(const kv_gguf *g, const char *key, int64_t *v, kv_err *err);

// Element j of a string array, in O(1). KV_ERR_FORMAT when arr holds another
// element type, KV_ERR_INVALID when j >= arr->n or arr is not an array of g.
kv_status kv_gguf_arr_str(const kv_gguf *g, const kv_gguf_val *arr, uint64_t j, kv_str *out,
                          kv_err *err);
// Element j of an array of any type, as a value, in O(1); a nested array comes
// back as an ARRAY value to pass here again. KV_ERR_INVALID as for kv_gguf_arr_str.
kv_status kv_gguf_arr_elem(const kv_gguf *g, const kv_gguf_val *arr, uint64_t j,
                           kv_gguf_val *out, kv_err *err);

// ---- tensors ----
int64_t kv_gguf_tensor_count(const kv_gguf *g);
// Tensor i in table order, or NULL outside 0..count-1.
const kv_gguf_tensor *kv_gguf_tensor_at(const kv_gguf *g, int64_t i);
// Index of the tensor named name, or -1.
int64_t kv_gguf_find_tensor(const kv_gguf *g, const char *name);

// ---- writer ----
// Collect metadata and tensor descriptions, then kv_gguf_writer_begin writes the
// header to a temporary file next to path; tensors are then written one at a time
// in the order they were added, each padded to the alignment; kv_gguf_writer_finish
// renames the file into place. kv_gguf_writer_free removes an unfinished file.
// Misuse (a call out of order, too many bytes, a bad name or shape) fails with
// KV_ERR_INVALID and changes nothing; a failed write (KV_ERR_IO) leaves only
// kv_gguf_writer_free. A writer belongs to one thread at a time.

typedef struct kv_gguf_writer kv_gguf_writer;

kv_status kv_gguf_writer_new(kv_gguf_writer **out, kv_err *err);
void kv_gguf_writer_free(kv_gguf_writer *w);

// Setting a key that exists already replaces its value, keeping its position.
kv_status kv_gguf_set_u8(kv_gguf_writer *w, const char *key, uint8_t v, kv_err *err);
kv_status kv_gguf_set_i8(kv_gguf_writer *w, const char *key, int8_t v, kv_err *err);
kv_status kv_gguf_set_u16(kv_gguf_writer *w, const char *key, uint16_t v, kv_err *err);
kv_status kv_gguf_set_i16(kv_gguf_writer *w, const char *key, int16_t v, kv_err *err);
kv_status kv_gguf_set_u32(kv_gguf_writer *w, const char *key, uint32_t v, kv_err *err);
kv_status kv_gguf_set_i32(kv_gguf_writer *w, const char *key, int32_t v, kv_err *err);
kv_status kv_gguf_set_u64(kv_gguf_writer *w, const char *key, uint64_t v, kv_err *err);
kv_status kv_gguf_set_i64(kv_gguf_writer *w, const char *key, int64_t v, kv_err *err);
kv_status kv_gguf_set_f32(kv_gguf_writer *w, const char *key, float v, kv_err *err);
kv_status kv_gguf_set_f64(kv_gguf_writer *w, const char *key, double v, kv_err *err);
kv_status kv_gguf_set_bool(kv_gguf_writer *w, const char *key, bool v, kv_err *err);
kv_status kv_gguf_set_str(kv_gguf_writer *w, const char *key, const char *v, kv_err *err);
// Array of n fixed-size elements of type elem (not STRING/ARRAY), copied from data
// (host order is little-endian on every supported platform).
kv_status kv_gguf_set_arr(kv_gguf_writer *w, const char *key, kv_gguf_vtype elem,
                          const void *data, uint64_t n, kv_err *err);
kv_status kv_gguf_set_arr_str(kv_gguf_writer *w, const char *key, const char *const *strs,
                              uint64_t n, kv_err *err);
// Copies key-value i of a reader (any type, nested arrays too), under the same key.
kv_status kv_gguf_set_from(kv_gguf_writer *w, const kv_gguf *g, int64_t i, kv_err *err);
// Removes a key if present.
void kv_gguf_unset(kv_gguf_writer *w, const char *key);

// Declares the next tensor: type is a kv_type id, ne[0] the row length, n_dims in
// 1..4. Fails on a duplicate name, an unknown type or a row length that is not a
// multiple of the type's block size.
kv_status kv_gguf_add_tensor(kv_gguf_writer *w, const char *name, uint32_t type,
                             uint32_t n_dims, const int64_t *ne, kv_err *err);
int64_t kv_gguf_writer_tensor_count(const kv_gguf_writer *w);
// Bytes the data of declared tensor i takes.
size_t kv_gguf_writer_tensor_size(const kv_gguf_writer *w, int64_t i);
// Total bytes the file will have (header, metadata, padding, data, and the
// padding after the last tensor).
uint64_t kv_gguf_writer_file_size(const kv_gguf_writer *w);

// Writes header, metadata and tensor table to a temporary file beside path.
// Metadata and the tensor list are frozen from here on.
kv_status kv_gguf_writer_begin(kv_gguf_writer *w, const char *path, kv_err *err);
// Writes the data of the next tensor (in declaration order); size must equal its size.
// The data may be written in several pieces: call with the pieces in order, and
// the padding is added once the tensor is complete.
kv_status kv_gguf_writer_write(kv_gguf_writer *w, const void *data, size_t size, kv_err *err);
// Checks that every tensor was written, then syncs and renames the file into place.
kv_status kv_gguf_writer_finish(kv_gguf_writer *w, kv_err *err);

#endif
