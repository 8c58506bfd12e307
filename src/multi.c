/* multi.c: infisical.Multi. Many transfers in flight at once on one libcurl multi handle,
 * so a scheduler in Lua (lua/infisical/many.lua) can overlap the round trips of many
 * identities while reusing kept-alive connections (and TLS sessions) between them.
 *
 *   m = core.multi{ same options as core.session }
 *   m:add(tag, method, url[, extra_headers[, body]])   -- starts a transfer; tag: an integer
 *   n = m:wait(seconds)      -- drives transfers until one is finished or the time is up
 *   tag, status, body, headers = m:next()     -- or tag, nil, err; nothing when none is finished
 *   m:running(), m:abort(), m:set_token(token), m:info(), m:close(), tostring(m)
 *
 * The multi handle keeps the connection cache: a transfer that ends leaves its connection
 * there for the next one. Easy handles are pooled and reused for the same reason and to
 * save their setup. Nothing here calls Lua while libcurl runs (see xfer.h). */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <poll.h>
#include <sys/socket.h>
#include <lauxlib.h>
#include "compat.h"
#include "config.h"
#include "xfer.h"
#include "request.h"
#include "multi.h"

enum { SLOT_IDLE = 0, SLOT_RUNNING, SLOT_DONE };

/* A connection's two addresses: a descriptor number names a connection only until it is
 * closed, and the system gives the number to the next socket or file opened. */
typedef struct sock_id {
    struct sockaddr_storage local, peer;
    socklen_t llen, plen;
} sock_id;

/* Reads fd's addresses into id; 0 when fd is not a connected socket. */
static int sock_id_of(curl_socket_t fd, sock_id *id)
{
    id->llen = id->plen = sizeof id->local;
    return getsockname(fd, (struct sockaddr *)&id->local, &id->llen) == 0
        && getpeername(fd, (struct sockaddr *)&id->peer, &id->plen) == 0;
}

/* Whether fd is still the connection recorded as id (not a number given to another
 * socket or to a file since libcurl closed the connection). */
static int same_socket(curl_socket_t fd, const sock_id *id)
{
    sock_id now;
    return sock_id_of(fd, &now) && now.llen == id->llen && now.plen == id->plen
        && memcmp(&now.local, &id->local, now.llen) == 0
        && memcmp(&now.peer, &id->peer, now.plen) == 0;
}

typedef struct islot {
    CURL *curl;
    ixfer xfer;
    struct curl_slist *list;   /* this request's headers (its own copy) */
    char *url;                 /* kept for the error object */
    char method[8];
    lua_Integer tag;
    int state;
    int ready;                 /* configured; a slot whose setup failed is never handed out */
    unsigned long seq;         /* finishing order, so next() hands results out first-in first-out */
    CURLcode rc;
    curl_socket_t last_sock;   /* the connection its last transfer left in the cache */
    sock_id last_id;           /* which connection that number was (see same_socket) */
} islot;

typedef struct imulti {
    CURLM *multi;
    CURLSH *share;
    iconfig cfg;
    islot **slots;             /* pointers: callbacks hold &slot->xfer, so slots never move */
    int nslots, cap;
    int running, ndone;
    unsigned long seq;
    long connects;             /* new connections made over the multi's life */
    int fresh;                 /* new connections only: a cached one was dirty (see multi_add) */
    int closed;
} imulti;

static imulti *check_open(lua_State *L)
{
    imulti *m = luaL_checkudata(L, 1, IMULTI_MT);
    if (m->closed)
        luaL_error(L, "multi is closed");
    return m;
}

static void slot_clear(islot *s)
{
    curl_slist_free_all(s->list);
    s->list = NULL;
    free(s->url);
    s->url = NULL;
    s->state = SLOT_IDLE;
}

/* The one cleanup for close(), __gc and __close; safe to run twice. Easy handles leave
 * the multi before it is cleaned up, and the share goes last: handles still point at it. */
