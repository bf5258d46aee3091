// llama2.c checkpoint (+ tokenizer.bin) -> GGUF, as llama.cpp's
// convert-llama2c-to-ggml does: llama metadata from the header (context length
// = seq_len, RoPE base 10000 and RMS epsilon 1e-5, which llama2.c hard-codes),
// a SentencePiece ("llama") vocabulary with llama2.c's fixed ids (unk 0, BOS 1,
// EOS 2), and the weights as they are: llama2.c keeps q/k rows in Meta's
// interleaved RoPE order, which is GGUF's, so nothing is permuted.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_int.h"
#include "kvant/kv_core.h"
#include "kvant/kv_llama2c.h"
#include "kvant/kv_types.h"

#define TRY(expr) KV_TRY(expr)

static kv_status l2c_read_rows(const void *ctx, int64_t row0, int64_t n_rows, float *dst,
                               kv_err *err) {
    const kv_llama2c_tensor *t = (const kv_llama2c_tensor *)ctx;
    return kv_llama2c_read_f32(t, row0 * t->ne[0], n_rows * t->ne[0], dst, err);
}

// "dir/stories15M.bin" -> "stories15M"
static void base_name(const char *path, char *out, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, cap, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

static kv_status set_metadata(kv_gguf_writer *w, const kv_llama2c *m, uint32_t file_type,
                              kv_err *err) {
    const kv_llama2c_header *h = kv_llama2c_header_of(m);
    char name[256];
    base_name(kv_llama2c_path(m), name, sizeof name);
    uint32_t head_dim = (uint32_t)(h->dim / h->n_heads);
    TRY(kv_gguf_set_str(w, "general.architecture", "llama", err));
    TRY(kv_gguf_set_str(w, "general.type", "model", err));
    TRY(kv_gguf_set_str(w, "general.name", name, err));
    TRY(kv_gguf_set_u32(w, "llama.block_count", (uint32_t)h->n_layers, err));
    TRY(kv_gguf_set_u32(w, "llama.context_length", (uint32_t)h->seq_len, err));
    TRY(kv_gguf_set_u32(w, "llama.embedding_length", (uint32_t)h->dim, err));
    TRY(kv_gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)h->hidden_dim, err));
    TRY(kv_gguf_set_u32(w, "llama.attention.head_count", (uint32_t)h->n_heads, err));
    TRY(kv_gguf_set_u32(w, "llama.attention.head_count_kv", (uint32_t)h->n_kv_heads, err));
    TRY(kv_gguf_set_f32(w, "llama.rope.freq_base", 10000.0f, err));
    TRY(kv_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, err));
    TRY(kv_gguf_set_u32(w, "llama.attention.key_length", head_dim, err));
    TRY(kv_gguf_set_u32(w, "llama.attention.value_length", head_dim, err));
    TRY(kv_gguf_set_u32(w, "general.file_type", file_type, err));
    TRY(kv_gguf_set_u32(w, "llama.vocab_size", (uint32_t)h->vocab_size, err));
    TRY(kv_gguf_set_u32(w, "llama.rope.dimension_count", head_dim, err));
    kv_llama2c_vocab v;
    kv_llama2c_vocab_of(m, &v);
    TRY(kv_gguf_set_str(w, "tokenizer.ggml.model", "llama", err));
    TRY(kv_gguf_set_str(w, "tokenizer.ggml.pre", "default", err));
    TRY(kv_gguf_set_arr_str(w, "tokenizer.ggml.tokens", v.tokens, (uint64_t)v.n_tokens, err));
    TRY(kv_gguf_set_arr(w, "tokenizer.ggml.scores", KV_GGUF_F32, v.scores, (uint64_t)v.n_tokens,
                        err));
    TRY(kv_gguf_set_arr(w, "tokenizer.ggml.token_type", KV_GGUF_I32, v.types,
                        (uint64_t)v.n_tokens, err));
    static const char *const ID_KEYS[] = {"tokenizer.ggml.unknown_token_id",
                                          "tokenizer.ggml.bos_token_id",
                                          "tokenizer.ggml.eos_token_id"};
    for (uint32_t id = 0; id < 3; id++)
        if ((int64_t)id < v.n_tokens)
            TRY(kv_gguf_set_u32(w, ID_KEYS[id], id, err));
    TRY(kv_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true, err));
    TRY(kv_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", false, err));
    TRY(kv_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", true, err)); // SentencePiece's
    TRY(kv_gguf_set_u32(w, "general.quantization_version", 2, err));
    return KV_OK;
}

static kv_status plan_all(const kv_llama2c *m, kv__emit_tensor *ts, const char **names,
                          kv_mix_model *model) {
    const kv_llama2c_header *h = kv_llama2c_header_of(m);
    int64_t n = kv_llama2c_tensor_count(m);
    for (int64_t i = 0; i < n; i++) {
        const kv_llama2c_tensor *t = kv_llama2c_tensor_at(m, i);
        kv__emit_tensor *e = &ts[i];
        snprintf(e->name, sizeof e->name, "%s", t->name);
        e->n_dims = (uint32_t)t->n_dims;
        e->ne[0] = t->ne[0];
        e->ne[1] = t->ne[1];
        e->ne[2] = e->ne[3] = 1;
        e->src_type = KV_TYPE_F32; // version 2's int8 groups are read as float32 rows
        e->read_rows = l2c_read_rows;
        e->ctx = t;
        e->raw = t->f32; // float32 little-endian: copied as is when F32 is written
        e->src_data = t->f32;
        e->src_size = t->f32 ? (size_t)t->n_elements * 4 : 0;
        names[i] = e->name;
    }
    memset(model, 0, sizeof *model);
    model->arch = "llama";
    model->n_layer = h->n_layers;
    model->n_head = h->n_heads;
    model->n_head_kv = h->n_kv_heads;
    model->tensor_names = names;
    model->n_tensors = (size_t)n;
    return KV_OK;
}

// The tokenizer llama2.c's run uses by default sits beside the model.
static const char *default_tokenizer(const char *model_path, char *buf, size_t cap) {
    const char *slash = strrchr(model_path, '/');
    if (slash)
        snprintf(buf, cap, "%.*s/tokenizer.bin", (int)(slash - model_path), model_path);
    else
        snprintf(buf, cap, "tokenizer.bin");
    return buf;
}

kv_status kv__convert_llama2c(const char *model_path, const char *out_path,
                              const kv_convert_opts *opts, kv_convert_report *report,
                              kv_err *err) {
    kv_quant_plan_opts plan = opts->plan;
    TRY(kv_ftype_parse(opts->outtype ? opts->outtype : "f16", &plan.ftype, err));
    if (plan.ftype == KV_FTYPE_COPY)
        return KV_FAIL(err, KV_ERR_INVALID, "--outtype COPY only applies to kvant quantize");
    char tbuf[4096];
    const char *tok = opts->tokenizer ? opts->tokenizer
                                      : default_tokenizer(model_path, tbuf, sizeof tbuf);
    kv_llama2c *m = NULL;
    TRY(kv_llama2c_open(model_path, tok, &m, err));
    int64_t n = kv_llama2c_tensor_count(m);
    kv__emit_tensor *ts = calloc((size_t)n, sizeof *ts);
    const char **names = calloc((size_t)n, sizeof *names);
    kv_gguf_writer *w = NULL;
    kv_imatrix *im = NULL;
    kv_status st = KV_OK;
    if (!ts || !names)
        st = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory planning %lld tensors", model_path,
                     (long long)n);
    kv_mix_model model;
    if (st == KV_OK)
        st = plan_all(m, ts, names, &model);
    if (st == KV_OK)
        st = kv__plan_types(ts, n, &model, &plan, true, &im, err);
    if (st == KV_OK)
        st = kv_gguf_writer_new(&w, err);
    if (st == KV_OK)
        st = set_metadata(w, m, (uint32_t)plan.ftype, err);
    if (st == KV_OK && im)
        st = kv__set_imatrix_keys(w, plan.imatrix_path, im, err);
    if (st == KV_OK)
        st = kv__emit_gguf(w, out_path, ts, n, plan.n_threads, plan.progress, plan.progress_user,
                           report, err);
    kv_gguf_writer_free(w);
    kv_imatrix_close(im);
    free(names);
    free(ts);
    kv_llama2c_close(m);
    return st;
}
