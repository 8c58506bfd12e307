--- The audit summary of infisical-tokens: per identity, counts by status and the findings
-- an operator should look at.
-- @module infisical.cli.audit_report

local status = require "infisical.status"
local client_secrets = require "infisical.client_secrets"
local out = require "infisical.cli.output"

local ipairs, tostring, type, floor = ipairs, tostring, type, math.floor
local concat = table.concat

local _M = {}

-- A count of a token record: a number as it is, absent as `default`, anything else nil.
local function number(v, default)
  if v == nil then return default end
  if type(v) == "number" and v == v then return v end
  return nil
end

_M.EXPIRING_WITHIN = 7 * 86400   -- "expiring soon"
_M.NEAR_LIMIT = 0.9              -- "near its use limit": 90% of the uses spent

--- Summarizes one identity's tokens at `now`.
-- Findings are about tokens the server still accepts (status "active"): one never used
-- (a credential handed out but not in use), one within 10% of its use limit, one
-- expiring within 7 days; and a list cut at the 200-token wall (tokens unseen).
-- `server` (the client's `server_info()`) gives the ceiling the statuses use; on a server
-- that does not record use (`counts_uses == false`, servers of 2026) "never used" and
-- "near its use limit" cannot be told: `use_recorded` is false and both stay empty.
-- @return { total, counts = {status -> n}, never_used = {ids}, near_limit = {ids}, expiring_soon = {ids}, truncated = bool, findings = n, use_recorded = bool }
function _M.summarize(tokens, now, truncated, server)
  local s = {
    total = #tokens,
    counts = { active = 0, expired = 0, exhausted = 0, revoked = 0 },
    never_used = out.array(), near_limit = out.array(), expiring_soon = out.array(),
    truncated = truncated == true,
    use_recorded = not (type(server) == "table" and server.counts_uses == false),
  }
  for _, t in ipairs(tokens) do
    local st = status.token_status(t, now, server)
    s.counts[st] = s.counts[st] + 1
    if st == "active" then
      -- counts the server sent as something else than numbers are not guessed at
      local uses, limit = number(t.accessTokenNumUses, 0), number(t.accessTokenNumUsesLimit, 0)
      if s.use_recorded and t.accessTokenLastUsedAt == nil and uses == 0 then
        s.never_used[#s.never_used + 1] = t.id
      end
      if s.use_recorded and limit and uses and limit > 0 and uses >= _M.NEAR_LIMIT * limit then
        s.near_limit[#s.near_limit + 1] = t.id
      end
      local exp = status.expires_at(t, server)
      if type(exp) == "number" and exp - now <= _M.EXPIRING_WITHIN then
        s.expiring_soon[#s.expiring_soon + 1] = t.id
      end
    end
  end
  s.findings = #s.never_used + #s.near_limit + #s.expiring_soon + (s.truncated and 1 or 0)
  return s
end

_M.UNUSED_DAYS = 30   -- a client secret never used and older than this is "unused"

--- Summarizes one identity's Universal Auth client secrets at `now` (the server lists
-- only those not revoked). Findings: a secret that never expires (TTL 0 and no use
-- limit), one never used and older than `unused_days`, one older than `max_age` seconds
-- (when given), one within 10% of its use limit, and one expired but not revoked (the
-- server revokes it only when someone tries to log in with it).
-- @return { total, counts = {status -> n}, never_expires, unused, too_old, near_limit, expired = {ids}, findings = n }
function _M.summarize_secrets(list, now, unused_days, max_age)
  local s = { total = #list, counts = { active = 0, expired = 0, exhausted = 0, revoked = 0 },
    never_expires = out.array(), unused = out.array(), too_old = out.array(),
    near_limit = out.array(), expired = out.array() }
  local unused_cut = now - (unused_days or _M.UNUSED_DAYS) * 86400
  for _, c in ipairs(list) do
    local st = client_secrets.status(c, now)
    s.counts[st] = s.counts[st] + 1
    local created = status.parse_time(c.createdAt)
    if st == "active" then
      local uses, limit = number(c.clientSecretNumUses, 0), number(c.clientSecretNumUsesLimit, 0)
      if client_secrets.never_expires(c) then s.never_expires[#s.never_expires + 1] = c.id end
      if uses == 0 and created and created <= unused_cut then s.unused[#s.unused + 1] = c.id end
      if max_age and created and created <= now - max_age then s.too_old[#s.too_old + 1] = c.id end
      if limit and uses and limit > 0 and uses >= _M.NEAR_LIMIT * limit then
        s.near_limit[#s.near_limit + 1] = c.id
      end
    elseif st == "expired" then
      s.expired[#s.expired + 1] = c.id
    end
  end
  s.findings = #s.never_expires + #s.unused + #s.too_old + #s.near_limit + #s.expired
  return s
end

--- The client secret findings of a summary in a few words: "2 never expire, 1 unused",
-- "none", or "-" for an identity without Universal Auth.
function _M.secret_findings_text(s)
  if not s then return "-" end
  local parts = {}
  local function add(list, what) if #list > 0 then parts[#parts + 1] = #list .. " " .. what end end
  add(s.never_expires, "never expire")
  add(s.unused, "unused")
  add(s.too_old, "too old")
  add(s.near_limit, "near limit")
  add(s.expired, "expired")
  if #parts == 0 then return "none" end
  return concat(parts, ", ")
end

--- The note under the table (and on stderr for the other formats) when the server does not
-- record use: why NEVER-USED and NEAR-LIMIT say n/a.
_M.NO_USE_NOTE = "NEVER-USED and NEAR-LIMIT: n/a: this server does not record token use (its"
  .. " /api/status states maxIdentityAccessTokenTTL: Infisical since 2026-04), so no token can be"
  .. " called unused or near its use limit"

--- What a skipped identity (no Token Auth: its tokens cannot be listed) shows as RESULT.
function _M.skip_reason(r)
  local m = r.auth_methods or {}
  if #m == 0 then return "skipped: no auth method" end
  return "skipped: no Token Auth or Universal Auth (" .. concat(m, ",") .. ")"
end

--- Whether an audited identity has findings (its tokens' or its client secrets').
function _M.has_findings(r)
  return (r.summary and r.summary.findings > 0) or (r.secrets and r.secrets.findings > 0) or false
end

--- The audit as an aligned table (`results` in input order: { id, summary | nil, err },
-- or, from `--org`, also { name, auth_methods, skipped }). `org`: a NAME column after
-- IDENTITY. `width`: the terminal's, which the NAME and RESULT columns give way to.
function _M.table(results, no_header, org, width)
  local rows = {}
  for _, r in ipairs(results) do
    local s, cs = r.summary, r.secrets
    local row
    local sec = { cs and tostring(cs.total) or "-", _M.secret_findings_text(cs) }
    if r.err then
      row = { r.id, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "error: " .. (r.short_text or r.error_text) }
    elseif s or cs then
      local result = _M.has_findings(r) and "findings" or "ok"
      if s and s.truncated then result = "200 or more tokens (the server shows 200)" end
      if s then
        local nu, nl = tostring(#s.never_used), tostring(#s.near_limit)
        if not s.use_recorded then nu, nl = "n/a", "n/a" end
        row = { r.id, tostring(s.total), tostring(s.counts.active), tostring(s.counts.expired),
          tostring(s.counts.exhausted), tostring(s.counts.revoked), nu, nl, tostring(#s.expiring_soon),
          sec[1], sec[2], result }
      else
        row = { r.id, "-", "-", "-", "-", "-", "-", "-", "-", sec[1], sec[2], result }
      end
    else
      row = { r.id, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", _M.skip_reason(r) }
    end
    if org then table.insert(row, 2, r.name or "-") end
    rows[#rows + 1] = row
  end
  local head = { "IDENTITY", "TOKENS", "ACTIVE", "EXPIRED", "EXHAUSTED", "REVOKED",
    "NEVER-USED", "NEAR-LIMIT", "EXPIRING<7D", "SECRETS", "SECRET FINDINGS", "RESULT" }
  local right = { false, true, true, true, true, true, true, true, true, true, false }
  if org then
    table.insert(head, 2, "NAME")
    table.insert(right, 2, false)
  end
  -- on a terminal: the counts by status left out (revoked first) while needed, then the
  -- client secrets' columns, then the NAME and RESULT texts cut
  local k = org and 1 or 0
  return out.table(head, rows, right, no_header, { width = width,
    shrink = org and { 2, #head } or { #head },
    drop = { 6 + k, 5 + k, 4 + k, 3 + k, 2 + k, 10 + k, 11 + k } })
end

--- The audit as one JSON-ready value. `org` (from `--org`): the organisation's id; each
-- record then also has name, authMethods and skipped, and the document identitiesSkipped.
function _M.json(results, now, org)
  local list = out.array()
  local findings, errors, skipped = 0, 0, 0
  for _, r in ipairs(results) do
    local s = r.summary
    local o = { identityId = r.id }
    if org then
      o.name = r.name or out.null
      o.authMethods = out.array(r.auth_methods or {})
      o.skipped = r.skipped == true
    end
    local cs = r.secrets
    if not r.err and cs then
      o.clientSecrets = { total = cs.total, counts = cs.counts, neverExpires = cs.never_expires,
        unused = cs.unused, tooOld = cs.too_old, nearLimit = cs.near_limit, expired = cs.expired,
        findings = cs.findings }
    elseif not r.err and not r.skipped and (s or org) then
      o.clientSecrets = out.null
    end
    if r.err then
      local e = r.err
      o.error = { kind = e.kind, status = e.status or out.null, error = e.error or out.null,
        message = type(e.message) == "string" and e.message or r.error_text, reqId = e.req_id or out.null }
      errors = errors + 1
    elseif s or cs then
      if _M.has_findings(r) then findings = findings + 1 end
      o.findings = (s and s.findings or 0) + (cs and cs.findings or 0)
    else
      skipped = skipped + 1
    end
    if s and not r.err then
      o.tokens, o.counts, o.truncated = s.total, s.counts, s.truncated
      o.neverUsed, o.nearLimit, o.expiringSoon = s.never_used, s.near_limit, s.expiring_soon
      o.useRecorded = s.use_recorded
      if not s.use_recorded then o.neverUsed, o.nearLimit = out.null, out.null end
    end
    list[#list + 1] = o
  end
  local doc = { now = out.time(now, true), identities = list, identitiesWithFindings = findings,
    identitiesWithErrors = errors }
  if org then doc.org, doc.identitiesSkipped = org, skipped end
  return doc
end

--- A duration for the progress line: "45s", "3m05s", "2h10m".
function _M.duration(sec)
  sec = floor(sec + 0.5)
  if sec < 60 then return sec .. "s" end
  if sec < 3600 then return ("%dm%02ds"):format(floor(sec / 60), sec % 60) end
  return ("%dh%02dm"):format(floor(sec / 3600), floor(sec % 3600 / 60))
end

--- The progress line's text. `p`: done, total (identities to audit), what (the phase:
-- nil for the tokens, "client secrets of" after them), elapsed (seconds
-- since the first token request), pauses and waited (the library's pauses for the
-- server's rate limit, infisical.pace's count, and their length), limited (identities
-- given up on with HTTP 429). The estimate of the time left is the rate so far applied to
-- the identities left; none before the first identity is done, nor after the last.
function _M.progress_line(p)
  local parts = { ("audit: %s%d/%d identities"):format(p.what and (p.what .. " ") or "", p.done, p.total) }
  if (p.pauses or 0) > 0 then
    parts[#parts + 1] = ("paused %dx for the server (%s)"):format(p.pauses, _M.duration(p.waited or 0))
  end
  if (p.limited or 0) > 0 then
    parts[#parts + 1] = ("%d refused by the rate limit"):format(p.limited)
  end
  if p.done > 0 and p.done < p.total and p.elapsed > 0 then
    parts[#parts + 1] = "about " .. _M.duration(p.elapsed / p.done * (p.total - p.done)) .. " left"
  end
  return concat(parts, ", ")
end

return _M
