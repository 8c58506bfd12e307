--- The libcurl transport: one kept-alive easy handle (infisical.core's Session) per client.
-- A transport has `request(method, url, extra_headers, body)` returning
-- `status, body, headers` or `nil, err`, plus `set_token`, `info` and `close`.
-- @module infisical.transport.curl

local core = require "infisical.core"
local setmetatable = setmetatable

local _M = { name = "curl" }
local T = {}
T.__index = T

--- opts: the client's transport options (timeout, connect_timeout, low_speed_time,
-- verify_tls, ca_file, ca_path, max_body, max_headers, user_agent, proxy, compress).
function _M.new(opts, token)
  local s = {}
  for k, v in pairs(opts) do s[k] = v end
  s.token = token
  return setmetatable({ session = core.session(s) }, T)
end

function T:request(method, url, headers, body)
  return self.session:perform(method, url, headers, body)
end

function T:set_token(token)
  self.session:set_token(token)
end

function T:info()
  return self.session:info()
end

function T:close()
  self.session:close()
end

return _M
