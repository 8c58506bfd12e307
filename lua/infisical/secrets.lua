--- The secret store: the one place that holds every secret the library keeps (a client's
-- bearer token or Universal Auth client secret, the access tokens its logins obtained and
-- the earlier ones a request in flight may still carry, the token a transport or a
-- `list_many` run was given, the header lines that carry it), and that redacts them (rules
-- in infisical.redact) from what a server sent back.
--
-- Secrets are kept here, keyed by their owner (a client, a transport, a run) in a weak
-- table, never in the owner's table: `pairs`, `tostring`, error objects and a debugger's
-- dump of a client, a transport or a module table (package.loaded) never show them.
-- @module infisical.secrets

local redact = require "infisical.redact"

local setmetatable, remove = setmetatable, table.remove

local _M = {}

-- owner -> { token, client_secret, olds, ... }
local store = setmetatable({}, { __mode = "k" })
-- Earlier access tokens kept for redaction: a request still in flight may carry one.
local KEEP_OLD = 4

--- Stores (or with nil, drops) the owner's secret called `name`.
function _M.set(owner, name, value)
  local s = store[owner]
  if s == nil then
    if value == nil then return end
    s = {}
    store[owner] = s
  end
  s[name] = value
end

--- The owner's secret called `name`, or nil.
function _M.get(owner, name)
  local s = store[owner]
  return s and s[name]
end

--- Drops every secret of the owner (a client or a transport closed).
function _M.forget(owner)
  store[owner] = nil
end

--- The client's access token is no longer used (refused, or replaced by a login): it is
-- kept among the earlier ones, still redacted, since an answer in flight may echo it.
function _M.retire(client)
  local s = store[client]
  if s == nil or s.token == nil then return end
  local olds = s.olds or {}
  s.olds = olds
  olds[#olds + 1] = s.token
  if #olds > KEEP_OLD then remove(olds, 1) end
  s.token = nil
end

--- Every secret of the client worth redacting.
local function all(client)
  local s = store[client]
  if s == nil then return {} end
  local list, n = { s.token, s.client_secret }, 2
  local olds = s.olds
  if olds then
    for i = 1, #olds do
      n = n + 1
      list[n] = olds[i]
    end
  end
  return redact.usable(list, n)
end

--- Redacts a string a server sent back to `client`: the form core.parse takes as its
-- redact function (applied before its 512-byte cut).
function _M.redact_string(s, client)
  return redact.string(s, all(client))
end

--- Redacts every string of an error (or any value) a request of `client` produced.
function _M.redact_error(client, err)
  return redact.value(err, all(client))
end

return _M
