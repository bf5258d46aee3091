// The JSON schema compiler: walks a schema document (parsed by jansson) into the
// node graph of json_schema_int.h. Every keyword is either handled, ignored as an
// annotation, or refused by name with the JSON pointer of the subschema holding
// it. $ref targets are compiled once (memoised by the subschema they point to), so
// recursive schemas become cycles in the graph; anyOf is flattened to concrete
// alternatives; a fixpoint then finds, for every node, how many open values its
// shallowest document needs (the matcher's guard against dead ends).
#include "kvant/kv_json_schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kvant/kv_json.h"
#include "model/json_schema_int.h"

typedef struct {
    kv_json_schema *s;
    const json_t *doc;
    const json_t **memo; // memo[i]: the subschema node i was compiled from (NULL: made here)
    int32_t cap_nodes, cap_props, cap_lits, cap_strs;
    int32_t *raw;        // anyOf alternatives as written, before flattening
    int32_t n_raw, cap_raw;
    int32_t any;         // the node that takes any value; -1 until needed
    size_t bytes;
    kv_err *err;
} cc;

static const char *at(const char *path) {
    return *path ? path : "/";
}

static kv_status nomem(cc *c) {
    return KV_FAIL(c->err, KV_ERR_NOMEM, "out of memory compiling the JSON schema");
}

// Takes ownership of text (len bytes) and counts it against the byte limit.
static kv_status keep_str(cc *c, char *text, size_t len, const char *path) {
    if (!text)
        return nomem(c);
    if (len > KV_JSON_SCHEMA_MAX_BYTES - c->bytes) {
        free(text);
        return KV_FAIL(c->err, KV_ERR_INVALID,
                       "JSON schema names and enum values at %s pass %d bytes in all", at(path),
                       KV_JSON_SCHEMA_MAX_BYTES);
    }
    if (!kv__js_grow((void **)&c->s->strs, &c->cap_strs, c->s->n_strs, sizeof(char *))) {
        free(text);
        return nomem(c);
    }
    c->bytes += len;
    c->s->strs[c->s->n_strs++] = text;
    return KV_OK;
}

static kv_status new_node(cc *c, const json_t *from, const char *path, int32_t *out) {
    kv_json_schema *s = c->s;
    if (s->n_nodes >= KV_JSON_SCHEMA_MAX_NODES)
        return KV_FAIL(c->err, KV_ERR_INVALID, "JSON schema has more than %d subschemas (at %s)",
                       KV_JSON_SCHEMA_MAX_NODES, at(path));
    int32_t cap = c->cap_nodes;
    if (!kv__js_grow((void **)&s->nodes, &c->cap_nodes, s->n_nodes, sizeof *s->nodes))
        return nomem(c);
    if (cap != c->cap_nodes) {
        const json_t **m = realloc(c->memo, (size_t)c->cap_nodes * sizeof *m);
        if (!m)
            return nomem(c);
        c->memo = m;
    }
    kv__js_node *n = &s->nodes[s->n_nodes];
    memset(n, 0, sizeof *n);
    n->types = KV__JS_ANY;
    n->n_lit = -1;
    n->additional = -1;
    n->items = -1;
    n->max_items = UINT32_MAX;
    n->max_len = UINT32_MAX;
    n->int_lo = n->f_lo = -KV__JS_BIG;
    n->int_hi = n->f_hi = KV__JS_BIG;
    c->memo[s->n_nodes] = from;
    *out = s->n_nodes++;
    return KV_OK;
}

// The node for any value (true, {}, an absent items or additionalProperties).
static kv_status any_node(cc *c, int32_t *out) {
    if (c->any < 0) {
        kv_status st = new_node(c, NULL, "", &c->any);
        if (st != KV_OK)
            return st;
        c->s->nodes[c->any].additional = c->any;
        c->s->nodes[c->any].items = c->any;
    }
    *out = c->any;
    return KV_OK;
}

