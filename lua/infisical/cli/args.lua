--- Command-line parsing for infisical-tokens: `--name value`, `--name=value`, flags,
-- `--` ending the options, positional arguments kept in order.
-- @module infisical.cli.args

local type, tonumber = type, tonumber

local _M = {}

--- A usage error (exit status 2): carries the subcommand for the "see --help" hint.
function _M.usage(cmd, message)
  return { usage = true, cmd = cmd, message = message }
end

--- Options every subcommand takes.
_M.common = {
  ["api-url"] = "value", ["token-file"] = "value", timeout = "value", ["ca-file"] = "value",
  ["no-verify-tls"] = "flag", help = "flag", ["now"] = "value",
}

-- Flags that would put a secret on the command line, refused with the reason.
local SECRET_FLAGS = {
  token = "--token is not accepted: other users can read a command line from the process list;"
    .. " set INFISICAL_TOKEN or use --token-file FILE",
  ["client-secret"] = "--client-secret is not accepted: other users can read a command line from"
    .. " the process list; set INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
}

--- Parses argv (from index `first`) for subcommand `cmd` with `spec` (name -> "flag" |
-- "value" | "list": a value that may repeat, commas splitting it).
-- @return opts, positional; or nil, usage error
function _M.parse(cmd, argv, first, spec)
  local opts, pos = {}, {}
  local i, n = first, #argv
  local only_pos = false
  while i <= n do
    local a = argv[i]
    if only_pos or a == "-" or a:sub(1, 1) ~= "-" then
      pos[#pos + 1] = a
    elseif a == "--" then
      only_pos = true
    elseif a == "-h" then
      opts.help = true
    else
      local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
      if not name then name = a:match("^%-%-([%w%-]+)$") end
      if not name then return nil, _M.usage(cmd, ("unknown option '%s'"):format(a)) end
      if SECRET_FLAGS[name] then return nil, _M.usage(cmd, SECRET_FLAGS[name]) end
      local kind = spec[name] or _M.common[name]
      if not kind then return nil, _M.usage(cmd, ("unknown option '--%s'"):format(name)) end
      if kind == "flag" then
        if value ~= nil then return nil, _M.usage(cmd, ("option '--%s' takes no value"):format(name)) end
        opts[name] = true
      else
        if value == nil then
          i = i + 1
          value = argv[i]
          if value == nil then return nil, _M.usage(cmd, ("option '--%s' needs a value"):format(name)) end
        end
        if kind == "list" then
          local list = opts[name] or {}
          for part in value:gmatch("[^,]+") do list[#list + 1] = part end
          opts[name] = list
        else
          opts[name] = value
        end
      end
    end
    i = i + 1
  end
  return opts, pos
end

--- An integer option within [lo, hi], or nil and a usage error.
function _M.int(cmd, opts, name, lo, hi)
  local v = opts[name]
  if v == nil then return nil end
  local x = tonumber(v)
  if not x or x % 1 ~= 0 or x < lo or x > hi then
    return nil, _M.usage(cmd, ("option '--%s' must be an integer from %d to %d, got '%s'"):format(name, lo, hi, v))
  end
  return math.tointeger and math.tointeger(x) or x
end

return _M
