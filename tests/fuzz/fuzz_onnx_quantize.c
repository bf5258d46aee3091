// libFuzzer harness for kvant onnx quantize (kv_onnx_quantize): arbitrary bytes as
// IN.onnx (an in-memory file), the first byte choosing the mode (dynamic QOperator,
// dynamic QDQ per channel, weight-int4 with or without zero points), the output
// written into a private temporary folder. Any input either fails with a message
// or writes a model.
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_memfd.h"
#include "kvant/kv_onnx_export.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[] = "/tmp/kvant-fuzz-onnxq-XXXXXX";
    static char out[64];
    if (!out[0]) {
        if (!mkdtemp(dir))
            return 0;
        snprintf(out, sizeof out, "%s/out.onnx", dir);
    }
    if (size < 1)
        return 0;
    const char *in = fuzz_memfd_path("fuzz.onnx", data + 1, size - 1);
    if (!in)
        return 0;
    kv_onnx_quant_opts o = {0};
    switch (data[0] & 3) {
    case 0: o.mode = KV_ONNXQ_DYNAMIC; break;
    case 1: o.mode = KV_ONNXQ_DYNAMIC; o.qdq = true; o.per_channel = true; break;
    case 2: o.mode = KV_ONNXQ_INT4; o.block = 32; break;
    default: o.mode = KV_ONNXQ_INT4; o.block = 64; o.symmetric = true; break;
    }
    kv_onnx_quant_report *r = NULL;
    kv_err err;
    if (kv_onnx_quantize(in, out, &o, &r, &err) == KV_OK) {
        if (r->n_quantized + r->n_float != r->n_entries)
            __builtin_trap();
        kv_onnx_quant_report_free(r);
        remove(out);
    }
    return 0;
}
