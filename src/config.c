/* config.c: reading transport options from Lua and applying them to easy handles. */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <lauxlib.h>
#include "compat.h"
#include "config.h"
#include "request.h"

/* The options' defaults are infisical.options' (Lua hands every value over). An absent
 * value means what libcurl does without one, except for what keeps the process safe:
 * TLS verification stays on unless turned off by name, and a body or a header block is
 * never larger than the hard caps below (the largest values the options accept). */
#define HARD_MAX_BODY (1024u * 1024u * 1024u)
#define HARD_MAX_HEADERS (1024u * 1024u)

static char *dup_opt(lua_State *L, int idx, const char *name)
{
    const char *s;
    char *copy;
    size_t n;
    lua_getfield(L, idx, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "bad option '%s' (string expected, got %s)", name, luaL_typename(L, -1));
    s = lua_tolstring(L, -1, &n);
    if (strlen(s) != n || n == 0)
        luaL_error(L, "bad option '%s' (must be a non-empty string without NUL bytes)", name);
    copy = malloc(n + 1);
    if (copy == NULL)
        luaL_error(L, "not enough memory");
    memcpy(copy, s, n + 1);
    lua_pop(L, 1);
    return copy;
}

/* Seconds (a positive finite number) to milliseconds, or def when absent. */
static long ms_opt(lua_State *L, int idx, const char *name, long def)
{
    lua_Number v;
    lua_getfield(L, idx, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return def;
    }
    if (lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "bad option '%s' (number of seconds expected, got %s)", name, luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(v > 0 && v <= 86400))
        luaL_error(L, "bad option '%s' (must be > 0 and at most 86400 seconds)", name);
    return (long)ceil(v * 1000.0);
}

static int bool_opt(lua_State *L, int idx, const char *name, int def)
{
    int v = def;
    lua_getfield(L, idx, name);
    if (!lua_isnil(L, -1)) {
        if (!lua_isboolean(L, -1))
            luaL_error(L, "bad option '%s' (boolean expected, got %s)", name, luaL_typename(L, -1));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static size_t size_opt(lua_State *L, int idx, const char *name, size_t def)
{
    lua_Number v;
    lua_getfield(L, idx, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return def;
    }
    if (lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "bad option '%s' (number expected, got %s)", name, luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(v >= 1 && v <= 1073741824.0) || v != floor(v))
        luaL_error(L, "bad option '%s' (must be a whole number from 1 to 2^30)", name);
    return (size_t)v;
}

static void append_header(lua_State *L, iconfig *cfg, const char *line)
{
    struct curl_slist *n = curl_slist_append(cfg->headers, line);
    if (n == NULL)
        luaL_error(L, "not enough memory");
    cfg->headers = n;
}

void iconfig_read(lua_State *L, int idx, iconfig *cfg)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    /* 0: not set (libcurl's own: no whole-transfer limit, its connect timeout) */
    cfg->timeout_ms = ms_opt(L, idx, "timeout", 0);
    cfg->connect_timeout_ms = ms_opt(L, idx, "connect_timeout", 0);
    cfg->low_speed_time = ms_opt(L, idx, "low_speed_time", 0) / 1000;
    cfg->low_speed_limit = cfg->low_speed_time > 0 ? 1 : 0;
    cfg->verify_tls = bool_opt(L, idx, "verify_tls", 1);
    cfg->compress = bool_opt(L, idx, "compress", 0);
    cfg->max_body = size_opt(L, idx, "max_body", HARD_MAX_BODY);
    cfg->max_headers = size_opt(L, idx, "max_headers", HARD_MAX_HEADERS);
    cfg->ca_file = dup_opt(L, idx, "ca_file");
    cfg->ca_path = dup_opt(L, idx, "ca_path");
    cfg->proxy = dup_opt(L, idx, "proxy");
    cfg->user_agent = dup_opt(L, idx, "user_agent");
    /* dup_opt refused NUL bytes, so strlen is the whole value here */
    if (cfg->user_agent != NULL && irequest_has_ctl(cfg->user_agent, strlen(cfg->user_agent)))
        luaL_error(L, "bad option 'user_agent' (must not contain CR, LF, NUL or other control characters)");
    append_header(L, cfg, "Accept: application/json");
    lua_getfield(L, idx, "token");
    if (!lua_isnil(L, -1))
        iconfig_set_token(L, cfg, -1);
    lua_pop(L, 1);
}

void iconfig_set_token(lua_State *L, iconfig *cfg, int idx)
{
    static const char prefix[] = "Authorization: Bearer ";
    struct curl_slist *keep = NULL, *it, *n;
    luaL_Buffer b;
    const char *tok;
    size_t len, i;

    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "bad token (string expected, got %s)", luaL_typename(L, idx));
    tok = lua_tolstring(L, idx, &len);
    if (len == 0)
        luaL_error(L, "bad token (empty string)");
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)tok[i];
        /* The value goes into a header line verbatim: CR/LF would inject headers. */
        if (ch == '\r' || ch == '\n' || ch == '\0' || ch < 0x20 || ch == 0x7f)
            luaL_error(L, "bad token (must not contain CR, LF, NUL or other control characters)");
    }
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, prefix, sizeof prefix - 1);
    luaL_addlstring(&b, tok, len);
    luaL_pushresult(&b);
    /* Rebuild the list without the old Authorization line; allocate first, swap last. */
    for (it = cfg->headers; it != NULL; it = it->next) {
        if (strncmp(it->data, "Authorization:", 14) == 0)
            continue;
        n = curl_slist_append(keep, it->data);
        if (n == NULL)
            goto oom;
        keep = n;
    }
    n = curl_slist_append(keep, lua_tostring(L, -1));
    if (n == NULL)
        goto oom;
    keep = n;
    lua_pop(L, 1);
    curl_slist_free_all(cfg->headers);
    cfg->headers = keep;
    return;
oom:
    curl_slist_free_all(keep);
    luaL_error(L, "not enough memory");
}

CURLcode iconfig_apply(const iconfig *cfg, CURL *c)
{
    CURLcode rc = CURLE_OK;
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
    SET(CURLOPT_NOSIGNAL, 1L);
    if (cfg->timeout_ms > 0)
        SET(CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
    if (cfg->connect_timeout_ms > 0)
        SET(CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
    if (cfg->low_speed_time > 0) {
        SET(CURLOPT_LOW_SPEED_TIME, cfg->low_speed_time);
        SET(CURLOPT_LOW_SPEED_LIMIT, cfg->low_speed_limit);
    }
    SET(CURLOPT_SSL_VERIFYPEER, cfg->verify_tls ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, cfg->verify_tls ? 2L : 0L);
    if (cfg->ca_file != NULL)
        SET(CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->ca_path != NULL)
        SET(CURLOPT_CAPATH, cfg->ca_path);
    if (cfg->proxy != NULL)
        SET(CURLOPT_PROXY, cfg->proxy);
    if (cfg->user_agent != NULL)
        SET(CURLOPT_USERAGENT, cfg->user_agent);
    if (cfg->compress)
        SET(CURLOPT_ACCEPT_ENCODING, "");
    /* Never follow a redirect: the Authorization header must not go to another host. */
    SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cfg->max_body);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_HTTPHEADER, cfg->headers);
#undef SET
    return rc;
}

void iconfig_free(iconfig *cfg)
{
    free(cfg->ca_file);
    free(cfg->ca_path);
    free(cfg->proxy);
    free(cfg->user_agent);
    curl_slist_free_all(cfg->headers);
    memset(cfg, 0, sizeof *cfg);
}
