// The model store: a folder in Ollama's on-disk layout, so kvant reads a store
// that `ollama pull` left and Ollama reads one kvant wrote.
//   DIR/manifests/HOST/NAMESPACE/MODEL/TAG   an image manifest (JSON, schemaVersion
//                                            2, Docker's v2 media type)
//   DIR/blobs/sha256-HEX                     a blob named by its SHA-256
// A manifest names a config blob and layers by media type: the GGUF
// (application/vnd.ollama.image.model) and the text layers .template, .system,
// .params (JSON), .license. Every name, tag and digest is checked before it
// becomes a path; manifests are read with a size cap and without following
// symbolic links; blobs are written to a temporary file, hashed on the way and
// renamed to their digest. Part of libkvant_store (the kvant command only).
#ifndef KV_STORE_MODELS_H
#define KV_STORE_MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_status.h"

#define KV__MNAME_HOST_MAX 350
#define KV__MNAME_PART_MAX 80
#define KV__MNAME_TEXT_MAX 600 // a whole name as typed, NUL included
#define KV__MNAME_DEFAULT_HOST "registry.ollama.ai"
#define KV__MNAME_DEFAULT_NS "library"
#define KV__MNAME_DEFAULT_TAG "latest"
#define KV__MANIFEST_MAX ((size_t)1 << 20) // bytes in a manifest or config blob

#define KV__MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define KV__MT_CONFIG "application/vnd.docker.container.image.v1+json"
#define KV__MT_MODEL "application/vnd.ollama.image.model"
#define KV__MT_TEMPLATE "application/vnd.ollama.image.template"
#define KV__MT_SYSTEM "application/vnd.ollama.image.system"
#define KV__MT_PARAMS "application/vnd.ollama.image.params"
#define KV__MT_LICENSE "application/vnd.ollama.image.license"
#define KV__MT_MESSAGES "application/vnd.ollama.image.messages"

// ---- names and digests ----

// [HOST/][NAMESPACE/]MODEL[:TAG], the missing parts defaulted.
typedef struct {
    char host[KV__MNAME_HOST_MAX + 1];
    char ns[KV__MNAME_PART_MAX + 1];
    char model[KV__MNAME_PART_MAX + 1];
    char tag[KV__MNAME_PART_MAX + 1];
} kv__mname;

// Parses and checks s as Ollama does: each part non-empty, at most 80 bytes
// (the host 350), of letters, digits, '_', '-' and '.' (no '.' in a namespace;
// ':' only in the host, for a port), a letter, digit or '_' first, no "..";
// at most three '/'-parts and one ':' after the last '/'. KV_ERR_INVALID
// naming the part and what is wrong.
kv_status kv__mname_parse(const char *s, kv__mname *out, kv_err *err);
// The shortest display form: "model:tag", "ns/model:tag" or the full name.
void kv__mname_display(const kv__mname *n, char *out, size_t cap);
// A digest is "sha256:" and 64 lowercase hex digits; KV_ERR_INVALID otherwise.
kv_status kv__digest_check(const char *d, kv_err *err);
// Writes the digest of the SHA-256 md as "sha256:" and 64 lowercase hex digits (NUL-ended).
void kv__digest_format(const unsigned char md[32], char out[72]);

// The store's folder: $KVANT_MODELS, else $OLLAMA_MODELS, else
// $KVANT_HOME/models, else $HOME/.kvant/models.
kv_status kv__mstore_default_dir(char *out, size_t cap, kv_err *err);

// ---- Modelfiles (a subset of Ollama's) ----

typedef struct {
    char *key, *value; // as written
    int line;
} kv__mf_param;

typedef struct {
    char *role, *content; // role: system, user or assistant
    int line;
} kv__mf_msg;

// FROM (path or model name), PARAMETER key value, TEMPLATE, SYSTEM, LICENSE;
// instructions in any case; '#' starts a comment line; a value is the rest of
// the line, "quoted" or """triple-quoted""" (may span lines).
typedef struct {
    char *from;
    int from_line;
    char *tmpl, *system, *license; // NULL when not given
    int tmpl_line;                 // TEMPLATE's line (0: not from a Modelfile's text)
    kv__mf_param *params;
    size_t n_params;
    kv__mf_msg *msgs; // MESSAGE ROLE TEXT, in order
    size_t n_msgs;
} kv__modelfile;

// Parses n bytes; errors (KV_ERR_FORMAT) read "WHAT:LINE: ...". out is
// cleared first and freed on failure.
kv_status kv__modelfile_parse(const char *text, size_t n, const char *what, kv__modelfile *out,
                              kv_err *err);
void kv__modelfile_free(kv__modelfile *mf);
// The params layer's JSON ({"stop":["..."],"temperature":0.7}, keys sorted),
// malloc'd; KV_ERR_FORMAT "WHAT:LINE: ..." for an unknown key or a bad value.
kv_status kv__modelfile_params_json(const kv__modelfile *mf, const char *what, char **out,
                                    kv_err *err);

// The messages layer's JSON ([{"role":"user","content":"..."}, ...]), malloc'd.
kv_status kv__modelfile_messages_json(const kv__modelfile *mf, const char *what, char **out,
                                      kv_err *err);

// ---- the store ----

typedef struct {
    char media_type[128];
    char digest[72];
    uint64_t size;
} kv__layer;

#define KV__MANIFEST_LAYERS_MAX 64

typedef struct {
    kv__mname name;
    char digest[72];   // sha256 of the manifest file's bytes
    int64_t mtime;     // the manifest file's, seconds since the epoch
    kv__layer config;
    kv__layer layers[KV__MANIFEST_LAYERS_MAX];
    size_t n_layers;
    uint64_t size;     // config and layers
} kv__manifest;

