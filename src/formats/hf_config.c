// config.json of a Hugging Face model: the architecture (looked up in
// kv_hf_arch_table) and the hyper-parameters, with the defaults transformers'
// LlamaConfig / MistralConfig use for optional fields. The shape fields
// (hidden_size, intermediate_size, num_hidden_layers, num_attention_heads) are
// required: a guessed model shape would only fail later, less clearly.
#include "formats/hf_int.h"

#include <math.h>
#include <string.h>

#include "formats/json_int.h"

// llama.cpp converts Mistral checkpoints as architecture "llama".
const kv_hf_arch kv_hf_arch_table[] = {
    {"LlamaForCausalLM", "llama"},
    {"MistralForCausalLM", "llama"},
    {"Qwen2ForCausalLM", "qwen2"},
    {"Qwen3ForCausalLM", "qwen3"},
    {"Gemma2ForCausalLM", "gemma2"},
    {"Gemma3ForCausalLM", "gemma3"},
    {"Phi3ForCausalLM", "phi3"},
    {"BertModel", "bert"},
    {NULL, NULL},
};

// Optional fields' defaults (transformers' configuration classes).
typedef struct {
    int64_t n_ctx;
    int64_t n_head_kv; // 0: same as num_attention_heads
    int64_t sliding_window;
} arch_defaults;

static arch_defaults defaults_for(const char *hf_class) {
    if (strcmp(hf_class, "MistralForCausalLM") == 0)
        return (arch_defaults){4096 * 32, 8, 4096};
    if (strcmp(hf_class, "Qwen2ForCausalLM") == 0 || strcmp(hf_class, "Qwen3ForCausalLM") == 0)
        return (arch_defaults){32768, 0, 0};
    if (strcmp(hf_class, "Gemma2ForCausalLM") == 0) // Gemma2Config
        return (arch_defaults){8192, 4, 4096};
    if (strcmp(hf_class, "Gemma3ForCausalLM") == 0) // Gemma3TextConfig
        return (arch_defaults){131072, 4, 4096};
    if (strcmp(hf_class, "Phi3ForCausalLM") == 0) // Phi3Config
        return (arch_defaults){4096, 0, 0};
    if (strcmp(hf_class, "BertModel") == 0) // BertConfig
        return (arch_defaults){512, 0, 0};
    return (arch_defaults){2048, 0, 0};
}

// The largest value kvant accepts for any dimension or count in config.json.
#define KV_HF_MAX_DIM ((int64_t)1 << 30)

// Reads an integer field. *out keeps its value (the default) when the field is
// absent or null and required is false.
static kv_status get_int(const json_t *cfg, const char *path, const char *field, bool required,
                         int64_t *out, kv_err *err) {
    const json_t *v = json_object_get(cfg, field);
    if (!v || json_is_null(v)) {
        if (required)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: field '%s' is %s", path, field,
                           v ? "null, expected an integer" : "missing");
        return KV_OK;
    }
    if (!json_is_integer(v))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: field '%s' has type %s, expected an integer", path,
                       field, kv__json_type_name(v));
    json_int_t x = json_integer_value(v);
    if (x < 1 || x > KV_HF_MAX_DIM)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: field '%s' is %lld, expected 1..%lld", path, field,
                       (long long)x, (long long)KV_HF_MAX_DIM);
    *out = (int64_t)x;
    return KV_OK;
}

static kv_status get_float(const json_t *obj, const char *path, const char *field, float *out,
                           kv_err *err) {
    const json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v))
        return KV_OK;
    if (!json_is_number(v))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: field '%s' has type %s, expected a number", path,
                       field, kv__json_type_name(v));
    *out = (float)json_number_value(v);
    return KV_OK;
}

static kv_status get_str(const json_t *obj, const char *path, const char *field,
                         const char **out, kv_err *err) {
    const json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v))
        return KV_OK;
    if (!json_is_string(v))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: field '%s' has type %s, expected a string", path,
                       field, kv__json_type_name(v));
    *out = json_string_value(v);
    return KV_OK;
}

