/* response.c: turning a status, body and headers into native Lua values or an error.
 *
 *   core.decode(json)                                    -> value | nil, message
 *   core.parse(status, body, headers[, method, url[, redact, arg]])  -> value | nil, err  (2xx: decoded JSON)
 *   core.parse_tokens(status, body, headers[, method, url[, redact, arg[, limit]]]) -> { tokens = {...} } | nil, err
 *
 * body may also be the table Session:perform decoded already (its `json` argument) when
 * status is 2xx.
 *
 * redact(s, arg) -> s' is applied to each server string copied into an error (message,
 * error, req_id) before it is cut to MAX_MESSAGE bytes. method and url only go into an
 * error. limit is the page size asked for: more rows than that is a lying server (kind
 * decode); without it, a page of more than MAX_PAGE rows is (no request can ask for more).
 *
 * JSON is decoded by jsondec.c straight into native values: JSON null becomes an absent
 * field, whole numbers become Lua integers on 5.3+, and the host's cjson (and its global
 * settings) is never involved. */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <lauxlib.h>
#include <curl/curl.h>
#include "compat.h"
#include "errors.h"
#include "response.h"
#include "jsondec.h"

#define MAX_MESSAGE 512
#define MAX_PAGE 100

/* What an error is about: the answer's status and the stack indexes of the request's
 * method and url and of the redact function (each 0 when absent), passed to every error
 * builder instead of being read from fixed stack slots. */
typedef struct pctx {
    long status;
    int method, url, rd;
} pctx;

/* Decodes the string at idx: pushes the value and returns 1, or pushes a message and
 * returns 0 (bad JSON) or -1 (memory ran out: never raised, see jsondec_push_protected). */
static int decode_at(lua_State *L, int idx)
{
    size_t len;
    const char *text = lua_tolstring(L, idx, &len);
    return jsondec_push_protected(L, text, len);
}

static int l_decode(lua_State *L)
{
    luaL_checkstring(L, 1);
    if (decode_at(L, 1) > 0)
        return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

/* Pushes s, cut to MAX_MESSAGE bytes: a hostile server's message must stay short.
 * Redacted first, when the caller gave a redact function (at index rd, its second
 * argument at rd + 1): a secret cut in two by the cap would escape a redaction made
 * after it (issue 10 §2). */
static void push_capped(lua_State *L, int rd, const char *s, size_t n)
{
    if (rd != 0) {
        lua_pushvalue(L, rd);
        lua_pushlstring(L, s, n);
        lua_pushvalue(L, rd + 1);
        lua_call(L, 2, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "redact function must return a string");
        s = lua_tolstring(L, -1, &n);
        if (n > MAX_MESSAGE) {
            lua_pushlstring(L, s, MAX_MESSAGE);
            lua_pushliteral(L, "...");
            lua_concat(L, 2);
            lua_remove(L, -2);
        }
        return;
    }
    if (n > MAX_MESSAGE) {
        lua_pushlstring(L, s, MAX_MESSAGE);
        lua_pushliteral(L, "...");
        lua_concat(L, 2);
    } else {
        lua_pushlstring(L, s, n);
    }
}

/* err[to] = body[from] when that is a string. */
static void copy_str(lua_State *L, int rd, int body, const char *from, int err, const char *to)
{
    lua_getfield(L, body, from);
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        push_capped(L, rd, s, n);
        lua_setfield(L, err, to);
    }
    lua_pop(L, 1);
}

/* Pushes a readable sentence from a validation answer's array of issues:
 * "offset: Number must be less than or equal to 100; limit: ..." */
static void issues_sentence(lua_State *L, int rd, int issues)
{
    int i, j, n = (int)lua_rawlen(L, issues);
    lua_pushliteral(L, "");
    for (i = 1; i <= n && i <= 20; i++) {
        int acc = lua_gettop(L);
        lua_rawgeti(L, issues, i);              /* acc+1: the issue */
        if (!lua_istable(L, acc + 1)) {
            lua_settop(L, acc);
            continue;
        }
        lua_getfield(L, acc + 1, "path");       /* acc+2 */
        lua_getfield(L, acc + 1, "message");    /* acc+3 */
        lua_pushvalue(L, acc);                  /* acc+4: the sentence so far */
        if (lua_rawlen(L, acc) > 0) {
            lua_pushliteral(L, "; ");
            lua_concat(L, 2);
        }
        if (lua_istable(L, acc + 2)) {
            int m = (int)lua_rawlen(L, acc + 2);
            for (j = 1; j <= m && j <= 8; j++) {
                lua_rawgeti(L, acc + 2, j);
                if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
                    if (j > 1) {
                        lua_pushliteral(L, ".");
                        lua_insert(L, -2);
                        lua_concat(L, 3);
                    } else {
                        lua_concat(L, 2);
                    }
                } else {
                    lua_pop(L, 1);
                }
            }
            if (m > 0) {
                lua_pushliteral(L, ": ");
                lua_concat(L, 2);
            }
        }
        if (lua_type(L, acc + 3) == LUA_TSTRING) {
            lua_pushvalue(L, acc + 3);
            lua_concat(L, 2);
        }
        lua_replace(L, acc);
        lua_settop(L, acc);
    }
    {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if (len > MAX_MESSAGE || rd != 0) {
            push_capped(L, rd, s, len);
            lua_remove(L, -2);
        }
    }
}

