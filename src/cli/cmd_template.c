// kvant template render: renders a chat template (a .jinja file, a
// tokenizer_config.json, or a GGUF's tokenizer.chat_template) over a
// conversation, with kvant's Jinja interpreter (kv_jinja.h). The rendered
// text goes to stdout byte for byte, with no newline added.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kvant/kv_core.h"
#include "kvant/kv_gguf.h"
#include "kvant/kv_jinja.h"
#include "kvant/kv_tokenizer.h"
#include "kvant/kv_vocab_gguf.h"

#define MAX_INPUT (64u << 20)

static void help(FILE *f) {
    fprintf(f,
            "usage: kvant template render (--template F | -m MODEL.gguf) [options]\n\n"
            "Renders a chat template over a conversation and prints the text, as\n"
            "transformers' apply_chat_template(tokenize=False) would.\n\n"
            "  --template F              a Jinja file, or a tokenizer_config.json (its\n"
            "                            chat_template: a string, or the list entry \"default\")\n"
            "  -m, --model F             a GGUF file: its tokenizer.chat_template\n"
            "  --messages F              a JSON file: [{\"role\", \"content\"}, ...]\n"
            "  --vars F                  a JSON file: an object of variables (messages, tools,\n"
            "                            ...); --messages and the flags below override it\n"
            "  --add-generation-prompt   end with the opening of the assistant's turn\n"
            "  --bos TEXT, --eos TEXT    bos_token / eos_token (default: the tokenizer_config's\n"
            "                            or the model's, else empty)\n"
            "  --now SECONDS             the time strftime_now() formats (Unix seconds, UTC)\n");
}

static char *dup_str(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

// A token setting of tokenizer_config.json: a string or {"content": string}.
static const char *token_text(const json_t *v) {
    if (json_is_object(v))
        v = json_object_get(v, "content");
    return json_string_value(v);
}

// The template (and bos/eos, when set) of a tokenizer_config.json; all malloc'd.
static kv_status from_config(const char *path, const char *text, size_t len, char **tmpl,
                             char **bos, char **eos, kv_err *err) {
    json_error_t je;
    json_t *cfg = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &je);
    if (!cfg)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: invalid JSON: %s at line %d, column %d", path,
                       je.text, je.line, je.column);
    const json_t *t = json_object_get(cfg, "chat_template");
    const char *s = json_string_value(t);
    for (size_t i = 0; !s && i < json_array_size(t); i++) {
        const json_t *e = json_array_get(t, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        if (name && !strcmp(name, "default"))
            s = json_string_value(json_object_get(e, "template"));
    }
    kv_status st = KV_OK;
    if (!s)
        st = KV_FAIL(err, KV_ERR_FORMAT,
                     "%s: no chat_template (a string, or a list with a \"default\" entry)", path);
    const char *b = token_text(json_object_get(cfg, "bos_token"));
    const char *e = token_text(json_object_get(cfg, "eos_token"));
    if (st == KV_OK && (!(*tmpl = dup_str(s, strlen(s))) ||
                        (b && !(*bos = dup_str(b, strlen(b)))) ||
                        (e && !(*eos = dup_str(e, strlen(e))))))
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    json_decref(cfg);
    return st;
}

// The template of a GGUF, and its BOS/EOS texts.
static kv_status from_gguf(const char *path, char **tmpl, char **bos, char **eos, kv_err *err) {
    kv_gguf *g = NULL;
    kv_vocab *v = NULL;
    kv_str s;
    kv_status st = kv_gguf_open(path, &g, err);
    if (st == KV_OK && kv_gguf_get_str(g, "tokenizer.chat_template", &s, NULL) != KV_OK)
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s: no tokenizer.chat_template", path);
    if (st == KV_OK && !(*tmpl = dup_str(s.p, s.n)))
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    if (st == KV_OK && kv_vocab_from_gguf(g, &v, NULL) == KV_OK) {
        const char *b = kv_vocab_text(v, kv_vocab_bos(v), NULL);
        const char *e = kv_vocab_text(v, kv_vocab_eos(v), NULL);
        if (b && !*bos)
            *bos = dup_str(b, strlen(b));
        if (e && !*eos)
            *eos = dup_str(e, strlen(e));
    }
    kv_vocab_free(v);
    kv_gguf_close(g);
    return st;
}

static kv_status load_json(const char *path, json_t **out, kv_err *err) {
    char *text = NULL;
    size_t len = 0;
    kv_status st = kv_read_file(path, MAX_INPUT, &text, &len, err);
    if (st != KV_OK)
        return st;
    json_error_t je;
    *out = json_loadb(text, len, 0, &je);
    free(text);
    if (!*out)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: invalid JSON: %s at line %d, column %d", path,
                       je.text, je.line, je.column);
    return KV_OK;
}

