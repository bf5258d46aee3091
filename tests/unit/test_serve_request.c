// Request validation: each endpoint's fields and defaults, and errors that name
// the bad field (or, for malformed JSON, the line and column).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kv_test.h"
#include "serve/request_int.h"

static kv_status parse(kv__endpoint ep, const char *body, kv__req *r, kv_err *err) {
    return kv__req_parse(ep, body, strlen(body), r, err);
}

// body must fail on ep with status st and a message containing frag.
static void expect_fail(kv__endpoint ep, const char *body, kv_status st, const char *frag) {
    kv__req r;
    kv_err err;
    kv_err_clear(&err);
    kv_status got = parse(ep, body, &r, &err);
    if (got != st || !strstr(err.msg, frag))
        print_error("body %s: status %d (want %d), message '%s' (want '%s')\n", body, got, st,
                    err.msg, frag);
    assert_int_equal(got, st);
    assert_non_null(strstr(err.msg, frag));
    assert_null(r.root); // nothing is left to free
}

static void test_generate(void **state) {
    (void)state;
    kv__req r;
    kv_err err;
    assert_int_equal(parse(KV__EP_GENERATE,
                           "{\"model\":\"kjv\",\"prompt\":\"In the beginning\",\"system\":\"s\","
                           "\"raw\":true,\"format\":\"json\",\"keep_alive\":\"1m\",\"options\":{"
                           "\"temperature\":0,\"top_k\":5,\"top_p\":0.5,\"min_p\":0.1,\"seed\":42,"
                           "\"num_predict\":7,\"num_ctx\":256,\"stop\":[\"\\n\",\"Amen\"],"
                           "\"repeat_penalty\":1.1,\"num_gpu\":99}}",
                           &r, &err),
                     KV_OK);
    assert_string_equal(r.model, "kjv");
    assert_string_equal(r.prompt, "In the beginning");
    assert_string_equal(r.system, "s");
    assert_true(r.stream); // Ollama streams unless told not to
    assert_true(r.raw);
    assert_true(r.format_json);
    assert_true(r.keep_alive_set && r.keep_alive_s == 60);
    assert_true(r.smp.temp == 0 && r.smp.top_k == 5 && r.smp.top_p == 0.5f);
    assert_true(r.smp.min_p == 0.1f && r.smp.repeat_penalty == 1.1f);
    assert_true(r.smp.seed_set && r.smp.seed == 42);
    assert_int_equal(r.n_predict, 7);
    assert_int_equal(r.n_ctx, 256);
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[1], "Amen");
    kv__req_free(&r);
    // defaults
    assert_int_equal(parse(KV__EP_GENERATE, "{\"model\":\"kjv\"}", &r, &err), KV_OK);
    assert_null(r.prompt);
    assert_int_equal(r.n_predict, -1);
    assert_false(r.smp.seed_set);
    assert_false(r.keep_alive_set);
    assert_true(r.smp.temp > 0.79f && r.smp.temp < 0.81f);
    kv__req_free(&r);
    // a negative seed asks for a random one; num_predict < 0 means unlimited
    assert_int_equal(parse(KV__EP_GENERATE,
                           "{\"model\":\"m\",\"options\":{\"seed\":-1,\"num_predict\":-2}}", &r,
                           &err),
                     KV_OK);
    assert_false(r.smp.seed_set);
    assert_int_equal(r.n_predict, -1);
    assert_int_equal(r.n_keep, -2); // not given: truncation keeps BOS alone
    kv__req_free(&r);
    // num_ctx below 4 reads as 4, as in Ollama: a prompt token and a reply need room
    for (int n = 1; n <= 4; n++) {
        char body[128];
        snprintf(body, sizeof body, "{\"model\":\"m\",\"options\":{\"num_ctx\":%d}}", n);
        assert_int_equal(parse(KV__EP_GENERATE, body, &r, &err), KV_OK);
        assert_int_equal(r.n_ctx, KV__MIN_CTX);
        kv__req_free(&r);
    }
    assert_int_equal(parse(KV__EP_CHAT, "{\"model\":\"m\",\"options\":{\"num_keep\":-1}}", &r,
                           &err),
                     KV_OK);
    assert_int_equal(r.n_keep, -1);
    kv__req_free(&r);
}

