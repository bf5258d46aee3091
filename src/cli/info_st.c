// kvant info for safetensors checkpoints and Hugging Face folders.
#include <stdio.h>
#include <string.h>

#include "cli/info_int.h"
#include "kvant/kv_hf.h"
#include "kvant/kv_mlx.h"
#include "kvant/kv_safetensors.h"

static void st_tensors(const kv_safetensors *st, const kv__info_opts *o, json_t *root,
                       uint64_t *n_params, uint64_t *bytes) {
    json_t *arr = o->json && o->tensors ? json_array() : NULL;
    if (!o->json && o->tensors)
        printf("\n%-4s %-52s %-6s %-18s %12s\n", "#", "tensor", "dtype", "shape", "bytes");
    for (int64_t i = 0; i < kv_safetensors_count(st); i++) {
        const kv_st_tensor *t = kv_safetensors_at(st, i);
        *n_params += (uint64_t)t->n_elements;
        *bytes += t->size;
        char shape[128];
        kv__info_shape(shape, sizeof shape, t->n_dims, t->shape);
        if (arr) {
            json_t *jt = json_object(), *js = json_array();
            json_object_set_new(jt, "name", json_string(t->name));
            json_object_set_new(jt, "dtype", json_string(kv_st_dtype_name(t->dtype)));
            for (int d = 0; d < t->n_dims; d++)
                json_array_append_new(js, json_integer(t->shape[d]));
            json_object_set_new(jt, "shape", js);
            json_object_set_new(jt, "bytes", json_integer((json_int_t)t->size));
            json_object_set_new(jt, "file", json_string(t->file));
            json_array_append_new(arr, jt);
        } else if (o->tensors && !o->json) {
            printf("%-4lld %-52s %-6s %-18s %12zu\n", (long long)i, t->name,
                   kv_st_dtype_name(t->dtype), shape, t->size);
        }
    }
    if (arr)
        json_object_set_new(root, "tensors", arr);
}

kv_status kv__info_safetensors(const char *path, const kv__info_opts *o, json_t *root,
                               kv_err *err) {
    kv_safetensors *st = NULL;
    kv_status s = kv_safetensors_open(path, &st, err);
    if (s != KV_OK)
        return s;
    if (o->json) {
        json_object_set_new(root, "format", json_string("safetensors"));
        json_object_set_new(root, "path", json_string(path));
        json_object_set_new(root, "shards", json_integer(kv_safetensors_shard_count(st)));
    } else {
        printf("file:         %s\n", path);
        printf("format:       safetensors, %d file(s), %lld tensors\n",
               kv_safetensors_shard_count(st), (long long)kv_safetensors_count(st));
    }
    uint64_t n_params = 0, bytes = 0;
    st_tensors(st, o, root, &n_params, &bytes);
    if (!o->json)
        printf("\n");
    kv__info_totals(root, o->json, n_params, bytes, bytes);
    kv_safetensors_close(st);
    return KV_OK;
}

static void hf_config(const kv_hf_config *c, const kv__info_opts *o, json_t *root) {
    const struct {
        const char *name;
        int64_t v;
    } ints[] = {{"n_vocab", c->n_vocab},     {"n_embd", c->n_embd}, {"n_ff", c->n_ff},
                {"n_layer", c->n_layer},     {"n_head", c->n_head}, {"n_head_kv", c->n_head_kv},
                {"head_dim", c->head_dim},   {"n_ctx", c->n_ctx}};
    json_t *hp = o->json ? json_object() : NULL;
    if (!o->json)
        printf("architecture: %s (%s)\nhyper-parameters:\n", c->arch, c->hf_class);
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        if (hp)
            json_object_set_new(hp, ints[i].name, json_integer(ints[i].v));
        else
            printf("  %-12s %lld\n", ints[i].name, (long long)ints[i].v);
    }
    if (hp) {
        json_object_set_new(hp, "rope_theta", json_real(c->rope_theta));
        json_object_set_new(hp, "rms_eps", json_real(c->rms_eps));
        json_object_set_new(hp, "tie_embeddings", json_boolean(c->tie_embeddings));
        json_object_set_new(root, "architecture", json_string(c->arch));
        json_object_set_new(root, "hf_class", json_string(c->hf_class));
        json_object_set_new(root, "hparams", hp);
    } else {
        printf("  %-12s %g\n  %-12s %g\n  %-12s %s\n", "rope_theta", c->rope_theta, "rms_eps",
               c->rms_eps, "tied", c->tie_embeddings ? "yes" : "no");
    }
}

static void hf_vocab(const kv_hf_vocab *v, const kv__info_opts *o, json_t *root) {
    if (o->json) {
        json_t *t = json_object();
        json_object_set_new(t, "model", json_string(v->model));
        json_object_set_new(t, "pre", json_string(v->pre ? v->pre : "default"));
        json_object_set_new(t, "n_tokens", json_integer(v->n_tokens));
        json_object_set_new(t, "n_merges", json_integer(v->n_merges));
        json_object_set_new(t, "bos_id", json_integer(v->bos_id));
        json_object_set_new(t, "eos_id", json_integer(v->eos_id));
        json_object_set_new(t, "unk_id", json_integer(v->unk_id));
        json_object_set_new(t, "pad_id", json_integer(v->pad_id));
        json_object_set_new(t, "chat_template", v->chat_template ? json_true() : json_false());
        json_object_set_new(root, "tokenizer", t);
        return;
    }
    printf("tokenizer:    %s, pre-tokenizer %s, %lld tokens", v->model, v->pre ? v->pre : "default",
           (long long)v->n_tokens);
    if (v->n_merges)
        printf(", %lld merges", (long long)v->n_merges);
    printf(", bos %lld, eos %lld, add_bos %s%s\n", (long long)v->bos_id, (long long)v->eos_id,
           v->add_bos == 1 ? "yes" : v->add_bos == 0 ? "no" : "unset",
           v->chat_template ? ", chat template" : "");
}

kv_status kv__info_hf(const char *dir, const kv__info_opts *o, json_t *root, kv_err *err) {
    kv_hf *hf = NULL;
    kv_status s = kv_hf_open(dir, &hf, err);
    if (s != KV_OK)
        return s;
    if (o->json) {
        json_object_set_new(root, "format", json_string("huggingface"));
        json_object_set_new(root, "path", json_string(dir));
    } else {
        printf("folder:       %s\n", dir);
    }
    hf_config(kv_hf_config_of(hf), o, root);
    hf_vocab(kv_hf_vocab_of(hf), o, root);
    kv_mlx_config *mc = NULL; // an mlx-lm folder: its quantization (parameters below are packed)
    s = kv_mlx_config_load(dir, &mc, err);
    if (s != KV_OK) {
        kv_hf_close(hf);
        return s;
    }
    if (mc) {
        const kv_mlx_quant q = kv_mlx_default_quant(mc);
        if (o->json)
            json_object_set_new(root, "mlx_quantization",
                                json_pack("{sisi}", "group_size", q.group_size, "bits", q.bits));
        else
            printf("quantization: MLX affine, group_size %d, bits %d (config.json; per-module "
                   "overrides apply; U32 tensors hold packed values)\n",
                   q.group_size, q.bits);
        kv_mlx_config_free(mc);
    }
    uint64_t n_params = 0, bytes = 0;
    st_tensors(kv_hf_tensors(hf), o, root, &n_params, &bytes);
    if (!o->json)
        printf("\n");
    kv__info_totals(root, o->json, n_params, bytes, bytes);
    kv_hf_close(hf);
    return KV_OK;
}
