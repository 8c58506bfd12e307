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

local type, setmetatable, find, min = type, setmetatable, string.find, math.min

local _M = {}

local LOGIN_PATH = "/api/v1/auth/universal-auth/login"

-- client -> { id, secret, token, refresh_at }
local states = setmetatable({}, { __mode = "k" })

--- Sets the client up for Universal Auth (called by `infisical.new`).
function _M.setup(client, client_id, client_secret)
  states[client] = { id = client_id, secret = client_secret }
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

--- Forgets the access token, so the next request logs in again.
function _M.expire(client)
  local st = states[client]
  -- the old token is still redacted: a refused login may echo it back
  if st then st.old, st.token = st.token or st.old, nil end
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
  if st.old then err = redact(err, st.old, 0) end
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

--- Logs in (with the client's retry policy); returns the access token or nil, err.
-- `redact` is the client's redaction function, `now` the clock reading at the start.
function _M.login(client, redact, clock)
  local st = states[client]
  local url = client.base_url .. LOGIN_PATH
  local body = cjson.encode({ clientId = st.id, clientSecret = st.secret })
  local attempt, first = 0, core.monotime()
  while true do
    local started = clock()
    local status, rbody, rheaders = client.transport:request("POST", url,
      { "Content-Type: application/json" }, body)
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
      st.token = token
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
