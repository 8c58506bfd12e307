--- Every module the specs, bin/, lua/, examples/ and the docs `require` must resolve, on a
-- fresh machine, to one of:
--   * the project itself: a file under lua/ or the checkout (spec.helpers), a file next to
--     the requiring one (examples/openresty's `handler`), or a module the rockspec builds
--     (infisical.core);
--   * a file installed by a Debian package that `.ci/deps` installs for the tests (the
--     packages it names and what they depend on), found with dpkg -S;
--   * nginx's own modules (ngx.*, resty.*), shipped by lua-resty-core and its companions,
--     which libnginx-mod-http-lua depends on: found the same way.
-- A module that resolves elsewhere (installed by hand, by `make bench`, by LuaRocks under
-- /usr/local) or nowhere is named, with the files that require it, and fails the check:
-- the specs would pass here and fail on a fresh machine.
--
--   lua5.4 .ci/check-requires.lua      prints TAP, exit status 1 on a failure
local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- The files that can require something. bench/ is left out on purpose: `make bench`
-- installs its peers (LuaSocket, dkjson) with `sh .ci/deps bench`.
local files = {}
for f in sh("find spec bin lua examples docs README.md -type f \\( -name '*.lua' -o -name '*.md'"
    .. " -o -name '*.conf' -o -path 'bin/*' \\) 2>/dev/null | sort"):gmatch("[^\n]+") do
  files[#files + 1] = f
end

-- name -> list of files requiring it
local wanted, order = {}, {}
for _, f in ipairs(files) do
  local text = assert(io.open(f)):read("*a")
  -- `require("infisical.cli." .. name)` is a dynamic require: its prefix "infisical.cli."
  -- is checked below as a family of project modules, never as a module named so.
  for name in text:gmatch("require%s*%(?%s*[\"']([%w_%.%-]+)[\"']") do
    if not wanted[name] then wanted[name] = {}; order[#order + 1] = name end
    local seen = wanted[name]
    if seen[#seen] ~= f then seen[#seen + 1] = f end
  end
  for name in text:gmatch("pcall%(%s*require%s*,%s*[\"']([%w_%.%-]+)[\"']") do
    if not wanted[name] then wanted[name] = {}; order[#order + 1] = name end
    local seen = wanted[name]
    if seen[#seen] ~= f then seen[#seen + 1] = f end
  end
end
table.sort(order)

-- Modules the rockspecs build (infisical.core has no .lua file to find).
local built = {}
for spec in sh("ls *.rockspec 2>/dev/null"):gmatch("[^\n]+") do
  local env = {}
  local chunk = assert(loadfile(spec, "t", env))
  chunk()
  for name in pairs(env.build and env.build.modules or {}) do built[name] = spec end
end

-- The test packages .ci/deps installs, and everything they depend on (as installed:
-- dpkg's own records, so this works without apt lists).
local allowed = {}
local queue = {}
for p in sh("sh .ci/deps list"):gmatch("%S+") do queue[#queue + 1] = p end
assert(#queue > 0, ".ci/deps list printed no package")
local direct = {}
for _, p in ipairs(queue) do direct[p] = true end
while #queue > 0 do
  local p = table.remove(queue)
  if not allowed[p] then
    allowed[p] = true
    local deps = sh("dpkg-query -W -f='${Pre-Depends}, ${Depends}' " .. q(p) .. " 2>/dev/null")
    for alt in deps:gmatch("[^,]+") do
      -- "a (>= 1) | b": take the alternatives that are installed
      for d in alt:gmatch("[^|]+") do
        local name = d:match("^%s*([%w%.%+%-]+)")
        if name and not allowed[name] then queue[#queue + 1] = name end
      end
    end
  end
end

-- Where an installed module would be found: Lua 5.4's search path and LuaJIT's (nginx),
-- without the current folder (the project is checked first, separately).
local function system_path(p)
  local keep = {}
  for e in p:gmatch("[^;]+") do
    if e:sub(1, 1) == "/" then keep[#keep + 1] = e end
  end
  local s = table.concat(keep, ";")
  return s .. ";" .. s:gsub("5%.4", "5.1")
end
local LPATH, CPATH = system_path(package.path), system_path(package.cpath)

local function owner(file)
  local out = sh("dpkg -S " .. q(file) .. " 2>/dev/null")
  local pkg = out:match("^([^:,%s]+)")
  if not pkg then
    local real = sh("realpath -e " .. q(file) .. " 2>/dev/null"):gsub("%s+$", "")
    if real ~= "" and real ~= file then
      pkg = sh("dpkg -S " .. q(real) .. " 2>/dev/null"):match("^([^:,%s]+)")
    end
  end
  return pkg
end

-- Modules built into LuaJIT (nginx's interpreter; .ci/deps installs luajit2 and
-- libnginx-mod-http-lua): no file on any path holds them.
local LUAJIT_BUILTIN = { ffi = true, jit = true, bit = true, ["jit.util"] = true,
  ["string.buffer"] = true, ["table.new"] = true, ["table.clear"] = true }

local function resolve(name, requirers)
  if name:sub(-1) == "." then
    -- a dynamic require's prefix: at least one project module must carry it
    local dir = "./lua/" .. name:sub(1, -2):gsub("%.", "/")
    local found = sh("ls " .. q(dir) .. "/*.lua 2>/dev/null")
    if found ~= "" then
      local n = select(2, found:gsub("\n", ""))
      return true, ("project: %d modules under %s (a dynamic require's prefix)"):format(n, dir:sub(3))
    end
    return false, "a dynamic require's prefix with no module under " .. dir:sub(3)
  end
  if LUAJIT_BUILTIN[name] then
    if allowed["luajit2"] or allowed["libluajit2-5.1-2"] then
      return true, "built into LuaJIT (luajit2, installed by .ci/deps)"
    end
    return false, "built into LuaJIT, which .ci/deps does not install"
  end
  local proj = package.searchpath(name, "./lua/?.lua;./lua/?/init.lua;./?.lua")
  if proj then return true, "project: " .. proj:gsub("^%./", "") end
  if built[name] then return true, "built by " .. built[name] end
  for _, f in ipairs(requirers) do
    local dir = f:match("^(.*)/[^/]*$") or "."
    local near = package.searchpath(name, dir .. "/?.lua")
    if near then return true, "project: " .. near end
  end
  -- As Lua's searchers: the Lua path, the C path, then the C path for the root name
  -- (cjson.safe lives in cjson.so).
  local file = package.searchpath(name, LPATH) or package.searchpath(name, CPATH)
  if not file and name:find(".", 1, true) then
    file = package.searchpath(name:match("^[^.]+"), CPATH)
  end
  if not file then return false, "not found in any installed Lua path" end
  local pkg = owner(file)
  if not pkg then
    return false, file .. " belongs to no Debian package (installed by hand or by LuaRocks)"
  end
  if not allowed[pkg] then
    return false, file .. " comes from the Debian package " .. pkg
      .. ", which .ci/deps does not install for the tests"
  end
  return true, pkg .. (direct[pkg] and "" or " (a dependency of a package .ci/deps installs)")
end

local failed = 0
for i, name in ipairs(order) do
  local ok, why = resolve(name, wanted[name])
  local where = table.concat(wanted[name], ", ")
  if ok then
    print(("ok %d - require %q: %s"):format(i, name, why))
  else
    failed = failed + 1
    print(("not ok %d - require %q (in %s): %s"):format(i, name, where, why))
  end
end
print("1.." .. #order)
os.exit(failed == 0 and 0 or 1)
