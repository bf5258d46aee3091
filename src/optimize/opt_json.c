// The cache entries of measured variants and results.json (stable field names:
// see README's Optimize section).
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optimize/optimize_int.h"

static json_t *variant_json(const kv_opt_variant *v) {
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(v->name));
    json_object_set_new(j, "ftype", json_string(v->ftype));
    json_object_set_new(j, "digest", json_string(v->digest));
    json_object_set_new(j, "path", json_string(v->path));
    json_object_set_new(j, "size_bytes", json_integer((json_int_t)v->size));
    json_object_set_new(j, "bpw", json_real(v->bpw));
    json_object_set_new(j, "ppl", json_real(v->ppl));
    json_object_set_new(j, "kld_mean", json_real(v->kld_mean));
    json_object_set_new(j, "kld_p99", json_real(v->kld_p99));
    json_object_set_new(j, "same_top_p", json_real(v->same_top));
    json_object_set_new(j, "prompt_tps", json_real(v->pp_tps));
    json_object_set_new(j, "gen_tps", json_real(v->tg_tps));
    json_object_set_new(j, "ram_bytes", json_integer((json_int_t)v->ram));
    if (v->tensor_types) {
        json_object_set_new(j, "predicted_kld", json_real(v->predicted_kld));
        json_t *tt = json_object();
        const char *s = v->tensor_types;
        while (*s) {
            size_t len = strcspn(s, "\n");
            const char *eq = memchr(s, '=', len);
            if (eq) {
                char name[128], type[32];
                snprintf(name, sizeof name, "%.*s", (int)(eq - s), s);
                snprintf(type, sizeof type, "%.*s", (int)(s + len - eq - 1), eq + 1);
                json_object_set_new(tt, name, json_string(type));
            }
            s += len;
            if (*s)
                s++;
        }
        json_object_set_new(j, "tensor_types", tt);
    }
    return j;
}

static double num(json_t *o, const char *k) {
    return json_number_value(json_object_get(o, k));
}

static void variant_from(json_t *j, kv_opt_variant *v) {
    const char *s;
    if ((s = json_string_value(json_object_get(j, "name"))))
        snprintf(v->name, sizeof v->name, "%s", s);
    if ((s = json_string_value(json_object_get(j, "ftype"))))
        snprintf(v->ftype, sizeof v->ftype, "%s", s);
    if ((s = json_string_value(json_object_get(j, "digest"))))
        snprintf(v->digest, sizeof v->digest, "%s", s);
    if ((s = json_string_value(json_object_get(j, "path"))))
        snprintf(v->path, sizeof v->path, "%s", s);
    v->size = (uint64_t)json_integer_value(json_object_get(j, "size_bytes"));
    v->bpw = num(j, "bpw");
    v->ppl = num(j, "ppl");
    v->kld_mean = num(j, "kld_mean");
    v->kld_p99 = num(j, "kld_p99");
    v->same_top = num(j, "same_top_p");
    v->pp_tps = num(j, "prompt_tps");
    v->tg_tps = num(j, "gen_tps");
    v->ram = (uint64_t)json_integer_value(json_object_get(j, "ram_bytes"));
    v->predicted_kld = num(j, "predicted_kld");
}

static kv_status dump(json_t *j, const char *path, kv_err *err) {
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(j);
    if (!text)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    text[n] = 0;
    char *t2 = realloc(text, n + 2);
    if (!t2) {
        free(text);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    }
    t2[n] = '\n';
    t2[n + 1] = 0;
    kv_status st = kv__opt_write_text(path, t2, n + 1, err);
    free(t2);
    return st;
}

kv_status kv__opt_variant_save(const kv__opt_run *o, const kv_opt_variant *v, kv_err *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/v-%.16s.json", o->cache, v->digest);
    return dump(variant_json(v), path, err);
}

bool kv__opt_variant_load(const kv__opt_run *o, kv_opt_variant *v) {
    char path[1200];
    snprintf(path, sizeof path, "%s/v-%.16s.json", o->cache, v->digest);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        return false;
    const char *d = json_string_value(json_object_get(j, "digest"));
    bool ok = d && !strcmp(d, v->digest);
    if (ok) {
        char name[48], vpath[1024]; // as this run names them (OUTDIR may have moved)
        snprintf(name, sizeof name, "%s", v->name);
        snprintf(vpath, sizeof vpath, "%s", v->path);
        variant_from(j, v);
        snprintf(v->name, sizeof v->name, "%s", name);
        snprintf(v->path, sizeof v->path, "%s", vpath);
    }
    json_decref(j);
    return ok;
}

