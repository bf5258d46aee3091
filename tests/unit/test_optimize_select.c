// kvant optimize's pure parts: the Pareto front (size, mean KLD) over given
// points, the pick for each objective under goals, the closest candidate and
// the goal it misses, sizes with units, and recipes (keys read, each error
// naming file:line, the printed recipe read back to the same run).
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_test.h"
#include "optimize/optimize.h"

static void add(kv_opt_result *r, const char *name, uint64_t size, double kld, double tg) {
    kv_opt_variant *v = &r->v[r->n++];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    v->size = size;
    v->ram = size;
    v->kld_mean = kld;
    v->tg_tps = tg;
    v->pp_tps = 10 * tg;
}

static kv_opt_result points(void) {
    kv_opt_result r;
    memset(&r, 0, sizeof r);
    r.v = calloc(8, sizeof *r.v);
    add(&r, "A", 100, 0.001, 10); // front
    add(&r, "B", 60, 0.004, 20);  // front
    add(&r, "C", 70, 0.005, 30);  // dominated by B (smaller and better)
    add(&r, "D", 40, 0.02, 40);   // front
    add(&r, "E", 60, 0.004, 25);  // ties B exactly: neither dominates
    add(&r, "F", 100, 0.002, 50); // dominated by A (same size, worse KLD)
    return r;
}

static void test_front_and_pick(void **state) {
    (void)state;
    kv_opt_result r = points();
    kv_opt_goals none = {0, 0, 0, 0, -1};
    kv_opt_select(&r, &none, KV_OPT_QUALITY);
    const bool front[] = {true, true, false, true, true, false};
    for (int i = 0; i < r.n; i++)
        if (r.v[i].pareto != front[i])
            fail_msg("%s: pareto %d, expected %d", r.v[i].name, r.v[i].pareto, front[i]);
    assert_string_equal(r.v[r.pick].name, "A");
    kv_opt_select(&r, &none, KV_OPT_SIZE);
    assert_string_equal(r.v[r.pick].name, "D");
    kv_opt_select(&r, &none, KV_OPT_SPEED);
    assert_string_equal(r.v[r.pick].name, "F");
    kv_opt_goals g = {80, 0, 15, 0, 0.0045}; // size <= 80, tg >= 15, kld <= 0.0045
    kv_opt_select(&r, &g, KV_OPT_QUALITY);
    assert_string_equal(r.v[r.pick].name, "B"); // B and E tie on KLD and size: the first
    kv_opt_select(&r, &g, KV_OPT_SPEED);
    assert_string_equal(r.v[r.pick].name, "E");
    assert_true(r.v[0].meets[KV_OPT_GOAL_KLD] && !r.v[0].meets[KV_OPT_GOAL_SIZE]);
    assert_false(r.v[0].meets_all);
    kv_opt_result_free(&r);
}

static void test_closest(void **state) {
    (void)state;
    kv_opt_result r = points();
    kv_opt_goals g = {0, 0, 0, 0, 0.0001};
    kv_opt_select(&r, &g, KV_OPT_QUALITY);
    assert_int_equal(r.pick, -1);
    assert_string_equal(r.v[r.closest].name, "A");
    assert_non_null(strstr(r.missed, "max_kld"));
    kv_opt_goals g2 = {50, 0, 100, 0, -1}; // D fits the size; nobody reaches 100 t/s
    kv_opt_select(&r, &g2, KV_OPT_QUALITY);
    assert_int_equal(r.pick, -1);
    assert_string_equal(r.v[r.closest].name, "D");
    assert_non_null(strstr(r.missed, "min_gen_tps"));
    kv_opt_result_free(&r);
}

static void test_sizes(void **state) {
    (void)state;
    double v = 0;
    kv_err err = {0};
    assert_int_equal(kv_opt_parse_size("700MiB", "--max-size", &v, &err), KV_OK);
    assert_true(v == 700.0 * 1048576);
    assert_int_equal(kv_opt_parse_size("2GB", "--max-size", &v, &err), KV_OK);
    assert_true(v == 2e9);
    assert_int_equal(kv_opt_parse_size("123", "--max-size", &v, &err), KV_OK);
    assert_true(v == 123);
    assert_int_equal(kv_opt_parse_size("1.5 gib", "x", &v, &err), KV_OK);
    assert_true(v == 1.5 * 1073741824.0);
    assert_int_equal(kv_opt_parse_size("12XB", "--max-ram", &v, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "--max-ram"));
    assert_int_equal(kv_opt_parse_size("-3MB", "x", &v, &err), KV_ERR_INVALID);
    assert_int_equal(kv_opt_parse_size("MB", "x", &v, &err), KV_ERR_INVALID);
}

