// Opening a safetensors checkpoint by path: one .safetensors file, a sharded
// checkpoint's model.safetensors.index.json, or a folder holding either.
// Index layout: {"metadata": {...}, "weight_map": {"TENSOR": "SHARD FILE", ...}};
// each distinct shard is opened once, in sorted file-name order, and every
// tensor the map names must be in the shard it names.
#include "kvant/kv_safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/json_int.h"
#include "formats/safetensors_int.h"

#define KV_ST_INDEX_NAME "model.safetensors.index.json"
#define KV_ST_SINGLE_NAME "model.safetensors"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// "dir/name" into a malloc'd string (dir may be empty for the current folder).
static char *join_path(const char *dir, size_t dir_len, const char *name) {
    size_t n = strlen(name);
    char *p = malloc(dir_len + 1 + n + 1);
    if (!p)
        return NULL;
    if (dir_len)
        memcpy(p, dir, dir_len);
    size_t off = dir_len;
    if (dir_len && dir[dir_len - 1] != '/')
        p[off++] = '/';
    memcpy(p + off, name, n + 1);
    return p;
}

// A shard name must stay inside the index's folder: relative, no ".." parts.
static bool shard_name_ok(const char *s) {
    if (*s == '\0' || *s == '/')
        return false;
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        if (*p == '/')
            p++;
    }
    return true;
}

// The sorted, distinct shard names of weight_map into *files (borrowed from the
// JSON), their count into *n_files.
static kv_status list_shards(const char *path, const json_t *wm, const char ***files,
                             int *n_files, kv_err *err) {
    size_t n = json_object_size(wm);
    const char **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    size_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)wm, key, val) {
        if (!json_is_string(val) || !shard_name_ok(json_string_value(val))) {
            free(v);
            if (!json_is_string(val))
                return KV_FAIL(err, KV_ERR_FORMAT,
                               "%s: weight_map['%.200s'] has type %s, expected a file name", path,
                               key, kv__json_type_name(val));
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: weight_map['%.200s'] names file '%.200s', expected a relative "
                           "path inside the index's folder",
                           path, key, json_string_value(val));
        }
        v[i++] = json_string_value(val);
    }
    qsort(v, n, sizeof *v, cmp_str);
    size_t m = 0;
    for (i = 0; i < n; i++)
        if (m == 0 || strcmp(v[m - 1], v[i]) != 0)
            v[m++] = v[i];
    if (m > KV_ST_MAX_SHARDS) {
        free(v);
        return KV_FAIL(err, KV_ERR_LIMIT, "%s: weight_map names %zu shard files, at most %d", path,
                       m, KV_ST_MAX_SHARDS);
    }
    *files = v;
    *n_files = (int)m;
    return KV_OK;
}

// Every weight_map entry is a tensor of the shard it names.
static kv_status check_map(const kv_safetensors *st, const char *path, const json_t *wm,
                           const char **files, int n_files, kv_err *err) {
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)wm, key, val) {
        const char *file = json_string_value(val);
        const char **hit = bsearch(&file, files, (size_t)n_files, sizeof *files, cmp_str);
        int64_t t = kv_safetensors_find(st, key);
        if (t < 0 || !hit || st->tensors[t].file != st->shards[hit - files].path)
            return KV_FAIL(err, KV_ERR_FORMAT,
                           "%s: weight_map puts tensor '%.200s' in %.200s, but that shard has no "
                           "such tensor",
                           path, key, file);
    }
    return KV_OK;
}

static kv_status open_shards(kv_safetensors *st, const char *path, const char **files,
                             int n_files, kv_err *err) {
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path + 1) : 0;
    for (int i = 0; i < n_files; i++) {
        char *p = join_path(path, dir_len, files[i]);
        if (!p)
            return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
        kv_status s = kv__st_add_file(st, p, err);
        free(p);
        if (s != KV_OK)
            return s;
    }
    return KV_OK;
}

kv_status kv__st_open_index(const char *path, kv_safetensors **out, kv_err *err) {
    *out = NULL;
    json_t *root = NULL;
    const char **files = NULL;
    int n_files = 0;
    kv_safetensors *st = NULL;
    kv_status s = kv__json_load_file(path, KV_ST_MAX_HEADER, JSON_REJECT_DUPLICATES, &root, err);
    if (s != KV_OK)
        return s;
    const json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(root))
        s = KV_FAIL(err, KV_ERR_FORMAT, "%s: index is a JSON %s, expected an object", path,
                    kv__json_type_name(root));
    else if (!wm)
        s = KV_FAIL(err, KV_ERR_FORMAT, "%s: field 'weight_map' is missing", path);
    else if (!json_is_object(wm))
        s = KV_FAIL(err, KV_ERR_FORMAT, "%s: field 'weight_map' has type %s, expected an object",
                    path, kv__json_type_name(wm));
    else if (json_object_size(wm) == 0)
        s = KV_FAIL(err, KV_ERR_FORMAT, "%s: field 'weight_map' is empty", path);
    if (s == KV_OK)
        s = list_shards(path, wm, &files, &n_files, err);
    if (s == KV_OK && !(st = kv__st_new(n_files)))
        s = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    if (s == KV_OK)
        s = open_shards(st, path, files, n_files, err);
    if (s == KV_OK)
        s = kv__st_finish(st, err);
    if (s == KV_OK)
        s = check_map(st, path, wm, files, n_files, err);
    free(files);
    json_decref(root);
    if (s != KV_OK) {
        kv_safetensors_close(st);
        return s;
    }
    *out = st;
    return KV_OK;
}

static kv_status open_file(const char *path, kv_safetensors **out, kv_err *err) {
    kv_safetensors *st = kv__st_new(1);
    if (!st)
        return KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", path);
    kv_status s = kv__st_add_file(st, path, err);
    if (s == KV_OK)
        s = kv__st_finish(st, err);
    if (s != KV_OK) {
        kv_safetensors_close(st);
        return s;
    }
    *out = st;
    return KV_OK;
}

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static kv_status open_dir(const char *dir, kv_safetensors **out, kv_err *err) {
    char *index = join_path(dir, strlen(dir), KV_ST_INDEX_NAME);
    char *single = join_path(dir, strlen(dir), KV_ST_SINGLE_NAME);
    kv_status s;
    if (!index || !single)
        s = KV_FAIL(err, KV_ERR_NOMEM, "%s: out of memory", dir);
    else if (is_file(index))
        s = kv__st_open_index(index, out, err);
    else if (is_file(single))
        s = open_file(single, out, err);
    else
        s = KV_FAIL(err, KV_ERR_IO, "%s: no %s or %s in this folder", dir, KV_ST_SINGLE_NAME,
                    KV_ST_INDEX_NAME);
    free(index);
    free(single);
    return s;
}

kv_status kv_safetensors_open(const char *path, kv_safetensors **out, kv_err *err) {
    *out = NULL;
    if (!path)
        return KV_FAIL(err, KV_ERR_INVALID, "safetensors: no path given");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return open_dir(path, out, err);
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0)
        return kv__st_open_index(path, out, err);
    return open_file(path, out, err);
}
