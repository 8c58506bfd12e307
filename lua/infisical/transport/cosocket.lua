--- The nginx cosocket transport: HTTP/1.1 over `ngx.socket.tcp`, so a request handler
-- waits for Infisical without blocking its nginx worker. Same interface as
-- `infisical.transport.curl`: `request(method, url, extra_headers, body)` returns
-- `status, body, headers` (lower-cased names, repeats joined by ", ") or `nil, err`,
-- plus `set_token`, `info` and `close`.
--
-- What it does not do, on purpose: proxies and per-client `ca_file`/`ca_path` (refused
-- with a `config` error: trust comes from nginx's global `lua_ssl_trusted_certificate`;
-- use the curl transport for either), compression (it sends no Accept-Encoding, so
-- bodies come plain), redirects (like the curl transport: the 3xx is reported). Host names
-- are resolved by nginx's `resolver`; `connect_timeout` bounds name resolution, TCP
-- connect and TLS handshake together, as libcurl's does. An IP address in an https URL
-- (IPv6 in brackets) is verified against the certificate's IP entries (nginx itself
-- checks host names only; see `verify_ip`).
-- @module infisical.transport.cosocket

local core = require "infisical.core"
local secrets = require "infisical.secrets"

local ngx = ngx
local setmetatable, tonumber, type, concat, ipairs, pcall, tostring =
  setmetatable, tonumber, type, table.concat, ipairs, pcall, tostring
local find, sub, lower, match, format = string.find, string.sub, string.lower,
  string.match, string.format
local min, max, floor = math.min, math.max, math.floor

local _M = { name = "cosocket" }
local T = {}
T.__index = T
T.__tostring = function() return "infisical.transport.cosocket" end

-- The header lines carrying the bearer token are the transport's secret "auth_lines"
-- (infisical.secrets): never a field of the transport table.

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

--- opts: the client's transport options (see infisical.transport.curl), every default
-- filled in by `infisical.new` (infisical.options).
function _M.new(opts, token)
  local refused = _M.refuses(opts)
  if refused then return nil, core.error{ kind = "config", message = refused } end
  local self = setmetatable({
    timeout = opts.timeout, connect_timeout = opts.connect_timeout,
    verify_tls = opts.verify_tls ~= false, max_body = opts.max_body,
    max_headers = opts.max_headers,
    user_agent = _M.user_agent(opts.user_agent),
    requests = 0, new_connections = 0, reused = 0,
  }, T)
  self:set_token(token)
  return self
end

--- What the cosocket transport cannot do with these options, as a sentence, or nil.
-- A setting it cannot honour is refused, never dropped: a proxy it cannot tunnel through,
-- a trust store it cannot use (nginx takes TLS trust from `lua_ssl_trusted_certificate`,
-- one setting for the whole http block, not per client).
function _M.refuses(opts)
  if opts.proxy then
    return "the cosocket transport cannot use a proxy (set transport = \"curl\", which"
      .. " blocks the nginx worker while it waits, or reach Infisical without the proxy)"
  end
  for _, name in ipairs{ "ca_file", "ca_path" } do
    if opts[name] then
      return ("the cosocket transport cannot use %s: nginx verifies TLS against"
        .. " lua_ssl_trusted_certificate (nginx.conf, for every client); put the CA there"
        .. " and leave %s unset, or set transport = \"curl\""):format(name, name)
    end
  end
  return nil
end

