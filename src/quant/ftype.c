// The file-type table (llama.cpp's llama_ftype ids, as llama-quantize names them):
// lookup by name, alias or id, the list for error messages, and which file types
// need an importance matrix. Which tensor gets which type is in mix.c.
#include "kvant/kv_mix.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// The file types in the order help texts list them (a row with supported false
// would be known but refused by kv_ftype_parse). A mix whose tensor types kvant
// cannot write (IQ3_XXS, IQ3_S before the iq3 quantizers land) fails at that
// tensor with the type named.
static const kv_ftype_info FTYPES[] = {
    {KV_FTYPE_ALL_F32, "F32", NULL, "32-bit floats, nothing quantized", KV_TYPE_F32, 32.0, true,
     false},
    {KV_FTYPE_F16, "F16", NULL, "16-bit IEEE floats", KV_TYPE_F16, 16.0, true, false},
    {KV_FTYPE_BF16, "BF16", NULL, "16-bit brain floats (F32's exponent range)", KV_TYPE_BF16,
     16.0, true, false},
    {KV_FTYPE_Q8_0, "Q8_0", NULL, "8-bit, one scale per 32 weights; close to lossless",
     KV_TYPE_Q8_0, 8.5, true, false},
    {KV_FTYPE_Q4_0, "Q4_0", NULL, "4-bit, one scale per 32 weights (legacy)", KV_TYPE_Q4_0, 4.5,
     true, false},
    {KV_FTYPE_Q4_1, "Q4_1", NULL, "4-bit, scale and minimum per 32 weights (legacy)",
     KV_TYPE_Q4_1, 5.0, true, false},
    {KV_FTYPE_Q5_0, "Q5_0", NULL, "5-bit, one scale per 32 weights (legacy)", KV_TYPE_Q5_0, 5.5,
     true, false},
    {KV_FTYPE_Q5_1, "Q5_1", NULL, "5-bit, scale and minimum per 32 weights (legacy)",
     KV_TYPE_Q5_1, 6.0, true, false},
    {KV_FTYPE_Q2_K, "Q2_K", NULL, "2-bit K-quant; attn_v, attn_output and ffn_down in Q3_K",
     KV_TYPE_Q2_K, 2.625, true, false},
    {KV_FTYPE_Q2_K_S, "Q2_K_S", NULL, "2-bit K-quant almost throughout; needs an imatrix",
     KV_TYPE_Q2_K, 2.625, true, true},
    {KV_FTYPE_Q3_K_S, "Q3_K_S", NULL, "3-bit K-quant throughout", KV_TYPE_Q3_K, 3.4375, true,
     false},
    {KV_FTYPE_Q3_K_M, "Q3_K_M", "Q3_K", "3-bit K-quant; attn_v, attn_output, ffn_down in Q4_K/Q5_K",
     KV_TYPE_Q3_K, 3.4375, true, false},
    {KV_FTYPE_Q3_K_L, "Q3_K_L", NULL, "3-bit K-quant; attn_v, attn_output, ffn_down in Q5_K",
     KV_TYPE_Q3_K, 3.4375, true, false},
    {KV_FTYPE_Q4_K_S, "Q4_K_S", NULL, "4-bit K-quant; the first attn_v layers in Q5_K",
     KV_TYPE_Q4_K, 4.5, true, false},
    {KV_FTYPE_Q4_K_M, "Q4_K_M", "Q4_K", "4-bit K-quant; some attn_v and ffn_down layers in Q6_K",
     KV_TYPE_Q4_K, 4.5, true, false},
    {KV_FTYPE_Q5_K_S, "Q5_K_S", NULL, "5-bit K-quant throughout", KV_TYPE_Q5_K, 5.5, true, false},
    {KV_FTYPE_Q5_K_M, "Q5_K_M", "Q5_K", "5-bit K-quant; some attn_v and ffn_down layers in Q6_K",
     KV_TYPE_Q5_K, 5.5, true, false},
    {KV_FTYPE_Q6_K, "Q6_K", NULL, "6-bit K-quant throughout", KV_TYPE_Q6_K, 6.5625, true, false},
    {KV_FTYPE_IQ4_NL, "IQ4_NL", NULL, "4-bit non-linear levels, blocks of 32", KV_TYPE_IQ4_NL,
     4.5, true, false},
    {KV_FTYPE_IQ4_XS, "IQ4_XS", NULL, "4-bit non-linear levels, super-blocks of 256",
     KV_TYPE_IQ4_XS, 4.25, true, false},
    {KV_FTYPE_TQ1_0, "TQ1_0", NULL, "ternary weights packed 5 per byte (ternary-trained models)",
     KV_TYPE_TQ1_0, 1.6875, true, false},
    {KV_FTYPE_TQ2_0, "TQ2_0", NULL, "ternary weights, 2 bits each (ternary-trained models)",
     KV_TYPE_TQ2_0, 2.0625, true, false},
    {KV_FTYPE_COPY, "COPY", NULL, "copy every tensor as it is, rewrite the metadata",
     KV_TYPE_COUNT, 0.0, true, false},
    {KV_FTYPE_IQ2_XXS, "IQ2_XXS", NULL, "2.06 bpw lattice quantization", KV_TYPE_IQ2_XXS, 2.0625,
     true, true},
    {KV_FTYPE_IQ2_XS, "IQ2_XS", NULL, "2.31 bpw lattice quantization", KV_TYPE_IQ2_XS, 2.3125,
     true, true},
    {KV_FTYPE_IQ2_S, "IQ2_S", NULL, "2.5 bpw lattice quantization mix", KV_TYPE_IQ2_XS, 2.3125,
     true, true},
    {KV_FTYPE_IQ2_M, "IQ2_M", NULL, "2.7 bpw lattice quantization mix", KV_TYPE_IQ2_S, 2.5625,
     true, false},
    {KV_FTYPE_IQ3_XXS, "IQ3_XXS", NULL, "3.06 bpw lattice quantization", KV_TYPE_IQ3_XXS, 3.0625,
     true, false},
    {KV_FTYPE_IQ3_XS, "IQ3_XS", NULL, "3.3 bpw lattice quantization mix", KV_TYPE_IQ3_S, 3.4375,
     true, false},
    {KV_FTYPE_IQ3_S, "IQ3_S", NULL, "3.44 bpw lattice quantization", KV_TYPE_IQ3_S, 3.4375, true,
     false},
    {KV_FTYPE_IQ3_M, "IQ3_M", NULL, "3.66 bpw lattice quantization mix", KV_TYPE_IQ3_S, 3.4375,
     true, false},
    {KV_FTYPE_IQ1_S, "IQ1_S", NULL, "1.56 bpw lattice quantization", KV_TYPE_IQ1_S, 1.5625, true,
     true},
    {KV_FTYPE_IQ1_M, "IQ1_M", NULL, "1.75 bpw lattice quantization", KV_TYPE_IQ1_M, 1.75, true,
     true},
};

