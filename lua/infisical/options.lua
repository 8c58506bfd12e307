--- Option and argument checking shared by the client's functions.
-- Programmer errors raise here, naming the function and the argument, before any
-- request is sent.
-- @module infisical.options

local type, pairs, ipairs, tostring, error, floor = type, pairs, ipairs, tostring, error, math.floor
local huge = math.huge

local _M = {}

--- Raises "infisical: FN: bad argument 'NAME' (WHY)" at the caller's caller.
function _M.bad(fname, name, why, level)
  error(("infisical: %s: bad argument '%s' (%s)"):format(fname, name, why), (level or 2) + 1)
end

function _M.is_int(v, lo, hi)
  return type(v) == "number" and v == v and v ~= huge and v ~= -huge
     and v == floor(v) and v >= lo and v <= hi
end

--- What is wrong with an identity id, or nil: it must be a non-empty string of at most
-- 256 bytes without NUL or other control characters. The one check of an id (the C core
-- only escapes it); list_many names each element with it.
function _M.id_problem(v)
  if type(v) ~= "string" then return "non-empty string expected, got " .. type(v) end
  if v == "" then return "empty string" end
  if #v > 256 then return "longer than 256 bytes" end
  if v:find("%z") then return "contains a NUL byte" end
  -- escaping would keep CR/LF out of the request line, but no id holds one: a caller bug
  if v:find("%c") then return "contains a control character (CR, LF, ...)" end
end

--- Raises naming `identity_id` unless v is a valid identity id; returns v.
function _M.identity_id(fname, v, level)
  local why = _M.id_problem(v)
  if why then _M.bad(fname, "identity_id", why, (level or 2) + 1) end
  return v
end

