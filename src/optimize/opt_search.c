// Mix search: the sensitivity of each tensor group (one weight matrix: per layer
// and kind, plus output and token_embd) measured as the KLD increase on the
// calibration text when only that group is lowered from the reference type (the
// highest of the search types) to each lower one; then a greedy choice of
// per-tensor types under a size budget that minimises the predicted KLD (the
// sum of the groups' increases), taking at each step the lowering that costs
// the least predicted KLD per byte saved.
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kvant/kv_gguf.h"
#include "kvant/kv_mix.h"
#include "kvant/kv_types.h"
#include "optimize/optimize_int.h"

#define MAX_GROUPS 4096

typedef struct {
    char name[96];       // tensor name
    int64_t ne0, rows;
    uint64_t bytes[KV_OPT_MAX_LEVELS];
    double dkld[KV_OPT_MAX_LEVELS]; // NAN: not measured
    int level;
} group;

typedef struct {
    group *g;
    int n;
    kv_type types[KV_OPT_MAX_LEVELS];
    int n_types;
    double ref_kld;
    uint64_t ref_size;
    char calib_logits[1200], sens_path[1200], ref_ftype[16], key[65];
} search;

static kv_status parse_types(const char *list, search *s, kv_err *err) {
    const char *l = list ? list : "Q2_K,Q3_K,Q4_K,Q5_K,Q6_K";
    s->n_types = 0;
    while (*l) {
        size_t len = strcspn(l, ",");
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)len, l);
        int t = kv_type_from_name(name);
        const kv_type_traits *tr = t >= 0 ? kv_type_get((uint32_t)t) : NULL;
        if (!tr || t == KV_TYPE_F32 || t == KV_TYPE_F16 || t == KV_TYPE_BF16 || t == KV_TYPE_Q8_K)
            return KV_FAIL(err, KV_ERR_INVALID, "search types: '%s' is not a quantized type", name);
        if (s->n_types == KV_OPT_MAX_LEVELS)
            return KV_FAIL(err, KV_ERR_LIMIT, "search types: at most %d", KV_OPT_MAX_LEVELS);
        s->types[s->n_types++] = (kv_type)t;
        l += len;
        if (*l == ',')
            l++;
    }
    if (s->n_types < 2)
        return KV_FAIL(err, KV_ERR_INVALID, "search types: need at least two (low to high)");
    kv_type ref = s->types[s->n_types - 1];
    s->ref_ftype[0] = 0;
    for (int id = 0; id < 64 && !s->ref_ftype[0]; id++) {
        const kv_ftype_info *f = kv_ftype_get((kv_ftype)id);
        if (f && f->supported && f->base_type == ref)
            snprintf(s->ref_ftype, sizeof s->ref_ftype, "%s", f->name);
    }
    if (!s->ref_ftype[0])
        return KV_FAIL(err, KV_ERR_UNSUPPORTED, "search types: no file type has %s as its base",
                       kv_type_name(ref));
    return KV_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const group *)a)->name, ((const group *)b)->name);
}

static kv_status groups(const kv__opt_run *o, search *s, kv_err *err) {
    kv_gguf *g = NULL;
    kv_status st = kv_gguf_open(o->base, &g, err);
    if (st != KV_OK)
        return st;
    int64_t nt = kv_gguf_tensor_count(g);
    s->g = calloc((size_t)(nt > 0 ? nt : 1), sizeof *s->g);
    if (!s->g) {
        kv_gguf_close(g);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %lld groups", (long long)nt);
    }
    for (int64_t i = 0; i < nt && s->n < MAX_GROUPS; i++) {
        const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
        if (t->n_dims < 2 || t->name.n < 8 || t->name.n >= sizeof s->g[0].name ||
            memcmp(t->name.p + t->name.n - 7, ".weight", 7) != 0)
            continue;
        group *gr = &s->g[s->n++];
        snprintf(gr->name, sizeof gr->name, "%.*s", (int)t->name.n, t->name.p);
        gr->ne0 = t->ne[0];
        gr->rows = 1;
        for (uint32_t d = 1; d < t->n_dims; d++)
            gr->rows *= t->ne[d];
        for (int l = 0; l < s->n_types; l++) {
            gr->bytes[l] = (uint64_t)kv_type_row_size(s->types[l], gr->ne0) * (uint64_t)gr->rows;
            gr->dkld[l] = l == s->n_types - 1 ? 0 : NAN;
        }
        gr->level = s->n_types - 1;
    }
    kv_gguf_close(g);
    qsort(s->g, (size_t)s->n, sizeof *s->g, by_name);
    return KV_OK;
}

