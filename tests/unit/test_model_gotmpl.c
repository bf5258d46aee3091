// The Go text/template subset for Ollama TEMPLATEs (kv_gotmpl.h): real
// template shapes (a legacy .System/.Prompt/.Response one, a llama3-style
// .Messages one with $last), trimming, functions, Ollama's turn rules, and
// errors for what the subset lacks. Expected text from Go's documented rules.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kvant/kv_gotmpl.h"

static kv_status render(const char *tmpl, const kv_chat_msg *m, size_t n, char **out,
                        kv_err *err) {
    kv_gotmpl *t = NULL;
    *out = NULL;
    kv_status st = kv_gotmpl_parse(tmpl, strlen(tmpl), &t, err);
    if (st != KV_OK)
        return st;
    size_t len = 0;
    st = kv_gotmpl_render(t, m, n, out, &len, err);
    if (st == KV_OK)
        assert_int_equal(len, strlen(*out));
    kv_gotmpl_free(t);
    return st;
}

static void expect(const char *tmpl, const kv_chat_msg *m, size_t n, const char *want) {
    char *out = NULL;
    kv_err err = {0};
    kv_status st = render(tmpl, m, n, &out, &err);
    if (st != KV_OK)
        fail_msg("%s: %s", tmpl, err.msg);
    if (strcmp(out, want) != 0)
        fail_msg("template %s\n got [%s]\nwant [%s]", tmpl, out, want);
    free(out);
}

static void expect_err(const char *tmpl, kv_status want, const char *msg) {
    char *out = NULL;
    kv_err err = {0};
    kv_chat_msg m = {KV_CHAT_ROLE_USER, "x"};
    assert_int_equal(render(tmpl, &m, 1, &out, &err), want);
    assert_null(out);
    if (!strstr(err.msg, msg))
        fail_msg("%s: message [%s] lacks [%s]", tmpl, err.msg, msg);
}

#define CHATML                                                                                    \
    "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"                      \
    "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}"                        \
    "<|im_start|>assistant\n{{ .Response }}<|im_end|>\n"

static void test_legacy_turns(void **state) {
    (void)state;
    kv_chat_msg one[] = {{KV_CHAT_ROLE_SYSTEM, "S"}, {KV_CHAT_ROLE_USER, "hi"}};
    expect(CHATML, one, 2,
           "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
           "<|im_start|>assistant\n");
    // earlier turns whole, the last cut at .Response; the system prompt once
    kv_chat_msg hist[] = {{KV_CHAT_ROLE_SYSTEM, "S"},
                          {KV_CHAT_ROLE_USER, "a"},
                          {KV_CHAT_ROLE_ASSISTANT, "b"},
                          {KV_CHAT_ROLE_USER, "c"}};
    expect(CHATML, hist, 4,
           "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\na<|im_end|>\n"
           "<|im_start|>assistant\nb<|im_end|>\n"
           "<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n");
    // consecutive messages of a role merge
    kv_chat_msg two[] = {{KV_CHAT_ROLE_USER, "a"}, {KV_CHAT_ROLE_USER, "b"}};
    expect("[{{ .Prompt }}]", two, 2, "[a\n\nb]");
    expect("{{ .System }}|{{ .Prompt }}", one, 2, "S|hi");
}

#define LLAMA3                                                                                    \
    "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>\n"    \
    "{{- end }}\n"                                                                                \
    "{{- range $i, $_ := .Messages }}\n"                                                          \
    "{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"                                          \
    "{{- if eq .Role \"user\" }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Content "         \
    "}}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ end }}\n"      \
    "{{- else if eq .Role \"assistant\" }}<|start_header_id|>assistant<|end_header_id|>\n\n"      \
    "{{ .Content }}{{ if not $last }}<|eot_id|>{{ end }}\n"                                       \
    "{{- end }}\n"                                                                                \
    "{{- end }}"

