// kvant export onnx: a GGUF file or a Hugging Face folder as an ONNX Runtime
// GenAI decoder folder (kv_onnx_export). A Hugging Face folder is converted to a
// temporary GGUF inside DIR first (f32, or f16 for --precision fp16) and its
// tokenizer files are copied beside the model.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kvant/kv_convert.h"
#include "kvant/kv_core.h"
#include "kvant/kv_onnx_export.h"
#include "kvant/kv_types.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant export onnx SRC -o DIR [options]\n"
            "       kvant export mlx SRC -o DIR [--q-bits 4|8] [--q-group-size 32|64|128]\n"
            "       (kvant export mlx --help: mlx-lm folders)\n\n"
            "Writes SRC (a GGUF file or a Hugging Face folder; llama, mistral, qwen2, qwen3,\n"
            "gemma2, gemma3, phi3 incl. LongRoPE (the factors for the exported context) and\n"
            "Phi-4-mini's partial rotary)\n"
            "as an ONNX Runtime GenAI decoder: DIR/model.onnx (ai.onnx opset %d, IR %d,\n"
            "com.microsoft opset 1), DIR/model.onnx.data (the weights), genai_config.json\n"
            "and the tokenizer files. Inputs input_ids, attention_mask, position_ids,\n"
            "past_key_values.N.key/value [batch, kv_heads, past, head_dim]; outputs logits,\n"
            "present.N.key/value.\n\n"
            "  -o, --out DIR            output folder (created if missing)\n"
            "  --precision P            fp32 (default), fp16, int8 or int4 (MatMulNBits)\n"
            "  --block N                int4/int8 block size: 32 (default), 64 or 128\n"
            "  --accuracy-level N       MatMulNBits accuracy_level (default 0: fp32 compute;\n"
            "                           4: int8 activations, faster)\n"
            "  --kv-f16                 past/present KV cache in float16 (queries rounded\n"
            "                           through float16 too: the function kvant computes)\n"
            "  --activations A          float (default) or q8: each quantized weight's input\n"
            "                           is first rounded, in the graph, to the 8-bit blocks\n"
            "                           kvant and llama.cpp quantize activations to for that\n"
            "                           GGUF type (Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL, Q8_1 for\n"
            "                           Q4_1/Q5_1, Q8_K for K- and i-quants); with --kv-f16\n"
            "                           ONNX Runtime then computes what kvant computes\n"
            "  --tokenizer-dir DIR      copy tokenizer files from this Hugging Face folder\n"
            "                           (default: SRC when it is a folder; for a GGUF with a\n"
            "                           SentencePiece vocabulary, tokenizer.model and\n"
            "                           tokenizer_config.json are derived from it)\n"
            "  -q, --quiet              no progress bar and no summary\n"
            "  -v, --verbose            list every weight and how it was written\n\n"
            "int4: GGUF Q4_0 weights (and Q4_1 blocks whose minimum is a whole number of\n"
            "steps) are transcoded without requantizing when --block is 32; other weights\n"
            "are requantized (symmetric, the value of largest magnitude maps to -8), except\n"
            "an output layer stored at over 5 bits per weight (Q6_K...), kept float. The summary\n"
            "says which tensors were exact and which were requantized. int8: GGUF Q8_0\n"
            "weights are transcoded exactly (blocks of 32); others are requantized as\n"
            "Q8_0 does (scale = largest magnitude / 127).\n",
            KV_ONNX_EXPORT_OPSET, KV_ONNX_EXPORT_IR);
}

static const char *TOKENIZER_FILES[] = {"tokenizer.json", "tokenizer.model",
                                        "tokenizer_config.json", "special_tokens_map.json",
                                        "generation_config.json", NULL};

