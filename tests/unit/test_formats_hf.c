// Hugging Face folders: the demo model's config and tokenizer against llama.cpp's
// conversion (golden SHA-256 of the GGUF-encoded token arrays), the Llama 2
// SentencePiece model, BPE tokenizer.json folders, and config.json errors.
#include "kvant/kv_hf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kvant/kv_core.h"
#include "kvant/kv_spm.h"

// ---- GGUF array encoding (what the golden digests cover) ----

enum { GGUF_INT32 = 5, GGUF_FLOAT32 = 6, GGUF_STRING = 8 };

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_u32(buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

static void put_u64(buf *b, uint64_t v) {
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

// SHA-256 of "element type u32, count u64, elements" for one of the vocab arrays.
static void array_digest(const kv_hf_vocab *v, int which, char out[65]) {
    buf b = {0};
    put_u32(&b, which == 0 ? GGUF_STRING : which == 1 ? GGUF_FLOAT32 : GGUF_INT32);
    put_u64(&b, (uint64_t)v->n_tokens);
    for (int64_t i = 0; i < v->n_tokens; i++) {
        if (which == 0) {
            put_u64(&b, strlen(v->tokens[i]));
            put(&b, v->tokens[i], strlen(v->tokens[i]));
        } else if (which == 1) {
            uint32_t u;
            memcpy(&u, &v->scores[i], 4);
            put_u32(&b, u);
        } else {
            put_u32(&b, (uint32_t)v->types[i]);
        }
    }
    kv_test_sha256_hex(b.p, b.n, out);
    free(b.p);
}

// "[4096 items, sha256 X]" from the golden file's convert.F32.metadata.
static void golden_digest(const char *key, char out[65]) {
    char *text = NULL;
    kv_err err;
    assert_int_equal(kv_read_file(kv_test_shared_path("testdata/golden/kjv-llama-7m.json"),
                                  64 << 20, &text, NULL, &err),
                     KV_OK);
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": \"[", key);
    const char *p = strstr(text, pat);
    assert_non_null(p);
    p = strstr(p, "sha256 ");
    assert_non_null(p);
    memcpy(out, p + 7, 64);
    out[64] = '\0';
    free(text);
}

static kv_hf *open_demo(void) {
    kv_hf *hf = NULL;
    kv_err err;
    kv_status s = kv_hf_open(kv_test_shared_path("models/kjv-llama-7m"), &hf, &err);
    if (s != KV_OK)
        fail_msg("open: %s", err.msg);
    return hf;
}

// ---- the demo model ----

static void test_demo_config(void **state) {
    (void)state;
    KV_NEED_SHARED();
    kv_hf *hf = open_demo();
    const kv_hf_config *c = kv_hf_config_of(hf);
    assert_string_equal(c->hf_class, "LlamaForCausalLM");
    assert_string_equal(c->arch, "llama");
    assert_int_equal(c->n_embd, 256);
    assert_int_equal(c->n_ff, 768);
    assert_int_equal(c->n_layer, 6);
    assert_int_equal(c->n_head, 8);
    assert_int_equal(c->n_head_kv, 4);
    assert_int_equal(c->head_dim, 32);
    assert_int_equal(c->n_ctx, 512);
    assert_int_equal(c->n_vocab, 4096);
    assert_true(c->rms_eps == 1e-5f);
    assert_true(c->rope_theta == 10000.0f);
    assert_false(c->tie_embeddings);
    assert_null(c->rope_scaling_type);
    assert_int_equal(c->sliding_window, 0);
    assert_string_equal(c->torch_dtype, "bfloat16");
    assert_string_equal(c->name, "kjv-llama-7m");
    const kv_safetensors *st = kv_hf_tensors(hf);
    assert_int_equal(kv_safetensors_count(st), 57);
    int64_t i = kv_safetensors_find(st, "model.embed_tokens.weight");
    assert_true(i >= 0);
    assert_int_equal(kv_safetensors_at(st, i)->shape[0], 4096);
    kv_hf_close(hf);
}

static void test_demo_vocab_golden(void **state) {
    (void)state;
    KV_NEED_SHARED();
    kv_hf *hf = open_demo();
    const kv_hf_vocab *v = kv_hf_vocab_of(hf);
    assert_string_equal(v->model, "llama");
    assert_string_equal(v->pre, "default");
    assert_int_equal(v->n_tokens, 4096);
    static const char *const keys[3] = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                                        "tokenizer.ggml.token_type"};
    for (int k = 0; k < 3; k++) {
        char got[65], want[65];
        array_digest(v, k, got);
        golden_digest(keys[k], want);
        assert_string_equal(got, want);
    }
    // llama.cpp wrote bos 1, eos 2, add_bos true, add_eos false and no unk/pad ids.
    assert_int_equal(v->bos_id, 1);
    assert_int_equal(v->eos_id, 2);
    assert_int_equal(v->unk_id, -1);
    assert_int_equal(v->pad_id, -1);
    assert_int_equal(v->sep_id, -1);
    assert_int_equal(v->add_bos, 1);
    assert_int_equal(v->add_eos, 0);
    assert_int_equal(v->add_space_prefix, 1);
    assert_int_equal(v->add_space_prefix_cfg, -1);
    assert_true(v->byte_fallback);
    assert_null(v->chat_template);
    assert_int_equal(v->n_merges, 0);
    kv_hf_close(hf);
}