#define N_FTYPES (sizeof FTYPES / sizeof FTYPES[0])

const kv_ftype_info *kv_ftype_get(kv_ftype id) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (FTYPES[i].id == id)
            return &FTYPES[i];
    return NULL;
}

const char *kv_ftype_name(kv_ftype id) {
    const kv_ftype_info *f = kv_ftype_get(id);
    return f ? f->name : "?";
}

// A decimal file type id ("15"); -1 unless the whole string is digits.
static long parse_id(const char *s) {
    if (*s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > 1000)
        return -1;
    return v;
}

const kv_ftype_info *kv_ftype_find(const char *name) {
    if (!name)
        return NULL;
    for (size_t i = 0; i < N_FTYPES; i++) {
        const kv_ftype_info *f = &FTYPES[i];
        if (strcasecmp(f->name, name) == 0 || (f->alias && strcasecmp(f->alias, name) == 0))
            return f;
    }
    long id = parse_id(name);
    if (id < 0)
        return NULL;
    return kv_ftype_get((kv_ftype)id);
}

// Appends s to buf at *len (keeping it NUL-terminated within size) and counts
// the length it would need.
static void append(char *buf, size_t size, size_t *len, const char *s) {
    size_t n = strlen(s);
    if (size > 0 && *len < size - 1) {
        size_t room = size - 1 - *len;
        size_t k = n < room ? n : room;
        memcpy(buf + *len, s, k);
        buf[*len + k] = '\0';
    }
    *len += n;
}

size_t kv_ftype_list_names(char *buf, size_t size) {
    size_t len = 0;
    if (buf && size > 0)
        buf[0] = '\0';
    else
        size = 0;
    for (size_t i = 0; i < N_FTYPES; i++) {
        if (!FTYPES[i].supported)
            continue;
        if (len > 0)
            append(buf, size, &len, ", ");
        append(buf, size, &len, FTYPES[i].name);
    }
    return len;
}

kv_status kv_ftype_parse(const char *name, kv_ftype *out, kv_err *err) {
    char names[400];
    kv_ftype_list_names(names, sizeof names);
    const kv_ftype_info *f = kv_ftype_find(name);
    if (!f)
        return KV_FAIL(err, KV_ERR_INVALID, "unknown quantization type '%s'; valid: %s",
                       name ? name : "(null)", names);
    if (!f->supported)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "quantization type %s (file type %d) is known but kvant cannot write it "
                       "yet; choose one of: %s",
                       f->name, (int)f->id, names);
    *out = f->id;
    return KV_OK;
}

bool kv_ftype_needs_imatrix(kv_ftype id) {
    const kv_ftype_info *f = kv_ftype_get(id);
    return f && f->needs_imatrix;
}

kv_status kv_ftype_check_imatrix(kv_ftype id, bool has_imatrix, kv_err *err) {
    if (has_imatrix || !kv_ftype_needs_imatrix(id))
        return KV_OK;
    return KV_FAIL(err, KV_ERR_INVALID,
                   "quantization type %s needs an importance matrix (--imatrix FILE): without "
                   "one the result is garbage; make one with `kvant imatrix`",
                   kv_ftype_name(id));
}
