// Model loading: hyper-parameters from the llama.* keys, tied output, and one
// clear error for each kind of bad file (missing key or tensor, other
// architecture, wrong shape, wrong type, impossible head counts).
#include "kvant/kv_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kv_test_llama.h"

static char *dir;

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

// Writes a model with options o and opens it; returns the status, err filled.
static kv_status load(const kv_test_llama_opts *o, kv_model **m, kv_err *err) {
    static int n;
    char path[512];
    snprintf(path, sizeof path, "%s/m%d.gguf", dir, n++);
    kv_test_llama *ref = kv_test_llama_new(o);
    assert_int_equal(kv_test_llama_write(ref, path), 0);
    kv_test_llama_free(ref);
    memset(err, 0, sizeof *err);
    return kv_model_open(path, m, err);
}

static void expect(const kv_test_llama_opts *o, kv_status want, const char *fragment) {
    kv_model *m = (kv_model *)1;
    kv_err err;
    kv_status st = load(o, &m, &err);
    assert_int_equal(st, want);
    assert_null(m);
    print_message("%s\n", err.msg);
    if (!strstr(err.msg, fragment) || !strstr(err.msg, ".gguf"))
        fail_msg("message '%s' lacks '%s' or the file name", err.msg, fragment);
}

static void test_hparams(void **state) {
    (void)state;
    kv_test_llama_opts o = kv_test_llama_defaults();
    o.tied = true;
    kv_model *m = NULL;
    kv_err err;
    assert_int_equal(load(&o, &m, &err), KV_OK);
    const kv_hparams *hp = kv_model_hparams(m);
    assert_string_equal(hp->arch, "llama");
    assert_int_equal(hp->n_vocab, 100);
    assert_int_equal(hp->n_ctx_train, 128);
    assert_int_equal(hp->n_embd, 64);
    assert_int_equal(hp->n_layer, 2);
    assert_int_equal(hp->n_head, 4);
    assert_int_equal(hp->n_head_kv, 2);
    assert_int_equal(hp->n_ff, 96);
    assert_int_equal(hp->n_embd_head_k, 16);
    assert_int_equal(hp->n_rot, 16);
    assert_float_equal(hp->rope_freq_base, 10000.0, 0);
    assert_float_equal(hp->rope_freq_scale, 1.0, 0);
    assert_float_equal(hp->norm_rms_eps, 1e-5, 1e-12);
    assert_true(hp->tied_output);
    assert_non_null(kv_model_gguf(m));
    // F32 bytes of token_embd, output_norm and per layer the two norms, q, k, v,
    // output and the three feed-forward matrices (tied: no output.weight)
    const uint64_t want = 4ull * (100 * 64 + 64 +
                                  2 * (64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 64 + 3 * 96 * 64));
    assert_int_equal(kv_model_weight_bytes(m), want);
    kv_model_close(m);
    kv_model_close(NULL);
}

static void test_missing_tensor(void **state) {
    (void)state;
    kv_test_llama_opts o = kv_test_llama_defaults();
    o.skip_tensor = "blk.1.attn_k.weight";
    expect(&o, KV_ERR_FORMAT, "missing tensor 'blk.1.attn_k.weight'");
    o.skip_tensor = "output_norm.weight";
    expect(&o, KV_ERR_FORMAT, "missing tensor 'output_norm.weight'");
    o.skip_tensor = "token_embd.weight";
    expect(&o, KV_ERR_FORMAT, "missing tensor 'token_embd.weight'");
}

static void test_missing_key(void **state) {
    (void)state;
    kv_test_llama_opts o = kv_test_llama_defaults();
    o.skip_key = "llama.block_count";
    expect(&o, KV_ERR_FORMAT, "missing key 'llama.block_count'");
    o.skip_key = "llama.attention.layer_norm_rms_epsilon";
    expect(&o, KV_ERR_FORMAT, "missing key 'llama.attention.layer_norm_rms_epsilon'");
    o.skip_key = "llama.attention.head_count_kv"; // optional: defaults to head_count
    o.n_head_kv = 4;
    kv_model *m = NULL;
    kv_err err;
    assert_int_equal(load(&o, &m, &err), KV_OK);
    assert_int_equal(kv_model_hparams(m)->n_head_kv, 4);
    kv_model_close(m);
}

