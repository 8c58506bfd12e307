-- Helper to start, stop and drive the fake Infisical server (spec/fake_server.py)
-- from busted specs, without lua-infisical itself: control requests go through
-- the `curl` command, JSON through lua-cjson.  Runs on Lua 5.1-5.4 and LuaJIT.
--
--   local fake = require "spec.fake_client"
--   local srv = fake.start{ fixture = "spec/fixtures/sample.json" }
--   srv.port, srv.url                     -- "http://127.0.0.1:PORT" (https with tls)
--   srv:reset(state) srv:faults{...} srv:token{...} srv:stats() srv:state() srv:stop()
--   srv:request{ method=, path=, headers=, body=, query=, curl_args= }
--
-- JSON null decodes to fake.null (cjson.null).
local cjson = require "cjson"

local M = { null = cjson.null, json = cjson }


-- directory of this file, so the server is found whatever the cwd
local here = (debug.getinfo(1, "S").source:match("^@(.*)[/\\][^/\\]*$")) or "spec"
M.server_script = here .. "/fake_server.py"
M.python = os.getenv("FAKE_SERVER_PYTHON") or "python3"

---------------------------------------------------------------------------
-- small utilities

local function shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.shellquote = shq

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
M.read_file = read_file

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function sleep(s)
  os.execute("sleep " .. string.format("%.3f", s))
end
M.sleep = sleep

-- Run a shell command, return its stdout and exit status (works on 5.1 too).
local function run(cmd)
  local p = assert(io.popen(cmd .. "; echo \"\n__RC=$?\""))
  local out = p:read("*a")
  p:close()
  local body, rc = out:match("^(.*)\n__RC=(%d+)\n?$")
  if not body then return out, -1 end
  if body:sub(-1) == "\n" then body = body:sub(1, -2) end
  return body, tonumber(rc)
end
M.run = run

-- Run curl with a list of arguments (shell-quoted for you).
-- Returns stdout, exit status, stderr.
function M.curl(args)
  local q = {}
  for i, a in ipairs(args) do q[i] = shq(a) end
  local errf = os.tmpname()
  local out, rc = run("curl " .. table.concat(q, " ") .. " 2>" .. shq(errf))
  local err = read_file(errf) or ""
  os.remove(errf)
  return out, rc, err
end

