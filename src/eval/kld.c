// KL divergence against a base model's saved log-probabilities, with the
// statistics llama-perplexity reports (PPL of both, their ratio and
// correlation, KLD and delta-p percentiles, RMS delta-p, same top token). The
// float/double mix of each step follows llama-perplexity so figures agree.
#include "kvant/kv_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_int.h"
#include "kvant/kv_f16.h"

#define LOGP_FLOOR 16.0f // log-probabilities more than this below the top are stored as the floor

double kv_kld_encode_row(const float *logits, int32_t n_vocab, int32_t token, uint16_t *row) {
    float max = logits[0];
    float min = logits[0];
    for (int32_t i = 1; i < n_vocab; i++) {
        if (logits[i] > max)
            max = logits[i];
        if (logits[i] < min)
            min = logits[i];
    }
    if (min < max - LOGP_FLOOR)
        min = max - LOGP_FLOOR;
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++)
        sum += expf(logits[i] - max);
    const float log_sum = (float)log(sum);
    const float min_log_prob = min - max - log_sum;
    const float scale = (max - min) / 65535.0f;
    memcpy(row, &scale, 4);
    memcpy(row + 2, &min_log_prob, 4);
    uint16_t *q = row + 4;
    memset(q, 0, (size_t)(kv_kld_row_words(n_vocab) - 4) * sizeof *q);
    if (scale != 0.0f) {
        const float inv = 1.0f / scale;
        for (int32_t i = 0; i < n_vocab; i++)
            q[i] = logits[i] > min ? (uint16_t)lrintf(inv * (logits[i] - min)) : 0;
    }
    return max + log_sum - logits[token];
}

static float base_logp(const uint8_t *q, int32_t i, float scale, float min_log_prob) {
    return scale * (float)kv_le16(q + (size_t)i * 2) + min_log_prob;
}

void kv_kld_add(kv_kld_acc *acc, const float *logits, int32_t n_vocab, const void *base_row,
                int32_t token, float *kld, float *p_diff) {
    float max = logits[0];
    int32_t imax = 0;
    for (int32_t i = 1; i < n_vocab; i++) {
        if (logits[i] > max) {
            max = logits[i];
            imax = i;
        }
    }
    double sum_exp = 0.0;
    for (int32_t i = 0; i < n_vocab; i++)
        sum_exp += expf(logits[i] - max);
    const float log_sum = (float)log(sum_exp);
    const uint8_t *b = base_row;
    const float scale = kv_f32_from_bits(kv_le32(b));
    const float min_log_prob = kv_f32_from_bits(kv_le32(b + 4));
    const uint8_t *q = b + 8;

    const float nll = max + log_sum - logits[token];
    const float nll_base = -base_logp(q, token, scale, min_log_prob);
    acc->sum_nll += nll;
    acc->sum_nll2 += nll * nll;
    acc->sum_nll_base += nll_base;
    acc->sum_nll_base2 += nll_base * nll_base;
    acc->sum_nll_nll_base += nll * nll_base;

    // KL(base || this) = sum p_base * (log p_base - log p)
    const float log_norm = max + log_sum;
    double sum = 0.0;
    int32_t imax_base = 0;
    float top_base = 0.0f;
    for (int32_t i = 0; i < n_vocab; i++) {
        const float lp_base = base_logp(q, i, scale, min_log_prob);
        if (i == 0 || lp_base > top_base) {
            top_base = lp_base;
            imax_base = i;
        }
        if (lp_base > -LOGP_FLOOR)
            sum += expf(lp_base) * (lp_base - logits[i] + log_norm);
    }
    acc->sum_kld += sum;
    acc->sum_kld2 += sum * sum;
    acc->count++;
    if (imax == imax_base)
        acc->n_same_top++;

    const float pd = expf(-nll) - expf(-nll_base);
    const double pd2 = pd * pd;
    acc->sum_p_diff += pd;
    acc->sum_p_diff2 += pd2;
    acc->sum_p_diff4 += pd2 * pd2;
    if (fabsf(pd) > acc->max_p_diff)
        acc->max_p_diff = fabsf(pd);
    if (kld)
        *kld = (float)sum;
    if (p_diff)
        *p_diff = pd;
}

float kv_eval_percentile(const float *sorted, int64_t n, float fraction) {
    if (n < 1)
        return 0.0f;
    if (fraction <= 0.0f)
        return sorted[0];
    if (fraction >= 1.0f)
        return sorted[n - 1];
    float p = fraction * (float)(n - 1);
    const int64_t ip = (int64_t)p;
    p -= (float)ip;
    const int64_t next = ip + 1 < n ? ip + 1 : n - 1;
    return (1.0f - p) * sorted[ip] + p * sorted[next];
}

