--- Pacing to the server's rate limit: the one request budget of a client, shared by
-- everything it sends (the blocking calls, walks, logins, `list_many`/`stream_many`).
--
-- infisical.attempt feeds it (`sent` when a request goes, `observe` with every answer's
-- headers, `pause` on a 429); the drivers ask it before each send:
--
--     local w = pace.hold(client, method)   -- 0: send now; else seconds to wait, then ask again
--
-- the blocking driver (infisical.http, infisical.auth) sleeps and asks again, the
-- `list_many` scheduler (infisical.many) delays the job while the other transfers go on.
-- Every send asks, retries and a 429's re-send included, so `max_rate` spaces them all.
--
-- What it knows comes from the server: `x-ratelimit-limit`, `x-ratelimit-remaining` and
-- `x-ratelimit-reset` (seconds) on every counted answer, `retry-after` on a 429. The
-- budget of the current window is the limit, less the requests sent since the window
-- began, less what others (other clients of the same address) spent: at least the count
-- an answer said (limit - remaining) beyond all the requests sent by then (the server
-- counts requests in the order they arrive, not the order they were sent, so an answer's
-- remaining alone says little about the requests still in flight). When the budget is
-- spent, new requests wait for the window's end. A 429 pauses every request of the
-- budget until its `retry-after`; one that carries `x-ratelimit-*` headers and speaks of
-- a window already over is stale, one without them (a proxy's or gateway's limiter) is
-- never taken for stale. A header value that is not a plain non-negative number (`nan`,
-- `inf`, `-1`, `0x10`) is ignored; repeated headers joined as `"a, b"` count as their
-- most careful value (the least remaining or limit, the latest reset); a reset beyond
-- an hour is ignored too.
--
-- Until an answer says whether the server counts, and again when a window ended before
-- an answer of the next one said how much it holds, one request is in flight (the
-- *probe*; a burst of `concurrency` requests against an unknown limit would be refused
-- at once, and waiters would all fire together at a window's end); the others wait for
-- its answer. A probe that never answers (its request was killed, or its coroutine
-- abandoned) is forgotten when its request object is collected, and in any case after
-- the client's `timeout`. A server that sends no headers (self-hosted servers run no
-- limiter) is not held after its first answer, except by `max_rate` (requests per
-- minute: the sends are spaced by 60 / max_rate seconds), which applies in any case.
--
-- Reads (GET) and writes (logins, revocations) are counted apart, as the server counts
-- them. Outside nginx the budget is the client's; inside nginx (either transport) it is
-- the worker's, one per base URL, shared by every client and light thread of the worker
-- (clients are often made per request there, and the limit is the address's); and when
-- nginx.conf declares `lua_shared_dict infisical_pace 1m;` it is shared by all the
-- workers (the request count taken with the dict's atomic `incr`, so none is lost). A
-- hold longer than the asking client's `max_retry_wait` is not made: the request goes
-- and the server's 429 is its answer.
-- @module infisical.pace

local core = require "infisical.core"

local setmetatable, getmetatable, tostring, tonumber, type, min, max = setmetatable,
  getmetatable, tostring, tonumber, type, math.min, math.max
local gmatch, match = string.gmatch, string.match
local monotime = core.monotime

local _M = {}

--- Seconds between two looks while a probe is on its way (an answer usually wakes the
-- scheduler before).
_M.POLL = 0.02

--- The `lua_shared_dict` that, when nginx.conf declares it, holds the budgets of all
-- the workers.
_M.DICT = "infisical_pace"

--- The longest window end an `x-ratelimit-reset` may say (seconds): a longer one is ignored.
_M.MAX_RESET = 3600

---------------------------------------------------------------------------
-- Header values: a plain non-negative decimal number, else nothing.

local function plain(s)
  if not match(s, "^%s*%d+%.?%d*%s*$") then return nil end
  local n = tonumber(s)
  if n == nil or n ~= n or n == math.huge then return nil end
  return n
end

--- The value of a rate-limit header: `pick` (min or max) of its comma-joined values
-- that are plain numbers, or nil when none is.
local function header_number(v, pick)
  if type(v) ~= "string" then return nil end
  local best
  for part in gmatch(v, "[^,]+") do
    local n = plain(part)
    if n then best = best and pick(best, n) or n end
  end
  return best
end

--- The rate-limit headers of an answer, made safe: remaining, reset (seconds, at most
-- MAX_RESET), limit (at least 1), or nils.
function _M.read_headers(headers)
  local rem = header_number(headers["x-ratelimit-remaining"], min)
  local reset = header_number(headers["x-ratelimit-reset"], max)
  local limit = header_number(headers["x-ratelimit-limit"], min)
  if reset and reset > _M.MAX_RESET then reset = nil end   -- no server says so: a broken value
  if limit and limit < 1 then limit = nil end
  if rem then rem = math.floor(rem) end
  if limit then limit = math.floor(limit) end
  if rem and limit and rem > limit then rem = limit end
  return rem, reset, limit
end

--- Whether an answer carries any `x-ratelimit-*` header (a counted answer, or a 429 of
-- the server's own limiter).
local function says_count(headers)
  return headers ~= nil and (headers["x-ratelimit-remaining"] ~= nil
    or headers["x-ratelimit-reset"] ~= nil or headers["x-ratelimit-limit"] ~= nil)
end

---------------------------------------------------------------------------
-- Stores: where a budget's numbers live. The worker's (or process's) own table, or the
-- shared dict that every nginx worker sees. Both have get, set(k, v, ttl), add(k, v,
-- ttl) (false when present), incr(k, by) and delete; a ttl is in seconds.

local Local = {}
Local.__index = Local

local function new_local()
  return setmetatable({ t = {}, exp = {} }, Local)
end

function Local:get(k)
  local e = self.exp[k]
  if e and e <= monotime() then self.t[k], self.exp[k] = nil, nil end
  return self.t[k]
end

function Local:set(k, v, ttl)
  self.t[k] = v
  self.exp[k] = ttl and monotime() + ttl or nil
end

function Local:add(k, v, ttl)
  if self:get(k) ~= nil then return false end
  self:set(k, v, ttl)
  return true
end

function Local:incr(k, by)
  local v = (self:get(k) or 0) + by
  self.t[k] = v
  return v
end

function Local:delete(k) self.t[k], self.exp[k] = nil, nil end

local Shared = {}
Shared.__index = Shared

function Shared:get(k) return (self.dict:get(self.prefix .. k)) end
function Shared:set(k, v, ttl)
  if v == nil then return self.dict:delete(self.prefix .. k) end
  self.dict:set(self.prefix .. k, v, ttl and max(ttl, 0.001) or 0)
end
function Shared:add(k, v, ttl)
  return (self.dict:add(self.prefix .. k, v, ttl and max(ttl, 0.001) or 0)) == true
end
function Shared:incr(k, by)
  local key = self.prefix .. k
  local v = self.dict:incr(key, by, 0)
  if v == nil then
    -- the dict is full (or the key was overwritten): counted as well as it can be, never
    -- an error in the caller's request
    v = (tonumber(self.dict:get(key)) or 0) + by
    self.dict:set(key, v)
  end
  return v
end
function Shared:delete(k) self.dict:delete(self.prefix .. k) end

local function shared_dict()
  local shared = ngx.shared
  return shared and shared[_M.DICT]
end

---------------------------------------------------------------------------
-- Budgets: a store, the worker's own bookkeeping (the pauses it made, its requests in
-- flight by number, weakly: a request object collected is no longer in flight).

local by_client = setmetatable({}, { __mode = "k" })
local by_base = {}   -- inside nginx: base URL -> budget, for the worker's lifetime
local me              -- this process in a probe's value

local function whoami()
  if not me then
    me = (ngx and ngx.worker and ngx.worker.pid and tostring(ngx.worker.pid()) or "lua") .. ":"
  end
  return me
end

local function live_table() return setmetatable({}, { __mode = "v" }) end

-- paused: the waits the budget made (a spent window, a 429), counted once each however
-- many requests waited through them: n, seconds, and when the current one ends.
local function new_budget(store)
  return { store = store, live = { r = live_table(), w = live_table() },
    paused = { n = 0, seconds = 0, till = 0 } }
end

local function budget(client)
  local b
  if ngx then
    local base = client.base_url
    b = by_base[base]
    if not b then
      local dict = shared_dict()
      b = new_budget(dict and setmetatable({ dict = dict, prefix = base .. "|" }, Shared)
        or new_local())
      by_base[base] = b
    end
  else
    b = by_client[client]
    if not b then
      b = new_budget(new_local())
      by_client[client] = b
    end
  end
  return b
end

--- A wait of `w` seconds from `now` for the server's limit: a new pause, or the current
-- one made longer.
local function note_pause(b, now, w)
  local p, till = b.paused, now + w
  if now >= p.till then
    p.n, p.seconds = p.n + 1, p.seconds + w
  elseif till > p.till then
    p.seconds = p.seconds + (till - p.till)
  end
  if till > p.till then p.till = till end
end

-- A bucket's keys in the store (r: reads, w: writes):
--   seq        requests sent so far (each request's number is handed back with its answer)
--   start      the last number sent before the window began (answers to those are stale)
--   reset      when the window ends (monotonic clock; nil: unknown)
--   limit      the window's size as last said
--   cap        what the current window allows in all, others' spending taken off (nil: unknown)
--   other      what others spent in the current window, at least
--   pause      a 429's end
--   counts     true: the server counts (headers came); false: it does not; nil: unknown
--   probe      the request in flight that will say (its worker and number), with a ttl
-- and, for the whole budget, `next` (max_rate's next send).
local function kind_of(method) return method == "GET" and "r" or "w" end

local function get(st, k, key) return st:get(k .. key) end
local function num(st, k, key) return st:get(k .. key) or 0 end

--- A window that is over: a new one begins with the whole limit, not yet confirmed.
local function roll(st, k, now)
  local reset = get(st, k, "reset")
  if reset and now >= reset then
    st:set(k .. "reset", nil)
    st:set(k .. "start", num(st, k, "seq"))
    st:set(k .. "cap", get(st, k, "limit"))
    st:set(k .. "other", 0)
  end
end

--- Whether the probe of bucket `k` is on its way: a probe of this worker whose request
-- is no longer in flight here (collected, or answered) is forgotten.
local function probing(b, k)
  local st = b.store
  local p = st:get(k .. "probe")
  if p == nil then return false end
  local who, seq = match(p, "^(.*:)(%d+)$")
  if who == whoami() and b.live[k][tonumber(seq)] == nil then
    st:delete(k .. "probe")
    return false
  end
  return true
end

--- Seconds `client` must wait before sending a `method` request: 0 when it may go now.
function _M.hold(client, method)
  local b, k = budget(client), kind_of(method)
  local st = b.store
  local now = monotime()
  roll(st, k, now)
  local w = 0
  local pause, counts, reset = num(st, k, "pause"), get(st, k, "counts"), get(st, k, "reset")
  if pause > now then
    w = pause - now
  elseif counts == nil or (counts and reset == nil) then
    -- nothing known yet, or a new window: one request says, the others wait for it
    if probing(b, k) then w = _M.POLL end
  elseif counts then
    local cap = get(st, k, "cap")
    if cap and cap - (num(st, k, "seq") - num(st, k, "start")) <= 0 then w = reset - now end
  end
  -- a wait longer than the caller's max_retry_wait is not ours to do: the request goes,
  -- and the server's 429 is the answer (as for a retry-after past it)
  if w > client.opts.max_retry_wait then w = 0 end
  if w > _M.POLL then note_pause(b, now, w) end
  if w <= 0 then
    w = 0
    local rate = client.opts.max_rate
    if rate then
      local nxt = st:get("next") or 0
      if nxt > now then w = nxt - now end
    end
  end
  return w
end

--- A request is being sent; returns its number, to hand back to `observe` and `pause`.
-- `owner` (the request's attempt object): the request is in flight while it lives.
function _M.sent(client, method, owner)
  local b, k = budget(client), kind_of(method)
  local st = b.store
  local now = monotime()
  roll(st, k, now)
  local seq = st:incr(k .. "seq", 1)
  if owner ~= nil then b.live[k][seq] = owner end
  local counts = get(st, k, "counts")
  if counts == nil or (counts and get(st, k, "reset") == nil) then
    st:add(k .. "probe", whoami() .. seq, client.opts.timeout)
  end
  local rate = client.opts.max_rate
  if rate then st:set("next", max(st:get("next") or 0, now) + 60 / rate) end
  return seq
end

--- Request number `seq` is no longer in flight (answered, or dropped).
local function landed(b, k, seq)
  if seq == nil then return end
  b.live[k][seq] = nil
  local st = b.store
  if st:get(k .. "probe") == whoami() .. seq then st:delete(k .. "probe") end
end

--- A request will never be answered to us (a run left early): no longer in flight.
function _M.forget(client, method, seq)
  landed(budget(client), kind_of(method), seq)
end

--- The answer to request number `seq` (`headers`: nil when none came).
function _M.observe(client, method, headers, seq)
  local b, k = budget(client), kind_of(method)
  local st = b.store
  landed(b, k, seq)
  if not headers then return end
  local rem, reset, limit = _M.read_headers(headers)
  if not (rem and reset) then
    if says_count(headers) then
      -- said, but nothing usable (`nan`, `-1`): nothing learnt; and not one request at
      -- a time for ever after, waiting for a count that never comes
      if get(st, k, "counts") == nil then st:set(k .. "counts", false) end
      return
    end
    -- an answer that does not say (a server that does not count, or a refusal before
    -- the count): what was known may be stale; not held (but by max_rate) until one says
    st:set(k .. "counts", false)
    st:set(k .. "reset", nil)
    st:set(k .. "cap", nil)
    st:set(k .. "limit", nil)
    st:set(k .. "other", 0)
    -- a count resumed is counted from here
    st:set(k .. "start", max(num(st, k, "start"), (seq or num(st, k, "seq") + 1) - 1))
    -- (a login's answer speaks for the reads too)
    if k == "w" and get(st, "r", "counts") == nil then st:set("rcounts", false) end
    return
  end
  if limit then st:set(k .. "limit", limit) end
  st:set(k .. "counts", true)
  local start = num(st, k, "start")
  if seq and seq <= start then return end   -- it speaks of a window already over
  local now = monotime()
  roll(st, k, now)
  start = num(st, k, "start")
  local at, known = now + reset, get(st, k, "reset")
  local cap = get(st, k, "cap")
  -- reset is whole seconds rounded up: the earliest end said is the closest. One later
  -- by more than that rounding is a window the server began before ours ended here.
  if known ~= nil and at > known + 1 then
    start = seq and seq - 1 or num(st, k, "seq")
    st:set(k .. "reset", at)
    st:set(k .. "start", start)
    st:set(k .. "other", 0)
    cap = nil
  elseif known == nil or at < known then
    st:set(k .. "reset", at)
  end
  local used = num(st, k, "seq") - start   -- sent in this window, this request among them
  local lim = get(st, k, "limit")
  if lim then
    local other = max(num(st, k, "other"), lim - rem - used)
    st:set(k .. "other", other)
    st:set(k .. "cap", lim - other)
  else
    -- no limit said: what remains, and the requests sent up to this one
    local est = rem + ((seq or num(st, k, "seq")) - start)
    st:set(k .. "cap", cap and min(cap, est) or est)
  end
end

--- A 429 to request number `seq`: every request of the budget waits `seconds`.
-- `counted`: the 429 carried `x-ratelimit-*` headers (the server's own limiter); only
-- such a one can speak of a window already over (then it returns false: nothing to wait for).
function _M.pause(client, method, seconds, seq, counted)
  local b, k = budget(client), kind_of(method)
  local st = b.store
  if counted and seq and seq <= num(st, k, "start") then return false end
  local now = monotime()
  note_pause(b, now, seconds)
  st:set(k .. "pause", max(num(st, k, "pause"), now + seconds))
  if get(st, k, "counts") then
    local used = num(st, k, "seq") - num(st, k, "start")
    local lim = get(st, k, "limit")
    if lim then st:set(k .. "other", max(num(st, k, "other"), lim - used)) end
    st:set(k .. "cap", used)   -- spent
    local reset = get(st, k, "reset")
    if reset == nil or reset < now + seconds then st:set(k .. "reset", now + seconds) end
  end
  return true
end

--- The pauses `client`'s budget made for the server's limit so far (inside nginx: the
-- worker's for its base URL): `{ n = pauses, seconds = their length }`. The command's
-- progress line shows them.
function _M.paused(client)
  local p = budget(client).paused
  return { n = p.n, seconds = p.seconds }
end

--- What `client`'s budget for `method` knows now (specs, debugging): `left` (requests the
-- window still allows, nil: unknown), `reset_in` (seconds, nil: unknown), `limit`,
-- `paused_for` (seconds), `counts` (true, false or nil: unknown), `probing`, `shared`
-- (the budget is in the shared dict).
function _M.state(client, method)
  local b, k = budget(client), kind_of(method)
  local st = b.store
  local now = monotime()
  roll(st, k, now)
  local cap, reset = get(st, k, "cap"), get(st, k, "reset")
  return { left = cap and cap - (num(st, k, "seq") - num(st, k, "start")) or nil,
    reset_in = reset and reset - now or nil, limit = get(st, k, "limit"),
    paused_for = max(0, num(st, k, "pause") - now), counts = get(st, k, "counts"),
    probing = probing(b, k), shared = getmetatable(st) == Shared }
end

--- Forgets every budget (specs: a fresh worker; the shared dict is emptied too, unless
-- `worker_only`).
function _M.reset(worker_only)
  by_base = {}
  by_client = setmetatable({}, { __mode = "k" })
  if ngx and not worker_only then
    local dict = shared_dict()
    if dict then dict:flush_all() end
  end
end

return _M