static void test_llama2_spm(void **state) {
    (void)state;
    KV_NEED_SHARED();
    kv_spm_model *m = NULL;
    kv_err err;
    kv_status s = kv_spm_model_load(kv_test_shared_path("tokenizers/llama2/tokenizer.model"), &m,
                                    &err);
    if (s != KV_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(m->n_pieces, 32000);
    assert_string_equal(m->pieces[0], "<unk>");
    assert_int_equal(m->types[0], KV_TOKEN_UNKNOWN);
    assert_string_equal(m->pieces[1], "<s>");
    assert_int_equal(m->types[1], KV_TOKEN_CONTROL);
    assert_string_equal(m->pieces[2], "</s>");
    assert_int_equal(m->types[2], KV_TOKEN_CONTROL);
    for (int i = 3; i < 259; i++) {
        char want[8];
        snprintf(want, sizeof want, "<0x%02X>", i - 3);
        assert_string_equal(m->pieces[i], want);
        assert_int_equal(m->types[i], KV_TOKEN_BYTE);
    }
    assert_string_equal(m->pieces[259], "\xe2\x96\x81\xe2\x96\x81"); // "▁▁"
    assert_int_equal(m->types[259], KV_TOKEN_NORMAL);
    assert_int_equal(m->model_type, 2); // BPE
    assert_true(m->byte_fallback);
    assert_true(m->add_dummy_prefix);
    assert_int_equal(m->unk_id, 0);
    assert_int_equal(m->bos_id, 1);
    assert_int_equal(m->eos_id, 2);
    assert_int_equal(m->pad_id, -1);
    kv_spm_model_free(m);
}

static void test_spm_garbage(void **state) {
    (void)state;
    kv_spm_model *m = (kv_spm_model *)1;
    kv_err err;
    static const uint8_t junk[] = {0x0a, 0x7f, 0x01}; // field 1, length 127, 1 byte
    assert_int_equal(kv_spm_model_parse(junk, sizeof junk, "junk.model", &m, &err), KV_ERR_FORMAT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "junk.model"));
    // a piece with type 9
    static const uint8_t bad_type[] = {0x0a, 0x05, 0x0a, 0x01, 'a', 0x18, 0x09};
    assert_int_equal(kv_spm_model_parse(bad_type, sizeof bad_type, "t.model", &m, &err),
                     KV_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "piece 0 has type 9"));
    assert_int_equal(kv_spm_model_parse(NULL, 0, "e.model", &m, &err), KV_ERR_FORMAT);
}

// ---- tmpdir fixtures ----

static void write_text(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(kv_test_write_file(path, text, strlen(text)), 0);
}

