// Recipes: the optimize run as a YAML file (libyaml), Olive-like:
//
//   input: models/kjv-llama-7m
//   output: out/kjv
//   passes:
//     - type: convert        # base_type: f16
//     - type: imatrix        # calib: FILE, chunks: N
//     - type: quantize       # types: [Q8_0, Q4_K_M], search: [Q4_K_M, 3.5],
//                            # search_types: "Q2_K,...,Q6_K", search_chunks: N
//     - type: evaluate       # text | eval: FILE, ctx, chunks, threads, objective,
//                            # bench_prompt, bench_gen, bench_reps, goals: {...}
//
// Every error names the file and line.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "optimize/optimize_int.h"

#define MAX_STRINGS 256

struct kv_opt_recipe {
    char *s[MAX_STRINGS];
    int n;
};

void kv_opt_recipe_free(kv_opt_recipe *r) {
    if (!r)
        return;
    for (int i = 0; i < r->n; i++)
        free(r->s[i]);
    free(r);
}

typedef struct {
    const char *path;
    yaml_document_t *doc;
    kv_opt_recipe *r;
    kv_opt_params *p;
    kv_err *err;
} rd;

static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

static kv_status bad(rd *c, const yaml_node_t *n, const char *what) {
    return KV_FAIL(c->err, KV_ERR_FORMAT, "%s:%d: %s", c->path, line_of(n), what);
}

static kv_status str(rd *c, yaml_node_t *n, const char **out) {
    if (n->type != YAML_SCALAR_NODE)
        return bad(c, n, "expected a single value");
    if (c->r->n == MAX_STRINGS)
        return bad(c, n, "too many values");
    char *s = strndup((const char *)n->data.scalar.value, n->data.scalar.length);
    if (!s)
        return KV_FAIL(c->err, KV_ERR_NOMEM, "%s: out of memory", c->path);
    c->r->s[c->r->n++] = s;
    *out = s;
    return KV_OK;
}

static kv_status num(rd *c, yaml_node_t *n, double lo, double hi, double *out) {
    const char *s = NULL;
    kv_status st = str(c, n, &s);
    if (st != KV_OK)
        return st;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        char msg[160];
        snprintf(msg, sizeof msg, "'%.40s' is not a number in %g..%g", s, lo, hi);
        return bad(c, n, msg);
    }
    *out = v;
    return KV_OK;
}

static kv_status int_(rd *c, yaml_node_t *n, int lo, int hi, int *out) {
    double v = 0;
    kv_status st = num(c, n, lo, hi, &v);
    if (st == KV_OK && v != (int)v)
        return bad(c, n, "expected a whole number");
    *out = (int)v;
    return st;
}

// A scalar or a list of scalars into out[cap].
static kv_status list(rd *c, yaml_node_t *n, const char **out, int cap, int *n_out) {
    if (n->type == YAML_SCALAR_NODE) {
        if (*n_out >= cap)
            return bad(c, n, "too many entries");
        return str(c, n, &out[(*n_out)++]);
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return bad(c, n, "expected a list");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(c->doc, *it);
        if (*n_out >= cap)
            return bad(c, e, "too many entries");
        kv_status st = str(c, e, &out[(*n_out)++]);
        if (st != KV_OK)
            return st;
    }
    return KV_OK;
}

static kv_status goals(rd *c, yaml_node_t *m) {
    if (m->type != YAML_MAPPING_NODE)
        return bad(c, m, "goals: expected a mapping");
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, pr->value);
        const char *key, *s;
        kv_status st = str(c, k, &key);
        kv_opt_goals *g = &c->p->goals;
        if (st != KV_OK)
            return st;
        if (!strcmp(key, "max_size") || !strcmp(key, "max_ram")) {
            st = str(c, v, &s);
            if (st == KV_OK &&
                kv_opt_parse_size(s, key, key[4] == 's' ? &g->max_size : &g->max_ram, c->err) != KV_OK) {
                char msg[KV_ERR_MSG_SIZE];
                snprintf(msg, sizeof msg, "%s", c->err->msg);
                return bad(c, v, msg);
            }
        } else if (!strcmp(key, "min_gen_tps")) {
            st = num(c, v, 0, 1e9, &g->min_gen_tps);
        } else if (!strcmp(key, "min_prompt_tps")) {
            st = num(c, v, 0, 1e9, &g->min_prompt_tps);
        } else if (!strcmp(key, "max_kld")) {
            st = num(c, v, 0, 1e9, &g->max_kld);
        } else {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown goal '%.40s' (max_size, max_ram, min_gen_tps, "
                                      "min_prompt_tps, max_kld)", key);
            return bad(c, k, msg);
        }
        if (st != KV_OK)
            return st;
    }
    return KV_OK;
}