static void multi_release(imulti *m)
{
    int i;
    for (i = 0; i < m->nslots; i++) {
        islot *s = m->slots[i];
        if (s->curl != NULL) {
            if (s->state == SLOT_RUNNING && m->multi != NULL)
                curl_multi_remove_handle(m->multi, s->curl);
            curl_easy_cleanup(s->curl);
        }
        slot_clear(s);
        ixfer_free(&s->xfer);
        free(s);
    }
    free(m->slots);
    m->slots = NULL;
    m->nslots = m->cap = m->running = m->ndone = 0;
    if (m->multi != NULL) {
        curl_multi_cleanup(m->multi);
        m->multi = NULL;
    }
    if (m->share != NULL) {
        curl_share_cleanup(m->share);
        m->share = NULL;
    }
    iconfig_free(&m->cfg);
    m->closed = 1;
}

static int multi_new(lua_State *L)
{
    imulti *m;
    luaL_checktype(L, 1, LUA_TTABLE);
    m = lua_newuserdata(L, sizeof *m);
    memset(m, 0, sizeof *m);
    luaL_setmetatable(L, IMULTI_MT);
    iconfig_read(L, 1, &m->cfg);
    m->multi = curl_multi_init();
    m->share = curl_share_init();
    if (m->multi == NULL || m->share == NULL)
        return luaL_error(L, "curl_multi_init failed");
    /* DNS answers and TLS sessions shared by every pooled handle: a second connection to
     * the same host resumes the TLS session instead of a full handshake. One thread only,
     * so no lock callbacks. */
    curl_share_setopt(m->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(m->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
#ifdef CURLPIPE_MULTIPLEX
    /* HTTP/2 servers get every transfer as a stream of one connection. */
    curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
#endif
    return 1;
}

/* An idle pooled slot, or a new one. Raises only before anything is half-made. */
static islot *get_slot(lua_State *L, imulti *m)
{
    islot *s;
    int i;
    for (i = 0; i < m->nslots; i++)
        if (m->slots[i]->state == SLOT_IDLE && m->slots[i]->ready)
            return m->slots[i];
    if (m->nslots == m->cap) {
        int ncap = m->cap ? m->cap * 2 : 8;
        islot **n = realloc(m->slots, (size_t)ncap * sizeof *n);
        if (n == NULL)
            luaL_error(L, "not enough memory");
        m->slots = n;
        m->cap = ncap;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL)
        luaL_error(L, "not enough memory");
    s->last_sock = CURL_SOCKET_BAD;
    ixfer_init(&s->xfer, m->cfg.max_body, m->cfg.max_headers);
    m->slots[m->nslots++] = s;   /* owned from here on: release frees it whatever happens */
    s->curl = curl_easy_init();
    if (s->curl == NULL)
        luaL_error(L, "curl_easy_init failed");
    if (iconfig_apply(&m->cfg, s->curl) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_SHARE, m->share) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_PRIVATE, (void *)s) != CURLE_OK)
        luaL_error(L, "could not configure libcurl (is it too old?)");
    s->ready = 1;
    return s;
}

/* Whether the transfer that just ended went over HTTP/1.0 or 1.1. */
static int used_http1(CURL *c)
{
    long v = 0;
    return curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &v) == CURLE_OK
        && (v == CURL_HTTP_VERSION_1_0 || v == CURL_HTTP_VERSION_1_1);
}

/* Whether a connection left in the cache by a finished transfer has bytes waiting or was
 * closed; called with no transfer running, so every cached connection is idle. Nothing
 * may arrive on an idle HTTP/1.1 connection: such bytes (a server that sent more after a
 * complete answer) belong to no request, and libcurl 7.88 reuses the connection and reads
 * them as the next answer (it prunes readable connections only once a second). Only
 * HTTP/1.x connections are recorded: HTTP/2 frames name their stream, and an idle HTTP/2
 * connection gets PINGs and window updates. */
static int idle_connection_dirty(imulti *m)
{
    int i;
    for (i = 0; i < m->nslots; i++) {
        islot *s = m->slots[i];
        struct pollfd p;
        if (s->last_sock == CURL_SOCKET_BAD)
            continue;
        /* A number libcurl closed since may name another socket or a file now (a
         * regular file is always readable): not ours to judge, and forgotten. Measured
         * (bench/conns.lua, spec 10): every batch took new connections once files had
         * taken the numbers of connections libcurl dropped. */
        if (!same_socket(s->last_sock, &s->last_id)) {
            s->last_sock = CURL_SOCKET_BAD;
            continue;
        }
        p.fd = s->last_sock;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 0) > 0) {
            if (p.revents & POLLNVAL)
                s->last_sock = CURL_SOCKET_BAD;   /* closed by libcurl since */
            else
                return 1;
        }
    }
    return 0;
}

