// kv_jinja.h: parsing a template once and rendering it with JSON variables or
// a conversation. The pieces live in jinja_lex.c, jinja_parse.c,
// jinja_eval.c, jinja_builtin.c and jinja_value.c.
#include "kvant/kv_jinja.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/jinja_int.h"

#define MAX_TEMPLATE (4u << 20) // bytes of template source

void kv__jinja_linecol(const char *src, size_t len, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

kv_status kv__jinja_fail_at(kv_err *err, kv_status st, const kv_jinja *t, size_t off,
                            const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    kv__jinja_linecol(t->src, t->src_len, off, &line, &col);
    return KV_FAIL(err, st, "%s:%d:%d: %s", t->name, line, col, msg);
}

void kv_jinja_free(kv_jinja *t) {
    if (!t)
        return;
    kv__jarena_free(&t->arena);
    free(t->src);
    free(t->name);
    free(t);
}

kv_status kv_jinja_parse(const char *src, size_t len, const char *name, kv_jinja **out,
                         kv_err *err) {
    *out = NULL;
    if (!name)
        name = "template";
    if (len > MAX_TEMPLATE)
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: template of %zu bytes is larger than %u", name,
                       len, MAX_TEMPLATE);
    kv_jinja *t = calloc(1, sizeof *t);
    size_t name_n = strlen(name);
    if (!t || !(t->src = malloc(len + 1)) || !(t->name = malloc(name_n + 1))) {
        kv_jinja_free(t);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for the template", name);
    }
    memcpy(t->name, name, name_n + 1);
    if (len)
        memcpy(t->src, src, len);
    t->src[len] = '\0';
    t->src_len = len;
    t->arena.limit = KV__JINJA_MAX_MEMORY;
    kv__jtok *toks;
    size_t n_toks;
    kv_status st = kv__jinja_lex(t, &toks, &n_toks, err);
    if (st == KV_OK)
        st = kv__jinja_parse(t, toks, n_toks, err);
    if (st != KV_OK) {
        kv_jinja_free(t);
        return st;
    }
    *out = t;
    return KV_OK;
}

// ---- rendering ----

static kv_status render(const kv_jinja *t, const json_t *vars, const kv_jinja_opts *opts,
                        char **out, size_t *out_len, kv_err *err) {
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!json_is_object(vars))
        return KV_FAIL(err, KV_ERR_INVALID, "%s: the variables must be a JSON object", t->name);
    kv__jarena arena = {.limit = KV__JINJA_MAX_MEMORY};
    kv__jctx c = {.t = t, .arena = &arena, .err = err};
    c.now = opts && opts->now ? opts->now : (int64_t)time(NULL);
    c.out_limit = opts && opts->max_output ? opts->max_output : KV__JINJA_MAX_OUTPUT;
    kv__jbuf o = {.limit = c.out_limit};
    kv__jscope g = {.vars = kv__jdict_new(&arena, 16)};
    static const struct {
        const char *name;
        int fn;
    } FNS[] = {{"range", KV__JFN_RANGE},
               {"namespace", KV__JFN_NAMESPACE},
               {"dict", KV__JFN_DICT},
               {"raise_exception", KV__JFN_RAISE},
               {"strftime_now", KV__JFN_STRFTIME}};
    bool ok = g.vars != NULL;
    for (size_t i = 0; ok && i < sizeof FNS / sizeof *FNS; i++)
        ok = kv__jdict_set(&arena, g.vars, FNS[i].name, strlen(FNS[i].name),
                           (kv__jv){.t = JV_FUNC, .fn = FNS[i].fn});
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)vars, k, v) {
        kv__jv jv;
        size_t kn = strlen(k);
        char *ks = ok ? kv__jv_strdup(&arena, k, kn) : NULL;
        ok = ks && kv__jv_from_json(&arena, v, &jv) && kv__jdict_set(&arena, g.vars, ks, kn, jv);
        if (!ok)
            break;
    }
    kv_status st = KV_OK;
    if (!ok)
        st = KV_FAIL(err, KV_ERR_LIMIT, "%s: the variables need more than %u MiB", t->name,
                     (unsigned)(arena.limit >> 20));
    else if (!kv__jrun(&c, &g, &o))
        st = c.st != KV_OK ? c.st : KV_FAIL(err, KV_ERR_FORMAT, "%s: rendering failed", t->name);
    else if (!o.p && !kv__jbuf_add(&o, "", 0))
        st = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", t->name);
    kv__jarena_free(&arena);
    if (st != KV_OK) {
        kv__jbuf_free(&o);
        return st;
    }
    *out = o.p;
    if (out_len)
        *out_len = o.n;
    return KV_OK;
}

kv_status kv_jinja_render_json(const kv_jinja *t, const char *vars_json, size_t vars_len,
                               const kv_jinja_opts *opts, char **out, size_t *out_len,
                               kv_err *err) {
    json_error_t je;
    json_t *vars = json_loadb(vars_json, vars_len, JSON_REJECT_DUPLICATES, &je);
    if (!vars) {
        *out = NULL;
        return KV_FAIL(err, KV_ERR_INVALID, "%s: variables: invalid JSON: %s at line %d, column %d",
                       t->name, je.text, je.line, je.column);
    }
    kv_status st = render(t, vars, opts, out, out_len, err);
    json_decref(vars);
    return st;
}

// A JSON string of s's bytes as they are (NULL: ""): text that is not UTF-8
// passes through, as it would with the template families.
static json_t *text(const char *s) {
    return s ? json_stringn_nocheck(s, strlen(s)) : json_string("");
}

kv_status kv_jinja_render_chat(const kv_jinja *t, const kv_chat_msg *msgs, size_t n_msgs,
                               bool add_generation_prompt, const char *bos, const char *eos,
                               const kv_jinja_opts *opts, char **out, size_t *out_len,
                               kv_err *err) {
    *out = NULL;
    json_t *vars = json_object(), *list = json_array();
    bool ok = vars && list && json_object_set(vars, "messages", list) == 0;
    for (size_t i = 0; ok && i < n_msgs; i++) {
        json_t *m = json_object();
        ok = m && json_array_append_new(list, m) == 0 &&
             json_object_set_new(m, "role", json_string(kv_chat_role_name(msgs[i].role))) == 0 &&
             json_object_set_new(m, "content", text(msgs[i].content)) == 0;
    }
    ok = ok &&
         json_object_set_new(vars, "add_generation_prompt", json_boolean(add_generation_prompt)) ==
             0 &&
         json_object_set_new(vars, "bos_token", text(bos)) == 0 &&
         json_object_set_new(vars, "eos_token", text(eos)) == 0;
    kv_status st = ok ? render(t, vars, opts, out, out_len, err)
                      : KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory for the chat variables",
                                t->name);
    json_decref(list);
    json_decref(vars);
    return st;
}
