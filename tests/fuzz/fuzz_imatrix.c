// libFuzzer harness for the imatrix reader (llama.cpp imatrix.dat): arbitrary
// bytes as one file, opened by path (a memfd under /proc/self/fd, so the real
// mapping code runs without touching a disk). On success every entry is read by
// index and by name, and the promises of kv_imatrix.h are checked: names unique
// and NUL-terminated, value counts within the limit, lookups find each entry.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_memfd.h"
#include "kvant/kv_imatrix.h"

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz_imatrix: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_memfd_path("fuzz.imatrix", data, size);
    CHECK(path);
    kv_imatrix *im = NULL;
    kv_err err;
    if (kv_imatrix_open(path, &im, &err) != KV_OK) {
        CHECK(im == NULL && err.msg[0] != '\0');
        return 0;
    }
    size_t n_entries = kv_imatrix_count(im);
    CHECK(n_entries <= KV_IMATRIX_MAX_ENTRIES);
    double sum = 0;
    for (size_t i = 0; i < n_entries; i++) {
        const char *name = kv_imatrix_name(im, i);
        CHECK(name && strlen(name) <= KV_IMATRIX_MAX_NAME);
        size_t n = 0, n2 = 0;
        const float *v = kv_imatrix_values(im, i, &n);
        CHECK(n <= (size_t)KV_IMATRIX_MAX_VALUES && (v || n == 0));
        for (size_t j = 0; j < n; j++)
            sum += v[j]; // reads every value: ASan catches one past the end
        CHECK(kv_imatrix_find(im, name, &n2) == v && n2 == n); // names are unique
    }
    CHECK(kv_imatrix_find(im, "no such tensor \x01", NULL) == NULL);
    const char *ds = kv_imatrix_dataset(im);
    CHECK(!ds || strlen(ds) <= KV_IMATRIX_MAX_DATASET);
    CHECK(kv_imatrix_chunk_count(im) >= -1);
    kv_imatrix_close(im);
    (void)sum;
    return 0;
}
