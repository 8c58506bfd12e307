--- An nginx content handler serving an identity's active tokens (not revoked, not expired,
-- not used up), or its active Universal Auth client secrets, as JSON.
--
--     GET /identities/<identity id>/tokens          ->  200 {"identity_id": "...", "tokens": [...]}
--     GET /identities/<identity id>/client-secrets  ->  200 {"identity_id": "...", "client_secrets": [...]}
--
-- Answers are cached in the `lua_shared_dict infisical_cache` for CACHE_TTL seconds and
-- shared by every worker; while one request fetches, the others for the same identity
-- wait for its answer, so a burst of requests costs one API call. Errors from Infisical
-- become an HTTP error with a JSON body (never the token: error objects do not hold it).
-- A configuration error (no credentials, an option the transport refuses) is the
-- operator's: logged at ERR, and the caller gets a plain 500 without its text.
--
-- The parts: `client_options` and `configure` (the client), `worst_case` (the fetch lock's
-- lifetime), `fetch` (one identity's answer from Infisical), `tokens` (cache and lock),
-- `serve` (the content handler: checks the id, writes the answer).

local infisical = require "infisical"
local cjson = require "cjson.safe"

local ngx = ngx
local cache = ngx.shared.infisical_cache

local CACHE_TTL = 30        -- seconds a list is served from the cache
local ERROR_TTL = 5         -- seconds an error answer is, so a failing API is not hammered

local _M = {}

--- The client's options (the credentials, INFISICAL_TOKEN or the Universal Auth pair,
-- and INFISICAL_API_URL come from the environment: see `env` in nginx.conf). The fetch
-- lock's lifetime is computed from them.
_M.client_options = { timeout = 5, connect_timeout = 2, retries = 1, max_backoff = 1,
  max_retry_wait = 2 }

