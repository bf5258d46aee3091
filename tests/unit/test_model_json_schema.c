// The JSON schema compiler and matcher: each keyword's valid and refused
// prefixes (a refusal is checked at the exact byte), the refusal messages for
// what kvant does not enforce and for hostile schemas, and random walks over
// accepted bytes that must never reach a dead end and must end in documents that
// jansson parses and a small independent validator (below) accepts.
#include "kvant/kv_json_schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kv_test.h"

static kv_json_schema *compile(const char *text) {
    kv_json_schema *s = NULL;
    kv_err e = {0};
    kv_status st = kv_json_schema_compile(text, strlen(text), &s, &e);
    if (st != KV_OK)
        fail_msg("%s: %s", text, e.msg);
    return s;
}

// Feeds text byte by byte; returns how many bytes were accepted.
static size_t accepted(kv_json_match *m, const char *text) {
    size_t n = 0;
    while (text[n] && kv_json_match_feed(m, text + n, 1))
        n++;
    return n;
}

// text is a whole document under schema.
static void whole(const char *schema, const char *text) {
    kv_json_schema *s = compile(schema);
    kv_json_match m;
    kv_json_match_init(&m, s);
    size_t n = accepted(&m, text);
    if (n != strlen(text))
        fail_msg("%s: refused byte %zu of %s", schema, n, text);
    if (!kv_json_match_complete(&m))
        fail_msg("%s: %s is not whole", schema, text);
    kv_json_schema_free(s);
}

// The first refused byte of text is at offset at (text[0..at) is a valid prefix).
static void refused_at(const char *schema, const char *text, size_t at) {
    kv_json_schema *s = compile(schema);
    kv_json_match m;
    kv_json_match_init(&m, s);
    size_t n = accepted(&m, text);
    if (n != at)
        fail_msg("%s: %s refused at byte %zu, expected %zu", schema, text, n, at);
    kv_json_schema_free(s);
}

static void test_types(void **state) {
    (void)state;
    whole("{\"type\":\"integer\"}", "-12");
    refused_at("{\"type\":\"integer\"}", "1.5", 1);
    refused_at("{\"type\":\"integer\"}", "01", 1);
    refused_at("{\"type\":\"integer\"}", "9625600000000000001", 18); // 18 digits at most
    refused_at("{\"type\":\"number\"}", "1.0000000000000001", 17);   // 15 fraction digits
    whole("{\"type\":\"number\"}", "-0.25e+3");
    whole("{\"type\":\"string\"}", "\"a\\u00e9\\n\xc3\xa9\"");
    refused_at("{\"type\":\"string\"}", "\"\\ud800", 4); // no surrogate halves
    refused_at("{\"type\":\"string\"}", "1", 0);
    whole("{\"type\":\"boolean\"}", "false");
    refused_at("{\"type\":\"boolean\"}", "null", 0);
    whole("{\"type\":[\"string\",\"null\"]}", "null");
    whole("{\"type\":[\"string\",\"null\"]}", "\"x\"");
    whole("{\"type\":\"string\",\"nullable\":true}", "null"); // OpenAPI, as OpenAI's zod helper
    refused_at("{\"type\":\"string\",\"nullable\":false}", "n", 0);
    refused_at("{\"type\":[\"string\",\"null\"]}", "[", 0);
    whole("{}", "[1,{\"a\":null},\"s\"]");
    whole("true", "{\"a\":[]}");
    // whitespace: one space, or a line feed and some indentation
    whole("{\"type\":\"object\"}", "{ \"a\": 1,\n  \"b\" :\n\t[ ] }");
    refused_at("{\"type\":\"object\"}", "{  ", 2);
    refused_at("{\"type\":\"object\"}", "{\n\n", 2);
}

