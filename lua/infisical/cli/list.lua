--- `infisical-tokens list`: the tokens of one or more identities, filtered, as a table,
-- JSON or CSV; with `--revoke-matching`, revokes what it lists (a dry run without `--yes`).
-- @module infisical.cli.list

local status = require "infisical.status"
local args = require "infisical.cli.args"
local out = require "infisical.cli.output"
local help = require "infisical.cli.help"
local common = require "infisical.cli.common"
local filters = require "infisical.filters"
local options = require "infisical.options"

local ipairs, type, find = ipairs, type, string.find

local _M = {}

local OK, FINDINGS, ERRORS = common.OK, common.FINDINGS, common.ERRORS
local say, usage_fail, err_text = common.say, common.usage_fail, common.err_text

local stdout, stderr = io.stdout, io.stderr

--- Fetches every identity's tokens (partial at the wall), in input order: list_many for
-- several identities, all_tokens for one.
local function fetch_all(client, ids, fopts)
  local results = {}
  if #ids > 1 then
    fopts.concurrency = options.default("concurrency", options.MANY)
    local res, errs = client:list_many(ids, fopts)
    errs = errs or {}
    fopts.concurrency = nil
    for i, id in ipairs(ids) do
      local e, got = errs[id], res[id]
      local tokens
      if not e then tokens = got
      elseif e.kind == "truncated" then tokens = got or e.tokens end
      results[i] = { id = id, tokens = tokens, err = e }
    end
  else
    for i, id in ipairs(ids) do
      local tokens, e = client:all_tokens(id, fopts)
      if not tokens and e and e.kind == "truncated" then tokens = e.tokens end
      results[i] = { id = id, tokens = tokens, err = e }
    end
  end
  return results
end

local SPEC = {
  ["auth-method"] = "list", revoked = "flag", active = "flag", status = "list",
  ["unused-for"] = "value", name = "value", format = "value", ["page-size"] = "value",
  ["revoke-matching"] = "flag", yes = "flag", ["from-file"] = "value", ["no-header"] = "flag",
}
_M.SPEC = SPEC

local function filter_opts(cmd, o, now)
  local f = { now = now, partial = true }
  f.auth_method = o["auth-method"]
  local st = o.status
  if o.revoked and o.active then return nil, args.usage(cmd, "--revoked and --active exclude each other") end
  if (o.revoked or o.active) and st then
    return nil, args.usage(cmd, "--status cannot be combined with --revoked or --active")
  end
  if o.revoked then st = { "revoked" } elseif o.active then st = { "active" } end
  if st then
    for _, s in ipairs(st) do
      if not status.STATUSES[s] then
        return nil, args.usage(cmd, ("unknown status %s (revoked, expired, exhausted or active)"):format(out.show(s)))
      end
    end
    f.status = st
  end
  if o["unused-for"] then
    f.unused_for = status.parse_duration(o["unused-for"])
    if not f.unused_for then
      return nil, args.usage(cmd, "--unused-for takes a duration like 30d, 12h, 90m or 3600")
    end
  end
  if o.name then
    -- a shell glob, matched against the whole name (the library's own `name` options are
    -- a substring and a Lua pattern): a predicate of its own, whatever those become
    local pat = common.glob_pattern(o.name)
    f.where = function(t) return type(t.name) == "string" and find(t.name, pat) ~= nil end
  end
  local ps, u = args.int(cmd, o, "page-size", options.range("page_size"))
  if u then return nil, u end
  f.page_size = ps
  return f
end

local FORMATS = common.FORMATS
local CSV_HEAD = { "identity_id", "id", "name", "status", "expires_at", "uses", "uses_limit",
  "last_used_at", "created_at", "auth_method", "revoked" }

-- The table's columns are the same for one identity or several (scripts cut them).
local TABLE_HEAD = { "IDENTITY", "TOKEN ID", "NAME", "STATUS", "EXPIRES (UTC)", "USES", "LAST USED (UTC)",
  "CREATED (UTC)" }

