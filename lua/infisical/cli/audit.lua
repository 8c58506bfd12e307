--- `infisical-tokens audit`: per identity (given, or every one of an organisation with
-- `--org`), counts of its tokens by status and the findings an operator should look at
-- (the summary itself is `cli/audit_report.lua`), with a progress line on a terminal.
-- @module infisical.cli.audit

local infisical = require "infisical"
local args = require "infisical.cli.args"
local out = require "infisical.cli.output"
local report = require "infisical.cli.audit_report"
local help = require "infisical.cli.help"
local common = require "infisical.cli.common"
local core = require "infisical.core"
local pace = require "infisical.pace"
local options = require "infisical.options"
local status = require "infisical.status"

local ipairs, tostring, pcall, type = ipairs, tostring, pcall, type

local _M = {}

local OK, FINDINGS, ERRORS = common.OK, common.FINDINGS, common.ERRORS
local say, usage_fail, err_text, describe = common.say, common.usage_fail, common.err_text,
  common.describe

local stdout, stderr = io.stdout, io.stderr

local FORMATS = common.FORMATS

local SPEC = { ["from-file"] = "value", format = "value", concurrency = "value", ["page-size"] = "value",
  ["no-header"] = "flag", org = "value", ["unused-days"] = "value", ["max-age"] = "value" }
_M.SPEC = SPEC

-- audit --org reads the organisation's identities this many a request (the server takes up
-- to 20000; 1000 keeps a page well under the library's max_body and the requests few).
local ORG_PAGE = help.ORG_PAGE

local function is_tty(fd)
  local ok = os.execute("test -t " .. fd)
  return ok == true or ok == 0
end

--- audit, step 1: the arguments. Returns the settings, or nil and the exit status.
local function audit_parse(argv, first)
  local cmd = "audit"
  local o, pos = args.parse(cmd, argv, first, SPEC)
  if not o then return nil, usage_fail(pos) end
  if o.help then stdout:write(help.audit); return nil, OK end
  common.quiet = o.quiet == true
  local now, u = common.get_now(cmd, o)
  if not now then return nil, usage_fail(u) end
  local fmt
  fmt, u = common.check_format(cmd, o, FORMATS)
  if not fmt then return nil, usage_fail(u) end
  local conc, ps
  conc, u = args.int(cmd, o, "concurrency", 1, 64)
  if u then return nil, usage_fail(u) end
  ps, u = args.int(cmd, o, "page-size", options.range("page_size"))
  if u then return nil, usage_fail(u) end
  local ud
  ud, u = args.int(cmd, o, "unused-days", 0, 36500)
  if u then return nil, usage_fail(u) end
  local max_age
  if o["max-age"] then
    max_age = status.parse_duration(o["max-age"])
    if not max_age then
      return nil, usage_fail(args.usage(cmd, "--max-age takes a duration like 90d, 12h, 90m or 3600"))
    end
  end
  local a = { cmd = cmd, o = o, now = now, fmt = fmt, page_size = ps,
    concurrency = conc or options.default("concurrency", options.MANY),
    unused_days = ud or report.UNUSED_DAYS, max_age = max_age }
  if o.org ~= nil then
    -- the organisation's identities are the whole input: ids beside them are refused
    -- rather than guessed at (added? a subset?); `identities --org ORG --token-auth`
    -- lists the ids to choose from
    if #pos > 0 or o["from-file"] then
      return nil, usage_fail(args.usage(cmd, "--org audits every identity of the organisation:"
        .. " give identity ids ('-', --from-file) or --org, not both"))
    end
    u = common.check_org(cmd, o.org)
    if u then return nil, usage_fail(u) end
    a.org = o.org
    return a
  end
  if #pos == 0 and not o["from-file"] then
    return nil, usage_fail(args.usage(cmd, "missing IDENTITY_ID (give identity ids, '-' to read them"
      .. " from standard input, --from-file FILE, or --org ORG_ID for a whole organisation)"))
  end
  local ids, status_code = common.collect_ids(cmd, "identity", "IDENTITY_ID", o, pos)
  if not ids then return nil, status_code end
  a.ids = ids
  return a
