// serve --draft: a small model of the target's vocabulary guesses the next
// tokens of a generating slot; sched.c's add_drafts puts the guesses in the
// target's batch and verify_drafts checks them, as for options.lookup. The
// draft guesses greedily, so a guess is a certain proposal (no distribution)
// and the target's check keeps its distribution exactly at any temperature.
// The draft context has one sequence per slot and the target's context size;
// each slot remembers the tokens its draft sequence holds and brings it up to
// date with the target's tokens (common prefix kept) before guessing.
#include "serve/sched_impl_int.h"
#include "serve/sched_int.h"

#include <stdlib.h>
#include <string.h>

// The same tokens, id for id (their text), and the same special tokens.
static kv_status same_vocab(const kv_vocab *t, const kv_vocab *d, const char *tpath,
                            const char *dpath, kv_err *err) {
    int64_t nt = kv_vocab_n_tokens(t), nd = kv_vocab_n_tokens(d);
    if (nt != nd)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "draft model %s has %lld tokens, target %s has %lld: a draft needs the "
                       "target's vocabulary",
                       dpath, (long long)nd, tpath, (long long)nt);
    for (int64_t i = 0; i < nt; i++) {
        size_t lt = 0, ld = 0;
        const char *a = kv_vocab_text(t, (kv_token)i, &lt), *b = kv_vocab_text(d, (kv_token)i, &ld);
        if (lt != ld || (lt && memcmp(a, b, lt) != 0))
            return KV_FAIL(err, KV_ERR_INVALID,
                           "draft model %s and target %s differ at token %lld: a draft needs "
                           "the target's vocabulary",
                           dpath, tpath, (long long)i);
    }
    if (kv_vocab_bos(t) != kv_vocab_bos(d) || kv_vocab_eos(t) != kv_vocab_eos(d))
        return KV_FAIL(err, KV_ERR_INVALID,
                       "draft model %s and target %s have different BOS/EOS tokens", dpath, tpath);
    return KV_OK;
}

static kv_status vocab_of(const char *path, kv_gguf **g, kv_vocab **v, kv_err *err) {
    kv_status st = kv_gguf_open(path, g, err);
    if (st == KV_OK)
        st = kv_vocab_from_gguf(*g, v, err);
    return st;
}

kv_status kv__draft_check_files(const char *tpath, const char *dpath, kv_err *err) {
    kv_gguf *tg = NULL, *dg = NULL;
    kv_vocab *tv = NULL, *dv = NULL;
    kv_status st = vocab_of(tpath, &tg, &tv, err);
    if (st == KV_OK)
        st = vocab_of(dpath, &dg, &dv, err);
    if (st == KV_OK)
        st = same_vocab(tv, dv, tpath, dpath, err);
    kv_vocab_free(tv);
    kv_vocab_free(dv);
    kv_gguf_close(tg);
    kv_gguf_close(dg);
    return st;
}

kv_status kv__draft_open(kv__sched *s, const char *path, const char *target_path,
                         const kv__sched_params *p, kv_err *err) {
    kv_vocab *dv = NULL;
    kv_status st = kv_model_open(path, &s->dmodel, err);
    if (st == KV_OK)
        st = kv_vocab_from_gguf(kv_model_gguf(s->dmodel), &dv, err);
    if (st == KV_OK)
        st = same_vocab(s->vocab, dv, target_path, path, err);
    kv_vocab_free(dv);
    if (st == KV_OK && !kv_model_hparams(s->dmodel)->causal_attn)
        st = KV_FAIL(err, KV_ERR_INVALID, "draft model %s does not generate text", path);
    if (st != KV_OK)
        return st;
    kv_ctx_params cp = kv_ctx_default_params();
    cp.n_ctx = s->n_ctx;
    cp.n_seq_max = s->n_slots;
    cp.n_cells_max = p->n_kv_cells;
    cp.type_k = p->type_k;
    cp.type_v = p->type_v;
    cp.pool = s->pool;
    st = kv_ctx_new(s->dmodel, &cp, &s->dctx, err);
    if (st != KV_OK)
        return st;
    s->dn_batch = kv_ctx_n_batch(s->dctx);
    size_t nb = (size_t)s->dn_batch;
    s->db_tok = calloc(nb, sizeof *s->db_tok);
    s->db_pos = calloc(nb, sizeof *s->db_pos);
    s->db_seq = calloc(nb, sizeof *s->db_seq);
    s->db_out = calloc(nb, sizeof *s->db_out);
    if (!s->db_tok || !s->db_pos || !s->db_seq || !s->db_out)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the draft model's batch");
    for (int32_t i = 0; i < s->n_slots; i++) {
        // positions up to n_ctx - 1 plus guesses beyond are never decoded: n_ctx + 1 suffices
        s->slots[i].dcache = calloc((size_t)s->n_ctx + 1, sizeof(int32_t));
        if (!s->slots[i].dcache)
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for slot %d's draft tokens", i);
    }
    return KV_OK;
}

