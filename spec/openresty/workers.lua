--- An nginx of several workers for the pacing specs (spec/33) and `make bench`'s
-- measurement 5: every worker runs the same job at once from its own timer, so all of
-- them are sure to take part (connections alone may land on one worker).
--
--   local workers = require "spec.openresty.workers"
--   local w = workers.start{ workers = 4, shared = true }   -- shared: lua_shared_dict infisical_pace
--   local res = w:run{ base = srv.url, ids = {...}, concurrency = 4 }   -- per worker: { pid, done, errors }
--   w:get("/case?...") ... w:stop()
--
-- `ids` are dealt to the workers in turn (worker i takes ids i, i + n, ...); each lists
-- its share with one `list_many` (every budget forgotten first: fresh workers) of a client made for the job (retries = 0: a 429 must
-- not lose an identity). Runs on Lua 5.1-5.4 (the busted side).
local fake = require "spec.fake_client"
local nginx = require "spec.openresty.nginx"

local M = {}

local function conf(n, shared)
  return nginx.main_context("%PREFIX%"):gsub("worker_processes 1;", "worker_processes " .. n .. ";") .. [[
events { worker_connections 256; }
http {
]] .. nginx.temp_paths("%PREFIX%") .. [[
    access_log off;
    lua_package_path "%ROOT%/lua/?.lua;%ROOT%/lua/?/init.lua;%ROOT%/?.lua;;";
    lua_package_cpath "%ROOT%/build/luajit/?.so;;";
    lua_shared_dict spec_jobs 1m;
]] .. (shared and "    lua_shared_dict infisical_pace 1m;\n" or "") .. [[
    init_worker_by_lua_block {
        local jobs, cjson = ngx.shared.spec_jobs, require "cjson"
        local seen = 0
        local function tick(premature)
            if premature then return end
            local n = jobs:get("job") or 0
            if n > seen then
                seen = n
                local job = cjson.decode(jobs:get("spec") or "{}")
                local me, count = ngx.worker.id(), ngx.worker.count()
                local mine = {}
                for i = me + 1, #job.ids, count do mine[#mine + 1] = job.ids[i] end
                local infisical = require "infisical"
                require("infisical.pace").reset(true)   -- this worker's own: a fresh start
                local c = assert(infisical.new{ base_url = job.base, token = job.token, retries = 0,
                    timeout = 10 })
                local res, errs = c:list_many(mine, { concurrency = job.concurrency })
                errs = errs or {}
                local done, failed = 0, 0
                for _, id in ipairs(mine) do
                    if res[id] and not errs[id] then done = done + 1 end
                    if errs[id] then failed = failed + 1 end
                end
                jobs:set(("res:%d:%d"):format(n, me), cjson.encode{ pid = ngx.worker.pid(),
                    done = done, errors = failed, ids = #mine,
                    paused = require("infisical.pace").paused(c).n })
            end
            assert(ngx.timer.at(0.02, tick))
        end
        assert(ngx.timer.at(0, tick))
    }
    server {
        listen 127.0.0.1:%PORT%;
        location = / { return 204; }
        location = /case { content_by_lua_block { require("spec.openresty.cases").serve() } }
        location = /job { content_by_lua_block {
            local jobs = ngx.shared.spec_jobs
            ngx.req.read_body()
            if ngx.shared.infisical_pace then ngx.shared.infisical_pace:flush_all() end
            jobs:set("spec", ngx.req.get_body_data())
            ngx.say((jobs:incr("job", 1, 0)))
        } }
        location = /result { content_by_lua_block {
            local jobs, cjson = ngx.shared.spec_jobs, require "cjson"
            local n, out = tonumber(ngx.var.arg_job), {}
            for w = 0, ngx.worker.count() - 1 do
                out[#out + 1] = cjson.decode(jobs:get(("res:%d:%d"):format(n, w)) or "null")
            end
            ngx.say(cjson.encode{ n = ngx.worker.count(), results = out })
        } }
        location = /lua { content_by_lua_block {
            ngx.req.read_body()
            local f = assert(loadstring(ngx.req.get_body_data()))
            ngx.say(require("cjson").encode(f()))
        } }
    }
}
]]
end

local W = {}
W.__index = W

--- Starts nginx with `opts.workers` workers; `opts.shared`: declare infisical_pace.
function M.start(opts)
  local srv = nginx.start{ conf = conf(opts.workers, opts.shared) }
  return setmetatable({ nginx = srv, url = srv.url, workers = opts.workers }, W)
end

local function post(url, body)
  local path = os.tmpname()
  nginx.write(path, body)
  local out, rc = fake.run(("curl -sS --max-time 60 --data-binary @%s %s"):format(path, fake.shellquote(url)))
  os.remove(path)
  assert(rc == 0, out)
  return out
end

--- Runs one list_many job in every worker at once; waits for all: the per-worker results.
function W:run(job)
  local n = assert(tonumber(post(self.url .. "/job", fake.json.encode{ base = job.base,
    token = job.token or "fake-valid-token", ids = job.ids, concurrency = job.concurrency or 4 })))
  local deadline = os.time() + (job.timeout or 120)
  while os.time() <= deadline do
    local r = nginx.request(self.url .. "/result?job=" .. n)
    local all = r.json and #r.json.results == self.workers
    if all then
      for i = 1, self.workers do
        if r.json.results[i] == fake.json.null then all = false end
      end
    end
    if all then return r.json.results end
    fake.sleep(0.1)
  end
  error("the workers did not finish job " .. n .. ": " .. self.nginx:error_log())
end

--- Runs a Lua chunk (a string) in a request handler of some worker: its JSON result.
function W:lua(chunk)
  return fake.json.decode(post(self.url .. "/lua", chunk))
end

function W:get(path) return self.nginx:get(path) end
function W:error_log() return self.nginx:error_log() end
function W:stop() self.nginx:stop() end

return M
