-- TLS: the fake API over HTTPS with a CA and certificates made here with `openssl`.
-- Verification is on unless `verify_tls = false` is given by name.
local H = require "spec.helpers"
local fake = H.fake
local infisical = require "infisical"

-- A CA, and from it: a good certificate for 127.0.0.1/localhost, one for another
-- name, and one that expired in 2020 (openssl ca takes explicit start and end dates).
local GEN = [[
set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -subj "/CN=lua-infisical test CA" -days 2 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key \
  -out other-ca.pem -subj "/CN=some other CA" -days 2 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
mkdir -p db capath && : > db/index && echo 01 > db/serial
cat > ca.cnf <<EOF
[ca]
default_ca = d
[d]
database = db/index
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = p
copy_extensions = copy
unique_subject = no
[p]
commonName = supplied
EOF
for n in good wrong expired foreign; do
  san="IP:127.0.0.1,DNS:localhost"
  [ $n = wrong ] && san="DNS:other.example"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key -out $n.csr \
    -subj "/CN=$n" -addext "subjectAltName=$san"
done
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in good.csr -out good.pem -days 2
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in wrong.csr -out wrong.pem -days 2
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200102000000Z
openssl ca -batch -config ca.cnf -cert other-ca.pem -keyfile other-ca.key -in foreign.csr \
  -out foreign.pem -days 2
cp ca.pem capath/ && openssl rehash capath
]]

describe("TLS", function()
  local dir, servers = nil, {}

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. fake.shellquote(dir)))
    local out, rc = fake.run("cd " .. fake.shellquote(dir) .. " && (" .. GEN .. ") >log 2>&1 || cat log")
    assert(rc == 0 and out == "", "openssl failed: " .. out)
    for _, n in ipairs{ "good", "wrong", "expired", "foreign" } do
      servers[n] = fake.start{ fixture = H.FIXTURE,
        tls = { cert = dir .. "/" .. n .. ".pem", key = dir .. "/" .. n .. ".key" } }
    end
  end)

  teardown(function()
    for _, s in pairs(servers) do s:stop() end
    if dir then os.execute("rm -rf " .. fake.shellquote(dir)) end
  end)

  local function list(name, opts)
    local o = { retries = 0, timeout = 5 }
    for k, v in pairs(opts or {}) do o[k] = v end
    local c = H.client(servers[name], o)
    local res, err = c:list_tokens(H.ID1, { page_size = 2 })
    if err then H.assert_no_secret(err) end
    return res, err
  end

  local function tls_error(name, opts)
    local res, err = list(name, opts)
    assert.is_nil(res)
    assert.equal("tls", err.kind, tostring(err))
    return err
  end

  it("refuses a certificate from a CA it does not know (kind tls), sending no request", function()
    tls_error("good")
    assert.equal(0, servers.good:stats().api_requests)
  end)

  it("accepts it with ca_file pointing at the test CA", function()
    local page = assert(list("good", { ca_file = dir .. "/ca.pem" }))
    assert.equal(2, #page.tokens)
  end)

  it("accepts it with ca_path pointing at a hashed directory holding the CA", function()
    assert(list("good", { ca_path = dir .. "/capath" }))
  end)

  it("refuses a certificate for another host name, even from the trusted CA", function()
    local err = tls_error("wrong", { ca_file = dir .. "/ca.pem" })
    assert.matches("127.0.0.1", err.message)
    assert.equal(0, servers.wrong:stats().api_requests)
  end)

  it("refuses an expired certificate from the trusted CA", function()
    local err = tls_error("expired", { ca_file = dir .. "/ca.pem" })
    assert.matches("expired", err.message)
  end)

  it("refuses a certificate from another CA when ca_file names ours", function()
    tls_error("foreign", { ca_file = dir .. "/ca.pem" })
  end)

  it("reports a ca_file that does not exist or is not a certificate", function()
    local _, err = list("good", { ca_file = dir .. "/nope.pem" })
    assert.equal("tls", err.kind)
    _, err = list("good", { ca_file = dir .. "/ca.cnf" })
    assert.equal("tls", err.kind)
  end)

  it("verify_tls = false skips verification, for each bad certificate", function()
    for _, n in ipairs{ "good", "wrong", "expired", "foreign" } do
      assert(list(n, { verify_tls = false }))
    end
  end)

  it("verify_tls = false is the only way: anything but a boolean raises, nil verifies", function()
    for _, v in ipairs{ 0, "false", "no", "" } do
      assert.error_matches(function()
        infisical.new{ base_url = servers.good.url, token = H.TOKEN, verify_tls = v }
      end, "'verify_tls'")
    end
    tls_error("expired", { verify_tls = true })
    tls_error("expired", { ca_file = dir .. "/ca.pem", verify_tls = nil })
    -- the environment variables some tools honour do not turn verification off
    local out = fake.run("CURL_CA_BUNDLE=" .. fake.shellquote(dir .. "/ca.pem")
      .. " NODE_TLS_REJECT_UNAUTHORIZED=0 PYTHONHTTPSVERIFY=0 GIT_SSL_NO_VERIFY=1 lua5.4 -e "
      .. fake.shellquote("package.path='./lua/?.lua;./lua/?/init.lua;'..package.path;"
        .. "package.cpath='./build/lua5.4/?.so;'..package.cpath;"
        .. "local c=require('infisical').new{base_url='" .. servers.expired.url .. "',token='tok-0123456789abcdef',retries=0};"
        .. "local r,e=c:list_tokens('" .. H.ID1 .. "'); print(e and e.kind)") .. " 2>&1")
    assert.equal("tls", out)
  end)

  it("keeps one TLS connection for a whole walk", function()
    local c = H.client(servers.good, { ca_file = dir .. "/ca.pem" })
    servers.good:reset(H.state())
    local all = assert(c:all_tokens(H.ID1, { page_size = 5 }))
    assert.is_true(#all > 10)
    assert.equal(1, servers.good:stats().connections)
  end)
end)
