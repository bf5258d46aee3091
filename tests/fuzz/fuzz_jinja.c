// libFuzzer harness for the Jinja chat-template interpreter (kv_jinja.h): the
// input is a template, parsed and, when it parses, rendered over a fixed
// conversation. Any outcome but a crash, a leak or a hang is fine; errors
// must carry a message, and a rendering must be as long as it says.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_jinja.h"

static const kv_chat_msg MSGS[] = {
    {KV_CHAT_ROLE_SYSTEM, "You are terse."},
    {KV_CHAT_ROLE_USER, " Hello \xc3\xa9 <think>\n"},
    {KV_CHAT_ROLE_ASSISTANT, "<think>\nhm\n</think>\n\nHi"},
    {KV_CHAT_ROLE_USER, ""},
    {KV_CHAT_ROLE_TOOL, "{\"x\": 1}"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16384)
        return 0;
    kv_jinja *t = NULL;
    kv_err err = {0};
    if (kv_jinja_parse((const char *)data, size, "fuzz", &t, &err) != KV_OK) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    kv_jinja_opts o = {.now = 1721952000, .max_output = 1u << 20};
    char *out = NULL;
    size_t len = 0;
    kv_status st = kv_jinja_render_chat(t, MSGS, sizeof MSGS / sizeof *MSGS, true, "<s>", "</s>",
                                        &o, &out, &len, &err);
    if (st == KV_OK && (!out || strlen(out) > len || len > o.max_output))
        abort();
    if (st != KV_OK && (out || !err.msg[0]))
        abort();
    free(out);
    kv_jinja_free(t);
    return 0;
}
