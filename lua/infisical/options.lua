--- Option and argument checking shared by the client's functions.
-- Programmer errors raise here, naming the function and the argument, before any
-- request is sent.
-- @module infisical.options

local type, pairs, tostring, error, floor = type, pairs, tostring, error, math.floor
local huge = math.huge

local _M = {}

--- Raises "infisical: FN: bad argument 'NAME' (WHY)" at the caller's caller.
function _M.bad(fname, name, why, level)
  error(("infisical: %s: bad argument '%s' (%s)"):format(fname, name, why), (level or 2) + 1)
end

function _M.is_int(v, lo, hi)
  return type(v) == "number" and v == v and v ~= huge and v ~= -huge
     and v == floor(v) and v >= lo and v <= hi
end

--- What is wrong with an identity id, or nil: it must be a non-empty string of at most
-- 256 bytes without NUL or other control characters. The one check of an id (the C core
-- only escapes it); list_many names each element with it.
function _M.id_problem(v)
  if type(v) ~= "string" then return "non-empty string expected, got " .. type(v) end
  if v == "" then return "empty string" end
  if #v > 256 then return "longer than 256 bytes" end
  if v:find("%z") then return "contains a NUL byte" end
  -- escaping would keep CR/LF out of the request line, but no id holds one: a caller bug
  if v:find("%c") then return "contains a control character (CR, LF, ...)" end
end

--- Raises naming `identity_id` unless v is a valid identity id; returns v.
function _M.identity_id(fname, v, level)
  local why = _M.id_problem(v)
  if why then _M.bad(fname, "identity_id", why, (level or 2) + 1) end
  return v
end

--- How a bad value is shown in an error: numbers as they are, anything else by its type
-- only, so a secret passed in the wrong place is never echoed.
local function show(v)
  if type(v) == "number" then return tostring(v) end
  return type(v)
end
_M.show = show

-- Checkers by kind: return nil when fine, else the reason.
local kinds = {
  string = function(v)
    if type(v) ~= "string" or v == "" then return "non-empty string expected, got " .. (v == "" and "empty string" or type(v)) end
    if v:find("%z") then return "must not contain NUL bytes" end
  end,
  -- a value that goes into a header line verbatim
  header = function(v)
    if type(v) ~= "string" or v == "" then return "non-empty string expected, got " .. (v == "" and "empty string" or type(v)) end
    if v:find("%c") then return "must not contain CR, LF, NUL or other control characters" end
  end,
  boolean = function(v) if type(v) ~= "boolean" then return "boolean expected, got " .. type(v) end end,
  ["function"] = function(v) if type(v) ~= "function" then return "function expected, got " .. type(v) end end,
  seconds = function(v)
    if type(v) ~= "number" or not (v > 0 and v <= 86400) then
      return "number of seconds > 0 and <= 86400 expected, got " .. show(v)
        .. (type(v) == "number" and v > 86400 and " (seconds, not milliseconds as in lua-resty-http)" or "")
    end
  end,
  -- a connect timeout of 1000 or more is milliseconds meant as seconds (lua-resty-http)
  connect_seconds = function(v)
    if type(v) ~= "number" or not (v > 0 and v < 1000) then
      return "number of seconds > 0 and < 1000 expected, got " .. show(v)
        .. (type(v) == "number" and v >= 1000 and " (seconds, not milliseconds as in lua-resty-http)" or "")
    end
  end,
  seconds0 = function(v)
    if type(v) ~= "number" or not (v >= 0 and v <= 86400) then
      return "number of seconds >= 0 and <= 86400 expected, got " .. show(v)
    end
  end,
}
_M.kinds = kinds

--- What to use instead, for option names of other libraries (lua-resty-http's above all)
-- that `infisical.new` does not take. `hints[spec]`: such a table for an options spec.
_M.NEW_HINTS = {
  ssl_verify = "use verify_tls = true or false",
  ssl_server_name = "the TLS server name is the host of base_url",
  send_timeout = "use timeout, in seconds, for the whole request",
  read_timeout = "use timeout, in seconds, for the whole request",
  keepalive = "kept-alive connections are always reused",
  keepalive_timeout = "for cosockets set lua_socket_keepalive_timeout in nginx.conf",
  keepalive_pool = "for cosockets set lua_socket_pool_size in nginx.conf",
  pool = "cosockets pool by origin: set lua_socket_pool_size in nginx.conf",
  pool_size = "for cosockets set lua_socket_pool_size in nginx.conf",
  proxy_opts = "use proxy = URL (curl transport only)",
  headers = "only user_agent can be set",
  host = "use base_url", site_url = "use base_url", siteUrl = "use base_url",
  api_url = "use base_url", domain = "use base_url",
  access_token = "use token", accessToken = "use token",
  clientId = "use client_id", clientSecret = "use client_secret",
}
_M.hints = setmetatable({}, { __mode = "k" })

--- Checks an options table against a spec `{ name = kind or checker }`.
-- Unknown names and wrong kinds raise. Returns a shallow copy (options are copied on entry).
function _M.check(fname, opts, spec, level)
  level = (level or 2) + 1
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    _M.bad(fname, "opts", "table expected, got " .. type(opts), level)
  end
  local copy = {}
  for k, v in pairs(opts) do
    local kind = spec[k]
    if kind == nil then
      local hint = _M.hints[spec] and _M.hints[spec][k]
      error(("infisical: %s: unknown option '%s'%s"):format(fname, tostring(k),
        hint and " (" .. hint .. ")" or ""), level)
    end
    local check = type(kind) == "function" and kind or kinds[kind]
    local why = check(v)
    if why then _M.bad(fname, k, why, level) end
    copy[k] = v
  end
  return copy
end

--- A checker for integers in [lo, hi].
function _M.int(lo, hi)
  return function(v)
    if not _M.is_int(v, lo, hi) then
      return ("integer from %d to %d expected, got %s"):format(lo, hi, show(v))
    end
  end
end

return _M
