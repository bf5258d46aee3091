// kvant create, list, show, cp, rm: the local model store in Ollama's layout
// (src/store/models.h).
#define _POSIX_C_SOURCE 200809L // gmtime_r, strdup
#include "cli/cli.h"

#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include "kvant/kv_convert.h"
#include "kvant/kv_mix.h"

#include "store/models.h"

#define STORE_ENV                                                                              \
    "  --store DIR         the store (as $KVANT_MODELS)\n"                                   \
    "  --ollama-store DIR  an Ollama store, read only (list, show, run)\n"                   \
    "The store: --store, else $KVANT_MODELS, else $OLLAMA_MODELS (an Ollama store is read as it is),\n"      \
    "else $KVANT_HOME/models, else ~/.kvant/models. NAME is [HOST/][NAMESPACE/]MODEL[:TAG]\n"  \
    "(default registry.ollama.ai/library/...:latest).\n"

int kv_cli_store_option(const char *cmd, int *argc, char **argv, bool writes) {
    int k = 1, n = *argc;
    for (int i = 1; i < n; i++) {
        bool ol = strcmp(argv[i], "--ollama-store") == 0;
        if (!ol && strcmp(argv[i], "--store") != 0) {
            argv[k++] = argv[i];
            continue;
        }
        if (i + 1 >= n || !argv[i + 1][0])
            return kv_cli_usage_error(cmd, "%s needs a folder", argv[i]);
        if (ol && writes)
            return kv_cli_usage_error(cmd, "--ollama-store is read only: %s writes to the store",
                                      cmd);
        struct stat sb;
        if (ol && (stat(argv[i + 1], &sb) != 0 || !S_ISDIR(sb.st_mode))) {
            fprintf(stderr, "kvant %s: --ollama-store %s: not a folder\n", cmd, argv[i + 1]);
            return 1;
        }
        setenv("KVANT_MODELS", argv[++i], 1);
    }
    argv[k] = NULL;
    *argc = k;
    return 0;
}

static int store_dir(const char *cmd, char *dir, size_t cap) {
    kv_err err;
    if (kv__mstore_default_dir(dir, cap, &err) != KV_OK)
        return kv_cli_fail(cmd, &err);
    return 0;
}

// Parses argv's single positional names (n of them) after handling --help.
static int positional(const char *cmd, int argc, char **argv, const char **pos, int n,
                      const char *usage) {
    int k = 0;
    for (int i = 1; i < argc; i++) {
        if (kv_cli_is_help(argv[i])) {
            printf("%s\n" STORE_ENV, usage);
            return -1;
        }
        if (argv[i][0] == '-' || k == n)
            return kv_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        pos[k++] = argv[i];
    }
    if (k != n)
        return kv_cli_usage_error(cmd, "%s", usage);
    return 0;
}

static int parse_name(const char *cmd, const char *s, kv__mname *n) {
    kv_err err;
    if (kv__mname_parse(s, n, &err) != KV_OK)
        return kv_cli_fail(cmd, &err);
    return 0;
}

static char *read_all(const char *path, size_t max, size_t *n, kv_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        KV_FAIL(err, KV_ERR_IO, "%s: cannot open", path);
        return NULL;
    }
    char *buf = malloc(max + 1);
    *n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf) {
        KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (*n > max) {
        free(buf);
        KV_FAIL(err, KV_ERR_LIMIT, "%s: more than %zu bytes", path, max);
        return NULL;
    }
    buf[*n] = 0;
    return buf;
}

