// kvant optimize's driver: base, imatrix, base logits, candidates (cached by
// digest), mix searches, selection, and the files of OUTDIR.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvant/kv_convert.h"
#include "kvant/kv_mix.h"
#include "optimize/optimize_int.h"

const char *const KV_OPT_GOAL_NAMES[KV_OPT_N_GOALS] = {"max_size", "max_ram", "min_gen_tps",
                                                       "min_prompt_tps", "max_kld"};

void kv_opt_params_init(kv_opt_params *p) {
    memset(p, 0, sizeof *p);
    p->goals.max_kld = -1;
    p->objective = KV_OPT_QUALITY;
}

void kv_opt_result_free(kv_opt_result *r) {
    if (!r)
        return;
    for (int i = 0; i < r->n; i++)
        free(r->v[i].tensor_types);
    free(r->v);
    free(r->sens);
    memset(r, 0, sizeof *r);
}

double kv__opt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void kv__opt_log(const kv__opt_run *o, const char *fmt, ...) {
    if (!o->p->log)
        return;
    char line[512];
    int k = snprintf(line, sizeof line, "[%6.1fs] ", kv__opt_now() - o->t0);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
    va_end(ap);
    o->p->log(o->p->log_user, line);
}

bool kv__opt_stopped(const kv__opt_run *o) { return o->p->stop && *o->p->stop; }

bool kv__opt_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static kv_status mkdir_p(const char *path, kv_err *err) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *s = tmp + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return KV_FAIL(err, KV_ERR_IO, "%s: %s", tmp, strerror(errno));
        *s = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return KV_FAIL(err, KV_ERR_IO, "%s: %s", tmp, strerror(errno));
    return KV_OK;
}

kv_status kv__opt_write_text(const char *path, const char *text, size_t len, kv_err *err) {
    kv_out out;
    kv_status st = kv_out_open(&out, path, err);
    if (st != KV_OK)
        return st;
    st = kv_out_write(&out, text, len, err);
    if (st == KV_OK)
        return kv_out_commit(&out, err);
    kv_out_abort(&out);
    return st;
}

static kv_status read_all(const char *path, char **out, size_t *len, kv_err *err) {
    return kv_read_file(path, (size_t)1 << 30, out, len, err);
}

// Calibration and held-out texts: given, or one text cut at the newline
// nearest its middle (the two parts share no bytes, so no tokens).
static kv_status texts(kv__opt_run *o, kv_err *err) {
    const kv_opt_params *p = o->p;
    kv_status st;
    if (p->calib && p->eval) {
        st = read_all(p->calib, &o->calib_text, &o->calib_len, err);
        return st == KV_OK ? read_all(p->eval, &o->eval_text, &o->eval_len, err) : st;
    }
    const char *one = p->text ? p->text : p->calib ? p->calib : p->eval;
    if (!one)
        return KV_FAIL(err, KV_ERR_INVALID, "no text: give --text FILE (split into calibration "
                                            "and held-out parts) or --calib and --eval");
    char *t = NULL;
    size_t n = 0;
    st = read_all(one, &t, &n, err);
    if (st != KV_OK)
        return st;
    size_t cut = n / 2;
    while (cut < n && t[cut] != '\n')
        cut++;
    if (cut >= n || n < 64) {
        free(t);
        return KV_FAIL(err, KV_ERR_INVALID, "%s: too short to split into two parts (%zu bytes)",
                       one, n);
    }
    o->calib_text = malloc(cut + 1);
    o->eval_text = malloc(n - cut);
    if (!o->calib_text || !o->eval_text) {
        free(t);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory splitting %s", one);
    }
    memcpy(o->calib_text, t, cut);
    o->calib_text[cut] = 0;
    o->calib_len = cut;
    memcpy(o->eval_text, t + cut + 1, n - cut - 1);
    o->eval_text[n - cut - 1] = 0;
    o->eval_len = n - cut - 1;
    free(t);
    return KV_OK;
}

