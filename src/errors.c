/* errors.c: error objects: plain tables with a shared metatable whose __tostring
 * gives one readable line. Fields: kind, status, error, message, req_id, details,
 * issues, retry_after, method, url, hint (what happened in the user's terms; see
 * README "Errors"). */
#include <string.h>
#include <lauxlib.h>
#include "compat.h"
#include "errors.h"

void ierr_new(lua_State *L, const char *kind)
{
    lua_createtable(L, 0, 8);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    luaL_getmetatable(L, IERR_MT);
    lua_setmetatable(L, -2);
}

void ierr_setstr(lua_State *L, const char *k, const char *v)
{
    if (v == NULL)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

void ierr_setint(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static const char *curl_kind(CURLcode rc, int overflow)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_WRITE_ERROR:
        return overflow ? "too_large" : "network";
    case CURLE_FILESIZE_EXCEEDED:
        return "too_large";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        return "tls";
    case CURLE_BAD_CONTENT_ENCODING:
        return "decode";
    default:
        return "network";
    }
}

int ierr_push_curl(lua_State *L, CURLcode rc, const char *errbuf, int overflow,
                   long status, const char *method, const char *url)
{
    const char *msg = (errbuf != NULL && errbuf[0] != '\0') ? errbuf : curl_easy_strerror(rc);
    /* libcurl refuses a header line over its own 100 kB limit with CURLE_OUT_OF_MEMORY:
     * once a status line was read, that is what it means, not a process out of memory. */
    int long_line = rc == CURLE_OUT_OF_MEMORY && status > 0;
    lua_pushnil(L);
    ierr_new(L, long_line ? "too_large" : curl_kind(rc, overflow));
    if (long_line)
        msg = "a response header line is longer than libcurl accepts";
    else if (overflow == IXFER_BODY_TOO_LARGE)
        msg = "response body larger than max_body";
    else if (overflow == IXFER_HEADERS_TOO_LARGE)
        msg = "response headers larger than the limit";
    else if (rc == CURLE_FILESIZE_EXCEEDED)
        msg = "declared response size larger than max_body";
    ierr_setstr(L, "message", msg);
    ierr_setint(L, "curl_code", (lua_Integer)rc);
    if (status > 0)
        ierr_setint(L, "status", (lua_Integer)status);
    ierr_setstr(L, "method", method);
    ierr_setstr(L, "url", url);
    return 2;
}

/* Pushes pre .. field k of the error at index 1 .. post when the field is a string or a
 * number; returns how many strings it pushed (0 or 1). Each piece gets its own buffer:
 * pushing values while a luaL_Buffer is open corrupts it once it grows (Lua 5.4 keeps
 * its box at the top of the stack), which a long server message did. */
static int push_field(lua_State *L, const char *k, const char *pre, const char *post)
{
    int t;
    lua_getfield(L, 1, k);
    t = lua_type(L, -1);
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);   /* anchored below the buffer */
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addstring(&b, pre);
        /* one line: never let a server-sent newline split the message */
        for (; n > 0; n--, s++)
            luaL_addchar(&b, (*s == '\n' || *s == '\r') ? ' ' : *s);
        luaL_addstring(&b, post);
        luaL_pushresult(&b);
        lua_remove(L, -2);
        return 1;
    }
    lua_pop(L, 1);
    return 0;
}

static int err_tostring(lua_State *L)
{
    int n = 1, m;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushliteral(L, "infisical: ");
    n += push_field(L, "kind", "", " error");
    if ((m = push_field(L, "method", " (", "")) > 0)
        n += m + push_field(L, "url", " ", ")");
    n += push_field(L, "status", ": HTTP ", "");
    n += push_field(L, "error", " ", "");
    n += push_field(L, "message", ": ", "");
    n += push_field(L, "req_id", " [", "]");
    n += push_field(L, "hint", "; ", "");
    lua_concat(L, n);
    return 1;
}

/* core.error(fields): turns a table into an error object (used by the Lua layer). */
static int err_make(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "kind");
    luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 1, "field 'kind' must be a string");
    lua_pop(L, 1);
    lua_settop(L, 1);
    luaL_setmetatable(L, IERR_MT);
    return 1;
}

static int err_is(lua_State *L)
{
    int is = 0;
    if (lua_istable(L, 1) && lua_getmetatable(L, 1)) {
        luaL_getmetatable(L, IERR_MT);
        is = lua_rawequal(L, -1, -2);
    }
    lua_pushboolean(L, is);
    return 1;
}

void errors_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"error", err_make},
        {"is_error", err_is},
        {NULL, NULL}
    };
    luaL_newmetatable(L, IERR_MT);
    lua_pushcfunction(L, err_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "infisical.Error");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
}