static void test_objects(void **state) {
    (void)state;
    const char *s = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
                    "\"ab\":{\"type\":\"string\"},\"b\":{\"type\":\"boolean\"}},"
                    "\"required\":[\"ab\"],\"additionalProperties\":false}";
    whole(s, "{\"ab\":\"x\"}");
    whole(s, "{\"a\":1,\"b\":true,\"ab\":\"\"}");
    refused_at(s, "{}", 1);              // ab is required
    refused_at(s, "{\"a\":1}", 6);       // ... still
    refused_at(s, "{\"c", 2);            // no such property
    refused_at(s, "{\"a\":\"", 5);       // a is an integer
    refused_at(s, "{\"ab\":\"\",\"ab\"", 11); // given twice
    refused_at(s, "{\"a\":1,\"a", 9);    // a given: only ab remains after "a
    // properties without additionalProperties: only those (llama.cpp's reading)
    refused_at("{\"properties\":{\"a\":{}}}", "{\"b", 2);
    // additionalProperties true or a schema: other keys, with that schema
    const char *t = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
                    "\"additionalProperties\":{\"type\":\"boolean\"}}";
    whole(t, "{\"a\":1,\"zz\":true,\"ab\":false}");
    refused_at(t, "{\"zz\":1", 6);
    refused_at(t, "{\"a\":1,\"a\"", 10); // a again, not as another key
    refused_at(t, "{\"z\\", 3);          // other keys have no escapes
    // a nested object's properties do not mix with its parent's
    whole("{\"properties\":{\"a\":{\"type\":\"null\"},\"b\":{\"properties\":{\"x\":{},\"y\":{}},"
          "\"required\":[\"y\"]},\"c\":{\"type\":\"null\"}},\"required\":[\"a\",\"c\"]}",
          "{\"c\":null,\"b\":{\"y\":1},\"a\":null}");
    refused_at("{\"properties\":{\"a\":{\"type\":\"null\"},\"b\":{\"properties\":{\"x\":{}}},"
               "\"c\":{\"type\":\"null\"}},\"required\":[\"a\",\"c\"]}",
               "{\"a\":null}", 9);
    // required keys outside properties take additionalProperties' schema
    whole("{\"required\":[\"q\"]}", "{\"q\":[1]}");
    refused_at("{\"type\":\"object\",\"required\":[\"q\"]}", "{}", 1);
}

static void test_enum_const(void **state) {
    (void)state;
    const char *s = "{\"enum\":[\"red\",\"green\",1,12,null,{\"k\":[1]}]}";
    whole(s, "\"red\"");
    whole(s, "1");
    whole(s, "12");
    whole(s, "{\"k\":[1]}");
    whole(s, "null");
    refused_at(s, "\"blue\"", 1);
    refused_at(s, "13", 1);
    refused_at(s, "{\"k\":[2", 6);
    whole("{\"const\":\"a\\\"b\"}", "\"a\\\"b\"");
    refused_at("{\"const\":42}", "43", 1);
    // enum values outside the type are dropped
    refused_at("{\"type\":\"string\",\"enum\":[\"a\",1]}", "1", 0);
    kv_json_schema *k = compile("{\"enum\":[\"ab\"]}");
    kv_json_match m;
    kv_json_match_init(&m, k);
    assert_true(kv_json_match_feed(&m, "\"ab", 3));
    assert_false(kv_json_match_done(&m));
    assert_true(kv_json_match_feed(&m, "\"", 1));
    assert_true(kv_json_match_done(&m));
    kv_json_schema_free(k);
}

static void test_arrays(void **state) {
    (void)state;
    const char *s = "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,"
                    "\"maxItems\":3}";
    whole(s, "[1,2]");
    whole(s, "[1, 2, 3]");
    refused_at(s, "[]", 1);
    refused_at(s, "[1]", 2);
    refused_at(s, "[1,2,3,", 6);
    refused_at(s, "[\"", 1);
    refused_at("{\"type\":\"array\",\"maxItems\":0}", "[1", 1);
    whole("{\"type\":\"array\",\"maxItems\":0}", "[]");
}

