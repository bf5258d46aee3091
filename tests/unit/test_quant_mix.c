// Per-tensor type mixes: every tensor of every llama-quantize output in the
// golden file gets the same type from kvant's plan; synthetic models of real
// shapes (TinyLlama, a Qwen2-0.5B-like tied model, a Mixtral-like MoE, a 70B)
// exercise the layer patterns, GQA rules, fallbacks and the user's overrides.
#include "kvant/kv_mix.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"

// ---- golden: llama.cpp's own quantizations of the demo model ----

static json_t *load_golden_file(const char *rel) {
    json_error_t jerr;
    json_t *root = json_load_file(kv_test_shared_path(rel), 0, &jerr);
    if (!root)
        fail_msg("golden JSON: %s (line %d)", jerr.text, jerr.line);
    return root;
}

static json_t *load_golden(void) { return load_golden_file("testdata/golden/kjv-llama-7m.json"); }

static int meta_int(json_t *section, const char *key) {
    json_t *v = json_object_get(json_object_get(section, "metadata"), key);
    assert_non_null(v);
    return (int)json_integer_value(v);
}

static int golden_type(json_t *entry) {
    int t = kv_type_from_name(json_string_value(json_array_get(entry, 0)));
    assert_true(t >= 0);
    return t;
}

// Feeds one golden output's tensors, in file order, to a plan for its file
// type and requires llama.cpp's type for every tensor.
static void check_golden_ftype(json_t *f32, const char *ftype_name, json_t *q, bool imatrix) {
    const kv_ftype_info *info = kv_ftype_find(ftype_name);
    assert_non_null(info);
    assert_int_equal(info->id, meta_int(q, "general.file_type"));
    json_t *tensors = json_object_get(q, "tensors");
    json_t *src = json_object_get(f32, "tensors");
    const size_t n = json_object_size(tensors);
    const char **names = calloc(n, sizeof *names);
    assert_non_null(names);
    size_t i = 0;
    const char *name;
    json_t *entry;
    json_object_foreach(tensors, name, entry) names[i++] = name;

    kv_mix_model model = {"llama", meta_int(q, "llama.block_count"),
                          meta_int(q, "llama.attention.head_count"),
                          meta_int(q, "llama.attention.head_count_kv"), 0, names, n};
    kv_mix_options opts;
    kv_mix_options_init(&opts);
    opts.has_imatrix = imatrix;
    kv_mix *plan = NULL;
    kv_err err = {0};
    assert_int_equal(kv_mix_new(info->id, &model, &opts, &plan, &err), KV_OK);
    for (i = 0; i < n; i++) {
        json_t *want = json_object_get(tensors, names[i]);
        json_t *in = json_object_get(src, names[i]);
        json_t *shape = json_array_get(want, 1);
        int64_t ne[4] = {1, 1, 1, 1};
        const int n_dims = (int)json_array_size(shape);
        for (int d = 0; d < n_dims; d++)
            ne[d] = json_integer_value(json_array_get(shape, (size_t)d));
        kv_mix_choice c;
        assert_int_equal(kv_mix_choose(plan, names[i], (kv_type)golden_type(in), n_dims, ne, &c,
                                       &err),
                         KV_OK);
        if ((int)c.type != golden_type(want))
            fail_msg("%s%s: %s gets %s, llama.cpp wrote %s", ftype_name,
                     imatrix ? "+imatrix" : "", names[i], kv_type_name(c.type),
                     kv_type_name((uint32_t)golden_type(want)));
        assert_false(c.fallback);
        assert_int_equal(c.quantize, c.type != (kv_type)golden_type(in));
    }
    assert_int_equal(kv_mix_n_fallback(plan), 0);
    kv_mix_free(plan);
    free(names);
}

static void test_golden_quantize(void **state) {
    (void)state;
    KV_NEED_SHARED();
    json_t *root = load_golden();
    json_t *f32 = json_object_get(json_object_get(root, "convert"), "F32");
    static const char *const SECTIONS[] = {"quantize", "quantize_imatrix"};
    int n_checked = 0;
    for (int s = 0; s < 2; s++) {
        const char *ftype;
        json_t *q;
        json_object_foreach(json_object_get(root, SECTIONS[s]), ftype, q) {
            check_golden_ftype(f32, ftype, q, s == 1);
            n_checked++;
        }
    }
    assert_int_equal(n_checked, 27); // 20 plain + 7 imatrix-guided outputs
    json_decref(root);
}

// The ten IQ1/IQ2/IQ3 file types (llama-quantize with the imatrix): kvant's
// plan gives every tensor llama.cpp's type, whether or not kvant can write it.
static void test_golden_lowbit(void **state) {
    (void)state;
    KV_NEED_SHARED();
    json_t *root = load_golden();
    json_t *low = load_golden_file("testdata/golden/kjv-llama-7m-lowbit.json");
    json_t *f32 = json_object_get(json_object_get(root, "convert"), "F32");
    const char *ftype;
    json_t *q;
    int n_checked = 0;
    json_object_foreach(json_object_get(low, "quantize_imatrix"), ftype, q) {
        check_golden_ftype(f32, ftype, q, true);
        n_checked++;
    }
    assert_int_equal(n_checked, 10);
    json_decref(low);
    json_decref(root);
}

