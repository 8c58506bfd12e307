--- infisical-tokens: list, audit and revoke machine-identity tokens, list and revoke
-- Universal Auth client secrets, and list an organisation's identities, from the shell.
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
local out = require "infisical.cli.output"

local pcall, ipairs, pairs = pcall, ipairs, pairs

local _M = {}

local OK, ERRORS = common.OK, common.ERRORS
_M.OK, _M.FINDINGS, _M.ERRORS, _M.REFUSED = common.OK, common.FINDINGS, common.ERRORS, common.REFUSED

local stdout = io.stdout

--- The subcommands, each its own module.
local NAMES = { "list", "audit", "revoke", "secrets", "revoke-secret", "identities" }
local COMMANDS = {}
--- Each subcommand's options (besides `args.common`), for the spec that holds the help
-- texts to them.
_M.OPTIONS = {}
for _, name in ipairs(NAMES) do
  local m = require("infisical.cli." .. (name:gsub("%-", "_")))
  COMMANDS[name] = m.main
  _M.OPTIONS[name] = m.SPEC
end
args.subcommands = _M.OPTIONS

--- Whether the option word `a` (before the subcommand) takes the next word as its value.
local function takes_value(a)
  local function kind(name)
    name = args.aliases[name] or name
    if args.common[name] then return args.common[name] end
    for _, spec in pairs(_M.OPTIONS) do if spec[name] then return spec[name] end end
    return "flag"   -- unknown: the subcommand's parser names it
  end
  if a:sub(1, 2) == "--" then
    if a:find("=", 1, true) then return false end
    return kind(a:sub(3)) ~= "flag"
  end
  for j = 2, #a do
    local long = args.short[a:sub(j, j)]
    if long and kind(long) ~= "flag" then return j == #a end
  end
  return false
end

--- Global options come before the subcommand too (`infisical-tokens -q list ...`, as gh,
-- kubectl and aws take them): they are handed to the subcommand as if given after it.
-- @return the subcommand word (nil: none), its argv (the subcommand first), whether options came before it, and the word after the subcommand's
local function split_globals(argv)
  local globals, i = {}, 1
  while true do
    local a = argv[i]
    if a == nil or a == "-" or a == "--" or a:sub(1, 1) ~= "-" then break end
    if a == "--version" or a == "-h" or a == "--help" then break end
    globals[#globals + 1] = a
    if takes_value(a) and argv[i + 1] ~= nil then
      globals[#globals + 1] = argv[i + 1]
      i = i + 1
    end
    i = i + 1
  end
  local rest = { argv[i] }
  for _, g in ipairs(globals) do rest[#rest + 1] = g end
  for j = i + 1, #argv do rest[#rest + 1] = argv[j] end
  return argv[i], rest, #globals > 0, argv[i + 1]
end

local function run_main(argv)
  common.reset()
  local a, rest, had_globals, after = split_globals(argv)
  if a == nil and had_globals then
    return common.usage_fail(args.usage(nil, "missing command (list, audit, revoke, secrets, revoke-secret or identities)"
      .. " after the options"))
  end
  if a == nil then
    -- nothing asked: the help is the error message (stderr, exit status 2)
    io.stderr:write(help.main)
    return ERRORS
  end
  if a == "-h" or a == "--help" or a == "help" then
    if a == "help" and after and help[after] then stdout:write(help[after]); return OK end
    stdout:write(help.main)
    return OK
  end
  if a == "--version" then
    stdout:write("infisical-tokens (lua-infisical ", infisical._VERSION, ")\n")
    return OK
  end
  local run = COMMANDS[a]
  if not run then
    if a:sub(1, 1) == "-" then
      return common.usage_fail(args.usage(nil, ("unknown command %s"):format(out.show(a))))
    end
    local guess = args.closest(a, NAMES)
    return common.usage_fail(args.usage(nil, ("unknown command %s (%s)"):format(out.show(a),
      guess and ("did you mean '" .. guess .. "'?") or "list, audit, revoke, secrets, revoke-secret or identities")))
  end
  -- the raised value is kept as it is (no traceback): describe() turns it into one line
  local ok, rc = pcall(run, rest, 2)
  if not ok then
    common.say("%s: %s", a, common.unexpected(rc))
    stdout:flush()
    return common.fail_status(rc)
  end
  stdout:flush()
  return rc
end

--- Runs the command line `argv` (an `arg`-style array); returns the exit status.
-- Whatever is raised (an error object from the library, a string, anything) ends as one
-- clean line on stderr, without a Lua source position, and exit status 2 (3 for refused
-- credentials).
function _M.main(argv)
  local ok, rc = pcall(run_main, argv)
  if ok then return rc end
  pcall(common.say, "%s", common.unexpected(rc))
  return common.fail_status(rc)
end

return _M
