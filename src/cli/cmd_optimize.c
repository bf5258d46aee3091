// kvant optimize: goals in, best model out (the work is in src/optimize).
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "optimize/optimize.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant optimize SRC -o OUTDIR [options]\n"
            "       kvant optimize --recipe recipe.yaml [options]\n\n"
            "Converts SRC (a Hugging Face folder or a GGUF file) once, computes an importance\n"
            "matrix once, quantizes each candidate type, measures each here (size, PPL, KL\n"
            "divergence against the base on held-out text, prompt and generation t/s), keeps\n"
            "the Pareto front (size, KLD) and picks the best that meets every goal. Writes\n"
            "OUTDIR/model.gguf, Modelfile, results.json and report.html. Measurements are\n"
            "cached in OUTDIR/cache by content digest: a rerun measures only what is new.\n"
            "Exit status 2 when no candidate meets the goals (the closest is named).\n\n"
            "goals:\n"
            "  --max-size SIZE        file size (700MiB, 2GB, bytes)\n"
            "  --max-ram SIZE         file + KV cache of one evaluation context\n"
            "  --min-gen-tps N        generation tokens/s on this machine\n"
            "  --min-prompt-tps N     prompt tokens/s\n"
            "  --max-kld X            mean KL divergence against the base\n"
            "  --objective O          quality (default: lowest KLD), speed or size\n"
            "texts:\n"
            "  --text F               one text, cut at its middle into calibration and held-out\n"
            "  --calib F, --eval F    separate calibration and held-out texts\n"
            "  --ctx N                tokens per chunk (default min(512, the model's context))\n"
            "  --chunks N             held-out chunks (default all)\n"
            "  --calib-chunks N       calibration chunks for the imatrix (default all)\n"
            "candidates:\n"
            "  --types A,B,...        file types (default: every supported type, Q8_0 down)\n"
            "  --search-mix B         also search a per-tensor mix for budget B: bits per weight\n"
            "                         (3.5) or a file type whose size is the budget (Q4_K_M);\n"
            "                         may be repeated\n"
            "  --search-types LIST    types the search may use, low to high\n"
            "                         (default Q2_K,Q3_K,Q4_K,Q5_K,Q6_K; the last is the reference)\n"
            "  --search-chunks N      calibration chunks per sensitivity probe (default 4)\n"
            "  --base-type T          type the source is converted to (default f16)\n"
            "measuring:\n"
            "  -t, --threads N        threads (default: all CPUs)\n"
            "  --bench-prompt N, --bench-gen N, --bench-reps N   speed test sizes (64, 32, 2)\n"
            "  --no-bench             skip the speed tests\n"
            "other:\n"
            "  --recipe F             read the run from a YAML recipe (flags given too override it)\n"
            "  --print-recipe         print the effective recipe and exit\n"
            "  -q, --quiet            no progress lines\n");
}

static volatile sig_atomic_t g_stop;
static struct sigaction g_prev_sigint; // main's: removes the temporaries, then dies

static void on_sigint(int sig) {
    (void)sig;
    g_stop = 1;
    sigaction(SIGINT, &g_prev_sigint, NULL); // a second Ctrl-C ends at once
}

static void log_line(void *user, const char *line) {
    (void)user;
    fprintf(stderr, "%s\n", line);
}

// Splits a comma list into out (strings are pieces of the copy kept in *keep).
static int split(char *s, const char **out, int cap, int *n) {
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (*n >= cap)
            return -1;
        out[(*n)++] = tok;
    }
    return 0;
}

static int num_opt(const char *name, const char *v, double lo, double *out) {
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo))
        return kv_cli_usage_error("optimize", "%s: '%s' is not a number >= %g", name, v, lo);
    *out = x;
    return 0;
}

static int int_opt(const char *name, const char *v, int lo, int *out) {
    double x = 0;
    int rc = num_opt(name, v, lo, &x);
    if (rc == 0 && (x != (int)x || x > 1e8))
        return kv_cli_usage_error("optimize", "%s: '%s' is not a whole number", name, v);
    *out = (int)x;
    return rc;
}

