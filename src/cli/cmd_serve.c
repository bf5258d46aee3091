// kvant serve: runs the HTTP server (Ollama and OpenAI APIs, web chat page,
// metrics) over the models given, until SIGINT or SIGTERM. Prints the URL it
// listens on (with the chosen port when --port 0) and a log line per event.
// The first signal stops accepting and lets running requests finish for up to
// --shutdown-timeout seconds (then they end with an error line); a second one
// ends them at once.
#define _POSIX_C_SOURCE 200809L // sigwait, sigtimedwait, pthread_sigmask
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/cli.h"
#include "kvant/kv_serve.h"
#include "kvant/kv_threadpool.h"
#include "store/models.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant serve [OPTIONS]\n\n"
            "Serves models over HTTP with Ollama's API (/api/...), OpenAI's API (/v1/...),\n"
            "a web chat page (/ui), Prometheus metrics (/metrics) and /health.\n\n"
            "  --host ADDR            address to listen on (default 127.0.0.1)\n"
            "  --port N               port (default 11434; 0 picks a free one and prints it)\n"
            "  --model NAME=FILE      serve FILE.gguf as NAME (repeatable; NAME gets :latest\n"
            "                         when it has no tag)\n"
            "  --models DIR           serve every DIR/*.gguf, named after the file\n"
            "  --store                serve the model store's models as MODEL:TAG (those in\n"
            "                         the default namespace; see kvant list), as they are at\n"
            "                         startup\n"
            "  --ollama-store DIR     --store over an existing Ollama store, read only (create,\n"
            "                         copy, delete, blobs, pull, push answer 422)\n"
            "  --parallel N           sequences decoded together per model (default 4)\n"
            "  --ctx N                context per sequence (default: the model's, at most 4096)\n"
            "  --kv-cells N           KV cache cells per model over all its sequences, taken\n"
            "                         in blocks of 16 as requests need them (default: parallel\n"
            "                         x ctx); a request waits in the queue until its prompt fits\n"
            "  --cache-type-k T, --cache-type-v T  what the KV caches store keys and values\n"
            "                         as: f16 (default), f32, q8_0 or q4_0\n"
            "  --repack on|off|auto   interleave the weight rows for the prompt kernels once\n"
            "                         at load (auto, the default: on where the kernels have\n"
            "                         such a layout, F16/BF16 only with on; costs 1-3.7x\n"
            "                         those weights' size)\n"
            "  --repack-cache on|off|DIR  keep the repacked weights in a file that later loads\n"
            "                         map: beside each model (on) or in DIR; default off\n"
            "  --threads N            compute threads per model (default: all CPUs)\n"
            "  --max-body BYTES       largest request body (default 8388608; larger: 413); a\n"
            "                         blob's bytes (/api/blobs, a push into /v2/) go to disk\n"
            "  --max-blob BYTES       with --store: largest blob one upload may have (default\n"
            "                         1 TiB; larger: 413)\n"
            "  --queue N              requests that may wait per model (default 64; more: 503)\n"
            "  --timeout S            seconds a request may take in all (default 600; 0: none)\n"
            "  --keep-alive D         how long an unused model stays loaded: 5m, 1h30m, seconds,\n"
            "                         0 (unload at once) or -1 (never); default 5m\n"
            "  --draft [NAME=]FILE    speculative decoding: FILE.gguf, a small model of the same\n"
            "                         vocabulary (checked at start), guesses tokens that model\n"
            "                         NAME (or every model) checks in one batch; greedy output\n"
            "                         is unchanged. Requests use it unless they ask for lookup\n"
            "                         (options.lookup) or say options.draft false\n"
            "  --chat-template [NAME=]FAMILY\n"
            "                         use FAMILY (llama2 llama3 chatml mistral gemma phi3 zephyr\n"
            "                         plain) for model NAME, or for all models\n"
            "  --http-threads N       HTTP worker threads (default 4)\n"
            "  --origins LIST         browser origins allowed to call the API besides the\n"
            "                         defaults (http(s)://localhost, 127.0.0.1, 0.0.0.0 on any\n"
            "                         port, app://*, file://*, tauri://*, vscode-webview://*,\n"
            "                         vscode-file://*), comma-separated, '*' a wildcard, \"*\"\n"
            "                         any; added to $KVANT_ORIGINS. Others get 403\n"
            "  --allowed-hosts LIST   Host names the server answers to besides localhost,\n"
            "                         this machine's name and --host (\".example.com\": it and\n"
            "                         its subdomains; \"*\": any); others get 403 (DNS rebinding)\n"
            "  --header-timeout S     seconds a request's headers may take to arrive, from the\n"
            "                         connection's start or its previous reply (default 10);\n"
            "                         a body may take that plus 1 s per 64 KiB\n"
            "  --max-connections N    client connections at once (default 4096; more wait)\n"
            "  --max-conn-per-ip N    connections from one address (default 256; 0: no limit)\n"
            "  --db PATH              key and audit database (default $KVANT_HOME/kvant.db or\n"
            "                         ~/.kvant/kvant.db, used when it exists); with keys in it\n"
            "                         every API request needs Authorization: Bearer KEY\n"
            "  --insecure-no-auth     allow a non-loopback --host without any API key\n"
            "  --audit-content        keep request bodies (prompts) in the audit log\n"
            "  --shutdown-timeout S   on SIGTERM/SIGINT, seconds running requests may take to\n"
            "                         finish before they end with an error (default 30); a\n"
            "                         second signal ends them at once\n\n"
            "Models load on first use and unload after their keep_alive. A request's \"format\":\n"
            "\"json\" (OpenAI: \"response_format\": {\"type\": \"json_object\"}) constrains sampling\n"
            "so the reply is one JSON object (Ollama's rule) and generation stops when it\n"
            "closes; a reply cut by num_predict/max_tokens (done_reason \"length\") is\n"
            "incomplete. A JSON schema as the format is accepted but only the object is\n"
            "enforced, not the schema's properties or types.\n");
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