static void test_bad_fields(void **state) {
    (void)state;
    const kv_status BAD = KV_ERR_INVALID;
    expect_fail(KV__EP_GENERATE, "{\"prompt\":\"x\"}", BAD, "field 'model' is required");
    expect_fail(KV__EP_GENERATE, "{\"model\":3}", BAD, "field 'model'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"\"}", BAD, "field 'model'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"stream\":\"yes\"}", BAD, "field 'stream'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":[]}", BAD, "field 'options'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"temperature\":\"hot\"}}", BAD,
                "field 'options.temperature'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"temperature\":-1}}", BAD,
                "field 'options.temperature'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"top_k\":1.5}}", BAD,
                "field 'options.top_k'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"top_p\":2}}", BAD,
                "field 'options.top_p'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"num_ctx\":0}}", BAD,
                "field 'options.num_ctx'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"num_ctx\":-1}}", BAD,
                "field 'options.num_ctx'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"num_ctx\":1e19}}", BAD,
                "field 'options.num_ctx'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"num_ctx\":\"8\"}}", BAD,
                "field 'options.num_ctx'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"num_keep\":-2}}", BAD,
                "field 'options.num_keep'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"num_keep\":[]}}", BAD,
                "field 'options.num_keep'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"num_predict\":1.5}}", BAD,
                "field 'options.num_predict'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"stop\":[1]}}", BAD,
                "field 'options.stop[0]'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"keep_alive\":\"soon\"}", BAD,
                "field 'keep_alive'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"format\":\"xml\"}", BAD, "field 'format'");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"images\":[\"aGk=\"]}", KV_ERR_UNSUPPORTED,
                "field 'images'");
    expect_fail(KV__EP_GENERATE, "[1,2]", BAD, "must be a JSON object");
    expect_fail(KV__EP_CHAT, "{\"model\":\"m\",\"messages\":{}}", BAD, "field 'messages'");
    expect_fail(KV__EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", BAD,
                "field 'messages[0].role' is required");
    expect_fail(KV__EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"king\"}]}", BAD,
                "field 'messages[0].role'");
    expect_fail(KV__EP_CHAT,
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
                "{\"role\":\"user\",\"content\":7}]}",
                BAD, "field 'messages[1].content'");
    expect_fail(KV__EP_EMBED, "{\"model\":\"m\"}", BAD, "field 'input' is required");
    expect_fail(KV__EP_EMBED, "{\"model\":\"m\",\"input\":[\"a\",2]}", BAD, "field 'input[1]'");
    expect_fail(KV__EP_EMBED, "{\"model\":\"m\",\"input\":[]}", BAD, "field 'input'");
}

static void test_malformed_json(void **state) {
    (void)state;
    expect_fail(KV__EP_GENERATE, "{\"model\": \"m\",\n \"prompt\": }", KV_ERR_FORMAT,
                "line 2, column");
    expect_fail(KV__EP_GENERATE, "", KV_ERR_FORMAT, "invalid JSON at line 1");
    expect_fail(KV__EP_GENERATE, "{\"model\":\"a\",\"model\":\"b\"}", KV_ERR_FORMAT, "duplicate");
}

static void test_chat(void **state) {
    (void)state;
    kv__req r;
    kv_err err;
    assert_int_equal(parse(KV__EP_CHAT,
                           "{\"model\":\"m\",\"stream\":false,\"messages\":[{\"role\":\"system\","
                           "\"content\":\"s\"},{\"role\":\"user\",\"content\":\"u\"},{\"role\":"
                           "\"assistant\",\"content\":null}]}",
                           &r, &err),
                     KV_OK);
    assert_false(r.stream);
    assert_int_equal(r.n_msgs, 3);
    assert_int_equal(r.msgs[0].role, KV_CHAT_ROLE_SYSTEM);
    assert_string_equal(r.msgs[1].content, "u");
    assert_string_equal(r.msgs[2].content, "");
    kv__req_free(&r);
    // Ollama allows no messages (it loads the model)
    assert_int_equal(parse(KV__EP_CHAT, "{\"model\":\"m\",\"messages\":[]}", &r, &err), KV_OK);
    assert_int_equal(r.n_msgs, 0);
    kv__req_free(&r);
}

