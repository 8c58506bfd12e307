/* fuzz_request: the C code that builds what is sent.
 *
 * Length-prefixed parts of the input become a base URL, an identity id, a token and a
 * user agent; two bytes become offset and limit (out of range on purpose, sometimes)
 * and a selector picks options. Then:
 *   core.escape_segment(id), core.tokens_url(base, id, offset, limit),
 *   core.request_headers(token, ua),
 *   core.session{ token=, user_agent=, ca_file=, proxy=, timeout=, max_body=, ... }
 *     then set_token(id), info(), tostring, close()   (config.c, session.c; no transfer)
 * Argument errors are Lua errors and expected; crashes, sanitizer reports and leaks
 * are findings. */
#include <math.h>
#include "harness.h"

static void try_call(lua_State *L, const char *fname, int nargs)
{
    int base = lua_gettop(L) - nargs;
    lua_getglobal(L, "core");
    lua_getfield(L, -1, fname);
    lua_remove(L, -2);
    lua_insert(L, base + 1);
    if (lua_pcall(L, nargs, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TTABLE) {
        int i, n = (int)lua_rawlen(L, -1);
        for (i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            lua_pop(L, 1);
        }
    }
    lua_settop(L, base);
}

static int run(lua_State *L)
{
    fz *z = lua_touserdata(L, 1);
    unsigned sel = fz_byte(z), off = fz_byte(z), lim = fz_byte(z);
    lua_settop(L, 0);
    fz_push_part(L, z);    /* 1: base */
    fz_push_part(L, z);    /* 2: id */
    fz_push_part(L, z);    /* 3: token */
    fz_push_part(L, z);    /* 4: user agent */

    lua_pushvalue(L, 2);
    try_call(L, "escape_segment", 1);

    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    if (sel & 1) lua_pushinteger(L, (lua_Integer)off - 8); else lua_pushnumber(L, off / 3.0);
    if (sel & 2) lua_pushinteger(L, (lua_Integer)lim); else lua_pushnumber(L, (sel & 4) ? NAN : lim / 2.0);
    try_call(L, "tokens_url", 4);

    lua_pushvalue(L, 3);
    lua_pushvalue(L, 4);
    try_call(L, "request_headers", 2);

    lua_newtable(L);       /* 5: session options */
    lua_pushvalue(L, 3);
    lua_setfield(L, 5, "token");
    if (sel & 8) { lua_pushvalue(L, 4); lua_setfield(L, 5, "user_agent"); }
    if (sel & 16) { lua_pushvalue(L, 2); lua_setfield(L, 5, "ca_file"); }
    if (sel & 32) { lua_pushvalue(L, 1); lua_setfield(L, 5, "proxy"); }
    lua_pushnumber(L, (sel & 64) ? off / 7.0 : -(double)lim);
    lua_setfield(L, 5, "timeout");
    lua_pushnumber(L, (sel & 128) ? (double)off * 1024 : lim / 3.0);
    lua_setfield(L, 5, "max_body");
    lua_pushboolean(L, off & 1);
    lua_setfield(L, 5, "verify_tls");
    lua_getglobal(L, "core");
    lua_getfield(L, -1, "session");
    lua_pushvalue(L, 5);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
        int s = lua_gettop(L);
        lua_getfield(L, s, "set_token");
        lua_pushvalue(L, s);
        lua_pushvalue(L, 2);
        (void)lua_pcall(L, 2, 0, 0);
        lua_settop(L, s);
        lua_getfield(L, s, "info");
        lua_pushvalue(L, s);
        (void)lua_pcall(L, 1, 0, 0);
        lua_settop(L, s);
        luaL_tolstring(L, s, NULL);
        lua_settop(L, s);
        if (sel & 4) {     /* otherwise the collector closes it */
            lua_getfield(L, s, "close");
            lua_pushvalue(L, s);
            (void)lua_pcall(L, 1, 0, 0);
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz z = { data, size };
    fuzz_pcall(fuzz_state(), run, &z);
    return 0;
}
