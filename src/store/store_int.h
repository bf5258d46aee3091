// Internals of the store shared by its files.
#ifndef KV_STORE_INT_H
#define KV_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

struct kv__db {
    sqlite3 *h;
    pthread_mutex_t mu; // one statement at a time over h
    char *path;
};

// KV_ERR_IO naming what failed and SQLite's message.
kv_status kv__db_fail(kv__db *db, const char *what, kv_err *err);
// Prepares sql; on failure KV_ERR_IO.
kv_status kv__db_prepare(kv__db *db, const char *sql, sqlite3_stmt **st, kv_err *err);
// Lowercase hex of n bytes into out (2n+1 bytes).
void kv__hex(const uint8_t *p, size_t n, char *out);

// Reads every key row, by name; their SHA-256 into *hashes when non-NULL.
kv_status kv__keys_read(kv__db *db, kv__key_info **out, uint8_t (**hashes)[32], size_t *n,
                        kv_err *err);

#endif
