// kvant bench: prompt-processing and generation speed of a model, printed as
// llama-bench prints it (a markdown table, or JSON/CSV records with its field
// names) so the two can be put side by side; plus the memory bandwidth and the
// share of the bandwidth limit that generation reaches. The measuring is in
// src/eval/bench*.c.
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kvant/kv_bench.h"
#include "kvant/kv_model.h"

#define BW_RUNS 5 // bandwidth runs; the best counts

typedef struct {
    const char *model;
    int n_prompt, n_gen, n_threads, n_reps, n_batch, n_depth;
    kv_type type_k, type_v;
    bool batch_given, warmup, progress;
    const char *output;  // "md", "json", "csv"
    const char *kernels; // NULL: as the environment says; "ref" or "auto"
    long bw_mib;         // -1: kv_bench_bandwidth_size(); 0: skip
} bench_opts;

typedef struct {
    bench_opts o;
    kv_bench_model info;
    const char *kernels;
    char cpu_info[128];
    char test_time[32];
    kv_bench_result res[2];
    int n_res;
    double bw_gbs; // 0: not measured
    size_t bw_size;
    uint64_t repack_bytes; // weights repacked at load (--repack), beside the file's
    kv_repack_source repack_source; // packed at load, or mapped from --repack-cache's file
} bench_report;

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant bench [-m] MODEL.gguf [options]\n\n"
            "Measures prompt processing (ppN: N random tokens decoded in batches) and generation\n"
            "(tgN: N single-token decodes after BOS) in tokens per second, as llama-bench does:\n"
            "a warm-up, then repetitions on an emptied KV cache; t/s is the mean and sample\n"
            "standard deviation over the repetitions. With generation it also measures the\n"
            "memory bandwidth and prints the speed it allows (bandwidth / weight bytes read\n"
            "per token) and the fraction generation reaches.\n\n"
            "  -m, --model F         the model (GGUF)\n"
            "  -p, --n-prompt N      prompt tokens, 0 to skip (default 512)\n"
            "  -n, --n-gen N         generated tokens, 0 to skip (default 128)\n"
            "  -t, --threads N       threads (default: the online CPUs)\n"
            "  -r, --repetitions N   timed repetitions of each test, 1..%d (default 5)\n"
            "  -b, --batch-size N    prompt tokens per decode call (default 512)\n"
            "  -d, --n-depth N       tokens in the KV cache before each test (default 0)\n"
            "  --cache-type-k T, --cache-type-v T   what the KV cache stores keys and\n"
            "                        values as: f16 (default), f32, q8_0 or q4_0\n"
            KV_CLI_REPACK_HELP
            "  -o, --output FMT      md (default), json or csv\n"
            "  --kernels ref|avx2|avx2-vnni|avx512|amx|auto  the reference kernels, AVX2\n"
            "                        without its VNNI builds, the AVX2 table with them,\n"
            "                        the AVX-512 table, the AMX one (x86-64, where the\n"
            "                        CPU has them; else the best below),\n"
            "                        or the best for this CPU (default: auto unless\n"
            "                        KVANT_KERNELS is set)\n"
            "  --bw-mib N            bandwidth buffer in MiB, 0 to skip (default: twice the\n"
            "                        last-level cache, 512..2048 MiB)\n"
            "  --no-warmup           skip the warm-up runs\n"
            "  --progress            print each run's start on stderr\n",
            KV_BENCH_MAX_REPS);
}

// ---- options ----

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int int_opt(const char *name, const char *v, long lo, long hi, int *out) {
    long x = 0;
    if (!parse_long(v, lo, hi, &x))
        return kv_cli_usage_error("bench", "%s needs an integer in %ld..%ld, got '%s'", name, lo,
                                  hi, v);
    *out = (int)x;
    return 0;
}

