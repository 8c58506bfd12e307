--- Universal Auth: a client that holds a client id and secret instead of a token logs in
-- (`POST /api/v1/auth/universal-auth/login`) on first use, again shortly before the
-- access token's `expiresIn` runs out, and again once when the server refuses the token.
--
-- The client id and secret live in a weak table private to this module, keyed by the
-- client, never in the client table: `pairs(client)`, `tostring(client)`, error objects
-- and debug dumps of the client cannot show them.
-- @module infisical.auth

local core = require "infisical.core"
local retry = require "infisical.retry"
local cjson = require("cjson").new()

local type, setmetatable, getmetatable, pairs, find, min, max, pcall, require = type,
  setmetatable, getmetatable, pairs, string.find, math.min, math.max, pcall, require
local co_running, co_status = coroutine.running, coroutine.status

local _M = {}

local LOGIN_PATH = "/api/v1/auth/universal-auth/login"
-- An extra header with no value leaves the transport's own out (see transport.curl): the
-- real server checks any bearer a login carries and refuses the login for a stale one.
local LOGIN_HEADERS = { "Content-Type: application/json", "Authorization:" }
-- Earlier tokens kept for redaction: a request still in flight may carry one.
local KEEP_OLD = 4

-- client -> { id, secret, token, refresh_at, gen, olds, pending }
-- gen counts the logins: a request is tagged with the generation of the token it
-- carried, so a refusal forgets that token only, never a newer one.
local states = setmetatable({}, { __mode = "k" })

--- Sets the client up for Universal Auth (called by `infisical.new`).
function _M.setup(client, client_id, client_secret)
  states[client] = { id = client_id, secret = client_secret, gen = 0, olds = {} }
end

--- The generation of the client's current token (nil without Universal Auth): read it
-- right before sending, pass it to `expire` when the answer is a refusal.
function _M.generation(client)
  local st = states[client]
  return st and st.gen
end

--- Whether the client logs in by itself.
function _M.enabled(client)
  return states[client] ~= nil
end

--- Whether the client must log in before its next request.
function _M.due(client, now)
  local st = states[client]
  if st == nil then return false end
  return st.token == nil or (st.refresh_at ~= nil and now >= st.refresh_at)
end

