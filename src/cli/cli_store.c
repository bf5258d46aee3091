// The kvant command's use of the store: opening kvant.db, and the server's
// auth and audit hooks over it.
#define _POSIX_C_SOURCE 200809L // getaddrinfo
#include "cli/cli.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "store/store.h"

int kv_cli_db_open(const char *cmd, const char *path, bool create, kv__db **db) {
    char def[4096];
    kv_err err;
    if (!path) {
        if (kv__db_default_path(def, sizeof def, &err) != KV_OK)
            return kv_cli_fail(cmd, &err);
        path = def;
    }
    if (kv__db_open(path, create, db, &err) != KV_OK)
        return kv_cli_fail(cmd, &err);
    return 0;
}

static int auth_hook(void *user, const char *token, char *who, size_t who_cap) {
    kv_cli_serve_store *ss = user;
    if (!kv__keyring_active(ss->ring))
        return -1;
    char name[KV__KEY_NAME_MAX + 1];
    kv__role r = kv__keyring_lookup(ss->ring, token, name);
    snprintf(who, who_cap, "%s", name);
    return (int)r;
}

static kv_status audit_hook(void *user, const kv_serve_audit_rec *r, kv_err *err) {
    kv_cli_serve_store *ss = user;
    char action[300];
    snprintf(action, sizeof action, "%s %s", r->method, r->path);
    char *content = NULL;
    if (ss->audit_content && r->body) {
        content = strndup(r->body, r->body_len);
        if (!content)
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    }
    kv__audit_entry e = {
        .time_us = (int64_t)(r->time * 1e6),
        .who = r->who,
        .action = action,
        .model = r->model,
        .client = r->client,
        .status = r->status,
        .tokens_in = r->tokens_in,
        .tokens_out = r->tokens_out,
        .duration_us = (int64_t)(r->duration_s * 1e6),
        .content = content,
    };
    kv_status st = kv__audit_append(ss->db, &e, err);
    free(content);
    return st;
}

// Whether host names only loopback addresses.
static bool loopback(const char *host) {
    if (strcmp(host, "localhost") == 0)
        return true;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0)
        return false;
    bool all = ai != NULL;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            const struct sockaddr_in *in = (const void *)a->ai_addr;
            all = all && (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        } else if (a->ai_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const void *)a->ai_addr;
            all = all && memcmp(&in6->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback) == 0;
        } else {
            all = false;
        }
    }
    freeaddrinfo(ai);
    return all;
}

int kv_cli_serve_store_open(kv_cli_serve_store *ss, const char *db_path, bool insecure,
                            kv_serve_params *p) {
    char def[4096];
    kv_err err;
    bool open_it = db_path != NULL;
    if (!db_path && kv__db_default_path(def, sizeof def, &err) == KV_OK) {
        struct stat sb;
        open_it = stat(def, &sb) == 0;
        db_path = def;
    }
    if (open_it) {
        int rc = kv_cli_db_open("serve", db_path, true, &ss->db);
        if (rc != 0)
            return rc;
        if (kv__keyring_new(ss->db, &ss->ring, &err) != KV_OK) {
            kv_cli_serve_store_close(ss);
            return kv_cli_fail("serve", &err);
        }
        p->auth = auth_hook;
        p->audit = audit_hook;
        p->hook_user = ss;
    }
    bool keys = ss->ring && kv__keyring_active(ss->ring);
    const char *host = p->host ? p->host : "127.0.0.1";
    if (!keys && !loopback(host) && !insecure) {
        kv_cli_serve_store_close(ss);
        p->auth = NULL;
        p->audit = NULL;
        return kv_cli_usage_error("serve",
                                  "refusing to listen on %s without API keys: create one with "
                                  "'kvant keys create' (or give --db), or pass --insecure-no-auth",
                                  host);
    }
    if (ss->db)
        fprintf(stderr, "kvant serve: %s; audit log in %s%s\n",
                keys ? "API keys required" : "no API keys (no authentication)",
                kv__db_path(ss->db), ss->audit_content ? " (with request bodies)" : "");
    else
        fprintf(stderr, "kvant serve: no key database (%s): no authentication, no audit log\n",
                db_path ? db_path : "no default path");
    return 0;
}

void kv_cli_serve_store_close(kv_cli_serve_store *ss) {
    kv__keyring_free(ss->ring);
    kv__db_close(ss->db);
    ss->ring = NULL;
    ss->db = NULL;
}
