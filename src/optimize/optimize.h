// kvant optimize: goals in, best model out. Converts the source once, computes
// an importance matrix once, quantizes each candidate (the file-type ladder of
// the type table, or a given list, or mixes found by a sensitivity search),
// measures each on this machine (size, PPL, KL divergence against the base on
// held-out text, prompt and generation speed), keeps the Pareto front and picks
// the best candidate that meets every goal. Every measurement is cached under
// OUTDIR/cache by a digest of what it depends on, so a rerun measures only what
// is new. Writes OUTDIR/model.gguf, OUTDIR/Modelfile, OUTDIR/results.json and
// OUTDIR/report.html. Above pipeline and eval; only the kvant command links it
// (libkvant_optimize, with libyaml and libcrypto). Nothing here prints: progress
// lines go to the caller's log hook.
#ifndef KV_OPTIMIZE_H
#define KV_OPTIMIZE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

#define KV_OPT_MAX_CANDIDATES 32
#define KV_OPT_MAX_SEARCH 8
#define KV_OPT_MAX_LEVELS 8

typedef enum { KV_OPT_QUALITY = 0, KV_OPT_SPEED, KV_OPT_SIZE } kv_opt_objective;

// The goals; a goal is off when its value is <= 0 (max_kld: < 0).
typedef struct {
    double max_size;       // bytes of the file
    double max_ram;        // bytes: file + KV cache of the evaluation context (an estimate)
    double min_gen_tps;    // generation tokens/s
    double min_prompt_tps; // prompt tokens/s
    double max_kld;        // mean KL divergence against the base
} kv_opt_goals;

enum { KV_OPT_GOAL_SIZE, KV_OPT_GOAL_RAM, KV_OPT_GOAL_GEN, KV_OPT_GOAL_PROMPT, KV_OPT_GOAL_KLD,
       KV_OPT_N_GOALS };
extern const char *const KV_OPT_GOAL_NAMES[KV_OPT_N_GOALS]; // "max_size", ...

typedef struct {
    const char *src;    // Hugging Face folder or GGUF file
    const char *outdir; // created when missing
    const char *text;   // one text, split into calibration and held-out parts
    const char *calib;  // calibration text (imatrix, sensitivity)
    const char *eval;   // held-out text (PPL, KLD)
    kv_opt_goals goals;
    kv_opt_objective objective;
    int n_threads;      // 0: all CPUs
    int n_ctx;          // tokens per chunk (0: min(512, the model's context))
    int n_chunks_calib; // 0: all
    int n_chunks_eval;  // 0: all
    const char *base_type; // type the source is converted to (default "f16")
    const char *candidates[KV_OPT_MAX_CANDIDATES]; // file type names; none: the ladder
    int n_candidates;
    const char *search[KV_OPT_MAX_SEARCH]; // mix budgets: "3.5" (bpw) or a file type name
    int n_search;
    const char *search_types; // comma list, low to high (default "Q2_K,Q3_K,Q4_K,Q5_K,Q6_K")
    int n_chunks_search;      // calibration chunks per sensitivity probe (default 4)
    int bench_prompt, bench_gen, bench_reps; // 0: 64, 32, 2; bench_reps < 0: no bench
    const char *recipe_text;  // the effective recipe (for the report); may be NULL
    volatile sig_atomic_t *stop; // set (by a signal handler) to stop between steps
    void (*log)(void *user, const char *line); // one progress line; may be NULL
    void *log_user;
} kv_opt_params;

// Fills p with the defaults (nothing set, objective quality, max_kld off).
void kv_opt_params_init(kv_opt_params *p);

typedef struct {
    char name[48];      // "Q4_K_M", "mix@Q4_K_M", "mix@3.50bpw"
    char ftype[16];     // file type the mix started from
    char digest[65];    // cache key
    char path[1024];    // the cached GGUF
    uint64_t size;      // file bytes
    double bpw;         // size * 8 / parameters
    double ppl, kld_mean, kld_p99, same_top; // on the held-out text
    double pp_tps, tg_tps; // 0 when not measured
    uint64_t ram;       // size + KV cache of one evaluation context
    double predicted_kld; // search mixes: the sensitivity model's prediction (else 0)
    char *tensor_types; // search mixes: "name=TYPE" lines (owned); else NULL
    bool cached, pareto, meets_all;
    bool meets[KV_OPT_N_GOALS];
} kv_opt_variant;

