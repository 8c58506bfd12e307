--- `infisical-tokens revoke-secret`: revokes Universal Auth client secrets of one identity
-- by id (a dry run unless told yes).
-- @module infisical.cli.revoke_secret

local args = require "infisical.cli.args"
local help = require "infisical.cli.help"
local common = require "infisical.cli.common"
local ids_mod = require "infisical.cli.ids"

local ipairs = ipairs

local _M = {}

local OK, ERRORS = common.OK, common.ERRORS

local stdout = io.stdout

local SPEC = { yes = "flag", ["from-file"] = "value" }
_M.SPEC = SPEC

--- Runs the subcommand; returns the exit status.
function _M.main(argv, first)
  local cmd = "revoke-secret"
  local o, pos = args.parse(cmd, argv, first, SPEC)
  if not o then return common.usage_fail(pos) end
  if o.help then stdout:write(help["revoke-secret"]); return OK end
  common.quiet = o.quiet == true
  local identity_id = pos[1]
  if identity_id == nil then
    return common.usage_fail(args.usage(cmd, "missing IDENTITY_ID (then one or more SECRET_ID)"))
  end
  if not ids_mod.is_uuid(identity_id) then
    return common.usage_fail(args.usage(cmd, ("IDENTITY_ID %s is not a UUID"):format(ids_mod.show(identity_id))))
  end
  local rest = {}
  for i = 2, #pos do rest[#rest + 1] = pos[i] end
  if #rest == 0 and not o["from-file"] then
    return common.usage_fail(args.usage(cmd, "missing SECRET_ID (the client secrets' ids, from"
      .. " 'infisical-tokens secrets " .. identity_id .. "')"))
  end
  local ids, status_code = common.collect_ids(cmd, "client secret", "SECRET_ID", o, rest)
  if not ids then return status_code end
  local list = {}
  for i, id in ipairs(ids) do list[i] = { id = id } end
  local client
  if o.yes then
    client = common.make_client(cmd, o)
    if not client then return ERRORS end
  end
  local _, _, failed, errs = common.revoke_list(client, list, o.yes, stdout, {
    noun = "client secret",
    revoke = function(c, item) return c:revoke_client_secret(identity_id, item.id) end,
  })
  if client then client:close() end
  common.advise(errs)
  if failed > 0 then return common.worst(ERRORS, errs) end
  return OK
end

return _M
