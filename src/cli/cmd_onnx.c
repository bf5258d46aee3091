// kvant onnx quantize: any ONNX model's MatMul/Gemm weights quantized
// (kv_onnx_quantize), with a summary of what was quantized and what was left
// float and why.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <math.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kvant/kv_model.h"
#include "kvant/kv_onnx_export.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"

// ---- --calib: activation statistics from kvant's own runtime ----
// kvant's export names each MatMul weight initializer after its GGUF tensor, and
// the runtime's matmul hook reports each GGUF weight's input rows: so the hook's
// statistics of a tensor are the range of that MatMul's activation input. Two
// passes over the text: min/max, then a histogram of |x| over [0, max |x|].
#define CALIB_BINS 2048
typedef struct {
    char *name;
    double lo, hi;
    double *hist;
} calib_t;
typedef struct {
    calib_t *t;
    size_t n, cap;
    int pass;
    bool failed;
} calib_acc;

static calib_t *calib_find(calib_acc *a, const char *name) {
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->t[i].name, name))
            return &a->t[i];
    if (a->pass != 0)
        return NULL;
    if (a->n == a->cap) {
        size_t c = a->cap ? 2 * a->cap : 64;
        calib_t *p = realloc(a->t, c * sizeof *p);
        if (!p)
            return NULL;
        a->t = p;
        a->cap = c;
    }
    calib_t *e = &a->t[a->n];
    size_t len = strlen(name) + 1;
    e->name = malloc(len);
    e->hist = calloc(CALIB_BINS, sizeof *e->hist);
    if (!e->name || !e->hist) {
        free(e->name);
        free(e->hist);
        return NULL;
    }
    memcpy(e->name, name, len);
    e->lo = INFINITY;
    e->hi = -INFINITY;
    a->n++;
    return e;
}

static void calib_hook(void *user, const char *tensor, const float *x, int64_t n_rows,
                       int64_t n_in) {
    calib_acc *a = user;
    if (a->failed)
        return;
    calib_t *e = calib_find(a, tensor);
    if (!e) {
        a->failed = a->pass == 0;
        return;
    }
    int64_t n = n_rows * n_in;
    if (a->pass == 0) {
        for (int64_t i = 0; i < n; i++) {
            if (x[i] < e->lo)
                e->lo = x[i];
            if (x[i] > e->hi)
                e->hi = x[i];
        }
    } else {
        double amax = fabs(e->lo) > fabs(e->hi) ? fabs(e->lo) : fabs(e->hi);
        if (!(amax > 0))
            amax = 1;
        for (int64_t i = 0; i < n; i++) {
            int b = (int)(fabs(x[i]) / amax * CALIB_BINS);
            e->hist[b < CALIB_BINS ? (b < 0 ? 0 : b) : CALIB_BINS - 1] += 1;
        }
    }
}

