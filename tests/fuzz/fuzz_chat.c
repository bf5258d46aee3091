// libFuzzer harness for chat templates: the input holds NUL-separated fields:
// flags (first byte: bit 0 add_generation, bit 1 an eos string given, bits 2-4 a
// family by number when bit 5 is set), a Jinja chat template (recognised with
// kv_chat_detect), the eos text, then messages as a role byte and content.
// Checks: detection never fails; rendering succeeds with *out_len == strlen;
// each non-empty message content appears in the output unless the family drops
// that role; the family's name round-trips; the end text is not NULL.
#define _GNU_SOURCE // memmem
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvant/kv_chat.h"

#define MAX_MSGS 64

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_chat: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

// Splits copy (NUL-terminated, n bytes) at NUL bytes into at most max fields.
static size_t split(char *copy, size_t n, char **fields, size_t max) {
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n && k < max; i++) {
        if (i == n || copy[i] == '\0') {
            fields[k++] = copy + start;
            start = i + 1;
        }
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    uint8_t flags = data[0];
    char *copy = malloc(size); // data[1..] plus a NUL
    CHECK(copy);
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    char *fields[2 + MAX_MSGS];
    size_t n_fields = split(copy, size - 1, fields, 2 + MAX_MSGS);
    const char *tmpl_text = n_fields > 0 ? fields[0] : NULL;
    const char *eos = (flags & 2) && n_fields > 1 ? fields[1] : NULL;
    kv_chat_tmpl t = kv_chat_detect(tmpl_text);
    CHECK(t >= KV_CHAT_PLAIN && t < KV_CHAT_COUNT);
    if (flags & 32)
        t = (kv_chat_tmpl)(((flags >> 2) & 7) % KV_CHAT_COUNT);
    kv_chat_tmpl back;
    kv_err err;
    CHECK(kv_chat_from_name(kv_chat_name(t), &back, &err) == KV_OK && back == t);
    CHECK(kv_chat_end_text(t, eos) != NULL);

    kv_chat_msg msgs[MAX_MSGS];
    size_t n_msgs = 0;
    for (size_t i = 2; i < n_fields; i++) {
        const char *f = fields[i];
        kv_chat_role role = KV_CHAT_ROLE_USER;
        if (*f) {
            role = (kv_chat_role)((unsigned char)*f % 4);
            f++;
        }
        msgs[n_msgs++] = (kv_chat_msg){role, f};
    }
    char *out = (char *)1;
    size_t out_len = 12345;
    CHECK(kv_chat_render(t, msgs, n_msgs, flags & 1, eos, &out, &out_len, &err) == KV_OK);
    CHECK(out && strlen(out) == out_len);
    for (size_t i = 0; i < n_msgs; i++) {
        // user and assistant turns are always shown, perhaps trimmed (system and
        // tool turns may be folded or dropped by a family, so they are not checked)
        if (msgs[i].role != KV_CHAT_ROLE_USER && msgs[i].role != KV_CHAT_ROLE_ASSISTANT)
            continue;
        const char *a = msgs[i].content;
        size_t n = strlen(a);
        while (n && isspace((unsigned char)*a))
            a++, n--;
        while (n && isspace((unsigned char)a[n - 1]))
            n--;
        if (n && !memmem(out, out_len, a, n)) {
            fprintf(stderr, "fuzz_chat: message %zu '%s' missing from '%s' (%s)\n", i,
                    msgs[i].content, out, kv_chat_name(t));
            abort();
        }
    }
    free(out);
    free(copy);
    return 0;
}
