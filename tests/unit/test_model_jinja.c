// The Jinja subset interpreter (kv_jinja.h): each statement, the whitespace
// rules transformers uses, expressions, filters, tests, methods and globals,
// with expected text worked out from Jinja's documented semantics; errors that
// name line and column; the caps that stop hostile templates.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test.h"
#include "kvant/kv_jinja.h"

#define FIXED_NOW 1721952000 // 2024-07-26 00:00:00 UTC

// Renders tmpl over the JSON object vars; returns the status, *out the text.
static kv_status render(const char *tmpl, const char *vars, size_t max_output, char **out,
                        kv_err *err) {
    kv_jinja *t = NULL;
    *out = NULL;
    kv_status st = kv_jinja_parse(tmpl, strlen(tmpl), "t.jinja", &t, err);
    if (st != KV_OK)
        return st;
    kv_jinja_opts o = {.now = FIXED_NOW, .max_output = max_output};
    size_t len = 0;
    st = kv_jinja_render_json(t, vars, strlen(vars), &o, out, &len, err);
    if (st == KV_OK)
        assert_int_equal(len, strlen(*out));
    kv_jinja_free(t);
    return st;
}

#define EXPECT(tmpl, vars, want) expect_text(tmpl, vars, want, __LINE__)
static void expect_text(const char *tmpl, const char *vars, const char *want, int line) {
    char *out = NULL;
    kv_err err = {0};
    kv_status st = render(tmpl, vars, 0, &out, &err);
    if (st != KV_OK || strcmp(out, want) != 0)
        fail_msg("line %d: template %s\n  want [%s]\n  got  [%s] (%s)", line, tmpl, want,
                 out ? out : "", err.msg);
    free(out);
}

#define EXPECT_ERR(tmpl, vars, status, fragment) expect_err(tmpl, vars, status, fragment, __LINE__)
static void expect_err(const char *tmpl, const char *vars, kv_status status, const char *fragment,
                       int line) {
    char *out = NULL;
    kv_err err = {0};
    kv_status st = render(tmpl, vars, 0, &out, &err);
    if (st != status || !strstr(err.msg, fragment))
        fail_msg("line %d: template %s: want status %d with '%s', got %d '%s' (output [%s])", line,
                 tmpl, status, fragment, st, err.msg, out ? out : "");
    assert_null(out);
}

static void test_if(void **state) {
    (void)state;
    const char *t = "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many"
                    "{% endif %},{% endfor %}";
    EXPECT(t, "{}", "one,two,many,");
    EXPECT("{% if x %}yes{% endif %}|{% if not x %}no{% endif %}", "{\"x\": \"\"}", "|no");
    EXPECT("{% if [] %}a{% elif {} %}b{% elif 0.0 %}c{% else %}d{% endif %}", "{}", "d");
    EXPECT("{% if undefined_thing %}a{% else %}b{% endif %}", "{}", "b");
}

static void test_for(void **state) {
    (void)state;
    EXPECT("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
           "{{ loop.length }}{{ loop.revindex }};{% endfor %}",
           "{\"xs\": [\"a\", \"b\"]}", "10truefalse22;21falsetrue21;");
    EXPECT("{% for x in [] %}x{% else %}empty{% endfor %}", "{}", "empty");
    EXPECT("{% for x in [1, 2, 3, 4] if x % 2 == 0 %}{{ loop.index }}:{{ x }}"
           "{% if not loop.last %},{% endif %}{% endfor %}",
           "{}", "1:2,2:4");
    EXPECT("{% for n in [1, 2, 3, 4] %}{% if n == 2 %}{% continue %}{% endif %}"
           "{% if n == 4 %}{% break %}{% endif %}{{ n }}{% endfor %}",
           "{}", "13");
    EXPECT("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
           "{\"d\": {\"x\": 1, \"y\": \"z\"}}", "x=1;y=z;");
    EXPECT("{% for k in d %}{{ k }}{% endfor %}", "{\"d\": {\"b\": 1, \"a\": 2}}", "ba");
    EXPECT("{% for c in 'añb' %}[{{ c }}]{% endfor %}", "{}", "[a][ñ][b]");
    EXPECT("{% for m in messages[::-1] %}{{ m }}{% endfor %}", "{\"messages\": [1, 2, 3]}", "321");
    EXPECT("{% for x in nothing %}x{% endfor %}done", "{}", "done");
    EXPECT_ERR("{% for x in 5 %}{% endfor %}", "{}", KV_ERR_FORMAT, "t.jinja:1:4: cannot loop");
}