// Reads a regular file (a link is refused) of at most max bytes whole, NUL-terminated; a missing
// file is KV_ERR_NOT_FOUND. mtime (may be NULL) gets its modification time.
kv_status kv__store_read_capped(const char *path, size_t max, char **out, size_t *n,
                                int64_t *mtime, kv_err *err);
// Writes n bytes to path (mode 0644, synced) through path.tmp-XXXXXX renamed over it;
// failure leaves nothing (KV_ERR_IO naming the file and why, KV_ERR_LIMIT for a long path).
kv_status kv__store_write_atomic(const char *path, const void *data, size_t n, kv_err *err);

// Reads and checks the manifest of name in dir (KV_ERR_NOT_FOUND "model 'x' not found"
// when there is none).
kv_status kv__mstore_read(const char *dir, const kv__mname *name, kv__manifest *out,
                          kv_err *err);
// The path of the blob with digest d (checked first).
kv_status kv__mstore_blob_path(const char *dir, const char *d, char *out, size_t cap,
                               kv_err *err);
// Stores n bytes as blob d when their SHA-256 is d (KV_ERR_INVALID naming both
// digests otherwise, nothing written).
kv_status kv__mstore_blob_put(const char *dir, const char *d, const void *p, size_t n,
                              kv_err *err);
// KV_OK when blob d is a regular file in dir; KV_ERR_NOT_FOUND "blob ... not found" else.
kv_status kv__mstore_blob_has(const char *dir, const char *d, kv_err *err);
// The layer of media type mt, or NULL.
const kv__layer *kv__manifest_layer(const kv__manifest *m, const char *mt);
// Reads a small blob (at most KV__MANIFEST_MAX bytes) whole, NUL-terminated.
kv_status kv__mstore_blob_read(const char *dir, const char *d, char **out, size_t *n,
                               kv_err *err);
// Creates name from mf (a TEMPLATE must parse as kv_gotmpl's subset: else
// KV_ERR_FORMAT or KV_ERR_UNSUPPORTED "WHAT:LINE: TEMPLATE: ..." naming the
// Modelfile's line); a FROM path is relative to base_dir (NULL: cwd) and must
// be a GGUF file; a FROM name takes that model's layers, mf's replacing them.
kv_status kv__mstore_create(const char *dir, const kv__mname *name, const kv__modelfile *mf,
                            const char *base_dir, const char *what, kv_err *err);
// Every valid manifest, sorted by name; the caller frees *out.
kv_status kv__mstore_list(const char *dir, kv__manifest **out, size_t *n, kv_err *err);
kv_status kv__mstore_copy(const char *dir, const kv__mname *src, const kv__mname *dst,
                          kv_err *err);
// Removes name's manifest and then every blob no manifest names (*n_blobs).
kv_status kv__mstore_remove(const char *dir, const kv__mname *name, size_t *n_blobs,
                            kv_err *err);
// The path of name's GGUF blob, for run and serve.
// n's parts as the store spells them where it has them in another case
// (names compare ignoring ASCII case); unchanged elsewhere.
void kv__mstore_canonical(const char *dir, kv__mname *n);
kv_status kv__mstore_model_path(const char *dir, const char *name, char *out, size_t cap,
                                kv_err *err);

// ---- the store's lock (DIR/.kvant-lock, flock; beside Ollama's two folders) ----

// A pull or create holds it shared while its blobs come and until its manifest
// is written; rm's blob collection takes it alone and without waiting, and is
// skipped (KV_ERR_LIMIT) while a writer runs, so it never takes blobs a
// manifest about to be written names. Whoever gets it while nobody else holds
// it first deletes the temporary files a killed writer left (unmodified for 10
// s; a server's upload file for an hour). *fd for kv__mstore_unlock.
kv_status kv__mstore_lock(const char *dir, bool shared, int *fd, kv_err *err);
void kv__mstore_unlock(int fd);

// ---- manifests and blobs as bytes (pull, push, OCI layouts) ----

// Parses and checks a manifest of n bytes (at most KV__MANIFEST_MAX); what names it.
kv_status kv__manifest_parse(const char *text, size_t n, const char *what, kv__manifest *out,
                             kv_err *err);
// name's manifest file's bytes, malloc'd and NUL-terminated.
kv_status kv__mstore_manifest_bytes(const char *dir, const kv__mname *name, char **text,
                                    size_t *n, kv_err *err);
// Writes n bytes as name's manifest (atomically) when they parse and every blob
// they name is in the store with its size; the last step of a pull.
kv_status kv__mstore_manifest_put(const char *dir, const kv__mname *name, const char *text,
                                  size_t n, kv_err *err);
// Where a download of blob d is kept until it is whole: blobs/sha256-HEX-partial
// (a later pull resumes from its length). Creates blobs/.
kv_status kv__mstore_partial_path(const char *dir, const char *d, char *out, size_t cap,
                                  kv_err *err);
// A new empty file for an upload's bytes, blobs/.upload-XXXXXX (0600; not a
// blob's name, so nothing reads it as one); its path into out.
kv_status kv__mstore_upload_tmp(const char *dir, char *out, size_t cap, kv_err *err);
// Hashes the file tmp; when its SHA-256 is d it becomes blob d (renamed), else it
// is deleted and KV_ERR_FORMAT names both digests.
kv_status kv__mstore_blob_commit(const char *dir, const char *d, const char *tmp, kv_err *err);
// The same for a file already hashed on its way in (got: its "sha256:HEX").
kv_status kv__mstore_blob_adopt(const char *dir, const char *d, const char *tmp, const char *got,
                                kv_err *err);

#endif
