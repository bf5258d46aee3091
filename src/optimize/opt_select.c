// The Pareto front (file size, mean KLD), the goal verdicts and the pick.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "optimize/optimize_int.h"

// How far v is from goal k: 0 when met, else the relative shortfall.
static double miss(const kv_opt_variant *v, const kv_opt_goals *g, int k) {
    switch (k) {
    case KV_OPT_GOAL_SIZE:
        return g->max_size > 0 && v->size > g->max_size ? v->size / g->max_size - 1 : 0;
    case KV_OPT_GOAL_RAM:
        return g->max_ram > 0 && v->ram > g->max_ram ? v->ram / g->max_ram - 1 : 0;
    case KV_OPT_GOAL_GEN:
        return g->min_gen_tps > 0 && v->tg_tps < g->min_gen_tps ? 1 - v->tg_tps / g->min_gen_tps
                                                                : 0;
    case KV_OPT_GOAL_PROMPT:
        return g->min_prompt_tps > 0 && v->pp_tps < g->min_prompt_tps
                   ? 1 - v->pp_tps / g->min_prompt_tps
                   : 0;
    default:
        return g->max_kld >= 0 && v->kld_mean > g->max_kld
                   ? (g->max_kld > 0 ? v->kld_mean / g->max_kld - 1 : 1e9)
                   : 0;
    }
}

static void describe_miss(const kv_opt_variant *v, const kv_opt_goals *g, int k, char *out,
                          size_t cap) {
    switch (k) {
    case KV_OPT_GOAL_SIZE:
        snprintf(out, cap, "max_size: %s is %.2f MiB, the goal %.2f MiB", v->name,
                 v->size / 1048576.0, g->max_size / 1048576.0);
        break;
    case KV_OPT_GOAL_RAM:
        snprintf(out, cap, "max_ram: %s needs %.2f MiB, the goal %.2f MiB", v->name,
                 v->ram / 1048576.0, g->max_ram / 1048576.0);
        break;
    case KV_OPT_GOAL_GEN:
        snprintf(out, cap, "min_gen_tps: %s generates %.1f t/s, the goal %.1f", v->name, v->tg_tps,
                 g->min_gen_tps);
        break;
    case KV_OPT_GOAL_PROMPT:
        snprintf(out, cap, "min_prompt_tps: %s reads prompts at %.1f t/s, the goal %.1f", v->name,
                 v->pp_tps, g->min_prompt_tps);
        break;
    default:
        snprintf(out, cap, "max_kld: %s has mean KLD %.5f, the goal %.5f", v->name, v->kld_mean,
                 g->max_kld);
    }
}

void kv_opt_select(kv_opt_result *r, const kv_opt_goals *g, kv_opt_objective obj) {
    r->pick = r->closest = -1;
    r->missed[0] = 0;
    for (int i = 0; i < r->n; i++) {
        kv_opt_variant *a = &r->v[i];
        a->pareto = true;
        for (int j = 0; j < r->n && a->pareto; j++) {
            const kv_opt_variant *b = &r->v[j];
            if (j != i && b->size <= a->size && b->kld_mean <= a->kld_mean &&
                (b->size < a->size || b->kld_mean < a->kld_mean))
                a->pareto = false;
        }
        a->meets_all = true;
        for (int k = 0; k < KV_OPT_N_GOALS; k++) {
            a->meets[k] = miss(a, g, k) == 0;
            a->meets_all &= a->meets[k];
        }
    }
    double best_miss = INFINITY;
    for (int i = 0; i < r->n; i++) {
        const kv_opt_variant *a = &r->v[i];
        if (!a->meets_all) {
            double m = 0;
            for (int k = 0; k < KV_OPT_N_GOALS; k++)
                m += miss(a, g, k);
            if (m < best_miss) {
                best_miss = m;
                r->closest = i;
            }
            continue;
        }
        if (r->pick < 0) {
            r->pick = i;
            continue;
        }
        const kv_opt_variant *b = &r->v[r->pick];
        bool better = obj == KV_OPT_SPEED  ? a->tg_tps > b->tg_tps
                      : obj == KV_OPT_SIZE ? a->size < b->size ||
                                                 (a->size == b->size && a->kld_mean < b->kld_mean)
                                           : a->kld_mean < b->kld_mean ||
                                                 (a->kld_mean == b->kld_mean && a->size < b->size);
        if (better)
            r->pick = i;
    }
    if (r->pick >= 0 || r->closest < 0)
        return;
    const kv_opt_variant *c = &r->v[r->closest];
    int worst = 0;
    for (int k = 1; k < KV_OPT_N_GOALS; k++)
        if (miss(c, g, k) > miss(c, g, worst))
            worst = k;
    describe_miss(c, g, worst, r->missed, sizeof r->missed);
}

kv_status kv_opt_parse_size(const char *s, const char *what, double *out, kv_err *err) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || !isfinite(v))
        return KV_FAIL(err, KV_ERR_INVALID, "%s: '%s' is not a size (like 700MiB or 2GB)", what, s);
    static const struct { const char *u; double m; } U[] = {
        {"", 1}, {"b", 1}, {"k", 1e3}, {"kb", 1e3}, {"m", 1e6}, {"mb", 1e6}, {"g", 1e9},
        {"gb", 1e9}, {"t", 1e12}, {"tb", 1e12}, {"kib", 1024.0}, {"mib", 1048576.0},
        {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof U / sizeof *U; i++)
        if (!strcasecmp(end, U[i].u)) {
            *out = v * U[i].m;
            return KV_OK;
        }
    return KV_FAIL(err, KV_ERR_INVALID, "%s: unknown unit '%s' in '%s' (B, KB, MB, GB, KiB, MiB, GiB)",
                   what, end, s);
}
