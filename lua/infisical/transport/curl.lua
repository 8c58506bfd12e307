--- The libcurl transport: one kept-alive easy handle (infisical.core's Session) per client.
-- A transport has `request(method, url, extra_headers, body)` returning
-- `status, body, headers` or `nil, err`, plus `set_token`, `info` and `close`. An extra
-- header replaces the transport's own header of that name, and one with no value
-- (`"Authorization:"`) leaves it out: a Universal Auth login never carries the bearer.
-- @module infisical.transport.curl

local core = require "infisical.core"
local secrets = require "infisical.secrets"
local setmetatable = setmetatable

local _M = { name = "curl" }
local T = {}
T.__index = T

-- The token for a multi made later is the transport's secret "token" (infisical.secrets).

--- opts: the client's transport options (timeout, connect_timeout, low_speed_time,
-- verify_tls, ca_file, ca_path, max_body, max_headers, user_agent, proxy, compress).
function _M.new(opts, token)
  local s = {}
  for k, v in pairs(opts) do s[k] = v end
  s.token = token
  local self = setmetatable({ session = core.session(s) }, T)
  s.token = nil
  self.multi_opts = s
  secrets.set(self, "token", token)
  return self
end

local function new_multi(self)
  local s = {}
  for k, v in pairs(self.multi_opts) do s[k] = v end
  s.token = secrets.get(self, "token")
  return core.multi(s)
end

--- The engine `list_many` runs many requests on (infisical.core's Multi): made on first
-- use, kept with the transport so its connections serve every later `list_many`.
-- With `own` true: a new Multi for one run while another holds the kept one; the run
-- closes it and keeps its token current (set_token does not reach it).
function T:multi(own)
  if own then return new_multi(self) end
  if not self.engine then self.engine = new_multi(self) end
  return self.engine
end

--- `json` true: a 2xx answer that is a JSON object or array comes decoded (a table)
-- instead of as its text, for a parser that takes that (core.parse, core.parse_tokens).
function T:request(method, url, headers, body, json)
  return self.session:perform(method, url, headers, body, json)
end

function T:set_token(token)
  self.session:set_token(token)
  secrets.set(self, "token", token)
  if self.engine then self.engine:set_token(token) end
end

function T:info()
  return self.session:info()
end

--- Connections opened by every request so far (Client:info counts a call's with it).
function T:connections()
  return self.session:connections()
end

function T:close()
  self.session:close()
  if self.engine then self.engine:close() end
  secrets.forget(self)
end

return _M
