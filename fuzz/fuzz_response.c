/* fuzz_response: the C code that turns an answer into Lua values.
 *
 * One selector byte picks the status and the path; two length-prefixed parts become
 * the retry-after and content-type headers; the rest is the body:
 *   core.decode(body)
 *   core.parse(status, body, headers, "GET", url)
 *   core.parse_tokens(status, body, headers, "GET", url, nil, nil, 20)
 *   ixfer_push_result over raw header bytes and a curl result code (xfer.c's header
 *   table and errors.c's curl errors)
 * Every error object is also turned into its one-line tostring.
 *
 * Memory is a property checked on every input, not only crashes: the Lua heap may grow
 * by at most BYTES_PER_INPUT_BYTE per input byte (plus a constant for the state's own
 * first tables) over the whole call, garbage included, or the run aborts. A decoder that
 * sizes tables from anything but the input it has (issue 10 §1: `{}` after a
 * 100,000-member object took ~3 MB) fails it at once. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "harness.h"
#include "xfer.h"

/* Decoding makes a ~56-byte table from 2 input bytes (`{}`), plus its slot in the
 * parent and the Lua stack for nesting: about 40 bytes a byte at worst, doubled for
 * the tables' power-of-two growth and the garbage of growing strings. */
#define BYTES_PER_INPUT_BYTE 96
#define HEAP_SLACK (64u * 1024u)

/* Extra coverage for libFuzzer (a section it reads like its own counters): one slot per
 * 2 bytes of heap per input byte. An input that reaches a higher ratio is "new coverage"
 * and is kept, so the fuzzer climbs towards amplification instead of meeting it only by
 * luck: memory growth does not change which lines run, and coverage alone never guides
 * a fuzzer to it. */
__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t heap_ratio[64];

static const int statuses[] = { 200, 201, 204, 301, 302, 400, 401, 403, 404, 422, 429, 500, 502, 503, 599, 100 };

/* tostring of every value on the stack from `from` (errors use __tostring). */
static void stringify(lua_State *L, int from)
{
    int i, top = lua_gettop(L);
    for (i = from; i <= top; i++) {
        luaL_tolstring(L, i, NULL);
        lua_pop(L, 1);
    }
}

static int call_core(lua_State *L, const char *fname, int nargs)
{
    int base = lua_gettop(L) - nargs;
    lua_getglobal(L, "core");
    lua_getfield(L, -1, fname);
    lua_remove(L, -2);
    lua_insert(L, base + 1);
    lua_call(L, nargs, LUA_MULTRET);
    return base + 1;
}

static int run(lua_State *L)
{
    fz *z = lua_touserdata(L, 1);
    size_t size = z->n, base;
    unsigned sel = fz_byte(z);
    int status = statuses[sel & 15], mode = (sel >> 4) & 3;
    lua_settop(L, 0);
    lua_newtable(L);                                   /* 1: headers */
    fz_push_part(L, z);
    lua_setfield(L, 1, "retry-after");
    fz_push_part(L, z);
    lua_setfield(L, 1, "content-type");
    if (sel & 0x40) {
        lua_pushliteral(L, "http://elsewhere.example/x");
        lua_setfield(L, 1, "location");
    }
    lua_pushlstring(L, (const char *)z->p, z->n);     /* 2: body */
    lua_gc(L, LUA_GCCOLLECT, 0);
    base = fz_mem.peak = fz_mem.now;
    if (mode == 0) {
        lua_pushvalue(L, 2);
        stringify(L, call_core(L, "decode", 1));
    } else if (mode == 1 || mode == 2) {
        lua_pushinteger(L, status);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, 1);
        lua_pushliteral(L, "GET");
        lua_pushliteral(L, "http://127.0.0.1/api/v1/auth/token-auth/identities/x/tokens?offset=0&limit=20");
        lua_pushnil(L);
        lua_pushnil(L);
        lua_pushinteger(L, 20);
        stringify(L, call_core(L, mode == 1 ? "parse" : "parse_tokens", 8));
    } else {
        static CURL *c = NULL;
        ixfer x;
        size_t half = z->n / 2;
        CURLcode rc = (sel & 0x80) ? CURLE_OK : (CURLcode)(sel % 100);
        if (c == NULL && (c = curl_easy_init()) == NULL)
            abort();
        ixfer_init(&x, 8u << 20, 64u << 10);
        /* The buffers are C memory that a Lua error would leak: only OOM raises here. */
        if (half > 0) {
            x.hdr = malloc(half);
            memcpy(x.hdr, z->p, half);
            x.hlen = x.hcap = half;
        }
        if (z->n - half > 0) {
            x.body = malloc(z->n - half);
            memcpy(x.body, z->p + half, z->n - half);
            x.len = x.cap = z->n - half;
        }
        x.overflow = (int)(sel % 3);
        {
            int top = lua_gettop(L);
            /* both result paths: the body as a string, and decoded from the buffer
             * (jsondec.c); the length's parity picks, so every seed reaches both */
            ixfer_push_result(L, &x, c, rc, "GET", "http://127.0.0.1/x",
                              (int)((z->n ^ sel) & 1));
            stringify(L, top + 1);
        }
        ixfer_free(&x);
    }
    {
        size_t grown = fz_mem.peak - base, per_byte;
        /* the first 4 kB are the state's own (key cache, error table): not the input's */
        per_byte = grown > 4096 ? (grown - 4096) / (size + 1) : 0;
        heap_ratio[per_byte / 2 < 63 ? per_byte / 2 : 63] = 1;
    }
    if (getenv("FUZZ_HEAP_REPORT") != NULL)   /* to see the figures: run inputs with it set */
        fprintf(stderr, "heap: %zu bytes for %zu input bytes\n", fz_mem.peak - base, size);
    if (fz_mem.peak - base > BYTES_PER_INPUT_BYTE * size + HEAP_SLACK) {
        fprintf(stderr, "fuzz_response: the Lua heap grew by %zu bytes for a %zu-byte input"
                " (bound: %d per byte + %u)\n", fz_mem.peak - base, size,
                BYTES_PER_INPUT_BYTE, HEAP_SLACK);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz z = { data, size };
    fuzz_pcall(fuzz_state(), run, &z);
    return 0;
}
