--- `infisical-tokens secrets`: the Universal Auth client secrets of one or more identities,
-- filtered, as a table, JSON or CSV.
-- @module infisical.cli.secrets

local client_secrets = require "infisical.client_secrets"
local status = require "infisical.status"
local args = require "infisical.cli.args"
local out = require "infisical.cli.output"
local help = require "infisical.cli.help"
local common = require "infisical.cli.common"

local ipairs, pairs, type = ipairs, pairs, type

local _M = {}

local OK, ERRORS = common.OK, common.ERRORS
local say, usage_fail, err_text = common.say, common.usage_fail, common.err_text

local stdout = io.stdout

local SPEC = {
  active = "flag", status = "list", unused = "flag", ["older-than"] = "value",
  format = "value", ["from-file"] = "value", ["no-header"] = "flag",
}
_M.SPEC = SPEC

--- The statuses a client secret can have (the server lists only the ones not revoked).
local STATUSES = { active = true, expired = true, exhausted = true, revoked = true }

local function filter_opts(cmd, o, now)
  local f = { now = now }
  local st = o.status
  if o.active and st then return nil, args.usage(cmd, "--status cannot be combined with --active") end
  if o.active then st = { "active" } end
  if st then
    for _, s in ipairs(st) do
      if not STATUSES[s] then
        return nil, args.usage(cmd, ("unknown status %s (expired, exhausted or active)"):format(out.show(s)))
      end
    end
    f.status = st
  end
  if o.unused then f.unused = true end
  if o["older-than"] then
    f.older_than = status.parse_duration(o["older-than"])
    if not f.older_than then
      return nil, args.usage(cmd, "--older-than takes a duration like 90d, 12h, 90m or 3600")
    end
  end
  return f
end

--- A TTL in the user's terms: "never" for 0, else days, hours, minutes or seconds.
function _M.ttl_text(ttl)
  if type(ttl) ~= "number" or ttl ~= ttl then return out.count(ttl) end
  if ttl == 0 then return "never" end
  for _, u in ipairs{ { 86400, "d" }, { 3600, "h" }, { 60, "m" } } do
    if ttl % u[1] == 0 then return out.count(math.floor(ttl / u[1])) .. u[2] end
  end
  return out.count(ttl) .. "s"
end

--- "3/5" with a use limit, "3" without.
function _M.uses_text(s)
  local n, limit = s.clientSecretNumUses, s.clientSecretNumUsesLimit
  if n == nil then n = 0 end
  if type(limit) == "number" and limit > 0 then return out.count(n) .. "/" .. out.count(limit) end
  return out.count(n)
end

--- A client secret as JSON: the record, with `identityId`, `status` and `expiresAt`.
function _M.secret_json(identity_id, s, now)
  local o = {}
  for k, v in pairs(s) do o[k] = v end
  for _, k in ipairs{ "createdAt", "updatedAt" } do o[k] = out.stamp(o[k]) end
  o.identityId = identity_id
  o.status = client_secrets.status(s, now)
  local exp = client_secrets.expires_at(s)
  o.expiresAt = exp and out.time(exp, true) or out.null
  return o
end

local CSV_HEAD = { "identity_id", "id", "description", "prefix", "status", "uses", "uses_limit",
  "ttl", "expires_at", "created_at", "revoked" }
local TABLE_HEAD = { "IDENTITY", "SECRET ID", "DESCRIPTION", "PREFIX", "STATUS", "USES", "TTL",
  "CREATED (UTC)" }

--- Prints the client secrets read (nothing at all when a failure left none: an empty
-- answer would read as "there are none").
function _M.print_secrets(fmt, results, now, no_header, failed)
  local all = {}
  for _, r in ipairs(results) do
    for _, s in ipairs(r.secrets or {}) do all[#all + 1] = { r.id, s } end
  end
  if #all == 0 and failed then return end
  if fmt == "json" then
    local list = out.array()
    for i, p in ipairs(all) do list[i] = _M.secret_json(p[1], p[2], now) end
    stdout:write(out.json(list))
  elseif fmt == "csv" then
    local rows = {}
    for i, p in ipairs(all) do
      local s = p[2]
      local exp = client_secrets.expires_at(s)
      rows[i] = { p[1], s.id, s.description, s.clientSecretPrefix, client_secrets.status(s, now),
        s.clientSecretNumUses, s.clientSecretNumUsesLimit, s.clientSecretTTL,
        exp and out.time(exp, true), out.stamp(s.createdAt),
        s.isClientSecretRevoked and "true" or "false" }
    end
    stdout:write(out.csv(CSV_HEAD, rows, no_header))
  else
    local rows = {}
    for i, p in ipairs(all) do
      local s = p[2]
      local desc = s.description
      rows[i] = { p[1], s.id, (type(desc) == "string" and desc ~= "") and desc or "-",
        s.clientSecretPrefix or "-", client_secrets.status(s, now), _M.uses_text(s),
        _M.ttl_text(s.clientSecretTTL), out.time(status.parse_time(s.createdAt)) or "unknown" }
    end
    if #rows == 0 then
      common.note("no matching client secrets")
    else
      local text, dropped = out.table(TABLE_HEAD, rows, { [6] = true }, no_header,
        { width = common.terminal_width(), shrink = { 3 }, drop = { 8, 1, 7, 6 } })
      stdout:write(text)
      common.dropped_note(dropped)
    end
  end
end

--- Runs the subcommand; returns the exit status.
function _M.main(argv, first)
  local cmd = "secrets"
  local o, pos = args.parse(cmd, argv, first, SPEC)
  if not o then return usage_fail(pos) end
  if o.help then stdout:write(help.secrets); return OK end
  common.quiet = o.quiet == true
  local now, u = common.get_now(cmd, o)
  if not now then return usage_fail(u) end
  local fopts
  fopts, u = filter_opts(cmd, o, now)
  if not fopts then return usage_fail(u) end
  local fmt
  fmt, u = common.check_format(cmd, o, common.FORMATS)
  if not fmt then return usage_fail(u) end
  local ids, status_code = common.collect_ids(cmd, "identity", "IDENTITY_ID", o, pos)
  if not ids then return status_code end
  local client = common.make_client(cmd, o)
  if not client then return ERRORS end
  local results, errs, rc, failed = {}, {}, OK, false
  -- several identities at once, on the library's engine (concurrency and pacing)
  local res, errors = client:list_many_client_secrets(ids, fopts)
  errors = errors or {}
  for i, id in ipairs(ids) do
    local list, e = res[id], errors[id]
    results[i] = { id = id, secrets = list }
    if not list then
      say("secrets %s: %s", id, err_text(e))
      rc, failed = ERRORS, true
      errs[#errs + 1] = e
    end
  end
  _M.print_secrets(fmt, results, now, o["no-header"], failed)
  client:close()
  common.advise(errs)
  return common.worst(rc, errs)
end

return _M
