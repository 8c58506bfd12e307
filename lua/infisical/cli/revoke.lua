--- `infisical-tokens revoke`: revokes tokens by id (a dry run unless told yes).
-- @module infisical.cli.revoke

local args = require "infisical.cli.args"
local help = require "infisical.cli.help"
local common = require "infisical.cli.common"

local ipairs = ipairs

local _M = {}

local OK, FINDINGS, ERRORS = common.OK, common.FINDINGS, common.ERRORS

local stdout = io.stdout

local SPEC = { yes = "flag", ["from-file"] = "value" }
_M.SPEC = SPEC

--- Runs the subcommand; returns the exit status.
function _M.main(argv, first)
  local cmd = "revoke"
  local o, pos = args.parse(cmd, argv, first, SPEC)
  if not o then return common.usage_fail(pos) end
  if o.help then stdout:write(help.revoke); return OK end
  common.quiet = o.quiet == true
  local ids, status_code = common.collect_ids(cmd, "token", "TOKEN_ID", o, pos)
  if not ids then return status_code end
  local list = {}
  for i, id in ipairs(ids) do list[i] = { id = id } end
  local client
  if o.yes then
    client = common.make_client(cmd, o)
    if not client then return ERRORS end
  end
  local _, already, failed, errs = common.revoke_list(client, list, o.yes, stdout)
  if client then client:close() end
  common.advise(errs)
  if failed > 0 then return common.worst(ERRORS, errs) end
  if already > 0 then return FINDINGS end
  return OK
end

return _M
