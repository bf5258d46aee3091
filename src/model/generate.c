// Single-sequence generation: prompt in batches, then sample/decode one token at
// a time. Text goes out through a UTF-8 holder and a stop-string window, so the
// caller sees only final text. With json_object, sampling keeps the text a JSON
// object prefix and generation ends when the object closes.
#define _POSIX_C_SOURCE 200809L
#include "kvant/kv_generate.h"

#include "kvant/kv_json_prefix.h"
#include "model/spec_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

kv_gen_params kv_gen_default_params(void) {
    kv_gen_params p;
    memset(&p, 0, sizeof p);
    p.n_predict = 128;
    p.sample = kv_sample_default_params();
    return p;
}

const char *kv_gen_stop_name(kv_gen_stop s) {
    switch (s) {
    case KV_GEN_STOP_EOS: return "stop";
    case KV_GEN_STOP_LENGTH: return "length";
    case KV_GEN_STOP_STRING: return "stop";
    case KV_GEN_STOP_CONTEXT: return "length";
    case KV_GEN_STOP_CALLER: return "cancelled";
    }
    return "?";
}

// ---- output window: text waits here until no stop string can begin in it ----

typedef struct {
    const kv_gen_params *p;
    kv_utf8_stream utf8;
    char buf[2 * KV_GEN_MAX_STOP_LEN + 64];
    size_t n;
    bool stopped; // a stop string matched, or the caller said stop
    bool caller_stop;
} out_window;

static bool emit(out_window *w, const char *s, size_t n) {
    if (n == 0 || !w->p->on_text)
        return true;
    if (!w->p->on_text(w->p->user, s, n)) {
        w->caller_stop = w->stopped = true;
        return false;
    }
    return true;
}

// Length of the longest suffix of buf that is a proper prefix of a stop string.
static size_t held_suffix(const out_window *w) {
    size_t keep = 0;
    for (size_t i = 0; i < w->p->n_stop; i++) {
        size_t m = strlen(w->p->stop[i]);
        size_t k0 = m - 1 < w->n ? m - 1 : w->n;
        for (size_t k = k0; k > keep; k--)
            if (memcmp(w->buf + w->n - k, w->p->stop[i], k) == 0) {
                keep = k;
                break;
            }
    }
    return keep;
}

// First occurrence of needle (nlen > 0 bytes) in hay, or NULL.
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t nlen) {
    for (size_t i = 0; nlen <= n && i <= n - nlen; i++)
        if (memcmp(hay + i, needle, nlen) == 0)
            return hay + i;
    return NULL;
}

// Adds text; emits what can no longer be part of a stop string.
static void window_push(out_window *w, const char *s, size_t n) {
    char tmp[64 + KV_UTF8_STREAM_HOLD];
    while (n > 0 && !w->stopped) {
        size_t k = n < 64 ? n : 64;
        size_t m = kv_utf8_stream_push(&w->utf8, s, k, tmp);
        s += k;
        n -= k;
        memcpy(w->buf + w->n, tmp, m);
        w->n += m;
        for (size_t i = 0; i < w->p->n_stop; i++) {
            const char *hit = find_bytes(w->buf, w->n, w->p->stop[i], strlen(w->p->stop[i]));
            if (hit) {
                emit(w, w->buf, (size_t)(hit - w->buf));
                w->stopped = true;
                w->n = 0;
                return;
            }
        }
        size_t out = w->n - held_suffix(w);
        if (!emit(w, w->buf, out))
            return;
        memmove(w->buf, w->buf + out, w->n - out);
        w->n -= out;
    }
}

static void window_flush(out_window *w) {
    if (w->stopped)
        return;
    char tmp[KV_UTF8_STREAM_HOLD];
    size_t m = kv_utf8_stream_flush(&w->utf8, tmp);
    memcpy(w->buf + w->n, tmp, m);
    w->n += m;
    emit(w, w->buf, w->n);
    w->n = 0;
}

// ---- generation ----

// Decodes the prompt in batches; *last is the index of its last token in the final batch.
static kv_status decode_prompt(kv_ctx *c, int32_t seq, const kv_token *prompt, int64_t n,
                               int32_t *last, kv_err *err) {
    int32_t nb = kv_ctx_n_batch(c);
    int32_t seqs[512];
    int32_t cap = nb < 512 ? nb : 512;
    for (int32_t i = 0; i < cap; i++)
        seqs[i] = seq;
    for (int64_t i = 0; i < n; i += cap) {
        int32_t k = (int32_t)(n - i < cap ? n - i : cap);
        kv_batch b = {k, prompt + i, NULL, seqs, NULL};
        kv_status st = kv_ctx_decode(c, &b, err);
        if (st != KV_OK)
            return st;
        *last = k - 1;
    }
    return KV_OK;
}