// One F32 tensor "w" of shape [2], enough for kv_hf_open's weight check.
static void write_weights(const char *dir) {
    static const char hdr[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    uint8_t file[8 + sizeof hdr - 1 + 8] = {0};
    file[0] = (uint8_t)(sizeof hdr - 1);
    memcpy(file + 8, hdr, sizeof hdr - 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(kv_test_write_file(path, file, sizeof file), 0);
}

static void copy_demo_tokenizer(const char *dir) {
    char *data = NULL;
    size_t n = 0;
    kv_err err;
    assert_int_equal(kv_read_file(kv_test_shared_path("models/kjv-llama-7m/tokenizer.model"),
                                  1 << 20, &data, &n, &err),
                     KV_OK);
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    assert_int_equal(kv_test_write_file(path, data, n), 0);
    free(data);
}

#define CFG_HEAD "{\"architectures\": [\"LlamaForCausalLM\"], "
#define CFG_DIMS                                                                                \
    "\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, "              \
    "\"num_attention_heads\": 4"

// Opens dir with config.json = cfg; returns the status and leaves the message in err.
static kv_status open_with_config(const char *dir, const char *cfg, kv_err *err) {
    write_text(dir, "config.json", cfg);
    kv_hf *hf = NULL;
    kv_status s = kv_hf_open(dir, &hf, err);
    kv_hf_close(hf);
    return s;
}

static void expect_config_error(const char *cfg, kv_status want, const char *fragment) {
    char *dir = kv_test_tmpdir();
    assert_non_null(dir);
    kv_err err = {0};
    kv_status s = open_with_config(dir, cfg, &err);
    if (s != want || !strstr(err.msg, fragment) || !strstr(err.msg, "config.json"))
        fail_msg("config %s: got %s '%s', want %s with '%s'", cfg, kv_status_str(s), err.msg,
                 kv_status_str(want), fragment);
    kv_test_rmdir(dir);
}

static void test_config_errors(void **state) {
    (void)state;
    expect_config_error("{\"architectures\": [\"Gemma2ForCausalLM\"], " CFG_DIMS
                        ", \"hidden_activation\": \"relu\"}",
                        KV_ERR_UNSUPPORTED, "field 'hidden_activation' is 'relu'");
    expect_config_error("{\"architectures\": [\"Gemma3ForCausalLM\"], " CFG_DIMS
                        ", \"attn_logit_softcapping\": 50.0}",
                        KV_ERR_UNSUPPORTED, "field 'attn_logit_softcapping' is set");
    expect_config_error("{\"architectures\": [\"Gemma2ForCausalLM\"], " CFG_DIMS
                        ", \"attn_logit_softcapping\": -1.0}",
                        KV_ERR_FORMAT, "is negative");
    expect_config_error("{\"architectures\": [\"Phi3ForCausalLM\"], " CFG_DIMS
                        ", \"partial_rotary_factor\": 1.5}",
                        KV_ERR_UNSUPPORTED, "field 'partial_rotary_factor' is 1.5");
    expect_config_error("{\"architectures\": [\"Phi3ForCausalLM\"], " CFG_DIMS
                        ", \"hidden_act\": \"gelu\"}",
                        KV_ERR_UNSUPPORTED, "field 'hidden_act' is 'gelu'");
    expect_config_error("{\"architectures\": [\"Phi3ForCausalLM\"], " CFG_DIMS
                        ", \"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": [1.0], "
                        "\"long_factor\": [2.0]}}",
                        KV_ERR_FORMAT, "field 'rope_scaling.short_factor' has 1 numbers, expected 8");
    expect_config_error("{\"architectures\": [\"Phi3ForCausalLM\"], " CFG_DIMS
                        ", \"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": "
                        "[1,1,1,1,1,1,1,1], \"long_factor\": [1,1,1,1,1,1,1,-2]}, "
                        "\"original_max_position_embeddings\": 64}",
                        KV_ERR_FORMAT, "'rope_scaling.long_factor' entry 7 is not a positive number");
    expect_config_error("{\"architectures\": [\"Phi3ForCausalLM\"], " CFG_DIMS
                        ", \"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": "
                        "[1,1,1,1,1,1,1,1], \"long_factor\": [1,1,1,1,1,1,1,2]}}",
                        KV_ERR_FORMAT, "field 'original_max_position_embeddings' is missing");
    expect_config_error(CFG_HEAD CFG_DIMS ", \"rope_scaling\": {\"type\": \"longrope\", "
                                          "\"short_factor\": [1], \"long_factor\": [2]}}",
                        KV_ERR_UNSUPPORTED, "field 'rope_scaling' has type 'longrope'");
    expect_config_error(CFG_HEAD "\"hidden_size\": 64, \"intermediate_size\": 128, "
                                 "\"num_hidden_layers\": 2}",
                        KV_ERR_FORMAT, "config.json: field 'num_attention_heads' is missing");
    expect_config_error(CFG_HEAD "\"hidden_size\": \"64\", \"intermediate_size\": 128, "
                                 "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}",
                        KV_ERR_FORMAT, "field 'hidden_size' has type string, expected an integer");
    expect_config_error(CFG_HEAD "\"hidden_size\": 64.0, \"intermediate_size\": 128, "
                                 "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}",
                        KV_ERR_FORMAT, "field 'hidden_size' has type real");
    expect_config_error(CFG_HEAD CFG_DIMS ", \"num_key_value_heads\": 3}", KV_ERR_FORMAT,
                        "num_attention_heads 4 is not a multiple of num_key_value_heads 3");
    expect_config_error(CFG_HEAD CFG_DIMS ", \"num_key_value_heads\": 0}", KV_ERR_FORMAT,
                        "field 'num_key_value_heads' is 0");
    expect_config_error(CFG_HEAD CFG_DIMS ", \"tie_word_embeddings\": 1}", KV_ERR_FORMAT,
                        "field 'tie_word_embeddings' has type integer, expected a boolean");
    expect_config_error(CFG_HEAD CFG_DIMS ", \"rms_norm_eps\": \"1e-5\"}", KV_ERR_FORMAT,
                        "field 'rms_norm_eps' has type string, expected a number");
    expect_config_error(CFG_HEAD CFG_DIMS ", \"rope_scaling\": [1]}", KV_ERR_FORMAT,
                        "field 'rope_scaling' has type array");
    expect_config_error("{\"architectures\": [\"GPT2LMHeadModel\"], " CFG_DIMS "}",
                        KV_ERR_UNSUPPORTED, "field 'architectures' names 'GPT2LMHeadModel'");
    expect_config_error(CFG_HEAD CFG_DIMS ", \"rope_scaling\": {\"rope_type\": \"llama3\", "
                                          "\"low_freq_factor\": 4.0, \"high_freq_factor\": 1.0}}",
                        KV_ERR_FORMAT, "expected positive factors and low < high");
    expect_config_error(CFG_HEAD CFG_DIMS ", \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0, "
                                          "\"original_max_position_embeddings\": 32768}}",
                        KV_ERR_UNSUPPORTED, "field 'rope_scaling' has type 'yarn'");
    expect_config_error("{" CFG_DIMS "}", KV_ERR_FORMAT, "field 'architectures' is missing");
    expect_config_error("{\"architectures\": \"LlamaForCausalLM\", " CFG_DIMS "}", KV_ERR_FORMAT,
                        "field 'architectures' has type string");
    expect_config_error("{\"architectures\": [], " CFG_DIMS "}", KV_ERR_FORMAT,
                        "field 'architectures' has no entry first");
    expect_config_error("{\"architectures\": [\"LlamaForCausalLM\"],\n  \"hidden_size\": }",
                        KV_ERR_FORMAT, "invalid JSON");
    expect_config_error("[1, 2]", KV_ERR_FORMAT, "is a JSON array, expected an object");
}

static void test_config_missing(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    kv_hf *hf = NULL;
    kv_err err;
    assert_int_equal(kv_hf_open(dir, &hf, &err), KV_ERR_IO);
    assert_null(hf);
    assert_non_null(strstr(err.msg, "config.json"));
    kv_test_rmdir(dir);
}

static void test_config_defaults(void **state) {
    (void)state;
    KV_NEED_SHARED();
    char *dir = kv_test_tmpdir();
    copy_demo_tokenizer(dir);
    write_weights(dir);
    write_text(dir, "config.json", CFG_HEAD CFG_DIMS ", \"rope_scaling\": null}");
    kv_hf *hf = NULL;
    kv_err err;
    if (kv_hf_open(dir, &hf, &err) != KV_OK)
        fail_msg("%s", err.msg);
    const kv_hf_config *c = kv_hf_config_of(hf);
    assert_int_equal(c->n_head_kv, 4);  // = num_attention_heads
    assert_int_equal(c->head_dim, 16);  // hidden_size / num_attention_heads
    assert_int_equal(c->n_ctx, 2048);   // LlamaConfig's max_position_embeddings
    assert_true(c->rms_eps == 1e-6f);   // LlamaConfig's rms_norm_eps
    assert_true(c->rope_theta == 10000.0f);
    assert_int_equal(c->n_vocab, 4096); // no vocab_size: the tokenizer's size
    assert_null(c->torch_dtype);
    const kv_hf_vocab *v = kv_hf_vocab_of(hf);
    assert_int_equal(v->bos_id, -1); // no config ids, no tokenizer_config
    assert_int_equal(v->add_bos, -1);
    kv_hf_close(hf);

    write_text(dir, "config.json",
               "{\"architectures\": [\"MistralForCausalLM\"], \"hidden_size\": 64, "
               "\"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 16, "
               "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 4.0}, \"dtype\": "
               "\"float16\", \"tie_word_embeddings\": true}");
    if (kv_hf_open(dir, &hf, &err) != KV_OK)
        fail_msg("%s", err.msg);
    c = kv_hf_config_of(hf);
    assert_string_equal(c->arch, "llama");
    assert_int_equal(c->n_head_kv, 8); // MistralConfig's default
    assert_int_equal(c->n_ctx, 131072);
    assert_int_equal(c->sliding_window, 4096);
    assert_string_equal(c->rope_scaling_type, "linear");
    assert_true(c->rope_scaling_factor == 4.0f);
    assert_string_equal(c->torch_dtype, "float16");
    assert_true(c->tie_embeddings);
    kv_hf_close(hf);

    // Llama 3.x: llama3 scaling with llama.cpp's defaults for what is absent
    write_text(dir, "config.json",
               CFG_HEAD CFG_DIMS ", \"rope_theta\": 500000.0, \"rope_scaling\": {\"rope_type\": "
               "\"llama3\", \"low_freq_factor\": 2.0, \"original_max_position_embeddings\": 4096}}");
    if (kv_hf_open(dir, &hf, &err) != KV_OK)
        fail_msg("%s", err.msg);
    c = kv_hf_config_of(hf);
    assert_string_equal(c->rope_scaling_type, "llama3");
    assert_true(c->rope_theta == 500000.0f);
    assert_true(c->rope_scaling_factor == 8.0f);
    assert_true(c->rope_low_freq_factor == 2.0f);
    assert_true(c->rope_high_freq_factor == 4.0f);
    assert_int_equal(c->rope_scaling_orig_ctx, 4096);
    assert_int_equal(c->rope_llama3_orig_ctx, 8192); // llama.cpp reads the top-level field
    kv_hf_close(hf);

    // Qwen2 / Qwen3: their own GGUF architectures, head_dim from config
    write_text(dir, "config.json",
               "{\"architectures\": [\"Qwen3ForCausalLM\"], " CFG_DIMS ", \"head_dim\": 24}");
    if (kv_hf_open(dir, &hf, &err) != KV_OK)
        fail_msg("%s", err.msg);
    c = kv_hf_config_of(hf);
    assert_string_equal(c->arch, "qwen3");
    assert_int_equal(c->head_dim, 24);
    assert_int_equal(c->n_ctx, 32768);
    kv_hf_close(hf);
    write_text(dir, "config.json", "{\"architectures\": [\"Qwen2ForCausalLM\"], " CFG_DIMS "}");
    if (kv_hf_open(dir, &hf, &err) != KV_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(kv_hf_config_of(hf)->arch, "qwen2");
    kv_hf_close(hf);

    // Gemma 2 / 3: Gemma2Config's and Gemma3TextConfig's defaults, tied embeddings
    write_text(dir, "config.json", "{\"architectures\": [\"Gemma2ForCausalLM\"], " CFG_DIMS
                                   ", \"final_logit_softcapping\": null, \"sliding_window\": 16}");
    if (kv_hf_open(dir, &hf, &err) != KV_OK)
        fail_msg("%s", err.msg);
    c = kv_hf_config_of(hf);
    assert_string_equal(c->arch, "gemma2");
    assert_true(c->tie_embeddings);
    assert_true(c->attn_softcap == 50.0f);
    assert_true(c->final_softcap == 0.0f); // null: off
    assert_int_equal(c->query_pre_attn_scalar, 256);
    assert_int_equal(c->sliding_window, 16);
    assert_int_equal(c->n_ctx, 8192);
    kv_hf_close(hf);
    write_text(dir, "config.json", "{\"architectures\": [\"Gemma3ForCausalLM\"], " CFG_DIMS
                                   ", \"query_pre_attn_scalar\": 168}");
    if (kv_hf_open(dir, &hf, &err) != KV_OK)
        fail_msg("%s", err.msg);
    c = kv_hf_config_of(hf);
    assert_string_equal(c->arch, "gemma3");
    assert_true(c->attn_softcap == 0.0f && c->final_softcap == 0.0f);
    assert_true(c->rope_theta == 1000000.0f && c->rope_local_base == 10000.0f);
    assert_int_equal(c->query_pre_attn_scalar, 168);
    assert_int_equal(c->sliding_window, 4096);
    kv_hf_close(hf);

    // Phi-3: Phi3Config's defaults (4096 context, eps 1e-5, no window, untied)
    write_text(dir, "config.json", "{\"architectures\": [\"Phi3ForCausalLM\"], " CFG_DIMS "}");
    if (kv_hf_open(dir, &hf, &err) != KV_OK)
        fail_msg("%s", err.msg);
    c = kv_hf_config_of(hf);
    assert_string_equal(c->arch, "phi3");
    assert_int_equal(c->n_ctx, 4096);
    assert_int_equal(c->n_head_kv, 4);
    assert_true(c->rms_eps == 1e-5f);
    assert_int_equal(c->sliding_window, 0);
    assert_false(c->tie_embeddings);
    assert_false(c->rope_orig_ctx_given);
    kv_hf_close(hf);
    write_text(dir, "config.json", "{\"architectures\": [\"Phi3ForCausalLM\"], " CFG_DIMS
                                   ", \"sliding_window\": 2047, \"rms_norm_eps\": 1e-6, "
                                   "\"original_max_position_embeddings\": 4096}");
    if (kv_hf_open(dir, &hf, &err) != KV_OK)
        fail_msg("%s", err.msg);
    c = kv_hf_config_of(hf);
    assert_int_equal(c->sliding_window, 2047);
    assert_true(c->rms_eps == 1e-6f);
    assert_true(c->rope_orig_ctx_given);
    assert_int_equal(c->rope_llama3_orig_ctx, 4096);
    assert_int_equal(c->n_rope_factors, 0);
    kv_hf_close(hf);
    // Phi-3 longrope (128k models): both lists, the original context, llama.cpp's
    // attention factor sqrt(1 + ln(1024 / 64) / ln(64)) = sqrt(5 / 3)
    write_text(dir, "config.json", "{\"architectures\": [\"Phi3ForCausalLM\"], " CFG_DIMS
                                   ", \"max_position_embeddings\": 1024, \"rope_scaling\": {"
                                   "\"type\": \"longrope\", \"short_factor\": [1,1,1,1,1,1,1,1.5], "
                                   "\"long_factor\": [2,2,2,2,2,2,2,9]}, "
                                   "\"original_max_position_embeddings\": 64}");
    if (kv_hf_open(dir, &hf, &err) != KV_OK)
        fail_msg("%s", err.msg);
    c = kv_hf_config_of(hf);
    assert_string_equal(c->rope_scaling_type, "longrope");
    assert_int_equal(c->n_rope_factors, 8);
    assert_true(c->rope_short[7] == 1.5f && c->rope_long[0] == 2.0f && c->rope_long[7] == 9.0f);
    assert_int_equal(c->rope_scaling_orig_ctx, 64);
    assert_float_equal(c->rope_attn_factor, 1.2909944f, 1e-6f);
    kv_hf_close(hf);
    kv_test_rmdir(dir);
}

static kv_hf *open_ok(const char *dir) {
    kv_hf *hf = NULL;
    kv_err err;
    if (kv_hf_open(dir, &hf, &err) != KV_OK)
        fail_msg("%s: %s", dir, err.msg);
    return hf;
}

static void expect_token(const kv_hf_vocab *v, int64_t i, const char *text, int type) {
    assert_true(i < v->n_tokens);
    assert_string_equal(v->tokens[i], text);
    assert_int_equal(v->types[i], type);
}

// SentencePiece vocab padded to config.json's vocab_size, with added tokens from
// added_tokens.json and tokenizer_config.json's added_tokens_decoder.
static void test_spm_added_tokens(void **state) {
    (void)state;
    KV_NEED_SHARED();
    char *dir = kv_test_tmpdir();
    copy_demo_tokenizer(dir);
    write_weights(dir);
    write_text(dir, "config.json",
               CFG_HEAD CFG_DIMS ", \"vocab_size\": 4100, \"bos_token_id\": 1, "
                                 "\"unk_token_id\": 0, \"pad_token_id\": 4099}");
    write_text(dir, "added_tokens.json", "{\"<extra>\": 4099, \"<far>\": 5000}");
    write_text(dir, "tokenizer_config.json",
               "{\"add_bos_token\": true, \"add_prefix_space\": false, \"bos_token\": \"<s>\","
               " \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
               " {\"name\": \"default\", \"template\": \"D\"}],"
               " \"added_tokens_decoder\": {"
               "  \"4097\": {\"content\": \"<|im_start|>\", \"special\": false},"
               "  \"4098\": {\"content\": \"\xe2\x96\x81hi\xe2\x96\x81there\", \"special\": false},"
               "  \"3\": {\"content\": \"<X>\", \"special\": true},"
               "  \"9999\": {\"content\": \"<ignored>\", \"special\": true}}}");
    kv_hf *hf = open_ok(dir);
    const kv_hf_vocab *v = kv_hf_vocab_of(hf);
    assert_int_equal(v->n_tokens, 4100);
    expect_token(v, 3, "<X>", KV_TOKEN_CONTROL);
    assert_true(v->scores[3] == -1000.0f);
    expect_token(v, 4096, "[PAD4096]", KV_TOKEN_UNUSED);
    assert_true(v->scores[4096] == -10000.0f);
    expect_token(v, 4097, "<|im_start|>", KV_TOKEN_CONTROL); // looks special
    expect_token(v, 4098, " hi there", KV_TOKEN_USER_DEFINED);
    expect_token(v, 4099, "<extra>", KV_TOKEN_USER_DEFINED);
    assert_true(v->scores[4099] == -1000.0f);
    assert_string_equal(v->chat_template, "D");
    assert_int_equal(v->add_bos, 1);
    assert_int_equal(v->add_eos, -1);
    assert_int_equal(v->add_space_prefix_cfg, 0);
    // No tokenizer.json: token names cannot map to ids; config.json's ids count.
    assert_int_equal(v->bos_id, 1);
    assert_int_equal(v->unk_id, 0);
    assert_int_equal(v->pad_id, 4099);
    assert_int_equal(v->eos_id, -1);
    kv_hf_close(hf);
    kv_test_rmdir(dir);
}

// With a tokenizer.json beside tokenizer.model, tokenizer_config.json's names map
// to ids through its added_tokens (before config.json's ids).
static void test_spm_with_tokenizer_json(void **state) {
    (void)state;
    KV_NEED_SHARED();
    char *dir = kv_test_tmpdir();
    copy_demo_tokenizer(dir);
    write_weights(dir);
    write_text(dir, "config.json", CFG_HEAD CFG_DIMS ", \"unk_token_id\": 0, \"bos_token_id\": 1}");
    write_text(dir, "tokenizer.json",
               "{\"added_tokens\": [{\"id\": 2, \"content\": \"</s>\"},"
               " {\"id\": 3, \"content\": \"<s>\"}], \"model\": {\"type\": \"BPE\"}}");
    write_text(dir, "tokenizer_config.json", "{\"bos_token\": {\"content\": \"<s>\"},"
                                             " \"eos_token\": \"</s>\", \"add_eos_token\": true}");
    kv_hf *hf = open_ok(dir);
    const kv_hf_vocab *v = kv_hf_vocab_of(hf);
    assert_string_equal(v->model, "llama"); // tokenizer.model still wins
    assert_int_equal(v->bos_id, 3);
    assert_int_equal(v->eos_id, 2);
    assert_int_equal(v->unk_id, 0);
    assert_int_equal(v->add_eos, 1);
    assert_null(v->chat_template);
    kv_hf_close(hf);
    kv_test_rmdir(dir);
}

#define LLAMA3_SPLIT                                                                           \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "      \
    "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"

static const char gpt2_tokenizer[] =
    "{\"added_tokens\": ["
    "  {\"id\": 5, \"content\": \"<|begin|>\", \"special\": true},"
    "  {\"id\": 6, \"content\": \"<|end|>\", \"special\": true},"
    "  {\"id\": 7, \"content\": \"\xe2\x96\x81user\", \"special\": false}],"
    " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
    "  {\"type\": \"Split\", \"pattern\": {\"Regex\": \"" LLAMA3_SPLIT "\"}},"
    "  {\"type\": \"ByteLevel\", \"use_regex\": false}]},"
    " \"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"},"
    "  {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": "
    "\"<|begin|>\"}}, {\"Sequence\": {\"id\": \"A\"}}]}]},"
    " \"decoder\": {\"type\": \"ByteLevel\"},"
    " \"model\": {\"type\": \"BPE\", \"byte_fallback\": false,"
    "  \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\xc4\xa0\": 3, \"\xc4\xa0" "ab\": 4},"
    "  \"merges\": [[\"a\", \"b\"], [\"\xc4\xa0\", \"ab\"], [\"x y\", \"z\"]]}}";

static void test_bpe_gpt2(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    write_weights(dir);
    write_text(dir, "config.json", CFG_HEAD CFG_DIMS ", \"vocab_size\": 10}");
    write_text(dir, "tokenizer.json", gpt2_tokenizer);
    write_text(dir, "tokenizer_config.json",
               "{\"bos_token\": \"<|begin|>\", \"eos_token\": {\"content\": \"<|end|>\"},"
               " \"chat_template\": \"{{ messages }}\"}");
    kv_hf *hf = open_ok(dir);
    const kv_hf_vocab *v = kv_hf_vocab_of(hf);
    assert_string_equal(v->model, "gpt2");
    assert_string_equal(v->pre, "llama-bpe");
    assert_null(v->scores);
    assert_int_equal(v->n_tokens, 10);
    expect_token(v, 0, "a", KV_TOKEN_NORMAL);
    expect_token(v, 4, "\xc4\xa0" "ab", KV_TOKEN_NORMAL);
    expect_token(v, 5, "<|begin|>", KV_TOKEN_CONTROL);
    expect_token(v, 6, "<|end|>", KV_TOKEN_CONTROL);
    expect_token(v, 7, " user", KV_TOKEN_USER_DEFINED);
    expect_token(v, 8, "[PAD8]", KV_TOKEN_UNUSED);
    expect_token(v, 9, "[PAD9]", KV_TOKEN_UNUSED);
    assert_int_equal(v->n_merges, 3);
    assert_string_equal(v->merges[0], "a b");
    assert_string_equal(v->merges[1], "\xc4\xa0 ab");
    assert_string_equal(v->merges[2], "x\xc4\xa0y z");
    assert_int_equal(v->bos_id, 5);
    assert_int_equal(v->eos_id, 6);
    assert_int_equal(v->add_bos, 1); // TemplateProcessing puts <|begin|> first
    assert_int_equal(v->add_eos, -1);
    assert_int_equal(v->add_space_prefix, -1);
    assert_string_equal(v->chat_template, "{{ messages }}");
    kv_hf_close(hf);
    kv_test_rmdir(dir);
}

// Merges as "a b" strings are kept; without any, merges.txt is read.
static void test_bpe_merges_txt(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    write_weights(dir);
    write_text(dir, "config.json", CFG_HEAD CFG_DIMS "}");
    write_text(dir, "tokenizer.json",
               "{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"use_regex\": true},"
               " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}}}");
    write_text(dir, "merges.txt", "#version: 0.2\na b\n  \xc4\xa0 ab  \n\nbad line here\nc\td\n");
    kv_hf *hf = open_ok(dir);
    const kv_hf_vocab *v = kv_hf_vocab_of(hf);
    assert_string_equal(v->pre, "gpt-2"); // ByteLevel's own pattern
    assert_int_equal(v->n_tokens, 3);
    assert_int_equal(kv_hf_config_of(hf)->n_vocab, 3);
    assert_int_equal(v->n_merges, 3);
    assert_string_equal(v->merges[0], "a b");
    assert_string_equal(v->merges[1], "\xc4\xa0 ab");
    assert_string_equal(v->merges[2], "c d");
    kv_hf_close(hf);

    write_text(dir, "tokenizer.json",
               "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
               " {\"type\": \"Digits\", \"individual_digits\": true}, {\"type\": \"ByteLevel\"}]},"
               " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2},"
               " \"merges\": [\"a b\"]}}");
    hf = open_ok(dir);
    v = kv_hf_vocab_of(hf);
    assert_string_equal(v->pre, "starcoder"); // single digits, then GPT-2's pattern
    assert_int_equal(v->n_merges, 1);
    assert_string_equal(v->merges[0], "a b");
    kv_hf_close(hf);
    kv_test_rmdir(dir);
}

// Byte-fallback BPE with a Sequence decoder: converted as SentencePiece-style "llama".
static void test_bpe_llama_hf(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    write_weights(dir);
    write_text(dir, "config.json",
               CFG_HEAD CFG_DIMS ", \"vocab_size\": 32, \"pad_token_id\": 99}");
    write_text(dir, "tokenizer.json",
               "{\"added_tokens\": ["
               "  {\"id\": 0, \"content\": \"<unk>\", \"special\": true},"
               "  {\"id\": 1, \"content\": \"<s>\", \"special\": true},"
               "  {\"id\": 2, \"content\": \"</s>\", \"special\": true},"
               "  {\"id\": 6, \"content\": \"<pad>\", \"special\": false},"
               "  {\"id\": 7, \"content\": \"<tool>\", \"special\": true}],"
               " \"decoder\": {\"type\": \"Sequence\", \"decoders\": []},"
               " \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {"
               "  \"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, \"<0x00>\": 3, \"<0x0A>\": 4,"
               "  \"\xe2\x96\x81" "a\": 5}, \"merges\": []}}");
    write_text(dir, "tokenizer_config.json",
               "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"unk_token\": \"<unk>\","
               " \"add_bos_token\": true, \"add_eos_token\": false}");
    kv_hf *hf = open_ok(dir);
    const kv_hf_vocab *v = kv_hf_vocab_of(hf);
    assert_string_equal(v->model, "llama");
    assert_string_equal(v->pre, "default");
    assert_int_equal(v->n_tokens, 8);
    expect_token(v, 0, "<unk>", KV_TOKEN_CONTROL);
    expect_token(v, 1, "<s>", KV_TOKEN_CONTROL);
    expect_token(v, 3, "<0x00>", KV_TOKEN_BYTE);
    expect_token(v, 4, "<0x0A>", KV_TOKEN_BYTE);
    expect_token(v, 5, "\xe2\x96\x81" "a", KV_TOKEN_NORMAL);
    expect_token(v, 6, "<pad>", KV_TOKEN_USER_DEFINED);
    expect_token(v, 7, "<tool>", KV_TOKEN_CONTROL);
    for (int i = 0; i < 8; i++)
        assert_true(v->scores[i] == -1000.0f);
    assert_true(v->byte_fallback);
    assert_int_equal(v->bos_id, 1);
    assert_int_equal(v->eos_id, 2);
    assert_int_equal(v->unk_id, 0);
    assert_int_equal(v->pad_id, -1); // 99 is past the 8 tokens
    assert_int_equal(v->add_bos, 1);
    assert_int_equal(v->add_eos, 0);
    kv_hf_close(hf);
    kv_test_rmdir(dir);
}

static void expect_open_error(const char *dir, kv_status want, const char *fragment) {
    kv_hf *hf = NULL;
    kv_err err = {0};
    kv_status s = kv_hf_open(dir, &hf, &err);
    if (s != want || !strstr(err.msg, fragment))
        fail_msg("got %s '%s', want %s with '%s'", kv_status_str(s), err.msg, kv_status_str(want),
                 fragment);
    assert_null(hf);
}

static void test_tokenizer_errors(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    write_weights(dir);
    write_text(dir, "config.json", CFG_HEAD CFG_DIMS "}");
    expect_open_error(dir, KV_ERR_FORMAT, "no tokenizer.model or tokenizer.json");
    write_text(dir, "tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
    expect_open_error(dir, KV_ERR_UNSUPPORTED, "tokenizer model type 'Unigram'");
    write_text(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}}}");
    expect_open_error(dir, KV_ERR_FORMAT, "model.vocab['a'] is not an id");
    write_text(dir, "tokenizer.json",
               "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}");
    expect_open_error(dir, KV_ERR_FORMAT, "model.merges[0] is not a pair of strings");
    write_text(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}");
    expect_open_error(dir, KV_ERR_FORMAT, "tokenizer.json: invalid JSON");
    write_text(dir, "config.json", CFG_HEAD CFG_DIMS ", \"vocab_size\": 2}");
    write_text(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 5}}}");
    expect_open_error(dir, KV_ERR_FORMAT, "token id 5 is past the vocab size 2");
    write_text(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}");
    write_text(dir, "tokenizer_config.json", "[]");
    expect_open_error(dir, KV_ERR_FORMAT, "tokenizer_config.json: is a JSON array");
    write_text(dir, "tokenizer_config.json", "{}");
    write_text(dir, "tokenizer.model", "not a protobuf");
    expect_open_error(dir, KV_ERR_FORMAT, "tokenizer.model: not a SentencePiece model");
    kv_test_rmdir(dir);
}

