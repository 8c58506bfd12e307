/* jsondec.h: JSON text to native Lua values in one pass (see jsondec.c). */
#ifndef INFISICAL_JSONDEC_H
#define INFISICAL_JSONDEC_H

#include <stddef.h>
#include <lua.h>

/* Deepest nesting of arrays and objects decoded (core.json_max_depth to Lua: redaction
 * walks error details down to it). */
#define JSONDEC_MAX_DEPTH 1000

/* Pushes the value of the JSON text s[0..n) and returns 1, or pushes a message and
 * returns 0. null becomes an absent field (or a hole in an array; a text that is just
 * null is an error), whole numbers that fit become integers (Lua 5.3+), non-finite
 * numbers, NaN/Infinity/hex, NUL bytes and nesting deeper than 1000 are refused. A whole
 * number that fits a lua_Integer is read exactly from its digits (1e2, 2592000.0 and
 * 1234567890123456789 included); any other number is the nearest double, as lua-cjson
 * gives (on Lua 5.1/LuaJIT every number is). */
int jsondec_push(lua_State *L, const char *s, size_t n);

/* jsondec_push in a protected call: returns 1 (value pushed), 0 (message pushed) or -1
 * when memory ran out (message pushed). Needs two free stack slots. A memory error while decoding is never raised to the caller: a hostile answer
 * must end in `nil, err`, not in an error thrown out of list_tokens. */
int jsondec_push_protected(lua_State *L, const char *s, size_t n);

#endif
