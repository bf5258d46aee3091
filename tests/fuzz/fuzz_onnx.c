// libFuzzer harness for the ONNX reader: arbitrary bytes as a .onnx file; on
// success the summary is walked and its invariants checked.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kvant/kv_onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kv_onnx_info *m = NULL;
    kv_err err;
    if (kv_onnx_info_parse(data, size, "fuzz.onnx", &m, &err) != KV_OK)
        return 0;
    int64_t nodes = 0;
    for (int i = 0; i < m->n_ops; i++) {
        nodes += m->ops[i].count;
        if (m->ops[i].count < 1 || !strchr(m->ops[i].op, ':') ||
            (i && strcmp(m->ops[i - 1].op, m->ops[i].op) >= 0))
            __builtin_trap(); // counted, "domain:op", sorted and distinct
    }
    if (nodes != m->n_nodes)
        __builtin_trap();
    int64_t inits = 0;
    for (int i = 0; i < m->n_dtypes; i++)
        inits += m->dtypes[i].count;
    if (inits < m->n_initializers)
        __builtin_trap(); // sparse initializers count values and indices per dtype
    size_t total = strlen(m->producer_name) + strlen(m->graph_name);
    for (int i = 0; i < m->n_inputs; i++)
        for (int d = 0; d < m->inputs[i].n_dims; d++)
            total += m->inputs[i].dims[d].param ? strlen(m->inputs[i].dims[d].param) : 1;
    for (int i = 0; i < m->n_problems; i++)
        total += strlen(m->problems[i]);
    for (int i = 0; i < m->n_externals; i++)
        if (m->externals[i].file_bytes != -1 || m->externals[i].n_tensors < 1)
            __builtin_trap(); // parsing alone never looks at the disk
    (void)total;
    kv_onnx_info_free(m);
    return 0;
}
