/* request.c: the request half of the transport seam. Whatever carries the bytes
 * (libcurl here, an nginx cosocket elsewhere) gets its URL and headers from here.
 *
 *   core.escape_segment(s)                              -> "%2E%2E%2Fx"
 *   core.tokens_url(base, identity_id, offset, limit)   -> base .. "/api/v1/auth/token-auth/identities/<id>/tokens?offset=O&limit=L"
 *   core.request_headers(token, user_agent)             -> { "Authorization: Bearer …", "Accept: …", "User-Agent: …" }
 */
#include <string.h>
#include <math.h>
#include <lauxlib.h>
#include "compat.h"
#include "request.h"

/* Percent-escapes everything but unreserved letters, digits, '-', '_' and '~'.
 * '.' is escaped too, so that an id of ".." can never be read as a dot-segment. */
static void add_escaped(luaL_Buffer *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '-' || c == '_' || c == '~') {
            luaL_addchar(b, (char)c);
        } else {
            luaL_addchar(b, '%');
            luaL_addchar(b, hex[c >> 4]);
            luaL_addchar(b, hex[c & 15]);
        }
    }
}

static int escape_segment(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    add_escaped(&b, s, n);
    luaL_pushresult(&b);
    return 1;
}

/* An integer argument in [lo, hi] (no default: the caller passes it); raises naming the
 * argument otherwise. */
static lua_Integer check_range(lua_State *L, int idx, const char *name, lua_Integer lo, lua_Integer hi)
{
    lua_Number v;
    if (lua_type(L, idx) != LUA_TNUMBER)
        return luaL_error(L, "bad argument '%s' (integer expected, got %s)", name, luaL_typename(L, idx));
    v = lua_tonumber(L, idx);
    if (v != floor(v) || v < (lua_Number)lo || v > (lua_Number)hi)
        return luaL_error(L, "bad argument '%s' (must be an integer from %d to %d)", name, (int)lo, (int)hi);
    return (lua_Integer)v;
}

static int tokens_url(lua_State *L)
{
    size_t baselen, idlen;
    const char *base = luaL_checklstring(L, 1, &baselen);
    const char *id;
    lua_Integer offset, limit;
    luaL_Buffer b;

    /* What an id may be is checked in Lua (options.identity_id), for the caller; here only
     * that it is a string: every byte of it is escaped by length, NUL and CR/LF included. */
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "bad argument 'identity_id' (string expected, got %s)", luaL_typename(L, 2));
    id = lua_tolstring(L, 2, &idlen);
    offset = check_range(L, 3, "offset", 0, 100);
    limit = check_range(L, 4, "limit", 1, 100);
    luaL_argcheck(L, baselen > 0 && strlen(base) == baselen && strpbrk(base, " \r\n?#") == NULL, 1,
                  "base URL must be non-empty, without spaces, '?', '#', CR, LF or NUL");

    luaL_buffinit(L, &b);
    luaL_addlstring(&b, base, baselen);
    luaL_addstring(&b, "/api/v1/auth/token-auth/identities/");
    add_escaped(&b, id, idlen);
    luaL_addstring(&b, "/tokens");
    lua_pushfstring(L, "?offset=%d&limit=%d", (int)offset, (int)limit);
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    return 1;
}

/* Whether s[0..n) holds a control character (NUL included). Every byte is looked at: a
 * strpbrk/strlen check stops at the first NUL, and "ua\0\r\nX-Injected: 1" went through. */