static kv_status compile(cc *c, const json_t *sch, const char *path, int nest, int32_t *out);

// ---- $ref ----

// The subschema JSON pointer ref ("#", "#/$defs/a", "#/definitions/a~1b") names.
static const json_t *resolve(const json_t *doc, const char *ref) {
    if (ref[0] != '#')
        return NULL;
    const json_t *v = doc;
    const char *p = ref + 1;
    while (*p) {
        if (*p != '/')
            return NULL;
        p++;
        char seg[256];
        size_t k = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~') {
                if (*p != '0' && *p != '1')
                    return NULL;
                ch = *p++ == '0' ? '~' : '/';
            }
            if (k + 1 >= sizeof seg)
                return NULL;
            seg[k++] = ch;
        }
        seg[k] = 0;
        if (json_is_object(v)) {
            v = json_object_get(v, seg);
        } else if (json_is_array(v)) {
            char *end = NULL;
            unsigned long i = strtoul(seg, &end, 10);
            v = *seg && !*end ? json_array_get(v, i) : NULL;
        } else {
            return NULL;
        }
        if (!v)
            return NULL;
    }
    return v;
}

static bool annotation(const char *key) {
    static const char *const NAMES[] = {
        "title",    "description", "default", "examples", "$schema",  "$id",
        "$comment", "deprecated",  "readOnly", "writeOnly", "$defs", "definitions", "$anchor",
    };
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (strcmp(key, NAMES[i]) == 0)
            return true;
    return false;
}

// Follows a chain of schemas that are only a $ref to the first that is more.
static kv_status follow_refs(cc *c, const json_t **sch, char *path, size_t path_size) {
    for (int hop = 0; json_is_object(*sch) && json_object_get(*sch, "$ref"); hop++) {
        const json_t *ref = json_object_get(*sch, "$ref");
        if (!json_is_string(ref))
            return KV_FAIL(c->err, KV_ERR_INVALID, "JSON schema $ref at %s: expected a string",
                           at(path));
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)*sch, key, val) {
            if (strcmp(key, "$ref") != 0 && !annotation(key))
                return KV_FAIL(c->err, KV_ERR_INVALID,
                               "unsupported JSON schema keyword \"%.64s\" beside $ref at %s", key,
                               at(path));
        }
        if (hop >= 32)
            return KV_FAIL(c->err, KV_ERR_INVALID, "JSON schema $ref at %s: circular or longer "
                           "than 32 references", at(path));
        const char *r = json_string_value(ref);
        const json_t *to = resolve(c->doc, r);
        if (!to)
            return KV_FAIL(c->err, KV_ERR_INVALID,
                           "JSON schema $ref \"%.128s\" at %s does not resolve (only local "
                           "JSON pointers such as #/$defs/name are supported)",
                           r, at(path));
        snprintf(path, path_size, "%.200s", r + 1);
        *sch = to;
    }
    return KV_OK;
}

// ---- keywords ----

static kv_status get_count(cc *c, const json_t *v, const char *key, const char *path,
                           uint32_t *out) {
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        json_real_value(v) >= 0 && json_real_value(v) < 4e9) {
        *out = (uint32_t)json_real_value(v);
        return KV_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return KV_FAIL(c->err, KV_ERR_INVALID,
                       "JSON schema keyword \"%s\" at %s: expected a non-negative integer, got %s",
                       key, at(path), kv_json_type_name(v));
    json_int_t x = json_integer_value(v);
    *out = x > (json_int_t)UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)x;
    return KV_OK;
}