static kv_status pass(rd *c, yaml_node_t *m) {
    if (m->type != YAML_MAPPING_NODE)
        return bad(c, m, "a pass is a mapping with a 'type'");
    const char *type = NULL;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, "type")) {
            kv_status st = str(c, yaml_document_get_node(c->doc, pr->value), &type);
            if (st != KV_OK)
                return st;
        }
    }
    if (!type || (strcmp(type, "convert") && strcmp(type, "imatrix") && strcmp(type, "quantize") &&
                  strcmp(type, "evaluate")))
        return bad(c, m, "pass type must be convert, imatrix, quantize or evaluate");
    kv_opt_params *p = c->p;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, pr->value);
        const char *key;
        kv_status st = str(c, k, &key);
        if (st != KV_OK)
            return st;
        bool known = true;
        if (!strcmp(key, "type"))
            continue;
        if (!strcmp(type, "convert") && !strcmp(key, "base_type"))
            st = str(c, v, &p->base_type);
        else if (!strcmp(type, "imatrix") && !strcmp(key, "calib"))
            st = str(c, v, &p->calib);
        else if (!strcmp(type, "imatrix") && !strcmp(key, "chunks"))
            st = int_(c, v, 1, 1 << 20, &p->n_chunks_calib);
        else if (!strcmp(type, "quantize") && !strcmp(key, "types"))
            st = list(c, v, p->candidates, KV_OPT_MAX_CANDIDATES, &p->n_candidates);
        else if (!strcmp(type, "quantize") && !strcmp(key, "search"))
            st = list(c, v, p->search, KV_OPT_MAX_SEARCH, &p->n_search);
        else if (!strcmp(type, "quantize") && !strcmp(key, "search_types"))
            st = str(c, v, &p->search_types);
        else if (!strcmp(type, "quantize") && !strcmp(key, "search_chunks"))
            st = int_(c, v, 1, 1 << 20, &p->n_chunks_search);
        else if (!strcmp(type, "evaluate") && !strcmp(key, "text"))
            st = str(c, v, &p->text);
        else if (!strcmp(type, "evaluate") && !strcmp(key, "eval"))
            st = str(c, v, &p->eval);
        else if (!strcmp(type, "evaluate") && !strcmp(key, "ctx"))
            st = int_(c, v, 8, 1 << 20, &p->n_ctx);
        else if (!strcmp(type, "evaluate") && !strcmp(key, "chunks"))
            st = int_(c, v, 1, 1 << 20, &p->n_chunks_eval);
        else if (!strcmp(type, "evaluate") && !strcmp(key, "threads"))
            st = int_(c, v, 1, 1024, &p->n_threads);
        else if (!strcmp(type, "evaluate") && !strcmp(key, "bench_prompt"))
            st = int_(c, v, 1, 1 << 16, &p->bench_prompt);
        else if (!strcmp(type, "evaluate") && !strcmp(key, "bench_gen"))
            st = int_(c, v, 1, 1 << 16, &p->bench_gen);
        else if (!strcmp(type, "evaluate") && !strcmp(key, "bench_reps"))
            st = int_(c, v, -1, 100, &p->bench_reps);
        else if (!strcmp(type, "evaluate") && !strcmp(key, "goals"))
            st = goals(c, v);
        else if (!strcmp(type, "evaluate") && !strcmp(key, "objective")) {
            const char *o;
            st = str(c, v, &o);
            if (st == KV_OK) {
                if (!strcmp(o, "quality")) p->objective = KV_OPT_QUALITY;
                else if (!strcmp(o, "speed")) p->objective = KV_OPT_SPEED;
                else if (!strcmp(o, "size")) p->objective = KV_OPT_SIZE;
                else return bad(c, v, "objective must be quality, speed or size");
            }
        } else
            known = false;
        if (!known) {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown key '%.40s' in a %s pass", key, type);
            return bad(c, k, msg);
        }
        if (st != KV_OK)
            return st;
    }
    return KV_OK;
}

