--- infisical-tokens: list, audit and revoke machine-identity tokens, and list an
-- organisation's identities, from the shell.
-- `bin/infisical-tokens` calls `main(arg)` and exits with what it returns:
-- 0 success, 1 findings (audit) or an incomplete answer (see the help), 2 errors,
-- 3 credentials refused by the server.
-- This file only dispatches: each subcommand is a module of `cli/` (`main(argv, first)`
-- returning the exit status, `SPEC` its options), the pieces they share are `cli/common.lua`.
-- @module infisical.cli

local infisical = require "infisical"
local args = require "infisical.cli.args"
local help = require "infisical.cli.help"
local common = require "infisical.cli.common"

local pcall, ipairs = pcall, ipairs

local _M = {}

local OK, ERRORS = common.OK, common.ERRORS
_M.OK, _M.FINDINGS, _M.ERRORS, _M.REFUSED = common.OK, common.FINDINGS, common.ERRORS, common.REFUSED

local stdout = io.stdout

--- The subcommands, each its own module.
local NAMES = { "list", "audit", "revoke", "identities" }
local COMMANDS = {}
--- Each subcommand's options (besides `args.common`), for the spec that holds the help
-- texts to them.
_M.OPTIONS = {}
for _, name in ipairs(NAMES) do
  local m = require("infisical.cli." .. name)
  COMMANDS[name] = m.main
  _M.OPTIONS[name] = m.SPEC
end
args.subcommands = _M.OPTIONS

--- Runs the command line `argv` (an `arg`-style array); returns the exit status.
-- Whatever a subcommand raises (an error object from the library, a string, anything)
-- ends as one clean line on stderr and exit status 2 (3 for refused credentials).
function _M.main(argv)
  common.reset()
  local a = argv[1]
  if a == nil or a == "-h" or a == "--help" or a == "help" then
    if a == "help" and argv[2] and help[argv[2]] then stdout:write(help[argv[2]]); return OK end
    stdout:write(help.main)
    return a == nil and ERRORS or OK
  end
  if a == "--version" then
    stdout:write("infisical-tokens (lua-infisical ", infisical._VERSION, ")\n")
    return OK
  end
  local run = COMMANDS[a]
  if not run then
    if a:sub(1, 1) == "-" then
      return common.usage_fail(args.usage(nil, ("put options after the command: unknown command '%s'"):format(a)))
    end
    local guess = args.closest(a, NAMES)
    return common.usage_fail(args.usage(nil, ("unknown command '%s' (%s)"):format(a,
      guess and ("did you mean '" .. guess .. "'?") or "list, audit, revoke or identities")))
  end
  -- the raised value is kept as it is (no traceback): describe() turns it into one line
  local ok, rc = pcall(run, argv, 2)
  if not ok then
    common.say("%s: %s", a, common.describe(rc))
    stdout:flush()
    return common.fail_status(rc)
  end
  stdout:flush()
  return rc
end

return _M
