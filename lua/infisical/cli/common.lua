--- The pieces every subcommand of infisical-tokens shares: exit statuses, messages on
-- stderr, the client from the options and the environment, ids, `--now`, `--format`,
-- revoking a list of tokens, and the exit status of a set of errors.
-- Everything printed that came from the server (or from input) goes through
-- `output.clean`, `output.csv` or the JSON encoder: no control character reaches the terminal.
-- @module infisical.cli.common

local infisical = require "infisical"
local status = require "infisical.status"
local args = require "infisical.cli.args"
local out = require "infisical.cli.output"
local ids_mod = require "infisical.cli.ids"
local core = require "infisical.core"
local options = require "infisical.options"

local ipairs, tostring, tonumber, pcall, type, getmetatable = ipairs, tostring, tonumber,
  pcall, type, getmetatable
local getenv = os.getenv

local _M = {}

local OK, FINDINGS, ERRORS, REFUSED = 0, 1, 2, 3
_M.OK, _M.FINDINGS, _M.ERRORS, _M.REFUSED = OK, FINDINGS, ERRORS, REFUSED

local stderr = io.stderr

--- Per run: -q (only errors on stderr, set by each subcommand) and what the credentials
-- were, in the command's words (set by make_client), for advice.
_M.quiet = false
_M.cred_source = "the credentials"

--- Back to a new run's state.
function _M.reset()
  _M.quiet, _M.cred_source = false, "the credentials"
end

