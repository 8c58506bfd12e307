-- Child process of spec/44-secrets_spec.lua: runs the reliability scenarios (hostile
-- answers, TLS failures, bad input, closed clients, Universal Auth, many identities,
-- the infisical-tokens CLI)
-- and writes every string it can reach from what the library returned or raised to
-- the file named by arg[1], one %q-quoted string a line. It writes nothing to stdout
-- or stderr itself: whatever appears there came from the library (or the Lua runtime).
--   lua5.4 spec/secrets_scenarios.lua DUMPFILE
package.path = "./lua/?.lua;./lua/?/init.lua;./?.lua;" .. package.path
package.cpath = (os.getenv("SCENARIO_CPATH") or "./build/lua5.4/?.so") .. ";" .. package.cpath

local H = require "spec.helpers"
local fake = H.fake
local infisical = require "infisical"

local out = assert(io.open(assert(arg[1], "usage: secrets_scenarios.lua DUMPFILE"), "w"))
local count = 0
local function keep(...)
  for i = 1, select("#", ...) do
    for _, s in ipairs(H.strings((select(i, ...)))) do
      out:write(("%q"):format(s):gsub("\\\n", "\\n"), "\n")
      count = count + 1
    end
  end
  return ...
end
-- pcall, keeping both the results and the raised error
local function try(f, ...) return keep(pcall(f, ...)) end

local srv = fake.start{ fixture = H.FIXTURE }
local CID, CSECRET = "fake-client-id", "fake-client-secret"

local function client(o)
  local opts = { base_url = srv.url, token = H.TOKEN, retries = 1, backoff = 0.01, max_backoff = 0.02,
    timeout = 1 }
  for k, v in pairs(o or {}) do opts[k] = v end
  if opts.client_id then opts.token = nil end
  return keep(assert(infisical.new(opts)))
end

