// GGUF -> GGUF re-typing (llama-quantize): metadata copied, tensors re-ordered as
// llama.cpp writes them, each dequantized row by row and quantized to its planned type.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_int.h"
#include "kvant/kv_quant.h"
#include "kvant/kv_types.h"

typedef struct {
    const kv_gguf_tensor *t;
} gguf_src;

static kv_status gguf_read_rows(const void *ctx, int64_t row0, int64_t n_rows, float *dst,
                                kv_err *err) {
    const kv_gguf_tensor *t = ((const gguf_src *)ctx)->t;
    size_t row_size = kv_type_row_size((kv_type)t->type, t->ne[0]);
    const uint8_t *p = (const uint8_t *)t->data + (size_t)row0 * row_size;
    return kv_dequant_row((kv_type)t->type, p, dst, n_rows * t->ne[0], err);
}

static int cmp_tensor(const void *a, const void *b) {
    return kv_mix_name_cmp(((const kv__emit_tensor *)a)->name, ((const kv__emit_tensor *)b)->name);
}

// Describes every input tensor as an emitter source, in llama.cpp's output order.
static kv_status plan_sources(const kv_gguf *g, kv__emit_tensor *ts, gguf_src *srcs, kv_err *err) {
    int64_t n = kv_gguf_tensor_count(g);
    for (int64_t i = 0; i < n; i++) {
        const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
        kv__emit_tensor *e = &ts[i];
        if (t->name.n >= sizeof e->name)
            return KV_FAIL(err, KV_ERR_LIMIT, "%s: tensor name '%.*s' is too long",
                           kv_gguf_path(g), (int)t->name.n, t->name.p);
        memcpy(e->name, t->name.p, t->name.n);
        e->name[t->name.n] = '\0';
        e->n_dims = t->n_dims;
        memcpy(e->ne, t->ne, sizeof e->ne);
        e->src_type = t->type;
        srcs[i].t = t;
        e->ctx = &srcs[i];
        e->read_rows = gguf_read_rows;
        e->read_mt = true; // a pure function of the mapped bytes
        e->raw = t->data;
        e->src_data = t->data;
        e->src_size = t->size;
    }
    qsort(ts, (size_t)n, sizeof *ts, cmp_tensor); // ctx pointers travel with their entries
    return KV_OK;
}

// Refuses to re-quantize quantized input unless allowed, and types kvant cannot read.
static kv_status check_sources(const kv_gguf *g, const kv__emit_tensor *ts, int64_t n,
                               bool allow_requantize, kv_err *err) {
    for (int64_t i = 0; i < n; i++) {
        const kv_type_traits *tr = kv_type_get(ts[i].src_type);
        if (tr->quantized && !allow_requantize && ts[i].dst_type != ts[i].src_type)
            return KV_FAIL(err, KV_ERR_INVALID,
                           "%s: tensor '%s' is already quantized (%s); requantizing loses "
                           "quality: pass --allow-requantize to do it anyway",
                           kv_gguf_path(g), ts[i].name, tr->name);
        if (ts[i].dst_type != ts[i].src_type && !kv_quant_can_dequantize((kv_type)ts[i].src_type))
            return KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which kvant cannot read",
                           kv_gguf_path(g), ts[i].name, tr->name);
    }
    return KV_OK;
}

static kv_status model_facts(const kv_gguf *g, kv__emit_tensor *ts, int64_t n, kv_mix_model *m,
                             const char **names, char *arch_buf, size_t arch_cap, kv_err *err) {
    memset(m, 0, sizeof *m);
    kv_str arch;
    kv_status st = kv_gguf_get_str(g, "general.architecture", &arch, err);
    if (st != KV_OK)
        return st;
    snprintf(arch_buf, arch_cap, "%.*s", (int)arch.n, arch.p);
    m->arch = arch_buf;
    char key[128];
    int64_t v;
    snprintf(key, sizeof key, "%s.block_count", arch_buf);
    st = kv_gguf_get_int(g, key, &v, err);
    m->n_layer = (int)v;
    snprintf(key, sizeof key, "%s.attention.head_count", arch_buf);
    if (st == KV_OK)
        st = kv_gguf_get_int(g, key, &v, err);
    m->n_head = (int)v;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch_buf);
    m->n_head_kv = kv_gguf_get_int(g, key, &v, NULL) == KV_OK ? (int)v : m->n_head;
    snprintf(key, sizeof key, "%s.expert_count", arch_buf);
    m->n_expert = kv_gguf_get_int(g, key, &v, NULL) == KV_OK ? (int)v : 0;
    for (int64_t i = 0; i < n; i++)
        names[i] = ts[i].name;
    m->tensor_names = names;
    m->n_tensors = (size_t)n;
    return st;
}

static kv_status set_metadata(kv_gguf_writer *w, const kv_gguf *g, const kv_quantize_opts *o,
                              const kv_imatrix *im, kv_err *err) {
    kv_status st = KV_OK;
    for (int64_t i = 0; st == KV_OK && i < kv_gguf_kv_count(g); i++)
        st = kv_gguf_set_from(w, g, i, err);
    // llama-quantize re-adds these two at the end, in this order (COPY keeps the type)
    kv_gguf_unset(w, "general.quantization_version");
    if (st == KV_OK)
        st = kv_gguf_set_u32(w, "general.quantization_version", 2, err);
    if (st == KV_OK && o->plan.ftype != KV_FTYPE_COPY) {
        kv_gguf_unset(w, "general.file_type");
        st = kv_gguf_set_u32(w, "general.file_type", (uint32_t)o->plan.ftype, err);
    }
    if (st == KV_OK && im)
        st = kv__set_imatrix_keys(w, o->plan.imatrix_path, im, err);
    return st;
}

kv_status kv_quantize_gguf(const char *in_path, const char *out_path, const kv_quantize_opts *o,
                           kv_convert_report *report, kv_err *err) {
    kv_gguf *g = NULL;
    kv_gguf_writer *w = NULL;
    kv_imatrix *im = NULL;
    kv__emit_tensor *ts = NULL;
    gguf_src *srcs = NULL;
    const char **names = NULL;
    kv_status st = kv_gguf_open(in_path, &g, err);
    if (st != KV_OK)
        return st;
    int64_t n = kv_gguf_tensor_count(g);
    size_t cap = (size_t)(n > 0 ? n : 1);
    ts = calloc(cap, sizeof *ts);
    srcs = calloc(cap, sizeof *srcs);
    names = calloc(cap, sizeof *names);
    if (!ts || !srcs || !names) {
        st = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for %lld tensors", in_path, (long long)n);
        goto done;
    }
    kv_mix_model model;
    char arch[64];
    st = plan_sources(g, ts, srcs, err);
    if (st == KV_OK)
        st = model_facts(g, ts, n, &model, names, arch, sizeof arch, err);
    if (st == KV_OK)
        st = kv__plan_types(ts, n, &model, &o->plan, false, &im, err);
    if (st == KV_OK)
        st = check_sources(g, ts, n, o->allow_requantize, err);
    if (st == KV_OK)
        st = kv_gguf_writer_new(&w, err);
    if (st == KV_OK)
        st = set_metadata(w, g, o, im, err);
    if (st == KV_OK)
        st = kv__emit_gguf(w, out_path, ts, n, o->plan.n_threads, o->plan.progress,
                           o->plan.progress_user, report, err);
done:
    kv_gguf_writer_free(w);
    kv_imatrix_close(im);
    free(names);
    free(srcs);
    free(ts);
    kv_gguf_close(g);
    return st;
}
