/* request.h: building the listing call's URL and headers (shared by every transport), and
 * checking and applying one request's arguments to an easy handle (Session, Multi). */
#ifndef INFISICAL_REQUEST_H
#define INFISICAL_REQUEST_H

#include <stddef.h>
#include <lua.h>
#include <curl/curl.h>

/* Whether s[0..n) holds a control character (NUL included): header values must not. */
int irequest_has_ctl(const char *s, size_t n);

/* A request's arguments as Session:perform and Multi:add take them, from stack index
 * `first` on: method, url[, extra_headers[, body]]. */
typedef struct ireq {
    const char *method, *url, *body;
    size_t urllen, bodylen;
    int headers_idx, nextra;
} ireq;

/* Checks the arguments (raising, naming them) before anything is allocated. */
void ireq_check(lua_State *L, int first, ireq *r);
/* A new list: copies of base's lines, then the extra headers. An extra header replaces
 * the base line of the same name, and one with no value ("Authorization:") removes it,
 * as libcurl does with the headers it makes itself: a Universal Auth login is sent
 * without the session's bearer that way. Raises nothing: 0 when memory ran out (the list
 * is then freed and *out is NULL). */
int ireq_headers(lua_State *L, const ireq *r, const struct curl_slist *base,
                 struct curl_slist **out);
/* Sets the handle's method and body. */
CURLcode ireq_apply(const ireq *r, CURL *c);

void request_open(lua_State *L);

#endif
