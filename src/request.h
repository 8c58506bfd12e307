/* request.h: building the listing call's URL and headers (shared by every transport). */
#ifndef INFISICAL_REQUEST_H
#define INFISICAL_REQUEST_H

#include <lua.h>

void request_open(lua_State *L);

#endif
