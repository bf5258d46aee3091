// API keys: roles, generation, hashing, and the keys table.
#define _DEFAULT_SOURCE // getrandom
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/sha.h>

static const char *const ROLE_NAMES[] = {"none", "viewer", "user", "operator", "admin"};

const char *kv__role_name(kv__role r) {
    return r >= KV__ROLE_NONE && r <= KV__ROLE_ADMIN ? ROLE_NAMES[r] : "none";
}

kv__role kv__role_parse(const char *s) {
    for (int r = KV__ROLE_VIEWER; r <= KV__ROLE_ADMIN; r++)
        if (s && strcmp(s, ROLE_NAMES[r]) == 0)
            return (kv__role)r;
    return KV__ROLE_NONE;
}

kv_status kv__key_name_check(const char *name, kv_err *err) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > KV__KEY_NAME_MAX)
        return KV_FAIL(err, KV_ERR_INVALID, "key name must be 1 to %d characters, got %zu",
                       KV__KEY_NAME_MAX, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
            return KV_FAIL(err, KV_ERR_INVALID,
                           "key name: byte %zu (0x%02x) is not allowed (letters, digits, '.', '_', "
                           "'-'; a letter or digit first)",
                           i, ch);
    }
    return KV_OK;
}

kv_status kv__key_generate(char out[KV__KEY_TEXT_MAX], kv_err *err) {
    static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t r[33]; // 32 random bytes, and one zero so 44 sextets come out even
    size_t got = 0;
    while (got < 32) {
        ssize_t n = getrandom(r + got, 32 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return KV_FAIL(err, KV_ERR_IO, "getrandom: %s", strerror(errno));
        got += (size_t)n;
    }
    r[32] = 0;
    char *o = out + strlen(KV__KEY_PREFIX);
    memcpy(out, KV__KEY_PREFIX, strlen(KV__KEY_PREFIX));
    size_t k = 0;
    for (size_t i = 0; i < 33; i += 3) {
        uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
        o[k++] = B64[v >> 18 & 63];
        o[k++] = B64[v >> 12 & 63];
        o[k++] = B64[v >> 6 & 63];
        o[k++] = B64[v & 63];
    }
    o[43] = '\0'; // 256 bits need 43 sextets; the 44th held only the padding zero
    memset(r, 0, sizeof r);
    return KV_OK;
}

void kv__key_hash(const char *key, size_t len, uint8_t out[32]) {
    SHA256((const unsigned char *)key, len, out);
}

kv_status kv__keys_create(kv__db *db, const char *name, kv__role role,
                          char key_out[KV__KEY_TEXT_MAX], kv_err *err) {
    kv_status st = kv__key_name_check(name, err);
    if (st != KV_OK)
        return st;
    if (role < KV__ROLE_VIEWER || role > KV__ROLE_ADMIN)
        return KV_FAIL(err, KV_ERR_INVALID, "role must be viewer, user, operator or admin");
    if ((st = kv__key_generate(key_out, err)) != KV_OK)
        return st;
    uint8_t h[32];
    kv__key_hash(key_out, strlen(key_out), h);
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *s = NULL;
    st = kv__db_prepare(db,
                        "INSERT INTO keys(name, role, hash, created, revoked) VALUES(?,?,?,?,0)",
                        &s, err);
    if (st == KV_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, kv__role_name(role), -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 3, h, 32, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
        int rc = sqlite3_step(s);
        if (rc == SQLITE_CONSTRAINT)
            st = KV_FAIL(err, KV_ERR_INVALID, "a key named '%s' exists already (revoked keys keep "
                         "their names)", name);
        else if (rc != SQLITE_DONE)
            st = kv__db_fail(db, "cannot store the key", err);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&db->mu);
    if (st != KV_OK)
        memset(key_out, 0, KV__KEY_TEXT_MAX);
    return st;
}

kv_status kv__keys_revoke(kv__db *db, const char *name, kv_err *err) {
    kv_status st = kv__key_name_check(name, err);
    if (st != KV_OK)
        return st;
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *s = NULL;
    st = kv__db_prepare(db, "UPDATE keys SET revoked = ? WHERE name = ? AND revoked = 0", &s, err);
    if (st == KV_OK) {
        int64_t now = (int64_t)time(NULL);
        sqlite3_bind_int64(s, 1, now > 0 ? now : 1);
        sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            st = kv__db_fail(db, "cannot revoke the key", err);
        else if (sqlite3_changes(db->h) == 0)
            st = KV_FAIL(err, KV_ERR_INVALID, "no active key named '%s'", name);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&db->mu);
    return st;
}

kv_status kv__keys_read(kv__db *db, kv__key_info **out, uint8_t (**hashes)[32], size_t *n,
                        kv_err *err) {
    *out = NULL;
    *n = 0;
    if (hashes)
        *hashes = NULL;
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *s = NULL;
    kv_status st = kv__db_prepare(
        db, "SELECT name, role, created, revoked, hash FROM keys ORDER BY name", &s, err);
    size_t cap = 0;
    kv__key_info *v = NULL;
    uint8_t(*hv)[32] = NULL;
    int rc;
    while (st == KV_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            kv__key_info *nv = realloc(v, cap * sizeof *v);
            uint8_t(*nh)[32] = realloc(hv, cap * sizeof *hv);
            if (nv)
                v = nv;
            if (nh)
                hv = nh;
            if (!nv || !nh) {
                st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory reading the keys");
                break;
            }
        }
        kv__key_info *k = &v[*n];
        memset(k, 0, sizeof *k);
        const char *name = (const char *)sqlite3_column_text(s, 0);
        snprintf(k->name, sizeof k->name, "%s", name ? name : "");
        k->role = kv__role_parse((const char *)sqlite3_column_text(s, 1));
        k->created = sqlite3_column_int64(s, 2);
        k->revoked = sqlite3_column_int64(s, 3);
        memset(hv[*n], 0, 32);
        if (sqlite3_column_bytes(s, 4) == 32)
            memcpy(hv[*n], sqlite3_column_blob(s, 4), 32);
        else
            k->role = KV__ROLE_NONE; // a damaged row matches nothing
        (*n)++;
    }
    if (st == KV_OK && rc != SQLITE_DONE)
        st = kv__db_fail(db, "cannot read the keys", err);
    sqlite3_finalize(s);
    pthread_mutex_unlock(&db->mu);
    if (st != KV_OK) {
        free(v);
        free(hv);
        *n = 0;
        return st;
    }
    *out = v;
    if (hashes)
        *hashes = hv;
    else
        free(hv);
    return KV_OK;
}

kv_status kv__keys_list(kv__db *db, kv__key_info **out, size_t *n, kv_err *err) {
    return kv__keys_read(db, out, NULL, n, err);
}