static int cmp_names(const void *a, const void *b) {
    return kv_mix_name_cmp(*(const char *const *)a, *(const char *const *)b);
}

// The converter writes tensors in checkpoint order; llama-quantize writes them
// in its loader's order, which kv_mix_name_cmp reproduces.
static void test_golden_order(void **state) {
    (void)state;
    KV_NEED_SHARED();
    json_t *root = load_golden();
    json_t *conv = json_object_get(json_object_get(json_object_get(root, "convert"), "F32"),
                                   "tensors");
    json_t *quant = json_object_get(json_object_get(json_object_get(root, "quantize"), "Q4_K_M"),
                                    "tensors");
    const size_t n = json_object_size(conv);
    assert_int_equal(n, json_object_size(quant));
    const char **names = calloc(n, sizeof *names);
    assert_non_null(names);
    size_t i = 0;
    const char *name;
    json_t *v;
    json_object_foreach(conv, name, v) names[i++] = name;
    qsort(names, n, sizeof *names, cmp_names);
    i = 0;
    json_object_foreach(quant, name, v) assert_string_equal(names[i++], name);
    free(names);
    json_decref(root);
}

// ---- synthetic models of real shapes ----

#define MAX_T 1024

typedef struct {
    char name[48];
    int n_dims;
    int64_t ne[4];
} tspec;

typedef struct {
    tspec t[MAX_T];
    const char *names[MAX_T];
    kv_mix_choice c[MAX_T];
    size_t n;
    kv_mix_model model;
} synth;

static void add(synth *s, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2) {
    assert_true(s->n < MAX_T);
    tspec *t = &s->t[s->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = ne2;
    t->ne[3] = 1;
}

static int cmp_spec(const void *a, const void *b) {
    return kv_mix_name_cmp(((const tspec *)a)->name, ((const tspec *)b)->name);
}

// A Llama-style model in llama-quantize's order. n_expert > 0 stacks the
// feed-forward experts into 3-D tensors, as current GGUF files do.
static synth *build(int n_layer, int64_t n_embd, int64_t n_ff, int n_head, int n_head_kv,
                    int64_t n_vocab, bool tied, int n_expert) {
    synth *s = calloc(1, sizeof *s);
    assert_non_null(s);
    const int64_t n_kv = n_embd / n_head * n_head_kv;
    const int64_t ne2 = n_expert > 0 ? n_expert : 1;
    const int ffn_dims = n_expert > 0 ? 3 : 2;
    const char *sfx = n_expert > 0 ? "_exps" : "";
    char name[48];
    add(s, "token_embd.weight", 2, n_embd, n_vocab, 1);
    add(s, "output_norm.weight", 1, n_embd, 1, 1);
    if (!tied)
        add(s, "output.weight", 2, n_embd, n_vocab, 1);
    for (int i = 0; i < n_layer; i++) {
#define L(fmt, ...) (snprintf(name, sizeof name, "blk.%d." fmt, i, __VA_ARGS__), name)
        add(s, L("%s", "attn_norm.weight"), 1, n_embd, 1, 1);
        add(s, L("%s", "attn_q.weight"), 2, n_embd, n_embd, 1);
        add(s, L("%s", "attn_k.weight"), 2, n_embd, n_kv, 1);
        add(s, L("%s", "attn_v.weight"), 2, n_embd, n_kv, 1);
        add(s, L("%s", "attn_output.weight"), 2, n_embd, n_embd, 1);
        add(s, L("%s", "ffn_norm.weight"), 1, n_embd, 1, 1);
        add(s, L("ffn_gate%s.weight", sfx), ffn_dims, n_embd, n_ff, ne2);
        add(s, L("ffn_up%s.weight", sfx), ffn_dims, n_embd, n_ff, ne2);
        add(s, L("ffn_down%s.weight", sfx), ffn_dims, n_ff, n_embd, ne2);
        if (n_expert > 0)
            add(s, L("%s", "ffn_gate_inp.weight"), 2, n_embd, n_expert, 1);
#undef L
    }
    qsort(s->t, s->n, sizeof s->t[0], cmp_spec);
    for (size_t i = 0; i < s->n; i++)
        s->names[i] = s->t[i].name;
    s->model = (kv_mix_model){"llama", n_layer, n_head, n_head_kv, n_expert, s->names, s->n};
    return s;
}

static synth *tinyllama(void) { return build(22, 2048, 5632, 32, 4, 32000, false, 0); }

// Chooses every tensor (all F32 in the input); returns the fallback count.
static int run_opts(synth *s, kv_ftype ftype, const kv_mix_options *opts) {
    kv_mix *plan = NULL;
    kv_err err = {0};
    if (kv_mix_new(ftype, &s->model, opts, &plan, &err) != KV_OK)
        fail_msg("kv_mix_new: %s", err.msg);
    for (size_t i = 0; i < s->n; i++)
        if (kv_mix_choose(plan, s->t[i].name, KV_TYPE_F32, s->t[i].n_dims, s->t[i].ne, &s->c[i],
                          &err) != KV_OK)
            fail_msg("%s: %s", s->t[i].name, err.msg);
    int n = kv_mix_n_fallback(plan);
    kv_mix_free(plan);
    return n;
}

static int run(synth *s, kv_ftype ftype, bool imatrix) {
    kv_mix_options opts;
    kv_mix_options_init(&opts);
    opts.has_imatrix = imatrix;
    return run_opts(s, ftype, &opts);
}

static const kv_mix_choice *pick(const synth *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0)
            return &s->c[i];
    fail_msg("no tensor %s", name);
    return NULL;
}

