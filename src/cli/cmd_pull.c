// kvant pull and push: the store to and from an OCI registry (or another kvant
// serve --store), or an OCI image layout folder (--from / --to DIR).
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/oci.h"

#define PULL_USAGE                                                                             \
    "usage: kvant pull [--insecure] NAME\n"                                                    \
    "       kvant pull --from DIR NAME\n\n"                                                    \
    "Fetches model NAME ([HOST[:PORT]/][NAMESPACE/]MODEL[:TAG]) into the store from an OCI\n" \
    "registry (any OCI distribution server, or a kvant serve --store), or from an OCI image\n" \
    "layout folder (--from DIR, e.g. a drive written by kvant push --to). Blobs the store\n"   \
    "has are skipped; an interrupted pull resumes; each blob is checked against its digest\n" \
    "before it enters the store; the model is listed only when whole.\n"
#define PUSH_USAGE                                                                             \
    "usage: kvant push [--insecure] NAME\n"                                                    \
    "       kvant push --to DIR NAME\n\n"                                                      \
    "Sends stored model NAME to its registry (blobs the registry has are skipped; blobs\n"     \
    "over $KVANT_OCI_CHUNK bytes, default 64 MiB, go up in chunks), or into an OCI image\n"    \
    "layout folder (--to DIR, created when missing).\n"
#define COMMON_HELP                                                                            \
    "\noptions:\n"                                                                             \
    "  --insecure   the registry speaks plain HTTP (https otherwise)\n"                        \
    "  --store DIR  the store (as $KVANT_MODELS); push also takes --ollama-store DIR\n\n"       \
    "environment:\n"                                                                           \
    "  KVANT_REGISTRY        HOST[:PORT] for names without a host (registry.ollama.ai); the\n" \
    "                        model is stored under the name as typed\n"                        \
    "  KVANT_REGISTRY_TOKEN  a bearer token sent from the start (a kvant serve key)\n"         \
    "  KVANT_REGISTRY_AUTH   USER:PASSWORD for the token endpoint a registry names\n"          \
    "  KVANT_REGISTRY_CA     a PEM file of certificates to trust (a site's own CA) instead\n"  \
    "                        of the system's\n"                                               \
    "  https_proxy, http_proxy, no_proxy   as libcurl reads them\n"                            \
    "The store: --store, else $KVANT_MODELS, else $OLLAMA_MODELS, else $KVANT_HOME/models, else\n"           \
    "~/.kvant/models.\n"

typedef struct {
    double last;
    char last_status[96];
    uint64_t last_done;
} printer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// One line per step, and per transfer at most 2 a second (stderr).
static void on_progress(void *user, const char *status, const char *digest, uint64_t done,
                        uint64_t total) {
    printer *p = user;
    double t = now_s();
    bool same = !strcmp(p->last_status, status);
    if (same && total && done < total && t - p->last < 0.5)
        return;
    if (same && done == p->last_done)
        return;
    p->last = t;
    p->last_done = done;
    snprintf(p->last_status, sizeof p->last_status, "%s", status);
    if (total)
        fprintf(stderr, "%s %" PRIu64 "/%" PRIu64 " (%.0f%%)\n", status, done, total,
                100.0 * (double)done / (double)total);
    else if (digest && strncmp(status, "verifying", 9) == 0)
        fprintf(stderr, "%s %s\n", status, digest);
    else
        fprintf(stderr, "%s\n", status);
}

// local: NAME as typed; remote: the same with KVANT_REGISTRY's host when NAME
// names none.
static int names(const char *cmd, const char *s, kv__mname *local, kv__mname *remote) {
    kv_err err;
    if (kv__mname_parse(s, local, &err) != KV_OK)
        return kv_cli_fail(cmd, &err);
    *remote = *local;
    if (kv__oci_registry_name(s, local, remote, &err) != KV_OK)
        return kv_cli_fail(cmd, &err);
    return 0;
}

static int run(const char *cmd, int argc, char **argv, bool pull) {
    const char *name = NULL, *dirarg = NULL;
    const char *dir_opt = pull ? "--from" : "--to";
    kv__oci_opts o = {0};
    printer pr = {0};
    for (int i = 1; i < argc; i++) {
        if (kv_cli_is_help(argv[i])) {
            printf("%s" COMMON_HELP, pull ? PULL_USAGE : PUSH_USAGE);
            return 0;
        }
        if (!strcmp(argv[i], "--insecure")) {
            o.insecure = true;
        } else if (!strcmp(argv[i], dir_opt)) {
            if (i + 1 >= argc)
                return kv_cli_usage_error(cmd, "%s needs a folder", dir_opt);
            dirarg = argv[++i];
        } else if (argv[i][0] == '-' || name) {
            return kv_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        } else {
            name = argv[i];
        }
    }
    if (!name)
        return kv_cli_usage_error(cmd, "%s", pull ? PULL_USAGE : PUSH_USAGE);
    kv__mname local, remote;
    int rc = names(cmd, name, &local, &remote);
    if (rc)
        return rc;
    char dir[4096];
    kv_err err;
    if (kv__mstore_default_dir(dir, sizeof dir, &err) != KV_OK)
        return kv_cli_fail(cmd, &err);
    kv__oci_opts_from_env(&o);
    o.progress = on_progress;
    o.user = &pr;
    double t0 = now_s();
    kv_status st;
    if (dirarg)
        st = pull ? kv__oci_layout_pull(dir, &local, dirarg, &o, &err)
                  : kv__oci_layout_push(dir, &local, dirarg, &o, &err);
    else
        st = pull ? kv__oci_pull(dir, &local, &remote, &o, &err)
                  : kv__oci_push(dir, &local, &remote, &o, &err);
    if (st != KV_OK)
        return kv_cli_fail(cmd, &err);
    double dt = now_s() - t0;
    char shown[KV__MNAME_TEXT_MAX];
    kv__mname_display(&local, shown, sizeof shown);
    printf("%s %s: %" PRIu64 " bytes %s, %" PRIu64 " resumed, %" PRIu64
           " already there; %.2f s (%.1f MB/s)\n",
           pull ? "pulled" : "pushed", shown, o.bytes_moved,
           dirarg ? "copied" : pull ? "received" : "sent", o.bytes_resumed, o.bytes_present, dt,
           dt > 0 ? (double)o.bytes_moved / dt / 1e6 : 0.0);
    return 0;
}

int kv_cli_pull(int argc, char **argv) {
    int rc = kv_cli_store_option("pull", &argc, argv, true);
    return rc ? rc : run("pull", argc, argv, true);
}

int kv_cli_push(int argc, char **argv) {
    int rc = kv_cli_store_option("push", &argc, argv, false); // reads the store only
    return rc ? rc : run("push", argc, argv, false);
}
