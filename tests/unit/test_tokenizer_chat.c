// Chat templates: recognising each family from a real template's text, and
// rendering a conversation in each family's format (expected strings written
// out from the families' documented formats), and each family's end-of-turn text.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kvant/kv_chat.h"
#include "kvant/kv_vocab_gguf.h"

// A conversation with every role: system, user, assistant, user.
static const kv_chat_msg CHAT[] = {
    {KV_CHAT_ROLE_SYSTEM, "You are terse."},
    {KV_CHAT_ROLE_USER, "Hello"},
    {KV_CHAT_ROLE_ASSISTANT, " Hi there "},
    {KV_CHAT_ROLE_USER, "Who made the heaven?"},
};
#define N_CHAT (sizeof CHAT / sizeof CHAT[0])

static void check_render(kv_chat_tmpl t, const kv_chat_msg *m, size_t n, bool gen,
                         const char *eos, const char *want) {
    char *out = NULL;
    size_t len = 0;
    kv_err err;
    assert_int_equal(kv_chat_render(t, m, n, gen, eos, &out, &len, &err), KV_OK);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    free(out);
}

static void test_chatml(void **state) {
    (void)state;
    check_render(KV_CHAT_CHATML, CHAT, N_CHAT, true, NULL,
                 "<|im_start|>system\nYou are terse.<|im_end|>\n"
                 "<|im_start|>user\nHello<|im_end|>\n"
                 "<|im_start|>assistant\n Hi there <|im_end|>\n"
                 "<|im_start|>user\nWho made the heaven?<|im_end|>\n"
                 "<|im_start|>assistant\n");
    check_render(KV_CHAT_CHATML, CHAT + 1, 1, false, NULL, "<|im_start|>user\nHello<|im_end|>\n");
}