static int copy_tokenizer(const char *src, const char *dir, kv_err *err) {
    int n = 0;
    for (int i = 0; TOKENIZER_FILES[i]; i++) {
        char in[4096], out[4096];
        snprintf(in, sizeof in, "%s/%s", src, TOKENIZER_FILES[i]);
        snprintf(out, sizeof out, "%s/%s", dir, TOKENIZER_FILES[i]);
        if (access(in, R_OK) != 0)
            continue;
        char *data = NULL;
        size_t size = 0;
        if (kv_read_file(in, (size_t)1 << 30, &data, &size, err) != KV_OK)
            return -1;
        kv_out o;
        kv_status s = kv_out_open(&o, out, err);
        if (s == KV_OK) {
            s = kv_out_write(&o, data, size, err);
            s = s == KV_OK ? kv_out_commit(&o, err) : (kv_out_abort(&o), s);
        }
        free(data);
        if (s != KV_OK)
            return -1;
        n++;
    }
    return n;
}

static const char *how_name(kv_onnx_weight_how h) {
    switch (h) {
    case KV_ONNX_W_EXACT: return "exact";
    case KV_ONNX_W_REQUANT: return "requantized";
    case KV_ONNX_W_KEPT_FLOAT: return "kept float32";
    default: return "float";
    }
}

// What both formats take: SRC, -o DIR, --tokenizer-dir, -q, -v.
typedef struct {
    const char *src, *out, *tok_dir;
    bool quiet, verbose;
} export_args;

// Takes argv[*i] when it is one of export_args' (moving *i past its value) and returns 0;
// else returns the usage error's exit code. Each format checks --help and its own
// options first.
static int shared_arg(export_args *c, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if ((!strcmp(a, "-o") || !strcmp(a, "--out")) && *i + 1 < argc)
        c->out = argv[++*i];
    else if (!strcmp(a, "--tokenizer-dir") && *i + 1 < argc)
        c->tok_dir = argv[++*i];
    else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
        c->quiet = true;
    else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
        c->verbose = true;
    else if (a[0] == '-')
        return kv_cli_usage_error("export", "unknown or incomplete option '%s'", a);
    else if (!c->src)
        c->src = a;
    else
        return kv_cli_usage_error("export", "unexpected argument '%s'", a);
    return 0;
}

// Checks SRC and -o, and makes the folder OUT; a Hugging Face folder is first converted to a
// temporary GGUF of outtype inside OUT (tmp; finish() unlinks it when *hf) and is the default
// --tokenizer-dir. *gguf is what to export. Returns 0, or the exit code after saying why.
static int prepare_source(export_args *c, const char *outtype, char *tmp, size_t cap,
                          const char **gguf, bool *hf) {
    if (!c->src)
        return kv_cli_usage_error("export", "missing the model SRC");
    if (!c->out)
        return kv_cli_usage_error("export", "missing -o DIR");
    const char *src = c->src, *out = c->out;
    struct stat sb, ob;
    if (stat(src, &sb) != 0) {
        fprintf(stderr, "kvant export: %s: no such file or folder\n", src);
        return 1;
    }
    *hf = S_ISDIR(sb.st_mode);
    if (mkdir(out, 0755) != 0 && (stat(out, &ob) != 0 || !S_ISDIR(ob.st_mode))) {
        fprintf(stderr, "kvant export: %s: cannot create the folder\n", out);
        return 1;
    }
    *gguf = src;
    if (!*hf)
        return 0;
    if (!c->tok_dir)
        c->tok_dir = src;
    snprintf(tmp, cap, "%s/.kvant-export-src.%ld.gguf", out, (long)getpid());
    kv_convert_opts co = {0};
    co.outtype = outtype;
    kv_convert_report rep = {0};
    kv_err err = {0};
    if (kv_convert_hf(src, tmp, &co, &rep, &err) != KV_OK)
        return kv_cli_fail("export", &err);
    kv_convert_report_free(&rep);
    *gguf = tmp;
    return 0;
}