int irequest_has_ctl(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

static int request_headers(lua_State *L)
{
    size_t n, ualen;
    const char *tok = luaL_checklstring(L, 1, &n);
    const char *ua = luaL_checklstring(L, 2, &ualen);
    luaL_argcheck(L, n > 0, 1, "token must not be empty");
    if (irequest_has_ctl(tok, n))
        luaL_argerror(L, 1, "token must not contain CR, LF, NUL or other control characters");
    luaL_argcheck(L, !irequest_has_ctl(ua, ualen), 2,
                  "user agent must not contain CR, LF, NUL or other control characters");
    lua_createtable(L, 3, 0);
    lua_pushliteral(L, "Authorization: Bearer ");
    lua_pushvalue(L, 1);
    lua_concat(L, 2);
    lua_rawseti(L, -2, 1);
    lua_pushliteral(L, "Accept: application/json");
    lua_rawseti(L, -2, 2);
    lua_pushliteral(L, "User-Agent: ");
    lua_pushvalue(L, 2);
    lua_concat(L, 2);
    lua_rawseti(L, -2, 3);
    return 1;
}

void ireq_check(lua_State *L, int first, ireq *r)
{
    int i;
    size_t mlen;
    r->method = luaL_checklstring(L, first, &mlen);
    r->url = luaL_checklstring(L, first + 1, &r->urllen);
    r->headers_idx = first + 2;
    r->nextra = 0;
    if (!lua_isnoneornil(L, r->headers_idx)) {
        luaL_checktype(L, r->headers_idx, LUA_TTABLE);
        r->nextra = (int)lua_rawlen(L, r->headers_idx);
        for (i = 1; i <= r->nextra; i++) {
            size_t len;
            const char *h;
            lua_rawgeti(L, r->headers_idx, i);
            h = lua_tolstring(L, -1, &len);
            if (lua_type(L, -1) != LUA_TSTRING || strlen(h) != len || strpbrk(h, "\r\n") != NULL
                || strchr(h, ':') == NULL)
                luaL_argerror(L, r->headers_idx,
                              "headers must be 'Name: value' strings without CR, LF or NUL");
            lua_pop(L, 1);
        }
    }
    r->bodylen = 0;
    r->body = luaL_optlstring(L, first + 3, NULL, &r->bodylen);
    /* the length too: strcmp alone takes "GET\0anything" for "GET" */
    luaL_argcheck(L, (mlen == 3 && strcmp(r->method, "GET") == 0)
                  || (mlen == 4 && strcmp(r->method, "POST") == 0), first,
                  "method must be 'GET' or 'POST'");
    luaL_argcheck(L, strlen(r->url) == r->urllen && strpbrk(r->url, " \r\n") == NULL, first + 1,
                  "url must not contain spaces, CR, LF or NUL");
}

static int slist_push(struct curl_slist **list, const char *line)
{
    struct curl_slist *n = curl_slist_append(*list, line);
    if (n == NULL)
        return 0;
    *list = n;
    return 1;
}

/* Whether two header lines name the same header (names compared without case). */
static int same_name(const char *a, const char *b)
{
    for (; *a != ':' && *a != '\0'; a++, b++) {
        char ca = *a, cb = *b;
        if (ca >= 'A' && ca <= 'Z') ca = (char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z') cb = (char)(cb - 'A' + 'a');
        if (ca != cb)
            return 0;
    }
    return *a == ':' && *b == ':';
}

/* "Name:" with nothing but blanks after the colon. */
static int no_value(const char *h)
{
    h = strchr(h, ':') + 1;   /* ireq_check saw the colon */
    while (*h == ' ' || *h == '\t')
        h++;
    return *h == '\0';
}

/* Whether one of the extra headers names the same header as line. */
static int extra_names(lua_State *L, const ireq *r, const char *line)
{
    int i, same = 0;
    for (i = 1; i <= r->nextra && !same; i++) {
        lua_rawgeti(L, r->headers_idx, i);   /* strings checked by ireq_check: no raise */
        same = same_name(lua_tostring(L, -1), line);
        lua_pop(L, 1);
    }
    return same;
}

int ireq_headers(lua_State *L, const ireq *r, const struct curl_slist *base,
                 struct curl_slist **out)
{
    struct curl_slist *list = NULL;
    const struct curl_slist *it;
    int i, ok = 1;
    for (it = base; it != NULL && ok; it = it->next)
        if (!extra_names(L, r, it->data))
            ok = slist_push(&list, it->data);
    for (i = 1; i <= r->nextra && ok; i++) {
        const char *h;
        lua_rawgeti(L, r->headers_idx, i);
        h = lua_tostring(L, -1);
        if (!no_value(h))
            ok = slist_push(&list, h);
        lua_pop(L, 1);
    }
    if (!ok) {
        curl_slist_free_all(list);
        list = NULL;
    }
    *out = list;
    return ok;
}

CURLcode ireq_apply(const ireq *r, CURL *c)
{
    CURLcode rc;
    if (r->method[0] == 'P') {
        rc = curl_easy_setopt(c, CURLOPT_POST, 1L);
        if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->bodylen);
        if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, r->body ? r->body : "");
        return rc;
    }
    return curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
}

void request_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"escape_segment", escape_segment},
        {"tokens_url", tokens_url},
        {"request_headers", request_headers},
        {NULL, NULL}
    };
    luaL_setfuncs(L, funcs, 0);
}