static kv_status get_types(cc *c, const json_t *v, const char *path, uint8_t *out) {
    static const struct {
        const char *name;
        uint8_t bit;
    } TYPES[] = {
        {"object", KV__JS_OBJECT}, {"array", KV__JS_ARRAY},   {"string", KV__JS_STRING},
        {"integer", KV__JS_INTEGER}, {"number", KV__JS_NUMBER}, {"boolean", KV__JS_BOOL},
        {"null", KV__JS_NULL},
    };
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    *out = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_is_array(v) ? json_array_get(v, i) : v;
        const char *name = json_string_value(t);
        size_t k = 0;
        while (name && k < sizeof TYPES / sizeof TYPES[0] && strcmp(name, TYPES[k].name) != 0)
            k++;
        if (!name || k == sizeof TYPES / sizeof TYPES[0])
            return KV_FAIL(c->err, KV_ERR_INVALID,
                           "JSON schema keyword \"type\" at %s: expected a type name (object, "
                           "array, string, integer, number, boolean, null) or an array of them",
                           at(path));
        *out |= TYPES[k].bit;
    }
    if (*out == 0)
        return KV_FAIL(c->err, KV_ERR_INVALID, "JSON schema keyword \"type\" at %s is empty",
                       at(path));
    return KV_OK;
}

static uint8_t value_types(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return KV__JS_OBJECT;
    case JSON_ARRAY: return KV__JS_ARRAY;
    case JSON_STRING: return KV__JS_STRING;
    case JSON_INTEGER: return KV__JS_INTEGER | KV__JS_NUMBER;
    case JSON_REAL:
        return json_real_value(v) == floor(json_real_value(v)) ? KV__JS_INTEGER | KV__JS_NUMBER
                                                               : KV__JS_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE: return KV__JS_BOOL;
    case JSON_NULL: return KV__JS_NULL;
    }
    return 0;
}

// The JSON text a generated value must match exactly: compact, and a number in
// its shortest round-tripping form.
static char *encode(const json_t *v) {
    if (json_is_real(v)) {
        char buf[40];
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, sizeof buf, "%.*g", p, json_real_value(v));
            if (strtod(buf, NULL) == json_real_value(v))
                break;
        }
        char *out = malloc(strlen(buf) + 1);
        if (out)
            memcpy(out, buf, strlen(buf) + 1);
        return out;
    }
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
}

static int cmp_str(const void *a, const void *b) {
    const kv__js_str *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->text, y->text, n);
    return r != 0 ? r : (x->len > y->len) - (x->len < y->len);
}

// enum (values) or const (one value): the node's literals, of its types only.
static kv_status get_literals(cc *c, int32_t node, const json_t *v, bool is_const,
                              uint8_t types, const char *path) {
    kv_json_schema *s = c->s;
    if (!is_const && (!json_is_array(v) || json_array_size(v) == 0))
        return KV_FAIL(c->err, KV_ERR_INVALID,
                       "JSON schema keyword \"enum\" at %s: expected a non-empty array", at(path));
    size_t n = is_const ? 1 : json_array_size(v);
    if (n > KV_JSON_SCHEMA_MAX_ENUM)
        return KV_FAIL(c->err, KV_ERR_INVALID, "JSON schema enum at %s has %zu values, at most %d",
                       at(path), n, KV_JSON_SCHEMA_MAX_ENUM);
    int32_t off = s->n_lits;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = is_const ? v : json_array_get(v, i);
        if (!(value_types(e) & types))
            continue;
        char *text = encode(e);
        size_t len = text ? strlen(text) : 0;
        kv_status st = keep_str(c, text, len, path);
        if (st != KV_OK)
            return st;
        if (!kv__js_grow((void **)&s->lits, &c->cap_lits, s->n_lits, sizeof *s->lits))
            return nomem(c);
        s->lits[s->n_lits++] = (kv__js_str){text, (uint32_t)len, -1};
    }
    int32_t k = s->n_lits - off;
    if (k > 0)
        qsort(s->lits + off, (size_t)k, sizeof *s->lits, cmp_str);
    int32_t w = 0; // drop duplicates
    for (int32_t i = 0; i < k; i++)
        if (w == 0 || cmp_str(&s->lits[off + w - 1], &s->lits[off + i]) != 0)
            s->lits[off + w++] = s->lits[off + i];
    s->n_lits = off + w;
    s->nodes[node].lit_off = off;
    s->nodes[node].n_lit = w;
    return KV_OK;
}

