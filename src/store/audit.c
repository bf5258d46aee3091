// The audit log: a hash chain of entries in SQLite, and its head file.
#define _POSIX_C_SOURCE 200809L // strnlen, strdup, st_mtim, clock_gettime
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kvant/kv_core.h"

static const char ZERO_HASH[] = "0000000000000000000000000000000000000000000000000000000000000000";

static void put(EVP_MD_CTX *c, const char *s) {
    EVP_DigestUpdate(c, s, strlen(s));
}

static void put_int(EVP_MD_CTX *c, const char *name, int64_t v) {
    char b[96];
    snprintf(b, sizeof b, "%s=%" PRId64 "\n", name, v);
    put(c, b);
}

static void put_str(EVP_MD_CTX *c, const char *name, const char *s) {
    char b[96];
    if (!s)
        s = "";
    snprintf(b, sizeof b, "%s=%zu:", name, strlen(s));
    put(c, b);
    put(c, s);
    put(c, "\n");
}

void kv__audit_hash(const kv__audit_entry *e, char out[65]) {
    uint8_t h[32];
    unsigned n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(c);
        memset(out, 'x', 64); // matches no stored hash, so verify fails rather than passes
        out[64] = '\0';
        return;
    }
    put(c, "kvant-audit-v1\n");
    put(c, "prev=");
    EVP_DigestUpdate(c, e->prev, strnlen(e->prev, 64));
    put(c, "\n");
    put_int(c, "id", e->id);
    put_int(c, "time_us", e->time_us);
    put_str(c, "who", e->who);
    put_str(c, "action", e->action);
    put_str(c, "model", e->model);
    put_str(c, "client", e->client);
    put_int(c, "status", e->status);
    put_int(c, "tokens_in", e->tokens_in);
    put_int(c, "tokens_out", e->tokens_out);
    put_int(c, "duration_us", e->duration_us);
    if (e->content)
        put_str(c, "content", e->content);
    else
        put(c, "content=-\n");
    EVP_DigestFinal_ex(c, h, &n);
    EVP_MD_CTX_free(c);
    kv__hex(h, 32, out);
}

kv_status kv__audit_head_path(const kv__db *db, char *out, size_t cap, kv_err *err) {
    int n = snprintf(out, cap, "%s.audit-head", kv__db_path(db));
    if (n < 0 || (size_t)n >= cap)
        return KV_FAIL(err, KV_ERR_INVALID, "the head file's path is too long");
    return KV_OK;
}

// Replaces the head file with "id hash\n" (temporary file, then rename).
static kv_status write_head(kv__db *db, int64_t id, const char *hash, kv_err *err) {
    char path[4200], tmp[4300];
    kv_status st = kv__audit_head_path(db, path, sizeof path, err);
    if (st != KV_OK)
        return st;
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    int slot;
    int fd = kv_tmp_mkstemp(tmp, &slot, err); // mode 0600, as the head file has
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
            kv_tmp_untrack(slot);
        }
        return fd >= 0 ? KV_FAIL(err, KV_ERR_IO, "cannot write %s: %s", tmp, strerror(e))
                       : (err ? err->status : KV_ERR_IO);
    }
    bool ok = fprintf(f, "%" PRId64 " %s\n", id, hash) > 0;
    ok = fflush(f) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        kv_tmp_untrack(slot);
        return KV_FAIL(err, KV_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    kv_tmp_untrack(slot);
    return KV_OK;
}

// Reads the head file: *id 0 and hash "" when it is missing.
static kv_status read_head(kv__db *db, int64_t *id, char hash[65], kv_err *err) {
    char path[4200];
    *id = 0;
    hash[0] = '\0';
    kv_status st = kv__audit_head_path(db, path, sizeof path, err);
    if (st != KV_OK)
        return st;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return KV_OK;
        return KV_FAIL(err, KV_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    }
    char line[160];
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    char h[80];
    if (!ok || sscanf(line, "%" SCNd64 " %70s", id, h) != 2 || strlen(h) != 64 || *id < 1)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: not a head line (\"ID HASH\")", path);
    memcpy(hash, h, 65);
    return KV_OK;
}

