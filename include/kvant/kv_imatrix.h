// Importance matrices (llama.cpp's imatrix.dat, the legacy binary format written by
// llama-imatrix --output-format dat): per weight tensor, the mean squared activation
// of each input column, which guides the imatrix-aware quantizers.
// The newer GGUF-based imatrix files are recognised and refused (KV_ERR_UNSUPPORTED).
#ifndef KV_IMATRIX_H
#define KV_IMATRIX_H

#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

// Named limits: files over them are refused with KV_ERR_LIMIT.
#define KV_IMATRIX_MAX_ENTRIES 65536            // tensors
#define KV_IMATRIX_MAX_NAME 1024                // bytes in a tensor name
#define KV_IMATRIX_MAX_VALUES ((int32_t)1 << 26) // values in one entry
#define KV_IMATRIX_MAX_DATASET 65536            // bytes in the dataset file name

typedef struct kv_imatrix kv_imatrix;

// Reads an imatrix.dat file. Values are divided by the entry's call count when it
// is positive (left as stored otherwise), as llama-quantize does; when a name
// appears twice the later entry replaces the earlier one (llama-quantize's map).
// On success *out owns everything; release it with kv_imatrix_close(). On failure
// *out is NULL and err says what was wrong, naming the file, the entry and the
// offset: KV_ERR_IO (cannot read), KV_ERR_TRUNCATED, KV_ERR_FORMAT (negative or
// zero counts, bytes after the trailer), KV_ERR_LIMIT (over a limit above),
// KV_ERR_UNSUPPORTED (a GGUF imatrix). Thread-safe (no shared state).
kv_status kv_imatrix_open(const char *path, kv_imatrix **out, kv_err *err);
void kv_imatrix_close(kv_imatrix *im); // accepts NULL

// Number of distinct entries.
size_t kv_imatrix_count(const kv_imatrix *im);

// Name of entry i (< count), NUL-terminated, in file order of first appearance.
// Valid until kv_imatrix_close.
const char *kv_imatrix_name(const kv_imatrix *im, size_t i);

// Values of entry i (< count); *n (may be NULL) gets their number. Valid until close.
const float *kv_imatrix_values(const kv_imatrix *im, size_t i, size_t *n);

// Values of the entry named name (a GGUF tensor name such as "blk.0.attn_q.weight"),
// or NULL when there is none. *n (may be NULL) gets their number. Valid until close.
const float *kv_imatrix_find(const kv_imatrix *im, const char *name, size_t *n);

// The number of chunks the matrix was computed from, or -1 when the file does not say.
int32_t kv_imatrix_chunk_count(const kv_imatrix *im);

// The calibration file name recorded by llama-imatrix, or NULL when absent.
// Valid until close.
const char *kv_imatrix_dataset(const kv_imatrix *im);

// ---- writing ----

// One entry as the file stores it: values[j] / ncall is the mean squared input
// of column j (llama-imatrix stores sum / count * ncall).
typedef struct {
    const char *name;     // GGUF tensor name
    int32_t ncall;        // matrix products seen
    int32_t n;            // values
    const float *values;
} kv_imatrix_entry;

// Writes llama.cpp's imatrix.dat layout: i32 count; per entry i32 name length,
// name, i32 ncall, i32 n, f32 values[n]; then i32 chunk count, i32 length and the
// dataset name. Written to a temporary file and renamed into place.
kv_status kv_imatrix_save(const char *path, const kv_imatrix_entry *entries, size_t n_entries,
                          int32_t n_chunks, const char *dataset, kv_err *err);

#endif