#define MAX_TEMPLATES 64

typedef struct {
    kv_serve_params p;
    double shutdown_timeout_s;
    const char *origins; // --origins
    kv_serve_model models[KV_SERVE_MAX_MODELS];
    char *templates[MAX_TEMPLATES]; // "NAME=FAMILY" options, applied after parsing
    int n_templates;
    char *drafts[MAX_TEMPLATES]; // --draft [NAME=]FILE options, applied after parsing
    int n_drafts;
    const char *db;      // --db
    bool insecure;       // --insecure-no-auth
    bool audit_content;  // --audit-content
    bool store;          // --store
    uint64_t blob_max;   // --max-blob
    bool store_readonly; // --ollama-store
} serve_opts;

// --store: adds each model of the store with a name without '/' (the registry's
// names have none) as a --model. The strings live as long as the process.
static int add_store_models(serve_opts *o) {
    char dir[4096];
    kv_err err;
    kv__manifest *v = NULL;
    size_t n = 0;
    if (kv__mstore_default_dir(dir, sizeof dir, &err) != KV_OK ||
        kv__mstore_list(dir, &v, &n, &err) != KV_OK)
        return kv_cli_fail("serve", &err);
    for (size_t i = 0; i < n; i++) {
        char name[KV__MNAME_TEXT_MAX], path[4096];
        kv__mname_display(&v[i].name, name, sizeof name);
        if (strchr(name, '/') || kv__mstore_model_path(dir, name, path, sizeof path, &err) != KV_OK) {
            fprintf(stderr, "kvant serve: --store: skipping '%s'%s%s\n", name,
                    strchr(name, '/') ? " (a name with '/')" : ": ",
                    strchr(name, '/') ? "" : err.msg);
            continue;
        }
        if (o->p.n_models >= KV_SERVE_MAX_MODELS)
            break;
        char *nm = strdup(name), *pt = strdup(path);
        if (!nm || !pt) {
            free(nm), free(pt), free(v);
            return kv_cli_fail("serve", &(kv_err){KV_ERR_NOMEM, "out of memory"});
        }
        o->models[o->p.n_models++] = (kv_serve_model){nm, pt, NULL, NULL};
    }
    free(v);
    return 0;
}