static kv_status get_arch(const json_t *cfg, const char *path, kv_hf_config *c, kv_err *err) {
    const json_t *a = json_object_get(cfg, "architectures");
    if (!a)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: field 'architectures' is missing", path);
    const json_t *a0 = json_array_get(a, 0);
    if (!json_is_array(a))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: field 'architectures' has type %s, expected an array of class names",
                       path, kv__json_type_name(a));
    if (!json_is_string(a0))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: field 'architectures' has %s first, expected a class name", path,
                       a0 ? kv__json_type_name(a0) : "no entry");
    c->hf_class = json_string_value(a0);
    for (const kv_hf_arch *r = kv_hf_arch_table; r->hf_class; r++)
        if (strcmp(r->hf_class, c->hf_class) == 0) {
            c->arch = r->arch;
            return KV_OK;
        }
    return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                   "%s: field 'architectures' names '%.100s', which kvant does not convert "
                   "(it converts LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
                   "Qwen3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM, Phi3ForCausalLM and "
                   "BertModel)",
                   path, c->hf_class);
}

// One of longrope's factor lists: n numbers, each > 0.
static kv_status get_factors(const json_t *rs, const char *path, const char *field, float *out,
                             int64_t want, kv_err *err) {
    const json_t *a = json_object_get(rs, field);
    if (!json_is_array(a))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: field 'rope_scaling.%s' is %s, expected a list",
                       path, field, a ? kv__json_type_name(a) : "missing");
    if ((int64_t)json_array_size(a) != want)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: field 'rope_scaling.%s' has %zu numbers, expected %lld (rotary dimensions / 2)",
                       path, field, json_array_size(a), (long long)want);
    for (int64_t i = 0; i < want; i++) {
        const json_t *v = json_array_get(a, (size_t)i);
        const double x = json_is_number(v) ? json_number_value(v) : -1.0;
        if (!(x > 0.0 && x < 1e30))
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: field 'rope_scaling.%s' entry %lld is not a positive number", path,
                           field, (long long)i);
        out[i] = (float)x;
    }
    return KV_OK;
}

// Phi-3's longrope (the 128k models), as llama.cpp's Phi3MiniModel converts it:
// both factor lists, the original context (rope_scaling's, else the top-level
// field), and the attention factor from max_position_embeddings / original.
static kv_status get_longrope(const json_t *cfg, const json_t *rs, const char *path,
                              kv_hf_config *c, kv_err *err) {
    const int64_t n = (c->rope_dims > 0 ? c->rope_dims : c->head_dim) / 2;
    if (n < 1 || n > KV_HF_MAX_ROPE_FACTORS)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: longrope with head_dim %lld", path,
                       (long long)c->head_dim);
    kv_status s = get_factors(rs, path, "short_factor", c->rope_short, n, err);
    if (s == KV_OK)
        s = get_factors(rs, path, "long_factor", c->rope_long, n, err);
    int64_t orig = 0, n_ctx = c->n_ctx;
    if (s == KV_OK)
        s = get_int(cfg, path, "original_max_position_embeddings", false, &orig, err);
    if (s == KV_OK)
        s = get_int(rs, path, "original_max_position_embeddings", false, &orig, err);
    if (s == KV_OK)
        s = get_int(cfg, path, "max_position_embeddings", false, &n_ctx, err);
    if (s != KV_OK)
        return s;
    if (orig == 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: field 'original_max_position_embeddings' is missing (longrope needs it)",
                       path);
    c->rope_scaling_type = "longrope";
    c->rope_scaling_orig_ctx = orig;
    c->n_rope_factors = n;
    const double scale = (double)n_ctx / (double)orig;
    c->rope_attn_factor =
        scale > 1.0 ? (float)sqrt(1.0 + log(scale) / log((double)orig)) : 1.0f;
    return KV_OK;
}

