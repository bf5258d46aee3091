// llama.cpp's per-tensor type rules for the quantization mixes (llama-quant.cpp's
// llama_tensor_get_type at commit c392e5094), rewritten as one function per kind
// of tensor. The row-length fallback, user overrides and what is quantized at all
// live in mix.c; these rules only refine the base type of a file type.
#include "quant/mix_int.h"

#include <string.h>

// llama.cpp gives these layers more bits: the first and last eighth, and every
// third layer in between.
static bool use_more_bits(int i_layer, int n_layer) {
    return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

static bool ftype_is(kv_ftype f, kv_ftype a, kv_ftype b) { return f == a || f == b; }

// The IQ1/IQ2 mixes whose attn_v, ffn_down and attn_output have their own rules.
static bool is_low_iq(kv_ftype f) {
    return f == KV_FTYPE_IQ2_XXS || f == KV_FTYPE_IQ2_XS || f == KV_FTYPE_IQ1_S ||
           f == KV_FTYPE_IQ2_S || f == KV_FTYPE_IQ2_M || f == KV_FTYPE_IQ1_M;
}

kv__mix_kind kv__mix_classify(const kv_mix *p, const char *name) {
    if (strcmp(name, "output.weight") == 0 ||
        (!p->has_output && strcmp(name, "token_embd.weight") == 0))
        return KV__MIX_OUTPUT;
    if (strcmp(name, "token_embd.weight") == 0)
        return KV__MIX_TOKEN_EMBD;
    // The order matters where a name could match two substrings.
    static const struct {
        const char *needle;
        kv__mix_kind kind;
    } KINDS[] = {
        {"attn_v.weight", KV__MIX_ATTN_V},
        {"attn_k.weight", KV__MIX_ATTN_K},
        {"attn_q.weight", KV__MIX_ATTN_Q},
        {"ffn_down", KV__MIX_FFN_DOWN},
        {"attn_output.weight", KV__MIX_ATTN_OUTPUT},
        {"attn_qkv.weight", KV__MIX_ATTN_QKV},
        {"ffn_gate", KV__MIX_FFN_GATE},
        {"ffn_up", KV__MIX_FFN_UP},
    };
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (strstr(name, KINDS[i].needle))
            return KINDS[i].kind;
    return KV__MIX_OTHER;
}

// output.weight, and token_embd.weight when the model has no output.weight.
static kv_type rule_output(const kv_mix *p, int64_t ne0, kv_type t) {
    if (p->output_type != KV_TYPE_COUNT)
        return p->output_type;
    if (p->is_falcon || ne0 % kv_type_get(t)->block_size != 0)
        return KV_TYPE_Q8_0;
    kv_ftype f = p->ftype;
    if (is_low_iq(f) || f == KV_FTYPE_IQ3_XXS)
        return KV_TYPE_Q5_K;
    return t == KV_TYPE_Q8_0 ? t : KV_TYPE_Q6_K;
}

static kv_type rule_token_embd(const kv_mix *p, kv_type t) {
    if (p->token_embd_type != KV_TYPE_COUNT)
        return p->token_embd_type;
    switch (p->ftype) {
    case KV_FTYPE_IQ2_XXS:
    case KV_FTYPE_IQ2_XS:
    case KV_FTYPE_IQ1_S:
    case KV_FTYPE_IQ1_M: return KV_TYPE_Q2_K;
    case KV_FTYPE_IQ2_S:
    case KV_FTYPE_IQ2_M:
    case KV_FTYPE_IQ3_XXS: return KV_TYPE_IQ3_S;
    case KV_FTYPE_TQ1_0:
    case KV_FTYPE_TQ2_0: return KV_TYPE_Q4_K;
    default: return t;
    }
}

// Every tensor of the IQ1/IQ2 mixes (other than output and embeddings).
static kv_type rule_low_iq(kv_mix *p, kv__mix_kind kind, kv_type t) {
    const bool iq2_sm = ftype_is(p->ftype, KV_FTYPE_IQ2_S, KV_FTYPE_IQ2_M);
    switch (kind) {
    case KV__MIX_ATTN_V:
        p->i_attention_wv++;
        if (p->n_gqa >= 4 || p->n_expert >= 4)
            return KV_TYPE_Q4_K;
        return iq2_sm ? KV_TYPE_IQ3_S : KV_TYPE_Q2_K;
    case KV__MIX_ATTN_K: return p->n_expert == 8 ? KV_TYPE_Q4_K : t;
    case KV__MIX_FFN_DOWN: {
        // llama.cpp compares the running count here, not the layer, even with experts
        const bool early = p->i_ffn_down < p->n_layer / 8;
        p->i_ffn_down++;
        if (early)
            return iq2_sm ? KV_TYPE_IQ3_S : KV_TYPE_Q2_K;
        return t;
    }
    case KV__MIX_ATTN_OUTPUT:
        if (p->n_expert == 8)
            return KV_TYPE_Q5_K;
        if (ftype_is(p->ftype, KV_FTYPE_IQ1_S, KV_FTYPE_IQ1_M))
            return KV_TYPE_IQ2_XXS;
        return iq2_sm ? KV_TYPE_IQ3_S : t;
    default: return t;
    }
}

// attn_v.weight (the value projection: small with GQA, sensitive to error).
static kv_type rule_attn_v(kv_mix *p, kv_type t) {
    const bool gqa4 = p->n_gqa >= 4;
    const int i = p->i_attention_wv;
    switch (p->ftype) {
    case KV_FTYPE_Q2_K: t = gqa4 ? KV_TYPE_Q4_K : KV_TYPE_Q3_K; break;
    case KV_FTYPE_Q2_K_S: t = gqa4 ? KV_TYPE_Q4_K : t; break;
    case KV_FTYPE_IQ3_XXS:
        t = gqa4 ? KV_TYPE_Q4_K : p->has_imatrix ? KV_TYPE_IQ3_XXS : KV_TYPE_IQ3_S;
        break;
    case KV_FTYPE_IQ3_XS:
    case KV_FTYPE_IQ3_S: t = gqa4 ? KV_TYPE_Q4_K : t; break;
    case KV_FTYPE_IQ3_M: t = KV_TYPE_Q4_K; break;
    case KV_FTYPE_Q3_K_M: t = i < 2 ? KV_TYPE_Q5_K : KV_TYPE_Q4_K; break;
    case KV_FTYPE_Q3_K_L: t = KV_TYPE_Q5_K; break;
    case KV_FTYPE_IQ4_NL:
    case KV_FTYPE_IQ4_XS: t = gqa4 ? KV_TYPE_Q5_K : t; break;
    case KV_FTYPE_Q4_K_M:
    case KV_FTYPE_Q5_K_M: t = use_more_bits(i, p->n_attention_wv) ? KV_TYPE_Q6_K : t; break;
    case KV_FTYPE_Q4_K_S: t = i < 4 ? KV_TYPE_Q5_K : t; break;
    default: break;
    }
    // 70B Llamas share each attn_v across 8 heads: more bits cost almost nothing
    if (p->is_70b && (t == KV_TYPE_Q3_K || t == KV_TYPE_Q4_K))
        t = KV_TYPE_Q5_K;
    if (p->n_expert == 8)
        t = KV_TYPE_Q8_0;
    p->i_attention_wv++;
    return t;
}

static kv_type rule_attn_k_q(const kv_mix *p, kv__mix_kind kind, kv_type t) {
    if (kind == KV__MIX_ATTN_K && p->n_expert == 8)
        return KV_TYPE_Q8_0;
    if (p->ftype == KV_FTYPE_IQ3_XS)
        return KV_TYPE_IQ3_XXS;
    if (p->ftype == KV_FTYPE_IQ3_XXS)
        return KV_TYPE_IQ2_S;
    return t;
}

// The layer a feed-forward tensor belongs to: the running count for dense
// models; with experts the "blk.N." in the name, as tensors are not in order.
static kv_status layer_of(const kv_mix *p, const char *name, int count, int *i_layer,
                          kv_err *err) {
    if (p->n_expert <= 1) {
        *i_layer = count;
        return KV_OK;
    }
    int layer = -1;
    if (!kv__mix_parse_layer(name, &layer))
        return KV_FAIL(err, KV_ERR_INVALID, "tensor '%s': cannot tell its layer (no 'blk.N.')",
                       name);
    if (layer < 0 || layer >= p->n_layer)
        return KV_FAIL(err, KV_ERR_INVALID, "tensor '%s': layer %d is outside [0, %d)", name,
                       layer, p->n_layer);
    *i_layer = layer;
    return KV_OK;
}

static kv_type ffn_down_k(const kv_mix *p, int i, kv_type t) {
    const int n = p->n_layer;
    switch (p->ftype) {
    case KV_FTYPE_Q2_K: return KV_TYPE_Q3_K;
    case KV_FTYPE_Q2_K_S: return i < n / 8 ? KV_TYPE_Q4_K : t;
    case KV_FTYPE_Q3_K_M:
        if (i < n / 16)
            return KV_TYPE_Q5_K;
        return !p->is_falcon || use_more_bits(i, n) ? KV_TYPE_Q4_K : KV_TYPE_Q3_K;
    case KV_FTYPE_Q3_K_L: return p->is_falcon ? KV_TYPE_Q4_K : KV_TYPE_Q5_K;
    case KV_FTYPE_Q4_K_M:
        if (p->is_falcon)
            return i < n / 16 ? KV_TYPE_Q6_K : use_more_bits(i, n) ? KV_TYPE_Q5_K : KV_TYPE_Q4_K;
        return use_more_bits(i, n) ? KV_TYPE_Q6_K : t;
    case KV_FTYPE_Q5_K_M: return use_more_bits(i, n) ? KV_TYPE_Q6_K : t;
    case KV_FTYPE_Q4_K_S: return !p->is_falcon && i < n / 8 ? KV_TYPE_Q5_K : t;
    default: return t;
    }
}

static kv_type ffn_down_other(const kv_mix *p, int i, kv_type t) {
    const int n = p->n_layer;
    const bool early = i < n / 8;
    switch (p->ftype) {
    case KV_FTYPE_IQ3_XXS:
        if (p->has_imatrix)
            return t;
        return early ? KV_TYPE_Q4_K : KV_TYPE_Q3_K;
    case KV_FTYPE_IQ3_M:
        return early || (p->n_expert == 8 && use_more_bits(i, n)) ? KV_TYPE_Q4_K : t;
    case KV_FTYPE_IQ4_NL:
    case KV_FTYPE_IQ4_XS: return early && !p->has_imatrix ? KV_TYPE_Q5_K : t;
    // Q4_0/Q5_0 can still go wrong in the first ffn_down layers with an imatrix;
    // llama.cpp only guards them then, so files without one stay as they were.
    case KV_FTYPE_Q4_0: return early && p->has_imatrix ? KV_TYPE_Q4_1 : t;
    case KV_FTYPE_Q5_0: return early && p->has_imatrix ? KV_TYPE_Q5_1 : t;
    default: return ffn_down_k(p, i, t);
    }
}

static kv_type rule_attn_output(const kv_mix *p, kv_type t) {
    const kv_ftype f = p->ftype;
    if (p->is_falcon)
        return f == KV_FTYPE_Q3_K_L ? KV_TYPE_Q4_K : t;
    if (p->n_expert == 8) {
        static const kv_ftype MORE[] = {
            KV_FTYPE_Q2_K,   KV_FTYPE_IQ3_XS, KV_FTYPE_IQ3_XXS, KV_FTYPE_Q3_K_S,
            KV_FTYPE_Q3_K_M, KV_FTYPE_IQ4_NL, KV_FTYPE_Q4_K_S,  KV_FTYPE_Q4_K_M,
            KV_FTYPE_IQ3_S,  KV_FTYPE_IQ3_M,  KV_FTYPE_IQ4_XS,
        };
        for (size_t i = 0; i < sizeof MORE / sizeof MORE[0]; i++)
            if (f == MORE[i])
                return KV_TYPE_Q5_K;
        return t;
    }
    switch (f) {
    case KV_FTYPE_Q2_K: return KV_TYPE_Q3_K;
    case KV_FTYPE_IQ3_XXS: return KV_TYPE_IQ3_S;
    case KV_FTYPE_Q3_K_M:
    case KV_FTYPE_IQ3_M: return KV_TYPE_Q4_K;
    case KV_FTYPE_Q3_K_L: return KV_TYPE_Q5_K;
    default: return t;
    }
}

static kv_type rule_attn_qkv(const kv_mix *p, kv_type t) {
    switch (p->ftype) {
    case KV_FTYPE_Q3_K_M:
    case KV_FTYPE_Q3_K_L:
    case KV_FTYPE_IQ3_M: return KV_TYPE_Q4_K;
    case KV_FTYPE_Q4_K_M: return KV_TYPE_Q5_K;
    case KV_FTYPE_Q5_K_M: return KV_TYPE_Q6_K;
    default: return t;
    }
}

// ffn_gate and ffn_up: only IQ3_XS lowers their middle layers.
static kv_type gate_up(const kv_mix *p, int i, kv_type t) {
    const int n = p->n_layer;
    if (p->ftype == KV_FTYPE_IQ3_XS && i >= n / 8 && i < 7 * n / 8)
        return KV_TYPE_IQ3_XXS;
    return t;
}

// The feed-forward kinds, which count their tensors to know the layer.
static kv_status rule_ffn(kv_mix *p, kv__mix_kind kind, const char *name, kv_type *t,
                          kv_err *err) {
    int *count = kind == KV__MIX_FFN_DOWN   ? &p->i_ffn_down
                 : kind == KV__MIX_FFN_GATE ? &p->i_ffn_gate
                                            : &p->i_ffn_up;
    int i_layer = 0;
    kv_status st = layer_of(p, name, *count, &i_layer, err);
    if (st != KV_OK)
        return st;
    *t = kind == KV__MIX_FFN_DOWN ? ffn_down_other(p, i_layer, *t) : gate_up(p, i_layer, *t);
    (*count)++;
    return KV_OK;
}

kv_status kv__mix_rules(kv_mix *p, const char *name, int64_t ne0, kv_type *t, kv_err *err) {
    const kv__mix_kind kind = kv__mix_classify(p, name);
    if (kind == KV__MIX_OUTPUT) {
        *t = rule_output(p, ne0, *t);
        return KV_OK;
    }
    if (kind == KV__MIX_TOKEN_EMBD) {
        *t = rule_token_embd(p, *t);
        return KV_OK;
    }
    if (is_low_iq(p->ftype)) {
        *t = rule_low_iq(p, kind, *t);
        return KV_OK;
    }
    switch (kind) {
    case KV__MIX_ATTN_V: *t = rule_attn_v(p, *t); break;
    case KV__MIX_ATTN_K:
    case KV__MIX_ATTN_Q: *t = rule_attn_k_q(p, kind, *t); break;
    case KV__MIX_ATTN_OUTPUT: *t = rule_attn_output(p, *t); break;
    case KV__MIX_ATTN_QKV: *t = rule_attn_qkv(p, *t); break;
    case KV__MIX_FFN_DOWN:
    case KV__MIX_FFN_GATE:
    case KV__MIX_FFN_UP: return rule_ffn(p, kind, name, t, err);
    default: break;
    }
    return KV_OK;
}
