// libFuzzer harness for the safetensors reader: arbitrary bytes as one file,
// opened from memory; on success every tensor is looked up by name and the first
// and last few elements of float tensors are converted to F32.
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_safetensors.h"

static void walk(const kv_safetensors *st) {
    float out[4];
    kv_err err;
    (void)kv_safetensors_meta(st, "format");
    for (int64_t i = 0; i < kv_safetensors_count(st); i++) {
        const kv_st_tensor *t = kv_safetensors_at(st, i);
        if (kv_safetensors_find(st, t->name) != i)
            __builtin_trap(); // names are unique, so lookup must find this tensor
        int64_t n = t->n_elements < 4 ? t->n_elements : 4;
        (void)kv_safetensors_read_f32(t, 0, n, out, &err);
        (void)kv_safetensors_read_f32(t, t->n_elements - n, n, out, &err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kv_safetensors *st = NULL;
    kv_err err;
    if (kv_safetensors_open_mem(data, size, "fuzz.safetensors", &st, &err) == KV_OK) {
        walk(st);
        kv_safetensors_close(st);
    }
    return 0;
}
