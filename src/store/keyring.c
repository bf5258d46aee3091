// The server's cached view of the keys: no SQL per request.
#define _POSIX_C_SOURCE 200809L // strnlen, strdup, st_mtim, clock_gettime
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>

struct kv__keyring {
    kv__db *db;
    pthread_mutex_t mu;
    kv__key_info *keys;
    uint8_t (*hashes)[32];
    size_t n;
    bool active;       // there are keys, or were since the ring was made
    double checked;    // monotonic time of the last look at the file
    struct timespec mtime;
    off_t size;
};

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Rereads the keys; under kr->mu. On failure the old keys stay.
static kv_status reload(kv__keyring *kr, kv_err *err) {
    kv__key_info *k;
    uint8_t(*h)[32];
    size_t n;
    kv_status st = kv__keys_read(kr->db, &k, &h, &n, err);
    if (st != KV_OK)
        return st;
    free(kr->keys);
    free(kr->hashes);
    kr->keys = k;
    kr->hashes = h;
    kr->n = n;
    if (n > 0)
        kr->active = true;
    return KV_OK;
}

// Reloads when the database file changed since the last look (at most every
// KV__KEYRING_RECHECK_S). Under kr->mu.
static void refresh(kv__keyring *kr) {
    double now = mono_now();
    if (now - kr->checked < KV__KEYRING_RECHECK_S)
        return;
    kr->checked = now;
    struct stat sb;
    if (stat(kv__db_path(kr->db), &sb) != 0)
        return;
    if (sb.st_mtim.tv_sec == kr->mtime.tv_sec && sb.st_mtim.tv_nsec == kr->mtime.tv_nsec &&
        sb.st_size == kr->size)
        return;
    kv_err e;
    if (reload(kr, &e) == KV_OK) {
        kr->mtime = sb.st_mtim;
        kr->size = sb.st_size;
    }
}

kv_status kv__keyring_new(kv__db *db, kv__keyring **out, kv_err *err) {
    kv__keyring *kr = calloc(1, sizeof *kr);
    if (!kr)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    kr->db = db;
    pthread_mutex_init(&kr->mu, NULL);
    struct stat sb;
    if (stat(kv__db_path(db), &sb) == 0) {
        kr->mtime = sb.st_mtim;
        kr->size = sb.st_size;
    }
    kv_status st = reload(kr, err);
    if (st != KV_OK) {
        kv__keyring_free(kr);
        return st;
    }
    kr->checked = mono_now();
    *out = kr;
    return KV_OK;
}

void kv__keyring_free(kv__keyring *kr) {
    if (!kr)
        return;
    pthread_mutex_destroy(&kr->mu);
    free(kr->keys);
    free(kr->hashes);
    free(kr);
}

bool kv__keyring_active(kv__keyring *kr) {
    pthread_mutex_lock(&kr->mu);
    refresh(kr);
    bool a = kr->active;
    pthread_mutex_unlock(&kr->mu);
    return a;
}

kv__role kv__keyring_lookup(kv__keyring *kr, const char *token, char name[KV__KEY_NAME_MAX + 1]) {
    name[0] = '\0';
    if (!token)
        return KV__ROLE_NONE;
    uint8_t h[32];
    kv__key_hash(token, strlen(token), h);
    kv__role role = KV__ROLE_NONE;
    pthread_mutex_lock(&kr->mu);
    refresh(kr);
    for (size_t i = 0; i < kr->n; i++) { // every key is compared: no early exit
        int same = CRYPTO_memcmp(h, kr->hashes[i], 32) == 0;
        if (same && kr->keys[i].revoked == 0 && kr->keys[i].role != KV__ROLE_NONE) {
            role = kr->keys[i].role;
            memcpy(name, kr->keys[i].name, sizeof kr->keys[i].name);
        }
    }
    pthread_mutex_unlock(&kr->mu);
    return role;
}