// After the export returned s: ends the progress bar, removes the temporary GGUF and copies
// the tokenizer files (their count in *n_tok). Returns 0, or the exit code after saying why.
static int finish(const export_args *c, kv_cli_progress *prog, bool hf, const char *tmp,
                  kv_status s, kv_err *err, int *n_tok) {
    *n_tok = 0;
    kv_cli_progress_done(prog);
    if (hf)
        unlink(tmp);
    if (s != KV_OK)
        return kv_cli_fail("export", err);
    if (c->tok_dir && (*n_tok = copy_tokenizer(c->tok_dir, c->out, err)) < 0)
        return kv_cli_fail("export", err);
    return 0;
}

// The summary's last line: where the tokenizer files came from.
static void print_tokenizer_line(const export_args *c, int n_tok, bool written) {
    if (c->tok_dir)
        printf("tokenizer files: %d copied\n", n_tok);
    else if (written)
        printf("tokenizer files: tokenizer.model and tokenizer_config.json from the GGUF's "
               "SentencePiece vocabulary\n");
    else
        printf("tokenizer files: none (not a SentencePiece vocabulary: pass "
               "--tokenizer-dir HF_FOLDER)\n");
}

static int export_onnx(int argc, char **argv) {
    export_args c = {0};
    kv_onnx_export_opts o = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (kv_cli_is_help(a)) {
            help(stdout);
            return 0;
        } else if (!strcmp(a, "--precision") && i + 1 < argc) {
            const char *p = argv[++i];
            if (!strcmp(p, "fp32"))
                o.precision = KV_ONNX_FP32;
            else if (!strcmp(p, "fp16"))
                o.precision = KV_ONNX_FP16;
            else if (!strcmp(p, "int4"))
                o.precision = KV_ONNX_INT4;
            else if (!strcmp(p, "int8"))
                o.precision = KV_ONNX_INT8;
            else
                return kv_cli_usage_error("export", "--precision '%s': use fp32, fp16, int8 or int4", p);
        } else if (!strcmp(a, "--block") && i + 1 < argc) {
            o.block = atoi(argv[++i]);
            if (o.block != 32 && o.block != 64 && o.block != 128)
                return kv_cli_usage_error("export", "--block '%s': use 32, 64 or 128", argv[i]);
        } else if (!strcmp(a, "--accuracy-level") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strlen(v) != 1 || v[0] < '0' || v[0] > '4')
                return kv_cli_usage_error("export", "--accuracy-level '%s': use 0 to 4", v);
            o.accuracy_level = v[0] - '0';
        } else if (!strcmp(a, "--activations") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "float"))
                o.activations = KV_ONNX_ACT_FLOAT;
            else if (!strcmp(v, "q8"))
                o.activations = KV_ONNX_ACT_Q8;
            else
                return kv_cli_usage_error("export", "--activations '%s': use float or q8", v);
        } else if (!strcmp(a, "--kv-f16")) {
            o.kv_f16 = true;
        } else {
            int rc = shared_arg(&c, argc, argv, &i);
            if (rc != 0)
                return rc;
        }
    }
    kv_err err = {0};
    char tmp[4096];
    const char *gguf;
    bool hf;
    int rc = prepare_source(&c, o.precision == KV_ONNX_FP16 ? "f16" : "f32", tmp, sizeof tmp,
                            &gguf, &hf);
    if (rc != 0)
        return rc;
    kv_cli_progress prog;
    kv_cli_progress_init(&prog, "export", c.quiet);
    o.write_tokenizer = !c.tok_dir;
    o.progress = kv_cli_progress_cb;
    o.progress_user = &prog;
    kv_onnx_export_report *r = NULL;
    kv_status s = kv_onnx_export(gguf, c.out, &o, &r, &err);
    int n_tok;
    rc = finish(&c, &prog, hf, tmp, s, &err, &n_tok);
    if (rc != 0) {
        kv_onnx_export_report_free(r);
        return rc;
    }
    if (!c.quiet) {
        const bool q = o.precision == KV_ONNX_INT4 || o.precision == KV_ONNX_INT8 ||
                       o.activations == KV_ONNX_ACT_Q8;
        if (c.verbose || q)
            for (int64_t i = 0; i < r->n_tensors; i++)
                if (c.verbose || r->tensors[i].how != KV_ONNX_W_FLOAT ||
                    r->tensors[i].act_type != KV_TYPE_F32)
                    printf("  %-28s %-6s -> %s%s%s\n", r->tensors[i].name,
                           kv_type_name(r->tensors[i].from_type), how_name(r->tensors[i].how),
                           r->tensors[i].act_type != KV_TYPE_F32 ? ", activations " : "",
                           r->tensors[i].act_type != KV_TYPE_F32
                               ? kv_type_name(r->tensors[i].act_type)
                               : "");
        printf("%s/model.onnx: %lld nodes, %llu bytes; model.onnx.data: %llu bytes; opset %d, IR "
               "%d\n",
               c.out, (long long)r->n_nodes, (unsigned long long)r->model_bytes,
               (unsigned long long)r->data_bytes, KV_ONNX_EXPORT_OPSET, KV_ONNX_EXPORT_IR);
        if (o.activations == KV_ONNX_ACT_Q8) {
            int64_t n_act[3] = {0, 0, 0}; // Q8_0, Q8_1, Q8_K
            for (int64_t i = 0; i < r->n_tensors; i++) {
                const uint32_t a = r->tensors[i].act_type;
                n_act[0] += a == KV_TYPE_Q8_0;
                n_act[1] += a == KV_TYPE_Q8_1;
                n_act[2] += a == KV_TYPE_Q8_K;
            }
            printf("activations: %lld weights take Q8_0 inputs, %lld Q8_1, %lld Q8_K (rounded "
                   "as kvant does)\n",
                   (long long)n_act[0], (long long)n_act[1], (long long)n_act[2]);
        }
        if (o.precision == KV_ONNX_INT4 || o.precision == KV_ONNX_INT8)
            printf("%s: %lld tensors exact (transcoded), %lld requantized, %lld kept float\n",
                   o.precision == KV_ONNX_INT4 ? "int4" : "int8", (long long)r->n_exact,
                   (long long)r->n_requant, (long long)r->n_kept_float);
        print_tokenizer_line(&c, n_tok, r->tokenizer_written);
    }
    kv_onnx_export_report_free(r);
    return 0;
}

