// Type planning shared by convert and quantize: the mix rules pick each tensor's
// type, then the importance matrix (if any) is matched to the tensors it guides.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_int.h"
#include "kvant/kv_types.h"

static bool in_list(const char *name, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

// Attaches importance weights to the tensors that will be quantized and checks that
// every entry of the matrix belongs to this model with the right row length.
static kv_status attach_imatrix(kv__emit_tensor *ts, int64_t n, const kv_quant_plan_opts *o,
                                const kv_imatrix *im, kv_err *err) {
    const char *path = o->imatrix_path;
    for (size_t i = 0; i < kv_imatrix_count(im); i++) {
        const char *name = kv_imatrix_name(im, i);
        int64_t j = 0;
        while (j < n && strcmp(ts[j].name, name) != 0)
            j++;
        if (j == n)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: entry '%s' names no tensor of this model (an imatrix for "
                           "another model?)",
                           path, name);
        size_t len = 0;
        const float *v = kv_imatrix_values(im, i, &len);
        if ((int64_t)len != ts[j].ne[0])
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: entry '%s' has %zu values, tensor rows have %lld (an imatrix "
                           "for another model?)",
                           path, name, len, (long long)ts[j].ne[0]);
        bool quantized = kv_type_get(ts[j].dst_type)->quantized;
        if (o->n_include > 0 && !in_list(name, o->include_weights, o->n_include))
            continue;
        if (in_list(name, o->exclude_weights, o->n_exclude))
            continue;
        if (quantized && ts[j].dst_type != ts[j].src_type)
            ts[j].imatrix = v;
    }
    return KV_OK;
}

static kv_status choose_all(kv__emit_tensor *ts, int64_t n, kv_mix *mix,
                            const kv_quant_plan_opts *o, bool convert_mode, kv_err *err) {
    for (int64_t i = 0; i < n; i++) {
        kv__emit_tensor *t = &ts[i];
        kv_type cur = convert_mode ? KV_TYPE_F32 : (kv_type)t->src_type;
        kv_mix_choice c;
        kv_status st = kv_mix_choose(mix, t->name, cur, (int)t->n_dims, t->ne, &c, err);
        if (st != KV_OK)
            return st;
        if (!c.quantize) {
            t->dst_type = convert_mode ? KV_TYPE_F32 : t->src_type;
            t->wanted_type = t->dst_type;
            continue;
        }
        t->dst_type = c.type;
        t->wanted_type = c.wanted;
        t->fallback = c.fallback;
        if (c.fallback && o->no_fallback)
            return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                           "tensor '%s': rows of %lld do not fit %s blocks (would fall back to "
                           "%s; --no-fallback given)",
                           t->name, (long long)t->ne[0], kv_type_name(c.wanted),
                           kv_type_name(c.type));
    }
    return KV_OK;
}

kv_status kv__plan_types(kv__emit_tensor *ts, int64_t n, const kv_mix_model *model,
                         const kv_quant_plan_opts *o, bool convert_mode, kv_imatrix **im,
                         kv_err *err) {
    *im = NULL;
    kv_mix_options defaults;
    kv_mix_options_init(&defaults);
    kv_mix_options mo = o->mix ? *o->mix : defaults;
    mo.has_imatrix = o->imatrix_path != NULL;
    kv_status st = kv_ftype_check_imatrix(o->ftype, mo.has_imatrix, err);
    if (st != KV_OK)
        return st;
    kv_mix *mix = NULL;
    st = kv_mix_new(o->ftype, model, &mo, &mix, err);
    if (st == KV_OK)
        st = choose_all(ts, n, mix, o, convert_mode, err);
    kv_mix_free(mix);
    if (st == KV_OK && o->imatrix_path) {
        st = kv_imatrix_open(o->imatrix_path, im, err);
        if (st == KV_OK)
            st = attach_imatrix(ts, n, o, *im, err);
    }
    for (int64_t i = 0; st == KV_OK && i < n; i++)
        if (!ts[i].imatrix && kv_mix_needs_imatrix(o->ftype, ts[i].name, (kv_type)ts[i].dst_type) &&
            ts[i].dst_type != ts[i].src_type)
            st = KV_FAIL(err, KV_ERR_INVALID,
                         "tensor '%s' needs importance data for %s and the imatrix has none for it "
                         "(make one that covers it with `kvant imatrix`)",
                         ts[i].name, kv_type_name(ts[i].dst_type));
    if (st != KV_OK) {
        kv_imatrix_close(*im);
        *im = NULL;
    }
    return st;
}

kv_status kv__set_imatrix_keys(kv_gguf_writer *w, const char *path, const kv_imatrix *im,
                               kv_err *err) {
    kv_status st = kv_gguf_set_str(w, "quantize.imatrix.file", path, err);
    if (st == KV_OK && kv_imatrix_dataset(im))
        st = kv_gguf_set_str(w, "quantize.imatrix.dataset", kv_imatrix_dataset(im), err);
    if (st == KV_OK)
        st = kv_gguf_set_i32(w, "quantize.imatrix.entries_count", (int32_t)kv_imatrix_count(im),
                             err);
    if (st == KV_OK)
        st = kv_gguf_set_i32(w, "quantize.imatrix.chunks_count", kv_imatrix_chunk_count(im), err);
    return st;
}
