--- What the docs generators (.ci/docs-cli.lua, .ci/docs-api.lua) share: reading the page,
-- and writing it, or with --check failing when it is stale.
local _M = {}

--- The whole text of `path`.
function _M.read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

--- `want` is what `path` (now `doc`) should hold, made from `source`; `make` names the
-- target that writes it. With --check (`check`): exit 1 when they differ; else write it.
function _M.finish(path, doc, want, source, make, check)
  if check then
    if want ~= doc then
      io.stderr:write(path, " is stale: ", source, " changed; run `", make, "`\n")
      os.exit(1)
    end
    print(path .. " matches " .. source)
  elseif want ~= doc then
    local f = assert(io.open(path, "wb"))
    f:write(want)
    f:close()
    print("wrote " .. path)
  else
    print(path .. " is up to date")
  end
end

return _M