static void test_openai(void **state) {
    (void)state;
    kv__req r;
    kv_err err;
    assert_int_equal(parse(KV__EP_OAI_CHAT,
                           "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":"
                           "\"d\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                           "\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],\"max_tokens\":9,"
                           "\"temperature\":0.5,\"top_p\":0.9,\"seed\":3,\"stop\":\"END\","
                           "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                           "\"n\":1,\"response_format\":{\"type\":\"json_object\"}}",
                           &r, &err),
                     KV_OK);
    assert_int_equal(r.msgs[0].role, KV_CHAT_ROLE_SYSTEM);
    assert_string_equal(r.msgs[1].content, "ab");
    assert_int_equal(r.n_predict, 9);
    assert_true(r.stream && r.stream_usage && r.format_json);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "END");
    assert_true(r.smp.seed_set && r.smp.seed == 3);
    kv__req_free(&r);
    assert_int_equal(parse(KV__EP_OAI_COMPLETE, "{\"model\":\"m\",\"prompt\":[\"p\"]}", &r, &err),
                     KV_OK);
    assert_false(r.stream); // OpenAI does not stream unless asked
    assert_string_equal(r.prompt, "p");
    kv__req_free(&r);
    assert_int_equal(parse(KV__EP_OAI_EMBED,
                           "{\"model\":\"m\",\"input\":[\"a\",\"b\"],\"encoding_format\":"
                           "\"base64\"}",
                           &r, &err),
                     KV_OK);
    assert_int_equal(r.n_inputs, 2);
    assert_true(r.b64);
    kv__req_free(&r);
    expect_fail(KV__EP_OAI_CHAT, "{\"model\":\"m\",\"messages\":[]}", KV_ERR_INVALID,
                "field 'messages'");
    expect_fail(KV__EP_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"n\":2}",
                KV_ERR_UNSUPPORTED, "field 'n'");
    expect_fail(KV__EP_OAI_CHAT,
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"temperature\":3}",
                KV_ERR_INVALID, "field 'temperature'");
    expect_fail(KV__EP_OAI_CHAT,
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                "\"image_url\"}]}]}",
                KV_ERR_UNSUPPORTED, "field 'messages[0].content[0].type'");
    expect_fail(KV__EP_OAI_COMPLETE, "{\"model\":\"m\"}", KV_ERR_INVALID, "field 'prompt'");
    expect_fail(KV__EP_OAI_COMPLETE, "{\"model\":\"m\",\"prompt\":\"p\",\"echo\":true}",
                KV_ERR_UNSUPPORTED, "field 'echo'");
    expect_fail(KV__EP_OAI_EMBED, "{\"model\":\"m\",\"input\":\"a\",\"encoding_format\":\"hex\"}",
                KV_ERR_INVALID, "field 'encoding_format'");
    expect_fail(KV__EP_OAI_EMBED, "{\"model\":\"m\",\"input\":[[1,2]]}", KV_ERR_UNSUPPORTED,
                "field 'input[0]'");
}