// An option with a value; returns 0, the exit code of a usage error, or -1
// when a is not such an option.
static int take_value(const char *a, const char *v, bench_opts *o) {
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        o->model = v;
        return 0;
    }
    if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt"))
        return int_opt(a, v, 0, KV_CTX_MAX_CTX, &o->n_prompt);
    if (!strcmp(a, "-n") || !strcmp(a, "--n-gen"))
        return int_opt(a, v, 0, KV_CTX_MAX_CTX, &o->n_gen);
    if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
        return int_opt(a, v, 1, KV_THREADPOOL_MAX_THREADS, &o->n_threads);
    if (!strcmp(a, "-d") || !strcmp(a, "--n-depth"))
        return int_opt(a, v, 0, KV_CTX_MAX_CTX, &o->n_depth);
    if (kv_cli_is_repack_opt(a))
        return kv_cli_repack_opt("bench", a, v);
    if (!strcmp(a, "--cache-type-k") || !strcmp(a, "--cache-type-v"))
        return kv_cli_cache_type("bench", a, v, a[13] == 'k' ? &o->type_k : &o->type_v);
    if (!strcmp(a, "-r") || !strcmp(a, "--repetitions"))
        return int_opt(a, v, 1, KV_BENCH_MAX_REPS, &o->n_reps);
    if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
        o->batch_given = true;
        return int_opt(a, v, 1, KV_CTX_MAX_CTX, &o->n_batch);
    }
    if (!strcmp(a, "--bw-mib")) {
        int mib = 0;
        const int rc = int_opt(a, v, 0, 1 << 20, &mib);
        o->bw_mib = mib;
        return rc;
    }
    if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
        if (strcmp(v, "md") && strcmp(v, "json") && strcmp(v, "csv"))
            return kv_cli_usage_error("bench", "-o takes md, json or csv, got '%s'", v);
        o->output = v;
        return 0;
    }
    if (!strcmp(a, "--kernels")) {
        if (strcmp(v, "ref") && strcmp(v, "avx2") && strcmp(v, "avx2-vnni") &&
            strcmp(v, "avx512") && strcmp(v, "amx") && strcmp(v, "auto"))
            return kv_cli_usage_error(
                "bench", "--kernels takes ref, avx2, avx2-vnni, avx512, amx or auto, got '%s'", v);
        o->kernels = v;
        return 0;
    }
    return -1;
}

// The option at argv[*i] (advancing *i past its value); returns 0 or the exit
// code of a usage error.
static int take_option(int argc, char **argv, int *i, bench_opts *o) {
    const char *a = argv[*i];
    if (!strcmp(a, "--no-warmup")) {
        o->warmup = false;
        return 0;
    }
    if (!strcmp(a, "--progress")) {
        o->progress = true;
        return 0;
    }
    const int rc = *i + 1 < argc ? take_value(a, argv[*i + 1], o) : -1;
    if (rc < 0)
        return kv_cli_usage_error("bench", "unknown or incomplete option '%s'", a);
    ++*i;
    return rc;
}

// Returns -1 when the options are complete, else the exit code (0 after --help).
static int parse(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){.n_prompt = 512, .n_gen = 128, .n_reps = 5, .n_batch = 512,
                      .warmup = true, .output = "md", .bw_mib = -1, .type_k = KV_TYPE_F16,
                      .type_v = KV_TYPE_F16};
    for (int i = 1; i < argc; i++) {
        if (kv_cli_is_help(argv[i])) {
            help(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            int rc = take_option(argc, argv, &i, o);
            if (rc)
                return rc;
        } else if (!o->model)
            o->model = argv[i];
        else
            return kv_cli_usage_error("bench", "unexpected argument '%s'", argv[i]);
    }
    if (!o->model)
        return kv_cli_usage_error("bench", "missing MODEL");
    if (o->n_prompt == 0 && o->n_gen == 0)
        return kv_cli_usage_error("bench", "-p and -n are both 0: nothing to measure");
    if (o->n_threads == 0)
        o->n_threads = kv_threads_default();
    return -1;
}

// ---- machine facts ----

static void read_cpu_info(char *out, size_t cap) {
    snprintf(out, cap, "%s", "");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (colon && (!strncmp(line, "model name", 10) || !strncmp(line, "Model", 5))) {
            const char *s = colon + 1;
            while (*s == ' ' || *s == '\t')
                s++;
            snprintf(out, cap, "%.*s", (int)strcspn(s, "\n"), s);
            break;
        }
    }
    fclose(f);
}