// Splits "NAME=FILE" in place.
static bool split_pair(char *arg, char **name, char **value) {
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return false;
    *eq = '\0';
    *name = arg;
    *value = eq + 1;
    return true;
}

// The options args[0..n) of --chat-template or --draft: VALUE sets *all (for every model);
// NAME=VALUE sets the field at offset field of --model NAME's kv_serve_model. Returns the
// name of a model no --model gives, or NULL.
static const char *apply_pairs(serve_opts *o, char **args, int n, const char **all,
                               size_t field) {
    for (int i = 0; i < n; i++) {
        char *name, *value;
        if (!split_pair(args[i], &name, &value)) {
            *all = args[i];
            continue;
        }
        int k = 0;
        while (k < o->p.n_models && strcmp(o->models[k].name, name) != 0)
            k++;
        if (k == o->p.n_models)
            return name;
        *(const char **)((char *)&o->models[k] + field) = value;
    }
    return NULL;
}

// One option at argv[*i]; returns 0 when taken, 2 after a usage error.
static int take_option(serve_opts *o, int argc, char **argv, int *i) {
    const char *opt = argv[*i];
    if (*i + 1 >= argc)
        return kv_cli_usage_error("serve", "%s needs a value", opt);
    char *val = argv[++*i];
    long n;
    double d;
    kv_serve_params *p = &o->p;
    if (strcmp(opt, "--host") == 0) {
        p->host = val;
    } else if (strcmp(opt, "--db") == 0) {
        o->db = val;
    } else if (strcmp(opt, "--port") == 0 && parse_long(val, 0, 65535, &n)) {
        p->port = (uint16_t)n;
    } else if (strcmp(opt, "--models") == 0) {
        p->models_dir = val;
    } else if (strcmp(opt, "--model") == 0) {
        char *name, *file;
        if (p->n_models >= KV_SERVE_MAX_MODELS || !split_pair(val, &name, &file))
            return kv_cli_usage_error("serve", "--model wants NAME=FILE.gguf, got '%s'", val);
        o->models[p->n_models++] = (kv_serve_model){name, file, NULL, NULL};
    } else if (strcmp(opt, "--parallel") == 0 && parse_long(val, 1, KV_SERVE_MAX_PARALLEL, &n)) {
        p->n_parallel = (int32_t)n;
    } else if (strcmp(opt, "--ctx") == 0 && parse_long(val, 0, INT32_MAX, &n)) {
        p->n_ctx = (int32_t)n;
    } else if (strcmp(opt, "--kv-cells") == 0 && parse_long(val, 0, LONG_MAX, &n)) {
        p->n_kv_cells = (int64_t)n;
    } else if (kv_cli_is_repack_opt(opt)) {
        int rc = kv_cli_repack_opt("serve", opt, val);
        if (rc)
            return rc;
    } else if (strcmp(opt, "--cache-type-k") == 0 || strcmp(opt, "--cache-type-v") == 0) {
        int rc = kv_cli_cache_type("serve", opt, val, opt[13] == 'k' ? &p->type_k : &p->type_v);
        if (rc)
            return rc;
    } else if (strcmp(opt, "--threads") == 0 && parse_long(val, 0, KV_THREADPOOL_MAX_THREADS, &n)) {
        p->n_threads = (int32_t)n;
    } else if (strcmp(opt, "--http-threads") == 0 && parse_long(val, 1, 256, &n)) {
        p->n_http_threads = (int32_t)n;
    } else if (strcmp(opt, "--max-body") == 0 && parse_long(val, 1024, LONG_MAX, &n)) {
        p->body_max = (size_t)n;
    } else if (strcmp(opt, "--max-blob") == 0 && parse_long(val, 1, LONG_MAX, &n)) {
        o->blob_max = (uint64_t)n;
    } else if (strcmp(opt, "--queue") == 0 && parse_long(val, 0, KV_SERVE_MAX_QUEUE, &n)) {
        p->queue_max = (int32_t)n;
    } else if (strcmp(opt, "--timeout") == 0 && parse_double(val, &d) && d >= 0) {
        p->timeout_s = d;
    } else if (strcmp(opt, "--keep-alive") == 0) {
        kv_err err;
        if (kv_serve_parse_duration(val, &p->keep_alive_s, &err) != KV_OK)
            return kv_cli_usage_error("serve", "--keep-alive: %s", err.msg);
    } else if (strcmp(opt, "--origins") == 0) {
        o->origins = val;
    } else if (strcmp(opt, "--allowed-hosts") == 0) {
        p->allowed_hosts = val;
    } else if (strcmp(opt, "--header-timeout") == 0 && parse_double(val, &d) && d > 0 &&
               d <= 3600) {
        p->header_timeout_s = d;
    } else if (strcmp(opt, "--max-connections") == 0 &&
               parse_long(val, 1, KV_SERVE_MAX_CONNECTIONS, &n)) {
        p->max_connections = (int32_t)n;
    } else if (strcmp(opt, "--max-conn-per-ip") == 0 &&
               parse_long(val, 0, KV_SERVE_MAX_CONNECTIONS, &n)) {
        p->max_conn_per_ip = (int32_t)n;
    } else if (strcmp(opt, "--shutdown-timeout") == 0 && parse_double(val, &d) && d >= 0 &&
               d <= 86400) {
        o->shutdown_timeout_s = d;
    } else if (strcmp(opt, "--chat-template") == 0 && o->n_templates < MAX_TEMPLATES) {
        o->templates[o->n_templates++] = val;
    } else if (strcmp(opt, "--draft") == 0 && o->n_drafts < MAX_TEMPLATES) {
        o->drafts[o->n_drafts++] = val;
    } else {
        return kv_cli_usage_error("serve", "bad value '%s' for %s (or unknown option)", val, opt);
    }
    return 0;
}

