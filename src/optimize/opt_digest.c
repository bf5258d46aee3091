// Content digests (SHA-256) that key the optimize cache.
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "optimize/optimize_int.h"

struct kv__opt_hash {
    EVP_MD_CTX *c;
};

kv__opt_hash *kv__opt_hash_new(void) {
    kv__opt_hash *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->c = EVP_MD_CTX_new();
    if (!h->c || !EVP_DigestInit_ex(h->c, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(h->c);
        free(h);
        return NULL;
    }
    return h;
}

void kv__opt_hash_mem(kv__opt_hash *h, const void *p, size_t n) {
    if (h && n)
        EVP_DigestUpdate(h->c, p, n);
}

void kv__opt_hash_str(kv__opt_hash *h, const char *s) {
    s = s ? s : "";
    kv__opt_hash_mem(h, s, strlen(s) + 1);
}

kv_status kv__opt_hash_file(kv__opt_hash *h, const char *path, kv_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return KV_FAIL(err, KV_ERR_IO, "%s: %s", path, strerror(errno));
    static _Thread_local unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        kv__opt_hash_mem(h, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return KV_FAIL(err, KV_ERR_IO, "%s: read failed", path);
    return KV_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// The sorted names of dir's entries (not starting with '.'); *names is malloc'd.
static kv_status list_dir(const char *dir, char ***out, size_t *n_out, kv_err *err);

kv_status kv__opt_hash_dir(kv__opt_hash *h, const char *dir, kv_err *err) {
    char **names = NULL;
    size_t n = 0;
    kv_status st = list_dir(dir, &names, &n, err);
    for (size_t i = 0; st == KV_OK && i < n; i++) {
        char path[2048];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        kv__opt_hash_str(h, names[i]);
        st = kv__opt_hash_file(h, path, err);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return st;
}

kv_status kv__opt_hash_dir_stat(kv__opt_hash *h, const char *dir, kv_err *err) {
    char **names = NULL;
    size_t n = 0;
    kv_status st = list_dir(dir, &names, &n, err);
    for (size_t i = 0; st == KV_OK && i < n; i++) {
        char path[2048], line[2300];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        snprintf(line, sizeof line, "%s|%lld|%llu|%lld.%09ld", names[i], (long long)sb.st_size,
                 (unsigned long long)sb.st_ino, (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
        kv__opt_hash_str(h, line);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return st;
}

static kv_status list_dir(const char *dir, char ***out, size_t *n_out, kv_err *err) {
    DIR *d = opendir(dir);
    if (!d)
        return KV_FAIL(err, KV_ERR_IO, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    kv_status st = KV_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                st = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory listing files", dir);
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            st = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory listing files", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (st == KV_OK)
        qsort(names, n, sizeof *names, cmp_str);
    if (st != KV_OK) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        names = NULL;
        n = 0;
    }
    *out = names;
    *n_out = n;
    return st;
}

void kv__opt_hash_end(kv__opt_hash *h, char out[65]) {
    unsigned char md[32];
    unsigned int len = 0;
    out[0] = 0;
    if (!h)
        return;
    if (EVP_DigestFinal_ex(h->c, md, &len) && len == 32)
        for (int i = 0; i < 32; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(h->c);
    free(h);
}
