/* jsondec.c: a JSON decoder that builds the final Lua values directly.
 *
 * Profiling `make bench` showed decoding was most of a page's cost: lua-cjson grew every
 * object's table from empty (five rehashes for a 15-field token), copied each string
 * through a buffer, and its nulls and floats then needed a second pass over the whole
 * result (null -> absent, 2592000.0 -> 2592000). Here tables are made at the size the
 * previous object or array at the same depth had, plain strings go straight from the
 * body, integers are read as integers, and null is simply not stored.
 *
 * The size hint must keep memory proportional to the input whatever the input: every
 * object and array, empty ones included, leaves its own count as the next hint (so each
 * count is used at most once, and was paid for by the input that produced it), and a
 * hint is never larger than what the bytes left could fill. Before, `{}` kept the hint of
 * a 100,000-member object before it, and each of many `{}` allocated ~3 MB.
 *
 * No C memory is held while Lua API calls run, so a memory error raised by Lua leaks
 * nothing; every parse error returns 0 up the recursion instead of jumping. */
#include <string.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>
#include <locale.h>
#include <lauxlib.h>
#include "compat.h"
#include "jsondec.h"

#define MAX_DEPTH JSONDEC_MAX_DEPTH
#define HINT_DEPTH 16   /* size hints are remembered for the outer levels only */
#define KEY_SLOTS 64    /* a power of two, at most 64 (object_value keeps a 64-bit mask) */
#define KEY_PROBES 4    /* slots looked at for a key, from its own */
#define SHAPE_KEYS 32   /* members per object whose key is predicted (shape, below) */
/* The fewest bytes a member or element takes, separator and closing bracket included:
 * `"":0,` and `0,`. A hint larger than (bytes left) / this can never be filled. */
#define MIN_MEMBER_BYTES 5
#define MIN_ELEMENT_BYTES 2

/* value() results */
enum { J_ERR = 0, J_VALUE = 1, J_NULL = 2 };

typedef struct jd {
    lua_State *L;
    const char *p, *start, *end;
    const char *err;            /* static message; position taken from p */
    int depth;
    int obj_hint[HINT_DEPTH], arr_hint[HINT_DEPTH];
    /* Keys repeat in every object of a page. Interning a short string in Lua hashes all
     * its bytes and searches the string table: a third of the decoding time before this
     * cache. The strings (keys, then kept values) are held in 2 * KEY_SLOTS stack slots
     * from index `cache` on, which anchor what these point into: pushing one back is a
     * lua_pushvalue, cheaper than reading a table (lua_rawgeti). */
    int cache;
    int key_slot;               /* the cache slot of the key just read, -1 when it has none */
    /* Keys put out of the cache so far. A key's slot depends on what the cache held when
     * it came, so while nothing was put out, a key of an object keeps the slot it had
     * when the object set it; after that, object_value no longer trusts slots. */
    unsigned evictions;
    struct { const char *s; size_t n; } keys[KEY_SLOTS];
    /* Values repeat under the same key too (every token's identityId and authMethod):
     * for each key slot, the bytes of the last plain string value read under it, and
     * whether cache slot KEY_SLOTS + slot + 1 holds that value's Lua string. A value is
     * only kept once it repeated, so values that never do (ids, dates) cost a compare. */
    int val_slot;               /* the key slot of the member whose value is read, or -1 */
    struct { const char *s; size_t n; int kept; } vals[KEY_SLOTS];
    /* The objects of a page have one shape: member i of a token has the key member i of
     * the token before it had. For each outer level, the cache slot + 1 of each member's
     * key in the last object there (0: none). A key that matches its prediction is taken
     * from the cache without looking for the closing quote, for escapes or hashing it:
     * the cached bytes hold neither quote nor backslash, so the same bytes followed by a
     * quote are that key. */
    unsigned char shape[HINT_DEPTH][SHAPE_KEYS];
} jd;

