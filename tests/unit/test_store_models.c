// The model store: name parsing and checks (Ollama's rules, defaults, hostile
// names), digest checks, Modelfile parsing (each error with its line), the
// params layer's JSON, and a manifest with a hostile digest refused before any
// path is made of it.
#define _POSIX_C_SOURCE 200809L // symlink
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv_test.h"
#include "store/models.h"

static void name_ok(const char *s, const char *host, const char *ns, const char *model,
                    const char *tag) {
    kv__mname n;
    kv_err err = {0};
    if (kv__mname_parse(s, &n, &err) != KV_OK)
        fail_msg("'%s' refused: %s", s, err.msg);
    assert_string_equal(n.host, host);
    assert_string_equal(n.ns, ns);
    assert_string_equal(n.model, model);
    assert_string_equal(n.tag, tag);
}

static void name_bad(const char *s, const char *why) {
    kv__mname n;
    kv_err err = {0};
    if (kv__mname_parse(s, &n, &err) == KV_OK)
        fail_msg("'%s' accepted", s);
    assert_int_equal(err.status, KV_ERR_INVALID);
    if (!strstr(err.msg, why))
        fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, why);
}

static void test_names(void **state) {
    (void)state;
    name_ok("llama3", "registry.ollama.ai", "library", "llama3", "latest");
    name_ok("llama3:8b-q4_0", "registry.ollama.ai", "library", "llama3", "8b-q4_0");
    name_ok("me/kjv:v1.2", "registry.ollama.ai", "me", "kjv", "v1.2");
    name_ok("example.com:5000/team/m_x", "example.com:5000", "team", "m_x", "latest");
    name_ok("_x.y-z", "registry.ollama.ai", "library", "_x.y-z", "latest");
    char s80[81], s81[82], s300[301];
    memset(s80, 'a', 80), s80[80] = 0;
    memset(s81, 'a', 81), s81[81] = 0;
    memset(s300, 'a', 300), s300[300] = 0;
    name_ok(s80, "registry.ollama.ai", "library", s80, "latest");
    name_bad(s81, "at most 80");
    name_bad(s300, "at most 80");
    name_bad("", "empty");
    name_bad("../x", "namespace");
    name_bad("x/..", "model");
    name_bad("a..b", "'..'");
    name_bad("/abs", "absolute");
    name_bad("/etc/passwd", "absolute");
    name_bad("a:b:c", "more than one ':'");
    name_bad("h/n/m/x", "more than HOST/NAMESPACE/MODEL");
    name_bad("a:", "empty tag");
    name_bad(":t", "empty model");
    name_bad("a//b", "empty namespace");
    name_bad("my.ns/m", "namespace has a character");
    name_bad("m:t/x", "namespace has a character"); // ':' belongs to the host only
    name_bad("-m", "must start");
    name_bad("m:.t", "must start");
    name_bad("m x", "character not allowed");
    name_bad("m\\x", "character not allowed");
    name_bad("m\x01", "character not allowed");
    char shown[KV__MNAME_TEXT_MAX];
    kv__mname n;
    kv_err err;
    assert_int_equal(kv__mname_parse("llama3", &n, &err), KV_OK);
    kv__mname_display(&n, shown, sizeof shown);
    assert_string_equal(shown, "llama3:latest");
    assert_int_equal(kv__mname_parse("me/k:t", &n, &err), KV_OK);
    kv__mname_display(&n, shown, sizeof shown);
    assert_string_equal(shown, "me/k:t");
    assert_int_equal(kv__mname_parse("h.io/me/k", &n, &err), KV_OK);
    kv__mname_display(&n, shown, sizeof shown);
    assert_string_equal(shown, "h.io/me/k:latest");
}

static void test_digests(void **state) {
    (void)state;
    kv_err err;
    const char *good = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_int_equal(kv__digest_check(good, &err), KV_OK);
    const char *bad[] = {
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",   // 63
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", // 65
        "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",  // upper
        "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",  // '-'
        "sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:../../../../../../../../etc/passwd",
        "sha256:",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (kv__digest_check(bad[i], &err) == KV_OK)
            fail_msg("digest '%s' accepted", bad[i]);
        assert_int_equal(err.status, KV_ERR_INVALID);
    }
    char path[256];
    assert_int_equal(kv__mstore_blob_path("/s", good, path, sizeof path, &err), KV_OK);
    assert_string_equal(path, "/s/blobs/sha256-0123456789abcdef0123456789abcdef0123456789abcdef"
                              "0123456789abcdef");
    assert_int_not_equal(kv__mstore_blob_path("/s", bad[5], path, sizeof path, &err), KV_OK);
}