--- How a bad value is shown in an error: numbers as they are; a short plain word (at most
-- 12 letters, digits, `_`, `-`, `.`: `"cosockets"`) quoted; any other string only by its
-- length ("a 180-byte value"), so a token or secret given in the wrong place is never
-- echoed; anything else by its type.
local function show(v)
  if type(v) == "number" then return tostring(v) end
  if type(v) == "string" then
    if #v <= 12 and v:find("^[%w_%.%-]+$") then return '"' .. v .. '"' end
    return ("a %d-byte value"):format(#v)
  end
  return type(v)
end
_M.show = show

-- Checkers by kind: return nil when fine, else the reason.
local kinds = {
  string = function(v)
    if type(v) ~= "string" or v == "" then return "non-empty string expected, got " .. (v == "" and "empty string" or type(v)) end
    if v:find("%z") then return "must not contain NUL bytes" end
  end,
  -- a value that goes into a header line verbatim
  header = function(v)
    if type(v) ~= "string" or v == "" then return "non-empty string expected, got " .. (v == "" and "empty string" or type(v)) end
    if v:find("%c") then return "must not contain CR, LF, NUL or other control characters" end
  end,
  boolean = function(v) if type(v) ~= "boolean" then return "boolean expected, got " .. type(v) end end,
  ["function"] = function(v) if type(v) ~= "function" then return "function expected, got " .. type(v) end end,
  -- Every wait and timeout is seconds below 1000: 1000 or more is milliseconds meant as
  -- seconds (lua-resty-http's habit: `timeout = 3000`), refused saying so.
  seconds = function(v)
    if type(v) ~= "number" or not (v > 0 and v < 1000) then
      return "number of seconds > 0 and < 1000 expected, got " .. show(v)
        .. (type(v) == "number" and v >= 1000 and " (seconds, not milliseconds as in lua-resty-http)" or "")
    end
  end,
  seconds0 = function(v)
    if type(v) ~= "number" or not (v >= 0 and v < 1000) then
      return "number of seconds >= 0 and < 1000 expected, got " .. show(v)
        .. (type(v) == "number" and v >= 1000 and " (seconds, not milliseconds as in lua-resty-http)" or "")
    end
  end,
}
_M.kinds = kinds

--- What to use instead, for option names of other libraries (lua-resty-http's above all)
-- that `infisical.new` does not take. `hints[spec]`: such a table for an options spec.
_M.NEW_HINTS = {
  ssl_verify = "use verify_tls = true or false",
  ssl_server_name = "the TLS server name is the host of base_url",
  send_timeout = "use timeout, in seconds, for the whole request",
  read_timeout = "use timeout, in seconds, for the whole request",
  keepalive = "kept-alive connections are always reused",
  keepalive_timeout = "for cosockets set lua_socket_keepalive_timeout in nginx.conf",
  keepalive_pool = "for cosockets set lua_socket_pool_size in nginx.conf",
  pool = "cosockets pool by origin: set lua_socket_pool_size in nginx.conf",
  pool_size = "for cosockets set lua_socket_pool_size in nginx.conf",
  proxy_opts = "use proxy = URL (curl transport only)",
  headers = "only user_agent can be set",
  host = "use base_url", site_url = "use base_url", siteUrl = "use base_url",
  api_url = "use base_url", domain = "use base_url",
  access_token = "use token", accessToken = "use token",
  clientId = "use client_id", clientSecret = "use client_secret",
}
_M.hints = setmetatable({}, { __mode = "k" })

--- Checks an options table against a spec `{ name = kind or checker }`.
-- Unknown names and wrong kinds raise. Returns a shallow copy (options are copied on entry).
function _M.check(fname, opts, spec, level)
  level = (level or 2) + 1
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    _M.bad(fname, "opts", "table expected, got " .. type(opts), level)
  end
  local copy = {}
  for k, v in pairs(opts) do
    local kind = spec[k]
    if kind == nil then
      local hint = _M.hints[spec] and _M.hints[spec][k]
      error(("infisical: %s: unknown option %s%s"):format(fname,
        type(k) == "string" and #k <= 40 and not k:find("%c") and "'" .. k .. "'" or show(k),
        hint and " (" .. hint .. ")" or ""), level)
    end
    local check = type(kind) == "function" and kind or kinds[kind]
    local why = check(v)
    if why then _M.bad(fname, k, why, level) end
    copy[k] = v
  end
  return copy
end


--- A checker for integers in [lo, hi]; `bounds[checker]` gives lo and hi back.
_M.bounds = setmetatable({}, { __mode = "k" })
function _M.int(lo, hi)
  local function check(v)
    if not _M.is_int(v, lo, hi) then
      return ("integer from %d to %d expected, got %s"):format(lo, hi, show(v))
    end
  end
  _M.bounds[check] = { lo, hi }
  return check
end

---------------------------------------------------------------------------
-- The options, one row each: `name`, `check` (a kind above or a checker), `default`
-- (nil: none, or made by `new` as its doc line says), `layer` (who reads it), and its
-- line in docs/api.md (`shown`: the default as the docs show it, else the value in
-- backquotes; `doc`: the meaning). `infisical.new`, the transports, the command's help
-- and docs/api.md (`make docs-api`) all read these rows; nothing else keeps a default.
-- Layers: "client" (init.lua), "transport" (the C core's config.c and
-- transport/cosocket.lua: every value handed over as given), "retry" (retry.lua,
-- attempt.lua and pace.lua's rate limits, auth.lua's login deadline), "walk" (the walks'
-- page size), "auth" (Universal Auth).

local MIB = 1024 * 1024

_M.NEW = {
  { name = "base_url", check = "string", layer = "client",
    shown = "`$INFISICAL_API_URL`, else `https://us.infisical.com`",
    doc = "the server's address, with or without a trailing `/`, `/api` or `/api/v1` (`https://eu.infisical.com/api/v1` works); any other path is a `config` error (`nil, err`), as in the command" },
  { name = "token", check = "string", layer = "client", shown = "`$INFISICAL_TOKEN`",
    doc = "the access token sent as `Authorization: Bearer`; CR, LF and other control characters are refused" },
  { name = "timeout", check = "seconds", default = 60, layer = "transport",
    doc = "seconds for a whole request (connect + transfer); every wait and timeout option is seconds below 1000: `timeout = 3000` is refused as milliseconds" },
  { name = "connect_timeout", check = "seconds", default = 10, layer = "transport",
    doc = "seconds to connect (TCP + TLS)" },
  { name = "low_speed_time", check = "seconds", layer = "transport", shown = "off",
    doc = "give up when less than 1 byte/s arrives for this many seconds" },
  { name = "retries", check = _M.int(0, 20), default = 3, layer = "retry",
    doc = "retries after 502, 503, 504 or a connection failure; `0` turns them off (a 429 uses none up: [Rate limits](#rate-limits))" },
  { name = "backoff", check = "seconds0", default = 0.5, layer = "retry",
    doc = "first retry wait in seconds; doubles each retry, with jitter" },
  { name = "max_backoff", check = "seconds0", default = 30, layer = "retry",
    doc = "cap of one backoff wait, seconds" },
  { name = "max_retry_wait", check = "seconds0", default = 60, layer = "retry",
    doc = "a `retry-after` longer than this is not waited for: the 429 is returned; also the most a request waits for 429s in all" },
  { name = "max_rate", layer = "retry", shown = "off (the server's headers pace)",
    check = function(v)
      if type(v) ~= "number" or not (v > 0 and v <= 1e6) then
        return "requests per minute > 0 and <= 1000000 expected, got " .. show(v)
      end
    end,
    doc = "at most this many requests per minute, evenly spaced, beside the pacing to the server's `x-ratelimit-*` headers (see [Rate limits](#rate-limits))" },
  { name = "verify_tls", check = "boolean", default = true, layer = "transport",
    doc = "`false` turns off certificate and host name checks (only by this name)" },
  { name = "ca_file", check = "string", layer = "transport", shown = "system bundle",
    doc = "PEM file of CA certificates to trust" },
  { name = "ca_path", check = "string", layer = "transport", shown = "system folder",
    doc = "folder of CA certificates to trust" },
  { name = "max_body", check = _M.int(1, 1024 * MIB), default = 8 * MIB, layer = "transport",
    shown = "`8388608` (8 MiB)",
    doc = "largest response body accepted (after decompression), else `kind = \"too_large\"`" },
  { name = "max_headers", check = _M.int(1024, MIB), default = 64 * 1024, layer = "transport",
    doc = "largest total size of response headers accepted" },
  { name = "compress", check = "boolean", default = true, layer = "transport",
    doc = "ask for gzip/deflate answers" },
  { name = "proxy", check = "string", layer = "transport", shown = "from the environment",
    doc = "a proxy URL; by default libcurl reads `https_proxy`, `http_proxy`, `no_proxy`" },
  { name = "user_agent", check = "header", layer = "transport",
    shown = "`lua-infisical/0.1.0 libcurl/<v> Lua 5.x`", doc = "the `User-Agent` header" },
  { name = "page_size", check = _M.int(1, 100), default = 100, layer = "walk",
    doc = "default page size of walks" },
  { name = "sleep", check = "function", layer = "client",
    shown = "`ngx.sleep` where nginx allows it, else a C `nanosleep`",
    doc = "function used to wait between retries and for the rate limit" },
  { name = "transport", layer = "client", shown = "chosen per request",
    check = function(v)
      if v ~= "curl" and v ~= "cosocket" then return "\"curl\" or \"cosocket\" expected, got " .. show(v) end
    end,
    doc = "`\"curl\"` or `\"cosocket\"`; by default cosockets inside nginx request handlers and timers, libcurl elsewhere (see [openresty.md](openresty.md))" },
  { name = "max_token_ttl", layer = "client", shown = "asked of the server (`GET /api/status`)",
    check = function(v)
      if v == false then return end
      if type(v) ~= "number" or v ~= v or v < 1 or v > 10 * 365 * 86400 or v ~= floor(v) then
        return "false or whole seconds from 1 to 315360000 expected, got " .. show(v)
      end
    end,
    doc = "the server's token-lifetime ceiling in seconds (`maxIdentityAccessTokenTTL`), used when a status is derived; by default learned once per client from `/api/status` when a status is first derived (a server without it keeps the late-2024 rules); `false`: no ceiling and no request (see [Server versions](#server-versions))" },
  { name = "client_id", check = "string", layer = "auth",
    shown_name = "`client_id`, `client_secret`, `clock`", shown = "see [Universal Auth](#universal-auth)",
    doc = "log in with Universal Auth instead of giving a token" },
  { name = "client_secret", check = "string", layer = "auth", doc = false },
  { name = "clock", check = "function", layer = "auth", doc = false },
}

local page_row
for _, r in ipairs(_M.NEW) do
  if r.name == "page_size" then page_row = r end
end
local PAGE_MIN, PAGE_MAX = _M.bounds[page_row.check][1], _M.bounds[page_row.check][2]

--- `list_tokens`'s options: one page.
_M.LIST = {
  { name = "offset", check = _M.int(0, 100), default = 0, layer = "client" },
  { name = "page_size", check = page_row.check, layer = "client" },   -- default: the client's
}
--- One name per concept: a page's size is `page_size` in every call (the server's query
-- parameter is `limit`).
_M.LIST_HINTS = { limit = "use page_size: the number of tokens a page holds" }

--- The walks' options (`each_token`, `all_tokens`, and `list_many`'s beside its own).
-- The filters' rows are here for the docs only: filters.lua and status.lua check them
-- (`check = false`), and `walk_spec` falls back to their table.
_M.WALK = {
  { name = "page_size", check = page_row.check, layer = "walk", shown = "the client's (`100`)",
    doc = ("tokens per request, %d..%d"):format(PAGE_MIN, PAGE_MAX),
    many_doc = ("tokens asked for per request (%d to %d)"):format(PAGE_MIN, PAGE_MAX) },
  { name = "partial", check = "boolean", default = false, layer = "walk",
    doc = "at the 200-token wall, return (or end the iteration with) what was reachable instead of an error",
    many_doc = "at the 200-token wall, keep the tokens and report `truncated` beside them" },
  { name = "auth_method", check = false, layer = "filters", shown = "all",
    doc = "a string or a list of strings; a token without `authMethod` (late-2024 servers) counts as `\"token-auth\"`" },
  { name = "revoked", check = false, layer = "filters", shown = "all",
    doc = "`true`: only revoked tokens; `false`: only live ones" },
  { name = "where", check = false, layer = "filters", shown = "none",
    doc = "a predicate `function(token) return boolean end`, applied after the others" },
}

--- A checker for one of the given strings.
function _M.one_of(...)
  local ok, list = {}, { ... }
  for i = 1, #list do ok[list[i]] = true end
  local want = '"' .. table.concat(list, '" or "') .. '"'
  return function(v)
    if not ok[v] then return want .. " expected, got " .. show(v) end
  end
end

--- `list_identities`' and `each_identity`'s options: the query both send, then each one's
-- paging. The bounds are what the server validates (identity-org-router.ts): offset >= 0,
-- limit 1..20000.
_M.IDENTITY_QUERY = {
  { name = "search", layer = "identities", check = function(v)
      if type(v) ~= "string" then return "string expected, got " .. type(v) end
      if #v > 1024 then return "at most 1024 bytes expected" end
      if v:find("%c") then return "must not contain control characters" end
    end },
  { name = "order_by", check = _M.one_of("name"), layer = "identities" },
  { name = "order_direction", check = _M.one_of("asc", "desc"), layer = "identities" },
}
_M.IDENTITY_LIST = {
  { name = "offset", check = _M.int(0, 2 ^ 31 - 1), default = 0, layer = "identities" },
  { name = "page_size", check = _M.int(1, 20000), default = 100, layer = "identities" },
  { name = "token_auth", check = "boolean", layer = "identities" },
}
_M.IDENTITY_HINTS = { limit = "use page_size: the number of identities a page holds" }
_M.IDENTITY_EACH = {
  { name = "page_size", check = _M.int(1, 20000), default = 100, layer = "identities" },
  { name = "token_auth", check = "boolean", layer = "identities" },
}

--- `list_many`/`stream_many`'s own option (beside the walks'): identities in progress.
_M.MANY = {
  { name = "concurrency", check = _M.int(1, 256), default = 8, layer = "many",
    doc = "identities in progress at once, so requests in flight" },
}