static kv_status get_format(cc *c, int32_t node, const json_t *v, const char *path) {
    static const struct {
        const char *name;
        uint8_t fmt;
    } FORMATS[] = {{"date", KV__FMT_DATE},
                   {"time", KV__FMT_TIME},
                   {"date-time", KV__FMT_DATE_TIME},
                   {"uuid", KV__FMT_UUID}};
    const char *name = json_string_value(v);
    if (!name)
        return KV_FAIL(c->err, KV_ERR_INVALID,
                       "JSON schema keyword \"format\" at %s: expected a string", at(path));
    for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++)
        if (strcmp(name, FORMATS[i].name) == 0) {
            c->s->nodes[node].format = FORMATS[i].fmt;
            return KV_OK;
        }
    return KV_FAIL(c->err, KV_ERR_INVALID,
                   "unsupported JSON schema string format \"%.64s\" at %s (date, time, date-time "
                   "and uuid are)",
                   name, at(path));
}

// minimum, maximum and their exclusive forms (numbers; booleans in draft 4).
typedef struct {
    const json_t *min, *max, *xmin, *xmax;
} bounds;

static int64_t clamp_big(double x) {
    return x < (double)-KV__JS_BIG ? -KV__JS_BIG : x > (double)KV__JS_BIG ? KV__JS_BIG : (int64_t)x;
}

static kv_status set_bounds(cc *c, kv__js_node *n, const bounds *b, const char *path) {
    const json_t *v[4] = {b->min, b->max, b->xmin, b->xmax};
    static const char *const NAMES[4] = {"minimum", "maximum", "exclusiveMinimum",
                                         "exclusiveMaximum"};
    for (int i = 0; i < 4; i++)
        if (v[i] && !json_is_number(v[i]) && !(i >= 2 && json_is_boolean(v[i])))
            return KV_FAIL(c->err, KV_ERR_INVALID,
                           "JSON schema keyword \"%s\" at %s: expected a number, got %s",
                           NAMES[i], at(path), kv_json_type_name(v[i]));
    const json_t *lo = b->min, *hi = b->max;
    bool xlo = false, xhi = false;
    if (json_is_number(b->xmin)) {
        lo = b->xmin;
        xlo = true;
    } else if (json_is_true(b->xmin)) {
        xlo = true;
    }
    if (json_is_number(b->xmax)) {
        hi = b->xmax;
        xhi = true;
    } else if (json_is_true(b->xmax)) {
        xhi = true;
    }
    if (lo) {
        double x = json_number_value(lo);
        n->int_lo = clamp_big(xlo ? floor(x) + 1 : ceil(x));
        n->f_lo = clamp_big(ceil(x));
        n->bounded = 1;
    }
    if (hi) {
        double x = json_number_value(hi);
        n->int_hi = clamp_big(xhi ? ceil(x) - 1 : floor(x));
        n->f_hi = clamp_big(floor(x));
        n->bounded = 1;
    }
    return KV_OK;
}

// ---- objects ----

// A key as JSON text without its quotes (malloc'd; NULL when out of memory).
static char *encode_name(const char *name) {
    json_t *js = json_string(name);
    char *text = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    size_t len = text ? strlen(text) : 0;
    if (text && len >= 2) {
        memmove(text, text + 1, len - 2);
        text[len - 2] = 0;
    }
    return text;
}

static kv_status add_prop(cc *c, const char *name, int32_t value, const char *path) {
    kv_json_schema *s = c->s;
    char *text = encode_name(name);
    size_t len = text ? strlen(text) : 0;
    kv_status st = keep_str(c, text, len, path);
    if (st != KV_OK)
        return st;
    if (!kv__js_grow((void **)&s->props, &c->cap_props, s->n_props, sizeof *s->props))
        return nomem(c);
    s->props[s->n_props++] = (kv__js_str){text, (uint32_t)len, value};
    return KV_OK;
}