static void test_set(void **state) {
    (void)state;
    // a set inside a loop stays inside; inside an if it does not
    EXPECT("{% set a = 1 %}{% for x in [1] %}{% set a = 2 %}{{ a }}{% endfor %}{{ a }}"
           "{% if true %}{% set b = 3 %}{% endif %}{{ b }}",
           "{}", "213");
    EXPECT("{% set ns = namespace(total=0, seen=false) %}{% for x in [1, 2, 3] %}"
           "{% set ns.total = ns.total + x %}{% if x == 2 %}{% set ns.seen = true %}{% endif %}"
           "{% endfor %}{{ ns.total }} {{ ns.seen }}",
           "{}", "6 true");
    EXPECT("{% set ns = namespace() %}{% set ns.a = 'x' %}{{ ns.a }}", "{}", "x");
    EXPECT("{% set a, b = [1, 'two'] %}{{ b }}{{ a }}", "{}", "two1");
    EXPECT("{% set block %}in {{ 'side' }}{% endset %}[{{ block }}]", "{}", "[in side]");
    EXPECT("{% set messages = messages[1:] %}{{ messages | length }}", "{\"messages\": [1, 2, 3]}",
           "2");
    EXPECT_ERR("{% set d = {'a': 1} %}{% set d.a = 2 %}", "{}", KV_ERR_FORMAT,
               "cannot set attribute 'a' of a dict");
}

static void test_macro(void **state) {
    (void)state;
    EXPECT("{% macro tag(name, value='-') %}<{{ name }}={{ value }}>{% endmacro %}"
           "{{ tag('a') }}{{ tag('b', 2) }}{{ tag(value=3, name='c') }}",
           "{}", "<a=-><b=2><c=3>");
    EXPECT("{% macro twice(x) %}{{ x }}{{ x }}{% endmacro %}{{ twice('ab') | upper }}", "{}",
           "ABAB");
    EXPECT_ERR("{% macro f(a) %}{% endmacro %}{{ f(b=1) }}", "{}", KV_ERR_FORMAT,
               "no such parameter");
}

static void test_whitespace(void **state) {
    (void)state;
    // trim_blocks, lstrip_blocks, the trailing newline, and "-" on either side
    EXPECT("{% if true %}\nx\n{% endif %}\ny", "{}", "x\ny");
    EXPECT("a\n    {% if true %}\n    b\n    {% endif %}\nc", "{}", "a\n    b\nc");
    EXPECT("a   {{- 'b' -}}   c  {%- if true -%}  d  {%- endif %}", "{}", "abcd");
    EXPECT("{{ 'a' }}\n{{ 'b' }}\n", "{}", "a\nb");
    EXPECT("a{# gone #}b {#- also -#} c", "{}", "abc");
    EXPECT("x\n{# comment #}\ny", "{}", "x\ny");
    EXPECT("{%- generation -%} kept {%- endgeneration %}", "{}", "kept");
    EXPECT("\t{{ 'tab' }}  \n", "{}", "\ttab  ");
    // JavaScript's whitespace: a no-break space goes too
    EXPECT("x \xc2\xa0 {{- 'y' }}", "{}", "xy");
}

