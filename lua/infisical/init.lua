--- lua-infisical: list Infisical machine-identity tokens from Lua.
--
--     local infisical = require "infisical"
--     local client = assert(infisical.new{ base_url = "https://eu.infisical.com" })
--     for token in client:each_token(identity_id, { revoked = false }) do ... end
--
-- @module infisical

local core = require "infisical.core"
local options = require "infisical.options"
local filters = require "infisical.filters"
local walk = require "infisical.walk"
local status = require "infisical.status"
local auth = require "infisical.auth"
local http = require "infisical.http"
local secrets = require "infisical.secrets"
local many = require "infisical.many"
local identities = require "infisical.identities"
local server = require "infisical.server"
local client_secrets = require "infisical.client_secrets"
local transports = require "infisical.transport.auto"

local type, pairs, setmetatable, error, tostring = type, pairs, setmetatable, error, tostring
local getenv, find = os.getenv, string.find

local _M = { _VERSION = "0.1.0" }
local Client = {}
local mt = { __index = Client, __name = "infisical.Client" }
-- The client's secrets (its token, or the Universal Auth secret and tokens) live in
-- infisical.secrets, never in the client table.

local DEFAULT_BASE = "https://us.infisical.com"

--- The default of every option of `new` that has one (`defaults.timeout` is `60`): a
-- table of option names and values, read-only by convention (the rows are in
-- infisical.options; docs/api.md lists every option).
-- @table defaults
_M.defaults = options.defaults(options.NEW)

local new_spec = options.spec(options.NEW)
options.hints[new_spec] = options.NEW_HINTS

local transport_options   -- below

--- An environment variable without its surrounding whitespace (the CR/LF that
-- `$(cat file)` or an editor leaves), nil when empty. Values from the environment never
-- raise: what is wrong with them is a `config` error, `nil, err`.
local function nonempty_env(name)
  local v = getenv(name)
  if v == nil then return nil end
  v = v:match("^%s*(.-)%s*$")
  if v == "" then return nil end
  return v
end

local function config_error(message)
  return core.error{ kind = "config", message = message }
end