static int fail(jd *d, const char *msg)
{
    if (d->err == NULL)
        d->err = msg;
    return J_ERR;
}

static void skip_ws(jd *d)
{
    const char *p = d->p, *e = d->end;
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    d->p = p;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static long hex4(const char *p)
{
    int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), e = hexval(p[3]);
    if (a < 0 || b < 0 || c < 0 || e < 0)
        return -1;
    return (a << 12) | (b << 8) | (c << 4) | e;
}

static void add_utf8(luaL_Buffer *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    luaL_addlstring(b, u, n);
}

/* A string with escapes, from just after the opening quote: pushes it. */
static int string_escaped(jd *d)
{
    const char *p = d->p, *e = d->end;
    luaL_Buffer b;
    luaL_buffinit(d->L, &b);
    for (;;) {
        const char *run = p;
        while (p < e && *p != '"' && *p != '\\')
            p++;
        luaL_addlstring(&b, run, (size_t)(p - run));
        if (p >= e) {
            luaL_pushresult(&b);
            lua_pop(d->L, 1);
            d->p = p;
            return fail(d, "unterminated string");
        }
        if (*p == '"')
            break;
        if (e - p < 2)
            goto bad;
        switch (p[1]) {
        case '"': luaL_addchar(&b, '"'); p += 2; break;
        case '\\': luaL_addchar(&b, '\\'); p += 2; break;
        case '/': luaL_addchar(&b, '/'); p += 2; break;
        case 'b': luaL_addchar(&b, '\b'); p += 2; break;
        case 'f': luaL_addchar(&b, '\f'); p += 2; break;
        case 'n': luaL_addchar(&b, '\n'); p += 2; break;
        case 'r': luaL_addchar(&b, '\r'); p += 2; break;
        case 't': luaL_addchar(&b, '\t'); p += 2; break;
        case 'u': {
            long cp, lo;
            if (e - p < 6 || (cp = hex4(p + 2)) < 0)
                goto bad;
            p += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* a high surrogate must be followed by a low one */
                if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || (lo = hex4(p + 2)) < 0
                    || lo < 0xDC00 || lo > 0xDFFF)
                    goto bad;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                goto bad;
            }
            add_utf8(&b, (unsigned long)cp);
            break;
        }
        default:
            goto bad;
        }
    }
    luaL_pushresult(&b);
    d->p = p + 1;
    return J_VALUE;
bad:
    luaL_pushresult(&b);
    lua_pop(d->L, 1);
    d->p = p;
    return fail(d, "invalid escape in string");
}