// rope_scaling {"rope_type"|"type", "factor", "original_max_position_embeddings"};
// transformers 5 keeps the same keys (and rope_theta) in "rope_parameters".
static kv_status get_rope(const json_t *cfg, const char *path, kv_hf_config *c, kv_err *err) {
    const json_t *rp = json_object_get(cfg, "rope_parameters");
    kv_status s;
    if (json_is_object(rp) && !json_object_get(cfg, "rope_theta") &&
        (s = get_float(rp, path, "rope_theta", &c->rope_theta, err)) != KV_OK)
        return s;
    const json_t *rs = json_object_get(cfg, "rope_scaling");
    if (!rs || json_is_null(rs))
        rs = rp;
    if (!rs || json_is_null(rs))
        return KV_OK;
    if (!json_is_object(rs))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: field 'rope_scaling' has type %s, expected an object", path,
                       kv__json_type_name(rs));
    const char *type = NULL;
    if ((s = get_str(rs, path, "type", &type, err)) != KV_OK ||
        (s = get_str(rs, path, "rope_type", &type, err)) != KV_OK)
        return s;
    if (type && strcmp(type, "default") == 0)
        return KV_OK; // transformers 5 spelling of "no scaling"
    if (type && strcmp(type, "longrope") == 0 && strcmp(c->arch, "phi3") == 0)
        return get_longrope(cfg, rs, path, c, err);
    // llama.cpp writes these for its runtime; kvant does not run them, and a file
    // without them would drift silently at long context: refuse.
    if (type && (strcmp(type, "yarn") == 0 || strcmp(type, "longrope") == 0))
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: field 'rope_scaling' has type '%s', which kvant does not convert yet "
                       "(it converts linear and llama3; remove rope_scaling for the model's "
                       "native context)",
                       path, type);
    c->rope_scaling_type = type;
    if (type && strcmp(type, "llama3") == 0)
        c->rope_scaling_factor = 8.0f; // llama.cpp's default for llama3
    c->rope_low_freq_factor = 1.0f;
    c->rope_high_freq_factor = 4.0f;
    if ((s = get_float(rs, path, "factor", &c->rope_scaling_factor, err)) != KV_OK ||
        (s = get_float(rs, path, "low_freq_factor", &c->rope_low_freq_factor, err)) != KV_OK ||
        (s = get_float(rs, path, "high_freq_factor", &c->rope_high_freq_factor, err)) != KV_OK)
        return s;
    if (type && strcmp(type, "llama3") == 0 &&
        !(c->rope_high_freq_factor > c->rope_low_freq_factor && c->rope_low_freq_factor > 0.0f &&
          c->rope_scaling_factor > 0.0f))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: field 'rope_scaling' has llama3 factors factor %g, low_freq_factor %g, "
                       "high_freq_factor %g; expected positive factors and low < high",
                       path, (double)c->rope_scaling_factor, (double)c->rope_low_freq_factor,
                       (double)c->rope_high_freq_factor);
    return get_int(rs, path, "original_max_position_embeddings", false, &c->rope_scaling_orig_ctx,
                   err);
}

static kv_status get_dims(const json_t *cfg, const char *path, kv_hf_config *c, kv_err *err) {
    kv_status s;
    if ((s = get_int(cfg, path, "hidden_size", true, &c->n_embd, err)) != KV_OK ||
        (s = get_int(cfg, path, "intermediate_size", true, &c->n_ff, err)) != KV_OK ||
        (s = get_int(cfg, path, "num_hidden_layers", true, &c->n_layer, err)) != KV_OK ||
        (s = get_int(cfg, path, "num_attention_heads", true, &c->n_head, err)) != KV_OK)
        return s;
    arch_defaults d = defaults_for(c->hf_class);
    c->n_head_kv = d.n_head_kv ? d.n_head_kv : c->n_head;
    c->n_ctx = d.n_ctx;
    c->head_dim = c->n_embd / c->n_head;
    if ((s = get_int(cfg, path, "num_key_value_heads", false, &c->n_head_kv, err)) != KV_OK ||
        (s = get_int(cfg, path, "max_position_embeddings", false, &c->n_ctx, err)) != KV_OK ||
        (s = get_int(cfg, path, "head_dim", false, &c->head_dim, err)) != KV_OK ||
        (s = get_int(cfg, path, "vocab_size", false, &c->n_vocab, err)) != KV_OK)
        return s;
    const json_t *hd = json_object_get(cfg, "head_dim");
    c->head_dim_given = hd && !json_is_null(hd);
    if (c->head_dim == 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: hidden_size %lld is smaller than num_attention_heads %lld", path,
                       (long long)c->n_embd, (long long)c->n_head);
    if (c->n_head % c->n_head_kv != 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                       path, (long long)c->n_head, (long long)c->n_head_kv);
    return KV_OK;
}