static kv_type type_of(const synth *s, const char *name) { return pick(s, name)->type; }

static kv_type layer_type(const synth *s, int layer, const char *what) {
    char name[48];
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, what);
    return type_of(s, name);
}

// Layers that get more bits in llama.cpp's mixes, written out for 22 layers.
static bool tiny_more_bits(int i) {
    static const int MORE[] = {0, 1, 4, 7, 10, 13, 16, 19, 20, 21};
    for (size_t k = 0; k < sizeof MORE / sizeof MORE[0]; k++)
        if (MORE[k] == i)
            return true;
    return false;
}

// 5632 = 22 * 256: TinyLlama's rows all fit K-quant blocks, so no fallbacks.
static void test_tinyllama_q4_k_m(void **state) {
    (void)state;
    synth *s = tinyllama();
    assert_int_equal(run(s, KV_FTYPE_Q4_K_M, false), 0);
    assert_int_equal(type_of(s, "output.weight"), KV_TYPE_Q6_K);
    assert_int_equal(type_of(s, "token_embd.weight"), KV_TYPE_Q4_K);
    assert_int_equal(type_of(s, "output_norm.weight"), KV_TYPE_F32);
    assert_false(pick(s, "output_norm.weight")->quantize);
    for (int i = 0; i < 22; i++) {
        const kv_type more = tiny_more_bits(i) ? KV_TYPE_Q6_K : KV_TYPE_Q4_K;
        assert_int_equal(layer_type(s, i, "attn_v"), more);
        assert_int_equal(layer_type(s, i, "ffn_down"), more);
        assert_int_equal(layer_type(s, i, "attn_q"), KV_TYPE_Q4_K);
        assert_int_equal(layer_type(s, i, "attn_k"), KV_TYPE_Q4_K);
        assert_int_equal(layer_type(s, i, "attn_output"), KV_TYPE_Q4_K);
        assert_int_equal(layer_type(s, i, "ffn_gate"), KV_TYPE_Q4_K);
        assert_int_equal(layer_type(s, i, "ffn_up"), KV_TYPE_Q4_K);
        assert_int_equal(layer_type(s, i, "attn_norm"), KV_TYPE_F32);
    }
    free(s);
}

static void test_tinyllama_other_mixes(void **state) {
    (void)state;
    synth *s = tinyllama();
    // Q2_K: 8 query heads per kv head (n_gqa 8 >= 4) lift attn_v to Q4_K
    assert_int_equal(run(s, KV_FTYPE_Q2_K, false), 0);
    for (int i = 0; i < 22; i++) {
        assert_int_equal(layer_type(s, i, "attn_v"), KV_TYPE_Q4_K);
        assert_int_equal(layer_type(s, i, "ffn_down"), KV_TYPE_Q3_K);
        assert_int_equal(layer_type(s, i, "attn_output"), KV_TYPE_Q3_K);
        assert_int_equal(layer_type(s, i, "ffn_up"), KV_TYPE_Q2_K);
    }
    // Q3_K_M: the first two attn_v and ffn_down of layer 0 (0 < 22/16) in Q5_K
    run(s, KV_FTYPE_Q3_K_M, false);
    for (int i = 0; i < 22; i++) {
        assert_int_equal(layer_type(s, i, "attn_v"), i < 2 ? KV_TYPE_Q5_K : KV_TYPE_Q4_K);
        assert_int_equal(layer_type(s, i, "ffn_down"), i < 1 ? KV_TYPE_Q5_K : KV_TYPE_Q4_K);
        assert_int_equal(layer_type(s, i, "attn_output"), KV_TYPE_Q4_K);
        assert_int_equal(layer_type(s, i, "attn_q"), KV_TYPE_Q3_K);
    }
    // Q4_K_S: the first four attn_v, ffn_down below n_layer/8 = 2
    run(s, KV_FTYPE_Q4_K_S, false);
    for (int i = 0; i < 22; i++) {
        assert_int_equal(layer_type(s, i, "attn_v"), i < 4 ? KV_TYPE_Q5_K : KV_TYPE_Q4_K);
        assert_int_equal(layer_type(s, i, "ffn_down"), i < 2 ? KV_TYPE_Q5_K : KV_TYPE_Q4_K);
    }
    // IQ4_XS: GQA lifts attn_v to Q5_K; ffn_down below n/8 only without an imatrix
    run(s, KV_FTYPE_IQ4_XS, false);
    assert_int_equal(layer_type(s, 5, "attn_v"), KV_TYPE_Q5_K);
    assert_int_equal(layer_type(s, 1, "ffn_down"), KV_TYPE_Q5_K);
    assert_int_equal(layer_type(s, 2, "ffn_down"), KV_TYPE_IQ4_XS);
    run(s, KV_FTYPE_IQ4_XS, true);
    assert_int_equal(layer_type(s, 1, "ffn_down"), KV_TYPE_IQ4_XS);
    // Q4_0 with an imatrix guards the first ffn_down layers with Q4_1
    run(s, KV_FTYPE_Q4_0, true);
    assert_int_equal(layer_type(s, 1, "ffn_down"), KV_TYPE_Q4_1);
    assert_int_equal(layer_type(s, 2, "ffn_down"), KV_TYPE_Q4_0);
    assert_int_equal(type_of(s, "output.weight"), KV_TYPE_Q6_K);
    // Q8_0 keeps output in Q8_0
    run(s, KV_FTYPE_Q8_0, false);
    assert_int_equal(type_of(s, "output.weight"), KV_TYPE_Q8_0);
    free(s);
}

