#define _POSIX_C_SOURCE 200809L // strdup, strtok_r, mkdtemp
// Metrics: histogram bucketing and the Prometheus text exposition format
// (HELP/TYPE lines, cumulative buckets ending in +Inf, _sum and _count).
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_test.h"
#include "serve/api_int.h"
#include "serve/buf_int.h"
#include "serve/call_int.h"
#include "serve/metrics_int.h"
#include "serve/server_int.h"

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
                             "^(# (HELP|TYPE) [a-z_0-9]+ .+|[a-z_0-9]+"
                             "(\\{[a-z_]+=\"([^\"\\]|\\\\.)*\""
                             "(,[a-z_]+=\"([^\"\\]|\\\\.)*\")*\\})? [-+0-9.eE]+)$",
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

// A labelled sample's value, or -1 when absent.
static double sample(const char *text, const char *name_and_labels) {
    size_t n = strlen(name_and_labels);
    for (const char *p = text; (p = strstr(p, name_and_labels)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static void test_render(void **state) {
    (void)state;
    kv__metrics m;
    kv__metrics_init(&m);
    kv__model_stats *kjv = kv__metrics_model(&m, "kjv:latest");
    kv__model_stats *odd = kv__metrics_model(&m, "we\"ird\\:latest");
    assert_non_null(kjv);
    assert_non_null(odd);
    assert_ptr_equal(kv__metrics_model(&m, "kjv:latest"), kjv); // found again, not added
    kv__metrics_request(&m, 200);
    kv__metrics_request(&m, 200);
    kv__metrics_request(&m, 404);
    kv__metrics_tokens(&m, kjv, 12, 3);
    kv__metrics_tokens(&m, odd, 1, 0);
    kv__metrics_tokens(&m, NULL, 99, 99); // no model series: nothing
    kv__metrics_cached(&m, kjv, 5);
    kv__metrics_spec(&m, kjv, 8, 5); // two steps of speculative decoding
    kv__metrics_spec(&m, kjv, 4, 0);
    kv__metrics_spec(&m, NULL, 9, 9);
    kv__metrics_ttft(&m, kjv, 0.03);
    kv__metrics_itl(&m, kjv, 0.004);
    kv__metrics_itl(&m, kjv, 0.02);
    kv__metrics_kv_usage(&m, kjv, 0.25);
    kv__metrics_kv_usage(&m, odd, 7); // clamped to 1
    kv__metrics_batch(&m, 1);
    kv__metrics_batch(&m, 3);
    // a request that ran: 0.02 s queued, 0.04 s prefill, 5 tokens in 0.2 s
    kv__job_stats a = {.n_prompt = 12, .n_gen = 5, .queue_s = 0.02, .prompt_s = 0.04,
                       .gen_s = 0.2, .total_s = 0.3};
    kv__metrics_finished(&m, kjv, &a, KV__FIN_LENGTH);
    // one that left the queue without a slot (its client went away)
    kv__job_stats b = {.n_prompt = 7, .queue_s = -1, .total_s = 3};
    kv__metrics_finished(&m, kjv, &b, KV__FIN_ABORT);
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
        "# TYPE kvant_build_info gauge",
        "kvant_build_info{version=\"" KV_VERSION "\",kernels=\"",
        "# TYPE process_cpu_seconds_total counter",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_open_fds gauge",
        "# TYPE kvant_requests_running gauge",
        "kvant_requests_running 2",
        "kvant_requests_waiting 5",
        "kvant_kv_blocks_in_use 7",
        "kvant_kv_blocks_total 64",
        "# TYPE kvant_kv_bytes gauge",
        "kvant_kv_bytes 458752",
        "# TYPE kvant_prompt_tokens_total counter",
        "kvant_prompt_tokens_total{model=\"kjv:latest\"} 12",
        "kvant_prompt_tokens_total{model=\"we\\\"ird\\\\:latest\"} 1",
        "kvant_generated_tokens_total{model=\"kjv:latest\"} 3",
        "kvant_prompt_tokens_cached_total{model=\"kjv:latest\"} 5",
        "# TYPE kvant_kv_cache_usage_perc gauge",
        "kvant_kv_cache_usage_perc{model=\"kjv:latest\"} 0.25",
        "kvant_kv_cache_usage_perc{model=\"we\\\"ird\\\\:latest\"} 1",
        "# TYPE kvant_time_to_first_token_seconds histogram",
        "kvant_time_to_first_token_seconds_bucket{model=\"kjv:latest\",le=\"0.025\"} 0",
        "kvant_time_to_first_token_seconds_bucket{model=\"kjv:latest\",le=\"0.05\"} 1",
        "kvant_time_to_first_token_seconds_bucket{model=\"kjv:latest\",le=\"+Inf\"} 1",
        "kvant_time_to_first_token_seconds_count{model=\"kjv:latest\"} 1",
        "kvant_time_to_first_token_seconds_count{model=\"we\\\"ird\\\\:latest\"} 0",
        "kvant_inter_token_latency_seconds_bucket{model=\"kjv:latest\",le=\"0.005\"} 1",
        "kvant_inter_token_latency_seconds_bucket{model=\"kjv:latest\",le=\"0.025\"} 2",
        "kvant_inter_token_latency_seconds_count{model=\"kjv:latest\"} 2",
        // both finished requests count end to end; only the one that ran in the rest
        "# TYPE kvant_e2e_request_latency_seconds histogram",
        "kvant_e2e_request_latency_seconds_bucket{model=\"kjv:latest\",le=\"0.25\"} 0",
        "kvant_e2e_request_latency_seconds_bucket{model=\"kjv:latest\",le=\"0.5\"} 1",
        "kvant_e2e_request_latency_seconds_bucket{model=\"kjv:latest\",le=\"2.5\"} 1",
        "kvant_e2e_request_latency_seconds_bucket{model=\"kjv:latest\",le=\"5\"} 2",
        "kvant_e2e_request_latency_seconds_sum{model=\"kjv:latest\"} 3.2999999999999998",
        "kvant_e2e_request_latency_seconds_count{model=\"kjv:latest\"} 2",
        "kvant_request_queue_time_seconds_bucket{model=\"kjv:latest\",le=\"0.01\"} 0",
        "kvant_request_queue_time_seconds_bucket{model=\"kjv:latest\",le=\"0.025\"} 1",
        "kvant_request_queue_time_seconds_count{model=\"kjv:latest\"} 1",
        "kvant_request_prefill_time_seconds_bucket{model=\"kjv:latest\",le=\"0.05\"} 1",
        "kvant_request_prefill_time_seconds_count{model=\"kjv:latest\"} 1",
        "kvant_request_decode_time_seconds_bucket{model=\"kjv:latest\",le=\"0.1\"} 0",
        "kvant_request_decode_time_seconds_bucket{model=\"kjv:latest\",le=\"0.25\"} 1",
        "kvant_request_decode_time_seconds_count{model=\"kjv:latest\"} 1",
        // 0.2 s over the 4 tokens after the first
        "kvant_request_time_per_output_token_seconds_bucket{model=\"kjv:latest\",le=\"0.025\"} 0",
        "kvant_request_time_per_output_token_seconds_bucket{model=\"kjv:latest\",le=\"0.05\"} 1",
        "kvant_request_prompt_tokens_bucket{model=\"kjv:latest\",le=\"5\"} 0",
        "kvant_request_prompt_tokens_bucket{model=\"kjv:latest\",le=\"10\"} 1",
        "kvant_request_prompt_tokens_bucket{model=\"kjv:latest\",le=\"20\"} 2",
        "kvant_request_prompt_tokens_sum{model=\"kjv:latest\"} 19",
        "kvant_request_generation_tokens_bucket{model=\"kjv:latest\",le=\"1\"} 1",
        "kvant_request_generation_tokens_bucket{model=\"kjv:latest\",le=\"5\"} 2",
        "# TYPE kvant_spec_decode_num_draft_tokens_total counter",
        "kvant_spec_decode_num_drafts_total{model=\"kjv:latest\"} 2",
        "kvant_spec_decode_num_draft_tokens_total{model=\"kjv:latest\"} 12",
        "kvant_spec_decode_num_accepted_tokens_total{model=\"kjv:latest\"} 5",
        "kvant_spec_decode_num_accepted_tokens_total{model=\"we\\\"ird\\\\:latest\"} 0",
        "# TYPE kvant_requests_finished_total counter",
        "kvant_requests_finished_total{model=\"kjv:latest\",finished_reason=\"stop\"} 0",
        "kvant_requests_finished_total{model=\"kjv:latest\",finished_reason=\"length\"} 1",
        "kvant_requests_finished_total{model=\"kjv:latest\",finished_reason=\"abort\"} 1",
        "kvant_requests_finished_total{model=\"kjv:latest\",finished_reason=\"error\"} 0",
        "kvant_requests_finished_total{model=\"we\\\"ird\\\\:latest\",finished_reason=\"stop\"} 0",
        "kvant_decode_batch_size_bucket{le=\"1\"} 1",
        "kvant_decode_batch_size_bucket{le=\"2\"} 1",
        "kvant_decode_batch_size_bucket{le=\"4\"} 2",
        "kvant_decode_batch_size_sum 4",
        "# TYPE kvant_requests_total counter",
        "kvant_requests_total{status=\"200\"} 2",
        "kvant_requests_total{status=\"404\"} 1",
    };
    for (size_t i = 0; i < sizeof LINES / sizeof LINES[0]; i++) {
        bool prefix = LINES[i][strlen(LINES[i]) - 1] == '"'; // build_info: kernels vary
        bool ok = prefix ? strstr(t, LINES[i]) != NULL : has_line(t, LINES[i]);
        if (!ok)
            print_error("missing line '%s' in:\n%s\n", LINES[i], t);
        assert_true(ok);
    }
    double tpot =
        sample(t, "kvant_request_time_per_output_token_seconds_sum{model=\"kjv:latest\"}");
    assert_true(tpot > 0.05 - 1e-12 && tpot < 0.05 + 1e-12);
    // the process series hold what /proc says of this process
    assert_true(sample(t, "process_resident_memory_bytes") > 1e5);
    assert_true(sample(t, "process_open_fds") >= 3);
    assert_true(sample(t, "process_cpu_seconds_total") >= 0);
    assert_true(sample(t, "process_start_time_seconds") > 1.5e9);
    check_syntax(t);
    kv__buf_free(&out);
    kv__metrics_destroy(&m);
}

// A new descriptor shows in process_open_fds; memory touched shows in RSS.
static void test_process(void **state) {
    (void)state;
    kv__proc_stats a, b;
    kv__proc_stats_read(&a);
    FILE *f = fopen("/proc/self/stat", "r");
    assert_non_null(f);
    size_t n = (size_t)64 << 20;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 1, n);
    kv__proc_stats_read(&b);
    assert_true(b.open_fds == a.open_fds + 1);
    assert_true(b.rss_bytes >= a.rss_bytes + (double)(n / 2));
    assert_true(b.cpu_s >= a.cpu_s);
    assert_true(b.max_fds >= b.open_fds);
    assert_true(b.start_time_s == a.start_time_s);
    free(big);
    fclose(f);
}

// /health: 200 with "ok" while the server takes requests; 503 with
// "stopping" and Retry-After once it stops, so balancers send no more.
static void test_health(void **state) {
    (void)state;
    char dir[] = "/tmp/kv-health-XXXXXX";
    assert_non_null(mkdtemp(dir));
    kv_serve_params p = kv_serve_default_params();
    p.port = 0;
    p.models_dir = dir;
    kv_serve *s = NULL;
    kv_err err;
    assert_int_equal(kv_serve_start(&p, &s, &err), KV_OK);
    kv__call c = {.srv = s, .api = KV__API_PLAIN};
    assert_int_equal(kv__h_health(&c, &err), KV_OK);
    assert_int_equal(c.status, 0); // 200
    assert_non_null(strstr(c.out.p, "\"status\":\"ok\""));
    kv__buf_free(&c.out);
    s->stopping = 1;
    kv__call d = {.srv = s, .api = KV__API_PLAIN};
    assert_int_equal(kv__h_health(&d, &err), KV_OK);
    assert_int_equal(d.status, 503);
    assert_true(d.retry_after > 0);
    assert_non_null(strstr(d.out.p, "\"status\":\"stopping\""));
    kv__buf_free(&d.out);
    kv_serve_stop(s);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_process),
        cmocka_unit_test(test_health),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
