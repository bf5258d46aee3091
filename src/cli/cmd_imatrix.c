// kvant imatrix: an importance matrix from calibration text, in llama.cpp's
// imatrix.dat format, for kvant quantize --imatrix (or llama-quantize).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kvant/kv_eval.h"
#include "kvant/kv_model.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"

static void help(FILE *f) {
    fprintf(f, "usage: kvant imatrix [-m] MODEL.gguf -f CALIB.txt -o imatrix.dat [options]\n\n"
               "Runs calibration text through the model in chunks (BOS first) and records, for\n"
               "every weight matrix of the blocks, how large each input column's activations are.\n"
               "Quantizers use it to spend precision where it matters.\n\n"
               "  -f, --file F         calibration text\n"
               "  -o, --output F       output file (default imatrix.dat)\n"
               "  -c, --ctx-size N     tokens per chunk (default 512)\n"
               "  --chunks N           use only the first N chunks\n"
               "  -t, --threads N      threads (default: all CPUs)\n"
               "  --process-output     also collect for output.weight\n"
               "  -q, --quiet          no per-chunk figures\n");
}

// One updating line on a terminal; a line every 10 chunks (and the last) otherwise.
static void progress(void *user, uint64_t done, uint64_t total, const char *label) {
    (void)user;
    bool tty = isatty(STDERR_FILENO);
    if (!tty && done % 10 != 0 && done != total)
        return;
    fprintf(stderr, "%s%s (chunk %llu of %llu)%s", tty ? "\r" : "", label,
            (unsigned long long)done, (unsigned long long)total,
            tty && done != total ? "" : "\n");
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int kv_cli_imatrix(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *out = "imatrix.dat";
    kv_imatrix_params p = {512, -1, -1, false, NULL, progress, NULL};
    int32_t n_threads = 0;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = v != NULL;
        if (kv_cli_is_help(a)) {
            help(stdout);
            return 0;
        } else if (!strcmp(a, "--process-output")) p.process_output = true, takes = false;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = true, takes = false;
        else if (a[0] != '-' || !a[1]) {
            takes = false;
            if (model)
                return kv_cli_usage_error("imatrix", "unexpected argument '%s'", a);
            model = a;
        } else if (!v) return kv_cli_usage_error("imatrix", "unknown or incomplete option '%s'", a);
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) file = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) p.n_ctx = atoi(v);
        else if (!strcmp(a, "--chunks")) p.n_chunks = atoi(v);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) n_threads = atoi(v);
        else return kv_cli_usage_error("imatrix", "unknown option '%s'", a);
        if (takes)
            i++;
    }
    if (!model || !file)
        return kv_cli_usage_error("imatrix", "need MODEL and -f CALIB.txt");
    if (p.n_ctx < 8)
        return kv_cli_usage_error("imatrix", "-c must be at least 8");
    if (quiet)
        p.progress = NULL;
    p.dataset = base_name(file);
    kv_err err = {0};
    char *text = NULL;
    size_t len = 0;
    kv_model *m = NULL;
    kv_vocab *v = NULL;
    kv_ctx *c = NULL;
    kv_token *ids = NULL;
    int64_t n = 0;
    kv_status st = kv_cli_read_text(file, &text, &len, &err);
    if (st == KV_OK)
        st = kv_model_open(model, &m, &err);
    if (st == KV_OK)
        st = kv_vocab_from_gguf(kv_model_gguf(m), &v, &err);
    if (st == KV_OK && kv_model_hparams(m)->n_ctx_train > 0 && p.n_ctx > kv_model_hparams(m)->n_ctx_train)
        st = KV_FAIL(&err, KV_ERR_INVALID, "context of %d tokens is longer than the model's %lld",
                     p.n_ctx, (long long)kv_model_hparams(m)->n_ctx_train);
    if (st == KV_OK)
        st = kv_tokenize_alloc(v, text, len, true, true, &ids, &n, &err);
    kv_ctx_params cp = kv_ctx_default_params();
    cp.n_ctx = cp.n_batch = cp.n_outputs_max = p.n_ctx;
    cp.n_threads = n_threads;
    if (st == KV_OK)
        st = kv_ctx_new(m, &cp, &c, &err);
    p.bos = v && kv_vocab_add_bos(v) ? kv_vocab_bos(v) : -1;
    kv_ppl_result r;
    if (st == KV_OK)
        st = kv_eval_imatrix(c, ids, n, &p, out, &r, &err);
    if (st == KV_OK && !quiet)
        printf("wrote %s: %d chunks of %d tokens; PPL of the calibration text %.4f +/- %.5f\n",
               out, r.n_chunks, p.n_ctx, r.ppl, r.ppl_unc);
    free(ids);
    kv_ctx_free(c);
    kv_vocab_free(v);
    kv_model_close(m);
    free(text);
    return st == KV_OK ? 0 : kv_cli_fail("imatrix", &err);
}