--- Prints the tokens read. After a failure, an empty result is not printed at all (no
-- CSV header, no `[]`, no "no matching tokens"): it would read as "there are none".
local function print_tokens(fmt, results, now, no_header, failed, sv)
  local all = {}
  for _, r in ipairs(results) do
    for _, t in ipairs(r.tokens or {}) do all[#all + 1] = { r.id, t } end
  end
  if #all == 0 and failed then return end
  if fmt == "json" then
    local list = out.array()
    for i, p in ipairs(all) do list[i] = out.token_json(p[2], now, sv) end
    stdout:write(out.json(list))
  elseif fmt == "csv" then
    local rows = {}
    for i, p in ipairs(all) do
      local t = p[2]
      local exp = status.expires_at(t, sv)
      rows[i] = { p[1], t.id, t.name, status.token_status(t, now, sv), exp and out.time(exp, true),
        t.accessTokenNumUses, t.accessTokenNumUsesLimit, out.stamp(t.accessTokenLastUsedAt),
        out.stamp(t.createdAt),
        filters.auth_method(t),
        t.isAccessTokenRevoked and "true" or "false" }
    end
    stdout:write(out.csv(CSV_HEAD, rows, no_header))
  else
    local rows = {}
    for i, p in ipairs(all) do
      local t = p[2]
      rows[i] = { p[1], t.id, t.name or "-", status.token_status(t, now, sv), out.expiry(t, sv), out.uses(t, sv),
        out.last_used(t, sv),
        out.time(status.parse_time(t.createdAt)) or "unknown" }
    end
    if #rows == 0 then
      common.note("no matching tokens")
    else
      -- on a terminal: fit its width (CREATED, LAST USED, IDENTITY, USES, EXPIRES left
      -- out in that order while needed, then NAME cut)
      local text, dropped = out.table(TABLE_HEAD, rows, { [6] = true }, no_header,
        { width = common.terminal_width(), shrink = { 3 }, drop = { 8, 7, 1, 6, 5 } })
      stdout:write(text)
      common.dropped_note(dropped)
    end
  end
end

--- Runs the subcommand; returns the exit status.
function _M.main(argv, first)
  local cmd = "list"
  local o, pos = args.parse(cmd, argv, first, SPEC)
  if not o then return usage_fail(pos) end
  if o.help then stdout:write(help.list); return OK end
  common.quiet = o.quiet == true
  local now, u = common.get_now(cmd, o)
  if not now then return usage_fail(u) end
  local fopts
  fopts, u = filter_opts(cmd, o, now)
  if not fopts then return usage_fail(u) end
  local fmt
  fmt, u = common.check_format(cmd, o, FORMATS)
  if not fmt then return usage_fail(u) end
  if o.yes and not o["revoke-matching"] then return usage_fail(args.usage(cmd, "--yes only goes with --revoke-matching")) end
  local ids, status_code = common.collect_ids(cmd, "identity", "IDENTITY_ID", o, pos)
  if not ids then return status_code end
  local client = common.make_client(cmd, o)
  if not client then return ERRORS end

  local results = fetch_all(client, ids, fopts)
  local rc, errs, failed = OK, {}, false
  -- the statuses take what the server enforces (learned once; the filters may have asked)
  local sv, serr, any = nil, nil, false
  for _, r in ipairs(results) do if r.tokens and #r.tokens > 0 then any = true end end
  if any then sv, serr = client:server_info() end
  if any and not sv then
    say("list: %s", err_text(serr))
    rc, failed = ERRORS, true
    errs[#errs + 1] = serr
  end
  for _, r in ipairs(results) do
    if r.err then
      say("list %s: %s", r.id, err_text(r.err))
      if r.err.kind == "truncated" then
        if rc == OK then rc = FINDINGS end
      else
        rc, failed = ERRORS, true
        errs[#errs + 1] = r.err
      end
    end
  end

  if o["revoke-matching"] then
    -- revoked first, so the rows printed show each token's new status
    local list = {}
    for _, r in ipairs(results) do
      for _, t in ipairs(r.tokens or {}) do
        if t.isAccessTokenRevoked ~= true then
          list[#list + 1] = { id = t.id, token = t,
            label = t.name ~= nil and (" (" .. out.clean(t.name) .. ")") or "" }
        end
      end
    end
    local _, _, nfailed, rerrs = common.revoke_list(client, list, o.yes, stderr)
    for _, item in ipairs(list) do
      if item.revoked then item.token.isAccessTokenRevoked = true end
    end
    if nfailed > 0 then rc = ERRORS end
    for _, e in ipairs(rerrs) do errs[#errs + 1] = e end
  end
  print_tokens(fmt, results, now, o["no-header"], failed, sv)
  client:close()
  common.advise(errs)
  return common.worst(rc, errs)
end

return _M
