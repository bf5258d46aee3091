// Access control and audit (auth.c): the API-key check before routing and the
// audit hook's records.
#ifndef KV_SERVE_AUTH_INT_H
#define KV_SERVE_AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "kvant/kv_serve.h"
#include "kvant/kv_status.h"
#include "serve/call_int.h"

enum { KV__RIGHT_PUBLIC, KV__RIGHT_VIEWER, KV__RIGHT_USER, KV__RIGHT_OPERATOR, KV__RIGHT_ADMIN };
#define KV__MAX_TOKEN 256   // bytes in a bearer token we look at
#define KV__WHO_MAX 72      // a key's name and its NUL, with room

// The role path needs (KV__RIGHT_*); paths no table entry names need admin.
int kv__path_right(const char *path);
// The role method on path needs: kv__path_right's, and operator for a push into
// /v2/ (any method but GET and HEAD).
int kv__method_right(unsigned method, const char *path);
// The key check, before routing: 0 when the request may go on (who gets the
// key's name, or "-" with no auth); 401 (no, unknown or revoked key) or 403 (the
// key's role lacks the path's right) with msg for the reply.
unsigned kv__auth_check(const kv_serve *s, unsigned method, const char *path,
                        const char *authorization,
                        char *who, size_t who_cap, char *msg, size_t msg_cap);
// Whether requests to path are audited: an audit hook is set and the path
// generates or changes state (needs user or above).
bool kv__audited(const kv_serve *s, unsigned method, const char *path);
// Hands the audit hook c's record with status; j (may be NULL) gives the model and
// token counts.
kv_status kv__audit_call(const kv_serve *s, const kv__call *c, const char *who,
                         const char *client, unsigned status, kv__job *j, kv_err *err);

#endif