// The IQ1/IQ2/IQ3 mixes cannot be written yet, but their choice is defined.
static void test_tinyllama_iq_mixes(void **state) {
    (void)state;
    synth *s = tinyllama();
    run(s, KV_FTYPE_IQ2_XXS, true);
    assert_int_equal(type_of(s, "output.weight"), KV_TYPE_Q5_K);
    assert_int_equal(type_of(s, "token_embd.weight"), KV_TYPE_Q2_K);
    for (int i = 0; i < 22; i++) {
        assert_int_equal(layer_type(s, i, "attn_v"), KV_TYPE_Q4_K);
        assert_int_equal(layer_type(s, i, "ffn_down"), i < 2 ? KV_TYPE_Q2_K : KV_TYPE_IQ2_XXS);
        assert_int_equal(layer_type(s, i, "attn_output"), KV_TYPE_IQ2_XXS);
    }
    run(s, KV_FTYPE_IQ3_XXS, false);
    assert_int_equal(type_of(s, "token_embd.weight"), KV_TYPE_IQ3_S);
    assert_int_equal(layer_type(s, 3, "attn_q"), KV_TYPE_IQ2_S);
    assert_int_equal(layer_type(s, 3, "attn_k"), KV_TYPE_IQ2_S);
    assert_int_equal(layer_type(s, 3, "attn_output"), KV_TYPE_IQ3_S);
    assert_int_equal(layer_type(s, 1, "ffn_down"), KV_TYPE_Q4_K);
    assert_int_equal(layer_type(s, 2, "ffn_down"), KV_TYPE_Q3_K);
    run(s, KV_FTYPE_IQ3_XS, false);
    assert_int_equal(layer_type(s, 1, "ffn_up"), KV_TYPE_IQ3_S);
    assert_int_equal(layer_type(s, 2, "ffn_up"), KV_TYPE_IQ3_XXS);
    assert_int_equal(layer_type(s, 19, "ffn_gate"), KV_TYPE_IQ3_S);
    free(s);
}

// Qwen2-0.5B's shape: rows of 896 (= 3.5 * 256) do not fit K-quant blocks, and
// the embeddings are tied (no output.weight).
static synth *qwen_like(void) { return build(24, 896, 4864, 14, 2, 151936, true, 0); }

static bool qwen_more_bits(int i) {
    static const int MORE[] = {0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23};
    for (size_t k = 0; k < sizeof MORE / sizeof MORE[0]; k++)
        if (MORE[k] == i)
            return true;
    return false;
}