// The index of the property called name among s->props[off..], or -1.
static int32_t find_prop(const kv_json_schema *s, int32_t off, const char *name) {
    char *text = encode_name(name);
    size_t len = text ? strlen(text) : 0;
    int32_t found = -1;
    for (int32_t i = off; text && i < s->n_props && found < 0; i++)
        if (s->props[i].len == len && memcmp(s->props[i].text, text, len) == 0)
            found = i;
    free(text);
    return found;
}

typedef struct {
    const json_t *props, *required, *additional;
} object_kw;

static kv_status get_object(cc *c, int32_t node, const object_kw *o, const char *path, int nest) {
    kv_json_schema *s = c->s;
    char sub[512];
    if (o->props && !json_is_object(o->props))
        return KV_FAIL(c->err, KV_ERR_INVALID,
                       "JSON schema keyword \"properties\" at %s: expected an object", at(path));
    if (o->required && !json_is_array(o->required))
        return KV_FAIL(c->err, KV_ERR_INVALID,
                       "JSON schema keyword \"required\" at %s: expected an array of names",
                       at(path));
    const json_t *ap = o->additional;
    if (ap && !json_is_boolean(ap) && !json_is_object(ap))
        return KV_FAIL(c->err, KV_ERR_INVALID,
                       "JSON schema keyword \"additionalProperties\" at %s: expected a boolean or "
                       "a schema",
                       at(path));
    int32_t add = -1;
    kv_status st = KV_OK;
    if (json_is_object(ap)) {
        snprintf(sub, sizeof sub, "%.300s/additionalProperties", path);
        st = compile(c, ap, sub, nest + 1, &add);
    } else if (json_is_true(ap) || (!ap && !o->props)) {
        st = any_node(c, &add); // llama.cpp: absent beside properties means no other keys
    }
    if (st != KV_OK)
        return st;
    // the values first: compiling them adds their own properties
    const char *names[KV_JSON_SCHEMA_MAX_PROPS];
    int32_t values[KV_JSON_SCHEMA_MAX_PROPS];
    int32_t n_given = 0;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)o->props, key, val) {
        if (n_given >= KV_JSON_SCHEMA_MAX_PROPS)
            return KV_FAIL(c->err, KV_ERR_INVALID,
                           "JSON schema object at %s has more than %d properties", at(path),
                           KV_JSON_SCHEMA_MAX_PROPS);
        snprintf(sub, sizeof sub, "%.300s/properties/%.128s", path, key);
        st = compile(c, val, sub, nest + 1, &values[n_given]);
        if (st != KV_OK)
            return st;
        names[n_given++] = key;
    }
    int32_t off = s->n_props;
    for (int32_t i = 0; i < n_given; i++)
        if ((st = add_prop(c, names[i], values[i], path)) != KV_OK)
            return st;
    for (size_t i = 0; i < json_array_size(o->required); i++) {
        const char *name = json_string_value(json_array_get(o->required, i));
        if (!name)
            return KV_FAIL(c->err, KV_ERR_INVALID,
                           "JSON schema keyword \"required\" at %s: expected an array of names",
                           at(path));
        if (find_prop(s, off, name) >= 0)
            continue;
        if (json_is_false(ap))
            return KV_FAIL(c->err, KV_ERR_INVALID,
                           "JSON schema at %s requires \"%.64s\", which additionalProperties "
                           "false forbids",
                           at(path), name);
        if (s->n_props - off >= KV_JSON_SCHEMA_MAX_PROPS)
            return KV_FAIL(c->err, KV_ERR_INVALID,
                           "JSON schema object at %s has more than %d properties", at(path),
                           KV_JSON_SCHEMA_MAX_PROPS);
        int32_t v = add;
        if (v < 0 && (st = any_node(c, &v)) != KV_OK)
            return st;
        if ((st = add_prop(c, name, v, path)) != KV_OK)
            return st;
    }
    int32_t n = s->n_props - off;
    if (n > 0)
        qsort(s->props + off, (size_t)n, sizeof *s->props, cmp_str);
    for (int32_t i = 1; i < n; i++)
        if (cmp_str(&s->props[off + i - 1], &s->props[off + i]) == 0)
            return KV_FAIL(c->err, KV_ERR_INVALID, "JSON schema at %s names a property twice",
                           at(path));
    kv__js_node *nd = &s->nodes[node];
    nd->prop_off = off;
    nd->n_prop = n;
    nd->additional = add;
    for (size_t i = 0; i < json_array_size(o->required); i++) {
        int32_t k = find_prop(s, off, json_string_value(json_array_get(o->required, i)));
        if (k < 0)
            return nomem(c); // every required name was added above
        nd->required |= (uint64_t)1 << (k - off);
    }
    return KV_OK;
}

