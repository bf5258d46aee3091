// libFuzzer harness for the repack cache's header reader (model/repack_cache.c):
// arbitrary bytes as a whole cache file, checked against a fixed key (the one
// tests/fuzz/make_seeds.py writes its seeds for), as a load checks a file
// beside a model. On success the reader promised the header and every matrix
// lie inside the bytes: each matrix's packed rows are summed and compared with
// the stored checksum, as the loader does before using them.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_int.h"

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "fuzz_repack_cache: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

static const kv__repack_entry ENTRIES[2] = {
    {0x1111, 2, 64, 16, 0, 0, 128},
    {0x2222, 14, 256, 8, 4096, 128, 192},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kv__repack_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.version, sizeof k.version, "fuzz");
    snprintf(k.table, sizeof k.table, "amx");
    k.layout = 0x1234;
    k.model_size = 1000;
    k.model_mtime_s = 1700000000;
    k.model_mtime_ns = 5;
    k.model_hash = 0xabcdef;
    k.n_tensors = 2;
    k.data_size = 320;
    k.tensors = ENTRIES;
    uint64_t sums[2];
    kv_err err = {0};
    if (kv__repack_cache_check("fuzz.kvrepack", data, size, &k, sums, &err) != KV_OK) {
        CHECK(err.msg[0] != '\0' && strncmp(err.msg, "fuzz.kvrepack: ", 15) == 0);
        return 0;
    }
    const size_t h = kv__repack_cache_header_size(k.n_tensors);
    CHECK(size == h + k.data_size);
    for (int i = 0; i < 2; i++) {
        CHECK(ENTRIES[i].off + ENTRIES[i].size <= size - h);
        (void)(kv__repack_cache_sum(data + h + ENTRIES[i].off, ENTRIES[i].size) == sums[i]);
    }
    return 0;
}
