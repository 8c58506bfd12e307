--- Redaction: the one place that removes a client's secrets (bearer token, Universal
-- Auth client secret and access tokens) from what a server sent back, before any of it
-- reaches an error object, a log line or a caller.
--
-- The rules:
--
-- * Every occurrence of a secret in a string becomes `[REDACTED]`.
-- * A piece of a secret of `MIN_SECRET` (8) bytes or more at either edge of a string is
--   a secret too: the string may have been cut through it (our own cap of server
--   messages at 512 bytes, which runs after this redaction, a transport that quotes the
--   first bytes of a header, a server that cut its own message). Before a trailing
--   `...` (the cap's mark) counts as an edge.
-- * Strings are redacted at any depth of the error's tables (keys too), down to the JSON
--   decoder's own nesting limit, so a secret echoed deep inside `details` goes as well.
--   The error's own `kind` is never touched: retries are decided on it.
-- * A secret shorter than `MIN_SECRET` bytes is not redacted at all. Replacing a
--   one-letter test token such as `"t"` mangles every URL and word of the message, and
--   so short a secret protects nothing anyway (Infisical's tokens are JWTs of hundreds
--   of bytes, client secrets 64 hex digits).
-- @module infisical.redact

local core = require "infisical.core"

local type, next, rawset, find, sub = type, next, rawset, string.find, string.sub

local _M = {}

_M.MIN_SECRET = 8
_M.MARK = "[REDACTED]"
local MIN, MARK = _M.MIN_SECRET, _M.MARK
-- error object -> details -> the decoded JSON: the decoder never nests deeper
local MAX_DEPTH = core.json_max_depth + 2

--- The longest piece of `secret` (MIN bytes or more, but not all of it) that `s` ends
-- with: the start of the secret cut off. Returns the position where it begins in `s`.
local function cut_start(s, secret)
  local n, m = #s, #secret
  if n < MIN or m <= MIN then return nil end
  local head = sub(secret, 1, MIN)
  local from = n - m + 2          -- a piece is at most m - 1 bytes long
  if from < 1 then from = 1 end
  local i = find(s, head, from, true)
  while i do
    if n - i + 1 < m and sub(s, i) == sub(secret, 1, n - i + 1) then return i end
    i = find(s, head, i + 1, true)
  end
  return nil
end

--- The longest piece of `secret` (MIN bytes or more, not all of it) that `s` starts
-- with: the end of the secret cut off. Returns that piece's length.
local function cut_end(s, secret)
  local n, m = #s, #secret
  if n < MIN or m <= MIN then return nil end
  local tail = sub(secret, -MIN)
  local best
  local i = find(s, tail, 1, true)
  -- the piece ends where an occurrence of the secret's last MIN bytes ends
  while i and i + MIN - 1 < m do
    local len = i + MIN - 1
    if sub(s, 1, len) == sub(secret, -len) then best = len end
    i = find(s, tail, i + 1, true)
  end
  return best
end

--- Redacts one string: every whole secret, then pieces of one at its edges.
-- @tparam string s
-- @tparam table secrets an array of strings (shorter ones than MIN_SECRET are skipped)
-- @treturn string
function _M.string(s, secrets)
  for i = 1, #secrets do
    local secret = secrets[i]
    if #secret >= MIN then
      local at = find(s, secret, 1, true)
      while at do
        s = sub(s, 1, at - 1) .. MARK .. sub(s, at + #secret)
        at = find(s, secret, at + #MARK, true)
      end
    end
  end
  for i = 1, #secrets do
    local secret = secrets[i]
    if #secret > MIN then
      local len = cut_end(s, secret)
      if len then s = MARK .. sub(s, len + 1) end
      local body, dots = s, ""
      if sub(s, -3) == "..." then body, dots = sub(s, 1, -4), "..." end
      local at = cut_start(body, secret)
      if at then s = sub(body, 1, at - 1) .. MARK .. dots end
    end
  end
  return s
end

--- The secrets worth redacting, from a list that may have holes (nil entries).
local function usable(list, n)
  local out = {}
  for i = 1, n or #list do
    local s = list[i]
    if type(s) == "string" and #s >= MIN then out[#out + 1] = s end
  end
  return out
end
_M.usable = usable

--- Redacts every string reachable from `value` (in place for tables: values and keys),
-- at any depth down to the decoder's limit; an error object's own `kind` is kept.
-- @param value a string, a table (an error object) or anything else (returned as is)
-- @tparam table secrets an array of strings
-- @return the redacted value
function _M.value(value, secrets)
  secrets = usable(secrets)
  if #secrets == 0 then return value end
  if type(value) == "string" then return _M.string(value, secrets) end
  if type(value) ~= "table" then return value end
  local seen = { [value] = true }
  local stack, depths, top = { value }, { 0 }, 1
  while top > 0 do
    local t, depth = stack[top], depths[top]
    stack[top], depths[top], top = nil, nil, top - 1
    local renames
    for k, v in next, t do
      if type(v) == "string" then
        if not (t == value and k == "kind") then
          local nv = _M.string(v, secrets)
          if nv ~= v then rawset(t, k, nv) end
        end
      elseif type(v) == "table" and not seen[v] and depth < MAX_DEPTH then
        seen[v] = true
        top = top + 1
        stack[top], depths[top] = v, depth + 1
      end
      if type(k) == "string" then
        local nk = _M.string(k, secrets)
        if nk ~= k then
          renames = renames or {}
          renames[#renames + 1] = k
          renames[#renames + 1] = nk
        end
      elseif type(k) == "table" and not seen[k] and depth < MAX_DEPTH then
        seen[k] = true
        top = top + 1
        stack[top], depths[top] = k, depth + 1
      end
    end
    -- keys change after the walk of this table: adding keys during `next` is undefined
    if renames then
      for i = 1, #renames, 2 do
        local v = t[renames[i]]
        rawset(t, renames[i], nil)
        rawset(t, renames[i + 1], v)
      end
    end
  end
  return value
end

return _M
