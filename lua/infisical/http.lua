--- A client's blocking calls: one request with its retries and re-login, the one driver
-- of infisical.attempt that waits in place (the client's methods, the identities' pages);
-- making sure of an access token before a request (also for infisical.many); the base URL
-- as the client and the command take it.
-- @module infisical.http

local core = require "infisical.core"
local auth = require "infisical.auth"
local attempt = require "infisical.attempt"
local pace = require "infisical.pace"
local transports = require "infisical.transport.auto"

local error, type = error, type

local _M = {}

--- The server's base URL, one rule for the library (`base_url`, `INFISICAL_API_URL`) and
-- the command (`--api-url`, `--domain`): the server's address, with or without a trailing
-- `/`, `/api` or `/api/v1` (the SDKs' and the Infisical CLI's habits). Any other path
-- (`/foo`, `/api/v2`, an endpoint's path) is refused rather than guessed at, and so is a
-- user name or password in the URL (it would be sent as Basic credentials and printed).
-- @param url the URL as given
-- @return the address (scheme, host, port) without the path; or nil and why, as words that follow the setting's name ("must be ..."): a long or odd path is described, not echoed
function _M.normalize_base(url)
  if type(url) ~= "string" then return nil, "must be a string" end
  url = url:match("^%s*(.-)%s*$")   -- as `$(cat file)` and editors leave it
  local scheme, host, path = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme or not (scheme:lower() == "http" or scheme:lower() == "https") then
    return nil, "must be an http:// or https:// URL"
  end
  if host == "" or host:find("[%s%c]") or path:find("[?#%s%c]") then
    return nil, "must be an http:// or https:// URL without spaces, query or fragment"
  end
  if host:find("@", 1, true) then
    return nil, "must not hold a user name or password (the server takes a token, not Basic credentials)"
  end
  local p = path:gsub("/+$", "")
  if p == "" or p == "/api" or p == "/api/v1" then return scheme .. "://" .. host end
  local shown = (#p <= 40 and p:find("^[%w/._~%%-]+$")) and ("'" .. p .. "'")
    or ("a " .. #p .. "-byte path")
  return nil, "must be the server's address (like https://app.infisical.com), with or without"
    .. " /api or /api/v1, not " .. shown
end
--- Makes sure the client holds a usable access token (Universal Auth: logs in on first
-- use and shortly before expiry). Called before every request.
-- @return true, or nil and the login error
function _M.ensure_token(client)
  if not auth.due(client, client.clock()) then return true end
  local token, err = auth.login(client, client.clock)
  if not token then return nil, err end
  client.transport:set_token(token)
  return true
end

--- The parsers that take a 2xx body the transport decoded already (a table: see the
-- curl transport's `json`), so the body never becomes a Lua string.
local takes_json = setmetatable({ [core.parse] = true }, { __mode = "k" })

--- core.parse_tokens for a page of `limit` rows (more is a lying server), in the shape
-- infisical.attempt calls a parser: one per limit, made on first use.
local token_parsers = setmetatable({}, { __index = function(t, limit)
  local parse_tokens = core.parse_tokens
  local function parse(status, body, headers, method, url, rd, arg)
    return parse_tokens(status, body, headers, method, url, rd, arg, limit)
  end
  t[limit] = parse
  takes_json[parse] = true
  return parse
end })

--- The parser of a token page asked for with `limit` (the walks, list_tokens, list_many).
function _M.token_parser(limit) return token_parsers[limit] end

--- Sleeps `seconds` with the client's sleep; false when it is a `sleep` option that did
-- not sleep (the clock did not move: a spec's recorder), which nothing may loop on. (The
-- library's own sleep always sleeps, though ngx.sleep may wake a little early.)
local function sleep(client, seconds)
  if client.sleep == transports.sleep then
    client.sleep(seconds)
    return true
  end
  local t0 = core.monotime()
  client.sleep(seconds)
  return core.monotime() - t0 >= seconds / 2
end

--- Waits (client.sleep) for the client's rate budget to let a `method` request go,
-- asking infisical.pace again after every wait (its answer is the time to the end of a
-- pause, a window, a probe's answer or a max_rate spacing; light threads of a worker
-- that waited together do not all go together). A `sleep` option that does not sleep
-- is not looped on: after it the request goes.
function _M.hold(client, method)
  while true do
    local w = pace.hold(client, method)
    if w <= 0 or not sleep(client, w) then return end
  end
end

--- One request with retries and re-login, as infisical.attempt decides: returns what
-- `parse` returns for the final answer (a revocation: `true[, note]`), or nil and the error.
-- `revoke`: the request is a revocation (see infisical.attempt).
function _M.request(client, method, url, parse, revoke)
  -- an each_token iterator can outlive close()
  if not client.transport then error("infisical: client is closed", 3) end
  local a = attempt.new(client, method, { started = core.monotime(), revoke = revoke })
  -- Client:info's new_connections: this call's, its logins and retries included
  local transport = client.transport
  if transport.connections then client.connections_mark = transport:connections() end
  local slept = true
  while true do
    -- every send asks the budget, retries and a 429's re-send too (max_rate spaces them
    -- all); after a wait that did not sleep (a `sleep` option that returns at once) the
    -- budget's pause is not waited for a second time
    if slept then _M.hold(client, method) end
    local ok, aerr = _M.ensure_token(client)
    if not ok then return nil, aerr end
    a:sending(auth.generation(client))   -- nothing yields before the request takes its token
    local status, rbody, rheaders = client.transport:request(method, url, nil, nil, takes_json[parse])
    local action, x, y = a:outcome(status, rbody, rheaders, parse, url)
    if action == "done" then return x, y end
    if action == "fail" then return nil, x end
    slept = true
    if action == "login" then
      auth.expire(client, a.gen)
    else
      slept = sleep(client, x)
    end
  end
end

return _M
