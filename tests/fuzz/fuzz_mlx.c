// libFuzzer harness for the MLX reader: the input is config.json's text, a NUL
// byte, then a safetensors file. The config's quantization entries (defaults,
// per-module overrides, mode) are parsed; every NAME.weight with NAME.scales and
// NAME.biases beside it is checked against its module's layout and, when the
// check passes, every row is dequantized and (where exact) transcoded to Q4_1 /
// Q8_0, as kvant convert does.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_mlx.h"
#include "kvant/kv_safetensors.h"

#define MAX_VALUES ((int64_t)1 << 20) // per tensor, to keep runs fast

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    const size_t n_cfg = nul ? (size_t)(nul - data) : size;
    kv_err err;
    kv_mlx_config *c = NULL;
    if (kv_mlx_config_parse(data, n_cfg, "config.json", &c, &err) != KV_OK || !nul) {
        kv_mlx_config_free(c);
        return 0;
    }
    (void)kv_mlx_quant_of(c, "model.layers.0.self_attn.q_proj");
    kv_safetensors *st = NULL;
    if (kv_safetensors_open_mem(nul + 1, size - n_cfg - 1, "model.safetensors", &st, &err) != KV_OK) {
        kv_mlx_config_free(c);
        return 0;
    }
    for (int64_t i = 0; i < kv_safetensors_count(st); i++) {
        const kv_st_tensor *w = kv_safetensors_at(st, i);
        const size_t n = strlen(w->name);
        if (n < 7 || strcmp(w->name + n - 7, ".weight") != 0 || n > 4000)
            continue;
        char module[4096], sn[4096], bn[4096];
        memcpy(module, w->name, n - 7);
        module[n - 7] = '\0';
        memcpy(sn, module, n - 7);
        memcpy(bn, module, n - 7);
        strcpy(sn + n - 7, ".scales");
        strcpy(bn + n - 7, ".biases");
        const int64_t si = kv_safetensors_find(st, sn), bi = kv_safetensors_find(st, bn);
        if (si < 0 || bi < 0)
            continue;
        kv_mlx_linear l = {0};
        l.w = w;
        l.scales = kv_safetensors_at(st, si);
        l.biases = kv_safetensors_at(st, bi);
        l.q = kv_mlx_quant_of(c, module);
        if (l.q.bits == 0 || kv_mlx_linear_check(&l, &err) != KV_OK)
            continue;
        if (l.rows * l.cols > MAX_VALUES)
            continue;
        float *row = malloc((size_t)(l.cols > 0 ? l.cols : 1) * sizeof *row);
        void *blocks = malloc((size_t)(l.cols / 32 + 1) * sizeof(kv_block_q4_1) * 2);
        for (int64_t r = 0; row && blocks && r < l.rows; r++) {
            kv_mlx_dequant_row(&l, r, row);
            if (l.q.bits == 4 && l.q.group_size == 32 && l.f16_exact)
                kv_mlx_row_to_q4_1(&l, r, blocks);
            if (l.q8_0_exact)
                kv_mlx_row_to_q8_0(&l, r, blocks);
        }
        free(row);
        free(blocks);
    }
    kv_safetensors_close(st);
    kv_mlx_config_free(c);
    return 0;
}