// "name=TYPE" lines: every group at its level, except `only` at `level`.
static char *types_text(const search *s, int only, int level, bool use_levels) {
    size_t cap = (size_t)s->n * 128 + 1, k = 0;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    t[0] = 0;
    for (int i = 0; i < s->n; i++) {
        int l = i == only ? level : use_levels ? s->g[i].level : s->n_types - 1;
        k += (size_t)snprintf(t + k, cap - k, "%s=%s\n", s->g[i].name, kv_type_name(s->types[l]));
    }
    return t;
}

// "name=TYPE" lines with every group at level l.
static char *all_at(const search *s, int l) {
    size_t cap = (size_t)s->n * 128 + 1, k = 0;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    t[0] = 0;
    for (int i = 0; i < s->n; i++)
        k += (size_t)snprintf(t + k, cap - k, "%s=%s\n", s->g[i].name, kv_type_name(s->types[l]));
    return t;
}

static void sens_load(search *s) {
    json_error_t je;
    json_t *j = json_load_file(s->sens_path, 0, &je);
    if (!j)
        return;
    s->ref_kld = json_number_value(json_object_get(j, "reference_kld"));
    s->ref_size = (uint64_t)json_integer_value(json_object_get(j, "reference_size"));
    json_t *a = json_object_get(j, "probes");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *e = json_array_get(a, i);
        const char *gname = json_string_value(json_object_get(e, "tensor"));
        const char *tname = json_string_value(json_object_get(e, "type"));
        if (!gname || !tname)
            continue;
        for (int g = 0; g < s->n; g++)
            if (!strcmp(s->g[g].name, gname))
                for (int l = 0; l < s->n_types - 1; l++)
                    if (!strcmp(kv_type_name(s->types[l]), tname))
                        s->g[g].dkld[l] = json_number_value(json_object_get(e, "kld_increase"));
    }
    json_decref(j);
}

static kv_status sens_save(const search *s, kv_err *err) {
    json_t *j = json_object();
    json_object_set_new(j, "reference_kld", json_real(s->ref_kld));
    json_object_set_new(j, "reference_size", json_integer((json_int_t)s->ref_size));
    json_t *a = json_array();
    for (int g = 0; g < s->n; g++)
        for (int l = 0; l < s->n_types - 1; l++) {
            if (isnan(s->g[g].dkld[l]))
                continue;
            json_t *e = json_object();
            json_object_set_new(e, "tensor", json_string(s->g[g].name));
            json_object_set_new(e, "type", json_string(kv_type_name(s->types[l])));
            json_object_set_new(e, "kld_increase", json_real(s->g[g].dkld[l]));
            json_array_append_new(a, e);
        }
    json_object_set_new(j, "probes", a);
    char *text = json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(10));
    json_decref(j);
    if (!text)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    kv_status st = kv__opt_write_text(s->sens_path, text, strlen(text), err);
    free(text);
    return st;
}

