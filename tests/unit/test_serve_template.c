// Chat templates: recognising each family from a real template's text, and
// rendering a conversation in each family's format (expected strings written
// out from the families' documented formats).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "serve/serve_int.h"

// A conversation with every role: system, user, assistant, user.
static const kv__msg CHAT[] = {
    {KV__ROLE_SYSTEM, "You are terse."},
    {KV__ROLE_USER, "Hello"},
    {KV__ROLE_ASSISTANT, " Hi there "},
    {KV__ROLE_USER, "Who made the heaven?"},
};
#define N_CHAT (sizeof CHAT / sizeof CHAT[0])

static void check_render(kv__tmpl t, const kv__msg *m, size_t n, bool gen, const char *eos,
                         const char *want) {
    kv__buf out = {0};
    kv_err err;
    assert_int_equal(kv__tmpl_render(t, m, n, gen, eos, &out, &err), KV_OK);
    assert_string_equal(out.p, want);
    kv__buf_free(&out);
}

static void test_chatml(void **state) {
    (void)state;
    check_render(KV__TMPL_CHATML, CHAT, N_CHAT, true, NULL,
                 "<|im_start|>system\nYou are terse.<|im_end|>\n"
                 "<|im_start|>user\nHello<|im_end|>\n"
                 "<|im_start|>assistant\n Hi there <|im_end|>\n"
                 "<|im_start|>user\nWho made the heaven?<|im_end|>\n"
                 "<|im_start|>assistant\n");
    check_render(KV__TMPL_CHATML, CHAT + 1, 1, false, NULL, "<|im_start|>user\nHello<|im_end|>\n");
}

static void test_llama3(void **state) {
    (void)state;
    check_render(KV__TMPL_LLAMA3, CHAT, N_CHAT, true, NULL,
                 "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nWho made the heaven?<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void test_llama2(void **state) {
    (void)state;
    check_render(KV__TMPL_LLAMA2, CHAT, N_CHAT, true, NULL,
                 "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHello [/INST]Hi there</s>"
                 "[INST] Who made the heaven? [/INST]");
}

static void test_mistral(void **state) {
    (void)state;
    check_render(KV__TMPL_MISTRAL, CHAT, N_CHAT, true, NULL,
                 "[INST] You are terse.\n\nHello[/INST] Hi there</s>"
                 "[INST] Who made the heaven?[/INST]");
}

static void test_gemma(void **state) {
    (void)state;
    // no system role: the system text opens the first user turn
    check_render(KV__TMPL_GEMMA, CHAT, N_CHAT, true, NULL,
                 "<start_of_turn>user\nYou are terse.\n\nHello<end_of_turn>\n"
                 "<start_of_turn>model\nHi there<end_of_turn>\n"
                 "<start_of_turn>user\nWho made the heaven?<end_of_turn>\n"
                 "<start_of_turn>model\n");
}

static void test_phi3(void **state) {
    (void)state;
    check_render(KV__TMPL_PHI3, CHAT, N_CHAT, true, NULL,
                 "<|system|>\nYou are terse.<|end|>\n<|user|>\nHello<|end|>\n"
                 "<|assistant|>\n Hi there <|end|>\n<|user|>\nWho made the heaven?<|end|>\n"
                 "<|assistant|>\n");
}

static void test_zephyr(void **state) {
    (void)state;
    check_render(KV__TMPL_ZEPHYR, CHAT + 1, 1, true, NULL, "<|user|>\nHello</s>\n<|assistant|>\n");
    check_render(KV__TMPL_ZEPHYR, CHAT, 2, true, "<|endoftext|>",
                 "<|system|>\nYou are terse.<|endoftext|>\n<|user|>\nHello<|endoftext|>\n"
                 "<|assistant|>\n");
}

static void test_plain(void **state) {
    (void)state;
    check_render(KV__TMPL_PLAIN, CHAT, N_CHAT, true, NULL,
                 "System: You are terse.\nUser: Hello\nAssistant:  Hi there \n"
                 "User: Who made the heaven?\nAssistant:");
    check_render(KV__TMPL_PLAIN, CHAT, 0, true, NULL, "Assistant:");
    check_render(KV__TMPL_PLAIN, CHAT, 0, false, NULL, "");
}

// Excerpts of the families' published tokenizer.chat_template texts.
static void test_detect(void **state) {
    (void)state;
    static const struct {
        const char *tmpl;
        kv__tmpl want;
    } CASES[] = {
        {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
         "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
         KV__TMPL_CHATML},
        {"{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
         "message['content'] | trim + '<|eot_id|>' %}",
         KV__TMPL_LLAMA3},
        {"{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + "
         "system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{{ bos_token + '[INST] ' + "
         "content.strip() + ' [/INST]' }}",
         KV__TMPL_LLAMA2},
        {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
         "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}{% endfor %}",
         KV__TMPL_MISTRAL},
        {"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}",
         KV__TMPL_GEMMA},
        {"{% if message['role'] == 'user' %}{{'<|user|>' + '\\n' + message['content'] + "
         "'<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}",
         KV__TMPL_PHI3},
        {"{% if message['role'] == 'user' %}\\n{{ '<|user|>\\n' + message['content'] + eos_token }}"
         "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n' }}",
         KV__TMPL_ZEPHYR},
        {"{{ messages[0]['content'] }}", KV__TMPL_PLAIN},
        {NULL, KV__TMPL_PLAIN},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        assert_int_equal(kv__tmpl_detect(CASES[i].tmpl), CASES[i].want);
}

static void test_names(void **state) {
    (void)state;
    for (int t = 0; t < KV__TMPL_COUNT; t++) {
        kv__tmpl back;
        assert_int_equal(kv__tmpl_from_name(kv__tmpl_name((kv__tmpl)t), &back, NULL), KV_OK);
        assert_int_equal(back, t);
    }
    kv__tmpl x;
    kv_err err;
    assert_int_equal(kv__tmpl_from_name("jinja", &x, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'jinja'"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chatml), cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_llama2), cmocka_unit_test(test_mistral),
        cmocka_unit_test(test_gemma),  cmocka_unit_test(test_phi3),
        cmocka_unit_test(test_zephyr), cmocka_unit_test(test_plain),
        cmocka_unit_test(test_detect), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
