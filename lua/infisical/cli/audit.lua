--- The audit summary of infisical-tokens: per identity, counts by status and the findings
-- an operator should look at.
-- @module infisical.cli.audit

local status = require "infisical.status"
local out = require "infisical.cli.output"

local ipairs, tostring, type = ipairs, tostring, type

local _M = {}

_M.EXPIRING_WITHIN = 7 * 86400   -- "expiring soon"
_M.NEAR_LIMIT = 0.9              -- "near its use limit": 90% of the uses spent

--- Summarizes one identity's tokens at `now`.
-- Findings are about tokens the server still accepts (status "active"): one never used
-- (a credential handed out but not in use), one within 10% of its use limit, one
-- expiring within 7 days; and a list cut at the 200-token wall (tokens unseen).
-- @return { total, counts = {status -> n}, never_used = {ids}, near_limit = {ids},
--   expiring_soon = {ids}, truncated = bool, findings = n }
function _M.summarize(tokens, now, truncated)
  local s = {
    total = #tokens,
    counts = { active = 0, expired = 0, exhausted = 0, revoked = 0 },
    never_used = out.array(), near_limit = out.array(), expiring_soon = out.array(),
    truncated = truncated == true,
  }
  for _, t in ipairs(tokens) do
    local st = status.token_status(t, now)
    s.counts[st] = s.counts[st] + 1
    if st == "active" then
      if t.accessTokenLastUsedAt == nil and (t.accessTokenNumUses or 0) == 0 then
        s.never_used[#s.never_used + 1] = t.id
      end
      local limit = t.accessTokenNumUsesLimit or 0
      if limit > 0 and (t.accessTokenNumUses or 0) >= _M.NEAR_LIMIT * limit then
        s.near_limit[#s.near_limit + 1] = t.id
      end
      local exp = status.expires_at(t)
      if exp and exp - now <= _M.EXPIRING_WITHIN then
        s.expiring_soon[#s.expiring_soon + 1] = t.id
      end
    end
  end
  s.findings = #s.never_used + #s.near_limit + #s.expiring_soon + (s.truncated and 1 or 0)
  return s
end

--- The audit as an aligned table (`results` in input order: { id, summary | nil, err }).
function _M.table(results, no_header)
  local rows = {}
  for _, r in ipairs(results) do
    local s = r.summary
    if s then
      rows[#rows + 1] = { r.id, tostring(s.total), tostring(s.counts.active), tostring(s.counts.expired),
        tostring(s.counts.exhausted), tostring(s.counts.revoked), tostring(#s.never_used),
        tostring(#s.near_limit), tostring(#s.expiring_soon),
        s.truncated and "truncated at the 200-token wall" or (s.findings > 0 and "findings" or "ok") }
    else
      rows[#rows + 1] = { r.id, "-", "-", "-", "-", "-", "-", "-", "-", "error: " .. (r.short_text or r.error_text) }
    end
  end
  return out.table({ "IDENTITY", "TOKENS", "ACTIVE", "EXPIRED", "EXHAUSTED", "REVOKED",
    "NEVER-USED", "NEAR-LIMIT", "EXPIRING<7D", "RESULT" }, rows,
    { false, true, true, true, true, true, true, true, true }, no_header)
end

--- The audit as one JSON-ready value.
function _M.json(results, now)
  local list = out.array()
  local findings, errors = 0, 0
  for _, r in ipairs(results) do
    local s = r.summary
    local o = { identityId = r.id }
    if s then
      o.tokens, o.counts, o.truncated = s.total, s.counts, s.truncated
      o.neverUsed, o.nearLimit, o.expiringSoon = s.never_used, s.near_limit, s.expiring_soon
      o.findings = s.findings
      if s.findings > 0 then findings = findings + 1 end
    else
      local e = r.err
      o.error = { kind = e.kind, status = e.status or out.null, error = e.error or out.null,
        message = type(e.message) == "string" and e.message or r.error_text, reqId = e.req_id or out.null }
      errors = errors + 1
    end
    list[#list + 1] = o
  end
  return { now = out.time(now, true), identities = list, identitiesWithFindings = findings,
    identitiesWithErrors = errors }
end

return _M
