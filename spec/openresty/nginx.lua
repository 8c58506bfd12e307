--- Starts and stops a private nginx (Debian's nginx + libnginx-mod-http-lua) for the
-- OpenResty specs: its own prefix under a temp dir, one worker, 127.0.0.1 on a free
-- port, error log in the prefix. Runs on Lua 5.1-5.4.
--
--   local nginx = require "spec.openresty.nginx"
--   local ngx_srv = nginx.start{ http = "...", main = "...", env = { NAME = "value" } }
--   ngx_srv.url, ngx_srv.prefix, ngx_srv:error_log(), ngx_srv:stop()
local fake = require "spec.fake_client"

local M = {}

M.ROOT = (function()
  local here = debug.getinfo(1, "S").source:match("^@(.*)/spec/openresty/[^/]*$")
  if not here or here == "" or here == "." then return (fake.run("pwd")) end
  if here:sub(1, 1) ~= "/" then return (fake.run("pwd")) .. "/" .. here end
  return here
end)()

M.MODULES = "/usr/lib/nginx/modules"

--- A TCP port nobody listens on now (the kernel picks it; taken with a bound socket
-- by python3, which the fake server needs anyway).
function M.free_port()
  local out = fake.run([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']])
  return assert(tonumber(out), "no free port: " .. tostring(out))
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end
M.write = write

--- Whether this process runs as root (then nginx's workers would be `nobody`).
function M.running_as_root()
  if M._root == nil then M._root = fake.run("id -u") == "0" end
  return M._root
end

local Nginx = {}
Nginx.__index = Nginx

--- The main-context lines every test nginx needs: modules by absolute path, one worker,
-- pid and error log inside the prefix.
function M.main_context(prefix)
  return table.concat({
    "load_module " .. M.MODULES .. "/ndk_http_module.so;",
    "load_module " .. M.MODULES .. "/ngx_http_lua_module.so;",
    "worker_processes 1;",
    "daemon on;",
    "pid " .. prefix .. "/logs/nginx.pid;",
    "error_log " .. prefix .. "/logs/error.log info;",
  }, "\n") .. "\n"
end

--- The http-context lines: temp paths in the prefix (the default ones are root's).
function M.temp_paths(prefix)
  local t = {}
  for _, k in ipairs{ "client_body", "proxy", "fastcgi", "uwsgi", "scgi" } do
    t[#t + 1] = ("%s_temp_path %s/tmp/%s;"):format(k, prefix, k)
  end
  return table.concat(t, "\n") .. "\n"
end

--- Starts nginx with a whole configuration (`conf`, a string; `%PREFIX%` and `%PORT%`
-- are replaced) and waits until it answers. opts.env: variables for nginx's environment.
function M.start(opts)
  local prefix = fake.run("mktemp -d /tmp/lua-infisical-nginx.XXXXXX")
  assert(prefix:match("^/tmp/lua%-infisical%-nginx"), "mktemp failed: " .. prefix)
  os.execute("mkdir -p " .. prefix .. "/conf " .. prefix .. "/logs " .. prefix .. "/tmp")
  local port = opts.port or M.free_port()
  local conf = opts.conf:gsub("%%PREFIX%%", prefix):gsub("%%PORT%%", tostring(port))
    :gsub("%%ROOT%%", M.ROOT)
  -- nginx started by root runs its workers as `nobody`, who cannot read a checkout in
  -- a folder of mode 0700 (root's home, mktemp -d): the workers then answer 500 for
  -- every Lua file and the built module. The test nginx's workers run as the invoking
  -- user instead (the directive means nothing to an nginx started by another user).
  if M.running_as_root() and not conf:find("^%s*user%s") and not conf:find("\n%s*user%s") then
    conf = "user root;\n" .. conf
  end
  write(prefix .. "/conf/nginx.conf", conf)
  for name, data in pairs(opts.files or {}) do write(prefix .. "/" .. name, data) end
  local env = {}
  for k, v in pairs(opts.env or {}) do env[#env + 1] = k .. "=" .. fake.shellquote(v) end
  local out, rc = fake.run(("cd %s && env %s nginx -p %s/ -c conf/nginx.conf -e logs/error.log 2>&1")
    :format(fake.shellquote(prefix), table.concat(env, " "), prefix))
  local self = setmetatable({ prefix = prefix, port = port,
    url = "http://127.0.0.1:" .. port }, Nginx)
  if rc ~= 0 then
    local log = self:error_log()
    self:cleanup()
    error("nginx did not start: " .. out .. "\n" .. log, 2)
  end
  for _ = 1, 100 do
    local _, crc = fake.run("curl -s -o /dev/null --max-time 1 " .. self.url .. "/")
    if crc == 0 then return self end
    fake.sleep(0.05)
  end
  local log = self:error_log()
  self:stop()
  error("nginx does not answer on " .. self.url .. ": " .. log, 2)
end

function Nginx:error_log()
  return fake.read_file(self.prefix .. "/logs/error.log") or ""
end

--- One HTTP request through the curl command.
function M.request(url, opts)
  opts = opts or {}
  local args = { "-sS", "--max-time", tostring(opts.timeout or 30), "-o", "-",
    "-w", "\n__STATUS=%{http_code} %{time_total}", "-D", "-" }
  args[#args + 1] = url
  local out, rc, err = fake.curl(args)
  local head, body, status, t = out:match("^(.-\r\n\r\n)(.*)\n__STATUS=(%d+) ([%d.]+)$")
  local res = { status = tonumber(status) or 0, time = tonumber(t), rc = rc, err = err,
    body = body or out, headers = {} }
  for k, v in (head or ""):gmatch("([%w-]+):%s*([^\r\n]*)\r\n") do res.headers[k:lower()] = v end
  local ok, v = pcall(fake.json.decode, res.body)
  if ok then res.json = v end
  return res
end

--- GET a path of this nginx: { status, body, json, headers, time }.
function Nginx:get(path, opts)
  return M.request(self.url .. path, opts)
end

function Nginx:stop()
  local pid = tonumber(fake.read_file(self.prefix .. "/logs/nginx.pid") or "")
  if pid then
    os.execute("kill -QUIT " .. pid .. " 2>/dev/null")
    for _ = 1, 100 do
      if not fake.read_file("/proc/" .. pid .. "/stat") then break end
      fake.sleep(0.05)
    end
    if fake.read_file("/proc/" .. pid .. "/stat") then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
  end
  self:cleanup()
end

function Nginx:cleanup()
  if self.prefix and self.prefix:match("^/tmp/lua%-infisical%-nginx%.") and not os.getenv("KEEP_NGINX") then
    os.execute("rm -rf " .. fake.shellquote(self.prefix))
  end
end

return M
