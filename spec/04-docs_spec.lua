-- The README is a front page and docs/ stays true: docs/cli.md is the command's own help,
-- `make doc` builds the HTML reference without a warning, links lead somewhere, and every
-- install line works as written (the Lua version named, one way for lua-cjson).
local H = require "spec.helpers"
local fake = H.fake

local function doc_files()
  local files = { "README.md" }
  for f in (fake.run("ls docs/*.md")):gmatch("[^\n]+") do files[#files + 1] = f end
  return files
end

-- GitHub's anchor of a heading: lower case, punctuation dropped, spaces become dashes.
local function slug(heading)
  return (heading:lower():gsub("[^%w%s_-]", ""):gsub("%s", "-"))
end

local function anchors(path)
  local set = {}
  local text = fake.read_file(path) or ""
  text = text:gsub("```.-```", "")
  for h in text:gmatch("\n#+ ([^\n]+)") do set[slug(h)] = true end
  local first = text:match("^#+ ([^\n]+)")
  if first then set[slug(first)] = true end
  return set
end

local function code_lines(path)
  local lines = {}
  local text = assert(fake.read_file(path))
  for block in text:gmatch("```[%w]*\n(.-)\n```") do
    for line in block:gmatch("[^\n]+") do lines[#lines + 1] = line end
  end
  -- inline code too: `luarocks ...`
  for code in text:gmatch("`([^`\n]+)`") do lines[#lines + 1] = code end
  return lines
end

describe("README.md", function()
  it("is a front page: at most 250 lines", function()
    local n = select(2, assert(fake.read_file("README.md")):gsub("\n", ""))
    assert.is_true(n <= 250, "README.md has " .. n .. " lines")
  end)

  it("has the two commands, install, a script, the shell, OpenResty, errors and links", function()
    local text = fake.read_file("README.md")
    for _, heading in ipairs{ "Two commands", "Install", "A script", "The shell",
        "OpenResty", "Errors", "Learn more" } do
      assert.matches("\n## " .. heading .. "\n", text, 1, true)
    end
    assert.matches("sh .ci/deps && make demo", text, 1, true)
    assert.matches("\nmake test ", text, 1, true)
  end)
end)

describe("docs", function()
  it("every relative link leads to a file, and every #anchor to a heading", function()
    local bad = {}
    for _, path in ipairs(doc_files()) do
      local dir = path:match("^(.*)/") or "."
      local text = fake.read_file(path):gsub("```.-```", "")
      for target in text:gmatch("%]%(([^)%s]+)%)") do
        if not target:match("^%a+://") and not target:match("^mailto:") then
          local file, anchor = target:match("^([^#]*)#?(.*)$")
          local full = file == "" and path or (dir .. "/" .. file)
          if not fake.read_file(full) and not fake.run("test -d " .. fake.shellquote(full) .. " && echo d"):match("d") then
            bad[#bad + 1] = path .. ": " .. target .. " (no file)"
          elseif anchor ~= "" and full:match("%.md$") and not anchors(full)[anchor] then
            bad[#bad + 1] = path .. ": " .. target .. " (no such heading)"
          end
        end
      end
    end
    assert.same({}, bad)
  end)

  it("every luarocks command names the Lua version and needs no --deps-mode", function()
    local bad = {}
    for _, path in ipairs(doc_files()) do
      for _, line in ipairs(code_lines(path)) do
        for cmd in line:gmatch("luarocks [^&|;#]+") do
          -- a command (something to install, make, pack or set), not the tool's name in prose
          if cmd:match("^luarocks.-install%s+%S") or cmd:match("^luarocks.-make%s+%S") or
             cmd:match("^luarocks.-pack%s+%S") or cmd:match("^luarocks.-config%s+%S") then
            if cmd:match("^luarocks upload") then -- uploads build nothing
            elseif not cmd:match("%-%-lua%-version=%d") then
              bad[#bad + 1] = path .. ": " .. cmd .. " (no --lua-version)"
            end
            if cmd:match("deps%-mode") then
              bad[#bad + 1] = path .. ": " .. cmd .. " (--deps-mode: the docs declare lua-cjson instead)"
            end
          end
        end
      end
    end
    assert.same({}, bad)
  end)
end)

-- A docs generator's --check (`.ci/<script>.lua`) run in a scratch copy holding `doc`, the
-- `copies` it reads as they are, and `source` with `pattern` replaced once by `repl`:
-- it must fail, saying the page is stale.
local function stale_check_fails(script, doc, copies, source, pattern, repl)
  local tmp = os.tmpname()
  local dirs = { tmp .. "/docs", tmp .. "/" .. source:match("^(.*)/") }
  local cmd = { "rm -f " .. tmp, "mkdir -p " .. table.concat(dirs, " "), "cp -r .ci " .. tmp .. "/",
    "cp " .. doc .. " " .. tmp .. "/docs/" }
  for _, c in ipairs(copies) do
    cmd[#cmd + 1] = "mkdir -p " .. tmp .. "/" .. c:match("^(.*)/") .. " && cp " .. c .. " " .. tmp .. "/" .. c
  end
  fake.run(table.concat(cmd, " && "))
  local changed, n = fake.read_file(source):gsub(pattern, repl, 1)
  assert.equal(1, n)
  local f = assert(io.open(tmp .. "/" .. source, "w"))
  f:write(changed)
  f:close()
  local out, rc = fake.run("cd " .. tmp .. " && lua5.4 .ci/" .. script .. ".lua --check 2>&1")
  fake.run("rm -rf " .. tmp)
  assert.equal(1, rc, out)
  assert.matches("stale", out)
end

describe("docs/cli.md", function()
  it("is generated from lua/infisical/cli/help.lua (make docs-cli)", function()
    local out, rc = fake.run("lua5.4 .ci/docs-cli.lua --check 2>&1")
    assert.equal(0, rc, out)
  end)

  it("--check fails when help.lua says something docs/cli.md does not", function()
    -- help.lua shows the library's defaults, from options.lua
    stale_check_fails("docs-cli", "docs/cli.md", { "lua/infisical/options.lua" },
      "lua/infisical/cli/help.lua", "Usage: infisical%-tokens revoke", "Usage: infisical-tokens revoke --a-new-flag")
  end)

  it("names no option the command does not know", function()
    local known = fake.read_file("lua/infisical/cli/help.lua") .. fake.read_file("lua/infisical/cli.lua")
      .. (fake.read_file("lua/infisical/cli/args.lua") or "")
    for _, sub in ipairs{ "list", "audit", "revoke", "identities" } do
      known = known .. fake.read_file("lua/infisical/cli/" .. sub .. ".lua")
    end
    local bad = {}
    for line in fake.read_file("docs/cli.md"):gmatch("[^\n]+") do
      if not line:find("fake_server.py", 1, true) then   -- the example's server, not the command
        for flag in line:gmatch("%-%-[%a][%w-]*") do
          if not known:find(flag, 1, true) then bad[#bad + 1] = flag end
        end
      end
    end
    assert.same({}, bad)
  end)
end)

describe("docs/api.md's option tables", function()
  it("new's, the walks' and list_many's are generated from lua/infisical/options.lua (make docs-api)", function()
    local out, rc = fake.run("lua5.4 .ci/docs-api.lua --check 2>&1")
    assert.equal(0, rc, out)
  end)

  it("--check fails when a row of options.lua says something docs/api.md does not", function()
    stale_check_fails("docs-api", "docs/api.md", {}, "lua/infisical/options.lua",
      'name = "timeout", check = "seconds", default = 60,', 'name = "timeout", check = "seconds", default = 61,')
  end)

  it("names every option of new, the walks' filters the client knows, and list_many's with its default and bounds", function()
    local options = require "infisical.options"
    local doc = fake.read_file("docs/api.md")
    for name in pairs(options.spec(options.NEW)) do
      assert.matches("`" .. name .. "`", doc, 1, true)
    end
    -- the filter rows are doc lines only: each names a filter filters.lua checks
    local walk_spec, filter_spec = options.spec(options.WALK), require("infisical.filters").spec
    for _, r in ipairs(options.WALK) do
      assert.is_truthy(walk_spec[r.name] or filter_spec[r.name], r.name)
    end
    for _, r in ipairs(options.MANY) do
      local lo, hi = options.range(r.name, options.MANY)
      assert.matches(("| `%s` | `%s` | %s (%s to %s) |"):format(r.name, tostring(r.default), r.doc, lo, hi), doc, 1, true)
    end
  end)
end)

describe("make doc", function()
  it("builds the HTML API reference with LDoc, without a warning", function()
    local out, rc = fake.run("make -s doc 2>&1")
    assert.equal(0, rc, out)
    assert.is_truthy(fake.read_file("build/doc/index.html"))
    local page = assert(fake.read_file("build/doc/modules/infisical.html"))
    -- every public name, enumerated from the module and a client (a name added without a
    -- doc comment fails here), is an entry of the reference, and nothing internal is
    local entries = {}
    for name in page:gmatch('<dt>%s*<a name%s*=%s*"([^"]+)"') do entries[name] = true end
    local infisical = require "infisical"
    for k in pairs(infisical) do
      if k ~= "_VERSION" then assert.is_true(entries[k] == true, "not in the reference: infisical." .. k) end
    end
    local c = assert(infisical.new{ base_url = "http://127.0.0.1:9", token = "t" })
    for k in pairs(getmetatable(c).__index) do
      assert.is_true(entries["Client:" .. k] == true, "not in the reference: client:" .. k)
    end
    c:close()
    for name in pairs(entries) do
      local short = name:match("^Client:(.+)$")
      if short then
        assert.is_function(getmetatable(c).__index[short], "documented but not a method: " .. name)
      else
        assert.is_not_nil(infisical[name], "documented but not public: " .. name)
      end
    end
    -- a return text held on one line (LDoc 1.4 splits a continued one into the description)
    local src = fake.run("grep -rn -A1 -E '^ *-- *@(return|treturn|param|tparam)' lua/infisical"
      .. " | grep -E '^[^:]+-[0-9]+- *--([^-@]|$)' | grep -vE -- '-[0-9]+- *--$'")
    assert.equal("", src, "a doc tag's text continues on the next line (keep it on one line)")
    -- every module is named with its prefix (a first line holding `--` made LDoc lose it)
    local mods = fake.run("ls build/doc/modules")
    for file in mods:gmatch("[^\n]+") do assert.matches("^infisical", file) end
  end)
end)

-- Shell transcripts: each `$ command` of a ``` block runs (bash, in a scratch folder, with
-- `infisical-tokens` on the PATH and the fake server's sample data) and must print the
-- lines shown under it: its stdout, or its stderr when it printed nothing else.
-- `$ echo $?` shows the previous command's exit status. Starting the fake server and
-- exporting its address are done for the transcript.
describe("shell transcripts in the docs", function()
  local srv, dir
  setup(function()
    srv = fake.start{ fixture = H.FIXTURE }
    -- the transcripts are of a late-2024 server, which records use (docs/cli.md says so)
    srv:reset_fixture(H.FIXTURE, { mode = "legacy" })
    dir = (fake.run("mktemp -d"))
    local root = (fake.run("pwd"))
    local f = assert(io.open(dir .. "/infisical-tokens", "w"))
    f:write("#!/bin/sh\nexec lua5.4 " .. fake.shellquote(root .. "/bin/infisical-tokens") .. ' "$@"\n')
    f:close()
    fake.run("chmod +x " .. fake.shellquote(dir .. "/infisical-tokens"))
  end)
  teardown(function()
    srv:stop()
    fake.run("rm -rf " .. fake.shellquote(dir))
  end)

  local function transcripts(path)
    local list = {}
    -- Fenced blocks in document order: a fence with an info string (```lua, ```sh) opens a
    -- block that is not a transcript; only bare ``` blocks are.
    local blocks, open, body = {}, nil, nil
    for line in (assert(fake.read_file(path)) .. "\n"):gmatch("([^\n]*)\n") do
      if not open then
        local info = line:match("^```(.*)$")
        if info then open, body = info, {} end
      elseif line == "```" then
        if open == "" then blocks[#blocks + 1] = table.concat(body, "\n") end
        open = nil
      else
        body[#body + 1] = line
      end
    end
    for _, block in ipairs(blocks) do
      local cmds, cur = {}, nil
      for line in (block .. "\n"):gmatch("([^\n]*)\n") do
        local cmd = line:match("^%$ (.*)$")
        if cmd then
          cur = { cmd = cmd, out = {} }
          cmds[#cmds + 1] = cur
        elseif cur then
          cur.out[#cur.out + 1] = line
        end
      end
      if #cmds > 0 then list[#list + 1] = cmds end
    end
    return list
  end

  for _, path in ipairs(doc_files()) do
    for b, cmds in ipairs(transcripts(path)) do
      it(path .. " transcript " .. b .. " is what the command prints", function()
        local env = ("cd %s && env -u INFISICAL_TOKEN -u INFISICAL_API_URL PATH=%s:\"$PATH\" "
          .. "INFISICAL_API_URL=%s INFISICAL_TOKEN=%s ID=%s bash -c ")
          :format(fake.shellquote(dir), fake.shellquote(dir), srv.url, H.TOKEN, H.ID1)
        local last_rc
        for _, c in ipairs(cmds) do
          while c.out[#c.out] == "" do c.out[#c.out] = nil end
          local want = table.concat(c.out, "\n")
          if c.cmd:find("fake_server.py", 1, true) or c.cmd:match("^export ") then
            -- done by the spec
          elseif c.cmd == "echo $?" then
            assert.equal(want, tostring(last_rc), path .. ": exit status of the command before `echo $?`")
          else
            local out, rc = fake.run(env .. fake.shellquote(c.cmd) .. " 2>" .. fake.shellquote(dir .. "/stderr"))
            local err = (fake.read_file(dir .. "/stderr") or ""):gsub("\n$", "")
            last_rc = rc
            if out == "" and err ~= "" then out = err end
            out = out:gsub("\r\n", "\n"):gsub("\r$", "")   -- CSV rows end in CRLF (RFC 4180)
            assert.equal(want, out, path .. ": $ " .. c.cmd)
          end
        end
      end)
    end
  end
end)
