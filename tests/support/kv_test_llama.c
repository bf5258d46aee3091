// Synthetic Llama models and a naive reference forward pass (see kv_test_llama.h).
#include "kv_test_llama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_f16.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_quant.h"

kv_test_llama_opts kv_test_llama_defaults(void) {
    kv_test_llama_opts o = {0};
    o.n_vocab = 100;
    o.n_embd = 64;
    o.n_layer = 2;
    o.n_head = 4;
    o.n_head_kv = 2;
    o.n_ff = 96;
    o.n_rot = 16;
    o.n_ctx_train = 128;
    o.eps = 1e-5f;
    o.rope_base = 10000.0f;
    o.wtype = KV_TYPE_F32;
    o.norm_type = KV_TYPE_F32;
    o.seed = 1;
    o.arch = "llama";
    return o;
}

// ---- weights ----

static double urand(uint64_t *s) { // uniform in [-1, 1)
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

static float *rand_vec(uint64_t *s, int64_t n, double center, double scale) {
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(center + scale * urand(s));
    return v;
}

// Rounds rows of n_in floats to what type t stores.
static void round_to_type(kv_type t, float *v, int64_t rows, int64_t n_in) {
    if (t == KV_TYPE_F32)
        return;
    size_t row = kv_type_row_size(t, n_in);
    uint8_t *q = malloc(row * (size_t)rows);
    if (kv_quant_rows(t, v, q, rows, n_in, NULL, NULL) != KV_OK) {
        fprintf(stderr, "cannot quantize to %s\n", kv_type_name(t));
        abort();
    }
    for (int64_t r = 0; r < rows; r++)
        kv_dequant_row(t, q + (size_t)r * row, v + r * n_in, n_in, NULL);
    free(q);
}

static float *matrix(const kv_test_llama *m, uint64_t *s, int64_t n_out, int64_t n_in) {
    float *w = rand_vec(s, n_out * n_in, 0.0, 1.5 / sqrt((double)n_in));
    round_to_type(m->o.wtype, w, n_out, n_in);
    return w;
}

kv_test_llama *kv_test_llama_new(const kv_test_llama_opts *o) {
    kv_test_llama *m = calloc(1, sizeof *m);
    m->o = *o;
    m->hd = o->head_dim ? o->head_dim : o->n_embd / o->n_head;
    uint64_t s = o->seed;
    const int e = o->n_embd, nq = o->n_head * m->hd, nkv = o->n_head_kv * m->hd;
    m->tok_embd = rand_vec(&s, (int64_t)o->n_vocab * e, 0.0, 1.0);
    round_to_type(o->wtype, m->tok_embd, o->n_vocab, e);
    m->output_norm = rand_vec(&s, e, 1.0, 0.2);
    m->output = o->tied ? m->tok_embd : matrix(m, &s, o->n_vocab, e);
    for (int l = 0; l < o->n_layer; l++) {
        kv_test_layer *L = &m->layers[l];
        L->attn_norm = rand_vec(&s, e, 1.0, 0.2);
        L->wq = matrix(m, &s, nq, e);
        L->wk = matrix(m, &s, nkv, e);
        L->wv = matrix(m, &s, nkv, e);
        L->wo = matrix(m, &s, e, nq);
        if (o->biases) {
            L->bq = rand_vec(&s, nq, 0.0, 0.1);
            L->bk = rand_vec(&s, nkv, 0.0, 0.1);
            L->bv = rand_vec(&s, nkv, 0.0, 0.1);
            L->bo = rand_vec(&s, e, 0.0, 0.1);
        }
        L->ffn_norm = rand_vec(&s, e, 1.0, 0.2);
        L->gate = matrix(m, &s, o->n_ff, e);
        L->up = matrix(m, &s, o->n_ff, e);
        L->down = matrix(m, &s, e, o->n_ff);
    }
    return m;
}

void kv_test_llama_free(kv_test_llama *m) {
    if (!m)
        return;
    free(m->tok_embd);
    free(m->output_norm);
    if (!m->o.tied)
        free(m->output);
    for (int l = 0; l < m->o.n_layer; l++) {
        kv_test_layer *L = &m->layers[l];
        float *all[] = {L->attn_norm, L->wq, L->wk, L->wv, L->wo, L->bq, L->bk,
                        L->bv, L->bo, L->ffn_norm, L->gate, L->up, L->down};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            free(all[i]);
    }
    free(m);
}

// ---- writing ----

typedef struct {
    char name[64];
    kv_type type;
    int64_t ne0, ne1;   // as written; ne1 == 0: a vector
    int64_t data_ne0, data_rows; // of data
    const float *data;
} entry;

static int add(entry *es, int *n, const kv_test_llama *m, const char *name, kv_type t,
               int64_t ne0, int64_t ne1, const float *data) {
    if (!data || (m->o.skip_tensor && strcmp(name, m->o.skip_tensor) == 0))
        return 0;
    entry *e = &es[(*n)++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->type = t;
    e->ne0 = ne0;
    e->ne1 = ne1;
    e->data_ne0 = ne0;
    e->data_rows = ne1 > 0 ? ne1 : 1;
    e->data = data;
    if (m->o.wide_tensor && strcmp(name, m->o.wide_tensor) == 0) {
        if (ne1 > 0)
            e->ne1++;
        else
            e->ne0++;
    }
    return 0;
}

static int collect(const kv_test_llama *m, entry *es) {
    const kv_test_llama_opts *o = &m->o;
    const int e = o->n_embd, nq = o->n_head * m->hd, nkv = o->n_head_kv * m->hd;
    int n = 0;
    char name[64];
    add(es, &n, m, "token_embd.weight", o->wtype, e, o->n_vocab, m->tok_embd);
    add(es, &n, m, "output_norm.weight", o->norm_type, e, 0, m->output_norm);
    if (!o->tied)
        add(es, &n, m, "output.weight", o->wtype, e, o->n_vocab, m->output);
    for (int l = 0; l < o->n_layer; l++) {
        const kv_test_layer *L = &m->layers[l];
        const struct {
            const char *suffix;
            kv_type t;
            int64_t ne0, ne1;
            const float *d;
        } spec[] = {
            {"attn_norm.weight", o->norm_type, e, 0, L->attn_norm},
            {"attn_q.weight", o->wtype, e, nq, L->wq},
            {"attn_k.weight", o->wtype, e, nkv, L->wk},
            {"attn_v.weight", o->wtype, e, nkv, L->wv},
            {"attn_output.weight", o->wtype, nq, e, L->wo},
            {"attn_q.bias", KV_TYPE_F32, nq, 0, L->bq},
            {"attn_k.bias", KV_TYPE_F32, nkv, 0, L->bk},
            {"attn_v.bias", KV_TYPE_F32, nkv, 0, L->bv},
            {"attn_output.bias", KV_TYPE_F32, e, 0, L->bo},
            {"ffn_norm.weight", o->norm_type, e, 0, L->ffn_norm},
            {"ffn_gate.weight", o->wtype, e, o->n_ff, L->gate},
            {"ffn_up.weight", o->wtype, e, o->n_ff, L->up},
            {"ffn_down.weight", o->wtype, o->n_ff, e, L->down},
        };
        for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
            snprintf(name, sizeof name, "blk.%d.%s", l, spec[i].suffix);
            add(es, &n, m, name, spec[i].t, spec[i].ne0, spec[i].ne1, spec[i].d);
        }
    }
    return n;
}

static int set_keys(const kv_test_llama *m, kv_gguf_writer *w) {
    const kv_test_llama_opts *o = &m->o;
    char key[128];
    int rc = 0;
    rc |= kv_gguf_set_str(w, "general.architecture", o->arch, NULL);
    const struct {
        const char *k;
        uint32_t v;
    } ints[] = {
        {"block_count", (uint32_t)o->n_layer},     {"context_length", (uint32_t)o->n_ctx_train},
        {"embedding_length", (uint32_t)o->n_embd}, {"feed_forward_length", (uint32_t)o->n_ff},
        {"attention.head_count", (uint32_t)o->n_head},
        {"attention.head_count_kv", (uint32_t)o->n_head_kv},
        {"rope.dimension_count", (uint32_t)o->n_rot},
        {"attention.key_length", (uint32_t)m->hd}, {"attention.value_length", (uint32_t)m->hd},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", o->arch, ints[i].k);
        if (!o->skip_key || strcmp(key, o->skip_key) != 0)
            rc |= kv_gguf_set_u32(w, key, ints[i].v, NULL);
    }
    snprintf(key, sizeof key, "%s.rope.freq_base", o->arch);
    if (!o->skip_key || strcmp(key, o->skip_key) != 0)
        rc |= kv_gguf_set_f32(w, key, o->rope_base, NULL);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", o->arch);
    if (!o->skip_key || strcmp(key, o->skip_key) != 0)
        rc |= kv_gguf_set_f32(w, key, o->eps, NULL);
    return rc;
}

static int write_data(kv_gguf_writer *w, const entry *e) {
    const int64_t rows = e->ne1 > 0 ? e->ne1 : 1;
    const size_t row = kv_type_row_size(e->type, e->ne0);
    uint8_t *buf = calloc(row, (size_t)rows);
    float *f = calloc((size_t)(rows * e->ne0), sizeof *f);
    // A widened tensor gets the real values where they fit and zeros elsewhere.
    for (int64_t r = 0; r < e->data_rows; r++)
        for (int64_t i = 0; i < e->data_ne0; i++)
            f[r * e->ne0 + i] = e->data[r * e->data_ne0 + i];
    int rc = 0;
    if (kv_quant_rows(e->type, f, buf, rows, e->ne0, NULL, NULL) != KV_OK)
        rc = 1;
    free(f);
    if (rc == 0)
        rc = kv_gguf_writer_write(w, buf, row * (size_t)rows, NULL) != KV_OK;
    free(buf);
    return rc;
}

int kv_test_llama_write(const kv_test_llama *m, const char *path) {
    entry *es = calloc(4 + 13 * KV_TEST_MAX_LAYERS, sizeof *es);
    const int n = collect(m, es);
    kv_gguf_writer *w = NULL;
    kv_err err = {0};
    int rc = kv_gguf_writer_new(&w, &err) != KV_OK || set_keys(m, w) != 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const int64_t ne[2] = {es[i].ne0, es[i].ne1};
        rc = kv_gguf_add_tensor(w, es[i].name, es[i].type, es[i].ne1 > 0 ? 2 : 1, ne, &err) != KV_OK;
    }
    if (rc == 0)
        rc = kv_gguf_writer_begin(w, path, &err) != KV_OK;
    for (int i = 0; i < n && rc == 0; i++)
        rc = write_data(w, &es[i]);
    if (rc == 0)
        rc = kv_gguf_writer_finish(w, &err) != KV_OK;
    if (rc != 0)
        fprintf(stderr, "writing %s failed: %s\n", path, err.msg);
    kv_gguf_writer_free(w);
    free(es);
    return rc;
}

