// libFuzzer harness for what a registry sends the pull client
// (src/store/oci_http.c, mstore.c): the first byte picks the reader, the rest
// is its input. 0: a manifest (kv__manifest_parse), which must parse with every
// digest valid and at most KV__MANIFEST_LAYERS_MAX layers, or fail naming it;
// 1: a WWW-Authenticate challenge (kv__oci_parse_challenge), whose parameters
// must fit their buffers, the realm non-empty.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] % 2 == 0) {
        kv__manifest *m = malloc(sizeof *m);
        kv_err err = {0};
        if (!m)
            return 0;
        if (kv__manifest_parse(p, n, "fuzz", m, &err) == KV_OK) {
            if (m->n_layers > KV__MANIFEST_LAYERS_MAX || kv__digest_check(m->config.digest, NULL))
                abort();
            for (size_t i = 0; i < m->n_layers; i++)
                if (kv__digest_check(m->layers[i].digest, NULL) != KV_OK)
                    abort();
            if (strncmp(m->digest, "sha256:", 7) != 0)
                abort();
        } else if (strncmp(err.msg, "fuzz", 4) != 0 && err.status != KV_ERR_NOMEM) {
            abort(); // every error names what was read
        }
        free(m);
        return 0;
    }
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    memcpy(s, p, n);
    s[n] = 0;
    char realm[64], service[32], scope[48];
    memset(realm, 'x', sizeof realm);
    if (kv__oci_parse_challenge(s, realm, sizeof realm, service, sizeof service, scope,
                                sizeof scope)) {
        if (!realm[0] || strlen(realm) >= sizeof realm || strlen(service) >= sizeof service ||
            strlen(scope) >= sizeof scope)
            abort();
    }
    free(s);
    return 0;
}