// Speculative decoding: Ollama's options and the OpenAI extension object.
static void test_speculative(void **state) {
    (void)state;
    kv__req r;
    kv_err err;
    assert_int_equal(parse(KV__EP_GENERATE, "{\"model\":\"kjv\"}", &r, &err), KV_OK);
    assert_int_equal(r.draft, -1); // not given: the model's draft when it has one
    assert_int_equal(r.lookup, 0);
    assert_int_equal(r.draft_max, 8);
    kv__req_free(&r);
    assert_int_equal(parse(KV__EP_GENERATE,
                           "{\"model\":\"kjv\",\"options\":{\"draft\":false,\"lookup\":3}}", &r,
                           &err),
                     KV_OK);
    assert_int_equal(r.draft, 0);
    assert_int_equal(r.lookup, 3);
    kv__req_free(&r);
    assert_int_equal(parse(KV__EP_OAI_COMPLETE,
                           "{\"model\":\"kjv\",\"prompt\":\"x\",\"speculative\":{\"draft\":true,"
                           "\"draft_max\":16}}",
                           &r, &err),
                     KV_OK);
    assert_int_equal(r.draft, 1);
    assert_int_equal(r.draft_max, 16);
    kv__req_free(&r);
    assert_int_equal(parse(KV__EP_OAI_CHAT,
                           "{\"model\":\"kjv\",\"messages\":[{\"role\":\"user\",\"content\":"
                           "\"x\"}],\"speculative\":{\"lookup\":16,\"draft_max\":64}}",
                           &r, &err),
                     KV_OK);
    assert_int_equal(r.lookup, 16);
    assert_int_equal(r.draft_max, 64);
    kv__req_free(&r);
    expect_fail(KV__EP_GENERATE, "{\"model\":\"m\",\"options\":{\"draft\":true,\"lookup\":1}}",
                KV_ERR_INVALID, "options.draft");
    expect_fail(KV__EP_CHAT, "{\"model\":\"m\",\"options\":{\"draft\":\"on\"}}", KV_ERR_INVALID,
                "options.draft");
    expect_fail(KV__EP_OAI_COMPLETE, "{\"model\":\"m\",\"prompt\":\"x\",\"speculative\":1}",
                KV_ERR_INVALID, "'speculative'");
    expect_fail(KV__EP_OAI_COMPLETE,
                "{\"model\":\"m\",\"prompt\":\"x\",\"speculative\":{\"lookup\":17}}",
                KV_ERR_INVALID, "speculative.lookup");
    expect_fail(KV__EP_OAI_CHAT,
                "{\"model\":\"m\",\"messages\":[],\"speculative\":{\"draft_max\":0}}",
                KV_ERR_INVALID, "speculative.draft_max");
    expect_fail(KV__EP_OAI_CHAT,
                "{\"model\":\"m\",\"messages\":[],\"speculative\":{\"n_gram\":2}}",
                KV_ERR_INVALID, "speculative.n_gram");
}

static void test_show(void **state) {
    (void)state;
    kv__req r;
    kv_err err;
    assert_int_equal(parse(KV__EP_SHOW, "{\"name\":\"kjv\"}", &r, &err), KV_OK);
    assert_string_equal(r.model, "kjv");
    kv__req_free(&r);
    expect_fail(KV__EP_SHOW, "{}", KV_ERR_INVALID, "field 'model'");
}

// JSON schemas (Ollama's format, OpenAI's response_format json_schema) are
// compiled while the request is parsed; what kvant does not enforce is a 400
// naming the field and the keyword.
static void test_schemas(void **state) {
    (void)state;
    kv__req r;
    kv_err err;
    assert_int_equal(parse(KV__EP_CHAT,
                           "{\"model\":\"kjv\",\"messages\":[],\"format\":{\"type\":\"object\","
                           "\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}}",
                           &r, &err),
                     KV_OK);
    assert_true(r.format_json);
    assert_non_null(r.schema);
    kv__req_free(&r);
    assert_null(r.schema);
    assert_int_equal(parse(KV__EP_GENERATE, "{\"model\":\"kjv\",\"format\":\"json\"}", &r, &err),
                     KV_OK);
    assert_true(r.format_json);
    assert_null(r.schema); // "json": any object, the old automaton
    kv__req_free(&r);
    assert_int_equal(parse(KV__EP_OAI_CHAT,
                           "{\"model\":\"kjv\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
                           "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
                           "\"name\":\"x\",\"strict\":true,\"schema\":{\"enum\":[1,2]}}}}",
                           &r, &err),
                     KV_OK);
    assert_true(r.format_json && r.schema);
    kv__req_free(&r);
    expect_fail(KV__EP_GENERATE,
                "{\"model\":\"kjv\",\"format\":{\"properties\":{\"x\":{\"pattern\":\"a\"}}}}",
                KV_ERR_INVALID,
                "field 'format': unsupported JSON schema keyword \"pattern\" at /properties/x");
    expect_fail(KV__EP_OAI_COMPLETE,
                "{\"model\":\"kjv\",\"prompt\":\"a\",\"response_format\":{\"type\":"
                "\"json_schema\",\"json_schema\":{\"schema\":{\"type\":7}}}}",
                KV_ERR_INVALID, "field 'response_format.json_schema.schema': JSON schema keyword");
    expect_fail(KV__EP_OAI_CHAT,
                "{\"model\":\"kjv\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
                "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":[]}}",
                KV_ERR_INVALID, "field 'response_format.json_schema': expected an object");
}

