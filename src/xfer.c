/* xfer.c: response buffering with hard caps, and turning a finished transfer into Lua values. */
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <lauxlib.h>
#include "compat.h"
#include "errors.h"
#include "xfer.h"
#include "jsondec.h"

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
                      const char *method, const char *url, int decode)
{
    long status = 0;
    int n;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        n = ierr_push_curl(L, rc, x->errbuf, x->overflow, status, method, url);
    } else {
        lua_pushinteger(L, (lua_Integer)status);
        /* A 2xx JSON answer the caller will decode anyway is decoded here, from the
         * buffer: no copy of the body into a Lua string (48 KB a page) and none of the
         * allocator's work that its allocation and release cost. Only an object or an
         * array is handed over decoded (a string would read as the body's text); anything
         * else, and anything the decoder refuses, is handed over as the string, for the
         * parser to judge and say why. */
        if (decode && status >= 200 && status <= 299 && x->len > 0) {
            int r = jsondec_push_protected(L, x->body, x->len);
            if (r <= 0 || !lua_istable(L, -1))
                decode = 0;
            if (!decode)
                lua_pop(L, 1);
        } else {
            decode = 0;
        }
        if (!decode)
            lua_pushlstring(L, x->body ? x->body : "", x->len);
        push_headers(L, x->hdr ? x->hdr : "", x->hlen);
        n = 3;
    }
    shrink(x);
    return n;
}
