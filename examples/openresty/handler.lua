--- An nginx content handler serving an identity's active tokens (not revoked, not expired,
-- not used up) as JSON.
--
--     GET /identities/<identity id>/tokens  ->  200 {"identity_id": "...", "tokens": [...]}
--
-- Answers are cached in the `lua_shared_dict infisical_cache` for CACHE_TTL seconds and
-- shared by every worker; while one request fetches, the others for the same identity
-- wait for its answer, so a burst of requests costs one API call. Errors from Infisical
-- become an HTTP error with a JSON body (never the token: error objects do not hold it).

local infisical = require "infisical"
local cjson = require "cjson.safe"

local ngx = ngx
local cache = ngx.shared.infisical_cache

local CACHE_TTL = 30        -- seconds a list is served from the cache
local ERROR_TTL = 5         -- seconds an error answer is, so a failing API is not hammered
local LOCK_TTL = 15         -- longest a fetch may hold the lock (the client's timeout + margin)

local _M = {}

-- One client per worker, made on first use: INFISICAL_TOKEN and INFISICAL_API_URL come
-- from the environment (see `env` in nginx.conf). Inside a handler it talks through
-- cosockets and never blocks the worker.
local client

local function get_client()
  if client then return client end
  local c, err = infisical.new{ timeout = 10, connect_timeout = 3, retries = 2 }
  if not c then return nil, err end
  client = c
  return c
end

-- What the API's errors become here: the caller's fault, ours, or the API's. Refused
-- credentials (kind "auth") are this service's problem, not the caller's: 502, logged at
-- ERR for the operator. An identity our token may not read (kind "permission"): 403.
local function http_status(err)
  if err.kind == "permission" then return 403 end
  if err.kind == "http" then
    if err.status == 404 or err.status == 400 or err.status == 422 then return err.status end
    if err.status == 429 then return 429 end
    return 502
  end
  if err.kind == "timeout" then return 504 end
  return 502
end

--- Fetches one identity's answer: status and JSON body.
local function fetch(identity_id)
  local c, err = get_client()
  if c then
    local tokens
    -- "active" is judged at the time of the fetch; a cached answer is at most CACHE_TTL old
    tokens, err = c:all_tokens(identity_id, { status = "active", partial = true })
    if tokens then
      return 200, cjson.encode{ identity_id = identity_id, tokens = tokens,
        truncated = err ~= nil and err.kind == "truncated" or nil }
    end
  end
  ngx.log(err.kind == "auth" and ngx.ERR or ngx.WARN, tostring(err))
  return http_status(err), cjson.encode{ error = err.kind, status = err.status,
    message = err.message, req_id = err.req_id }
end

--- The answer for an identity, from the cache or fetched once for everybody.
function _M.tokens(identity_id)
  local key = "tokens:" .. identity_id
  local lock = "lock:" .. identity_id
  local deadline = ngx.now() + LOCK_TTL
  while true do
    local body, status = cache:get(key)
    if body then return status, body, true end
    -- shared_dict:add is atomic across workers: exactly one request wins the fetch
    if cache:add(lock, true, LOCK_TTL) then
      local ok, st, b = pcall(fetch, identity_id)
      if not ok then
        cache:delete(lock)   -- a bug must not leave the others waiting for LOCK_TTL
        error(st, 0)
      end
      cache:set(key, b, st == 200 and CACHE_TTL or ERROR_TTL, st)
      cache:delete(lock)
      return st, b, false
    end
    if ngx.now() > deadline then
      return 504, cjson.encode{ error = "timeout", message = "waited too long for another fetch" }, false
    end
    ngx.sleep(0.02)
  end
end

--- The content handler: `content_by_lua_block { require("handler").serve(ngx.var.identity) }`.
function _M.serve(identity_id)
  if not identity_id or not identity_id:find("^[%w-]+$") or #identity_id > 64 then
    ngx.status = 400
    ngx.header["Content-Type"] = "application/json"
    return ngx.say(cjson.encode{ error = "bad_request", message = "bad identity id" })
  end
  local status, body, cached = _M.tokens(identity_id)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.header["X-Cache"] = cached and "HIT" or "MISS"
  ngx.say(body)
end

return _M