static kv_status check_args(kv_ctx *c, int32_t seq, int64_t n_prompt, const kv_gen_params *p,
                            kv_err *err) {
    if (n_prompt < 1 || seq < 0 || seq >= kv_ctx_n_seq_max(c))
        return KV_FAIL(err, KV_ERR_INVALID, "generate: need a prompt and a valid sequence id");
    if (p->n_stop > KV_GEN_MAX_STOP)
        return KV_FAIL(err, KV_ERR_LIMIT, "generate: %zu stop strings, at most %d", p->n_stop,
                       KV_GEN_MAX_STOP);
    for (size_t i = 0; i < p->n_stop; i++) {
        size_t m = strlen(p->stop[i]);
        if (m == 0 || m > KV_GEN_MAX_STOP_LEN)
            return KV_FAIL(err, KV_ERR_INVALID, "generate: stop string %zu is empty or over %d bytes",
                           i, KV_GEN_MAX_STOP_LEN);
    }
    int64_t used = kv_ctx_seq_pos_max(c, seq) + 1;
    if (used + n_prompt > kv_ctx_n_ctx(c))
        return KV_FAIL(err, KV_ERR_LIMIT,
                       "the prompt has %lld tokens and the context %d, of which %lld are used",
                       (long long)n_prompt, kv_ctx_n_ctx(c), (long long)used);
    return KV_OK;
}

// The generation loop after the prompt: sample, stream the piece, decode it.
static kv_status gen_loop(kv_ctx *c, const kv_vocab *v, int32_t seq, const kv_gen_params *p,
                          kv_sampler *s, const float *logits, kv_gen_result *res, kv_err *err) {
    out_window w;
    memset(&w, 0, sizeof w);
    w.p = p;
    kv_json_prefix jp;
    kv_json_prefix_init(&jp, KV_JSON_ROOT_OBJECT);
    kv_status st = KV_OK;
    res->stop = KV_GEN_STOP_LENGTH;
    while (st == KV_OK && (p->n_predict < 0 || res->n_gen < p->n_predict)) {
        kv_token t = p->json_object ? kv_sample_next_json(s, logits, v, &jp)
                                    : kv_sample_next(s, logits);
        if (t < 0) {
            st = KV_FAIL(err, KV_ERR_UNSUPPORTED,
                         "generate: no token of the vocabulary continues the JSON text");
            break;
        }
        kv_sample_accept(s, t);
        res->n_gen++;
        if (!p->ignore_eos && kv_vocab_is_eog(v, t)) {
            res->stop = KV_GEN_STOP_EOS;
            break;
        }
        size_t len = 0;
        const char *piece = kv_vocab_piece(v, t, false, &len);
        window_push(&w, piece ? piece : "", piece ? len : 0);
        if (w.stopped) {
            res->stop = w.caller_stop ? KV_GEN_STOP_CALLER : KV_GEN_STOP_STRING;
            break;
        }
        if (p->json_object && kv_json_prefix_feed(&jp, piece, len) && kv_json_prefix_done(&jp)) {
            res->stop = KV_GEN_STOP_EOS;
            break;
        }
        if (kv_ctx_seq_pos_max(c, seq) + 1 >= kv_ctx_n_ctx(c)) {
            res->stop = KV_GEN_STOP_CONTEXT;
            break;
        }
        int32_t seqs[1] = {seq};
        kv_batch b = {1, &t, NULL, seqs, NULL};
        st = kv_ctx_decode(c, &b, err);
        logits = kv_ctx_logits(c, 0);
    }
    window_flush(&w);
    return st;
}

// ---- speculative generation ----

// Records, counts and streams token t; false when generation ends with it (res->stop set).
static bool take_token(const kv_vocab *v, const kv_gen_params *p, kv_sampler *s, out_window *w,
                       kv_token t, kv_gen_result *res) {
    kv_sample_accept(s, t);
    res->n_gen++;
    if (!p->ignore_eos && kv_vocab_is_eog(v, t)) {
        res->stop = KV_GEN_STOP_EOS;
        return false;
    }
    size_t len = 0;
    const char *piece = kv_vocab_piece(v, t, false, &len);
    window_push(w, piece ? piece : "", piece ? len : 0);
    if (w->stopped) {
        res->stop = w->caller_stop ? KV_GEN_STOP_CALLER : KV_GEN_STOP_STRING;
        return false;
    }
    return p->n_predict < 0 || res->n_gen < p->n_predict;
}

// Guesses for the tokens after t: at most what the context, the batch and n_predict leave.
static kv_status propose(kv_ctx *c, int32_t seq, const kv_gen_params *p,
                         const kv_gen_result *res, int32_t *k, kv_err *err) {
    int64_t max_k = (int64_t)kv_ctx_n_ctx(c) - (kv_ctx_seq_pos_max(c, seq) + 1) - 1;
    if (max_k > kv_ctx_n_batch(c) - 1)
        max_k = kv_ctx_n_batch(c) - 1;
    if (p->n_predict >= 0 && max_k > (int64_t)p->n_predict - res->n_gen - 1)
        max_k = (int64_t)p->n_predict - res->n_gen - 1;
    return kv__spec_propose(p->spec, max_k > 0 ? (int32_t)max_k : 0, k, err);
}

