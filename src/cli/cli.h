// The kvant command: one function per subcommand, shared option helpers and the
// progress bar. Only cli/ prints to stdout or exits.
#ifndef KV_CLI_H
#define KV_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kvant/kv_status.h"

// A subcommand: argv[0] is the subcommand name. Returns the process exit code.
typedef int (*kv_cli_fn)(int argc, char **argv);

typedef struct {
    const char *name;
    kv_cli_fn fn;
    const char *summary;
} kv_cli_command;

int kv_cli_info(int argc, char **argv);
int kv_cli_convert(int argc, char **argv);

// Prints "kvant NAME: MESSAGE" for a failed status to stderr; returns 1.
int kv_cli_fail(const char *cmd, const kv_err *err);
// Prints "kvant NAME: usage error: ..." and a hint to run --help; returns 2.
int kv_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
// True when arg is -h or --help.
bool kv_cli_is_help(const char *arg);

// Progress bar on stderr, drawn only when stderr is a terminal and not quiet.
typedef struct {
    bool enabled;
    const char *title;
    int last_permille;
    double t_start;
} kv_cli_progress;

void kv_cli_progress_init(kv_cli_progress *p, const char *title, bool quiet);
// A kv_progress_fn: user is a kv_cli_progress*.
void kv_cli_progress_cb(void *user, uint64_t done, uint64_t total, const char *label);
void kv_cli_progress_done(kv_cli_progress *p);

// Seconds from a monotonic clock.
double kv_cli_now(void);

#endif
