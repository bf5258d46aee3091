// A program outside the tree, built against the installed kvant with
// `pkg-config --cflags --libs kvant`: it quantizes a row to Q8_0 and back
// (library code), asks for the server's defaults (the server's code is in the
// library too) and gets one clear error for a file that is not there.
#include <kvant/kvant.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    float x[32], y[32];
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i - 16) / 8.0f;
    kv_block_q8_0 b;
    kv_err err = {0};
    if (kv_quant_rows(KV_TYPE_Q8_0, x, &b, 1, 32, NULL, &err) != KV_OK ||
        kv_dequant_row(KV_TYPE_Q8_0, &b, y, 32, &err) != KV_OK) {
        fprintf(stderr, "tiny: %s\n", err.msg);
        return 1;
    }
    float worst = 0.0f;
    for (int i = 0; i < 32; i++)
        worst = fmaxf(worst, fabsf(x[i] - y[i]));
    const kv_serve_params p = kv_serve_default_params();
    kv_gguf *g = NULL;
    const kv_status st = kv_gguf_open("/nonexistent/tiny.gguf", &g, &err);
    printf("%s round trip error %.4f; serve port %u; open: %s: %s\n", kv_type_name(KV_TYPE_Q8_0),
           (double)worst, (unsigned)p.port, kv_status_str(st), err.msg);
    return worst < 0.02f && st == KV_ERR_IO && g == NULL && strstr(err.msg, "tiny.gguf") ? 0 : 1;
}