static void test_unsupported_arch(void **state) {
    (void)state;
    kv_test_llama_opts o = kv_test_llama_defaults();
    o.arch = "gpt2";
    expect(&o, KV_ERR_UNSUPPORTED, "architecture 'gpt2' is not supported");
    // qwen3 needs the per-head q/k norms a Llama file lacks
    o.arch = "qwen3";
    expect(&o, KV_ERR_FORMAT, "missing tensor 'blk.0.attn_q_norm.weight'");
    // gemma2 needs the norms after attention and the feed-forward; gemma3 also q/k norms
    o.arch = "gemma2";
    expect(&o, KV_ERR_FORMAT, "missing tensor 'blk.0.post_attention_norm.weight'");
    o.arch = "gemma3";
    expect(&o, KV_ERR_FORMAT, "missing tensor 'blk.0.attn_q_norm.weight'");
    // phi3 reads q/k/v from one fused attn_qkv.weight, which a Llama file lacks
    o.arch = "phi3";
    expect(&o, KV_ERR_FORMAT, "missing tensor 'blk.0.attn_qkv.weight'");
    // bert has no RoPE: a rotary dimension count in a "bert" file is refused
    o.arch = "bert";
    expect(&o, KV_ERR_FORMAT, "key 'bert.rope.dimension_count' is 16, expected 0..0");
    // qwen2 is Llama's tensor set (biases optional)
    o.arch = "qwen2";
    kv_model *m = NULL;
    kv_err err;
    assert_int_equal(load(&o, &m, &err), KV_OK);
    assert_string_equal(kv_model_hparams(m)->arch, "qwen2");
    kv_model_close(m);
}

static void test_bad_shape_and_type(void **state) {
    (void)state;
    kv_test_llama_opts o = kv_test_llama_defaults();
    o.wide_tensor = "blk.0.ffn_up.weight";
    expect(&o, KV_ERR_FORMAT, "tensor 'blk.0.ffn_up.weight' has shape [64, 97], expected [64, 96]");
    o.wide_tensor = "blk.1.attn_norm.weight";
    expect(&o, KV_ERR_FORMAT, "tensor 'blk.1.attn_norm.weight' has shape [65], expected [64]");
    o = kv_test_llama_defaults();
    o.norm_type = KV_TYPE_F16;
    expect(&o, KV_ERR_UNSUPPORTED, "tensor 'output_norm.weight' has type F16");
}

static void test_bad_heads(void **state) {
    (void)state;
    kv_test_llama_opts o = kv_test_llama_defaults();
    o.n_head_kv = 3; // 4 heads cannot share 3 KV heads
    o.head_dim = 16;
    expect(&o, KV_ERR_FORMAT, "4 heads do not divide into 3 KV heads");
    o = kv_test_llama_defaults();
    o.n_rot = 32; // more than the head size
    expect(&o, KV_ERR_FORMAT, "key 'llama.rope.dimension_count' is 32, expected 0..16");
}

static void test_not_a_file(void **state) {
    (void)state;
    kv_model *m = (kv_model *)1;
    kv_err err;
    char path[512];
    snprintf(path, sizeof path, "%s/absent.gguf", dir);
    assert_int_not_equal(kv_model_open(path, &m, &err), KV_OK);
    assert_null(m);
    assert_non_null(strstr(err.msg, "absent.gguf"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hparams),         cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_missing_key),     cmocka_unit_test(test_unsupported_arch),
        cmocka_unit_test(test_bad_shape_and_type), cmocka_unit_test(test_bad_heads),
        cmocka_unit_test(test_not_a_file),
    };
    return cmocka_run_group_tests_name("model_load", tests, setup, teardown);
}