static void help_mlx(FILE *f) {
    fprintf(f,
            "usage: kvant export mlx SRC -o DIR [options]\n\n"
            "Writes SRC (a GGUF file or a Hugging Face folder; llama, mistral, qwen2, qwen3,\n"
            "gemma2, gemma3, phi3; LongRoPE from the Hugging Face folder only)\n"
            "as an mlx-lm folder: DIR/model.safetensors (Hugging Face tensor names; every 2-D\n"
            "weight whose rows divide into groups as MLX affine groups: uint32-packed values,\n"
            "float16 scales and biases), DIR/config.json (with \"quantization\" {group_size,\n"
            "bits}) and the tokenizer files.\n\n"
            "  -o, --out DIR            output folder (created if missing)\n"
            "  --q-bits N               4 (default) or 8\n"
            "  --q-group-size N         32 (default), 64 or 128\n"
            "  --shard-size-mb N        shards of at most N MiB (model-0000K-of-0000N.safetensors\n"
            "                           and model.safetensors.index.json; default 5120, as mlx-lm)\n"
            "  --tokenizer-dir DIR      copy tokenizer files from this Hugging Face folder\n"
            "                           (default: SRC when it is a folder; for a GGUF with a\n"
            "                           SentencePiece vocabulary, tokenizer.model and\n"
            "                           tokenizer_config.json are derived from it)\n"
            "  -q, --quiet              no progress bar and no summary\n"
            "  -v, --verbose            list every tensor and how it was written\n\n"
            "GGUF Q4_1 weights with --q-bits 4 --q-group-size 32, and Q8_0 weights with\n"
            "--q-bits 8 --q-group-size 32, are transcoded without requantizing (the same\n"
            "affine values); other weights are dequantized and requantized (scale = (max -\n"
            "min) / (2^bits - 1), bias = min). The summary says which were exact. A Hugging\n"
            "Face folder is converted to a temporary F32 GGUF inside DIR first.\n");
}

