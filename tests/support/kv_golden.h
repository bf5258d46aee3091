// Comparing a GGUF file with llama.cpp's golden record of the demo model
// (../shared/testdata/golden/kjv-llama-7m.json): every tensor's type, shape and
// SHA-256, and the metadata values.
#ifndef KV_GOLDEN_H
#define KV_GOLDEN_H

#include <jansson.h>
#include <stdbool.h>

// The parsed golden JSON (cached; NULL when ../shared is absent). Borrowed.
json_t *kv_golden(void);

// Compares the GGUF at path with golden[section][entry] ("convert", "F16").
// Prints one line per difference (at most a few per kind) and returns how many
// there were. Metadata keys in skip_keys (NULL-terminated, may be NULL) are not compared.
int kv_golden_compare(const char *path, const char *section, const char *entry, bool metadata,
                      const char *const *skip_keys);

// The parsed record of llama.cpp's ten IQ1/IQ2/IQ3 files
// (../shared/testdata/golden/kjv-llama-7m-lowbit.json; cached, borrowed, NULL
// when ../shared is absent).
json_t *kv_golden_lowbit(void);

// kv_golden_compare against another record (root, e.g. kv_golden_lowbit()).
int kv_golden_compare_in(json_t *root, const char *path, const char *section, const char *entry,
                         bool metadata, const char *const *skip_keys);

#endif