// ---- naive forward pass ----

static float through_f16(double v) { return kv_f16_to_f32(kv_f32_to_f16((float)v)); }

// y (n_out) = W (n_out, n_in) x (n_in) + b
static void matvec(const float *w, const float *b, const double *x, int n_out, int n_in,
                   double *y) {
    for (int o = 0; o < n_out; o++) {
        double s = b ? b[o] : 0.0;
        for (int i = 0; i < n_in; i++)
            s += (double)w[(int64_t)o * n_in + i] * x[i];
        y[o] = s;
    }
}

static void rmsnorm(const double *x, const float *w, int n, float eps, double *y) {
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    const double scale = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        y[i] = x[i] * scale * w[i];
}

// Rotates each head's pairs (2i, 2i+1), 2i < n_rot, by pos * base^(-2i/n_rot).
static void rope(double *v, int n_heads, int hd, int n_rot, float base, int pos) {
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < n_rot / 2; i++) {
            const double th = pos * pow(base, -2.0 * i / n_rot);
            double *a = &v[h * hd + 2 * i];
            const double x0 = a[0], x1 = a[1];
            a[0] = x0 * cos(th) - x1 * sin(th);
            a[1] = x0 * sin(th) + x1 * cos(th);
        }
}

typedef struct {
    int e, nq, nkv, hd, ff;
    double *x;         // (n, e) residual stream
    double *q, *k, *v; // (n, nq), (n, nkv), (n, nkv)
    double *t, *u, *g; // scratch
} naive;

