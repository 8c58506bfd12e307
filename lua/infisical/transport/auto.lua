--- Picks the transport for each request: nginx cosockets where the current nginx phase
-- allows them (request handlers, timers), libcurl elsewhere (plain Lua, `init_by_lua`,
-- `init_worker_by_lua`, log and filter phases).
--
-- The choice is made per request, not when the client is made, because a client is
-- often created once in `init_by_lua` (cosockets disabled there) and then used by every
-- request handler, where blocking in libcurl would stall the whole worker. For the same
-- reason a setting only libcurl can honour (`proxy`, `ca_file`, `ca_path`) is refused
-- where cosockets run, with a `config` error: it never silently turns a handler's
-- request into one that blocks the worker, nor is it silently dropped.
-- @module infisical.transport.auto

local core = require "infisical.core"
local cosocket = require "infisical.transport.cosocket"
local secrets = require "infisical.secrets"

local setmetatable, error, pairs = setmetatable, error, pairs

local _M = {}
local A = {}
A.__index = A
A.__tostring = function() return "infisical.transport.auto" end

-- The token for transports made later is the transport's secret "token" (infisical.secrets).

--- Sleeps without blocking the nginx worker where that is possible.
function _M.sleep(seconds)
  if cosocket.available() then return ngx.sleep(seconds) end
  return core.sleep(seconds)
end

local function new_curl(opts, token)
  return require("infisical.transport.curl").new(opts, token)
end

--- A cosocket transport that refuses to run where nginx disables cosockets: a Lua error
-- naming the phase reads better than nginx's "API disabled in the context of ...".
local function checked_cosocket(t)
  local request = t.request
  t.request = function(self, ...)
    if not cosocket.available() then
      error(("infisical: transport 'cosocket' cannot run in nginx phase '%s'%s"):format(
        ngx and ngx.get_phase and ngx.get_phase() or "none (not in nginx)",
        " (use transport = \"curl\" or leave it unset)"), 2)
    end
    return request(self, ...)
  end
  return t
end

--- opts: the transport options; which: "curl", "cosocket" or nil (pick per request).
-- @return a transport, or nil and a config error
function _M.new(opts, token, which)
  if which == "curl" then return new_curl(opts, token) end
  if which == "cosocket" then
    local t, err = cosocket.new(opts, token)
    if not t then return nil, err end
    return checked_cosocket(t)
  end
  local copy = {}
  for k, v in pairs(opts) do copy[k] = v end
  local self = setmetatable({ opts = copy }, A)
  secrets.set(self, "token", token)
  return self
end

--- The transport for the current phase, made on first use; or nil and a config error
-- where cosockets run but cannot honour the options.
function A:current()
  if self.closed then error("infisical: client is closed", 3) end
  if cosocket.available() then
    if not self.cosocket then
      local t, err = cosocket.new(self.opts, secrets.get(self, "token"))
      if not t then
        err.message = err.message .. ("; nginx phase '%s' runs cosockets, where lua-infisical"
          .. " never falls back to blocking libcurl"):format(ngx.get_phase())
        return nil, err
      end
      self.cosocket = t
    end
    self.last = self.cosocket
  else
    if not self.curl then self.curl = new_curl(self.opts, secrets.get(self, "token")) end
    self.last = self.curl
  end
  return self.last
end

function A:request(method, url, headers, body, json)
  local t, err = self:current()
  if not t then return nil, err end
  return t:request(method, url, headers, body, json)
end

--- Name of the transport the next request would use here: "cosocket" or "curl".
function A:name()
  return cosocket.available() and "cosocket" or "curl"
end

--- The `list_many` engine for the current phase: light threads over cosockets, else
-- libcurl's multi interface when the curl transport has one (nil: many.lua goes serial).
function A:multi(own)
  local t = self:current()
  if t and t.multi then return t:multi(own) end
  return nil
end

function A:set_token(token)
  secrets.set(self, "token", token)
  if self.curl then self.curl:set_token(token) end
  if self.cosocket then self.cosocket:set_token(token) end
end

--- Counters of the transport used last (curl's when none was used yet).
function A:info()
  local t = self.last or self:current()
  if not t then return { transport = "cosocket", new_connections = 0 } end   -- refused: none ran
  local info = t:info()
  info.transport = t == self.cosocket and "cosocket" or "curl"
  return info
end

--- Connections opened by every request so far, of both transports.
function A:connections()
  return (self.curl and self.curl:connections() or 0)
    + (self.cosocket and self.cosocket:connections() or 0)
end

function A:close()
  if self.curl then self.curl:close() end
  if self.cosocket then self.cosocket:close() end
  self.curl, self.cosocket, self.last = nil, nil, nil
  secrets.forget(self)
  self.closed = true
end

return _M