static int multi_add(lua_State *L)
{
    imulti *m = check_open(L);
    lua_Integer tag = luaL_checkinteger(L, 2);
    CURLcode rc;
    islot *s;
    ireq r;

    ireq_check(L, 3, &r);
    s = get_slot(L, m);
    /* From here on nothing raises until the slot is running or cleared again. A copy of
     * the headers per transfer: set_token can then swap the shared list while transfers
     * are running (a Universal Auth login in the middle of an audit). */
    s->url = malloc(r.urllen + 1);
    if (s->url == NULL || !ireq_headers(L, &r, m->cfg.headers, &s->list)) {
        slot_clear(s);
        return luaL_error(L, "not enough memory");
    }
    memcpy(s->url, r.url, r.urllen + 1);
    strcpy(s->method, r.method);
    s->tag = tag;
    rc = ixfer_attach(&s->xfer, s->curl);
    /* Checked when a batch starts (nothing running: a running transfer's socket is
     * readable with its own answer, and libcurl tells a transfer's socket only once it
     * ended). A dirty connection in the cache: the whole batch takes new connections. */
    if (m->running == 0)
        m->fresh = idle_connection_dirty(m);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(s->curl, CURLOPT_FRESH_CONNECT, m->fresh ? 1L : 0L);
    if (rc == CURLE_OK) rc = curl_easy_setopt(s->curl, CURLOPT_URL, s->url);
    if (rc == CURLE_OK) rc = curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->list);
    /* Over TLS, wait to learn whether the connection multiplexes (HTTP/2) rather than
     * opening one connection per transfer; cleartext HTTP here is always HTTP/1.1. */
    if (rc == CURLE_OK) rc = curl_easy_setopt(s->curl, CURLOPT_PIPEWAIT, strncmp(r.url, "https:", 6) == 0 ? 1L : 0L);
    if (rc == CURLE_OK) rc = ireq_apply(&r, s->curl);
    if (rc != CURLE_OK) {
        slot_clear(s);
        return luaL_error(L, "could not configure libcurl: %s", curl_easy_strerror(rc));
    }
    if (curl_multi_add_handle(m->multi, s->curl) != CURLM_OK) {
        slot_clear(s);
        return luaL_error(L, "curl_multi_add_handle failed");
    }
    s->state = SLOT_RUNNING;
    m->running++;
    return 0;
}

/* Moves every transfer libcurl reports finished out of the multi (its connection goes back
 * to the cache) into the done state. */
