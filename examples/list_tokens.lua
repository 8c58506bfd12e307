--- List a machine identity's tokens as a table.
--
--   INFISICAL_API_URL=https://eu.infisical.com INFISICAL_TOKEN=... \
--     lua5.4 examples/list_tokens.lua IDENTITY_ID
local infisical = require "infisical"

local identity_id = arg[1] or os.getenv("INFISICAL_IDENTITY_ID")
if not identity_id then
  io.stderr:write("usage: lua5.4 examples/list_tokens.lua IDENTITY_ID\n")
  os.exit(2)
end

local client, err = infisical.new()
if not client then
  io.stderr:write(tostring(err), "\n")
  os.exit(2)
end

local tokens
tokens, err = client:all_tokens(identity_id, { partial = true })
if not tokens then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end

-- STATUS is what the server would answer if the token were used now: revoked,
-- exhausted (use limit reached), expired, or active (infisical.token_status).
local rows = { { "ID", "NAME", "STATUS", "USES", "LAST USED", "CREATED" } }
for _, t in ipairs(tokens) do
  local limit = t.accessTokenNumUsesLimit or 0
  rows[#rows + 1] = {
    t.id, t.name or "-", infisical.token_status(t),
    limit > 0 and ("%d/%d"):format(t.accessTokenNumUses or 0, limit) or tostring(t.accessTokenNumUses or 0),
    t.accessTokenLastUsedAt or "never", t.createdAt or "?",
  }
end

local widths = {}
for _, row in ipairs(rows) do
  for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, #cell) end
end
for _, row in ipairs(rows) do
  local cells = {}
  for i, cell in ipairs(row) do cells[i] = cell .. (" "):rep(widths[i] - #cell) end
  print((table.concat(cells, "  "):gsub("%s+$", "")))
end
print(("%d tokens%s"):format(#tokens, err and " (the API lists at most 200: more exist)" or ""))
client:close()
