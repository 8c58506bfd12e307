/* response.c: turning a status, body and headers into native Lua values or an error.
 *
 *   core.decode(json)                                    -> value | nil, message
 *   core.parse(status, body, headers[, method, url[, redact, arg]])  -> value | nil, err  (2xx: decoded JSON)
 *   core.parse_tokens(status, body, headers[, method, url[, redact, arg]]) -> { tokens = {...} } | nil, err
 *
 * redact(s, arg) -> s' is applied to each server string copied into an error (message,
 * error, req_id) before it is cut to MAX_MESSAGE bytes.
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

static const char *header(lua_State *L, int headers, const char *name)
{
    const char *v = NULL;
    if (lua_istable(L, headers)) {
        lua_getfield(L, headers, name);
        v = lua_tostring(L, -1);
        lua_pop(L, 1);   /* the string stays alive in the headers table */
    }
    return v;
}

/* err.k = the string argument at idx, whole (ierr_setstr's strlen would stop at a NUL). */
static void set_arg(lua_State *L, const char *k, int idx)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx);
        lua_setfield(L, -2, k);
    }
}

/* Retry-After is either delay-seconds or an HTTP date. */
static void set_retry_after(lua_State *L, int headers)
{
    const char *v = header(L, headers, "retry-after");
    lua_Integer secs = -1;
    if (v == NULL)
        return;
    if (*v >= '0' && *v <= '9') {
        char *end;
        double d = strtod(v, &end);
        if (d >= 0 && d < 1e9)
            secs = (lua_Integer)ceil(d);
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

/* Pushes nil and an "http" error for a non-2xx answer; returns 2. */
static int http_error(lua_State *L, long status, int body, int headers, int rd)
{
    size_t blen;
    int err;
    lua_tolstring(L, body, &blen);
    lua_pushnil(L);
    ierr_new(L, "http");
    err = lua_gettop(L);
    ierr_setint(L, "status", (lua_Integer)status);
    set_arg(L, "method", 4);
    set_arg(L, "url", 5);
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
    lua_settop(L, err);
    return 2;
}

static int body_error(lua_State *L, const char *kind, long status, const char *what)
{
    lua_pushnil(L);
    ierr_new(L, kind);
    ierr_setint(L, "status", (lua_Integer)status);
    set_arg(L, "method", 4);
    set_arg(L, "url", 5);
    lua_pushstring(L, what);
    lua_setfield(L, -2, "message");
    return 2;
}

static int decode_error(lua_State *L, long status, const char *what)
{
    return body_error(L, "decode", status, what);
}

/* Shared front of parse and parse_tokens: leaves the decoded value at index 8 and returns 0,
 * or pushes nil, err and returns 2. Arguments 6 and 7: an optional redact function and
 * what it is passed after the string (see push_capped). */
static int parse_common(lua_State *L, long *status)
{
    size_t blen;
    int r;
    *status = (long)luaL_checkinteger(L, 1);
    luaL_checklstring(L, 2, &blen);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    luaL_optstring(L, 4, NULL);
    luaL_optstring(L, 5, NULL);
    if (!lua_isnoneornil(L, 6))
        luaL_checktype(L, 6, LUA_TFUNCTION);
    lua_settop(L, 7);
    if (*status < 200 || *status > 299)
        return http_error(L, *status, 2, 3, lua_isfunction(L, 6) ? 6 : 0);
    if (blen == 0)
        return decode_error(L, *status, "empty response body");
    r = decode_at(L, 2);
    if (r < 0)
        return body_error(L, "too_large", *status, lua_pushfstring(L,
            "not enough memory to decode the response body (%d bytes)", (int)blen));
    if (r == 0) {
        lua_pushfstring(L, "invalid JSON in response: %s", lua_tostring(L, -1));
        return decode_error(L, *status, lua_tostring(L, -1));
    }
    return 0;
}

static int l_parse(lua_State *L)
{
    long status;
    int n = parse_common(L, &status);
    return n ? n : 1;
}

static int l_parse_tokens(lua_State *L)
{
    long status;
    int i, n = parse_common(L, &status);
    if (n)
        return n;
    if (!lua_istable(L, 8))
        return decode_error(L, status, "response is not a JSON object");
    lua_getfield(L, 8, "tokens");
    if (!lua_istable(L, -1))
        return decode_error(L, status, "response has no 'tokens' array");
    n = (int)lua_rawlen(L, -1);
    {
        /* {"id":"a"} and [] both decode to tables: count the keys to tell an object. */
        int keys = 0;
        lua_pushnil(L);
        while (lua_next(L, 9)) {
            lua_pop(L, 1);
            if (++keys > n) {
                lua_pop(L, 1);
                return decode_error(L, status, "response's 'tokens' is not an array");
            }
        }
    }
    {
        /* More rows than the page asked for is a lying server, not a page: the limit is
         * read back from the URL tokens_url built, so every caller gets this check. */
        size_t ulen = 0, j;
        const char *url = lua_tolstring(L, 5, &ulen), *q = url ? memchr(url, '?', ulen) : NULL;
        const char *lim = NULL;
        /* by length, not strstr: a NUL in the URL must not hide the limit */
        for (j = q ? (size_t)(q - url) : ulen; j + 7 <= ulen; j++) {
            if ((url[j] == '?' || url[j] == '&') && memcmp(url + j + 1, "limit=", 6) == 0) {
                lim = url + j + 1;
                break;
            }
        }
        if (lim != NULL) {
            long want = 0;
            const char *d = lim + 6;
            while (d < url + ulen && *d >= '0' && *d <= '9' && want < 100000)
                want = want * 10 + (*d++ - '0');
            if (want > 0 && n > want)
                return decode_error(L, status,
                    lua_pushfstring(L, "server sent %d tokens for a page of %d", n, (int)want));
        }
    }
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, 9, i);
        if (!lua_istable(L, -1))
            return decode_error(L, status, lua_pushfstring(L, "token %d is not an object", i));
        lua_getfield(L, -1, "id");
        if (lua_type(L, -1) != LUA_TSTRING)
            return decode_error(L, status, lua_pushfstring(L, "token %d has no string 'id'", i));
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
