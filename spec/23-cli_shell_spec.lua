-- infisical-tokens in shell pipelines (issue 11 §4) and facing a hostile server's text
-- (issue 10 §7): ids from stdin and files, refused before any request when they are not
-- UUIDs, nothing misleading after an error, --domain, fixed columns, short flags, and no
-- control character from the server ever reaching the terminal. Child processes against
-- the fake server, as in spec/22-cli_spec.lua.
local H = require "spec.helpers"
local fake = H.fake
local cjson = require "cjson"

local NOW = "2024-06-01T12:00:00Z"
local ID1, ID2, ID3 = H.ID1, H.ID2, H.ID3
local T1, T2 = "b0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000002"
local shq = fake.shellquote

local function esc(s) return (s:gsub("%p", "%%%0")) end

-- Runs the command; returns stdout (without its last line end, LF or CRLF), exit status,
-- stderr. opts: stdin (a string), lua (the interpreter, default lua5.4), bin.
local function cli(argv, env, opts)
  local o = { raw = true }
  for k, v in pairs(opts or {}) do o[k] = v end
  local out, rc, err = H.cli(argv, env, o)
  return (out:gsub("\r?\n$", "")), rc, err
end

local function write_tmp(text)
  local f = os.tmpname()
  local fh = assert(io.open(f, "wb")); fh:write(text); fh:close()
  return f
end

local function merge(a, b)
  local t = {}
  for k, v in pairs(a) do t[k] = v end
  for k, v in pairs(b or {}) do t[k] = v end
  return t
end

-- The first control character (C0 but LF and TAB, DEL, C1 in UTF-8 or as a raw byte) in
-- s, described, or nil. `crlf`: CSV's CRLF line ends are allowed.
local function control_in(s, crlf)
  if crlf then s = s:gsub("\r\n", "\n") end
  local i = s:find("[%z\1-\8\11-\31\127]")
  if i then return ("byte %d at %d in %q"):format(s:byte(i), i, s:sub(math.max(1, i - 30), i + 10)) end
  i = s:find("\194[\128-\159]")
  if i then return ("C1 control at %d in %q"):format(i, s:sub(math.max(1, i - 30), i + 10)) end
  -- a byte 0x80-0x9F that no UTF-8 lead byte announced
  local pos = 1
  while true do
    local j = s:find("[\128-\255]", pos)
    if not j then break end
    local b = s:byte(j)
    local n = b >= 0xF0 and 3 or b >= 0xE0 and 2 or b >= 0xC2 and 1 or -1
    if n < 0 then return ("stray byte %d at %d"):format(b, j) end
    pos = j + n + 1
  end
  return nil
end

-- Escape sequences a server could send (OSC retitle, clear screen, colour, CSI as the C1
-- control U+009B); the control API takes JSON, so raw bytes go through `raw_b64` below.
local EVIL = "\27]0;pwned\7\27[2J\27[31m\194\155"

local base64 = H.b64