// Runs the first n_tok tokens of text_path through model_path in windows of ctx
// tokens and writes the calibration table (keyed by weight name) to table_path.
static kv_status calibrate(const char *model_path, const char *text_path, int64_t n_tok,
                           int32_t ctx, int n_threads, const char *table_path, kv_err *err) {
    char *text = NULL;
    size_t len = 0;
    kv_model *m = NULL;
    kv_vocab *v = NULL;
    kv_ctx *c = NULL;
    kv_token *ids = NULL;
    int64_t n = 0;
    calib_acc a = {0};
    kv_status st = kv_cli_read_text(text_path, &text, &len, err);
    if (st == KV_OK)
        st = kv_model_open(model_path, &m, err);
    if (st == KV_OK)
        st = kv_vocab_from_gguf(kv_model_gguf(m), &v, err);
    if (st == KV_OK)
        st = kv_tokenize_alloc(v, text, len, true, true, &ids, &n, err);
    if (st == KV_OK && n < 2)
        st = KV_FAIL(err, KV_ERR_INVALID, "%s: fewer than 2 tokens to calibrate on", text_path);
    if (n > n_tok)
        n = n_tok;
    kv_ctx_params cp = kv_ctx_default_params();
    cp.n_ctx = cp.n_batch = cp.n_outputs_max = ctx;
    cp.n_threads = n_threads;
    if (st == KV_OK)
        st = kv_ctx_new(m, &cp, &c, err);
    // every row computes the output layer (as the exported graph does for all logits)
    int8_t *all = malloc((size_t)ctx);
    if (!all && st == KV_OK)
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    if (all)
        memset(all, 1, (size_t)ctx);
    if (st == KV_OK)
        kv_ctx_set_matmul_hook(c, calib_hook, &a);
    for (a.pass = 0; st == KV_OK && a.pass < 2; a.pass++)
        for (int64_t i = 0; st == KV_OK && i < n; i += ctx) {
            kv_ctx_seq_clear(c, 0);
            int32_t k = (int32_t)(n - i < ctx ? n - i : ctx);
            kv_batch b = {k, ids + i, NULL, NULL, all};
            st = kv_ctx_decode(c, &b, err);
            if (st == KV_OK && a.failed)
                st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory collecting activation ranges");
        }
    if (c)
        kv_ctx_set_matmul_hook(c, NULL, NULL);
    json_t *root = json_object();
    for (size_t i = 0; st == KV_OK && root && i < a.n; i++) {
        json_t *h = json_array();
        for (int b = 0; h && b < CALIB_BINS; b++)
            json_array_append_new(h, json_real(a.t[i].hist[b]));
        json_object_set_new(root, a.t[i].name,
                            json_pack("{s:f,s:f,s:o}", "min", a.t[i].lo, "max", a.t[i].hi,
                                      "abs_hist", h));
    }
    char *js = st == KV_OK && root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (st == KV_OK && !js)
        st = KV_FAIL(err, KV_ERR_NOMEM, "%s: cannot format the calibration table", table_path);
    if (st == KV_OK) { // temporary + rename, like every output
        kv_out o;
        st = kv_out_open(&o, table_path, err);
        if (st == KV_OK && (st = kv_out_write(&o, js, strlen(js), err)) == KV_OK)
            st = kv_out_commit(&o, err);
        kv_out_abort(&o);
    }
    free(js);
    json_decref(root);
    for (size_t i = 0; i < a.n; i++)
        free(a.t[i].name), free(a.t[i].hist);
    free(a.t);
    free(all);
    free(ids);
    kv_ctx_free(c);
    kv_vocab_free(v);
    kv_model_close(m);
    free(text);
    return st;
}

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
            "  --calib FILE          static: calibration text, run through --calib-model by\n"
            "                        kvant's own runtime (for a decoder kvant exported: its\n"
            "                        MatMul weights carry the GGUF tensor names)\n"
            "  --calib-model GGUF    the float model IN was exported from\n"
            "  --calib-tokens N      tokens of the text to use (2048), in windows of\n"
            "  --calib-ctx N         tokens (256)\n"
            "  --save-calib-table F  also write the recorded table to F\n"
            "  -t, --threads N       threads for --calib\n"
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
    const char *in = NULL, *out = NULL, *calib = NULL, *calib_model = NULL, *save_table = NULL;
    int64_t calib_tokens = 2048;
    int32_t calib_ctx = 256;
    int n_threads = 0;
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
        } else if (!strcmp(a, "--calib") && i + 1 < argc) {
            calib = argv[++i];
        } else if (!strcmp(a, "--calib-model") && i + 1 < argc) {
            calib_model = argv[++i];
        } else if (!strcmp(a, "--save-calib-table") && i + 1 < argc) {
            save_table = argv[++i];
        } else if (!strcmp(a, "--calib-tokens") && i + 1 < argc) {
            calib_tokens = atoll(argv[++i]);
            if (calib_tokens < 2 || calib_tokens > 10000000)
                return kv_cli_usage_error(cmd, "--calib-tokens '%s': use 2 to 10000000", argv[i]);
        } else if (!strcmp(a, "--calib-ctx") && i + 1 < argc) {
            calib_ctx = atoi(argv[++i]);
            if (calib_ctx < 2 || calib_ctx > 65536)
                return kv_cli_usage_error(cmd, "--calib-ctx '%s': use 2 to 65536", argv[i]);
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && i + 1 < argc) {
            n_threads = atoi(argv[++i]);
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
    if (o.mode == KV_ONNXQ_STATIC && !o.calib_table && !calib)
        return kv_cli_usage_error(cmd, "--mode static needs --calib-table ranges.json or "
                                       "--calib TEXT --calib-model GGUF");
    if (calib && (!calib_model || o.calib_table || o.mode != KV_ONNXQ_STATIC))
        return kv_cli_usage_error(cmd, "--calib needs --mode static and --calib-model GGUF "
                                       "(and no --calib-table)");
    kv_err err = {0};
    char table[4096] = "";
    int table_slot = -1;
    if (calib) {
        if (save_table) {
            snprintf(table, sizeof table, "%s", save_table);
        } else {
            const char *td = getenv("TMPDIR");
            snprintf(table, sizeof table, "%s/kvant-calib-XXXXXX", td && *td ? td : "/tmp");
            int fd = kv_tmp_mkstemp(table, &table_slot, &err); // removed on SIGINT too
            if (fd < 0) {
                fprintf(stderr, "kvant %s: %s\n", cmd, err.msg);
                return 1;
            }
            close(fd);
        }
        kv_status st = calibrate(calib_model, calib, calib_tokens, calib_ctx, n_threads, table,
                                 &err);
        if (st != KV_OK) {
            if (!save_table)
                unlink(table);
            kv_tmp_untrack(table_slot);
            fprintf(stderr, "kvant %s: %s\n", cmd, err.msg);
            return 1;
        }
        o.calib_table = table;
    }
    kv_onnx_quant_report *r = NULL;
    kv_status qs = kv_onnx_quantize(in, out, &o, &r, &err);
    if (calib && !save_table)
        unlink(table);
    kv_tmp_untrack(table_slot);
    if (qs != KV_OK) {
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