// FROM a Hugging Face folder (converted to F16, or to quant) or, with quant, a GGUF
// file (quantized): the GGUF is written to a temporary file in the store's blobs
// folder, tmp its path ("" when FROM is used as it is; *slot tracks it for the
// signal cleanup), and mf->from becomes it.
static kv_status prepare_from(const char *dir, kv__modelfile *mf, const char *base,
                              const char *what, const char *quant, char *tmp, size_t cap,
                              int *slot, kv_err *err) {
    tmp[0] = 0;
    char src[4096];
    if (mf->from[0] == '/' || !base || !strcmp(base, "."))
        snprintf(src, sizeof src, "%s", mf->from);
    else
        snprintf(src, sizeof src, "%s/%s", base, mf->from);
    struct stat sb;
    if (stat(src, &sb) != 0 && quant)
        return KV_FAIL(err, KV_ERR_UNSUPPORTED,
                       "%s:%d: --quantize: FROM '%.200s' is not a GGUF file or a Hugging Face "
                       "folder (a stored model is not quantized again)",
                       what, mf->from_line, mf->from);
    if (stat(src, &sb) != 0 || (!S_ISDIR(sb.st_mode) && !quant))
        return KV_OK; // a store name, a GGUF file as it is, or nothing: kv__mstore_create says
    kv_ftype ft;
    if (quant && kv_ftype_parse(quant, &ft, err) != KV_OK) {
        kv_err_prefix(err, "--quantize");
        return err->status;
    }
    if (snprintf(tmp, cap, "%s/blobs", dir) >= (int)cap ||
        (mkdir(dir, 0755) != 0 && errno != EEXIST) || (mkdir(tmp, 0755) != 0 && errno != EEXIST) ||
        snprintf(tmp, cap, "%s/blobs/.tmp-create-XXXXXX", dir) >= (int)cap) {
        tmp[0] = 0;
        return KV_FAIL(err, KV_ERR_IO, "%s/blobs: %s", dir, strerror(errno));
    }
    int fd = kv_tmp_mkstemp(tmp, slot, err);
    if (fd < 0) {
        tmp[0] = 0;
        return err->status;
    }
    close(fd);
    bool folder = S_ISDIR(sb.st_mode);
    printf("%s %s to %s\n", folder ? "converting" : "quantizing", src, quant ? quant : "f16");
    fflush(stdout);
    kv_cli_progress prog;
    kv_cli_progress_init(&prog, folder ? "convert" : "quantize", false);
    kv_quant_plan_opts plan = {.ftype = quant ? ft : 0,
                               .progress = kv_cli_progress_cb,
                               .progress_user = &prog};
    kv_status st;
    if (folder) {
        kv_convert_opts co = {.outtype = quant ? quant : "f16", .plan = plan};
        st = kv_convert_hf(src, tmp, &co, NULL, err);
    } else {
        kv_quantize_opts qo = {.plan = plan};
        st = kv_quantize_gguf(src, tmp, &qo, NULL, err);
    }
    kv_cli_progress_done(&prog);
    if (st != KV_OK) {
        char pre[4400];
        snprintf(pre, sizeof pre, "%s:%d: FROM '%.200s'", what, mf->from_line, src);
        kv_err_prefix(err, pre);
        unlink(tmp);
        kv_tmp_untrack(*slot);
        tmp[0] = 0;
        return st;
    }
    char *nf = strdup(tmp);
    if (!nf) {
        unlink(tmp);
        kv_tmp_untrack(*slot);
        tmp[0] = 0;
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory");
    }
    free(mf->from);
    mf->from = nf;
    return KV_OK;
}

int kv_cli_create(int argc, char **argv) {
    int src = kv_cli_store_option("create", &argc, argv, true);
    if (src)
        return src;
    const char *usage = "usage: kvant create NAME -f Modelfile [--quantize TYPE]\n\n"
                        "Makes model NAME in the store from a Modelfile: FROM (a GGUF file or a\n"
                        "Hugging Face folder, relative to the Modelfile's folder, or a model in\n"
                        "the store), PARAMETER key value, TEMPLATE, SYSTEM, MESSAGE role text,\n"
                        "LICENSE. A folder is converted (to F16 unless --quantize says); --quantize\n"
                        "TYPE (any file type of kvant quantize, e.g. Q4_K_M) quantizes a FROM\n"
                        "folder or GGUF file on the way.";
    const char *name = NULL, *file = NULL, *quant = NULL;
    for (int i = 1; i < argc; i++) {
        if (kv_cli_is_help(argv[i])) {
            printf("%s\n" STORE_ENV, usage);
            return 0;
        }
        if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) {
            if (i + 1 >= argc)
                return kv_cli_usage_error("create", "%s needs a value", argv[i]);
            file = argv[++i];
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quantize")) {
            if (i + 1 >= argc)
                return kv_cli_usage_error("create", "%s needs a value", argv[i]);
            quant = argv[++i];
        } else if (argv[i][0] == '-' || name) {
            return kv_cli_usage_error("create", "unexpected argument '%s'", argv[i]);
        } else {
            name = argv[i];
        }
    }
    if (!name || !file)
        return kv_cli_usage_error("create", "%s", usage);
    kv__mname n;
    char dir[4096];
    int rc;
    if ((rc = parse_name("create", name, &n)) || (rc = store_dir("create", dir, sizeof dir)))
        return rc;
    kv_err err;
    size_t len;
    char *text = read_all(file, (size_t)1 << 20, &len, &err);
    if (!text)
        return kv_cli_fail("create", &err);
    kv__modelfile mf;
    kv_status st = kv__modelfile_parse(text, len, file, &mf, &err);
    free(text);
    if (st != KV_OK)
        return kv_cli_fail("create", &err);
    char *fcopy = strdup(file), tmp[4200] = "";
    int slot = -1;
    const char *base = fcopy ? dirname(fcopy) : NULL;
    st = fcopy ? prepare_from(dir, &mf, base, file, quant, tmp, sizeof tmp, &slot, &err)
               : KV_FAIL(&err, KV_ERR_NOMEM, "out of memory");
    if (st == KV_OK)
        st = kv__mstore_create(dir, &n, &mf, tmp[0] ? NULL : base, file, &err);
    if (tmp[0]) {
        unlink(tmp);
        kv_tmp_untrack(slot);
    }
    free(fcopy);
    kv__modelfile_free(&mf);
    if (st != KV_OK)
        return kv_cli_fail("create", &err);
    char shown[KV__MNAME_TEXT_MAX];
    kv__mname_display(&n, shown, sizeof shown);
    printf("created %s\n", shown);
    return 0;
}

