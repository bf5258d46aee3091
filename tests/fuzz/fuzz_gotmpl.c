// libFuzzer harness for the Go template subset of Ollama TEMPLATE layers
// (kv_gotmpl.h): the input is a template, parsed and, when it parses, rendered
// over a fixed conversation. Any outcome but a crash, a leak or a hang is
// fine; errors must carry a message, and a rendering must be as long as it says.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_gotmpl.h"

static const kv_chat_msg MSGS[] = {
    {KV_CHAT_ROLE_SYSTEM, "You are terse."},
    {KV_CHAT_ROLE_USER, " Hello \xc3\xa9 {{ .System }}\n"},
    {KV_CHAT_ROLE_ASSISTANT, "Hi"},
    {KV_CHAT_ROLE_USER, ""},
    {KV_CHAT_ROLE_USER, "again"},
    {KV_CHAT_ROLE_TOOL, "{\"x\": 1}"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16384)
        return 0;
    kv_gotmpl *t = NULL;
    kv_err err = {0};
    if (kv_gotmpl_parse((const char *)data, size, &t, &err) != KV_OK) {
        if (!err.msg[0] || t)
            abort();
        return 0;
    }
    for (size_t n = 0; n <= sizeof MSGS / sizeof *MSGS; n += 3) {
        char *out = NULL;
        size_t len = 0;
        kv_status st = kv_gotmpl_render(t, MSGS, n, &out, &len, &err);
        if (st == KV_OK && (!out || strlen(out) > len))
            abort();
        if (st != KV_OK && (out || !err.msg[0]))
            abort();
        free(out);
    }
    kv_gotmpl_free(t);
    return 0;
}
