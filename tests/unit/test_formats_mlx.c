// MLX quantized layers: Q4_1 and Q8_0 blocks -> MLX rows -> blocks give the same
// bytes; MLX's packing order (value k at bits 4k of word k/8); Q8_0 exactness needs
// bias == -128 * scale; requantized rows stay within half a step; config.json's
// quantization entries (defaults, overrides, false) and their errors; the layer
// checks (3 bits, group not dividing the row, wrong scales shape).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kvant/kv_f16.h"
#include "kvant/kv_mlx.h"

#define ROWS 3
#define COLS 96 // 3 blocks of 32

static kv_st_tensor tensor(const char *name, kv_st_dtype dt, int64_t r, int64_t c, const void *d) {
    kv_st_tensor t = {0};
    t.name = name;
    t.file = "model.safetensors";
    t.dtype = dt;
    t.n_dims = 2;
    t.shape[0] = r;
    t.shape[1] = c;
    t.n_elements = r * c;
    t.data = d;
    t.size = (size_t)(r * c) * kv_st_dtype_size(dt);
    return t;
}

static void test_q4_1_round_trip(void **state) {
    (void)state;
    kv_block_q4_1 b[ROWS][COLS / 32], back[COLS / 32];
    srand(3);
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < COLS / 32; i++) {
            b[r][i].d = kv_f32_to_f16((float)(rand() % 1000) * 1e-4f);
            b[r][i].m = kv_f32_to_f16(-(float)(rand() % 1000) * 1e-3f);
            for (int j = 0; j < 16; j++)
                b[r][i].qs[j] = (uint8_t)rand();
        }
    uint32_t packed[ROWS][COLS / 8];
    uint16_t sc[ROWS][COLS / 32], bi[ROWS][COLS / 32];
    for (int r = 0; r < ROWS; r++)
        kv_mlx_row_from_q4_1(b[r], COLS, packed[r], sc[r], bi[r]);
    // MLX order: value 1 of the row is bits 4..7 of word 0; GGUF keeps it in qs[1]'s low nibble
    assert_int_equal((packed[0][0] >> 4) & 15u, b[0][0].qs[1] & 15u);
    assert_int_equal(packed[0][2] & 15u, b[0][0].qs[0] >> 4); // value 16: word 2, bits 0..3
    kv_st_tensor w = tensor("l.weight", KV_ST_U32, ROWS, COLS / 8, packed);
    kv_st_tensor s = tensor("l.scales", KV_ST_F16, ROWS, COLS / 32, sc);
    kv_st_tensor bb = tensor("l.biases", KV_ST_F16, ROWS, COLS / 32, bi);
    kv_mlx_linear l = {&w, &s, &bb, {4, 32}, 0, 0, false, false};
    kv_err err = {0};
    assert_int_equal(kv_mlx_linear_check(&l, &err), KV_OK);
    assert_int_equal(l.cols, COLS);
    assert_true(l.f16_exact);
    float deq[COLS];
    for (int r = 0; r < ROWS; r++) {
        kv_mlx_row_to_q4_1(&l, r, back);
        assert_memory_equal(back, b[r], sizeof back);
        kv_mlx_dequant_row(&l, r, deq);
        const float d = kv_f16_to_f32(b[r][1].d), m = kv_f16_to_f32(b[r][1].m);
        assert_true(deq[32 + 17] == d * (float)(b[r][1].qs[1] >> 4) + m);
    }
}

static void test_q8_0_round_trip(void **state) {
    (void)state;
    kv_block_q8_0 b[ROWS][COLS / 32], back[COLS / 32];
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < COLS / 32; i++) {
            b[r][i].d = kv_f32_to_f16(0.001f * (float)(r + i + 1));
            for (int j = 0; j < 32; j++)
                b[r][i].qs[j] = (int8_t)(j * 7 - 100 + r);
        }
    uint32_t packed[ROWS][COLS / 4];
    uint16_t sc[ROWS][COLS / 32], bi[ROWS][COLS / 32];
    for (int r = 0; r < ROWS; r++)
        assert_true(kv_mlx_row_from_q8_0(b[r], COLS, packed[r], sc[r], bi[r]));
    kv_st_tensor w = tensor("l.weight", KV_ST_U32, ROWS, COLS / 4, packed);
    kv_st_tensor s = tensor("l.scales", KV_ST_F16, ROWS, COLS / 32, sc);
    kv_st_tensor bb = tensor("l.biases", KV_ST_F16, ROWS, COLS / 32, bi);
    kv_mlx_linear l = {&w, &s, &bb, {8, 32}, 0, 0, false, false};
    kv_err err = {0};
    assert_int_equal(kv_mlx_linear_check(&l, &err), KV_OK);
    assert_true(l.q8_0_exact);
    for (int r = 0; r < ROWS; r++) {
        kv_mlx_row_to_q8_0(&l, r, back);
        assert_memory_equal(back, b[r], sizeof back);
    }
    bi[1][2] = kv_f32_to_f16(kv_f16_to_f32(bi[1][2]) * 0.5f); // one group's bias is not -128 * scale
    assert_int_equal(kv_mlx_linear_check(&l, &err), KV_OK);
    assert_false(l.q8_0_exact);
}