typedef struct {
    const char *tmpl_path, *model, *messages, *vars;
    const char *bos, *eos;
    bool gen;
    long long now;
} opts;

static kv_status render(const opts *o, kv_err *err) {
    char *src = NULL, *tmpl = NULL, *out = NULL, *vars_text = NULL;
    char *bos = o->bos ? dup_str(o->bos, strlen(o->bos)) : NULL;
    char *eos = o->eos ? dup_str(o->eos, strlen(o->eos)) : NULL;
    json_t *vars = NULL, *msgs = NULL;
    kv_jinja *t = NULL;
    size_t len = 0, out_len = 0;
    kv_status st = KV_OK;
    const char *name = o->tmpl_path ? o->tmpl_path : o->model;
    if (o->tmpl_path) {
        st = kv_read_file(o->tmpl_path, MAX_INPUT, &src, &len, err);
        size_t pl = strlen(o->tmpl_path);
        bool json = pl >= 5 && !strcmp(o->tmpl_path + pl - 5, ".json");
        if (st == KV_OK && json) {
            char *cb = NULL, *ce = NULL;
            st = from_config(o->tmpl_path, src, len, &tmpl, &cb, &ce, err);
            if (!bos) {
                bos = cb;
                cb = NULL;
            }
            if (!eos) {
                eos = ce;
                ce = NULL;
            }
            free(cb);
            free(ce);
        } else if (st == KV_OK) {
            tmpl = src;
            src = NULL;
        }
    } else {
        st = from_gguf(o->model, &tmpl, &bos, &eos, err);
    }
    if (st == KV_OK)
        st = kv_jinja_parse(tmpl, strlen(tmpl), name, &t, err);
    if (st == KV_OK && o->vars)
        st = load_json(o->vars, &vars, err);
    if (st == KV_OK && !vars && !(vars = json_object()))
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    if (st == KV_OK && o->messages && (st = load_json(o->messages, &msgs, err)) == KV_OK) {
        if (!json_is_array(msgs))
            st = KV_FAIL(err, KV_ERR_FORMAT, "%s: expected a JSON array of messages", o->messages);
        else
            json_object_set(vars, "messages", msgs);
    }
    if (st == KV_OK) {
        if (o->gen || !json_object_get(vars, "add_generation_prompt"))
            json_object_set_new(vars, "add_generation_prompt", json_boolean(o->gen));
        if (bos && (o->bos || !json_object_get(vars, "bos_token")))
            json_object_set_new(vars, "bos_token", json_string(bos));
        if (eos && (o->eos || !json_object_get(vars, "eos_token")))
            json_object_set_new(vars, "eos_token", json_string(eos));
        if (!(vars_text = json_dumps(vars, JSON_COMPACT | JSON_PRESERVE_ORDER)))
            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    }
    kv_jinja_opts jo = {.now = o->now};
    if (st == KV_OK)
        st = kv_jinja_render_json(t, vars_text, strlen(vars_text), &jo, &out, &out_len, err);
    if (st == KV_OK && fwrite(out, 1, out_len, stdout) != out_len)
        st = KV_FAIL(err, KV_ERR_IO, "cannot write the output");
    free(out);
    free(vars_text);
    json_decref(msgs);
    json_decref(vars);
    kv_jinja_free(t);
    free(tmpl);
    free(src);
    free(bos);
    free(eos);
    return st;
}

int kv_cli_template(int argc, char **argv) {
    if (argc < 2 || kv_cli_is_help(argv[1])) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "render") != 0)
        return kv_cli_usage_error("template", "unknown action '%s' (only 'render')", argv[1]);
    opts o = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (kv_cli_is_help(a)) {
            help(stdout);
            return 0;
        } else if (!strcmp(a, "--template") && has)
            o.tmpl_path = argv[++i];
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has)
            o.model = argv[++i];
        else if (!strcmp(a, "--messages") && has)
            o.messages = argv[++i];
        else if (!strcmp(a, "--vars") && has)
            o.vars = argv[++i];
        else if (!strcmp(a, "--bos") && has)
            o.bos = argv[++i];
        else if (!strcmp(a, "--eos") && has)
            o.eos = argv[++i];
        else if (!strcmp(a, "--add-generation-prompt"))
            o.gen = true;
        else if (!strcmp(a, "--now") && has) {
            char *end;
            o.now = strtoll(argv[++i], &end, 10);
            if (*end || o.now <= 0)
                return kv_cli_usage_error("template", "--now takes Unix seconds, not '%s'",
                                          argv[i]);
        } else
            return kv_cli_usage_error("template", "unknown or incomplete option '%s'", a);
    }
    if (!o.tmpl_path == !o.model)
        return kv_cli_usage_error("template", "give either --template FILE or -m MODEL.gguf");
    kv_err err = {0};
    return render(&o, &err) == KV_OK ? 0 : kv_cli_fail("template", &err);
}