--- The option tables of docs/api.md that `make docs-api` writes, by the name in their
-- marker line: new's; the walks'; list_many's (its own, then the walks' in its words).
function _M.doc_table(name)
  if name == "NEW" or name == "WALK" then return _M[name] end
  assert(name == "MANY", name)
  local lo, hi = _M.range("concurrency", _M.MANY)
  local rows = {}
  for _, r in ipairs(_M.MANY) do
    rows[#rows + 1] = { name = r.name, default = r.default, doc = ("%s (%d to %d)"):format(r.doc, lo, hi) }
  end
  for _, r in ipairs(_M.WALK) do
    if r.many_doc then
      rows[#rows + 1] = { name = r.name, default = r.default, shown = r.shown, doc = r.many_doc }
    end
  end
  rows[#rows + 1] = { shown_name = "`revoked`, `auth_method`, `where`, ...", shown = "none",
    doc = "the filters of `each_token`/`all_tokens`" }
  return rows
end

--- Rows by name, and the tables made of them: `spec` (name -> check, for `check`),
-- `defaults` (name -> default), `layer(rows, l)` (name -> true for that layer's names).
local names = setmetatable({}, { __mode = "k" })
local function by_name(rows)
  local t = names[rows]
  if t then return t end
  t = {}
  for _, r in ipairs(rows) do t[r.name] = r end
  names[rows] = t
  return t
end
_M.by_name = by_name

function _M.spec(rows)
  local t = {}
  for _, r in ipairs(rows) do
    if r.check then t[r.name] = r.check end
  end
  return t
end

function _M.defaults(rows)
  local t = {}
  for _, r in ipairs(rows) do t[r.name] = r.default end
  return t
end

function _M.layer(rows, layer)
  local t = {}
  for _, r in ipairs(rows) do
    if r.layer == layer then t[r.name] = true end
  end
  return t
end

--- The default of the row `name` of `rows` (NEW unless given).
function _M.default(name, rows)
  return by_name(rows or _M.NEW)[name].default
end

--- The smallest and largest value of the integer row `name` of `rows` (NEW unless given).
function _M.range(name, rows)
  local b = _M.bounds[by_name(rows or _M.NEW)[name].check]
  return b[1], b[2]
end

--- docs/api.md's table of `infisical.new`'s options, made from the rows.
function _M.markdown(rows)
  local out = { "| option | default | meaning |", "|---|---|---|" }
  for _, r in ipairs(rows or _M.NEW) do
    if r.doc then
      local shown = r.shown or ("`" .. tostring(r.default) .. "`")
      out[#out + 1] = ("| %s | %s | %s |"):format(r.shown_name or ("`" .. r.name .. "`"), shown, r.doc)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

return _M