kv_status kv_opt_recipe_load(const char *path, kv_opt_params *p, kv_opt_recipe **out, kv_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return KV_FAIL(err, KV_ERR_IO, "%s: cannot open", path);
    kv_opt_recipe *r = calloc(1, sizeof *r);
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    kv_status st = KV_OK;
    if (!r || !yaml_parser_initialize(&parser)) {
        fclose(f);
        free(r);
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s:%d: %s", path, (int)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "not YAML");
        goto done;
    }
    have_doc = true;
    rd c = {path, &doc, r, p, err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        st = KV_FAIL(err, KV_ERR_FORMAT, "%s:1: a recipe is a mapping (input, output, passes)", path);
        goto done;
    }
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
         st == KV_OK && pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
        const char *key;
        st = str(&c, k, &key);
        if (st != KV_OK)
            break;
        if (!strcmp(key, "input"))
            st = str(&c, v, &p->src);
        else if (!strcmp(key, "output"))
            st = str(&c, v, &p->outdir);
        else if (!strcmp(key, "passes")) {
            if (v->type != YAML_SEQUENCE_NODE) {
                st = bad(&c, v, "passes: expected a list");
                break;
            }
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 st == KV_OK && it < v->data.sequence.items.top; it++)
                st = pass(&c, yaml_document_get_node(&doc, *it));
        } else {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown key '%.40s' (input, output, passes)", key);
            st = bad(&c, k, msg);
        }
    }
done:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    if (st != KV_OK) {
        kv_opt_recipe_free(r);
        return st;
    }
    *out = r;
    return KV_OK;
}

// YAML double-quoted scalar.
static void q(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

char *kv_opt_recipe_print(const kv_opt_params *p) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "# kvant optimize recipe\ninput: ");
    q(f, p->src);
    fprintf(f, "\noutput: ");
    q(f, p->outdir);
    fprintf(f, "\npasses:\n  - type: convert\n    base_type: %s\n",
            p->base_type ? p->base_type : "f16");
    fprintf(f, "  - type: imatrix\n");
    if (p->calib) {
        fprintf(f, "    calib: ");
        q(f, p->calib);
        fprintf(f, "\n");
    }
    if (p->n_chunks_calib > 0)
        fprintf(f, "    chunks: %d\n", p->n_chunks_calib);
    fprintf(f, "  - type: quantize\n");
    if (p->n_candidates > 0) {
        fprintf(f, "    types: [");
        for (int i = 0; i < p->n_candidates; i++)
            fprintf(f, "%s%s", i ? ", " : "", p->candidates[i]);
        fprintf(f, "]\n");
    } else {
        fprintf(f, "    # types: the default ladder (every supported file type, Q8_0 down)\n");
    }
    if (p->n_search > 0) {
        fprintf(f, "    search: [");
        for (int i = 0; i < p->n_search; i++)
            fprintf(f, "%s\"%s\"", i ? ", " : "", p->search[i]);
        fprintf(f, "]\n    search_types: \"%s\"\n",
                p->search_types ? p->search_types : "Q2_K,Q3_K,Q4_K,Q5_K,Q6_K");
        if (p->n_chunks_search > 0)
            fprintf(f, "    search_chunks: %d\n", p->n_chunks_search);
    }
    fprintf(f, "  - type: evaluate\n");
    if (p->text) {
        fprintf(f, "    text: ");
        q(f, p->text);
        fprintf(f, "\n");
    }
    if (p->eval) {
        fprintf(f, "    eval: ");
        q(f, p->eval);
        fprintf(f, "\n");
    }
    if (p->n_ctx > 0)
        fprintf(f, "    ctx: %d\n", p->n_ctx);
    if (p->n_chunks_eval > 0)
        fprintf(f, "    chunks: %d\n", p->n_chunks_eval);
    if (p->n_threads > 0)
        fprintf(f, "    threads: %d\n", p->n_threads);
    if (p->bench_prompt > 0)
        fprintf(f, "    bench_prompt: %d\n", p->bench_prompt);
    if (p->bench_gen > 0)
        fprintf(f, "    bench_gen: %d\n", p->bench_gen);
    if (p->bench_reps != 0)
        fprintf(f, "    bench_reps: %d\n", p->bench_reps);
    static const char *OBJ[] = {"quality", "speed", "size"};
    fprintf(f, "    objective: %s\n", OBJ[p->objective]);
    const kv_opt_goals *g = &p->goals;
    if (g->max_size > 0 || g->max_ram > 0 || g->min_gen_tps > 0 || g->min_prompt_tps > 0 ||
        g->max_kld >= 0) {
        fprintf(f, "    goals:\n");
        if (g->max_size > 0)
            fprintf(f, "      max_size: %.0f\n", g->max_size);
        if (g->max_ram > 0)
            fprintf(f, "      max_ram: %.0f\n", g->max_ram);
        if (g->min_gen_tps > 0)
            fprintf(f, "      min_gen_tps: %g\n", g->min_gen_tps);
        if (g->min_prompt_tps > 0)
            fprintf(f, "      min_prompt_tps: %g\n", g->min_prompt_tps);
        if (g->max_kld >= 0)
            fprintf(f, "      max_kld: %g\n", g->max_kld);
    }
    fclose(f);
    return buf;
}