// The pre-tokenizer is named from tokenizer.json's steps; one kvant does not know
// fails with the file, the field and what it holds.
static void test_bpe_pre_names(void **state) {
    (void)state;
    static const struct {
        const char *pre_json, *want;
    } cases[] = {
        {"{\"type\": \"ByteLevel\", \"use_regex\": true}", "gpt-2"},
        {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
         "{\"Regex\": \"\\\\p{N}{1,3}\"}, \"behavior\": \"Isolated\", \"invert\": false}, "
         "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"[\xe4\xb8\x80-\xe9\xbe\xa5"
         "\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+\"}, \"behavior\": \"Isolated\"},"
         "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"[!\\\"#$%&'()*+,\\\\-./:;<=>?@"
         "\\\\[\\\\\\\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\\\p{L}\\\\p{P}\\\\p{S}]?[\\\\p{L}"
         "\\\\p{M}]+| ?[\\\\p{P}\\\\p{S}]+[\\r\\n]*|\\\\s*[\\r\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, "
         "\"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\", \"use_regex\": false}]}",
         "deepseek-v3"},
        {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Punctuation\"}, "
         "{\"type\": \"ByteLevel\"}, {\"type\": \"Digits\", \"individual_digits\": false}, "
         "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"[0-9][0-9][0-9]\"}, \"behavior\": "
         "\"Isolated\"}]}",
         "falcon"},
    };
    char *dir = kv_test_tmpdir();
    write_weights(dir);
    write_text(dir, "config.json", CFG_HEAD CFG_DIMS "}");
    char json[2048];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(json, sizeof json,
                 "{\"pre_tokenizer\": %s, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}",
                 cases[i].pre_json);
        write_text(dir, "tokenizer.json", json);
        kv_hf *hf = open_ok(dir);
        assert_string_equal(kv_hf_vocab_of(hf)->pre, cases[i].want);
        kv_hf_close(hf);
    }
    // the same steps as "starcoder", told apart by clean_up_tokenization_spaces
    write_text(dir, "tokenizer.json",
               "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
               "\"Digits\", \"individual_digits\": true}, {\"type\": \"ByteLevel\"}]},"
               " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}");
    write_text(dir, "tokenizer_config.json", "{\"clean_up_tokenization_spaces\": false}");
    kv_hf *hf = open_ok(dir);
    assert_string_equal(kv_hf_vocab_of(hf)->pre, "smollm");
    kv_hf_close(hf);
    write_text(dir, "tokenizer.json",
               "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
               "\"Whitespace\"}, {\"type\": \"ByteLevel\"}]},"
               " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}");
    expect_open_error(dir, KV_ERR_UNSUPPORTED,
                      "tokenizer.json: field 'pre_tokenizer' (Whitespace) is not a pre-tokenizer");
    write_text(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}");
    expect_open_error(dir, KV_ERR_UNSUPPORTED, "tokenizer.json: field 'pre_tokenizer' (none)");
    kv_test_rmdir(dir);
}

// Real config files as they are: Llama 3's model_max_length (over 2^63), nulls and
// fields kvant does not use do not stop the reader.
static void test_big_ints_and_nulls(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    write_weights(dir);
    write_text(dir, "config.json",
               CFG_HEAD CFG_DIMS ", \"rope_scaling\": null, \"max_window\": -99999999999999999999,"
                                 " \"quantization\": {\"bits\": [1.5e3, 18446744073709551616]}}");
    write_text(dir, "tokenizer.json",
               "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"normalizer\": null,"
               " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"9223372036854775807\": 1}}}");
    write_text(dir, "tokenizer_config.json",
               "{\"model_max_length\": 1000000000000000019884624838656, \"bos_token\": null,"
               " \"note\": \"a string with 99999999999999999999999 stays a string\"}");
    kv_hf *hf = open_ok(dir);
    const kv_hf_vocab *v = kv_hf_vocab_of(hf);
    assert_int_equal(v->n_tokens, 2);
    expect_token(v, 1, "9223372036854775807", KV_TOKEN_NORMAL);
    kv_hf_close(hf);
    // a token id over 2^63 is still an error, named
    write_text(dir, "tokenizer.json",
               "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"},"
               " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 99999999999999999999}}}");
    expect_open_error(dir, KV_ERR_FORMAT, "model.vocab['a'] is not an id");
    kv_test_rmdir(dir);
}