static int parse(int argc, char **argv, kv_opt_params *p, bool *quiet, bool *print_recipe,
                 char **types_copy) {
    kv_err err = {0};
    bool src_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (kv_cli_is_help(a)) {
            help(stdout);
            return -1;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { *quiet = true; continue; }
        if (!strcmp(a, "--print-recipe")) { *print_recipe = true; continue; }
        if (!strcmp(a, "--no-bench")) { p->bench_reps = -1; continue; }
        if (a[0] != '-') { // SRC (overrides a recipe's input)
            if (src_given)
                return kv_cli_usage_error("optimize", "unexpected argument '%s'", a);
            src_given = true;
            p->src = a;
            continue;
        }
        if (!v)
            return kv_cli_usage_error("optimize", "unknown or incomplete option '%s'", a);
        i++;
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) p->outdir = v;
        else if (!strcmp(a, "--recipe")) continue; // read before
        else if (!strcmp(a, "--max-size") || !strcmp(a, "--max-ram")) {
            if (kv_opt_parse_size(v, a, a[6] == 's' ? &p->goals.max_size : &p->goals.max_ram,
                                  &err) != KV_OK)
                return kv_cli_usage_error("optimize", "%s", err.msg);
        } else if (!strcmp(a, "--min-gen-tps")) rc = num_opt(a, v, 0, &p->goals.min_gen_tps);
        else if (!strcmp(a, "--min-prompt-tps")) rc = num_opt(a, v, 0, &p->goals.min_prompt_tps);
        else if (!strcmp(a, "--max-kld")) rc = num_opt(a, v, 0, &p->goals.max_kld);
        else if (!strcmp(a, "--objective")) {
            if (!strcmp(v, "quality")) p->objective = KV_OPT_QUALITY;
            else if (!strcmp(v, "speed")) p->objective = KV_OPT_SPEED;
            else if (!strcmp(v, "size")) p->objective = KV_OPT_SIZE;
            else return kv_cli_usage_error("optimize", "--objective: quality, speed or size, not '%s'", v);
        } else if (!strcmp(a, "--text")) p->text = v;
        else if (!strcmp(a, "--calib")) p->calib = v;
        else if (!strcmp(a, "--eval")) p->eval = v;
        else if (!strcmp(a, "--ctx")) rc = int_opt(a, v, 8, &p->n_ctx);
        else if (!strcmp(a, "--chunks")) rc = int_opt(a, v, 1, &p->n_chunks_eval);
        else if (!strcmp(a, "--calib-chunks")) rc = int_opt(a, v, 1, &p->n_chunks_calib);
        else if (!strcmp(a, "--types")) {
            free(*types_copy);
            *types_copy = strdup(v);
            p->n_candidates = 0;
            if (!*types_copy || split(*types_copy, p->candidates, KV_OPT_MAX_CANDIDATES,
                                      &p->n_candidates) != 0)
                return kv_cli_usage_error("optimize", "--types: at most %d", KV_OPT_MAX_CANDIDATES);
        } else if (!strcmp(a, "--search-mix")) {
            if (p->n_search == KV_OPT_MAX_SEARCH)
                return kv_cli_usage_error("optimize", "--search-mix: at most %d", KV_OPT_MAX_SEARCH);
            p->search[p->n_search++] = v;
        } else if (!strcmp(a, "--search-types")) p->search_types = v;
        else if (!strcmp(a, "--search-chunks")) rc = int_opt(a, v, 1, &p->n_chunks_search);
        else if (!strcmp(a, "--base-type")) p->base_type = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) rc = int_opt(a, v, 1, &p->n_threads);
        else if (!strcmp(a, "--bench-prompt")) rc = int_opt(a, v, 1, &p->bench_prompt);
        else if (!strcmp(a, "--bench-gen")) rc = int_opt(a, v, 1, &p->bench_gen);
        else if (!strcmp(a, "--bench-reps")) rc = int_opt(a, v, 1, &p->bench_reps);
        else return kv_cli_usage_error("optimize", "unknown option '%s'", a);
        if (rc)
            return rc;
    }
    return 0;
}

static void summary(const kv_opt_params *p, const kv_opt_result *r) {
    printf("%-16s %9s %6s %9s %10s %8s %8s %8s  %s\n", "variant", "MiB", "bpw", "PPL", "KLD",
           "same-top", "pp t/s", "tg t/s", "");
    for (int i = 0; i < r->n; i++) {
        const kv_opt_variant *v = &r->v[i];
        printf("%-16s %9.3f %6.3f %9.4f %10.6f %7.2f%% %8.1f %8.1f  %s%s%s%s\n", v->name,
               v->size / 1048576.0, v->bpw, v->ppl, v->kld_mean, 100 * v->same_top, v->pp_tps,
               v->tg_tps, v->pareto ? "front " : "", v->meets_all ? "" : "misses-goals ",
               i == r->pick ? "PICK " : "", v->cached ? "(cached)" : "");
    }
    printf("measured %d of %d variants in %.1f s\n", r->n_measured, r->n, r->seconds);
    if (r->pick >= 0)
        printf("pick: %s -> %s/model.gguf (report: %s/report.html)\n", r->v[r->pick].name,
               p->outdir, p->outdir);
}

int kv_cli_optimize(int argc, char **argv) {
    kv_opt_params p;
    kv_opt_params_init(&p);
    kv_opt_recipe *recipe = NULL;
    kv_err err = {0};
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--recipe")) {
            if (kv_opt_recipe_load(argv[i + 1], &p, &recipe, &err) != KV_OK)
                return kv_cli_fail("optimize", &err);
        }
    bool quiet = false, print_recipe = false;
    char *types_copy = NULL;
    int rc = parse(argc, argv, &p, &quiet, &print_recipe, &types_copy);
    if (rc != 0)
        goto done;
    if (!p.src || !p.outdir) {
        rc = kv_cli_usage_error("optimize", "need SRC and -o OUTDIR (or a recipe with input and output)");
        goto done;
    }
    char *text = kv_opt_recipe_print(&p);
    if (print_recipe) {
        if (text)
            fputs(text, stdout);
        free(text);
        rc = text ? 0 : 1;
        goto done;
    }
    p.recipe_text = text;
    p.stop = &g_stop;
    if (!quiet)
        p.log = log_line;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &g_prev_sigint);
    kv_opt_result r;
    kv_status st = kv_opt_run(&p, &r, &err);
    sigaction(SIGINT, &g_prev_sigint, NULL);
    free(text);
    if (st != KV_OK) {
        rc = g_stop ? (fprintf(stderr, "kvant optimize: %s\n", err.msg), 130)
                    : kv_cli_fail("optimize", &err);
        kv_opt_result_free(&r);
        goto done;
    }
    summary(&p, &r);
    if (r.pick < 0) {
        fprintf(stderr, "kvant optimize: no candidate meets the goals; closest %s misses %s\n",
                r.closest >= 0 ? r.v[r.closest].name : "(none)", r.missed);
        rc = 2;
    }
    kv_opt_result_free(&r);
done:
    free(types_copy);
    kv_opt_recipe_free(recipe);
    return rc < 0 ? 0 : rc;
}