static void test_fallback_qwen_like(void **state) {
    (void)state;
    synth *s = qwen_like();
    // q, k, v, o, gate and up have rows of 896 in each of 24 layers
    assert_int_equal(run(s, KV_FTYPE_Q4_K_M, false), 6 * 24);
    // tied: token_embd takes output's rule; 896 % 256 != 0 means Q8_0 there
    const kv_mix_choice *e = pick(s, "token_embd.weight");
    assert_int_equal(e->type, KV_TYPE_Q8_0);
    assert_false(e->fallback);
    for (int i = 0; i < 24; i++) {
        char name[48];
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", i);
        const kv_mix_choice *v = pick(s, name);
        assert_true(v->fallback);
        assert_int_equal(v->wanted, qwen_more_bits(i) ? KV_TYPE_Q6_K : KV_TYPE_Q4_K);
        assert_int_equal(v->type, qwen_more_bits(i) ? KV_TYPE_Q8_0 : KV_TYPE_Q5_0);
        assert_int_equal(layer_type(s, i, "attn_q"), KV_TYPE_Q5_0);
        assert_int_equal(layer_type(s, i, "ffn_up"), KV_TYPE_Q5_0);
        // ffn_down rows are 4864 = 19 * 256: no fallback
        assert_int_equal(layer_type(s, i, "ffn_down"),
                         qwen_more_bits(i) ? KV_TYPE_Q6_K : KV_TYPE_Q4_K);
    }
    // Q5_K -> Q5_1, Q3_K and Q2_K -> IQ4_NL, TQ2_0 -> Q4_0
    run(s, KV_FTYPE_Q5_K_S, false);
    assert_int_equal(layer_type(s, 0, "attn_q"), KV_TYPE_Q5_1);
    run(s, KV_FTYPE_Q3_K_S, false);
    assert_int_equal(layer_type(s, 0, "attn_q"), KV_TYPE_IQ4_NL);
    run(s, KV_FTYPE_Q2_K, false);
    assert_int_equal(layer_type(s, 0, "ffn_gate"), KV_TYPE_IQ4_NL);
    assert_int_equal(layer_type(s, 0, "attn_v"), KV_TYPE_Q5_0); // n_gqa 7: Q4_K, then Q5_0
    // The lattice i-quants (rows of 896 are not 256-multiples) -> IQ4_NL, reported
    static const struct {
        kv_ftype f;
        kv_type base;
    } LOW[] = {{KV_FTYPE_IQ2_XXS, KV_TYPE_IQ2_XXS}, {KV_FTYPE_IQ2_XS, KV_TYPE_IQ2_XS},
               {KV_FTYPE_IQ2_M, KV_TYPE_IQ2_S},     {KV_FTYPE_IQ1_S, KV_TYPE_IQ1_S},
               {KV_FTYPE_IQ1_M, KV_TYPE_IQ1_M},     {KV_FTYPE_IQ3_XXS, KV_TYPE_IQ3_XXS},
               {KV_FTYPE_IQ3_S, KV_TYPE_IQ3_S}};
    for (size_t k = 0; k < sizeof LOW / sizeof LOW[0]; k++) {
        assert_true(run(s, LOW[k].f, true) >= 24);
        const kv_mix_choice *g = pick(s, "blk.3.ffn_gate.weight");
        assert_true(g->fallback);
        assert_int_equal(g->wanted, LOW[k].base);
        assert_int_equal(g->type, KV_TYPE_IQ4_NL);
        assert_int_equal(layer_type(s, 3, "ffn_down") == KV_TYPE_IQ4_NL, false); // 4864 fits
    }
    run(s, KV_FTYPE_TQ2_0, false);
    assert_int_equal(layer_type(s, 0, "attn_q"), KV_TYPE_Q4_0);
    assert_int_equal(type_of(s, "token_embd.weight"), KV_TYPE_Q8_0);
    free(s);
}

// Rows that fit no 32-wide block fall back to F16; types without a fallback
// (the 32-wide ones) are refused.
static void test_fallback_f16_and_refusal(void **state) {
    (void)state;
    const char *names[] = {"blk.0.ffn_up.weight", "output.weight"};
    kv_mix_model m = {NULL, 1, 4, 4, 0, names, 2};
    const int64_t ne[2] = {100, 64};
    kv_mix *plan = NULL;
    kv_err err = {0};
    kv_mix_choice c;
    assert_int_equal(kv_mix_new(KV_FTYPE_Q4_K_M, &m, NULL, &plan, &err), KV_OK);
    assert_int_equal(kv_mix_choose(plan, names[0], KV_TYPE_F32, 2, ne, &c, &err), KV_OK);
    assert_int_equal(c.wanted, KV_TYPE_Q4_K);
    assert_int_equal(c.type, KV_TYPE_F16);
    assert_true(c.fallback && c.quantize);
    kv_mix_free(plan);
    assert_int_equal(kv_mix_new(KV_FTYPE_Q4_0, &m, NULL, &plan, &err), KV_OK);
    assert_int_equal(kv_mix_choose(plan, names[0], KV_TYPE_F32, 2, ne, &c, &err),
                     KV_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "blk.0.ffn_up.weight"));
    assert_non_null(strstr(err.msg, "Q4_0"));
    // output.weight: 100 % 32 != 0 makes it Q8_0, which does not fit either
    assert_int_equal(kv_mix_choose(plan, names[1], KV_TYPE_F32, 2, ne, &c, &err),
                     KV_ERR_UNSUPPORTED);
    kv_mix_free(plan);
}

// ---- the user's options ----

