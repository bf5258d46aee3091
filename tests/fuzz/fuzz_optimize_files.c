// libFuzzer harness for the files kvant optimize and recommend read back: a
// recipe (YAML, kv_opt_recipe_load) and a results.json (kv_opt_results_read).
// Any bytes must load or fail with a message naming the file, never crash, hang
// or leak; a loaded results.json has at most 4096 variants.
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "optimize/optimize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/fuzz_optimize_files.%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    kv_opt_params p;
    kv_opt_params_init(&p);
    kv_opt_recipe *r = NULL;
    kv_err err = {0};
    if (kv_opt_recipe_load(path, &p, &r, &err) == KV_OK) {
        if (!r)
            abort();
        char *text = kv_opt_recipe_print(&p);
        free(text);
        kv_opt_recipe_free(r);
    } else if (strncmp(err.msg, path, strlen(path)) != 0 && err.status != KV_ERR_NOMEM) {
        abort(); // every error names the file
    }
    kv_opt_result res;
    if (kv_opt_results_read(path, &res, &err) == KV_OK) {
        if (res.n < 0 || res.n > 4096)
            abort();
        kv_opt_goals g = {1e6, 0, 1, 0, 0.01};
        kv_opt_select(&res, &g, KV_OPT_SIZE);
        if (res.pick >= res.n || res.closest >= res.n)
            abort();
        kv_opt_result_free(&res);
    }
    unlink(path);
    return 0;
}
