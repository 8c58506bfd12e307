--- An organisation's identities: `client:list_identities` (one page) and
-- `client:each_identity` (every page), over
-- `GET /api/v2/organizations/{orgId}/identity-memberships`, and the helpers that read an
-- identity's auth methods in both record shapes:
--
--     for m in client:each_identity(org_id, { token_auth = true }) do
--       print(m.identity.name, m.identityId)
--     end
--
-- The late-2024 server sends `identity = { name, id, authMethod }` (one method, or null);
-- current ones `identity = { name, id, orgId, authMethods = {...} }` and, beside it,
-- `lastLoginAuthMethod` and `lastLoginTime`. Records are passed on as the server sent
-- them (JSON null fields are absent, unknown fields kept).
-- @module infisical.identities

local core = require "infisical.core"
local options = require "infisical.options"
local http = require "infisical.http"

local type, pairs, setmetatable, error, floor = type, pairs, setmetatable, error, math.floor
local find = string.find

local _M = {}

-- The options (checks, defaults, the server's bounds) are options.lua's IDENTITY_* rows.
local query_spec = options.spec(options.IDENTITY_QUERY)
local list_spec = setmetatable(options.spec(options.IDENTITY_LIST), { __index = query_spec })
local each_spec = setmetatable(options.spec(options.IDENTITY_EACH), { __index = query_spec })
_M.MAX_LIMIT = select(2, options.range("page_size", options.IDENTITY_LIST))
options.hints[list_spec] = options.IDENTITY_HINTS
options.hints[each_spec] = options.IDENTITY_HINTS

--- An organisation id: a non-empty string of at most 256 bytes without control characters.
local function check_org_id(fname, v, level)
  level = (level or 2) + 1
  if type(v) ~= "string" then
    options.bad(fname, "org_id", "non-empty string expected, got " .. type(v), level)
  elseif v == "" then
    options.bad(fname, "org_id", "empty string", level)
  elseif #v > 256 then
    options.bad(fname, "org_id", "longer than 256 bytes", level)
  elseif find(v, "%c") then
    options.bad(fname, "org_id", "contains a control character (NUL, CR, LF, ...)", level)
  end
  return v
end

--- The request URL of one page.
function _M.url(base, org_id, offset, limit, opts)
  local q = ("?offset=%d&limit=%d"):format(offset, limit)
  if opts.order_by then q = q .. "&orderBy=" .. opts.order_by end
  if opts.order_direction then q = q .. "&orderDirection=" .. opts.order_direction end
  if opts.search and opts.search ~= "" then q = q .. "&search=" .. core.escape_segment(opts.search) end
  return base .. "/api/v2/organizations/" .. core.escape_segment(org_id) .. "/identity-memberships" .. q
end

local function is_array(t, n)
  local keys = 0
  for _ in pairs(t) do
    keys = keys + 1
    if keys > n then return false end
  end
  return true
end

-- Refusals of this route that the core's classification has no words for: the caller's
-- identity is not in that organisation (403, late-2024 server's ForbiddenRequestError),
-- or the id is not a UUID (500 from the permission query).
local function add_hint(err, org_id)
  if err.hint ~= nil then return err end
  if err.status == 403 and err.error == "Identity is not apart of this organization" then
    err.hint = ("the token's identity is not a member of organisation %s (or there is no such"
      .. " organisation): check the organisation id, or use a token of that organisation"):format(org_id)
  elseif err.status == 500 and err.error == "GetOrgIdentityPermission" then
    err.hint = "the organisation id is probably malformed (Infisical answers an id that is"
      .. " not a UUID this way)"
  end
  return err
end

--- A parser for one page of at most `limit` memberships of `org_id` (for infisical.http).
-- `redact` and `arg` go to core.parse: server strings are redacted before they are cut.
function _M.parser(limit, org_id)
  return function(status, body, headers, method, url, redact, arg)
    local v, err = core.parse(status, body, headers, method, url, redact, arg)
    if v == nil then
      if type(err) == "table" and err.kind == "http" then add_hint(err, org_id) end
      return nil, err
    end
    local function bad(message)
      return nil, core.error{ kind = "decode", status = status, method = method, url = url,
        message = message }
    end
    if type(v) ~= "table" then return bad("response is not a JSON object") end
    local rows = v.identityMemberships
    if type(rows) ~= "table" then return bad("response has no 'identityMemberships' array") end
    local n = #rows
    if not is_array(rows, n) then return bad("response's 'identityMemberships' is not an array") end
    if n > limit then
      return bad(("server sent %d identities for a page of %d"):format(n, limit))
    end
    local total = v.totalCount
    if total ~= nil and (type(total) ~= "number" or total < 0 or total ~= floor(total)) then
      return bad("response's 'totalCount' is not a count")
    end
    for i = 1, n do
      local m = rows[i]
      if type(m) ~= "table" or type(m.identity) ~= "table" then
        return bad(("identity membership %d has no 'identity' object"):format(i))
      end
      if type(m.identity.id) ~= "string" then
        return bad(("identity membership %d has no string 'identity.id'"):format(i))
      end
    end
    return v
  end
end

--- The auth methods of an identity, in either shape, as a new list of strings.
-- @tparam table x a membership record (with `identity`) or an identity record
function _M.auth_methods(x)
  if type(x) ~= "table" then
    options.bad("auth_methods", "identity", "table expected, got " .. type(x), 2)
  end
  local ident = type(x.identity) == "table" and x.identity or x
  local out = {}
  if type(ident.authMethods) == "table" then
    for i = 1, #ident.authMethods do
      local m = ident.authMethods[i]
      if type(m) == "string" then out[#out + 1] = m end
    end
  elseif type(ident.authMethod) == "string" then
    out[1] = ident.authMethod
  end
  return out
end

--- Whether an identity uses Token Auth, in either shape.
-- @tparam table x a membership record (with `identity`) or an identity record
function _M.uses_token_auth(x)
  if type(x) ~= "table" then
    options.bad("uses_token_auth", "identity", "table expected, got " .. type(x), 2)
  end
  local methods = _M.auth_methods(x)
  for i = 1, #methods do
    if methods[i] == "token-auth" then return true end
  end
  return false
end

---------------------------------------------------------------------------
-- The walk over every page, as a state machine (like walk.lua): offset and limit to ask
-- for, then feed the page. Done at `totalCount`, at an empty page, or (without a
-- `totalCount`) at a short page; an empty page before `totalCount` is an error.
-- Rows can shift between pages when identities are added or deleted: a membership is
-- never yielded twice in one walk (by id).

local Walk = {}
Walk.__index = Walk

function _M.walk(org_id, page_size, token_auth)
  return setmetatable({ org_id = org_id, offset = 0, limit = page_size, token_auth = token_auth,
    seen = {}, pages = 0, done = false }, Walk)
end

function Walk:next_request()
  if self.done then return nil end
  return self.offset, self.limit
end

function Walk:feed(page)
  local rows, out, seen = page.identityMemberships, {}, self.seen
  local n = #rows
  self.pages = self.pages + 1
  self.total = page.totalCount
  for i = 1, n do
    local m = rows[i]
    local key = m.id or m.identity.id
    if not seen[key] then
      seen[key] = true
      if self.token_auth == nil or _M.uses_token_auth(m) == self.token_auth then out[#out + 1] = m end
    end
  end
  local total = self.total
  if n == 0 and total ~= nil and self.offset < total then
    -- the server says there is more, but gives nothing: stopping here would be
    -- stopping short without a word
    return nil, core.error{ kind = "decode", method = "GET", message = ("identities page at offset %d is empty "
      .. "but the server's totalCount says %d: the listing is incomplete"):format(self.offset, total) }
  end
  self.offset = self.offset + n
  -- a short page ends the walk only when totalCount does not say there is more (a server
  -- may cap its page size below the limit asked for)
  if n == 0 or (total ~= nil and self.offset >= total) or (total == nil and n < self.limit) then
    self.done = true
  end
  return out
end

---------------------------------------------------------------------------

-- The client's methods (defined in infisical.init, which checked the client) run here.

--- `client:list_identities(org_id, opts)`: one page (infisical.init documents it).
function _M.list(client, org_id, opts)
  check_org_id("list_identities", org_id)
  opts = options.check("list_identities", opts, list_spec)
  local limit = opts.page_size or options.default("page_size", options.IDENTITY_LIST)
  local page, err = http.request(client, "GET", _M.url(client.base_url, org_id,
    opts.offset or options.default("offset", options.IDENTITY_LIST), limit, opts),
    _M.parser(limit, org_id))
  if page and opts.token_auth ~= nil then
    -- as each_identity: only the memberships whose identity does (or does not) use Token
    -- Auth; `totalCount` stays the server's count of the whole listing
    local kept, rows = {}, page.identityMemberships
    for i = 1, #rows do
      if _M.uses_token_auth(rows[i]) == opts.token_auth then kept[#kept + 1] = rows[i] end
    end
    page.identityMemberships = kept
  end
  return page, err
end

--- `client:each_identity(org_id, opts)`: the iterator (infisical.init documents it).
function _M.each(client, org_id, opts)
  check_org_id("each_identity", org_id)
  opts = options.check("each_identity", opts, each_spec)
  local w = _M.walk(org_id, opts.page_size or options.default("page_size", options.IDENTITY_EACH),
    opts.token_auth)
  local buf, i, finished = {}, 0, false
  local listing = { truncated = false }   -- each_token's second value, the same fields
  return function()
    while not finished do
      i = i + 1
      local m = buf[i]
      if m ~= nil then return m end
      local offset, limit = w:next_request()
      if not offset then
        finished = true
        return nil
      end
      local page, err = http.request(client, "GET", _M.url(client.base_url, org_id, offset, limit, opts),
        _M.parser(limit, org_id))
      if not page then
        finished = true
        error(err, 0)
      end
      local ferr
      buf, ferr = w:feed(page)
      if not buf then
        finished = true
        ferr.url = _M.url(client.base_url, org_id, offset, limit, opts)
        error(ferr, 0)
      end
      listing.total = w.total
      i = 0
    end
    return nil
  end, listing
end

return _M