static void log_line(void *user, const char *line) {
    (void)user;
    fprintf(stderr, "kvant serve: %s\n", line);
}

// Raises the soft limit on open files towards the hard one, so that
// --max-connections sockets fit (the server lowers its limit to what fits).
static void raise_nofile(int32_t max_connections) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)max_connections + 256;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want) ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// "$KVANT_ORIGINS,--origins" (either may be absent); NULL when both are.
static char *join_origins(const char *opt) {
    const char *env = getenv("KVANT_ORIGINS");
    if (env && !*env)
        env = NULL;
    if (!env && !opt)
        return NULL;
    size_t n = (env ? strlen(env) : 0) + (opt ? strlen(opt) : 0) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s", env ? env : "", env && opt ? "," : "", opt ? opt : "");
    return out;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *sig_name(int sig) {
    return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

// After the first signal: stop accepting, wait for running requests until they
// are done, the timeout passes or another signal comes.
static void drain(kv_serve *s, const sigset_t *set, double timeout_s) {
    kv_serve_quiesce(s);
    int busy = kv_serve_busy(s);
    if (busy == 0)
        return;
    fprintf(stderr,
            "kvant serve: waiting up to %g s for %d running request(s); signal again to "
            "stop now\n",
            timeout_s, busy);
    double t_end = now_s() + timeout_s;
    while ((busy = kv_serve_busy(s)) > 0) {
        double left = t_end - now_s();
        if (left <= 0) {
            fprintf(stderr, "kvant serve: shutdown timeout: ending %d request(s)\n", busy);
            return;
        }
        if (left > 0.05)
            left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0) {
            fprintf(stderr, "kvant serve: %s again: ending %d request(s) now\n", sig_name(sig),
                    busy);
            return;
        }
    }
}

int kv_cli_serve(int argc, char **argv) {
    static serve_opts o; // large (the model table); one server per process
    memset(&o, 0, sizeof o);
    o.p = kv_serve_default_params();
    o.shutdown_timeout_s = 30;
    o.p.models = o.models;
    o.p.log = log_line;
    for (int i = 1; i < argc; i++) {
        if (kv_cli_is_help(argv[i])) {
            help(stdout);
            return 0;
        }
        if (strncmp(argv[i], "--", 2) != 0)
            return kv_cli_usage_error("serve", "unexpected argument '%s'", argv[i]);
        if (strcmp(argv[i], "--store") == 0) {
            o.store = true;
            continue;
        }
        if (strcmp(argv[i], "--ollama-store") == 0) { // --store over DIR, read only
            struct stat sb;
            if (i + 1 >= argc || stat(argv[i + 1], &sb) != 0 || !S_ISDIR(sb.st_mode))
                return kv_cli_usage_error("serve", "--ollama-store needs an existing folder");
            setenv("KVANT_MODELS", argv[++i], 1);
            o.store = o.store_readonly = true;
            continue;
        }
        if (strcmp(argv[i], "--insecure-no-auth") == 0 || strcmp(argv[i], "--audit-content") == 0) {
            *(argv[i][2] == 'i' ? &o.insecure : &o.audit_content) = true;
            continue;
        }
        int rc = take_option(&o, argc, argv, &i);
        if (rc != 0)
            return rc;
    }
    if (o.store) {
        int rc = add_store_models(&o);
        if (rc == 0)
            rc = kv_cli_serve_mstore(&o.p, o.blob_max, o.store_readonly);
        if (rc != 0)
            return rc;
    }
    // --draft FILE: for every model; --draft NAME=FILE: for --model NAME
    const char *unknown = apply_pairs(&o, o.drafts, o.n_drafts, &o.p.draft_all,
                                      offsetof(kv_serve_model, draft));
    if (unknown)
        return kv_cli_usage_error("serve", "--draft names model '%s', which no --model gives",
                                  unknown);
    unknown = apply_pairs(&o, o.templates, o.n_templates, &o.p.template_all,
                          offsetof(kv_serve_model, template));
    if (unknown)
        return kv_cli_usage_error("serve", "--chat-template names model '%s', which no --model "
                                  "gives", unknown);
    static kv_cli_serve_store store; // the hooks' user: lives as long as the server
    store.audit_content = o.audit_content;
    int src = kv_cli_serve_store_open(&store, o.db, o.insecure, &o.p);
    if (src != 0)
        return src;
    char *origins = join_origins(o.origins);
    o.p.origins = origins;
    raise_nofile(o.p.max_connections);
    // Signals go to sigwait below: block them before any server thread starts.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    kv_serve *s = NULL;
    kv_err err;
    kv_status st = kv_serve_start(&o.p, &s, &err);
    free(origins);
    if (st != KV_OK) {
        kv_cli_serve_store_close(&store);
        return kv_cli_fail("serve", &err);
    }
    const char *host = o.p.host;
    bool v6 = strchr(host, ':') != NULL;
    printf("kvant serve: listening on http://%s%s%s:%u\n", v6 ? "[" : "", host, v6 ? "]" : "",
           (unsigned)kv_serve_port(s));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "kvant serve: %s, shutting down\n", sig_name(sig));
    drain(s, &set, o.shutdown_timeout_s);
    kv_serve_stop(s);
    kv_cli_serve_store_close(&store);
    fprintf(stderr, "kvant serve: stopped\n");
    return 0;
}
