// kv_onnx_export on tiny synthetic Llamas, read back with kvant's own ONNX
// reader (kv_onnx_info): opsets and IR version, the GenAI inputs and outputs,
// the ops used for each precision, every weight in the external data file,
// how each weight was written (exact / requantized / float), and clear errors.
// ONNX Runtime itself checks the numbers in tests/integration/test_export_onnx.sh.
#include "kvant/kv_onnx_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kv_test.h"
#include "kv_test_llama.h"
#include "kvant/kv_onnx.h"

static char *dir;
static kv_onnx_activations activations; // what export() asks for

static int setup(void **state) {
    (void)state;
    dir = kv_test_tmpdir();
    return dir == NULL;
}

static int teardown(void **state) {
    (void)state;
    kv_test_rmdir(dir);
    return 0;
}

static void write_model(kv_type wtype, bool tied, const char *path) {
    kv_test_llama_opts o = kv_test_llama_defaults();
    o.wtype = wtype;
    o.tied = tied;
    kv_test_llama *m = kv_test_llama_new(&o);
    assert_non_null(m);
    assert_int_equal(kv_test_llama_write(m, path), 0);
    kv_test_llama_free(m);
}

static int64_t op_count(const kv_onnx_info *in, const char *op) {
    for (int i = 0; i < in->n_ops; i++)
        if (!strcmp(in->ops[i].op, op))
            return in->ops[i].count;
    return 0;
}

// Exports path with precision p into dir/name and reads the result back.
static kv_onnx_info *export(const char *gguf, const char *name, kv_onnx_precision p, int block,
                            kv_onnx_export_report **rep) {
    char out[512], model[600];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    kv_onnx_export_opts o = {0};
    o.precision = p;
    o.block = block;
    o.activations = activations;
    kv_err err = {0};
    kv_status s = kv_onnx_export(gguf, out, &o, rep, &err);
    if (s != KV_OK)
        fail_msg("export: %s", err.msg);
    snprintf(model, sizeof model, "%s/model.onnx", out);
    kv_onnx_info *in = NULL;
    assert_int_equal(kv_onnx_info_load(model, &in, &err), KV_OK);
    assert_int_equal(in->n_problems, 0);
    assert_int_equal(in->ir_version, KV_ONNX_EXPORT_IR);
    assert_int_equal(in->n_opsets, 2);
    // GenAI's names: 3 + 2 per layer inputs, 1 + 2 per layer outputs
    assert_int_equal(in->n_inputs, 3 + 2 * 2);
    assert_int_equal(in->n_outputs, 1 + 2 * 2);
    assert_string_equal(in->inputs[0].name, "input_ids");
    assert_string_equal(in->inputs[1].name, "attention_mask");
    assert_string_equal(in->inputs[2].name, "position_ids");
    assert_string_equal(in->inputs[3].name, "past_key_values.0.key");
    assert_string_equal(in->outputs[0].name, "logits");
    assert_string_equal(in->outputs[4].name, "present.1.value");
    // past_key_values.0.key: [batch_size, 2 kv heads, past_sequence_length, 16]
    assert_int_equal(in->inputs[3].n_dims, 4);
    assert_int_equal(in->inputs[3].dims[1].value, 2);
    assert_string_equal(in->inputs[3].dims[2].param, "past_sequence_length");
    assert_int_equal(in->inputs[3].dims[3].value, 16);
    assert_int_equal(in->outputs[0].dims[2].value, 100); // vocabulary
    // the weights are in one external file, as long as it says
    assert_int_equal(in->n_externals, 1);
    assert_string_equal(in->externals[0].location, "model.onnx.data");
    assert_true(in->externals[0].file_bytes >= (int64_t)in->externals[0].bytes);
    snprintf(model, sizeof model, "%s/genai_config.json", out);
    struct stat st;
    assert_int_equal(stat(model, &st), 0);
    return in;
}

static void test_fp32(void **state) {
    (void)state;
    char gguf[512];
    snprintf(gguf, sizeof gguf, "%s/f32.gguf", dir);
    write_model(KV_TYPE_F32, false, gguf);
    kv_onnx_export_report *rep = NULL;
    kv_onnx_info *in = export(gguf, "fp32", KV_ONNX_FP32, 0, &rep);
    assert_int_equal(op_count(in, ":MatMul"), 2 * 7 + 1 + 2 * 2); // weights, attention
    assert_int_equal(op_count(in, "com.microsoft:MatMulNBits"), 0);
    assert_int_equal(op_count(in, ":Softmax"), 2);
    assert_int_equal(rep->n_exact + rep->n_requant + rep->n_kept_float, 0);
    // every tensor of the file is written once (token_embd, output_norm, output, 9 per layer)
    assert_int_equal(rep->n_tensors, 3 + 9 * 2);
    kv_onnx_info_free(in);
    kv_onnx_export_report_free(rep);
}

