// kvant convert: Hugging Face folder -> GGUF.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kvant/kv_convert.h"
#include "kvant/kv_types.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant convert SRC -o OUT.gguf [--outtype TYPE] [-t N] [-q] [-v]\n\n"
            "Converts a Hugging Face model folder (config.json, *.safetensors, tokenizer) to a\n"
            "GGUF v3 file that llama.cpp loads. Tensors are streamed one at a time.\n\n"
            "  SRC              model folder (LlamaForCausalLM, MistralForCausalLM)\n"
            "  -o, --outfile F  output file (default: <folder name>-<type>.gguf)\n"
            "  --outtype TYPE   f32, f16 (default), bf16 or q8_0\n"
            "  -t, --threads N  quantization threads (default: all CPUs)\n"
            "  -q, --quiet      no progress bar and no summary\n"
            "  -v, --verbose    one line per tensor\n");
}

static void print_summary(const char *out, const kv_convert_report *r, bool verbose) {
    if (verbose)
        for (int64_t i = 0; i < r->n_tensors; i++) {
            const kv_convert_tensor *t = &r->tensors[i];
            char shape[96];
            int n = snprintf(shape, sizeof shape, "%lld", (long long)t->ne[0]);
            for (uint32_t d = 1; d < t->n_dims && n > 0 && (size_t)n < sizeof shape; d++)
                n += snprintf(shape + n, sizeof shape - (size_t)n, " x %lld", (long long)t->ne[d]);
            printf("  %-32s %-16s %5s -> %-6s %10.2f KiB%s\n", t->name, shape,
                   kv_type_name(t->from_type), kv_type_name(t->to_type), (double)t->bytes / 1024.0,
                   t->fallback ? " (fallback)" : "");
        }
    double bpw = r->n_params ? 8.0 * (double)r->bytes_out / (double)r->n_params : 0.0;
    printf("wrote %s: %lld tensors, %.2f M parameters, %.2f MiB (%.2f bits/weight) in %.2f s\n",
           out, (long long)r->n_tensors, (double)r->n_params / 1e6,
           (double)r->file_size / (1024.0 * 1024.0), bpw, r->seconds);
    if (r->n_fallbacks > 0)
        printf("note: %lld tensors used a fallback type (rows not a multiple of the block size)\n",
               (long long)r->n_fallbacks);
}

int kv_cli_convert(int argc, char **argv) {
    const char *src = NULL, *out = NULL;
    kv_convert_opts opts = {.outtype = "f16"};
    bool quiet = false, verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (kv_cli_is_help(a)) {
            help(stdout);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--outfile")) && has_val) {
            out = argv[++i];
        } else if (!strcmp(a, "--outtype") && has_val) {
            opts.outtype = argv[++i];
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_val) {
            opts.n_threads = atoi(argv[++i]);
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = true;
        } else if (a[0] == '-') {
            return kv_cli_usage_error("convert", "unknown or incomplete option '%s'", a);
        } else if (!src) {
            src = a;
        } else {
            return kv_cli_usage_error("convert", "unexpected argument '%s'", a);
        }
    }
    if (!src)
        return kv_cli_usage_error("convert", "missing the model folder SRC");
    char default_out[4096];
    if (!out) {
        size_t n = strlen(src);
        while (n > 1 && src[n - 1] == '/')
            n--;
        const char *base = src;
        for (size_t i = 0; i < n; i++)
            if (src[i] == '/' && i + 1 < n)
                base = src + i + 1;
        snprintf(default_out, sizeof default_out, "%.*s-%s.gguf", (int)(src + n - base), base,
                 opts.outtype);
        out = default_out;
    }
    kv_cli_progress prog;
    kv_cli_progress_init(&prog, "convert", quiet);
    opts.progress = kv_cli_progress_cb;
    opts.progress_user = &prog;
    kv_convert_report rep;
    kv_err err = {0};
    kv_status st = kv_convert_hf(src, out, &opts, &rep, &err);
    kv_cli_progress_done(&prog);
    if (st != KV_OK)
        return kv_cli_fail("convert", &err);
    if (!quiet)
        print_summary(out, &rep, verbose);
    kv_convert_report_free(&rep);
    return 0;
}
