// The store: key generation, hashing, names and roles; keys in SQLite and the
// server's key ring (hits, misses, revocation seen after a reload); the audit
// hash chain (its canonical form, and verify catching an edited field, a
// deleted middle row, a deleted last row against the head file, a lost head).
#define _POSIX_C_SOURCE 200809L // nanosleep
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "kv_test.h"
#include "store/store.h"

static void nap(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void test_key_generate(void **state) {
    (void)state;
    kv_err err;
    char a[KV__KEY_TEXT_MAX], b[KV__KEY_TEXT_MAX];
    assert_int_equal(kv__key_generate(a, &err), KV_OK);
    assert_int_equal(kv__key_generate(b, &err), KV_OK);
    assert_int_equal(strlen(a), 3 + 43); // "kv-" and 256 bits in base64url
    assert_memory_equal(a, "kv-", 3);
    assert_string_not_equal(a, b);
    // over many keys every base64url character turns up, and no other
    bool seen[256] = {false};
    for (int i = 0; i < 200; i++) {
        assert_int_equal(kv__key_generate(a, &err), KV_OK);
        for (const char *p = a + 3; *p; p++)
            seen[(unsigned char)*p] = true;
    }
    int n_seen = 0;
    for (int c = 0; c < 256; c++) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (seen[c]) {
            assert_true(ok);
            n_seen++;
        }
    }
    assert_int_equal(n_seen, 64);
}

