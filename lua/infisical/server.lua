--- What the client knows of its server's token rules: the token-lifetime ceiling and
-- whether token records show use, learned once per client from `GET /api/status`.
--
-- Servers of 2026 answer `/api/status` with `maxIdentityAccessTokenTTL` (seconds; the
-- deployment's `MAX_MACHINE_IDENTITY_TOKEN_AGE`, 7776000 = 90 days by default). The field
-- came with the token redesign (Infisical/infisical, identity-access-token-service.ts
-- and identity-access-token-fns.ts at commit 0b118066c4a2): such a server signs every
-- token with an expiry at most the ceiling away, refuses legacy tokens without one after
-- its enforcement date plus the ceiling, and validates tokens without reading or writing
-- their database row, so `accessTokenNumUses`, `accessTokenLastUsedAt` and
-- `accessTokenLastRenewedAt` keep their issue-time values. The late-2024 server
-- (backend/src/server/routes/index.ts of commit c01ea048) answers the same route without
-- the field and writes use counts.
--
-- The route needs no credentials, and a server checks any `Authorization` it receives, so
-- it is sent without one (a use-limited token is not spent on it). It is asked only when a
-- status is derived (the `status` and `unused_for` filters, the command's `list` and
-- `audit`), at most once per client; the `max_token_ttl` option of `new` sets the ceiling
-- by hand (no request) or turns it off (`false`).
-- @module infisical.server

local core = require "infisical.core"
local attempt = require "infisical.attempt"
local pace = require "infisical.pace"

local type, setmetatable = type, setmetatable

local _M = {}

_M.PATH = "/api/status"
local HEADERS = { "Authorization:" }

-- client -> its view (weak: a client that is dropped takes its view with it)
local views = setmetatable({}, { __mode = "k" })

--- The view made of a `/api/status` answer (a decoded table).
function _M.view_of(answer)
  local c = type(answer) == "table" and answer.maxIdentityAccessTokenTTL or nil
  if type(c) == "number" and c > 0 and c == c and c ~= math.huge then
    return { max_token_ttl = c, counts_uses = false, source = "server" }
  end
  return { counts_uses = true, source = "server" }
end

local function fetch(client)
  local url = client.base_url .. _M.PATH
  local a = attempt.new(client, "GET", { started = core.monotime(), relogin = false })
  local waited = false
  while true do
    local w = waited and 0 or pace.hold(client, "GET")
    if w > 0 then client.sleep(w) end
    waited = false
    a:sending(nil)
    local status, rbody, rheaders = client.transport:request("GET", url, HEADERS)
    local action, res = a:outcome(status, rbody, rheaders, core.parse, url)
    if action == "done" then return _M.view_of(res) end
    if action == "fail" then
      -- a server (or a proxy) without the route: no ceiling known, the late-2024 rules
      if type(res) == "table" and res.kind == "http" and res.status == 404 then
        return { counts_uses = true, source = "none" }
      end
      return nil, res
    end
    client.sleep(res)
    waited = true
  end
end

--- The client's view: `{ max_token_ttl = seconds or nil, counts_uses = boolean or nil,
-- source = "server" | "none" | "option" | "off" }`, or nil and the error of the request.
-- A failure is not kept: the next call asks again.
function _M.info(client)
  local v = views[client]
  if v then return v end
  local opt = client.opts.max_token_ttl
  if opt == false then
    v = { source = "off" }
  elseif type(opt) == "number" then
    v = { max_token_ttl = opt, source = "option" }
  else
    if not client.transport then error("infisical: client is closed", 3) end
    local err
    v, err = fetch(client)
    if not v then return nil, err end
  end
  views[client] = v
  return v
end

--- The view when the walk options derive a status (`status` or `unused_for` set), else
-- nil; or nil and an error (the request's, or kind "unsupported" for `unused_for` on a
-- server that does not record use).
function _M.for_filters(client, opts)
  if opts == nil or (opts.status == nil and opts.unused_for == nil) then return nil end
  local v, err = _M.info(client)
  if not v then return nil, err end
  if opts.unused_for ~= nil and v.counts_uses == false then
    return nil, core.error{ kind = "unsupported", message = "unused_for: this server does not"
      .. " record token use (its /api/status states maxIdentityAccessTokenTTL: servers since"
      .. " 2026-04 validate tokens without writing accessTokenLastUsedAt or"
      .. " accessTokenNumUses), so no token can be said to be unused" }
  end
  return v
end

return _M
