--- Output helpers for infisical-tokens: aligned tables, CSV, JSON, UTC times.
-- @module infisical.cli.output

local cjson = require("cjson").new()   -- private: the host's cjson settings stay untouched
local status = require "infisical.status"

local type, pairs, ipairs, tostring, concat, sort, floor = type, pairs, ipairs, tostring,
  table.concat, table.sort, math.floor
local date = os.date

local _M = {}

--- Epoch seconds -> "2024-06-01 11:00" (UTC, minutes), "2024-06-01T11:00:00Z" with `iso`.
function _M.time(t, iso)
  if t == nil then return nil end
  t = floor(t)
  if iso then return date("!%Y-%m-%dT%H:%M:%SZ", t) end
  return date("!%Y-%m-%d %H:%M", t)
end

--- Text safe for a terminal: control characters (escape sequences a token name could
-- carry) become "?".
function _M.clean(s)
  return (tostring(s):gsub("%c", "?"))
end

local function width(s)
  return (utf8 and utf8.len(s)) or #s
end

--- An aligned table: `head` is a list of titles, `rows` a list of lists of strings;
-- columns whose index is in `right` are right-aligned.
function _M.table(head, rows, right)
  right = right or {}
  local w = {}
  for c, h in ipairs(head) do w[c] = width(h) end
  for _, r in ipairs(rows) do
    for c = 1, #head do
      r[c] = _M.clean(r[c] == nil and "-" or r[c])
      local l = width(r[c])
      if l > w[c] then w[c] = l end
    end
  end
  local out = {}
  local function line(r)
    local cells = {}
    for c = 1, #head do
      local pad = (" "):rep(w[c] - width(r[c]))
      cells[c] = right[c] and (pad .. r[c]) or (r[c] .. pad)
    end
    out[#out + 1] = (concat(cells, "  "):gsub("%s+$", ""))
  end
  line(head)
  for _, r in ipairs(rows) do line(r) end
  return concat(out, "\n") .. "\n"
end

--- One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF.
function _M.csv_field(v)
  if v == nil then return "" end
  v = tostring(v)
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

function _M.csv(head, rows)
  local out = {}
  local function line(r)
    local f = {}
    for c = 1, #head do f[c] = _M.csv_field(r[c]) end
    out[#out + 1] = concat(f, ",")
  end
  line(head)
  for _, r in ipairs(rows) do line(r) end
  return concat(out, "\r\n") .. "\r\n"
end

-- JSON ------------------------------------------------------------------------------

--- Marks a Lua table as a JSON array (so an empty one is `[]`, not `{}`).
local ARRAY = {}
function _M.array(t) return setmetatable(t or {}, ARRAY) end
_M.null = cjson.null

local function encode(v, indent, depth)
  if type(v) ~= "table" then
    -- cjson escapes every "/" as "\/"; each such pair is one escaped slash, so undo it
    if type(v) == "string" then return (cjson.encode(v):gsub("\\/", "/")) end
    return cjson.encode(v)
  end
  local pad, pad1 = "", ""
  if indent then pad, pad1 = "\n" .. ("  "):rep(depth), "\n" .. ("  "):rep(depth + 1) end
  local parts = {}
  if getmetatable(v) == ARRAY then
    for i = 1, #v do parts[i] = pad1 .. encode(v[i], indent, depth + 1) end
    if #parts == 0 then return "[]" end
    return "[" .. concat(parts, ",") .. pad .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  for i, k in ipairs(keys) do
    local x = v[k]
    if x == nil then x = v[tonumber(k)] end
    parts[i] = pad1 .. encode(k) .. (indent and ": " or ":") .. encode(x, indent, depth + 1)
  end
  if #parts == 0 then return "{}" end
  return "{" .. concat(parts, ",") .. pad .. "}"
end

--- One JSON document (keys sorted, so output is stable), indented.
function _M.json(v)
  return encode(v, true, 0) .. "\n"
end

-- Tokens ----------------------------------------------------------------------------

local NULLABLE = { "accessTokenLastUsedAt", "accessTokenLastRenewedAt", "name", "identityUAClientSecretId" }

--- A token record for JSON output: every field the server sent (nulls restored) plus the
-- derived `status` and `expiresAt` (ISO-8601, or null when it never expires or is unknown).
function _M.token_json(t, now)
  local o = {}
  for k, v in pairs(t) do o[k] = v end
  for _, k in ipairs(NULLABLE) do if o[k] == nil then o[k] = cjson.null end end
  o.status = status.token_status(t, now)
  local exp = status.expires_at(t)
  o.expiresAt = exp and _M.time(exp, true) or cjson.null
  return o
end

--- "6/50" for a token with a use limit, "6" without.
function _M.uses(t)
  local n, limit = t.accessTokenNumUses or 0, t.accessTokenNumUsesLimit or 0
  if limit > 0 then return ("%d/%d"):format(n, limit) end
  return ("%d"):format(n)
end

--- The expiry column: a time, "never" or "unknown".
function _M.expiry(t)
  local exp, why = status.expires_at(t)
  if exp then return _M.time(exp) end
  return why
end

return _M