static void now_rfc3339(char *out, size_t cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

// ---- measuring ----

static void progress(void *user, const char *test, int32_t rep, int32_t n_reps) {
    (void)user;
    if (rep == 0)
        fprintf(stderr, "kvant bench: %s warm-up\n", test);
    else
        fprintf(stderr, "kvant bench: %s run %d/%d\n", test, rep, n_reps);
}

static kv_status measure(kv_model *m, bench_report *r, kv_err *err) {
    const bench_opts *o = &r->o;
    kv_ctx_params cp = kv_ctx_default_params();
    cp.n_ctx = (o->n_prompt > o->n_gen ? o->n_prompt : o->n_gen) + o->n_depth;
    if (cp.n_ctx > KV_CTX_MAX_CTX)
        return KV_FAIL(err, KV_ERR_LIMIT, "bench: depth %d and %d tokens pass the context limit %d",
                       o->n_depth, cp.n_ctx - o->n_depth, KV_CTX_MAX_CTX);
    cp.type_k = o->type_k;
    cp.type_v = o->type_v;
    cp.n_batch = o->n_prompt > 0 ? (o->n_batch < o->n_prompt ? o->n_batch : o->n_prompt) : 1;
    cp.n_outputs_max = 1; // only the last token of a call gets logits
    cp.n_threads = o->n_threads;
    kv_ctx *c = NULL;
    kv_status st = kv_ctx_new(m, &cp, &c, err);
    kv_bench_params bp = kv_bench_default_params();
    bp.n_reps = o->n_reps;
    bp.n_batch = cp.n_batch;
    bp.warmup = o->warmup;
    bp.n_depth = o->n_depth;
    bp.bos = r->info.bos;
    bp.progress = o->progress ? progress : NULL;
    kv_bench_result *res = r->res;
    if (st == KV_OK && o->n_prompt > 0) {
        st = kv_bench_prompt(c, o->n_prompt, &bp, &res[r->n_res], err);
        r->n_res += st == KV_OK;
    }
    if (st == KV_OK && o->n_gen > 0) {
        st = kv_bench_gen(c, o->n_gen, &bp, &res[r->n_res], err);
        r->n_res += st == KV_OK;
    }
    kv_ctx_free(c);
    if (st == KV_OK && o->n_gen > 0 && o->bw_mib != 0) {
        r->bw_size = o->bw_mib > 0 ? (size_t)o->bw_mib << 20 : kv_bench_bandwidth_size();
        if (o->progress)
            fprintf(stderr, "kvant bench: memory bandwidth (%zu MiB)\n", r->bw_size >> 20);
        st = kv_bench_bandwidth(r->bw_size, o->n_threads, BW_RUNS, &r->bw_gbs, err);
    }
    return st;
}

// ---- output ----

static const char *model_filename(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

// Bandwidth limit of generation in t/s, 0 when unknown.
static double bound_ts(const bench_report *r) {
    if (r->bw_gbs <= 0 || r->info.bytes_per_token == 0)
        return 0;
    return r->bw_gbs * 1e9 / (double)r->info.bytes_per_token;
}

static json_t *samples(const kv_bench_result *t, bool ts) {
    json_t *a = json_array();
    for (int i = 0; i < t->n_reps; i++)
        json_array_append_new(a, ts ? json_real(t->samples_ts[i])
                                    : json_integer((json_int_t)t->samples_ns[i]));
    return a;
}

// "f16", "q8_0", ... as llama-bench writes cache types.
static const char *cache_type_name(kv_type t) {
    switch (t) {
    case KV_TYPE_F32: return "f32";
    case KV_TYPE_Q8_0: return "q8_0";
    case KV_TYPE_Q4_0: return "q4_0";
    default: return "f16";
    }
}

// llama-bench shows the cache types' columns only when one is not f16.
static bool cache_types_given(const bench_opts *o) {
    return o->type_k != KV_TYPE_F16 || o->type_v != KV_TYPE_F16;
}

// bench's JSON name for where the repacked weights came from.
static const char *repack_source_name(kv_repack_source s) {
    switch (s) {
    case KV_REPACK_MEMORY:
        return "memory";
    case KV_REPACK_CACHE_WRITTEN:
        return "cache-written";
    case KV_REPACK_CACHE_MAPPED:
        return "cache-mapped";
    default:
        return "none";
    }
}

static json_t *record(const bench_report *r, const kv_bench_result *t) {
    json_t *j = json_object();
    json_object_set_new(j, "build_commit", json_string("kvant " KV_VERSION));
    json_object_set_new(j, "cpu_info", json_string(r->cpu_info));
    json_object_set_new(j, "backends", json_string("CPU"));
    json_object_set_new(j, "kernels", json_string(r->kernels));
    json_object_set_new(j, "repack_bytes", json_integer((json_int_t)r->repack_bytes));
    json_object_set_new(j, "repack_source", json_string(repack_source_name(r->repack_source)));
    json_object_set_new(j, "model_filename", json_string(model_filename(r->o.model)));
    json_object_set_new(j, "model_type", json_string(r->info.type));
    json_object_set_new(j, "model_size", json_integer((json_int_t)r->info.size));
    json_object_set_new(j, "model_n_params", json_integer((json_int_t)r->info.n_params));
    json_object_set_new(j, "n_batch", json_integer(t->n_batch));
    json_object_set_new(j, "n_ubatch", json_integer(t->n_batch));
    json_object_set_new(j, "n_threads", json_integer(r->o.n_threads));
    json_object_set_new(j, "type_k", json_string(cache_type_name(r->o.type_k)));
    json_object_set_new(j, "type_v", json_string(cache_type_name(r->o.type_v)));
    json_object_set_new(j, "n_prompt", json_integer(t->n_prompt));
    json_object_set_new(j, "n_gen", json_integer(t->n_gen));
    json_object_set_new(j, "n_depth", json_integer(t->n_depth));
    json_object_set_new(j, "test_time", json_string(r->test_time));
    json_object_set_new(j, "avg_ns", json_integer((json_int_t)t->avg_ns));
    json_object_set_new(j, "stddev_ns", json_integer((json_int_t)t->stddev_ns));
    json_object_set_new(j, "avg_ts", json_real(t->avg_ts));
    json_object_set_new(j, "stddev_ts", json_real(t->stddev_ts));
    json_object_set_new(j, "samples_ns", samples(t, false));
    json_object_set_new(j, "samples_ts", samples(t, true));
    const double b = bound_ts(r);
    if (t->n_gen > 0 && b > 0) {
        json_object_set_new(j, "bandwidth_gbs", json_real(r->bw_gbs));
        json_object_set_new(j, "bytes_per_token", json_integer((json_int_t)r->info.bytes_per_token));
        json_object_set_new(j, "bound_ts", json_real(b));
        json_object_set_new(j, "bound_fraction", json_real(t->avg_ts / b));
    }
    return j;
}

static int print_json(const bench_report *r) {
    json_t *list = json_array();
    for (int i = 0; i < r->n_res; i++)
        json_array_append_new(list, record(r, &r->res[i]));
    char *s = json_dumps(list, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(list);
    if (!s)
        return 1;
    printf("%s\n", s);
    free(s);
    return 0;
}

// CSV: the JSON record's scalar fields, every value quoted as llama-bench does.
static int print_csv(const bench_report *r) {
    static const char *const FIELDS[] = {
        "build_commit", "cpu_info", "backends", "kernels", "model_filename", "model_type",
        "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads", "type_k", "type_v",
        "n_prompt", "n_gen", "n_depth", "test_time", "avg_ns", "stddev_ns", "avg_ts",
        "stddev_ts", "bandwidth_gbs", "bytes_per_token", "bound_ts", "bound_fraction"};
    const size_t n_fields = sizeof FIELDS / sizeof FIELDS[0];
    for (size_t f = 0; f < n_fields; f++)
        printf("%s%s", f ? "," : "", FIELDS[f]);
    printf("\n");
    for (int i = 0; i < r->n_res; i++) {
        json_t *j = record(r, &r->res[i]);
        for (size_t f = 0; f < n_fields; f++) {
            const json_t *v = json_object_get(j, FIELDS[f]);
            char *s = !v ? NULL : json_is_string(v) ? strdup(json_string_value(v))
                                                    : json_dumps(v, JSON_ENCODE_ANY);
            printf("%s\"", f ? "," : "");
            for (const char *p = s ? s : ""; *p; p++)
                printf(*p == '"' ? "\"\"" : "%c", *p);
            printf("\"");
            free(s);
        }
        printf("\n");
        json_decref(j);
    }
    return 0;
}

static void test_name(const kv_bench_result *t, char *out, size_t cap) {
    int n = t->n_prompt > 0 ? snprintf(out, cap, "pp%d", t->n_prompt)
                            : snprintf(out, cap, "tg%d", t->n_gen);
    if (t->n_depth > 0 && n > 0 && (size_t)n < cap) // llama-bench's "pp512 @ d4096"
        snprintf(out + n, cap - (size_t)n, " @ d%d", t->n_depth);
}

static void print_md_row(const bench_report *r, const kv_bench_result *t) {
    char size[32], params[32], backend[48], test[32], ts[64];
    const double sz = (double)r->info.size, np = (double)r->info.n_params;
    if (sz < 1024.0 * 1024 * 1024)
        snprintf(size, sizeof size, "%.2f MiB", sz / 1024 / 1024);
    else
        snprintf(size, sizeof size, "%.2f GiB", sz / 1024 / 1024 / 1024);
    if (np < 1e9)
        snprintf(params, sizeof params, "%.2f M", np / 1e6);
    else
        snprintf(params, sizeof params, "%.2f B", np / 1e9);
    snprintf(backend, sizeof backend, "CPU (%s)", r->kernels);
    test_name(t, test, sizeof test);
    snprintf(ts, sizeof ts, "%.2f ± %.2f", t->avg_ts, t->stddev_ts);
    printf("| %-30s | %10s | %10s | %-10s | %7d |", r->info.type, size, params, backend,
           r->o.n_threads);
    if (r->o.batch_given)
        printf(" %7d |", t->n_batch);
    if (cache_types_given(&r->o))
        printf(" %6s | %6s |", cache_type_name(r->o.type_k), cache_type_name(r->o.type_v));
    // "±" is two bytes, so the field is one wider to line up
    printf(" %13s | %21s |\n", test, ts);
}

static int print_md(const bench_report *r) {
    printf("| %-30s | %10s | %10s | %-10s | %7s |", "model", "size", "params", "backend",
           "threads");
    if (r->o.batch_given)
        printf(" %7s |", "n_batch");
    if (cache_types_given(&r->o))
        printf(" %6s | %6s |", "type_k", "type_v");
    printf(" %13s | %20s |\n", "test", "t/s");
    printf("| ------------------------------ | ---------: | ---------: | ---------- | ------: |");
    if (r->o.batch_given)
        printf(" ------: |");
    if (cache_types_given(&r->o))
        printf(" -----: | -----: |");
    printf(" ------------: | -------------------: |\n");
    for (int i = 0; i < r->n_res; i++)
        print_md_row(r, &r->res[i]);
    const double b = bound_ts(r);
    if (b > 0) {
        printf("\nmemory bandwidth: %.2f GB/s (%d threads, %zu MiB read, best of %d)\n", r->bw_gbs,
               r->o.n_threads, r->bw_size >> 20, BW_RUNS);
        for (int i = 0; i < r->n_res; i++) {
            const kv_bench_result *t = &r->res[i];
            if (t->n_gen > 0)
                printf("tg%d: %.1f%% of the bandwidth limit %.2f t/s (%.2f MB of weights per "
                       "token)\n",
                       t->n_gen, 100.0 * t->avg_ts / b, b, (double)r->info.bytes_per_token / 1e6);
        }
    }
    if (r->repack_bytes)
        printf("\nrepacked weights: %.2f MiB held beside the model's %.2f MiB (--repack off: "
               "none)\n",
               (double)r->repack_bytes / 1024 / 1024, (double)r->info.size / 1024 / 1024);
    printf("\nbuild: kvant %s\n", KV_VERSION);
    return 0;
}

int kv_cli_bench(int argc, char **argv) {
    bench_report *r = calloc(1, sizeof *r);
    if (!r)
        return 1;
    int rc = parse(argc, argv, &r->o);
    if (rc >= 0) {
        free(r);
        return rc;
    }
    if (r->o.kernels && strcmp(r->o.kernels, "auto"))
        setenv("KVANT_KERNELS", r->o.kernels, 1);
    else if (r->o.kernels)
        unsetenv("KVANT_KERNELS");
    kv_err err = {0};
    kv_model *m = NULL;
    kv_status st = kv_model_open(r->o.model, &m, &err);
    if (st == KV_OK) {
        kv_bench_describe(m, &r->info);
        r->kernels = kv_model_kernels_name(m);
        r->repack_bytes = kv_model_repack_bytes(m);
        r->repack_source = kv_model_repack_source(m);
        kv_cli_repack_note("bench", m);
        read_cpu_info(r->cpu_info, sizeof r->cpu_info);
        now_rfc3339(r->test_time, sizeof r->test_time);
        st = measure(m, r, &err);
    }
    if (st != KV_OK)
        rc = kv_cli_fail("bench", &err);
    else if (!strcmp(r->o.output, "json"))
        rc = print_json(r);
    else if (!strcmp(r->o.output, "csv"))
        rc = print_csv(r);
    else
        rc = print_md(r);
    kv_model_close(m);
    free(r);
    return rc;
}
