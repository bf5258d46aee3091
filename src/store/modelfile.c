// Modelfiles: FROM, PARAMETER, TEMPLATE, SYSTEM, MESSAGE and LICENSE (a subset of
// Ollama's), each error naming its line.
#include "store/models.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *p, *end;
    int line;
    const char *what;
} cur;

static bool at_eol(const cur *c) { return c->p >= c->end || *c->p == '\n'; }
static void skip_blank(cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'))
        c->p++;
}

static char *dup_n(const char *s, size_t n) {
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

// A value at c: """...""", "..." or the rest of the line. Leaves c at the end
// of its last line.
static kv_status read_value(cur *c, const char *instr, char **out, kv_err *err) {
    int start_line = c->line;
    skip_blank(c);
    if (c->end - c->p >= 3 && memcmp(c->p, "\"\"\"", 3) == 0) {
        const char *s = c->p + 3, *q = s;
        while (q + 3 <= c->end && memcmp(q, "\"\"\"", 3) != 0) {
            if (*q == '\n')
                c->line++;
            q++;
        }
        if (q + 3 > c->end)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: %s: \"\"\" is not closed", c->what,
                           start_line, instr);
        *out = dup_n(s, (size_t)(q - s));
        c->p = q + 3;
    } else if (c->p < c->end && *c->p == '"') {
        const char *s = ++c->p;
        while (c->p < c->end && *c->p != '"' && *c->p != '\n')
            c->p++;
        if (c->p >= c->end || *c->p != '"')
            return KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: %s: '\"' is not closed on its line",
                           c->what, start_line, instr);
        *out = dup_n(s, (size_t)(c->p - s));
        c->p++;
    } else {
        const char *s = c->p;
        while (!at_eol(c))
            c->p++;
        const char *e = c->p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (e == s)
            return KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: %s needs a value", c->what, start_line,
                           instr);
        *out = dup_n(s, (size_t)(e - s));
        return *out ? KV_OK : KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    }
    if (!*out)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    skip_blank(c);
    if (!at_eol(c)) {
        free(*out);
        *out = NULL;
        return KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: %s: text after the closing quote", c->what,
                       c->line, instr);
    }
    return KV_OK;
}

void kv__modelfile_free(kv__modelfile *mf) {
    if (!mf)
        return;
    free(mf->from);
    free(mf->tmpl);
    free(mf->system);
    free(mf->license);
    for (size_t i = 0; i < mf->n_params; i++) {
        free(mf->params[i].key);
        free(mf->params[i].value);
    }
    free(mf->params);
    for (size_t i = 0; i < mf->n_msgs; i++) {
        free(mf->msgs[i].role);
        free(mf->msgs[i].content);
    }
    free(mf->msgs);
    memset(mf, 0, sizeof *mf);
}