// SentencePiece-style BPE from tokenizer.json (Gemma): merges kept, each merged
// token scored by minus its first merge's rank, no prefix space without Prepend.
static void test_bpe_gemma_style(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    write_weights(dir);
    write_text(dir, "config.json", CFG_HEAD CFG_DIMS "}");
    write_text(dir, "tokenizer.json",
               "{\"added_tokens\": [{\"id\": 0, \"content\": \"<bos>\", \"special\": true},"
               "  {\"id\": 5, \"content\": \"\\n\\n\", \"special\": false}],"
               " \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"},"
               "  \"content\": \"\xe2\x96\x81\"},"
               " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \" \"},"
               "  \"behavior\": \"MergedWithPrevious\"},"
               " \"decoder\": {\"type\": \"Sequence\", \"decoders\": []},"
               " \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {"
               "  \"<bos>\": 0, \"a\": 1, \"b\": 2, \"ab\": 3, \"bab\": 4, \"\\n\\n\": 5},"
               "  \"merges\": [[\"a\", \"b\"], [\"b\", \"ab\"], [\"ba\", \"b\"]]}}");
    kv_hf *hf = open_ok(dir);
    const kv_hf_vocab *v = kv_hf_vocab_of(hf);
    assert_string_equal(v->model, "llama");
    assert_int_equal(v->add_space_prefix, 0);
    assert_int_equal(v->n_merges, 3);
    assert_true(v->scores[3] == 0.0f);  // "ab": merge 0
    assert_true(v->scores[4] == -1.0f); // "bab": merge 1 (merge 2 makes it again)
    assert_true(v->scores[1] == -1000.0f);
    expect_token(v, 5, "\n\n", KV_TOKEN_USER_DEFINED); // cut out of the raw text
    kv_hf_close(hf);
    // a Prepend normalizer (Llama 2 style) puts the space back
    write_text(dir, "tokenizer.json",
               "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": "
               "\"Prepend\", \"prepend\": \"\xe2\x96\x81\"}]},"
               " \"decoder\": {\"type\": \"Sequence\", \"decoders\": []},"
               " \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}}}");
    hf = open_ok(dir);
    assert_int_equal(kv_hf_vocab_of(hf)->add_space_prefix, 1);
    kv_hf_close(hf);
    kv_test_rmdir(dir);
}

static void test_weights_missing(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    write_text(dir, "config.json", CFG_HEAD CFG_DIMS "}");
    write_text(dir, "tokenizer.json", "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, "
                                      "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}");
    expect_open_error(dir, KV_ERR_IO, "no model.safetensors or model.safetensors.index.json");
    kv_test_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_config),
        cmocka_unit_test(test_demo_vocab_golden),
        cmocka_unit_test(test_llama2_spm),
        cmocka_unit_test(test_spm_garbage),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_missing),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_spm_added_tokens),
        cmocka_unit_test(test_spm_with_tokenizer_json),
        cmocka_unit_test(test_bpe_gpt2),
        cmocka_unit_test(test_bpe_merges_txt),
        cmocka_unit_test(test_bpe_llama_hf),
        cmocka_unit_test(test_tokenizer_errors),
        cmocka_unit_test(test_weights_missing),
        cmocka_unit_test(test_bpe_pre_names),
        cmocka_unit_test(test_big_ints_and_nulls),
        cmocka_unit_test(test_bpe_gemma_style),
    };
    return cmocka_run_group_tests_name("formats_hf", tests, NULL, NULL);
}
