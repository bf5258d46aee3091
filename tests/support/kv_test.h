// Helpers shared by the unit tests: where the shared test data is, SHA-256
// digests, temporary folders. Tests include <cmocka.h> after the standard headers.
#ifndef KV_TEST_H
#define KV_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

// Path of ../shared (from $KV_SHARED), or NULL when it is absent. Tests that need
// it call KV_NEED_SHARED(), which prints why and marks the test skipped.
const char *kv_test_shared(void);
#define KV_NEED_SHARED()                                                                   \
    do {                                                                                   \
        if (!kv_test_shared()) {                                                           \
            print_message("skipped: ../shared test data is absent (set KV_SHARED)\n");     \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

// Joins a path under the shared folder into a static buffer (not reentrant).
const char *kv_test_shared_path(const char *rel);
// The source tree ($KV_SOURCE_DIR).
const char *kv_test_source_path(const char *rel);

// Lower-case hex SHA-256 of n bytes into out (65 bytes).
void kv_test_sha256_hex(const void *p, size_t n, char out[65]);

// A new empty temporary directory (malloc'd path); removed by kv_test_rmdir.
char *kv_test_tmpdir(void);
void kv_test_rmdir(char *dir); // removes it recursively and frees the path

// Writes n bytes to path; returns 0 on success.
int kv_test_write_file(const char *path, const void *p, size_t n);

#endif
