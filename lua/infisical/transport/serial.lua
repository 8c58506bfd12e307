--- The serial engine: the `list_many` engine (interface in infisical.many) for a transport
-- without one of its own: any transport's `request`, one at a time, so a run gives the
-- same results everywhere.
-- @module infisical.transport.serial

local setmetatable, remove = setmetatable, table.remove

local _M = {}

local Serial = {}
Serial.__index = Serial

function _M.new(transport, sleep)
  return setmetatable({ transport = transport, sleep = sleep, queue = {}, done = {} }, Serial)
end

function Serial:add(tag, method, url, headers, body)
  self.queue[#self.queue + 1] = { tag, method, url, headers, body }
end

function Serial:wait(seconds)
  if #self.done == 0 then
    local q = remove(self.queue, 1)
    if q then
      local status, body, headers = self.transport:request(q[2], q[3], q[4], q[5])
      self.done[#self.done + 1] = { q[1], status, body, headers }
    elseif seconds > 0 then
      self.sleep(seconds)
    end
  end
  return #self.done
end

function Serial:next()
  local d = remove(self.done, 1)
  if d then return d[1], d[2], d[3], d[4] end
end

function Serial:running() return #self.queue, #self.done end

function Serial:abort() self.queue, self.done = {}, {} end

return _M
