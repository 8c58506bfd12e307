--- What an attempt's outcome means: the one place that decides, for every request the
-- library sends, whether it is done, must log in again, must wait and repeat, or gives up.
-- Like infisical.walk it is a small state machine that any driver runs and obeys (the
-- blocking loop in infisical.http, the login in infisical.auth, the `list_many` scheduler
-- in infisical.many, over libcurl's multi, cosockets or one request at a time):
--
--     local a = attempt.new(client, "GET")
--     repeat
--       a:sending(auth.generation(client))      -- right before the request takes its token
--       local status, body, headers = transport:request(...)
--       local action, x, y = a:outcome(status, body, headers, parse, url)
--       -- "done", result[, note] | "login" | "wait", seconds | "fail", err
--     until ...
--
-- The decisions, in order: the answer is parsed (server strings redacted before they are
-- cut); a failure is redacted (infisical.secrets); a refused access token of a client that
-- logs in by itself means "log in again, then repeat", once; what infisical.retry allows
-- means "wait, then repeat"; the rest gives up, the error saying how many attempts were
-- made and for how long. A revocation's 404 "already revoked" after an attempt that may
-- have been carried out (its answer lost) is the lost attempt's doing: done.
--
-- Rate limits: every answer's headers feed the client's budget (infisical.pace), which
-- the drivers ask before each send (`pace.hold`). A 429 is not a failed attempt: it
-- pauses the budget until its `retry-after` and the request is sent again when the pause
-- ends, without using up `retries`; its waits add up to at most `max_retry_wait` seconds
-- per request (then the 429 is judged like any other failure), so a server that answers
-- 429 forever cannot hold a call forever.
-- @module infisical.attempt

local core = require "infisical.core"
local retry = require "infisical.retry"
local secrets = require "infisical.secrets"
local pace = require "infisical.pace"

local setmetatable, type, find, match, tonumber, max = setmetatable, type, string.find,
  string.match, tonumber, math.max
local monotime = core.monotime

local _M = {}
local A = {}

-- A 429 that says "again in 0 s" is waited for this long (and counted so in the bound).
local MIN_WAIT = 0.25
A.__index = A

--- A new attempt state for one request (`method` as sent).
-- opts (optional): `started` (monotime the give-up's `elapsed` counts from; by default
-- the last send before the first retry), `relogin` (false: a refused token is an answer,
-- as for a login), `refine` (a function given each failure before it is judged: the
-- login's own words for a refusal), `revoke` (true: the revocation rule above applies).
function _M.new(client, method, opts)
  opts = opts or {}
  return setmetatable({
    client = client, method = method, attempt = 0, relogin = opts.relogin ~= false,
    refine = opts.refine, revoke = opts.revoke, started = opts.started,
    fixed_start = opts.started ~= nil, lost = false, gen = nil, seq = nil, limited = 0, limited_wait = 0,
  }, A)
end

--- Records a send: `gen` is the generation of the token the request carries (auth.generation).
-- The driver asked `pace.hold` first.
function A:sending(gen)
  self.gen = gen
  self.seq = pace.sent(self.client, self.method, self)
  if not self.fixed_start and self.attempt == 0 then self.started = monotime() end
end

--- A revocation that met "already revoked": the lost attempt's work when one may have
-- been carried out, else kind "already_revoked".
local function revoked(self, err)
  if err.kind == "http" and err.status == 404 and type(err.message) == "string"
     and find(err.message, "revoked", 1, true) then
    if self.lost then return true end
    err.kind = "already_revoked"
  end
end

--- A 429: pauses the budget and gives the seconds to wait before sending again, or nil
-- when this request's 429 waits would pass `max_retry_wait` (then it is an attempt).
local function rate_limited(self, err, headers)
  local policy = self.client.opts
  local wait = err.retry_after
  local counted = false
  if headers then
    local _, reset = pace.read_headers(headers)
    counted = reset ~= nil
    if wait == nil then wait = reset end
  end
  if wait == nil and type(err.message) == "string" then
    -- Cloud's message, when a proxy dropped the headers: "... Please try again in N seconds"
    wait = tonumber(match(err.message, "[Tt]ry again in (%d+%.?%d*) seconds?"))
  end
  if wait == nil or wait ~= wait then wait = retry.backoff(policy, self.limited) end
  wait = max(wait, MIN_WAIT)
  if self.limited_wait + wait > policy.max_retry_wait then return nil end
  self.limited, self.limited_wait = self.limited + 1, self.limited_wait + wait
  -- a 429 without x-ratelimit-* (a proxy's limiter) always pauses: it names no window
  if not pace.pause(self.client, self.method, wait, self.seq, counted) then return 0 end
  return wait
end

--- What the answer (`status, body, headers` from the transport, or `nil, err`) means.
-- `parse(status, body, headers, method, url, redact, arg)` reads an answer (core.parse,
-- core.parse_tokens or a page parser).
-- @return "done", result[, note] | "login" | "wait", seconds | "fail", err
function A:outcome(status, body, headers, parse, url)
  local client = self.client
  local res, err
  if status then
    res, err = parse(status, body, headers, self.method, url, secrets.redact_string, client)
  else
    err = body
  end
  pace.observe(client, self.method, status and headers or nil, self.seq)
  if res ~= nil then return "done", res end
  err = secrets.redact_error(client, err)
  if self.refine then self.refine(err) end
  if type(err) == "table" and err.kind == "http" and err.status == 429 then
    local wait = rate_limited(self, err, headers)
    if wait then return "wait", wait end
  end
  -- A client that logs in by itself holds a client secret; kind "auth" is a refused token.
  if self.relogin and secrets.get(client, "client_secret") ~= nil and type(err) == "table"
     and err.kind == "auth" then
    self.relogin = false              -- once: a second refusal is the answer
    return "login"
  end
  local wait = retry.delay(client.opts, err, self.attempt)
  if not wait then
    -- attempts made: the 429s waited for are among them, though they used up no retry
    err = retry.give_up(err, self.attempt + 1 + self.limited, self.started, monotime())
    if self.revoke and revoked(self, err) then return "done", true, "already_revoked_on_retry" end
    return "fail", err
  end
  self.lost = self.lost or retry.maybe_carried_out(err)
  self.attempt = self.attempt + 1
  return "wait", wait
end

return _M
