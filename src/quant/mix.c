// The mix plan: which tensors llama-quantize quantizes at all, the user's
// overrides (--pure, --tensor-type, --output-tensor-type, --token-embedding-type,
// --leave-output-tensor), and the fallback when a row does not fit the chosen
// type's blocks. The per-ftype rules themselves are in mix_rules.c.
#define _POSIX_C_SOURCE 200809L
#include "kvant/kv_mix.h"

#include <limits.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "quant/mix_int.h"

struct kv__mix_pattern {
    regex_t re;
    kv_type type;
};

void kv_mix_options_init(kv_mix_options *opts) {
    memset(opts, 0, sizeof *opts);
    opts->output_tensor_type = KV_TYPE_COUNT;
    opts->token_embedding_type = KV_TYPE_COUNT;
}

// ---- names ----

bool kv__mix_parse_layer(const char *name, int *layer) {
    if (strncmp(name, "blk.", 4) != 0)
        return false;
    const char *s = name + 4;
    int sign = 1;
    if (*s == '-' || *s == '+')
        sign = *s++ == '-' ? -1 : 1;
    if (*s < '0' || *s > '9')
        return false;
    long v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        if (v <= INT_MAX)
            v = v * 10 + (*s - '0');
    if (v > INT_MAX)
        v = INT_MAX;
    *layer = (int)(sign * v);
    return true;
}