static kv_status get_flags(const json_t *cfg, const char *path, kv_hf_config *c, kv_err *err) {
    const json_t *tie = json_object_get(cfg, "tie_word_embeddings");
    if (tie && !json_is_null(tie)) {
        if (!json_is_boolean(tie))
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: field 'tie_word_embeddings' has type %s, expected a boolean", path,
                           kv__json_type_name(tie));
        c->tie_embeddings = json_is_true(tie);
    }
    const json_t *sw = json_object_get(cfg, "sliding_window");
    if (json_is_false(sw) || json_is_null(sw))
        c->sliding_window = 0;
    else if (sw) {
        kv_status s = get_int(cfg, path, "sliding_window", false, &c->sliding_window, err);
        if (s != KV_OK)
            return s;
    }
    kv_status s = get_str(cfg, path, "torch_dtype", &c->torch_dtype, err);
    if (s == KV_OK && !c->torch_dtype)
        s = get_str(cfg, path, "dtype", &c->torch_dtype, err); // transformers 5
    return s;
}

// Gemma 3: the local rope base, and the layer pattern llama.cpp can express
// (every 6th layer global), no attention soft-capping (Gemma3TextConfig's defaults).
static kv_status get_gemma3(const json_t *cfg, const char *path, kv_hf_config *c, kv_err *err) {
    c->rope_theta = 1000000.0f;
    c->rope_local_base = 10000.0f;
    int64_t pattern = 6;
    kv_status s = get_float(cfg, path, "rope_local_base_freq", &c->rope_local_base, err);
    if (s == KV_OK)
        s = get_int(cfg, path, "sliding_window_pattern", false, &pattern, err);
    if (s != KV_OK)
        return s;
    if (pattern != 6)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: field 'sliding_window_pattern' is %lld; kvant (like llama.cpp) runs "
                       "Gemma 3 with every 6th layer global",
                       path, (long long)pattern);
    if (!(c->rope_local_base > 0.0f))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: field 'rope_local_base_freq' is %g", path,
                       (double)c->rope_local_base);
    const json_t *cap = json_object_get(cfg, "attn_logit_softcapping");
    if (cap && !json_is_null(cap))
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: field 'attn_logit_softcapping' is set; Gemma 3 has none", path);
    return KV_OK;
}

// Phi-3 (Phi3Config): norm epsilon 1e-5, SiLU. Phi-4-mini's partial_rotary_factor
// rotates the first int(factor * hidden_size) / heads dimensions of each head (newer
// llama.cpp's rule for rope.dimension_count); it must give an even count > 0.
static kv_status get_phi3(const json_t *cfg, const char *path, kv_hf_config *c, kv_err *err) {
    if (strcmp(c->arch, "phi3") != 0)
        return KV_OK;
    c->rms_eps = 1e-5f;
    float rot = 1.0f;
    const char *act = NULL;
    kv_status s = get_float(cfg, path, "partial_rotary_factor", &rot, err);
    if (s == KV_OK)
        s = get_str(cfg, path, "hidden_act", &act, err);
    if (s != KV_OK)
        return s;
    c->rope_dims = (int64_t)((double)rot * (double)c->n_embd) / c->n_head;
    if (!(rot > 0.0f && rot <= 1.0f) || c->rope_dims < 2 || c->rope_dims % 2 != 0 ||
        c->rope_dims > c->head_dim)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: field 'partial_rotary_factor' is %g, which gives %lld rotary "
                       "dimensions per head; expected an even count in 2..head_dim (%lld)",
                       path, (double)rot, (long long)c->rope_dims, (long long)c->head_dim);
    if (act && strcmp(act, "silu") != 0)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: field 'hidden_act' is '%.60s', kvant runs Phi-3 with silu", path, act);
    const json_t *orig = json_object_get(cfg, "original_max_position_embeddings");
    c->rope_orig_ctx_given = orig && !json_is_null(orig);
    return KV_OK;
}