static kv_status base(kv__opt_run *o, kv_err *err) {
    const kv_opt_params *p = o->p;
    struct stat sb;
    if (stat(p->src, &sb) != 0)
        return KV_FAIL(err, KV_ERR_IO, "%s: %s", p->src, strerror(errno));
    const char *bt = p->base_type ? p->base_type : "f16";
    // Hashing gigabytes takes a while: the digest of a source file is kept
    // beside a key of its path, size, inode and modification time.
    char sig[65], sig_path[1200];
    char sig_text[1400];
    snprintf(sig_text, sizeof sig_text, "%s|%lld|%llu|%lld.%09ld|%s", p->src, (long long)sb.st_size,
             (unsigned long long)sb.st_ino, (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec, bt);
    kv__opt_hash *h = kv__opt_hash_new();
    kv__opt_hash_str(h, sig_text);
    if (S_ISDIR(sb.st_mode) && kv__opt_hash_dir_stat(h, p->src, err) != KV_OK) {
        kv__opt_hash_end(h, sig);
        return err ? err->status : KV_ERR_IO;
    }
    kv__opt_hash_end(h, sig);
    snprintf(sig_path, sizeof sig_path, "%s/source-%.16s.digest", o->cache, sig);
    char *known = NULL;
    size_t known_len = 0;
    kv_err e2;
    bool have = kv_read_file(sig_path, 128, &known, &known_len, &e2) == KV_OK && known_len >= 64;
    if (have) {
        snprintf(o->base_digest, sizeof o->base_digest, "%.64s", known);
        free(known);
        snprintf(o->r->src_digest, sizeof o->r->src_digest, "%s", o->base_digest);
        if (!S_ISDIR(sb.st_mode)) {
            snprintf(o->base, sizeof o->base, "%s", p->src);
            kv__opt_log(o, "base: %s (GGUF, digest cached)", p->src);
            return KV_OK;
        }
        snprintf(o->base, sizeof o->base, "%s/base-%.16s.gguf", o->cache, o->base_digest);
        if (kv__opt_exists(o->base)) {
            kv__opt_log(o, "base: %s (cached)", o->base);
            return KV_OK;
        }
    }
    free(have ? NULL : known);
    h = kv__opt_hash_new();
    if (!h)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for a digest");
    kv_status st;
    if (S_ISDIR(sb.st_mode)) {
        kv__opt_hash_str(h, "hf");
        kv__opt_hash_str(h, bt);
        kv__opt_hash_str(h, KV_VERSION);
        st = kv__opt_hash_dir(h, p->src, err);
    } else {
        kv__opt_hash_str(h, "gguf");
        st = kv__opt_hash_file(h, p->src, err);
    }
    kv__opt_hash_end(h, o->base_digest);
    if (st != KV_OK)
        return st;
    snprintf(o->r->src_digest, sizeof o->r->src_digest, "%s", o->base_digest);
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(o->base, sizeof o->base, "%s", p->src);
        kv__opt_log(o, "base: %s (GGUF)", p->src);
        char line[80];
        int k = snprintf(line, sizeof line, "%s\n", o->base_digest);
        return kv__opt_write_text(sig_path, line, (size_t)k, err);
    }
    snprintf(o->base, sizeof o->base, "%s/base-%.16s.gguf", o->cache, o->base_digest);
    if (kv__opt_exists(o->base)) {
        kv__opt_log(o, "base: %s (cached)", o->base);
        return KV_OK;
    }
    kv__opt_log(o, "convert %s -> %s (%s)", p->src, o->base, bt);
    kv_convert_opts co;
    memset(&co, 0, sizeof co);
    co.outtype = bt;
    co.plan.n_threads = o->n_threads;
    st = kv_convert_hf(p->src, o->base, &co, NULL, err);
    if (st == KV_OK) {
        char line[80];
        int k = snprintf(line, sizeof line, "%s\n", o->base_digest);
        st = kv__opt_write_text(sig_path, line, (size_t)k, err);
    }
    return st;
}

