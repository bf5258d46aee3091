// Shared CLI helpers: error printing, usage errors, the progress bar, the clock.
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "kvant/kv_core.h"
#include "kvant/kv_tokenizer.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int kv_cli_fail(const char *cmd, const kv_err *err) {
    fprintf(stderr, "kvant %s: %s\n", cmd, err && err->msg[0] ? err->msg : "failed");
    return 1;
}

int kv_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kvant %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'kvant %s --help' for usage.\n", cmd);
    va_end(ap);
    return 2;
}

int kv_cli_cache_type(const char *cmd, const char *opt, const char *v, kv_type *out) {
    const int t = v ? kv_type_from_name(v) : -1;
    if (t != KV_TYPE_F32 && t != KV_TYPE_F16 && t != KV_TYPE_Q8_0 && t != KV_TYPE_Q4_0)
        return kv_cli_usage_error(cmd, "%s '%s': the KV cache stores f32, f16, q8_0 or q4_0", opt,
                                  v ? v : "");
    *out = (kv_type)t;
    return 0;
}

int kv_cli_repack(const char *cmd, const char *v) {
    if (!v || (strcmp(v, "on") != 0 && strcmp(v, "off") != 0 && strcmp(v, "auto") != 0))
        return kv_cli_usage_error(cmd, "--repack '%s': on, off or auto", v ? v : "");
    setenv("KVANT_REPACK", v, 1);
    return 0;
}

bool kv_cli_is_repack_opt(const char *a) {
    return strcmp(a, "--repack") == 0 || strcmp(a, "--repack-cache") == 0;
}

int kv_cli_repack_opt(const char *cmd, const char *a, const char *v) {
    if (strcmp(a, "--repack") == 0)
        return kv_cli_repack(cmd, v);
    struct stat sb;
    if (!v || !*v ||
        (strcmp(v, "on") != 0 && strcmp(v, "off") != 0 &&
         (stat(v, &sb) != 0 || !S_ISDIR(sb.st_mode))))
        return kv_cli_usage_error(cmd, "--repack-cache '%s': on, off or an existing folder",
                                  v ? v : "");
    setenv("KVANT_REPACK_CACHE", v, 1);
    return 0;
}

void kv_cli_repack_note(const char *cmd, const kv_model *m) {
    const char *note = kv_model_repack_note(m);
    if (note)
        fprintf(stderr, "kvant %s: warning: %s\n", cmd, note);
}

bool kv_cli_is_help(const char *arg) {
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

double kv_cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// ---- progress bar ----

void kv_cli_progress_init(kv_cli_progress *p, const char *title, bool quiet) {
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->title = title;
    p->last_permille = -1;
    p->t_start = kv_cli_now();
}

void kv_cli_progress_cb(void *user, uint64_t done, uint64_t total, const char *label) {
    kv_cli_progress *p = (kv_cli_progress *)user;
    if (!p || !p->enabled || total == 0)
        return;
    int permille = (int)(done * 1000 / total);
    if (permille == p->last_permille && done != total)
        return;
    p->last_permille = permille;
    enum { WIDTH = 30 };
    int fill = permille * WIDTH / 1000;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    double el = kv_cli_now() - p->t_start;
    fprintf(stderr, "\r\033[K%s [%s] %5.1f%% %5.1fs %.40s", p->title, bar, permille / 10.0, el,
            label ? label : "");
    fflush(stderr);
}

void kv_cli_progress_done(kv_cli_progress *p) {
    if (p && p->enabled && p->last_permille >= 0)
        fprintf(stderr, "\r\033[K");
}

// ---- text input ----

#define KV_CLI_MAX_TEXT ((size_t)1 << 30) // bytes of a text file read whole

static kv_status read_text(const char *path, bool empty_ok, char **out, size_t *len,
                           kv_err *err) {
    kv_status st = kv_read_file(path, KV_CLI_MAX_TEXT, out, len, err);
    if (st != KV_OK)
        return st;
    size_t bad = 0;
    if (*len == 0 && !empty_ok) {
        free(*out);
        *out = NULL;
        return KV_FAIL(err, KV_ERR_INVALID, "%s: the file is empty", path);
    }
    if (!kv_utf8_valid(*out, *len, &bad)) {
        free(*out);
        *out = NULL;
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: not valid UTF-8 text (bad byte at offset %zu)", path,
                       bad);
    }
    return KV_OK;
}

kv_status kv_cli_read_text(const char *path, char **out, size_t *len, kv_err *err) {
    return read_text(path, false, out, len, err);
}

kv_status kv_cli_read_text_or_empty(const char *path, char **out, size_t *len, kv_err *err) {
    return read_text(path, true, out, len, err);
}