static void human_bytes(uint64_t b, char *out, size_t cap) {
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1000 && i < 4)
        v /= 1000, i++;
    if (i == 0)
        snprintf(out, cap, "%llu B", (unsigned long long)b);
    else
        snprintf(out, cap, "%.1f %s", v, u[i]);
}

static void ago(int64_t t, char *out, size_t cap) {
    int64_t d = (int64_t)time(NULL) - t;
    if (d < 0)
        d = 0;
    if (d < 60)
        snprintf(out, cap, "%s", d < 2 ? "About a second ago" : "Less than a minute ago");
    else if (d < 3600)
        snprintf(out, cap, "%lld minute%s ago", (long long)(d / 60), d / 60 == 1 ? "" : "s");
    else if (d < 86400)
        snprintf(out, cap, "%lld hour%s ago", (long long)(d / 3600), d / 3600 == 1 ? "" : "s");
    else
        snprintf(out, cap, "%lld day%s ago", (long long)(d / 86400), d / 86400 == 1 ? "" : "s");
}

int kv_cli_list(int argc, char **argv) {
    int src = kv_cli_store_option("list", &argc, argv, false);
    if (src)
        return src;
    int rc = positional("list", argc, argv, NULL, 0, "usage: kvant list");
    if (rc)
        return rc < 0 ? 0 : rc;
    char dir[4096];
    if ((rc = store_dir("list", dir, sizeof dir)))
        return rc;
    kv_err err;
    kv__manifest *v = NULL;
    size_t n = 0;
    if (kv__mstore_list(dir, &v, &n, &err) != KV_OK)
        return kv_cli_fail("list", &err);
    printf("%-40s %-14s %-10s %s\n", "NAME", "ID", "SIZE", "MODIFIED");
    for (size_t i = 0; i < n; i++) {
        char name[KV__MNAME_TEXT_MAX], size[32], mod[64];
        kv__mname_display(&v[i].name, name, sizeof name);
        human_bytes(v[i].size, size, sizeof size);
        ago(v[i].mtime, mod, sizeof mod);
        printf("%-40s %-14.12s %-10s %s\n", name, v[i].digest + 7, size, mod);
    }
    free(v);
    return 0;
}

static char *layer_text(const char *dir, const kv__manifest *m, const char *mt, kv_err *err,
                        bool *failed) {
    const kv__layer *l = kv__manifest_layer(m, mt);
    char *t = NULL;
    size_t n;
    if (l && kv__mstore_blob_read(dir, l->digest, &t, &n, err) != KV_OK)
        *failed = true;
    return t;
}

// Writes s as a Modelfile value: """s""" (s holds no """), else "s".
static void put_value(FILE *f, const char *s) {
    if (!strstr(s, "\"\"\""))
        fprintf(f, "\"\"\"%s\"\"\"", s);
    else
        fprintf(f, "\"%s\"", s);
}