int kv_mix_name_cmp(const char *a, const char *b) {
    int la = -1;
    int lb = -1;
    if (!kv__mix_parse_layer(a, &la))
        la = -1;
    if (!kv__mix_parse_layer(b, &lb))
        lb = -1;
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

bool kv_mix_needs_imatrix(kv_ftype ftype, const char *name, kv_type type) {
    const bool embd = strcmp(name, "token_embd.weight") == 0;
    switch (type) {
    case KV_TYPE_IQ2_XXS:
    case KV_TYPE_IQ2_XS:
    case KV_TYPE_IQ2_S:
    case KV_TYPE_IQ1_S: return true;
    case KV_TYPE_IQ1_M: return !embd && strcmp(name, "output.weight") != 0;
    case KV_TYPE_Q2_K: return ftype == KV_FTYPE_Q2_K_S && !embd;
    default: return false;
    }
}

// ---- --tensor-type patterns ----

// Rewrites an ECMAScript-flavoured pattern for regcomp: \d and \D outside a
// bracket expression become [0-9] and [^0-9]. dst holds 3 * strlen(src) + 1.
static void translate_pattern(const char *src, char *dst) {
    bool in_bracket = false;
    while (*src) {
        if (!in_bracket && src[0] == '\\' && (src[1] == 'd' || src[1] == 'D')) {
            const char *cls = src[1] == 'd' ? "[0-9]" : "[^0-9]";
            size_t n = strlen(cls);
            memcpy(dst, cls, n);
            dst += n;
            src += 2;
            continue;
        }
        if (!in_bracket && src[0] == '\\' && src[1]) {
            *dst++ = *src++;
            *dst++ = *src++;
            continue;
        }
        if (!in_bracket && *src == '[') {
            in_bracket = true;
            *dst++ = *src++;
            if (*src == '^')
                *dst++ = *src++;
            if (*src == ']') // a leading ']' is a literal member
                *dst++ = *src++;
            continue;
        }
        if (in_bracket && *src == '[' && (src[1] == ':' || src[1] == '.' || src[1] == '=')) {
            const char close[3] = {src[1], ']', '\0'};
            const char *end = strstr(src + 2, close);
            size_t n = end ? (size_t)(end + 2 - src) : strlen(src);
            memcpy(dst, src, n);
            dst += n;
            src += n;
            continue;
        }
        if (in_bracket && *src == ']')
            in_bracket = false;
        *dst++ = *src++;
    }
    *dst = '\0';
}

// A type the user may ask for: a float type or a block-quantized one.
static bool type_usable(kv_type t) {
    const kv_type_traits *tr = kv_type_get((uint32_t)t);
    return tr && (tr->quantized || t == KV_TYPE_F32 || t == KV_TYPE_F16 || t == KV_TYPE_BF16);
}

static kv_status compile_pattern(const char *spec, kv__mix_pattern *pat, kv_err *err) {
    const char *eq = spec ? strrchr(spec, '=') : NULL;
    if (!eq || eq == spec || eq[1] == '\0')
        return KV_FAIL(err, KV_ERR_INVALID, "--tensor-type '%s': expected PATTERN=TYPE",
                       spec ? spec : "(null)");
    const int t = kv_type_from_name(eq + 1);
    if (t < 0 || !type_usable((kv_type)t))
        return KV_FAIL(err, KV_ERR_INVALID,
                       "--tensor-type '%s': '%s' is not a float or quantized tensor type", spec,
                       eq + 1);
    const size_t len = (size_t)(eq - spec);
    char *raw = malloc(len + 1);
    char *re = malloc(3 * len + 1);
    if (!raw || !re) {
        free(raw);
        free(re);
        return KV_FAIL(err, KV_ERR_NOMEM, "--tensor-type '%s': out of memory", spec);
    }
    memcpy(raw, spec, len);
    raw[len] = '\0';
    translate_pattern(raw, re);
    const int rc = regcomp(&pat->re, re, REG_EXTENDED | REG_ICASE | REG_NOSUB);
    kv_status st = KV_OK;
    if (rc != 0) {
        char why[128];
        regerror(rc, &pat->re, why, sizeof why);
        st = KV_FAIL(err, KV_ERR_INVALID, "--tensor-type '%s': bad pattern '%s': %s", spec, raw,
                     why);
    }
    pat->type = (kv_type)t;
    free(raw);
    free(re);
    return st;
}

static kv_status compile_patterns(kv_mix *p, const kv_mix_options *o, kv_err *err) {
    if (o->n_tensor_types == 0)
        return KV_OK;
    if (!o->tensor_types)
        return KV_FAIL(err, KV_ERR_INVALID, "mix options: %zu tensor types but no list",
                       o->n_tensor_types);
    p->patterns = calloc(o->n_tensor_types, sizeof *p->patterns);
    if (!p->patterns)
        return KV_FAIL(err, KV_ERR_NOMEM, "mix options: out of memory for %zu tensor types",
                       o->n_tensor_types);
    for (size_t i = 0; i < o->n_tensor_types; i++) {
        kv_status st = compile_pattern(o->tensor_types[i], &p->patterns[i], err);
        if (st != KV_OK)
            return st;
        p->n_patterns++;
    }
    return KV_OK;
}

// The first pattern found in name sets *t.
static bool match_override(const kv_mix *p, const char *name, kv_type *t) {
    for (size_t i = 0; i < p->n_patterns; i++) {
        if (regexec(&p->patterns[i].re, name, 0, NULL, 0) == 0) {
            *t = p->patterns[i].type;
            return true;
        }
    }
    return false;
}

// ---- the plan ----

static kv_status check_model(const kv_mix_model *m, kv_err *err) {
    if (!m)
        return KV_FAIL(err, KV_ERR_INVALID, "mix: no model facts");
    if (m->n_layer < 0 || m->n_head < 0 || m->n_head_kv < 0 || m->n_expert < 0)
        return KV_FAIL(err, KV_ERR_INVALID,
                       "mix: negative model facts (n_layer %d, n_head %d, n_head_kv %d, "
                       "n_expert %d)",
                       m->n_layer, m->n_head, m->n_head_kv, m->n_expert);
    if (m->n_tensors > 0 && !m->tensor_names)
        return KV_FAIL(err, KV_ERR_INVALID, "mix: %zu tensors but no names", m->n_tensors);
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!m->tensor_names[i])
            return KV_FAIL(err, KV_ERR_INVALID, "mix: tensor name %zu is NULL", i);
    return KV_OK;
}

