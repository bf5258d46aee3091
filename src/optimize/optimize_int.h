// Shared between the files of src/optimize only.
#ifndef KV_OPTIMIZE_INT_H
#define KV_OPTIMIZE_INT_H

#include <stdarg.h>

#include "kvant/kv_model.h"
#include "optimize/optimize.h"

// ---- digests (opt_digest.c) ----

typedef struct kv__opt_hash kv__opt_hash;
kv__opt_hash *kv__opt_hash_new(void);
void kv__opt_hash_str(kv__opt_hash *h, const char *s); // the string and its NUL
void kv__opt_hash_mem(kv__opt_hash *h, const void *p, size_t n);
kv_status kv__opt_hash_file(kv__opt_hash *h, const char *path, kv_err *err);
// Every regular file of a folder, sorted by name (names and contents).
kv_status kv__opt_hash_dir(kv__opt_hash *h, const char *dir, kv_err *err);
// Names, sizes, inodes and modification times of a folder's regular files: the
// key under which the folder's content digest is kept.
kv_status kv__opt_hash_dir_stat(kv__opt_hash *h, const char *dir, kv_err *err);
// Writes 64 hex digits and a NUL to out, and frees h.
void kv__opt_hash_end(kv__opt_hash *h, char out[65]);

// ---- the run's state (opt_run.c) ----

typedef struct {
    const kv_opt_params *p;
    char cache[896];       // OUTDIR/cache (shorter than the paths made in it)
    char base[1024];       // the base GGUF (source converted, or the source file)
    char base_digest[65];
    char imatrix[1024], imatrix_digest[65];
    char logits[1024], logits_digest[65];       // held-out text, base model
    char *calib_text;      // owned
    size_t calib_len;
    char *eval_text;
    size_t eval_len;
    int n_ctx, n_threads;
    double t0;
    kv_opt_result *r;
} kv__opt_run;

double kv__opt_now(void);
void kv__opt_log(const kv__opt_run *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
bool kv__opt_stopped(const kv__opt_run *o);
bool kv__opt_exists(const char *path);

// ---- measurements (opt_measure.c) ----

// Quantizes the base to ftype (with tensor_types overrides: "name=TYPE" lines,
// may be NULL) into out_path with the run's importance matrix.
kv_status kv__opt_quantize(const kv__opt_run *o, const char *ftype, const char *tensor_types,
                           const char *out_path, kv_err *err);
// Mean KLD (and the rest) of the model at path against a logits file, limited
// to n_chunks chunks (-1: all).
kv_status kv__opt_kld(const kv__opt_run *o, const char *path, const char *logits, int n_chunks,
                      double *ppl, double *kld_mean, double *kld_p99, double *same_top,
                      kv_err *err);
// Measures a variant whose GGUF is at v->path: size, KLD on the held-out text, speed.
kv_status kv__opt_measure(const kv__opt_run *o, kv_opt_variant *v, kv_err *err);
// Base logits of a text (tokenized here) saved to out_path; *ppl its perplexity.
kv_status kv__opt_base_logits(const kv__opt_run *o, const char *text, size_t len, int n_chunks,
                              const char *out_path, double *ppl, kv_err *err);
kv_status kv__opt_imatrix(const kv__opt_run *o, const char *out_path, kv_err *err);
void kv__opt_machine(kv__opt_run *o, const kv_model *m);

// ---- mix search (opt_search.c) ----

// Finds a mix for the budget spec ("3.5" bpw or a file type name whose measured
// size is the budget) and fills v (name, tensor_types, predicted_kld, ftype).
kv_status kv__opt_search(kv__opt_run *o, const char *budget, kv_opt_variant *v, kv_err *err);

// ---- files (opt_json.c, opt_report.c) ----

kv_status kv__opt_variant_save(const kv__opt_run *o, const kv_opt_variant *v, kv_err *err);
// true when the cache has the variant (v->digest set); fills the measurements.
bool kv__opt_variant_load(const kv__opt_run *o, kv_opt_variant *v);
kv_status kv__opt_results_write(const kv__opt_run *o, const char *path, kv_err *err);
kv_status kv__opt_report_write(const kv__opt_run *o, const char *path, kv_err *err);
// Writes text to path through a temporary file.
kv_status kv__opt_write_text(const char *path, const char *text, size_t len, kv_err *err);

#endif
