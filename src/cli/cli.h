// The kvant command: one function per subcommand, shared option helpers and the
// progress bar. Only cli/ prints to stdout or exits.
#ifndef KV_CLI_H
#define KV_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_types.h"
#include <stdio.h>

#include "kvant/kv_convert.h"
#include "kvant/kv_model.h"
#include "kvant/kv_serve.h"
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
int kv_cli_quantize(int argc, char **argv);
int kv_cli_tokenize(int argc, char **argv);
int kv_cli_run(int argc, char **argv);
int kv_cli_perplexity(int argc, char **argv);
int kv_cli_imatrix(int argc, char **argv);
int kv_cli_serve(int argc, char **argv);
int kv_cli_bench(int argc, char **argv);
int kv_cli_template(int argc, char **argv);
int kv_cli_keys(int argc, char **argv);
int kv_cli_audit(int argc, char **argv);
// the model store (cmd_store.c)
int kv_cli_create(int argc, char **argv);
int kv_cli_list(int argc, char **argv);
int kv_cli_show(int argc, char **argv);
int kv_cli_cp(int argc, char **argv);
int kv_cli_rm(int argc, char **argv);
// pull and push over OCI registries and image layouts (cmd_pull.c)
int kv_cli_pull(int argc, char **argv);
int kv_cli_push(int argc, char **argv);
// the models a running server has loaded (cmd_ps.c)
int kv_cli_ps(int argc, char **argv);
// Takes --store DIR and --ollama-store DIR (read only: refused when writes)
// out of argv; either sets $KVANT_MODELS for this process. 0, or the exit code.
int kv_cli_store_option(const char *cmd, int *argc, char **argv, bool writes);
// arg when it names an existing file; else, when the store has a model named
// arg, the path of its GGUF blob (in buf); else arg.
const char *kv_cli_model_path(const char *arg, char *buf, size_t cap);
// The SYSTEM, params (JSON), TEMPLATE and messages (JSON) layers of store model arg
// (malloc'd, NULL where it has none; all NULL when arg is a file or not in the store).
void kv_cli_model_layers(const char *arg, char **system, char **params, char **tmpl,
                         char **msgs);
// A stored model's Modelfile (as `kvant show --modelfile` prints it) into f:
// shown its name, blob its GGUF file, the rest its layers' texts or NULL.
void kv_cli_modelfile(FILE *f, const char *shown, const char *blob, const char *tmpl,
                      const char *sys, const char *params, const char *lic, const char *msgs);
// A params layer's JSON as Ollama's /api/show "parameters": one "KEY VALUE"
// line each (a list: one line per value, strings quoted). malloc'd; NULL: no memory.
char *kv_cli_params_text(const char *params);

// ---- the store (keys and audit log), for keys, audit and serve (cli_store.c) ----
struct kv__db;
struct kv__keyring;
// Opens the database at path, or the default one ($KVANT_HOME/kvant.db, else
// ~/.kvant/kvant.db) when path is NULL; create makes a missing one. Prints the
// failure as cmd's and returns 1; 0 on success.
int kv_cli_db_open(const char *cmd, const char *path, bool create, struct kv__db **db);

typedef struct {
    struct kv__db *db;         // NULL: no database (no keys, no audit)
    struct kv__keyring *ring;
    bool audit_content;        // --audit-content: keep request bodies in the log
} kv_cli_serve_store;

// For serve: opens --db (db_path, created when missing) or the default database
// when it exists, and sets p's auth and audit hooks to it. Refuses (exit code 2)
// a non-loopback p->host without keys unless insecure. 0 on success.
int kv_cli_serve_store_open(kv_cli_serve_store *ss, const char *db_path, bool insecure,
                            kv_serve_params *p);