// ---- one subschema ----

typedef struct {
    const json_t *type, *enm, *cnst, *any_of, *items, *format;
    object_kw obj;
    bounds num;
    bool has_array, has_string;
    bool nullable; // OpenAPI's nullable: true (as OpenAI's zod helper writes it): null too
} keywords;

// Sorts the subschema's keywords into kw; refuses the ones kvant does not enforce.
static kv_status read_keywords(cc *c, const json_t *sch, int32_t node, keywords *kw,
                               const char *path) {
    kv__js_node *n = &c->s->nodes[node];
    const char *key;
    const json_t *v;
    kv_status st = KV_OK;
    json_object_foreach((json_t *)sch, key, v) {
        if (strcmp(key, "type") == 0) kw->type = v;
        else if (strcmp(key, "enum") == 0) kw->enm = v;
        else if (strcmp(key, "const") == 0) kw->cnst = v;
        else if (strcmp(key, "anyOf") == 0) kw->any_of = v;
        else if (strcmp(key, "properties") == 0) kw->obj.props = v;
        else if (strcmp(key, "required") == 0) kw->obj.required = v;
        else if (strcmp(key, "additionalProperties") == 0) kw->obj.additional = v;
        else if (strcmp(key, "items") == 0) kw->items = v;
        else if (strcmp(key, "format") == 0) kw->format = v;
        else if (strcmp(key, "minimum") == 0) kw->num.min = v;
        else if (strcmp(key, "maximum") == 0) kw->num.max = v;
        else if (strcmp(key, "exclusiveMinimum") == 0) kw->num.xmin = v;
        else if (strcmp(key, "exclusiveMaximum") == 0) kw->num.xmax = v;
        else if (strcmp(key, "minItems") == 0) st = get_count(c, v, key, path, &n->min_items);
        else if (strcmp(key, "maxItems") == 0) st = get_count(c, v, key, path, &n->max_items);
        else if (strcmp(key, "minLength") == 0) st = get_count(c, v, key, path, &n->min_len);
        else if (strcmp(key, "maxLength") == 0) st = get_count(c, v, key, path, &n->max_len);
        else if (strcmp(key, "nullable") == 0 && json_is_boolean(v)) kw->nullable = json_is_true(v);
        else if (strcmp(key, "uniqueItems") == 0 && json_is_false(v)) continue;
        else if (annotation(key)) continue;
        else
            return KV_FAIL(c->err, KV_ERR_INVALID, "unsupported JSON schema keyword \"%.64s\" at %s",
                           key, at(path));
        if (st != KV_OK)
            return st;
        if (strncmp(key, "min", 3) == 0 || strncmp(key, "max", 3) == 0) {
            if (strstr(key, "Items"))
                kw->has_array = true;
            else if (strstr(key, "Length"))
                kw->has_string = true;
        }
        if (strcmp(key, "items") == 0)
            kw->has_array = true;
    }
    return KV_OK;
}

