/* multi.h: infisical.Multi, many transfers in flight at once over libcurl's multi interface. */
#ifndef INFISICAL_MULTI_H
#define INFISICAL_MULTI_H

#include <lua.h>

#define IMULTI_MT "infisical.Multi"

void multi_open(lua_State *L);

#endif
