// The server's models: names given on the command line or found as *.gguf in
// the models folder, each loaded on first use (its scheduler holds the mapped
// model) and unloaded by a reaper thread keep_alive after its last request,
// Ollama's semantics (0: at once, negative: never).
#define _POSIX_C_SOURCE 200809L // strdup
#include "serve/duration_int.h"
#include "serve/metrics_int.h"
#include "serve/registry_int.h"
#include "serve/request_int.h"
#include "serve/sched_int.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "kvant/kv_gguf.h"
#include "kvant/kv_mix.h"

// The reaper's longest sleep; it looks at the models again after it.
#define MAX_REAPER_WAIT_S 3600.0

typedef enum { ENT_UNLOADED, ENT_LOADING, ENT_READY, ENT_UNLOADING } ent_state;

struct kv__model_ent {
    char *name;
    char *path;
    char *draft;        // serve --draft: the draft model's file; NULL: none
    bool draft_checked; // its vocabulary was found the model's at start-up
    kv_chat_tmpl tmpl;
    bool tmpl_set;
    bool gone; // deleted or replaced through the store API: hidden, kept until the registry is freed
    // Under the registry's mu.
    ent_state state;
    int refs;
    double keep_alive;   // of the latest request, seconds; INFINITY: never
    double expires;      // kv__now() when it unloads; INFINITY: never
    double expires_wall; // the same on the wall clock
    kv__sched *sched;
    bool info_ok;
    kv__model_info info;
};

struct kv__registry {
    pthread_mutex_t mu;
    pthread_cond_t changed; // an entry finished loading or unloading
    pthread_cond_t wake;    // the reaper has something to look at
    kv__model_ent **ents;
    int n_ents;
    int cap;
    char *dir;
    char *draft_all; // --draft for every model
    kv__sched_params sp;
    kv__metrics *metrics;
    kv_serve_log_fn log;
    void *log_user;
    bool stop;
    bool reaper_started;
    pthread_t reaper;
};

// ---- names and entries ----

// name, with ":latest" when it has no tag, into out.
static bool normal_name(const char *name, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s%s", name, strchr(name, ':') ? "" : ":latest");
    return n > 0 && (size_t)n < cap;
}

static kv__model_ent *lookup_locked(kv__registry *r, const char *name) {
    char full[KV__MAX_NAME + 16];
    if (!normal_name(name, full, sizeof full))
        return NULL;
    for (int i = 0; i < r->n_ents; i++)
        if (!r->ents[i]->gone && strcmp(r->ents[i]->name, full) == 0)
            return r->ents[i];
    // Names compare case-insensitively, as Ollama's (KJV:V1 is kjv:v1).
    for (int i = 0; i < r->n_ents; i++)
        if (!r->ents[i]->gone && strcasecmp(r->ents[i]->name, full) == 0)
            return r->ents[i];
    return NULL;
}

