/* session.h: infisical.Session, one libcurl easy handle kept alive across calls. */
#ifndef INFISICAL_SESSION_H
#define INFISICAL_SESSION_H

#include <lua.h>

#define ISESSION_MT "infisical.Session"

void session_open(lua_State *L);

#endif