/* A string, from its opening quote: pushes it. Keys come from the cache when they can. */
static int string_value(jd *d, int is_key)
{
    const char *e = d->end, *p;
    d->p++;
    /* libc's memchr reads many bytes a step: the byte loop it replaces was a fifth of
     * the decoding time. A backslash before the closing quote means escapes. */
    p = memchr(d->p, '"', (size_t)(e - d->p));
    d->key_slot = -1;
    if (p != NULL && memchr(d->p, '\\', (size_t)(p - d->p)) == NULL) {
        size_t n = (size_t)(p - d->p);
        if (is_key && n > 0) {
            const char *k = d->p;
            unsigned h = ((unsigned)n * 31u + (unsigned char)k[0] * 7u
                          + (unsigned char)k[n / 2] * 3u + (unsigned char)k[n - 1]), j, slot = KEY_SLOTS;
            /* Up to KEY_PROBES slots from the key's own: 15 keys of a token in 64
             * direct-mapped slots had two collisions, and those keys missed every time. */
            for (j = 0; j < KEY_PROBES; j++) {
                unsigned t = (h + j) & (KEY_SLOTS - 1);
                if (d->keys[t].n == n && memcmp(d->keys[t].s, k, n) == 0) {
                    slot = t;
                    break;
                }
            }
            if (slot < KEY_SLOTS) {
                lua_pushvalue(d->L, d->cache + (int)slot);
            } else {
                /* a free slot among the probed ones, else the key's own (then a key is
                 * put out, which object_value must hear of: see evictions) */
                slot = h & (KEY_SLOTS - 1);
                for (j = 0; j < KEY_PROBES; j++)
                    if (d->keys[(h + j) & (KEY_SLOTS - 1)].n == 0) {
                        slot = (h + j) & (KEY_SLOTS - 1);
                        break;
                    }
                if (d->keys[slot].n != 0)
                    d->evictions++;
                lua_pushlstring(d->L, k, n);
                lua_pushvalue(d->L, -1);
                lua_replace(d->L, d->cache + (int)slot);
                d->keys[slot].s = lua_tostring(d->L, -1);
                d->keys[slot].n = n;
                d->vals[slot].n = 0;
                d->vals[slot].kept = 0;
            }
            d->key_slot = (int)slot;
        } else if (!is_key && d->val_slot >= 0) {
            int vs = d->val_slot;
            const char *v = d->p;
            if (n > 0 && d->vals[vs].n == n && memcmp(d->vals[vs].s, v, n) == 0) {
                if (d->vals[vs].kept) {
                    lua_pushvalue(d->L, d->cache + KEY_SLOTS + vs);
                } else {
                    lua_pushlstring(d->L, v, n);
                    lua_pushvalue(d->L, -1);
                    lua_replace(d->L, d->cache + KEY_SLOTS + vs);
                    d->vals[vs].kept = 1;
                }
            } else {
                lua_pushlstring(d->L, v, n);
                d->vals[vs].s = v;
                d->vals[vs].n = n;
                d->vals[vs].kept = 0;
            }
        } else {
            lua_pushlstring(d->L, d->p, n);
        }
        d->p = p + 1;
        return J_VALUE;
    }
    return string_escaped(d);
}

#if LUA_VERSION_NUM >= 503
/* Whether the number text [p, e) (grammar already checked) is a whole number that fits a
 * lua_Integer; if so, *out is its exact value. Read from the digits, never through a
 * double: 1234567890123456789 is not 1234567890123456768, 12345678901234567890e-1 is
 * 1234567890123456789, while 1.5, 1e-400 and 9223372036854775808 are not such numbers. */
static int exact_integer(const char *p, const char *e, lua_Integer *out)
{
    const char *ip, *fp = NULL;        /* integer and fraction digits */
    size_t li, lf = 0, len, i, first, last;
    long exp10 = 0, scale;
    int neg = 0;
    unsigned long long v = 0, limit;
    if (*p == '-') { neg = 1; p++; }
    ip = p;
    while (p < e && *p >= '0' && *p <= '9') p++;
    li = (size_t)(p - ip);
    if (p < e && *p == '.') {
        fp = ++p;
        while (p < e && *p >= '0' && *p <= '9') p++;
        lf = (size_t)(p - fp);
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        p++;
        if (*p == '+' || *p == '-') eneg = *p++ == '-';
        for (; p < e; p++)
            if (exp10 < 100000) exp10 = exp10 * 10 + (*p - '0');
        if (eneg) exp10 = -exp10;
    }
    /* The digits D = integer part then fraction part; the value is D * 10^(exp10 - lf). */
#define DIGIT(k) ((k) < li ? ip[k] : fp[(k) - li])
    len = li + lf;
    for (first = 0; first < len && DIGIT(first) == '0'; first++)
        ;
    if (first == len) {
        *out = 0;                      /* 0, -0, 0.0, 0e5 */
        return 1;
    }
    for (last = len - 1; DIGIT(last) == '0'; last--)
        ;
    /* significant digits D[first..last], then `scale` zeros */
    scale = exp10 - (long)lf + (long)(len - 1 - last);
    if (scale < 0 || (long)(last - first + 1) + scale > 19)
        return 0;
    limit = neg ? (unsigned long long)LUA_MAXINTEGER + 1u : (unsigned long long)LUA_MAXINTEGER;
    for (i = first; i <= last + (size_t)scale; i++) {
        unsigned dg = i <= last ? (unsigned)(DIGIT(i) - '0') : 0u;
        if (v > (limit - dg) / 10u)
            return 0;
        v = v * 10u + dg;
    }
#undef DIGIT
    *out = neg ? (lua_Integer)(0u - v) : (lua_Integer)v;
    return 1;
}
#endif