static void set_model(kv_mix *p, const kv_mix_model *m) {
    const char *arch = m->arch ? m->arch : "llama";
    const int n_head_kv = m->n_head_kv ? m->n_head_kv : m->n_head;
    p->is_falcon = strcmp(arch, "falcon") == 0;
    p->is_70b = strcmp(arch, "llama") == 0 && m->n_layer == 80 && m->n_head != n_head_kv;
    p->n_layer = m->n_layer;
    p->n_gqa = n_head_kv ? m->n_head / n_head_kv : 0;
    p->n_expert = m->n_expert;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const char *name = m->tensor_names[i];
        if (strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight") ||
            strstr(name, "attn_kv_b.weight"))
            p->n_attention_wv++;
        else if (strcmp(name, "output.weight") == 0)
            p->has_output = true;
    }
}

static kv_status set_options(kv_mix *p, const kv_mix_options *o, kv_err *err) {
    p->pure = o->pure;
    p->leave_output = o->leave_output_tensor;
    p->has_imatrix = o->has_imatrix;
    p->output_type = o->output_tensor_type;
    p->token_embd_type = o->token_embedding_type;
    if (p->output_type != KV_TYPE_COUNT && !type_usable(p->output_type))
        return KV_FAIL(err, KV_ERR_INVALID, "mix: output tensor type %d is not usable",
                       (int)p->output_type);
    if (p->token_embd_type != KV_TYPE_COUNT && !type_usable(p->token_embd_type))
        return KV_FAIL(err, KV_ERR_INVALID, "mix: token embedding type %d is not usable",
                       (int)p->token_embd_type);
    return compile_patterns(p, o, err);
}

kv_status kv_mix_new(kv_ftype ftype, const kv_mix_model *model, const kv_mix_options *opts,
                     kv_mix **out, kv_err *err) {
    if (!out)
        return KV_FAIL(err, KV_ERR_INVALID, "mix: no output pointer");
    *out = NULL;
    const kv_ftype_info *info = kv_ftype_get(ftype);
    if (!info)
        return KV_FAIL(err, KV_ERR_INVALID, "mix: unknown file type %d", (int)ftype);
    kv_status st = check_model(model, err);
    if (st != KV_OK)
        return st;
    kv_mix_options defaults;
    kv_mix_options_init(&defaults);
    kv_mix *p = calloc(1, sizeof *p);
    if (!p)
        return KV_FAIL(err, KV_ERR_NOMEM, "mix: out of memory");
    p->ftype = ftype;
    p->base = info->base_type;
    p->copy = ftype == KV_FTYPE_COPY;
    set_model(p, model);
    st = set_options(p, opts ? opts : &defaults, err);
    if (st != KV_OK) {
        kv_mix_free(p);
        return st;
    }
    *out = p;
    return KV_OK;
}

void kv_mix_free(kv_mix *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->n_patterns; i++)
        regfree(&p->patterns[i].re);
    free(p->patterns);
    free(p);
}

int kv_mix_n_fallback(const kv_mix *p) { return p ? p->n_fallback : 0; }

// ---- one tensor ----

// Dimensions as ggml counts them: trailing sizes of 1 do not count.
static int effective_dims(int n_dims, const int64_t *ne) {
    for (int i = n_dims - 1; i >= 1; i--)
        if (ne[i] > 1)
            return i + 1;
    return 1;
}

// Whether llama-quantize touches the tensor at all: 2-D and larger weights,
// not norms, not the small or positional tensors some architectures carry.
static bool quantizable(const kv_mix *p, const char *name, int n_dims, const int64_t *ne) {
    static const char *const SKIP[] = {
        "_norm.weight",          "ffn_gate_inp.weight",      "ssm_conv1d.weight",
        "time_mix_first.weight", "time_mix_w1.weight",       "time_mix_w2.weight",
        "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
        "attn_rel_b.weight",
    };
    const size_t len = strlen(name);
    if (p->copy || effective_dims(n_dims, ne) < 2)
        return false;
    if (len < 6 || strcmp(name + len - 6, "weight") != 0)
        return false;
    if (p->leave_output && strcmp(name, "output.weight") == 0)
        return false;
    if (strcmp(name, "position_embd.weight") == 0 || strcmp(name, "token_types.weight") == 0)
        return false;
    for (size_t i = 0; i < sizeof SKIP / sizeof SKIP[0]; i++)
        if (strstr(name, SKIP[i]))
            return false;
    return true;
}

