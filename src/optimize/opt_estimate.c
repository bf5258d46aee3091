// Estimates for kvant recommend when no optimize run exists: sizes from the
// parameter count and each type's bits per weight, generation speed from the
// measured memory bandwidth (a decoded token reads every weight once).
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvant/kv_bench.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_mix.h"
#include "kvant/kv_safetensors.h"
#include "optimize/optimize_int.h"

kv_status kv_opt_count_params(const char *src, uint64_t *n_params, kv_err *err) {
    *n_params = 0;
    struct stat sb;
    if (stat(src, &sb) != 0)
        return KV_FAIL(err, KV_ERR_IO, "%s: no such file or folder", src);
    if (S_ISDIR(sb.st_mode)) {
        kv_safetensors *st = NULL;
        kv_status s = kv_safetensors_open(src, &st, err);
        if (s != KV_OK)
            return s;
        for (int64_t i = 0; i < kv_safetensors_count(st); i++)
            *n_params += (uint64_t)kv_safetensors_at(st, i)->n_elements;
        kv_safetensors_close(st);
        return KV_OK;
    }
    kv_gguf *g = NULL;
    kv_status s = kv_gguf_open(src, &g, err);
    if (s != KV_OK)
        return s;
    for (int64_t i = 0; i < kv_gguf_tensor_count(g); i++) {
        const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
        uint64_t ne = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            ne *= (uint64_t)t->ne[d];
        *n_params += ne;
    }
    kv_gguf_close(g);
    return KV_OK;
}

kv_status kv_opt_bandwidth(int n_threads, double *gbs, kv_err *err) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = n_threads > 0 ? n_threads : (int)(ncpu > 0 ? ncpu : 1);
    size_t size = kv_bench_bandwidth_size();
    if (size > ((size_t)256 << 20))
        size = (size_t)256 << 20;
    return kv_bench_bandwidth(size, nt, 3, gbs, err);
}

const char *kv_opt_quality_class(double bpw) {
    return bpw < 3 ? "ultra-low" : bpw < 5 ? "low" : bpw <= 8.6 ? "medium" : "high";
}

kv_status kv_opt_estimate(uint64_t n_params, double bw_gbs, kv_opt_result *out, kv_err *err) {
    memset(out, 0, sizeof *out);
    out->pick = out->closest = -1;
    const char *names[64];
    int n = kv_opt_ladder(names, 64);
    out->v = calloc((size_t)n + 1, sizeof *out->v);
    if (!out->v)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const kv_ftype_info *f = kv_ftype_find(names[i]);
        kv_opt_variant *v = &out->v[out->n++];
        snprintf(v->name, sizeof v->name, "%s", f->name);
        snprintf(v->ftype, sizeof v->ftype, "%s", f->name);
        v->bpw = f->bpw;
        v->size = (uint64_t)((double)n_params * f->bpw / 8);
        v->ram = (uint64_t)((double)v->size * 1.1);
        v->tg_tps = v->size ? bw_gbs * 1e9 / (double)v->size : 0;
    }
    out->n_params = n_params;
    out->bw_gbs = bw_gbs;
    return KV_OK;
}
