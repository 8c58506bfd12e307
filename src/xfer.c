/* xfer.c: response buffering with hard caps, and turning a finished transfer into Lua values. */
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <lauxlib.h>
#include "compat.h"
#include "errors.h"
#include "xfer.h"

#define KEEP_BYTES (1u << 20)

void ixfer_init(ixfer *x, size_t max_body, size_t max_headers)
{
    memset(x, 0, sizeof *x);
    x->max_body = max_body;
    x->max_headers = max_headers;
}

void ixfer_free(ixfer *x)
{
    free(x->body);
    free(x->hdr);
    x->body = x->hdr = NULL;
    x->len = x->cap = x->hlen = x->hcap = 0;
}

/* Appends n bytes, growing geometrically; 0 when the cap or memory says no. */
static int append(char **buf, size_t *len, size_t *cap, size_t max, const char *p, size_t n)
{
    if (n > max - *len)
        return 0;
    if (*len + n > *cap) {
        size_t ncap = *cap ? *cap : 16384;
        char *nb;
        while (ncap < *len + n)
            ncap *= 2;
        if (ncap > max)
            ncap = max;
        nb = realloc(*buf, ncap);
        if (nb == NULL)
            return 0;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return 1;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    ixfer *x = ud;
    size_t n = size * nmemb;
    if (!append(&x->body, &x->len, &x->cap, x->max_body, p, n)) {
        x->overflow = IXFER_BODY_TOO_LARGE;
        return 0;   /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    ixfer *x = ud;
    size_t n = size * nmemb;
    /* A new status line starts a new response (after 100 Continue or a proxy's CONNECT). */
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        x->hlen = 0;
    if (!append(&x->hdr, &x->hlen, &x->hcap, x->max_headers, p, n)) {
        x->overflow = IXFER_HEADERS_TOO_LARGE;
        return 0;
    }
    return n;
}

CURLcode ixfer_attach(ixfer *x, CURL *c)
{
    CURLcode rc;
    x->len = x->hlen = 0;
    x->overflow = IXFER_OK;
    x->errbuf[0] = '\0';
    rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
    return rc;
}

/* Pushes a table of the response's headers: lower-cased names; repeated names joined by ", ". */
static void push_headers(lua_State *L, const char *p, size_t n)
{
    const char *end = p + n;
    lua_newtable(L);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon != NULL && colon > p) {
            const char *v = colon + 1, *ve = line_end;
            luaL_Buffer b;
            const char *k;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            luaL_buffinit(L, &b);
            for (k = p; k < colon; k++)
                luaL_addchar(&b, (char)tolower((unsigned char)*k));
            luaL_pushresult(&b);
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (lua_isstring(L, -1)) {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            }
            lua_rawset(L, -3);
        }
        p = eol ? eol + 1 : end;
    }
}

/* Keeps a reused handle from holding on to one unusually large answer's memory. */
static void shrink(ixfer *x)
{
    if (x->cap > KEEP_BYTES) {
        free(x->body);
        x->body = NULL;
        x->cap = 0;
    }
    if (x->hcap > KEEP_BYTES) {
        free(x->hdr);
        x->hdr = NULL;
        x->hcap = 0;
    }
    x->len = x->hlen = 0;
}

int ixfer_push_result(lua_State *L, ixfer *x, CURL *c, CURLcode rc,
                      const char *method, const char *url)
{
    long status = 0;
    int n;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        n = ierr_push_curl(L, rc, x->errbuf, x->overflow, status, method, url);
    } else {
        lua_pushinteger(L, (lua_Integer)status);
        lua_pushlstring(L, x->body ? x->body : "", x->len);
        push_headers(L, x->hdr ? x->hdr : "", x->hlen);
        n = 3;
    }
    shrink(x);
    return n;
}

void ireq_check(lua_State *L, int first, ireq *r)
{
    int i;
    r->method = luaL_checkstring(L, first);
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
    luaL_argcheck(L, strcmp(r->method, "GET") == 0 || strcmp(r->method, "POST") == 0, first,
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
