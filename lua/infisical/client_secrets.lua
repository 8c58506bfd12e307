--- Universal Auth client secrets: their status as the server's login decides it, and the
-- filters of `client:list_client_secrets` (docs/api.md, "Client secrets").
--
-- A client secret record (`clientSecretData` of
-- `GET /api/v1/auth/universal-auth/identities/{identityId}/client-secrets`) holds `id`,
-- `description`, `clientSecretPrefix` (its first 4 characters: what identifies it to a
-- human; the secret itself is never sent again after its creation), `clientSecretNumUses`,
-- `clientSecretNumUsesLimit` (0: unlimited), `clientSecretTTL` (seconds, 0: never expires),
-- `isClientSecretRevoked`, `identityUAId`, `createdAt`, `updatedAt`.
--
-- The login (`identity-ua-service.ts` `login`, late-2024 c01ea048 and upstream 022f858a)
-- looks the secret up among those not revoked, then refuses it when `clientSecretTTL > 0`
-- and `createdAt + TTL` has passed ("Access denied due to expired client secret"), then
-- when `clientSecretNumUsesLimit > 0` and the uses reached it ("... usage limit reached");
-- either refusal marks it revoked. Until somebody tries to log in with it, an expired or
-- used-up secret stays unrevoked and listed: exactly what an audit looks for.
-- @module infisical.client_secrets

local type, tonumber, time, ipairs = type, tonumber, os.time, ipairs
local math_type = math.type

local status = require "infisical.status"
local filters = require "infisical.filters"
local core = require "infisical.core"

local find = string.find

local _M = {}

local function num(v)
  v = tonumber(v)
  if v == nil or v ~= v then return nil end
  if math_type and math_type(v) == "float" and v == math.floor(v) and v > -2^53 and v < 2^53 then
    return math.tointeger(v)
  end
  return v
end

local function check_secret(fname, s)
  if type(s) ~= "table" then
    error("infisical: " .. fname .. ": bad argument 'secret' (table expected, got " .. type(s) .. ")", 3)
  end
end

--- When the client secret stops being accepted by a login.
-- @tparam table secret a client secret record
-- @return epoch seconds; or nil and `"never"` (TTL 0), or nil and `"unknown"` (a missing or unreadable TTL or createdAt)
function _M.expires_at(secret)
  check_secret("client_secret_expires_at", secret)
  local ttl = num(secret.clientSecretTTL)
  if ttl == nil then return nil, "unknown" end
  if ttl <= 0 then return nil, "never" end
  local created = status.parse_time(secret.createdAt)
  if created == nil then return nil, "unknown" end
  return created + ttl
end
local expires_at = _M.expires_at

--- Whether the client secret's use limit is reached (limit 0 = unlimited).
local function exhausted(secret)
  local limit, uses = num(secret.clientSecretNumUsesLimit) or 0, num(secret.clientSecretNumUses) or 0
  return limit > 0 and uses >= limit
end
_M.exhausted = exhausted

--- The client secret's status as the server's login would judge it at `now`.
-- @tparam table secret a client secret record
-- @tparam[opt] number now epoch seconds (default: the current time)
-- @return `"revoked"`, `"expired"`, `"exhausted"` or `"active"` (checked in that order, the login's order); a secret whose expiry is unknown is never "expired"
function _M.status(secret, now)
  check_secret("client_secret_status", secret)
  if now ~= nil and type(now) ~= "number" then
    error("infisical: client_secret_status: bad argument 'now' (number expected, got " .. type(now) .. ")", 2)
  end
  if secret.isClientSecretRevoked == true then return "revoked" end
  local exp = expires_at(secret)
  if exp and (now or time()) > exp then return "expired" end
  if exhausted(secret) then return "exhausted" end
  return "active"
end
local secret_status = _M.status

--- Whether a client secret never stops being accepted by itself: TTL 0 and no use limit.
function _M.never_expires(secret)
  return (num(secret.clientSecretTTL) or -1) == 0 and (num(secret.clientSecretNumUsesLimit) or -1) == 0
end

local function positive_seconds(v)
  if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
    return "number of seconds >= 0 expected, got " .. tostring(v)
  end
end

--- Options of `list_client_secrets` (checked by infisical.options): the filters.
_M.spec = {
  status = status.filter_spec.status,
  unused = "boolean",
  older_than = positive_seconds,
  now = status.filter_spec.now,
  where = "function",
}

--- The predicate of the filter options, or nil when none is set.
function _M.compile(opts)
  local tests = {}
  local now = opts.now or time()
  if opts.status ~= nil then
    local want = {}
    if type(opts.status) == "string" then want[opts.status] = true
    else for _, s in ipairs(opts.status) do want[s] = true end end
    tests[#tests + 1] = function(s) return want[secret_status(s, now)] == true end
  end
  if opts.unused ~= nil then
    local want = opts.unused
    tests[#tests + 1] = function(s) return ((num(s.clientSecretNumUses) or 0) == 0) == want end
  end
  if opts.older_than ~= nil then
    local cut = now - opts.older_than
    -- an unreadable createdAt does not match: "older than" is a claim we cannot make
    tests[#tests + 1] = function(s)
      local created = status.parse_time(s.createdAt)
      return created ~= nil and created <= cut
    end
  end
  if opts.where ~= nil then tests[#tests + 1] = opts.where end
  return filters.all(tests)
end

local UA_PATH = "/api/v1/auth/universal-auth/identities/"

--- The client secrets route of an identity.
function _M.url(base_url, identity_id)
  return base_url .. UA_PATH .. core.escape_segment(identity_id) .. "/client-secrets"
end


-- What a client secret route's refusals mean in the user's terms.
local function secret_hint(err, identity_id)
  if err.hint ~= nil or err.kind ~= "http" then return err end
  local msg = type(err.message) == "string" and err.message or ""
  if err.status == 400 and find(msg, "does not have universal auth", 1, true) then
    err.hint = "the identity does not use Universal Auth, so it has no client secrets"
  elseif err.status == 404 then
    err.hint = ("no identity %s in the token's organisation, or no such client secret of it"):format(identity_id)
  end
  return err
end

--- A parser for `{ clientSecretData = [...] }` (list) or `{ clientSecretData = {...} }` (one),
-- for infisical.http and the many engine.
function _M.parser(identity_id, many_records)
  return function(status_code, body, headers, method, url, redact, arg)
    local v, err = core.parse(status_code, body, headers, method, url, redact, arg)
    if v == nil then
      if type(err) == "table" then secret_hint(err, identity_id) end
      return nil, err
    end
    local data = type(v) == "table" and v.clientSecretData or nil
    local ok = type(data) == "table"
    if ok and many_records then
      for i = 1, #data do
        if type(data[i]) ~= "table" or type(data[i].id) ~= "string" then ok = false; break end
      end
    end
    if not ok then
      return nil, core.error{ kind = "decode", status = status_code, method = method, url = url,
        message = many_records and "answer has no clientSecretData array of records"
          or "answer has no clientSecretData object" }
    end
    return data
  end
end

return _M
