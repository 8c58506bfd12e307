// Seeds a fresh Infisical backend through its API for the live suite (spec/live/run.sh).
// Run from the backend folder with `node --import tsx spec/live/seed.mjs BASE_URL OUT.json`:
// the admin's SRP key material comes from the backend's own generateUserSrpKeys.
//
// The backend runs in production mode, so its rate limiter counts per client address; each
// request here names a different one in X-Forwarded-For (the backend's ip plugin reads it),
// so seeding is never throttled and leaves the counters of 127.0.0.1 untouched.
import { pathToFileURL } from "node:url";
import path from "node:path";
import fs from "node:fs";

const [base, out] = process.argv.slice(2);
if (!base || !out) throw new Error("usage: seed.mjs BASE_URL OUT.json");

const { generateUserSrpKeys } = await import(pathToFileURL(path.resolve("src/lib/crypto/srp.ts")).href);

let n = 0;
const forwardedFor = () => {
  n += 1;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
};

async function api(method, url, token, body) {
  const headers = { "x-forwarded-for": forwardedFor() };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  for (let attempt = 0; ; attempt += 1) {
    const res = await fetch(base + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (res.status === 200) return JSON.parse(text);
    if (attempt < 3 && res.status >= 500) { await new Promise((r) => setTimeout(r, 500)); continue; }
    throw new Error(`${method} ${url}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  }
}

// Runs fn over items, at most `width` at a time.
async function pool(items, width, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}

const tokenIdOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString()).identityAccessTokenId;

// -- the admin, the organisation ---------------------------------------------------------
const email = "admin@live.invalid";
const password = "live-suite-" + Math.random().toString(36).slice(2);
const keys = await generateUserSrpKeys(email, password);
const signup = await api("POST", "/api/v1/admin/signup", null, {
  email, password, firstName: "Live", lastName: "Suite",
  protectedKey: keys.protectedKey, protectedKeyIV: keys.protectedKeyIV, protectedKeyTag: keys.protectedKeyTag,
  publicKey: keys.publicKey, encryptedPrivateKey: keys.encryptedPrivateKey,
  encryptedPrivateKeyIV: keys.encryptedPrivateKeyIV, encryptedPrivateKeyTag: keys.encryptedPrivateKeyTag,
  salt: keys.salt, verifier: keys.verifier
});
const orgId = signup.organization.id;
const user = (await api("POST", "/api/v3/auth/select-organization", signup.token, { organizationId: orgId })).token;

// -- identities ------------------------------------------------------------------------
// name: [org role, auth method, settings]
const plan = {
  admin: ["admin", "token", {}],             // the lister: its token reads every identity
  page: ["no-access", "token", {}],          // 30 tokens: one page
  mid: ["no-access", "token", {}],           // 150 tokens: two pages
  wall: ["no-access", "token", {}],          // 205 tokens: past the 200-token wall
  noperm: ["no-access", "token", {}],        // its token may not read identities
  noauth: ["no-access", null, {}],           // no auth method at all
  uselimit: ["admin", "token", { accessTokenNumUsesLimit: 2 }],
  shortttl: ["admin", "token", { accessTokenTTL: 1, accessTokenMaxTTL: 3600 }],
  shortmax: ["admin", "token", { accessTokenTTL: 1, accessTokenMaxTTL: 1 }],
  ua: ["admin", "universal", { accessTokenNumUsesLimit: 2 }],
  ua_many: ["admin", "universal", { accessTokenNumUsesLimit: 2 }],
  ua_plain: ["admin", "universal", {}],
  ua_secrets: ["no-access", "universal", {}]   // client secrets of every kind (issue 17)
};
const ids = {};
const ua = {};
await pool(Object.keys(plan), 6, async (name) => {
  const [role, method, settings] = plan[name];
  const { identity } = await api("POST", "/api/v1/identities", user, { name: `live-${name}`, organizationId: orgId, role });
  ids[name] = identity.id;
  if (method === "token") {
    await api("POST", `/api/v1/auth/token-auth/identities/${identity.id}`, user, settings);
  } else if (method === "universal") {
    const attached = await api("POST", `/api/v1/auth/universal-auth/identities/${identity.id}`, user, settings);
    const secret = await api("POST", `/api/v1/auth/universal-auth/identities/${identity.id}/client-secrets`, user,
      { description: "live suite" });
    ua[name] = {
      client_id: attached.identityUniversalAuth.clientId,
      client_secret: secret.clientSecret,
      client_secret_id: secret.clientSecretData.id
    };
  }
});

// -- tokens ----------------------------------------------------------------------------
const create = async (who, name) => {
  const res = await api("POST", `/api/v1/auth/token-auth/identities/${ids[who]}/tokens`, user, { name });
  return { token: res.accessToken, id: tokenIdOf(res.accessToken) };
};
const bulk = [];
for (let i = 1; i <= 10; i += 1) bulk.push(["page", `ci-${i}`], ["page", `deploy-${i}`], ["page", `svc-${i}`]);
for (let i = 1; i <= 150; i += 1) bulk.push(["mid", `mid-${i}`]);
for (let i = 1; i <= 205; i += 1) bulk.push(["wall", `wall-${i}`]);
const single = {
  admin: ["admin", "admin-main"], admin_cli: ["admin", "admin-cli"], admin_revoked: ["admin", "admin-revoked"],
  admin_compare: ["admin", "admin-compare"],
  np: ["noperm", "np"], ul_a: ["uselimit", "ul-a"], ul_b: ["uselimit", "ul-b"],
  ttl_a: ["shortttl", "ttl-a"], ttl_b: ["shortttl", "ttl-b"], max_a: ["shortmax", "max-a"], max_b: ["shortmax", "max-b"]
};
const tokens = {};
const tokenIds = {};
await pool(Object.keys(single), 6, async (key) => {
  const t = await create(...single[key]);
  tokens[key] = t.token;
  tokenIds[key] = t.id;
});
const created = await pool(bulk, 6, ([who, name]) => create(who, name));
const pageIds = {};
const namedIds = {};
bulk.forEach(([who, name], i) => {
  if (who === "page") pageIds[name] = created[i].id;
  if (who === "page" || /^mid-[1-5]$/.test(name)) namedIds[name] = created[i].id;
});

// ci-1..ci-5 revoked; admin-revoked revoked (its bearer then gets 401)
await pool(["ci-1", "ci-2", "ci-3", "ci-4", "ci-5"], 5, (name) =>
  api("POST", `/api/v1/auth/token-auth/tokens/${pageIds[name]}/revoke`, user));
await api("POST", `/api/v1/auth/token-auth/tokens/${tokenIds.admin_revoked}/revoke`, user);

// ul-b: both of its uses spent, so its next use is refused (and deletes it)
for (let i = 0; i < 2; i += 1) {
  await api("GET", `/api/v1/auth/token-auth/identities/${ids.page}/tokens?limit=1`, tokens.ul_b);
}

// ua_secrets' client secrets (issue 17), beside the "live suite" one every UA identity has:
// never expiring (TTL 0, no use limit), a 2 s TTL (expired, not revoked, when the specs
// run), a use limit of 1 spent by one login (exhausted, not revoked), and a revoked one.
const secretsUrl = `/api/v1/auth/universal-auth/identities/${ids.ua_secrets}/client-secrets`;
const secretOf = async (body) => (await api("POST", secretsUrl, user, body));
const secretIds = { plain: ua.ua_secrets.client_secret_id };
const kinds = { never: { description: "never-expires" }, short: { description: "short-ttl", ttl: 2 },
  limited: { description: "use-limit", numUsesLimit: 1 }, revoked: { description: "revoked" } };
const secretValues = {};
for (const [kind, body] of Object.entries(kinds)) {
  const s = await secretOf(body);
  secretIds[kind] = s.clientSecretData.id;
  secretValues[kind] = s.clientSecret;
}
await api("POST", `${secretsUrl}/${secretIds.revoked}/revoke`, user);
await api("POST", "/api/v1/auth/universal-auth/login", null,
  { clientId: ua.ua_secrets.client_id, clientSecret: secretValues.limited });
ua.ua_secrets.secret_ids = secretIds;

fs.writeFileSync(out, JSON.stringify({
  base_url: base, org_id: orgId, ids, tokens, token_ids: tokenIds, named_token_ids: namedIds, ua,
  seeded_at: Date.now() / 1000
}, null, 2));
console.log(`seeded: ${Object.keys(ids).length} identities, ${bulk.length + Object.keys(single).length} tokens`);
