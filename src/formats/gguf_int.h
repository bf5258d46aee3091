// GGUF internals shared by gguf_read.c, gguf_value.c, gguf_get.c, gguf_index.c and
// gguf_write.c: the reader's handle, the string-keyed index used for keys and
// tensor names, the value parser and message helpers. Nothing outside formats/ uses it.
#ifndef KV_GGUF_INT_H
#define KV_GGUF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_core.h"
#include "kvant/kv_gguf.h"

#define KV__GGUF_ARR_HDR 12 // u32 elem_type + u64 count, before an array's first element

// ---- string-keyed index (open addressing, no deletion) ----
// Maps keys to indexes 0..n-1 of the caller's table; the caller supplies the key
// of index i through key_of, so the index holds nothing but slot numbers.

typedef kv_str (*kv__gguf_key_fn)(const void *table, uint32_t i);

typedef struct {
    uint32_t *slots; // i + 1, or 0 for an empty slot
    size_t mask;     // number of slots - 1 (a power of two)
    kv__gguf_key_fn key_of;
    const void *table;
} kv__gguf_index;

// Sizes the index for up to n_max keys (KV_ERR_NOMEM when that fails).
kv_status kv__gguf_index_init(kv__gguf_index *ix, size_t n_max, kv__gguf_key_fn key_of,
                              const void *table, kv_err *err);
void kv__gguf_index_free(kv__gguf_index *ix);
// Number of keys the index can take without growing.
size_t kv__gguf_index_capacity(const kv__gguf_index *ix);
// Index of key, or -1.
int64_t kv__gguf_index_find(const kv__gguf_index *ix, kv_str key);
// Adds index i under key unless an equal key is present; returns the index that
// already holds the key, or -1 when i was added. The caller keeps within capacity.
int64_t kv__gguf_index_add(kv__gguf_index *ix, uint32_t i, kv_str key);

// ---- the reader's handle ----

typedef struct {
    kv_str key;
    size_t off; // file offset of the key's length field
    kv_gguf_val val;
} kv__gguf_kv;

// Element offset tables: for an array of strings, one slot per element holding
// the file offset of its length field; for an array of arrays, two slots per
// element: the file offset of its elem_type field and its own table's start.
typedef struct {
    uint64_t *v;
    size_t n;
    size_t cap;
} kv__gguf_tables;

struct kv_gguf {
    kv_map map; // zeroed when opened over memory
    const uint8_t *data;
    size_t size;
    char *path;
    uint32_t version;
    size_t alignment;
    size_t data_off;
    int64_t n_kv;
    kv__gguf_kv *kvs;
    int64_t n_tensors;
    kv_gguf_tensor *tensors;
    kv__gguf_tables tables;
    kv__gguf_index kv_index;
    kv__gguf_index tensor_index;
};

// ---- the writer's handle ----

typedef struct {
    char *key; // owned, NUL-terminated; key_n bytes (a key copied from a file may hold NULs)
    size_t key_n;
    uint32_t type;
    uint8_t *val; // owned: the value's bytes after its type tag
    size_t val_n;
} kv__gguf_wkv;

typedef struct {
    char *name; // owned, NUL-terminated
    size_t name_n;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[KV_GGUF_MAX_DIMS];
    size_t size;
} kv__gguf_wtensor;

typedef enum {
    KV__GGUF_W_COLLECT, // taking metadata and tensor declarations
    KV__GGUF_W_DATA,    // header written, taking tensor data
    KV__GGUF_W_DONE,    // renamed into place
    KV__GGUF_W_FAILED,  // a write failed; only kv_gguf_writer_free is left
} kv__gguf_wstate;

struct kv_gguf_writer {
    kv__gguf_wkv *kvs;
    int64_t n_kv;
    size_t cap_kv;
    kv__gguf_wtensor *tensors;
    int64_t n_tensors;
    size_t cap_tensors;
    kv__gguf_index kv_index;
    kv__gguf_index tensor_index;
    kv__gguf_wstate state;
    kv_out out;
    size_t alignment; // fixed by kv_gguf_writer_begin
    int64_t cur;      // tensor being written
    size_t cur_done;  // bytes of it written so far
};

// Alignment the file will use: general.alignment when it is a u32 power of two,
// else the default. KV_ERR_INVALID when general.alignment is set but unusable.
kv_status kv__gguf_writer_alignment(const kv_gguf_writer *w, size_t *align, kv_err *err);
// Bytes of header, metadata and tensor table before the padding.
uint64_t kv__gguf_writer_meta_size(const kv_gguf_writer *w);

// ---- values ----

// Parses one value of the given type at rd (after its type tag) into *out,
// checking every length against the bytes left and nesting against
// KV_GGUF_MAX_DEPTH (depth = arrays around this value). qkey is the quoted key
// for messages. Element tables of string arrays and arrays of arrays go to tables.
kv_status kv__gguf_parse_val(kv_rd *rd, uint32_t type, int depth, kv_gguf_val *out,
                             kv__gguf_tables *tables, const char *qkey, kv_err *err);

// The bytes of a value as stored after its type tag: [*p, *p + *n).
void kv__gguf_val_bytes(const kv_gguf_val *v, const uint8_t **p, size_t *n);

// ---- messages ----

#define KV__GGUF_QUOTE_SIZE 160

// Copies s into buf for a message: printable ASCII as is, other bytes as \xNN,
// cut with "..." when long. Returns buf.
const char *kv__gguf_quote(kv_str s, char buf[KV__GGUF_QUOTE_SIZE]);

// "u32", "string", or "array of u32" for arrays.
const char *kv__gguf_val_type_desc(const kv_gguf_val *v, char *buf, size_t cap);

#endif
