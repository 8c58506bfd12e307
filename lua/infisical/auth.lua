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

local type, setmetatable, getmetatable, pairs, find, min, pcall, require, tostring = type,
  setmetatable, getmetatable, pairs, string.find, math.min, pcall, require, tostring

local _M = {}

local LOGIN_PATH = "/api/v1/auth/universal-auth/login"
-- An extra header with no value leaves the transport's own out (see transport.curl): the
-- real server checks any bearer a login carries and refuses the login for a stale one.
local LOGIN_HEADERS = { "Content-Type: application/json", "Authorization:" }
-- client -> { id, refresh_at, gen, pending, refused } (the secrets: infisical.secrets)
-- pending: the shared login on its way inside nginx; refused: the last refused login's
-- error and when (no other login is sent for REFUSED_HOLD seconds).
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

--- Seconds a refused login is remembered: the client sends no other login in that time
-- (current servers lock the method after 3 refused logins for 300 s by default:
-- upstream backend/src/services/identity-ua/identity-ua-service.ts at 60887bd0, defaults
-- in backend/src/server/routes/v1/identity-universal-auth-router.ts at e9ba9c08).
_M.REFUSED_HOLD = 300

local LOCKED_HINT = "the identity's Universal Auth is temporarily locked after refused logins:"
  .. " try again when the lockout ends (300 s after it began, on current servers' default settings)"