/* A header's value, or NULL when it is absent or holds a NUL byte (never a valid value,
 * and the C string would end there: "60\0junk" would read as Retry-After 60). */
static const char *header(lua_State *L, int headers, const char *name)
{
    const char *v = NULL;
    if (lua_istable(L, headers)) {
        size_t n;
        lua_getfield(L, headers, name);
        v = lua_tolstring(L, -1, &n);
        if (v != NULL && strlen(v) != n)
            v = NULL;
        lua_pop(L, 1);   /* the string stays alive in the headers table */
    }
    return v;
}

/* err.k = the string argument at idx (0: none), whole (ierr_setstr's strlen would stop at a NUL). */
static void set_arg(lua_State *L, const char *k, int idx)
{
    if (idx != 0 && lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx);
        lua_setfield(L, -2, k);
    }
}

/* Decimal seconds, "60" or "1.5" with optional blanks after: the whole value or -1.
 * Not strtod, which also reads "0x3C" (60), "6e1" and "60abc". */
static lua_Integer decimal_seconds(const char *v)
{
    double d = 0, scale = 1;
    int digits = 0;
    for (; *v >= '0' && *v <= '9'; v++, digits++)
        if ((d = d * 10 + (*v - '0')) >= 1e9)
            return -1;
    if (digits == 0)
        return -1;
    if (*v == '.') {
        v++;
        if (!(*v >= '0' && *v <= '9'))
            return -1;
        for (; *v >= '0' && *v <= '9'; v++)
            d += (*v - '0') * (scale /= 10);
    }
    while (*v == ' ' || *v == '\t') v++;
    return *v == '\0' ? (lua_Integer)ceil(d) : -1;
}

/* Retry-After is either delay-seconds or an HTTP date (which starts with a day name). */
static void set_retry_after(lua_State *L, int headers)
{
    const char *v = header(L, headers, "retry-after");
    lua_Integer secs = -1;
    if (v == NULL)
        return;
    v += strspn(v, " \t");
    if (*v >= '0' && *v <= '9') {
        secs = decimal_seconds(v);
    } else {
        time_t when = curl_getdate(v, NULL);
        if (when != (time_t)-1) {
            double d = difftime(when, time(NULL));
            secs = d > 0 ? (lua_Integer)ceil(d) : 0;
        }
    }
    if (secs >= 0)
        ierr_setint(L, "retry_after", secs);
}

/* The server's field k of the error at err, or NULL. */
static const char *field(lua_State *L, int err, const char *k)
{
    const char *v;
    lua_getfield(L, err, k);
    v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);   /* the string stays alive in the error table */
    return v;
}

static int contains(const char *s, const char *part)
{
    return s != NULL && strstr(s, part) != NULL;
}

/* Sorts a refusal by what the caller must do, and says in the user's terms what happened
 * (`hint`, shown by tostring); status, error and message stay the server's.
 *   auth:       the credentials were refused (401, except validation failures, which the
 *               late-2024 servers also answer with 401; 403 TokenError): get a new token,
 *               log in again, fix the value given as the token
 *   permission: the credentials are fine but their identity may not do this (403
 *               PermissionDenied, or ForbiddenError)
 * The messages matched are those of Infisical's backend (identity-access-token-service.ts,
 * the JWT errors of its error handler), late-2024 and 2026 wordings both. Error names this
 * table does not know (410 Gone, PermissionBoundaryError, PolicyViolationError, ...) stay
 * kind "http" with their status: a 403 is "permission" only for PermissionDenied and
 * ForbiddenError. */