static void mf_ok(const char *text, kv__modelfile *mf) {
    kv_err err = {0};
    if (kv__modelfile_parse(text, strlen(text), "MF", mf, &err) != KV_OK)
        fail_msg("refused: %s", err.msg);
}

static void mf_bad(const char *text, const char *msg) {
    kv__modelfile mf;
    kv_err err = {0};
    if (kv__modelfile_parse(text, strlen(text), "MF", &mf, &err) == KV_OK)
        fail_msg("accepted: %s", text);
    if (!strstr(err.msg, msg))
        fail_msg("message '%s' lacks '%s'", err.msg, msg);
}

static void test_modelfile(void **state) {
    (void)state;
    kv__modelfile mf;
    mf_ok("# a comment\n\nfrom ./m.gguf  \nPARAMETER temperature 0.7\nparameter stop \"<|end|>\"\n"
          "PARAMETER stop END\nTEMPLATE \"\"\"{{ .System }}\n{{ .Prompt }}\"\"\"\nSYSTEM \"be "
          "brief\"\nLICENSE \"\"\"MIT\n\nlicense\"\"\"\n",
          &mf);
    assert_string_equal(mf.from, "./m.gguf");
    assert_int_equal(mf.from_line, 3);
    assert_string_equal(mf.tmpl, "{{ .System }}\n{{ .Prompt }}");
    assert_string_equal(mf.system, "be brief");
    assert_string_equal(mf.license, "MIT\n\nlicense");
    assert_int_equal(mf.n_params, 3);
    assert_string_equal(mf.params[1].key, "stop");
    assert_string_equal(mf.params[1].value, "<|end|>");
    assert_int_equal(mf.params[2].line, 6);
    char *json = NULL;
    kv_err err;
    assert_int_equal(kv__modelfile_params_json(&mf, "MF", &json, &err), KV_OK);
    assert_string_equal(json, "{\"stop\":[\"<|end|>\",\"END\"],\"temperature\":0.7}");
    free(json);
    kv__modelfile_free(&mf);

    // Each error names its line.
    mf_bad("FROM x\nBOGUS y\n", "MF:2: unknown instruction 'BOGUS'");
    mf_bad("FROM x\n\n\nADAPTER a.bin\n", "MF:4: ADAPTER is not supported");
    mf_bad("FROM x\nMESSAGE tool hi\n", "MF:2: MESSAGE: unknown role 'tool'");
    mf_bad("FROM x\nMESSAGE user\n", "MF:2: MESSAGE needs a value");
    mf_bad("FROM x\nFROM y\n", "MF:2: a second FROM");
    mf_bad("FROM\n", "MF:1: FROM needs a value");
    mf_bad("# c\nFROM \"\"\n", "MF:2: FROM needs a value"); // found by fuzz_modelfile
    mf_bad("FROM x\nSYSTEM \"\"\"open\n\nstill\n", "MF:2: SYSTEM: \"\"\" is not closed");
    mf_bad("FROM x\nSYSTEM \"half\nx\"\n", "MF:2: SYSTEM: '\"' is not closed");
    mf_bad("FROM x\nSYSTEM \"\"\"a\nb\"\"\" junk\n", "MF:3: SYSTEM: text after the closing");
    mf_bad("FROM x\nPARAMETER\n", "MF:2: PARAMETER needs a name and a value");
    mf_bad("FROM x\nPARAMETER top_k\n", "MF:2: PARAMETER needs a value");
    mf_bad("PARAMETER top_k 3\n", "MF: no FROM");
    mf_bad("", "MF: no FROM");
    const char nul[] = "FROM x\nSYSTEM a\0b\n";
    assert_int_not_equal(kv__modelfile_parse(nul, sizeof nul - 1, "MF", &mf, &err), KV_OK);
    assert_non_null(strstr(err.msg, "MF:2: a NUL byte"));

    // Parameters are typed when the params layer is made.
    const struct {
        const char *text, *msg;
    } params[] = {
        {"FROM x\n\nPARAMETER colour red\n", "MF:3: unknown parameter 'colour'"},
        {"FROM x\nPARAMETER top_k 2.5\n", "MF:2: top_k: '2.5' is not an integer"},
        {"FROM x\nPARAMETER temperature hot\n", "MF:2: temperature: 'hot' is not a number"},
        {"FROM x\nPARAMETER temperature nan\n", "MF:2: temperature: 'nan' is not a number"},
        {"FROM x\nPARAMETER use_mmap yes\n", "MF:2: use_mmap: 'yes' is not true or false"},
    };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        mf_ok(params[i].text, &mf);
        assert_int_not_equal(kv__modelfile_params_json(&mf, "MF", &json, &err), KV_OK);
        if (!strstr(err.msg, params[i].msg))
            fail_msg("message '%s' lacks '%s'", err.msg, params[i].msg);
        assert_null(json);
        kv__modelfile_free(&mf);
    }
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