static void test_any_of(void **state) {
    (void)state;
    const char *s = "{\"anyOf\":[{\"type\":\"string\",\"maxLength\":2},{\"type\":\"object\","
                    "\"properties\":{\"k\":{\"const\":1}},\"required\":[\"k\"]},{\"type\":"
                    "\"object\",\"properties\":{\"k\":{\"const\":2},\"v\":{\"type\":\"null\"}},"
                    "\"required\":[\"k\",\"v\"]}]}";
    whole(s, "\"ab\"");
    refused_at(s, "\"abc", 3);
    whole(s, "{\"k\":1}");
    whole(s, "{\"k\":2,\"v\":null}");
    refused_at(s, "{\"k\":2}", 6);
    refused_at(s, "{\"k\":1,", 6);
    refused_at(s, "{\"k\":3", 5);
    // nested anyOf through $ref, and nullable the way zod writes it
    whole("{\"$defs\":{\"n\":{\"anyOf\":[{\"type\":\"integer\"},{\"$ref\":\"#/$defs/m\"}]},"
          "\"m\":{\"anyOf\":[{\"type\":\"null\"}]}},\"anyOf\":[{\"$ref\":\"#/$defs/n\"}]}",
          "null");
}

static void test_strings(void **state) {
    (void)state;
    const char *s = "{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}";
    whole(s, "\"ab\"");
    whole(s, "\"\xc3\xa9\\n\xe2\x82\xac\""); // three code points
    refused_at(s, "\"a\"", 2);
    refused_at(s, "\"abcd", 4);
    refused_at("{\"type\":\"string\"}", "\"a\nb", 2); // raw control characters
}

static void test_formats(void **state) {
    (void)state;
    whole("{\"type\":\"string\",\"format\":\"date\"}", "\"2024-02-29\"");
    refused_at("{\"type\":\"string\",\"format\":\"date\"}", "\"2023-02-29", 10);
    refused_at("{\"type\":\"string\",\"format\":\"date\"}", "\"2023-04-31", 10);
    refused_at("{\"type\":\"string\",\"format\":\"date\"}", "\"2023-02-3", 9);
    refused_at("{\"type\":\"string\",\"format\":\"date\"}", "\"2023-13", 7);
    refused_at("{\"type\":\"string\",\"format\":\"date\"}", "\"2023-00", 7);
    whole("{\"format\":\"time\"}", "\"23:59:59.123Z\"");
    refused_at("{\"format\":\"time\"}", "\"24", 2);
    refused_at("{\"format\":\"time\"}", "\"12:60", 4);
    refused_at("{\"format\":\"time\"}", "\"12:00:00\"", 9); // a time zone is due
    whole("{\"format\":\"date-time\"}", "\"2024-01-31T00:00:00+05:30\"");
    whole("{\"format\":\"uuid\"}", "\"123e4567-e89b-12d3-A456-426614174000\"");
    refused_at("{\"format\":\"uuid\"}", "\"123g", 4);
}

static void test_number_bounds(void **state) {
    (void)state;
    const char *s = "{\"type\":\"integer\",\"minimum\":10,\"maximum\":20}";
    whole(s, "10");
    whole(s, "20");
    refused_at(s, "3", 0);
    refused_at(s, "25", 1);
    refused_at(s, "1,", 1);
    refused_at(s, "-", 0);
    refused_at(s, "0", 0);
    whole("{\"type\":\"integer\",\"exclusiveMinimum\":-3,\"maximum\":-1}", "-2");
    refused_at("{\"type\":\"integer\",\"exclusiveMinimum\":-3,\"maximum\":-1}", "-3", 1);
    refused_at("{\"type\":\"integer\",\"minimum\":-5,\"maximum\":5}", "-6", 1);
    const char *u = "{\"type\":\"number\",\"minimum\":0,\"maximum\":1}";
    whole(u, "0.75");
    whole(u, "1");
    refused_at(u, "1.", 1); // 1.5 is too big; 1.0 is not generated
    refused_at(u, "0e", 1); // bounded numbers have no exponent
    refused_at(u, "-1", 1);
    whole(u, "-0");
    whole("{\"type\":\"number\",\"exclusiveMaximum\":0}", "-1.5");
    refused_at("{\"type\":\"number\",\"exclusiveMaximum\":0}", "-0", 1); // -0.0 is 0
    refused_at("{\"type\":\"number\",\"exclusiveMaximum\":0}", "0", 0);
    // zod's int: the safe-integer range
    whole("{\"type\":\"integer\",\"minimum\":-9007199254740991,\"maximum\":9007199254740991}",
          "9007199254740991");
    refused_at("{\"type\":\"integer\",\"minimum\":-9007199254740991,\"maximum\":"
               "9007199254740991}",
               "9007199254740992", 15);
}