-- The shortest wait lua-infisical makes for a 429 (infisical.attempt's MIN_WAIT): its 429
-- waits add up to at most max_retry_wait, so a call re-sends at most max_retry_wait / this.
local MIN_429_WAIT = 0.25

--- The longest one fetch can take with these options, from the library's documented
-- bounds. One API call (a page of the walk, or a login) sends at most:
-- `retries + 1` attempts, one re-send per 429 while that call's 429 waits stay within
-- `max_retry_wait` (each at least 0.25 s), and one more after a refused token and a new
-- login. Before each send the rate budget may hold it: while another request probes
-- whether the server counts (at most that request's `timeout`), then for a pause or the
-- end of a window (a hold longer than `max_retry_wait` is not made), and `max_rate`
-- spaces the sends; then the send takes at most `timeout`. (Other workers that spend
-- each new window before this one can hold it longer: the lock assumes they do not.) Between attempts it waits the backoff or a
-- Retry-After (at most max(`max_backoff`, `max_retry_wait`)), and the 429 waits add up to
-- at most `max_retry_wait`. The walk stops at the server's 200-token wall: at most
-- 200 / page_size + 1 pages; a Universal Auth client adds up to two logins.
function _M.worst_case(o)
  local d = infisical.defaults
  local function opt(k) if o[k] ~= nil then return o[k] end return d[k] end
  local retries, mrw = opt("retries"), opt("max_retry_wait")
  local sends = retries + 1 + math.floor(mrw / MIN_429_WAIT) + 1
  local per_send = opt("timeout") + mrw + (opt("max_rate") and 60 / opt("max_rate") or 0)
    + opt("timeout")
  local call = sends * per_send + retries * math.max(opt("max_backoff"), mrw) + mrw
  local pages = math.ceil(200 / opt("page_size")) + 1
  return (pages + 2) * call
end

--- How long a request waits for another request's fetch of the same identity before it
-- answers 504 (with Retry-After): the lock itself lasts the worst case, which is minutes.
_M.wait_limit = 30

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

--- Replaces the client's options (this worker's; the next request makes a new client).
function _M.configure(opts)
  _M.client_options = opts
  if client then client:close() end
  client = nil
end

-- cjson writes an empty Lua table as {} (only OpenResty's lua-cjson has an array
-- marker, Debian's has none): the list is written as a JSON array by hand.
local function encode_list(identity_id, field, list, truncated)
  local items = {}
  for i, t in ipairs(list) do items[i] = assert(cjson.encode(t)) end
  return '{"identity_id":' .. cjson.encode(identity_id) .. ',"' .. field .. '":['
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

--- Fetches one identity's answer: status, JSON body, and for a 429 the seconds Infisical
-- asked to wait (or nil). `kind`: "tokens" or "client-secrets".
local function fetch(identity_id, kind)
  local c, err = get_client()
  if c and kind == "client-secrets" then
    -- one request (the server has no paging); "active" as the server's login judges it now
    local list
    list, err = c:list_client_secrets(identity_id, { status = "active" })
    if list then return 200, encode_list(identity_id, "client_secrets", list) end
  elseif c then
    local tokens
    -- "active" is judged at the time of the fetch; a cached answer is at most CACHE_TTL old
    tokens, err = c:all_tokens(identity_id, { status = "active", partial = true })
    if tokens and foreign_token(identity_id, tokens) then
      ngx.log(ngx.ERR, "infisical: an answer for ", identity_id, " held another identity's tokens")
      return 502, cjson.encode{ error = "mismatch",
        message = "Infisical's answer held tokens of another identity" }
    end
    if tokens then
      return 200, encode_list(identity_id, "tokens", tokens, err ~= nil and err.kind == "truncated")
    end
  end
  if err.kind == "config" then
    -- the operator's to fix, and nothing for the caller to read (it may name a file or
    -- an option of this service): the whole error in the log, a plain 500 to the caller
    ngx.log(ngx.ERR, "infisical: configuration: ", tostring(err))
    return 500, cjson.encode{ error = "config", message = "the service is misconfigured (see its error log)" }
  end
  ngx.log(err.kind == "auth" and ngx.ERR or ngx.WARN, tostring(err))
  return http_status(err), cjson.encode{ error = err.kind, status = err.status,
    message = err.message, req_id = err.req_id }, err.status == 429 and err.retry_after or nil
end

local lock_serial = 0

-- Deletes the lock only while it is still ours: once expired, another request may hold
-- it. (No yield between the get and the delete; a lock expiring in that instant is the
-- only gap, and the lock outlives the worst-case fetch.)
local function unlock(lock, mine)
  if cache:get(lock) == mine then cache:delete(lock) end
end

--- The answer for an identity, from the cache or fetched once for everybody: status,
-- body, whether it came from the cache, and for a 429 or 504 the Retry-After seconds.
-- `kind`: "tokens" (the default) or "client-secrets".
function _M.tokens(identity_id, kind)
  kind = kind or "tokens"
  local key = kind .. ":" .. identity_id
  local lock = "lock:" .. kind .. ":" .. identity_id
  -- the lock outlives the longest fetch, so no second fetch starts while one runs
  local lock_ttl = _M.worst_case(_M.client_options) + 1
  local deadline = ngx.now() + math.min(lock_ttl, _M.wait_limit)
  while true do
    local body, status = cache:get(key)
    if body then
      -- a cached 429 is served as long as it is cached: that is when to come back
      return status, body, true, status == 429 and cache:ttl(key) or nil
    end
    -- shared_dict:add is atomic across workers: exactly one request wins the fetch
    lock_serial = lock_serial + 1
    local mine = ("%d:%d:%.3f"):format(ngx.worker.pid(), lock_serial, ngx.now())
    if cache:add(lock, mine, lock_ttl) then
      local ok, st, b, wait = pcall(fetch, identity_id, kind)
      if not ok then
        unlock(lock, mine)   -- a bug must not leave the others waiting for the lock
        error(st, 0)
      end
      local ttl = st == 200 and CACHE_TTL or math.max(ERROR_TTL, wait or 0)
      cache:set(key, b, ttl, st)
      unlock(lock, mine)
      return st, b, false, st == 429 and ttl or nil
    end
    if ngx.now() > deadline then
      return 504, cjson.encode{ error = "timeout", message = "waited too long for another fetch" },
        false, 1
    end
    ngx.sleep(0.02)
  end
end

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

--- The content handler: `content_by_lua_block { require("handler").serve(ngx.var.identity, ngx.var.what) }`.
-- An id that is not a UUID (Infisical's identity ids are) never reaches Infisical.
-- `what`: "tokens" (the default) or "client-secrets".
function _M.serve(identity_id, what)
  if type(identity_id) ~= "string" or not identity_id:find(UUID) then
    ngx.status = 400
    ngx.header["Content-Type"] = "application/json"
    return ngx.say(cjson.encode{ error = "bad_request", message = "the identity id must be a UUID" })
  end
  if what ~= nil and what ~= "tokens" and what ~= "client-secrets" then
    ngx.status = 404
    ngx.header["Content-Type"] = "application/json"
    return ngx.say(cjson.encode{ error = "not_found", message = "tokens or client-secrets" })
  end
  local status, body, cached, retry_after = _M.tokens(identity_id, what)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.header["X-Cache"] = cached and "HIT" or "MISS"
  if retry_after then ngx.header["Retry-After"] = math.max(1, math.ceil(retry_after)) end
  ngx.say(body)
end

return _M
