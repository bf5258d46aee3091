// A model's own chat template (tokenizer.chat_template) rendered for its
// tokenizer: the BOS and EOS texts come from the vocabulary, and a BOS the
// template writes is not doubled by the tokenizer's own.
#include "kvant/kv_jinja.h"

#include <string.h>

kv_status kv_jinja_from_gguf(const kv_gguf *g, kv_jinja **out, kv_err *err) {
    *out = NULL;
    kv_str s;
    if (!g || kv_gguf_get_str(g, "tokenizer.chat_template", &s, NULL) != KV_OK)
        return KV_OK;
    return kv_jinja_parse(s.p, s.n, "tokenizer.chat_template", out, err);
}

kv_status kv_jinja_render_vocab(const kv_jinja *t, const kv_vocab *v, const kv_chat_msg *msgs,
                                size_t n_msgs, bool add_generation_prompt, char **out,
                                size_t *out_len, kv_err *err) {
    kv_token bos_id = kv_vocab_bos(v), eos_id = kv_vocab_eos(v);
    const char *bos = bos_id >= 0 ? kv_vocab_text(v, bos_id, NULL) : NULL;
    const char *eos = eos_id >= 0 ? kv_vocab_text(v, eos_id, NULL) : NULL;
    size_t len = 0;
    kv_status st = kv_jinja_render_chat(t, msgs, n_msgs, add_generation_prompt, bos, eos, NULL,
                                        out, &len, err);
    size_t bos_n = bos ? strlen(bos) : 0;
    if (st == KV_OK && kv_vocab_add_bos(v) && bos_n > 0 && len >= bos_n &&
        memcmp(*out, bos, bos_n) == 0) {
        memmove(*out, *out + bos_n, len - bos_n + 1);
        len -= bos_n;
    }
    if (out_len)
        *out_len = len;
    return st;
}