static void test_expressions(void **state) {
    (void)state;
    EXPECT("{{ 1 + 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 * 3 - 1 }} "
           "{{ -4 }} {{ 1.5 + 1 }} {{ 4 / 2 }} {{ 2 ** 10 }} {{ 0.1 + 0.2 }}",
           "{}", "3 3 -4 1 2 5 -4 2.5 2.0 1024 0.30000000000000004");
    EXPECT("{{ 'n=' ~ 3 ~ none ~ true }}", "{}", "n=3true");
    EXPECT("{{ 'a' + 'b' }}{{ [1] + [2] }}{{ 'ab' * 3 }}", "{}", "ab[1, 2]ababab");
    EXPECT("{{ 1 < 2 }}{{ 2 <= 1 }}{{ 'a' == 'a' }}{{ 'a' != 'a' }}{{ 3 > 2 }}{{ 1 >= 1 }}"
           "{{ 'b' > 'a' }}{{ 1 == 1.0 }}",
           "{}", "truefalsetruefalsetruetruetruetrue");
    EXPECT("{{ true and false }}{{ true or false }}{{ not true }}{{ not (1 == 2) }}"
           "{{ '' or 'x' }}{{ 0 and 1 }}",
           "{}", "falsetruefalsetruex0");
    EXPECT("{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in d }}{{ 'q' not in d }}{{ 1 in nope }}",
           "{\"d\": {\"k\": 1}}", "truetruetruetruefalse");
    EXPECT("{{ 'yes' if flag else 'no' }}[{{ 'a' if false }}]", "{\"flag\": true}", "yes[]");
    EXPECT("{{ m['role'] }}{{ m.role }}{{ xs[-1] }}{{ xs[0] }}[{{ xs[9] }}]{{ xs.1 }}",
           "{\"m\": {\"role\": \"user\"}, \"xs\": [\"a\", \"b\", \"c\"]}", "useruserca[]b");
    EXPECT("{{ xs[1:] }}{{ xs[:-1] }}{{ xs[::2] }}{{ xs[::-1] }}{{ xs[5:] }}",
           "{\"xs\": [1, 2, 3]}", "[2, 3][1, 2][1, 3][3, 2, 1][]");
    EXPECT("{{ s[1:3] }}|{{ s[-1] }}|{{ s[:-1] }}", "{\"s\": \"h\xc3\xa9llo\"}",
           "\xc3\xa9l|o|h\xc3\xa9ll");
    EXPECT("{{ {'a': 1, 'b': [true, none]} }}", "{}", "{\"a\": 1, \"b\": [true, null]}");
    EXPECT("{{ \"it's\" }}{{ 'a\\nb\\t\\'c\\'' }}{{ 'x' 'y' }}{{ '\\u00e9' }}", "{}",
           "it'sa\nb\t'c'xy\xc3\xa9");
    EXPECT("[{{ missing }}][{{ none }}]{{ true }}{{ False }}", "{}", "[][]truefalse");
    EXPECT("{{ (1, 2) }}{{ (3) }}", "{}", "[1, 2]3");
    EXPECT_ERR("{{ 1 / 0 }}", "{}", KV_ERR_FORMAT, "division by zero");
    EXPECT_ERR("{{ missing.attr }}", "{}", KV_ERR_FORMAT, "t.jinja:1:11: cannot read attribute");
    EXPECT_ERR("{{ 'a' + missing }}", "{}", KV_ERR_FORMAT, "unsupported operand");
}

static void test_tests(void **state) {
    (void)state;
    EXPECT("{{ x is defined }}{{ y is defined }}{{ y is not defined }}{{ n is none }}"
           "{{ s is string }}{{ x is number }}{{ x is integer }}{{ f is float }}"
           "{{ t is boolean }}{{ t is true }}{{ t is false }}",
           "{\"x\": 1, \"n\": null, \"s\": \"s\", \"f\": 1.5, \"t\": true}",
           "truefalsetruetruetruetruetruetruetruetruefalse");
    EXPECT("{{ d is mapping }}{{ l is mapping }}{{ l is iterable }}{{ s is iterable }}"
           "{{ 3 is odd }}{{ 3 is even }}{{ 9 is divisibleby(3) }}{{ 9 is divisibleby 4 }}"
           "{{ 'x' is eq('x') }}{{ 'x' is equalto 'y' }}{{ 'ab' is lower }}{{ 'Ab' is upper }}"
           "{{ range is callable }}{{ 2 is in([1, 2]) }}",
           "{\"d\": {}, \"l\": [], \"s\": \"\"}",
           "truefalsetruetruetruefalsetruefalsetruefalsetruefalsetruetrue");
    EXPECT_ERR("{{ x is prime }}", "{}", KV_ERR_UNSUPPORTED, "t.jinja:1:9: unsupported test");
}

