/* compat.h: the few Lua 5.2+ C API calls this module uses, for Lua 5.1 and LuaJIT.
 *
 * The shims are static and carry an `icompat_` prefix behind macros, so they can
 * never collide with LuaJIT's own 5.2 extensions (LuaJIT 2.1 already exports
 * luaL_setfuncs and friends when built with LUAJIT_ENABLE_LUA52COMPAT). */
#ifndef INFISICAL_COMPAT_H
#define INFISICAL_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502

static inline void icompat_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

static inline void *icompat_testudata(lua_State *L, int ud, const char *tname)
{
    void *p = lua_touserdata(L, ud);
    if (p != NULL && lua_getmetatable(L, ud)) {
        luaL_getmetatable(L, tname);
        if (!lua_rawequal(L, -1, -2))
            p = NULL;
        lua_pop(L, 2);
        return p;
    }
    return NULL;
}

#undef luaL_setfuncs
#define luaL_setfuncs(L, l, n) icompat_setfuncs((L), (l), (n))
#undef luaL_testudata
#define luaL_testudata(L, i, t) icompat_testudata((L), (i), (t))
#undef luaL_newlib
#define luaL_newlib(L, l) (lua_newtable(L), luaL_setfuncs((L), (l), 0))
#undef luaL_setmetatable
#define luaL_setmetatable(L, t) (luaL_getmetatable((L), (t)), lua_setmetatable((L), -2))
#undef lua_absindex
#define lua_absindex(L, i) \
    ((i) > 0 || (i) <= LUA_REGISTRYINDEX ? (i) : lua_gettop(L) + (i) + 1)
#undef lua_rawlen
#define lua_rawlen(L, i) lua_objlen((L), (i))

#endif /* LUA_VERSION_NUM < 502 */

#endif
