--- Identity and token ids for infisical-tokens: from the arguments, from standard input
-- (`-`) and from `--from-file FILE`, checked to be UUIDs before any request is sent.
-- @module infisical.cli.ids

local out = require "infisical.cli.output"
local args = require "infisical.cli.args"

local ipairs, type = ipairs, type

local _M = {}

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

--- Whether `s` is a UUID (Infisical's identity and token ids all are).
function _M.is_uuid(s)
  return type(s) == "string" and s:find(UUID) ~= nil
end

--- A refused value as it may be shown: short ones cleaned and quoted, long ones and
-- credentials by their length only (a token pasted or piped in by mistake is not echoed to
-- the terminal): `output.show`.
_M.show = out.show

-- The ids of one line: '#' starts a comment, whitespace separates ids.
local function line_ids(line, acc, where, n)
  line = line:gsub("#.*$", "")
  for id in line:gmatch("%S+") do acc[#acc + 1] = { id = id, where = where .. " line " .. n } end
end

local function read_into(acc, path, label)
  local fh, e
  if path == "-" then fh = io.stdin else fh, e = io.open(path, "r") end
  if not fh then return nil, e end
  local n = 0
  for line in fh:lines() do
    n = n + 1
    line_ids(line, acc, label, n)
  end
  if fh ~= io.stdin then fh:close() end
  return true
end

--- Collects the ids of subcommand `cmd`: positional arguments in order (`-` reads
-- standard input there), then `--from-file FILE` (`-`: standard input). Standard input is
-- read once. `what` is "identity" or "token"; `metavar` the help's name for them.
-- @return a list of unique ids (empty when `-` or the file held none), or nil and a usage error (every message names where the refused value came from), or nil, nil and a message (a file that cannot be read)
function _M.collect(cmd, what, metavar, pos, from_file)
  local acc, stdin_read = {}, false
  local function stdin()
    if stdin_read then return true end
    stdin_read = true
    return read_into(acc, "-", "standard input")
  end
  for i, a in ipairs(pos) do
    if a == "-" then
      stdin()
    else
      acc[#acc + 1] = { id = a, where = "argument " .. i }
    end
  end
  if from_file then
    if from_file == "-" then
      stdin()
    else
      local shown = out.show(from_file, 200)
      local ok, e = read_into(acc, from_file, "--from-file " .. shown)
      if not ok then
        e = tostring(e)
        if e:sub(1, #from_file + 2) == from_file .. ": " then e = e:sub(#from_file + 3) end
        return nil, nil, "cannot read --from-file " .. shown .. ": " .. e
      end
    end
  end
  local list, seen = {}, {}
  for _, item in ipairs(acc) do
    if not _M.is_uuid(item.id) then
      return nil, args.usage(cmd, ("%s: %s is not %s id (ids are UUIDs, like"
        .. " 3f2504e0-4f89-41d3-9a0c-0305e82c3301); nothing was sent"):format(item.where,
        _M.show(item.id), what == "identity" and "an identity" or "a token"))
    end
    local key = item.id:lower()
    if not seen[key] then seen[key] = true; list[#list + 1] = item.id end
  end
  if #list == 0 and #pos == 0 and not from_file then
    return nil, args.usage(cmd, ("missing %s (give %s ids, '-' to read them from standard input,"
      .. " or --from-file FILE)"):format(metavar, what))
  end
  -- ids asked for from standard input or a file that holds none: nothing to do (an empty
  -- list, as `xargs -r` runs nothing)
  return list
end

return _M
