// kvant onnx quantize: any ONNX model's MatMul/Gemm weights quantized
// (kv_onnx_quantize), with a summary of what was quantized and what was left
// float and why.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kvant/kv_onnx_export.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant onnx quantize IN.onnx OUT.onnx [options]\n\n"
            "Quantizes the MatMul and Gemm nodes of any ONNX model whose weight is a 2-D\n"
            "float32 initializer. Other nodes, and weights that are graph inputs or computed,\n"
            "stay float; the summary says why. External data is read beside IN and written\n"
            "to OUT.data when IN had any.\n\n"
            "  --mode M              dynamic (default): int8 weights, activations quantized\n"
            "                        at run time; weight-int4: MatMul -> com.microsoft\n"
            "                        MatMulNBits; static: QDQ on activations and weights\n"
            "  --format F            dynamic: qoperator (default: DynamicQuantizeLinear +\n"
            "                        MatMulInteger, as ONNX Runtime's quantize_dynamic) or qdq\n"
            "                        (int8 weights behind DequantizeLinear)\n"
            "  --per-channel         one int8 scale per output column (default: per tensor)\n"
            "  --block N             weight-int4 block size: 32 (default), 64 or 128\n"
            "  --symmetric           weight-int4 without zero points (default: with)\n"
            "  --accuracy-level N    weight-int4: MatMulNBits accuracy_level 0-4 (4: int8\n"
            "                        activations)\n"
            "  --calib-table FILE    static: activation ranges, JSON {tensor: [min, max]} or\n"
            "                        {tensor: {\"min\": a, \"max\": b, \"abs_hist\": [counts of |x|\n"
            "                        in equal bins over [0, max(|a|,|b|)]]}}\n"
            "  --method M            static: minmax (default), entropy (KL-optimal clipping of\n"
            "                        |x| for 128 levels) or percentile (needs abs_hist)\n"
            "  --percentile P        the percentile method's percentile of |x| (99.99)\n"
            "  --exclude-nodes A,B   node names to leave float\n"
            "  --exclude-op-types T  op types to leave float (MatMul, Gemm)\n"
            "  -q, --quiet           no summary\n"
            "  -v, --verbose         one line per MatMul/Gemm node\n\n"
            "usage: kvant onnx calib-model IN.onnx OUT.onnx [--exclude-...]\n\n"
            "Writes IN with the activation input of every MatMul/Gemm that static mode would\n"
            "quantize added as a graph output, so that any runtime can record a calibration\n"
            "table (min, max, |x| histogram) for --calib-table. kvant's test records one with\n"
            "ONNX Runtime (tests/integration/onnx_ppl_ort.mjs).\n");
}

