/* core.c: luaopen_infisical_core. Each area registers itself from its own file. */
#include <lauxlib.h>
#include <curl/curl.h>
#include <time.h>
#include <errno.h>
#include <math.h>
#include "compat.h"
#include "errors.h"
#include "request.h"
#include "response.h"
#include "session.h"
#include "multi.h"

/* core.sleep(seconds): for retries outside nginx (where ngx.sleep is used instead). */
static int core_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    struct timespec ts;
    luaL_argcheck(L, s >= 0 && s <= 3600, 1, "seconds must be from 0 to 3600");
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - floor(s)) * 1e9);
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
    return 0;
}

/* core.monotime(): seconds from an arbitrary start, never going back. */
static int core_monotime(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

int luaopen_infisical_core(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"sleep", core_sleep},
        {"monotime", core_monotime},
        {NULL, NULL}
    };
    /* Once per process: curl_global_init is not thread-safe and must precede every handle.
     * libcurl >= 7.84 makes repeated calls cheap and reference-counted. */
    static int curl_ready = 0;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return luaL_error(L, "curl_global_init failed");
        curl_ready = 1;
    }
    luaL_newlib(L, funcs);
    lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
    lua_setfield(L, -2, "curl_version");
    errors_open(L);
    request_open(L);
    response_open(L);
    session_open(L);
    multi_open(L);
    return 1;
}