static void test_overrides(void **state) {
    (void)state;
    synth *s = tinyllama();
    // the last '=' separates the type, so a pattern may hold one ("=?")
    const char *specs[] = {"blk\\.\\d+\\.ffn_down=q8_0", "ATTN_(Q|K)=Q5_K", "attn=q2_k",
                           "ffn_up=?=q6_k"};
    kv_mix_options o;
    kv_mix_options_init(&o);
    o.tensor_types = specs;
    o.n_tensor_types = 4;
    assert_int_equal(run_opts(s, KV_FTYPE_Q4_K_M, &o), 0);
    for (int i = 0; i < 22; i++) {
        char name[48];
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", i);
        assert_int_equal(pick(s, name)->type, KV_TYPE_Q8_0);
        assert_true(pick(s, name)->overridden);
        assert_int_equal(layer_type(s, i, "attn_q"), KV_TYPE_Q5_K); // case-insensitive
        assert_int_equal(layer_type(s, i, "attn_k"), KV_TYPE_Q5_K);
        // the first matching pattern wins: "attn" catches attn_v and attn_output
        assert_int_equal(layer_type(s, i, "attn_v"), KV_TYPE_Q2_K);
        assert_int_equal(layer_type(s, i, "attn_output"), KV_TYPE_Q2_K);
        assert_int_equal(layer_type(s, i, "ffn_up"), KV_TYPE_Q6_K);
        assert_int_equal(layer_type(s, i, "ffn_gate"), KV_TYPE_Q4_K);
        assert_false(pick(s, "token_embd.weight")->overridden);
        // patterns never touch tensors that are not quantized
        assert_int_equal(layer_type(s, i, "attn_norm"), KV_TYPE_F32);
    }
    // the rules still count attn_v behind the override: the last ones are Q6_K
    const char *only_first[] = {"blk\\.0\\.attn_v=f16"};
    o.tensor_types = only_first;
    o.n_tensor_types = 1;
    run_opts(s, KV_FTYPE_Q4_K_M, &o);
    assert_int_equal(layer_type(s, 0, "attn_v"), KV_TYPE_F16);
    assert_int_equal(layer_type(s, 1, "attn_v"), KV_TYPE_Q6_K);
    assert_int_equal(layer_type(s, 2, "attn_v"), KV_TYPE_Q4_K);
    assert_int_equal(layer_type(s, 4, "attn_v"), KV_TYPE_Q6_K);
    free(s);
}

static void test_override_fallback_and_errors(void **state) {
    (void)state;
    synth *s = qwen_like();
    const char *specs[] = {"attn_q=q6_k"};
    kv_mix_options o;
    kv_mix_options_init(&o);
    o.tensor_types = specs;
    o.n_tensor_types = 1;
    run_opts(s, KV_FTYPE_Q8_0, &o);
    const kv_mix_choice *c = pick(s, "blk.3.attn_q.weight");
    assert_true(c->overridden && c->fallback);
    assert_int_equal(c->wanted, KV_TYPE_Q6_K);
    assert_int_equal(c->type, KV_TYPE_Q8_0);

    static const char *const BAD[] = {"ffn_down", "=q4_0", "ffn_down=", "ffn_down=q9_9",
                                      "ffn_down=i32", "(ffn=q4_0"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        kv_mix *plan = (kv_mix *)1;
        kv_err err = {0};
        o.tensor_types = &BAD[i];
        assert_int_equal(kv_mix_new(KV_FTYPE_Q4_K_M, &s->model, &o, &plan, &err),
                         KV_ERR_INVALID);
        assert_null(plan);
        assert_non_null(strstr(err.msg, BAD[i]));
    }
    free(s);
}

static void test_pure(void **state) {
    (void)state;
    synth *s = tinyllama();
    kv_mix_options o;
    kv_mix_options_init(&o);
    o.pure = true;
    run_opts(s, KV_FTYPE_Q4_K_M, &o);
    for (size_t i = 0; i < s->n; i++)
        assert_int_equal(s->c[i].type, s->t[i].n_dims == 1 ? KV_TYPE_F32 : KV_TYPE_Q4_K);
    free(s);
    // with rows of 896, pure Q4_K still needs the fallback, even for the embeddings
    s = qwen_like();
    assert_int_equal(run_opts(s, KV_FTYPE_Q4_K_M, &o), 1 + 24 * 6);
    assert_int_equal(type_of(s, "token_embd.weight"), KV_TYPE_Q5_0);
    assert_int_equal(layer_type(s, 7, "ffn_down"), KV_TYPE_Q4_K);
    free(s);
}

