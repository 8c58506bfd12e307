/* harness.h: what the libFuzzer targets share: one Lua state holding infisical.core
 * (linked in, not loaded), and a pcall wrapper, so a Lua error raised on purpose by
 * argument checking is an expected outcome while a crash, a sanitizer report or a leak
 * is a finding. */
#ifndef INFISICAL_FUZZ_HARNESS_H
#define INFISICAL_FUZZ_HARNESS_H

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

int luaopen_infisical_core(lua_State *L);

/* The Lua heap, counted by the state's allocator: `now` bytes in use, and the most ever
 * in use (`peak`), which a target resets before the work it measures. */
typedef struct fz_heap { size_t now, peak; } fz_heap;
static fz_heap fz_mem;

static void *fz_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    fz_heap *h = (fz_heap *)ud;
    void *p;
    if (ptr == NULL)
        osize = 0;          /* Lua 5.4 passes the object's type here */
    if (nsize == 0) {
        free(ptr);
        h->now -= osize;
        return NULL;
    }
    p = realloc(ptr, nsize);
    if (p == NULL)
        return NULL;
    h->now = h->now - osize + nsize;
    if (h->now > h->peak)
        h->peak = h->now;
    return p;
}

static int fz_panic(lua_State *L)
{
    (void)L;
    abort();
}

/* A fresh state per input, with the module table as global "core": when the input is
 * done the state is closed, so every malloc of the run has its free and libFuzzer's
 * leak check (run only when the counts differ) points at a real leak. */
static lua_State *fuzz_state(void)
{
    lua_State *L;
    fz_mem.now = fz_mem.peak = 0;
    L = lua_newstate(fz_alloc, &fz_mem);
    if (L != NULL)
        lua_atpanic(L, fz_panic);
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    luaL_requiref(L, "infisical.core", luaopen_infisical_core, 0);
    lua_setglobal(L, "core");
    lua_settop(L, 0);
    return L;
}

/* Runs f in protected mode with the given light userdata argument (a Lua error raised
 * by argument checking is an expected outcome), then closes the state. */
static void fuzz_pcall(lua_State *L, lua_CFunction f, void *arg)
{
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, arg);
    (void)lua_pcall(L, 1, 0, 0);
    lua_close(L);
}

/* A cursor over the fuzzer's bytes. */
typedef struct fz { const uint8_t *p; size_t n; } fz;

static unsigned fz_byte(fz *z)
{
    unsigned b;
    if (z->n == 0)
        return 0;
    b = *z->p;
    z->p++;
    z->n--;
    return b;
}

/* Pushes a string of up to the next byte's value in length (taken from what is left). */
static void fz_push_part(lua_State *L, fz *z)
{
    size_t len = fz_byte(z);
    if (len > z->n)
        len = z->n;
    lua_pushlstring(L, (const char *)z->p, len);
    z->p += len;
    z->n -= len;
}

#endif
