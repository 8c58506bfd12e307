--- Token filters for walks (`each_token`, `all_tokens`, `list_many`).
-- @module infisical.filters

local type, ipairs, pairs = type, ipairs, pairs

local _M = {}

--- Option names this module understands, with their checkers (see infisical.options).
_M.spec = {
  auth_method = function(v)
    if type(v) == "string" and v ~= "" then return end
    if type(v) == "table" and #v > 0 then
      for _, m in ipairs(v) do
        if type(m) ~= "string" or m == "" then return "list of non-empty strings expected" end
      end
      return
    end
    return "non-empty string or list of strings expected, got " .. type(v)
  end,
  revoked = "boolean",
  where = "function",
}

--- The auth method of a token record. Late-2024 servers send no `authMethod`; this
-- endpoint only ever answered for Token Auth identities then, so such a token is token-auth.
function _M.auth_method(token)
  return token.authMethod or "token-auth"
end

--- Compiles the filter options into one predicate, or nil when there is nothing to filter.
-- `server`: what the client knows of its server (infisical.server), for the status filters.
function _M.compile(opts, server)
  local tests = {}
  if opts.auth_method ~= nil then
    local set = {}
    if type(opts.auth_method) == "string" then
      set[opts.auth_method] = true
    else
      for _, m in ipairs(opts.auth_method) do set[m] = true end
    end
    tests[#tests + 1] = function(t) return set[_M.auth_method(t)] == true end
  end
  if opts.revoked ~= nil then
    local want = opts.revoked
    tests[#tests + 1] = function(t) return (t.isAccessTokenRevoked == true) == want end
  end
  if opts.where ~= nil then
    tests[#tests + 1] = opts.where
  end
  for _, extra in ipairs(_M.extra) do
    local test = extra(opts, server)
    if test then tests[#tests + 1] = test end
  end
  return _M.all(tests)
end

--- One predicate that holds when all of `tests` hold (nil when there are none).
function _M.all(tests)
  if #tests == 0 then return nil end
  if #tests == 1 then return tests[1] end
  return function(t)
    for i = 1, #tests do
      if not tests[i](t) then return false end
    end
    return true
  end
end

--- Further filter builders (`function(opts) return predicate or nil end`), so modules
-- that add options (token status, age) plug in without changing this one.
_M.extra = {}

--- Adds filter options: `spec` maps names to checkers, `build(opts, server)` returns a predicate or nil.
function _M.register(spec, build)
  for k, v in pairs(spec) do _M.spec[k] = v end
  _M.extra[#_M.extra + 1] = build
end

return _M