static void test_filters(void **state) {
    (void)state;
    EXPECT("[{{ '  a b \\n' | trim }}][{{ 'xxaxx' | trim('x') }}]", "{}", "[a b][a]");
    EXPECT("{{ 'h\xc3\xa9' | length }}{{ [1, 2] | length }}{{ {'a': 1} | length }}{{ l | count }}",
           "{\"l\": [0]}", "2211");
    EXPECT("{{ 'aBc' | upper }}{{ 'aBc' | lower }}{{ 'hello wORLD' | title }}"
           "{{ 'hello wORLD' | capitalize }}",
           "{}", "ABCabcHello WorldHello world");
    EXPECT("{% for k, v in d | items %}{{ k }}{{ v }}{% endfor %}",
           "{\"d\": {\"a\": 1, \"b\": 2}}", "a1b2");
    EXPECT("{{ x | default('d') }}{{ y | default('d') }}{{ '' | default('e', true) }}"
           "{{ '' | d('f') }}",
           "{\"y\": \"Y\"}", "dYe");
    EXPECT("{{ l | first }}{{ l | last }}{{ 'abc' | first }}{{ 'abc' | last }}",
           "{\"l\": [1, 2, 3]}", "13ac");
    EXPECT("{{ l | join(', ') }}|{{ l | join }}", "{\"l\": [1, \"a\", true]}", "1, a, true|1atrue");
    EXPECT("{{ 5 | string ~ 1 }}{{ '42' | int + 1 }}{{ 3.9 | int }}{{ 'ab' | list }}"
           "{{ [1, 2] | reverse }}{{ 'a-b' | replace('-', '+') }}{{ -3 | abs }}{{ 'x' | safe }}",
           "{}", "51433[\"a\", \"b\"][2, 1]a+b3x");
    EXPECT("{{ msgs | selectattr('role', 'equalto', 'user') | list | length }}"
           "{{ msgs | rejectattr('role', 'equalto', 'user') | "
           "map(attribute='c') | join }}"
           "{{ [1, 2, 3, 4] | select('odd') | list }}{{ ['a', 'b'] | "
           "reject('equalto', 'a') | list }}"
           "{{ ['a', 'b'] | map('upper') | join }}{{ msgs | selectattr('on') | "
           "length }}",
           "{\"msgs\": [{\"role\": \"user\", \"c\": \"u\"}, {\"role\": "
           "\"bot\", \"c\": \"b\", "
           "\"on\": true}]}",
           "1b[1, 3][\"b\"]AB1");
    EXPECT_ERR("{{ x | wordwrap }}", "{}", KV_ERR_UNSUPPORTED,
               "t.jinja:1:8: unsupported filter, found 'wordwrap'");
}

static void test_tojson(void **state) {
    (void)state;
    EXPECT("{{ v | tojson }}",
           "{\"v\": {\"s\": \"a\\\"b\\\\c\\n\\u0001\xc3\xa9\", \"n\": [1, 2.5, -0.0, null, true],"
           " \"e\": {}, \"l\": []}}",
           "{\"s\": \"a\\\"b\\\\c\\n\\u0001\xc3\xa9\", \"n\": [1, 2.5, 0, null, true], "
           "\"e\": {}, \"l\": []}");
    EXPECT("{{ v | tojson(indent=2) }}", "{\"v\": {\"a\": [1, {\"b\": null}], \"c\": []}}",
           "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ],\n  \"c\": []\n}");
    EXPECT("{{ missing | tojson }}{{ 'x' | tojson }}", "{}", "null\"x\"");
}

