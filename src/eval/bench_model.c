// What a benchmark report says about a model: size and parameter count over
// every tensor of the file (as llama-bench counts them), the weight bytes one
// generated token has to read, a "llama 162M Q4_K_M" description and the BOS
// token. Also the name of the kernel table in use.
#include "kvant/kv_bench.h"

#include <stdio.h>
#include <string.h>

#include "kvant/kv_gguf.h"
#include "kvant/kv_mix.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"

static void label_size(uint64_t n, char *out, size_t cap) {
    if (n >= 1000000000u)
        snprintf(out, cap, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000u)
        snprintf(out, cap, "%.0fM", (double)n / 1e6);
    else
        snprintf(out, cap, "%.0fK", (double)n / 1e3);
}

static int32_t bos_of(const kv_gguf *g, int64_t n_vocab) {
    kv_vocab *v = NULL;
    kv_err err = {0};
    if (kv_vocab_from_gguf(g, &v, &err) != KV_OK)
        return -1;
    const kv_token bos = kv_vocab_bos(v);
    const bool add = kv_vocab_add_bos(v);
    kv_vocab_free(v);
    return add && bos >= 0 && bos < n_vocab ? (int32_t)bos : -1;
}

// Bytes of weights a decode of one token reads: kv_model_weight_bytes counts
// all of token_embd, of which the lookup reads one row, unless the output
// matrix is token_embd itself.
static uint64_t per_token(const kv_model *m, const kv_gguf *g) {
    uint64_t n = kv_model_weight_bytes(m);
    if (kv_model_hparams(m)->tied_output)
        return n;
    const int64_t i = kv_gguf_find_tensor(g, "token_embd.weight");
    if (i < 0)
        return n;
    const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
    const uint64_t rows = t->ne[1] > 0 ? (uint64_t)t->ne[1] : 1;
    if (t->size > n)
        return n;
    return n - t->size + t->size / rows;
}

void kv_bench_describe(const kv_model *m, kv_bench_model *out) {
    memset(out, 0, sizeof *out);
    const kv_gguf *g = kv_model_gguf(m);
    const kv_hparams *hp = kv_model_hparams(m);
    for (int64_t i = 0; i < kv_gguf_tensor_count(g); i++) {
        const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
        uint64_t ne = 1;
        for (uint32_t d = 0; d < t->n_dims && d < KV_GGUF_MAX_DIMS; d++)
            ne *= (uint64_t)t->ne[d];
        out->size += t->size;
        out->n_params += ne;
    }
    out->bytes_per_token = per_token(m, g);
    label_size(out->n_params, out->size_label, sizeof out->size_label);
    int64_t ft = -1;
    kv_err err = {0};
    if (kv_gguf_find(g, "general.file_type") < 0 ||
        kv_gguf_get_int(g, "general.file_type", &ft, &err) != KV_OK)
        ft = -1;
    const kv_ftype_info *fi = ft >= 0 && ft <= INT32_MAX ? kv_ftype_get((kv_ftype)ft) : NULL;
    snprintf(out->ftype, sizeof out->ftype, "%s", fi ? fi->name : "?");
    snprintf(out->type, sizeof out->type, "%s %s %s", hp->arch, out->size_label, out->ftype);
    out->bos = bos_of(g, hp->n_vocab);
}