static void test_ref_and_depth(void **state) {
    (void)state;
    const char *tree = "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":"
                       "\"integer\"},\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/"
                       "node\"}}},\"required\":[\"v\"]}},\"$ref\":\"#/$defs/node\"}";
    whole(tree, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]},{\"v\":3}]}");
    whole("{\"definitions\":{\"a\":{\"type\":\"integer\"}},\"properties\":{\"x\":{\"$ref\":"
          "\"#/definitions/a\"}}}",
          "{\"x\":7}");
    whole("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}", "[[],[[]]]");
    // nesting the tree as deep as it goes: the matcher never strands the text
    kv_json_schema *s = compile(tree);
    kv_json_match m;
    kv_json_match_init(&m, s);
    int depth = 0;
    while (kv_json_match_feed(&m, "{\"v\":1,\"kids\":[", 15))
        depth++;
    assert_true(depth >= 10 && depth < KV_JSON_SCHEMA_MAX_DEPTH);
    // no deeper object fits, yet every level still closes
    assert_false(kv_json_match_feed(&m, "{\"v\":1}", 7));
    for (int i = 0; i < depth; i++)
        assert_true(kv_json_match_feed(&m, "]}", 2));
    assert_true(kv_json_match_done(&m));
    kv_json_schema_free(s);
}

// The schema is refused with status st and a message holding frag.
static void refuse(const char *schema, const char *frag) {
    kv_json_schema *s = NULL;
    kv_err e = {0};
    kv_status st = kv_json_schema_compile(schema, strlen(schema), &s, &e);
    if (st != KV_ERR_INVALID || !strstr(e.msg, frag))
        fail_msg("%.80s: status %d, message '%s', expected '%s'", schema, st, e.msg, frag);
    assert_null(s);
}

static void test_refusals(void **state) {
    (void)state;
    refuse("{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"object\",\"patternProperties\":"
           "{}}}}",
           "unsupported JSON schema keyword \"patternProperties\" at /properties/x");
    refuse("{\"type\":\"string\",\"pattern\":\"^a$\"}", "keyword \"pattern\" at /");
    refuse("{\"oneOf\":[{}]}", "keyword \"oneOf\"");
    refuse("{\"allOf\":[{}]}", "keyword \"allOf\"");
    refuse("{\"type\":\"number\",\"multipleOf\":2}", "keyword \"multipleOf\"");
    refuse("{\"type\":\"string\",\"format\":\"email\"}", "format \"email\"");
    refuse("{\"type\":\"strin\"}", "keyword \"type\" at /");
    refuse("{\"type\":\"array\",\"minItems\":\"2\"}", "\"minItems\" at /: expected a non-negative");
    refuse("{\"type\":\"array\",\"items\":[{}]}", "tuples");
    refuse("{\"$ref\":\"#/$defs/none\"}", "does not resolve");
    refuse("{\"$ref\":\"http://x/y\"}", "does not resolve");
    refuse("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},"
           "\"$ref\":\"#/$defs/a\"}",
           "circular");
    refuse("{\"enum\":[]}", "non-empty");
    refuse("{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", "no document");
    refuse("{\"type\":\"string\",\"enum\":[1]}", "no document");
    refuse("{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"c\":{\"$ref\":\"#/$defs/n\"}},"
           "\"required\":[\"c\"]}},\"$ref\":\"#/$defs/n\"}",
           "no document");
    refuse("{\"type\":\"object\",\"required\":[\"a\"],\"additionalProperties\":false}",
           "requires \"a\"");
    refuse("[1]", "expected a schema object");
    refuse("{\"properties\":{\"a\":false}}", "false (nothing matches)");
    refuse("{\"type\":", "not JSON");
    refuse("{\"anyOf\":[{}],\"type\":\"string\"}", "anyOf beside \"type\"");
    refuse("{\"anyOf\":[{\"type\":\"integer\"}],\"minimum\":3}", "anyOf beside \"minimum\"");
    refuse("{\"anyOf\":[{\"type\":\"string\"}],\"nullable\":true}", "anyOf beside \"nullable\"");
    // hostile sizes: deep nesting, a huge enum
    char *deep = malloc(20 * 100 + 16);
    assert_non_null(deep);
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(deep + n, "{\"items\":");
    n += (size_t)sprintf(deep + n, "{}");
    for (int i = 0; i < 100; i++)
        deep[n++] = '}';
    deep[n] = 0;
    refuse(deep, "nested deeper than 64");
    free(deep);
    char *big = malloc(5000 * 8 + 16);
    assert_non_null(big);
    n = (size_t)sprintf(big, "{\"enum\":[");
    for (int i = 0; i < 5000; i++)
        n += (size_t)sprintf(big + n, "%s%d", i ? "," : "", i);
    sprintf(big + n, "]}");
    refuse(big, "at most 4096");
    free(big);
}