// As gen_loop, but each step decodes the last token with the proposer's guesses
// after it in one batch; the target's rows say how many guesses stand (rejection
// sampling, kv_sample_verify) and the cells after the last one kept are removed.
static kv_status spec_loop(kv_ctx *c, const kv_vocab *v, int32_t seq, const kv_gen_params *p,
                           kv_sampler *s, const float *logits, kv_gen_result *res, kv_err *err) {
    kv_spec *sp = p->spec;
    out_window w;
    memset(&w, 0, sizeof w);
    w.p = p;
    res->stop = KV_GEN_STOP_LENGTH;
    kv_status st = KV_OK;
    kv_token t = kv_sample_next(s, logits);
    int32_t seqs[KV_SPEC_MAX_DRAFT + 1];
    int8_t outs[KV_SPEC_MAX_DRAFT + 1];
    kv_token toks[KV_SPEC_MAX_DRAFT + 1];
    for (int32_t i = 0; i <= KV_SPEC_MAX_DRAFT; i++)
        seqs[i] = seq, outs[i] = 1;
    while (st == KV_OK && (p->n_predict < 0 || res->n_gen < p->n_predict)) {
        if (!take_token(v, p, s, &w, t, res) || (st = kv__spec_push(sp, t, err)) != KV_OK)
            break;
        const int32_t p0 = kv_ctx_seq_pos_max(c, seq) + 1; // t's position
        if (p0 >= kv_ctx_n_ctx(c)) {
            res->stop = KV_GEN_STOP_CONTEXT;
            break;
        }
        int32_t k = 0;
        if ((st = propose(c, seq, p, res, &k, err)) != KV_OK)
            break;
        toks[0] = t;
        memcpy(toks + 1, sp->drafts, (size_t)k * sizeof *toks);
        kv_batch b = {k + 1, toks, NULL, seqs, outs};
        if ((st = kv_ctx_decode(c, &b, err)) != KV_OK)
            break;
        res->n_drafted += k;
        int32_t i = 0;
        bool go = true;
        for (; i < k && go; i++) {
            kv_token x = kv_sample_verify(s, kv_ctx_logits(c, i), toks[1 + i], kv__spec_q(sp, i),
                                          sp->scratch);
            if (x != toks[1 + i]) {
                t = x;
                break;
            }
            res->n_accepted++;
            go = take_token(v, p, s, &w, x, res) && (st = kv__spec_push(sp, x, err)) == KV_OK;
        }
        if (!go)
            break;
        if (i == k) // every guess stands: the last row gives the next token
            t = kv_sample_next(s, kv_ctx_logits(c, k));
        else        // guess i fell: its cell and those after it go
            st = kv_ctx_seq_rm(c, seq, p0 + 1 + i, -1, err);
    }
    window_flush(&w);
    return st;
}

kv_status kv_generate(kv_ctx *c, const kv_vocab *v, int32_t seq, const kv_token *prompt,
                      int64_t n_prompt, const kv_gen_params *p, kv_gen_result *res, kv_err *err) {
    memset(res, 0, sizeof *res);
    kv_status st = check_args(c, seq, n_prompt, p, err);
    if (st != KV_OK)
        return st;
    int32_t n_vocab = (int32_t)kv_model_hparams(kv_ctx_model(c))->n_vocab;
    kv_sampler *s = NULL;
    st = kv_sample_new(&p->sample, n_vocab, &s, err);
    if (st != KV_OK)
        return st;
    for (int64_t i = 0; i < n_prompt; i++)
        kv_sample_accept(s, prompt[i]);
    const int32_t n0 = kv_ctx_seq_pos_max(c, seq) + 1;
    double t0 = now_s();
    int32_t last = 0;
    st = decode_prompt(c, seq, prompt, n_prompt, &last, err);
    res->n_prompt = (int32_t)n_prompt;
    res->t_prompt_s = now_s() - t0;
    res->stop = KV_GEN_STOP_LENGTH;
    t0 = now_s();
    const bool spec = p->spec && !p->json_object;
    if (st == KV_OK && spec)
        st = kv__spec_begin(p->spec, n0, prompt, n_prompt, &p->sample, err);
    if (st == KV_OK)
        st = spec ? spec_loop(c, v, seq, p, s, kv_ctx_logits(c, last), res, err)
                  : gen_loop(c, v, seq, p, s, kv_ctx_logits(c, last), res, err);
    if (spec)
        kv__spec_end(p->spec);
    res->t_gen_s = now_s() - t0;
    kv_sample_free(s);
    return st;
}