static kv_status prepare(kv__opt_run *o, kv_err *err) {
    const kv_opt_params *p = o->p;
    char knobs[128];
    snprintf(knobs, sizeof knobs, "ctx=%d calib=%d", o->n_ctx, p->n_chunks_calib);
    kv__opt_hash *h = kv__opt_hash_new();
    kv__opt_hash_mem(h, o->calib_text, o->calib_len);
    kv__opt_hash_str(h, knobs);
    kv__opt_hash_str(h, o->base_digest);
    kv__opt_hash_end(h, o->imatrix_digest);
    snprintf(o->imatrix, sizeof o->imatrix, "%s/imatrix-%.16s.dat", o->cache, o->imatrix_digest);
    kv_status st = KV_OK;
    if (!kv__opt_exists(o->imatrix)) {
        kv__opt_log(o, "imatrix on the calibration text (%zu bytes)", o->calib_len);
        st = kv__opt_imatrix(o, o->imatrix, err);
        if (st != KV_OK)
            return st;
    } else {
        kv__opt_log(o, "imatrix: cached");
    }
    snprintf(knobs, sizeof knobs, "ctx=%d eval=%d", o->n_ctx, p->n_chunks_eval);
    h = kv__opt_hash_new();
    kv__opt_hash_mem(h, o->eval_text, o->eval_len);
    kv__opt_hash_str(h, knobs);
    kv__opt_hash_str(h, o->base_digest);
    kv__opt_hash_end(h, o->logits_digest);
    snprintf(o->logits, sizeof o->logits, "%s/base-%.16s.logits", o->cache, o->logits_digest);
    char ppl_path[1100];
    snprintf(ppl_path, sizeof ppl_path, "%s.ppl", o->logits);
    char *txt = NULL;
    size_t n = 0;
    kv_err e2;
    if (kv__opt_exists(o->logits) && kv_read_file(ppl_path, 64, &txt, &n, &e2) == KV_OK) {
        o->r->base_ppl = strtod(txt, NULL);
        free(txt);
        kv__opt_log(o, "base logits: cached (PPL %.4f)", o->r->base_ppl);
        return KV_OK;
    }
    kv__opt_log(o, "base logits on the held-out text (%zu bytes)", o->eval_len);
    st = kv__opt_base_logits(o, o->eval_text, o->eval_len, p->n_chunks_eval, o->logits,
                             &o->r->base_ppl, err);
    if (st == KV_OK) {
        char buf[64];
        int k = snprintf(buf, sizeof buf, "%.17g\n", o->r->base_ppl);
        st = kv__opt_write_text(ppl_path, buf, (size_t)k, err);
    }
    return st;
}

// The key of a variant: the base, the imatrix, the held-out text, the type or
// mix, and what the measurement depends on (threads, bench sizes).
static void variant_digest(const kv__opt_run *o, kv_opt_variant *v) {
    char knobs[160];
    const kv_opt_params *p = o->p;
    snprintf(knobs, sizeof knobs, "t=%d pp=%d tg=%d r=%d", o->n_threads, p->bench_prompt,
             p->bench_gen, p->bench_reps);
    kv__opt_hash *h = kv__opt_hash_new();
    kv__opt_hash_str(h, o->base_digest);
    kv__opt_hash_str(h, o->imatrix_digest);
    kv__opt_hash_str(h, o->logits_digest);
    kv__opt_hash_str(h, v->ftype);
    kv__opt_hash_str(h, v->tensor_types);
    kv__opt_hash_str(h, knobs);
    kv__opt_hash_end(h, v->digest);
    snprintf(v->path, sizeof v->path, "%s/v-%.16s.gguf", o->cache, v->digest);
}

static kv_opt_variant *add_variant(kv__opt_run *o, kv_err *err) {
    kv_opt_result *r = o->r;
    kv_opt_variant *nv = realloc(r->v, (size_t)(r->n + 1) * sizeof *nv);
    if (!nv) {
        KV_FAIL(err, KV_ERR_NOMEM, "out of memory for variants");
        return NULL;
    }
    r->v = nv;
    memset(&nv[r->n], 0, sizeof nv[r->n]);
    return &nv[r->n++];
}

static void eta(const kv__opt_run *o, int done, int total, double t_measure, int n_measured) {
    if (n_measured > 0 && done < total)
        kv__opt_log(o, "%d of %d done, ETA %.0fs", done, total,
                    t_measure / n_measured * (total - done));
}

// Measures v (quantize then measure) unless the cache has it.
static kv_status measure_one(kv__opt_run *o, kv_opt_variant *v, kv_err *err) {
    variant_digest(o, v);
    if (kv__opt_variant_load(o, v) && kv__opt_exists(v->path)) {
        v->cached = true;
        kv__opt_log(o, "%-14s cached: %.2f MiB, KLD %.5f", v->name, v->size / 1048576.0,
                    v->kld_mean);
        return KV_OK;
    }
    kv__opt_log(o, "%-14s quantize", v->name);
    kv_status st = kv__opt_quantize(o, v->ftype, v->tensor_types, v->path, err);
    if (st == KV_OK && !kv__opt_stopped(o)) {
        kv__opt_log(o, "%-14s evaluate", v->name);
        st = kv__opt_measure(o, v, err);
    }
    if (st == KV_OK && !kv__opt_stopped(o))
        st = kv__opt_variant_save(o, v, err);
    if (st == KV_OK && !kv__opt_stopped(o)) {
        o->r->n_measured++;
        kv__opt_log(o, "%-14s %.2f MiB, %.2f bpw, PPL %.4f, KLD %.5f (p99 %.4f), same top %.1f%%, "
                       "pp %.0f t/s, tg %.0f t/s",
                    v->name, v->size / 1048576.0, v->bpw, v->ppl, v->kld_mean, v->kld_p99,
                    100 * v->same_top, v->pp_tps, v->tg_tps);
    }
    return st;
}