kv_status kv__opt_results_write(const kv__opt_run *o, const char *path, kv_err *err) {
    const kv_opt_result *r = o->r;
    const kv_opt_params *p = o->p;
    json_t *j = json_object();
    json_object_set_new(j, "format", json_string("kvant-optimize-results"));
    json_object_set_new(j, "version", json_integer(1));
    json_object_set_new(j, "kvant_version", json_string(KV_VERSION));
    json_object_set_new(j, "source", json_string(p->src));
    json_object_set_new(j, "source_digest", json_string(r->src_digest));
    json_t *b = json_object();
    json_object_set_new(b, "path", json_string(r->base_path));
    json_object_set_new(b, "size_bytes", json_integer((json_int_t)r->base_size));
    json_object_set_new(b, "n_params", json_integer((json_int_t)r->n_params));
    json_object_set_new(b, "ppl", json_real(r->base_ppl));
    json_object_set_new(b, "logits", json_string(r->base_logits));
    json_object_set_new(b, "imatrix", json_string(r->imatrix));
    json_object_set_new(b, "n_ctx", json_integer(o->n_ctx));
    json_object_set_new(j, "base", b);
    json_t *m = json_object();
    json_object_set_new(m, "cpu", json_string(r->cpu));
    json_object_set_new(m, "simd", json_string(r->simd));
    json_object_set_new(m, "threads", json_integer(r->n_threads));
    json_object_set_new(m, "bandwidth_gbs", json_real(r->bw_gbs));
    json_object_set_new(j, "machine", m);
    json_t *g = json_object();
    const double gv[KV_OPT_N_GOALS] = {p->goals.max_size, p->goals.max_ram, p->goals.min_gen_tps,
                                       p->goals.min_prompt_tps, p->goals.max_kld};
    for (int k = 0; k < KV_OPT_N_GOALS; k++)
        json_object_set_new(g, KV_OPT_GOAL_NAMES[k],
                            (k == KV_OPT_GOAL_KLD ? gv[k] >= 0 : gv[k] > 0) ? json_real(gv[k])
                                                                           : json_null());
    json_object_set_new(j, "goals", g);
    static const char *OBJ[] = {"quality", "speed", "size"};
    json_object_set_new(j, "objective", json_string(OBJ[p->objective]));
    json_t *vs = json_array();
    for (int i = 0; i < r->n; i++) {
        const kv_opt_variant *v = &r->v[i];
        json_t *vj = variant_json(v);
        json_object_set_new(vj, "cached", json_boolean(v->cached));
        json_object_set_new(vj, "pareto", json_boolean(v->pareto));
        json_object_set_new(vj, "meets_all", json_boolean(v->meets_all));
        json_t *mt = json_object();
        for (int k = 0; k < KV_OPT_N_GOALS; k++)
            json_object_set_new(mt, KV_OPT_GOAL_NAMES[k], json_boolean(v->meets[k]));
        json_object_set_new(vj, "meets", mt);
        json_array_append_new(vs, vj);
    }
    json_object_set_new(j, "variants", vs);
    json_object_set_new(j, "pick", r->pick >= 0 ? json_string(r->v[r->pick].name) : json_null());
    json_object_set_new(j, "closest",
                        r->pick < 0 && r->closest >= 0 ? json_string(r->v[r->closest].name)
                                                       : json_null());
    json_object_set_new(j, "missed", r->pick < 0 ? json_string(r->missed) : json_null());
    json_object_set_new(j, "n_measured", json_integer(r->n_measured));
    json_object_set_new(j, "seconds", json_real(r->seconds));
    if (r->n_sens > 0) {
        json_t *s = json_object();
        json_object_set_new(s, "reference_type", json_string(r->ref_type));
        json_object_set_new(s, "reference_kld", json_real(r->ref_kld));
        json_t *a = json_array();
        for (int i = 0; i < r->n_sens; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "group", json_string(r->sens[i].group));
            json_object_set_new(e, "type", json_string(r->sens[i].type));
            json_object_set_new(e, "kld_increase", json_real(r->sens[i].dkld));
            json_object_set_new(e, "bytes", json_integer((json_int_t)r->sens[i].bytes));
            json_array_append_new(a, e);
        }
        json_object_set_new(s, "probes", a);
        json_object_set_new(j, "sensitivity", s);
    }
    return dump(j, path, err);
}

kv_status kv_opt_results_read(const char *path, kv_opt_result *out, kv_err *err) {
    memset(out, 0, sizeof *out);
    out->pick = out->closest = -1;
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j && je.line < 1)
        return KV_FAIL(err, KV_ERR_IO, "%s: %s", path, je.text);
    if (!j)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: %s", path, je.line, je.text);
    kv_status st = KV_OK;
    const char *fmt = json_string_value(json_object_get(j, "format"));
    json_t *vs = json_object_get(j, "variants");
    if (!fmt || strcmp(fmt, "kvant-optimize-results") != 0 || !json_is_array(vs)) {
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s: not a kvant optimize results.json (no 'format' "
                                         "kvant-optimize-results or no 'variants' list)", path);
        goto done;
    }
    size_t n = json_array_size(vs);
    if (n > 4096) {
        st = KV_FAIL(err, KV_ERR_LIMIT, "%s: %zu variants, at most 4096", path, n);
        goto done;
    }
    out->v = calloc(n ? n : 1, sizeof *out->v);
    if (!out->v) {
        st = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *vj = json_array_get(vs, i);
        if (!json_is_object(vj)) {
            st = KV_FAIL(err, KV_ERR_FORMAT, "%s: variants[%zu] is not an object", path, i);
            goto done;
        }
        variant_from(vj, &out->v[i]);
    }
    out->n = (int)n;
    json_t *m = json_object_get(j, "machine");
    const char *s;
    if ((s = json_string_value(json_object_get(m, "cpu"))))
        snprintf(out->cpu, sizeof out->cpu, "%s", s);
    if ((s = json_string_value(json_object_get(m, "simd"))))
        snprintf(out->simd, sizeof out->simd, "%s", s);
    out->n_threads = (int)json_integer_value(json_object_get(m, "threads"));
    out->bw_gbs = num(m, "bandwidth_gbs");
    json_t *b = json_object_get(j, "base");
    out->n_params = (uint64_t)json_integer_value(json_object_get(b, "n_params"));
    out->base_size = (uint64_t)json_integer_value(json_object_get(b, "size_bytes"));
    out->base_ppl = num(b, "ppl");
done:
    json_decref(j);
    if (st != KV_OK)
        kv_opt_result_free(out);
    return st;
}
