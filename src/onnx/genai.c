// genai_config.json for an exported decoder, with the fields ONNX Runtime GenAI's
// model builder writes (model.decoder inputs/outputs naming the graph's tensors,
// head counts and sizes, token ids; search defaults).
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_model.h"
#include "onnx/onnx_export_int.h"


static int64_t token_id(const kv_gguf *g, const char *key, int64_t dflt) {
    int64_t v;
    return kv_gguf_find(g, key) >= 0 && kv_gguf_get_int(g, key, &v, NULL) == KV_OK ? v : dflt;
}

kv_status kv__onnx_genai_config(const kv_model *m, const char *dir, kv_err *err) {
    const kv_hparams *hp = kv_model_hparams(m);
    const kv_gguf *g = kv_model_gguf(m);
    const int64_t eos = token_id(g, "tokenizer.ggml.eos_token_id", 2);
    const int64_t ctx = hp->n_ctx_train > 0 ? hp->n_ctx_train : 4096;
    json_t *root = json_pack(
        "{s:{s:I,s:I,s:{s:{s:s,s:[]},s:s,s:I,s:I,s:{s:s,s:s,s:s,s:s,s:s},s:I,s:I,s:I,"
        "s:{s:s,s:s,s:s}},s:I,s:I,s:s,s:I},"
        "s:{s:f,s:b,s:b,s:f,s:I,s:I,s:I,s:I,s:I,s:b,s:f,s:f,s:I,s:f}}",
        "model", "bos_token_id", (json_int_t)token_id(g, "tokenizer.ggml.bos_token_id", 1),
        "context_length", (json_int_t)ctx, "decoder", "session_options", "log_id",
        "onnxruntime-genai", "provider_options", "filename", "model.onnx", "head_size",
        (json_int_t)hp->n_embd_head_k, "hidden_size", (json_int_t)hp->n_embd, "inputs",
        "input_ids", "input_ids", "attention_mask", "attention_mask", "position_ids",
        "position_ids", "past_key_names", "past_key_values.%d.key", "past_value_names",
        "past_key_values.%d.value", "num_attention_heads", (json_int_t)hp->n_head,
        "num_hidden_layers", (json_int_t)hp->n_layer, "num_key_value_heads",
        (json_int_t)hp->n_head_kv, "outputs", "logits", "logits", "present_key_names",
        "present.%d.key", "present_value_names", "present.%d.value", "eos_token_id",
        (json_int_t)eos, "pad_token_id",
        (json_int_t)token_id(g, "tokenizer.ggml.padding_token_id", eos), "type", hp->arch,
        "vocab_size", (json_int_t)hp->n_vocab, "search", "diversity_penalty", 0.0, "do_sample", 0,
        "early_stopping", 1, "length_penalty", 1.0, "max_length", (json_int_t)ctx, "min_length",
        (json_int_t)0, "no_repeat_ngram_size", (json_int_t)0, "num_beams", (json_int_t)1,
        "num_return_sequences", (json_int_t)1, "past_present_share_buffer", 0,
        "repetition_penalty", 1.0, "temperature", 1.0, "top_k", (json_int_t)1, "top_p", 1.0);
    if (!root)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory writing genai_config.json");
    char *text = json_dumps(root, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
    json_decref(root);
    char *path = malloc(strlen(dir) + 32);
    if (!text || !path) {
        free(text);
        free(path);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory writing genai_config.json");
    }
    sprintf(path, "%s/genai_config.json", dir);
    kv_out o;
    kv_status s = kv_out_open(&o, path, err);
    if (s == KV_OK) {
        s = kv_out_write(&o, text, strlen(text), err);
        if (s == KV_OK)
            s = kv_out_write(&o, "\n", 1, err);
        s = s == KV_OK ? kv_out_commit(&o, err) : (kv_out_abort(&o), s);
    }
    free(text);
    free(path);
    return s;
}