static int quantize(int argc, char **argv, bool expose) {
    const char *in = NULL, *out = NULL;
    kv_onnx_quant_opts o = {0};
    const char *cmd = expose ? "onnx calib-model" : "onnx quantize";
    bool quiet = false, verbose = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (kv_cli_is_help(a)) {
            help(stdout);
            return 0;
        } else if (!strcmp(a, "--mode") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "dynamic"))
                o.mode = KV_ONNXQ_DYNAMIC;
            else if (!strcmp(v, "weight-int4"))
                o.mode = KV_ONNXQ_INT4;
            else if (!strcmp(v, "static"))
                o.mode = KV_ONNXQ_STATIC;
            else
                return kv_cli_usage_error(cmd,
                                          "--mode '%s': use dynamic, weight-int4 or static", v);
        } else if (!strcmp(a, "--format") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "qdq"))
                o.qdq = true;
            else if (strcmp(v, "qoperator"))
                return kv_cli_usage_error(cmd, "--format '%s': use qoperator or qdq",
                                          v);
        } else if (!strcmp(a, "--per-channel")) {
            o.per_channel = true;
        } else if (!strcmp(a, "--symmetric")) {
            o.symmetric = true;
        } else if (!strcmp(a, "--block") && i + 1 < argc) {
            o.block = atoi(argv[++i]);
            if (o.block != 32 && o.block != 64 && o.block != 128)
                return kv_cli_usage_error(cmd, "--block '%s': use 32, 64 or 128",
                                          argv[i]);
        } else if (!strcmp(a, "--accuracy-level") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strlen(v) != 1 || v[0] < '0' || v[0] > '4')
                return kv_cli_usage_error(cmd, "--accuracy-level '%s': use 0 to 4",
                                          v);
            o.accuracy_level = v[0] - '0';
        } else if (!strcmp(a, "--calib-table") && i + 1 < argc) {
            o.calib_table = argv[++i];
        } else if (!strcmp(a, "--method") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "minmax"))
                o.method = KV_ONNX_CALIB_MINMAX;
            else if (!strcmp(v, "entropy"))
                o.method = KV_ONNX_CALIB_ENTROPY;
            else if (!strcmp(v, "percentile"))
                o.method = KV_ONNX_CALIB_PERCENTILE;
            else
                return kv_cli_usage_error(cmd, "--method '%s': use minmax, entropy or percentile",
                                          v);
        } else if (!strcmp(a, "--percentile") && i + 1 < argc) {
            o.percentile = atof(argv[++i]);
            if (!(o.percentile > 50 && o.percentile <= 100))
                return kv_cli_usage_error(cmd, "--percentile '%s': use a number in (50, 100]",
                                          argv[i]);
        } else if (!strcmp(a, "--exclude-nodes") && i + 1 < argc) {
            o.exclude_nodes = argv[++i];
        } else if (!strcmp(a, "--exclude-op-types") && i + 1 < argc) {
            o.exclude_op_types = argv[++i];
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = true;
        } else if (a[0] == '-' && a[1]) {
            return kv_cli_usage_error(cmd, "unknown option '%s'", a);
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            return kv_cli_usage_error(cmd, "unexpected argument '%s'", a);
        }
    }
    if (!in || !out)
        return kv_cli_usage_error(cmd, "IN.onnx and OUT.onnx are needed");
    if (expose)
        o.mode = KV_ONNXQ_EXPOSE;
    if (o.mode == KV_ONNXQ_STATIC && !o.calib_table)
        return kv_cli_usage_error(cmd,
                                  "--mode static needs --calib-table ranges.json");
    kv_err err = {0};
    kv_onnx_quant_report *r = NULL;
    if (kv_onnx_quantize(in, out, &o, &r, &err) != KV_OK) {
        fprintf(stderr, "kvant onnx quantize: %s\n", err.msg);
        return 1;
    }
    if (!quiet && expose) {
        printf("%lld activations added as graph outputs (%lld MatMul/Gemm nodes left out)\n",
               (long long)r->n_quantized, (long long)r->n_float);
    } else if (!quiet) {
        for (int64_t i = 0; i < r->n_entries; i++) {
            const kv_onnx_quant_entry *e = &r->entries[i];
            if (verbose || !e->quantized)
                printf("  %s %s '%s': %s\n", e->quantized ? "quantized " : "left float", e->op,
                       e->node, e->what);
        }
        if (r->n_quantized == 0)
            printf("nothing quantized: %lld MatMul/Gemm nodes, none with a float 2-D initializer "
                   "weight that could be rewritten (see above); %s written unchanged otherwise\n",
                   (long long)r->n_entries, out);
        else
            printf("quantized %lld of %lld MatMul/Gemm nodes (%lld left float); weights "
                   "%.2f MB -> %.2f MB%s%s%s\n",
                   (long long)r->n_quantized, (long long)r->n_entries, (long long)r->n_float,
                   r->weight_bytes_in / 1e6, r->weight_bytes_out / 1e6,
                   r->external ? "; external data in " : "", r->external ? out : "",
                   r->external ? ".data" : "");
    }
    kv_onnx_quant_report_free(r);
    return 0;
}

int kv_cli_onnx(int argc, char **argv) {
    // argv[0] is "onnx", argv[1] the subcommand
    if (argc < 2 || kv_cli_is_help(argv[1])) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "quantize"))
        return quantize(argc, argv, false);
    if (!strcmp(argv[1], "calib-model"))
        return quantize(argc, argv, true);
    return kv_cli_usage_error("onnx", "unknown subcommand '%s' (onnx quantize, onnx calib-model)", argv[1]);
}