void kv_cli_modelfile(FILE *f, const char *shown, const char *blob, const char *tmpl,
                      const char *sys, const char *params, const char *lic, const char *msgs) {
    fprintf(f,
            "# Modelfile generated by \"kvant show\"\n"
            "# To build a new Modelfile based on this, replace FROM with:\n"
            "# FROM %s\n\nFROM %s\n",
            shown, blob);
    if (tmpl)
        fprintf(f, "TEMPLATE "), put_value(f, tmpl), fprintf(f, "\n");
    if (sys)
        fprintf(f, "SYSTEM "), put_value(f, sys), fprintf(f, "\n");
    json_error_t je;
    json_t *pj = params ? json_loads(params, 0, &je) : NULL;
    const char *k;
    json_t *v;
    json_object_foreach(pj, k, v) {
        if (json_is_array(v)) {
            for (size_t i = 0; i < json_array_size(v); i++)
                if (json_is_string(json_array_get(v, i)))
                    fprintf(f, "PARAMETER %s \"%s\"\n", k, json_string_value(json_array_get(v, i)));
        } else {
            char *t = json_dumps(v, JSON_ENCODE_ANY);
            if (t)
                fprintf(f, "PARAMETER %s %s\n", k, t);
            free(t);
        }
    }
    json_decref(pj);
    json_t *mj = msgs ? json_loads(msgs, 0, &je) : NULL;
    for (size_t i = 0; i < json_array_size(mj); i++) {
        json_t *r = json_object_get(json_array_get(mj, i), "role"),
               *c = json_object_get(json_array_get(mj, i), "content");
        if (json_is_string(r) && json_is_string(c))
            fprintf(f, "MESSAGE %s ", json_string_value(r)), put_value(f, json_string_value(c)),
                fprintf(f, "\n");
    }
    json_decref(mj);
    if (lic)
        fprintf(f, "LICENSE "), put_value(f, lic), fprintf(f, "\n");
}

char *kv_cli_params_text(const char *params) {
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    if (!f)
        return NULL;
    json_error_t je;
    json_t *pj = params ? json_loads(params, 0, &je) : NULL;
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach(pj, k, v) {
        size_t m = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < m; i++) {
            json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
            char *t = json_dumps(x, JSON_ENCODE_ANY);
            if (t)
                fprintf(f, "%s%-30s %s", first ? "" : "\n", k, t), first = false;
            free(t);
        }
    }
    json_decref(pj);
    fclose(f);
    return out;
}

int kv_cli_show(int argc, char **argv) {
    int src = kv_cli_store_option("show", &argc, argv, false);
    if (src)
        return src;
    bool modelfile = false;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (kv_cli_is_help(argv[i])) {
            printf("usage: kvant show NAME [--modelfile]\n" STORE_ENV);
            return 0;
        }
        if (!strcmp(argv[i], "--modelfile"))
            modelfile = true;
        else if (argv[i][0] == '-' || name)
            return kv_cli_usage_error("show", "unexpected argument '%s'", argv[i]);
        else
            name = argv[i];
    }
    if (!name)
        return kv_cli_usage_error("show", "usage: kvant show NAME [--modelfile]");
    kv__mname n;
    char dir[4096];
    int rc;
    if ((rc = parse_name("show", name, &n)) || (rc = store_dir("show", dir, sizeof dir)))
        return rc;
    kv_err err;
    kv__manifest *m = malloc(sizeof *m);
    if (!m || kv__mstore_read(dir, &n, m, &err) != KV_OK) {
        free(m);
        return m ? kv_cli_fail("show", &err) : 1;
    }
    bool failed = false;
    char *tmpl = layer_text(dir, m, KV__MT_TEMPLATE, &err, &failed);
    char *sys = layer_text(dir, m, KV__MT_SYSTEM, &err, &failed);
    char *lic = layer_text(dir, m, KV__MT_LICENSE, &err, &failed);
    char *params = layer_text(dir, m, KV__MT_PARAMS, &err, &failed);
    char *msgs = layer_text(dir, m, KV__MT_MESSAGES, &err, &failed);
    char blob[4096] = "";
    const kv__layer *ml = kv__manifest_layer(m, KV__MT_MODEL);
    if (!failed && ml && kv__mstore_blob_path(dir, ml->digest, blob, sizeof blob, &err) != KV_OK)
        failed = true;
    char shown[KV__MNAME_TEXT_MAX];
    kv__mname_display(&n, shown, sizeof shown);
    if (failed) {
        rc = kv_cli_fail("show", &err);
    } else if (modelfile) {
        kv_cli_modelfile(stdout, shown, blob, tmpl, sys, params, lic, msgs);
    } else {
        char size[32];
        human_bytes(m->size, size, sizeof size);
        printf("  Model\n    name          %s\n    digest        %s\n    size          %s\n"
               "    blob          %s\n",
               shown, m->digest, size, blob[0] ? blob : "(none)");
        if (params)
            printf("\n  Parameters\n    %s\n", params);
        if (sys)
            printf("\n  System\n    %s\n", sys);
        if (tmpl)
            printf("\n  Template\n    %s\n", tmpl);
        if (msgs)
            printf("\n  Messages\n    %s\n", msgs);
        if (lic)
            printf("\n  License\n    %s\n", lic);
    }
    free(msgs);
    free(tmpl);
    free(sys);
    free(lic);
    free(params);
    free(m);
    return rc;
}