// The types a subschema without "type" takes, from the keywords it has.
static uint8_t implied_types(const keywords *kw) {
    if (kw->obj.props || kw->obj.required || kw->obj.additional)
        return KV__JS_OBJECT;
    if (kw->has_array)
        return KV__JS_ARRAY;
    if (kw->has_string || kw->format)
        return KV__JS_STRING;
    if (kw->num.min || kw->num.max || kw->num.xmin || kw->num.xmax)
        return KV__JS_NUMBER | KV__JS_INTEGER;
    return KV__JS_ANY;
}

static kv_status get_any_of(cc *c, const json_t *sch, int32_t node, const keywords *kw,
                            const char *path, int nest) {
    const json_t *v = kw->any_of;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return KV_FAIL(c->err, KV_ERR_INVALID,
                       "JSON schema keyword \"anyOf\" at %s: expected a non-empty array of schemas",
                       at(path));
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)sch, key, val) {
        if (strcmp(key, "anyOf") != 0 && !annotation(key) &&
            !(strcmp(key, "nullable") == 0 && json_is_false(val)))
            return KV_FAIL(c->err, KV_ERR_INVALID,
                           "unsupported JSON schema: anyOf beside \"%.64s\" at %s (put it in "
                           "each alternative)",
                           key, at(path));
    }
    size_t n = json_array_size(v);
    if (n > KV_JSON_SCHEMA_MAX_PROPS)
        return KV_FAIL(c->err, KV_ERR_INVALID, "JSON schema anyOf at %s has more than %d "
                       "alternatives", at(path), KV_JSON_SCHEMA_MAX_PROPS);
    int32_t alts[KV_JSON_SCHEMA_MAX_PROPS];
    for (size_t i = 0; i < n; i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%.300s/anyOf/%zu", path, i);
        kv_status st = compile(c, json_array_get(v, i), sub, nest + 1, &alts[i]);
        if (st != KV_OK)
            return st;
    }
    kv__js_node *nd = &c->s->nodes[node];
    nd->types = 0;
    nd->alt_off = c->n_raw;
    nd->n_alt = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
        if (!kv__js_grow((void **)&c->raw, &c->cap_raw, c->n_raw, sizeof *c->raw))
            return nomem(c);
        c->raw[c->n_raw++] = alts[i];
    }
    return KV_OK;
}

static kv_status compile_object(cc *c, const json_t *sch, const char *path, int nest,
                                int32_t node) {
    keywords kw = {0};
    kv_status st = read_keywords(c, sch, node, &kw, path);
    if (st != KV_OK)
        return st;
    if (kw.any_of)
        return get_any_of(c, sch, node, &kw, path, nest);
    uint8_t types = implied_types(&kw);
    if (kw.type && (st = get_types(c, kw.type, path, &types)) != KV_OK)
        return st;
    if (types & KV__JS_NUMBER)
        types |= KV__JS_INTEGER;
    if (kw.nullable)
        types |= KV__JS_NULL;
    c->s->nodes[node].types = types;
    if (kw.enm || kw.cnst) {
        if (kw.enm && kw.cnst)
            return KV_FAIL(c->err, KV_ERR_INVALID,
                           "unsupported JSON schema: enum beside const at %s", at(path));
        if (kw.nullable)
            return KV_FAIL(c->err, KV_ERR_INVALID,
                           "unsupported JSON schema: nullable beside %s at %s (list null in it)",
                           kw.enm ? "enum" : "const", at(path));
        return get_literals(c, node, kw.enm ? kw.enm : kw.cnst, !kw.enm, types, path);
    }
    if (kw.format && (st = get_format(c, node, kw.format, path)) != KV_OK)
        return st;
    if (kw.format && kw.has_string)
        return KV_FAIL(c->err, KV_ERR_INVALID,
                       "unsupported JSON schema: minLength/maxLength beside format at %s",
                       at(path));
    if ((st = set_bounds(c, &c->s->nodes[node], &kw.num, path)) != KV_OK)
        return st;
    if (types & KV__JS_ARRAY) {
        int32_t items = -1;
        char sub[512];
        snprintf(sub, sizeof sub, "%.300s/items", path);
        if (json_is_array(kw.items))
            return KV_FAIL(c->err, KV_ERR_INVALID,
                           "unsupported JSON schema: items as an array (tuples) at %s", at(path));
        if (kw.items && !json_is_true(kw.items))
            st = compile(c, kw.items, sub, nest + 1, &items);
        else
            st = any_node(c, &items);
        if (st != KV_OK)
            return st;
        c->s->nodes[node].items = items;
    }
    if (types & KV__JS_OBJECT)
        return get_object(c, node, &kw.obj, path, nest);
    return KV_OK;
}

