// Perplexity and KL divergence, computed the way llama-perplexity does so the
// figures compare: the text is cut into chunks of n_ctx tokens, each chunk
// starts with BOS, and only the second half of each chunk is scored (tokens
// first+1 .. n_ctx-1 with first = n_ctx/2, predicted from the logits of the
// previous position). KL divergence compares against a base run saved in
// llama.cpp's --kl-divergence-base file format, which kvant reads and writes.
#ifndef KV_EVAL_H
#define KV_EVAL_H

#include <stdint.h>

#include "kvant/kv_core.h"
#include "kvant/kv_model.h"
#include "kvant/kv_status.h"

// ---- per-row math ----

// -log softmax(logits)[token]: the maximum in float, the sum of exp(l - max) in
// double (llama-perplexity's order).
double kv_eval_nll(const float *logits, int32_t n_vocab, int32_t token);

// Running sums for a perplexity estimate.
typedef struct {
    double sum_nll;
    double sum_nll2;
    int64_t count;
} kv_ppl_acc;

void kv_ppl_add(kv_ppl_acc *a, double nll);
// ppl = exp(mean nll); *unc = ppl * sqrt((mean(nll^2) - mean(nll)^2) / (count - 1)),
// llama-perplexity's "+/-" (0 when it cannot be estimated).
void kv_ppl_value(const kv_ppl_acc *a, double *ppl, double *unc);

// ---- chunking ----

typedef struct {
    int32_t n_ctx;    // tokens per chunk
    int32_t n_chunks; // chunks evaluated
    int32_t first;    // n_ctx / 2: logits of positions first .. n_ctx-2 are scored
} kv_ppl_plan;

// Plans a run over n_tokens tokens: n_tokens / n_ctx chunks, at most n_chunks_max
// when it is >= 0. Like llama-perplexity, needs at least 2 * n_ctx tokens
// (KV_ERR_INVALID otherwise, saying how many there are).
kv_status kv_ppl_plan_make(int64_t n_tokens, int32_t n_ctx, int32_t n_chunks_max,
                           kv_ppl_plan *out, kv_err *err);

// ---- KL divergence math ----

// uint16 values per row of a llama.cpp logits file: two floats (scale, minimum
// log-probability) then one value per token, padded to an even count.
static inline int64_t kv_kld_row_words(int32_t n_vocab) {
    return 2 * (((int64_t)n_vocab + 1) / 2) + 4;
}

// Encodes the log-probabilities of one logits row as llama.cpp stores them
// (16-bit steps over at most 16 nats below the maximum) into row
// (kv_kld_row_words values); returns the row's nll of token.
double kv_kld_encode_row(const float *logits, int32_t n_vocab, int32_t token, uint16_t *row);

typedef struct {
    double sum_nll, sum_nll2;           // this model
    double sum_nll_base, sum_nll_base2; // the base model (from the encoded rows)
    double sum_nll_nll_base;
    double sum_kld, sum_kld2;
    double sum_p_diff, sum_p_diff2, sum_p_diff4;
    float max_p_diff;
    int64_t n_same_top;
    int64_t count;
} kv_kld_acc;

// Compares one logits row with the base model's encoded row (bytes as in the
// file, any alignment) for the token that followed: adds to acc and returns the
// token's KL divergence and p - p_base through the pointers (either may be NULL).
void kv_kld_add(kv_kld_acc *acc, const float *logits, int32_t n_vocab, const void *base_row,
                int32_t token, float *kld, float *p_diff);

// Linear interpolation between sorted values (llama-perplexity's percentile).
float kv_eval_percentile(const float *sorted, int64_t n, float fraction);

typedef struct {
    double ppl, ppl_unc;               // this model
    double ppl_base, ppl_base_unc;     // the base model
    double log_ppl_cor;                // correlation of the two ln(PPL) estimates
    double log_ppl_ratio, log_ppl_ratio_unc; // mean ln(PPL(Q)/PPL(base))
    double ppl_ratio, ppl_ratio_unc;
    double ppl_diff, ppl_diff_unc;
    double kld_mean, kld_unc;
    float kld_max, kld_p999, kld_p99, kld_p95, kld_p90, kld_median, kld_p10, kld_p05, kld_p01,
        kld_p001, kld_min;
    double p_diff_mean, p_diff_unc;    // mean delta-p (fractions, not percent)
    float p_diff_max, p_diff_p999, p_diff_p99, p_diff_p95, p_diff_p90, p_diff_p75,
        p_diff_median, p_diff_p25, p_diff_p10, p_diff_p05, p_diff_p01, p_diff_p001, p_diff_min;
    double p_diff_rms, p_diff_rms_unc;
    double same_top, same_top_unc;     // fraction of rows whose top token agrees
    int64_t count;
} kv_kld_stats;