--- Creates a client.
-- @tparam[opt] table opts every option with its default: docs/api.md, "infisical.new"
-- @return client, or nil and an error (kind "config") when no token or a bad base URL is given
function _M.new(opts)
  opts = options.check("new", opts, new_spec)
  local self = { opts = opts }
  for k, v in pairs(_M.defaults) do
    if opts[k] == nil then opts[k] = v end
  end

  local base, base_name = opts.base_url, "base_url"
  if base == "" then base = nil end
  if base == nil then base, base_name = nonempty_env("INFISICAL_API_URL"), "INFISICAL_API_URL" end
  if base == nil then base = DEFAULT_BASE end
  local why
  self.base_url, why = http.normalize_base(base)
  if not self.base_url then return nil, config_error(base_name .. " " .. why) end

  -- Explicit options first, then the environment: a token, else the Universal Auth pair.
  local token, client_id, client_secret = opts.token, opts.client_id, opts.client_secret
  opts.token, opts.client_id, opts.client_secret = nil, nil, nil
  if token ~= nil and (client_id ~= nil or client_secret ~= nil) then
    error("infisical: new: bad argument 'token' (give either token or client_id/client_secret, not both)", 2)
  end
  if token == nil and client_id == nil and client_secret == nil then
    token = nonempty_env("INFISICAL_TOKEN")
    if token ~= nil and find(token, "%c") then
      return nil, config_error(("INFISICAL_TOKEN holds a control character inside its %d bytes"
        .. " (a token has none): set it to the token alone"):format(#token))
    end
  end
  if token == nil then
    client_id = client_id or nonempty_env("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID")
    client_secret = client_secret or nonempty_env("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET")
    if client_id == nil and client_secret == nil then
      return nil, config_error("no access token: pass opts.token or set INFISICAL_TOKEN, or give"
        .. " Universal Auth credentials (opts.client_id and opts.client_secret, or set"
        .. " INFISICAL_UNIVERSAL_AUTH_CLIENT_ID and INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET)")
    elseif client_id == nil then
      return nil, config_error("no Universal Auth client id: pass opts.client_id or set INFISICAL_UNIVERSAL_AUTH_CLIENT_ID")
    elseif client_secret == nil then
      return nil, config_error("no Universal Auth client secret: pass opts.client_secret or set INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET")
    end
  end
  if token ~= nil and find(token, "[%c]") then
    error("infisical: new: bad argument 'token' (must not contain CR, LF, NUL or other control characters)", 2)
  end

  opts.user_agent = opts.user_agent
    or ("lua-infisical/%s libcurl/%s %s"):format(_M._VERSION, core.curl_version, _VERSION)
  self.sleep = opts.sleep or transports.sleep
  self.clock = opts.clock or (ngx and ngx.now) or core.monotime
  opts.sleep, opts.clock = nil, nil

  local topts = {}
  for k in pairs(transport_options) do topts[k] = opts[k] end
  local terr
  self.transport, terr = transports.new(topts, token, opts.transport)
  if not self.transport then return nil, terr end
  secrets.set(self, "token", token)
  if token == nil then auth.setup(self, client_id, client_secret) end
  return setmetatable(self, mt)
end

-- Options handed to the transport (the rest are the Lua layer's own): options.lua's
-- rows of the "transport" layer.
transport_options = options.layer(options.NEW, "transport")

function mt.__tostring(self)
  return ("infisical.Client (%s%s)"):format(self.transport and "" or "closed, ", self.base_url)
end

local function check_client(self, fname)
  if getmetatable(self) ~= mt then
    error(("infisical: %s: bad self (client expected; use client:%s(...))"):format(fname, fname), 3)
  end
  if not self.transport then error("infisical: client is closed", 3) end
end

local list_spec = options.spec(options.LIST)
options.hints[list_spec] = options.LIST_HINTS

--- One page: one API call (plus retries). `page_size` defaults to the client's
-- `page_size` (100 unless set), the page the walks ask for, not the server's own default of 20.
-- @return `{ tokens = {...} }`, or nil and an error
function Client:list_tokens(identity_id, opts)
  check_client(self, "list_tokens")
  options.identity_id("list_tokens", identity_id)
  opts = options.check("list_tokens", opts, list_spec)
  local limit = opts.page_size or self.opts.page_size
  local url = core.tokens_url(self.base_url, identity_id,
    opts.offset or options.default("offset", options.LIST), limit)
  return http.request(self, "GET", url, http.token_parser(limit))
end

local walk_spec = options.spec(options.WALK)   -- then the filters' own table
setmetatable(walk_spec, { __index = filters.spec })

--- Checks a walk's arguments and returns a new walk.
-- Returns the walk, or nil and the error of learning what the server enforces (the
-- status filters ask infisical.server first).
local function new_walk(self, fname, identity_id, opts)
  check_client(self, fname)
  options.identity_id(fname, identity_id, 3)
  opts = options.check(fname, opts, walk_spec, 3)
  local sv, serr = server.for_filters(self, opts)
  if serr then return nil, serr end
  return walk.new(identity_id, opts.page_size or self.opts.page_size, filters.compile(opts, sv),
    opts.partial == true), opts
end

--- Fetches the walk's next page and feeds it; returns the accepted tokens or nil, err.
local function step(self, w)
  local offset, limit = w:next_request()
  local page, err = http.request(self, "GET", core.tokens_url(self.base_url, w.identity_id, offset, limit),
    http.token_parser(limit))
  if not page then return nil, err end
  return w:feed(page)
end

--- Iterates over every (filtered, de-duplicated) token of the identity, page by page.
-- A failure mid-walk is raised (the error object), never mistaken for the end; so is
-- reaching the 200-token wall, after the last token, unless `partial = true`: then the
-- iteration ends and the listing (the second value) says it was cut.
-- @return the iterator, and the listing: `listing.truncated` is true once the walk stopped at the wall (200 or more tokens; `partial = true`), `listing.err` then holds the `truncated` error that `all_tokens` returns
function Client:each_token(identity_id, opts)
  local w, werr = new_walk(self, "each_token", identity_id, opts)
  if w then werr = nil end
  local buf, i, finished = {}, 0, false
  local listing = { truncated = false }
  return function()
    if werr then
      finished = true
      local e = werr
      werr = nil
      error(e, 0)
    end
    while not finished do
      i = i + 1
      local t = buf[i]
      if t ~= nil then return t end
      if w.done then
        finished = true
        if w.truncated then
          if not w.partial then error(w:truncated_error(), 0) end
          listing.truncated, listing.err = true, w:truncated_error()
        end
        return nil
      end
      local err
      buf, err = step(self, w)
      i = 0
      if not buf then
        finished = true
        error(err, 0)
      end
    end
    return nil
  end, listing
end

--- Every (filtered, de-duplicated) token of the identity, collected.
-- @return tokens, or nil and an error; at the 200-token wall the error has kind "truncated" and carries `tokens`; with `partial = true`: tokens and that error
function Client:all_tokens(identity_id, opts)
  local w, werr = new_walk(self, "all_tokens", identity_id, opts)
  if not w then return nil, werr end
  local tokens = {}
  while not w.done do
    local got, err = step(self, w)
    if not got then
      err.tokens = tokens
      return nil, err
    end
    for j = 1, #got do tokens[#tokens + 1] = got[j] end
  end
  if w.truncated then
    local err = w:truncated_error(tokens)
    if w.partial then return tokens, err end
    return nil, err
  end
  return tokens
end

--- Revokes one token (`POST /api/v1/auth/token-auth/tokens/{tokenId}/revoke`).
-- @tparam string token_id the token's `id`
-- @return true, or nil and an error; a token that is already revoked (or never existed: the server cannot tell them apart) gives kind "already_revoked", status 404. When an attempt failed after it may have reached the server (502/503/504, a connection lost) and the retry met that 404, the lost attempt revoked it: true, "already_revoked_on_retry"
function Client:revoke_token(token_id)
  check_client(self, "revoke_token")
  if type(token_id) ~= "string" or token_id == "" or #token_id > 256 or find(token_id, "%c") then
    options.bad("revoke_token", "token_id", "non-empty string of at most 256 bytes expected, got "
      .. (type(token_id) == "string" and ("a string of %d bytes"):format(#token_id) or type(token_id)), 2)
  end
  local url = self.base_url .. "/api/v1/auth/token-auth/tokens/" .. core.escape_segment(token_id) .. "/revoke"
  local res, note_or_err = http.request(self, "POST", url, core.parse, true)
  if res == nil then return nil, note_or_err end
  if note_or_err then return true, note_or_err end   -- "already_revoked_on_retry"
  return true
end

--- One token record by its id (`GET /api/v1/auth/token-auth/tokens/{tokenId}`, servers
-- of 2025-2026; the late-2024 server has no such route: kind "http", status 404).
-- @tparam string token_id the token's `id`
-- @return the token record (unknown fields kept), or nil and an error (404 "Token with ID ... not found" for an unknown id; 404 "Failed to find identity ..." for a token of another organisation's identity)
function Client:get_token(token_id)
  check_client(self, "get_token")
  if type(token_id) ~= "string" or token_id == "" or #token_id > 256 or find(token_id, "%c") then
    options.bad("get_token", "token_id", "non-empty string of at most 256 bytes expected, got "
      .. (type(token_id) == "string" and ("a string of %d bytes"):format(#token_id) or type(token_id)), 2)
  end
  local url = self.base_url .. "/api/v1/auth/token-auth/tokens/" .. core.escape_segment(token_id)
  local res, err = http.request(self, "GET", url, core.parse)
  if res == nil then return nil, err end
  if type(res) ~= "table" or type(res.token) ~= "table" then
    return nil, core.error{ kind = "decode", message = "answer has no token object", url = url,
      method = "GET" }
  end
  return res.token
end

local secrets_spec = options.spec({})
setmetatable(secrets_spec, { __index = client_secrets.spec })

local function check_secret_id(fname, v)
  if type(v) ~= "string" or v == "" or #v > 256 or find(v, "%c") then
    options.bad(fname, "client_secret_id", "non-empty string of at most 256 bytes expected, got "
      .. (type(v) == "string" and ("a string of %d bytes"):format(#v) or type(v)), 3)
  end
end

--- An identity's Universal Auth client secrets (`GET /api/v1/auth/universal-auth/identities/{identityId}/client-secrets`): one request, the server has no paging and lists only secrets not revoked.
-- @tparam string identity_id the identity's id
-- @tparam[opt] table opts filters: `status` (a name or a list: `"active"`, `"expired"`, `"exhausted"`, `"revoked"`, see `client_secret_status`), `unused` (true: never used for a login; false: used), `older_than` (seconds since `createdAt`), `now` (epoch seconds the filters judge at), `where` (a predicate)
-- @return an array of client secret records as the server sends them (`id`, `description`, `clientSecretPrefix`, `clientSecretNumUses`, `clientSecretNumUsesLimit`, `clientSecretTTL`, `isClientSecretRevoked`, `createdAt`, ...), or nil and an error (an identity without Universal Auth: kind "http", status 400, with a hint)
function Client:list_client_secrets(identity_id, opts)
  check_client(self, "list_client_secrets")
  options.identity_id("list_client_secrets", identity_id)
  opts = options.check("list_client_secrets", opts, secrets_spec)
  local keep = client_secrets.compile(opts)
  local url = client_secrets.url(self.base_url, identity_id)
  local list, err = http.request(self, "GET", url, client_secrets.parser(identity_id, true))
  if list == nil then return nil, err end
  if keep then
    local out = {}
    for i = 1, #list do
      if keep(list[i]) then out[#out + 1] = list[i] end
    end
    return out
  end
  return list
end

--- Revokes one client secret (`POST /api/v1/auth/universal-auth/identities/{identityId}/client-secrets/{clientSecretId}/revoke`).
-- @tparam string identity_id the identity's id
-- @tparam string client_secret_id the client secret's `id`
-- @return the revoked client secret's record (`isClientSecretRevoked` true), or nil and an error (an unknown client secret: kind "http", status 404 on current servers). Revoking twice is no error: the server marks it revoked again, so a retry after a lost answer succeeds as well
function Client:revoke_client_secret(identity_id, client_secret_id)
  check_client(self, "revoke_client_secret")
  options.identity_id("revoke_client_secret", identity_id)
  check_secret_id("revoke_client_secret", client_secret_id)
  local url = client_secrets.url(self.base_url, identity_id) .. "/"
    .. core.escape_segment(client_secret_id) .. "/revoke"
  return http.request(self, "POST", url, client_secrets.parser(identity_id, false), true)
end

--- Transport counters of the client's connection: `new_connections` opened by the last call (its logins and retries included), `total_time` of its last request.
function Client:info()
  check_client(self, "info")
  local info = self.transport:info()
  local mark = self.connections_mark
  if mark and self.transport.connections then
    info.new_connections = self.transport:connections() - mark
  end
  return info
end

--- Frees the connection now (the garbage collector would do it later). Safe to call twice.
function Client:close()
  if getmetatable(self) ~= mt then error("infisical: close: bad self (client expected)", 2) end
  if self.transport then
    self.transport:close()
    self.transport = nil
  end
  secrets.forget(self)
  auth.forget(self)
end
mt.__close = Client.close

--- Lists the tokens of many identities at once (all pages, like `all_tokens`): docs/api.md.
-- @tparam {string,...} identity_ids
-- @tparam[opt] table opts `all_tokens`'s options and `concurrency` (default 8)
-- @return results, errors: `results[id]` holds what `all_tokens(id)` returns first (the tokens; a failed identity has no entry), `errors[id]` its error when there is one (with `partial = true` a truncated identity has both); `errors` is nil when no identity has an error
function Client:list_many(identity_ids, opts)
  check_client(self, "list_many")
  return many.list(self, identity_ids, opts, walk_spec)
end

--- Like `list_many`, as an iterator yielding `identity_id, tokens, err` as each identity
-- completes (in completion order; a repeated id is listed again). Only the identities in
-- progress are held in memory. On Lua 5.4 leaving the loop early stops the transfers;
-- on 5.1/LuaJIT call `close()` on the fourth value returned.
function Client:stream_many(identity_ids, opts)
  check_client(self, "stream_many")
  return many.stream(self, identity_ids, opts, walk_spec)
end

--- Like `list_many`, for the identities' Universal Auth client secrets: one request per identity, the same engine, concurrency and pacing.
-- @tparam {string,...} identity_ids
-- @tparam[opt] table opts `list_client_secrets`'s filters and `concurrency` (default 8)
-- @return results, errors: `results[id]` the identity's client secrets (as `list_client_secrets` returns them), `errors[id]` its error; `errors` is nil when no identity has an error
function Client:list_many_client_secrets(identity_ids, opts)
  check_client(self, "list_many_client_secrets")
  return many.list(self, identity_ids, opts, walk_spec, true)
end

--- Like `stream_many`, for the identities' client secrets: an iterator yielding `identity_id, secrets, err` as each identity completes.
-- @tparam {string,...} identity_ids
-- @tparam[opt] table opts as `list_many_client_secrets`
-- @return the iterator, and (fourth value) the run to `close()` when the loop is left early on Lua 5.1/LuaJIT
function Client:stream_many_client_secrets(identity_ids, opts)
  check_client(self, "stream_many_client_secrets")
  return many.stream(self, identity_ids, opts, walk_spec, true)
end

--- What the client knows of its server's token rules, learned once per client from
-- `GET /api/status` (sent without credentials) unless the `max_token_ttl` option says.
-- @return `{ max_token_ttl = seconds or nil, counts_uses = boolean or nil, source = ... }` (see docs/api.md, "Server versions"), or nil and an error
function Client:server_info()
  check_client(self, "server_info")
  return server.info(self)
end

--- One page of an organisation's identity memberships (one API call, plus retries).
-- @tparam string org_id the organisation's id
-- @tparam[opt] table opts `offset` (default 0), `page_size` (1..20000, default 100), `search` (names containing it, case-insensitive), `order_by` ("name"), `order_direction` ("asc" or "desc"), `token_auth` (as `each_identity`: only this page's memberships whose identity uses Token Auth, or with false the others)
-- @return `{ identityMemberships = {...}, totalCount = N }` as the server sent it (less the memberships `token_auth` leaves out), or nil and an error
function Client:list_identities(org_id, opts)
  check_client(self, "list_identities")
  return identities.list(self, org_id, opts)
end

--- Iterates over every identity membership of an organisation, page by page.
-- A failure mid-walk is raised (the error object), never mistaken for the end.
-- @tparam string org_id the organisation's id
-- @tparam[opt] table opts `page_size` (1..20000, default 100), `search`, `order_by`, `order_direction` (as `list_identities`), `token_auth` (true: only identities that use Token Auth; false: only the others)
-- @return the iterator, and the listing: `listing.total` is the server's `totalCount` once a page said it; `listing.truncated` is always false (the memberships route has no wall: a listing that ends short of `totalCount` raises), the same field as `each_token`'s
function Client:each_identity(org_id, opts)
  check_client(self, "each_identity")
  return identities.each(self, org_id, opts)
end

--- Whether `v` is one of this library's error objects (returned or raised).
-- @function is_error
-- @param v any value
-- @return true or false
_M.is_error = core.is_error

--- A token's status as the server would judge it at `now`: revocation, then the use limit, then the expiry (docs/api.md, "Token lifecycle").
-- @function token_status
-- @tparam table token a token record
-- @tparam[opt] number now epoch seconds (default: the current time)
-- @param[opt] server the server's token-lifetime ceiling in seconds, or `client:server_info()`
-- @return `"revoked"`, `"exhausted"`, `"expired"` or `"active"`; a token whose expiry is unknown is never `"expired"`
_M.token_status = status.token_status

--- When a token stops being accepted.
-- @function expires_at
-- @tparam table token a token record
-- @param[opt] server the server's token-lifetime ceiling in seconds, or `client:server_info()`
-- @return epoch seconds; or nil and `"never"` (TTL 0 and no ceiling), or nil and `"unknown"` (a missing or unreadable TTL or timestamp)
_M.expires_at = status.expires_at

--- Parses a date-time as Infisical sends it (`2023-11-07T05:31:56.000Z`; also without fraction, with a space for `T`, with an offset instead of `Z`).
-- @function parse_time
-- @param iso the string (anything else, e.g. nil for a JSON null, gives nil)
-- @return epoch seconds (an integer, or a float when there is a fraction), or nil
_M.parse_time = status.parse_time

--- Whether an identity uses Token Auth (the identities whose tokens `list_tokens` reads), in either record shape.
-- @function uses_token_auth
-- @tparam table identity a membership record of `list_identities`/`each_identity` (with `identity`) or an identity record
-- @return true or false
_M.uses_token_auth = identities.uses_token_auth

--- The auth methods of an identity, in either record shape (late-2024 `authMethod`, current `authMethods`).
-- @function auth_methods
-- @tparam table identity a membership record (with `identity`) or an identity record
-- @return a new list of method names (`"token-auth"`, `"universal-auth"`, ...), empty when it has none
_M.auth_methods = identities.auth_methods

--- A Universal Auth client secret's status as the server's login would judge it at `now`: revocation, then the TTL, then the use limit (docs/api.md, "Client secrets").
-- @function client_secret_status
-- @tparam table secret a client secret record of `list_client_secrets`
-- @tparam[opt] number now epoch seconds (default: the current time)
-- @return `"revoked"`, `"expired"`, `"exhausted"` or `"active"`; a secret whose expiry is unknown is never `"expired"`
_M.client_secret_status = client_secrets.status

--- When a Universal Auth client secret stops being accepted by a login (`createdAt` + `clientSecretTTL`).
-- @function client_secret_expires_at
-- @tparam table secret a client secret record
-- @return epoch seconds; or nil and `"never"` (TTL 0), or nil and `"unknown"` (a missing or unreadable TTL or `createdAt`)
_M.client_secret_expires_at = client_secrets.expires_at

return _M