static void classify(lua_State *L, int err, long status)
{
    const char *e = field(L, err, "error"), *m = field(L, err, "message");
    const char *kind = NULL, *hint = NULL;
    int named = e != NULL;
    if ((status == 401 && !(named && strcmp(e, "ValidationFailure") == 0))
        || (status == 403 && named && strcmp(e, "TokenError") == 0)) {
        kind = "auth";
        if (contains(m, "Token missing"))
            hint = "no access token was sent";
        /* 2026 servers (identity-access-token-service.ts / -fns.ts, commit 0b118066c4a2) */
        else if (contains(m, "token has been revoked") || contains(m, "revoked or usage limit"))
            hint = "the access token was revoked: use a new token";
        else if (contains(m, "identity tokens have been revoked"))
            hint = "every access token of this identity issued before a revocation was"
                   " revoked: use a token issued since";
        else if (contains(m, "client secret has been revoked"))
            hint = "the client secret this access token was issued with was revoked: log in"
                   " with a current client secret";
        else if (contains(m, "auth method has been revoked"))
            hint = "the auth method this access token was issued with was removed from the"
                   " identity: use a token of a method it still has";
        else if (contains(m, "token usage limit reached") || contains(m, "exhausted access token"))
            hint = "the access token is used up (its use limit was reached): use a new token";
        else if (contains(m, "exceeded max age") || contains(m, "reached its max TTL"))
            hint = "the access token is older than the server's token-lifetime ceiling"
                   " (maxIdentityAccessTokenTTL of /api/status): use a new token";
        else if (contains(m, "not a member of the organization")
                 || contains(m, "membership is inactive"))
            hint = "the access token's identity is no longer an active member of the"
                   " organisation";
        else if (contains(m, "uses limit"))
            hint = "the access token is used up (its use limit was reached) and the server"
                   " deleted it: use a new token";
        else if (contains(m, "TTL expiration") || contains(m, "has expired"))
            hint = "the access token has expired: use a new token";
        else if (contains(m, "No identity access token found"))
            hint = "the access token was revoked, or no longer exists (the server deletes"
                   " expired and used-up tokens): use a new token";
        else if (status == 403)
            hint = "the access token is malformed or was not issued by this server: check"
                   " the value given as the token";
        else
            hint = "the server refused the access token";
    } else if (status == 403 && named
               && (strcmp(e, "PermissionDenied") == 0 || strcmp(e, "ForbiddenError") == 0)) {
        kind = "permission";
        if (contains(m, "IP address"))
            hint = "the server does not accept these credentials from this IP address (see the"
                   " identity's trusted IPs)";
        else
            hint = "the token's identity is not allowed to do this: give it a role with this"
                   " permission on identities";
    } else if (status == 500 && named && strcmp(e, "FindOne") == 0) {
        hint = "the identity id is probably malformed (Infisical answers an id that is not a"
               " UUID this way)";
    }
    if (kind != NULL) {
        lua_pushstring(L, kind);
        lua_setfield(L, err, "kind");
    }
    if (hint != NULL) {
        lua_pushstring(L, hint);
        lua_setfield(L, err, "hint");
    }
}

/* Pushes nil and an error for a non-2xx answer (kind "http", or what classify says);
 * returns 2. */
static int http_error(lua_State *L, const pctx *c, int body, int headers)
{
    size_t blen;
    int err, rd = c->rd;
    long status = c->status;
    lua_tolstring(L, body, &blen);
    lua_pushnil(L);
    ierr_new(L, "http");
    err = lua_gettop(L);
    ierr_setint(L, "status", (lua_Integer)status);
    set_arg(L, "method", c->method);
    set_arg(L, "url", c->url);
    set_retry_after(L, headers);
    if (blen > 0 && decode_at(L, body) > 0 && lua_istable(L, -1)) {
        int v = lua_gettop(L);
        copy_str(L, rd, v, "error", err, "error");
        copy_str(L, rd, v, "reqId", err, "req_id");
        lua_getfield(L, v, "details");
        lua_setfield(L, err, "details");
        lua_getfield(L, v, "message");
        if (lua_istable(L, -1)) {
            lua_pushvalue(L, -1);
            lua_setfield(L, err, "issues");
            issues_sentence(L, rd, lua_gettop(L));
            lua_setfield(L, err, "message");
        } else {
            copy_str(L, rd, v, "message", err, "message");
        }
    } else {
        const char *ct = header(L, headers, "content-type");
        if (blen == 0)
            lua_pushliteral(L, "empty response body");
        else
            lua_pushfstring(L, "unexpected %s response of %d bytes", ct ? ct : "untyped", (int)blen);
        lua_setfield(L, err, "message");
    }
    if (status >= 300 && status < 400) {
        const char *loc = header(L, headers, "location");
        lua_pushfstring(L, "redirect%s not followed", loc ? " to another location" : "");
        lua_setfield(L, err, "message");
    }
    classify(L, err, status);
    lua_settop(L, err);
    return 2;
}

