/* config.h: transport settings shared by every easy handle a session or multi creates. */
#ifndef INFISICAL_CONFIG_H
#define INFISICAL_CONFIG_H

#include <stddef.h>
#include <lua.h>
#include <curl/curl.h>

typedef struct iconfig {
    long timeout_ms;          /* whole transfer; 0: not set (as for connect_timeout_ms) */
    long connect_timeout_ms;
    long low_speed_time;      /* seconds below low_speed_limit bytes/s before giving up; 0 = off */
    long low_speed_limit;
    int verify_tls;
    int compress;             /* ask for gzip/deflate; max_body caps the inflated size */
    size_t max_body;
    size_t max_headers;
    char *ca_file;            /* owned copies: handles created later (multi) apply them again */
    char *ca_path;
    char *user_agent;
    char *proxy;              /* NULL: libcurl reads the usual proxy environment variables */
    struct curl_slist *headers;   /* Authorization, Accept, User-Agent */
} iconfig;

/* Reads the options table at idx into cfg (raising on a bad option; cfg stays freeable). */
void iconfig_read(lua_State *L, int idx, iconfig *cfg);
/* Replaces the Authorization header: the token is checked and never echoed in errors. */
void iconfig_set_token(lua_State *L, iconfig *cfg, int idx);
CURLcode iconfig_apply(const iconfig *cfg, CURL *c);
/* Safe to call twice. */
void iconfig_free(iconfig *cfg);

#endif