static void test_int4_exact_from_q4_0(void **state) {
    (void)state;
    char gguf[512];
    snprintf(gguf, sizeof gguf, "%s/q4_0.gguf", dir);
    write_model(KV_TYPE_Q4_0, true, gguf);
    kv_onnx_export_report *rep = NULL;
    kv_onnx_info *in = export(gguf, "int4", KV_ONNX_INT4, 32, &rep);
    // 7 per layer and the tied output: all Q4_0, all transcoded
    assert_int_equal(op_count(in, "com.microsoft:MatMulNBits"), 2 * 7 + 1);
    assert_int_equal(rep->n_exact, 15);
    assert_int_equal(rep->n_requant, 0);
    kv_onnx_info_free(in);
    kv_onnx_export_report_free(rep);
    // blocks of 64 cannot hold Q4_0's scales of 32: requantized
    in = export(gguf, "int4b64", KV_ONNX_INT4, 64, &rep);
    assert_int_equal(rep->n_exact, 0);
    assert_int_equal(rep->n_requant, 15);
    kv_onnx_info_free(in);
    kv_onnx_export_report_free(rep);
}

static void test_int8_and_fp16(void **state) {
    (void)state;
    char gguf[512];
    snprintf(gguf, sizeof gguf, "%s/q8_0.gguf", dir);
    write_model(KV_TYPE_Q8_0, false, gguf);
    kv_onnx_export_report *rep = NULL;
    kv_onnx_info *in = export(gguf, "int8", KV_ONNX_INT8, 0, &rep);
    assert_int_equal(op_count(in, "com.microsoft:MatMulNBits"), 2 * 7 + 1);
    assert_int_equal(rep->n_exact, 15);
    kv_onnx_info_free(in);
    kv_onnx_export_report_free(rep);
    // int4 from Q8_0: requantized, except the output layer, kept float
    in = export(gguf, "int4", KV_ONNX_INT4, 0, &rep);
    assert_int_equal(rep->n_requant, 14);
    assert_int_equal(rep->n_kept_float, 1);
    kv_onnx_info_free(in);
    kv_onnx_export_report_free(rep);
    in = export(gguf, "fp16", KV_ONNX_FP16, 0, &rep);
    assert_int_equal(op_count(in, ":Cast"), 1 + 2 * 7 + 1); // the mask, each weight
    kv_onnx_info_free(in);
    kv_onnx_export_report_free(rep);
}

// --activations q8: one rounding block per distinct input of quantized weights
// (q/k/v share one, gate/up one), none for float weights.
static void test_activations_q8(void **state) {
    (void)state;
    char gguf[512];
    snprintf(gguf, sizeof gguf, "%s/q4_0a.gguf", dir);
    write_model(KV_TYPE_Q4_0, true, gguf);
    activations = KV_ONNX_ACT_Q8;
    kv_onnx_export_report *rep = NULL;
    kv_onnx_info *in = export(gguf, "int4q8", KV_ONNX_INT4, 32, &rep);
    // per layer: attention input, attention output, MLP input, gate*up; and the
    // tied output: 9 Q8_0 blocks, each one ReduceMax, one Floor (roundf), no Q8_K
    assert_int_equal(op_count(in, ":ReduceMax"), 2 * 4 + 1);
    assert_int_equal(op_count(in, ":Floor"), 2 * 4 + 1);
    assert_int_equal(op_count(in, ":ArgMax"), 0);
    assert_int_equal(op_count(in, "com.microsoft:MatMulNBits"), 2 * 7 + 1);
    int n_q8 = 0, n_f32 = 0;
    for (int64_t i = 0; i < rep->n_tensors; i++) {
        n_q8 += rep->tensors[i].act_type == KV_TYPE_Q8_0;
        n_f32 += rep->tensors[i].act_type == KV_TYPE_F32;
    }
    assert_int_equal(n_q8, 2 * 7 + 1);
    assert_int_equal(n_f32, rep->n_tensors - n_q8);
    kv_onnx_info_free(in);
    kv_onnx_export_report_free(rep);
    // float weights: float activations, nothing added
    snprintf(gguf, sizeof gguf, "%s/f32a.gguf", dir);
    write_model(KV_TYPE_F32, false, gguf);
    in = export(gguf, "fp32q8", KV_ONNX_FP32, 0, &rep);
    assert_int_equal(op_count(in, ":ReduceMax"), 0);
    assert_int_equal(op_count(in, ":ArgMax"), 0);
    for (int64_t i = 0; i < rep->n_tensors; i++)
        assert_int_equal(rep->tensors[i].act_type, KV_TYPE_F32);
    kv_onnx_info_free(in);
    kv_onnx_export_report_free(rep);
    activations = KV_ONNX_ACT_FLOAT;
}

static void test_errors(void **state) {
    (void)state;
    char gguf[512], out[512];
    snprintf(gguf, sizeof gguf, "%s/absent.gguf", dir);
    snprintf(out, sizeof out, "%s/never", dir);
    kv_err err = {0};
    kv_onnx_export_report *rep = (kv_onnx_export_report *)1;
    assert_int_not_equal(kv_onnx_export(gguf, out, NULL, &rep, &err), KV_OK);
    assert_null(rep);
    assert_non_null(strstr(err.msg, "absent.gguf"));
    snprintf(gguf, sizeof gguf, "%s/f32b.gguf", dir);
    write_model(KV_TYPE_F32, false, gguf);
    kv_onnx_export_opts o = {0};
    o.block = 48;
    assert_int_equal(kv_onnx_export(gguf, out, &o, NULL, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "48"));
    struct stat st;
    snprintf(out, sizeof out, "%s/never/model.onnx", dir);
    assert_int_not_equal(stat(out, &st), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp32),
        cmocka_unit_test(test_activations_q8),
        cmocka_unit_test(test_int4_exact_from_q4_0),
        cmocka_unit_test(test_int8_and_fp16),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("onnx_export", tests, setup, teardown);
}
