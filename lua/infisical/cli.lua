--- infisical-tokens: list, audit and revoke machine-identity tokens, and list an
-- organisation's identities, from the shell.
-- `bin/infisical-tokens` calls `main(arg)` and exits with what it returns:
-- 0 success, 1 findings (audit) or an incomplete answer (see the help), 2 errors,
-- 3 credentials refused by the server.
-- Everything printed that came from the server (or from input) goes through
-- `output.clean`, `output.csv` or the JSON encoder: no control character reaches the terminal.
-- @module infisical.cli

local infisical = require "infisical"
local status = require "infisical.status"
local args = require "infisical.cli.args"
local out = require "infisical.cli.output"
local audit = require "infisical.cli.audit"
local help = require "infisical.cli.help"
local ids_mod = require "infisical.cli.ids"
local core = require "infisical.core"
local pace = require "infisical.pace"
local filters = require "infisical.filters"
local options = require "infisical.options"

local ipairs, tostring, tonumber, pcall, type, getmetatable = ipairs, tostring, tonumber,
  pcall, type, getmetatable
local getenv = os.getenv

local _M = {}

local OK, FINDINGS, ERRORS, REFUSED = 0, 1, 2, 3
_M.OK, _M.FINDINGS, _M.ERRORS, _M.REFUSED = OK, FINDINGS, ERRORS, REFUSED

local stdout, stderr = io.stdout, io.stderr

-- -q: only errors on stderr (set per run by each subcommand)
local quiet = false

