// The model registry (registry.c): the models the server knows, loading and
// unloading them, and each loaded model's scheduler.
#ifndef KV_SERVE_REGISTRY_INT_H
#define KV_SERVE_REGISTRY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "kvant/kv_serve.h"
#include "kvant/kv_status.h"
#include "serve/metrics_int.h"

typedef struct kv__registry kv__registry;
typedef struct kv__model_ent kv__model_ent;
typedef struct kv__sched kv__sched;

// What one file says about itself, for /api/tags, /api/show and /v1/models.
typedef struct {
    char family[32];         // general.architecture
    char quant[32];          // general.file_type's name ("Q8_0"), or ""
    char param_size[16];     // "6.8M"
    uint64_t n_params;
    int64_t n_ctx_train;
    int64_t n_embd;
    char tmpl_name[16];      // the chat template family in use
} kv__model_info;

// The registry: every model the server knows (configured and found in the
// models folder) and the ones loaded. Thread-safe.
kv_status kv__registry_new(const kv_serve_params *p, kv__metrics *metrics, kv__registry **out,
                           kv_err *err);
// Ends every running job with an error, unloads everything and frees. Accepts NULL.
void kv__registry_free(kv__registry *r);
// Stops the schedulers: queued and running jobs end with "server is shutting down".
void kv__registry_shutdown(kv__registry *r);

// The entry called name (a name without a tag means ":latest"), looking in the
// models folder again when it is unknown; NULL when there is none.
kv__model_ent *kv__registry_find(kv__registry *r, const char *name);
// The store API's changes (thread-safe): put makes name (re)name the GGUF file at
// path, hiding an entry of that name with another path; drop hides name's entry.
// A hidden entry stays valid for requests that hold it and unloads as usual.
kv_status kv__registry_put(kv__registry *r, const char *name, const char *path, kv_err *err);
void kv__registry_drop(kv__registry *r, const char *name);
// Loads e if needed and takes a reference that keeps it loaded. keep_alive_s
// (0: at once; negative or INFINITY: never) is how long it stays loaded after
// the last reference goes; as in Ollama, the latest request's value counts.
// *load_s is the time this call spent loading (0 when it was in memory).
kv_status kv__registry_acquire(kv__registry *r, kv__model_ent *e, double keep_alive_s,
                               double *load_s, kv_err *err);
// Drops a reference taken by kv__registry_acquire.
void kv__registry_release(kv__registry *r, kv__model_ent *e);

const char *kv__ent_name(const kv__model_ent *e);
const char *kv__ent_path(const kv__model_ent *e);
// Reads the file's metadata (cached after the first call). KV_ERR_* as kv_gguf_open.
kv_status kv__ent_info(kv__registry *r, kv__model_ent *e, kv__model_info *out, kv_err *err);
// The entry's scheduler; valid while a reference is held (kv__registry_acquire).
kv__sched *kv__ent_sched(kv__model_ent *e);

// Calls fn for each entry (from a snapshot; fn may call kv__ent_info). loaded:
// in memory; expires: wall-clock seconds when it unloads (INFINITY: never, or
// in use); size: file bytes; mtime: wall seconds. rescan looks in the models
// folder for new files first.
typedef void (*kv__ent_fn)(void *user, kv__model_ent *e, bool loaded, double expires,
                           uint64_t size, double mtime);
void kv__registry_each(kv__registry *r, bool rescan, kv__ent_fn fn, void *user);
// Gauges over all loaded models' schedulers.
void kv__registry_gauges(kv__registry *r, kv__gauges *g);

#endif