local function pid_alive(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  if not stat then return false end
  local state = stat:match("^%d+ %b() (%a)")
  return state ~= "Z" and state ~= "X"
end

---------------------------------------------------------------------------
-- record builders

function M.identity_id(n)
  return string.format("a0000000-0000-4000-8000-%012d", n)
end

local record_serial = 0
-- A full token record with sensible defaults; any field can be overridden
-- (use fake.null for JSON null).
function M.token_record(over)
  over = over or {}
  record_serial = record_serial + 1
  local r = {
    id = string.format("e0000000-0000-4000-8000-%012d", record_serial),
    accessTokenTTL = 2592000,
    accessTokenMaxTTL = 2592000,
    accessTokenNumUses = 0,
    accessTokenNumUsesLimit = 0,
    accessTokenLastUsedAt = cjson.null,
    accessTokenLastRenewedAt = cjson.null,
    isAccessTokenRevoked = false,
    identityUAClientSecretId = cjson.null,
    identityId = M.identity_id(1),
    createdAt = "2024-01-01T00:00:00.000Z",
    updatedAt = "2024-01-02T00:00:00.000Z",
    name = "token-" .. record_serial,
    authMethod = "token-auth",
    accessTokenPeriod = 0,
  }
  for k, v in pairs(over) do r[k] = v end
  return r
end

-- ISO timestamp for updatedAt that is `i` seconds before 2024-06-01T12:00:00Z.
function M.ts(i)
  local t = 1717243200 - (i or 0)
  return os.date("!%Y-%m-%dT%H:%M:%S.000Z", t)
end

function M.load_fixture(path)
  return cjson.decode((assert(read_file(path), "cannot read fixture " .. path)))
end

---------------------------------------------------------------------------
-- server objects

local Server = {}
Server.__index = Server

local running = {}  -- pid -> server, stopped by the sentinel at exit

local function parse_headers(raw)
  -- -D may hold several blocks (100 Continue, ...): keep the last one
  local blocks, cur = {}, nil
  for line in (raw or ""):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    if line:match("^HTTP/") then
      cur = { status_line = line, h = {} }
      blocks[#blocks + 1] = cur
    elseif cur and line ~= "" then
      local k, v = line:match("^([^:]+):%s*(.-)%s*$")
      if k then cur.h[k:lower()] = v end
    end
  end
  local last = blocks[#blocks]
  return last and last.h or {}, last and last.status_line
end

-- Generic HTTP request to the server through curl.
-- opts: method, path (or url), query (table), headers (table name->value),
--       body (string, or table -> JSON), timeout, curl_args (list)
-- -> { status, headers (lowercased), body, json (decoded or nil), rc (curl exit
--      status), err (curl stderr), time (seconds), connects (new connections) }
function Server:request(opts)
  opts = opts or {}
  local hdrf, bodyf = os.tmpname(), os.tmpname()
  local args = { "-sS", "--max-time", tostring(opts.timeout or 10),
    "-X", opts.method or "GET", "-D", hdrf, "-o", bodyf, "-w", "\n%{http_code} %{time_total} %{num_connects}" }
  if self.tls then args[#args + 1] = "-k" end
  local headers = opts.headers or {}
  for k, v in pairs(headers) do args[#args + 1] = "-H"; args[#args + 1] = k .. ": " .. v end
  local datf
  if opts.body ~= nil then
    local body = opts.body
    if type(body) == "table" then
      body = cjson.encode(body)
      local has_ct = false
      for k in pairs(headers) do if k:lower() == "content-type" then has_ct = true end end
      if not has_ct then
        args[#args + 1] = "-H"; args[#args + 1] = "Content-Type: application/json"
      end
    end
    datf = os.tmpname()
    write_file(datf, body)
    args[#args + 1] = "--data-binary"; args[#args + 1] = "@" .. datf
  end
  for _, a in ipairs(opts.curl_args or {}) do args[#args + 1] = a end
  local url = opts.url or (self.url .. (opts.path or "/"))
  if opts.query then
    local parts = {}
    for k, v in pairs(opts.query) do parts[#parts + 1] = k .. "=" .. tostring(v) end
    table.sort(parts)
    url = url .. (url:find("?", 1, true) and "&" or "?") .. table.concat(parts, "&")
  end
  args[#args + 1] = url
  local out, rc, err = M.curl(args)
  local code, t, nc = out:match("(%d+) ([%d%.]+) (%d+)%s*$")
  local res = { status = tonumber(code) or 0, time = tonumber(t), connects = tonumber(nc),
    rc = rc, err = err }
  res.headers, res.status_line = parse_headers(read_file(hdrf))
  res.body = read_file(bodyf) or ""
  os.remove(hdrf); os.remove(bodyf)
  if datf then os.remove(datf) end
  if res.body ~= "" then
    local ok, v = pcall(cjson.decode, res.body)
    if ok then res.json = v end
  end
  return res
end

local function control(self, method, path, value)
  local res = self:request{ method = method, path = path, body = value }
  if res.rc ~= 0 or res.status ~= 200 then
    error(string.format("fake server control %s %s failed: status %s, curl rc %s %s %s",
      method, path, tostring(res.status), tostring(res.rc), res.err or "", res.body or ""), 3)
  end
  return res.json
end

function Server:reset(state)
  return control(self, "POST", "/_fake/reset", state or {})
end

--- Resets to a fixture file's state, with `extra` keys (e.g. `{ mode = "legacy" }`) over it.
function Server:reset_fixture(path, extra)
  local st = M.load_fixture(path)
  for k, v in pairs(extra or {}) do st[k] = v end
  return self:reset(st)
end

function Server:faults(list)
  return control(self, "POST", "/_fake/faults", { faults = list })
end

function Server:clear_faults()
  return control(self, "DELETE", "/_fake/faults")
end

-- Change one access token as the server would see it (see spec/fake_server.py):
--   srv:token{ client_id = "fake-client-id", state = "revoked" }  -- the UA client's token
--   srv:token{ bearer = "fake-valid-token", uses_limit = 2 }
-- states: valid revoked deleted expired ttl_expired used_up malformed
-- -> { ok, token_id, state, uses }
function Server:token(sel)
  return control(self, "POST", "/_fake/token", sel)
end

function Server:stats()
  return control(self, "GET", "/_fake/stats")
end

function Server:state()
  return control(self, "GET", "/_fake/state")
end

-- URL of the token-listing call for an identity (query optional).
function Server:tokens_url(identity_id, query)
  return self.url .. "/api/v1/auth/token-auth/identities/" .. identity_id .. "/tokens"
    .. (query and ("?" .. query) or "")
end

function Server:alive()
  return self.pid ~= nil and pid_alive(self.pid)
end

function Server:stop()
  local pid = self.pid
  if not pid then return end
  self.pid = nil
  running[pid] = nil
  os.execute("kill " .. pid .. " 2>/dev/null")
  for _ = 1, 40 do
    if not pid_alive(pid) then break end
    sleep(0.05)
  end
  if pid_alive(pid) then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
  if self.portfile then os.remove(self.portfile); self.portfile = nil end
  if self.errfile then os.remove(self.errfile); self.errfile = nil end
end

-- Start a server.  opts: state (table), fixture (path), tls = {cert=, key=},
-- quiet (default true), args (extra CLI args list), timeout (default 5 s).
function M.start(opts)
  opts = opts or {}
  local statef
  local state = opts.state
  local cmd = { shq(M.python), shq(M.server_script), "--port", "0", "--watch-pid", "$PPID" }
  if opts.quiet ~= false then cmd[#cmd + 1] = "--quiet" end
  if state ~= nil then
    statef = os.tmpname()
    write_file(statef, cjson.encode(state))
    cmd[#cmd + 1] = "--state"; cmd[#cmd + 1] = shq(statef)
  elseif opts.fixture then
    cmd[#cmd + 1] = "--state"; cmd[#cmd + 1] = shq(opts.fixture)
  end
  if opts.tls then
    cmd[#cmd + 1] = "--tls-cert"; cmd[#cmd + 1] = shq(opts.tls.cert)
    cmd[#cmd + 1] = "--tls-key"; cmd[#cmd + 1] = shq(opts.tls.key)
  end
  for _, a in ipairs(opts.args or {}) do cmd[#cmd + 1] = shq(a) end
  local portfile, errfile = os.tmpname(), os.tmpname()
  local line = table.concat(cmd, " ") .. " >" .. shq(portfile) .. " 2>" .. shq(errfile)
    .. " </dev/null & echo $!"
  local p = assert(io.popen(line))
  local pid = tonumber(p:read("*l"))
  p:close()
  assert(pid, "could not start the fake server")
  local self = setmetatable({ pid = pid, portfile = portfile, errfile = errfile,
    tls = opts.tls }, Server)
  running[pid] = self
  local deadline = os.time() + (opts.timeout or 5)
  local port
  repeat
    local out = read_file(portfile) or ""
    port = tonumber(out:match("PORT (%d+)\n"))
    if port then break end
    if not pid_alive(pid) then break end
    sleep(0.05)
  until os.time() > deadline
  if statef then os.remove(statef) end
  if not port then
    local err = read_file(errfile) or ""
    self:stop()
    error("fake server did not start (no PORT line within " .. (opts.timeout or 5)
      .. " s): " .. err, 2)
  end
  self.port = port
  self.host = "127.0.0.1"
  self.url = (opts.tls and "https" or "http") .. "://127.0.0.1:" .. port
  return self
end

function M.stop_all()
  local pids = {}
  for pid in pairs(running) do pids[#pids + 1] = pid end
  for _, pid in ipairs(pids) do running[pid]:stop() end
end

-- Stop every server when this module is collected or the Lua state closes
-- (servers also watch our pid and exit by themselves when we are gone).
if _G.newproxy then
  M._sentinel = newproxy(true)
  getmetatable(M._sentinel).__gc = function() M.stop_all() end
else
  M._sentinel = setmetatable({}, { __gc = function() M.stop_all() end })
end


return M
