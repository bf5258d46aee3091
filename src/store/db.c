// Opening kvant.db: its path, file mode and tables.
#define _POSIX_C_SOURCE 200809L // strnlen, strdup, st_mtim, clock_gettime
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// Waits this long for another writer (another server, a CLI command) to finish.
#define BUSY_TIMEOUT_MS 10000

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS keys("
    " name TEXT PRIMARY KEY NOT NULL,"
    " role TEXT NOT NULL,"
    " hash BLOB NOT NULL UNIQUE,"
    " created INTEGER NOT NULL,"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS audit("
    " id INTEGER PRIMARY KEY NOT NULL,"
    " time_us INTEGER NOT NULL,"
    " who TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " model TEXT NOT NULL,"
    " client TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " tokens_in INTEGER NOT NULL,"
    " tokens_out INTEGER NOT NULL,"
    " duration_us INTEGER NOT NULL,"
    " content TEXT,"
    " prev TEXT NOT NULL,"
    " hash TEXT NOT NULL);";

kv_status kv__db_default_path(char *out, size_t cap, kv_err *err) {
    const char *home = getenv("KVANT_HOME");
    int n;
    if (home && *home)
        n = snprintf(out, cap, "%s/kvant.db", home);
    else if ((home = getenv("HOME")) && *home)
        n = snprintf(out, cap, "%s/.kvant/kvant.db", home);
    else
        return KV_FAIL(err, KV_ERR_INVALID, "neither KVANT_HOME nor HOME is set: give --db PATH");
    if (n < 0 || (size_t)n >= cap)
        return KV_FAIL(err, KV_ERR_INVALID, "the database path is too long");
    return KV_OK;
}

kv_status kv__db_fail(kv__db *db, const char *what, kv_err *err) {
    return KV_FAIL(err, KV_ERR_IO, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

kv_status kv__db_prepare(kv__db *db, const char *sql, sqlite3_stmt **st, kv_err *err) {
    if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK)
        return kv__db_fail(db, "cannot prepare a statement", err);
    return KV_OK;
}

void kv__hex(const uint8_t *p, size_t n, char *out) {
    static const char D[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = D[p[i] >> 4];
        out[2 * i + 1] = D[p[i] & 15];
    }
    out[2 * n] = '\0';
}

// Creates path's folder (0700) when it is missing, and the file itself 0600,
// before SQLite opens it (SQLite would create it 0644 less the umask).
static kv_status create_file(const char *path, kv_err *err) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return KV_FAIL(err, KV_ERR_IO, "cannot create folder %s: %s", dir, strerror(errno));
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return KV_FAIL(err, KV_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    close(fd);
    return KV_OK;
}

kv_status kv__db_open(const char *path, bool create, kv__db **out, kv_err *err) {
    *out = NULL;
    if (!path || !*path || strlen(path) >= 4000)
        return KV_FAIL(err, KV_ERR_INVALID, "bad database path");
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (!create)
            return KV_FAIL(err, KV_ERR_IO, "no database at %s: %s", path, strerror(errno));
        kv_status st = create_file(path, err);
        if (st != KV_OK)
            return st;
    }
    kv__db *db = calloc(1, sizeof *db);
    if (!db || !(db->path = strdup(path))) {
        free(db);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory opening %s", path);
    }
    pthread_mutex_init(&db->mu, NULL);
    int rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        kv_status st = db->h ? kv__db_fail(db, "cannot open", err)
                             : KV_FAIL(err, KV_ERR_NOMEM, "out of memory opening %s", path);
        kv__db_close(db);
        return st;
    }
    sqlite3_busy_timeout(db->h, BUSY_TIMEOUT_MS);
    if (sqlite3_exec(db->h, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        kv_status st = kv__db_fail(db, "not a kvant database, or cannot create its tables", err);
        kv__db_close(db);
        return st;
    }
    *out = db;
    return KV_OK;
}

void kv__db_close(kv__db *db) {
    if (!db)
        return;
    sqlite3_close(db->h);
    pthread_mutex_destroy(&db->mu);
    free(db->path);
    free(db);
}

const char *kv__db_path(const kv__db *db) {
    return db->path;
}