--- A refused login is about the client id and secret, never about an access token: says
-- so (kind "auth"; `hint`, which tostring shows, in the user's terms). Late-2024 servers
-- answer an unknown client id with 404, current ones with 401 "Invalid credentials"; a
-- locked method is 401 "... temporarily locked, please try again later".
local function login_refusal(err)
  if err.kind ~= "auth" and not (err.kind == "http" and err.status == 404) then return end
  local m = type(err.message) == "string" and err.message or ""
  err.kind = "auth"
  if err.status == 404 then
    err.hint = "no identity has this Universal Auth client id: check the client id"
  elseif find(m, "temporarily locked", 1, true) then
    err.hint, err.locked = LOCKED_HINT, true
  elseif find(m, "expired client secret", 1, true) then
    err.hint = "the Universal Auth client secret has expired: create a new one"
  elseif find(m, "usage limit", 1, true) then
    err.hint = "the Universal Auth client secret is used up: create a new one"
  else
    err.hint = "Universal Auth credentials refused: check the client id and secret"
  end
end

-- Each caller gets its own copy of a shared error: callers add fields to theirs.
local function copy_error(err)
  if type(err) ~= "table" then return err end
  local e = setmetatable({}, getmetatable(err))
  for k, v in pairs(err) do e[k] = v end
  return e
end
_M.copy_error = copy_error

--- Asks the client's rate budget (infisical.pace) before a send, again after each wait
-- (a wait may end in another request's turn, or a max_rate spacing follows a pause);
-- a `sleep` that does not sleep ends the asking.
local function hold(client)
  for _ = 1, 50 do
    local w = pace.hold(client, "POST")
    if w <= 0 then return end
    local t0 = core.monotime()
    client.sleep(w)
    if core.monotime() - t0 < w / 2 then return end
  end
end

--- The longest a login may take with the client's policy: every attempt's timeout, the
-- backoffs between them, the 429 waits (at most max_retry_wait in all, infisical.attempt)
-- and the budget's holds (each at most max_retry_wait, infisical.pace).
local function longest_login(opts)
  return (opts.retries + 1) * opts.timeout + opts.retries * opts.max_backoff
    + 2 * opts.max_retry_wait + 1
end

local function late(url, deadline_s)
  return core.error{ kind = "timeout", method = "POST", url = url,
    message = ("login did not finish within %d s (its attempts and waits)"):format(deadline_s) }
end

local function login(client, clock, deadline)
  local st = states[client]
  local url = client.base_url .. LOGIN_PATH
  local body = cjson.encode({ clientId = st.id, clientSecret = secrets.get(client, "client_secret") })
  local a = attempt.new(client, "POST", { started = core.monotime(), relogin = false,
    refine = login_refusal })
  while true do
    hold(client)   -- every send asks the budget, re-sends too (max_rate, pauses)
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
      st.refused = nil
      -- expiresIn 0 (a TTL of 0) never expires; counted from before the request was sent
      if expires_in and expires_in > 0 then
        st.refresh_at = started + expires_in - margin(expires_in)
      else
        st.refresh_at = nil
      end
      return token
    elseif action == "fail" then
      res.login = true
      if type(res) == "table" and res.kind == "auth" then
        -- one refused login for the whole client: no other is sent for REFUSED_HOLD s
        st.refused = { err = copy_error(res), at = core.monotime() }
      end
      return nil, res
    end
    -- "wait" (a login is never told to log in again): a 429 (lock contention included)
    -- or a retry; never past the login's deadline
    if deadline and core.monotime() + res > deadline then
      return nil, late(url, longest_login(client.opts))
    end
    client.sleep(res)
  end
end

-- Inside nginx, light threads of one worker (several requests, or list_many's) may all
-- find the token due at once: one login is sent, the others wait for its answer. That
-- login runs in a timer (ngx.timer.at), not in any request: a request that ends, is
-- aborted or killed while the login is on its way neither kills it nor leaves the others
-- waiting for an answer that never comes, and no request ever touches another request's
-- coroutine (lua-nginx-module frees a request's coroutines with it: inspecting one of
-- them crashed the worker). Waiters wait on a semaphore, each with the login's deadline
-- (which counts the 429 waits); a waiter that reaches it gets a timeout error, never
-- logs in itself. Where no timer can be made (init phases, the timers' limit reached) or
-- no light thread can wait (outside nginx, phases without cosockets), the caller logs in
-- itself, as one blocking call.
local semaphore
local function can_wait()
  if semaphore == nil then
    local ok, sema = pcall(require, "ngx.semaphore")
    semaphore = ok and type(sema) == "table" and sema or false
  end
  return semaphore and ngx and ngx.timer and require("infisical.transport.cosocket").available()
end

local function finish(client, p, ok, token, err)
  local st = states[client]
  if st and st.pending == p then st.pending = nil end
  if ok then
    if token then secrets.set(p, "token", token) end   -- the store holds it, not p
    p.err = err and copy_error(err)
  else
    p.err = core.error{ kind = "network", method = "POST", message = "login failed: " .. tostring(token) }
  end
  p.done = true
  if p.waiters > 0 then p.sema:post(p.waiters) end
end

local function timer_login(premature, client, clock, p)
  if premature then   -- the worker is exiting
    return finish(client, p, true, nil, core.error{ kind = "network", method = "POST",
      message = "login abandoned: the nginx worker is exiting" })
  end
  local ok, token, err = pcall(login, client, clock, p.deadline)
  finish(client, p, ok, token, err)
end

--- Logs in (with the client's retry policy); returns the access token (also kept in
-- infisical.secrets) or nil, err. `clock` is the client's clock. Inside nginx the login
-- is shared by the worker's light threads (see above). A login refused within the last
-- REFUSED_HOLD seconds is not sent again: its error is the answer.
function _M.login(client, clock)
  local st = states[client]
  local r = st.refused
  if r then
    if core.monotime() - r.at < _M.REFUSED_HOLD then return nil, copy_error(r.err) end
    st.refused = nil
  end
  if not can_wait() then return login(client, clock) end
  local p = st.pending
  if not p then
    local span = longest_login(client.opts)
    p = { sema = semaphore.new(0), waiters = 0, deadline = core.monotime() + span }
    local made, ok = pcall(ngx.timer.at, 0, timer_login, client, clock, p)
    if not (made and ok) then return login(client, clock) end   -- no timer: this caller logs in
    st.pending = p
  end
  p.waiters = p.waiters + 1
  -- its own deadline: the login's, and a little more for the timer to start and end
  local deadline = p.deadline + 1
  while not p.done do
    local left = deadline - core.monotime()
    if left <= 0 then break end
    p.sema:wait(min(left, 10))
  end
  p.waiters = p.waiters - 1
  if not p.done then return nil, late(client.base_url .. LOGIN_PATH, longest_login(client.opts)) end
  local token = secrets.get(p, "token")
  if token then return token end
  return nil, copy_error(p.err)
end

--- Drops the client's credentials (on close).
function _M.forget(client)
  states[client] = nil
  secrets.forget(client)
end

return _M