static void test_messages(void **state) {
    (void)state;
    kv_chat_msg m[] = {{KV_CHAT_ROLE_SYSTEM, "S"},
                       {KV_CHAT_ROLE_USER, "a"},
                       {KV_CHAT_ROLE_ASSISTANT, "b"},
                       {KV_CHAT_ROLE_USER, "c"}};
    expect(LLAMA3, m, 4,
           "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\na<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\nb<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nc<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect("{{ range .Messages }}{{ if eq .Role \"user\" }}U:{{ .Content }}{{ else }}"
           "{{ .Role }}:{{ .Content }}{{ end }} {{ end }}",
           m, 4, "system:S U:a assistant:b U:c ");
    expect("{{ range $m := .Messages }}{{ $m.Role }}/{{ $.System }} {{ else }}none{{ end }}", m,
           2, "system/S user/S ");
    expect("{{ range .Messages }}x{{ else }}none{{ end }}", m, 0, "none");
    expect("{{ $m := index .Messages 1 }}{{ $m.Content }} {{ len .Messages }}", m, 2, "a 2");
}

static void test_expressions(void **state) {
    (void)state;
    kv_chat_msg m[] = {{KV_CHAT_ROLE_USER, "hello"}};
    expect("{{ len .Messages }}", m, 1, "1");
    expect("{{ and .System \"x\" }}|{{ or .System \"y\" }}|{{ not .System }}", m, 1, "|y|true");
    expect("{{ eq 1 2 3 1 }} {{ ne \"a\" \"b\" }} {{ eq .System \"\" }}", m, 1,
           "true true true");
    expect("{{ slice \"abcdef\" 1 3 }}{{ `raw\\n` }}{{ \"q\\\"\\n\" }}", m, 1, "bcraw\\nq\"\n");
    expect("a  {{- /* note */ -}}  b {{- \" c \" -}} \n d", m, 1, "ab c d");
    expect("{{ if .Tools }}T{{ else if .Messages }}M{{ end }}", m, 1, "M");
    // found by fuzzing: a cut before any output is "", not NULL; trimming at the end
    expect("{{ .Response }}x", m, 0, "");
    expect(" \n{{- if 1 -}}\n {{- end -}}\n", m, 0, "");
    expect("{{ $x := \"v\" }}{{ if true }}{{ $x := \"w\" }}{{ $x }}{{ end }}{{ $x }}", m, 1,
           "ww");
}

static void test_errors(void **state) {
    (void)state;
    expect_err("{{ .Foo }}", KV_ERR_UNSUPPORTED, "line 1: field .Foo is not supported");
    expect_err("a\n{{ .System | upper }}", KV_ERR_UNSUPPORTED, "line 2: pipes");
    expect_err("{{ printf \"%s\" .System }}", KV_ERR_UNSUPPORTED, "function 'printf'");
    expect_err("{{ template \"x\" }}", KV_ERR_UNSUPPORTED, "{{ template }} is not supported");
    expect_err("{{ with .System }}x{{ end }}", KV_ERR_UNSUPPORTED, "with");
    expect_err("\n\n{{ if .System }}x", KV_ERR_FORMAT, "line 3: if without {{ end }}");
    expect_err("x{{ end }}", KV_ERR_FORMAT, "without if or range");
    expect_err("{{ .System ", KV_ERR_FORMAT, "unclosed action");
    expect_err("{{ \"abc }}", KV_ERR_FORMAT, "unclosed action");
    expect_err("{{ range .System }}x{{ end }}", KV_ERR_INVALID, "range over a value");
    expect_err("{{ eq .Messages 1 }}", KV_ERR_INVALID, "incompatible types");
    expect_err("{{ index .Messages 5 }}", KV_ERR_INVALID, "out of range");
    expect_err("{{ $y }}", KV_ERR_INVALID, "undefined variable $y");
    char deep[512] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "{{ if 1 }}");
    expect_err(deep, KV_ERR_LIMIT, "nested");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_turns),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_expressions),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
