// ONNX validation: the nesting bound checked on the wire before unpacking, and
// the graph checks (dangling inputs, domains without an opset, empty graphs).
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_int.h"

#define MAX_PROBLEMS 20 // listed; the rest are counted in one last line

// ---- wire walk ----

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

bool kv__onnx_depth_ok(const uint8_t *p, size_t n, const ProtobufCMessageDescriptor *d,
                       int max_depth) {
    if (max_depth < 0)
        return false;
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t tag, v;
        if (!varint(&p, end, &tag))
            return true; // malformed: the unpack says so
        switch (tag & 7) {
        case 0:
            if (!varint(&p, end, &v))
                return true;
            break;
        case 1:
            if ((size_t)(end - p) < 8)
                return true;
            p += 8;
            break;
        case 5:
            if ((size_t)(end - p) < 4)
                return true;
            p += 4;
            break;
        case 2: {
            if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
                return true;
            uint64_t id = tag >> 3;
            const ProtobufCFieldDescriptor *f =
                id <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)id) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                !kv__onnx_depth_ok(p, (size_t)v, f->descriptor, max_depth - 1))
                return false;
            p += v;
            break;
        }
        default: return true; // groups and bad wire types: the unpack rejects them
        }
    }
    return true;
}

// ---- problems ----

bool kv__onnx_problem(kv_onnx_info *info, const char *fmt, ...) {
    if (info->n_problems > MAX_PROBLEMS)
        return true;
    char buf[512];
    if (info->n_problems == MAX_PROBLEMS) {
        snprintf(buf, sizeof buf, "(more problems not listed)");
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
    }
    char **np = realloc(info->problems, (size_t)(info->n_problems + 1) * sizeof *np);
    if (!np)
        return false;
    info->problems = np;
    if (!(np[info->n_problems] = kv__onnx_dup(buf)))
        return false;
    info->n_problems++;
    return true;
}

// ---- a set of borrowed strings (open addressing) ----

typedef struct {
    const char **slot;
    size_t mask;
} strset;

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static bool set_init(strset *s, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 1)
        cap *= 2;
    s->slot = calloc(cap, sizeof *s->slot);
    s->mask = cap - 1;
    return s->slot != NULL;
}

static bool set_has(const strset *s, const char *k) {
    for (size_t i = hash(k) & s->mask;; i = (i + 1) & s->mask) {
        if (!s->slot[i])
            return false;
        if (!strcmp(s->slot[i], k))
            return true;
    }
}

static void set_add(strset *s, const char *k) {
    for (size_t i = hash(k) & s->mask;; i = (i + 1) & s->mask) {
        if (!s->slot[i]) {
            s->slot[i] = k;
            return;
        }
        if (!strcmp(s->slot[i], k))
            return;
    }
}

// ---- graph checks ----

static bool same_domain(const char *a, const char *b) {
    if (!strcmp(a, "ai.onnx"))
        a = "";
    if (!strcmp(b, "ai.onnx"))
        b = "";
    return !strcmp(a, b);
}

bool kv__onnx_check_graph(const Onnx__ModelProto *m, kv_onnx_info *info) {
    const Onnx__GraphProto *g = m->graph;
    if (!g)
        return kv__onnx_problem(info, "the model has no graph");
    if (g->n_node == 0 && !kv__onnx_problem(info, "the graph has no nodes"))
        return false;
    if (m->n_opset_import == 0 && !kv__onnx_problem(info, "the model imports no opset"))
        return false;
    size_t n = g->n_input + g->n_initializer + g->n_sparse_initializer;
    for (size_t i = 0; i < g->n_node; i++)
        n += g->node[i]->n_output;
    strset known, missing; // names defined so far; domains already reported
    if (!set_init(&known, n))
        return false;
    if (!set_init(&missing, g->n_node)) {
        free(known.slot);
        return false;
    }
    for (size_t i = 0; i < g->n_input; i++)
        set_add(&known, kv__onnx_s(g->input[i]->name));
    for (size_t i = 0; i < g->n_initializer; i++)
        set_add(&known, kv__onnx_s(g->initializer[i]->name));
    for (size_t i = 0; i < g->n_sparse_initializer; i++)
        if (g->sparse_initializer[i]->values)
            set_add(&known, kv__onnx_s(g->sparse_initializer[i]->values->name));
    bool ok = true;
    for (size_t i = 0; i < g->n_node && ok; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        const char *dom = kv__onnx_s(nd->domain);
        for (size_t j = 0; j < nd->n_input && ok; j++) {
            const char *in = kv__onnx_s(nd->input[j]);
            if (*in && !set_has(&known, in))
                ok = kv__onnx_problem(info,
                                      "node %zu (%s%s%s) reads '%s', which is no graph input, "
                                      "initializer or earlier node's output",
                                      i, dom, *dom ? ":" : "", kv__onnx_s(nd->op_type), in);
        }
        for (size_t j = 0; j < nd->n_output; j++)
            if (*kv__onnx_s(nd->output[j]))
                set_add(&known, nd->output[j]);
        bool imported = false;
        for (size_t k = 0; k < m->n_opset_import && !imported; k++)
            imported = same_domain(dom, kv__onnx_s(m->opset_import[k]->domain));
        // the first node of a domain is enough to name it
        if (ok && !imported && !set_has(&missing, dom)) {
            set_add(&missing, dom);
            ok = kv__onnx_problem(info, "node %zu (%s) uses domain '%s', which the model does "
                                        "not import (opset_import)",
                                  i, kv__onnx_s(nd->op_type), dom);
        }
    }
    free(known.slot);
    free(missing.slot);
    return ok;
}