static void attention_layer(const kv_test_llama *m, const kv_test_layer *L, naive *s, int n) {
    const kv_test_llama_opts *o = &m->o;
    for (int p = 0; p < n; p++) {
        rmsnorm(s->x + p * s->e, L->attn_norm, s->e, o->eps, s->t);
        matvec(L->wq, L->bq, s->t, s->nq, s->e, s->q + p * s->nq);
        matvec(L->wk, L->bk, s->t, s->nkv, s->e, s->k + p * s->nkv);
        matvec(L->wv, L->bv, s->t, s->nkv, s->e, s->v + p * s->nkv);
        rope(s->q + p * s->nq, o->n_head, s->hd, o->n_rot, o->rope_base, p);
        rope(s->k + p * s->nkv, o->n_head_kv, s->hd, o->n_rot, o->rope_base, p);
        for (int i = 0; i < s->nq; i++)
            s->q[p * s->nq + i] = through_f16(s->q[p * s->nq + i]);
        for (int i = 0; i < s->nkv; i++) {
            s->k[p * s->nkv + i] = through_f16(s->k[p * s->nkv + i]);
            s->v[p * s->nkv + i] = through_f16(s->v[p * s->nkv + i]);
        }
    }
    double *out = malloc((size_t)s->nq * sizeof *out);
    double *w = malloc((size_t)n * sizeof *w);
    double *proj = malloc((size_t)s->e * sizeof *proj);
    for (int p = 0; p < n; p++) {
        for (int h = 0; h < o->n_head; h++) {
            const int kvh = h / (o->n_head / o->n_head_kv);
            double max = -INFINITY, z = 0.0;
            for (int j = 0; j <= p; j++) {
                double d = 0.0;
                for (int i = 0; i < s->hd; i++)
                    d += s->q[p * s->nq + h * s->hd + i] * s->k[j * s->nkv + kvh * s->hd + i];
                w[j] = d / sqrt((double)s->hd);
                if (w[j] > max)
                    max = w[j];
            }
            for (int j = 0; j <= p; j++) {
                w[j] = exp(w[j] - max);
                z += w[j];
            }
            for (int i = 0; i < s->hd; i++) {
                double acc = 0.0;
                for (int j = 0; j <= p; j++)
                    acc += w[j] / z * s->v[j * s->nkv + kvh * s->hd + i];
                out[h * s->hd + i] = acc;
            }
        }
        matvec(L->wo, L->bo, out, s->e, s->nq, proj);
        for (int i = 0; i < s->e; i++)
            s->x[p * s->e + i] += proj[i];
    }
    free(out);
    free(w);
    free(proj);
}