typedef struct {
    char group[64];     // "blk.3.ffn_down", "output"
    char type[16];      // the lowered type
    double dkld;        // KLD increase against the reference
    uint64_t bytes;     // bytes of the group at that type
} kv_opt_sens;

typedef struct {
    kv_opt_variant *v;
    int n;
    int pick;           // index of the pick, -1 when nothing meets the goals
    int closest;        // when pick < 0: the candidate nearest to the goals
    char missed[160];   // when pick < 0: the goal the closest misses, with figures
    char base_path[1024], base_logits[1024], imatrix[1024];
    double base_ppl;
    uint64_t n_params, base_size;
    char cpu[128], simd[32], src_digest[65], ref_type[16];
    int n_threads;
    double bw_gbs;      // memory bandwidth measured here (0: not measured)
    double ref_kld;     // the search's reference (all groups at the top type), on calibration text
    kv_opt_sens *sens;  // sensitivity probes (owned)
    int n_sens;
    int n_measured;     // variants measured in this run (not from the cache)
    double seconds;
} kv_opt_result;

void kv_opt_result_free(kv_opt_result *r);

// Runs the optimization; on KV_OK *out is filled (pick may be -1: nothing met
// the goals; the caller exits 2) and the files in OUTDIR are written. A stop
// request returns KV_ERR_LIMIT with "stopped" in the message after the step in
// progress; everything measured so far is cached.
kv_status kv_opt_run(const kv_opt_params *p, kv_opt_result *out, kv_err *err);

// Recomputes the Pareto front (size, mean KLD), the goal verdicts and the pick
// of r's variants for goals and objective. Pure; used by kv_opt_run and recommend.
void kv_opt_select(kv_opt_result *r, const kv_opt_goals *g, kv_opt_objective obj);

// Reads a results.json written by kv_opt_run (variants, machine, base).
kv_status kv_opt_results_read(const char *path, kv_opt_result *out, kv_err *err);

// Parses a size with an optional unit (B, KB, MB, GB, KiB, MiB, GiB, TiB); 
// KV_ERR_INVALID naming what for anything else.
kv_status kv_opt_parse_size(const char *s, const char *what, double *out, kv_err *err);

// ---- estimates (kvant recommend without an optimize run) ----

// Parameters of a GGUF file or a Hugging Face folder (sum of tensor elements).
kv_status kv_opt_count_params(const char *src, uint64_t *n_params, kv_err *err);
// Measures this machine's memory bandwidth (GB/s) with n_threads (0: all CPUs).
kv_status kv_opt_bandwidth(int n_threads, double *gbs, kv_err *err);
// One estimated variant per ladder file type: size = n_params * bpw / 8, RAM =
// size * 1.1, generation t/s = bandwidth / size (every weight read once per
// token), kld_mean unknown (0). Sorted by bpw, highest first.
kv_status kv_opt_estimate(uint64_t n_params, double bw_gbs, kv_opt_result *out, kv_err *err);
// "ultra-low" (under 3 bpw: 1-2 bit), "low" (3-4 bit), "medium" (5-8 bit), "high" (above).
const char *kv_opt_quality_class(double bpw);
// The file types of the default ladder (supported, quantized), highest bpw first.
int kv_opt_ladder(const char **out, int cap);

// ---- recipes (YAML) ----

// Reads a recipe file into p (strings are owned by the returned arena, freed
// with kv_opt_recipe_free). Keys: input, output, passes (a list of maps with
// 'type': convert (base_type), imatrix (calib, chunks), quantize (types, or
// 'search' with budgets and search_types), evaluate (eval, text, ctx, chunks,
// threads, objective, goals: max_size, max_ram, min_gen_tps, min_prompt_tps,
// max_kld)). Unknown keys and bad values are KV_ERR_FORMAT naming file:line.
typedef struct kv_opt_recipe kv_opt_recipe;
kv_status kv_opt_recipe_load(const char *path, kv_opt_params *p, kv_opt_recipe **out, kv_err *err);
void kv_opt_recipe_free(kv_opt_recipe *r);
// Writes the effective recipe of p as YAML into a malloc'd string.
char *kv_opt_recipe_print(const kv_opt_params *p);

#endif
