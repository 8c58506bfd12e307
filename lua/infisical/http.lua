--- A client's blocking calls: one request with its retries and re-login, the one driver
-- of infisical.attempt that waits in place (the client's methods, the identities' pages);
-- making sure of an access token before a request (also for infisical.many); the base URL
-- as the client and the command take it.
-- @module infisical.http

local core = require "infisical.core"
local auth = require "infisical.auth"
local attempt = require "infisical.attempt"
local pace = require "infisical.pace"

local error, type = error, type

local _M = {}

--- The server's base URL, one rule for the library (`base_url`, `INFISICAL_API_URL`) and
-- the command (`--api-url`, `--domain`): the server's address, with or without a trailing
-- `/`, `/api` or `/api/v1` (the SDKs' and the Infisical CLI's habits). Any other path
-- (`/foo`, `/api/v2`, an endpoint's path) is refused rather than guessed at, and so is a
-- user name or password in the URL (it would be sent as Basic credentials and printed).
-- @param url the URL as given
-- @return the address (scheme, host, port) without the path; or nil and why, as words that
--   follow the setting's name ("must be ..."): a long or odd path is described, not echoed
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

--- core.parse_tokens for a page of `limit` rows (more is a lying server), in the shape
-- infisical.attempt calls a parser: one per limit, made on first use.
local token_parsers = setmetatable({}, { __index = function(t, limit)
  local parse_tokens = core.parse_tokens
  local function parse(status, body, headers, method, url, rd, arg)
    return parse_tokens(status, body, headers, method, url, rd, arg, limit)
  end
  t[limit] = parse
  return parse
end })

--- The parser of a token page asked for with `limit` (the walks, list_tokens, list_many).
function _M.token_parser(limit) return token_parsers[limit] end

--- Waits (client.sleep) for the client's rate budget to let a `method` request go: one
-- sleep of what infisical.pace says (its answer is the time to the end of a pause, a
-- window or a max_rate spacing; a `sleep` option that does not sleep cannot loop here).
function _M.hold(client, method)
  local w = pace.hold(client, method)
  if w > 0 then client.sleep(w) end
end

--- One request with retries and re-login, as infisical.attempt decides: returns what
-- `parse` returns for the final answer (a revocation: `true[, note]`), or nil and the error.
-- `revoke`: the request is a revocation (see infisical.attempt).
function _M.request(client, method, url, parse, revoke)
  -- an each_token iterator can outlive close()
  if not client.transport then error("infisical: client is closed", 3) end
  local a = attempt.new(client, method, { started = core.monotime(), revoke = revoke })
  local waited = false
  while true do
    -- after a wait attempt.lua asked for (a 429's pause among them), the request goes
    if not waited then _M.hold(client, method) end
    waited = false
    local ok, aerr = _M.ensure_token(client)
    if not ok then return nil, aerr end
    a:sending(auth.generation(client))   -- nothing yields before the request takes its token
    local status, rbody, rheaders = client.transport:request(method, url)
    local action, x, y = a:outcome(status, rbody, rheaders, parse, url)
    if action == "done" then return x, y end
    if action == "fail" then return nil, x end
    if action == "login" then
      auth.expire(client, a.gen)
    else
      client.sleep(x)
      waited = true
    end
  end
end

return _M
