// Request validation (request.c): a JSON body in, a checked kv__req out, with
// the server's limits on its fields.
#ifndef KV_SERVE_REQUEST_INT_H
#define KV_SERVE_REQUEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kvant/kv_chat.h"
#include "kvant/kv_json_schema.h"
#include "kvant/kv_status.h"

typedef enum {
    KV__EP_GENERATE,     // POST /api/generate
    KV__EP_CHAT,         // POST /api/chat
    KV__EP_EMBED,        // POST /api/embed
    KV__EP_EMBEDDINGS,   // POST /api/embeddings (the older form: one prompt)
    KV__EP_SHOW,         // POST /api/show
    KV__EP_OAI_CHAT,     // POST /v1/chat/completions
    KV__EP_OAI_COMPLETE, // POST /v1/completions
    KV__EP_OAI_EMBED,    // POST /v1/embeddings
    KV__EP_COUNT,
} kv__endpoint;

// Sampling settings with kvant's defaults (those of llama.cpp) filled in.
typedef struct {
    float temp;             // <= 0: greedy
    int32_t top_k;          // <= 0: off
    float top_p;            // >= 1: off
    float min_p;            // <= 0: off
    uint64_t seed;
    bool seed_set;          // false: the server picks one
    int32_t repeat_last_n;
    float repeat_penalty;   // 1: off
    float freq_penalty;
    float presence_penalty;
} kv__sampling;

#define KV__MAX_STOP 16            // stop strings per request
#define KV__MAX_STOP_LEN 256       // bytes in one stop string
#define KV__MAX_MESSAGES 4096      // chat messages per request
#define KV__MAX_INPUTS 2048        // embedding inputs per request
#define KV__MAX_NAME 256           // bytes in a model name
#define KV__MIN_CTX 4              // smallest context of a request: num_ctx 1..3 reads as 4,
                                   // as Ollama does

// A validated request. Strings are borrowed from root (or from parts, for
// message content given as an array of text parts) and live until kv__req_free.
typedef struct {
    kv__endpoint ep;
    json_t *root;
    const char *model;
    const char *prompt;     // generate, completions, embeddings; NULL when absent
    const char *system;     // generate
    kv_chat_msg *msgs;      // chat
    size_t n_msgs;
    const char **inputs;    // embed
    size_t n_inputs;
    char **parts;           // joined text parts of messages, owned
    size_t n_parts;
    bool stream;
    bool stream_usage;      // OpenAI stream_options.include_usage
    bool raw;               // generate: no template
    bool format_json;       // format "json" or a schema, response_format json_object or
                            // json_schema: the reply is constrained to JSON and a hint is added
    kv_json_schema *schema; // owned: the schema given, compiled; NULL: one JSON object
    bool truncate;          // cut prompts that do not fit instead of failing
    bool b64;               // OpenAI embeddings encoding_format "base64"
    kv__sampling smp;
    int32_t n_predict;      // -1: until the context is full
    int32_t lookup;         // options.lookup: speculative decoding by n-gram lookup of up to
                            // this many tokens (0: off)
    int32_t draft_max;      // options.draft_max: most tokens guessed per step
    int8_t draft;           // options.draft: speculative decoding with the model's draft
                            // model (serve --draft); -1 (not given): on when the model has
                            // one and lookup is 0
    int32_t n_ctx;          // 0: the server's; else at least KV__MIN_CTX
    int32_t n_keep;         // tokens of a prompt's start that truncation keeps; -1: as
                            // many as it can; -2 (not given): BOS alone
    const char *stop[KV__MAX_STOP];
    size_t n_stop;
    bool keep_alive_set;
    double keep_alive_s;    // INFINITY: forever
    // A store model's Modelfile defaults (kv__req_parse_with): the object
    // {"system", "options", "template"} (owned; strings above may borrow from it),
    // its Go template (Ollama's TEMPLATE, checked by the store), and whether its
    // options were refused (then none of them apply).
    json_t *defaults;
    const char *gotmpl;
    bool defaults_bad;
} kv__req;

// Parses body as JSON and checks it against endpoint ep's fields. Malformed JSON
// is KV_ERR_FORMAT with jansson's line and column; a missing or bad field is
// KV_ERR_INVALID naming it ("field 'options.top_k': expected an integer");
// features kvant does not have (images, tools, n > 1) are KV_ERR_UNSUPPORTED.
// On success the caller frees *out with kv__req_free; on failure *out is empty.
kv_status kv__req_parse(kv__endpoint ep, const char *body, size_t len, kv__req *out,
                        kv_err *err);
// kv__req_parse with a model's defaults (NULL: none; the reference is taken
// either way): its "options" apply first and the request's own options replace
// them, its "system" is the system prompt of a generate request without one and
// the first message of a chat without a system message (Ollama's rules), its
// "template" goes to r->gotmpl. Options that do not pass the checks a request's
// would are dropped whole (r->defaults_bad), never failing the request.
kv_status kv__req_parse_with(kv__endpoint ep, const char *body, size_t len, json_t *defaults,
                             kv__req *out, kv_err *err);
void kv__req_free(kv__req *r);
// Parses JSON text with the server's limits (depth, duplicate keys refused).
kv_status kv__json_parse(const char *body, size_t len, json_t **out, kv_err *err);

#endif