// Summarises an accumulator and the per-token values (sorted in place, n of
// each) as llama-perplexity's final report does.
void kv_kld_stats_compute(const kv_kld_acc *acc, float *kld_values, float *p_diff_values,
                          int64_t n, kv_kld_stats *out);

// ---- llama.cpp logits files (--kl-divergence-base) ----
// Layout (little-endian): "_logits_", u32 n_ctx, i32 n_vocab, i32 n_chunk,
// i32 tokens[n_chunk * n_ctx] (as tokenized, BOS not substituted), then per
// chunk n_ctx - 1 - n_ctx/2 rows of kv_kld_row_words(n_vocab) uint16 values.

typedef struct kv_logits_file kv_logits_file;

// Maps a logits file and checks its header and size against its counts, and
// that every token is in 0..n_vocab-1 (KV_ERR_FORMAT naming chunk and offset).
kv_status kv_logits_open(const char *path, kv_logits_file **out, kv_err *err);
void kv_logits_close(kv_logits_file *f); // accepts NULL
int32_t kv_logits_n_ctx(const kv_logits_file *f);
int32_t kv_logits_n_vocab(const kv_logits_file *f);
int32_t kv_logits_n_chunks(const kv_logits_file *f);
// The n_chunk * n_ctx tokens (copied out, since the mapping may be unaligned).
void kv_logits_tokens(const kv_logits_file *f, int32_t chunk, int32_t *out);
// Encoded row j (0 .. n_ctx-2-n_ctx/2) of a chunk; valid until kv_logits_close.
const void *kv_logits_row(const kv_logits_file *f, int32_t chunk, int32_t j);

// ---- drivers ----

typedef struct {
    int32_t n_ctx;            // tokens per chunk (<= the context's n_ctx)
    int32_t n_chunks;         // -1: all
    int32_t bos;              // token put first in each chunk; -1: keep the text's token
    const char *save_logits;  // if set, also write a logits file for later KL runs
    kv_progress_fn progress;  // after each chunk: label is "[chunk]ppl" so far
    void *progress_user;
} kv_ppl_params;

typedef struct {
    double ppl, ppl_unc;
    int64_t n_scored; // tokens scored
    int32_t n_chunks;
} kv_ppl_result;

// Perplexity of tokens (the whole text, tokenized with BOS as llama.cpp does)
// under the context's model. Uses sequence 0 and clears the context's cache.
kv_status kv_eval_perplexity(kv_ctx *c, const int32_t *tokens, int64_t n_tokens,
                             const kv_ppl_params *p, kv_ppl_result *out, kv_err *err);

typedef struct {
    const char *base_path;   // a logits file from the base model
    int32_t n_chunks;        // -1: all in the file
    int32_t bos;             // as in kv_ppl_params
    kv_progress_fn progress; // after each chunk: label is "[chunk]kld" so far
    void *progress_user;
} kv_kld_params;

// KL divergence of the context's model against a base logits file, over the
// file's tokens and n_ctx; KV_ERR_INVALID when the vocabularies differ.
kv_status kv_eval_kld(kv_ctx *c, const kv_kld_params *p, kv_kld_stats *out, kv_err *err);

// ---- importance matrix (llama-imatrix) ----

typedef struct {
    int32_t n_ctx;            // tokens per chunk
    int32_t n_chunks;         // -1: all
    int32_t bos;              // token put first in each chunk; -1: keep the text's token
    bool process_output;      // also collect for output.weight (llama-imatrix's --process-output)
    const char *dataset;      // calibration file name recorded in the output; may be NULL
    kv_progress_fn progress;  // after each chunk: label is "[chunk]ppl" so far
    void *progress_user;
} kv_imatrix_params;

// Runs tokens through the context's model chunk by chunk (BOS first, as llama-imatrix
// does) and collects, for every weight of the blocks ("blk.*"), the mean squared
// input of each of its columns over all rows of all products; writes them to
// out_path in llama.cpp's imatrix.dat layout (temporary file, then rename). Also
// reports the perplexity of the chunks' second halves in *ppl (may be NULL).
// Uses sequence 0; replaces any matmul hook of the context while it runs.
kv_status kv_eval_imatrix(kv_ctx *c, const int32_t *tokens, int64_t n_tokens,
                          const kv_imatrix_params *p, const char *out_path, kv_ppl_result *ppl,
                          kv_err *err);

#endif
