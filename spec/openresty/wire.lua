--- Runs inside nginx for spec/31-openresty_wire_spec.lua: the cosocket transport against
-- the scripted upstream (spec/openresty/upstream.py). GET /run?run=NAME&base=URL&...
-- answers {ok, result} as JSON.

local M = {}

local ID1 = "a0000000-0000-4000-8000-000000000001"
local ID2 = "a0000000-0000-4000-8000-000000000002"

local function summary(err)
  if err == nil then return nil end
  if type(err) ~= "table" then return { raised = tostring(err) } end
  return { kind = err.kind, status = err.status, message = err.message }
end

local function ids(page)
  local t = {}
  for i, tok in ipairs(page and page.tokens or {}) do t[i] = tok.id end
  return t
end

local function client(args, over)
  local o = { base_url = args.base, token = "fake-valid-token", transport = "cosocket",
    retries = 0, timeout = tonumber(args.timeout) or 5 }
  for k, v in pairs(over or {}) do o[k] = v end
  return assert(require("resty.infisical").new(o))
end

--- A field of /proc/self/status, in kB.
local function status_kb(field)
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("*a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+) kB"))
end

--- One request for a big body: how much the worker's memory grew at its peak (VmHWM,
-- reset first where the kernel allows) and what stays after a full collection.
function M.memory(args)
  local c = client(args, { max_body = tonumber(args.max_body), timeout = 60 })
  collectgarbage()
  collectgarbage()
  local f = io.open("/proc/self/clear_refs", "w")   -- "5": reset the peak to now
  if f then f:write("5"); f:close() end
  local rss0, lua0 = status_kb("VmRSS"), collectgarbage("count")
  local page, err = c:list_tokens(ID1)
  local hwm = status_kb("VmHWM")
  local n = page and #page.tokens
  page = nil   -- luacheck: ignore
  collectgarbage()
  collectgarbage()
  return { n = n, err = summary(err), peak_kb = hwm - rss0,
    rss_after_kb = status_kb("VmRSS") - rss0, lua_after_kb = collectgarbage("count") - lua0 }
end

--- Two requests through one client (ID1 then ID2), `gap` seconds apart: their token ids
-- or errors, and how long each took.
function M.two(args)
  local c = client(args)
  local out = {}
  for i, id in ipairs{ ID1, ID2 } do
    if i == 2 and tonumber(args.gap or 0) > 0 then ngx.sleep(tonumber(args.gap)) end
    ngx.update_time()
    local t0 = ngx.now()
    local page, err = c:list_tokens(id)
    ngx.update_time()
    out[i] = { ids = ids(page), err = summary(err), seconds = ngx.now() - t0 }
  end
  return out
end

--- One request through a client made from the query's options (transport=auto: the
-- picker; numbers as numbers, "true"/"false" as booleans): its token ids or error, how
-- long it took, and the transport's info.
function M.timed(args)
  local o = {}
  for k, v in pairs(args) do
    if k ~= "run" and k ~= "base" then
      if v == "true" or v == "false" then v = v == "true" end
      o[k] = tonumber(v) or v
    end
  end
  if o.transport == "auto" then o.transport = nil end
  o.retries = o.retries or 0
  o.base_url = o.base_url or args.base
  o.token = "fake-valid-token"
  local c, err = require("infisical").new(o)
  if not c then return { err = summary(err), at = "new" } end
  ngx.update_time()
  local t0 = ngx.now()
  local page
  page, err = c:list_tokens(ID1)
  ngx.update_time()
  return { ids = ids(page), err = summary(err), seconds = ngx.now() - t0, info = c:info() }
end

--- One request: its token ids or error.
function M.one(args)
  local page, err = client(args):list_tokens(ID1)
  return { ids = ids(page), err = summary(err) }
end

function M.serve()
  local cjson = require "cjson.safe"
  local args = ngx.req.get_uri_args()
  local fn = M[args.run]
  if type(fn) ~= "function" or args.run == "serve" then
    ngx.status = 404
    return ngx.say("no such run")
  end
  local ok, res = pcall(fn, args)
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode{ ok = ok, result = ok and res or tostring(res) })
end

return M