static kv_status parse(cur *c, kv__modelfile *mf, kv_err *err) {
    if (memchr(c->p, 0, (size_t)(c->end - c->p))) {
        int line = 1;
        for (const char *q = c->p; *q; q++)
            line += *q == '\n';
        return KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: a NUL byte", c->what, line);
    }
    while (c->p < c->end) {
        skip_blank(c);
        if (at_eol(c) || *c->p == '#') {
            while (!at_eol(c))
                c->p++;
        } else {
            const char *w = c->p;
            while (c->p < c->end && *c->p != ' ' && *c->p != '\t' && *c->p != '\n' &&
                   *c->p != '\r')
                c->p++;
            size_t wl = (size_t)(c->p - w);
            char instr[16] = "";
            if (wl < sizeof instr)
                for (size_t i = 0; i < wl; i++)
                    instr[i] = (char)(w[i] >= 'a' && w[i] <= 'z' ? w[i] - 32 : w[i]);
            int line = c->line;
            char **slot = !strcmp(instr, "FROM")       ? &mf->from
                          : !strcmp(instr, "TEMPLATE") ? &mf->tmpl
                          : !strcmp(instr, "SYSTEM")   ? &mf->system
                          : !strcmp(instr, "LICENSE")  ? &mf->license
                                                       : NULL;
            kv_status st;
            if (slot) {
                if (*slot)
                    return KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: a second %s", c->what, line,
                                   instr);
                if ((st = read_value(c, instr, slot, err)) != KV_OK)
                    return st;
                if (slot == &mf->from && !mf->from[0])
                    return KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: FROM needs a value", c->what,
                                   line);
                if (slot == &mf->from)
                    mf->from_line = line;
                if (slot == &mf->tmpl)
                    mf->tmpl_line = line;
            } else if (!strcmp(instr, "PARAMETER")) {
                skip_blank(c);
                const char *k = c->p;
                while (!at_eol(c) && *c->p != ' ' && *c->p != '\t' && *c->p != '\r')
                    c->p++;
                if (c->p == k)
                    return KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: PARAMETER needs a name and a value",
                                   c->what, line);
                char *key = dup_n(k, (size_t)(c->p - k)), *val = NULL;
                if (!key)
                    return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
                if ((st = read_value(c, "PARAMETER", &val, err)) != KV_OK) {
                    free(key);
                    return st;
                }
                kv__mf_param *np = realloc(mf->params, (mf->n_params + 1) * sizeof *np);
                if (!np) {
                    free(key);
                    free(val);
                    return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
                }
                mf->params = np;
                np[mf->n_params++] = (kv__mf_param){key, val, line};
            } else if (!strcmp(instr, "MESSAGE")) {
                skip_blank(c);
                const char *k = c->p;
                while (!at_eol(c) && *c->p != ' ' && *c->p != '\t' && *c->p != '\r')
                    c->p++;
                size_t kl = (size_t)(c->p - k);
                if (!kl)
                    return KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: MESSAGE needs a role and a text",
                                   c->what, line);
                if (!((kl == 6 && !memcmp(k, "system", 6)) || (kl == 4 && !memcmp(k, "user", 4)) ||
                      (kl == 9 && !memcmp(k, "assistant", 9))))
                    return KV_FAIL(err, KV_ERR_FORMAT,
                                   "%s:%d: MESSAGE: unknown role '%.*s' (system, user or "
                                   "assistant)",
                                   c->what, line, (int)(kl > 40 ? 40 : kl), k);
                char *role = dup_n(k, kl), *val = NULL;
                if (!role)
                    return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
                if ((st = read_value(c, "MESSAGE", &val, err)) != KV_OK) {
                    free(role);
                    return st;
                }
                kv__mf_msg *nm = realloc(mf->msgs, (mf->n_msgs + 1) * sizeof *nm);
                if (!nm) {
                    free(role);
                    free(val);
                    return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
                }
                mf->msgs = nm;
                nm[mf->n_msgs++] = (kv__mf_msg){role, val, line};
            } else if (!strcmp(instr, "ADAPTER")) {
                return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                               "%s:%d: ADAPTER is not supported by kvant (LoRA adapters are out "
                               "of scope; merge the adapter into the model first)",
                               c->what, line);
            } else if (!strcmp(instr, "REQUIRES")) {
                return KV_FAIL(err, KV_ERR_UNSUPPORTED, "%s:%d: %s is not supported by kvant",
                               c->what, line, instr);
            } else {
                return KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: unknown instruction '%.*s'", c->what,
                               line, (int)(wl > 40 ? 40 : wl), w);
            }
        }
        if (c->p < c->end) { // at '\n'
            c->p++;
            c->line++;
        }
    }
    if (!mf->from)
        return KV_FAIL(err, KV_ERR_FORMAT, "%s: no FROM instruction", c->what);
    return KV_OK;
}

kv_status kv__modelfile_parse(const char *text, size_t n, const char *what, kv__modelfile *out,
                              kv_err *err) {
    memset(out, 0, sizeof *out);
    cur c = {text, text + n, 1, what ? what : "Modelfile"};
    kv_status st = parse(&c, out, err);
    if (st != KV_OK)
        kv__modelfile_free(out);
    return st;
}

// ---- the messages layer ----

