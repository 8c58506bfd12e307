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
local retry = require "infisical.retry"
local status = require "infisical.status"
local auth = require "infisical.auth"
local redact = require "infisical.redact"
local transports = require "infisical.transport.auto"

local type, pairs, setmetatable, error, tostring = type, pairs, setmetatable, error, tostring
local getenv, find = os.getenv, string.find

local _M = { _VERSION = "0.1.0" }
local Client = {}
local mt = { __index = Client, __name = "infisical.Client" }
_M.Client = Client

--- Secrets live here, keyed by client, not in the client table: `pairs(client)`, a
-- debugger's dump or `tostring` never show them.
local secrets = setmetatable({}, { __mode = "k" })
-- Other modules (many.lua) read a client's token through this read-only view: it holds
-- no entries itself, so a dump of the module table (package.loaded) shows no token.
_M._secrets = setmetatable({}, {
  __index = function(_, client) return secrets[client] end,
  __newindex = function() error("infisical: _secrets is read-only", 2) end,
  __metatable = false,
})

local DEFAULT_BASE = "https://us.infisical.com"

-- Every option of `new`: its rows (check, default, layer) are in infisical.options.
_M.defaults = options.defaults(options.NEW)

local new_spec = options.spec(options.NEW)
_M.new_spec = new_spec
options.hints[new_spec] = options.NEW_HINTS

--- A base URL as Infisical's SDKs take it: with or without a trailing `/` or `/api`.
local function normalize_base(url)
  url = url:gsub("/+$", ""):gsub("/api$", ""):gsub("/+$", "")
  if not url:find("^https?://[^/?#%s]+[^?#%s]*$") then return nil end
  return url
end
_M.normalize_base = normalize_base

local function nonempty_env(name)
  local v = getenv(name)
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

  local base = opts.base_url or getenv("INFISICAL_API_URL")
  if base == nil or base == "" then base = DEFAULT_BASE end
  self.base_url = normalize_base(base)
  if not self.base_url then
    return nil, config_error("base_url must be an http:// or https:// URL without query or fragment")
  end

  -- Explicit options first, then the environment: a token, else the Universal Auth pair.
  local token, client_id, client_secret = opts.token, opts.client_id, opts.client_secret
  opts.token, opts.client_id, opts.client_secret = nil, nil, nil
  if token ~= nil and (client_id ~= nil or client_secret ~= nil) then
    error("infisical: new: bad argument 'token' (give either token or client_id/client_secret, not both)", 2)
  end
  if token == nil and client_id == nil and client_secret == nil then token = nonempty_env("INFISICAL_TOKEN") end
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
  for k in pairs(_M.transport_options) do topts[k] = opts[k] end
  local terr
  self.transport, terr = transports.new(topts, token, opts.transport)
  if not self.transport then return nil, terr end
  secrets[self] = token
  if token == nil then auth.setup(self, client_id, client_secret) end
  return setmetatable(self, mt)
end