static int export_mlx(int argc, char **argv) {
    export_args c = {0};
    kv_mlx_export_opts o = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (kv_cli_is_help(a)) {
            help_mlx(stdout);
            return 0;
        } else if (!strcmp(a, "--q-bits") && i + 1 < argc) {
            o.bits = atoi(argv[++i]);
            if (o.bits != 4 && o.bits != 8)
                return kv_cli_usage_error("export", "--q-bits '%s': use 4 or 8", argv[i]);
        } else if (!strcmp(a, "--q-group-size") && i + 1 < argc) {
            o.group_size = atoi(argv[++i]);
            if (o.group_size != 32 && o.group_size != 64 && o.group_size != 128)
                return kv_cli_usage_error("export", "--q-group-size '%s': use 32, 64 or 128",
                                          argv[i]);
        } else if (!strcmp(a, "--shard-size-mb") && i + 1 < argc) {
            char *end;
            const long long mb = strtoll(argv[++i], &end, 10);
            if (*end || mb < 1 || mb > (1LL << 30))
                return kv_cli_usage_error("export", "--shard-size-mb '%s': use a whole number of "
                                          "MiB, 1 or more", argv[i]);
            o.max_shard_bytes = (uint64_t)mb << 20;
        } else {
            int rc = shared_arg(&c, argc, argv, &i);
            if (rc != 0)
                return rc;
        }
    }
    kv_err err = {0};
    char tmp[4096], cfg[4096];
    const char *gguf;
    bool hf;
    int rc = prepare_source(&c, "f32", tmp, sizeof tmp, &gguf, &hf);
    if (rc != 0)
        return rc;
    if (hf) {
        snprintf(cfg, sizeof cfg, "%s/config.json", c.src);
        o.hf_config = cfg;
    }
    kv_cli_progress prog;
    kv_cli_progress_init(&prog, "export", c.quiet);
    o.progress = kv_cli_progress_cb;
    o.progress_user = &prog;
    kv_convert_report r = {0};
    bool tok_written = false;
    kv_status s = kv_mlx_export(gguf, c.out, &o, &r, c.tok_dir ? NULL : &tok_written, &err);
    int n_tok;
    rc = finish(&c, &prog, hf, tmp, s, &err, &n_tok);
    if (rc != 0) {
        kv_convert_report_free(&r);
        return rc;
    }
    if (!c.quiet) {
        int64_t n_exact = 0, n_req = 0, n_float = 0;
        for (int64_t i = 0; i < r.n_tensors; i++) {
            const kv_convert_tensor *t = &r.tensors[i];
            n_exact += t->mlx == 1;
            n_req += t->mlx == 2;
            n_float += t->mlx == 0;
            if (c.verbose || t->mlx)
                printf("  %-40s %-6s -> %s\n", t->name, kv_type_name(t->from_type),
                       t->mlx == 1   ? "exact (transcoded)"
                       : t->mlx == 2 ? "requantized"
                                     : kv_type_name(t->to_type));
        }
        printf("%s: %lld tensors, %llu bytes of data; bits %d, group size %d\n", c.out,
               (long long)r.n_tensors, (unsigned long long)r.bytes_out, o.bits ? o.bits : 4,
               o.group_size ? o.group_size : 32);
        printf("quantized layers: %lld exact (transcoded), %lld requantized; %lld kept float\n",
               (long long)n_exact, (long long)n_req, (long long)n_float);
        print_tokenizer_line(&c, n_tok, tok_written);
    }
    kv_convert_report_free(&r);
    return 0;
}

int kv_cli_export(int argc, char **argv) {
    if (argc < 2 || kv_cli_is_help(argv[1])) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "onnx"))
        return export_onnx(argc, argv);
    if (!strcmp(argv[1], "mlx"))
        return export_mlx(argc, argv);
    return kv_cli_usage_error("export", "unknown format '%s' (supported: onnx, mlx)", argv[1]);
}
