// kvant keys: create, list and revoke the server's API keys (in kvant.db).
#define _POSIX_C_SOURCE 200809L // gmtime_r
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant keys create --name NAME --role ROLE [--db PATH]\n"
            "       kvant keys list [--db PATH]\n"
            "       kvant keys revoke NAME [--db PATH]\n\n"
            "API keys for 'kvant serve'. Once a key exists the server wants\n"
            "Authorization: Bearer KEY on every API request. A key is 256 random bits, printed\n"
            "once by create; the database keeps only its SHA-256. Roles, each with the rights of\n"
            "those before it:\n"
            "  viewer    list models (/api/tags, /v1/models), show, version, ps, metrics\n"
            "  user      + generate, chat, embeddings and the OpenAI endpoints\n"
            "  operator  + pull, create, copy, delete, push\n"
            "  admin     + keys and audit\n"
            "NAME: 1-64 letters, digits, '.', '_', '-' (a letter or digit first).\n"
            "--db PATH: the database (default $KVANT_HOME/kvant.db, else ~/.kvant/kvant.db;\n"
            "created 0600 when missing).\n");
}

static void fmt_time(int64_t t, char *out, size_t cap) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, cap, "-");
}

int kv_cli_keys(int argc, char **argv) {
    if (argc < 2 || kv_cli_is_help(argv[1])) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    const char *db_path = NULL, *name = NULL, *role = NULL, *pos = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (kv_cli_is_help(a)) {
            help(stdout);
            return 0;
        }
        const char **slot = strcmp(a, "--db") == 0     ? &db_path
                            : strcmp(a, "--name") == 0 ? &name
                            : strcmp(a, "--role") == 0 ? &role
                                                       : NULL;
        if (slot) {
            if (i + 1 >= argc)
                return kv_cli_usage_error("keys", "%s needs a value", a);
            *slot = argv[++i];
        } else if (a[0] == '-' || pos) {
            return kv_cli_usage_error("keys", "unexpected argument '%s'", a);
        } else {
            pos = a;
        }
    }
    kv_err err;
    kv__db *db = NULL;
    int rc = 0;
    if (strcmp(sub, "create") == 0) {
        if (!name || !role || pos)
            return kv_cli_usage_error("keys", "create wants --name NAME --role ROLE");
        kv__role r = kv__role_parse(role);
        if (r == KV__ROLE_NONE)
            return kv_cli_usage_error("keys", "--role must be viewer, user, operator or admin, "
                                      "got '%s'", role);
        if (kv__key_name_check(name, &err) != KV_OK)
            return kv_cli_usage_error("keys", "--name: %s", err.msg);
        if ((rc = kv_cli_db_open("keys", db_path, true, &db)) != 0)
            return rc;
        char key[KV__KEY_TEXT_MAX];
        if (kv__keys_create(db, name, r, key, &err) != KV_OK) {
            rc = kv_cli_fail("keys", &err);
        } else {
            printf("%s\n", key);
            fprintf(stderr, "kvant keys: created key '%s' (role %s) in %s; it is shown only "
                            "this once\n", name, kv__role_name(r), kv__db_path(db));
            memset(key, 0, sizeof key);
        }
    } else if (strcmp(sub, "list") == 0) {
        if (name || role || pos)
            return kv_cli_usage_error("keys", "list takes only --db");
        if ((rc = kv_cli_db_open("keys", db_path, false, &db)) != 0)
            return rc;
        kv__key_info *k = NULL;
        size_t n = 0;
        if (kv__keys_list(db, &k, &n, &err) != KV_OK) {
            rc = kv_cli_fail("keys", &err);
        } else {
            printf("%-24s %-9s %-21s %s\n", "NAME", "ROLE", "CREATED", "STATUS");
            for (size_t i = 0; i < n; i++) {
                char c[32], r[32], st[48];
                fmt_time(k[i].created, c, sizeof c);
                fmt_time(k[i].revoked, r, sizeof r);
                snprintf(st, sizeof st, k[i].revoked ? "revoked %s" : "active", r);
                printf("%-24s %-9s %-21s %s\n", k[i].name, kv__role_name(k[i].role), c, st);
            }
        }
        free(k);
    } else if (strcmp(sub, "revoke") == 0) {
        if (!pos || name || role)
            return kv_cli_usage_error("keys", "revoke wants the key's NAME");
        if ((rc = kv_cli_db_open("keys", db_path, false, &db)) != 0)
            return rc;
        if (kv__keys_revoke(db, pos, &err) != KV_OK)
            rc = kv_cli_fail("keys", &err);
        else
            fprintf(stderr, "kvant keys: revoked key '%s'\n", pos);
    } else {
        return kv_cli_usage_error("keys", "unknown subcommand '%s' (create, list, revoke)", sub);
    }
    kv__db_close(db);
    return rc;
}
