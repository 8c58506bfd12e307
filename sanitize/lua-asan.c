/* lua-asan: a minimal Lua 5.4 interpreter linked with AddressSanitizer and
 * UndefinedBehaviorSanitizer, to run busted over the sanitized infisical.core.
 *
 * Why not LD_PRELOAD of the ASan runtime into lua5.4: the specs start curl, python3
 * and plain lua5.4 children; a preloaded runtime follows them through the environment
 * and reports their own exit-time allocations (curl's exit status then turns into 23
 * and the fake server's control calls fail). Linking the runtime into this one
 * executable sanitizes exactly the process that loads the instrumented module.
 *
 *   lua-asan SCRIPT [ARGS...]   -- like `lua5.4 SCRIPT ARGS...` (arg table included)
 */
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

int main(int argc, char **argv)
{
    lua_State *L;
    int i, rc;
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRIPT [ARGS...]\n", argv[0]);
        return 2;
    }
    L = luaL_newstate();
    if (L == NULL)
        return 1;
    luaL_openlibs(L);
    lua_createtable(L, argc, 1);
    for (i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    lua_pushcfunction(L, traceback);
    if (luaL_loadfile(L, argv[1]) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        lua_close(L);
        return 1;
    }
    for (i = 2; i < argc; i++)
        lua_pushstring(L, argv[i]);
    rc = lua_pcall(L, argc - 2, 0, 1);
    if (rc != LUA_OK)
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc == LUA_OK ? 0 : 1;
}
