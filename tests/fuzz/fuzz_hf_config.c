// libFuzzer harness for config.json of a Hugging Face folder (architecture table,
// dimensions, rope_scaling incl. llama3 factors, flags): arbitrary bytes as
// config.json in a scratch folder, opened with kv_hf_open. The folder has no
// tokenizer, so a config that parses fails right after, on the tokenizer; what
// is fuzzed is the config reader's checks and messages.
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvant/kv_hf.h"

static char g_dir[256];
static char g_path[300];

static void cleanup(void) {
    remove(g_path);
    rmdir(g_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "%s/kvant-fuzz-hf-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(g_dir))
            __builtin_trap();
        snprintf(g_path, sizeof g_path, "%s/config.json", g_dir);
        atexit(cleanup);
    }
    FILE *f = fopen(g_path, "wb");
    if (!f)
        __builtin_trap();
    if (size && fwrite(data, 1, size, f) != size)
        __builtin_trap();
    fclose(f);
    kv_hf *hf = NULL;
    kv_err err;
    err.msg[0] = '\0';
    if (kv_hf_open(g_dir, &hf, &err) == KV_OK)
        __builtin_trap(); // no tokenizer and no weights: never opens
    if (!strstr(err.msg, g_dir))
        __builtin_trap(); // every message names the file or folder
    return 0;
}
