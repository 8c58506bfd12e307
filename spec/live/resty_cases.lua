-- Scenarios run inside nginx (cosocket transport, light threads for list_many) against the
-- real backend, for spec/live/06-openresty_live.lua: GET /case?name=NAME&page=ID&...
-- answers a JSON object of what happened. Credentials come from nginx's environment.
local cjson = require "cjson"
local infisical = require "infisical"

local M = {}

local function kind_of(err) return err and (err.kind or "?") or nil end

local function new(opts)
  opts.base_url = os.getenv("LIVE_BASE")
  opts.retries = 0
  return assert(infisical.new(opts))
end

local cases = {}

function cases.listing(a)
  local c = new{ token = os.getenv("LIVE_ADMIN") }
  local out = { transport = c:info().transport }
  local page = c:list_tokens(a.page, { page_size = 100 })
  out.page = page and #page.tokens
  local tokens, err = c:all_tokens(a.wall)
  out.wall_tokens, out.wall_kind, out.wall_n = tokens and #tokens, kind_of(err), err and err.tokens and #err.tokens
  local res, errs = c:list_many({ a.page, a.mid, a.noauth }, { concurrency = 4 })
  errs = errs or {}   -- nil when every identity succeeded
  out.many_page, out.many_mid = res[a.page] and #res[a.page], res[a.mid] and #res[a.mid]
  out.many_noauth_status = errs[a.noauth] and errs[a.noauth].status
  c:close()
  return out
end

function cases.errors(a)
  local out = {}
  local np = new{ token = os.getenv("LIVE_NP") }
  local _, err = np:list_tokens(a.page)
  out.np_kind, out.np_status = kind_of(err), err and err.status
  np:close()
  local rv = new{ token = os.getenv("LIVE_REVOKED") }
  _, err = rv:list_tokens(a.page)
  out.revoked_kind, out.revoked_status = kind_of(err), err and err.status
  rv:close()
  local ad = new{ token = os.getenv("LIVE_ADMIN") }
  _, err = ad:list_tokens("not-a-uuid")
  out.findone_status, out.findone_text = err and err.status, tostring(err)
  ad:close()
  return out
end

-- a Universal Auth identity whose access tokens are good for 2 uses
function cases.ua(a)
  local c = new{ client_id = os.getenv("LIVE_UA_ID"), client_secret = os.getenv("LIVE_UA_SECRET") }
  local out = { transport = c:info().transport, ok = 0 }
  for _ = 1, 5 do
    local page, err = c:list_tokens(a.page, { page_size = 1 })
    if page then out.ok = out.ok + 1 else out.err = tostring(err) end
  end
  local n = 0
  local ok, raised = pcall(function() for _ in c:each_token(a.mid) do n = n + 1 end end)
  out.walk, out.walk_err = n, not ok and tostring(raised) or nil
  c:close()
  return out
end

function cases.ua_many(a)
  local c = new{ client_id = os.getenv("LIVE_UA_MANY_ID"), client_secret = os.getenv("LIVE_UA_MANY_SECRET") }
  local out = { ok = 0 }
  for _ = 1, 2 do
    if c:list_tokens(a.page, { page_size = 1 }) then out.ok = out.ok + 1 end
  end
  local res, errs = c:list_many({ a.page, a.shortmax }, { concurrency = 8 })
  errs = errs or {}   -- nil when every identity succeeded
  out.page, out.shortmax = res[a.page] and #res[a.page], res[a.shortmax] and #res[a.shortmax]
  out.errors = {}
  for id, e in pairs(errs) do out.errors[id] = tostring(e) end
  c:close()
  return out
end

function M.serve()
  local args = ngx.req.get_uri_args()
  local fn = cases[args.name]
  if not fn then return ngx.exit(404) end
  local ok, out = pcall(fn, args)
  if not ok then out = { raised = tostring(out) } end
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode(out))
end

return M
