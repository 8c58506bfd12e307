--- One peer of the per-page measurement: fetches and decodes the recorded page N times.
--   lua5.4 bench/peer.lua NAME URL N   ->   prints "cpu_seconds wall_seconds"
-- CPU comes from /proc/self/stat and includes waited-for children (the curl processes).
local name, url, n = arg[1], arg[2], tonumber(arg[3])
local socket = require "socket"
local cjson = require "cjson"

local TICK = tonumber(io.popen("getconf CLK_TCK"):read("*l")) or 100
local function cpu()
  local f = assert(io.open("/proc/self/stat"))
  local s = f:read("*a")
  f:close()
  local rest = s:match("%) (.*)$")
  local fields = {}
  for v in rest:gmatch("%S+") do fields[#fields + 1] = v end
  -- after "pid (comm)": state is 1st, utime 12th, stime 13th, cutime 14th, cstime 15th
  return (fields[12] + fields[13] + fields[14] + fields[15]) / TICK
end

local HEADERS = { Authorization = "Bearer bench-token", Accept = "application/json" }
local base, id = url:match("^(.-)/api/v1/auth/token%-auth/identities/([^/]+)/tokens")

local fetch
if name == "lua-infisical" then
  local infisical = require "infisical"
  local c = assert(infisical.new{ base_url = base, token = "bench-token", retries = 0 })
  fetch = function()
    local page = assert(c:list_tokens(id, { page_size = 100 }))
    return #page.tokens
  end
elseif name == "luasocket+cjson" or name == "luasocket+dkjson" then
  local http, ltn12 = require "socket.http", require "ltn12"
  local decode = name == "luasocket+cjson" and cjson.decode or require("dkjson").decode
  fetch = function()
    local parts = {}
    local ok, code = http.request{ url = url, headers = HEADERS, sink = ltn12.sink.table(parts) }
    assert(ok and code == 200, code)
    return #decode(table.concat(parts)).tokens
  end
elseif name == "curl+cjson" then
  local cmd = "curl -sS -H 'Authorization: Bearer bench-token' -H 'Accept: application/json' '" .. url .. "'"
  fetch = function()
    local p = assert(io.popen(cmd))
    local body = p:read("*a")
    p:close()
    return #cjson.decode(body).tokens
  end
else
  error("unknown peer " .. tostring(name))
end

assert(fetch() == 100, "the page must hold 100 tokens")   -- warm-up, and a check
collectgarbage()
local c0, w0 = cpu(), socket.gettime()
for _ = 1, n do fetch() end
print(("%.6f %.6f"):format(cpu() - c0, socket.gettime() - w0))