// A store model's Modelfile defaults: its options first, the request's replace
// them key by key (a stop list whole); its system where the request has none;
// bad stored options are dropped whole, never failing the request.
static void test_defaults(void **state) {
    (void)state;
    const char *defs = "{\"system\":\"S\",\"template\":\"{{ .Prompt }}\",\"options\":{"
                       "\"temperature\":0,\"num_predict\":5,\"top_k\":3,\"stop\":[\"Amen\"]}}";
    kv__req r;
    kv_err err;
    const char *chat = "{\"model\":\"kjv\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
                       "\"options\":{\"num_predict\":3,\"stop\":[\"x\",\"y\"]}}";
    assert_int_equal(kv__req_parse_with(KV__EP_CHAT, chat, strlen(chat), json_loads(defs, 0, NULL),
                                        &r, &err),
                     KV_OK);
    assert_true(r.smp.temp == 0.0f);
    assert_int_equal(r.smp.top_k, 3);
    assert_int_equal(r.n_predict, 3);
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[0], "x");
    assert_int_equal(r.n_msgs, 2);
    assert_int_equal(r.msgs[0].role, KV_CHAT_ROLE_SYSTEM);
    assert_string_equal(r.msgs[0].content, "S");
    assert_string_equal(r.gotmpl, "{{ .Prompt }}");
    assert_false(r.defaults_bad);
    kv__req_free(&r);
    // the request's own system message stays alone; stored stops apply
    const char *chat2 = "{\"model\":\"kjv\",\"messages\":[{\"role\":\"system\",\"content\":"
                        "\"mine\"},{\"role\":\"user\",\"content\":\"a\"}]}";
    assert_int_equal(kv__req_parse_with(KV__EP_CHAT, chat2, strlen(chat2),
                                        json_loads(defs, 0, NULL), &r, &err),
                     KV_OK);
    assert_int_equal(r.n_msgs, 2);
    assert_string_equal(r.msgs[0].content, "mine");
    assert_int_equal(r.n_predict, 5);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "Amen");
    kv__req_free(&r);
    // generate: system unless given or raw
    const char *gen = "{\"model\":\"kjv\",\"prompt\":\"p\"}";
    assert_int_equal(kv__req_parse_with(KV__EP_GENERATE, gen, strlen(gen),
                                        json_loads(defs, 0, NULL), &r, &err),
                     KV_OK);
    assert_string_equal(r.system, "S");
    kv__req_free(&r);
    const char *raw = "{\"model\":\"kjv\",\"prompt\":\"p\",\"raw\":true}";
    assert_int_equal(kv__req_parse_with(KV__EP_GENERATE, raw, strlen(raw),
                                        json_loads(defs, 0, NULL), &r, &err),
                     KV_OK);
    assert_null(r.system);
    kv__req_free(&r);
    // hostile stored options: dropped whole, the request parses with the server's defaults
    const char *bad = "{\"options\":{\"temperature\":\"hot\",\"num_predict\":1e300,"
                      "\"stop\":[1]}}";
    assert_int_equal(kv__req_parse_with(KV__EP_GENERATE, gen, strlen(gen),
                                        json_loads(bad, 0, NULL), &r, &err),
                     KV_OK);
    assert_true(r.defaults_bad);
    assert_int_equal(r.n_predict, -1);
    assert_true(fabsf(r.smp.temp - 0.8f) < 1e-6f);
    kv__req_free(&r);
    // a request that fails still frees the defaults (ASan checks)
    assert_int_equal(kv__req_parse_with(KV__EP_GENERATE, "{", 1, json_loads(defs, 0, NULL), &r,
                                        &err),
                     KV_ERR_FORMAT);
    assert_int_equal(kv__req_parse_with(KV__EP_GENERATE, "{\"model\":1}", 11,
                                        json_loads(defs, 0, NULL), &r, &err),
                     KV_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schemas),        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_generate),       cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_malformed_json), cmocka_unit_test(test_chat),
        cmocka_unit_test(test_openai),         cmocka_unit_test(test_show),
        cmocka_unit_test(test_speculative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