end

--- The progress line on stderr (a terminal only, not with -q), shown once the run has
-- taken a second; rewritten in place, cleared at the end.
local function new_progress()
  local p = { on = not common.quiet and is_tty(2), started = core.monotime(), shown = false, len = 0 }
  function p.show(text)
    if not p.on or not (p.shown or core.monotime() - p.started > 1) then return end
    p.shown = true
    -- a shorter line than the last one clears what is left of it
    stderr:write("\r", text, #text < p.len and "\27[K" or "")
    p.len = #text
  end
  function p.clear()
    if p.shown then stderr:write("\r\27[K") end
    p.shown, p.len = false, 0
  end
  return p
end

-- Whether a membership's identity uses Universal Auth (its client secrets are audited).
local function uses_ua(m)
  for _, name in ipairs(infisical.auth_methods(m)) do
    if name == "universal-auth" then return true end
  end
  return false
end

-- A client secret route's answer for an identity without Universal Auth.
local function no_ua(err)
  return core.is_error(err) and err.kind == "http" and err.status == 400
    and type(err.message) == "string" and err.message:find("does not have universal auth", 1, true) ~= nil
end

-- A token route's answer for an identity without Token Auth.
local function no_token_auth(err)
  return core.is_error(err) and err.kind == "http" and err.status == 400
    and type(err.message) == "string" and err.message:lower():find("does not have token auth", 1, true) ~= nil
end

--- audit --org, step 2a: the organisation's identities, in the server's order; the ones
-- without Token Auth become skipped results. Returns results and the ids to audit, or nil
-- and the exit status (reported: nothing is printed on stdout after this failure).
local function discover(a, client, progress)
  local results, ids = {}, {}
  local ok, err = pcall(function()
    local seen, n = {}, 0
    for m in client:each_identity(a.org, { page_size = ORG_PAGE }) do
      n = n + 1
      local id = m.identity.id
      local r = seen[id]
      if r then
        -- one identity under two memberships (a server's duplicate): one row, audited
        -- once, when either says it has Token Auth
        if not r.token_auth and infisical.uses_token_auth(m) then r.token_auth = true; ids[#ids + 1] = id end
        r.ua = r.ua or uses_ua(m)
        r.skipped = not (r.token_auth or r.ua) or nil
      else
        r = { id = id, name = m.identity.name, auth_methods = infisical.auth_methods(m),
          token_auth = infisical.uses_token_auth(m), ua = uses_ua(m) }
        if r.token_auth then ids[#ids + 1] = r.id end
        if not (r.token_auth or r.ua) then r.skipped = true end
        results[#results + 1] = r
        seen[id] = r
      end
      -- a full page read: the next one is asked for now (the server's wait is there)
      if n % ORG_PAGE == 0 then
        progress.show(("audit: reading the organisation's identities: %d"):format(n))
      end
    end
  end)
  progress.clear()
  if not ok then
    say("audit --org %s: %s", a.org, describe(err))
    common.advise({ err })
    return nil, common.fail_status(err)
  end
  return results, ids
end

--- audit, step 2: every identity's tokens summed up (or its error), in input order, with
-- a progress line on a terminal. Returns the results, or nil and the exit status.
local function audit_fetch(a)
  local client = common.make_client(a.cmd, a.o)
  if not client then return nil, ERRORS end
  local progress = new_progress()
  local results, index, ids = {}, {}, a.ids
  if a.org then
    local rc
    results, rc = discover(a, client, progress)
    if not results then client:close(); return nil, rc end
    ids = rc
    a.ids = ids
    for i, r in ipairs(results) do index[r.id] = i end
  else
    for i, id in ipairs(ids) do index[id] = i; results[i] = { id = id } end
  end
  local now = a.now
  local limited = 0
  local function take(id, tokens, err)
    local r = results[index[id]]
    if err and err.kind ~= "truncated" then
      r.err, r.error_text = err, err_text(err)
      r.short_text = err.status and ("HTTP %d %s: %s"):format(err.status, tostring(err.error or ""),
        type(err.message) == "string" and err.message or "") or (err.kind .. ": " .. tostring(err.message))
      if err.status == 429 then limited = limited + 1 end
    else
      r.summary = report.summarize(tokens or (err and err.tokens) or {}, now, err ~= nil, a.server)
    end
  end
  local started, done, total, what = core.monotime(), 0, #ids, nil
  local function tick()
    done = done + 1
    -- the library's pauses for the server's rate limit, on every path (pages, logins and
    -- the concurrent token requests)
    local paused = pace.paused(client)
    progress.show(report.progress_line{ done = done, total = total, elapsed = core.monotime() - started,
      pauses = paused.n, waited = paused.seconds, limited = limited, what = what })
  end
  if #ids > 0 then
    -- what the server enforces (its token-lifetime ceiling, whether it records use), once
    local sv, serr = client:server_info()
    if not sv then
      say("audit: %s", err_text(serr))
      common.advise({ serr })
      client:close()
      return nil, common.fail_status(serr)
    end
    a.server = sv
    -- list_many's streaming form: a result per identity as it completes. Refused
    -- credentials stop it: every other request would be refused too (an organisation's
    -- thousands of them), so the identities not done yet are reported as not tried.
    local iter, st, ctl, run = client:stream_many(ids, { partial = true, page_size = a.page_size,
      concurrency = a.concurrency })
    for id, tokens, err in iter, st, ctl, run do
      take(id, tokens, err); tick()
      if err and core.is_error(err) and err.kind == "auth" then
        a.stopped = true
        break
      end
    end
    run:close()   -- (what `break` does by itself on Lua 5.4)
  end
  -- the client secrets: of the organisation's Universal Auth identities, or of every
  -- identity given (an answer "no Universal Auth" is no error then), one request each
  local secret_ids = {}
  for _, r in ipairs(results) do
    if (a.org and r.ua) or (not a.org and not (r.err and r.err.kind ~= "http")) then
      secret_ids[#secret_ids + 1] = r.id
    end
  end
  if #secret_ids > 0 and not a.stopped then
    -- the progress line's second phase: the client secrets, one request per identity
    progress.clear()
    started, done, total, what = core.monotime(), 0, #secret_ids, "client secrets of"
    if not a.server then
      local sv, serr = client:server_info()
      if not sv then
        say("audit: %s", err_text(serr))
        common.advise({ serr })
        client:close()
        return nil, common.fail_status(serr)
      end
      a.server = sv
    end
    -- the same engine, concurrency and pacing as the tokens' (one request per identity)
    local iter, st, ctl, run = client:stream_many_client_secrets(secret_ids, { concurrency = a.concurrency })
    for id, list, err in iter, st, ctl, run do
      local r = results[index[id]]
      if list then
        r.secrets = report.summarize_secrets(list, now, a.unused_days, a.max_age)
        -- given by id: an identity with client secrets but no Token Auth is no error
        if r.err and no_token_auth(r.err) then r.err, r.error_text, r.short_text = nil, nil, nil end
      elseif not (not a.org and no_ua(err)) then
        if not r.err then take(id, nil, err) end
        if core.is_error(err) and err.kind == "auth" then a.stopped = true end
      end
      tick()
      if a.stopped then break end
    end
    run:close()
  end
  if #ids > 0 or #secret_ids > 0 then
    if a.stopped then
      for _, r in ipairs(results) do
        if not r.summary and not r.secrets and not r.err and not r.skipped then
          r.not_tried = true
          r.err = { kind = "not_tried", message = "not tried: the server refused the credentials" }
          r.error_text, r.short_text = r.err.message, r.err.message
        end
      end
    end
  end
  progress.clear()
  client:close()
  return results
end

--- audit, step 3: the report in the chosen format, the errors on stderr; returns the
-- exit status.
local function audit_render(a, results)
  local ids, now, o = a.ids, a.now, a.o
  local findings, errors, skipped, errs = 0, 0, 0, {}
  for _, r in ipairs(results) do
    if r.err then errors = errors + 1; errs[#errs + 1] = r.err
    elseif r.skipped then skipped = skipped + 1
    elseif report.has_findings(r) then findings = findings + 1 end
  end
  if a.fmt == "json" then
    stdout:write(out.json(report.json(results, now, a.org)))
  elseif a.fmt == "csv" then
    local rows = {}
    for i, r in ipairs(results) do
      local s = r.summary
      if r.err then
        rows[i] = { r.id, "", "", "", "", "", "", "", "", "", r.error_text }
      elseif s then
        rows[i] = { r.id, s.total, s.counts.active, s.counts.expired, s.counts.exhausted, s.counts.revoked,
          s.use_recorded and #s.never_used or "n/a", s.use_recorded and #s.near_limit or "n/a",
          #s.expiring_soon, tostring(s.truncated), "" }
      else
        rows[i] = { r.id, "", "", "", "", "", "", "", "", "", "" }
      end
      local row = rows[i]
      if a.org then
        -- --org adds its columns after the first eleven, the same in both forms
        row[12], row[13], row[14] = r.name, table.concat(r.auth_methods or {}, " "),
          r.skipped and "true" or "false"
      end
      -- then the client secrets' (empty for an identity without Universal Auth)
      local cs, n = not r.err and r.secrets, #row
      if cs then
        row[n + 1], row[n + 2], row[n + 3], row[n + 4] = cs.total, cs.counts.active,
          cs.counts.expired, cs.counts.exhausted
        row[n + 5], row[n + 6], row[n + 7], row[n + 8], row[n + 9] = #cs.never_expires,
          #cs.unused, #cs.too_old, #cs.near_limit, #cs.expired
      else
        for j = n + 1, n + 9 do row[j] = "" end
      end
    end
    local head = { "identity_id", "tokens", "active", "expired", "exhausted", "revoked",
      "never_used", "near_limit", "expiring_soon", "truncated", "error" }
    if a.org then head[12], head[13], head[14] = "name", "auth_methods", "skipped" end
    for _, h in ipairs{ "client_secrets", "secrets_active", "secrets_expired", "secrets_exhausted",
      "secrets_never_expire", "secrets_unused", "secrets_too_old", "secrets_near_limit",
      "secrets_expired_not_revoked" } do head[#head + 1] = h end
    stdout:write(out.csv(head, rows, o["no-header"]))
  else
    local text, dropped = report.table(results, o["no-header"], a.org ~= nil, common.terminal_width())
    stdout:write(text)
    common.dropped_note(dropped)
    if not o["no-header"] then
      local audited = #results - skipped   -- Token Auth, Universal Auth or both
      stdout:write(("\n%d identit%s audited at %s: %d with findings, %d with errors"):format(audited,
        audited == 1 and "y" or "ies", out.time(now, true), findings, errors))
      if a.org then
        stdout:write(("; %d skipped (no Token Auth or Universal Auth) in organisation %s"):format(skipped,
          out.clean(a.org)))
      end
      stdout:write("\n")
    end
  end
  if a.server and a.server.counts_uses == false then say("%s", report.NO_USE_NOTE) end
  local not_tried = 0
  for _, r in ipairs(results) do
    if r.not_tried then not_tried = not_tried + 1
    elseif r.err then say("audit %s: %s", r.id, r.error_text) end
  end
  if not_tried > 0 then
    say("stopped at the refused credentials: %d more identit%s not tried", not_tried,
      not_tried == 1 and "y" or "ies")
  end
  common.advise(errs)
  if errors > 0 then return common.worst(ERRORS, errs) end
  if findings > 0 then return FINDINGS end
  return OK
end

--- Runs the subcommand; returns the exit status.
function _M.main(argv, first)
  local a, rc = audit_parse(argv, first)
  if not a then return rc end
  local results, rc2 = audit_fetch(a)
  if not results then return rc2 end
  return audit_render(a, results)
end

return _M
