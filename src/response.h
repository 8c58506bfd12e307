/* response.h: the response half of the transport seam: bytes in, native Lua tables or errors out. */
#ifndef INFISICAL_RESPONSE_H
#define INFISICAL_RESPONSE_H

#include <lua.h>

void response_open(lua_State *L);

#endif
