// kvant recommend: which type to use on this machine, in one screen: from the
// measurements of an optimize run (results.json), or from estimates (labelled so).
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "optimize/optimize.h"

static void help(FILE *f) {
    fprintf(f, "usage: kvant recommend [--ram SIZE] [--disk SIZE] [--min-gen-tps N]\n"
               "                       [--objective quality|speed|size] [-t N] SRC|results.json\n\n"
               "From an optimize run's results.json: the measured variant that meets the limits\n"
               "best for the objective. From a model (GGUF or Hugging Face folder): ESTIMATES -\n"
               "size = parameters x bits per weight, generation speed = this machine's measured\n"
               "memory bandwidth / bytes per token, quality from the precision class (1-2 bit\n"
               "ultra-low, 3-4 low, 5-8 medium). Run kvant optimize to measure instead.\n");
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int kv_cli_recommend(int argc, char **argv) {
    kv_opt_goals g = {0, 0, 0, 0, -1};
    kv_opt_objective obj = KV_OPT_QUALITY;
    const char *src = NULL;
    int n_threads = 0;
    kv_err err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (kv_cli_is_help(a)) {
            help(stdout);
            return 0;
        }
        if (a[0] != '-') {
            if (src)
                return kv_cli_usage_error("recommend", "unexpected argument '%s'", a);
            src = a;
            continue;
        }
        if (!v)
            return kv_cli_usage_error("recommend", "unknown or incomplete option '%s'", a);
        i++;
        if (!strcmp(a, "--ram") || !strcmp(a, "--disk")) {
            if (kv_opt_parse_size(v, a, a[2] == 'r' ? &g.max_ram : &g.max_size, &err) != KV_OK)
                return kv_cli_usage_error("recommend", "%s", err.msg);
        } else if (!strcmp(a, "--min-gen-tps")) {
            char *end = NULL;
            g.min_gen_tps = strtod(v, &end);
            if (end == v || *end || g.min_gen_tps < 0)
                return kv_cli_usage_error("recommend", "--min-gen-tps: '%s' is not a number", v);
        } else if (!strcmp(a, "--objective")) {
            if (!strcmp(v, "quality")) obj = KV_OPT_QUALITY;
            else if (!strcmp(v, "speed")) obj = KV_OPT_SPEED;
            else if (!strcmp(v, "size")) obj = KV_OPT_SIZE;
            else return kv_cli_usage_error("recommend", "--objective: quality, speed or size");
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            n_threads = atoi(v);
        } else {
            return kv_cli_usage_error("recommend", "unknown option '%s'", a);
        }
    }
    if (!src)
        return kv_cli_usage_error("recommend", "need SRC or results.json");
    kv_opt_result r;
    bool measured = ends_with(src, ".json");
    if (measured) {
        if (kv_opt_results_read(src, &r, &err) != KV_OK)
            return kv_cli_fail("recommend", &err);
    } else {
        uint64_t n_params = 0;
        double bw = 0;
        if (kv_opt_count_params(src, &n_params, &err) != KV_OK ||
            kv_opt_bandwidth(n_threads, &bw, &err) != KV_OK ||
            kv_opt_estimate(n_params, bw, &r, &err) != KV_OK)
            return kv_cli_fail("recommend", &err);
        // quality unknown: rank by bits per weight (the ladder's order) instead of KLD
        for (int i = 0; i < r.n; i++)
            r.v[i].kld_mean = 1.0 / r.v[i].bpw;
    }
    kv_opt_select(&r, &g, obj);
    printf("kvant recommend: %s (%s)\n", src,
           measured ? "MEASURED by kvant optimize" : "ESTIMATES, nothing measured but bandwidth");
    printf("machine: %.1f GB/s memory bandwidth%s%s; %.1fM parameters\n", r.bw_gbs,
           r.cpu[0] ? ", " : "", r.cpu, r.n_params / 1e6);
    printf("%-14s %10s %6s %11s %10s  %s\n", "type", measured ? "size MiB" : "~size MiB", "bpw",
           measured ? "tg t/s" : "~tg t/s", measured ? "KLD" : "quality", "fits");
    for (int i = 0; i < r.n; i++) {
        const kv_opt_variant *v = &r.v[i];
        char q[32];
        if (measured)
            snprintf(q, sizeof q, "%.5f", v->kld_mean);
        else
            snprintf(q, sizeof q, "%s", kv_opt_quality_class(v->bpw));
        printf("%-14s %10.1f %6.2f %11.1f %10s  %s%s\n", v->name, v->size / 1048576.0, v->bpw,
               v->tg_tps, q, v->meets_all ? "yes" : "no", i == r.pick ? "  <- recommended" : "");
    }
    int rc = 0;
    if (r.pick >= 0) {
        const kv_opt_variant *v = &r.v[r.pick];
        printf("\nuse %s: %s %.1f MiB, %s %.1f t/s generation; it is the %s that fits",
               v->name, measured ? "" : "about", v->size / 1048576.0,
               measured ? "measured" : "estimated", v->tg_tps,
               obj == KV_OPT_SPEED ? "fastest" : obj == KV_OPT_SIZE ? "smallest"
                                   : measured ? "lowest-KLD" : "highest-precision");
        printf("%s\n", g.max_ram > 0 || g.max_size > 0 || g.min_gen_tps > 0
                           ? " your limits" : " (no limits given)");
        if (!measured)
            printf("(estimates: run 'kvant optimize %s -o DIR' to measure quality and speed)\n", src);
    } else {
        printf("\nnothing fits; closest %s misses %s\n",
               r.closest >= 0 ? r.v[r.closest].name : "(none)", r.missed);
        rc = 2;
    }
    kv_opt_result_free(&r);
    return rc;
}
