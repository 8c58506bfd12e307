--- infisical-tokens: list, audit and revoke machine-identity tokens from the shell.
-- `bin/infisical-tokens` calls `main(arg)` and exits with what it returns:
-- 0 success, 1 findings (audit) or an incomplete answer (see the help), 2 errors.
-- @module infisical.cli

local infisical = require "infisical"
local status = require "infisical.status"
local args = require "infisical.cli.args"
local out = require "infisical.cli.output"
local audit = require "infisical.cli.audit"
local help = require "infisical.cli.help"
local core = require "infisical.core"
local filters = require "infisical.filters"

local ipairs, tostring, tonumber, pcall, type = ipairs, tostring, tonumber, pcall, type
local concat = table.concat

local _M = {}

local OK, FINDINGS, ERRORS = 0, 1, 2
_M.OK, _M.FINDINGS, _M.ERRORS = OK, FINDINGS, ERRORS

local stdout, stderr = io.stdout, io.stderr

local function say(fmt, ...) stderr:write("infisical-tokens: ", fmt:format(...), "\n") end

local function usage_fail(u)
  say("%s%s", u.cmd and (u.cmd .. ": ") or "", u.message)
  say("see 'infisical-tokens %s--help'", u.cmd and (u.cmd .. " ") or "")
  return ERRORS
end

--- An error object as one line, without the "infisical: " prefix.
local function err_text(err)
  if err.kind == "truncated" then return "list truncated at the server's 200-token wall" end
  return (tostring(err):gsub("^infisical: ", ""))
end