static void collect(imulti *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        islot *s = NULL;
        long conns = 0;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (s == NULL || s->state != SLOT_RUNNING)
            continue;
        s->rc = msg->data.result;
        /* still in the multi: the HTTP/1.x connection it leaves in the cache, if any */
        s->last_sock = CURL_SOCKET_BAD;
        if (used_http1(s->curl)
            && curl_easy_getinfo(s->curl, CURLINFO_ACTIVESOCKET, &s->last_sock) == CURLE_OK
            && s->last_sock != CURL_SOCKET_BAD && !sock_id_of(s->last_sock, &s->last_id))
            s->last_sock = CURL_SOCKET_BAD;
        curl_easy_getinfo(s->curl, CURLINFO_NUM_CONNECTS, &conns);
        m->connects += conns;
        curl_multi_remove_handle(m->multi, s->curl);
        s->state = SLOT_DONE;
        s->seq = ++m->seq;
        m->running--;
        m->ndone++;
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int multi_wait(lua_State *L)
{
    imulti *m = check_open(L);
    lua_Number secs = luaL_optnumber(L, 2, 0);
    double deadline;
    int still;
    luaL_argcheck(L, secs >= 0 && secs <= 86400, 2, "seconds must be from 0 to 86400");
    deadline = now_ms() + secs * 1000.0;
    for (;;) {
        double left;
        CURLMcode mc = curl_multi_perform(m->multi, &still);
        if (mc != CURLM_OK)
            return luaL_error(L, "curl_multi_perform failed: %s", curl_multi_strerror(mc));
        collect(m);
        left = deadline - now_ms();
        if (m->ndone > 0 || left <= 0)
            break;
        /* Unlike curl_multi_wait, curl_multi_poll sleeps the full time even with nothing to
         * watch, which is what a caller waiting for a scheduled retry wants. */
#if LIBCURL_VERSION_NUM >= 0x074200
        mc = curl_multi_poll(m->multi, NULL, 0, (int)ceil(left), NULL);
#else
        mc = curl_multi_wait(m->multi, NULL, 0, (int)ceil(left), NULL);
#endif
        if (mc != CURLM_OK)
            return luaL_error(L, "curl_multi_poll failed: %s", curl_multi_strerror(mc));
    }
    lua_pushinteger(L, m->ndone);
    return 1;
}

/* multi:next([json]): the oldest finished transfer's tag and result. With json true, a 2xx
 * JSON object or array is handed over decoded from the buffer (as Session:perform's
 * `json`): no Lua string of the body. */
static int multi_next(lua_State *L)
{
    imulti *m = check_open(L);
    int decode = lua_toboolean(L, 2);
    islot *s = NULL;
    int i, n;
    for (i = 0; i < m->nslots; i++) {
        islot *c = m->slots[i];
        if (c->state == SLOT_DONE && (s == NULL || c->seq < s->seq))
            s = c;
    }
    if (s == NULL)
        return 0;
    lua_pushinteger(L, s->tag);
    n = ixfer_push_result(L, &s->xfer, s->curl, s->rc, s->method, s->url, decode);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    slot_clear(s);
    m->ndone--;
    return n + 1;
}

/* Drops every unfinished and unclaimed transfer (an abandoned stream); connections that
 * were mid-answer are closed by libcurl, the others stay cached. A cleanup like close:
 * on a closed multi there is nothing to drop, and raising would replace the error of a
 * loop body that closed the client (a stream's __close aborts). */
static int multi_abort(lua_State *L)
{
    imulti *m = luaL_checkudata(L, 1, IMULTI_MT);
    int i;
    if (m->closed)
        return 0;
    for (i = 0; i < m->nslots; i++) {
        islot *s = m->slots[i];
        if (s->state == SLOT_RUNNING)
            curl_multi_remove_handle(m->multi, s->curl);
        if (s->state != SLOT_IDLE) {
            curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
            slot_clear(s);
        }
    }
    m->running = m->ndone = 0;
    return 0;
}

static int multi_running(lua_State *L)
{
    imulti *m = check_open(L);
    lua_pushinteger(L, m->running);
    lua_pushinteger(L, m->ndone);
    return 2;
}

static int multi_set_token(lua_State *L)
{
    imulti *m = check_open(L);
    iconfig_set_token(L, &m->cfg, 2);
    return 0;
}

static int multi_info(lua_State *L)
{
    imulti *m = check_open(L);
    lua_newtable(L);
    lua_pushinteger(L, m->connects);
    lua_setfield(L, -2, "new_connections");
    lua_pushinteger(L, m->nslots);
    lua_setfield(L, -2, "handles");
    lua_pushinteger(L, m->running);
    lua_setfield(L, -2, "running");
    return 1;
}

static int multi_close(lua_State *L)
{
    multi_release(luaL_checkudata(L, 1, IMULTI_MT));
    return 0;
}

static int multi_tostring(lua_State *L)
{
    imulti *m = luaL_checkudata(L, 1, IMULTI_MT);
    lua_pushfstring(L, "infisical.Multi (%s%p)", m->closed ? "closed, " : "", (void *)m);
    return 1;
}

void multi_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"add", multi_add},
        {"wait", multi_wait},
        {"next", multi_next},
        {"abort", multi_abort},
        {"running", multi_running},
        {"set_token", multi_set_token},
        {"info", multi_info},
        {"close", multi_close},
        {NULL, NULL}
    };
    static const luaL_Reg meta[] = {
        {"__gc", multi_close},
#if LUA_VERSION_NUM >= 504
        {"__close", multi_close},
#endif
        {"__tostring", multi_tostring},
        {NULL, NULL}
    };
    luaL_newmetatable(L, IMULTI_MT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, IMULTI_MT);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    lua_pushcfunction(L, multi_new);
    lua_setfield(L, -2, "multi");
}