static void test_output_and_embedding_types(void **state) {
    (void)state;
    synth *s = tinyllama();
    kv_mix_options o;
    kv_mix_options_init(&o);
    o.output_tensor_type = KV_TYPE_Q8_0;
    o.token_embedding_type = KV_TYPE_F16;
    run_opts(s, KV_FTYPE_Q4_K_M, &o);
    assert_int_equal(type_of(s, "output.weight"), KV_TYPE_Q8_0);
    assert_int_equal(type_of(s, "token_embd.weight"), KV_TYPE_F16);
    o.pure = true; // the two options hold with --pure too
    run_opts(s, KV_FTYPE_Q4_0, &o);
    assert_int_equal(type_of(s, "output.weight"), KV_TYPE_Q8_0);
    assert_int_equal(type_of(s, "token_embd.weight"), KV_TYPE_F16);
    free(s);
    // tied embeddings take --output-tensor-type unless --token-embedding-type is given
    s = qwen_like();
    kv_mix_options_init(&o);
    o.output_tensor_type = KV_TYPE_BF16;
    run_opts(s, KV_FTYPE_Q4_K_M, &o);
    assert_int_equal(type_of(s, "token_embd.weight"), KV_TYPE_BF16);
    o.token_embedding_type = KV_TYPE_Q6_K;
    run_opts(s, KV_FTYPE_Q4_K_M, &o);
    assert_true(pick(s, "token_embd.weight")->fallback);
    assert_int_equal(type_of(s, "token_embd.weight"), KV_TYPE_Q8_0);
    o.token_embedding_type = KV_TYPE_I32;
    kv_mix *plan = NULL;
    assert_int_equal(kv_mix_new(KV_FTYPE_Q4_K_M, &s->model, &o, &plan, NULL), KV_ERR_INVALID);
    free(s);
}

static void test_leave_output_copy_and_same_type(void **state) {
    (void)state;
    synth *s = tinyllama();
    kv_mix_options o;
    kv_mix_options_init(&o);
    o.leave_output_tensor = true;
    run_opts(s, KV_FTYPE_Q4_K_M, &o);
    assert_false(pick(s, "output.weight")->quantize);
    assert_int_equal(type_of(s, "output.weight"), KV_TYPE_F32);
    assert_int_equal(type_of(s, "token_embd.weight"), KV_TYPE_Q4_K); // output.weight exists
    run(s, KV_FTYPE_COPY, false);
    for (size_t i = 0; i < s->n; i++) {
        assert_false(s->c[i].quantize);
        assert_int_equal(s->c[i].type, KV_TYPE_F32);
    }
    run(s, KV_FTYPE_F16, false);
    for (size_t i = 0; i < s->n; i++)
        assert_int_equal(s->c[i].type, s->t[i].n_dims == 1 ? KV_TYPE_F32 : KV_TYPE_F16);
    free(s);

    // a tensor already in the chosen type is copied; a [n, 1] matrix is 1-D to ggml
    const char *names[] = {"blk.0.attn_q.weight", "blk.0.attn_k.weight"};
    kv_mix_model m = {NULL, 1, 4, 4, 0, names, 2};
    kv_mix *plan = NULL;
    kv_mix_choice c;
    assert_int_equal(kv_mix_new(KV_FTYPE_Q4_K_M, &m, NULL, &plan, NULL), KV_OK);
    const int64_t sq[2] = {256, 256};
    assert_int_equal(kv_mix_choose(plan, names[0], KV_TYPE_Q4_K, 2, sq, &c, NULL), KV_OK);
    assert_false(c.quantize);
    assert_int_equal(c.type, KV_TYPE_Q4_K);
    const int64_t col[2] = {256, 1};
    assert_int_equal(kv_mix_choose(plan, names[1], KV_TYPE_F32, 2, col, &c, NULL), KV_OK);
    assert_false(c.quantize);
    kv_mix_free(plan);
}

// ---- other model families ----

static void test_moe_falcon_70b(void **state) {
    (void)state;
    synth *s = build(32, 4096, 14336, 32, 8, 32000, false, 8); // Mixtral-8x7B's shape
    assert_int_equal(run(s, KV_FTYPE_Q4_K_M, false), 0);
    assert_int_equal(layer_type(s, 3, "attn_v"), KV_TYPE_Q8_0);
    assert_int_equal(layer_type(s, 3, "attn_k"), KV_TYPE_Q8_0);
    assert_int_equal(layer_type(s, 3, "attn_output"), KV_TYPE_Q5_K);
    assert_int_equal(layer_type(s, 3, "ffn_gate_inp"), KV_TYPE_F32); // router stays F32
    // with experts the layer comes from the name: 0..3 and 28..31 and every third
    assert_int_equal(layer_type(s, 3, "ffn_down_exps"), KV_TYPE_Q6_K);
    assert_int_equal(layer_type(s, 5, "ffn_down_exps"), KV_TYPE_Q4_K);
    assert_int_equal(layer_type(s, 6, "ffn_down_exps"), KV_TYPE_Q6_K);
    kv_mix *plan = NULL;
    kv_err err = {0};
    kv_mix_choice c;
    const int64_t ne[3] = {14336, 4096, 8};
    assert_int_equal(kv_mix_new(KV_FTYPE_Q4_K_M, &s->model, NULL, &plan, &err), KV_OK);
    assert_int_equal(kv_mix_choose(plan, "ffn_down_exps.weight", KV_TYPE_F32, 3, ne, &c, &err),
                     KV_ERR_INVALID);
    assert_int_equal(kv_mix_choose(plan, "blk.32.ffn_down_exps.weight", KV_TYPE_F32, 3, ne, &c,
                                   &err),
                     KV_ERR_INVALID);
    kv_mix_free(plan);
    free(s);

    s = build(80, 8192, 28672, 64, 8, 32000, false, 0); // Llama-2-70B: attn_v gets Q5_K
    run(s, KV_FTYPE_Q4_K_M, false);
    assert_int_equal(layer_type(s, 11, "attn_v"), KV_TYPE_Q5_K);
    assert_int_equal(layer_type(s, 10, "attn_v"), KV_TYPE_Q5_K);
    assert_int_equal(layer_type(s, 11, "ffn_down"), KV_TYPE_Q4_K);
    assert_int_equal(layer_type(s, 12, "attn_v"), KV_TYPE_Q6_K);
    s->model.arch = "falcon";
    run(s, KV_FTYPE_Q4_K_M, false);
    assert_int_equal(type_of(s, "output.weight"), KV_TYPE_Q8_0);
    assert_int_equal(layer_type(s, 11, "attn_v"), KV_TYPE_Q4_K); // the 70B rule is Llama's
    free(s);
}