// llama.cpp's replacement for a type whose blocks do not fit the row length.
static kv_type fallback_of(kv_type t) {
    switch (t) {
    case KV_TYPE_TQ1_0:
    case KV_TYPE_TQ2_0: return KV_TYPE_Q4_0;
    case KV_TYPE_IQ2_XXS:
    case KV_TYPE_IQ2_XS:
    case KV_TYPE_IQ2_S:
    case KV_TYPE_IQ3_XXS:
    case KV_TYPE_IQ3_S:
    case KV_TYPE_IQ1_S:
    case KV_TYPE_IQ1_M:
    case KV_TYPE_Q2_K:
    case KV_TYPE_Q3_K:
    case KV_TYPE_IQ4_XS: return KV_TYPE_IQ4_NL;
    case KV_TYPE_Q4_K: return KV_TYPE_Q5_0;
    case KV_TYPE_Q5_K: return KV_TYPE_Q5_1;
    case KV_TYPE_Q6_K: return KV_TYPE_Q8_0;
    default: return KV_TYPE_COUNT;
    }
}

static bool row_fits(kv_type t, int64_t ne0) {
    return ne0 % kv_type_get((uint32_t)t)->block_size == 0;
}

static kv_status apply_fallback(kv_mix *p, const char *name, int64_t ne0, kv_type *t,
                                bool *fell_back, kv_err *err) {
    *fell_back = false;
    if (row_fits(*t, ne0))
        return KV_OK;
    const kv_type fb = fallback_of(*t);
    if (fb == KV_TYPE_COUNT)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "tensor '%s': row length %lld is not a multiple of %s's block size %d, "
                       "and there is no fallback type for %s",
                       name, (long long)ne0, kv_type_name(*t), kv_type_get(*t)->block_size,
                       kv_type_name(*t));
    // When even the fallback's 32-wide blocks do not fit, llama.cpp keeps F16.
    *t = row_fits(fb, ne0) ? fb : KV_TYPE_F16;
    *fell_back = true;
    p->n_fallback++;
    return KV_OK;
}

static kv_status check_args(const kv_mix *p, const char *name, kv_type cur_type, int n_dims,
                            const int64_t *ne, const kv_mix_choice *out, kv_err *err) {
    if (!p || !name || !ne || !out)
        return KV_FAIL(err, KV_ERR_INVALID, "mix: NULL argument");
    if (n_dims < 1 || n_dims > 4)
        return KV_FAIL(err, KV_ERR_INVALID, "tensor '%s': %d dimensions, expected 1..4", name,
                       n_dims);
    for (int i = 0; i < n_dims; i++)
        if (ne[i] < 1)
            return KV_FAIL(err, KV_ERR_INVALID, "tensor '%s': dimension %d is %lld", name, i,
                           (long long)ne[i]);
    if (!kv_type_get((uint32_t)cur_type))
        return KV_FAIL(err, KV_ERR_INVALID, "tensor '%s': unknown type id %d", name,
                       (int)cur_type);
    return KV_OK;
}

kv_status kv_mix_choose(kv_mix *p, const char *name, kv_type cur_type, int n_dims,
                        const int64_t *ne, kv_mix_choice *out, kv_err *err) {
    kv_status st = check_args(p, name, cur_type, n_dims, ne, out, err);
    if (st != KV_OK)
        return st;
    *out = (kv_mix_choice){cur_type, false, false, cur_type, false};
    if (!quantizable(p, name, n_dims, ne))
        return KV_OK;
    kv_type t = p->base;
    if (!p->pure && kv_type_get((uint32_t)t)->quantized) {
        st = kv__mix_rules(p, name, ne[0], &t, err);
        if (st != KV_OK)
            return st;
    }
    out->overridden = match_override(p, name, &t);
    if (p->token_embd_type != KV_TYPE_COUNT && strcmp(name, "token_embd.weight") == 0)
        t = p->token_embd_type;
    if (p->output_type != KV_TYPE_COUNT && strcmp(name, "output.weight") == 0)
        t = p->output_type;
    out->wanted = t;
    st = apply_fallback(p, name, ne[0], &t, &out->fallback, err);
    if (st != KV_OK)
        return st;
    out->type = t;
    out->quantize = t != cur_type;
    return KV_OK;
}