// Gemma 2 and 3: soft-capping, the query scale and the activation (Gemma2Config's
// and Gemma3TextConfig's defaults).
static kv_status get_gemma(const json_t *cfg, const char *path, kv_hf_config *c, kv_err *err) {
    const bool g3 = strcmp(c->arch, "gemma3") == 0;
    if (strcmp(c->arch, "gemma2") != 0 && !g3)
        return KV_OK;
    c->tie_embeddings = true;
    c->attn_softcap = g3 ? 0.0f : 50.0f;
    c->final_softcap = g3 ? 0.0f : 30.0f;
    c->query_pre_attn_scalar = 256;
    kv_status s;
    if (g3 && (s = get_gemma3(cfg, path, c, err)) != KV_OK)
        return s;
    // null turns a soft-cap off (transformers' None)
    if (json_is_null(json_object_get(cfg, "attn_logit_softcapping")))
        c->attn_softcap = 0.0f;
    if (json_is_null(json_object_get(cfg, "final_logit_softcapping")))
        c->final_softcap = 0.0f;
    if ((s = get_float(cfg, path, "attn_logit_softcapping", &c->attn_softcap, err)) != KV_OK ||
        (s = get_float(cfg, path, "final_logit_softcapping", &c->final_softcap, err)) != KV_OK ||
        (s = get_int(cfg, path, "query_pre_attn_scalar", false, &c->query_pre_attn_scalar, err)) !=
            KV_OK)
        return s;
    if (!(c->attn_softcap >= 0.0f) || !(c->final_softcap >= 0.0f))
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "%s: field 'attn_logit_softcapping' or 'final_logit_softcapping' is "
                       "negative (%g, %g)",
                       path, (double)c->attn_softcap, (double)c->final_softcap);
    const char *act = NULL;
    if ((s = get_str(cfg, path, "hidden_activation", &act, err)) != KV_OK)
        return s;
    if (act && strcmp(act, "gelu_pytorch_tanh") != 0 && strcmp(act, "gelu_tanh") != 0)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: field 'hidden_activation' is '%.60s', kvant runs gelu_pytorch_tanh",
                       path, act);
    return KV_OK;
}

// BERT (BertConfig): LayerNorm epsilon 1e-12, two token types, exact GELU and
// absolute position embeddings (anything else is refused, naming the field).
static kv_status get_bert(const json_t *cfg, const char *path, kv_hf_config *c, kv_err *err) {
    if (strcmp(c->arch, "bert") != 0)
        return KV_OK;
    c->rms_eps = 1e-12f;
    c->n_token_types = 2;
    const char *act = NULL, *pos = NULL;
    kv_status s = get_float(cfg, path, "layer_norm_eps", &c->rms_eps, err);
    if (s == KV_OK)
        s = get_int(cfg, path, "type_vocab_size", false, &c->n_token_types, err);
    if (s == KV_OK)
        s = get_str(cfg, path, "hidden_act", &act, err);
    if (s == KV_OK)
        s = get_str(cfg, path, "position_embedding_type", &pos, err);
    if (s != KV_OK)
        return s;
    if (act && strcmp(act, "gelu") != 0)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: field 'hidden_act' is '%.60s', kvant runs BERT with gelu", path, act);
    if (pos && strcmp(pos, "absolute") != 0)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s: field 'position_embedding_type' is '%.60s', kvant runs BERT with "
                       "absolute position embeddings", path, pos);
    if (!(c->rms_eps > 0.0f))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: field 'layer_norm_eps' is %g", path,
                       (double)c->rms_eps);
    return KV_OK;
}

kv_status kv__hf_config_parse(const json_t *cfg, const char *path, kv_hf_config *c,
                              kv_err *err) {
    memset(c, 0, sizeof *c);
    if (!json_is_object(cfg))
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: is a JSON %s, expected an object", path,
                       kv__json_type_name(cfg));
    c->rope_theta = 10000.0f;
    c->rms_eps = 1e-6f;
    kv_status s;
    if ((s = get_arch(cfg, path, c, err)) != KV_OK || (s = get_dims(cfg, path, c, err)) != KV_OK)
        return s;
    c->sliding_window = defaults_for(c->hf_class).sliding_window;
    c->rope_llama3_orig_ctx = 8192;
    if ((s = get_int(cfg, path, "original_max_position_embeddings", false,
                     &c->rope_llama3_orig_ctx, err)) != KV_OK)
        return s;
    if ((s = get_gemma(cfg, path, c, err)) != KV_OK || (s = get_phi3(cfg, path, c, err)) != KV_OK ||
        (s = get_bert(cfg, path, c, err)) != KV_OK)
        return s;
    if ((s = get_float(cfg, path, "rms_norm_eps", &c->rms_eps, err)) != KV_OK ||
        (s = get_float(cfg, path, "rope_theta", &c->rope_theta, err)) != KV_OK ||
        (s = get_rope(cfg, path, c, err)) != KV_OK || (s = get_flags(cfg, path, c, err)) != KV_OK)
        return s;
    return KV_OK;
}