// ---- random walks ----

// A small validator for the keywords the walks use, written from the spec
// rather than from the matcher.
static size_t code_points(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool valid(const json_t *sch, const json_t *v, const json_t *root) {
    const json_t *ref = json_object_get(sch, "$ref");
    if (ref) {
        const char *r = json_string_value(ref);
        const json_t *defs = json_object_get(root, "$defs");
        return valid(json_object_get(defs, r + strlen("#/$defs/")), v, root);
    }
    const json_t *any = json_object_get(sch, "anyOf");
    if (any) {
        for (size_t i = 0; i < json_array_size(any); i++)
            if (valid(json_array_get(any, i), v, root))
                return true;
        return false;
    }
    const json_t *e = json_object_get(sch, "enum");
    if (e) {
        bool found = false;
        for (size_t i = 0; i < json_array_size(e) && !found; i++)
            found = json_equal(json_array_get(e, i), (json_t *)v);
        if (!found)
            return false;
    }
    const char *type = json_string_value(json_object_get(sch, "type"));
    if (!type)
        return true;
    const json_t *lim;
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0) {
        if (!json_is_number(v) ||
            (type[0] == 'i' && json_number_value(v) != floor(json_number_value(v))))
            return false;
        lim = json_object_get(sch, "minimum");
        if (lim && json_number_value(v) < json_number_value(lim))
            return false;
        lim = json_object_get(sch, "maximum");
        return !lim || json_number_value(v) <= json_number_value(lim);
    }
    if (strcmp(type, "string") == 0) {
        if (!json_is_string(v))
            return false;
        lim = json_object_get(sch, "maxLength");
        return !lim || code_points(json_string_value(v)) <= (size_t)json_integer_value(lim);
    }
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "null") == 0)
        return json_is_null(v);
    if (strcmp(type, "array") == 0) {
        if (!json_is_array(v))
            return false;
        lim = json_object_get(sch, "maxItems");
        if (lim && json_array_size(v) > (size_t)json_integer_value(lim))
            return false;
        lim = json_object_get(sch, "minItems");
        if (lim && json_array_size(v) < (size_t)json_integer_value(lim))
            return false;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!valid(json_object_get(sch, "items"), json_array_get(v, i), root))
                return false;
        return true;
    }
    if (!json_is_object(v))
        return false;
    const json_t *props = json_object_get(sch, "properties"), *req = json_object_get(sch, "required");
    for (size_t i = 0; i < json_array_size(req); i++)
        if (!json_object_get(v, json_string_value(json_array_get(req, i))))
            return false;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        const json_t *p = json_object_get(props, key);
        if (!p || !valid(p, val, root))
            return false; // the walks' schemas allow no other keys
    }
    return true;
}

