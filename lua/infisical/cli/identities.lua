--- `infisical-tokens identities`: an organisation's identities.
-- `infisical-tokens identities --org ORG_ID` lists them with their auth methods (both
-- record shapes) and whether their tokens can be listed (Token Auth).
-- @module infisical.cli.identities

local infisical = require "infisical"
local args = require "infisical.cli.args"
local out = require "infisical.cli.output"
local status = require "infisical.status"
local help = require "infisical.cli.help"
local options = require "infisical.options"
local common = require "infisical.cli.common"

local ipairs, pcall = ipairs, pcall
local concat = table.concat

local _M = {}

local OK, ERRORS = common.OK, common.ERRORS
local FORMATS = { table = true, json = true, csv = true }
local SPEC = { org = "value", format = "value", search = "value", ["token-auth"] = "flag",
  ["page-size"] = "value", ["no-header"] = "flag" }
_M.SPEC = SPEC
local CSV_HEAD = { "identity_id", "name", "auth_methods", "token_auth", "role",
  "last_login_auth_method", "last_login_time", "created_at" }

local function or_null(v)
  if v == nil then return out.null end
  return v
end

--- One membership as this command shows it in JSON: the same fields whatever the
-- server's shape (absent ones null).
function _M.json_record(m)
  local ident = m.identity
  local methods = out.array(infisical.auth_methods(m))
  return {
    identityId = ident.id, name = or_null(ident.name), orgId = or_null(m.orgId or ident.orgId),
    membershipId = or_null(m.id), role = or_null(m.role), authMethods = methods,
    usesTokenAuth = infisical.uses_token_auth(m),
    lastLoginAuthMethod = or_null(m.lastLoginAuthMethod), lastLoginTime = or_null(out.stamp(m.lastLoginTime)),
    createdAt = or_null(out.stamp(m.createdAt)), updatedAt = or_null(out.stamp(m.updatedAt)),
  }
end

local function print_list(stdout, stderr, fmt, list, o)
  if fmt == "json" then
    local arr = out.array()
    for i, m in ipairs(list) do arr[i] = _M.json_record(m) end
    stdout:write(out.json(arr))
  elseif fmt == "csv" then
    local rows = {}
    for i, m in ipairs(list) do
      rows[i] = { m.identity.id, m.identity.name, concat(infisical.auth_methods(m), " "),
        infisical.uses_token_auth(m) and "true" or "false", m.role, m.lastLoginAuthMethod,
        out.stamp(m.lastLoginTime), out.stamp(m.createdAt) }
    end
    stdout:write(out.csv(CSV_HEAD, rows, o["no-header"]))
  else
    local rows = {}
    for i, m in ipairs(list) do
      local methods = infisical.auth_methods(m)
      rows[i] = { m.identity.id, m.identity.name or "-",
        #methods > 0 and concat(methods, ",") or "none",
        infisical.uses_token_auth(m) and "yes" or "no", m.role or "-",
        -- "-": unknown (the memberships route of late-2024 and 2026 servers sends no
        -- lastLoginTime; "never" would claim what it does not say)
        out.time(status.parse_time(m.lastLoginTime)) or "-" }
    end
    if #rows == 0 then
      if not o.quiet then stderr:write("no identities\n") end
    else
      -- on a terminal: LAST LOGIN and ROLE left out while needed, NAME and AUTH METHODS cut
      local text, dropped = out.table({ "IDENTITY ID", "NAME", "AUTH METHODS", "TOKEN AUTH", "ROLE",
        "LAST LOGIN (UTC)" }, rows, nil, o["no-header"],
        { width = common.terminal_width(), shrink = { 2, 3, 5 }, drop = { 6, 5 } })
      stdout:write(text)
      common.dropped_note(dropped)
    end
  end
end

--- Runs the subcommand; returns the exit status.
function _M.main(argv, first)
  local ctx = common
  local stdout, stderr = io.stdout, io.stderr
  local cmd = "identities"
  local o, pos = args.parse(cmd, argv, first, SPEC)
  if not o then return ctx.usage_fail(pos) end
  if o.help then stdout:write(help.identities); return OK end
  local fmt = o.format or "table"
  if not FORMATS[fmt] then
    return ctx.usage_fail(args.usage(cmd, ("unknown format %s (table, json or csv)"):format(out.show(fmt))))
  end
  local ps, u = args.int(cmd, o, "page-size", options.range("page_size", options.IDENTITY_EACH))
  if u then return ctx.usage_fail(u) end
  if #pos > 0 then
    return ctx.usage_fail(args.usage(cmd, ("unexpected argument %s (give the organisation with --org ORG_ID)")
      :format(out.show(pos[1]))))
  end
  local org = o.org
  if org == nil or org == "" then
    return ctx.usage_fail(args.usage(cmd, "missing --org ORG_ID (the organisation's id)"))
  end
  u = common.check_org(cmd, org)
  if u then return ctx.usage_fail(u) end
  if o.search and o.search:find("%c") then
    return ctx.usage_fail(args.usage(cmd, "--search must not contain control characters"))
  end
  local client = ctx.make_client(cmd, o)
  if not client then return ERRORS end

  local list = {}
  local ok, err = pcall(function()
    for m in client:each_identity(org, { page_size = ps, search = o.search,
        token_auth = o["token-auth"] and true or nil }) do
      list[#list + 1] = m
    end
  end)
  client:close()
  if not ok then
    ctx.say("identities --org %s: %s", org, ctx.describe(err))
    ctx.advise({ err })
    return ctx.fail_status(err)
  end
  print_list(stdout, stderr, fmt, list, o)
  return OK
end

return _M
