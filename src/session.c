/* session.c: infisical.Session. One easy handle per client, so the pages of a walk
 * and the identities of an audit reuse one kept-alive connection (and TLS session).
 *
 *   s = core.session{ token=, timeout=, connect_timeout=, verify_tls=, ca_file=, ca_path=,
 *                     max_body=, max_headers=, user_agent=, proxy=, compress=, low_speed_time= }
 *   status, body, headers = s:perform(method, url[, extra_headers[, body[, json]]])   -- or nil, err
 *     json true: a 2xx body that is valid JSON comes decoded (a table or other value)
 *   s:set_token(token); s:close(); tostring(s)
 */
#include <string.h>
#include <poll.h>
#include <lauxlib.h>
#include "compat.h"
#include "config.h"
#include "errors.h"
#include "xfer.h"
#include "request.h"
#include "session.h"

typedef struct isession {
    CURL *curl;
    iconfig cfg;
    ixfer xfer;
    int busy;       /* guards against re-entry from another coroutine during a perform */
    int h1;         /* the last request went over HTTP/1.x (see kept_connection_dirty) */
    long long connects; /* connections opened by every request so far (session:connections) */
} isession;

static isession *check_open(lua_State *L)
{
    isession *s = luaL_checkudata(L, 1, ISESSION_MT);
    if (s->curl == NULL)
        luaL_error(L, "session is closed");
    return s;
}

/* The one cleanup for close(), __gc and __close; safe to run twice. */
static void session_release(isession *s)
{
    if (s->curl != NULL) {
        curl_easy_cleanup(s->curl);
        s->curl = NULL;
    }
    iconfig_free(&s->cfg);
    ixfer_free(&s->xfer);
}

static int session_new(lua_State *L)
{
    isession *s;
    luaL_checktype(L, 1, LUA_TTABLE);
    /* Userdata and metatable first: if anything below raises, __gc frees what was made. */
    s = lua_newuserdata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, ISESSION_MT);
    iconfig_read(L, 1, &s->cfg);
    ixfer_init(&s->xfer, s->cfg.max_body, s->cfg.max_headers);
    s->curl = curl_easy_init();
    if (s->curl == NULL)
        return luaL_error(L, "curl_easy_init failed");
    /* One kept connection: a new one (see kept_connection_dirty) closes the old. */
    if (iconfig_apply(&s->cfg, s->curl) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_MAXCONNECTS, 1L) != CURLE_OK)
        return luaL_error(L, "could not configure libcurl (is it too old?)");
    return 1;
}

static int session_set_token(lua_State *L)
{
    isession *s = check_open(L);
    iconfig_set_token(L, &s->cfg, 2);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->cfg.headers);
    return 0;
}

/* Whether the transfer that just ended went over HTTP/1.0 or 1.1. */
static int used_http1(CURL *c)
{
    long v = 0;
    return curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &v) == CURLE_OK
        && (v == CURL_HTTP_VERSION_1_0 || v == CURL_HTTP_VERSION_1_1);
}

/* Whether the HTTP/1.x connection kept from the last request has bytes waiting, or was
 * closed. Nothing may arrive on an idle HTTP/1.1 connection: such bytes (a server that
 * sent more after a complete answer) belong to no request, and libcurl 7.88 reuses the
 * connection and reads them as the next request's answer. (HTTP/2 frames name their
 * stream, and an idle HTTP/2 connection gets PINGs and window updates: not checked.) */
static int kept_connection_dirty(isession *s)
{
    curl_socket_t fd = CURL_SOCKET_BAD;
    struct pollfd p;
    if (!s->h1 || curl_easy_getinfo(s->curl, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK
        || fd == CURL_SOCKET_BAD)
        return 0;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, 0) > 0;
}

static int session_perform(lua_State *L)
{
    isession *s = check_open(L);
    struct curl_slist *list = NULL;
    CURLcode rc;
    ireq r;
    int decode;

    ireq_check(L, 2, &r);
    decode = lua_toboolean(L, 6);
    if (s->busy)
        return luaL_error(L, "session is busy with another request");
    /* Everything that can raise is done; from here on no Lua error until the list is freed.
     * Without extra headers the session's own list serves as it is. */
    if (r.nextra > 0 && !ireq_headers(L, &r, s->cfg.headers, &list))
        return luaL_error(L, "not enough memory");

    rc = ixfer_attach(&s->xfer, s->curl);
    /* A dirty kept connection is not reused: a new one, which then replaces it (MAXCONNECTS 1). */
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(s->curl, CURLOPT_FRESH_CONNECT, kept_connection_dirty(s) ? 1L : 0L);
    if (rc == CURLE_OK) rc = curl_easy_setopt(s->curl, CURLOPT_URL, r.url);
    if (rc == CURLE_OK) rc = curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, list ? list : s->cfg.headers);
    if (rc == CURLE_OK) rc = ireq_apply(&r, s->curl);
    if (rc == CURLE_OK) {
        s->busy = 1;
        rc = curl_easy_perform(s->curl);
        s->busy = 0;
        s->h1 = used_http1(s->curl);
    }
    {
        long conns = 0;   /* a failed transfer may have opened one too */
        if (curl_easy_getinfo(s->curl, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK && conns > 0)
            s->connects += conns;
    }
    /* The handle must not keep pointing at a list we free now. */
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->cfg.headers);
    curl_slist_free_all(list);
    return ixfer_push_result(L, &s->xfer, s->curl, rc, r.method, r.url, decode);
}

static int session_info(lua_State *L)
{
    isession *s = check_open(L);
    long conns = 0;
    double t = 0;
    lua_newtable(L);
    curl_easy_getinfo(s->curl, CURLINFO_NUM_CONNECTS, &conns);
    lua_pushinteger(L, conns);
    lua_setfield(L, -2, "new_connections");
    curl_easy_getinfo(s->curl, CURLINFO_TOTAL_TIME, &t);
    lua_pushnumber(L, t);
    lua_setfield(L, -2, "total_time");
    return 1;
}

/* session:connections(): connections opened by every request so far (Client:info's
 * new_connections counts a call's logins and retries with it). */
static int session_connections(lua_State *L)
{
    isession *s = check_open(L);
    lua_pushinteger(L, (lua_Integer)s->connects);
    return 1;
}

static int session_close(lua_State *L)
{
    isession *s = luaL_checkudata(L, 1, ISESSION_MT);
    if (s->busy)
        return luaL_error(L, "session is busy with another request");
    session_release(s);
    return 0;
}

static int session_gc(lua_State *L)
{
    session_release(luaL_checkudata(L, 1, ISESSION_MT));
    return 0;
}

static int session_tostring(lua_State *L)
{
    isession *s = luaL_checkudata(L, 1, ISESSION_MT);
    lua_pushfstring(L, "infisical.Session (%s%p)", s->curl ? "" : "closed, ", (void *)s);
    return 1;
}

void session_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"perform", session_perform},
        {"set_token", session_set_token},
        {"info", session_info},
        {"connections", session_connections},
        {"close", session_close},
        {NULL, NULL}
    };
    static const luaL_Reg meta[] = {
        {"__gc", session_gc},
#if LUA_VERSION_NUM >= 504
        {"__close", session_gc},
#endif
        {"__tostring", session_tostring},
        {NULL, NULL}
    };
    luaL_newmetatable(L, ISESSION_MT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, ISESSION_MT);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    lua_pushcfunction(L, session_new);
    lua_setfield(L, -2, "session");
}
