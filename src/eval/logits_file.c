// llama.cpp's logits files (llama-perplexity --kl-divergence-base): the
// log-probabilities of a base model's scored rows, 16 bits per token. Layout:
//   "_logits_" u32 n_ctx i32 n_vocab i32 n_chunk
//   i32 tokens[n_chunk * n_ctx]
//   n_chunk x (n_ctx - 1 - n_ctx/2) rows x kv_kld_row_words(n_vocab) u16
// where a row starts with two f32 (scale, minimum log-probability).
#include "kvant/kv_eval.h"

#include <stdlib.h>
#include <string.h>

#include "eval/eval_int.h"

#define MAGIC "_logits_"
#define HEADER_SIZE 20
#define MAX_CHUNKS (1 << 24)

struct kv_logits_file {
    kv_map map;
    int32_t n_ctx, n_vocab, n_chunk;
    size_t tokens_off;
    size_t rows_off;
    size_t row_size;        // bytes per row
    int32_t rows_per_chunk; // n_ctx - 1 - n_ctx/2
};

static kv_status read_header(kv_logits_file *f, kv_err *err) {
    const char *path = f->map.path;
    kv_rd rd = kv_rd_make(f->map.data, f->map.size, path);
    const uint8_t *magic;
    uint32_t n_ctx, n_vocab, n_chunk;
    kv_status st = kv_rd_bytes(&rd, 8, &magic, "magic", err);
    if (st == KV_OK && memcmp(magic, MAGIC, 8) != 0)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: bad magic, expected \"%s\" (a llama.cpp logits file)",
                       path, MAGIC);
    if (st == KV_OK)
        st = kv_rd_u32(&rd, &n_ctx, "n_ctx", err);
    if (st == KV_OK)
        st = kv_rd_u32(&rd, &n_vocab, "n_vocab", err);
    if (st == KV_OK)
        st = kv_rd_u32(&rd, &n_chunk, "n_chunk", err);
    if (st != KV_OK)
        return st;
    if (n_ctx < 4 || n_ctx > KV_CTX_MAX_CTX || n_vocab < 1 ||
        n_vocab > (uint32_t)KV_MODEL_MAX_VOCAB || n_chunk > MAX_CHUNKS)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: implausible header: n_ctx %u, n_vocab %u, n_chunk %u",
                       path, n_ctx, n_vocab, n_chunk);
    f->n_ctx = (int32_t)n_ctx;
    f->n_vocab = (int32_t)n_vocab;
    f->n_chunk = (int32_t)n_chunk;
    return KV_OK;
}

kv_status kv_logits_open(const char *path, kv_logits_file **out, kv_err *err) {
    *out = NULL;
    kv_logits_file *f = calloc(1, sizeof *f);
    if (!f)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    kv_status st = kv_map_open(path, &f->map, err);
    if (st == KV_OK)
        st = read_header(f, err);
    if (st != KV_OK) {
        kv_logits_close(f);
        return st;
    }
    // All counts are capped above, so these products fit in 64 bits.
    f->rows_per_chunk = f->n_ctx - 1 - f->n_ctx / 2;
    f->row_size = (size_t)kv_kld_row_words(f->n_vocab) * 2;
    f->tokens_off = HEADER_SIZE;
    const uint64_t tokens_size = (uint64_t)f->n_chunk * (uint64_t)f->n_ctx * 4;
    const uint64_t rows_size = (uint64_t)f->n_chunk * (uint64_t)f->rows_per_chunk * f->row_size;
    f->rows_off = HEADER_SIZE + (size_t)tokens_size;
    const uint64_t want = HEADER_SIZE + tokens_size + rows_size;
    if ((uint64_t)f->map.size != want) {
        st = KV_FAIL(err, f->map.size < want ? KV_ERR_TRUNCATED : KV_ERR_FORMAT,
                     "%s: has %zu bytes, expected %llu for %d chunks of %d tokens, vocabulary %d",
                     path, f->map.size, (unsigned long long)want, f->n_chunk, f->n_ctx, f->n_vocab);
        kv_logits_close(f);
        return st;
    }
    // The KL driver indexes a row with the token that follows it, which may lie in
    // a batch the model has not checked yet: every token must be in the vocabulary.
    const uint8_t *tok = f->map.data + f->tokens_off;
    for (uint64_t i = 0; i < tokens_size / 4; i++) {
        const uint32_t t = kv_le32(tok + 4 * i);
        if (t >= (uint32_t)f->n_vocab) {
            st = KV_FAIL(err, KV_ERR_FORMAT,
                         "%s: token %d of chunk %d (offset %llu) is %d, outside the vocabulary "
                         "0..%d",
                         path, (int)(i % (uint64_t)f->n_ctx), (int)(i / (uint64_t)f->n_ctx),
                         (unsigned long long)(HEADER_SIZE + 4 * i), (int32_t)t, f->n_vocab - 1);
            kv_logits_close(f);
            return st;
        }
    }
    *out = f;
    return KV_OK;
}

void kv_logits_close(kv_logits_file *f) {
    if (!f)
        return;
    kv_map_close(&f->map);
    free(f);
}

int32_t kv_logits_n_ctx(const kv_logits_file *f) { return f->n_ctx; }
int32_t kv_logits_n_vocab(const kv_logits_file *f) { return f->n_vocab; }
int32_t kv_logits_n_chunks(const kv_logits_file *f) { return f->n_chunk; }

void kv_logits_tokens(const kv_logits_file *f, int32_t chunk, int32_t *out) {
    const uint8_t *p = f->map.data + f->tokens_off + (size_t)chunk * (size_t)f->n_ctx * 4;
    for (int32_t i = 0; i < f->n_ctx; i++)
        out[i] = (int32_t)kv_le32(p + (size_t)i * 4);
}

const void *kv_logits_row(const kv_logits_file *f, int32_t chunk, int32_t j) {
    const size_t row = (size_t)chunk * (size_t)f->rows_per_chunk + (size_t)j;
    return f->map.data + f->rows_off + row * f->row_size;
}

static kv_status put_u32(kv_out *o, uint32_t v, kv_err *err) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return kv_out_write(o, b, 4, err);
}

kv_status kv__logits_write_header(kv_out *o, const char *path, int32_t n_ctx, int32_t n_vocab,
                                  int32_t n_chunk, const int32_t *tokens, kv_err *err) {
    kv_status st = kv_out_open(o, path, err);
    if (st == KV_OK)
        st = kv_out_write(o, MAGIC, 8, err);
    if (st == KV_OK)
        st = put_u32(o, (uint32_t)n_ctx, err);
    if (st == KV_OK)
        st = put_u32(o, (uint32_t)n_vocab, err);
    if (st == KV_OK)
        st = put_u32(o, (uint32_t)n_chunk, err);
    const int64_t n = (int64_t)n_chunk * n_ctx;
    for (int64_t i = 0; i < n && st == KV_OK; i++)
        st = put_u32(o, (uint32_t)tokens[i], err);
    return st;
}
