--- Output helpers for infisical-tokens: aligned tables, CSV, JSON, UTC times.
-- @module infisical.cli.output

local cjson = require("cjson").new()   -- private: the host's cjson settings stay untouched
local status = require "infisical.status"

local type, pairs, ipairs, tostring, tonumber, concat, sort, floor, pcall = type, pairs, ipairs,
  tostring, tonumber, table.concat, table.sort, math.floor, pcall
local find, sub, byte, char, format = string.find, string.sub, string.byte, string.char, string.format
local date = os.date

local _M = {}

--- Epoch seconds -> "2024-06-01T11:00Z" (UTC, minutes: the table's form, no space in it
-- so every row has the same fields for awk), "2024-06-01T11:00:00Z" with `iso` (RFC 3339,
-- UTC: the one form of CSV and JSON).
function _M.time(t, iso)
  if type(t) ~= "number" or t ~= t or t == math.huge or t == -math.huge then return nil end
  t = floor(t)
  -- os.date refuses times past its range (year 2^31 and so on): an odd server value
  local ok, s = pcall(date, iso and "!%Y-%m-%dT%H:%M:%SZ" or "!%Y-%m-%dT%H:%MZ", t)
  if not ok then return nil end
  return s
end

--- A server's timestamp in the one form of CSV and JSON (RFC 3339, UTC, `Z`, seconds); one
-- that cannot be read is kept as it is (nil stays nil).
function _M.stamp(v)
  if v == nil then return nil end
  return _M.time(status.parse_time(v), true) or v
end

--- Whether `v` looks like a credential (a JWT, a service token, a long run of token-like
-- characters such as a client secret): such a value given where a file name or an option
-- value goes is never echoed.
function _M.looks_secret(v)
  if type(v) ~= "string" then return false end
  if find(v, "eyJ[%w_-]+%.[%w_-]+") or find(v, "^st%.[%w-]+%.") then return true end
  -- (a mistyped UUID is not one: ids are shown)
  if #v >= 32 and not find(v, "[/\\%s]") and not find(v, "%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-") then
    return true
  end
  return false
end