describe("infisical-tokens in the shell", function()
  local srv, env

  setup(function()
    srv = fake.start{ fixture = H.FIXTURE }
    env = { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN }
  end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset_fixture(H.FIXTURE) end)

  local function revoked_on_server(id, ident)
    for _, t in ipairs(srv:state().identities[ident or ID1].tokens) do
      if t.id == id then return t.isAccessTokenRevoked end
    end
  end

  describe("a server's control characters never reach the terminal (issue 10 §7)", function()
    local BAD_ID = "c0000000-0000-4000-8000-00000000000\27[2J"
    local function hostile_state()
      return H.state{ [ID1] = { tokens = {
        fake.token_record{ id = "c0000000-0000-4000-8000-000000000001", identityId = ID1, name = "ok-1" },
        fake.token_record{ id = BAD_ID, identityId = ID1, name = "evil" .. EVIL },
        fake.token_record{ id = "c0000000-0000-4000-8000-000000000003", identityId = ID1, name = "ok-3" },
        fake.token_record{ id = "not-a-uuid", identityId = ID1, name = "odd" },
        fake.token_record{ id = "c0000000-0000-4000-8000-000000000005", identityId = ID1,
          name = "tab\there, line\nbreak" },
      } } }
    end

    it("token names and ids: cleaned in the table, CSV and messages, escaped in JSON", function()
      srv:reset(hostile_state())
      for _, fmt in ipairs{ "table", "csv", "json" } do
        -- a dry run: ids that could not be revoked make it exit 2 (reported, see below)
        local out, rc, err = cli({ "list", ID1, "--format", fmt, "--now", NOW, "--revoke-matching" }, env)
        assert.equal(2, rc, err)
        assert.matches("would revoke c0000000%-0000%-4000%-8000%-000000000001 %(ok%-1%)", err)
        assert.matches("dry run: 3 token%(s%) would be revoked", err)   -- not the 2 it cannot
        assert.is_nil(control_in(out, fmt == "csv"), fmt .. " stdout")
        assert.is_nil(control_in(err), fmt .. " stderr")
        assert.matches("ok%-3", out)
        if fmt == "json" then
          -- lossless: the document still holds the exact name
          local names = {}
          for _, t in ipairs(cjson.decode(out)) do names[t.name] = true end
          assert.is_true(names["evil" .. EVIL])
        end
      end
      local out = cli({ "list", ID1, "--format", "csv", "--now", NOW }, env)
      assert.matches('"tab\there, line\nbreak"', out, 1, true)   -- CSV keeps LF and TAB as data
    end)

    it("error messages from the server are cleaned on stderr and in every format", function()
      local body = { statusCode = 400, error = "Bad" .. EVIL, message = "boom" .. EVIL, reqId = "req-" .. EVIL }
      for _, argv in ipairs{
        { "list", ID1 }, { "list", ID1, "--format", "csv" }, { "list", ID1, ID2, "--format", "json" },
        { "audit", ID1 }, { "audit", ID1, "--format", "csv" }, { "audit", ID1, "--format", "json" },
        { "revoke", T1, "--yes" },
      } do
        srv:clear_faults()
        srv:faults{ { match = "/api/v1/auth/token-auth/", status = 400, body = body, ["repeat"] = 50 } }
        local out, rc, err = cli(argv, env)
        local what = table.concat(argv, " ")
        assert.equal(2, rc, what)
        assert.matches("boom", err, 1, true)
        assert.is_nil(control_in(err), what .. ": " .. tostring(control_in(err)))
        assert.is_nil(control_in(out, true), what .. ": " .. tostring(control_in(out, true)))
      end
      srv:clear_faults()
      -- raw bytes: a lone 0x9B (CSI to an 8-bit terminal) and bytes that are not UTF-8
      local raw_body = '{"statusCode":400,"error":"Bad\155[2J","message":"boom\155[2J\255\192\175"}'
      local raw = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: "
        .. #raw_body .. "\r\nConnection: close\r\n\r\n" .. raw_body
      for _, argv in ipairs{ { "list", ID1 }, { "audit", ID1, "--format", "csv" }, { "audit", ID1, "--format", "json" } } do
        srv:faults{ { match = "/api/v1/auth/token-auth/", raw_b64 = base64(raw), ["repeat"] = 50 } }
        local out, rc, err = cli(argv, env)
        local what = table.concat(argv, " ")
        assert.equal(2, rc, what .. err)
        assert.matches("boom", err, 1, true)
        assert.is_nil(control_in(err), what .. ": " .. tostring(control_in(err)))
        assert.is_nil(control_in(out, true), what .. ": " .. tostring(control_in(out, true)))
        srv:clear_faults()
      end
    end)

    it("--revoke-matching --yes reports a token whose id is unusable and revokes the rest", function()
      srv:reset(hostile_state())
      local out, rc, err = cli({ "list", ID1, "--revoke-matching", "--yes", "--format", "json" }, env)
      assert.equal(2, rc, err)
      assert.equal(5, #cjson.decode(out))
      assert.is_nil(control_in(err))
      assert.matches("not revoked: the server listed a token id that is not a UUID", err)
      assert.matches("'not%-a%-uuid' %(odd%): not revoked", err)
      assert.is_nil(err:find("bad argument", 1, true))
      for _, n in ipairs{ 1, 3, 5 } do
        local id = ("c0000000-0000-4000-8000-%012d"):format(n)
        assert.is_true(revoked_on_server(id), id)
        assert.matches("revoked " .. esc(id), err)
      end
      assert.is_false(revoked_on_server(BAD_ID))
      assert.is_false(revoked_on_server("not-a-uuid"))
    end)
  end)

  describe("ids from arguments, standard input and files (issue 11 §4)", function()
    local INPUT = "# identities\n" .. ID1 .. "\n\n  " .. ID3 .. " " .. ID1 .. "  # two on a line\n"

    it("list, audit and revoke read '-' from standard input", function()
      srv:reset(H.state{ [ID1] = { tokens = H.records(ID1, 3) }, [ID3] = { tokens = H.records(ID3, 2) } })
      local out, rc, err = cli({ "list", "-", "--format", "json" }, env, { stdin = INPUT })
      assert.equal(0, rc, err)
      local per = {}
      for _, t in ipairs(cjson.decode(out)) do per[t.identityId] = (per[t.identityId] or 0) + 1 end
      assert.same({ [ID1] = 3, [ID3] = 2 }, per)
      out, rc, err = cli({ "audit", "-", "--format", "json" }, env, { stdin = INPUT })
      assert.equal(0, rc, err)
      local doc = cjson.decode(out)
      assert.equal(2, #doc.identities)
      assert.equal(ID1, doc.identities[1].identityId)
      assert.equal(ID3, doc.identities[2].identityId)
      out, rc = cli({ "revoke", "-" }, env, { stdin = T1 .. "\n" .. T2 .. "\n" })
      assert.equal(0, rc)
      assert.equal("would revoke " .. T1 .. "\nwould revoke " .. T2, out)
    end)

    it("revoke - --yes revokes what a list pipes in; --from-file works for list and revoke", function()
      -- the shell habit: list | jq | revoke -
      local out, rc = cli({ "list", ID1, "--status", "exhausted", "--now", NOW, "--format", "json" }, env)
      assert.equal(0, rc)
      local piped = {}
      for _, t in ipairs(cjson.decode(out)) do piped[#piped + 1] = t.id end
      assert.equal(1, #piped)
      local err
      out, rc, err = cli({ "revoke", "-", "--yes" }, env, { stdin = table.concat(piped, "\n") .. "\n" })
      assert.equal(0, rc, err)
      assert.equal("revoked " .. piped[1], out)
      assert.is_true(revoked_on_server(piped[1]))
      assert.is_nil(revoked_on_server("-"))

      local f = write_tmp(T1 .. "\n# done later\n" .. T2 .. "\n")
      out, rc, err = cli({ "revoke", "--from-file", f, "--yes" }, env)
      assert.equal(0, rc, err)
      assert.equal("revoked " .. T1 .. "\nrevoked " .. T2, out)
      assert.is_true(revoked_on_server(T2))
      os.remove(f)
      f = write_tmp(ID1 .. "\n")
      out, rc = cli({ "list", "--from-file", f, "--format", "json" }, env)
      os.remove(f)
      assert.equal(0, rc)
      assert.equal(26, #cjson.decode(out))
      _, rc, err = cli({ "list", "--from-file", "/nonexistent/ids" }, env)
      assert.equal(2, rc)
      assert.matches("cannot read %-%-from%-file", err)
    end)

    it("--token-file - reads the token from standard input, but not with ids from it too", function()
      local base = { INFISICAL_API_URL = srv.url }
      local out, rc, err = cli({ "list", ID1, "--token-file", "-", "--format", "json" }, base, { stdin = H.TOKEN .. "\n" })
      assert.equal(0, rc, err)
      assert.equal(26, #cjson.decode(out))
      srv:reset_fixture(H.FIXTURE)
      for _, argv in ipairs{ { "list", "-", "--token-file", "-" }, { "audit", "--from-file", "-", "--token-file=-" } } do
        out, rc, err = cli(argv, base, { stdin = ID1 .. "\n" })
        assert.equal(2, rc)
        assert.equal("", out)
        assert.matches("standard input can hold the ids or the token %(%-%-token%-file %-%), not both", err)
      end
      assert.equal(0, #H.api_requests(srv))
    end)

    it("an id that is not a UUID is refused before any request, naming it; exit 2", function()
      local f = write_tmp(ID1 .. "\nnot-an-id\n")
      local ua = { INFISICAL_API_URL = srv.url, INFISICAL_UNIVERSAL_AUTH_CLIENT_ID = "fake-client-id",
        INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET = "fake-client-secret" }
      local cases = {
        { { "list", ID1, "a0000000-0000-4000-8000-00000000001" }, nil,
          "argument 2: 'a0000000%-0000%-4000%-8000%-00000000001' is not an identity id" },
        { { "audit", "typo" }, nil, "argument 1: 'typo' is not an identity id" },
        { { "list", "--from-file", f }, nil, "%-%-from%-file .* line 2: 'not%-an%-id' is not an identity id" },
        { { "audit", "-" }, ID1 .. "\n" .. ID2 .. "x\n", "standard input line 2: '" .. esc(ID2) .. "x' is not an identity id" },
        { { "revoke", "-", "--yes" }, "b0000000-0000-4000-8000-00000000000z\n", "standard input line 1: .* is not a token id" },
        { { "revoke", T1, "t-1", "--yes" }, nil, "argument 2: 't%-1' is not a token id" },
      }
      for _, c in ipairs(cases) do
        for _, e in ipairs{ env, ua } do
          srv:reset_fixture(H.FIXTURE)
          local out, rc, err = cli(c[1], e, { stdin = c[2] })
          local what = table.concat(c[1], " ")
          assert.equal(2, rc, what)
          assert.equal("", out, what)
          assert.matches(c[3], err, 1, false)
          assert.matches("UUID", err)
          assert.equal(0, #H.api_requests(srv), what)   -- not even a login
        end
      end
      os.remove(f)
      -- a long value (a token piped in by mistake) is described, not echoed
      local _, rc, err = cli({ "list", "-" }, env, { stdin = H.TOKEN .. "-and-then-some-more-characters-of-a-jwt\n" })
      assert.equal(2, rc)
      assert.is_nil(err:find(H.TOKEN, 1, true))
      assert.matches("a %d+%-byte value is not an identity id", err)
      -- input without ids: nothing to do (spec/26)
      _, rc, err = cli({ "list", "-" }, env, { stdin = "# nothing\n\n" })
      assert.equal(0, rc)
      assert.matches("the input held no identity ids: nothing to do", err)
    end)
  end)

  describe("after an error nothing misleading is printed", function()
    it("no CSV header, no [], no 'no matching tokens' when nothing could be read", function()
      for _, fmt in ipairs{ "table", "csv", "json" } do
        local out, rc, err = cli({ "list", ID3, "--format", fmt }, env)
        assert.equal(2, rc, fmt)
        assert.equal("", out, fmt)
        assert.matches("list " .. esc(ID3) .. ": .*The identity does not have Token Auth", err)
        assert.is_nil(err:find("no matching tokens", 1, true))
      end
      -- with a readable identity beside it, what could be read is still printed
      local out, rc = cli({ "list", ID1, ID3, "--format", "csv" }, env)
      assert.equal(2, rc)
      assert.matches("^identity_id,", out)
      -- and with no error, an empty result is an empty result
      local err
      out, rc, err = cli({ "list", ID1, "--name", "^nothing$" }, env)
      assert.equal(0, rc)
      assert.equal("", out)
      assert.matches("no matching tokens", err)
    end)

    it("configuration problems are said in the command's words", function()
      local base = { INFISICAL_API_URL = srv.url }
      local _, rc, err = cli({ "list", ID1 }, merge(base, { INFISICAL_UNIVERSAL_AUTH_CLIENT_ID = "fake-client-id" }))
      assert.equal(2, rc)
      assert.matches("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID is set but INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET is not", err)
      assert.is_nil(err:find("opts.", 1, true))
      _, rc, err = cli({ "list", ID1 }, merge(base, { INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET = "s3cret" }))
      assert.equal(2, rc)
      assert.matches("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET is set but INFISICAL_UNIVERSAL_AUTH_CLIENT_ID is not", err)
      assert.is_nil(err:find("opts.", 1, true))
      assert.is_nil(err:find("s3cret", 1, true))
      _, rc, err = cli({ "list", ID1 }, merge(base, { INFISICAL_TOKEN = H.TOKEN:sub(1, 4) .. "\t" .. H.TOKEN:sub(5) }))
      assert.equal(2, rc)
      assert.matches("INFISICAL_TOKEN holds a control character", err)
      assert.is_nil(err:find("bad argument", 1, true))
      assert.is_nil(err:find(H.TOKEN, 1, true))
      assert.equal(0, #H.api_requests(srv))
    end)
  end)

  describe("the server option", function()
    it("--domain is --api-url; /api and /api/v1 endings name the same server", function()
      local tok = { INFISICAL_TOKEN = H.TOKEN }
      for _, c in ipairs{
        { "--domain", srv.url }, { "--domain", srv.url .. "/api" }, { "--api-url", srv.url .. "/api/v1" },
        { "--api-url", srv.url .. "/api/v1/" }, { "--domain=" .. srv.url .. "/api/v1" },
      } do
        srv:reset_fixture(H.FIXTURE)
        local argv = { "list", ID1, "--format", "json" }
        for _, a in ipairs(c) do argv[#argv + 1] = a end
        local out, rc, err = cli(argv, tok)
        assert.equal(0, rc, table.concat(c, " ") .. ": " .. err)
        assert.equal(26, #cjson.decode(out))
        for _, r in ipairs(H.api_requests(srv)) do
          -- /api/status: the server's token-lifetime ceiling for the statuses
          if r.path ~= "/api/status" then assert.matches("^/api/v1/auth/token%-auth/identities/", r.path) end
        end
      end
      local out, rc, err = cli({ "list", ID1, "--format", "json" },
        { INFISICAL_TOKEN = H.TOKEN, INFISICAL_API_URL = srv.url .. "/api/v1" })
      assert.equal(0, rc, err)
      assert.equal(26, #cjson.decode(out))
    end)

    it("an API path or two different servers are refused with a clear message, no request", function()
      srv:reset_fixture(H.FIXTURE)
      local _, rc, err = cli({ "list", ID1, "--api-url", srv.url .. "/api/v1/auth/token-auth" }, env)
      assert.equal(2, rc)
      assert.matches("%-%-api%-url must be the server's address .* not '/api/v1/auth/token%-auth'", err)
      _, rc, err = cli({ "list", ID1, "--api-url", srv.url, "--domain", "https://app.infisical.com" }, env)
      assert.equal(2, rc)
      assert.matches("%-%-api%-url and %-%-domain are the same setting", err)
      _, rc, err = cli({ "list", ID1 }, { INFISICAL_TOKEN = H.TOKEN, INFISICAL_API_URL = "ftp://x" })
      assert.equal(2, rc)
      assert.matches("INFISICAL_API_URL must be an http:// or https:// URL", err)
      assert.equal(0, #H.api_requests(srv))
    end)
  end)

  describe("stable output for scripts", function()
    it("the table has the same columns for one identity or several", function()
      local one = cli({ "list", ID1, "--now", NOW }, env)
      local two = cli({ "list", ID1, ID2, "--now", NOW }, env)
      local h1, h2 = one:match("^[^\n]*"), two:match("^[^\n]*")
      assert.matches("^IDENTITY%s+TOKEN ID%s+NAME%s+STATUS", h1)
      assert.equal(h1:gsub("%s+", " "), (h2:gsub("%s+", " ")))
      assert.matches("\n" .. esc(ID1) .. "%s+b0000000%-0000%-4000%-8000%-000000000001%s+token%-01%s", one)
    end)

    it("--no-header for table and CSV, in list and audit", function()
      srv:reset_fixture(H.FIXTURE, { mode = "legacy" })   -- a server that records use
      local out, rc = cli({ "list", ID1, "--no-header", "--now", NOW, "--status", "exhausted" }, env)
      assert.equal(0, rc)
      assert.matches("^" .. esc(ID1) .. "  b0000000%-0000%-4000%-8000%-000000000006  token%-06  exhausted", out)
      assert.equal(1, select(2, out:gsub("\n", "")) + 1)
      out = cli({ "list", ID1, "--no-header", "--format", "csv", "--status", "exhausted", "--now", NOW }, env)
      assert.matches("^" .. esc(ID1) .. ",b0000000%-0000%-4000%-8000%-000000000006,token%-06,exhausted,", out)
      assert.is_nil(out:find("identity_id", 1, true))
      out = cli({ "audit", ID1, "--no-header", "--now", NOW }, env)
      assert.matches("^" .. esc(ID1) .. "%s+26%s+20%s+0%s+1%s+5%s+4%s+1%s+0%s+%-%s+%-%s+findings$", out)
      out = cli({ "audit", ID1, "--no-header", "--format", "csv", "--now", NOW }, env)
      -- the eleven token columns, then nine empty client secret ones (no Universal Auth)
      assert.matches("^" .. esc(ID1) .. ",26,20,0,1,5,4,1,0,false," .. (","):rep(9) .. "$", out)
    end)

    it("short flags, bundled or with attached values", function()
      local long = cli({ "list", ID1, "--format", "json", "--status", "active", "--now", NOW }, env)
      for _, argv in ipairs{
        { "list", ID1, "-f", "json", "-s", "active", "--now", NOW },
        { "list", ID1, "-fjson", "-sactive", "--now", NOW },
        { "list", "-q", ID1, "-qfjson", "--now", NOW, "-s", "active" },
      } do
        local out, rc, err = cli(argv, env)
        assert.equal(0, rc, err)
        assert.equal(long, out)
      end
      local out, rc = cli({ "audit", ID1, ID2, "-c", "1", "-f", "json", "--now", NOW }, env)
      assert.equal(1, rc)
      assert.equal(2, #cjson.decode(out).identities)
      out, rc = cli({ "revoke", T1, "-qy" }, env)
      assert.equal(0, rc)
      assert.equal("", out)
      assert.is_true(revoked_on_server(T1))
    end)

    it("-q leaves only errors on stderr", function()
      local _, rc, err = cli({ "list", ID1, "--name", "^nothing$", "-q" }, env)
      assert.equal(0, rc)
      assert.equal("", err)
      _, rc, err = cli({ "list", ID1, "-s", "exhausted", "--now", NOW, "--revoke-matching", "--quiet" }, env)
      assert.equal(0, rc)
      assert.equal("", err)
      local out
      out, rc, err = cli({ "revoke", T1, "-q" }, env)
      assert.equal(0, rc)
      assert.equal("", out .. err)
      _, rc, err = cli({ "list", ID3, "-q" }, env)
      assert.equal(2, rc)
      assert.matches("The identity does not have Token Auth", err)
    end)

    it("a misspelt option or command gets a 'did you mean'", function()
      for _, c in ipairs{
        { { "list", ID1, "--fromat", "json" }, "unknown option '%-%-fromat' %(did you mean '%-%-format'%?%)" },
        { { "list", ID1, "--revoke-matchign" }, "did you mean '%-%-revoke%-matching'" },
        { { "revoke", T1, "-yes" }, "unknown option '%-yes' %(did you mean '%-%-yes'%?%)" },
        { { "audit", ID1, "--concurency", "2" }, "did you mean '%-%-concurrency'" },
        { { "list", ID1, "--domian", srv.url }, "did you mean '%-%-domain'" },
        { { "lsit", ID1 }, "unknown command 'lsit' %(did you mean 'list'%?%)" },
        { { "identites", "--org", ID1 }, "unknown command 'identites' %(did you mean 'identities'%?%)" },
        { { "zzzzzz" }, "unknown command 'zzzzzz' %(list, audit, revoke, secrets, revoke%-secret or identities%)" },
        { { "list", ID1, "--zzzzzz" }, "unknown option '%-%-zzzzzz'\n" },
        { { "revoke", T1, "--format", "json" }, "option '%-%-format' is not one of revoke's %(audit and identities and list and secrets take it%)" },
        { { "audit", ID1, "--revoked" }, "option '%-%-revoked' is not one of audit's %(list takes it%)" },
      } do
        local _, rc, err = cli(c[1], env)
        assert.equal(2, rc)
        assert.matches(c[2], err)
      end
      assert.equal(0, #H.api_requests(srv))
    end)

    it("the help names every option each subcommand takes, with its short form", function()
      local cli_mod = require "infisical.cli"
      local args = require "infisical.cli.args"
      local help = require "infisical.cli.help"
      for cmd, spec in pairs(cli_mod.OPTIONS) do
        local names = {}
        for k in pairs(spec) do names[#names + 1] = k end
        for k in pairs(args.common) do names[#names + 1] = k end
        for _, k in ipairs(names) do
          assert.matches("%-%-" .. esc(k) .. "[%s=]", help[cmd], 1, false, cmd .. " --" .. k)
        end
        for letter, long in pairs(args.short) do
          if spec[long] or args.common[long] then
            -- on the option's own line: "-f, -o, --format F"
            assert.matches("%-" .. letter .. ", [^\n]*%-%-" .. esc(long), help[cmd], 1, false, cmd .. " -" .. letter)
          end
        end
        for alias, long in pairs(args.aliases) do
          if spec[long] or args.common[long] then
            assert.matches("%-%-" .. esc(alias) .. "[%s=]", help[cmd], 1, false, cmd .. " --" .. alias)
          end
        end
      end
    end)
  end)

  describe("error kinds: refused credentials exit 3, missing permission exit 2 (issue 9 §2)", function()
    local function with_token(tok) return { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = tok } end

    it("a token the server refuses (401 or 403 TokenError): exit 3, said once, nothing on stdout", function()
      for _, tok in ipairs{ "fake-revoked-token", "fake-expired-token", "fake-malformed-token", "garbage" } do
        for _, argv in ipairs{ { "list", ID1 }, { "list", ID1, ID2, "--format", "csv" }, { "list", ID1, "--format", "json" },
            { "audit", ID1, ID2, "--format", "json" } } do
          local out, rc, err = cli(argv, with_token(tok))
          local what = tok .. " " .. table.concat(argv, " ")
          assert.equal(3, rc, what .. ": " .. err)
          assert.matches("auth error", err, 1, true)
          assert.matches("infisical-tokens: the server refused the token in INFISICAL_TOKEN (exit status 3)\n", err, 1, true)
          local _, advices = err:gsub("the server refused", "")
          assert.equal(1, advices, what)
          if argv[1] == "list" then assert.equal("", out, what) end
        end
      end
      local f = write_tmp("fake-revoked-token\n")
      local _, rc, err = cli({ "list", ID1, "--token-file", f }, { INFISICAL_API_URL = srv.url })
      assert.equal(3, rc)
      assert.matches("the server refused the token in %-%-token%-file " .. esc(f), err)
      os.remove(f)
    end)

    it("Universal Auth credentials refused (wrong secret, unknown client id): exit 3, naming the variables", function()
      for _, pair in ipairs{ { "fake-client-id", "wrong-secret" }, { "no-such-client", "fake-client-secret" } } do
        local _, rc, err = cli({ "list", ID1 }, { INFISICAL_API_URL = srv.url,
          INFISICAL_UNIVERSAL_AUTH_CLIENT_ID = pair[1], INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET = pair[2] })
        assert.equal(3, rc, err)
        assert.matches("the server refused the Universal Auth client id and secret %(INFISICAL_UNIVERSAL_AUTH_CLIENT_ID"
          .. " and INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET%)", err)
        assert.is_nil(err:find(pair[2], 1, true))
      end
    end)

    it("a missing permission is exit 2 with advice; every token is still tried", function()
      local out, rc, err = cli({ "list", ID1 }, with_token("fake-noperm-token"))
      assert.equal(2, rc)
      assert.equal("", out)
      assert.matches("permission error", err, 1, true)
      assert.matches("the identity of the token in INFISICAL_TOKEN lacks a permission on identities", err, 1, true)
      out, rc, err = cli({ "revoke", T1, T2, "--yes" }, with_token("fake-noperm-token"))
      assert.equal(2, rc, err)
      assert.equal(2, select(2, err:gsub("permission error", "")))
      assert.equal(3, #H.api_requests(srv))   -- the list's and both revocations
      assert.is_false(revoked_on_server(T1))
    end)

    it("revoke stops at refused credentials: the rest are reported as not tried", function()
      local T3 = "b0000000-0000-4000-8000-000000000003"
      local out, rc, err = cli({ "revoke", T1, T2, T3, "--yes" }, with_token("fake-revoked-token"))
      assert.equal(3, rc)
      assert.equal("", out)
      assert.matches("revoke " .. esc(T1) .. ": auth error", err)
      assert.matches("stopped: 2 more token%(s%) not tried", err)
      assert.equal(1, #H.api_requests(srv))
      -- other HTTP failures keep exit status 2
      _, rc = cli({ "list", ID1, ID3 }, env)
      assert.equal(2, rc)
    end)
  end)

  describe("raised errors never escape", function()
    -- LUA_INIT runs before the command: it makes the library raise, as each_token and
    -- friends do, an error object (or a table with no __tostring, or a string)
    local function raising(what)
      return "local i = require 'infisical'; local core = require 'infisical.core'"
        .. " local C = getmetatable(assert(i.new{ token = 'x', base_url = 'http://127.0.0.1:9' })).__index"
        .. " local function boom() error(" .. what .. ", 0) end"
        .. " C.all_tokens, C.list_many, C.stream_many, C.revoke_token = boom, boom, boom, boom"
    end
    local PATHS = { LUA_PATH = "./lua/?.lua;./lua/?/init.lua;;" }

    it("an error object, a plain table or a string becomes one clean line (lua5.4 and luajit)", function()
      local out, rc = fake.run("make -s luajit 2>&1")
      assert.equal(0, rc, out)
      for _, lua in ipairs{ "lua5.4", "luajit" } do
        local e = merge(env, merge(PATHS, { LUA_CPATH = "./build/" .. lua .. "/?.so;;" }))
        for _, c in ipairs{
          { "core.error{ kind = 'network', message = 'boom\\27[2J' }", "network error: boom%?%[2J" },
          { "core.error{ kind = 'auth', status = 401, message = 'Token missing' }", "auth error: HTTP 401: Token missing", 3 },
          { "{ 'no tostring' }", "unexpected error %(a table value was raised%)" },
          { "'plain string'", "plain string" },
        } do
          e.LUA_INIT = raising(c[1])
          for _, argv in ipairs{ { "list", ID1 }, { "list", ID1, ID2 }, { "audit", ID1 }, { "revoke", T1, "-y" } } do
            local _, code, err = cli(argv, e, { lua = lua })
            local what = lua .. " " .. table.concat(argv, " ") .. " raising " .. c[1]
            assert.equal(c[3] or 2, code, what .. ": " .. err)
            assert.matches("^infisical%-tokens: [^\n]-: " .. c[2], err, 1, false, what)
            assert.is_nil(err:find("error object is not a string", 1, true), what)
            assert.is_nil(err:find("traceback", 1, true), what)
            assert.is_nil(control_in(err), what)
          end
        end
      end
    end)

    it("a library that cannot be loaded is one line, exit 2", function()
      local dir = os.tmpname()
      os.remove(dir)
      assert(fake.run("mkdir -p " .. shq(dir) .. " && cp bin/infisical-tokens " .. shq(dir)))
      for _, lua in ipairs{ "lua5.4", "luajit" } do
        local out, rc, err = cli({ "list", ID1 }, merge(env, { LUA_PATH = "/nonexistent/?.lua",
          LUA_CPATH = "/nonexistent/?.so" }), { lua = lua, bin = dir .. "/infisical-tokens" })
        assert.equal(2, rc, lua)
        assert.equal("", out)
        assert.matches("^infisical%-tokens: cannot load lua%-infisical %(is it installed for Lua 5%.%d%?%): module 'infisical.cli' not found:", err)
        assert.is_nil(err:find("traceback", 1, true))
      end
      fake.run("rm -rf " .. shq(dir))
      -- from the source tree, luajit finds `make luajit`'s module
      local out, rc, err = cli({ "list", ID1, "--format", "json" }, env, { lua = "luajit" })
      assert.equal(0, rc, err)
      assert.equal(26, #cjson.decode(out))
    end)
  end)
end)