kv_status kv__modelfile_messages_json(const kv__modelfile *mf, const char *what, char **out,
                                      kv_err *err) {
    *out = NULL;
    json_t *a = json_array();
    kv_status st = a ? KV_OK : KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < mf->n_msgs && st == KV_OK; i++) {
        json_t *c = json_string(mf->msgs[i].content), *o = json_object();
        if (!c)
            st = KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: MESSAGE: not valid UTF-8",
                         what ? what : "Modelfile", mf->msgs[i].line);
        else if (!o || json_object_set_new(o, "role", json_string(mf->msgs[i].role)) != 0 ||
                 json_object_set(o, "content", c) != 0 || json_array_append(a, o) != 0)
            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        json_decref(c);
        json_decref(o);
    }
    if (st == KV_OK && !(*out = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    json_decref(a);
    return st;
}

// ---- the params layer ----

typedef enum { P_FLOAT, P_INT, P_BOOL, P_STRINGS } ptype;
static const struct {
    const char *name;
    ptype t;
} PARAMS[] = {
    {"frequency_penalty", P_FLOAT}, {"min_p", P_FLOAT},       {"mirostat", P_INT},
    {"mirostat_eta", P_FLOAT},      {"mirostat_tau", P_FLOAT}, {"num_batch", P_INT},
    {"num_ctx", P_INT},             {"num_gpu", P_INT},        {"num_keep", P_INT},
    {"num_predict", P_INT},         {"num_thread", P_INT},     {"penalize_newline", P_BOOL},
    {"presence_penalty", P_FLOAT},  {"repeat_last_n", P_INT},  {"repeat_penalty", P_FLOAT},
    {"seed", P_INT},                {"stop", P_STRINGS},       {"temperature", P_FLOAT},
    {"tfs_z", P_FLOAT},             {"top_k", P_INT},          {"top_p", P_FLOAT},
    {"typical_p", P_FLOAT},         {"use_mmap", P_BOOL},
};

kv_status kv__modelfile_params_json(const kv__modelfile *mf, const char *what, char **out,
                                    kv_err *err) {
    *out = NULL;
    if (!what)
        what = "Modelfile";
    json_t *o = json_object();
    if (!o)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    kv_status st = KV_OK;
    for (size_t i = 0; i < mf->n_params && st == KV_OK; i++) {
        const kv__mf_param *p = &mf->params[i];
        size_t k = 0, nk = sizeof PARAMS / sizeof PARAMS[0];
        while (k < nk && strcmp(PARAMS[k].name, p->key) != 0)
            k++;
        if (k == nk) {
            st = KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: unknown parameter '%.60s'", what, p->line,
                         p->key);
            break;
        }
        json_t *v = NULL;
        char *e = NULL;
        errno = 0;
        if (PARAMS[k].t == P_FLOAT) {
            double d = strtod(p->value, &e);
            if (*e || errno || !isfinite(d))
                st = KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: %s: '%.60s' is not a number", what,
                             p->line, p->key, p->value);
            else
                v = json_real(d);
        } else if (PARAMS[k].t == P_INT) {
            long long l = strtoll(p->value, &e, 10);
            if (*e || errno || e == p->value)
                st = KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: %s: '%.60s' is not an integer", what,
                             p->line, p->key, p->value);
            else
                v = json_integer(l);
        } else if (PARAMS[k].t == P_BOOL) {
            if (!strcmp(p->value, "true") || !strcmp(p->value, "false"))
                v = json_boolean(!strcmp(p->value, "true"));
            else
                st = KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: %s: '%.60s' is not true or false", what,
                             p->line, p->key, p->value);
        } else {
            json_t *arr = json_object_get(o, p->key);
            if (!arr) {
                arr = json_array();
                if (!arr || json_object_set_new(o, p->key, arr) != 0)
                    st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
            }
            if (st == KV_OK && json_array_append_new(arr, json_string(p->value)) != 0)
                st = KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: %s: not valid UTF-8", what, p->line,
                             p->key);
            continue;
        }
        if (st == KV_OK && (!v || json_object_set_new(o, p->key, v) != 0))
            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    }
    if (st == KV_OK) {
        *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        if (!*out)
            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    }
    json_decref(o);
    return st;
}
