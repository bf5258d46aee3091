// Schema-constrained generation. kv_json_schema_compile turns a JSON Schema (the
// subset llama.cpp's json-schema-to-grammar and OpenAI's strict mode use) into a
// small graph; kv_json_match is a nondeterministic pushdown matcher over bytes on
// that graph that tells whether the text so far is still the beginning of some
// document the schema accepts. Every prefix it accepts can still be completed
// within its bounds, so constrained sampling never walks into a dead end, and
// kv_sample_next_schema lets only tokens whose text keeps the prefix valid compete.
// Supported: type (object, array, string, number, integer, boolean, null, unions),
// properties, required, additionalProperties (absent beside properties means none,
// as llama.cpp), enum, const, items, minItems, maxItems, anyOf, $ref (JSON
// pointers into the document: #/$defs/.., #/definitions/.., #), $defs,
// definitions, nullable (OpenAPI), minLength, maxLength, format (date, time, date-time, uuid),
// minimum, maximum, exclusiveMinimum, exclusiveMaximum; annotations (title,
// description, default, examples, ...) are ignored. Everything else is refused
// by name. What is generated is a subset of what the schema allows: numbers have
// at most 18 integer and 15 fraction digits, bounded numbers no exponent (and a
// fraction only where its whole unit interval fits the bounds), keys outside
// properties no escapes, strings no \u surrogates, and whitespace between tokens
// is one space, or a line feed and up to 20 spaces or tabs (as llama.cpp's grammars).
#ifndef KV_JSON_SCHEMA_H
#define KV_JSON_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_sample.h"
#include "kvant/kv_status.h"
#include "kvant/kv_tokenizer.h"

#define KV_JSON_SCHEMA_MAX_DEPTH 32      // values open at once in a generated document
#define KV_JSON_SCHEMA_MAX_THREADS 8     // anyOf alternatives followed at once
#define KV_JSON_SCHEMA_MAX_NODES 2048    // distinct subschemas
#define KV_JSON_SCHEMA_MAX_NEST 64       // nesting of the schema document itself
#define KV_JSON_SCHEMA_MAX_PROPS 64      // properties of one object
#define KV_JSON_SCHEMA_MAX_ENUM 4096     // values of one enum
#define KV_JSON_SCHEMA_MAX_BYTES 262144  // bytes of all names and enum values together

typedef struct kv_json_schema kv_json_schema;

// Compiles the schema in text[0..n) (JSON). On success *out owns the result;
// free it with kv_json_schema_free. On failure *out is NULL and err says what:
// KV_ERR_INVALID for text that is not JSON, a keyword kvant does not enforce
// ('unsupported JSON schema keyword "pattern" at /properties/x'), a keyword of
// the wrong type, a $ref that does not resolve, a schema no document satisfies
// within KV_JSON_SCHEMA_MAX_DEPTH, or a schema over one of the limits above.
// Thread-safe; the result is read-only and may be shared by matchers.
kv_status kv_json_schema_compile(const char *text, size_t n, kv_json_schema **out, kv_err *err);
void kv_json_schema_free(kv_json_schema *s); // accepts NULL

// ---- the matcher ----

// One open value (json_schema_match.c says what each field holds).
typedef struct {
    uint64_t x;
    uint32_t n, a, b;
    uint16_t node;
    uint8_t kind, st, aux, lo8, hi8, pad;
} kv_json_frame;

// One way of reading the text so far (one choice per anyOf).
typedef struct {
    uint8_t depth;   // frames open
    uint8_t done;    // the document's value is whole and closed
    uint8_t ws;      // whitespace bytes in the current run
    uint8_t lf;      // the run holds a line feed
    kv_json_frame f[KV_JSON_SCHEMA_MAX_DEPTH];
} kv_json_thread;

// The matcher's state: a plain value. Copy it only with kv_json_match_copy.
typedef struct {
    const kv_json_schema *s;
    uint32_t n; // threads alive
    kv_json_thread t[KV_JSON_SCHEMA_MAX_THREADS];
} kv_json_match;

// Starts an empty text under schema s (borrowed: it must outlive m).
void kv_json_match_init(kv_json_match *m, const kv_json_schema *s);
// Copies the live part of src (cheaper than assigning the struct).
void kv_json_match_copy(kv_json_match *dst, const kv_json_match *src);
// Appends s[0..n) when the text stays a valid prefix and returns true; otherwise
// returns false and leaves m as it was. n == 0 always succeeds.
bool kv_json_match_feed(kv_json_match *m, const char *s, size_t n);
// The text is a whole document the schema accepts (a top-level number may still grow).
bool kv_json_match_complete(const kv_json_match *m);
// The document is whole and closed: generation can end.
bool kv_json_match_done(const kv_json_match *m);

// ---- tokens ----

// Whether token t may come next (as kv_json_token_allowed, under the schema).
bool kv_json_match_token_allowed(const kv_json_match *m, const kv_vocab *v, kv_token t);

// Picks the next token as kv_sample_next does, over the tokens
// kv_json_match_token_allowed accepts only. Returns -1 when there is none. The
// token is not recorded: call kv_sample_accept, then kv_json_match_feed with its
// piece (unless it ends generation).
int32_t kv_sample_next_schema(kv_sampler *s, const float *logits, const kv_vocab *v,
                              const kv_json_match *m);

#endif
