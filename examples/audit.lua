--- Audit identities: revoked tokens, tokens never used, tokens near their use limit.
-- Exit status: 0 nothing found, 1 findings, 2 errors.
--
--   INFISICAL_TOKEN=... lua5.4 examples/audit.lua IDENTITY_ID [IDENTITY_ID...]
local infisical = require "infisical"

if #arg == 0 then
  io.stderr:write("usage: lua5.4 examples/audit.lua IDENTITY_ID [IDENTITY_ID...]\n")
  os.exit(2)
end

local client, err = infisical.new()
if not client then
  io.stderr:write(tostring(err), "\n")
  os.exit(2)
end

local function near_limit(t)
  local limit = t.accessTokenNumUsesLimit or 0
  return limit > 0 and (t.accessTokenNumUses or 0) >= 0.9 * limit
end

local status = 0
for _, identity_id in ipairs(arg) do
  local tokens, terr = client:all_tokens(identity_id, { partial = true })
  if not tokens then
    print(("%s: ERROR %s"):format(identity_id, tostring(terr)))
    status = 2
  else
    local revoked, unused, near = {}, {}, {}
    for _, t in ipairs(tokens) do
      local label = t.name or t.id
      if t.isAccessTokenRevoked then
        revoked[#revoked + 1] = label
      else
        if not t.accessTokenLastUsedAt then unused[#unused + 1] = label end
        if near_limit(t) then near[#near + 1] = label end
      end
    end
    print(("%s: %d tokens%s"):format(identity_id, #tokens, terr and " (truncated at the API's 200-token wall)" or ""))
    print(("  revoked:           %d %s"):format(#revoked, table.concat(revoked, ", ")))
    print(("  live, never used:  %d %s"):format(#unused, table.concat(unused, ", ")))
    print(("  near use limit:    %d %s"):format(#near, table.concat(near, ", ")))
    if status == 0 and (#unused > 0 or #near > 0 or terr) then status = 1 end
  end
end
client:close()
os.exit(status)