--- One line on stderr, cleaned whole: server messages, ids and file names in it can hold
-- escape sequences (a hostile or broken server's), and this is where they all pass.
local function say(fmt, ...)
  stderr:write("infisical-tokens: ", out.clean(fmt:format(...)), "\n")
end
_M.say = say

--- An informational line (not an error): left out with -q.
function _M.note(fmt, ...)
  if not _M.quiet then say(fmt, ...) end
end

local function usage_fail(u)
  say("%s%s", u.cmd and (u.cmd .. ": ") or "", u.message)
  say("see 'infisical-tokens %s--help'", u.cmd and (u.cmd .. " ") or "")
  return ERRORS
end
_M.usage_fail = usage_fail

--- An error object as one line, without the "infisical: " prefix.
local function err_text(err)
  if err.kind == "truncated" then
    return "200 or more tokens: the server lists 200 at most (the list holds the first 200)"
  end
  return (tostring(err):gsub("^infisical: ", ""))
end
_M.err_text = err_text

--- A message without the Lua source positions in it ("lua/infisical/x.lua:12: "): the
-- command never shows one (a raised string is a bug's message, not the user's business).
function _M.strip_where(s)
  return (s:gsub("[^%s:]*%.lua:%d+: ", ""):gsub("%[string [^%]]*%]:%d+: ", ""))
end

--- Any raised value as one line: error objects as above, strings as they are, anything
-- else by its type (never "(error object is not a string)", never a traceback).
local function describe(e)
  if core.is_error(e) then return err_text(e) end
  if type(e) == "string" then return _M.strip_where(e) end
  local mt = type(e) == "table" and getmetatable(e)
  if mt and mt.__tostring then
    local ok, s = pcall(tostring, e)
    if ok and type(s) == "string" then return s end
  end
  return "unexpected error (a " .. type(e) .. " value was raised)"
end
_M.describe = describe

--- A raised value as the top level reports it: the library's errors as `describe` words
-- them; anything else is a bug of the command, said as such (never with a source position).
function _M.unexpected(e)
  local text = describe(e)
  if core.is_error(e) or (type(e) == "string" and e:find("infisical: ", 1, true)) then return text end
  return "unexpected error (please report it): " .. text
end

--- The exit status for a failure: 3 when the server refused the credentials.
local function fail_status(err)
  if core.is_error(err) and err.kind == "auth" then return REFUSED end
  return ERRORS
end
_M.fail_status = fail_status

--- Advice once per run, after the per-item errors, for failures whose cure is the same
-- everywhere: refused credentials and missing permissions.
function _M.advise(errs)
  local auth, perm = false, false
  for _, e in ipairs(errs) do
    if core.is_error(e) then
      if e.kind == "auth" then auth = true elseif e.kind == "permission" then perm = true end
    end
  end
  if auth then say("the server refused %s (exit status 3)", _M.cred_source) end
  if perm then
    say("the identity of %s lacks a permission on identities (read to list and audit, edit"
      .. " to revoke)", _M.cred_source)
  end
end

--- The worst exit status of `errs` (3 refused beats 2 errors), or `rc`.
function _M.worst(rc, errs)
  for _, e in ipairs(errs) do
    local st = fail_status(e)
    if st > rc then rc = st end
  end
  return rc
end

--- A file name as a message shows it: quoted, unless it looks like a credential.
local function show_path(path)
  if out.looks_secret(path) then return out.show(path) end
  return out.clean(path)
end
_M.show_path = show_path

--- Why a file cannot be opened, without its name (io.open puts the name first; a token
-- given where the name goes would be echoed).
function _M.open_error(path, e)
  e = tostring(e)
  if e:sub(1, #path + 2) == path .. ": " then e = e:sub(#path + 3) end
  return e
end

local function read_lines(path)
  local fh, e
  if path == "-" then fh = io.stdin else fh, e = io.open(path, "r") end
  if not fh then return nil, _M.open_error(path, e) end
  local lines = {}
  for line in fh:lines() do lines[#lines + 1] = line end
  if fh ~= io.stdin then fh:close() end
  return lines
end

--- An environment variable, surrounding whitespace trimmed (as `$(cat file)` and Windows
-- editors leave it); empty is unset.
local function env(name)
  local v = getenv(name)
  if v == nil then return nil end
  v = v:match("^%s*(.-)%s*$")
  if v == "" then return nil end
  return v
end

--- The server's base URL from --api-url, --domain (the Infisical CLI's name for it) or
-- INFISICAL_API_URL, by the library's own rule (`http.normalize_base`: the server's
-- address with or without /api or /api/v1, anything else refused).
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
  local base, why = require("infisical.http").normalize_base(url)
  if not base then return nil, from .. " " .. why end
  return base
end

--- The credentials, in the library's terms, from --token-file or the environment (the
-- same order as the library's), with every complaint in the command's words.
-- @return opts fields, or nil (reported)
local function credentials(cmd, o)
  if o["token-file"] then
    local path = o["token-file"]
    local lines, e = read_lines(path)
    if not lines then say("%s: cannot read --token-file %s: %s", cmd, show_path(path), e); return nil end
    local token = (lines[1] or ""):match("^%s*(.-)%s*$")
    if token == "" then say("%s: --token-file %s holds no token", cmd, show_path(path)); return nil end
    if token:find("%c") then
      say("%s: the token in --token-file %s holds a control character", cmd, show_path(path))
      return nil
    end
    _M.cred_source = "the token in --token-file " .. show_path(path)
    return { token = token }
  end
  local token = env("INFISICAL_TOKEN")
  if token then
    if token:find("%c") then say("%s: INFISICAL_TOKEN holds a control character", cmd); return nil end
    _M.cred_source = "the token in INFISICAL_TOKEN"
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
  _M.cred_source = "the Universal Auth client id and secret (INFISICAL_UNIVERSAL_AUTH_CLIENT_ID"
    .. " and INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET)"
  return { client_id = id, client_secret = secret }
end

--- The client from the options, then the environment. Returns client or nil (reported).
function _M.make_client(cmd, o)
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
function _M.collect_ids(cmd, what, metavar, o, pos)
  local stdin_ids = o["from-file"] == "-"
  for _, a in ipairs(pos) do if a == "-" then stdin_ids = true end end
  if stdin_ids and o["token-file"] == "-" then
    return nil, usage_fail(args.usage(cmd, "standard input can hold the ids or the token"
      .. " (--token-file -), not both"))
  end
  local ids, u, rerr = ids_mod.collect(cmd, what, metavar, pos, o["from-file"])
  if ids and #ids == 0 then
    _M.note("%s: the input held no %s ids: nothing to do", cmd, what)
    return nil, OK
  end
  if ids then return ids end
  if u then return nil, usage_fail(u) end
  say("%s: %s", cmd, rerr)
  return nil, ERRORS
end

--- A time given to --now: an RFC 3339 / ISO-8601 date-time (2024-06-01T12:00:00Z, with a
-- fraction, an offset, a space for the T, no zone for UTC), the same without seconds
-- (2024-06-01T12:00Z), or a date (2024-06-01: its midnight, UTC).
-- @return epoch seconds, or nil
function _M.parse_now(v)
  local t = status.parse_time(v)
  if t then return t end
  local y, m, d = v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if y then return status.parse_time(("%s-%s-%sT00:00:00Z"):format(y, m, d)) end
  local day, hm, zone = v:match("^(%d%d%d%d%-%d%d%-%d%d[Tt ])(%d%d:%d%d)(.*)$")
  if day then return status.parse_time(day .. hm .. ":00" .. zone) end
  return nil
end

function _M.get_now(cmd, o)
  if o.now == nil then return os.time() end
  local t = _M.parse_now(o.now)
  if not t then
    return nil, args.usage(cmd, ("--now takes a date or time like 2024-06-01 or 2024-06-01T12:00:00Z"
      .. " (RFC 3339, UTC unless an offset is given), not %s"):format(out.show(o.now)))
  end
  return t
end

--- Says which columns a table left out to fit the terminal (not with -q).
function _M.dropped_note(dropped)
  if dropped and #dropped > 0 then
    _M.note("left out to fit the terminal: %s (a pipe or a file gets every column)",
      table.concat(dropped, ", "))
  end
end

--- Checks --org: an organisation id is a UUID (refused here, before any request).
-- @return nil, or a usage error
function _M.check_org(cmd, org)
  if org == nil or org == "" then return args.usage(cmd, "--org needs the organisation's id") end
  if not ids_mod.is_uuid(org) then
    return args.usage(cmd, ("--org takes the organisation's id, a UUID like"
      .. " 3f2504e0-4f89-41d3-9a0c-0305e82c3301, not %s; nothing was sent"):format(out.show(org)))
  end
end

--- The terminal's width when stdout is one (COLUMNS, else `stty size`, else `tput cols`),
-- else nil: the table then keeps its full columns (a file or a pipe gets every character).
function _M.terminal_width()
  local ok = os.execute("test -t 1")
  if not (ok == true or ok == 0) then return nil end
  local n = tonumber(getenv("COLUMNS") or "")
  if n and n > 0 then return n end
  local function sh(cmd)
    local p = io.popen(cmd)
    if not p then return nil end
    local r = p:read("*a")
    p:close()
    return r
  end
  n = tonumber(((sh("stty size </dev/tty 2>/dev/null") or ""):match("^%s*%d+%s+(%d+)")) or "")
  if n and n > 0 then return n end
  n = tonumber(((sh("tput cols 2>/dev/null") or ""):match("(%d+)")) or "")
  if n and n > 0 then return n end
  return nil
end

_M.FORMATS = { table = true, json = true, csv = true }

--- A shell glob (`*` any text, `?` one character, `[abc]`, `[a-z]`, `[!a]` or `[^a]` one
-- of a set, `\` quoting the next character) as an anchored Lua pattern: every other
-- character is plain text (`%`, `.`, `(` match themselves). A `[` without its `]` is
-- plain text too, as in sh.
function _M.glob_pattern(glob)
  local parts, i, n = { "^" }, 1, #glob
  local function lit(c)
    if c:find("^%W$") then return "%" .. c end
    return c
  end
  while i <= n do
    local c = glob:sub(i, i)
    if c == "*" then
      parts[#parts + 1] = ".*"
    elseif c == "?" then
      parts[#parts + 1] = "."
    elseif c == "\\" and i < n then
      i = i + 1
      parts[#parts + 1] = lit(glob:sub(i, i))
    elseif c == "[" then
      local j, set = i + 1, { "[" }
      if glob:sub(j, j) == "!" or glob:sub(j, j) == "^" then set[2] = "^"; j = j + 1 end
      local first = true
      local closed = false
      while j <= n do
        local d = glob:sub(j, j)
        if d == "]" and not first then closed = true; break end
        if d == "-" and not first and glob:sub(j + 1, j + 1) ~= "]" and j < n then
          set[#set + 1] = "-"
        else
          set[#set + 1] = lit(d)
        end
        first = false
        j = j + 1
      end
      if closed then
        set[#set + 1] = "]"
        parts[#parts + 1] = table.concat(set)
        i = j
      else
        parts[#parts + 1] = "%["
      end
    else
      parts[#parts + 1] = lit(c)
    end
    i = i + 1
  end
  parts[#parts + 1] = "$"
  return table.concat(parts)
end

--- The output format from --format (table by default), or nil and a usage error.
function _M.check_format(cmd, o, allowed)
  local f = o.format or "table"
  if not allowed[f] then
    return nil, args.usage(cmd, ("unknown format %s (table, json or csv)"):format(out.show(f)))
  end
  return f
end


--- Revokes the tokens of `list` (or says what it would do), each reported on `stream`
-- (cleaned: ids and names can come from the server). A token that cannot be revoked is
-- reported and the rest are still tried; refused credentials stop the run (every other
-- request would be refused too).
-- @return counts revoked, already, failed; and the errors met
function _M.revoke_list(client, list, yes, stream, how)
  -- how: { noun = "client secret", revoke = function(client, item) -> res, err } (default: tokens)
  local noun = how and how.noun or "token"
  local revoke = how and how.revoke or function(c, item) return c:revoke_token(item.id) end
  local done, already, failed, would, errs = 0, 0, 0, 0, {}
  local function line(what, id, label)
    if not _M.quiet then stream:write(what, " ", out.clean(id), label, "\n") end
  end
  for i, item in ipairs(list) do
    local id, label = item.id, item.label or ""
    if not ids_mod.is_uuid(id) then
      -- only a server can put it here (ids from the user were checked before any request)
      failed = failed + 1
      say("revoke %s%s: not revoked: the server listed a %s id that is not a UUID",
        ids_mod.show(id), label, noun)
    elseif not yes then
      would = would + 1
      line("would revoke", id, label)
    else
      local ok, res, err = pcall(revoke, client, item)
      if not ok then res, err = nil, res end
      if res then
        done = done + 1
        item.revoked = true
        line("revoked", id, label)
      elseif core.is_error(err) and err.kind == "already_revoked" then
        already = already + 1
        item.revoked = true
        line("already revoked", id, label)
      else
        failed = failed + 1
        errs[#errs + 1] = err
        say("revoke %s: %s", id, describe(err))
        if core.is_error(err) and err.kind == "auth" then
          if i < #list then say("stopped: %d more %s(s) not tried", #list - i, noun) end
          failed = failed + #list - i
          break
        end
      end
    end
  end
  if not yes and would > 0 then
    _M.note("dry run: %d %s(s) would be revoked; pass --yes to revoke them", would, noun)
  end
  return done, already, failed, errs
end

return _M
