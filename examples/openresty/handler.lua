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

local _M = {}

--- The client's options (INFISICAL_TOKEN and INFISICAL_API_URL come from the
-- environment: see `env` in nginx.conf). The fetch lock's lifetime is computed from them.
_M.client_options = { timeout = 10, connect_timeout = 3, retries = 2, max_backoff = 2,
  max_retry_wait = 5 }

--- The longest one fetch can take with these options: each API call (every page of the
-- walk) makes `retries + 1` attempts of at most `timeout` seconds each, with a wait
-- between attempts of at most the backoff cap or what a Retry-After asks (up to
-- `max_retry_wait`). The walk stops at the server's 200-token wall: at most
-- 200 / page_size + 1 pages.
function _M.worst_case(o)
  local d = infisical.defaults
  local attempts = (o.retries or d.retries) + 1
  local wait = math.max(o.max_backoff or d.max_backoff, o.max_retry_wait or d.max_retry_wait)
  local pages = math.ceil(200 / (o.page_size or d.page_size)) + 1
  return pages * (attempts * (o.timeout or d.timeout) + (attempts - 1) * wait)
end

-- One client per worker, made on first use. Inside a handler it talks through cosockets
-- and never blocks the worker.
local client

local function get_client()
  if client then return client end
  local c, err = infisical.new(_M.client_options)
  if not c then return nil, err end
  client = c
  return c
end

-- cjson writes an empty Lua table as {} (only OpenResty's lua-cjson has an array
-- marker, Debian's has none): the token list is written as a JSON array by hand.
local function encode_tokens(identity_id, tokens, truncated)
  local items = {}
  for i, t in ipairs(tokens) do items[i] = assert(cjson.encode(t)) end
  return '{"identity_id":' .. cjson.encode(identity_id) .. ',"tokens":['
    .. table.concat(items, ",") .. "]" .. (truncated and ',"truncated":true' or "") .. "}"
end

-- Every token must belong to the identity asked for: an answer for another one (a
-- server, proxy or connection that mixed answers up) is never served nor cached.
local function foreign_token(identity_id, tokens)
  for _, t in ipairs(tokens) do
    if t.identityId ~= nil and t.identityId ~= identity_id then return true end
  end
  return false
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
    if tokens and foreign_token(identity_id, tokens) then
      ngx.log(ngx.ERR, "infisical: an answer for ", identity_id, " held another identity's tokens")
      return 502, cjson.encode{ error = "mismatch",
        message = "Infisical's answer held tokens of another identity" }
    end
    if tokens then
      return 200, encode_tokens(identity_id, tokens, err ~= nil and err.kind == "truncated")
    end
  end
  ngx.log(err.kind == "auth" and ngx.ERR or ngx.WARN, tostring(err))
  return http_status(err), cjson.encode{ error = err.kind, status = err.status,
    message = err.message, req_id = err.req_id }
end

local lock_serial = 0

-- Deletes the lock only while it is still ours: once expired, another request may hold
-- it. (No yield between the get and the delete; a lock expiring in that instant is the
-- only gap, and the lock outlives the worst-case fetch.)
local function unlock(lock, mine)
  if cache:get(lock) == mine then cache:delete(lock) end
end

--- The answer for an identity, from the cache or fetched once for everybody.
function _M.tokens(identity_id)
  local key = "tokens:" .. identity_id
  local lock = "lock:" .. identity_id
  -- the lock outlives the longest fetch, so no second fetch starts while one runs
  local lock_ttl = _M.worst_case(_M.client_options) + 1
  local deadline = ngx.now() + lock_ttl
  while true do
    local body, status = cache:get(key)
    if body then return status, body, true end
    -- shared_dict:add is atomic across workers: exactly one request wins the fetch
    lock_serial = lock_serial + 1
    local mine = ("%d:%d:%.3f"):format(ngx.worker.pid(), lock_serial, ngx.now())
    if cache:add(lock, mine, lock_ttl) then
      local ok, st, b = pcall(fetch, identity_id)
      if not ok then
        unlock(lock, mine)   -- a bug must not leave the others waiting for the lock
        error(st, 0)
      end
      cache:set(key, b, st == 200 and CACHE_TTL or ERROR_TTL, st)
      unlock(lock, mine)
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