local function read_lines(path)
  local fh, e
  if path == "-" then fh = io.stdin else fh, e = io.open(path, "r") end
  if not fh then return nil, e end
  local lines = {}
  for line in fh:lines() do lines[#lines + 1] = line end
  if fh ~= io.stdin then fh:close() end
  return lines
end

--- The client from the options, then the environment. Returns client or nil (reported).
local function make_client(cmd, o)
  local opts = { base_url = o["api-url"] }
  if o["token-file"] then
    local lines, e = read_lines(o["token-file"])
    if not lines then say("%s: cannot read --token-file: %s", cmd, tostring(e)); return nil end
    local token = (lines[1] or ""):match("^%s*(.-)%s*$")
    if token == "" then say("%s: --token-file %s holds no token", cmd, o["token-file"]); return nil end
    opts.token = token
  end
  if o.timeout then
    local t = tonumber(o.timeout)
    if not t or t <= 0 or t > 86400 then say("%s: --timeout must be seconds > 0", cmd); return nil end
    opts.timeout = t
  end
  opts.ca_file = o["ca-file"]
  if o["no-verify-tls"] then opts.verify_tls = false end
  local ok, client, err = pcall(infisical.new, opts)
  if not ok then say("%s: %s", cmd, (tostring(client):gsub("^infisical: new: ", ""))); return nil end
  if not client then
    local m = err.message or ""
    if m:find("^no access token") then
      m = "no credentials: set INFISICAL_TOKEN, or use --token-file FILE, or set"
        .. " INFISICAL_UNIVERSAL_AUTH_CLIENT_ID and INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET"
    elseif m:find("^base_url") then
      m = "--api-url (or INFISICAL_API_URL) must be an http:// or https:// URL"
    end
    say("%s: %s", cmd, m)
    return nil
  end
  return client
end

local function get_now(cmd, o)
  if o.now == nil then return os.time() end
  local t = status.parse_time(o.now)
  if not t then return nil, args.usage(cmd, "--now must be an ISO-8601 time like 2024-06-01T12:00:00Z") end
  return t
end

local function unique(list)
  local seen, outl = {}, {}
  for _, v in ipairs(list) do
    if not seen[v] then seen[v] = true; outl[#outl + 1] = v end
  end
  return outl
end

--- Fetches every identity's tokens (partial at the wall): list_many when the client
-- has it, else one identity after the other. Calls `each(i, id, tokens, err)` in input order.
local function fetch_all(client, ids, fopts, concurrency)
  local results = {}
  if client.list_many and #ids > 1 then
    fopts.concurrency = concurrency
    local res, errs = client:list_many(ids, fopts)
    fopts.concurrency = nil
    for i, id in ipairs(ids) do
      local e, got = errs[id], res[id]
      local tokens
      if not e then tokens = got
      elseif e.kind == "truncated" then tokens = got or e.tokens end
      results[i] = { id = id, tokens = tokens, err = e }
    end
  else
    for i, id in ipairs(ids) do
      local tokens, e = client:all_tokens(id, fopts)
      if not tokens and e and e.kind == "truncated" then tokens = e.tokens end
      results[i] = { id = id, tokens = tokens, err = e }
    end
  end
  return results
end

-- list ---------------------------------------------------------------------------------

local LIST_SPEC = {
  ["auth-method"] = "list", revoked = "flag", active = "flag", status = "list",
  ["unused-for"] = "value", name = "value", format = "value", ["page-size"] = "value",
  ["revoke-matching"] = "flag", yes = "flag",
}

local function filter_opts(cmd, o, now)
  local f = { now = now, partial = true }
  f.auth_method = o["auth-method"]
  local st = o.status
  if o.revoked and o.active then return nil, args.usage(cmd, "--revoked and --active exclude each other") end
  if (o.revoked or o.active) and st then
    return nil, args.usage(cmd, "--status cannot be combined with --revoked or --active")
  end
  if o.revoked then st = { "revoked" } elseif o.active then st = { "active" } end
  if st then
    for _, s in ipairs(st) do
      if not status.STATUSES[s] then
        return nil, args.usage(cmd, ("unknown status '%s' (revoked, expired, exhausted or active)"):format(s))
      end
    end
    f.status = st
  end
  if o["unused-for"] then
    f.unused_for = status.parse_duration(o["unused-for"])
    if not f.unused_for then
      return nil, args.usage(cmd, "--unused-for takes a duration like 30d, 12h, 90m or 3600")
    end
  end
  if o.name then
    if not pcall(string.find, "", o.name) then
      return nil, args.usage(cmd, "--name is not a valid Lua pattern: " .. o.name)
    end
    f.name = o.name
  end
  local ps, u = args.int(cmd, o, "page-size", 1, 100)
  if u then return nil, u end
  f.page_size = ps
  return f
end

local function check_format(cmd, o, allowed)
  local f = o.format or "table"
  if not allowed[f] then
    return nil, args.usage(cmd, ("unknown format '%s' (table, json or csv)"):format(f))
  end
  return f
end

local FORMATS = { table = true, json = true, csv = true }
local CSV_HEAD = { "identity_id", "id", "name", "status", "expires_at", "uses", "uses_limit",
  "last_used_at", "created_at", "auth_method", "revoked" }

local function print_tokens(fmt, results, now, multi)
  local all = {}
  for _, r in ipairs(results) do
    for _, t in ipairs(r.tokens or {}) do all[#all + 1] = { r.id, t } end
  end
  if fmt == "json" then
    local list = out.array()
    for i, p in ipairs(all) do list[i] = out.token_json(p[2], now) end
    stdout:write(out.json(list))
  elseif fmt == "csv" then
    local rows = {}
    for i, p in ipairs(all) do
      local t = p[2]
      local exp = status.expires_at(t)
      rows[i] = { p[1], t.id, t.name, status.token_status(t, now), exp and out.time(exp, true),
        t.accessTokenNumUses, t.accessTokenNumUsesLimit, t.accessTokenLastUsedAt, t.createdAt,
        filters.auth_method(t),
        t.isAccessTokenRevoked and "true" or "false" }
    end
    stdout:write(out.csv(CSV_HEAD, rows))
  else
    local head = { "TOKEN ID", "NAME", "STATUS", "EXPIRES (UTC)", "USES", "LAST USED (UTC)", "CREATED (UTC)" }
    if multi then table.insert(head, 1, "IDENTITY") end
    local rows = {}
    for i, p in ipairs(all) do
      local t = p[2]
      local r = { t.id, t.name or "-", status.token_status(t, now), out.expiry(t), out.uses(t),
        out.time(status.parse_time(t.accessTokenLastUsedAt)) or "never",
        out.time(status.parse_time(t.createdAt)) or "unknown" }
      if multi then table.insert(r, 1, p[1]) end
      rows[i] = r
    end
    if #rows == 0 then
      stderr:write("no matching tokens\n")
    else
      stdout:write(out.table(head, rows, multi and { [6] = true } or { [5] = true }))
    end
  end
end

--- Revokes `tokens` (or says what it would do). Returns counts revoked, already, failed.
local function revoke_list(client, list, yes, stream)
  local done, already, failed = 0, 0, 0
  for _, item in ipairs(list) do
    local id, label = item.id, item.label or ""
    if not yes then
      stream:write("would revoke ", id, label, "\n")
    else
      local ok, err = client:revoke_token(id)
      if ok then
        done = done + 1
        stream:write("revoked ", id, label, "\n")
      elseif err.kind == "already_revoked" then
        already = already + 1
        stream:write("already revoked ", id, label, "\n")
      else
        failed = failed + 1
        say("revoke %s: %s", id, err_text(err))
      end
    end
  end
  if not yes and #list > 0 then
    say("dry run: %d token(s) would be revoked; pass --yes to revoke them", #list)
  end
  return done, already, failed
end

local function cmd_list(argv, first)
  local cmd = "list"
  local o, pos = args.parse(cmd, argv, first, LIST_SPEC)
  if not o then return usage_fail(pos) end
  if o.help then stdout:write(help.list); return OK end
  local now, u = get_now(cmd, o)
  if not now then return usage_fail(u) end
  local fopts
  fopts, u = filter_opts(cmd, o, now)
  if not fopts then return usage_fail(u) end
  local fmt
  fmt, u = check_format(cmd, o, FORMATS)
  if not fmt then return usage_fail(u) end
  if o.yes and not o["revoke-matching"] then return usage_fail(args.usage(cmd, "--yes only goes with --revoke-matching")) end
  if #pos == 0 then return usage_fail(args.usage(cmd, "missing IDENTITY_ID (give one or more identity ids)")) end
  local ids = unique(pos)
  local client = make_client(cmd, o)
  if not client then return ERRORS end

  local results = fetch_all(client, ids, fopts, 8)
  local rc = OK
  for _, r in ipairs(results) do
    if r.err then
      say("list %s: %s", r.id, err_text(r.err))
      if r.err.kind == "truncated" then
        if rc == OK then rc = FINDINGS end
      else
        rc = ERRORS
      end
    end
  end
  print_tokens(fmt, results, now, #ids > 1)

  if o["revoke-matching"] then
    local list = {}
    for _, r in ipairs(results) do
      for _, t in ipairs(r.tokens or {}) do
        if not t.isAccessTokenRevoked then
          list[#list + 1] = { id = t.id, label = t.name and (" (" .. out.clean(t.name) .. ")") or "" }
        end
      end
    end
    local _, _, failed = revoke_list(client, list, o.yes, stderr)
    if failed > 0 then rc = ERRORS end
  end
  client:close()
  return rc
end

-- audit --------------------------------------------------------------------------------

local AUDIT_SPEC = { ["from-file"] = "value", format = "value", concurrency = "value", ["page-size"] = "value" }

local function is_tty(fd)
  local ok = os.execute("test -t " .. fd)
  return ok == true or ok == 0
end

local function cmd_audit(argv, first)
  local cmd = "audit"
  local o, pos = args.parse(cmd, argv, first, AUDIT_SPEC)
  if not o then return usage_fail(pos) end
  if o.help then stdout:write(help.audit); return OK end
  local now, u = get_now(cmd, o)
  if not now then return usage_fail(u) end
  local fmt
  fmt, u = check_format(cmd, o, FORMATS)
  if not fmt then return usage_fail(u) end
  local conc, ps
  conc, u = args.int(cmd, o, "concurrency", 1, 64)
  if u then return usage_fail(u) end
  ps, u = args.int(cmd, o, "page-size", 1, 100)
  if u then return usage_fail(u) end
  local ids = {}
  for _, id in ipairs(pos) do ids[#ids + 1] = id end
  if o["from-file"] then
    local lines, e = read_lines(o["from-file"])
    if not lines then say("audit: cannot read --from-file: %s", tostring(e)); return ERRORS end
    for _, line in ipairs(lines) do
      local id = line:gsub("#.*$", ""):match("^%s*(.-)%s*$")
      if id ~= "" then ids[#ids + 1] = id end
    end
  end
  if #ids == 0 then
    return usage_fail(args.usage(cmd, "missing IDENTITY_ID (give identity ids or --from-file FILE)"))
  end
  ids = unique(ids)
  local client = make_client(cmd, o)
  if not client then return ERRORS end

  local fopts = { partial = true, page_size = ps }
  local results, index = {}, {}
  for i, id in ipairs(ids) do index[id] = i; results[i] = { id = id } end
  local function take(id, tokens, err)
    local r = results[index[id]]
    if err and err.kind ~= "truncated" then
      r.err, r.error_text = err, err_text(err)
      r.short_text = err.status and ("HTTP %d %s: %s"):format(err.status, tostring(err.error or ""),
        type(err.message) == "string" and err.message or "") or (err.kind .. ": " .. tostring(err.message))
    else
      r.summary = audit.summarize(tokens or (err and err.tokens) or {}, now, err ~= nil)
    end
  end
  local progress = is_tty(2)
  local started, shown, done = core.monotime(), false, 0
  local function tick()
    done = done + 1
    if progress and (shown or core.monotime() - started > 1) then
      shown = true
      stderr:write(("\raudit: %d/%d identities"):format(done, #ids))
    end
  end
  if client.stream_many then
    -- list_many's streaming form: same requests, and a result per identity as it completes
    for id, tokens, err in client:stream_many(ids, { partial = true, page_size = ps, concurrency = conc or 8 }) do
      take(id, tokens, err); tick()
    end
  else
    for _, id in ipairs(ids) do
      local tokens, err = client:all_tokens(id, fopts)
      take(id, tokens, err); tick()
    end
  end
  if shown then stderr:write("\r\27[K") end
  client:close()

  local findings, errors = 0, 0
  for _, r in ipairs(results) do
    if r.err then errors = errors + 1
    elseif r.summary.findings > 0 then findings = findings + 1 end
  end
  if fmt == "json" then
    stdout:write(out.json(audit.json(results, now)))
  elseif fmt == "csv" then
    local rows = {}
    for i, r in ipairs(results) do
      local s = r.summary
      if s then
        rows[i] = { r.id, s.total, s.counts.active, s.counts.expired, s.counts.exhausted, s.counts.revoked,
          #s.never_used, #s.near_limit, #s.expiring_soon, tostring(s.truncated), "" }
      else
        rows[i] = { r.id, "", "", "", "", "", "", "", "", "", r.error_text }
      end
    end
    stdout:write(out.csv({ "identity_id", "tokens", "active", "expired", "exhausted", "revoked",
      "never_used", "near_limit", "expiring_soon", "truncated", "error" }, rows))
  else
    stdout:write(audit.table(results))
    stdout:write(("\n%d identit%s audited at %s: %d with findings, %d with errors\n"):format(#ids,
      #ids == 1 and "y" or "ies", out.time(now, true), findings, errors))
  end
  for _, r in ipairs(results) do
    if r.err then say("audit %s: %s", r.id, r.error_text) end
  end
  if errors > 0 then return ERRORS end
  if findings > 0 then return FINDINGS end
  return OK
end

-- revoke -------------------------------------------------------------------------------

local function cmd_revoke(argv, first)
  local cmd = "revoke"
  local o, pos = args.parse(cmd, argv, first, { yes = "flag" })
  if not o then return usage_fail(pos) end
  if o.help then stdout:write(help.revoke); return OK end
  if #pos == 0 then return usage_fail(args.usage(cmd, "missing TOKEN_ID (give one or more token ids)")) end
  local list = {}
  for i, id in ipairs(unique(pos)) do list[i] = { id = id } end
  local client
  if o.yes then
    client = make_client(cmd, o)
    if not client then return ERRORS end
  end
  local _, already, failed = revoke_list(client, list, o.yes, stdout)
  if client then client:close() end
  if failed > 0 then return ERRORS end
  if already > 0 then return FINDINGS end
  return OK
end

-- main ---------------------------------------------------------------------------------

local COMMANDS = { list = cmd_list, audit = cmd_audit, revoke = cmd_revoke }

--- Runs the command line `argv` (an `arg`-style array); returns the exit status.
function _M.main(argv)
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
      return usage_fail(args.usage(nil, ("put options after the command: unknown command '%s'"):format(a)))
    end
    return usage_fail(args.usage(nil, ("unknown command '%s' (list, audit or revoke)"):format(a)))
  end
  local ok, rc = pcall(run, argv, 2)
  if not ok then
    say("%s: %s", a, type(rc) == "table" and err_text(rc) or tostring(rc))
    return ERRORS
  end
  stdout:flush()
  return rc
end

return _M
