--- The nginx cosocket transport: HTTP/1.1 over `ngx.socket.tcp`, so a request handler
-- waits for Infisical without blocking its nginx worker. Same interface as
-- `infisical.transport.curl`: `request(method, url, extra_headers, body)` returns
-- `status, body, headers` (lower-cased names, repeats joined by ", ") or `nil, err`,
-- plus `set_token`, `info` and `close`.
--
-- What it does not do, on purpose: proxies (nginx cosockets cannot tunnel; use the curl
-- transport), compression (it sends no Accept-Encoding, so bodies come plain), redirects
-- (like the curl transport: the 3xx is reported). Trust for TLS comes from nginx's
-- `lua_ssl_trusted_certificate`, not from `ca_file`/`ca_path`; host names are resolved
-- by nginx's `resolver`.
-- @module infisical.transport.cosocket

local core = require "infisical.core"

local ngx = ngx
local setmetatable, tonumber, type, concat = setmetatable, tonumber, type, table.concat
local find, sub, lower, match, gmatch, format = string.find, string.sub, string.lower,
  string.match, string.gmatch, string.format
local min, max, floor = math.min, math.max, math.floor

local _M = { name = "cosocket" }
local T = {}
T.__index = T
T.__tostring = function() return "infisical.transport.cosocket" end

--- The header lines carrying the bearer token, keyed by transport: never a field of
-- the transport table, so neither `pairs` nor a dump shows them.
local auth_lines = setmetatable({}, { __mode = "k" })

local CHUNK = 16384

--- Whether cosockets can run in the current nginx phase (false outside nginx).
-- init, init_worker, set, header_filter, body_filter and log forbid them ("API disabled").
local COSOCKET_PHASES = {
  rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true,
}
function _M.available()
  if type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" or not ngx.socket then
    return false
  end
  return COSOCKET_PHASES[ngx.get_phase()] == true
end

--- opts: the client's transport options (see infisical.transport.curl).
function _M.new(opts, token)
  if opts.proxy then
    return nil, core.error{ kind = "config",
      message = "the cosocket transport cannot use a proxy (use transport = \"curl\")" }
  end
  local self = setmetatable({
    timeout = opts.timeout, connect_timeout = opts.connect_timeout,
    verify_tls = opts.verify_tls ~= false, max_body = opts.max_body,
    max_headers = opts.max_headers or 100 * 1024, user_agent = opts.user_agent,
    requests = 0, new_connections = 0, reused = 0,
  }, T)
  self:set_token(token)
  return self
end

function T:set_token(token)
  -- No token yet (a Universal Auth client before its login): the same lines without one.
  local lines = core.request_headers(token or "-", self.user_agent)
  if token == nil then table.remove(lines, 1) end
  auth_lines[self] = concat(lines, "\r\n") .. "\r\n"
end

--- Splits an http(s) URL: scheme, host (brackets kept off an IPv6 literal), port,
-- host header value, request target.
local function split_url(url)
  local scheme, authority, target = match(url, "^(https?)://([^/?#]+)(.*)$")
  if not scheme then return nil, "not an http:// or https:// URL" end
  if find(authority, "@", 1, true) then return nil, "user information in URLs is not supported" end
  local host, port = match(authority, "^%[([%x:.]+)%]:?(%d*)$")
  if not host then host, port = match(authority, "^([^:]+):?(%d*)$") end
  if not host then return nil, "bad host in URL" end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if port < 1 or port > 65535 then return nil, "bad port in URL" end
  if target == "" then target = "/" end
  return scheme, host, port, authority, target
end

local function fail(kind, message, method, url, status)
  return nil, core.error{ kind = kind, message = message, method = method, url = url,
    status = status }
end

--- Maps a cosocket error string to an error kind.
local function kind_of(err, tls)
  if err == "timeout" then return "timeout" end
  if tls then return "tls" end
  return "network"
end

--- One CRLF-terminated line of at most `cap` bytes (a chunk-size or trailer line):
-- receive("*l") would buffer a hostile endless line whole.
local function read_line(sock, cap)
  local reader = sock:receiveuntil("\r\n")
  local line, err = reader(cap + 1)
  if not line then return nil, err end
  if #line > cap then return nil, "line too long" end
  local rest
  rest, err = reader(1)   -- consumes the delimiter: nil, nil
  if rest ~= nil or err then return nil, err or "line too long" end
  return line
end

