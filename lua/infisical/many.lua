--- Many identities at once: `client:list_many` and `client:stream_many`.
--
-- A scheduler runs one paging walk (infisical.walk) per identity and keeps at most
-- `concurrency` identities in progress; each has at most one request in flight, so at
-- most `concurrency` transfers are in flight. What each answer means is infisical.attempt's
-- decision; a request to repeat after a wait, or one the client's rate budget holds
-- (infisical.pace), is scheduled for later while the other transfers go on.
--
-- The scheduler knows nothing of libcurl. It drives an *engine*:
--
--     engine:add(tag, method, url)      start a request (tag: an integer)
--     engine:wait(seconds)              run until a request finished or the time is up
--     engine:next(json)                 tag, status, body, headers | tag, nil, err | nothing
--                                       (json: a 2xx JSON body may come decoded, a table)
--     engine:running()                  requests in flight, finished ones not yet taken
--     engine:abort()                    drop every request (an abandoned stream)
--
-- `transport:multi()` gives it (infisical.core's Multi for the curl transport, light threads
-- for the cosocket one: infisical.transport.cosocket_engine). A transport without one gets
-- the serial engine (infisical.transport.serial), one request at a time, so the results are
-- the same everywhere.
--
-- Every run owns its transfers. The curl transport keeps one Multi for its connections;
-- a run that finds it held by another unfinished run (a `where` filter that calls
-- list_many, runs interleaved by coroutines, two streams read in turn) gets a Multi of
-- its own (`transport:multi(true)`), closed when the run ends, instead of taking the
-- other's transfers or tags. The serial and cosocket engines are made per run anyway.
-- @module infisical.many

local core = require "infisical.core"
local options = require "infisical.options"
local client_secrets = require "infisical.client_secrets"
local server = require "infisical.server"
local filters = require "infisical.filters"
local walk = require "infisical.walk"
local attempt = require "infisical.attempt"
local auth = require "infisical.auth"
local http = require "infisical.http"
local secrets = require "infisical.secrets"
local serial = require "infisical.transport.serial"
local pace = require "infisical.pace"

local type, pairs, tostring, setmetatable, getmetatable, error = type, pairs, tostring,
  setmetatable, getmetatable, error
local remove = table.remove
local monotime, tokens_url = core.monotime, core.tokens_url

local _M = {}

---------------------------------------------------------------------------
-- Argument checks: everything is checked before the first request.

local bad = options.bad

local id_problem = options.id_problem

local function check_ids(fname, ids, level)
  if type(ids) ~= "table" then
    bad(fname, "identity_ids", "array of identity ids expected, got " .. type(ids), level + 1)
  end
  local n = #ids
  for k in pairs(ids) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
      bad(fname, "identity_ids", "must be an array (found key " .. tostring(k) .. ")", level + 1)
    end
  end
  for i = 1, n do
    local why = id_problem(ids[i])
    if why then bad(fname, ("identity_ids[%d]"):format(i), why, level + 1) end
  end
  return n
end

---------------------------------------------------------------------------
-- A run: the state of one list_many/stream_many call.

local Run = {}
Run.__index = Run

-- The run that holds each kept engine. Weak both ways: a run dropped unfinished (a filter
-- raised, or a stream left with `break` on Lua 5.1) lets go of it once it is collected.
-- (The token a run's own engine was last given is the run's secret "given".)
local holders = setmetatable({}, { __mode = "kv" })

--- Gives the run's engine back: its own Multi is closed, the kept one emptied for the
-- next run. Safe to call twice, and after client:close() (which closed the engine).
local function release(run)
  local engine = run.engine
  if run.own then
    engine:close()
  elseif holders[engine] == run then
    holders[engine] = nil
    engine:abort()
  end
end

--- The requests of a run left unfinished will never be answered to it: the client's rate
-- budget stops counting them as in flight.
local function forget_flying(run)
  for _, job in pairs(run.jobs) do
    if job.flying then
      job.flying = false
      pace.forget(run.client, "GET", job.try.seq)
    end
  end
end

local function abandon(run)
  if run.finished then return end
  run.finished, run.abandoned = true, true
  forget_flying(run)
  release(run)
end
-- Must not raise: on Lua 5.4 it runs while the loop body's own error propagates.
Run.__close = abandon