-- What a hostile server echoes back: the secrets the client in use holds (a client
-- cannot redact a secret it never had; each check in the spec is per secret anyway).
local echo = "Bearer " .. H.TOKEN
local ua_echo = CSECRET .. " fake-ua-token Bearer fake-ua-token"
local FAULTS = {
  { status = 400, body = { error = "Bad", message = echo, reqId = echo, details = { echo } } },
  { status = 401, body = { error = "UnauthorizedError", message = echo } },
  { status = 403, body = { error = "TokenError", message = echo } },
  { status = 403, body = { error = "PermissionDenied", message = echo } },
  { status = 422, body = { message = { { path = { echo }, message = echo } }, error = "ValidationFailure" } },
  { status = 429, headers = { ["Retry-After"] = "0" }, body = echo },
  { status = 500, body = echo }, { status = 502, body = "<html>" .. echo .. "</html>" },
  { status = 301, headers = { Location = "http://evil.example/" .. H.TOKEN } },
  { status = 204 }, { status = 418, body = echo }, { status = 599 },
  { status = 200, body = echo }, { status = 200 }, { status = 200, body = '{"tokens":[{"id":"' .. echo .. '"}]' },
  { status = 200, headers = { ["X-Echo"] = echo }, body = '{"tokens":[{"id":"a"}]}' },
  { close = true }, { raw = "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" },
  { raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" .. echo },
  { raw = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd" },
  { hostile = "endless", chunk = "1", interval = 0.3 }, { hostile = "endless", chunk = ("x"):rep(8192) },
  { hostile = "gzip_bomb", size = 64 * 1024 * 1024 }, { hostile = "many_headers", count = 8000, value = echo },
  { hostile = "huge_header", size = 200000 }, { hostile = "deep", depth = 5000 },
  { hostile = "tokens", count = 1000 }, { hostile = "hold", seconds = 3 },
  { status = 200, body = '{"tokens":[{"id":"a","accessTokenTTL":1e400}]}' },
}

-- 1. every hostile answer, through every call that reads a page
for _, f in ipairs(FAULTS) do
  for _, call in ipairs{
    function(c) return c:list_tokens(H.ID1) end,
    function(c) return c:all_tokens(H.ID1) end,
    function(c) local n = 0; for t in c:each_token(H.ID1) do n = n + 1; keep(t) end; return n end,
    function(c) return c:list_many{ H.ID1, H.ID2 } end,
    function(c) return c:revoke_token("e0000000-0000-4000-8000-000000000001") end,
    function(c) return c:list_identities("c0000000-0000-4000-8000-000000000001") end,
    function(c)
      local n = 0
      for m in c:each_identity("c0000000-0000-4000-8000-000000000001") do n = n + 1; keep(m) end
      return n
    end,
  } do
    srv:reset(H.state())
    srv:faults{ f, f }
    try(call, client{ max_body = 1024 * 1024 })
  end
end

-- 2. Universal Auth: a login refused, a login answer echoing the secret, then success
srv:reset(H.state())
srv:faults{ { match = "login", status = 401, body = { message = "bad secret " .. CSECRET, error = "Unauthorized" } } }
try(function() return client{ client_id = CID, client_secret = CSECRET }:list_tokens(H.ID1) end)
srv:faults{ { match = "login", status = 200, body = { accessToken = "fake-ua-token", expiresIn = "x" } } }
try(function() return client{ client_id = CID, client_secret = CSECRET }:list_tokens(H.ID1) end)
try(function() return client{ client_id = CID, client_secret = "wrong-" .. CSECRET }:all_tokens(H.ID1) end)
local ua = client{ client_id = CID, client_secret = CSECRET }
try(ua.all_tokens, ua, H.ID1)
for _, f in ipairs{ { status = 400, body = { message = ua_echo } }, { status = 502, body = ua_echo },
    { status = 401, body = { message = ua_echo } }, { status = 200, body = ua_echo } } do
  srv:faults{ f, f, f }
  try(ua.list_tokens, ua, H.ID1)
  try(ua.list_many, ua, { H.ID1, H.ID2 })
  srv:clear_faults()
end
try(ua.list_many, ua, { H.ID1, H.ID3 })

-- 3. bad input, with the token in the arguments where it could be echoed
local c = client()
for _, v in ipairs{ H.TOKEN, H.TOKEN .. "\r\n", "", 0 / 0, math.huge, -1, 1.5, {}, true } do
  try(c.list_tokens, c, v)
  try(c.list_tokens, c, H.ID1, { page_size = v })
  try(c.all_tokens, c, H.ID1, { page_size = v })
  try(c.revoke_token, c, v)
  try(infisical.new, { token = H.TOKEN, timeout = v })
  try(infisical.new, { token = H.TOKEN .. "\n", base_url = v })
  try(infisical.new, { token = H.TOKEN, max_body = v, retries = v })
end
try(infisical.new, { base_url = "http://127.0.0.1:1", token = H.TOKEN, retries = 0 })
try(function() return infisical.new{ base_url = "http://127.0.0.1:1", token = H.TOKEN, retries = 0 }:list_tokens(H.ID1) end)

-- 4. TLS failures (a throwaway self-signed certificate)
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir .. " && cd " .. dir .. " && openssl req -x509 -newkey ec"
  .. " -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem -subj /CN=x -days 1"
  .. " -addext subjectAltName=DNS:other.example >/dev/null 2>&1")
local tls = fake.start{ fixture = H.FIXTURE, tls = { cert = dir .. "/c.pem", key = dir .. "/k.pem" } }
for _, o in ipairs{ {}, { ca_file = dir .. "/c.pem" }, { verify_tls = false }, { ca_file = "/nonexistent" } } do
  o.base_url = tls.url
  try(function() return client(o):list_tokens(H.ID1) end)
end
tls:stop()
os.execute("rm -rf " .. dir)

-- 5. closed clients, sessions, status helpers, and tostring of everything returned
local closed = client()
closed:close()
try(closed.list_tokens, closed, H.ID1)
try(closed.info, closed)
keep(tostring(closed), tostring(c), c:info(), infisical)
local core = require "infisical.core"
local s = core.session{ token = H.TOKEN }
keep(tostring(s), s:info())
try(s.perform, s, "GET", srv.url .. "/api/v1/auth/token-auth/identities/" .. H.ID1 .. "/tokens")
try(s.perform, s, "GET", srv.url .. "/x\r\nAuthorization: Bearer " .. H.TOKEN)
try(s.set_token, s, H.TOKEN .. "\n")
s:close()
srv:reset(H.state())
for _, t in ipairs(assert(c:all_tokens(H.ID1))) do keep(t, infisical.token_status(t), infisical.expires_at(t)) end

-- 7. issue 10 §2: a secret echoed across the 512-byte cut of a server message (the cut
-- used to come before redaction, which only matched the whole secret), and deep inside
-- `details` (redaction stopped 8 tables down), for the bearer token, the Universal Auth
-- client secret and the access token it logs in with. Long secrets, as real ones are,
-- so that any 8-byte piece of them can be looked for (spec/44 does).
local LT, LS, LU = H.LONG_SECRETS.token, H.LONG_SECRETS.client_secret, H.LONG_SECRETS.ua_token
local function shapes(secret, match)
  local t = {}
  local function add(f) f.match = match; t[#t + 1] = f end
  -- the secret across the cut: 7, 8, 9, 40 bytes of it before byte 512, all but its last
  for _, k in ipairs{ 7, 8, 9, 40, #secret - 1 } do
    local pad = ("m"):rep(512 - k)
    add{ status = 400, body = { error = "BadRequest", message = pad .. secret .. " tail" } }
    add{ status = 400, body = { error = pad .. secret, reqId = pad .. secret, message = "m" } }
    add{ status = 422, body = { error = "ValidationFailure",
      message = { { path = { "p" }, message = pad:sub(4) .. secret } } } }
  end
  -- deep in details: 12 levels (past the old limit of 8), 990 (near the decoder's 1000),
  -- and as a key
  add{ status = 400, body = '{"message":"m","details":' .. ('{"a":['):rep(6) .. '"' .. secret .. '"'
    .. (']}'):rep(6) .. '}' }
  add{ status = 400, body = '{"message":"m","details":' .. ("["):rep(990) .. '"x ' .. secret .. '"'
    .. ("]"):rep(990) .. '}' }
  add{ status = 400, body = { message = "m", details = { { { { { { { { { { [secret] = 1 } } } } } } } } } } } }
  return t
end
local function through_every_call(c, faults)
  for _, f in ipairs(faults) do
    for _, call in ipairs{
      function() return c:list_tokens(H.ID1) end,
      function() return c:all_tokens(H.ID1) end,
      function() return c:list_many{ H.ID1, H.ID2 } end,
      function() return c:revoke_token("e0000000-0000-4000-8000-000000000001") end,
      function() return c:list_identities("c0000000-0000-4000-8000-000000000001") end,
    } do
      srv:faults{ f, f }
      try(call)
      srv:clear_faults()
    end
  end
end
srv:reset(H.state())
through_every_call(client{ token = LT, retries = 0 }, shapes(LT))
-- the client secret, echoed by a refused login
through_every_call(client{ client_id = CID, client_secret = LS, retries = 0 }, shapes(LS, "login"))
-- the access token of a Universal Auth client, echoed after a good login
srv:faults{ { match = "login", status = 200, body = { accessToken = LU, expiresIn = 3600 } } }
local ua_long = client{ client_id = CID, client_secret = LS, retries = 0 }
assert(require("infisical.http").ensure_token(ua_long))
through_every_call(ua_long, shapes(LU .. " " .. LS, "token-auth"))
srv:reset(H.state())

-- 6. the infisical-tokens CLI: its stdout and stderr are kept (they are the library's
-- output too), with the token from the environment, from --token-file, and Universal Auth
local tokfile = os.tmpname()
local tf = assert(io.open(tokfile, "w"))
tf:write(H.TOKEN, "\n")
tf:close()
local function cli(env, args)
  local o, e = os.tmpname(), os.tmpname()
  os.execute(("env -u INFISICAL_TOKEN -u INFISICAL_API_URL %s lua5.4 bin/infisical-tokens %s"
    .. " --api-url %s --timeout 1 >%s 2>%s"):format(env, args, srv.url, o, e))
  keep(fake.read_file(o), fake.read_file(e))
  os.remove(o); os.remove(e)
end
local creds = {
  "INFISICAL_TOKEN=" .. H.TOKEN,
  "",   -- with --token-file
  "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID=" .. CID .. " INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET=" .. CSECRET,
}
-- A Universal Auth run logs in first (no fault on the login) and sees its own secrets echoed.
local function for_ua(v)
  if type(v) == "string" then return (v:gsub(echo:gsub("%p", "%%%0"), ua_echo)) end
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = for_ua(x) end
  return t
end
for _, f in ipairs{ false, FAULTS[1], FAULTS[2], FAULTS[8], FAULTS[14], FAULTS[20] } do
  for ci, env in ipairs(creds) do
    local tfo = ci == 2 and (" --token-file " .. tokfile) or ""
    for _, args in ipairs{ "list " .. H.ID1, "audit " .. H.ID1 .. " " .. H.ID2,
        "revoke e0000000-0000-4000-8000-000000000001 --yes",
        "identities --org c0000000-0000-4000-8000-000000000001" } do
      srv:reset(H.state())
      if f then
        local g = ci == 3 and for_ua(f) or {}
        for k, v in pairs(ci == 3 and {} or f) do g[k] = v end
        g["repeat"] = 3
        if ci == 3 then g.match = "token-auth" end
        srv:faults{ g }
      end
      cli(env, args .. tfo)
    end
  end
end
os.remove(tokfile)

srv:stop()
out:write(("-- %d strings\n"):format(count))
out:close()