static void test_needs_imatrix_and_bad_args(void **state) {
    (void)state;
    assert_true(kv_mix_needs_imatrix(KV_FTYPE_Q2_K_S, "blk.0.attn_q.weight", KV_TYPE_Q2_K));
    assert_false(kv_mix_needs_imatrix(KV_FTYPE_Q2_K_S, "token_embd.weight", KV_TYPE_Q2_K));
    assert_false(kv_mix_needs_imatrix(KV_FTYPE_Q2_K, "blk.0.attn_q.weight", KV_TYPE_Q2_K));
    assert_true(kv_mix_needs_imatrix(KV_FTYPE_IQ2_M, "token_embd.weight", KV_TYPE_IQ2_S));
    assert_false(kv_mix_needs_imatrix(KV_FTYPE_IQ1_M, "output.weight", KV_TYPE_IQ1_M));
    assert_true(kv_mix_needs_imatrix(KV_FTYPE_IQ1_M, "blk.0.ffn_up.weight", KV_TYPE_IQ1_M));

    kv_mix *plan = NULL;
    kv_err err = {0};
    kv_mix_model m = {NULL, -1, 4, 4, 0, NULL, 0};
    assert_int_equal(kv_mix_new(KV_FTYPE_Q4_K_M, &m, NULL, &plan, &err), KV_ERR_INVALID);
    m.n_layer = 1;
    assert_int_equal(kv_mix_new((kv_ftype)4, &m, NULL, &plan, &err), KV_ERR_INVALID);
    m.n_tensors = 1;
    assert_int_equal(kv_mix_new(KV_FTYPE_Q4_K_M, &m, NULL, &plan, &err), KV_ERR_INVALID);
    m.n_tensors = 0;
    assert_int_equal(kv_mix_new(KV_FTYPE_Q4_K_M, &m, NULL, &plan, &err), KV_OK);
    kv_mix_choice c;
    const int64_t ne[2] = {256, 0};
    assert_int_equal(kv_mix_choose(plan, "a.weight", KV_TYPE_F32, 2, ne, &c, &err),
                     KV_ERR_INVALID);
    assert_int_equal(kv_mix_choose(plan, "a.weight", KV_TYPE_F32, 5, ne, &c, &err),
                     KV_ERR_INVALID);
    assert_int_equal(kv_mix_choose(plan, "a.weight", (kv_type)4, 1, ne, &c, &err),
                     KV_ERR_INVALID);
    kv_mix_free(plan);
    kv_mix_free(NULL);
    assert_true(kv_mix_name_cmp("token_embd.weight", "blk.0.attn_q.weight") < 0);
    assert_true(kv_mix_name_cmp("blk.9.ffn_up.weight", "blk.10.attn_q.weight") < 0);
    assert_true(kv_mix_name_cmp("blk.2.attn_q.weight", "blk.2.attn_k.weight") > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_quantize),
        cmocka_unit_test(test_golden_lowbit),
        cmocka_unit_test(test_golden_order),
        cmocka_unit_test(test_tinyllama_q4_k_m),
        cmocka_unit_test(test_tinyllama_other_mixes),
        cmocka_unit_test(test_tinyllama_iq_mixes),
        cmocka_unit_test(test_fallback_qwen_like),
        cmocka_unit_test(test_fallback_f16_and_refusal),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_override_fallback_and_errors),
        cmocka_unit_test(test_pure),
        cmocka_unit_test(test_output_and_embedding_types),
        cmocka_unit_test(test_leave_output_copy_and_same_type),
        cmocka_unit_test(test_moe_falcon_70b),
        cmocka_unit_test(test_needs_imatrix_and_bad_args),
    };
    return cmocka_run_group_tests_name("quant_mix", tests, NULL, NULL);
}