static void test_requantize(void **state) {
    (void)state;
    float x[128], y[128];
    for (int i = 0; i < 128; i++)
        x[i] = sinf((float)i * 0.37f) * 0.3f + 0.01f * (float)i;
    const int bits[] = {2, 4, 8};
    for (int k = 0; k < 3; k++) {
        kv_mlx_quant q = {bits[k], 64};
        uint32_t packed[32];
        uint16_t sc[2], bi[2];
        kv_mlx_quantize_row(x, 128, q, packed, sc, bi);
        kv_st_tensor w = tensor("l.weight", KV_ST_U32, 1, 128 * bits[k] / 32, packed);
        kv_st_tensor s = tensor("l.scales", KV_ST_F16, 1, 2, sc);
        kv_st_tensor b = tensor("l.biases", KV_ST_F16, 1, 2, bi);
        kv_mlx_linear l = {&w, &s, &b, q, 0, 0, false, false};
        kv_err err = {0};
        assert_int_equal(kv_mlx_linear_check(&l, &err), KV_OK);
        kv_mlx_dequant_row(&l, 0, y);
        for (int i = 0; i < 128; i++) // half a step, plus float16 rounding of scale and bias
            assert_true(fabsf(y[i] - x[i]) <= kv_f16_to_f32(sc[i / 64]) * 0.5f + 2e-3f);
    }
}

static void test_config(void **state) {
    (void)state;
    const char *j = "{\"quantization\": {\"group_size\": 64, \"bits\": 4, "
                    "\"model.layers.0.mlp.down_proj\": {\"group_size\": 32, \"bits\": 8}, "
                    "\"model.embed_tokens\": false}}";
    kv_mlx_config *c = NULL;
    kv_err err = {0};
    assert_int_equal(kv_mlx_config_parse(j, strlen(j), "config.json", &c, &err), KV_OK);
    assert_non_null(c);
    kv_mlx_quant q = kv_mlx_quant_of(c, "model.layers.0.self_attn.q_proj");
    assert_int_equal(q.bits, 4);
    assert_int_equal(q.group_size, 64);
    q = kv_mlx_quant_of(c, "model.layers.0.mlp.down_proj");
    assert_int_equal(q.bits, 8);
    assert_int_equal(q.group_size, 32);
    assert_int_equal(kv_mlx_quant_of(c, "model.embed_tokens").bits, 0);
    kv_mlx_config_free(c);
    const char *none = "{\"model_type\": \"llama\"}";
    assert_int_equal(kv_mlx_config_parse(none, strlen(none), "config.json", &c, &err), KV_OK);
    assert_null(c);
    const char *gptq = "{\"quantization_config\": {\"quant_method\": \"gptq\", \"bits\": 4, "
                       "\"group_size\": 128}}"; // Hugging Face's own: not an MLX layout
    assert_int_equal(kv_mlx_config_parse(gptq, strlen(gptq), "config.json", &c, &err), KV_OK);
    assert_null(c);
    const char *mirror = "{\"quantization_config\": {\"group_size\": 64, \"bits\": 8}}";
    assert_int_equal(kv_mlx_config_parse(mirror, strlen(mirror), "config.json", &c, &err), KV_OK);
    assert_non_null(c);
    assert_int_equal(kv_mlx_default_quant(c).bits, 8);
    kv_mlx_config_free(c);
    static const struct {
        const char *json, *msg;
    } BAD[] = {
        {"{\"quantization\": {\"group_size\": 64, \"bits\": 9}}", "quantization.bits"},
        {"{\"quantization\": {\"group_size\": \"64\", \"bits\": 4}}", "quantization.group_size is string"},
        {"{\"quantization\": {\"group_size\": 32, \"bits\": 4, \"mode\": \"mxfp4\"}}", "mxfp4"},
        {"{\"quantization\": {\"group_size\": 32, \"bits\": 4, \"m\": 3}}", "quantization[\"m\"]"},
        {"{\"quantization\": [1]}", "quantization is array"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        assert_int_not_equal(kv_mlx_config_parse(BAD[i].json, strlen(BAD[i].json), "config.json",
                                                 &c, &err), KV_OK);
        assert_null(c);
        assert_non_null(strstr(err.msg, "config.json"));
        if (!strstr(err.msg, BAD[i].msg))
            fail_msg("'%s': message '%s' lacks '%s'", BAD[i].json, err.msg, BAD[i].msg);
    }
}

static void test_bad_layers(void **state) {
    (void)state;
    uint32_t packed[4 * 12] = {0};
    uint16_t sc[16] = {0}, bi[16] = {0};
    kv_st_tensor w = tensor("m.weight", KV_ST_U32, 4, 12, packed); // 96 values at 4 bits
    kv_st_tensor s = tensor("m.scales", KV_ST_F16, 4, 3, sc);
    kv_st_tensor b = tensor("m.biases", KV_ST_F16, 4, 3, bi);
    kv_err err = {0};
    kv_mlx_linear l = {&w, &s, &b, {3, 32}, 0, 0, false, false};
    assert_int_equal(kv_mlx_linear_check(&l, &err), KV_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'m.weight' is quantized with 3 bits"));
    l.q = (kv_mlx_quant){4, 64};
    assert_int_equal(kv_mlx_linear_check(&l, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not a multiple of group_size 64"));
    l.q = (kv_mlx_quant){4, 48}; // 96 / 48 = 2 groups, scales have 3
    assert_int_equal(kv_mlx_linear_check(&l, &err), KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "'m.scales' has shape [4, 3], expected [4, 2]"));
    l.q = (kv_mlx_quant){4, 32};
    assert_int_equal(kv_mlx_linear_check(&l, &err), KV_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_1_round_trip), cmocka_unit_test(test_q8_0_round_trip),
        cmocka_unit_test(test_requantize),      cmocka_unit_test(test_config),
        cmocka_unit_test(test_bad_layers),
    };
    return cmocka_run_group_tests_name("formats_mlx", tests, NULL, NULL);
}