static void ffn_layer(const kv_test_llama *m, const kv_test_layer *L, naive *s, int n) {
    double *proj = malloc((size_t)s->e * sizeof *proj);
    for (int p = 0; p < n; p++) {
        rmsnorm(s->x + p * s->e, L->ffn_norm, s->e, m->o.eps, s->t);
        matvec(L->gate, NULL, s->t, s->ff, s->e, s->g);
        matvec(L->up, NULL, s->t, s->ff, s->e, s->u);
        for (int i = 0; i < s->ff; i++)
            s->g[i] = s->g[i] / (1.0 + exp(-s->g[i])) * s->u[i];
        matvec(L->down, NULL, s->g, s->e, s->ff, proj);
        for (int i = 0; i < s->e; i++)
            s->x[p * s->e + i] += proj[i];
    }
    free(proj);
}

void kv_test_llama_forward(const kv_test_llama *m, const int32_t *tokens, int n, float *logits,
                           float *hidden) {
    const kv_test_llama_opts *o = &m->o;
    naive s = {.e = o->n_embd, .nq = o->n_head * m->hd, .nkv = o->n_head_kv * m->hd, .hd = m->hd, .ff = o->n_ff};
    s.x = malloc((size_t)n * s.e * sizeof *s.x);
    s.q = malloc((size_t)n * s.nq * sizeof *s.q);
    s.k = malloc((size_t)n * s.nkv * sizeof *s.k);
    s.v = malloc((size_t)n * s.nkv * sizeof *s.v);
    const int wide = s.e > s.ff ? s.e : s.ff;
    s.t = malloc((size_t)wide * sizeof *s.t);
    s.u = malloc((size_t)wide * sizeof *s.u);
    s.g = malloc((size_t)wide * sizeof *s.g);
    for (int p = 0; p < n; p++)
        for (int i = 0; i < s.e; i++)
            s.x[p * s.e + i] = m->tok_embd[(int64_t)tokens[p] * s.e + i];
    for (int l = 0; l < o->n_layer; l++) {
        attention_layer(m, &m->layers[l], &s, n);
        ffn_layer(m, &m->layers[l], &s, n);
    }
    double *lg = malloc((size_t)o->n_vocab * sizeof *lg);
    for (int p = 0; p < n; p++) {
        if (hidden)
            for (int i = 0; i < s.e; i++)
                hidden[p * s.e + i] = (float)s.x[p * s.e + i];
        rmsnorm(s.x + p * s.e, m->output_norm, s.e, o->eps, s.t);
        matvec(m->output, NULL, s.t, o->n_vocab, s.e, lg);
        for (int i = 0; i < o->n_vocab; i++)
            logits[(int64_t)p * o->n_vocab + i] = (float)lg[i];
    }
    free(lg);
    free(s.x), free(s.q), free(s.k), free(s.v), free(s.t), free(s.u), free(s.g);
}
