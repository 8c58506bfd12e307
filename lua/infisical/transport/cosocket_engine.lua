--- The `list_many`/`stream_many` engine inside nginx: one light thread (`ngx.thread.spawn`)
-- per request in flight, each on its own cosocket, so many identities are listed at once
-- without blocking the worker. It has the interface infisical.many drives
-- (add/wait/next/running/abort), so results are the same as with libcurl's multi.
--
-- A new engine is made for every run: light threads belong to the request (or timer)
-- that spawned them, so two requests sharing one client must never share an engine.
-- @module infisical.transport.cosocket_engine

local semaphore = require "ngx.semaphore"
local core = require "infisical.core"

local ngx = ngx
local setmetatable, remove, pcall, pairs, tostring, error = setmetatable, table.remove, pcall,
  pairs, tostring, error

local _M = {}
local E = {}
E.__index = E

-- What one run's requests share; abort() replaces it, so an answer that arrives after
-- an abort lands in a table nobody reads.
local function new_state()
  return { sema = semaphore.new(0), threads = {}, inflight = 0, done = {} }
end

--- transport: an infisical.transport.cosocket object.
function _M.new(transport)
  return setmetatable({ transport = transport, state = new_state() }, E)
end

function E:add(tag, method, url, headers, body)
  local transport, st = self.transport, self.state
  st.inflight = st.inflight + 1
  st.threads[tag] = true
  local co, err = ngx.thread.spawn(function()
    -- A Lua error here would end the thread silently and leave the run waiting for an
    -- answer forever: it is carried to the caller, who raises it from next().
    local ok, status, rbody, rheaders = pcall(transport.request, transport, method, url, headers, body)
    st.threads[tag] = nil
    st.inflight = st.inflight - 1
    st.done[#st.done + 1] = ok and { tag, status, rbody, rheaders } or { tag, raised = status }
    st.sema:post(1)
  end)
  if not co then
    -- nginx refused a thread (out of memory): answer like a failed connection
    st.threads[tag] = nil
    st.inflight = st.inflight - 1
    st.done[#st.done + 1] = { tag, nil, core.error{ kind = "network",
      message = "could not start a light thread: " .. tostring(err), method = method, url = url } }
  elseif st.threads[tag] then
    -- spawn ran the thread up to its first yield; it is still waiting for its answer
    st.threads[tag] = co
  end
end

--- Runs until an answer is there or `seconds` have passed (then it is just a sleep).
function E:wait(seconds)
  local st = self.state
  if #st.done == 0 then
    if st.inflight == 0 then
      if seconds > 0 then ngx.sleep(seconds) end
    else
      st.sema:wait(seconds)
    end
  end
  return #st.done
end

function E:next()
  local d = remove(self.state.done, 1)
  if d then
    if d.raised ~= nil then error(d.raised, 0) end
    return d[1], d[2], d[3], d[4]
  end
end

function E:running() return self.state.inflight, #self.state.done end

--- Drops every request: running threads are killed (nginx closes their sockets).
function E:abort()
  for _, co in pairs(self.state.threads) do
    if co ~= true then pcall(ngx.thread.kill, co) end
  end
  self.state = new_state()
end

return _M
