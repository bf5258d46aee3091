// The summary convert and quantize print: one line per tensor, then sizes,
// bits per weight, fallbacks and time.
#include <stdio.h>

#include "cli/cli.h"
#include "kvant/kv_types.h"

static void tensor_line(const kv_convert_tensor *t) {
    char shape[96];
    int n = snprintf(shape, sizeof shape, "%lld", (long long)t->ne[0]);
    for (uint32_t d = 1; d < t->n_dims && n > 0 && (size_t)n < sizeof shape; d++)
        n += snprintf(shape + n, sizeof shape - (size_t)n, " x %lld", (long long)t->ne[d]);
    printf("  %-32s %-16s %6s -> %-6s %10.2f KiB", t->name, shape, kv_type_name(t->from_type),
           kv_type_name(t->to_type), (double)t->bytes / 1024.0);
    if (t->fallback)
        printf("  (fallback: rows of %lld do not fit %s)", (long long)t->ne[0],
               kv_type_name(t->wanted_type));
    printf("\n");
}

void kv_cli_print_report(const char *out, const kv_convert_report *r, bool tensors) {
    if (tensors)
        for (int64_t i = 0; i < r->n_tensors; i++)
            tensor_line(&r->tensors[i]);
    double mib = 1024.0 * 1024.0;
    double bpw_in = r->n_params ? 8.0 * (double)r->bytes_in / (double)r->n_params : 0.0;
    double bpw_out = r->n_params ? 8.0 * (double)r->bytes_out / (double)r->n_params : 0.0;
    printf("wrote %s: %lld tensors, %.2f M parameters\n", out, (long long)r->n_tensors,
           (double)r->n_params / 1e6);
    printf("size: %.2f MiB (%.2f bits/weight) -> %.2f MiB (%.2f bits/weight), file %.2f MiB, "
           "%.2f s\n",
           (double)r->bytes_in / mib, bpw_in, (double)r->bytes_out / mib, bpw_out,
           (double)r->file_size / mib, r->seconds);
    int64_t n_exact = 0, n_requant = 0;
    for (int64_t i = 0; i < r->n_tensors; i++) {
        n_exact += r->tensors[i].mlx == 1;
        n_requant += r->tensors[i].mlx == 2;
    }
    if (n_exact + n_requant > 0) { // an mlx-lm folder: which layers kept their bits
        printf("MLX quantized layers: %lld transcoded exactly, %lld dequantized and written as "
               "another type\n", (long long)n_exact, (long long)n_requant);
        for (int64_t i = 0; i < r->n_tensors; i++)
            if (r->tensors[i].mlx)
                printf("  %-32s %s %-5s (bits %d, group %d%s)\n", r->tensors[i].name,
                       r->tensors[i].mlx == 1 ? "exact      "
                       : kv_type_get(r->tensors[i].to_type)->quantized ? "requantized"
                                                                     : "dequantized",
                       kv_type_name(r->tensors[i].to_type), r->tensors[i].mlx_bits,
                       (int)r->tensors[i].mlx_group,
                       r->tensors[i].mlx_why == 1   ? ": a scale or bias is not a float16 value"
                       : r->tensors[i].mlx_why == 2 ? ": a bias is not -128 x scale"
                                                    : "");
    }
    if (r->n_fallbacks > 0) {
        printf("fallbacks: %lld tensors got another type because their rows do not fit the "
               "chosen type's blocks:\n",
               (long long)r->n_fallbacks);
        for (int64_t i = 0; i < r->n_tensors; i++)
            if (r->tensors[i].fallback)
                printf("  %s: %s -> %s\n", r->tensors[i].name,
                       kv_type_name(r->tensors[i].wanted_type), kv_type_name(r->tensors[i].to_type));
    }
}
