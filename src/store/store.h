// The store: kvant's SQLite database (kvant.db) of API keys and the audit log.
// Below serve, above pipeline; only the kvant command links it (kvant_store), so
// the core library and libkvant_serve never link SQLite. All SQL is prepared
// statements; the database file is created 0600. A kv__db handle is safe to use
// from several threads (its calls take its mutex).
#ifndef KV_STORE_H
#define KV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

// ---- the database ----

typedef struct kv__db kv__db;

// The default database path: $KVANT_HOME/kvant.db, else $HOME/.kvant/kvant.db,
// into out (cap bytes). KV_ERR_INVALID when neither variable is set or it does
// not fit.
kv_status kv__db_default_path(char *out, size_t cap, kv_err *err);
// Opens (create: creating it 0600, and its folder 0700) the database at path
// and its tables. Without create a missing file is KV_ERR_IO naming it.
kv_status kv__db_open(const char *path, bool create, kv__db **out, kv_err *err);
void kv__db_close(kv__db *db); // accepts NULL
const char *kv__db_path(const kv__db *db);

// ---- roles and keys ----

// Each role has the rights of those before it (see kv__role_name).
typedef enum {
    KV__ROLE_NONE = 0,
    KV__ROLE_VIEWER = 1,   // list/tags, show, version, ps, metrics
    KV__ROLE_USER = 2,     // + generate, chat, embeddings, the OpenAI endpoints
    KV__ROLE_OPERATOR = 3, // + pull, create, copy, delete, push
    KV__ROLE_ADMIN = 4,    // + keys, audit
} kv__role;

#define KV__KEY_NAME_MAX 64   // bytes in a key name
#define KV__KEY_TEXT_MAX 64   // bytes in a key's text, NUL included
#define KV__KEY_PREFIX "kv-"

const char *kv__role_name(kv__role r); // "viewer", ...; "none"
// The role named s; KV__ROLE_NONE when it names none.
kv__role kv__role_parse(const char *s);
// A key name is 1..64 bytes of [A-Za-z0-9._-] starting with a letter or digit.
// KV_ERR_INVALID names what is wrong.
kv_status kv__key_name_check(const char *name, kv_err *err);
// A new random key: "kv-" and 43 base64url characters (32 bytes, 256 bits, from
// the kernel's random source), into out (KV__KEY_TEXT_MAX bytes).
kv_status kv__key_generate(char out[KV__KEY_TEXT_MAX], kv_err *err);
// SHA-256 of the key's text (what the database keeps instead of the key).
void kv__key_hash(const char *key, size_t len, uint8_t out[32]);

typedef struct {
    char name[KV__KEY_NAME_MAX + 1];
    kv__role role;
    int64_t created;  // seconds since the epoch
    int64_t revoked;  // 0: active
} kv__key_info;

// Stores a new key named name with role; its text goes to key_out (shown once).
// KV_ERR_INVALID for a bad name or one already taken (revoked keys keep theirs).
kv_status kv__keys_create(kv__db *db, const char *name, kv__role role,
                          char key_out[KV__KEY_TEXT_MAX], kv_err *err);
// Marks key name revoked; KV_ERR_INVALID when there is no active key of that name.
kv_status kv__keys_revoke(kv__db *db, const char *name, kv_err *err);
// All keys, by name; the caller frees *out.
kv_status kv__keys_list(kv__db *db, kv__key_info **out, size_t *n, kv_err *err);

// ---- the key ring: the server's cached view of the keys ----

// Keeps every key's hash, name and role in memory and reloads them when the
// database file changes (checked at most every KV__KEYRING_RECHECK_S), so a
// request costs no SQL. Thread-safe.
#define KV__KEYRING_RECHECK_S 0.5
typedef struct kv__keyring kv__keyring;

kv_status kv__keyring_new(kv__db *db, kv__keyring **out, kv_err *err);
void kv__keyring_free(kv__keyring *kr);
// Whether authentication is on: there are keys, or there were any since the
// ring was made (revoking every key never opens the server).
bool kv__keyring_active(kv__keyring *kr);
// The role of the key whose text is token (KV__ROLE_NONE: unknown or revoked),
// its name into name. Compares the token's SHA-256 with every key's in constant
// time (no early exit).
kv__role kv__keyring_lookup(kv__keyring *kr, const char *token, char name[KV__KEY_NAME_MAX + 1]);

// ---- the audit log ----

// One entry. Strings are borrowed (NULL reads as ""); content is NULL unless the
// server logs prompt text (--audit-content).
typedef struct {
    int64_t id;           // 1, 2, ... (set by kv__audit_append)
    int64_t time_us;      // wall clock, microseconds since the epoch
    const char *who;      // the key's name, or "-"
    const char *action;   // "POST /api/generate"
    const char *model;    // "" when none
    const char *client;   // the client's address
    int64_t status;       // HTTP status
    int64_t tokens_in;    // -1: not known
    int64_t tokens_out;   // -1: not known
    int64_t duration_us;  // from arrival to the reply (streams: to its end)
    const char *content;  // NULL: not logged
    char prev[65];        // hex SHA-256 of the entry before (64 '0's for the first)
    char hash[65];        // hex SHA-256 of this entry
} kv__audit_entry;

// The hash chain. An entry's hash is hex(SHA-256(C)), where C is the ASCII text
//   "kvant-audit-v1\n" followed by one line per field, in this order:
//   prev, id, time_us, who, action, model, client, status, tokens_in,
//   tokens_out, duration_us, content
// each "NAME=VALUE\n": integers in decimal ("-1" for unknown); prev as 64
// lowercase hex digits; strings as "LEN:BYTES" (LEN their byte length in
// decimal, so any byte may appear); content as "-" when NULL (not logged) and
// "LEN:BYTES" otherwise. prev is the entry before's hash, so editing, inserting
// or deleting any entry breaks every hash after it. The last id and hash are
// also kept apart in the head file (kv__audit_head_path), replaced atomically
// (temporary file and rename) after each append, so deleting the last entries
// is found too.
void kv__audit_hash(const kv__audit_entry *e, char out[65]);
// "<db path>.audit-head": one line "ID HASH\n".
kv_status kv__audit_head_path(const kv__db *db, char *out, size_t cap, kv_err *err);

// Appends e (its id, prev and hash are filled in) and updates the head file,
// in one write transaction (thread- and process-safe): when the head cannot be
// written the entry is not kept either.
kv_status kv__audit_append(kv__db *db, kv__audit_entry *e, kv_err *err);

// Calls fn for each entry with time_us >= since_us and (key non-NULL) who ==
// key, in id order; fn returning false stops. Strings live for the call.
typedef bool (*kv__audit_fn)(void *user, const kv__audit_entry *e);
kv_status kv__audit_each(kv__db *db, int64_t since_us, const char *key, kv__audit_fn fn,
                         void *user, kv_err *err);

// Checks the whole chain and the head file. *n_ok gets the entries verified;
// on a break *bad_id the first broken entry's id (0 when the break is the head
// file's) and KV_ERR_FORMAT with a message naming it.
kv_status kv__audit_verify(kv__db *db, int64_t *n_ok, int64_t *bad_id, kv_err *err);

#endif
