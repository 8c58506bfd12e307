--- Command-line parsing for infisical-tokens.
-- Options as `--name value` and `--name=value`, flags, `--` ending the options, positional
-- arguments kept in order.
-- @module infisical.cli.args

local out = require "infisical.cli.output"

local type, tonumber, pairs, ipairs = type, tonumber, pairs, ipairs

local _M = {}

--- A usage error (exit status 2): carries the subcommand for the "see --help" hint.
function _M.usage(cmd, message)
  return { usage = true, cmd = cmd, message = message }
end

--- Options every subcommand takes.
_M.common = {
  ["api-url"] = "value", domain = "value", ["token-file"] = "value", timeout = "value",
  ["ca-file"] = "value", ["no-verify-tls"] = "flag", help = "flag", ["now"] = "value",
  quiet = "flag",
}

--- Short forms: each stands for its long option wherever the subcommand takes that one.
_M.short = { h = "help", q = "quiet", f = "format", o = "format", y = "yes", s = "status",
  c = "concurrency" }

--- Other long names of options, as other tools spell them: `--silent` (the Infisical
-- CLI's) for --quiet, `--output` (kubectl's, with its -o) for --format.
_M.aliases = { silent = "quiet", output = "format" }

-- Flags that would put a secret on the command line, refused with the reason.
local SECRET_FLAGS = {
  token = "--token is not accepted: other users can read a command line from the process list;"
    .. " set INFISICAL_TOKEN or use --token-file FILE",
  ["client-secret"] = "--client-secret is not accepted: other users can read a command line from"
    .. " the process list; set INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
}

-- Edit distance (insertions, deletions, substitutions, adjacent swaps), for "did you mean".
local function distance(a, b)
  local la, lb = #a, #b
  local d = {}
  for i = 0, la do d[i] = { [0] = i } end
  for j = 0, lb do d[0][j] = j end
  for i = 1, la do
    for j = 1, lb do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:sub(i, i) == b:sub(j - 1, j - 1) and a:sub(i - 1, i - 1) == b:sub(j, j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[la][lb]
end

--- The closest of `names` to `word` when it is close enough to be a slip, else nil.
function _M.closest(word, names)
  local best, bd
  for _, n in ipairs(names) do
    local dist = distance(word, n)
    -- a prefix ("--rev" for "--revoked") counts as close too, after true one-letter slips
    if n:sub(1, #word) == word and #word >= 3 then dist = math.min(dist, 1.5) end
    if dist < (bd or math.huge) or (dist == bd and n < best) then best, bd = n, dist end
  end
  if best and bd <= math.max(1, math.min(2, math.floor(#word / 3))) + 0.5 then return best end
  return nil
end

local function option_names(spec)
  local names = {}
  for k in pairs(spec) do names[#names + 1] = k end
  for k in pairs(_M.common) do if not spec[k] then names[#names + 1] = k end end
  table.sort(names)
  return names
end

--- Every subcommand's options (name -> spec), set by the command: an option of another
-- subcommand is named as such instead of being called unknown.
_M.subcommands = {}

local function unknown(cmd, shown, name, spec)
  local others = {}
  for other, ospec in pairs(_M.subcommands) do
    if other ~= cmd and ospec[name] then others[#others + 1] = other end
  end
  table.sort(others)
  if #others > 0 then
    return _M.usage(cmd, ("option '%s' is not one of %s's (%s %s it)"):format(shown, tostring(cmd),
      table.concat(others, " and "), #others == 1 and "takes" or "take"))
  end
  local guess = _M.closest(name, option_names(spec))
  return _M.usage(cmd, ("unknown option %s%s"):format(out.show(shown),
    guess and (" (did you mean '--%s'?)"):format(guess) or ""))
end

--- Parses argv (from index `first`) for subcommand `cmd` with `spec` (name -> "flag" |
-- "value" | "list": a value that may repeat, commas splitting it). Long options as
-- `--name value` or `--name=value`; short ones as `-f json`, `-fjson` or bundled (`-qy`).
-- A lone `-` is a positional argument (standard input); `--` ends the options.
-- @return opts, positional; or nil, usage error
function _M.parse(cmd, argv, first, spec)
  local opts, pos = {}, {}
  local i, n = first, #argv
  local only_pos = false

  -- stores option `name` (known to be valid); `value` nil means "take the next argument"
  local function set(name, value, shown)
    local kind = spec[name] or _M.common[name]
    if kind == "flag" then
      if value ~= nil then return _M.usage(cmd, ("option '%s' takes no value"):format(shown)) end
      opts[name] = true
      return
    end
    if value == nil then
      i = i + 1
      value = argv[i]
      if value == nil then return _M.usage(cmd, ("option '%s' needs a value"):format(shown)) end
    end
    if kind == "list" then
      local list = opts[name] or {}
      for part in value:gmatch("[^,]+") do list[#list + 1] = part end
      opts[name] = list
    else
      opts[name] = value
    end
  end

  while i <= n do
    local a = argv[i]
    local u
    if only_pos or a == "-" or a:sub(1, 1) ~= "-" then
      pos[#pos + 1] = a
    elseif a == "--" then
      only_pos = true
    elseif a:sub(2, 2) ~= "-" then
      -- short options, bundled: each letter a flag, except that a letter taking a value
      -- takes the rest of the argument (or the next argument)
      local j = 2
      while j <= #a do
        local letter = a:sub(j, j)
        local name = _M.short[letter]
        if not name or not (spec[name] or _M.common[name]) then
          -- "-yes" for "--yes": a long option typed with one dash
          local word = a:match("^%-([%w%-]+)$")
          local guess = word and #word > 1 and _M.closest(word, option_names(spec))
          if guess then
            return nil, _M.usage(cmd, ("unknown option %s (did you mean '--%s'?)"):format(out.show(a), guess))
          end
          return nil, _M.usage(cmd, ("unknown option '-%s'"):format(letter))
        end
        if (spec[name] or _M.common[name]) == "flag" then
          u = set(name, nil, "-" .. letter)
          j = j + 1
        else
          local rest = a:sub(j + 1)
          u = set(name, rest ~= "" and rest or nil, "-" .. letter)
          j = #a + 1
        end
        if u then return nil, u end
      end
    else
      local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
      if not name then name = a:match("^%-%-([%w%-]+)$") end
      if not name then return nil, _M.usage(cmd, ("unknown option %s"):format(out.show(a))) end
      if SECRET_FLAGS[name] then return nil, _M.usage(cmd, SECRET_FLAGS[name]) end
      local alias = _M.aliases[name]
      if alias and (spec[alias] or _M.common[alias]) then name = alias end
      if not (spec[name] or _M.common[name]) then return nil, unknown(cmd, "--" .. name, name, spec) end
      u = set(name, value, "--" .. name)
      if u then return nil, u end
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
    return nil, _M.usage(cmd, ("option '--%s' must be an integer from %d to %d, got %s"):format(name, lo, hi, out.show(v)))
  end
  return math.tointeger and math.tointeger(x) or x
end

return _M