// Writes out: the file at ref_path with tensor `name` taken from alt_path (the
// same model with that tensor quantized to another type). Quantizing one tensor
// does not depend on the others, so this is the file a full quantize with that
// one tensor's type changed would give, without quantizing everything again.
static kv_status splice(const char *ref_path, const char *alt_path, const char *name,
                        const char *out, kv_err *err) {
    kv_gguf *a = NULL, *b = NULL;
    kv_gguf_writer *w = NULL;
    kv_status st = kv_gguf_open(ref_path, &a, err);
    if (st == KV_OK)
        st = kv_gguf_open(alt_path, &b, err);
    if (st == KV_OK)
        st = kv_gguf_writer_new(&w, err);
    for (int64_t i = 0; st == KV_OK && i < kv_gguf_kv_count(a); i++)
        st = kv_gguf_set_from(w, a, i, err);
    int64_t n = st == KV_OK ? kv_gguf_tensor_count(a) : 0;
    const kv_gguf_tensor **src = calloc((size_t)n + 1, sizeof *src);
    if (st == KV_OK && !src)
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; st == KV_OK && i < n; i++) {
        const kv_gguf_tensor *t = kv_gguf_tensor_at(a, i);
        char tname[128];
        snprintf(tname, sizeof tname, "%.*s", (int)t->name.n, t->name.p);
        if (!strcmp(tname, name)) {
            int64_t k = kv_gguf_find_tensor(b, name);
            if (k < 0) {
                st = KV_FAIL(err, KV_ERR_FORMAT, "%s: no tensor '%s'", alt_path, name);
                break;
            }
            t = kv_gguf_tensor_at(b, k);
        }
        src[i] = t;
        st = kv_gguf_add_tensor(w, tname, t->type, t->n_dims, t->ne, err);
    }
    if (st == KV_OK)
        st = kv_gguf_writer_begin(w, out, err);
    for (int64_t i = 0; st == KV_OK && i < n; i++)
        st = kv_gguf_writer_write(w, src[i]->data, src[i]->size, err);
    if (st == KV_OK)
        st = kv_gguf_writer_finish(w, err);
    free(src);
    kv_gguf_writer_free(w);
    kv_gguf_close(b);
    kv_gguf_close(a);
    return st;
}

static void level_path(const kv__opt_run *o, const search *s, int l, char *out, size_t cap) {
    snprintf(out, cap, "%s/level-%.16s-%s.gguf", o->cache, s->key, kv_type_name(s->types[l]));
}

// KLD on the calibration chunks of group `only` lowered to `level` (only < 0:
// the reference itself).
static kv_status probe(const kv__opt_run *o, const search *s, int only, int level, double *kld,
                       kv_err *err) {
    char ref[1200], alt[1200], path[1200];
    level_path(o, s, s->n_types - 1, ref, sizeof ref);
    int nc = o->p->n_chunks_search > 0 ? o->p->n_chunks_search : 4;
    if (only < 0)
        return kv__opt_kld(o, ref, s->calib_logits, nc, NULL, kld, NULL, NULL, err);
    level_path(o, s, level, alt, sizeof alt);
    snprintf(path, sizeof path, "%s/probe.gguf", o->cache);
    kv_status st = splice(ref, alt, s->g[only].name, path, err);
    if (st == KV_OK)
        st = kv__opt_kld(o, path, s->calib_logits, nc, NULL, kld, NULL, NULL, err);
    remove(path);
    return st;
}