--- Stops a stream left early (`stream_many`'s fourth value): what the generic `for` of
-- Lua 5.4 does by itself, for Lua 5.1/LuaJIT. Safe to call twice.
function Run:close() abandon(self) end

--- Starts a request for the job's next page (or ends the job when the login fails).
function Run:send(job)
  local client = self.client
  -- A failed login (refused, or the server out of reach after its retries) ends the run
  -- for every identity not done: each gets that error, without a request or login of its
  -- own (a refused login repeated per identity pushes it into the server's lockout).
  if self.login_err then
    local err = auth.copy_error(self.login_err)
    err.tokens = job.tokens
    return self:complete(job, nil, err)
  end
  -- the client's rate budget (infisical.pace): a job that may not go yet waits its turn
  -- among the delayed ones while the other transfers go on
  local hold = pace.hold(client, "GET")
  if hold > 0 then
    job.at = monotime() + hold
    self.delayed[#self.delayed + 1] = job
    return
  end
  local ok, err = http.ensure_token(client)
  if not ok then
    self.login_err = auth.copy_error(err)
    err.tokens = job.tokens
    return self:complete(job, nil, err)
  end
  -- a login updates the transport's engines, not a run's own one
  local token = secrets.get(client, "token")
  if self.own and token ~= secrets.get(self, "given") then
    self.engine:set_token(token)
    secrets.set(self, "given", token)
  end
  if self.secrets then
    -- client secrets: one request per identity (the server has no paging)
    job.url = client_secrets.url(client.base_url, job.walk.identity_id)
  else
    local offset, limit = job.walk:next_request()
    job.url, job.limit = tokens_url(client.base_url, job.walk.identity_id, offset, limit), limit
  end
  -- the engines take the token when the request is added, before anything yields
  job.try:sending(auth.generation(client))
  job.flying = true
  self.engine:add(job.tag, "GET", job.url)
end

--- Takes the next identity from the source, if any; false when there is none left.
function Run:start_one()
  local id = self.source()
  if id == nil then return false end
  local tag = self.serial + 1
  self.serial = tag
  local job = {
    tag = tag, try = attempt.new(self.client, "GET"), tokens = {},
    walk = self.secrets and { identity_id = id } or walk.new(id, self.page_size, self.filter, self.partial),
  }
  self.jobs[tag] = job
  self.active = self.active + 1
  self:send(job)
  return true
end

--- An identity is done: queue `id, tokens, err` for the caller, free its place.
function Run:complete(job, tokens, err)
  self.jobs[job.tag] = nil
  self.active = self.active - 1
  local q = self.ready
  q[#q + 1] = { job.walk.identity_id, tokens, err }
end

--- The end of a walk, said the way `all_tokens` says it.
function Run:finish_walk(job)
  local w, tokens = job.walk, job.tokens
  if w.truncated then
    local err = w:truncated_error(tokens)
    if w.partial then return self:complete(job, tokens, err) end
    return self:complete(job, nil, err)
  end
  self:complete(job, tokens)
end

--- One answer for a job: feed the page, or act on what infisical.attempt decides.
function Run:on_answer(job, status, body, headers)
  local parser = self.secrets and client_secrets.parser(job.walk.identity_id, true)
    or http.token_parser(job.limit)
  local action, x = job.try:outcome(status, body, headers, parser, job.url)
  if action == "done" and self.secrets then
    local keep, out = self.filter, x
    if keep then
      out = {}
      for j = 1, #x do if keep(x[j]) then out[#out + 1] = x[j] end end
    end
    return self:complete(job, out)
  elseif action == "done" then
    job.try = attempt.new(self.client, "GET")
    local got = job.walk:feed(x)
    local tokens = job.tokens
    for j = 1, #got do tokens[#tokens + 1] = got[j] end
    if job.walk.done then return self:finish_walk(job) end
    return self:send(job)
  elseif action == "login" then
    -- Every request in flight meets the same refusal: one login serves them all. Only
    -- the token this request carried is forgotten, so an answer to a request sent before
    -- the last login only sends it again.
    auth.expire(self.client, job.try.gen)
    return self:send(job)
  elseif action == "fail" then
    x.tokens = job.tokens
    return self:complete(job, nil, x)
  end
  job.at = monotime() + x   -- "wait"
  self.delayed[#self.delayed + 1] = job
end

--- Waits for the engine once and handles every answer it has.
function Run:pump()
  local now, next_at = monotime(), nil
  local delayed = self.delayed
  local i = 1
  while i <= #delayed do
    local job = delayed[i]
    if job.at <= now then
      remove(delayed, i)
      self:send(job)
    else
      if next_at == nil or job.at < next_at then next_at = job.at end
      i = i + 1
    end
  end
  local engine = self.engine
  local running, finished = engine:running()
  if finished == 0 then
    if running == 0 and next_at == nil then
      if self.active > 0 and #self.ready == 0 then
        error("infisical: internal error: identities in progress but nothing to wait for")
      end
      return
    end
    local wait = 30
    if next_at then wait = next_at - now; if wait < 0 then wait = 0 end end
    engine:wait(wait)
  end
  while true do
    -- a 2xx page may come decoded from libcurl's buffer (the Multi's `json`): the token
    -- parser takes a table as well as the text
    local tag, status, body, headers = engine:next(true)
    if tag == nil then break end
    local job = self.jobs[tag]
    if job then job.flying = false; self:on_answer(job, status, body, headers) end
  end
end

--- The next finished identity: `id, tokens, err` (as `all_tokens` gives them), or nil.
function Run:next()
  if not self.client.transport then
    if not self.finished then self.finished = true; forget_flying(self); release(self) end
    error("infisical: client is closed", 2)
  end
  if self.abandoned then
    error(("infisical: %s: stream closed (the loop was left)"):format(self.fname), 2)
  end
  local ready = self.ready
  while true do
    if self.rhead <= #ready then
      local r = ready[self.rhead]
      ready[self.rhead] = false
      self.rhead = self.rhead + 1
      if self.rhead > #ready then self.ready, self.rhead = {}, 1 end
      return r[1], r[2], r[3]
    end
    if self.finished then return nil end
    -- New identities start only once the caller took the finished ones: memory stays
    -- bounded by `concurrency` whatever the number of identities.
    while self.active < self.concurrency and not self.exhausted do
      if not self:start_one() then self.exhausted = true end
    end
    if self.active == 0 then
      self.finished = true
      release(self)
      if #self.ready == 0 then return nil end
    else
      self:pump()
    end
    ready = self.ready
  end
end

---------------------------------------------------------------------------
-- The client's methods (defined in infisical.init) run here.

local many_spec = options.spec(options.MANY)   -- concurrency; the walks' options below

local secrets_many_spec = { concurrency = options.spec(options.MANY).concurrency }
setmetatable(secrets_many_spec, { __index = client_secrets.spec })

--- A new run over `ids` for `client` (checked by the caller); `walk_spec`: the walks' options.
-- `secrets`: a run over the identities' client secrets (one request each), not their tokens.
local function new_run(self, fname, ids, opts, unique, walk_spec, secrets)
  local n = check_ids(fname, ids, 3)
  if getmetatable(many_spec) == nil then setmetatable(many_spec, { __index = walk_spec }) end
  opts = options.check(fname, opts, secrets and secrets_many_spec or many_spec, 3)
  -- the status filters need what the server enforces (infisical.server), learned first;
  -- when that fails, every identity gets the error (see `failed` in _M.list/_M.stream)
  local sv, serr
  if not secrets then sv, serr = server.for_filters(self, opts) end
  local i, seen = 0, unique and {} or nil
  local source = function()
    while i < n do
      i = i + 1
      local id = ids[i]
      if not seen then return id end
      if not seen[id] then seen[id] = true; return id end
    end
  end
  if serr then return { failed = serr, source = source } end
  -- The auto transport picks curl or cosockets per nginx phase: ask it which one is current.
  local transport = self.transport
  if not transport.multi and transport.current then transport = transport:current() end
  local engine = transport.multi and transport:multi() or serial.new(transport, self.sleep)
  local holder, own = holders[engine], false
  if holder and not holder.finished then
    engine, own = transport:multi(true), true
  else
    engine:abort()   -- what a run dropped unfinished left behind
  end
  local run = setmetatable({
    client = self, fname = fname, engine = engine, source = source,
    concurrency = opts.concurrency or options.default("concurrency", options.MANY),
    page_size = opts.page_size or self.opts.page_size,
    filter = secrets and client_secrets.compile(opts) or filters.compile(opts, sv),
    partial = opts.partial == true, secrets = secrets or nil,
    jobs = {}, active = 0, serial = 0, delayed = {}, ready = {}, rhead = 1,
    finished = false, exhausted = false, own = own,
  }, Run)
  if not own then holders[engine] = run end
  return run
end

--- `client:list_many(identity_ids, opts)` (docs/api.md): results, errors.
-- `secrets`: `list_many_client_secrets` (the identities' client secrets).
function _M.list(client, identity_ids, opts, walk_spec, secrets)
  local run = new_run(client, secrets and "list_many_client_secrets" or "list_many", identity_ids,
    opts, true, walk_spec, secrets)
  local results, errors = {}, {}
  if run.failed then
    for id in run.source do errors[id] = run.failed end
    return results, errors
  end
  while true do
    local id, tokens, err = run:next()
    if id == nil then break end
    results[id] = tokens
    errors[id] = err
  end
  -- `if err then` means something failed: no table when every identity succeeded
  if next(errors) == nil then errors = nil end
  return results, errors
end

--- `client:stream_many(identity_ids, opts)` (docs/api.md): the iterator and the run.
-- `secrets`: `stream_many_client_secrets`.
function _M.stream(client, identity_ids, opts, walk_spec, secrets)
  local run = new_run(client, secrets and "stream_many_client_secrets" or "stream_many", identity_ids,
    opts, false, walk_spec, secrets)
  if run.failed then
    local function nothing() end
    local closer = setmetatable({ close = nothing }, { __close = nothing })
    return function()
      local id = run.source()
      if id ~= nil then return id, nil, run.failed end
    end, nil, nil, closer
  end
  return function() return run:next() end, nil, nil, run
end

return _M