/* A number, strictly by JSON's grammar (no NaN, Infinity, hex, leading zeros or '+'). */
static int number_value(jd *d)
{
    const char *p = d->p, *e = d->end, *digits;
    int frac = 0;
    if (p < e && *p == '-')
        p++;
    digits = p;
    if (p >= e || *p < '0' || *p > '9')
        return fail(d, "invalid number");
    if (*p == '0') {
        p++;
    } else {
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && *p == '.') {
        frac = 1;
        p++;
        if (p >= e || *p < '0' || *p > '9')
            return fail(d, "invalid number");
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        frac = 1;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return fail(d, "invalid number");
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (!frac && p - digits <= 18) {
        /* The common case (TTLs, counters): exact, and no strtod. */
        lua_Integer v = 0;
        const char *q;
        for (q = digits; q < p; q++)
            v = v * 10 + (*q - '0');
        if (*d->p == '-')
            v = -v;
#if LUA_VERSION_NUM >= 503
        lua_pushinteger(d->L, v);
#else
        lua_pushnumber(d->L, (lua_Number)v);
#endif
    } else {
        char buf[128], *text = buf;
        size_t n = (size_t)(p - d->p), i;
        double v;
        char dp;
#if LUA_VERSION_NUM >= 503
        lua_Integer iv;
        if (exact_integer(d->p, p, &iv)) {
            lua_pushinteger(d->L, iv);
            d->p = p;
            return J_VALUE;
        }
#endif
        /* Not a whole number that fits (or Lua 5.1/LuaJIT, where every number is a
         * double): the nearest double, as lua-cjson gives. A text longer than the stack
         * buffer (128 digits or more: the grammar allows any length) is copied to the
         * heap; no Lua call runs while it is held. */
        if (n >= sizeof buf && (text = malloc(n + 1)) == NULL)
            return fail(d, "not enough memory for a number");
        dp = localeconv()->decimal_point[0];
        /* strtod follows the C locale's decimal point, which the host may have changed. */
        for (i = 0; i < n; i++)
            text[i] = (d->p[i] == '.') ? dp : d->p[i];
        text[n] = '\0';
        v = strtod(text, NULL);
        if (text != buf)
            free(text);
        if (!isfinite(v))
            return fail(d, "number out of range");
        lua_pushnumber(d->L, (lua_Number)v);
    }
    d->p = p;
    return J_VALUE;
}

static int literal(jd *d, const char *word, size_t n)
{
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
        return 0;
    d->p += n;
    return 1;
}

static int value(jd *d);

static int object_value(jd *d)
{
    lua_State *L = d->L;
    int level = d->depth, count = 0, slot, unslotted = 0, member = 0;
    unsigned char *shape = level < HINT_DEPTH ? d->shape[level] : NULL;
    unsigned evictions = d->evictions;
    uint64_t set = 0;           /* cache slots of the keys this object holds */
    int hint = level < HINT_DEPTH ? d->obj_hint[level] : 0;
    d->p++;
    if ((size_t)hint > (size_t)(d->end - d->p) / MIN_MEMBER_BYTES)
        hint = (int)((size_t)(d->end - d->p) / MIN_MEMBER_BYTES);
    lua_createtable(L, 0, hint);
    skip_ws(d);
    if (d->p < d->end && *d->p == '}') {
        d->p++;
        if (level < HINT_DEPTH)
            d->obj_hint[level] = 0;
        return J_VALUE;
    }
    for (;;) {
        int r;
        if (d->p >= d->end || *d->p != '"')
            return fail(d, "expected a string key");
        if (member < SHAPE_KEYS && shape != NULL && shape[member] != 0) {
            int ps = shape[member] - 1;
            size_t n = d->keys[ps].n;
            if (n > 0 && (size_t)(d->end - d->p) > n + 1 && d->p[n + 1] == '"'
                && memcmp(d->p + 1, d->keys[ps].s, n) == 0) {
                lua_pushvalue(L, d->cache + ps);
                d->p += n + 2;
                slot = ps;
                goto have_key;
            }
        }
        if (string_value(d, 1) == J_ERR)
            return J_ERR;
        slot = d->key_slot;
        if (member < SHAPE_KEYS && shape != NULL)
            shape[member] = (unsigned char)(slot + 1);
    have_key:
        member++;
        skip_ws(d);
        if (d->p >= d->end || *d->p != ':') {
            lua_pop(L, 1);
            return fail(d, "expected ':'");
        }
        d->p++;
        skip_ws(d);
        d->val_slot = slot;
        r = value(d);
        if (r == J_ERR) {
            lua_pop(L, 1);
            return J_ERR;
        }
        if (r == J_NULL) {
            /* Most nulls are of keys not seen yet in this object: nothing to remove, so no
             * table lookup. Only a key sharing a cache slot with one already set (or a key
             * without a slot, or any key once the cache put one out: its slot may have
             * changed) can be a repeat, whose null removes the earlier value. */
            if (slot >= 0 && !(set & ((uint64_t)1 << slot)) && !unslotted
                && d->evictions == evictions) {
                lua_pop(L, 1);
                goto next;
            }
            lua_pushnil(L);
        } else {
            count++;
            if (slot >= 0) set |= (uint64_t)1 << slot; else unslotted = 1;
        }
        lua_rawset(L, -3);
    next:
        skip_ws(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            skip_ws(d);
            continue;
        }
        if (d->p < d->end && *d->p == '}') {
            d->p++;
            break;
        }
        return fail(d, "expected ',' or '}'");
    }
    if (level < HINT_DEPTH)
        d->obj_hint[level] = count;
    return J_VALUE;
}

static int array_value(jd *d)
{
    lua_State *L = d->L;
    int level = d->depth, i = 0;
    int hint = level < HINT_DEPTH ? d->arr_hint[level] : 0;
    d->p++;
    if ((size_t)hint > (size_t)(d->end - d->p) / MIN_ELEMENT_BYTES)
        hint = (int)((size_t)(d->end - d->p) / MIN_ELEMENT_BYTES);
    lua_createtable(L, hint, 0);
    skip_ws(d);
    if (d->p < d->end && *d->p == ']') {
        d->p++;
        if (level < HINT_DEPTH)
            d->arr_hint[level] = 0;
        return J_VALUE;
    }
    for (;;) {
        int r;
        d->val_slot = -1;
        r = value(d);
        if (r == J_ERR)
            return J_ERR;
        i++;
        if (r == J_VALUE)
            lua_rawseti(L, -2, i);   /* a null leaves a hole, as cjson's null did once cleared */
        skip_ws(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            skip_ws(d);
            continue;
        }
        if (d->p < d->end && *d->p == ']') {
            d->p++;
            break;
        }
        return fail(d, "expected ',' or ']'");
    }
    if (level < HINT_DEPTH)
        d->arr_hint[level] = i;
    return J_VALUE;
}

/* Pushes one value (nothing for null) at d->p, which is past any white space. */
static int value(jd *d)
{
    int r;
    if (d->p >= d->end)
        return fail(d, "unexpected end of JSON text");
    switch (*d->p) {
    case '{':
    case '[':
        if (d->depth >= MAX_DEPTH)
            return fail(d, "JSON nested too deeply");
        if (!lua_checkstack(d->L, 4))
            return fail(d, "JSON nested too deeply");
        d->depth++;
        r = *d->p == '{' ? object_value(d) : array_value(d);
        d->depth--;
        return r;
    case '"':
        return string_value(d, 0);
    case 't':
        if (!literal(d, "true", 4)) break;
        lua_pushboolean(d->L, 1);
        return J_VALUE;
    case 'f':
        if (!literal(d, "false", 5)) break;
        lua_pushboolean(d->L, 0);
        return J_VALUE;
    case 'n':
        if (!literal(d, "null", 4)) break;
        return J_NULL;
    default:
        if (*d->p == '-' || (*d->p >= '0' && *d->p <= '9'))
            return number_value(d);
        break;
    }
    return fail(d, "unexpected character");
}

int jsondec_push(lua_State *L, const char *s, size_t n)
{
    jd d;
    int top = lua_gettop(L), r;
    memset(&d, 0, sizeof d);
    d.L = L;
    d.p = d.start = s;
    d.end = s + n;
    /* A NUL byte is never valid JSON; refusing it keeps "{}\0<anything>" from passing. */
    if (memchr(s, '\0', n) != NULL) {
        lua_pushliteral(L, "NUL byte in JSON text");
        return 0;
    }
    if (!lua_checkstack(L, 2 * KEY_SLOTS + 8)) {
        lua_pushliteral(L, "JSON nested too deeply");
        return 0;
    }
    lua_settop(L, top + 2 * KEY_SLOTS);   /* the cache's slots, nil */
    d.cache = top + 1;
    d.val_slot = -1;
    skip_ws(&d);
    r = value(&d);
    if (r == J_NULL) {
        lua_settop(L, top);
        lua_pushliteral(L, "JSON null");
        return 0;
    }
    if (r == J_VALUE) {
        skip_ws(&d);
        if (d.p == d.end) {
            lua_replace(L, d.cache);
            lua_settop(L, d.cache);
            return 1;
        }
        d.err = "unexpected characters after the JSON value";
    }
    lua_settop(L, top);
    if (strcmp(d.err, "number out of range") == 0 || strcmp(d.err, "NUL byte in JSON text") == 0)
        lua_pushstring(L, d.err);
    else if (d.p >= d.end)
        lua_pushfstring(L, "%s at the end of the text (byte %d)", d.err, (int)(d.end - d.start));
    else
        lua_pushfstring(L, "%s at byte %d", d.err, (int)(d.p - d.start) + 1);
    return 0;
}

/* What jsondec_push_protected hands to the protected call. */
typedef struct { const char *s; size_t n; int ok; } jd_call;

static int push_protected(lua_State *L)
{
    jd_call *c = (jd_call *)lua_touserdata(L, 1);
    lua_settop(L, 0);
    c->ok = jsondec_push(L, c->s, c->n);
    return 1;
}

static const char PROTECTED_KEY = 'j';

int jsondec_push_protected(lua_State *L, const char *s, size_t n)
{
    jd_call c;
    int status;
    c.s = s;
    c.n = n;
    c.ok = 0;
    /* The function is kept in the registry: pushing a new C closure allocates on Lua 5.1,
     * and that allocation would be outside the protection. */
    lua_pushlightuserdata(L, (void *)&PROTECTED_KEY);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        lua_pushcfunction(L, push_protected);
        lua_pushlightuserdata(L, (void *)&PROTECTED_KEY);
        lua_pushvalue(L, -2);
        lua_rawset(L, LUA_REGISTRYINDEX);
    }
    lua_pushlightuserdata(L, &c);
    status = lua_pcall(L, 1, 1, 0);
    if (status == 0)
        return c.ok;
    lua_pop(L, 1);
    if (status == LUA_ERRMEM) {
        /* LuaJIT has no emergency collection: free the half-built value now, or the
         * caller's next allocation (the error object) fails outside any protection. */
        lua_gc(L, LUA_GCCOLLECT, 0);
        lua_pushliteral(L, "not enough memory to decode the JSON text");
        return -1;
    }
    lua_pushliteral(L, "the JSON text could not be decoded");
    return 0;
}