--- One line on stderr, cleaned whole: server messages, ids and file names in it can hold
-- escape sequences (a hostile or broken server's), and this is where they all pass.
local function say(fmt, ...)
  stderr:write("infisical-tokens: ", out.clean(fmt:format(...)), "\n")
end

--- An informational line (not an error): left out with -q.
local function note(fmt, ...)
  if not quiet then say(fmt, ...) end
end

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

--- Any raised value as one line: error objects as above, strings as they are, anything
-- else by its type (never "(error object is not a string)", never a traceback).
local function describe(e)
  if core.is_error(e) then return err_text(e) end
  if type(e) == "string" then return e end
  local mt = type(e) == "table" and getmetatable(e)
  if mt and mt.__tostring then
    local ok, s = pcall(tostring, e)
    if ok and type(s) == "string" then return s end
  end
  return "unexpected error (a " .. type(e) .. " value was raised)"
end

--- The exit status for a failure: 3 when the server refused the credentials.
local function fail_status(err)
  if core.is_error(err) and err.kind == "auth" then return REFUSED end
  return ERRORS
end

-- What the credentials were, in the command's words (set by make_client), for advice.
local cred_source = "the credentials"

--- Advice once per run, after the per-item errors, for failures whose cure is the same
-- everywhere: refused credentials and missing permissions.
local function advise(errs)
  local auth, perm = false, false
  for _, e in ipairs(errs) do
    if core.is_error(e) then
      if e.kind == "auth" then auth = true elseif e.kind == "permission" then perm = true end
    end
  end
  if auth then say("the server refused %s (exit status 3)", cred_source) end
  if perm then
    say("the identity of %s lacks a permission on identities (read to list and audit, edit"
      .. " to revoke)", cred_source)
  end
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

local function env(name)
  local v = getenv(name)
  if v == "" then return nil end
  return v
end

--- The server's base URL from --api-url, --domain (the Infisical CLI's name for it) or
-- INFISICAL_API_URL, as the library takes it: an URL ending in /api/v1 (or another API
-- version) means its server; any other API path is refused.
-- @return url (nil: the library's default), or nil and a message
local function api_base(o)
  local url, from = o["api-url"], "--api-url"
  if o.domain then
    if url and url ~= o.domain then
      return nil, "--api-url and --domain are the same setting: give one"
    end
    url, from = o.domain, "--domain"
  end
  if not url then url, from = env("INFISICAL_API_URL"), "INFISICAL_API_URL" end
  if not url then return nil end
  local u = url:gsub("/+$", ""):gsub("/api/v%d+$", "/api")
  local path = u:match("^%a[%w+.-]*://[^/]*(/.*)$")
  if path and path:find("/api/", 1, true) then
    return nil, ("%s must be the server's address (like https://app.infisical.com, with or"
      .. " without /api), not an API path (%s)"):format(from, path)
  end
  if not require("infisical.http").normalize_base(u) then
    return nil, ("%s must be an http:// or https:// URL without query or fragment"):format(from)
  end
  return u
end

--- The credentials, in the library's terms, from --token-file or the environment (the
-- same order as the library's), with every complaint in the command's words.
-- @return opts fields, or nil (reported)
local function credentials(cmd, o)
  if o["token-file"] then
    local path = o["token-file"]
    local lines, e = read_lines(path)
    if not lines then say("%s: cannot read --token-file: %s", cmd, tostring(e)); return nil end
    local token = (lines[1] or ""):match("^%s*(.-)%s*$")
    if token == "" then say("%s: --token-file %s holds no token", cmd, path); return nil end
    if token:find("%c") then
      say("%s: the token in --token-file %s holds a control character", cmd, path)
      return nil
    end
    cred_source = "the token in --token-file " .. path
    return { token = token }
  end
  local token = env("INFISICAL_TOKEN")
  if token then
    if token:find("%c") then say("%s: INFISICAL_TOKEN holds a control character", cmd); return nil end
    cred_source = "the token in INFISICAL_TOKEN"
    return { token = token }
  end
  local id = env("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID")
  local secret = env("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET")
  if not id and not secret then
    say("%s: no credentials: set INFISICAL_TOKEN, or use --token-file FILE, or set"
      .. " INFISICAL_UNIVERSAL_AUTH_CLIENT_ID and INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", cmd)
    return nil
  elseif not id or not secret then
    say("%s: %s is set but %s is not: Universal Auth needs both (or set INFISICAL_TOKEN, or"
      .. " use --token-file FILE)", cmd,
      id and "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID" or "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
      id and "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET" or "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID")
    return nil
  end
  cred_source = "the Universal Auth client id and secret (INFISICAL_UNIVERSAL_AUTH_CLIENT_ID"
    .. " and INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET)"
  return { client_id = id, client_secret = secret }
end

--- The client from the options, then the environment. Returns client or nil (reported).
local function make_client(cmd, o)
  local base, berr = api_base(o)
  if berr then say("%s: %s", cmd, berr); return nil end
  local opts = credentials(cmd, o)
  if not opts then return nil end
  opts.base_url = base
  if o.timeout then
    local t = tonumber(o.timeout)
    -- the library's own check of timeout (options.lua), so the command takes what new takes
    if not t or options.kinds.seconds(t) then say("%s: --timeout must be seconds > 0", cmd); return nil end
    opts.timeout = t
  end
  opts.ca_file = o["ca-file"]
  if o["no-verify-tls"] then opts.verify_tls = false end
  local ok, client, err = pcall(infisical.new, opts)
  if not ok then say("%s: %s", cmd, (describe(client):gsub("^infisical: new: ", ""))); return nil end
  if not client then say("%s: %s", cmd, err_text(err)); return nil end
  return client
end

--- The ids of a subcommand (see cli/ids.lua), or nil and the exit status (reported).
local function collect_ids(cmd, what, metavar, o, pos)
  local stdin_ids = o["from-file"] == "-"
  for _, a in ipairs(pos) do if a == "-" then stdin_ids = true end end
  if stdin_ids and o["token-file"] == "-" then
    return nil, usage_fail(args.usage(cmd, "standard input can hold the ids or the token"
      .. " (--token-file -), not both"))
  end
  local ids, u, rerr = ids_mod.collect(cmd, what, metavar, pos, o["from-file"])
  if ids then return ids end
  if u then return nil, usage_fail(u) end
  say("%s: %s", cmd, rerr)
  return nil, ERRORS
end

local function get_now(cmd, o)
  if o.now == nil then return os.time() end
  local t = status.parse_time(o.now)
  if not t then return nil, args.usage(cmd, "--now must be an ISO-8601 time like 2024-06-01T12:00:00Z") end
  return t
end

--- Fetches every identity's tokens (partial at the wall), in input order: list_many for
-- several identities, all_tokens for one.
local function fetch_all(client, ids, fopts)
  local results = {}
  if #ids > 1 then
    fopts.concurrency = options.default("concurrency", options.MANY)
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
  ["revoke-matching"] = "flag", yes = "flag", ["from-file"] = "value", ["no-header"] = "flag",
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
  local ps, u = args.int(cmd, o, "page-size", options.range("page_size"))
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

-- The table's columns are the same for one identity or several (scripts cut them).
local TABLE_HEAD = { "IDENTITY", "TOKEN ID", "NAME", "STATUS", "EXPIRES (UTC)", "USES", "LAST USED (UTC)",
  "CREATED (UTC)" }

--- Prints the tokens read. After a failure, an empty result is not printed at all (no
-- CSV header, no `[]`, no "no matching tokens"): it would read as "there are none".
local function print_tokens(fmt, results, now, no_header, failed, sv)
  local all = {}
  for _, r in ipairs(results) do
    for _, t in ipairs(r.tokens or {}) do all[#all + 1] = { r.id, t } end
  end
  if #all == 0 and failed then return end
  if fmt == "json" then
    local list = out.array()
    for i, p in ipairs(all) do list[i] = out.token_json(p[2], now, sv) end
    stdout:write(out.json(list))
  elseif fmt == "csv" then
    local rows = {}
    for i, p in ipairs(all) do
      local t = p[2]
      local exp = status.expires_at(t, sv)
      rows[i] = { p[1], t.id, t.name, status.token_status(t, now, sv), exp and out.time(exp, true),
        t.accessTokenNumUses, t.accessTokenNumUsesLimit, t.accessTokenLastUsedAt, t.createdAt,
        filters.auth_method(t),
        t.isAccessTokenRevoked and "true" or "false" }
    end
    stdout:write(out.csv(CSV_HEAD, rows, no_header))
  else
    local rows = {}
    for i, p in ipairs(all) do
      local t = p[2]
      rows[i] = { p[1], t.id, t.name or "-", status.token_status(t, now, sv), out.expiry(t, sv), out.uses(t, sv),
        out.last_used(t, sv),
        out.time(status.parse_time(t.createdAt)) or "unknown" }
    end
    if #rows == 0 then
      note("no matching tokens")
    else
      stdout:write(out.table(TABLE_HEAD, rows, { [6] = true }, no_header))
    end
  end
end

--- Revokes the tokens of `list` (or says what it would do), each reported on `stream`
-- (cleaned: ids and names can come from the server). A token that cannot be revoked is
-- reported and the rest are still tried; refused credentials stop the run (every other
-- request would be refused too).
-- @return counts revoked, already, failed; and the errors met
local function revoke_list(client, list, yes, stream)
  local done, already, failed, would, errs = 0, 0, 0, 0, {}
  local function line(what, id, label)
    if not quiet then stream:write(what, " ", out.clean(id), label, "\n") end
  end
  for i, item in ipairs(list) do
    local id, label = item.id, item.label or ""
    if not ids_mod.is_uuid(id) then
      -- only a server can put it here (ids from the user were checked before any request)
      failed = failed + 1
      say("revoke %s%s: not revoked: the server listed a token id that is not a UUID",
        ids_mod.show(id), label)
    elseif not yes then
      would = would + 1
      line("would revoke", id, label)
    else
      local ok, res, err = pcall(client.revoke_token, client, id)
      if not ok then res, err = nil, res end
      if res then
        done = done + 1
        line("revoked", id, label)
      elseif core.is_error(err) and err.kind == "already_revoked" then
        already = already + 1
        line("already revoked", id, label)
      else
        failed = failed + 1
        errs[#errs + 1] = err
        say("revoke %s: %s", id, describe(err))
        if core.is_error(err) and err.kind == "auth" then
          if i < #list then say("stopped: %d more token(s) not tried", #list - i) end
          failed = failed + #list - i
          break
        end
      end
    end
  end
  if not yes and would > 0 then
    note("dry run: %d token(s) would be revoked; pass --yes to revoke them", would)
  end
  return done, already, failed, errs
end

--- The worst exit status of `errs` (3 refused beats 2 errors), or `rc`.
local function worst(rc, errs)
  for _, e in ipairs(errs) do
    local st = fail_status(e)
    if st > rc then rc = st end
  end
  return rc
end

local function cmd_list(argv, first)
  local cmd = "list"
  local o, pos = args.parse(cmd, argv, first, LIST_SPEC)
  if not o then return usage_fail(pos) end
  if o.help then stdout:write(help.list); return OK end
  quiet = o.quiet == true
  local now, u = get_now(cmd, o)
  if not now then return usage_fail(u) end
  local fopts
  fopts, u = filter_opts(cmd, o, now)
  if not fopts then return usage_fail(u) end
  local fmt
  fmt, u = check_format(cmd, o, FORMATS)
  if not fmt then return usage_fail(u) end
  if o.yes and not o["revoke-matching"] then return usage_fail(args.usage(cmd, "--yes only goes with --revoke-matching")) end
  local ids, status_code = collect_ids(cmd, "identity", "IDENTITY_ID", o, pos)
  if not ids then return status_code end
  local client = make_client(cmd, o)
  if not client then return ERRORS end

  local results = fetch_all(client, ids, fopts)
  local rc, errs, failed = OK, {}, false
  -- the statuses take what the server enforces (learned once; the filters may have asked)
  local sv, serr, any = nil, nil, false
  for _, r in ipairs(results) do if r.tokens and #r.tokens > 0 then any = true end end
  if any then sv, serr = client:server_info() end
  if any and not sv then
    say("list: %s", err_text(serr))
    rc, failed = ERRORS, true
    errs[#errs + 1] = serr
  end
  for _, r in ipairs(results) do
    if r.err then
      say("list %s: %s", r.id, err_text(r.err))
      if r.err.kind == "truncated" then
        if rc == OK then rc = FINDINGS end
      else
        rc, failed = ERRORS, true
        errs[#errs + 1] = r.err
      end
    end
  end
  print_tokens(fmt, results, now, o["no-header"], failed, sv)

  if o["revoke-matching"] then
    local list = {}
    for _, r in ipairs(results) do
      for _, t in ipairs(r.tokens or {}) do
        if not t.isAccessTokenRevoked then
          list[#list + 1] = { id = t.id, label = t.name and (" (" .. out.clean(t.name) .. ")") or "" }
        end
      end
    end
    local _, _, nfailed, rerrs = revoke_list(client, list, o.yes, stderr)
    if nfailed > 0 then rc = ERRORS end
    for _, e in ipairs(rerrs) do errs[#errs + 1] = e end
  end
  client:close()
  advise(errs)
  return worst(rc, errs)
end

-- audit --------------------------------------------------------------------------------

local AUDIT_SPEC = { ["from-file"] = "value", format = "value", concurrency = "value", ["page-size"] = "value",
  ["no-header"] = "flag", org = "value" }

-- audit --org reads the organisation's identities this many a request (the server takes up
-- to 20000; 1000 keeps a page well under the library's max_body and the requests few).
local ORG_PAGE = help.ORG_PAGE

local function is_tty(fd)
  local ok = os.execute("test -t " .. fd)
  return ok == true or ok == 0
end

--- audit, step 1: the arguments. Returns the settings, or nil and the exit status.
local function audit_parse(argv, first)
  local cmd = "audit"
  local o, pos = args.parse(cmd, argv, first, AUDIT_SPEC)
  if not o then return nil, usage_fail(pos) end
  if o.help then stdout:write(help.audit); return nil, OK end
  quiet = o.quiet == true
  local now, u = get_now(cmd, o)
  if not now then return nil, usage_fail(u) end
  local fmt
  fmt, u = check_format(cmd, o, FORMATS)
  if not fmt then return nil, usage_fail(u) end
  local conc, ps
  conc, u = args.int(cmd, o, "concurrency", 1, 64)
  if u then return nil, usage_fail(u) end
  ps, u = args.int(cmd, o, "page-size", options.range("page_size"))
  if u then return nil, usage_fail(u) end
  local a = { cmd = cmd, o = o, now = now, fmt = fmt, page_size = ps,
    concurrency = conc or options.default("concurrency", options.MANY) }
  if o.org ~= nil then
    -- the organisation's identities are the whole input: ids beside them are refused
    -- rather than guessed at (added? a subset?); `identities --org ORG --token-auth`
    -- lists the ids to choose from
    if #pos > 0 or o["from-file"] then
      return nil, usage_fail(args.usage(cmd, "--org audits every identity of the organisation:"
        .. " give identity ids ('-', --from-file) or --org, not both"))
    end
    if o.org == "" then return nil, usage_fail(args.usage(cmd, "--org needs the organisation's id")) end
    if o.org:find("%c") then
      return nil, usage_fail(args.usage(cmd, "--org must not contain control characters"))
    end
    a.org = o.org
    return a
  end
  if #pos == 0 and not o["from-file"] then
    return nil, usage_fail(args.usage(cmd, "missing IDENTITY_ID (give identity ids, '-' to read them"
      .. " from standard input, --from-file FILE, or --org ORG_ID for a whole organisation)"))
  end
  local ids, status_code = collect_ids(cmd, "identity", "IDENTITY_ID", o, pos)
  if not ids then return nil, status_code end
  a.ids = ids
  return a
end

--- The progress line on stderr (a terminal only, not with -q), shown once the run has
-- taken a second; rewritten in place, cleared at the end.
local function new_progress()
  local p = { on = not quiet and is_tty(2), started = core.monotime(), shown = false, len = 0 }
  function p.show(text)
    if not p.on or not (p.shown or core.monotime() - p.started > 1) then return end
    p.shown = true
    -- a shorter line than the last one clears what is left of it
    stderr:write("\r", text, #text < p.len and "\27[K" or "")
    p.len = #text
  end
  function p.clear()
    if p.shown then stderr:write("\r\27[K") end
    p.shown, p.len = false, 0
  end
  return p
end

--- audit --org, step 2a: the organisation's identities, in the server's order; the ones
-- without Token Auth become skipped results. Returns results and the ids to audit, or nil
-- and the exit status (reported: nothing is printed on stdout after this failure).
local function discover(a, client, progress)
  local results, ids = {}, {}
  local ok, err = pcall(function()
    for m in client:each_identity(a.org, { page_size = ORG_PAGE }) do
      local r = { id = m.identity.id, name = m.identity.name,
        auth_methods = infisical.auth_methods(m) }
      if infisical.uses_token_auth(m) then ids[#ids + 1] = r.id else r.skipped = true end
      results[#results + 1] = r
      -- a full page read: the next one is asked for now (the server's wait is there)
      if #results % ORG_PAGE == 0 then
        progress.show(("audit: reading the organisation's identities: %d"):format(#results))
      end
    end
  end)
  progress.clear()
  if not ok then
    say("audit --org %s: %s", a.org, describe(err))
    advise({ err })
    return nil, fail_status(err)
  end
  return results, ids
end

--- audit, step 2: every identity's tokens summed up (or its error), in input order, with
-- a progress line on a terminal. Returns the results, or nil and the exit status.
local function audit_fetch(a)
  local client = make_client(a.cmd, a.o)
  if not client then return nil, ERRORS end
  local progress = new_progress()
  local results, index, ids = {}, {}, a.ids
  if a.org then
    local rc
    results, rc = discover(a, client, progress)
    if not results then client:close(); return nil, rc end
    ids = rc
    a.ids = ids
    for i, r in ipairs(results) do index[r.id] = i end
  else
    for i, id in ipairs(ids) do index[id] = i; results[i] = { id = id } end
  end
  local now = a.now
  local limited = 0
  local function take(id, tokens, err)
    local r = results[index[id]]
    if err and err.kind ~= "truncated" then
      r.err, r.error_text = err, err_text(err)
      r.short_text = err.status and ("HTTP %d %s: %s"):format(err.status, tostring(err.error or ""),
        type(err.message) == "string" and err.message or "") or (err.kind .. ": " .. tostring(err.message))
      if err.status == 429 then limited = limited + 1 end
    else
      r.summary = audit.summarize(tokens or (err and err.tokens) or {}, now, err ~= nil, a.server)
    end
  end
  local started, done = core.monotime(), 0
  local function tick()
    done = done + 1
    -- the library's pauses for the server's rate limit, on every path (pages, logins and
    -- the concurrent token requests)
    local paused = pace.paused(client)
    progress.show(audit.progress_line{ done = done, total = #ids, elapsed = core.monotime() - started,
      pauses = paused.n, waited = paused.seconds, limited = limited })
  end
  if #ids > 0 then
    -- what the server enforces (its token-lifetime ceiling, whether it records use), once
    local sv, serr = client:server_info()
    if not sv then
      say("audit: %s", err_text(serr))
      advise({ serr })
      client:close()
      return nil, fail_status(serr)
    end
    a.server = sv
    -- list_many's streaming form: a result per identity as it completes. Refused
    -- credentials stop it: every other request would be refused too (an organisation's
    -- thousands of them), so the identities not done yet are reported as not tried.
    local iter, st, ctl, run = client:stream_many(ids, { partial = true, page_size = a.page_size,
      concurrency = a.concurrency })
    for id, tokens, err in iter, st, ctl, run do
      take(id, tokens, err); tick()
      if err and core.is_error(err) and err.kind == "auth" then
        a.stopped = true
        break
      end
    end
    run:close()   -- (what `break` does by itself on Lua 5.4)
    if a.stopped then
      for _, r in ipairs(results) do
        if not r.summary and not r.err and not r.skipped then
          r.not_tried = true
          r.err = { kind = "not_tried", message = "not tried: the server refused the credentials" }
          r.error_text, r.short_text = r.err.message, r.err.message
        end
      end
    end
  end
  progress.clear()
  client:close()
  return results
end

--- audit, step 3: the report in the chosen format, the errors on stderr; returns the
-- exit status.
local function audit_render(a, results)
  local ids, now, o = a.ids, a.now, a.o
  local findings, errors, skipped, errs = 0, 0, 0, {}
  for _, r in ipairs(results) do
    if r.err then errors = errors + 1; errs[#errs + 1] = r.err
    elseif r.skipped then skipped = skipped + 1
    elseif r.summary.findings > 0 then findings = findings + 1 end
  end
  if a.fmt == "json" then
    stdout:write(out.json(audit.json(results, now, a.org)))
  elseif a.fmt == "csv" then
    local rows = {}
    for i, r in ipairs(results) do
      local s = r.summary
      if s then
        rows[i] = { r.id, s.total, s.counts.active, s.counts.expired, s.counts.exhausted, s.counts.revoked,
          s.use_recorded and #s.never_used or "n/a", s.use_recorded and #s.near_limit or "n/a",
          #s.expiring_soon, tostring(s.truncated), "" }
      elseif r.skipped then
        rows[i] = { r.id, "", "", "", "", "", "", "", "", "", "" }
      else
        rows[i] = { r.id, "", "", "", "", "", "", "", "", "", r.error_text }
      end
      if a.org then
        -- --org adds its columns at the end: the first eleven are the same in both forms
        local row = rows[i]
        row[12], row[13], row[14] = r.name, table.concat(r.auth_methods or {}, " "),
          r.skipped and "true" or "false"
      end
    end
    local head = { "identity_id", "tokens", "active", "expired", "exhausted", "revoked",
      "never_used", "near_limit", "expiring_soon", "truncated", "error" }
    if a.org then head[12], head[13], head[14] = "name", "auth_methods", "skipped" end
    stdout:write(out.csv(head, rows, o["no-header"]))
  else
    stdout:write(audit.table(results, o["no-header"], a.org ~= nil))
    if not o["no-header"] then
      stdout:write(("\n%d identit%s audited at %s: %d with findings, %d with errors"):format(#ids,
        #ids == 1 and "y" or "ies", out.time(now, true), findings, errors))
      if a.org then
        stdout:write(("; %d skipped (no Token Auth) in organisation %s"):format(skipped, out.clean(a.org)))
      end
      stdout:write("\n")
    end
  end
  if a.server and a.server.counts_uses == false then say("%s", audit.NO_USE_NOTE) end
  local not_tried = 0
  for _, r in ipairs(results) do
    if r.not_tried then not_tried = not_tried + 1
    elseif r.err then say("audit %s: %s", r.id, r.error_text) end
  end
  if not_tried > 0 then
    say("stopped at the refused credentials: %d more identit%s not tried", not_tried,
      not_tried == 1 and "y" or "ies")
  end
  advise(errs)
  if errors > 0 then return worst(ERRORS, errs) end
  if findings > 0 then return FINDINGS end
  return OK
end

local function cmd_audit(argv, first)
  local a, rc = audit_parse(argv, first)
  if not a then return rc end
  local results, rc2 = audit_fetch(a)
  if not results then return rc2 end
  return audit_render(a, results)
end

-- revoke -------------------------------------------------------------------------------

local REVOKE_SPEC = { yes = "flag", ["from-file"] = "value" }

local function cmd_revoke(argv, first)
  local cmd = "revoke"
  local o, pos = args.parse(cmd, argv, first, REVOKE_SPEC)
  if not o then return usage_fail(pos) end
  if o.help then stdout:write(help.revoke); return OK end
  quiet = o.quiet == true
  local ids, status_code = collect_ids(cmd, "token", "TOKEN_ID", o, pos)
  if not ids then return status_code end
  local list = {}
  for i, id in ipairs(ids) do list[i] = { id = id } end
  local client
  if o.yes then
    client = make_client(cmd, o)
    if not client then return ERRORS end
  end
  local _, already, failed, errs = revoke_list(client, list, o.yes, stdout)
  if client then client:close() end
  advise(errs)
  if failed > 0 then return worst(ERRORS, errs) end
  if already > 0 then return FINDINGS end
  return OK
end

-- main ---------------------------------------------------------------------------------

local COMMANDS = { list = cmd_list, audit = cmd_audit, revoke = cmd_revoke }
local identities = require "infisical.cli.identities"   -- its own file
COMMANDS.identities = function(argv, first)
  return identities.main(argv, first, { make_client = make_client, say = say,
    usage_fail = usage_fail, describe = describe, fail_status = fail_status, advise = advise })
end

--- Each subcommand's options (besides `args.common`), for the spec that holds the help
-- texts to them.
_M.OPTIONS = { list = LIST_SPEC, audit = AUDIT_SPEC, revoke = REVOKE_SPEC }
_M.OPTIONS.identities = identities.SPEC
args.subcommands = _M.OPTIONS

--- Runs the command line `argv` (an `arg`-style array); returns the exit status.
-- Whatever a subcommand raises (an error object from the library, a string, anything)
-- ends as one clean line on stderr and exit status 2 (3 for refused credentials).
function _M.main(argv)
  quiet, cred_source = false, "the credentials"
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
    local guess = args.closest(a, { "list", "audit", "revoke", "identities" })
    return usage_fail(args.usage(nil, ("unknown command '%s' (%s)"):format(a,
      guess and ("did you mean '" .. guess .. "'?") or "list, audit, revoke or identities")))
  end
  -- the raised value is kept as it is (no traceback): describe() turns it into one line
  local ok, rc = pcall(run, argv, 2)
  if not ok then
    say("%s: %s", a, describe(rc))
    stdout:flush()
    return fail_status(rc)
  end
  stdout:flush()
  return rc
end

return _M
