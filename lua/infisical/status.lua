--- Token lifecycle: timestamps, expiry and derived status of token records, and the
-- `status`, `unused_for` and `name` filters built on them.
--
-- How the Infisical server decides that an access token is still valid (read in
-- Infisical/infisical, backend/src/services/identity-access-token/
-- identity-access-token-service.ts, `validateAccessTokenExp`, called by
-- `fnValidateIdentityAccessToken` on every authenticated request, and `renewAccessToken`):
--
-- * revoked: the lookup is `findOne({ id, isAccessTokenRevoked: false })`, so a revoked
--   token is refused before anything else;
-- * use limit: refused when `accessTokenNumUsesLimit > 0 && accessTokenNumUses > 0 &&
--   accessTokenNumUses >= accessTokenNumUsesLimit`; a limit of 0 means unlimited. The
--   server checks this before the TTL, so a token both used up and past its TTL is
--   "exhausted" here too;
-- * TTL: only when `accessTokenTTL > 0`; the token expires `accessTokenTTL` seconds after
--   `accessTokenLastRenewedAt`, or after `createdAt` when it was never renewed, and is
--   refused when `now > expiry` (strictly). A TTL of 0 never expires: the JWT is then
--   signed without `expiresIn` (identity-token-auth-service.ts, `createTokenAuthToken`);
-- * max TTL: enforced by `renewAccessToken` only, for non-periodic tokens
--   (`accessTokenPeriod == 0`) with `accessTokenMaxTTL > 0`: a renewal may not extend
--   past `createdAt + accessTokenMaxTTL`. So the expiry never passes that instant; we
--   cap it there, which also covers records renewed before that check existed.
--
-- Servers of 2026 (the token redesign, read at Infisical/infisical commit 0b118066c4a2,
-- backend/src/services/identity-access-token/identity-access-token-service.ts and
-- identity-access-token-fns.ts) have a token-lifetime ceiling (`MAX_MACHINE_IDENTITY_TOKEN_AGE`,
-- 90 days by default) that `GET /api/status` states as `maxIdentityAccessTokenTTL`:
--
-- * a token issued there is signed with `exp = iat + computeIssuedTtl(...)`, the least of its
--   TTL (0: none), its max TTL budget and the ceiling, and its record holds that computed
--   TTL (`baseRow.accessTokenTTL: ttl`): never 0. So the rules above already give its expiry;
-- * a record with TTL 0 on such a server is a legacy one (issued before the upgrade): its
--   JWT has no `exp` and `hasLegacyTokenWithoutExpExceededMaxAge` refuses it once now passes
--   `LEGACY_IDENTITY_ACCESS_TOKEN_EXPIRATION_ENFORCED_AT` (default 2026-05-04) plus the
--   ceiling (401 "Identity access token exceeded max age, please re-authenticate"), whenever
--   it was issued. With a ceiling, such a token expires at that instant (`LEGACY_FROM` + ceiling);
-- * a renewal signs a new JWT (`exp = now + computeIssuedTtl`) and writes nothing to the
--   record, nor does a use: `accessTokenLastRenewedAt`, `accessTokenNumUses` and
--   `accessTokenLastUsedAt` stay as issued. A renewed token can outlive what its record
--   says, and the record cannot show it. `server.counts_uses == false` says so (see
--   `infisical.server_info`), and the `unused_for` filter refuses to guess then.
--
-- `server` below (optional everywhere): a number (the ceiling in seconds), or a table
-- `{ max_token_ttl = seconds or nil, counts_uses = boolean or nil }` as
-- `client:server_info()` returns it. Without a ceiling the late-2024 rules hold.
-- @module infisical.status

local type, tonumber, floor, min, next = type, tonumber, math.floor, math.min, next
local ipairs, pcall, find, match, time = ipairs, pcall, string.find, string.match, os.time
local tointeger = math.tointeger or function(x) return x end
local filters = require "infisical.filters"

local _M = {}

--- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
-- days_from_civil): no os.time, whose argument is local time.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
_M.days_from_civil = days_from_civil

local MDAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function month_days(y, m)
  if m == 2 and y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) then return 29 end
  return MDAYS[m]
end

--- Parses an ISO-8601 date-time as Infisical sends it (`2023-11-07T05:31:56.000Z`).
-- Also accepted: no fraction, any number of fraction digits, a space for `T`, a
-- `+HH:MM`/`-HH:MM`/`+HHMM` offset instead of `Z`. A time without zone is taken as UTC.
-- @param iso the string (anything else, e.g. nil for a JSON null, gives nil)
-- @return epoch seconds (an integer, or a float when there is a fraction), or nil
function _M.parse_time(iso)
  if type(iso) ~= "string" or #iso > 64 then return nil end
  local y, mo, d, h, mi, s, rest = match(iso, "^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > month_days(y, mo) or h > 23 or mi > 59 or s > 60 then
    return nil
  end
  local frac = 0
  local digits, zone = match(rest, "^%.(%d+)(.*)$")
  if digits then
    frac = tonumber("0." .. digits)
    rest = zone
  end
  local offset = 0
  if rest == "Z" or rest == "z" or rest == "" then
    offset = 0
  else
    local sign, oh, om = match(rest, "^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    oh, om = tonumber(oh), tonumber(om)
    if oh > 23 or om > 59 then return nil end
    offset = (oh * 3600 + om * 60) * (sign == "-" and -1 or 1)
  end
  local t = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + s - offset
  if frac ~= 0 then return t + frac end
  return tointeger(t) or t
end
local parse_time = _M.parse_time

-- A numeric field; whole floats (a decoder without integer support) become integers so
-- that epoch results print without ".0".
local function num(v, default)
  if v == nil then return default end
  v = tonumber(v)
  return v and (tointeger(v) or v)
end

-- 2026-05-04T00:00:00Z, the default of LEGACY_IDENTITY_ACCESS_TOKEN_EXPIRATION_ENFORCED_AT
-- (identity-access-token-fns.ts `hasLegacyTokenWithoutExpExceededMaxAge`, commit 0b118066c4a2).
_M.LEGACY_FROM = 1777852800

--- The ceiling in `server` (a number, or a table's `max_token_ttl`), or nil.
local function ceiling_of(server)
  local c = server
  if type(server) == "table" then c = server.max_token_ttl end
  if type(c) == "number" and c > 0 and c == c and c ~= math.huge then return c end
  return nil
end
_M.ceiling_of = ceiling_of

local function check_server(fname, server)
  if server ~= nil and server ~= false and type(server) ~= "number" and type(server) ~= "table" then
    error("infisical: " .. fname .. ": bad argument 'server' (ceiling in seconds or server_info table expected, got "
      .. type(server) .. ")", 3)
  end
end

--- When the token stops being accepted (see the module comment for the rules).
-- @tparam table token a token record
-- @param[opt] server the server's token-lifetime ceiling in seconds, or `client:server_info()`
-- @return epoch seconds; or nil and `"never"` (TTL 0 and no ceiling), or nil and `"unknown"` (a missing or unreadable TTL or timestamp: we cannot tell, and do not guess)
function _M.expires_at(token, server)
  if type(token) ~= "table" then
    error("infisical: expires_at: bad argument 'token' (table expected, got " .. type(token) .. ")", 2)
  end
  check_server("expires_at", server)
  local ttl = num(token.accessTokenTTL, nil)
  if ttl == nil then return nil, "unknown" end
  if ttl <= 0 then
    local ceiling = ceiling_of(server)
    if not ceiling then return nil, "never" end
    -- a legacy record (a server with a ceiling writes the computed TTL, never 0)
    if parse_time(token.createdAt) == nil then return nil, "unknown" end
    return _M.LEGACY_FROM + ceiling
  end
  local created = parse_time(token.createdAt)
  local base
  if token.accessTokenLastRenewedAt ~= nil then
    base = parse_time(token.accessTokenLastRenewedAt)
  else
    base = created
  end
  if base == nil then return nil, "unknown" end
  local exp = base + ttl
  local max_ttl, period = num(token.accessTokenMaxTTL, 0), num(token.accessTokenPeriod, 0)
  if max_ttl and max_ttl > 0 and period == 0 and created then
    exp = min(exp, created + max_ttl)
  end
  return exp
end
local expires_at = _M.expires_at

--- Whether the token's use limit is reached (limit 0 = unlimited).
function _M.exhausted(token)
  local limit, uses = num(token.accessTokenNumUsesLimit, 0), num(token.accessTokenNumUses, 0)
  return limit ~= nil and uses ~= nil and limit > 0 and uses > 0 and uses >= limit
end
local exhausted = _M.exhausted

--- The token's status as the server would judge it at `now`.
-- @tparam table token a token record
-- @tparam[opt] number now epoch seconds (default: the current time)
-- @param[opt] server the ceiling in seconds, or `client:server_info()` (see `expires_at`)
-- @return `"revoked"`, `"exhausted"`, `"expired"` or `"active"` (checked in that order, the server's order); a token whose expiry is unknown is never "expired"
function _M.token_status(token, now, server)
  if type(token) ~= "table" then
    error("infisical: token_status: bad argument 'token' (table expected, got " .. type(token) .. ")", 2)
  end
  if now ~= nil and type(now) ~= "number" then
    error("infisical: token_status: bad argument 'now' (number expected, got " .. type(now) .. ")", 2)
  end
  check_server("token_status", server)
  if token.isAccessTokenRevoked == true then return "revoked" end
  if exhausted(token) then return "exhausted" end
  local exp = expires_at(token, server)
  if exp and (now or time()) > exp then return "expired" end
  return "active"
end
local token_status = _M.token_status

--- When the token was last used, or created when it never was (nil when unknown).
function _M.last_activity(token)
  if token.accessTokenLastUsedAt ~= nil then return parse_time(token.accessTokenLastUsedAt) end
  return parse_time(token.createdAt)
end
local last_activity = _M.last_activity

_M.STATUSES = { revoked = true, expired = true, exhausted = true, active = true }

-- Filter options ------------------------------------------------------------------

--- Why a Lua pattern is malformed, or nil. Lua's matcher raises only when it reaches the
-- bad part: "t%" matches nothing in "" and raises mid-walk on the first name starting
-- with "t". So the whole pattern is read here the way lstrlib's matcher reads it.
local function pattern_problem(p)
  -- string.find takes a pattern without these characters as plain text (")b" included)
  if not find(p, "[%^%$%*%+%?%.%(%[%%%-]") then return nil end
  local sub, n = string.sub, #p
  -- the end of the single-character class that starts at j, or nil and why
  local function class_end(j)
    local c = sub(p, j, j)
    j = j + 1
    if c == "%" then
      if j > n then return nil, "ends with '%'" end
      return j + 1
    elseif c == "[" then
      if sub(p, j, j) == "^" then j = j + 1 end
      repeat   -- the first character is the set's even when it is ']'
        if j > n then return nil, "missing ']'" end
        local e = sub(p, j, j)
        j = j + 1
        if e == "%" and j <= n then j = j + 1 end
      until sub(p, j, j) == "]"
      return j + 1
    end
    return j
  end
  local open, level = {}, 0   -- open[k]: capture k started and not yet closed
  local i = sub(p, 1, 1) == "^" and 2 or 1
  while i <= n do
    local c, d = sub(p, i, i), sub(p, i + 1, i + 1)
    if c == "(" then
      level = level + 1
      if level > 32 then return "too many captures" end
      if d == ")" then i = i + 2 else open[level] = true; i = i + 1 end
    elseif c == ")" then
      local k = level
      while k > 0 and not open[k] do k = k - 1 end
      if k == 0 then return "invalid pattern capture" end
      open[k] = nil
      i = i + 1
    elseif c == "%" and d == "b" then
      if i + 3 > n then return "missing arguments to '%b'" end
      i = i + 4
    elseif c == "%" and d == "f" then
      if sub(p, i + 2, i + 2) ~= "[" then return "missing '[' after '%f'" end
      local e, why = class_end(i + 2)
      if not e then return why end
      i = e
    elseif c == "%" and find(d, "^%d$") then
      local k = tonumber(d)
      if k == 0 or k > level or open[k] then return "invalid capture index %" .. d end
      i = i + 2
    else   -- a single-character class, maybe with a quantifier ('$' at the end included)
      local e, why = class_end(i)
      if not e then return why end
      if find(sub(p, e, e), "^[%*%+%-%?]$") then e = e + 1 end
      i = e
    end
  end
  if next(open) then return "unfinished capture" end
end
_M.pattern_problem = pattern_problem

local function check_status(v)
  if type(v) == "string" then
    if _M.STATUSES[v] then return end
    return "one of 'revoked', 'expired', 'exhausted', 'active' expected, got '" .. v .. "'"
  end
  if type(v) == "table" and #v > 0 then
    for _, s in ipairs(v) do
      if not _M.STATUSES[s] then
        return "list of 'revoked', 'expired', 'exhausted', 'active' expected, got " .. tostring(s)
      end
    end
    return
  end
  return "status name or list of status names expected, got " .. type(v)
end

_M.filter_spec = {
  status = check_status,
  unused_for = function(v)
    if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
      return "number of seconds >= 0 expected, got " .. tostring(v)
    end
  end,
  name = function(v)
    if type(v) ~= "string" then return "string expected, got " .. type(v) end
    if v == "" then return "non-empty string expected (it is found in a name as it is)" end
  end,
  name_pattern = function(v)
    if type(v) ~= "string" then return "Lua pattern (string) expected, got " .. type(v) end
    local why = pattern_problem(v)
    if why then return "malformed pattern: " .. why end
    local ok, err = pcall(find, "", v)
    if not ok then return "malformed pattern: " .. tostring(err):gsub("^.-:%d+: ", "") end
  end,
  now = function(v)
    if type(v) ~= "number" or v ~= v then return "epoch seconds expected, got " .. tostring(v) end
  end,
}

--- Builds the predicate of the status/unused_for/name/name_pattern options (nil when none is set).
-- `now` (epoch seconds, default the time of the call) is the instant both compare to;
-- `server` (the client's `server_info()`, or nil) gives the ceiling the status uses.
function _M.build_filter(opts, server)
  local tests = {}
  local now = opts.now or time()
  if opts.status ~= nil then
    local want = {}
    if type(opts.status) == "string" then want[opts.status] = true
    else for _, s in ipairs(opts.status) do want[s] = true end end
    tests[#tests + 1] = function(t) return want[token_status(t, now, server)] == true end
  end
  if opts.unused_for ~= nil then
    local cut = now - opts.unused_for
    -- Unknown timestamps do not match: "unused for 30 days" is a claim we cannot make.
    tests[#tests + 1] = function(t)
      local last = last_activity(t)
      return last ~= nil and last <= cut
    end
  end
  if opts.name ~= nil then
    -- plain text: `name = "t%"` or `"token-1*"` is found as it is written
    local text = opts.name
    tests[#tests + 1] = function(t)
      return type(t.name) == "string" and find(t.name, text, 1, true) ~= nil
    end
  end
  if opts.name_pattern ~= nil then
    local pat = opts.name_pattern
    tests[#tests + 1] = function(t)
      return type(t.name) == "string" and find(t.name, pat) ~= nil
    end
  end
  return filters.all(tests)
end

--- Parses a duration like `30d`, `12h`, `90m`, `45s`, `2w` or plain seconds.
-- @return seconds, or nil
function _M.parse_duration(s)
  if type(s) == "number" then return s >= 0 and s or nil end
  if type(s) ~= "string" then return nil end
  local n, unit = match(s, "^(%d+%.?%d*)([smhdw]?)$")
  n = tonumber(n)
  if not n then return nil end
  local mult = ({ [""] = 1, s = 1, m = 60, h = 3600, d = 86400, w = 604800 })[unit]
  return n * mult
end

-- Every walk (each_token, all_tokens, list_many) gets these options from here.
filters.register(_M.filter_spec, _M.build_filter)

return _M