--- Reads one request's answer. Returns status, body, headers, keepalive or nil, kind, message.
local function read_response(self, sock, method, deadline)
  local function settimeout()
    local left = deadline - ngx.now()
    if left <= 0 then return false end
    sock:settimeout(max(1, floor(left * 1000)))
    return true
  end

  -- The header block, capped: receiveuntil hands it over in pieces of at most CHUNK bytes.
  local status, headers, version
  repeat
    local reader = sock:receiveuntil("\r\n\r\n")
    local parts, size = {}, 0
    while true do
      if not settimeout() then return nil, "timeout", "timed out reading the response headers" end
      -- pieces of at most CHUNK bytes; nil and no error once the delimiter is reached
      local data, err = reader(CHUNK)
      if not data then
        if err then return nil, kind_of(err), "reading the response headers: " .. err end
        break
      end
      size = size + #data
      if size > self.max_headers then
        return nil, "too_large", "response headers larger than the limit"
      end
      parts[#parts + 1] = data
    end
    local block = concat(parts)
    local line_end = find(block, "\r\n", 1, true) or #block + 1
    local v, code = match(sub(block, 1, line_end - 1), "^HTTP/1%.([01]) (%d%d%d)")
    if not v then return nil, "network", "malformed HTTP status line" end
    version, status = v, tonumber(code)
    headers = {}
    for line in gmatch(sub(block, line_end + 2), "[^\r\n]+") do
      local name, value = match(line, "^([^:%s]+):[ \t]*(.-)[ \t]*$")
      if not name then return nil, "network", "malformed HTTP header line" end
      name = lower(name)
      local old = headers[name]
      headers[name] = old and (old .. ", " .. value) or value
    end
  until status >= 200 or status == 101   -- 1xx answers precede the real one
  if status == 101 then return nil, "network", "unexpected protocol switch" end

  local keepalive = version == "1"
  local conn = headers["connection"]
  if conn and find(lower(conn), "close", 1, true) then keepalive = false end

  -- The body: none, chunked, by length, or until the server closes.
  local body
  local te = headers["transfer-encoding"]
  local cl = headers["content-length"]
  if method == "HEAD" or status == 204 or status == 304 then
    body = ""
  elseif te and lower(te) ~= "identity" then
    if not find(lower(te), "chunked%s*$") then
      return nil, "network", "unsupported transfer-encoding"
    end
    local parts, size = {}, 0
    while true do
      if not settimeout() then return nil, "timeout", "timed out reading the response body" end
      local line, err = read_line(sock, 1024)
      if not line then return nil, kind_of(err), "reading a chunk size: " .. err end
      local hex = match(line, "^(%x+)%s*[;]?.-$")
      if not hex or #hex > 12 then return nil, "network", "malformed chunk size" end
      local n = tonumber(hex, 16)
      if n == 0 then
        -- trailers, if any, until the empty line
        repeat
          if not settimeout() then return nil, "timeout", "timed out reading the trailers" end
          line, err = read_line(sock, 8192)
          if not line then return nil, kind_of(err), "reading the trailers: " .. err end
        until line == ""
        break
      end
      size = size + n
      if size > self.max_body then return nil, "too_large", "response body larger than max_body" end
      local data
      data, err = sock:receive(n)
      if not data then return nil, kind_of(err), "reading a chunk: " .. err end
      parts[#parts + 1] = data
      data, err = sock:receive(2)
      if data ~= "\r\n" then return nil, err and kind_of(err) or "network", "malformed chunk end" end
    end
    body = concat(parts)
  elseif cl then
    local n = match(cl, "^(%d+)$")
    n = n and tonumber(n)
    if not n or #cl > 15 then return nil, "network", "malformed or repeated content-length" end
    if n > self.max_body then return nil, "too_large", "declared response size larger than max_body" end
    local parts, got = {}, 0
    while got < n do
      if not settimeout() then return nil, "timeout", "timed out reading the response body" end
      local data, err = sock:receive(min(CHUNK, n - got))
      if not data then return nil, kind_of(err), "reading the response body: " .. err end
      parts[#parts + 1] = data
      got = got + #data
    end
    body = concat(parts)
  else
    keepalive = false
    local parts, size = {}, 0
    while true do
      if not settimeout() then return nil, "timeout", "timed out reading the response body" end
      local data, err, partial = sock:receive(CHUNK)
      data = data or partial
      if data and data ~= "" then
        size = size + #data
        if size > self.max_body then return nil, "too_large", "response body larger than max_body" end
        parts[#parts + 1] = data
      end
      if err == "closed" then break end
      if err then return nil, kind_of(err), "reading the response body: " .. err end
    end
    body = concat(parts)
  end
  return status, body, headers, keepalive
end

--- One attempt on one connection. Returns status, body, headers or nil, kind, message, replay
-- (replay: a kept-alive connection the server had already closed; nothing was answered).
local function attempt(self, method, url, extra, body, scheme, host, port, hosthdr, target)
  local deadline = ngx.now() + self.timeout
  local sock = ngx.socket.tcp()
  sock:settimeouts(floor(self.connect_timeout * 1000), floor(self.timeout * 1000),
    floor(self.timeout * 1000))
  -- One pool per origin and trust setting, so a connection checked without
  -- verification is never handed to a client that asked for it.
  local pool = format("infisical:%s://%s:%d%s", scheme, host, port,
    self.verify_tls and "" or ":noverify")
  local ok, err = sock:connect(host, port, { pool = pool })
  if not ok then
    return nil, kind_of(err), format("connecting to %s:%d: %s", host, port, err)
  end
  local reused = sock:getreusedtimes() or 0
  if reused == 0 then
    self.new_connections = self.new_connections + 1
    self.last_new = self.last_new + 1
    if scheme == "https" then
      local sni = not match(host, "^[%d.]+$") and not find(host, ":", 1, true) and host or nil
      ok, err = sock:sslhandshake(nil, sni or host, self.verify_tls)
      if not ok then
        sock:close()
        return nil, kind_of(err, true), format("TLS handshake with %s:%d: %s", host, port, err)
      end
    end
  else
    self.reused = self.reused + 1
  end

  local req = {
    method, " ", target, " HTTP/1.1\r\nHost: ", hosthdr, "\r\n", auth_lines[self],
  }
  if extra then
    for i = 1, #extra do req[#req + 1] = extra[i]; req[#req + 1] = "\r\n" end
  end
  if body or method == "POST" then
    req[#req + 1] = "Content-Length: " .. #(body or "") .. "\r\n"
  end
  req[#req + 1] = "\r\n"
  if body then req[#req + 1] = body end
  local sent
  sent, err = sock:send(req)
  if not sent then
    sock:close()
    return nil, kind_of(err), "sending the request: " .. err, reused > 0
  end

  local status, rbody, headers, keepalive = read_response(self, sock, method, deadline)
  if not status then
    sock:close()
    -- A pooled connection that the server closed while idle fails before any answer.
    local replay = reused > 0 and rbody == "network"
      and find(headers, "^reading the response headers: ") ~= nil
    return nil, rbody, headers, replay
  end
  if keepalive then
    sock:setkeepalive()
  else
    sock:close()
  end
  return status, rbody, headers
end

--- One HTTP request. Header lines in `extra` must be "Name: value" without CR/LF.
function T:request(method, url, extra, body)
  if method ~= "GET" and method ~= "POST" then
    error("bad argument 'method' (must be 'GET' or 'POST')", 2)
  end
  if type(url) ~= "string" or find(url, "[%s%z]") then
    error("bad argument 'url' (must not contain spaces, CR, LF or NUL)", 2)
  end
  if extra ~= nil then
    for i = 1, #extra do
      local h = extra[i]
      if type(h) ~= "string" or find(h, "[\r\n%z]") or not find(h, ":", 1, true) then
        error("bad argument 'extra_headers' (headers must be 'Name: value' strings without CR, LF or NUL)", 2)
      end
    end
  end
  if self.closed then error("session is closed", 2) end
  local scheme, host, port, hosthdr, target = split_url(url)
  if not scheme then return fail("config", host, method, url) end

  self.requests = self.requests + 1
  self.last_new = 0
  local status, rbody, headers, replay = attempt(self, method, url, extra, body, scheme, host,
    port, hosthdr, target)
  if not status and replay and method == "GET" then
    status, rbody, headers = attempt(self, method, url, extra, body, scheme, host, port,
      hosthdr, target)
  end
  if not status then return fail(rbody, headers, method, url) end
  return status, rbody, headers
end

--- The engine for `list_many`: light threads, a fresh one per run (see many_cosocket).
function T:multi()
  return require("infisical.many_cosocket").new(self)
end

--- Counters: `new_connections` for the last request (as with curl), plus totals.
function T:info()
  return { new_connections = self.last_new or 0, requests = self.requests,
    connections = self.new_connections, reused = self.reused }
end

--- Pooled connections stay with nginx; this only forgets the token.
function T:close()
  auth_lines[self] = nil
  self.closed = true
end

return _M