--- A value from the command line or input, as a message may show it: short ones cleaned
-- and quoted, long ones and credentials by their length only ("a 180-byte value").
-- `max`: the longest value shown (default 40; a file name may be longer).
function _M.show(v, max)
  v = tostring(v)
  if #v <= (max or 40) and not _M.looks_secret(v) then return "'" .. _M.clean(v) .. "'" end
  return ("a %d-byte value"):format(#v)
end

-- Walks s as UTF-8 and rebuilds it with each C0 control or DEL byte replaced by
-- `ctl(byte)`, each C1 control (U+0080..U+009F, which terminals may obey like ESC) by
-- `c1(code point)`, and each byte that is not part of valid UTF-8 by `bad(byte)` (a lone
-- 0x9B is CSI to an 8-bit terminal). Valid text, including other non-ASCII, is kept.
local function scrub(s, ctl, c1, bad)
  if not find(s, "[%z\1-\31\127-\255]") then return s end
  local parts, n, i, len = {}, 0, 1, #s
  while i <= len do
    local j = find(s, "[%z\1-\31\127-\255]", i)
    if not j then n = n + 1; parts[n] = sub(s, i); break end
    if j > i then n = n + 1; parts[n] = sub(s, i, j - 1) end
    local b = byte(s, j)
    local piece, step = nil, 1
    if b < 0x80 then
      piece = ctl(b)
    else
      local need, lo, hi = 0, 0x80, 0xBF
      if b >= 0xC2 and b <= 0xDF then need = 1
      elseif b >= 0xE0 and b <= 0xEF then
        need = 2
        if b == 0xE0 then lo = 0xA0 elseif b == 0xED then hi = 0x9F end
      elseif b >= 0xF0 and b <= 0xF4 then
        need = 3
        if b == 0xF0 then lo = 0x90 elseif b == 0xF4 then hi = 0x8F end
      end
      local ok = need > 0
      for k = 1, need do
        local c = byte(s, j + k)
        if not c or c < (k == 1 and lo or 0x80) or c > (k == 1 and hi or 0xBF) then ok = false; break end
      end
      if not ok then
        piece = bad(b)
      elseif b == 0xC2 and byte(s, j + 1) <= 0x9F then
        piece, step = c1(byte(s, j + 1)), 2
      else
        piece, step = sub(s, j, j + need), need + 1
      end
    end
    n = n + 1; parts[n] = piece
    i = j + step
  end
  return concat(parts)
end

local function qmark() return "?" end

--- Text safe for a terminal: every control character (C0, DEL, C1: what escape sequences
-- are made of) and every byte that is not valid UTF-8 becomes "?". Everything the command
-- prints that came from the server or the user goes through this (or through `csv_field`
-- or the JSON encoder, which make the same guarantee in their own syntax).
function _M.clean(s)
  return scrub(tostring(s), qmark, qmark, qmark)
end

-- CSV keeps LF and TAB (quoted, they are data: a reader gets them back), nothing else.
local function csv_ctl(b)
  if b == 10 or b == 9 then return char(b) end
  return "?"
end

local function width(s)
  return (utf8 and utf8.len(s)) or #s
end

-- The first `n` characters of s (UTF-8 aware when the utf8 library is there).
local function first_chars(s, n)
  if not utf8 then return sub(s, 1, n) end
  local stop = utf8.offset(s, n + 1)
  return stop and sub(s, 1, stop - 1) or s
end

--- An aligned table: `head` is a list of titles, `rows` a list of lists of strings;
-- columns whose index is in `right` are right-aligned; `no_header` leaves the titles out
-- (the widths still count them, so the layout is the same either way).
-- `fit` (optional, for a terminal): { width = N, shrink = { columns }, drop = { columns } }:
-- when the lines would be wider than N, the `drop` columns are left out in that order
-- while even the narrowest layout is too wide, then the `shrink` columns (free text such
-- as names, never ids) are cut, the widest first, down to 8 characters, "~" ending a cut
-- value.
-- @return the text, and the titles of the columns left out (a list, maybe empty)
function _M.table(head, rows, right, no_header, fit)
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
  local cols, dropped = {}, {}
  for c = 1, #head do cols[#cols + 1] = c end
  if fit and fit.width then
    local MIN = 8
    local shrinkable = {}
    for _, c in ipairs(fit.shrink or {}) do shrinkable[c] = true end
    local function floor_w(c) return shrinkable[c] and math.min(w[c], math.max(MIN, width(head[c]))) or w[c] end
    local function total(f)
      local t = 2 * (#cols - 1)
      for _, c in ipairs(cols) do t = t + f(c) end
      return t
    end
    for _, d in ipairs(fit.drop or {}) do
      if total(floor_w) <= fit.width then break end
      for k, c in ipairs(cols) do
        if c == d then table.remove(cols, k); dropped[#dropped + 1] = head[c]; break end
      end
    end
    local t = total(function(c) return w[c] end)
    while t > fit.width do
      local best
      for _, c in ipairs(cols) do
        if shrinkable[c] and w[c] > floor_w(c) and (not best or w[c] > w[best]) then best = c end
      end
      if not best then break end
      local cut = math.min(t - fit.width, w[best] - floor_w(best))
      w[best] = w[best] - cut
      t = t - cut
    end
    for _, r in ipairs(rows) do
      for _, c in ipairs(cols) do
        if width(r[c]) > w[c] then r[c] = first_chars(r[c], w[c] - 1) .. "~" end
      end
    end
  end
  local out = {}
  local function line(r)
    local cells = {}
    for k, c in ipairs(cols) do
      local pad = (" "):rep(w[c] - width(r[c]))
      cells[k] = right[c] and (pad .. r[c]) or (r[c] .. pad)
    end
    out[#out + 1] = (concat(cells, "  "):gsub("%s+$", ""))
  end
  if not no_header then line(head) end
  for _, r in ipairs(rows) do line(r) end
  if #out == 0 then return "", dropped end
  return concat(out, "\n") .. "\n", dropped
end

--- One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF.
function _M.csv_field(v)
  if v == nil then return "" end
  v = scrub(tostring(v), csv_ctl, qmark, qmark)
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

--- CSV text (CRLF line ends): the `head` row unless `no_header`, then `rows`.
function _M.csv(head, rows, no_header)
  local out = {}
  local function line(r)
    local f = {}
    for c = 1, #head do f[c] = _M.csv_field(r[c]) end
    out[#out + 1] = concat(f, ",")
  end
  if not no_header then line(head) end
  for _, r in ipairs(rows) do line(r) end
  if #out == 0 then return "" end
  return concat(out, "\r\n") .. "\r\n"
end

-- JSON ------------------------------------------------------------------------------

--- Marks a Lua table as a JSON array (so an empty one is `[]`, not `{}`).
local ARRAY = {}
function _M.array(t) return setmetatable(t or {}, ARRAY) end
_M.null = cjson.null

local function json_c1(cp) return format("\\u%04x", cp) end
local function json_bad() return "\\ufffd" end

local function encode(v, indent, depth)
  if type(v) ~= "table" then
    -- cjson escapes every "/" as "\/"; each such pair is one escaped slash, so undo it
    if type(v) == "string" then
      -- cjson escapes C0 controls and DEL; C1 controls get the same \u form (lossless) and
      -- bytes that are not UTF-8 become U+FFFD, so the document is valid JSON and safe to cat
      return scrub((cjson.encode(v):gsub("\\/", "/")), qmark, json_c1, json_bad)
    end
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
-- The server's timestamps of a token record: JSON shows them in the one time form.
local STAMPS = { "createdAt", "updatedAt", "accessTokenLastUsedAt", "accessTokenLastRenewedAt" }

--- A token record for JSON output: every field the server sent (nulls restored; its
-- timestamps in RFC 3339 UTC, like everything the command prints) plus the derived
-- `status` and `expiresAt` (null when it never expires or is unknown).
function _M.token_json(t, now, server)
  local o = {}
  for k, v in pairs(t) do o[k] = v end
  for _, k in ipairs(STAMPS) do o[k] = _M.stamp(o[k]) end
  for _, k in ipairs(NULLABLE) do if o[k] == nil then o[k] = cjson.null end end
  o.status = status.token_status(t, now, server)
  local exp = status.expires_at(t, server)
  o.expiresAt = exp and _M.time(exp, true) or cjson.null
  return o
end

--- A count from the server as text: a whole number as such, any other number as Lua
-- writes it (2.5), a string as it is (cleaned where it is printed), anything else as "?"
-- (a server's odd value never stops the output).
function _M.count(v)
  if type(v) == "string" then return v end
  if type(v) ~= "number" or v ~= v then return "?" end
  if v % 1 == 0 and v > -2^53 and v < 2^53 then return format("%d", v) end
  return tostring(v)
end

-- Whether `server` (the client's server_info()) says token records show no use.
local function no_use(server)
  return type(server) == "table" and server.counts_uses == false
end

--- "6/50" for a token with a use limit, "6" without; "?/50" and "?" from a server that
-- does not record use.
function _M.uses(t, server)
  local n, limit = t.accessTokenNumUses, t.accessTokenNumUsesLimit
  if n == nil then n = 0 end
  if limit == nil then limit = 0 end
  if no_use(server) then
    if type(limit) ~= "number" or limit > 0 then return "?/" .. _M.count(limit) end
    return "?"
  end
  if type(limit) ~= "number" or limit > 0 then
    return _M.count(n) .. "/" .. _M.count(limit)
  end
  return _M.count(n)
end

--- The last-used column: a time, "never", or "not recorded" (a server that writes no use).
function _M.last_used(t, server)
  if no_use(server) then return "not recorded" end
  return _M.time(status.parse_time(t.accessTokenLastUsedAt)) or "never"
end

--- The expiry column: a time, "never" or "unknown".
function _M.expiry(t, server)
  local exp, why = status.expires_at(t, server)
  if exp then return _M.time(exp) end
  return why
end

return _M
