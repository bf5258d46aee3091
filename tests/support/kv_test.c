// Test helpers: shared data lookup, digests, temporary folders.
#define _GNU_SOURCE
#include "kv_test.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *kv_test_shared(void) {
    const char *s = getenv("KV_SHARED");
    if (!s || !*s)
        return NULL;
    struct stat sb;
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/models/kjv-llama-7m/config.json", s);
    if (stat(probe, &sb) != 0)
        return NULL;
    return s;
}

const char *kv_test_shared_path(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", kv_test_shared() ? kv_test_shared() : ".", rel);
    return buf;
}

const char *kv_test_source_path(const char *rel) {
    static char buf[4096];
    const char *s = getenv("KV_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/%s", s ? s : ".", rel);
    return buf;
}

void kv_test_sha256_hex(const void *p, size_t n, char out[65]) {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
    out[64] = '\0';
}

char *kv_test_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/kvant-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void kv_test_rmdir(char *dir) {
    if (!dir)
        return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
    free(dir);
}

int kv_test_write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    int rc = fclose(f);
    return (w == n && rc == 0) ? 0 : -1;
}
