// kvant convert: Hugging Face folder -> GGUF, in any file type (quantizing on the way).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kvant/kv_convert.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant convert SRC -o OUT.gguf [--outtype TYPE] [options]\n\n"
            "Converts a Hugging Face model folder (config.json, *.safetensors, tokenizer) to a\n"
            "GGUF v3 file that llama.cpp loads. Tensors are streamed a few rows at a time, so\n"
            "memory stays small. Any file type of kvant quantize may be given: converting to\n"
            "Q4_K_M here gives the same file as converting to F32, then quantizing.\n\n"
            "  SRC                          model folder (LlamaForCausalLM, MistralForCausalLM),\n"
            "                               or a llama2.c checkpoint file (model.bin)\n"
            "  --tokenizer F                llama2.c tokenizer.bin (default: beside model.bin)\n"
            "  -o, --outfile F              output file (default: <folder name>-<type>.gguf)\n"
            "  --outtype TYPE               f32, f16 (default), bf16, q8_0, q4_k_m, ... (see\n"
            "                               kvant quantize --help for the list)\n"
            "%s"
            "  -q, --quiet                  no progress bar and no summary\n"
            "  -v, --verbose                one line per tensor in the summary\n",
            KV_CLI_PLAN_HELP);
}

static const char *default_out(const char *src, const char *outtype, char *buf, size_t cap) {
    size_t n = strlen(src);
    while (n > 1 && src[n - 1] == '/')
        n--;
    const char *base = src;
    for (size_t i = 0; i + 1 < n; i++)
        if (src[i] == '/')
            base = src + i + 1;
    size_t len = (size_t)(src + n - base);
    if (len > 4 && strncmp(base + len - 4, ".bin", 4) == 0) // llama2.c's model.bin
        len -= 4;
    snprintf(buf, cap, "%.*s-%s.gguf", (int)len, base, outtype);
    return buf;
}

int kv_cli_convert(int argc, char **argv) {
    const char *src = NULL, *out = NULL;
    kv_convert_opts opts = {.outtype = "f16"};
    kv_mix_options mix;
    kv_mix_options_init(&mix);
    opts.plan.mix = &mix;
    bool quiet = false, verbose = false;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        int took = kv_cli_plan_option("convert", argc, argv, &i, &opts.plan, &mix);
        if (took < 0)
            rc = 2;
        else if (took > 0)
            continue;
        else if (kv_cli_is_help(a)) {
            help(stdout);
            kv_cli_plan_free(&opts.plan, &mix);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--outfile")) && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(a, "--tokenizer") && i + 1 < argc)
            opts.tokenizer = argv[++i];
        else if (!strcmp(a, "--outtype") && i + 1 < argc)
            opts.outtype = argv[++i];
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
            quiet = true;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
            verbose = true;
        else if (a[0] == '-')
            rc = kv_cli_usage_error("convert", "unknown or incomplete option '%s'", a);
        else if (!src)
            src = a;
        else
            rc = kv_cli_usage_error("convert", "unexpected argument '%s'", a);
    }
    if (rc == 0 && !src)
        rc = kv_cli_usage_error("convert", "missing the model folder SRC");
    if (rc != 0) {
        kv_cli_plan_free(&opts.plan, &mix);
        return rc;
    }
    char buf[4096];
    if (!out)
        out = default_out(src, opts.outtype, buf, sizeof buf);
    kv_cli_progress prog;
    kv_cli_progress_init(&prog, "convert", quiet);
    opts.plan.progress = kv_cli_progress_cb;
    opts.plan.progress_user = &prog;
    kv_convert_report rep;
    kv_err err = {0};
    kv_status st = kv_convert_hf(src, out, &opts, &rep, &err);
    kv_cli_progress_done(&prog);
    kv_cli_plan_free(&opts.plan, &mix);
    if (st != KV_OK)
        return kv_cli_fail("convert", &err);
    if (!quiet)
        kv_cli_print_report(out, &rep, verbose);
    kv_convert_report_free(&rep);
    return 0;
}