static kv_status compile(cc *c, const json_t *sch, const char *path_in, int nest, int32_t *out) {
    char path[512];
    snprintf(path, sizeof path, "%s", path_in);
    if (nest > KV_JSON_SCHEMA_MAX_NEST)
        return KV_FAIL(c->err, KV_ERR_INVALID, "JSON schema is nested deeper than %d at %.200s",
                       KV_JSON_SCHEMA_MAX_NEST, at(path));
    kv_status st = follow_refs(c, &sch, path, sizeof path);
    if (st != KV_OK)
        return st;
    if (json_is_true(sch))
        return any_node(c, out);
    if (!json_is_object(sch))
        return KV_FAIL(c->err, KV_ERR_INVALID, "JSON schema at %s: expected a schema object, got %s",
                       at(path), json_is_false(sch) ? "false (nothing matches)" : kv_json_type_name(sch));
    for (int32_t i = 0; i < c->s->n_nodes; i++)
        if (c->memo[i] == sch) {
            *out = i;
            return KV_OK;
        }
    int32_t node;
    if ((st = new_node(c, sch, path, &node)) != KV_OK)
        return st;
    *out = node;
    return compile_object(c, sch, path, nest, node);
}

static void add_builtin(kv_json_schema *s) {
    static const char *const LITS[3] = {"false", "true", "null"};
    for (int i = 0; i < 3; i++)
        s->lits[i] = (kv__js_str){LITS[i], (uint32_t)strlen(LITS[i]), -1};
    s->n_lits = 3;
}

kv_status kv_json_schema_compile(const char *text, size_t n, kv_json_schema **out, kv_err *err) {
    *out = NULL;
    json_error_t je;
    json_t *doc = json_loadb(text, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!doc)
        return KV_FAIL(err, KV_ERR_INVALID, "JSON schema is not JSON: line %d, column %d: %s",
                       je.line, je.column, je.text);
    cc c = {.doc = doc, .any = -1, .err = err};
    kv_status st = KV_OK;
    c.s = calloc(1, sizeof *c.s);
    if (!c.s || !kv__js_grow((void **)&c.s->lits, &c.cap_lits, 3, sizeof *c.s->lits))
        st = nomem(&c);
    if (st == KV_OK) {
        add_builtin(c.s);
        st = compile(&c, doc, "", 0, &c.s->root);
    }
    if (st == KV_OK)
        st = kv__js_flatten(c.s, c.raw, err);
    if (st == KV_OK) {
        kv__js_depths(c.s);
        if (c.s->nodes[c.s->root].min_depth > KV_JSON_SCHEMA_MAX_DEPTH)
            st = KV_FAIL(err, KV_ERR_INVALID,
                         "JSON schema has no document with at most %d nested values (an empty "
                         "enum, minimum above maximum, or required properties that recurse)",
                         KV_JSON_SCHEMA_MAX_DEPTH);
    }
    free(c.memo);
    free(c.raw);
    json_decref(doc);
    if (st != KV_OK) {
        kv_json_schema_free(c.s);
        return st;
    }
    *out = c.s;
    return KV_OK;
}

void kv_json_schema_free(kv_json_schema *s) {
    if (!s)
        return;
    for (int32_t i = 0; i < s->n_strs; i++)
        free(s->strs[i]);
    free(s->strs);
    free(s->nodes);
    free(s->props);
    free(s->lits);
    free(s->alts);
    free(s);
}
