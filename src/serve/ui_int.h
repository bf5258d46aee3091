// The embedded files of the web page, generated from src/serve/ui/ by
// cmake/embed_files.cmake and served by ui.c.
#ifndef KV_SERVE_UI_INT_H
#define KV_SERVE_UI_INT_H

#include <stddef.h>

typedef struct {
    const char *name;
    const unsigned char *data;
    size_t size;
} kv__serve_file;

extern const kv__serve_file kv__serve_files[]; // ends with a NULL name

#endif