static void test_llama3(void **state) {
    (void)state;
    check_render(KV_CHAT_LLAMA3, CHAT, N_CHAT, true, NULL,
                 "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nWho made the heaven?<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void test_llama2(void **state) {
    (void)state;
    check_render(KV_CHAT_LLAMA2, CHAT, N_CHAT, true, NULL,
                 "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHello [/INST]Hi there</s>"
                 "[INST] Who made the heaven? [/INST]");
}

static void test_mistral(void **state) {
    (void)state;
    check_render(KV_CHAT_MISTRAL, CHAT, N_CHAT, true, NULL,
                 "[INST] You are terse.\n\nHello[/INST] Hi there</s>"
                 "[INST] Who made the heaven?[/INST]");
}

static void test_gemma(void **state) {
    (void)state;
    // no system role: the system text opens the first user turn
    check_render(KV_CHAT_GEMMA, CHAT, N_CHAT, true, NULL,
                 "<start_of_turn>user\nYou are terse.\n\nHello<end_of_turn>\n"
                 "<start_of_turn>model\nHi there<end_of_turn>\n"
                 "<start_of_turn>user\nWho made the heaven?<end_of_turn>\n"
                 "<start_of_turn>model\n");
}

static void test_phi3(void **state) {
    (void)state;
    check_render(KV_CHAT_PHI3, CHAT, N_CHAT, true, NULL,
                 "<|system|>\nYou are terse.<|end|>\n<|user|>\nHello<|end|>\n"
                 "<|assistant|>\n Hi there <|end|>\n<|user|>\nWho made the heaven?<|end|>\n"
                 "<|assistant|>\n");
}

static void test_zephyr(void **state) {
    (void)state;
    check_render(KV_CHAT_ZEPHYR, CHAT + 1, 1, true, NULL, "<|user|>\nHello</s>\n<|assistant|>\n");
    check_render(KV_CHAT_ZEPHYR, CHAT, 2, true, "<|endoftext|>",
                 "<|system|>\nYou are terse.<|endoftext|>\n<|user|>\nHello<|endoftext|>\n"
                 "<|assistant|>\n");
}

static void test_plain(void **state) {
    (void)state;
    check_render(KV_CHAT_PLAIN, CHAT, N_CHAT, true, NULL,
                 "System: You are terse.\nUser: Hello\nAssistant:  Hi there \n"
                 "User: Who made the heaven?\nAssistant:");
    check_render(KV_CHAT_PLAIN, CHAT, 0, true, NULL, "Assistant:");
    check_render(KV_CHAT_PLAIN, CHAT, 0, false, NULL, "");
}

// Excerpts of the families' published tokenizer.chat_template texts.
static void test_detect(void **state) {
    (void)state;
    static const struct {
        const char *tmpl;
        kv_chat_tmpl want;
    } CASES[] = {
        {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
         "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
         KV_CHAT_CHATML},
        {"{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
         "message['content'] | trim + '<|eot_id|>' %}",
         KV_CHAT_LLAMA3},
        {"{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + "
         "system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{{ bos_token + '[INST] ' + "
         "content.strip() + ' [/INST]' }}",
         KV_CHAT_LLAMA2},
        {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
         "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}{% endfor %}",
         KV_CHAT_MISTRAL},
        {"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}",
         KV_CHAT_GEMMA},
        {"{% if message['role'] == 'user' %}{{'<|user|>' + '\\n' + message['content'] + "
         "'<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}",
         KV_CHAT_PHI3},
        {"{% if message['role'] == 'user' %}\\n{{ '<|user|>\\n' + message['content'] + eos_token }}"
         "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n' }}",
         KV_CHAT_ZEPHYR},
        {"{{ messages[0]['content'] }}", KV_CHAT_PLAIN},
        {NULL, KV_CHAT_PLAIN},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        assert_int_equal(kv_chat_detect(CASES[i].tmpl), CASES[i].want);
}

static void test_names(void **state) {
    (void)state;
    for (int t = 0; t < KV_CHAT_COUNT; t++) {
        kv_chat_tmpl back;
        assert_int_equal(kv_chat_from_name(kv_chat_name((kv_chat_tmpl)t), &back, NULL), KV_OK);
        assert_int_equal(back, t);
    }
    kv_chat_tmpl x;
    kv_err err;
    assert_int_equal(kv_chat_from_name("jinja", &x, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'jinja'"));
}

// The end-of-turn text of every family appears where the rendered assistant
// turn ends, so generation can stop there.
static void test_end_text(void **state) {
    (void)state;
    for (int t = 0; t < KV_CHAT_COUNT; t++) {
        const char *eos = t == KV_CHAT_ZEPHYR ? "<|endoftext|>" : NULL;
        const char *end = kv_chat_end_text((kv_chat_tmpl)t, eos);
        char *out = NULL;
        assert_int_equal(kv_chat_render((kv_chat_tmpl)t, CHAT, 3, false, eos, &out, NULL, NULL),
                         KV_OK);
        const char *reply = strstr(out, "Hi there");
        assert_non_null(reply);
        const char *after = reply + strlen("Hi there");
        after += strspn(after, " ");
        assert_memory_equal(after, end, strlen(end));
        free(out);
    }
    assert_string_equal(kv_chat_end_text(KV_CHAT_CHATML, "</s>"), "<|im_end|>");
    assert_string_equal(kv_chat_end_text(KV_CHAT_LLAMA2, NULL), "</s>");
}

// A template string in a GGUF file's metadata is detected; a file without one is plain.
// A GGUF v3 file with no tensors and one key-value: key = the string value (or a u32).
static size_t make_gguf(uint8_t *buf, const char *key, const char *value) {
    size_t off = 0;
    uint32_t u32;
    uint64_t u64;
#define PUT(p, n) (memcpy(buf + off, (p), (n)), off += (n))
    PUT("GGUF", 4);
    u32 = 3, PUT(&u32, 4);
    u64 = 0, PUT(&u64, 8);
    u64 = 1, PUT(&u64, 8);
    u64 = strlen(key), PUT(&u64, 8), PUT(key, strlen(key));
    if (value) {
        u32 = 8, PUT(&u32, 4);
        u64 = strlen(value), PUT(&u64, 8), PUT(value, strlen(value));
    } else {
        u32 = 4, PUT(&u32, 4);
        u32 = 7, PUT(&u32, 4);
    }
#undef PUT
    return off;
}

static kv_chat_tmpl detect_in(const char *key, const char *value, bool *has) {
    static uint8_t buf[512];
    size_t n = make_gguf(buf, key, value);
    kv_gguf *g = NULL;
    assert_int_equal(kv_gguf_open_mem(buf, n, "chat.gguf", &g, NULL), KV_OK);
    kv_chat_tmpl t = kv_chat_detect_gguf(g, has);
    kv_gguf_close(g);
    return t;
}

static void test_detect_gguf(void **state) {
    (void)state;
    bool has = false;
    const char *key = "tokenizer.chat_template";
    assert_int_equal(detect_in(key, "{{'<|im_start|>' + m['role']}}", &has), KV_CHAT_CHATML);
    assert_true(has);
    assert_int_equal(detect_in(key, "{{ messages }}", &has), KV_CHAT_PLAIN);
    assert_true(has);
    assert_int_equal(detect_in("general.name", "<|im_start|>", &has), KV_CHAT_PLAIN);
    assert_false(has);
    has = true;
    assert_int_equal(detect_in(key, NULL, &has), KV_CHAT_PLAIN); // a u32, not a string
    assert_false(has);
    assert_int_equal(kv_chat_detect_gguf(NULL, &has), KV_CHAT_PLAIN);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chatml), cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_llama2), cmocka_unit_test(test_mistral),
        cmocka_unit_test(test_gemma),  cmocka_unit_test(test_phi3),
        cmocka_unit_test(test_zephyr), cmocka_unit_test(test_plain),
        cmocka_unit_test(test_detect), cmocka_unit_test(test_names),
        cmocka_unit_test(test_end_text), cmocka_unit_test(test_detect_gguf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