static kv_status exec(kv__db *db, const char *sql, kv_err *err) {
    if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
        return kv__db_fail(db, sql, err);
    return KV_OK;
}

kv_status kv__audit_append(kv__db *db, kv__audit_entry *e, kv_err *err) {
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *last = NULL, *ins = NULL;
    kv_status st = exec(db, "BEGIN IMMEDIATE", err);
    bool in_tx = st == KV_OK;
    if (st == KV_OK)
        st = kv__db_prepare(db, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", &last, err);
    if (st == KV_OK) {
        int rc = sqlite3_step(last);
        e->id = 1;
        memcpy(e->prev, ZERO_HASH, 65);
        if (rc == SQLITE_ROW) {
            e->id = sqlite3_column_int64(last, 0) + 1;
            const char *h = (const char *)sqlite3_column_text(last, 1);
            snprintf(e->prev, sizeof e->prev, "%s", h ? h : "");
        } else if (rc != SQLITE_DONE) {
            st = kv__db_fail(db, "cannot read the audit log", err);
        }
    }
    if (st == KV_OK) {
        kv__audit_hash(e, e->hash);
        st = kv__db_prepare(db,
                            "INSERT INTO audit(id, time_us, who, action, model, client, status, "
                            "tokens_in, tokens_out, duration_us, content, prev, hash) "
                            "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            &ins, err);
    }
    if (st == KV_OK) {
        sqlite3_bind_int64(ins, 1, e->id);
        sqlite3_bind_int64(ins, 2, e->time_us);
        sqlite3_bind_text(ins, 3, e->who ? e->who : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, e->action ? e->action : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 5, e->model ? e->model : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 6, e->client ? e->client : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 7, e->status);
        sqlite3_bind_int64(ins, 8, e->tokens_in);
        sqlite3_bind_int64(ins, 9, e->tokens_out);
        sqlite3_bind_int64(ins, 10, e->duration_us);
        if (e->content)
            sqlite3_bind_text(ins, 11, e->content, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(ins, 11);
        sqlite3_bind_text(ins, 12, e->prev, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 13, e->hash, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            st = kv__db_fail(db, "cannot append to the audit log", err);
    }
    sqlite3_finalize(last);
    sqlite3_finalize(ins);
    // The head goes before the commit, inside the transaction: an entry whose head
    // cannot be written is rolled back (so the log holds no request that failed
    // for it), and if the commit fails the old head is put back.
    if (st == KV_OK)
        st = write_head(db, e->id, e->hash, err);
    if (st == KV_OK && (st = exec(db, "COMMIT", err)) != KV_OK) {
        kv_err ignored;
        if (e->id > 1)
            write_head(db, e->id - 1, e->prev, &ignored);
    }
    if (st != KV_OK && in_tx)
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&db->mu);
    return st;
}

static void row_entry(sqlite3_stmt *s, kv__audit_entry *e) {
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(s, 0);
    e->time_us = sqlite3_column_int64(s, 1);
    e->who = (const char *)sqlite3_column_text(s, 2);
    e->action = (const char *)sqlite3_column_text(s, 3);
    e->model = (const char *)sqlite3_column_text(s, 4);
    e->client = (const char *)sqlite3_column_text(s, 5);
    e->status = sqlite3_column_int64(s, 6);
    e->tokens_in = sqlite3_column_int64(s, 7);
    e->tokens_out = sqlite3_column_int64(s, 8);
    e->duration_us = sqlite3_column_int64(s, 9);
    e->content = sqlite3_column_type(s, 10) == SQLITE_NULL
                     ? NULL
                     : (const char *)sqlite3_column_text(s, 10);
    const char *p = (const char *)sqlite3_column_text(s, 11);
    const char *h = (const char *)sqlite3_column_text(s, 12);
    snprintf(e->prev, sizeof e->prev, "%s", p ? p : "");
    snprintf(e->hash, sizeof e->hash, "%s", h ? h : "");
}

#define COLS                                                                                   \
    "SELECT id, time_us, who, action, model, client, status, tokens_in, tokens_out, "          \
    "duration_us, content, prev, hash FROM audit "

kv_status kv__audit_each(kv__db *db, int64_t since_us, const char *key, kv__audit_fn fn,
                         void *user, kv_err *err) {
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *s = NULL;
    kv_status st = kv__db_prepare(
        db, COLS "WHERE time_us >= ? AND (?2 IS NULL OR who = ?2) ORDER BY id", &s, err);
    if (st == KV_OK) {
        sqlite3_bind_int64(s, 1, since_us);
        if (key)
            sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, 2);
        int rc;
        kv__audit_entry e;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            row_entry(s, &e);
            if (!fn(user, &e)) {
                rc = SQLITE_DONE;
                break;
            }
        }
        if (rc != SQLITE_DONE)
            st = kv__db_fail(db, "cannot read the audit log", err);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&db->mu);
    return st;
}

kv_status kv__audit_verify(kv__db *db, int64_t *n_ok, int64_t *bad_id, kv_err *err) {
    *n_ok = 0;
    *bad_id = 0;
    int64_t head_id;
    char head_hash[65];
    kv_status st = read_head(db, &head_id, head_hash, err);
    if (st != KV_OK)
        return st;
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *s = NULL;
    st = kv__db_prepare(db, COLS "ORDER BY id", &s, err);
    char prev[65];
    memcpy(prev, ZERO_HASH, 65);
    int64_t want_id = 1;
    int rc = SQLITE_DONE;
    while (st == KV_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        kv__audit_entry e;
        row_entry(s, &e);
        char h[65];
        kv__audit_hash(&e, h);
        if (e.id != want_id) {
            *bad_id = e.id;
            st = KV_FAIL(err, KV_ERR_FORMAT,
                         "audit entry %" PRId64 ": expected id %" PRId64 " (entries deleted "
                         "before it)",
                         e.id, want_id);
        } else if (strcmp(e.prev, prev) != 0) {
            *bad_id = e.id;
            st = KV_FAIL(err, KV_ERR_FORMAT,
                         "audit entry %" PRId64 ": its previous hash does not match entry %" PRId64,
                         e.id, e.id - 1);
        } else if (strcmp(h, e.hash) != 0) {
            *bad_id = e.id;
            st = KV_FAIL(err, KV_ERR_FORMAT,
                         "audit entry %" PRId64 ": its hash does not match its fields (edited)",
                         e.id);
        } else {
            memcpy(prev, e.hash, 65);
            want_id++;
            (*n_ok)++;
        }
    }
    if (st == KV_OK && rc != SQLITE_DONE)
        st = kv__db_fail(db, "cannot read the audit log", err);
    sqlite3_finalize(s);
    pthread_mutex_unlock(&db->mu);
    if (st != KV_OK)
        return st;
    int64_t last = want_id - 1;
    if (head_id == 0 && last > 0)
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "the audit head file is missing, but the log has %" PRId64 " entries",
                       last);
    if (head_id > last) {
        *bad_id = last + 1;
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "audit entry %" PRId64 ": missing; the head file says the log ends at entry "
                       "%" PRId64 " (entries deleted from the end)",
                       last + 1, head_id);
    }
    if (head_id == last && last > 0 && strcmp(head_hash, prev) != 0) {
        *bad_id = last;
        return KV_FAIL(err, KV_ERR_FORMAT,
                       "audit entry %" PRId64 ": its hash differs from the head file's", last);
    }
    // head_id < last: entries appended after the head was written (a crash between
    // the commit and the rename); they verified against the chain, so they stand.
    return KV_OK;
}
