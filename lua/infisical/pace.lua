--- Pacing to the server's rate limit: the one request budget of a client, shared by
-- everything it sends (the blocking calls, walks, logins, `list_many`/`stream_many`).
--
-- infisical.attempt feeds it (`sent` when a request goes, `observe` with every answer's
-- headers, `pause` on a 429); the drivers ask it before each send:
--
--     local w = pace.hold(client, method)   -- 0: send now; else seconds to wait, then ask again
--
-- the blocking driver (infisical.http, infisical.auth) sleeps, the `list_many` scheduler
-- (infisical.many) delays the job while the other transfers go on.
--
-- What it knows comes from the server: `x-ratelimit-limit`, `x-ratelimit-remaining` and
-- `x-ratelimit-reset` (seconds) on every counted answer, `retry-after` on a 429. The
-- budget of the current window is the limit, less the requests sent here since the
-- window began, less what others (other clients of the same address) spent: at least
-- the count an answer said (limit - remaining) beyond all the requests sent here by then
-- (the server counts requests in the order they arrive, not the order they were sent, so
-- an answer's remaining alone says little about the requests still in flight). When the
-- budget is spent, new requests wait for the window's end. A 429 pauses every request of the budget until its `retry-after`. Until
-- the first answer says whether the server counts, one request at a time is in flight
-- (a burst of `concurrency` requests against an unknown limit would be refused at once).
-- A server that sends no headers is not held, except by `max_rate` (requests per minute:
-- the sends are spaced by 60 / max_rate seconds), which applies in any case.
--
-- Reads (GET) and writes (logins, revocations) are counted apart, as the server counts
-- them. Outside nginx the budget is the client's; inside nginx (either transport) it is
-- the worker's, one per base URL, shared by every client and light thread of the worker
-- (clients are often made per request there, and the limit is the address's). A hold
-- longer than the asking client's `max_retry_wait` is not made: the request goes and the
-- server's 429 is its answer.
-- @module infisical.pace

local core = require "infisical.core"

local setmetatable, tonumber, min, max = setmetatable, tonumber, math.min, math.max
local monotime = core.monotime

local _M = {}

--- Seconds between two looks while the budget is unknown and a request is on its way to
-- find it out (an answer usually wakes the scheduler before).
_M.POLL = 0.02

local by_client = setmetatable({}, { __mode = "k" })
local by_base = {}   -- inside nginx: base URL -> budget, for the worker's lifetime

local function new_bucket()
  -- left: requests the window still allows (nil: unknown); other: the requests others
  -- spent in it, at least; reset_at: when it ends (nil:
  -- unknown); limit: the window's size as last said; pause_until: a 429's retry-after;
  -- seq: requests sent so far (each request's number is handed back with its answer);
  -- start: the last number sent before the window began (answers to those are stale);
  -- seen: an answer said whether the server counts (headers or none).
  return { left = nil, other = 0, reset_at = nil, limit = nil, pause_until = 0, start = 0,
    inflight = 0, last_sent = 0, seq = 0, seen = false }
end

-- paused: the waits the budget made (a spent window, a 429), counted once each however
-- many requests waited through them: n, seconds, and when the current one ends.
local function new_budget()
  return { read = new_bucket(), write = new_bucket(), next_at = 0,
    paused = { n = 0, seconds = 0, till = 0 } }
end

local function budget(client)
  local b
  if ngx then
    local base = client.base_url
    b = by_base[base]
    if not b then
      b = new_budget()
      by_base[base] = b
    end
  else
    b = by_client[client]
    if not b then
      b = new_budget()
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

local function bucket(client, method)
  local b = budget(client)
  return b[method == "GET" and "read" or "write"], b
end

--- A window that is over: a new one begins with the whole limit (nil: still unknown).
local function roll(k, now)
  if k.reset_at and now >= k.reset_at then
    k.reset_at, k.left, k.start, k.other = nil, k.limit, k.seq, 0
  end
end

--- Seconds `client` must wait before sending a `method` request: 0 when it may go now.
function _M.hold(client, method)
  local k, b = bucket(client, method)
  local now = monotime()
  roll(k, now)
  local w = 0
  if k.pause_until > now then
    w = k.pause_until - now
  elseif k.left and k.left <= 0 and k.reset_at then
    w = k.reset_at - now
  elseif (not k.seen or (k.left and k.left <= 0)) and k.inflight > 0
      and now - k.last_sent < client.opts.timeout then
    -- an answer on its way says whether the server counts, or when the window ends (a
    -- request out for longer than a whole request's timeout was lost: not waited for)
    w = _M.POLL
  end
  -- a wait longer than the caller's max_retry_wait is not ours to do: the request goes,
  -- and the server's 429 is the answer (as for a retry-after past it)
  if w > client.opts.max_retry_wait then w = 0 end
  if w > _M.POLL then note_pause(b, now, w) end
  if w == 0 then
    local rate = client.opts.max_rate
    if rate and b.next_at > now then w = b.next_at - now end
  end
  return w
end

--- A request is being sent; returns its number, to hand back to `observe` and `pause`.
function _M.sent(client, method)
  local k, b = bucket(client, method)
  local now = monotime()
  roll(k, now)
  k.inflight, k.last_sent, k.seq = k.inflight + 1, now, k.seq + 1
  if k.left then k.left = k.left - 1 end
  local rate = client.opts.max_rate
  if rate then b.next_at = max(b.next_at, now) + 60 / rate end
  return k.seq
end

--- The answer to request number `seq` (`headers`: nil when none came).
function _M.observe(client, method, headers, seq)
  local k, b = bucket(client, method)
  if k.inflight > 0 then k.inflight = k.inflight - 1 end
  if not headers then return end
  local rem = tonumber(headers["x-ratelimit-remaining"])
  local reset = tonumber(headers["x-ratelimit-reset"])
  if not (rem and reset) then
    -- an answer that does not say (a server that does not count, or a refusal before
    -- the count): what was known may be stale; not held (but by max_rate) until one says
    k.left, k.limit, k.reset_at, k.other = nil, nil, nil, 0
    k.start = max(k.start, (seq or k.seq + 1) - 1)   -- a count resumed is counted from here
    b.read.seen, b.write.seen = true, true   -- (a login's answer speaks for the reads too)
    return
  end
  local limit = tonumber(headers["x-ratelimit-limit"])
  k.seen = true
  if limit then k.limit = limit end
  if seq and seq <= k.start then return end   -- it speaks of a window already over
  local now = monotime()
  roll(k, now)
  local at = now + reset
  -- reset is whole seconds rounded up: the earliest end said is the closest. One later
  -- by more than that rounding is a window the server began before ours ended here.
  if k.reset_at ~= nil and at > k.reset_at + 1 then
    k.reset_at, k.start, k.other = at, seq and seq - 1 or k.seq, 0
  elseif k.reset_at == nil or at < k.reset_at then
    k.reset_at = at
  end
  local used = k.seq - k.start     -- sent here in this window, this request among them
  local lim = k.limit
  if lim then
    k.other = max(k.other, lim - rem - used)
    k.left = lim - used - k.other
  else
    -- no limit said: what remains, less what was sent after this request
    local est = rem - (seq and k.seq - seq or k.inflight)
    k.left = k.left and min(k.left, est) or est
  end
end

--- A 429 to request number `seq`: every request of the budget waits `seconds`.
-- Returns false when the 429 speaks of a window already over (nothing to wait for).
function _M.pause(client, method, seconds, seq)
  local k, b = bucket(client, method)
  if seq and seq <= k.start then return false end
  local now = monotime()
  note_pause(b, now, seconds)
  k.pause_until = max(k.pause_until, now + seconds)
  k.left = 0
  if k.limit then k.other = max(k.other, k.limit - (k.seq - k.start)) end
  if k.reset_at == nil or k.reset_at < now + seconds then k.reset_at = now + seconds end
  return true
end

--- The pauses `client`'s budget made for the server's limit so far (inside nginx: the
-- worker's for its base URL): `{ n = pauses, seconds = their length }`. The command's
-- progress line shows them.
function _M.paused(client)
  local p = budget(client).paused
  return { n = p.n, seconds = p.seconds }
end

--- Forgets every budget (specs: a fresh worker).
function _M.reset()
  by_base = {}
  by_client = setmetatable({}, { __mode = "k" })
end

return _M
