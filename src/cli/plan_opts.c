// Options shared by kvant convert and kvant quantize: threads, importance matrix,
// fallbacks and llama-quantize's type overrides.
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kvant/kv_types.h"

const char KV_CLI_PLAN_HELP[] =
    "  -t, --threads N              quantization threads (default: all CPUs)\n"
    "  --imatrix FILE               importance matrix (llama.cpp imatrix.dat) guiding quantization\n"
    "  --include-weights NAME       use the imatrix only for this tensor (repeatable)\n"
    "  --exclude-weights NAME       never use the imatrix for this tensor (repeatable)\n"
    "  --pure                       every quantized tensor gets the base type (no mix rules)\n"
    "  --output-tensor-type T       type of output.weight\n"
    "  --token-embedding-type T     type of token_embd.weight\n"
    "  --tensor-type PATTERN=T      type of tensors whose name matches the regex (repeatable)\n"
    "  --leave-output-tensor        keep output.weight as it is\n"
    "  --no-fallback                fail when a row length does not fit the chosen type\n";

static bool push(const char ***list, size_t *n, const char *v) {
    const char **p = realloc((void *)*list, (*n + 1) * sizeof *p);
    if (!p)
        return false;
    p[(*n)++] = v;
    *list = p;
    return true;
}

static int parse_type(const char *cmd, const char *opt, const char *v, kv_type *out) {
    int t = kv_type_from_name(v);
    if (t < 0 || !kv_type_get((uint32_t)t)) {
        kv_cli_usage_error(cmd, "%s: unknown type '%s'", opt, v);
        return -1;
    }
    *out = (kv_type)t;
    return 1;
}

int kv_cli_plan_option(const char *cmd, int argc, char **argv, int *i, kv_quant_plan_opts *plan,
                       kv_mix_options *mix) {
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--pure")) {
        mix->pure = true;
        return 1;
    }
    if (!strcmp(a, "--leave-output-tensor")) {
        mix->leave_output_tensor = true;
        return 1;
    }
    if (!strcmp(a, "--no-fallback")) {
        plan->no_fallback = true;
        return 1;
    }
    static const char *const WITH_VALUE[] = {"-t", "--threads", "--imatrix", "--include-weights",
                                             "--exclude-weights", "--output-tensor-type",
                                             "--token-embedding-type", "--tensor-type"};
    bool known = false;
    for (size_t k = 0; k < sizeof WITH_VALUE / sizeof *WITH_VALUE; k++)
        known = known || !strcmp(a, WITH_VALUE[k]);
    if (!known)
        return 0;
    if (!v) {
        kv_cli_usage_error(cmd, "%s needs a value", a);
        return -1;
    }
    (*i)++;
    bool ok = true;
    if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
        plan->n_threads = atoi(v);
    else if (!strcmp(a, "--imatrix"))
        plan->imatrix_path = v;
    else if (!strcmp(a, "--include-weights"))
        ok = push((const char ***)&plan->include_weights, &plan->n_include, v);
    else if (!strcmp(a, "--exclude-weights"))
        ok = push((const char ***)&plan->exclude_weights, &plan->n_exclude, v);
    else if (!strcmp(a, "--output-tensor-type"))
        return parse_type(cmd, a, v, &mix->output_tensor_type);
    else if (!strcmp(a, "--token-embedding-type"))
        return parse_type(cmd, a, v, &mix->token_embedding_type);
    else
        ok = push((const char ***)&mix->tensor_types, &mix->n_tensor_types, v);
    if (!ok) {
        kv_cli_usage_error(cmd, "out of memory");
        return -1;
    }
    return 1;
}

void kv_cli_plan_free(kv_quant_plan_opts *plan, kv_mix_options *mix) {
    free((void *)plan->include_weights);
    free((void *)plan->exclude_weights);
    free((void *)mix->tensor_types);
    plan->include_weights = plan->exclude_weights = NULL;
    mix->tensor_types = NULL;
}
