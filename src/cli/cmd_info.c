// kvant info: what a model file or folder holds: metadata, hyper-parameters,
// tokenizer summary, tensor table, parameters, size and bits per weight.
// Reads GGUF, safetensors (single or sharded), ONNX (.onnx) and Hugging Face folders;
// --json for scripts.
#define _POSIX_C_SOURCE 200809L // setenv
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/info_int.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_hf.h"
#include "kvant/kv_llama2c.h"
#include "kvant/kv_safetensors.h"

static void help(FILE *f) {
    fprintf(f, "usage: kvant info [--json] [--no-tensors] [--kernels T] FILE|DIR\n\n"
               "Shows what a model holds. FILE may be a GGUF file, a .safetensors file, a\n"
               "model.safetensors.index.json, an .onnx model, a llama2.c checkpoint (*.bin or\n"
               "\"ak42\" magic); DIR a Hugging Face model folder.\n\n"
               "  --json         print one JSON object instead of text\n"
               "  --no-tensors   leave out the tensor table\n"
               "  --kernels ref|avx2|avx2-vnni|avx512|amx|auto  the kernel table whose\n"
               "                 --repack memory a GGUF model's line reports (default: the\n"
               "                 one this CPU picks; one it lacks falls back, as in bench)\n");
}

// ---- shared table helpers ----

void kv__info_shape(char *buf, size_t cap, int n_dims, const int64_t *dims) {
    int n = snprintf(buf, cap, "%s", n_dims == 0 ? "scalar" : "");
    for (int d = 0; d < n_dims && n >= 0 && (size_t)n < cap; d++)
        n += snprintf(buf + n, cap - (size_t)n, d ? " x %lld" : "%lld", (long long)dims[d]);
}

void kv__info_totals(json_t *root, bool as_json, uint64_t n_params, uint64_t data_bytes,
                     uint64_t file_bytes) {
    double bpw = n_params ? 8.0 * (double)data_bytes / (double)n_params : 0.0;
    if (as_json) {
        json_object_set_new(root, "n_params", json_integer((json_int_t)n_params));
        json_object_set_new(root, "tensor_bytes", json_integer((json_int_t)data_bytes));
        json_object_set_new(root, "file_bytes", json_integer((json_int_t)file_bytes));
        json_object_set_new(root, "bits_per_weight", json_real(bpw));
        return;
    }
    printf("parameters:   %llu (%.2f M)\n", (unsigned long long)n_params, (double)n_params / 1e6);
    printf("size:         %.2f MiB of tensors, %.2f MiB on disk\n",
           (double)data_bytes / 1048576.0, (double)file_bytes / 1048576.0);
    printf("bits/weight:  %.2f\n", bpw);
}

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool has_gguf_magic(const char *p) {
    FILE *f = fopen(p, "rb");
    if (!f)
        return false;
    char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(m, "GGUF", 4) == 0;
}

static bool has_l2c_magic(const char *p) {
    FILE *f = fopen(p, "rb");
    if (!f)
        return false;
    unsigned char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return kv_llama2c_has_magic(m, n);
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

int kv_cli_info(int argc, char **argv) {
    const char *path = NULL;
    kv__info_opts o = {false, true};
    for (int i = 1; i < argc; i++) {
        if (kv_cli_is_help(argv[i])) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            o.json = true;
        } else if (!strcmp(argv[i], "--no-tensors")) {
            o.tensors = false;
        } else if (!strcmp(argv[i], "--kernels")) {
            const char *v = i + 1 < argc ? argv[++i] : "";
            if (strcmp(v, "ref") && strcmp(v, "avx2") && strcmp(v, "avx2-vnni") &&
                strcmp(v, "avx512") && strcmp(v, "amx") && strcmp(v, "auto"))
                return kv_cli_usage_error(
                    "info", "--kernels takes ref, avx2, avx2-vnni, avx512, amx or auto, got '%s'",
                    v);
            if (strcmp(v, "auto"))
                setenv("KVANT_KERNELS", v, 1);
            else
                unsetenv("KVANT_KERNELS");
        } else if (argv[i][0] == '-') {
            return kv_cli_usage_error("info", "unknown option '%s'", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return kv_cli_usage_error("info", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!path)
        return kv_cli_usage_error("info", "missing FILE or DIR");
    setenv("KVANT_REPACK", "off", 1); // a GGUF model's repack line sizes, never packs
    json_t *root = o.json ? json_object() : NULL;
    kv_err err = {0};
    kv_status st;
    if (is_dir(path))
        st = kv__info_hf(path, &o, root, &err);
    else if (has_gguf_magic(path) || ends_with(path, ".gguf"))
        st = kv__info_gguf(path, &o, root, &err);
    else if (ends_with(path, ".onnx"))
        st = kv__info_onnx(path, &o, root, &err);
    else if (has_l2c_magic(path) || ends_with(path, ".bin"))
        st = kv__info_llama2c(path, &o, root, &err);
    else
        st = kv__info_safetensors(path, &o, root, &err);
    // an ONNX model with validation problems still prints its summary (and them)
    if (root && (st == KV_OK || json_object_get(root, "problems"))) {
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
    }
    json_decref(root);
    return st == KV_OK ? 0 : kv_cli_fail("info", &err);
}