--- The User-Agent for requests over cosockets: the library's default names libcurl,
-- which this transport does not use; it names nginx's Lua module instead. A User-Agent
-- the caller chose is kept as it is.
function _M.user_agent(ua)
  local lib, rest = match(ua or "", "^(lua%-infisical/%S+) libcurl/(%S+ .*)$")
  if not lib or sub(rest, 1, #core.curl_version + 1) ~= core.curl_version .. " " then return ua end
  local lua_ver = sub(rest, #core.curl_version + 2)
  local mod = ngx and ngx.config and ngx.config.ngx_lua_version
  local web = ngx and ngx.config and ngx.config.nginx_version
  local function ver(n) return format("%d.%d.%d", floor(n / 1000000), floor(n / 1000) % 1000, n % 1000) end
  return format("%s cosocket ngx_lua/%s nginx/%s %s", lib, mod and ver(mod) or "?",
    web and ver(web) or "?", lua_ver)
end

function T:set_token(token)
  -- No token yet (a Universal Auth client before its login): the same lines without one.
  local lines = core.request_headers(token or "-", self.user_agent)
  if token == nil then table.remove(lines, 1) end
  secrets.set(self, "auth_lines", lines)
end

--- The header block of one request: the transport's lines, where an extra header replaces
-- the line of the same name and one with no value ("Authorization:") removes it (as the
-- curl transport does), then the extra headers.
local function header_block(lines, extra)
  local names, out = {}, {}
  if extra then
    for i = 1, #extra do names[lower(match(extra[i], "^[^:]*"))] = true end
  end
  for i = 1, #lines do
    local line = lines[i]
    if not names[lower(match(line, "^[^:]*"))] then out[#out + 1] = line; out[#out + 1] = "\r\n" end
  end
  if extra then
    for i = 1, #extra do
      local h = extra[i]
      if not find(h, "^[^:]*:[ \t]*$") then out[#out + 1] = h; out[#out + 1] = "\r\n" end
    end
  end
  return concat(out)
end

--- Splits an http(s) URL: scheme, host (an IPv6 literal keeps its brackets: nginx's
-- connect wants them), port, host header value, request target, and the IP address when
-- the host is one (without brackets), else nil.
local function split_url(url)
  local scheme, authority, target = match(url, "^(https?)://([^/?#]+)(.*)$")
  if not scheme then return nil, "not an http:// or https:// URL" end
  if find(authority, "@", 1, true) then return nil, "user information in URLs is not supported" end
  local ip, port = match(authority, "^%[([%x:.]+)%]:?(%d*)$")
  local host
  if ip then
    if not find(ip, ":", 1, true) then return nil, "bad IPv6 address in URL" end
    host = "[" .. ip .. "]"
  else
    host, port = match(authority, "^([^:]+):?(%d*)$")
    if host and match(host, "^%d+%.%d+%.%d+%.%d+$") then ip = host end
  end
  if not host then return nil, "bad host in URL" end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if port < 1 or port > 65535 then return nil, "bad port in URL" end
  if target == "" then target = "/" end
  return scheme, host, port, authority, target, ip
end
_M._split_url = split_url   -- for the specs

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

-- Collects a body's pieces in memory that stays within a small multiple of the body's
-- size however the server cuts it (a body sent as one-byte chunks is as many pieces as
-- bytes): at most BATCH pieces wait at each level, then they are joined into one piece
-- of the level above, so every byte is copied a few times and no table grows past BATCH.
local BATCH = 64
local Sink = {}
Sink.__index = Sink

local function new_sink()
  return setmetatable({ size = 0 }, Sink)
end

function Sink:add(s)
  self.size = self.size + #s
  local k = 1
  while true do
    local level = self[k]
    if not level then
      level = { n = 0 }
      self[k] = level
    end
    local n = level.n + 1
    level[n] = s
    if n < BATCH then
      level.n = n
      return
    end
    s = concat(level, "", 1, n)
    for i = 1, n do level[i] = nil end   -- the pieces are garbage from now on
    level.n = 0
    k = k + 1
  end
end

--- The whole body; the sink is empty afterwards.
function Sink:result()
  local out = {}
  for k = #self, 1, -1 do
    local level = self[k]
    if level.n > 0 then out[#out + 1] = concat(level, "", 1, level.n) end
    self[k] = nil
  end
  return concat(out)
end

-- A buffered reader over receiveany. nginx re-arms a socket's read timeout whenever a
-- byte arrives, so receive(n) on a server trickling one byte a second never times out;
-- here every wait is cut to what is left of the request's total deadline instead.
local Reader = {}
Reader.__index = Reader

local function new_reader(sock, deadline)
  return setmetatable({ sock = sock, deadline = deadline, buf = "", pos = 1, got = 0 }, Reader)
end

--- Reads what the socket has (at most `limit` bytes) within the deadline: data or nil, err.
function Reader:more(limit)
  local left = floor((self.deadline - ngx.now()) * 1000)
  if left <= 0 then return nil, "timeout" end
  self.sock:settimeout(left)
  local data, err = self.sock:receiveany(limit or CHUNK)
  if data then self.got = self.got + #data end
  return data, err
end

--- Bytes up to `delim` (not included; the delimiter is consumed), at most `cap` of them:
-- data, or nil and "timeout", "closed", "too long", ...
function Reader:until_(delim, cap)
  while true do
    local i = find(self.buf, delim, self.pos, true)
    if i then
      if i - self.pos > cap then return nil, "too long" end
      local data = sub(self.buf, self.pos, i - 1)
      self.pos = i + #delim
      return data
    end
    if #self.buf - self.pos + 1 > cap + #delim then return nil, "too long" end
    local data, err = self:more()
    if not data then return nil, err end
    self.buf = sub(self.buf, self.pos) .. data
    self.pos = 1
  end
end

--- Exactly n bytes, added to `sink`: true or nil, err.
function Reader:take(n, sink)
  local avail = #self.buf - self.pos + 1
  if avail >= n then
    sink:add(sub(self.buf, self.pos, self.pos + n - 1))
    self.pos = self.pos + n
    return true
  end
  if avail > 0 then sink:add(sub(self.buf, self.pos)) end
  self.buf, self.pos = "", 1
  n = n - avail
  while n > 0 do
    -- never more than this body: what follows belongs to the next answer
    local data, err = self:more(min(n, CHUNK))
    if not data then return nil, err end
    sink:add(data)
    n = n - #data
  end
  return true
end

--- The next bytes must be `s` (consumed): true, false when they differ, or nil, err.
function Reader:expect(s)
  while #self.buf - self.pos + 1 < #s do
    local data, err = self:more()
    if not data then return nil, err end
    self.buf = sub(self.buf, self.pos) .. data
    self.pos = 1
  end
  if sub(self.buf, self.pos, self.pos + #s - 1) ~= s then return false end
  self.pos = self.pos + #s
  return true
end

--- Everything until the server closes, at most `cap` bytes, added to `sink`: true or nil, err.
function Reader:rest(cap, sink)
  if #self.buf - self.pos + 1 > 0 then sink:add(sub(self.buf, self.pos)) end
  self.buf, self.pos = "", 1
  while true do
    if sink.size > cap then return nil, "too large" end
    local data, err = self:more()
    if not data then
      if err == "closed" then return true end
      return nil, err
    end
    sink:add(data)
  end
end

--- A chunk-size line: the size, or nil. Hex digits (leading zeros allowed), optional
-- blanks, then nothing or a ";" extension: "0x1f" and "1f zz" are not sizes.
local function chunk_size(line)
  local hex, rest = match(line, "^0*(%x*)[ \t]*(.*)$")
  if not hex or (rest ~= "" and sub(rest, 1, 1) ~= ";") then return nil end
  if not find(line, "^%x") or #hex > 12 then return nil end
  if hex == "" then return 0 end
  return tonumber(hex, 16)
end
_M._chunk_size = chunk_size   -- for the specs

--- Reads one request's answer. Returns status, body, headers, keepalive or nil, kind,
-- message, bytes (how many bytes of the answer had arrived).
local function read_response(self, sock, method, deadline)
  local r = new_reader(sock, deadline)
  local status, headers, version
  local function failed(kind, message) return nil, kind, message, r.got end
  repeat
    local block, err = r:until_("\r\n\r\n", self.max_headers)
    if not block then
      if err == "too long" then return failed("too_large", "response headers larger than the limit") end
      return failed(kind_of(err), "reading the response headers: " .. err)
    end
    local line_end = find(block, "\r\n", 1, true) or #block + 1
    local v, code = match(sub(block, 1, line_end - 1), "^HTTP/1%.([01]) ([1-9]%d%d)")
    if not v then return failed("network", "malformed HTTP status line") end
    version, status = v, tonumber(code)
    headers = {}
    -- Lines end with CRLF; a bare CR or LF inside a line is refused, never a line break.
    local fields = sub(block, line_end + 2)
    local at = 1
    while at <= #fields do
      local stop = find(fields, "\r\n", at, true) or #fields + 1
      local line = sub(fields, at, stop - 1)
      at = stop + 2
      local name, value = match(line, "^([^:%s]+):[ \t]*(.-)[ \t]*$")
      if not name or find(value, "[\r\n]") then return failed("network", "malformed HTTP header line") end
      name = lower(name)
      local old = headers[name]
      headers[name] = old and (old .. ", " .. value) or value
    end
  until status >= 200 or status == 101   -- 1xx answers precede the real one
  if status == 101 then return failed("network", "unexpected protocol switch") end

  local keepalive = version == "1"
  local conn = headers["connection"]
  if conn and find(lower(conn), "close", 1, true) then keepalive = false end

  -- The body: none, chunked, by length, or until the server closes.
  local sink = new_sink()
  local te = headers["transfer-encoding"]
  local cl = headers["content-length"]
  local ok, err
  if method == "HEAD" or status == 204 or status == 304 then
    ok = true
  elseif te and lower(te) ~= "identity" then
    if not find(lower(te), "chunked%s*$") then
      return failed("network", "unsupported transfer-encoding")
    end
    -- Both framings at once (RFC 9112 6.3: chunked wins, and the connection must be
    -- closed after the answer): whoever else reads this stream may frame it by length.
    if cl then keepalive = false end
    while true do
      local line
      line, err = r:until_("\r\n", 1024)
      if not line then return failed(kind_of(err), "reading a chunk size: " .. err) end
      local n = chunk_size(line)
      if not n then return failed("network", "malformed chunk size") end
      if n == 0 then
        repeat   -- trailers, if any, until the empty line
          line, err = r:until_("\r\n", 8192)
          if not line then return failed(kind_of(err), "reading the trailers: " .. err) end
        until line == ""
        break
      end
      if sink.size + n > self.max_body then
        return failed("too_large", "response body larger than max_body")
      end
      ok, err = r:take(n, sink)
      if not ok then return failed(kind_of(err), "reading a chunk: " .. err) end
      ok, err = r:expect("\r\n")
      if ok == nil then return failed(kind_of(err), "reading a chunk: " .. err) end
      if not ok then return failed("network", "malformed chunk end") end
    end
    ok = true
  elseif cl then
    local n = #cl <= 15 and match(cl, "^(%d+)$")
    n = n and tonumber(n)
    if not n then return failed("network", "malformed or repeated content-length") end
    if n > self.max_body then return failed("too_large", "declared response size larger than max_body") end
    ok, err = r:take(n, sink)
    if not ok then return failed(kind_of(err), "reading the response body: " .. err) end
  else
    keepalive = false
    ok, err = r:rest(self.max_body, sink)
    if not ok then
      if err == "too large" then return failed("too_large", "response body larger than max_body") end
      return failed(kind_of(err), "reading the response body: " .. err)
    end
  end
  -- Bytes past the answer (a server that sent more than it declared) would be read as
  -- the start of the next one: such a connection is not kept.
  if #r.buf - r.pos + 1 > 0 then keepalive = false end
  return status, sink:result(), headers, keepalive
end

-- OpenSSL's functions through LuaJIT's FFI, to check a certificate against an IP address:
-- nginx's own check (sslhandshake's server name) compares host names only. nil when they
-- cannot be reached (no FFI, or an nginx that does not export OpenSSL's symbols).
local ssl_ffi
local function ip_checker()
  if ssl_ffi == nil then
    ssl_ffi = false
    local ok, ffi = pcall(require, "ffi")
    if ok then
      pcall(ffi.cdef, [[
        void *SSL_SESSION_get0_peer(void *session);
        int X509_check_ip_asc(void *cert, const char *address, unsigned int flags);
      ]])
      local C = ffi.C
      if pcall(function() return C.SSL_SESSION_get0_peer, C.X509_check_ip_asc end) then
        ssl_ffi = C
      end
    end
  end
  return ssl_ffi or nil
end

local NO_IP_CHECK = "cannot verify a certificate for an IP address here (nginx checks host"
  .. " names only, and OpenSSL's functions are not reachable through LuaJIT's FFI):"
  .. " use a host name in base_url, or transport = \"curl\""

--- Whether the peer certificate of a verified TLS session names `ip` (an iPAddress entry
-- of its subjectAltName, compared as an address: "::1" matches "0:0:0:0:0:0:0:1").
local function verify_ip(session, ip)
  local C = ip_checker()
  if not C then return nil, NO_IP_CHECK end
  local cert = C.SSL_SESSION_get0_peer(session)
  if cert == nil then return nil, "the server sent no certificate" end
  if C.X509_check_ip_asc(cert, ip, 0) ~= 1 then
    return nil, "certificate does not match IP address " .. ip
  end
  return true
end

--- What to tell a caller whose host name nginx could not resolve.
local function resolve_hint(host, err)
  if not (find(err, "resolve", 1, true) or find(err, "could not be resolved", 1, true)) then
    return ""
  end
  return (host == "localhost" and " (use 127.0.0.1 in base_url: nginx's resolver does not read"
      .. " /etc/hosts, which is why localhost works outside request handlers)"
    or " (cosockets resolve names only through the DNS servers of nginx's `resolver`"
      .. " directive, not /etc/hosts nor /etc/resolv.conf: see docs/openresty.md)")
end

--- Connects within `ms` milliseconds, name resolution included. nginx's resolver answers
-- within its own `resolver_timeout` (30 s by default), not the socket's connect timeout:
-- for a host name the connect runs on a light thread that is killed when `ms` has passed.
-- ok or nil, err, timed_out.
local function connect(sock, host, port, pool, ip, ms)
  if ip then return sock:connect(host, port, { pool = pool }) end
  local sema = require("ngx.semaphore").new()
  local res
  local th = ngx.thread.spawn(function()
    local ok, a, b = pcall(sock.connect, sock, host, port, { pool = pool })
    if ok then res = { a, b } else res = { nil, tostring(a) } end
    sema:post(1)
  end)
  if not res then
    sema:wait(ms / 1000)
    if not res then
      ngx.thread.kill(th)
      sock:close()
      return nil, "timeout", true
    end
  end
  ngx.thread.wait(th)
  return res[1], res[2]
end

--- A connection for one attempt, from the pool or new (connected, and TLS set up),
-- within `connect_timeout` and `deadline`: sock, reused (times), or nil, kind, message,
-- raised (lua-resty-core raised inside sslhandshake: no verdict on the certificate).
local function open(self, deadline, scheme, host, port, ip)
  local ms = floor((deadline - ngx.now()) * 1000)
  if ms <= 0 then return nil, "timeout", "no time left for the request" end
  -- connect_timeout covers resolving, connecting and the TLS handshake together
  local connect_deadline = min(deadline, ngx.now() + self.connect_timeout)
  local cms = max(1, floor((connect_deadline - ngx.now()) * 1000))
  local sock = ngx.socket.tcp()
  sock:settimeouts(cms, ms, ms)
  -- One pool per origin and trust setting, so a connection checked without
  -- verification is never handed to a client that asked for it.
  local pool = format("infisical:%s://%s:%d%s", scheme, host, port,
    self.verify_tls and "" or ":noverify")
  local ok, err, timed_out = connect(sock, host, port, pool, ip, cms)
  if timed_out then
    return nil, "timeout", format("connecting to %s:%d: no connection within connect_timeout"
      .. " (%g s), name resolution included", host, port, self.connect_timeout)
  end
  if not ok then
    return nil, kind_of(err), format("connecting to %s:%d: %s%s", host, port, err,
      resolve_hint(host, err))
  end
  local reused = sock:getreusedtimes() or 0
  if reused == 0 then
    self.new_connections = self.new_connections + 1
    self.last_new = self.last_new + 1
    if scheme == "https" then
      sock:settimeout(max(1, floor((connect_deadline - ngx.now()) * 1000)))
      -- A host name is both the SNI name and the name the certificate must carry. An IP
      -- address is sent as no SNI (RFC 6066) and nginx checks only the chain; the
      -- certificate is then checked against the address here, from the session. No TLS
      -- session is asked for otherwise (false): with nil, lua-resty-core fetches one after
      -- the handshake and asserts that it got it, which failed now and then in the test
      -- suite right after a refused certificate. pcall: such a raise is a failed
      -- handshake to the caller, never a Lua error out of list_tokens.
      local check_ip = ip and self.verify_tls
      local pok
      pok, ok, err = pcall(sock.sslhandshake, sock, (not check_ip) and false or nil,
        (not ip) and host or nil, self.verify_tls)
      if not pok then ok, err = nil, tostring(ok) end
      if ok and check_ip then
        ok, err = verify_ip(ok, ip)
      elseif not ok and check_ip and not err then
        err = "no TLS session to check the certificate of"
      end
      if not ok then
        sock:close()
        return nil, kind_of(err, true), format("TLS handshake with %s:%d: %s", host, port, err),
          not pok
      end
    end
  end
  return sock, reused
end

--- One attempt on one connection, within `deadline` (the whole request's). Returns
-- status, body, headers or nil, kind, message, replay (replay: a kept-alive connection
-- the server had already closed; not one byte of an answer came).
local function attempt(self, deadline, method, head, body, scheme, host, port, hosthdr, target, ip)
  local sock, reused, message, raised = open(self, deadline, scheme, host, port, ip)
  if not sock and raised and ip then
    -- the session fetch that an address's check needs raised (above): once more, anew
    sock, reused, message = open(self, deadline, scheme, host, port, ip)
  end
  if not sock then return nil, reused, message end
  local err
  if reused > 0 then self.reused = self.reused + 1 end

  local req = { method, " ", target, " HTTP/1.1\r\nHost: ", hosthdr, "\r\n", head }
  if body or method == "POST" then
    req[#req + 1] = "Content-Length: " .. #(body or "") .. "\r\n"
  end
  req[#req + 1] = "\r\n"
  if body then req[#req + 1] = body end
  local sent
  sock:settimeout(max(1, floor((deadline - ngx.now()) * 1000)))
  sent, err = sock:send(req)
  if not sent then
    sock:close()
    return nil, kind_of(err), "sending the request: " .. err, reused > 0
  end

  -- more: on success whether to keep the connection, else how many bytes of answer came
  local status, rbody, headers, more = read_response(self, sock, method, deadline)
  if not status then
    sock:close()
    -- A pooled connection that the server closed while idle fails before any answer:
    -- closed, and not one byte came.
    local replay = reused > 0 and rbody == "network" and more == 0
      and find(headers, "^reading the response headers: closed") ~= nil
    return nil, rbody, headers, replay
  end
  if more then
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
  local scheme, host, port, hosthdr, target, ip = split_url(url)
  if not scheme then return fail("config", host, method, url) end
  if ip and scheme == "https" and self.verify_tls and not ip_checker() then
    return fail("config", NO_IP_CHECK, method, url)
  end

  -- The headers, with the token, are taken now, before the first yield: the request
  -- carries the token its caller saw, even if another light thread logs in meanwhile.
  local head = header_block(secrets.get(self, "auth_lines"), extra)
  self.requests = self.requests + 1
  self.last_new = 0
  -- `timeout` bounds the whole call, the replay below included.
  local deadline = ngx.now() + self.timeout
  local status, rbody, headers, replay = attempt(self, deadline, method, head, body, scheme,
    host, port, hosthdr, target, ip)
  if not status and replay and method == "GET" then
    status, rbody, headers = attempt(self, deadline, method, head, body, scheme, host, port,
      hosthdr, target, ip)
  end
  if not status then return fail(rbody, headers, method, url) end
  -- Nothing asked for compression; a server that compresses anyway is not understood.
  local ce = headers["content-encoding"]
  if ce and lower(ce) ~= "identity" and rbody ~= "" then
    return fail("decode", "unrequested content-encoding " .. ce:sub(1, 40), method, url, status)
  end
  return status, rbody, headers
end

--- The engine for `list_many`: light threads, a fresh one per run (see infisical.transport.cosocket_engine).
function T:multi()
  return require("infisical.transport.cosocket_engine").new(self)
end

--- Counters: `new_connections` for the last request (as with curl), plus totals.
function T:info()
  return { transport = "cosocket", new_connections = self.last_new or 0, requests = self.requests,
    connections = self.new_connections, reused = self.reused }
end

--- Connections opened by every request so far (Client:info counts a call's with it).
function T:connections()
  return self.new_connections
end

--- Pooled connections stay with nginx; this only forgets the token.
function T:close()
  secrets.forget(self)
  self.closed = true
end

return _M
