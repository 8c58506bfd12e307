/* xfer.h: one transfer's response buffers and the libcurl callbacks that fill them.
 *
 * The callbacks only append to C memory and never touch the lua_State: a Lua
 * error raised inside curl_easy_perform would longjmp over libcurl's frames. */
#ifndef INFISICAL_XFER_H
#define INFISICAL_XFER_H

#include <stddef.h>
#include <lua.h>
#include <curl/curl.h>

typedef struct ixfer {
    char *body;
    size_t len, cap, max_body;
    char *hdr;                /* raw header lines of the final response */
    size_t hlen, hcap, max_headers;
    int overflow;             /* IXFER_* from errors.h */
    char errbuf[CURL_ERROR_SIZE];
} ixfer;

void ixfer_init(ixfer *x, size_t max_body, size_t max_headers);
/* Points the handle's callbacks and error buffer at x and empties x. */
CURLcode ixfer_attach(ixfer *x, CURL *c);
void ixfer_free(ixfer *x);
/* After a transfer: pushes status, body, headers (a table of lower-cased names)
 * or nil, err. Returns the number of values pushed. With decode non-zero, a 2xx body
 * that is valid JSON is pushed decoded (jsondec.c) instead of as a string. */
int ixfer_push_result(lua_State *L, ixfer *x, CURL *c, CURLcode rc,
                      const char *method, const char *url, int decode);

#endif