static char *write_tmp(const char *text) {
    char *path = strdup("/tmp/kv-recipe-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void recipe_bad(const char *text, const char *line, const char *what) {
    char *path = write_tmp(text);
    kv_opt_params p;
    kv_opt_params_init(&p);
    kv_opt_recipe *r = NULL;
    kv_err err = {0};
    assert_int_not_equal(kv_opt_recipe_load(path, &p, &r, &err), KV_OK);
    assert_null(r);
    char want[128];
    snprintf(want, sizeof want, "%s:%s:", path, line);
    if (strncmp(err.msg, want, strlen(want)) != 0 || !strstr(err.msg, what))
        fail_msg("'%s': expected '%s...%s'", err.msg, want, what);
    unlink(path);
    free(path);
}

static void test_recipe(void **state) {
    (void)state;
    char *path = write_tmp("input: models/m\noutput: out\npasses:\n"
                           "  - type: convert\n    base_type: f32\n"
                           "  - type: imatrix\n    calib: c.txt\n    chunks: 8\n"
                           "  - type: quantize\n    types: [Q8_0, Q4_K_M]\n    search: [Q4_K_M, 3.5]\n"
                           "  - type: evaluate\n    eval: e.txt\n    ctx: 128\n    threads: 2\n"
                           "    objective: size\n    goals:\n      max_size: 5MiB\n"
                           "      max_kld: 0.01\n      min_gen_tps: 20\n");
    kv_opt_params p;
    kv_opt_params_init(&p);
    kv_opt_recipe *r = NULL;
    kv_err err = {0};
    if (kv_opt_recipe_load(path, &p, &r, &err) != KV_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(p.src, "models/m");
    assert_string_equal(p.outdir, "out");
    assert_string_equal(p.base_type, "f32");
    assert_string_equal(p.calib, "c.txt");
    assert_int_equal(p.n_chunks_calib, 8);
    assert_int_equal(p.n_candidates, 2);
    assert_string_equal(p.candidates[1], "Q4_K_M");
    assert_int_equal(p.n_search, 2);
    assert_string_equal(p.search[1], "3.5");
    assert_int_equal(p.n_ctx, 128);
    assert_int_equal(p.objective, KV_OPT_SIZE);
    assert_true(p.goals.max_size == 5.0 * 1048576 && p.goals.max_kld == 0.01 &&
                p.goals.min_gen_tps == 20);
    // printed and read back: the same run
    char *text = kv_opt_recipe_print(&p);
    char *path2 = write_tmp(text);
    kv_opt_params q;
    kv_opt_params_init(&q);
    kv_opt_recipe *r2 = NULL;
    if (kv_opt_recipe_load(path2, &q, &r2, &err) != KV_OK)
        fail_msg("printed recipe: %s\n%s", err.msg, text);
    assert_string_equal(q.src, p.src);
    assert_string_equal(q.calib, p.calib);
    assert_int_equal(q.n_candidates, 2);
    assert_int_equal(q.n_search, 2);
    assert_int_equal(q.objective, p.objective);
    assert_true(q.goals.max_size == p.goals.max_size && q.goals.max_kld == p.goals.max_kld);
    kv_opt_recipe_free(r2);
    kv_opt_recipe_free(r);
    free(text);
    unlink(path2);
    unlink(path);
    free(path2);
    free(path);

    recipe_bad("input: x\nwhat: y\n", "2", "unknown key 'what'");
    recipe_bad("input: x\npasses:\n  - type: quantize\n    typez: [Q8_0]\n", "4", "typez");
    recipe_bad("passes:\n  - type: squash\n", "2", "pass type");
    recipe_bad("passes:\n  - type: evaluate\n    ctx: many\n", "3", "not a number");
    recipe_bad("passes:\n  - type: evaluate\n    goals:\n      max_size: 5XB\n", "4", "unit");
    recipe_bad("passes:\n  - type: evaluate\n    goals:\n      speed: 5\n", "4", "unknown goal");
    recipe_bad("input: [x\n", "2", "");
    recipe_bad("- a\n- b\n", "1", "mapping");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_front_and_pick),
        cmocka_unit_test(test_closest),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_recipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
