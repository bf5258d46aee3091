// libFuzzer harness for the Hugging Face folder reader (kv_hf_open): the input is
// a folder's files separated by the line "%%" ("\n%%\n"; JSON cannot hold it), in
// this order: config.json, tokenizer_config.json, tokenizer.json,
// added_tokens.json, chat_template.json, model.safetensors.index.json,
// tokenizer.model, vocab.txt. An empty or missing part leaves that file out. The files are
// written to a private temporary folder (in /dev/shm when there is one) beside a
// fixed model.safetensors holding one tensor "w", and the folder is opened as
// kvant convert opens it. On success the vocab's promises are checked: every
// token and merge is a string, types are GGUF token types, special ids are -1 or
// (for SentencePiece vocabs) inside the vocab, and config's sizes are positive.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvant/kv_hf.h"

#define SEP "\n%%\n"

static const char *const FILES[] = {
    "config.json",       "tokenizer_config.json",        "tokenizer.json",  "added_tokens.json",
    "chat_template.json", "model.safetensors.index.json", "tokenizer.model", "vocab.txt",
};
#define N_FILES (sizeof FILES / sizeof FILES[0])

static char dir[256];

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "fuzz_hf: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static void put_file(const char *name, const void *p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && (n == 0 || fwrite(p, 1, n, f) == n) && fclose(f) == 0);
}

static void remove_dir(void) {
    char path[512];
    for (size_t i = 0; i < N_FILES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, FILES[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/kvant-fuzz-hf.XXXXXX", base ? base : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    atexit(remove_dir);
    // one F32 tensor "w" of shape [2, 2]
    static const char hdr[] =
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    uint8_t st[8 + sizeof hdr - 1 + 16] = {0};
    uint64_t n = sizeof hdr - 1;
    for (int i = 0; i < 8; i++)
        st[i] = (uint8_t)(n >> (8 * i));
    memcpy(st + 8, hdr, n);
    put_file("model.safetensors", st, sizeof st);
    return 0;
}

static bool known_type(int32_t t) { return t >= 1 && t <= 6; }

static void check_vocab(const kv_hf *hf) {
    const kv_hf_config *c = kv_hf_config_of(hf);
    CHECK(c->arch && c->hf_class && c->n_vocab > 0);
    CHECK(c->n_embd > 0 && c->n_layer > 0 && c->n_head > 0 && c->n_head_kv > 0);
    const kv_hf_vocab *v = kv_hf_vocab_of(hf);
    CHECK(v->model && v->pre && v->n_tokens >= 1 && v->n_tokens <= KV_HF_MAX_VOCAB);
    size_t total = 0;
    for (int64_t i = 0; i < v->n_tokens; i++) {
        CHECK(v->tokens[i] != NULL && known_type(v->types[i]));
        total += strlen(v->tokens[i]);
    }
    for (int64_t i = 0; i < v->n_merges; i++)
        total += strlen(v->merges[i]);
    const int64_t ids[] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id, v->sep_id};
    bool bounded = strcmp(v->model, "llama") == 0;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        CHECK(ids[i] >= -1 && (!bounded || ids[i] < v->n_tokens));
    if (v->chat_template)
        total += strlen(v->chat_template);
    CHECK(kv_safetensors_count(kv_hf_tensors(hf)) >= 0);
    (void)total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    for (size_t i = 0; i < N_FILES; i++) {
        const uint8_t *next = p < end ? memmem(p, (size_t)(end - p), SEP, 4) : NULL;
        size_t n = next ? (size_t)(next - p) : (size_t)(end - p);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, FILES[i]);
        if (p < end && n > 0)
            put_file(FILES[i], p, n);
        else
            unlink(path);
        p = next ? next + 4 : end;
    }
    kv_hf *hf = NULL;
    kv_err err = {0};
    if (kv_hf_open(dir, &hf, &err) == KV_OK) {
        check_vocab(hf);
        kv_hf_close(hf);
    } else {
        CHECK(hf == NULL && err.msg[0] != '\0');
    }
    return 0;
}
