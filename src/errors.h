/* errors.h: the error objects every runtime failure returns as `nil, err`. */
#ifndef INFISICAL_ERRORS_H
#define INFISICAL_ERRORS_H

#include <lua.h>
#include <curl/curl.h>

#define IERR_MT "infisical.Error"

/* Why a transfer stopped early on our side, so a CURLE_WRITE_ERROR can be told apart. */
enum { IXFER_OK = 0, IXFER_BODY_TOO_LARGE, IXFER_HEADERS_TOO_LARGE };

/* Pushes a new error table of the given kind with its metatable set. */
void ierr_new(lua_State *L, const char *kind);
/* Sets t[k] = v on the error table at the top of the stack (v may be NULL: no-op). */
void ierr_setstr(lua_State *L, const char *k, const char *v);
void ierr_setint(lua_State *L, const char *k, lua_Integer v);
/* Pushes nil and an error describing a failed transfer; returns 2. */
int ierr_push_curl(lua_State *L, CURLcode rc, const char *errbuf, int overflow,
                   long status, const char *method, const char *url);
void errors_open(lua_State *L);

#endif
