// Chat templates without a Jinja engine: a model's tokenizer.chat_template is
// recognised as one of the common families by its distinctive markers (the
// approach llama.cpp takes), and messages are rendered in that family's format.
// Unknown templates fall back to a plain "System:/User:/Assistant:" transcript.
#include "serve/serve_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *const NAMES[KV__TMPL_COUNT] = {
    [KV__TMPL_PLAIN] = "plain",   [KV__TMPL_LLAMA2] = "llama2",   [KV__TMPL_LLAMA3] = "llama3",
    [KV__TMPL_CHATML] = "chatml", [KV__TMPL_MISTRAL] = "mistral", [KV__TMPL_GEMMA] = "gemma",
    [KV__TMPL_PHI3] = "phi3",     [KV__TMPL_ZEPHYR] = "zephyr",
};

const char *kv__tmpl_name(kv__tmpl t) {
    return t < KV__TMPL_COUNT ? NAMES[t] : "plain";
}

kv_status kv__tmpl_from_name(const char *name, kv__tmpl *out, kv_err *err) {
    for (int t = 0; t < KV__TMPL_COUNT; t++)
        if (strcmp(name, NAMES[t]) == 0) {
            *out = (kv__tmpl)t;
            return KV_OK;
        }
    return KV_FAIL(err, KV_ERR_INVALID,
                   "unknown chat template '%.64s' (llama2, llama3, chatml, mistral, gemma, "
                   "phi3, zephyr or plain)",
                   name);
}

kv__tmpl kv__tmpl_detect(const char *tmpl) {
    if (!tmpl)
        return KV__TMPL_PLAIN;
    if (strstr(tmpl, "<|im_start|>"))
        return KV__TMPL_CHATML;
    if (strstr(tmpl, "<|start_header_id|>") && strstr(tmpl, "<|end_header_id|>"))
        return KV__TMPL_LLAMA3;
    if (strstr(tmpl, "<start_of_turn>"))
        return KV__TMPL_GEMMA;
    if (strstr(tmpl, "[INST]"))
        return strstr(tmpl, "<<SYS>>") ? KV__TMPL_LLAMA2 : KV__TMPL_MISTRAL;
    if (strstr(tmpl, "<|assistant|>") && strstr(tmpl, "<|end|>"))
        return KV__TMPL_PHI3;
    if (strstr(tmpl, "<|user|>") && strstr(tmpl, "<|assistant|>"))
        return KV__TMPL_ZEPHYR;
    return KV__TMPL_PLAIN;
}

// ---- rendering ----

static const char *role_name(kv__role r) {
    switch (r) {
    case KV__ROLE_SYSTEM: return "system";
    case KV__ROLE_USER: return "user";
    case KV__ROLE_ASSISTANT: return "assistant";
    case KV__ROLE_TOOL: return "tool";
    }
    return "user";
}

// Appends the pieces given (NULL-terminated) to out.
static kv_status cat(kv__buf *out, kv_err *err, const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    kv_status st = KV_OK;
    for (const char *s = first; s && st == KV_OK; s = va_arg(ap, const char *))
        st = kv__buf_adds(out, s, err);
    va_end(ap);
    return st;
}

// Appends s without leading and trailing white space.
static kv_status add_trimmed(kv__buf *out, const char *s, kv_err *err) {
    size_t a = 0, b = strlen(s);
    while (a < b && isspace((unsigned char)s[a]))
        a++;
    while (b > a && isspace((unsigned char)s[b - 1]))
        b--;
    return kv__buf_add(out, s + a, b - a, err);
}

// <|im_start|>role\ncontent<|im_end|>\n
static kv_status render_chatml(const kv__msg *m, size_t n, bool gen, kv__buf *o, kv_err *err) {
    kv_status st = KV_OK;
    for (size_t i = 0; i < n && st == KV_OK; i++)
        st = cat(o, err, "<|im_start|>", role_name(m[i].role), "\n", m[i].content, "<|im_end|>\n",
                 NULL);
    if (st == KV_OK && gen)
        st = kv__buf_adds(o, "<|im_start|>assistant\n", err);
    return st;
}

// <|start_header_id|>role<|end_header_id|>\n\ntrimmed content<|eot_id|>
static kv_status render_llama3(const kv__msg *m, size_t n, bool gen, kv__buf *o, kv_err *err) {
    kv_status st = KV_OK;
    for (size_t i = 0; i < n && st == KV_OK; i++) {
        st =
            cat(o, err, "<|start_header_id|>", role_name(m[i].role), "<|end_header_id|>\n\n", NULL);
        if (st == KV_OK)
            st = add_trimmed(o, m[i].content, err);
        if (st == KV_OK)
            st = kv__buf_adds(o, "<|eot_id|>", err);
    }
    if (st == KV_OK && gen)
        st = kv__buf_adds(o, "<|start_header_id|>assistant<|end_header_id|>\n\n", err);
    return st;
}

// [INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST]assistant</s>[INST] user [/INST]
// with every message trimmed (the official template strips content). The
// generation prompt is implicit: the text ends after [/INST].
static kv_status render_llama2(const kv__msg *m, size_t n, kv__buf *o, kv_err *err) {
    kv_status st = kv__buf_adds(o, "[INST] ", err);
    bool in_turn = true;
    for (size_t i = 0; i < n && st == KV_OK; i++) {
        if (!in_turn) {
            st = kv__buf_adds(o, "[INST] ", err);
            in_turn = true;
        }
        if (st != KV_OK)
            break;
        if (m[i].role == KV__ROLE_SYSTEM) {
            st = kv__buf_adds(o, "<<SYS>>\n", err);
            if (st == KV_OK)
                st = add_trimmed(o, m[i].content, err);
            if (st == KV_OK)
                st = kv__buf_adds(o, "\n<</SYS>>\n\n", err);
        } else if (m[i].role == KV__ROLE_ASSISTANT) {
            st = add_trimmed(o, m[i].content, err);
            if (st == KV_OK)
                st = kv__buf_adds(o, "</s>", err);
            in_turn = false;
        } else {
            st = add_trimmed(o, m[i].content, err);
            if (st == KV_OK)
                st = kv__buf_adds(o, " [/INST]", err);
        }
    }
    return st;
}