// ---- summary ----

typedef struct {
    double mean, unc;
} estimate;

// Mean and its standard error; no error below 11 samples, as llama.cpp.
static estimate mean_unc(double sum, double sum2, int64_t n) {
    estimate e = {0.0, 0.0};
    if (n < 1)
        return e;
    e.mean = sum / (double)n;
    const double var = sum2 / (double)n - e.mean * e.mean;
    e.unc = var > 0.0 && n > 10 ? sqrt(var / (double)(n - 1)) : 0.0;
    return e;
}

static double covariance(double sa, double sb, double sab, int64_t n) {
    if (n < 10)
        return 0.0;
    const double v = sab / (double)n - (sa / (double)n) * (sb / (double)n);
    return v / (double)(n - 1);
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a;
    const float y = *(const float *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static float median(const float *v, int64_t n) {
    if (n < 1)
        return 0.0f;
    return n % 2 == 0 ? 0.5f * (v[n / 2] + v[n / 2 - 1]) : v[n / 2];
}

static void ppl_stats(const kv_kld_acc *a, kv_kld_stats *o) {
    const estimate lp = mean_unc(a->sum_nll, a->sum_nll2, a->count);
    const estimate lb = mean_unc(a->sum_nll_base, a->sum_nll_base2, a->count);
    const double cov = covariance(a->sum_nll, a->sum_nll_base, a->sum_nll_nll_base, a->count);
    o->ppl = exp(lp.mean);
    o->ppl_unc = o->ppl * lp.unc;
    o->ppl_base = exp(lb.mean);
    o->ppl_base_unc = o->ppl_base * lb.unc;
    o->log_ppl_cor = lp.unc > 0.0 && lb.unc > 0.0 ? cov / (lp.unc * lb.unc) : 0.0;
    o->log_ppl_ratio = lp.mean - lb.mean;
    const double r2 = lp.unc * lp.unc + lb.unc * lb.unc - 2.0 * cov;
    o->log_ppl_ratio_unc = r2 > 0.0 ? sqrt(r2) : 0.0;
    o->ppl_ratio = exp(o->log_ppl_ratio);
    o->ppl_ratio_unc = o->ppl_ratio * o->log_ppl_ratio_unc;
    o->ppl_diff = o->ppl - o->ppl_base;
    const double d2 = o->ppl_unc * o->ppl_unc + o->ppl_base_unc * o->ppl_base_unc -
                      2.0 * o->ppl * o->ppl_base * cov;
    o->ppl_diff_unc = d2 > 0.0 ? sqrt(d2) : 0.0;
}

void kv_kld_stats_compute(const kv_kld_acc *a, float *kld, float *pd, int64_t n, kv_kld_stats *o) {
    memset(o, 0, sizeof *o);
    o->count = a->count;
    ppl_stats(a, o);
    const estimate k = mean_unc(a->sum_kld, a->sum_kld2, a->count);
    o->kld_mean = k.mean;
    o->kld_unc = k.unc;
    const estimate p = mean_unc(a->sum_p_diff, a->sum_p_diff2, a->count);
    o->p_diff_mean = p.mean;
    o->p_diff_unc = p.unc;
    const estimate mse = mean_unc(a->sum_p_diff2, a->sum_p_diff4, a->count);
    o->p_diff_rms = sqrt(mse.mean);
    o->p_diff_rms_unc = o->p_diff_rms > 0.0 ? 0.5 / o->p_diff_rms * mse.unc : 0.0;
    if (a->count > 0) {
        o->same_top = (double)a->n_same_top / (double)a->count;
        o->same_top_unc = a->count > 1 ? sqrt(o->same_top * (1.0 - o->same_top) /
                                              (double)(a->count - 1))
                                       : 0.0;
    }
    if (n < 1)
        return;
    qsort(kld, (size_t)n, sizeof *kld, cmp_float);
    qsort(pd, (size_t)n, sizeof *pd, cmp_float);
    o->kld_max = kld[n - 1];
    o->kld_p999 = kv_eval_percentile(kld, n, 0.999f);
    o->kld_p99 = kv_eval_percentile(kld, n, 0.990f);
    o->kld_p95 = kv_eval_percentile(kld, n, 0.950f);
    o->kld_p90 = kv_eval_percentile(kld, n, 0.900f);
    o->kld_median = median(kld, n);
    o->kld_p10 = kv_eval_percentile(kld, n, 0.100f);
    o->kld_p05 = kv_eval_percentile(kld, n, 0.050f);
    o->kld_p01 = kv_eval_percentile(kld, n, 0.010f);
    o->kld_p001 = kv_eval_percentile(kld, n, 0.001f);
    o->kld_min = kld[0];
    o->p_diff_max = pd[n - 1];
    o->p_diff_p999 = kv_eval_percentile(pd, n, 0.999f);
    o->p_diff_p99 = kv_eval_percentile(pd, n, 0.990f);
    o->p_diff_p95 = kv_eval_percentile(pd, n, 0.950f);
    o->p_diff_p90 = kv_eval_percentile(pd, n, 0.900f);
    o->p_diff_p75 = kv_eval_percentile(pd, n, 0.750f);
    o->p_diff_median = median(pd, n);
    o->p_diff_p25 = kv_eval_percentile(pd, n, 0.250f);
    o->p_diff_p10 = kv_eval_percentile(pd, n, 0.100f);
    o->p_diff_p05 = kv_eval_percentile(pd, n, 0.050f);
    o->p_diff_p01 = kv_eval_percentile(pd, n, 0.010f);
    o->p_diff_p001 = kv_eval_percentile(pd, n, 0.001f);
    o->p_diff_min = pd[0];
}

// ---- driver ----

typedef struct {
    const kv_logits_file *f;
    const int32_t *tokens;
    int32_t chunk;
    int32_t n_vocab;
    kv_kld_acc acc;
    float *kld;    // per scored token, all chunks
    float *p_diff;
    int64_t n;
} kld_state;

static void kld_row(void *user, int32_t j, const float *logits) {
    kld_state *s = user;
    const int32_t first = kv_logits_n_ctx(s->f) / 2;
    const void *base = kv_logits_row(s->f, s->chunk, j - first);
    kv_kld_add(&s->acc, logits, s->n_vocab, base, s->tokens[j + 1], &s->kld[s->n],
               &s->p_diff[s->n]);
    s->n++;
}

static kv_status kld_check(const kv_ctx *c, const kv_logits_file *f, kv_err *err) {
    const int64_t n_vocab = kv_model_hparams(kv_ctx_model(c))->n_vocab;
    if (kv_logits_n_vocab(f) != n_vocab)
        return KV_FAIL(err, KV_ERR_INVALID, "base logits have a vocabulary of %d, the model %lld",
                       kv_logits_n_vocab(f), (long long)n_vocab);
    if (kv_ctx_n_ctx(c) < kv_logits_n_ctx(f))
        return KV_FAIL(err, KV_ERR_INVALID, "the context holds %d tokens; the base used %d",
                       kv_ctx_n_ctx(c), kv_logits_n_ctx(f));
    return KV_OK;
}

kv_status kv_eval_kld(kv_ctx *c, const kv_kld_params *p, kv_kld_stats *out, kv_err *err) {
    kv_logits_file *f = NULL;
    kv_status st = kv_logits_open(p->base_path, &f, err);
    if (st != KV_OK)
        return st;
    kld_state s = {.f = f, .n_vocab = kv_logits_n_vocab(f)};
    int32_t *toks = NULL;
    int32_t *scratch = NULL;
    st = kld_check(c, f, err);
    if (st != KV_OK)
        goto done;
    const int32_t n_ctx = kv_logits_n_ctx(f);
    int32_t n_chunks = kv_logits_n_chunks(f);
    if (p->n_chunks >= 0 && p->n_chunks < n_chunks)
        n_chunks = p->n_chunks;
    const size_t n_rows = (size_t)n_chunks * (size_t)(n_ctx - 1 - n_ctx / 2);
    toks = malloc((size_t)n_ctx * sizeof *toks);
    scratch = malloc((size_t)n_ctx * 3 * sizeof *scratch);
    s.kld = malloc((n_rows > 0 ? n_rows : 1) * sizeof *s.kld);
    s.p_diff = malloc((n_rows > 0 ? n_rows : 1) * sizeof *s.p_diff);
    if (!toks || !scratch || !s.kld || !s.p_diff) {
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %zu KL values", n_rows);
        goto done;
    }
    for (int32_t i = 0; i < n_chunks && st == KV_OK; i++) {
        kv_logits_tokens(f, i, toks);
        s.tokens = toks;
        s.chunk = i;
        st = kv__eval_chunk(c, toks, n_ctx, p->bos, scratch, kld_row, &s, err);
        if (st == KV_OK && p->progress) {
            char label[64];
            snprintf(label, sizeof label, "[%d]kld %.6f", i + 1,
                     s.acc.count ? s.acc.sum_kld / (double)s.acc.count : 0.0);
            p->progress(p->progress_user, (uint64_t)i + 1, (uint64_t)n_chunks, label);
        }
    }
    if (st == KV_OK)
        kv_kld_stats_compute(&s.acc, s.kld, s.p_diff, s.n, out);
done:
    free(s.kld);
    free(s.p_diff);
    free(scratch);
    free(toks);
    kv_logits_close(f);
    return st;
}