local function retire(st)
  -- the old token is still redacted: an answer in flight may echo it back
  if st.token then
    local olds = st.olds
    olds[#olds + 1] = st.token
    if #olds > KEEP_OLD then table.remove(olds, 1) end
  end
end

--- Forgets the access token, so the next request logs in again; with `gen` (what
-- `generation` said when the refused request was sent) only if no login happened since:
-- a refusal of an older token must not throw away the one another request just got.
function _M.expire(client, gen)
  local st = states[client]
  if st == nil or (gen ~= nil and gen ~= st.gen) then return end
  retire(st)
  st.token = nil
end

--- Whether the server refused the access token itself, so logging in again may help:
-- kind "auth", i.e. 401 (revoked, deleted, expired by TTL, used up, missing) or 403
-- TokenError (expired by max TTL, malformed).
function _M.rejected(client, err)
  return states[client] ~= nil and type(err) == "table" and err.kind == "auth"
end

--- Seconds before `expiresIn` runs out at which we log in again: a tenth of the
-- lifetime, at most a minute, so a request never leaves with a token about to die.
local function margin(expires_in)
  return min(60, expires_in / 10)
end

local function redact_all(client, err, redact)
  local st = states[client]
  err = redact(err, st.secret, 0)
  if st.token then err = redact(err, st.token, 0) end
  for i = 1, #st.olds do err = redact(err, st.olds[i], 0) end
  return err
end

local function bad_answer(message, url)
  return core.error{ kind = "decode", message = message, method = "POST", url = url }
end

--- A refused login is about the client id and secret, never about an access token: says
-- so (kind "auth"; `hint`, which tostring shows, in the user's terms). Real servers answer
-- an unknown client id with 404.
local function login_refusal(err)
  if err.kind ~= "auth" and not (err.kind == "http" and err.status == 404) then return end
  local m = type(err.message) == "string" and err.message or ""
  err.kind = "auth"
  if err.status == 404 then
    err.hint = "no identity has this Universal Auth client id: check the client id"
  elseif find(m, "expired client secret", 1, true) then
    err.hint = "the Universal Auth client secret has expired: create a new one"
  elseif find(m, "usage limit", 1, true) then
    err.hint = "the Universal Auth client secret is used up: create a new one"
  else
    err.hint = "Universal Auth credentials refused: check the client id and secret"
  end
end

local function login(client, redact, clock)
  local st = states[client]
  local url = client.base_url .. LOGIN_PATH
  local body = cjson.encode({ clientId = st.id, clientSecret = st.secret })
  local attempt, first = 0, core.monotime()
  while true do
    local started = clock()
    local status, rbody, rheaders = client.transport:request("POST", url, LOGIN_HEADERS, body)
    local res, err
    if status then
      res, err = core.parse(status, rbody, rheaders, "POST", url)
    else
      err = rbody
    end
    if res ~= nil then
      local token, expires_in = res.accessToken, res.expiresIn
      if type(token) ~= "string" or token == "" or find(token, "%c") then
        return nil, bad_answer("login response has no usable accessToken", url)
      end
      if expires_in ~= nil and (type(expires_in) ~= "number" or expires_in < 0) then
        return nil, bad_answer("login response has a bad expiresIn", url)
      end
      retire(st)
      st.token, st.gen = token, st.gen + 1
      -- expiresIn 0 (a TTL of 0) never expires; counted from before the request was sent
      if expires_in and expires_in > 0 then
        st.refresh_at = started + expires_in - margin(expires_in)
      else
        st.refresh_at = nil
      end
      return token
    end
    err = redact_all(client, err, redact)
    login_refusal(err)
    local wait = retry.delay(client.opts, err, attempt)
    if not wait then
      err = retry.give_up(err, attempt + 1, first, core.monotime())
      err.login = true
      return nil, err
    end
    attempt = attempt + 1
    client.sleep(wait)
  end
end

-- Inside nginx, light threads of one worker (several requests, or list_many's) may all
-- find the token due at once: the first logs in, the others wait for its answer instead
-- of logging in too. A login whose thread died (killed, or its request ended) is waited
-- for no longer: the next caller logs in itself.
local semaphore
local function can_wait()
  if semaphore == nil then
    local ok, sema = pcall(require, "ngx.semaphore")
    semaphore = ok and type(sema) == "table" and sema or false
  end
  return semaphore and require("infisical.transport.cosocket").available()
end

local function longest_login(opts)
  return (opts.retries + 1) * opts.timeout + opts.retries * max(opts.max_backoff, opts.max_retry_wait)
end

-- Each waiter gets its own copy of a shared error: callers add fields to theirs.
local function copy_error(err)
  local e = setmetatable({}, getmetatable(err))
  for k, v in pairs(err) do e[k] = v end
  return e
end

--- Logs in (with the client's retry policy); returns the access token or nil, err.
-- `redact` is the client's redaction function, `clock` its clock. A login already in
-- progress in another light thread is waited for and its answer shared.
function _M.login(client, redact, clock)
  if not can_wait() then return login(client, redact, clock) end
  local st, now = states[client], ngx.now
  local p = st.pending
  while p do
    p.waiters = p.waiters + 1
    while not p.done and now() < p.deadline and (p.co == nil or co_status(p.co) ~= "dead") do
      p.sema:wait(min(p.deadline - now(), 1))   -- slices: a dead login is noticed
    end
    if p.token then return p.token end
    if p.err then return nil, copy_error(p.err) end
    -- that login died or took too long: the first waiter to notice logs in, the others
    -- wait for it
    if st.pending == p then st.pending = nil end
    p = st.pending
  end
  p = { sema = semaphore.new(0), waiters = 0, co = co_running(),
    deadline = now() + longest_login(client.opts) }
  st.pending = p
  local ok, token, err = pcall(login, client, redact, clock)
  if st.pending == p then st.pending = nil end
  p.done = true
  if ok then p.token, p.err = token, err and copy_error(err) end
  if p.waiters > 0 then p.sema:post(p.waiters) end
  if not ok then error(token, 0) end
  return token, err
end

--- Redacts the client secret (and the current token) from an error.
function _M.redact(client, err, redact)
  if states[client] == nil then return err end
  return redact_all(client, err, redact)
end

--- Drops the client's credentials (on close).
function _M.forget(client)
  states[client] = nil
end

return _M
