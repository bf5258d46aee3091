// kvant tokenize: the token ids (and pieces) a model's tokenizer gives a text.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"

static void help(FILE *f) {
    fprintf(f, "usage: kvant tokenize [-m] MODEL.gguf [TEXT | -f FILE] [options]\n\n"
               "Prints the token ids the model's tokenizer gives TEXT (BOS added as the model\n"
               "says), as llama-tokenize does.\n\n"
               "  -m, --model F      the model (a GGUF file; only its tokenizer is read)\n"
               "  -f, --file F       read the text from a file\n"
               "  --jsonl F          many texts: each line of F is a JSON string; prints one\n"
               "                     JSON array of ids per line (in the same order)\n"
               "  --no-bos           do not add BOS/EOS even when the model asks for them\n"
               "  --no-parse-special treat special-token text (\"<s>\") as plain text\n"
               "  --pieces           print 'id<TAB>piece' lines instead of a list of ids\n"
               "  --count            print only the number of tokens\n");
}

static int print_tokens(const kv_vocab *v, const kv_token *ids, int64_t n, bool pieces,
                        bool count) {
    if (count) {
        printf("%lld\n", (long long)n);
        return 0;
    }
    if (!pieces) {
        printf("[");
        for (int64_t i = 0; i < n; i++)
            printf(i ? ", %d" : "%d", ids[i]);
        printf("]\n");
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *p = kv_vocab_piece(v, ids[i], true, &len);
        printf("%6d\t'%.*s'\n", ids[i], (int)len, p ? p : "");
    }
    return 0;
}

// --jsonl: one JSON string per line in buf[0..len), one array of ids per line out.
static kv_status tokenize_lines(const kv_vocab *v, const char *path, const char *buf, size_t len,
                                bool add_special, bool parse_special, kv_err *err) {
    size_t line_no = 0;
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;
        line_no++;
        if (n == 0 || (n == 1 && buf[off] == '\r')) {
            off += n + 1;
            continue;
        }
        json_error_t je;
        json_t *j = json_loadb(buf + off, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        off += n + 1;
        if (!json_is_string(j)) {
            json_decref(j);
            return KV_FAIL(err, KV_ERR_FORMAT, "%s: line %zu is not a JSON string%s%s", path,
                           line_no, j ? "" : ": ", j ? "" : je.text);
        }
        kv_token *ids = NULL;
        int64_t n_ids = 0;
        kv_status st = kv_tokenize_alloc(v, json_string_value(j), json_string_length(j),
                                         add_special, parse_special, &ids, &n_ids, err);
        json_decref(j);
        if (st != KV_OK) {
            kv_err_prefix(err, path);
            return st;
        }
        print_tokens(v, ids, n_ids, false, false);
        free(ids);
    }
    return KV_OK;
}

int kv_cli_tokenize(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *file = NULL, *jsonl = NULL;
    bool add_special = true, parse_special = true, pieces = false, count = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (kv_cli_is_help(a)) {
            help(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc)
            model = argv[++i];
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && i + 1 < argc)
            file = argv[++i];
        else if (!strcmp(a, "--jsonl") && i + 1 < argc)
            jsonl = argv[++i];
        else if (!strcmp(a, "--no-bos"))
            add_special = false;
        else if (!strcmp(a, "--no-parse-special"))
            parse_special = false;
        else if (!strcmp(a, "--pieces"))
            pieces = true;
        else if (!strcmp(a, "--count"))
            count = true;
        else if (a[0] == '-' && a[1])
            return kv_cli_usage_error("tokenize", "unknown or incomplete option '%s'", a);
        else if (!model)
            model = a;
        else if (!text)
            text = a;
        else
            return kv_cli_usage_error("tokenize", "unexpected argument '%s'", a);
    }
    if (!model)
        return kv_cli_usage_error("tokenize", "missing MODEL");
    if ((text != NULL) + (file != NULL) + (jsonl != NULL) != 1)
        return kv_cli_usage_error("tokenize", "give one of TEXT, -f FILE or --jsonl FILE");
    kv_err err = {0};
    char *buf = NULL;
    size_t len = text ? strlen(text) : 0;
    // empty text has tokens too (BOS alone, or none), as llama-tokenize says
    if ((file || jsonl) && kv_cli_read_text_or_empty(file ? file : jsonl, &buf, &len, &err) != KV_OK)
        return kv_cli_fail("tokenize", &err);
    kv_gguf *g = NULL;
    kv_vocab *v = NULL;
    kv_token *ids = NULL;
    int64_t n = 0;
    kv_status st = kv_gguf_open(model, &g, &err);
    if (st == KV_OK)
        st = kv_vocab_from_gguf(g, &v, &err);
    if (st == KV_OK && jsonl) {
        st = tokenize_lines(v, jsonl, buf, len, add_special, parse_special, &err);
        int rc = st == KV_OK ? 0 : kv_cli_fail("tokenize", &err);
        kv_vocab_free(v);
        kv_gguf_close(g);
        free(buf);
        return rc;
    }
    if (st == KV_OK)
        st = kv_tokenize_alloc(v, buf ? buf : text, len, add_special, parse_special, &ids, &n, &err);
    int rc = st == KV_OK ? print_tokens(v, ids, n, pieces, count) : kv_cli_fail("tokenize", &err);
    free(ids);
    kv_vocab_free(v);
    kv_gguf_close(g);
    free(buf);
    return rc;
}