// A manifest whose layer digest walks out of the store is refused as a whole.
static void test_hostile_manifest(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    char p[1024];
    const char *parts[] = {"manifests", "registry.ollama.ai", "library", "m"};
    snprintf(p, sizeof p, "%s", dir);
    for (int i = 0; i < 4; i++) {
        strcat(p, "/");
        strcat(p, parts[i]);
        assert_int_equal(mkdir(p, 0755), 0);
    }
    char mpath[1100];
    snprintf(mpath, sizeof mpath, "%s/latest", p);
    write_file(mpath, "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:"
                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
                      "\"size\":1},\"layers\":[{\"mediaType\":\"application/vnd.ollama.image."
                      "model\",\"digest\":\"sha256:../../../etc/passwd\",\"size\":1}]}");
    kv__mname n;
    kv__manifest m;
    kv_err err;
    assert_int_equal(kv__mname_parse("m", &n, &err), KV_OK);
    assert_int_equal(kv__mstore_read(dir, &n, &m, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "layers[0]"));
    char out[1024];
    assert_int_not_equal(kv__mstore_model_path(dir, "m", out, sizeof out, &err), KV_OK);
    kv__manifest *v = NULL;
    size_t nv = 9;
    assert_int_equal(kv__mstore_list(dir, &v, &nv, &err), KV_OK);
    assert_int_equal(nv, 0); // skipped, not listed
    free(v);
    // Too large a manifest is refused before it is parsed.
    FILE *f = fopen(mpath, "w");
    assert_non_null(f);
    for (size_t i = 0; i < KV__MANIFEST_MAX + 1; i++)
        fputc(' ', f);
    fclose(f);
    assert_int_equal(kv__mstore_read(dir, &n, &m, &err), KV_ERR_LIMIT);
    // A link in the manifest's path is not followed.
    unlink(mpath);
    assert_int_equal(symlink("/etc/passwd", mpath), 0);
    assert_int_equal(kv__mstore_read(dir, &n, &m, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "symbolic link"));
    kv_test_rmdir(dir);
}

// Names compare ignoring ASCII case: a part missing as typed is the stored
// spelling (the first by byte order when two differ only in case); a link
// found that way is still refused.
static void test_case_insensitive(void **state) {
    (void)state;
    char *dir = kv_test_tmpdir();
    char p[1024];
    const char *parts[] = {"manifests", "registry.ollama.ai", "library", "Kjv"};
    snprintf(p, sizeof p, "%s", dir);
    for (int i = 0; i < 4; i++) {
        strcat(p, "/");
        strcat(p, parts[i]);
        assert_int_equal(mkdir(p, 0755), 0);
    }
    char mpath[1100];
    snprintf(mpath, sizeof mpath, "%s/v1", p);
    write_file(mpath, "{}");
    kv__mname n;
    kv_err err;
    assert_int_equal(kv__mname_parse("KJV:V1", &n, &err), KV_OK);
    kv__mstore_canonical(dir, &n);
    assert_string_equal(n.model, "Kjv");
    assert_string_equal(n.tag, "v1");
    assert_string_equal(n.ns, "library");
    assert_int_equal(kv__mname_parse("kjv:v2", &n, &err), KV_OK);
    kv__mstore_canonical(dir, &n); // the model is there, the tag is not
    assert_string_equal(n.model, "Kjv");
    assert_string_equal(n.tag, "v2");
    assert_int_equal(kv__mname_parse("kjx:v1", &n, &err), KV_OK);
    kv__mstore_canonical(dir, &n);
    assert_string_equal(n.model, "kjx");
    // two spellings: the first by byte order ("KJV" < "Kjv")
    snprintf(p + strlen(p) - 3, 8, "KJV");
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(kv__mname_parse("kjv:v1", &n, &err), KV_OK);
    kv__mstore_canonical(dir, &n);
    assert_string_equal(n.model, "KJV");
    // found in another case, a link is still not followed
    snprintf(mpath, sizeof mpath, "%s/V9", p);
    assert_int_equal(symlink("/etc/passwd", mpath), 0);
    kv__manifest m;
    assert_int_equal(kv__mname_parse("KJV:v9", &n, &err), KV_OK);
    assert_int_equal(kv__mstore_read(dir, &n, &m, &err), KV_ERR_INVALID);
    assert_non_null(strstr(err.msg, "symbolic link"));
    kv_test_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_digests),
        cmocka_unit_test(test_modelfile),
        cmocka_unit_test(test_hostile_manifest),
        cmocka_unit_test(test_case_insensitive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