static kv_status add_locked(kv__registry *r, const char *name, const char *path, const char *tmpl,
                            const char *draft, kv_err *err) {
    char full[KV__MAX_NAME + 16];
    if (!*name || strlen(name) > KV__MAX_NAME || !normal_name(name, full, sizeof full) ||
        strpbrk(name, " \t\r\n/"))
        return KV_FAIL(err, KV_ERR_INVALID,
                       "model name '%.64s' must have 1 to %d characters "
                       "and no spaces or slashes",
                       name, KV__MAX_NAME);
    if (lookup_locked(r, full))
        return KV_FAIL(err, KV_ERR_INVALID, "model name '%s' is given twice", full);
    if (r->n_ents >= KV_SERVE_MAX_MODELS)
        return KV_FAIL(err, KV_ERR_LIMIT, "more than %d models", KV_SERVE_MAX_MODELS);
    if (r->n_ents == r->cap) {
        int cap = r->cap ? r->cap * 2 : 8;
        kv__model_ent **e = realloc(r->ents, (size_t)cap * sizeof *e);
        if (!e)
            return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the model list");
        r->ents = e;
        r->cap = cap;
    }
    kv__model_ent *e = calloc(1, sizeof *e);
    kv_status st = KV_OK;
    if (e) {
        e->name = strdup(full);
        e->path = strdup(path);
        e->draft = draft ? strdup(draft) : NULL;
    }
    if (!e || !e->name || !e->path || (draft && !e->draft))
        st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory for model '%s'", full);
    if (st == KV_OK && tmpl) {
        st = kv_chat_from_name(tmpl, &e->tmpl, err);
        e->tmpl_set = st == KV_OK;
    }
    if (st != KV_OK) {
        if (e) {
            free(e->name);
            free(e->path);
            free(e->draft);
        }
        free(e);
        return st;
    }
    e->expires = e->expires_wall = INFINITY;
    r->ents[r->n_ents++] = e;
    return KV_OK;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

// Adds the *.gguf files of the models folder that are not known yet.
static kv_status scan_locked(kv__registry *r, kv_err *err) {
    if (!r->dir)
        return KV_OK;
    DIR *d = opendir(r->dir);
    if (!d)
        return KV_FAIL(err, KV_ERR_IO, "--models %s: %s", r->dir, strerror(errno));
    kv_status st = KV_OK;
    while (st == KV_OK) {
        const struct dirent *de = readdir(d);
        if (!de)
            break;
        if (!has_suffix(de->d_name, ".gguf") || de->d_name[0] == '.')
            continue;
        char path[4096], stem[KV__MAX_NAME + 1];
        size_t n = strlen(de->d_name) - strlen(".gguf");
        struct stat sb;
        if (n > KV__MAX_NAME ||
            snprintf(path, sizeof path, "%s/%s", r->dir, de->d_name) >= (int)sizeof path ||
            stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        memcpy(stem, de->d_name, n);
        stem[n] = '\0';
        if (!lookup_locked(r, stem) && !strpbrk(stem, " \t\r\n"))
            st = add_locked(r, stem, path, NULL, r->draft_all, err);
    }
    closedir(d);
    return st;
}

// ---- loading and unloading ----

static void note(const kv__registry *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void note(const kv__registry *r, const char *fmt, ...) {
    if (!r->log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->log(r->log_user, line);
}

static void unload(kv__registry *r, kv__model_ent *e) {
    kv__sched *sched = e->sched;
    e->state = ENT_UNLOADING;
    pthread_mutex_unlock(&r->mu);
    kv__sched_free(sched);
    note(r, "unloaded %s", e->name);
    pthread_mutex_lock(&r->mu);
    e->sched = NULL;
    e->state = ENT_UNLOADED;
    e->expires = e->expires_wall = INFINITY;
    pthread_cond_broadcast(&r->changed);
}

// Unloads models whose keep_alive ran out; sleeps until the next one does.
static void *reaper(void *arg) {
    kv__registry *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        double now = kv__now(), next = INFINITY;
        kv__model_ent *due = NULL;
        for (int i = 0; i < r->n_ents && !due; i++) {
            kv__model_ent *e = r->ents[i];
            if (e->state != ENT_READY || e->refs > 0)
                continue;
            if (e->expires <= now)
                due = e;
            else if (e->expires < next)
                next = e->expires;
        }
        if (due) {
            unload(r, due);
            continue;
        }
        if (isinf(next)) {
            pthread_cond_wait(&r->wake, &r->mu);
        } else {
            // The condition variable uses CLOCK_REALTIME; wait the same span on
            // it, an hour at most (then look again), so that the deadline is a
            // time the clock can hold whatever the keep_alive.
            double span = next - now + 0.001;
            if (!(span <= MAX_REAPER_WAIT_S))
                span = MAX_REAPER_WAIT_S;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            double whole = floor(span);
            ts.tv_sec += (time_t)whole;
            ts.tv_nsec += (long)((span - whole) * 1e9);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&r->wake, &r->mu, &ts);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

kv_status kv__registry_acquire(kv__registry *r, kv__model_ent *e, double keep_alive_s,
                               double *load_s, kv_err *err) {
    *load_s = 0;
    pthread_mutex_lock(&r->mu);
    while (e->state == ENT_LOADING || e->state == ENT_UNLOADING)
        pthread_cond_wait(&r->changed, &r->mu);
    if (r->stop) {
        pthread_mutex_unlock(&r->mu);
        return KV_FAIL(err, KV_ERR_IO, "server is shutting down");
    }
    if (e->state == ENT_UNLOADED) {
        e->state = ENT_LOADING;
        kv__sched_params sp = r->sp;
        if (e->tmpl_set) {
            sp.tmpl = e->tmpl;
            sp.tmpl_set = true;
        }
        sp.draft = e->draft;
        bool check = e->draft && !e->draft_checked;
        pthread_mutex_unlock(&r->mu);
        kv_err de;
        if (check && kv__draft_check_files(e->path, e->draft, &de) != KV_OK) {
            note(r, "%s goes without the draft model: %s", e->name, de.msg);
            sp.draft = NULL; // --draft for all models: not this one's
        }
        double t0 = kv__now();
        kv__sched *sched = NULL;
        kv_status st = kv__sched_new(e->path, &sp, r->metrics, &sched, err);
        *load_s = kv__now() - t0;
        if (st == KV_OK)
            note(r, "loaded %s from %s in %.2f s (%s chat template)", e->name, e->path, *load_s,
                 kv_chat_name(kv__sched_tmpl(sched)));
        if (st == KV_OK && kv_model_repack_note(kv__sched_model(sched)))
            note(r, "%s: %s", e->name, kv_model_repack_note(kv__sched_model(sched)));
        else
            note(r, "cannot load %s: %s", e->name, err ? err->msg : kv_status_str(st));
        pthread_mutex_lock(&r->mu);
        e->sched = sched;
        e->state = st == KV_OK ? ENT_READY : ENT_UNLOADED;
        pthread_cond_broadcast(&r->changed);
        if (st != KV_OK) {
            pthread_mutex_unlock(&r->mu);
            return st;
        }
    }
    e->refs++;
    e->keep_alive = kv__keep_alive_saturate(keep_alive_s);
    pthread_mutex_unlock(&r->mu);
    return KV_OK;
}

void kv__registry_release(kv__registry *r, kv__model_ent *e) {
    pthread_mutex_lock(&r->mu);
    if (--e->refs == 0) {
        e->expires = kv__now() + e->keep_alive;
        e->expires_wall = kv__wall_now() + e->keep_alive;
        pthread_cond_signal(&r->wake);
    }
    pthread_mutex_unlock(&r->mu);
}

// ---- the registry ----

static kv_status add_configured(kv__registry *r, const kv_serve_params *p, kv_err *err) {
    for (int32_t i = 0; i < p->n_models; i++) {
        const kv_serve_model *m = &p->models[i];
        struct stat sb;
        if (!m->name || !m->path)
            return KV_FAIL(err, KV_ERR_INVALID, "model %d has no name or no file", i);
        if (stat(m->path, &sb) != 0)
            return KV_FAIL(err, KV_ERR_IO, "model '%s': %s: %s", m->name, m->path, strerror(errno));
        const char *draft = m->draft ? m->draft : p->draft_all;
        kv_status st = KV_OK;
        if (draft && stat(draft, &sb) != 0)
            return KV_FAIL(err, KV_ERR_IO, "model '%s': draft %s: %s", m->name, draft,
                           strerror(errno));
        if (draft) // refused at start, not at the first request
            st = kv__draft_check_files(m->path, draft, err);
        if (st == KV_OK)
            st = add_locked(r, m->name, m->path, m->template, draft, err);
        if (st != KV_OK)
            return st;
        r->ents[r->n_ents - 1]->draft_checked = draft != NULL;
    }
    return KV_OK;
}

kv_status kv__registry_new(const kv_serve_params *p, kv__metrics *metrics, kv__registry **out,
                           kv_err *err) {
    *out = NULL;
    kv__registry *r = calloc(1, sizeof *r);
    if (!r)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the model registry");
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->changed, NULL);
    pthread_cond_init(&r->wake, NULL);
    r->metrics = metrics;
    r->log = p->log;
    r->log_user = p->log_user;
    r->sp = (kv__sched_params){.n_parallel = p->n_parallel,
                               .n_ctx = p->n_ctx,
                               .n_kv_cells = p->n_kv_cells,
                               .type_k = p->type_k,
                               .type_v = p->type_v,
                               .n_threads = p->n_threads,
                               .queue_max = p->queue_max};
    kv_status st = KV_OK;
    if (p->template_all) {
        st = kv_chat_from_name(p->template_all, &r->sp.tmpl, err);
        r->sp.tmpl_set = st == KV_OK;
    }
    if (st == KV_OK && p->models_dir) {
        r->dir = strdup(p->models_dir);
        if (!r->dir)
            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the registry");
    }
    if (st == KV_OK && p->draft_all) {
        r->draft_all = strdup(p->draft_all);
        if (!r->draft_all)
            st = KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the registry");
    }
    if (st == KV_OK)
        st = add_configured(r, p, err);
    if (st == KV_OK)
        st = scan_locked(r, err);
    if (st == KV_OK && pthread_create(&r->reaper, NULL, reaper, r) != 0)
        st = KV_FAIL(err, KV_ERR_NOMEM, "cannot start the model reaper thread");
    r->reaper_started = st == KV_OK;
    if (st != KV_OK) {
        kv__registry_free(r);
        return st;
    }
    *out = r;
    return KV_OK;
}

void kv__registry_shutdown(kv__registry *r) {
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->mu);
    if (r->reaper_started) {
        pthread_join(r->reaper, NULL);
        r->reaper_started = false;
    }
    // Entries no longer change state once stop is set, except loads already
    // under way, which finish (kv__registry_free stops those schedulers).
    for (int i = 0;; i++) {
        pthread_mutex_lock(&r->mu);
        kv__model_ent *e = i < r->n_ents ? r->ents[i] : NULL;
        kv__sched *sched = e && e->state == ENT_READY ? e->sched : NULL;
        pthread_mutex_unlock(&r->mu);
        if (!e)
            break;
        kv__sched_shutdown(sched);
    }
}

void kv__registry_free(kv__registry *r) {
    if (!r)
        return;
    kv__registry_shutdown(r);
    for (int i = 0; i < r->n_ents; i++) {
        kv__model_ent *e = r->ents[i];
        pthread_mutex_lock(&r->mu);
        while (e->state == ENT_LOADING)
            pthread_cond_wait(&r->changed, &r->mu);
        kv__sched *sched = e->sched;
        e->sched = NULL;
        e->state = ENT_UNLOADED;
        pthread_mutex_unlock(&r->mu);
        kv__sched_free(sched);
        free(e->name);
        free(e->path);
        free(e->draft);
        free(e);
    }
    free(r->ents);
    free(r->dir);
    free(r->draft_all);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

kv__model_ent *kv__registry_find(kv__registry *r, const char *name) {
    pthread_mutex_lock(&r->mu);
    kv__model_ent *e = lookup_locked(r, name);
    if (!e && r->dir && scan_locked(r, NULL) == KV_OK)
        e = lookup_locked(r, name);
    pthread_mutex_unlock(&r->mu);
    return e;
}

// An entry is never freed while the server runs (handlers hold bare pointers), so
// a replaced or deleted model's entry is only hidden; it unloads as any other.
kv_status kv__registry_put(kv__registry *r, const char *name, const char *path, kv_err *err) {
    pthread_mutex_lock(&r->mu);
    kv__model_ent *old = lookup_locked(r, name);
    kv_status st = KV_OK;
    if (!old || strcmp(old->path, path) != 0) {
        if (old)
            old->gone = true;
        st = add_locked(r, name, path, NULL, r->draft_all, err);
        if (st != KV_OK && old)
            old->gone = false;
    }
    pthread_mutex_unlock(&r->mu);
    return st;
}

void kv__registry_drop(kv__registry *r, const char *name) {
    pthread_mutex_lock(&r->mu);
    kv__model_ent *e = lookup_locked(r, name);
    if (e)
        e->gone = true;
    pthread_mutex_unlock(&r->mu);
}

const char *kv__ent_name(const kv__model_ent *e) {
    return e->name;
}

const char *kv__ent_path(const kv__model_ent *e) {
    return e->path;
}

kv__sched *kv__ent_sched(kv__model_ent *e) {
    return e->sched;
}

// ---- metadata ----

static void format_params(uint64_t n, char *out, size_t cap) {
    if (n >= 1000000000ull)
        snprintf(out, cap, "%.1fB", n / 1e9);
    else if (n >= 1000000ull)
        snprintf(out, cap, "%.1fM", n / 1e6);
    else
        snprintf(out, cap, "%.0fK", n / 1e3);
}

static void copy_str(const kv_gguf *g, const char *key, char *out, size_t cap) {
    kv_str v;
    out[0] = '\0';
    if (kv_gguf_get_str(g, key, &v, NULL) == KV_OK)
        snprintf(out, cap, "%.*s", (int)(v.n < cap ? v.n : cap - 1), v.p);
}

static void read_info(const kv_gguf *g, const kv__model_ent *e, const kv__sched_params *sp,
                      kv__model_info *info) {
    memset(info, 0, sizeof *info);
    copy_str(g, "general.architecture", info->family, sizeof info->family);
    int64_t ft;
    if (kv_gguf_get_int(g, "general.file_type", &ft, NULL) == KV_OK)
        snprintf(info->quant, sizeof info->quant, "%s", kv_ftype_name((kv_ftype)ft));
    for (int64_t i = 0; i < kv_gguf_tensor_count(g); i++) {
        const kv_gguf_tensor *t = kv_gguf_tensor_at(g, i);
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            n *= (uint64_t)t->ne[d];
        info->n_params += n;
    }
    format_params(info->n_params, info->param_size, sizeof info->param_size);
    char key[96];
    snprintf(key, sizeof key, "%s.context_length", info->family);
    kv_gguf_get_int(g, key, &info->n_ctx_train, NULL);
    snprintf(key, sizeof key, "%s.embedding_length", info->family);
    kv_gguf_get_int(g, key, &info->n_embd, NULL);
    kv_chat_tmpl t = e->tmpl_set ? e->tmpl : sp->tmpl_set ? sp->tmpl : kv_chat_detect_gguf(g, NULL);
    snprintf(info->tmpl_name, sizeof info->tmpl_name, "%s", kv_chat_name(t));
}

kv_status kv__ent_info(kv__registry *r, kv__model_ent *e, kv__model_info *out, kv_err *err) {
    pthread_mutex_lock(&r->mu);
    bool ok = e->info_ok;
    if (ok)
        *out = e->info;
    pthread_mutex_unlock(&r->mu);
    if (ok)
        return KV_OK;
    kv_gguf *g = NULL;
    kv_status st = kv_gguf_open(e->path, &g, err);
    if (st != KV_OK)
        return st;
    read_info(g, e, &r->sp, out);
    kv_gguf_close(g);
    pthread_mutex_lock(&r->mu);
    e->info = *out;
    e->info_ok = true;
    pthread_mutex_unlock(&r->mu);
    return KV_OK;
}

void kv__registry_each(kv__registry *r, bool rescan, kv__ent_fn fn, void *user) {
    typedef struct {
        kv__model_ent *e;
        bool loaded;
        double expires;
    } row;
    pthread_mutex_lock(&r->mu);
    if (rescan)
        scan_locked(r, NULL);
    int n = 0;
    row *rows = calloc(r->n_ents ? (size_t)r->n_ents : 1, sizeof *rows);
    for (int i = 0; rows && i < r->n_ents; i++) {
        kv__model_ent *e = r->ents[i];
        if (!e->gone)
            rows[n++] = (row){e, e->state == ENT_READY, e->refs > 0 ? INFINITY : e->expires_wall};
    }
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; rows && i < n; i++) {
        struct stat sb;
        bool ok = stat(rows[i].e->path, &sb) == 0;
        fn(user, rows[i].e, rows[i].loaded, rows[i].expires, ok ? (uint64_t)sb.st_size : 0,
           ok ? (double)sb.st_mtime : 0);
    }
    free(rows);
}

void kv__registry_gauges(kv__registry *r, kv__gauges *g) {
    memset(g, 0, sizeof *g);
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n_ents; i++) {
        kv__model_ent *e = r->ents[i];
        if (e->state != ENT_READY)
            continue;
        g->models_loaded++;
        kv__sched_gauges(e->sched, g);
    }
    pthread_mutex_unlock(&r->mu);
}