static void test_methods(void **state) {
    (void)state;
    EXPECT("[{{ '  a  '.strip() }}][{{ '  a  '.lstrip() }}][{{ '  a  '.rstrip() }}]"
           "[{{ '\\n\\n a\\n'.strip('\\n') }}][{{ 'xyax'.lstrip('xy') }}]",
           "{}", "[a][a  ][  a][ a][ax]");
    EXPECT("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('bc') }}{{ "
           "'abc'.startswith(('x', 'a')) }}"
           "{{ 'abc'.endswith('x') }}",
           "{}", "truetruetruefalse");
    EXPECT("{{ 'a,b,,c'.split(',') }}{{ '  a  b '.split() }}{{ 'a b c'.split(' ', 1) }}"
           "{{ x.split('</think>')[-1].lstrip('\\n') }}",
           "{\"x\": \"<think>r</think>\\n\\nanswer\"}",
           "[\"a\", \"b\", \"\", \"c\"][\"a\", \"b\"][\"a\", \"b c\"]answer");
    EXPECT("{{ 'aaa'.replace('a', 'b') }}{{ 'aaa'.replace('a', 'b', 2) }}{{ 'Ab'.upper() }}"
           "{{ 'Ab'.lower() }}{{ 'ab cd'.title() }}{{ ', '.join(['x', 'y']) }}",
           "{}", "bbbbbaABabAb Cdx, y");
    EXPECT("{{ d.get('a') }}{{ d.get('z', 'dflt') }}[{{ d.get('z') }}]{{ d.keys() | list }}"
           "{{ d.values() | list }}{{ d.items() | list }}",
           "{\"d\": {\"a\": 1}}", "1dflt[][\"a\"][1][[\"a\", 1]]");
    EXPECT_ERR("{{ 'a'.nosuch() }}", "{}", KV_ERR_UNSUPPORTED, "a string has no method 'nosuch'");
}

static void test_globals(void **state) {
    (void)state;
    EXPECT("{{ range(3) | list }}{{ range(1, 7, 2) | list }}{{ range(3, 0, -1) | list }}", "{}",
           "[0, 1, 2][1, 3, 5][3, 2, 1]");
    EXPECT("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M') }}", "{}",
           "26 Jul 2024|2024-07-26 00:00");
    EXPECT("{{ dict(a=1).a }}", "{}", "1");
    EXPECT_ERR("x{{ raise_exception('Conversation roles must alternate') }}", "{}", KV_ERR_INVALID,
               "t.jinja:1:5: raise_exception: Conversation roles must alternate");
    EXPECT_ERR("\n  {{ nosuchfunction(1) }}", "{}", KV_ERR_UNSUPPORTED,
               "t.jinja:2:6: 'nosuchfunction' is undefined");
}

static void test_syntax_errors(void **state) {
    (void)state;
    EXPECT_ERR("ok\n{% if x %}never closed", "{}", KV_ERR_FORMAT,
               "t.jinja:2:4: this block is never closed (expected 'endif')");
    EXPECT_ERR("{{ 'open }}", "{}", KV_ERR_FORMAT, "t.jinja:1:4: string literal is never closed");
    EXPECT_ERR("a\nb {{ 1 +* 2 }}", "{}", KV_ERR_FORMAT,
               "t.jinja:2:9: expected an expression, found '*'");
    EXPECT_ERR("{% include 'x.jinja' %}", "{}", KV_ERR_UNSUPPORTED,
               "t.jinja:1:4: unsupported statement, found 'include'");
    EXPECT_ERR("{% for x in y recursive %}{% endfor %}", "{}", KV_ERR_UNSUPPORTED,
               "recursive loops are not supported");
    EXPECT_ERR("{{ x }", "{}", KV_ERR_FORMAT, "the template ends inside a tag");
    EXPECT_ERR("{# never", "{}", KV_ERR_FORMAT, "t.jinja:1:1: comment '{#' is never closed");
    EXPECT_ERR("{{ 'a\\q' }}", "{}", KV_ERR_FORMAT, "unknown escape");
    EXPECT_ERR("{{ 1 ; 2 }}", "{}", KV_ERR_FORMAT, "t.jinja:1:6: unexpected character ';'");
    EXPECT_ERR("{{ 99999999999999999999 }}", "{}", KV_ERR_FORMAT, "integer literal is too large");
    EXPECT_ERR("{% endif %}", "{}", KV_ERR_UNSUPPORTED, "unsupported statement, found 'endif'");
}