void kv_cli_serve_store_close(kv_cli_serve_store *ss);
// serve --store: points p->store at the model store's operations (serve_mstore.c).
// blob_max: --max-blob (0: the server's default).
// readonly (--ollama-store): every change answers 422 naming the store read only.
int kv_cli_serve_mstore(kv_serve_params *p, uint64_t blob_max, bool readonly);
int kv_cli_logits(int argc, char **argv); // cmd_logits.c
int kv_cli_export(int argc, char **argv); // cmd_export.c
int kv_cli_onnx(int argc, char **argv);   // cmd_onnx.c
int kv_cli_optimize(int argc, char **argv);  // cmd_optimize.c
int kv_cli_recommend(int argc, char **argv); // cmd_recommend.c

// Prints "kvant NAME: MESSAGE" for a failed status to stderr; returns 1.
int kv_cli_fail(const char *cmd, const kv_err *err);
// Prints "kvant NAME: usage error: ..." and a hint to run --help; returns 2.
int kv_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
// The KV cache type named by a --cache-type-k/-v value (f32, f16, q8_0, q4_0,
// any case) in *out; else prints a usage error for cmd naming opt and returns 2.
int kv_cli_cache_type(const char *cmd, const char *opt, const char *v, kv_type *out);
// --repack on|off|auto: checks v and sets KVANT_REPACK, which the model
// loader reads (model/repack.c); 0, or a usage error's exit code.
int kv_cli_repack(const char *cmd, const char *v);
// True when a is --repack or --repack-cache.
bool kv_cli_is_repack_opt(const char *a);
// --repack (as kv_cli_repack) or --repack-cache on|off|DIR, which sets
// KVANT_REPACK_CACHE for the loader (model/repack_cache.c): on keeps the
// repacked weights in MODEL.gguf.TABLE.kvrepack beside the model, DIR (an
// existing folder; ./on for one named on) in that folder, off (the default)
// nowhere. 0, or a usage error's exit code.
int kv_cli_repack_opt(const char *cmd, const char *a, const char *v);
// Prints m's repack-cache warning, if its load had one, as "kvant CMD: warning: ...".
void kv_cli_repack_note(const char *cmd, const kv_model *m);
#define KV_CLI_REPACK_HELP                                                                     \
    "  --repack on|off|auto  interleave the weight rows for the prompt kernels once\n"           \
    "                        at load (auto, the default: on where the kernels have\n"          \
    "                        such a layout, F16/BF16 only with on; costs 1-3.7x\n"   \
    "                        those weights' size)\n"                                   \
    "  --repack-cache on|off|DIR  keep the repacked weights in a file that later\n"           \
    "                        loads map instead of repacking: on, beside the model\n"         \
    "                        (MODEL.gguf.TABLE.kvrepack); DIR, in that folder (say\n"        \
    "                        for a read-only model folder); off, the default\n"
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

// Prints the summary of a convert or quantize run (tensor lines when tensors).
void kv_cli_print_report(const char *out, const kv_convert_report *r, bool tensors);

// Parses the options convert and quantize share (-t, --imatrix, --include-weights,
// --exclude-weights, --no-fallback, --pure, --output-tensor-type,
// --token-embedding-type, --tensor-type, --leave-output-tensor) at argv[*i].
// Returns 1 when it took the option (advancing *i past its value), 0 when the
// option is not one of these, and -1 after printing a usage error.
int kv_cli_plan_option(const char *cmd, int argc, char **argv, int *i, kv_quant_plan_opts *plan,
                       kv_mix_options *mix);
// Frees what kv_cli_plan_option collected.
void kv_cli_plan_free(kv_quant_plan_opts *plan, kv_mix_options *mix);
// Help text lines for those options.
extern const char KV_CLI_PLAN_HELP[];

// Reads a whole text file (for -f): refuses an empty file and text that is not
// UTF-8 (naming the byte offset). *out is malloc'd and NUL-terminated.
kv_status kv_cli_read_text(const char *path, char **out, size_t *len, kv_err *err);
// The same, but an empty file is empty text (*out "", *len 0).
kv_status kv_cli_read_text_or_empty(const char *path, char **out, size_t *len, kv_err *err);

// Seconds from a monotonic clock.
double kv_cli_now(void);

#endif
