// kvant audit: list, verify and export the server's audit log (in kvant.db).
#define _DEFAULT_SOURCE // timegm
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "store/store.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant audit list [--since TIME] [--key NAME] [--json] [--db PATH]\n"
            "       kvant audit verify [--db PATH]\n"
            "       kvant audit export [--db PATH]\n\n"
            "The audit log 'kvant serve' keeps of every request that generates or changes\n"
            "state (and of those refused 401/403): who (key name, or '-'), action, model,\n"
            "client address, status, tokens in/out, duration, time. Entries form a SHA-256\n"
            "hash chain, and the last one's id and hash are kept apart in DB.audit-head, so\n"
            "an edited, removed or added entry is found by verify (exit 1, naming the first\n"
            "broken entry; exit 0 and 'N entries verified' otherwise).\n"
            "  --since TIME   entries at or after TIME: 2026-01-31, 2026-01-31T12:00:00Z, or\n"
            "                 seconds since the epoch\n"
            "  --key NAME     entries of that key ('-' for those without one)\n"
            "  --json         one JSON object per line (as export)\n"
            "export writes every entry as JSON lines, with its hashes.\n");
}

// TIME as above, into microseconds since the epoch.
static bool parse_time(const char *s, int64_t *us) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!errno && end != s && !*end && v >= 0) {
        *us = (int64_t)v * 1000000;
        return true;
    }
    struct tm tm = {0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3)
        return false;
    if (s[n] == 'T' || s[n] == ' ') {
        int m = 0;
        if (sscanf(s + n + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &m) != 3)
            return false;
        n += 1 + m;
        if (s[n] == 'Z')
            n++;
    }
    if (s[n] || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *us = (int64_t)t * 1000000;
    return true;
}

static void fmt_time(int64_t us, char *out, size_t cap) {
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    char b[32];
    if (!gmtime_r(&t, &tm) || !strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm))
        snprintf(b, sizeof b, "?");
    snprintf(out, cap, "%s.%06dZ", b, (int)(us % 1000000));
}

static json_t *str_or_null(const char *s) {
    json_t *v = s ? json_string(s) : json_null();
    return v ? v : json_string("(not UTF-8)");
}

static bool print_json(void *user, const kv__audit_entry *e) {
    (void)user;
    char t[48];
    fmt_time(e->time_us, t, sizeof t);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(e->id));
    json_object_set_new(o, "time", json_string(t));
    json_object_set_new(o, "time_us", json_integer(e->time_us));
    json_object_set_new(o, "who", str_or_null(e->who));
    json_object_set_new(o, "action", str_or_null(e->action));
    json_object_set_new(o, "model", str_or_null(e->model));
    json_object_set_new(o, "client", str_or_null(e->client));
    json_object_set_new(o, "status", json_integer(e->status));
    json_object_set_new(o, "tokens_in", json_integer(e->tokens_in));
    json_object_set_new(o, "tokens_out", json_integer(e->tokens_out));
    json_object_set_new(o, "duration_us", json_integer(e->duration_us));
    json_object_set_new(o, "content", str_or_null(e->content));
    json_object_set_new(o, "prev", json_string(e->prev));
    json_object_set_new(o, "hash", json_string(e->hash));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s)
        printf("%s\n", s);
    free(s);
    return true;
}

static bool print_row(void *user, const kv__audit_entry *e) {
    (void)user;
    char t[48];
    fmt_time(e->time_us, t, sizeof t);
    printf("%-6" PRId64 " %-27s %-16s %-26s %-20s %-15s %3" PRId64 " %6" PRId64 " %6" PRId64
           " %9.3f\n",
           e->id, t, e->who, e->action, e->model[0] ? e->model : "-", e->client, e->status,
           e->tokens_in, e->tokens_out, (double)e->duration_us / 1e6);
    return true;
}

int kv_cli_audit(int argc, char **argv) {
    if (argc < 2 || kv_cli_is_help(argv[1])) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    const char *db_path = NULL, *since = NULL, *key = NULL;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (kv_cli_is_help(a)) {
            help(stdout);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            json = true;
            continue;
        }
        const char **slot = strcmp(a, "--db") == 0      ? &db_path
                            : strcmp(a, "--since") == 0 ? &since
                            : strcmp(a, "--key") == 0   ? &key
                                                        : NULL;
        if (!slot)
            return kv_cli_usage_error("audit", "unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return kv_cli_usage_error("audit", "%s needs a value", a);
        *slot = argv[++i];
    }
    bool is_list = strcmp(sub, "list") == 0;
    if (!is_list && strcmp(sub, "verify") != 0 && strcmp(sub, "export") != 0)
        return kv_cli_usage_error("audit", "unknown subcommand '%s' (list, verify, export)", sub);
    if (!is_list && (since || key || json))
        return kv_cli_usage_error("audit", "%s takes only --db", sub);
    int64_t since_us = 0;
    if (since && !parse_time(since, &since_us))
        return kv_cli_usage_error("audit", "--since: '%s' is not a time (2026-01-31, "
                                  "2026-01-31T12:00:00Z or seconds since the epoch)", since);
    kv__db *db = NULL;
    int rc = kv_cli_db_open("audit", db_path, false, &db);
    if (rc != 0)
        return rc;
    kv_err err;
    if (strcmp(sub, "verify") == 0) {
        int64_t n = 0, bad = 0;
        if (kv__audit_verify(db, &n, &bad, &err) != KV_OK) {
            rc = kv_cli_fail("audit", &err);
        } else {
            printf("%" PRId64 " entries verified\n", n);
        }
    } else {
        if (is_list && !json)
            printf("%-6s %-27s %-16s %-26s %-20s %-15s %3s %6s %6s %9s\n", "ID", "TIME", "WHO",
                   "ACTION", "MODEL", "CLIENT", "ST", "IN", "OUT", "SECONDS");
        if (kv__audit_each(db, since_us, key, json || !is_list ? print_json : print_row, NULL,
                           &err) != KV_OK)
            rc = kv_cli_fail("audit", &err);
    }
    kv__db_close(db);
    return rc;
}