static kv_status sensitivity(kv__opt_run *o, search *s, kv_err *err) {
    const kv_opt_params *p = o->p;
    int nc = p->n_chunks_search > 0 ? p->n_chunks_search : 4;
    char knobs[96], key[65];
    snprintf(knobs, sizeof knobs, "ctx=%d chunks=%d", o->n_ctx, nc);
    kv__opt_hash *h = kv__opt_hash_new();
    kv__opt_hash_mem(h, o->calib_text, o->calib_len);
    kv__opt_hash_str(h, knobs);
    kv__opt_hash_str(h, o->base_digest);
    kv__opt_hash_end(h, key);
    snprintf(s->calib_logits, sizeof s->calib_logits, "%s/calib-%.16s.logits", o->cache, key);
    kv_status st = KV_OK;
    if (!kv__opt_exists(s->calib_logits)) {
        kv__opt_log(o, "search: base logits on %d calibration chunks", nc);
        st = kv__opt_base_logits(o, o->calib_text, o->calib_len, nc, s->calib_logits, NULL, err);
        if (st != KV_OK)
            return st;
    }
    h = kv__opt_hash_new();
    kv__opt_hash_str(h, key);
    kv__opt_hash_str(h, o->imatrix_digest);
    for (int l = 0; l < s->n_types; l++)
        kv__opt_hash_str(h, kv_type_name(s->types[l]));
    char skey[65];
    kv__opt_hash_end(h, skey);
    snprintf(s->sens_path, sizeof s->sens_path, "%s/sens-%.16s.json", o->cache, skey);
    sens_load(s);
    snprintf(s->key, sizeof s->key, "%s", skey);
    for (int l = s->n_types - 1; l >= 0; l--) { // every tensor at each type, once
        char path[1200];
        level_path(o, s, l, path, sizeof path);
        if (kv__opt_exists(path))
            continue;
        if (kv__opt_stopped(o))
            return KV_FAIL(err, KV_ERR_LIMIT, "stopped; rerun to continue from the cache");
        kv__opt_log(o, "search: every tensor %s", kv_type_name(s->types[l]));
        char *tt = all_at(s, l);
        if (!tt)
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        st = kv__opt_quantize(o, s->ref_ftype, tt, path, err);
        free(tt);
        if (st != KV_OK)
            return st;
    }
    if (s->ref_size == 0) {
        char ref[1200];
        struct stat sb;
        level_path(o, s, s->n_types - 1, ref, sizeof ref);
        s->ref_size = stat(ref, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        kv__opt_log(o, "search: reference, every tensor %s", kv_type_name(s->types[s->n_types - 1]));
        st = probe(o, s, -1, 0, &s->ref_kld, err);
        if (st == KV_OK)
            st = sens_save(s, err);
        if (st != KV_OK)
            return st;
    }
    int total = 0, done = 0, timed = 0;
    for (int g = 0; g < s->n; g++)
        for (int l = 0; l < s->n_types - 1; l++)
            total += isnan(s->g[g].dkld[l]);
    double t_start = kv__opt_now();
    for (int g = 0; g < s->n; g++) {
        bool any = false;
        for (int l = 0; l < s->n_types - 1; l++) {
            if (!isnan(s->g[g].dkld[l]))
                continue;
            if (kv__opt_stopped(o))
                return KV_FAIL(err, KV_ERR_LIMIT, "stopped; rerun to continue from the cache");
            double kld = 0;
            st = probe(o, s, g, l, &kld, err);
            if (st != KV_OK)
                return st;
            s->g[g].dkld[l] = kld - s->ref_kld;
            any = true;
            done++;
            timed++;
        }
        if (any) {
            double per = (kv__opt_now() - t_start) / timed;
            kv__opt_log(o, "search: sensitivity %d of %d probes (%s), ETA %.0fs", done, total,
                        s->g[g].name, per * (total - done));
            st = sens_save(s, err);
            if (st != KV_OK)
                return st;
        }
    }
    return KV_OK;
}

static void record(kv__opt_run *o, const search *s) {
    kv_opt_result *r = o->r;
    if (r->n_sens > 0)
        return;
    r->sens = calloc((size_t)s->n * (size_t)(s->n_types - 1) + 1, sizeof *r->sens);
    if (!r->sens)
        return;
    for (int g = 0; g < s->n; g++)
        for (int l = 0; l < s->n_types - 1; l++) {
            kv_opt_sens *e = &r->sens[r->n_sens++];
            snprintf(e->group, sizeof e->group, "%.*s", (int)strlen(s->g[g].name) - 7, s->g[g].name);
            snprintf(e->type, sizeof e->type, "%s", kv_type_name(s->types[l]));
            e->dkld = s->g[g].dkld[l];
            e->bytes = s->g[g].bytes[l];
        }
    r->ref_kld = s->ref_kld;
    snprintf(r->ref_type, sizeof r->ref_type, "%s", kv_type_name(s->types[s->n_types - 1]));
}

static kv_status budget_of(const kv__opt_run *o, const char *spec, double *target, char *label,
                           size_t cap, kv_err *err) {
    const kv_ftype_info *f = kv_ftype_find(spec);
    if (f) {
        for (int i = 0; i < o->r->n; i++)
            if (!strcmp(o->r->v[i].name, f->name) && o->r->v[i].size > 0) {
                *target = (double)o->r->v[i].size;
                snprintf(label, cap, "mix@%s", f->name);
                return KV_OK;
            }
        return KV_FAIL(err, KV_ERR_INVALID, "search budget %s: that type was not measured", spec);
    }
    char *end = NULL;
    double bpw = strtod(spec, &end);
    if (end == spec || *end || !(bpw > 0.5 && bpw < 33))
        return KV_FAIL(err, KV_ERR_INVALID,
                       "search budget '%s': expected bits per weight (like 3.5) or a file type", spec);
    *target = bpw * (double)o->r->n_params / 8;
    snprintf(label, cap, "mix@%.2fbpw", bpw);
    return KV_OK;
}

kv_status kv__opt_search(kv__opt_run *o, const char *budget, kv_opt_variant *v, kv_err *err) {
    search s;
    memset(&s, 0, sizeof s);
    double target = 0;
    kv_status st = budget_of(o, budget, &target, v->name, sizeof v->name, err);
    if (st == KV_OK)
        st = parse_types(o->p->search_types, &s, err);
    if (st == KV_OK)
        st = groups(o, &s, err);
    if (st == KV_OK)
        st = sensitivity(o, &s, err);
    if (st != KV_OK) {
        free(s.g);
        return st;
    }
    record(o, &s);
    uint64_t sum = 0;
    for (int g = 0; g < s.n; g++)
        sum += s.g[g].bytes[s.n_types - 1];
    double overhead = (double)s.ref_size - (double)sum + 32.0 * s.n;
    double pred = s.ref_kld;
    while (overhead + (double)sum > target) {
        int best = -1;
        double best_cost = INFINITY;
        for (int g = 0; g < s.n; g++) {
            int l = s.g[g].level;
            if (l == 0)
                continue;
            double saved = (double)s.g[g].bytes[l] - (double)s.g[g].bytes[l - 1];
            double dk = s.g[g].dkld[l - 1] - s.g[g].dkld[l];
            if (dk < 0)
                dk = 0;
            double cost = saved > 0 ? dk / saved : INFINITY;
            if (cost < best_cost) {
                best_cost = cost;
                best = g;
            }
        }
        if (best < 0) {
            free(s.g);
            return KV_FAIL(err, KV_ERR_INVALID,
                           "search budget %s (%.0f bytes) is below what every tensor at %s gives",
                           budget, target, kv_type_name(s.types[0]));
        }
        group *g = &s.g[best];
        sum -= g->bytes[g->level] - g->bytes[g->level - 1];
        g->level--;
    }
    for (int g = 0; g < s.n; g++)
        pred += s.g[g].dkld[s.g[g].level] > 0 ? s.g[g].dkld[s.g[g].level] : 0;
    v->tensor_types = types_text(&s, -1, 0, true);
    v->predicted_kld = pred;
    snprintf(v->ftype, sizeof v->ftype, "%s", s.ref_ftype);
    free(s.g);
    if (!v->tensor_types)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    kv__opt_log(o, "%-14s chosen for %.0f bytes; predicted KLD on the calibration text %.5f",
                v->name, target, pred);
    return KV_OK;
}
