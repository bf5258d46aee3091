// kvant quantize: GGUF -> GGUF of another file type, with llama-quantize's options.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kvant/kv_convert.h"
#include "kvant/kv_mix.h"

static void help(FILE *f) {
    char names[1024];
    kv_ftype_list_names(names, sizeof names);
    fprintf(f,
            "usage: kvant quantize IN.gguf OUT.gguf TYPE [THREADS] [options]\n\n"
            "Quantizes a GGUF model to a file type, choosing each tensor's type with\n"
            "llama-quantize's rules, so the result matches llama.cpp's byte for byte.\n\n"
            "  TYPE                         a file type, case-insensitive, or its numeric id:\n"
            "                               %s\n"
            "  THREADS                      same as -t\n"
            "%s"
            "  --allow-requantize           allow quantizing tensors that are already quantized\n"
            "  -q, --quiet                  no progress bar and no summary\n"
            "  --no-tensors                 leave the per-tensor lines out of the summary\n",
            names, KV_CLI_PLAN_HELP);
}

int kv_cli_quantize(int argc, char **argv) {
    const char *pos[4] = {NULL};
    int n_pos = 0;
    kv_quantize_opts opts = {0};
    kv_mix_options mix;
    kv_mix_options_init(&mix);
    opts.plan.mix = &mix;
    bool quiet = false, tensors = true;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        int took = kv_cli_plan_option("quantize", argc, argv, &i, &opts.plan, &mix);
        if (took < 0)
            rc = 2;
        else if (took > 0)
            continue;
        else if (kv_cli_is_help(a)) {
            help(stdout);
            kv_cli_plan_free(&opts.plan, &mix);
            return 0;
        } else if (!strcmp(a, "--allow-requantize"))
            opts.allow_requantize = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
            quiet = true;
        else if (!strcmp(a, "--no-tensors"))
            tensors = false;
        else if (a[0] == '-' && a[1] != '\0')
            rc = kv_cli_usage_error("quantize", "unknown or incomplete option '%s'", a);
        else if (n_pos < 4)
            pos[n_pos++] = a;
        else
            rc = kv_cli_usage_error("quantize", "unexpected argument '%s'", a);
    }
    if (rc == 0 && n_pos < 3)
        rc = kv_cli_usage_error("quantize", "need IN.gguf, OUT.gguf and TYPE");
    if (rc == 0 && n_pos == 4)
        opts.plan.n_threads = atoi(pos[3]);
    kv_err err = {0};
    if (rc == 0 && kv_ftype_parse(pos[2], &opts.plan.ftype, &err) != KV_OK)
        rc = kv_cli_fail("quantize", &err);
    if (rc != 0) {
        kv_cli_plan_free(&opts.plan, &mix);
        return rc;
    }
    kv_cli_progress prog;
    kv_cli_progress_init(&prog, "quantize", quiet);
    opts.plan.progress = kv_cli_progress_cb;
    opts.plan.progress_user = &prog;
    kv_convert_report rep;
    kv_status st = kv_quantize_gguf(pos[0], pos[1], &opts, &rep, &err);
    kv_cli_progress_done(&prog);
    kv_cli_plan_free(&opts.plan, &mix);
    if (st != KV_OK)
        return kv_cli_fail("quantize", &err);
    if (!quiet)
        kv_cli_print_report(pos[1], &rep, tensors);
    kv_convert_report_free(&rep);
    return 0;
}
