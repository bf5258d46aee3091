// The registry client's HTTP layer (oci_http.c), used by oci_client.c.
#ifndef KV_STORE_OCI_INT_H
#define KV_STORE_OCI_INT_H

#include <curl/curl.h>
#include <openssl/evp.h>

#include "store/oci.h"

typedef struct {
    CURL *h;
    char base[KV__MNAME_HOST_MAX + 16]; // "https://HOST"
    char repo[2 * KV__MNAME_PART_MAX + 2]; // "NAMESPACE/MODEL"
    char auth[KV__OCI_TOKEN_MAX + 32];  // "Authorization: Bearer T", or ""
    bool tried_token;                   // a challenge was answered (for messages)
    kv__oci_opts *o;
    const char *action;                 // "pulling", "pushing": for progress
    const char *digest;                 // the blob being moved, for progress
} kv__reg;

// What a request sends (one of: nothing, mem, or n bytes of fd from off).
typedef struct {
    const char *mem;
    int fd;
    uint64_t off, n;
    uint64_t pos; // bytes given to curl so far
    uint64_t total; // the whole blob's size (for progress)
} kv__reg_src;

// What a request receives: into mem (up to cap bytes; more is an error), or
// appended to fd (up to cap bytes; more is an error).
typedef struct {
    long code;
    char *mem;
    size_t n;
    size_t cap;
    int fd;               // -1: into mem
    uint64_t fd_n;        // bytes written to fd
    uint64_t fd_base;     // bytes the file had before (for progress)
    uint64_t fd_total;    // the blob's size (for progress)
    EVP_MD_CTX *md;       // when set, what is written to fd is hashed on the way
    int write_errno;      // a write to fd failed
    bool over;            // more than cap came
    bool ranged;          // the request asked for a Range: a 200 stops at its status
    bool range_ignored;   // ...and one came (nothing of it was taken)
    double last_progress;
    // Headers of the final response.
    char www_auth[2048];
    char location[4096];
    char digest[80];
    char content_range[128];
    bool has_length;
    uint64_t length;
} kv__reg_resp;

kv_status kv__reg_open(kv__reg *r, const kv__mname *remote, kv__oci_opts *o, kv_err *err);
void kv__reg_close(kv__reg *r);
// Performs METHOD url (a path below base, or an absolute URL) with the extra
// headers (NULL-terminated list, may be NULL); answers a Bearer challenge (once
// per request) and repeats. KV_ERR_IO for a transfer that failed (not for an HTTP status:
// resp->code holds it).
kv_status kv__reg_do(kv__reg *r, const char *method, const char *url, const char *const *headers,
                     kv__reg_src *src, kv__reg_resp *resp, kv_err *err);
void kv__reg_resp_init(kv__reg_resp *resp, size_t cap, int fd);
void kv__reg_resp_free(kv__reg_resp *resp);
// "HTTP N from URL: body's first line" as KV_ERR_IO (KV_ERR_NOT_FOUND for 404).
kv_status kv__reg_fail(const kv__reg *r, const char *what, const kv__reg_resp *resp, kv_err *err);

#endif