int kv_cli_cp(int argc, char **argv) {
    int src = kv_cli_store_option("cp", &argc, argv, true);
    if (src)
        return src;
    const char *pos[2] = {NULL, NULL};
    int rc = positional("cp", argc, argv, pos, 2, "usage: kvant cp SOURCE DESTINATION");
    if (rc)
        return rc < 0 ? 0 : rc;
    kv__mname a, b;
    char dir[4096];
    if ((rc = parse_name("cp", pos[0], &a)) || (rc = parse_name("cp", pos[1], &b)) ||
        (rc = store_dir("cp", dir, sizeof dir)))
        return rc;
    kv_err err;
    if (kv__mstore_copy(dir, &a, &b, &err) != KV_OK)
        return kv_cli_fail("cp", &err);
    char x[KV__MNAME_TEXT_MAX], y[KV__MNAME_TEXT_MAX];
    kv__mname_display(&a, x, sizeof x);
    kv__mname_display(&b, y, sizeof y);
    printf("copied '%s' to '%s'\n", x, y);
    return 0;
}

int kv_cli_rm(int argc, char **argv) {
    int src = kv_cli_store_option("rm", &argc, argv, true);
    if (src)
        return src;
    const char *pos[1] = {NULL};
    int rc = positional("rm", argc, argv, pos, 1, "usage: kvant rm NAME");
    if (rc)
        return rc < 0 ? 0 : rc;
    kv__mname a;
    char dir[4096];
    if ((rc = parse_name("rm", pos[0], &a)) || (rc = store_dir("rm", dir, sizeof dir)))
        return rc;
    kv_err err;
    size_t nb = 0;
    if (kv__mstore_remove(dir, &a, &nb, &err) != KV_OK)
        return kv_cli_fail("rm", &err);
    char x[KV__MNAME_TEXT_MAX];
    kv__mname_display(&a, x, sizeof x);
    printf("deleted '%s' (%zu unused blob%s removed)\n", x, nb, nb == 1 ? "" : "s");
    return 0;
}

void kv_cli_model_layers(const char *arg, char **system, char **params, char **tmpl,
                         char **msgs) {
    *system = *params = *tmpl = *msgs = NULL;
    char dir[4096];
    kv_err err;
    kv__mname nm;
    kv__manifest *m = malloc(sizeof *m);
    if (!m || access(arg, F_OK) == 0 || kv__mstore_default_dir(dir, sizeof dir, &err) != KV_OK ||
        kv__mname_parse(arg, &nm, &err) != KV_OK) {
        free(m);
        return;
    }
    kv__mstore_canonical(dir, &nm);
    if (kv__mstore_read(dir, &nm, m, &err) == KV_OK) {
        const char *mts[4] = {KV__MT_SYSTEM, KV__MT_PARAMS, KV__MT_TEMPLATE, KV__MT_MESSAGES};
        char **out[4] = {system, params, tmpl, msgs};
        for (int i = 0; i < 4; i++) {
            const kv__layer *l = kv__manifest_layer(m, mts[i]);
            size_t n;
            if (l && kv__mstore_blob_read(dir, l->digest, out[i], &n, &err) != KV_OK)
                fprintf(stderr, "kvant: model '%s': %s (layer ignored)\n", arg, err.msg);
        }
    }
    free(m);
}

const char *kv_cli_model_path(const char *arg, char *buf, size_t cap) {
    char dir[4096];
    kv_err err;
    if (access(arg, F_OK) == 0 || kv__mstore_default_dir(dir, sizeof dir, &err) != KV_OK ||
        kv__mstore_model_path(dir, arg, buf, cap, &err) != KV_OK)
        return arg;
    return buf;
}