--- Options handed to the transport (the rest are the Lua layer's own): options.lua's
-- rows of the "transport" layer.
_M.transport_options = options.layer(options.NEW, "transport")

function mt.__tostring(self)
  return ("infisical.Client (%s%s)"):format(self.transport and "" or "closed, ", self.base_url)
end

local function check_client(self, fname)
  if getmetatable(self) ~= mt then
    error(("infisical: %s: bad self (client expected; use client:%s(...))"):format(fname, fname), 3)
  end
  if not self.transport then error("infisical: client is closed", 3) end
end

--- Every secret the client holds: its token, or the Universal Auth secret and tokens.
local function client_secrets(client)
  return redact.usable(auth.secrets(client, { secrets[client] }, 1))
end

--- Redaction of what a server sent back (rules in infisical.redact), for every path that
-- reads an answer (here, auth.login, many.lua): `string` goes to core.parse/parse_tokens
-- as their redact function (applied before the 512-byte cut), `error` to each error.
_M._redact = {
  string = function(s, client) return redact.string(s, client_secrets(client)) end,
  error = function(client, err) return redact.value(err, client_secrets(client)) end,
}
local redact_string, redact_error = _M._redact.string, _M._redact.error

--- Makes sure the client holds a usable access token (Universal Auth: logs in on first
-- use and shortly before expiry). Call it before every request sent outside `_request`.
-- @return true, or nil and the login error
function Client:_ensure_token()
  if not auth.due(self, self.clock()) then return true end
  local token, err = auth.login(self, _M._redact, self.clock)
  if not token then return nil, err end
  secrets[self] = token
  self.transport:set_token(token)
  return true
end

--- One request with retries: returns what `parse` returns for the final answer; on
-- failure also whether an earlier attempt may have been carried out (its answer lost).
function Client:_request(method, url, parse, headers, body)
  -- an each_token iterator can outlive close()
  if not self.transport then error("infisical: client is closed", 3) end
  local attempt, relogin, started, lost = 0, true, core.monotime(), false
  while true do
    local ok, aerr = self:_ensure_token()
    if not ok then return nil, aerr end
    local gen = auth.generation(self)   -- nothing yields before the request takes its token
    local status, rbody, rheaders = self.transport:request(method, url, headers, body)
    local res, err
    if status then
      res, err = parse(status, rbody, rheaders, method, url, redact_string, self)
    else
      err = rbody
    end
    if res ~= nil then return res end
    err = redact_error(self, err)
    if relogin and auth.rejected(self, err) then
      relogin = false              -- once: a second refusal is the answer
      auth.expire(self, gen)
    else
      local wait = retry.delay(self.opts, err, attempt)
      if not wait then
        return nil, retry.give_up(err, attempt + 1, started, core.monotime()), lost
      end
      lost = lost or retry.maybe_carried_out(err)
      attempt = attempt + 1
      self.sleep(wait)
    end
  end
end

--- core.parse_tokens for a page of `limit` rows (more is a lying server), in the shape
-- `_request` calls a parser: one per limit, made on first use.
local token_parsers = setmetatable({}, { __index = function(t, limit)
  local parse_tokens = core.parse_tokens
  local function parse(status, body, headers, method, url, rd, arg)
    return parse_tokens(status, body, headers, method, url, rd, arg, limit)
  end
  t[limit] = parse
  return parse
end })

local list_spec = options.spec(options.LIST)

--- One page: one API call (plus retries). `limit` defaults to the client's `page_size`
-- (100 unless set), the page the walks ask for, not the server's own default of 20.
-- @return `{ tokens = {...} }`, or nil and an error
function Client:list_tokens(identity_id, opts)
  check_client(self, "list_tokens")
  options.identity_id("list_tokens", identity_id)
  opts = options.check("list_tokens", opts, list_spec)
  local limit = opts.limit or self.opts.page_size
  local url = core.tokens_url(self.base_url, identity_id,
    opts.offset or options.default("offset", options.LIST), limit)
  return self:_request("GET", url, token_parsers[limit])
end

local walk_spec = options.spec(options.WALK)   -- then the filters' own table
setmetatable(walk_spec, { __index = filters.spec })
_M.walk_spec = walk_spec

--- Checks a walk's arguments and returns a new walk.
function Client:_walk(fname, identity_id, opts)
  check_client(self, fname)
  options.identity_id(fname, identity_id, 3)
  opts = options.check(fname, opts, walk_spec, 3)
  return walk.new(identity_id, opts.page_size or self.opts.page_size, filters.compile(opts),
    opts.partial == true), opts
end

--- Fetches the walk's next page and feeds it; returns the accepted tokens or nil, err.
function Client:_step(w)
  local offset, limit = w:next_request()
  local page, err = self:_request("GET", core.tokens_url(self.base_url, w.identity_id, offset, limit),
    token_parsers[limit])
  if not page then return nil, err end
  return w:feed(page)
end

--- Iterates over every (filtered, de-duplicated) token of the identity, page by page.
-- A failure mid-walk is raised (the error object), never mistaken for the end; so is
-- reaching the 200-token wall, after the last token, unless `partial = true`.
function Client:each_token(identity_id, opts)
  local w = Client._walk(self, "each_token", identity_id, opts)
  local buf, i, finished = {}, 0, false
  return function()
    while not finished do
      i = i + 1
      local t = buf[i]
      if t ~= nil then return t end
      if w.done then
        finished = true
        if w.truncated and not w.partial then error(w:truncated_error(), 0) end
        return nil
      end
      local err
      buf, err = self:_step(w)
      i = 0
      if not buf then
        finished = true
        error(err, 0)
      end
    end
    return nil
  end
end

--- Every (filtered, de-duplicated) token of the identity, collected.
-- @return tokens, or nil and an error; at the 200-token wall the error has kind
-- "truncated" and carries `tokens`; with `partial = true`: tokens and that error
function Client:all_tokens(identity_id, opts)
  local w = Client._walk(self, "all_tokens", identity_id, opts)
  local tokens = {}
  while not w.done do
    local got, err = self:_step(w)
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
-- @return true, or nil and an error; a token that is already revoked (or never existed:
-- the server cannot tell them apart) gives kind "already_revoked", status 404. When an
-- attempt failed after it may have reached the server (502/503/504, a connection lost)
-- and the retry met that 404, the lost attempt revoked it: true, "already_revoked_on_retry"
function Client:revoke_token(token_id)
  check_client(self, "revoke_token")
  if type(token_id) ~= "string" or token_id == "" or #token_id > 256 or find(token_id, "%c") then
    options.bad("revoke_token", "token_id", "non-empty string of at most 256 bytes expected, got "
      .. (type(token_id) == "string" and ("a string of %d bytes"):format(#token_id) or type(token_id)), 2)
  end
  local url = self.base_url .. "/api/v1/auth/token-auth/tokens/" .. core.escape_segment(token_id) .. "/revoke"
  local res, err, lost = self:_request("POST", url, core.parse)
  if res ~= nil then return true end
  if err.kind == "http" and err.status == 404 and type(err.message) == "string"
     and find(err.message, "revoked", 1, true) then
    if lost then return true, "already_revoked_on_retry" end
    err.kind = "already_revoked"
  end
  return nil, err
end

--- Transport counters of the client's connection (`new_connections` for the last call).
function Client:info()
  check_client(self, "info")
  return self.transport:info()
end

--- Frees the connection now (the garbage collector would do it later). Safe to call twice.
function Client:close()
  if getmetatable(self) ~= mt then error("infisical: close: bad self (client expected)", 2) end
  if self.transport then
    self.transport:close()
    self.transport = nil
  end
  secrets[self] = nil
  auth.forget(self)
end
mt.__close = Client.close

--- Whether `v` is one of this library's error objects (returned or raised).
_M.is_error = core.is_error
_M.token_status = status.token_status
_M.expires_at = status.expires_at
_M.parse_time = status.parse_time
mt.__gc = nil

require("infisical.many").install(_M)   -- list_many, stream_many
require("infisical.identities").install(_M)   -- list_identities, each_identity, uses_token_auth

return _M
