// libFuzzer harness for the Modelfile parser (kv__modelfile_parse in
// src/store/modelfile.c) and the params layer made from it: any bytes must parse
// or fail with a message naming a line, never crash, hang or leak; a parsed
// file has a FROM, and its parameters' JSON (when it is made) is an object.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/models.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kv__modelfile mf;
    kv_err err = {0};
    if (kv__modelfile_parse((const char *)data, size, "fuzz", &mf, &err) != KV_OK) {
        if (strncmp(err.msg, "fuzz:", 5) != 0 && err.status != KV_ERR_NOMEM)
            abort(); // every error names the file (and a line)
        return 0;
    }
    if (!mf.from || !mf.from[0])
        abort();
    char *json = NULL;
    if (kv__modelfile_params_json(&mf, "fuzz", &json, &err) == KV_OK) {
        if (!json || json[0] != '{')
            abort();
    } else if (json || strncmp(err.msg, "fuzz:", 5) != 0) {
        abort();
    }
    free(json);
    kv__modelfile_free(&mf);
    return 0;
}
