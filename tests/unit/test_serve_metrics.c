#define _POSIX_C_SOURCE 200809L // strdup, strtok_r
// Metrics: histogram bucketing and the Prometheus text exposition format
// (HELP/TYPE lines, cumulative buckets ending in +Inf, _sum and _count).
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "serve/serve_int.h"

static bool has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void test_histogram(void **state) {
    (void)state;
    static const double B[] = {1, 2, 4};
    kv__hist h;
    kv__hist_init(&h, B, 3);
    kv__hist_observe(&h, 0.5);
    kv__hist_observe(&h, 1); // a bound belongs to its own bucket (le = less or equal)
    kv__hist_observe(&h, 3);
    kv__hist_observe(&h, 100);
    assert_int_equal(h.counts[0], 2);
    assert_int_equal(h.counts[1], 0);
    assert_int_equal(h.counts[2], 1);
    assert_int_equal(h.counts[3], 1);
    assert_int_equal(h.count, 4);
    assert_true(h.sum == 104.5);
}

// Every line is a comment or "name[{labels}] value".
static void check_syntax(const char *text) {
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\\{[a-z]+=\"[^\"]*\"\\})? "
                             "[-+0-9.eE]+)$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    char *copy = strdup(text);
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (regexec(&re, line, 0, NULL, 0) != 0)
            print_error("bad exposition line '%s'\n", line);
        assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
    }
    free(copy);
    regfree(&re);
}

static void test_render(void **state) {
    (void)state;
    kv__metrics m;
    kv__metrics_init(&m);
    kv__metrics_request(&m, 200);
    kv__metrics_request(&m, 200);
    kv__metrics_request(&m, 404);
    kv__metrics_tokens(&m, 12, 3);
    kv__metrics_cached(&m, 5);
    kv__metrics_ttft(&m, 0.03);
    kv__metrics_itl(&m, 0.004);
    kv__metrics_itl(&m, 0.02);
    kv__metrics_batch(&m, 1);
    kv__metrics_batch(&m, 3);
    kv__gauges g = {.running = 2,
                    .waiting = 5,
                    .kv_blocks = 7,
                    .kv_blocks_max = 64,
                    .kv_size = 458752,
                    .models_loaded = 1};
    kv__buf out = {0};
    assert_int_equal(kv__metrics_render(&m, &g, &out, NULL), KV_OK);
    const char *t = out.p;
    static const char *const LINES[] = {
        "# TYPE kvant_requests_running gauge",
        "kvant_requests_running 2",
        "kvant_requests_waiting 5",
        "kvant_kv_blocks_in_use 7",
        "kvant_kv_blocks_total 64",
        "# TYPE kvant_kv_bytes gauge",
        "kvant_kv_bytes 458752",
        "# TYPE kvant_prompt_tokens_total counter",
        "kvant_prompt_tokens_total 12",
        "kvant_generated_tokens_total 3",
        "kvant_prompt_tokens_cached_total 5",
        "# TYPE kvant_time_to_first_token_seconds histogram",
        "kvant_time_to_first_token_seconds_bucket{le=\"0.025\"} 0",
        "kvant_time_to_first_token_seconds_bucket{le=\"0.05\"} 1",
        "kvant_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1",
        "kvant_time_to_first_token_seconds_count 1",
        "kvant_inter_token_latency_seconds_bucket{le=\"0.005\"} 1",
        "kvant_inter_token_latency_seconds_bucket{le=\"0.025\"} 2",
        "kvant_inter_token_latency_seconds_count 2",
        "kvant_decode_batch_size_bucket{le=\"1\"} 1",
        "kvant_decode_batch_size_bucket{le=\"2\"} 1",
        "kvant_decode_batch_size_bucket{le=\"4\"} 2",
        "kvant_decode_batch_size_sum 4",
        "# TYPE kvant_requests_total counter",
        "kvant_requests_total{status=\"200\"} 2",
        "kvant_requests_total{status=\"404\"} 1",
    };
    for (size_t i = 0; i < sizeof LINES / sizeof LINES[0]; i++) {
        if (!has_line(t, LINES[i]))
            print_error("missing line '%s' in:\n%s\n", LINES[i], t);
        assert_true(has_line(t, LINES[i]));
    }
    check_syntax(t);
    kv__buf_free(&out);
    kv__metrics_destroy(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