static uint64_t rng(uint64_t *x) {
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}

// Walks from the empty text, each step a random accepted byte (closing bytes
// preferred half the time, so that documents end): some byte is always
// accepted until the document is done, and the done text validates.
static void walk(const char *schema_text, uint64_t seed, int *n_done) {
    kv_json_schema *s = compile(schema_text);
    json_t *sch = json_loads(schema_text, 0, NULL);
    assert_non_null(sch);
    kv_json_match m;
    kv_json_match_init(&m, s);
    char text[4096];
    size_t n = 0;
    uint64_t x = seed;
    while (n < 3000 && !kv_json_match_done(&m)) {
        uint8_t ok[256];
        int n_ok = 0, n_close = 0;
        uint8_t close[256];
        for (int b = 1; b < 256; b++) {
            kv_json_match q;
            kv_json_match_copy(&q, &m);
            const char c = (char)b;
            if (kv_json_match_feed(&q, &c, 1)) {
                ok[n_ok++] = (uint8_t)b;
                if (strchr("\"}]:,", b))
                    close[n_close++] = (uint8_t)b;
            }
        }
        if (n_ok == 0)
            fail_msg("%s: dead end after %.*s", schema_text, (int)n, text);
        const uint8_t b = n_close > 0 && rng(&x) % 2 ? close[rng(&x) % (uint64_t)n_close]
                                                    : ok[rng(&x) % (uint64_t)n_ok];
        assert_true(kv_json_match_feed(&m, (const char *)&b, 1));
        text[n++] = (char)b;
    }
    if (kv_json_match_done(&m)) {
        (*n_done)++;
        json_error_t e;
        json_t *v = json_loadb(text, n, JSON_DECODE_ANY, &e);
        if (!v)
            fail_msg("%s: jansson: %s in %.*s", schema_text, e.text, (int)n, text);
        if (!valid(sch, v, sch))
            fail_msg("%s: invalid document %.*s", schema_text, (int)n, text);
        json_decref(v);
    }
    json_decref(sch);
    kv_json_schema_free(s);
}

static void test_random_walks(void **state) {
    (void)state;
    static const char *const SCHEMAS[] = {
        ("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":5},"
        "\"kind\":{\"enum\":[\"a\",\"b\",7]},\"tags\":{\"type\":\"array\",\"items\":{\"type\":"
        "\"integer\",\"minimum\":-5,\"maximum\":300},\"minItems\":1,\"maxItems\":4},\"x\":"
        "{\"anyOf\":[{\"type\":\"null\"},{\"type\":\"number\",\"minimum\":0,\"maximum\":2}]}},"
        "\"required\":[\"name\",\"kind\",\"tags\",\"x\"],\"additionalProperties\":false}"),
        ("{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"boolean\"},"
        "\"k\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/n\"},\"maxItems\":2}},"
        "\"required\":[\"v\"],\"additionalProperties\":false}},\"$ref\":\"#/$defs/n\"}"),
        ("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"string\",\"maxLength\":1},"
        "{\"type\":\"integer\"}]},\"maxItems\":6}"),
    };
    for (size_t i = 0; i < sizeof SCHEMAS / sizeof SCHEMAS[0]; i++) {
        int n_done = 0;
        for (uint64_t seed = 1; seed <= 30; seed++)
            walk(SCHEMAS[i], seed, &n_done);
        print_message("schema %zu: %d of 30 walks made whole documents\n", i, n_done);
        assert_true(n_done > 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),          cmocka_unit_test(test_objects),
        cmocka_unit_test(test_enum_const),     cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_any_of),         cmocka_unit_test(test_strings),
        cmocka_unit_test(test_formats),        cmocka_unit_test(test_number_bounds),
        cmocka_unit_test(test_ref_and_depth),  cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_random_walks),
    };
    return cmocka_run_group_tests_name("model_json_schema", tests, NULL, NULL);
}
