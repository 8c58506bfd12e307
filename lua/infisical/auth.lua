--- Universal Auth: a client that holds a client id and secret instead of a token logs in
-- (`POST /api/v1/auth/universal-auth/login`) on first use, again shortly before the
-- access token's `expiresIn` runs out, and again once when the server refuses the token.
--
-- The client secret and the access tokens live in infisical.secrets, never in the client
-- table; this module keeps only when to log in again. Each login attempt's outcome is
-- judged by infisical.attempt (no re-login: a refusal is the answer).
-- @module infisical.auth

local core = require "infisical.core"
local attempt = require "infisical.attempt"
local pace = require "infisical.pace"
local secrets = require "infisical.secrets"
local cjson = require("cjson").new()

local type, setmetatable, getmetatable, pairs, find, min, max, pcall, require = type,
  setmetatable, getmetatable, pairs, string.find, math.min, math.max, pcall, require
local co_running, co_status = coroutine.running, coroutine.status

local _M = {}

local LOGIN_PATH = "/api/v1/auth/universal-auth/login"
-- An extra header with no value leaves the transport's own out (see transport.curl): the
-- real server checks any bearer a login carries and refuses the login for a stale one.
local LOGIN_HEADERS = { "Content-Type: application/json", "Authorization:" }
-- client -> { id, refresh_at, gen, pending } (the secrets: infisical.secrets)
-- gen counts the logins: a request is tagged with the generation of the token it
-- carried, so a refusal forgets that token only, never a newer one.
local states = setmetatable({}, { __mode = "k" })

--- Sets the client up for Universal Auth (called by `infisical.new`).
function _M.setup(client, client_id, client_secret)
  states[client] = { id = client_id, gen = 0 }
  secrets.set(client, "client_secret", client_secret)
end

--- The generation of the client's current token (nil without Universal Auth): read it
-- right before sending, pass it to `expire` when the answer is a refusal.
function _M.generation(client)
  local st = states[client]
  return st and st.gen
end

--- Whether the client must log in before its next request.
function _M.due(client, now)
  local st = states[client]
  if st == nil then return false end
  return secrets.get(client, "token") == nil or (st.refresh_at ~= nil and now >= st.refresh_at)
end

--- Forgets the access token, so the next request logs in again; with `gen` (what
-- `generation` said when the refused request was sent) only if no login happened since:
-- a refusal of an older token must not throw away the one another request just got.
function _M.expire(client, gen)
  local st = states[client]
  if st == nil or (gen ~= nil and gen ~= st.gen) then return end
  secrets.retire(client)
end

--- Seconds before `expiresIn` runs out at which we log in again: a tenth of the
-- lifetime, at most a minute, so a request never leaves with a token about to die.
local function margin(expires_in)
  return min(60, expires_in / 10)
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

local function login(client, clock)
  local st = states[client]
  local url = client.base_url .. LOGIN_PATH
  local body = cjson.encode({ clientId = st.id, clientSecret = secrets.get(client, "client_secret") })
  local a = attempt.new(client, "POST", { started = core.monotime(), relogin = false,
    refine = login_refusal })
  local waited = false
  while true do
    local w = waited and 0 or pace.hold(client, "POST")   -- as infisical.http's driver
    if w > 0 then client.sleep(w) end
    waited = false
    local started = clock()
    a:sending(nil)
    local status, rbody, rheaders = client.transport:request("POST", url, LOGIN_HEADERS, body)
    local action, res = a:outcome(status, rbody, rheaders, core.parse, url)
    if action == "done" then
      local token, expires_in = res.accessToken, res.expiresIn
      if type(token) ~= "string" or token == "" or find(token, "%c") then
        return nil, bad_answer("login response has no usable accessToken", url)
      end
      if expires_in ~= nil and (type(expires_in) ~= "number" or expires_in < 0) then
        return nil, bad_answer("login response has a bad expiresIn", url)
      end
      secrets.retire(client)   -- still redacted: an answer in flight may echo it back
      secrets.set(client, "token", token)
      st.gen = st.gen + 1
      -- expiresIn 0 (a TTL of 0) never expires; counted from before the request was sent
      if expires_in and expires_in > 0 then
        st.refresh_at = started + expires_in - margin(expires_in)
      else
        st.refresh_at = nil
      end
      return token
    elseif action == "fail" then
      res.login = true
      return nil, res
    end
    client.sleep(res)   -- "wait" (a login is never told to log in again)
    waited = true
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

--- Logs in (with the client's retry policy); returns the access token (also kept in
-- infisical.secrets) or nil, err. `clock` is the client's clock. A login already in
-- progress in another light thread is waited for and its answer shared.
function _M.login(client, clock)
  if not can_wait() then return login(client, clock) end
  local st, now = states[client], ngx.now
  local p = st.pending
  while p do
    p.waiters = p.waiters + 1
    while not p.done and now() < p.deadline and (p.co == nil or co_status(p.co) ~= "dead") do
      p.sema:wait(min(p.deadline - now(), 1))   -- slices: a dead login is noticed
    end
    local token = secrets.get(p, "token")   -- the store holds it, not the shared table
    if token then return token end
    if p.err then return nil, copy_error(p.err) end
    -- that login died or took too long: the first waiter to notice logs in, the others
    -- wait for it
    if st.pending == p then st.pending = nil end
    p = st.pending
  end
  p = { sema = semaphore.new(0), waiters = 0, co = co_running(),
    deadline = now() + longest_login(client.opts) }
  st.pending = p
  local ok, token, err = pcall(login, client, clock)
  if st.pending == p then st.pending = nil end
  p.done = true
  if ok then
    secrets.set(p, "token", token)
    p.err = err and copy_error(err)
  end
  if p.waiters > 0 then p.sema:post(p.waiters) end
  if not ok then error(token, 0) end
  return token, err
end

--- Drops the client's credentials (on close).
function _M.forget(client)
  states[client] = nil
  secrets.forget(client)
end

return _M