static void test_key_hash_names_roles(void **state) {
    (void)state;
    uint8_t h[32];
    char hex[65], want[65];
    kv__key_hash("abc", 3, h);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    kv_test_sha256_hex("kv-xyz", 6, want);
    kv__key_hash("kv-xyz", 6, h);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    assert_string_equal(hex, want);

    kv_err err;
    const char *good[] = {"a", "ci-bot", "Team.A_1", "0x"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(kv__key_name_check(good[i], &err), KV_OK);
    char long_name[KV__KEY_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const char *bad[] = {"", "-a", ".a", "a b", "a/b", "a'b", "é", "a;DROP", long_name};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(kv__key_name_check(bad[i], &err), KV_ERR_INVALID);
    long_name[KV__KEY_NAME_MAX] = '\0'; // 64 bytes is the most
    assert_int_equal(kv__key_name_check(long_name, &err), KV_OK);

    const char *names[] = {"viewer", "user", "operator", "admin"};
    for (int r = KV__ROLE_VIEWER; r <= KV__ROLE_ADMIN; r++) {
        assert_string_equal(kv__role_name((kv__role)r), names[r - 1]);
        assert_int_equal(kv__role_parse(names[r - 1]), r);
    }
    assert_true(KV__ROLE_VIEWER < KV__ROLE_USER && KV__ROLE_USER < KV__ROLE_OPERATOR &&
                KV__ROLE_OPERATOR < KV__ROLE_ADMIN);
    assert_int_equal(kv__role_parse("root"), KV__ROLE_NONE);
    assert_int_equal(kv__role_parse("Admin"), KV__ROLE_NONE);
    assert_int_equal(kv__role_parse(NULL), KV__ROLE_NONE);
}

static kv__db *open_db(char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    kv__db *db = NULL;
    kv_err err;
    assert_int_equal(kv__db_open(path, true, &db, &err), KV_OK);
    return db;
}

static void test_keys_and_ring(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    kv_err err;
    char path[1024];
    snprintf(path, sizeof path, "%s/none.db", dir);
    kv__db *db = NULL;
    assert_int_equal(kv__db_open(path, false, &db, &err), KV_ERR_IO);
    db = open_db(dir, "sub/k.db"); // the folder is made too
    struct stat sb;
    assert_int_equal(stat(kv__db_path(db), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    kv__keyring *kr = NULL;
    assert_int_equal(kv__keyring_new(db, &kr, &err), KV_OK);
    assert_false(kv__keyring_active(kr)); // no keys: authentication is off
    char ka[KV__KEY_TEXT_MAX], kb[KV__KEY_TEXT_MAX], tmp[KV__KEY_TEXT_MAX];
    assert_int_equal(kv__keys_create(db, "alice", KV__ROLE_OPERATOR, ka, &err), KV_OK);
    assert_int_equal(kv__keys_create(db, "bob", KV__ROLE_VIEWER, kb, &err), KV_OK);
    assert_int_equal(kv__keys_create(db, "alice", KV__ROLE_USER, tmp, &err), KV_ERR_INVALID);
    assert_int_equal(kv__keys_create(db, "x y", KV__ROLE_USER, tmp, &err), KV_ERR_INVALID);
    assert_int_equal(kv__keys_create(db, "carol", KV__ROLE_NONE, tmp, &err), KV_ERR_INVALID);
    nap(KV__KEYRING_RECHECK_S + 0.1);
    assert_true(kv__keyring_active(kr));
    char name[KV__KEY_NAME_MAX + 1];
    assert_int_equal(kv__keyring_lookup(kr, ka, name), KV__ROLE_OPERATOR);
    assert_string_equal(name, "alice");
    assert_int_equal(kv__keyring_lookup(kr, kb, name), KV__ROLE_VIEWER);
    assert_string_equal(name, "bob");
    char wrong[KV__KEY_TEXT_MAX];
    memcpy(wrong, ka, sizeof wrong);
    wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
    assert_int_equal(kv__keyring_lookup(kr, wrong, name), KV__ROLE_NONE);
    assert_string_equal(name, "");
    assert_int_equal(kv__keyring_lookup(kr, NULL, name), KV__ROLE_NONE);
    assert_int_equal(kv__keyring_lookup(kr, "", name), KV__ROLE_NONE);

    // the table keeps the hash, never the key
    kv__key_info *k = NULL;
    size_t n = 0;
    assert_int_equal(kv__keys_list(db, &k, &n, &err), KV_OK);
    assert_int_equal(n, 2);
    assert_string_equal(k[0].name, "alice");
    assert_int_equal(k[0].role, KV__ROLE_OPERATOR);
    assert_int_equal(k[0].revoked, 0);
    free(k);

    assert_int_equal(kv__keys_revoke(db, "alice", &err), KV_OK);
    assert_int_equal(kv__keys_revoke(db, "alice", &err), KV_ERR_INVALID);
    assert_int_equal(kv__keys_revoke(db, "nobody", &err), KV_ERR_INVALID);
    nap(KV__KEYRING_RECHECK_S + 0.1);
    assert_int_equal(kv__keyring_lookup(kr, ka, name), KV__ROLE_NONE);
    assert_int_equal(kv__keyring_lookup(kr, kb, name), KV__ROLE_VIEWER);
    assert_int_equal(kv__keys_revoke(db, "bob", &err), KV_OK);
    nap(KV__KEYRING_RECHECK_S + 0.1);
    assert_true(kv__keyring_active(kr)); // revoking every key never turns auth off
    assert_int_equal(kv__keyring_lookup(kr, kb, name), KV__ROLE_NONE);
    kv__keyring_free(kr);
    kv__db_close(db);
    kv_test_rmdir(dir);
}

// The canonical form, spelled out independently of the code under test.
static void test_audit_canonical(void **state) {
    (void)state;
    kv__audit_entry e = {.id = 7, .time_us = 1700000000123456, .who = "alice",
                         .action = "POST /api/chat", .model = "kjv:latest",
                         .client = "127.0.0.1", .status = 200, .tokens_in = 12,
                         .tokens_out = -1, .duration_us = 3500, .content = NULL};
    memset(e.prev, 'a', 64);
    e.prev[64] = '\0';
    char got[65], want[65];
    kv__audit_hash(&e, got);
    const char *c = "kvant-audit-v1\n"
                    "prev=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
                    "id=7\ntime_us=1700000000123456\nwho=5:alice\naction=14:POST /api/chat\n"
                    "model=10:kjv:latest\nclient=9:127.0.0.1\nstatus=200\ntokens_in=12\n"
                    "tokens_out=-1\nduration_us=3500\ncontent=-\n";
    kv_test_sha256_hex(c, strlen(c), want);
    assert_string_equal(got, want);
    e.content = "a\nb";
    kv__audit_hash(&e, got);
    const char *c2 = "kvant-audit-v1\n"
                     "prev=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
                     "id=7\ntime_us=1700000000123456\nwho=5:alice\naction=14:POST /api/chat\n"
                     "model=10:kjv:latest\nclient=9:127.0.0.1\nstatus=200\ntokens_in=12\n"
                     "tokens_out=-1\nduration_us=3500\ncontent=3:a\nb\n";
    kv_test_sha256_hex(c2, strlen(c2), want);
    assert_string_equal(got, want);
    e.content = ""; // logged but empty differs from not logged
    char empty[65];
    kv__audit_hash(&e, empty);
    e.content = NULL;
    kv__audit_hash(&e, got);
    assert_string_not_equal(empty, got);
}

// A log of 5 entries in dir/name.
static kv__db *five(char *dir, const char *name) {
    kv__db *db = open_db(dir, name);
    kv_err err;
    for (int i = 1; i <= 5; i++) {
        char model[32];
        snprintf(model, sizeof model, "m%d", i);
        kv__audit_entry e = {.time_us = 1000000 * i, .who = i % 2 ? "alice" : "-",
                             .action = "POST /api/generate", .model = model,
                             .client = "127.0.0.1", .status = 200, .tokens_in = i,
                             .tokens_out = 2 * i, .duration_us = 10 * i};
        assert_int_equal(kv__audit_append(db, &e, &err), KV_OK);
        assert_int_equal(e.id, i);
    }
    int64_t n = 0, bad = -1;
    assert_int_equal(kv__audit_verify(db, &n, &bad, &err), KV_OK);
    assert_int_equal(n, 5);
    return db;
}

static void sql(kv__db *db, const char *q) {
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(kv__db_path(db), &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, q, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

static void expect_break(kv__db *db, int64_t want_bad, const char *fragment) {
    int64_t n = 0, bad = -1;
    kv_err err;
    assert_int_equal(kv__audit_verify(db, &n, &bad, &err), KV_ERR_FORMAT);
    assert_int_equal(bad, want_bad);
    if (!strstr(err.msg, fragment))
        fail_msg("'%s' not in '%s'", fragment, err.msg);
}

static int n_seen;
static bool count(void *user, const kv__audit_entry *e) {
    (void)user;
    assert_string_equal(e->who, "alice");
    n_seen++;
    return true;
}

static void test_audit_chain(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    kv_err err;
    kv__db *db = five(dir, "ok.db");
    n_seen = 0;
    assert_int_equal(kv__audit_each(db, 2000000, "alice", count, NULL, &err), KV_OK);
    assert_int_equal(n_seen, 2); // entries 3 and 5
    kv__db_close(db);

    db = five(dir, "edit.db");
    sql(db, "UPDATE audit SET model = 'other' WHERE id = 3");
    expect_break(db, 3, "audit entry 3: its hash does not match");
    kv__db_close(db);

    db = five(dir, "edit2.db"); // an edit that recomputes the hash still breaks the next link
    sql(db, "UPDATE audit SET hash = 'ff' || substr(hash, 3) WHERE id = 2");
    expect_break(db, 2, "audit entry 2:");
    kv__db_close(db);

    db = five(dir, "middle.db");
    sql(db, "DELETE FROM audit WHERE id = 3");
    expect_break(db, 4, "audit entry 4:");
    kv__db_close(db);

    db = five(dir, "last.db");
    sql(db, "DELETE FROM audit WHERE id = 5");
    expect_break(db, 5, "head file says the log ends at entry 5");
    kv__db_close(db);

    db = five(dir, "head.db");
    char head[1200];
    assert_int_equal(kv__audit_head_path(db, head, sizeof head, &err), KV_OK);
    assert_int_equal(remove(head), 0);
    expect_break(db, 0, "head file is missing");
    kv__db_close(db);

    db = five(dir, "rewrite.db"); // a consistent chain that is not the one the head names
    sql(db, "DELETE FROM audit WHERE id = 5");
    kv__audit_entry e = {.time_us = 1, .who = "-", .action = "x", .model = "", .client = "",
                         .status = 200, .tokens_in = -1, .tokens_out = -1};
    assert_int_equal(kv__audit_head_path(db, head, sizeof head, &err), KV_OK);
    FILE *f = fopen(head, "r");
    char before[200] = {0};
    assert_non_null(f);
    assert_non_null(fgets(before, sizeof before, f));
    fclose(f);
    assert_int_equal(kv__audit_append(db, &e, &err), KV_OK); // a new entry 5
    f = fopen(head, "w");
    assert_non_null(f);
    fputs(before, f); // put the old head back: same id, other hash
    fclose(f);
    expect_break(db, 5, "differs from the head file");
    kv__db_close(db);
    kv_test_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_generate),
        cmocka_unit_test(test_key_hash_names_roles),
        cmocka_unit_test(test_keys_and_ring),
        cmocka_unit_test(test_audit_canonical),
        cmocka_unit_test(test_audit_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
