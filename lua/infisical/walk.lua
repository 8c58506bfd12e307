--- The paging walk over one identity's tokens, as a state machine that any driver
-- (a plain loop, an iterator, a concurrent scheduler) can run:
--
--     local w = walk.new(identity_id, opts)
--     while true do
--       local offset, limit = w:next_request()
--       if not offset then break end
--       local accepted = w:feed(page)        -- new, filtered tokens of that page
--     end
--     if w.truncated then ... end
--
-- The server's offset is capped at 100 and pages are ordered by `updatedAt` with no
-- tie-breaker, so (1) at most 200 tokens are reachable and a full page at that wall
-- means "maybe more": reported, never swallowed; (2) rows can shift between pages:
-- a token id is never accepted twice in one walk.
-- @module infisical.walk

local setmetatable = setmetatable
local core = require "infisical.core"

local MAX_OFFSET, MAX_LIMIT = 100, 100
local WALL = MAX_OFFSET + MAX_LIMIT

local _M = {}
local Walk = {}
Walk.__index = Walk

--- opts: page_size (1..100), filter (a predicate or nil), partial (boolean).
function _M.new(identity_id, page_size, filter, partial)
  return setmetatable({
    identity_id = identity_id,
    offset = 0,
    limit = page_size,
    filter = filter,
    partial = partial,
    seen = {},
    fetched = 0,     -- rows received, duplicates included
    pages = 0,
    done = false,
    truncated = false,
  }, Walk)
end

--- The next page to ask for, or nil when the walk is over.
function Walk:next_request()
  if self.done then return nil end
  return self.offset, self.limit
end

--- Takes one page (`{ tokens = {...} }`); returns the array of tokens it adds.
function Walk:feed(page)
  local rows = page.tokens
  local n = #rows
  local out, seen, filter = {}, self.seen, self.filter
  self.pages = self.pages + 1
  self.fetched = self.fetched + n
  for i = 1, n do
    local t = rows[i]
    local id = t.id
    if not seen[id] then
      seen[id] = true
      if filter == nil or filter(t) then out[#out + 1] = t end
    end
  end
  local reached = self.offset + self.limit
  if n < self.limit then
    self.done = true                          -- a short page is the last page
  elseif reached >= WALL then
    self.done, self.truncated = true, true    -- full page at the wall: maybe more
  elseif reached > MAX_OFFSET then
    -- The next offset is past what the server accepts: ask for the last window the
    -- server can give; the overlap is dropped by the id check above.
    self.offset, self.limit = MAX_OFFSET, MAX_LIMIT
  else
    self.offset = reached
  end
  return out
end

--- The error that reports a walk stopped at the 200-token wall.
function Walk:truncated_error(tokens)
  return core.error{
    kind = "truncated",
    message = ("identity %s has %d or more tokens; the API lists only the first %d")
      :format(self.identity_id, WALL, WALL),
    identity_id = self.identity_id,
    tokens = tokens,
  }
end

_M.WALL = WALL
return _M
