// Moving models between the store and elsewhere in OCI's formats:
//   - a registry over the OCI distribution API (any OCI registry, or another
//     kvant serve --store): manifests by tag, blobs by digest, HEAD to skip
//     blobs the other side has, uploads in one PUT or in PATCH chunks, Range
//     resume of an interrupted download, bearer tokens from a WWW-Authenticate
//     challenge; libcurl (TLS, proxies from the environment);
//   - an OCI image layout folder (oci-layout, index.json, blobs/sha256/HEX), for
//     drives carried to machines without a network.
// Every blob is hashed and compared with its digest before it enters the store
// (a mismatch deletes it and says so); the manifest is written last, so a model
// is listed only when whole. Part of libkvant_store (the kvant command only).
#ifndef KV_STORE_OCI_H
#define KV_STORE_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"
#include "store/models.h"

// Progress: status ("pulling manifest", "pulling sha256:...", "verifying sha256
// digest", "writing manifest", "success", ...), the blob's digest or NULL, and
// bytes completed of total (0/0 when not a transfer).
typedef void (*kv__oci_progress_fn)(void *user, const char *status, const char *digest,
                                    uint64_t completed, uint64_t total);

typedef struct {
    bool insecure;             // the registry speaks plain HTTP
    const char *token;         // sent as "Authorization: Bearer" from the start (NULL: none)
    const char *basic;         // "user:password" for the token endpoint (NULL: anonymous)
    const char *ca_file;       // PEM certificates to trust instead of the system's (NULL: those)
    kv__oci_progress_fn progress; // NULL: quiet
    void *user;
    // Out: what moved.
    uint64_t bytes_moved;      // blob bytes received (pull) or sent (push)
    uint64_t bytes_resumed;    // bytes a pull found in partial downloads and kept
    uint64_t bytes_present;    // bytes of blobs the destination already had
} kv__oci_opts;

// Sets o's token, basic and ca_file from $KVANT_REGISTRY_TOKEN, $KVANT_REGISTRY_AUTH and
// $KVANT_REGISTRY_CA (unset or empty: NULL).
void kv__oci_opts_from_env(kv__oci_opts *o);

// When given (a model name as written) has fewer than two '/' (so names no registry) and
// $KVANT_REGISTRY is set: *remote = n's namespace, model and tag on that registry (a bad
// $KVANT_REGISTRY: the parse error prefixed "KVANT_REGISTRY"). Otherwise *remote is left.
kv_status kv__oci_registry_name(const char *given, const kv__mname *n, kv__mname *remote,
                                kv_err *err);

#define KV__OCI_TOKEN_MAX ((size_t)64 << 10) // bytes in a token endpoint's reply

// Pulls remote's manifest and blobs from the registry remote->host into the
// store at dir as local. KV_ERR_NOT_FOUND when the registry has no such tag.
kv_status kv__oci_pull(const char *dir, const kv__mname *local, const kv__mname *remote,
                       kv__oci_opts *o, kv_err *err);
// Pushes local's blobs (those the registry lacks) and manifest as remote.
kv_status kv__oci_push(const char *dir, const kv__mname *local, const kv__mname *remote,
                       kv__oci_opts *o, kv_err *err);

// Writes name's blobs and manifest into the OCI image layout at layout (created
// when missing); index.json names it by the annotation
// org.opencontainers.image.ref.name = "HOST/NAMESPACE/MODEL:TAG", replacing an
// entry of that name.
kv_status kv__oci_layout_push(const char *dir, const kv__mname *name, const char *layout,
                              kv__oci_opts *o, kv_err *err);
// Reads name (matched by its ref.name annotation, parsed as a model name) from
// the layout into the store.
kv_status kv__oci_layout_pull(const char *dir, const kv__mname *name, const char *layout,
                              kv__oci_opts *o, kv_err *err);

// Splits a WWW-Authenticate value 'Bearer realm="R",service="S",scope="X"' into
// its three parameters (empty when absent); false when it is not Bearer with a
// realm or a value does not fit. For the client and its fuzz harness.
bool kv__oci_parse_challenge(const char *h, char *realm, size_t rcap, char *service,
                             size_t scap, char *scope, size_t xcap);

#endif