void kv__draft_free(kv__sched *s) {
    for (int32_t i = 0; s->slots && i < s->n_slots; i++) {
        free(s->slots[i].dcache);
        s->slots[i].dcache = NULL;
    }
    free(s->db_tok);
    free(s->db_pos);
    free(s->db_seq);
    free(s->db_out);
    kv_ctx_free(s->dctx);
    kv_model_close(s->dmodel);
    s->dctx = NULL;
    s->dmodel = NULL;
}

void kv__draft_forget(kv__sched *s, slot *sl) {
    if (!s->dctx)
        return;
    kv_ctx_seq_clear(s->dctx, sl->seq);
    sl->n_dcache = 0;
}

// The draft context is full: drops the draft cells of slots without a job
// and of sl, so that the next step starts sl afresh.
static void make_room(kv__sched *s, slot *sl) {
    for (int32_t i = 0; i < s->n_slots; i++)
        if (!s->slots[i].job || &s->slots[i] == sl)
            kv__draft_forget(s, &s->slots[i]);
}

// Decodes toks[0..n) at the end of sl's draft sequence, logits for the last.
static bool draft_decode(kv__sched *s, slot *sl, const int32_t *toks, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        s->db_tok[i] = toks[i];
        s->db_pos[i] = sl->n_dcache + i;
        s->db_seq[i] = sl->seq;
        s->db_out[i] = i == n - 1;
    }
    kv_batch b = {.n_tokens = n,
                  .tokens = s->db_tok,
                  .pos = s->db_pos,
                  .seq_id = s->db_seq,
                  .logits = s->db_out};
    kv_err e;
    if (kv_ctx_decode(s->dctx, &b, &e) != KV_OK) {
        make_room(s, sl);
        return false;
    }
    s->d_last = n - 1;
    memcpy(sl->dcache + sl->n_dcache, toks, (size_t)n * sizeof *toks);
    sl->n_dcache += n;
    return true;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

// How many of h[0..n) slot sl's draft sequence holds, from the start.
static int32_t shared(const slot *sl, const int32_t *h, int32_t n) {
    const int32_t lim = sl->n_dcache < n ? sl->n_dcache : n;
    int32_t i = 0;
    while (i < lim && sl->dcache[i] == h[i])
        i++;
    return i;
}

int32_t kv__draft_propose(kv__sched *s, slot *sl, int32_t max_k) {
    if (!s->dctx || max_k < 1)
        return 0;
    const int32_t *h = sl->cache;
    const int32_t n = sl->n_cache + 1; // the sampled token is at n_cache
    int32_t common = shared(sl, h, n);
    // another slot's draft cells may hold more of the history (the target's
    // place() copied that slot's cached prompt): share its blocks
    slot *best = NULL;
    int32_t best_n = common;
    for (int32_t i = 0; i < s->n_slots; i++) {
        int32_t m = &s->slots[i] == sl ? 0 : shared(&s->slots[i], h, n);
        if (m > best_n)
            best = &s->slots[i], best_n = m;
    }
    if (best && kv_ctx_seq_cp(s->dctx, best->seq, sl->seq, NULL) == KV_OK) {
        memcpy(sl->dcache, best->dcache, (size_t)best->n_dcache * sizeof *sl->dcache);
        sl->n_dcache = best->n_dcache;
        common = best_n;
    }
    if (common == n)
        common = n - 1; // its logits are needed again
    if (common < sl->n_dcache) {
        if (kv_ctx_seq_rm(s->dctx, sl->seq, common, -1, NULL) != KV_OK)
            kv__draft_forget(s, sl), common = 0;
        sl->n_dcache = common;
    }
    while (sl->n_dcache < n) {
        int32_t m = n - sl->n_dcache < s->dn_batch ? n - sl->n_dcache : s->dn_batch;
        if (!draft_decode(s, sl, h + sl->n_dcache, m))
            return 0;
    }
    const int32_t n_vocab = (int32_t)kv_vocab_n_tokens(s->vocab);
    int32_t k = 0;
    for (;;) {
        const float *logits = kv_ctx_logits(s->dctx, s->d_last);
        if (!logits)
            break;
        int32_t tok = argmax(logits, n_vocab);
        sl->drafts[k++] = tok;
        if (k >= max_k || kv_vocab_is_eog(s->vocab, tok) || !draft_decode(s, sl, &tok, 1))
            break;
    }
    return k;
}
