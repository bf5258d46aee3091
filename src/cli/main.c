// kvant: entry point and subcommand dispatch.
#include "cli/cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const kv_cli_command COMMANDS[] = {
    {"info", kv_cli_info, "show a model's metadata, tensors and size (GGUF, safetensors, HF folder)"},
    {"convert", kv_cli_convert, "convert a Hugging Face checkpoint to GGUF"},
    {"export", kv_cli_export, "write a model in another format: ONNX (ONNX Runtime GenAI layout)"},
    {"onnx", kv_cli_onnx, "ONNX model tools: onnx quantize (int8 dynamic/static, int4 MatMulNBits)"},
    {"quantize", kv_cli_quantize, "quantize a GGUF model to a file type such as Q4_K_M"},
    {"tokenize", kv_cli_tokenize, "print the token ids of a text"},
    {"run", kv_cli_run, "generate text, or continue text interactively"},
    {"perplexity", kv_cli_perplexity, "perplexity, KL divergence and top-token agreement on a text"},
    {"imatrix", kv_cli_imatrix, "compute an importance matrix from calibration text"},
    {"serve", kv_cli_serve, "serve models over HTTP: Ollama and OpenAI APIs, web chat, metrics"},
    {"logits", kv_cli_logits, "dump a token sequence's logits and a greedy continuation (testing)"},
    {"bench", kv_cli_bench, "measure prompt and generation speed (tokens/s), as llama-bench"},
    {"optimize", kv_cli_optimize, "find the best quantization for goals on this machine (report, model)"},
    {"recommend", kv_cli_recommend, "which type to use on this machine: from an optimize run or estimates"},
    {"template", kv_cli_template, "render a chat template (Jinja) over a conversation"},
    {"keys", kv_cli_keys, "create, list and revoke the server's API keys (roles)"},
    {"audit", kv_cli_audit, "list, verify and export the server's audit log"},
    {"create", kv_cli_create, "create a model in the store from a Modelfile (Ollama's layout)"},
    {"list", kv_cli_list, "list the models in the store"},
    {"show", kv_cli_show, "show a stored model's parameters, template, system text, Modelfile"},
    {"cp", kv_cli_cp, "copy a stored model to a new name"},
    {"rm", kv_cli_rm, "remove a stored model and the blobs nothing else uses"},
    {"pull", kv_cli_pull, "fetch a model from an OCI registry or an OCI layout folder (--from)"},
    {"push", kv_cli_push, "send a stored model to an OCI registry or an OCI layout folder (--to)"},
    {"ps", kv_cli_ps, "list the models a running server has loaded (its /api/ps)"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f) {
    fprintf(f, "usage: kvant COMMAND [ARGS...]\n\n"
               "kvant converts, quantizes, evaluates and serves language models on CPU.\n\n"
               "commands:\n");
    for (const kv_cli_command *c = COMMANDS; c->name; c++)
        fprintf(f, "  %-12s %s\n", c->name, c->summary);
    fprintf(f, "\nRun 'kvant COMMAND --help' for a command's options.\n"
               "  --version    print the version\n");
}

int main(int argc, char **argv) {
    // Past a file size limit (ulimit -f) a write then fails with EFBIG and the
    // output's error names the file, instead of SIGXFSZ killing the process.
    signal(SIGXFSZ, SIG_IGN);
    // SIGINT, SIGTERM and SIGHUP remove the temporaries of the outputs being
    // written before the process dies of the signal (serve waits for SIGINT and
    // SIGTERM itself, with sigwait; a command's own handlers replace this one).
    kv_err err;
    if (kv_tmp_on_signals(&err) != KV_OK)
        fprintf(stderr, "kvant: %s\n", err.msg);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (kv_cli_is_help(cmd) || strcmp(cmd, "help") == 0) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            for (const kv_cli_command *c = COMMANDS; c->name; c++)
                if (strcmp(c->name, argv[2]) == 0) {
                    char *sub[] = {argv[2], "--help", NULL};
                    return c->fn(2, sub);
                }
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("kvant %s\n", KV_VERSION);
        return 0;
    }
    for (const kv_cli_command *c = COMMANDS; c->name; c++)
        if (strcmp(c->name, cmd) == 0)
            return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "kvant: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