// Mistral v3: [INST] sys\n\nuser[/INST] assistant</s>[INST] user[/INST]
static kv_status render_mistral(const kv__msg *m, size_t n, kv__buf *o, kv_err *err) {
    kv_status st = KV_OK;
    bool in_turn = false;
    for (size_t i = 0; i < n && st == KV_OK; i++) {
        if (!in_turn) {
            st = kv__buf_adds(o, "[INST] ", err);
            in_turn = true;
        }
        if (st != KV_OK)
            break;
        if (m[i].role == KV__ROLE_SYSTEM) {
            st = cat(o, err, m[i].content, "\n\n", NULL);
        } else if (m[i].role == KV__ROLE_ASSISTANT) {
            st = kv__buf_adds(o, " ", err);
            if (st == KV_OK)
                st = add_trimmed(o, m[i].content, err);
            if (st == KV_OK)
                st = kv__buf_adds(o, "</s>", err);
            in_turn = false;
        } else {
            st = cat(o, err, m[i].content, "[/INST]", NULL);
        }
    }
    return st;
}

// <start_of_turn>user\n[system\n\n]content<end_of_turn>\n, "model" for the
// assistant; Gemma has no system role, so system text joins the next user turn.
static kv_status render_gemma(const kv__msg *m, size_t n, bool gen, kv__buf *o, kv_err *err) {
    kv__buf sys = {0};
    kv_status st = kv__buf_add(&sys, "", 0, err);
    for (size_t i = 0; i < n && st == KV_OK; i++) {
        if (m[i].role == KV__ROLE_SYSTEM) {
            st = add_trimmed(&sys, m[i].content, err);
            continue;
        }
        bool model = m[i].role == KV__ROLE_ASSISTANT;
        st = cat(o, err, "<start_of_turn>", model ? "model" : role_name(m[i].role), "\n", NULL);
        if (st == KV_OK && !model && sys.n > 0) {
            st = cat(o, err, sys.p, "\n\n", NULL);
            sys.n = 0;
        }
        if (st == KV_OK)
            st = add_trimmed(o, m[i].content, err);
        if (st == KV_OK)
            st = kv__buf_adds(o, "<end_of_turn>\n", err);
    }
    if (st == KV_OK && gen)
        st = kv__buf_adds(o, "<start_of_turn>model\n", err);
    kv__buf_free(&sys);
    return st;
}

// <|role|>\ncontent END\n, then <|assistant|>\n; END is <|end|> (Phi-3) or the
// model's EOS (Zephyr).
static kv_status render_tagged(const kv__msg *m, size_t n, bool gen, const char *end, kv__buf *o,
                               kv_err *err) {
    kv_status st = KV_OK;
    for (size_t i = 0; i < n && st == KV_OK; i++)
        st = cat(o, err, "<|", role_name(m[i].role), "|>\n", m[i].content, end, "\n", NULL);
    if (st == KV_OK && gen)
        st = kv__buf_adds(o, "<|assistant|>\n", err);
    return st;
}

// System: ...\nUser: ...\nAssistant: ...\n then "Assistant:".
static kv_status render_plain(const kv__msg *m, size_t n, bool gen, kv__buf *o, kv_err *err) {
    static const char *const LABEL[] = {[KV__ROLE_SYSTEM] = "System: ",
                                        [KV__ROLE_USER] = "User: ",
                                        [KV__ROLE_ASSISTANT] = "Assistant: ",
                                        [KV__ROLE_TOOL] = "Tool: "};
    kv_status st = KV_OK;
    for (size_t i = 0; i < n && st == KV_OK; i++)
        st = cat(o, err, LABEL[m[i].role], m[i].content, "\n", NULL);
    if (st == KV_OK && gen)
        st = kv__buf_adds(o, "Assistant:", err);
    return st;
}

kv_status kv__tmpl_render(kv__tmpl t, const kv__msg *msgs, size_t n_msgs, bool add_generation,
                          const char *eos, kv__buf *out, kv_err *err) {
    kv_status st = kv__buf_add(out, "", 0, err); // an empty chat renders as ""
    if (st != KV_OK)
        return st;
    switch (t) {
    case KV__TMPL_CHATML: return render_chatml(msgs, n_msgs, add_generation, out, err);
    case KV__TMPL_LLAMA3: return render_llama3(msgs, n_msgs, add_generation, out, err);
    case KV__TMPL_LLAMA2: return render_llama2(msgs, n_msgs, out, err);
    case KV__TMPL_MISTRAL: return render_mistral(msgs, n_msgs, out, err);
    case KV__TMPL_GEMMA: return render_gemma(msgs, n_msgs, add_generation, out, err);
    case KV__TMPL_PHI3: return render_tagged(msgs, n_msgs, add_generation, "<|end|>", out, err);
    case KV__TMPL_ZEPHYR:
        return render_tagged(msgs, n_msgs, add_generation, eos ? eos : "</s>", out, err);
    default: return render_plain(msgs, n_msgs, add_generation, out, err);
    }
}