static int body_error(lua_State *L, const char *kind, const pctx *c, const char *what)
{
    lua_pushnil(L);
    ierr_new(L, kind);
    ierr_setint(L, "status", (lua_Integer)c->status);
    set_arg(L, "method", c->method);
    set_arg(L, "url", c->url);
    lua_pushstring(L, what);
    lua_setfield(L, -2, "message");
    return 2;
}

static int decode_error(lua_State *L, const pctx *c, const char *what)
{
    return body_error(L, "decode", c, what);
}

/* Shared front of parse and parse_tokens: checks the arguments (the 8th is parse_tokens'
 * and left alone), fills c, leaves the decoded value at index 9 and returns 0, or pushes
 * nil, err and returns 2. Arguments 6 and 7: an optional redact function and what it is
 * passed after the string (see push_capped). */
static int parse_common(lua_State *L, pctx *c)
{
    size_t blen = 0;
    int r, decoded;
    c->status = (long)luaL_checkinteger(L, 1);
    /* the body, or its JSON already decoded by the transport (Session:perform's json) */
    decoded = lua_istable(L, 2) && c->status >= 200 && c->status <= 299;
    if (!decoded)
        luaL_checklstring(L, 2, &blen);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    c->method = luaL_optstring(L, 4, NULL) ? 4 : 0;
    c->url = luaL_optstring(L, 5, NULL) ? 5 : 0;
    if (!lua_isnoneornil(L, 6))
        luaL_checktype(L, 6, LUA_TFUNCTION);
    c->rd = lua_isfunction(L, 6) ? 6 : 0;
    lua_settop(L, 8);
    if (decoded) {
        lua_pushvalue(L, 2);
        return 0;
    }
    if (c->status < 200 || c->status > 299)
        return http_error(L, c, 2, 3);
    if (blen == 0)
        return decode_error(L, c, "empty response body");
    r = decode_at(L, 2);
    if (r < 0)
        return body_error(L, "too_large", c, lua_pushfstring(L,
            "not enough memory to decode the response body (%d bytes)", (int)blen));
    if (r == 0) {
        lua_pushfstring(L, "invalid JSON in response: %s", lua_tostring(L, -1));
        return decode_error(L, c, lua_tostring(L, -1));
    }
    return 0;
}

static int l_parse(lua_State *L)
{
    pctx c;
    int n = parse_common(L, &c);
    return n ? n : 1;
}

static int l_parse_tokens(lua_State *L)
{
    pctx c;
    lua_Integer want = MAX_PAGE;
    int i, n;
    if (!lua_isnoneornil(L, 8)) {
        lua_Number v = lua_type(L, 8) == LUA_TNUMBER ? lua_tonumber(L, 8) : 0;
        luaL_argcheck(L, v == floor(v) && v >= 1 && v <= MAX_PAGE, 8,
                      "limit must be an integer from 1 to 100");
        want = (lua_Integer)v;
    }
    n = parse_common(L, &c);
    if (n)
        return n;
    if (!lua_istable(L, 9))
        return decode_error(L, &c, "response is not a JSON object");
    lua_getfield(L, 9, "tokens");
    if (!lua_istable(L, -1))
        return decode_error(L, &c, "response has no 'tokens' array");
    n = (int)lua_rawlen(L, -1);
    {
        /* {"id":"a"} and [] both decode to tables: count the keys to tell an object. */
        int keys = 0;
        lua_pushnil(L);
        while (lua_next(L, 10)) {
            lua_pop(L, 1);
            if (++keys > n) {
                lua_pop(L, 1);
                return decode_error(L, &c, "response's 'tokens' is not an array");
            }
        }
    }
    /* More rows than the page asked for is a lying server, not a page. */
    if (n > want)
        return decode_error(L, &c,
            lua_pushfstring(L, "server sent %d tokens for a page of %d", n, (int)want));
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, 10, i);
        if (!lua_istable(L, -1))
            return decode_error(L, &c, lua_pushfstring(L, "token %d is not an object", i));
        lua_getfield(L, -1, "id");
        if (lua_type(L, -1) != LUA_TSTRING)
            return decode_error(L, &c, lua_pushfstring(L, "token %d has no string 'id'", i));
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    return 1;
}

void response_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"decode", l_decode},
        {"parse", l_parse},
        {"parse_tokens", l_parse_tokens},
        {NULL, NULL}
    };
    luaL_setfuncs(L, funcs, 0);
    lua_pushinteger(L, JSONDEC_MAX_DEPTH);
    lua_setfield(L, -2, "json_max_depth");
}