static void test_limits(void **state) {
    (void)state;
    // nesting too deep for the parser
    char deep[2000];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{{ ");
    for (int i = 0; i < 400; i++)
        deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 400; i++)
        deep[n++] = ')';
    snprintf(deep + n, sizeof deep - n, " }}");
    EXPECT_ERR(deep, "{}", KV_ERR_LIMIT, "nested too deeply");
    EXPECT_ERR("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "{}", KV_ERR_LIMIT,
               "nests deeper than");
    EXPECT_ERR("{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% endfor %}"
               "{% endfor %}",
               "{}", KV_ERR_LIMIT, "steps");
    EXPECT_ERR("{{ range(10000000) | length }}", "{}", KV_ERR_LIMIT, "range() of more than");
    EXPECT_ERR("{% set ns = namespace(t='ab') %}{% for i in range(40) %}{% set "
               "ns.t = ns.t ~ ns.t %}"
               "{% endfor %}",
               "{}", KV_ERR_LIMIT, "larger than");
    // the output cap
    char *out = NULL;
    kv_err err = {0};
    assert_int_equal(render("{% for i in range(100) %}0123456789{% endfor %}",
                            "{}", 500, &out, &err),
                     KV_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "larger than 500 bytes"));
    assert_null(out);
    assert_int_equal(render("{% for i in range(50) %}0123456789{% endfor %}",
                            "{}", 500, &out, &err),
                     KV_OK);
    assert_int_equal(strlen(out), 500);
    free(out);
}

static void test_chat(void **state) {
    (void)state;
    const char *src = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}"
                      "{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<assistant>"
                      "{% endif %}{{ tools is defined }}";
    kv_jinja *t = NULL;
    kv_err err = {0};
    assert_int_equal(kv_jinja_parse(src, strlen(src), NULL, &t, &err), KV_OK);
    const kv_chat_msg m[] = {{KV_CHAT_ROLE_SYSTEM, "s"},
                             {KV_CHAT_ROLE_USER, "u \"q\""},
                             {KV_CHAT_ROLE_ASSISTANT, "a"},
                             {KV_CHAT_ROLE_TOOL, "t"}};
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(kv_jinja_render_chat(t, m, 4, true, "<s>", "</s>", NULL, &out, &len, &err),
                     KV_OK);
    assert_string_equal(out, "<s><system>s</s><user>u \"q\"</s><assistant>a</s><tool>t</s>"
                             "<assistant>false");
    free(out);
    assert_int_equal(kv_jinja_render_chat(t, m, 0, false, NULL, NULL, NULL, &out, &len, &err),
                     KV_OK);
    assert_string_equal(out, "false");
    assert_int_equal(len, 5);
    free(out);
    // bytes that are not UTF-8 pass through, as with the template families
    const kv_chat_msg bad[] = {{KV_CHAT_ROLE_USER, "a\xff\xfe b"}};
    assert_int_equal(kv_jinja_render_chat(t, bad, 1, false, "", "", NULL, &out, &len, &err), KV_OK);
    assert_string_equal(out, "<user>a\xff\xfe bfalse");
    free(out);
    // bad variables
    assert_int_equal(kv_jinja_render_json(t, "[1]", 3, NULL, &out, NULL, &err), KV_ERR_INVALID);
    assert_int_equal(kv_jinja_render_json(t, "{", 1, NULL, &out, NULL, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "template: variables: invalid JSON"));
    kv_jinja_free(t);
    kv_jinja_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_if),          cmocka_unit_test(test_for),
        cmocka_unit_test(test_set),         cmocka_unit_test(test_macro),
        cmocka_unit_test(test_whitespace),  cmocka_unit_test(test_expressions),
        cmocka_unit_test(test_tests),       cmocka_unit_test(test_filters),
        cmocka_unit_test(test_tojson),      cmocka_unit_test(test_methods),
        cmocka_unit_test(test_globals),     cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_limits),      cmocka_unit_test(test_chat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
