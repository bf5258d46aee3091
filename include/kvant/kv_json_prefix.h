// JSON-constrained generation. kv_json_prefix is a pushdown automaton over bytes
// (RFC 8259: objects, arrays, strings with escapes and UTF-8, numbers, true, false,
// null) that tells whether the text so far is still the beginning of some JSON
// value and whether the value is whole. Every prefix it accepts can still be
// completed, so constrained sampling never walks into a dead end. On top of it,
// kv_sample_next_json lets only tokens whose text keeps the prefix valid compete.
// Beyond RFC 8259 it bounds nesting (KV_JSON_MAX_DEPTH) and runs of whitespace
// outside strings (KV_JSON_MAX_WS bytes, one line feed), so a model cannot pad
// forever; pretty-printed JSON (a line feed, then indentation) still fits.
#ifndef KV_JSON_PREFIX_H
#define KV_JSON_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvant/kv_sample.h"
#include "kvant/kv_tokenizer.h"

#define KV_JSON_MAX_DEPTH 64 // objects and arrays open at once
#define KV_JSON_MAX_WS 16    // consecutive whitespace bytes outside strings (one '\n' among them)
// Most bytes kv_json_prefix_closing writes.
#define KV_JSON_CLOSING_MAX (KV_JSON_MAX_DEPTH + 32)

typedef enum {
    KV_JSON_ROOT_ANY,    // any JSON value (llama.cpp's json grammar)
    KV_JSON_ROOT_OBJECT, // an object, as Ollama's format "json" and OpenAI's json_object
} kv_json_root;

// The automaton's state: a plain value, copied to try bytes without committing
// them. Read it only through the functions below.
typedef struct {
    uint64_t objects;     // bit d: the container at depth d + 1 is an object (else an array)
    uint16_t unit;        // the \u escape being read: its digits so far
    uint8_t depth;        // containers open
    uint8_t state;        // what may come next (json_prefix.c)
    uint8_t aux;          // detail of the state: digits read, letters of a literal matched
    uint8_t ws;           // whitespace bytes in the current run
    uint8_t u8_left;      // continuation bytes still due in a UTF-8 character
    uint8_t u8_lo, u8_hi; // the range the next continuation byte must fall in
    uint8_t root;         // kv_json_root
    uint8_t flags;        // the string is a key; the \u escape must be a low surrogate
} kv_json_prefix;

// Starts an empty text whose value must be of kind root.
void kv_json_prefix_init(kv_json_prefix *p, kv_json_root root);

// Appends s[0..n) when the text stays a valid prefix and returns true; otherwise
// returns false and leaves p as it was. n == 0 always succeeds.
bool kv_json_prefix_feed(kv_json_prefix *p, const char *s, size_t n);

// The text is one whole value, perhaps followed by whitespace. A top-level
// number (KV_JSON_ROOT_ANY) is whole yet may still grow ("1" -> "12").
bool kv_json_prefix_complete(const kv_json_prefix *p);

// The value is whole and nothing but whitespace may follow: generation can end.
bool kv_json_prefix_done(const kv_json_prefix *p);

// Writes to out (room for KV_JSON_CLOSING_MAX bytes) a short text that makes
// the value whole when appended, and returns its length (0 when it is whole).
// For tests and for showing what is missing; p is not changed.
size_t kv_json_prefix_closing(const kv_json_prefix *p, char *out);

// ---- tokens ----

// Whether token t may come next after the text p holds: its piece (as
// kv_vocab_piece gives it without special text) must keep the prefix valid and
// not be empty; an end-of-generation token is allowed only when the value is
// complete. A piece may end inside a UTF-8 character: the check is per byte.
bool kv_json_token_allowed(const kv_json_prefix *p, const kv_vocab *v, kv_token t);

// Picks the next token as kv_sample_next does (same penalties, chain and
// generator), over the tokens kv_json_token_allowed accepts only. Returns -1
// when the vocabulary has none (it cannot spell any continuation). The token
// is not recorded: call kv_sample_accept, then kv_json_prefix_feed with its
// piece (unless it ends generation).
int32_t kv_sample_next_json(kv_sampler *s, const float *logits, const kv_vocab *v,
                            const kv_json_prefix *p);

#endif
