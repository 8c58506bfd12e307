/* request.h: building the listing call's URL and headers (shared by every transport). */
#ifndef INFISICAL_REQUEST_H
#define INFISICAL_REQUEST_H

#include <stddef.h>
#include <lua.h>

/* Whether s[0..n) holds a control character (NUL included): header values must not. */
int irequest_has_ctl(const char *s, size_t n);

void request_open(lua_State *L);

#endif
