--- The stale-socket question of src/multi.c's idle-connection check (issue 19): how many
-- connections list_many opens per batch, over many batches, on one client.
--   lua5.4 bench/conns.lua BASE BATCHES MODE
-- MODE plain: BATCHES runs of list_many over 8 identities (concurrency 8), back to back.
-- MODE small: one run over 8 identities, then runs over 2 (slots 3..8 keep the sockets
--             of their last transfers), each after the process opened regular files, the
--             way a program writes its output (the fd numbers freed by closed
--             connections are taken by them).
-- MODE idle:  as small, but after the first run the client waits longer than the
--             server's keep-alive timeout (bench/nginx.sh: 1 s on BASE_IDLE), so
--             the server closes the 8 connections and libcurl later drops them.
-- Prints one line per batch: "batch N identities K new_connections C".
local infisical = require "infisical"
local base, batches, mode = arg[1], tonumber(arg[2]), arg[3]
local c = assert(infisical.new{ base_url = base, token = "bench-token", retries = 0 })
local n = 0
local function ids(k)
  local t = {}
  for i = 1, k do n = n + 1; t[i] = ("e0000000-0000-4000-8000-%012d"):format(n) end
  return t
end
local files = {}
local before = 0
for b = 1, batches do
  local k = (mode == "plain" or b == 1) and 8 or 2
  local list = ids(k)
  local res, errs = c:list_many(list, { concurrency = 8 })
  for _, id in ipairs(list) do assert(res[id] and not (errs and errs[id]), "identity failed") end
  local engine = c.transport:multi()
  local now = engine:info().new_connections
  print(("batch %d identities %d new_connections %d"):format(b, k, now - before))
  before = now
  if mode ~= "plain" then
    if mode == "idle" and b == 1 then require("infisical.core").sleep(2) end
    for _ = 1, 4 do files[#files + 1] = assert(io.open("/proc/self/status")) end
  end
end