// The default ladder: every file type kvant can write whose base type is
// quantized, from Q8_0 down (by bits per weight), IQ types included once the
// type table says they are supported. Q4_0/Q4_1/Q5_x legacy types are left out.
int kv_opt_ladder(const char **out, int cap) {
    int n = 0;
    for (int id = 0; id < 64 && n < cap; id++) {
        const kv_ftype_info *f = kv_ftype_get((kv_ftype)id);
        if (!f || !f->supported || f->base_type == KV_TYPE_F32 || f->base_type == KV_TYPE_F16 ||
            f->base_type == KV_TYPE_BF16 || f->bpw <= 0 || f->id == KV_FTYPE_TQ1_0 ||
            f->id == KV_FTYPE_TQ2_0 || f->id == KV_FTYPE_Q4_0 || f->id == KV_FTYPE_Q4_1 ||
            f->id == KV_FTYPE_Q5_0 || f->id == KV_FTYPE_Q5_1 || f->id == KV_FTYPE_IQ4_NL)
            continue;
        out[n++] = f->name;
    }
    // by bits per weight, highest first (stable: ids break ties)
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && kv_ftype_find(out[j])->bpw > kv_ftype_find(out[j - 1])->bpw; j--) {
            const char *t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static kv_status candidates(kv__opt_run *o, kv_err *err) {
    const kv_opt_params *p = o->p;
    const char *names[64];
    int n = 0;
    if (p->n_candidates > 0) {
        for (int i = 0; i < p->n_candidates; i++) {
            kv_ftype ft;
            kv_status st = kv_ftype_parse(p->candidates[i], &ft, err);
            if (st != KV_OK)
                return st;
            names[n++] = kv_ftype_name(ft);
        }
    } else {
        n = kv_opt_ladder(names, 64);
    }
    // a search budget named by a file type measures that type too
    for (int i = 0; i < p->n_search && n < 64; i++) {
        const kv_ftype_info *f = kv_ftype_find(p->search[i]);
        if (!f)
            continue;
        bool have = false;
        for (int j = 0; j < n; j++)
            have |= !strcmp(names[j], f->name);
        if (!have)
            names[n++] = f->name;
    }
    int total = n + p->n_search;
    double t_measure = 0;
    int n_timed = 0;
    for (int i = 0; i < n; i++) {
        if (kv__opt_stopped(o))
            return KV_FAIL(err, KV_ERR_LIMIT, "stopped; rerun to continue from the cache");
        kv_opt_variant *v = add_variant(o, err);
        if (!v)
            return err ? err->status : KV_ERR_NOMEM;
        snprintf(v->name, sizeof v->name, "%s", names[i]);
        snprintf(v->ftype, sizeof v->ftype, "%s", names[i]);
        double t = kv__opt_now();
        kv_status st = measure_one(o, v, err);
        if (st != KV_OK)
            return st;
        if (!v->cached) {
            t_measure += kv__opt_now() - t;
            n_timed++;
        }
        eta(o, i + 1, total, t_measure, n_timed);
    }
    for (int i = 0; i < p->n_search; i++) {
        if (kv__opt_stopped(o))
            return KV_FAIL(err, KV_ERR_LIMIT, "stopped; rerun to continue from the cache");
        kv_opt_variant *v = add_variant(o, err);
        if (!v)
            return err ? err->status : KV_ERR_NOMEM;
        kv_status st = kv__opt_search(o, p->search[i], v, err);
        if (st == KV_OK)
            st = measure_one(o, v, err);
        if (st != KV_OK)
            return st;
    }
    if (kv__opt_stopped(o))
        return KV_FAIL(err, KV_ERR_LIMIT, "stopped; rerun to continue from the cache");
    return KV_OK;
}

static kv_status copy_file(const char *from, const char *to, kv_err *err) {
    FILE *f = fopen(from, "rb");
    if (!f)
        return KV_FAIL(err, KV_ERR_IO, "%s: %s", from, strerror(errno));
    kv_out out;
    kv_status st = kv_out_open(&out, to, err);
    if (st != KV_OK) {
        fclose(f);
        return st;
    }
    static _Thread_local char buf[1 << 16];
    size_t n;
    while (st == KV_OK && (n = fread(buf, 1, sizeof buf, f)) > 0)
        st = kv_out_write(&out, buf, n, err);
    fclose(f);
    if (st != KV_OK) {
        kv_out_abort(&out);
        return st;
    }
    return kv_out_commit(&out, err);
}

static kv_status outputs(kv__opt_run *o, kv_err *err) {
    const kv_opt_params *p = o->p;
    kv_opt_result *r = o->r;
    char path[1200];
    kv_status st = KV_OK;
    if (r->pick >= 0) {
        snprintf(path, sizeof path, "%s/model.gguf", p->outdir);
        st = copy_file(r->v[r->pick].path, path, err);
        if (st == KV_OK) {
            snprintf(path, sizeof path, "%s/Modelfile", p->outdir);
            char mf[512];
            int k = snprintf(mf, sizeof mf,
                             "# kvant optimize: %s (%.2f bpw, mean KLD %.5f against the base)\n"
                             "FROM ./model.gguf\n",
                             r->v[r->pick].name, r->v[r->pick].bpw, r->v[r->pick].kld_mean);
            st = kv__opt_write_text(path, mf, (size_t)k, err);
        }
    }
    if (r->pick < 0) { // a model.gguf of an earlier run would not meet these goals
        snprintf(path, sizeof path, "%s/model.gguf", p->outdir);
        remove(path);
        snprintf(path, sizeof path, "%s/Modelfile", p->outdir);
        remove(path);
    }
    if (st == KV_OK) {
        snprintf(path, sizeof path, "%s/results.json", p->outdir);
        st = kv__opt_results_write(o, path, err);
    }
    if (st == KV_OK) {
        snprintf(path, sizeof path, "%s/report.html", p->outdir);
        st = kv__opt_report_write(o, path, err);
    }
    return st;
}

kv_status kv_opt_run(const kv_opt_params *p, kv_opt_result *out, kv_err *err) {
    memset(out, 0, sizeof *out);
    out->pick = out->closest = -1;
    if (!p->src || !p->outdir)
        return KV_FAIL(err, KV_ERR_INVALID, "need a source and an output folder");
    kv__opt_run o;
    memset(&o, 0, sizeof o);
    o.p = p;
    o.r = out;
    o.t0 = kv__opt_now();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o.n_threads = p->n_threads > 0 ? p->n_threads : (int)(ncpu > 0 ? ncpu : 1);
    if (strlen(p->outdir) > sizeof o.cache - 8)
        return KV_FAIL(err, KV_ERR_LIMIT, "output folder name longer than %zu bytes",
                       sizeof o.cache - 8);
    snprintf(o.cache, sizeof o.cache, "%s/cache", p->outdir);
    kv_status st = mkdir_p(o.cache, err);
    if (st == KV_OK)
        st = texts(&o, err);
    if (st == KV_OK)
        st = base(&o, err);
    kv_model *m = NULL;
    if (st == KV_OK)
        st = kv_model_open(o.base, &m, err);
    if (st == KV_OK) {
        int64_t train = kv_model_hparams(m)->n_ctx_train;
        o.n_ctx = p->n_ctx > 0 ? p->n_ctx : 512;
        if (train > 0 && o.n_ctx > train)
            o.n_ctx = (int)train;
        const kv_gguf *g = kv_model_gguf(m);
        for (int64_t i = 0; i < kv_gguf_tensor_count(g); i++) {
            const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
            uint64_t ne = 1;
            for (uint32_t d = 0; d < t->n_dims; d++)
                ne *= (uint64_t)t->ne[d];
            out->n_params += ne;
        }
        out->base_size = kv_gguf_file_size(g);
        kv__opt_log(&o, "machine: measuring memory bandwidth");
        kv__opt_machine(&o, m);
        kv_model_close(m);
    }
    snprintf(out->base_path, sizeof out->base_path, "%s", o.base);
    if (st == KV_OK)
        st = prepare(&o, err);
    snprintf(out->base_logits, sizeof out->base_logits, "%s", o.logits);
    snprintf(out->imatrix, sizeof out->imatrix, "%s", o.imatrix);
    if (st == KV_OK && kv__opt_stopped(&o))
        st = KV_FAIL(err, KV_ERR_LIMIT, "stopped; rerun to continue from the cache");
    if (st == KV_OK)
        st = candidates(&o, err);
    if (st == KV_OK) {
        kv_opt_select(out, &p->goals, p->objective);
        out->seconds = kv__opt_now() - o.t0;
        st = outputs(&o, err);
    }
    free(o.calib_text);
    free(o.eval_text);
    return st;
}
