// The mix plan's state, shared by mix.c (plan, overrides, fallback) and
// mix_rules.c (llama.cpp's per-tensor rules). Private to quant/.
#ifndef KV_MIX_INT_H
#define KV_MIX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_mix.h"

typedef struct kv__mix_pattern kv__mix_pattern;

struct kv_mix {
    kv_ftype ftype;
    kv_type base;        // the file type's base tensor type
    bool copy;           // COPY: nothing is quantized
    bool pure;
    bool leave_output;
    bool has_imatrix;
    kv_type output_type;     // KV_TYPE_COUNT when not given
    kv_type token_embd_type; // KV_TYPE_COUNT when not given

    // model facts
    bool is_falcon;
    bool is_70b;         // llama.cpp's LLM_TYPE_70B (a Llama with 80 layers and GQA)
    int n_layer;
    int n_gqa;           // n_head / n_head_kv
    int n_expert;
    bool has_output;     // output.weight exists (else token_embd doubles as output)
    int n_attention_wv;  // tensors named attn_v / attn_qkv / attn_kv_b

    // running counts, in the order kv_mix_choose sees tensors
    int i_attention_wv;
    int i_ffn_down;
    int i_ffn_gate;
    int i_ffn_up;
    int n_fallback;

    kv__mix_pattern *patterns;
    size_t n_patterns;
};

// The kinds of tensor the rules tell apart, by name.
typedef enum {
    KV__MIX_OTHER,
    KV__MIX_OUTPUT, // output.weight, or token_embd.weight of a model without one
    KV__MIX_TOKEN_EMBD,
    KV__MIX_ATTN_V,
    KV__MIX_ATTN_K,
    KV__MIX_ATTN_Q,
    KV__MIX_FFN_DOWN,
    KV__MIX_ATTN_OUTPUT,
    KV__MIX_ATTN_QKV,
    KV__MIX_FFN_GATE,
    KV__MIX_FFN_UP,
} kv__mix_kind;

kv__mix_kind kv__mix_classify(const kv_mix *p, const char *name);

// Applies the mix rules to the quantizable tensor `name` whose row length is
// ne0; *t holds the base type on entry and the chosen type on return. Advances
// the running counts. Fails (KV_ERR_INVALID) only for an expert model's tensor
// without a valid layer in its name.
kv_status kv__mix_rules(kv_mix *p, const char *name, int64_t ne0, kv_type *t, kv_err *err);

// Parses the N of a leading "blk.N." like sscanf("blk.%d."): false when the
// name does not start with "blk." and a number.
bool kv__mix_parse_layer(const char *name, int *layer);

#endif
