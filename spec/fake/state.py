"""State of the fake Infisical server: identities, token records, bearers.

All methods expect the caller to hold State.lock when mutating or reading
tokens from several threads (the HTTP layer does this).

State keys (POST /_fake/reset, --state FILE): mode ("current" | "legacy", the late-2024
server of spec/fixtures/real-exchanges/), all_auth_methods, latency, replica_lag,
rate_limit {limit, window, write_limit, per_route} (see rate_check), churn,
usage_write_delay (seconds before use counts are written; default 60 like the real
server; legacy mode only: current servers write no use, see CURRENT_SOURCES),
max_token_ttl (current mode: the ceiling /api/status states, default 7776000; null: the
field is left out), legacy_enforced_at (current mode: epoch seconds, default 2026-05-04,
LEGACY_IDENTITY_ACCESS_TOKEN_EXPIRATION_ENFORCED_AT), access_tokens {bearer: {state (TOKEN_STATES), can_read, can_write, identity_id,
token_id (its record), uses, uses_limit, org_id, legacy (current mode: a JWT signed before
the upgrade, without exp)}}, universal_auth {client id: {secret,
access_token (the first login's bearer), expires_in, max_ttl, identity_id, org_id; current
mode: lockout_enabled (true), lockout_threshold (3), lockout_duration (300 s),
lockout_counter_reset (30 s), lock_contention (N: the next N failed logins answer 429
"Failed to acquire lock", as when others hold the lockout lock; see api._login)}},
identities {id: {token_auth, tokens, generate, org_id, name, auth_methods,
last_login_auth_method, last_login_time, token_ttl, token_max_ttl, token_period (the
identity's Token Auth settings, what a new token gets), client_secrets (its Universal Auth
client secret records, see secret_record; generated UA identities get generated_secrets)}}, orgs {org id: {generate, tokens_each}},
relative_to (an ISO instant: every token record's times are moved by the time between it and
the moment the state is loaded, so sample data dated around it looks as fresh today as it
did then; `make demo` uses it).

Organisations: an identity belongs to the org named by its `org_id`; `orgs[org].generate
= N` adds N identities to that org (generated_identity: a mix of auth methods, names
"svc-NNNNN" and "ci-NNNNN"), each token-auth one with `tokens_each` generated tokens
(default 2).  A bearer may list the org's identities when its `org_id` (or its identity's)
is that org, like an identity access token of a member of the organisation.
"""
import copy
import math
import datetime as _dt
import hashlib
import re
import threading
import time

DEFAULT_TTL = 2592000
USAGE_WRITE_DELAY = 60.0
# What presenting an access token does (api.check_token):
#   valid        accepted, one use counted
#   revoked      401 "No identity access token found" (the record stays, revoked)
#   deleted      401 "No identity access token found" (the record is gone)
#   expired      403 TokenError "Your token has expired..." (past its max TTL: the JWT
#                itself is expired; the record stays)
#   ttl_expired  401 "Failed to renew MI access token due to TTL expiration", and the
#                token is deleted
#   used_up      401 "...number of uses limit reached", and the token is deleted
#   malformed    403 TokenError "The provided access token is malformed..."
#   max_age      current mode: 401 "Identity access token exceeded max age, please
#                re-authenticate" (a legacy JWT without exp past the enforcement date + ceiling)
# Current mode answers revoked, used_up and ttl_expired as the 2026 server does (see
# CURRENT_SOURCES): "Failed to authorize: token has been revoked", "Failed to authorize:
# token usage limit reached", and a JWT past its exp is 403 TokenError; nothing is deleted.
TOKEN_STATES = ("valid", "revoked", "deleted", "expired", "ttl_expired", "used_up", "malformed",
                "max_age")

# Where each behaviour of the current mode was read (upstream Infisical/infisical; the
# commit is the one the search index holds the file at). spec/fixtures/current-conformance.lua
# is the table of answers written from these files and replayed by spec/09.
CURRENT_SOURCES = {
    "ceiling": "backend/src/services/identity-access-token/identity-access-token-fns.ts "
               "@0b118066c4a27dfca9e676278d883797f0a9ce9d (computeIssuedTtl, "
               "hasLegacyTokenWithoutExpExceededMaxAge)",
    "issue": "backend/src/services/identity-access-token/identity-access-token-service.ts "
             "@0b118066c4a27dfca9e676278d883797f0a9ce9d (issueIdentityAccessToken: the row "
             "holds the computed TTL, accessTokenNumUses 0)",
    "validate": "identity-access-token-service.ts @0b118066c4a27dfca9e676278d883797f0a9ce9d "
                "(fnValidateIdentityAccessTokenFast: no row read or write; uses in the key "
                "store; messages 'Failed to authorize: token has been revoked', 'Failed to "
                "authorize: token usage limit reached', 'Identity access token exceeded max "
                "age, please re-authenticate')",
    "renew": "identity-access-token-service.ts @0b118066c4a27dfca9e676278d883797f0a9ce9d "
             "(renewAccessTokenInner: a new JWT, exp from computeIssuedTtl, nothing written "
             "to the row; ttl <= 0: 'Cannot renew: identity access token has reached its max TTL')",
    "errors": "backend/src/server/plugins/error-handler.ts "
              "@036d891d40d415fd30b50cff841ab7c28dcbdc00 (reqId on every body; ZodError 422 "
              "ValidationFailure; PermissionDenied 403 with details; PermissionBoundaryError "
              "403 with details; jwt errors 403 TokenError)",
    "token_routes": "backend/src/services/identity-token-auth/identity-token-auth-service.ts "
                    "@d2ceabd4240af1468ce16b9af9e2304441d02326 (getTokenAuthTokens: "
                    "authMethod TOKEN_AUTH, updatedAt desc; getTokenAuthTokenById: 404 'Token "
                    "with ID <id> not found', another org's identity 404 'Failed to find "
                    "identity with ID <id>')",
    "status": "GET /api/status answers maxIdentityAccessTokenTTL (upstream's e2e test "
              "getMaxIdentityAccessTokenTTL expects a number; the late-2024 route, "
              "routes/index.ts of c01ea048, has no such field)",
}
DEFAULT_MAX_TOKEN_TTL = 7776000
LEGACY_ENFORCED_AT = 1777852800  # 2026-05-04T00:00:00Z
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Auth methods an identity can have (current servers' names).
AUTH_METHODS = ("token-auth", "universal-auth", "kubernetes-auth", "gcp-auth", "aws-auth",
                "azure-auth", "oidc-auth", "jwt-auth", "ldap-auth")

# Base instant for generated records (updatedAt of generated index 1).
GEN_BASE_MS = 1714564800000  # 2024-05-01T12:00:00.000Z


def fmt_ms(ms):
    """Milliseconds since the epoch -> 2023-11-07T05:31:56.000Z."""
    d = _dt.datetime.fromtimestamp(ms // 1000, tz=_dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def parse_ms(s):
    """ISO-8601 string -> milliseconds since the epoch (0 when unparsable)."""
    if not isinstance(s, str):
        return 0
    try:
        d = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return int(round(d.timestamp() * 1000))


def now_ms():
    return int(time.time() * 1000)


def uuid_from(*parts):
    """Deterministic uuid-looking string (version 4 layout) from parts."""
    h = hashlib.sha1(":".join(str(p) for p in parts).encode()).hexdigest()
    return "%s-%s-4%s-8%s-%s" % (h[0:8], h[8:12], h[13:16], h[17:20], h[20:32])


def is_uuid(s):
    return bool(UUID_RE.match(s or ""))


def generated_record(identity_id, i):
    """The i-th (1-based) generated token record of an identity."""
    updated = GEN_BASE_MS - i * 61000          # strictly descending by index
    created = updated - 86400000 - (i % 10) * 3600000
    never_used = i % 4 == 1
    revoked = i % 5 == 0
    limit = 10 if i % 6 == 2 else (0 if i % 3 else 100)
    uses = 0 if never_used else (9 if limit == 10 else i % 13)
    return {
        "id": uuid_from("gen", identity_id, i),
        "accessTokenTTL": DEFAULT_TTL,
        "accessTokenMaxTTL": DEFAULT_TTL,
        "accessTokenNumUses": uses,
        "accessTokenNumUsesLimit": limit,
        "accessTokenLastUsedAt": None if never_used else fmt_ms(updated - 5000),
        "accessTokenLastRenewedAt": fmt_ms(updated - 60000) if i % 9 == 4 else None,
        "isAccessTokenRevoked": revoked,
        "identityUAClientSecretId": None,
        "identityId": identity_id,
        "createdAt": fmt_ms(created),
        "updatedAt": fmt_ms(updated),
        "name": None if i % 7 == 0 else "gen-%d" % i,
        "authMethod": "token-auth",
        "accessTokenPeriod": 0,
    }


def secret_record(identity_id, secret_id, at_ms, description="", prefix="abcd", uses=0,
                  uses_limit=0, ttl=0, revoked=False):
    """A Universal Auth client secret record as the server keeps and lists it
    (identity_ua_client_secrets; the hash is never sent)."""
    return {
        "id": secret_id,
        "description": description,
        "clientSecretPrefix": prefix,
        "clientSecretNumUses": uses,
        "clientSecretNumUsesLimit": uses_limit,
        "clientSecretTTL": ttl,
        "isClientSecretRevoked": revoked,
        "identityUAId": uuid_from("identity-ua", identity_id),
        "createdAt": fmt_ms(at_ms),
        "updatedAt": fmt_ms(at_ms),
    }


def generated_secrets(identity_id, n=4):
    """A generated UA identity's client secrets, one of each kind in turn: never expiring
    (TTL 0, no limit, used), used up (uses = limit), expired (TTL passed, unused), and
    active with a TTL and a limit; created 20-40 days before GEN_BASE_MS."""
    out = []
    for k in range(1, n + 1):
        at = GEN_BASE_MS - 86400000 * (20 + (k * 7) % 20) - k * 1000
        kind = (k - 1) % 4
        if kind == 0:
            over = {"description": "ci", "uses": 12}
        elif kind == 1:
            over = {"description": "one-shot", "uses": 5, "uses_limit": 5}
        elif kind == 2:
            over = {"description": "temp", "ttl": 86400 * 7}
        else:
            over = {"description": "deploy", "uses": 2, "uses_limit": 100, "ttl": 86400 * 3650}
        out.append(secret_record(identity_id, uuid_from("gen-secret", identity_id, k), at,
                                 prefix=uuid_from("prefix", identity_id, k)[:4], **over))
    return out


RECORD_TIMES = ("createdAt", "updatedAt", "accessTokenLastUsedAt", "accessTokenLastRenewedAt")


def shift_times(identities, shift):
    """Moves every time of every token record by `shift` milliseconds (state `relative_to`)."""
    for ident in identities.values():
        for i, rec in enumerate(ident.get("tokens") or []):
            rec = dict(rec)
            for k in RECORD_TIMES:
                if isinstance(rec.get(k), str) and parse_ms(rec[k]):
                    rec[k] = fmt_ms(parse_ms(rec[k]) + shift)
            ident["tokens"][i] = rec
        for i, rec in enumerate(ident.get("client_secrets") or []):
            rec = dict(rec)
            for k in ("createdAt", "updatedAt"):
                if isinstance(rec.get(k), str) and parse_ms(rec[k]):
                    rec[k] = fmt_ms(parse_ms(rec[k]) + shift)
            ident["client_secrets"][i] = rec


def generated_identity(org_id, i, tokens_each=2):
    """The i-th (1-based) generated identity of an org: every 5th uses Universal Auth only,
    every 7th (not 5th) has no auth method, the rest Token Auth, every 3rd of those with
    Universal Auth too (current servers; a late-2024 identity shows only its first)."""
    iid = uuid_from("gen-identity", org_id, i)
    if i % 5 == 0:
        methods = ["universal-auth"]
    elif i % 7 == 0:
        methods = []
    elif i % 3 == 0:
        methods = ["token-auth", "universal-auth"]
    else:
        methods = ["token-auth"]
    created = GEN_BASE_MS - 86400000 * 30 + i * 1000
    ident = {
        "org_id": org_id,
        "name": ("ci-%05d" if i % 10 == 3 else "svc-%05d") % i,
        "auth_methods": methods,
        "token_auth": "token-auth" in methods,
        "created_ms": created,
        "tokens": [],
    }
    if methods and i % 2 == 0:
        ident["last_login_auth_method"] = methods[0]
        ident["last_login_time"] = fmt_ms(GEN_BASE_MS - i * 1000)
    if ident["token_auth"]:
        ident["tokens"] = [generated_record(iid, k) for k in range(1, tokens_each + 1)]
    if "universal-auth" in methods:
        ident["client_secrets"] = generated_secrets(iid, 1 + i % 4)
    return iid, ident


def new_record(identity_id, token_id, name, at_ms, **over):
    r = {
        "id": token_id,
        "accessTokenTTL": DEFAULT_TTL,
        "accessTokenMaxTTL": DEFAULT_TTL,
        "accessTokenNumUses": 0,
        "accessTokenNumUsesLimit": 0,
        "accessTokenLastUsedAt": None,
        "accessTokenLastRenewedAt": None,
        "isAccessTokenRevoked": False,
        "identityUAClientSecretId": None,
        "identityId": identity_id,
        "createdAt": fmt_ms(at_ms),
        "updatedAt": fmt_ms(at_ms),
        "name": name,
        "authMethod": "token-auth",
        "accessTokenPeriod": 0,
    }
    r.update(over)
    return r


class State:
    def __init__(self, data=None):
        self.lock = threading.RLock()
        # Bearers this server has signed, kept across resets (the signing key outlives
        # the database): one whose row is gone is "deleted" (401), not garbage (403).
        self.signed = set()
        self.load(data or {})

    # -- loading -------------------------------------------------------
    def load(self, data):
        if not isinstance(data, dict):
            raise ValueError("state must be a JSON object")
        data = copy.deepcopy(data)
        mode = data.get("mode", "current")
        if mode not in ("current", "legacy"):
            raise ValueError("mode must be 'current' or 'legacy'")
        self.mode = mode
        self.all_auth_methods = bool(data.get("all_auth_methods", False))
        self.latency = float(data.get("latency") or 0.0)
        self.replica_lag = float(data.get("replica_lag") or 0.0)
        rl = data.get("rate_limit")
        if rl is not None:
            rl = {"limit": int(rl.get("limit", 60)), "window": float(rl.get("window", 60)),
                  "write_limit": int(rl.get("write_limit", 200)),
                  "per_route": bool(rl.get("per_route", True))}
            if rl["limit"] < 1 or rl["write_limit"] < 1 or not rl["window"] > 0:
                raise ValueError("rate_limit needs limit >= 1, write_limit >= 1, window > 0")
        self.rate_limit = rl
        self.churn = bool(data.get("churn", False))
        # Seconds between a token's first use and the write of its use count and
        # accessTokenLastUsedAt (which also bumps updatedAt).  The real server queues that
        # write for 60 s (+-10 s jitter); 0 writes at once.
        self.usage_write_delay = float(data.get("usage_write_delay", USAGE_WRITE_DELAY))
        self.max_token_ttl = data.get("max_token_ttl", DEFAULT_MAX_TOKEN_TTL)
        if self.max_token_ttl is not None:
            self.max_token_ttl = int(self.max_token_ttl)
            if self.max_token_ttl < 1:
                raise ValueError("max_token_ttl must be >= 1 or null")
        self.legacy_enforced_at = float(data.get("legacy_enforced_at", LEGACY_ENFORCED_AT))
        self.access_tokens = {}
        for bearer, info in (data.get("access_tokens") or {}).items():
            info = dict(info or {})
            info.setdefault("state", "valid")
            if info["state"] not in TOKEN_STATES:
                raise ValueError("access token state must be one of " + ", ".join(TOKEN_STATES))
            info.setdefault("can_read", True)
            info.setdefault("can_write", True)
            self.access_tokens[bearer] = info
            if info["state"] != "malformed":
                self.signed.add(bearer)
        self.universal_auth = data.get("universal_auth") or {}
        self.identities = {}
        for iid, ident in (data.get("identities") or {}).items():
            ident = dict(ident or {})
            tokens = list(ident.get("tokens") or [])
            for i in range(1, int(ident.pop("generate", 0) or 0) + 1):
                tokens.append(generated_record(iid, i))
            ident["tokens"] = tokens
            if ident.get("auth_methods") is not None:
                methods = list(ident["auth_methods"])
                ident.setdefault("token_auth", "token-auth" in methods)
            else:
                ident.setdefault("token_auth", True)
                methods = ["token-auth"] if ident["token_auth"] else ["universal-auth"]
            ident["auth_methods"] = methods
            self.identities[iid] = ident
        self.orgs = data.get("orgs") or {}
        for org_id, org in self.orgs.items():
            org = org or {}
            each = int(org.get("tokens_each", 2))
            for i in range(1, int(org.get("generate", 0) or 0) + 1):
                iid, ident = generated_identity(org_id, i, each)
                self.identities.setdefault(iid, ident)
        if data.get("relative_to"):
            base = parse_ms(data["relative_to"])
            if not base:
                raise ValueError("relative_to must be an ISO-8601 instant")
            shift_times(self.identities, (now_ms() - base) // 1000 * 1000)
        self._created_mono = {}   # token id -> monotonic time of creation via API
        self._rl_buckets = {}     # client -> [window_start, count]
        self._serial = 0
        self._pending_usage = {}  # bearer -> monotonic time its usage write is due
        self.ua_current = {}      # UA client id -> bearer of its latest login
        self.ua_lockouts = {}     # UA client id -> its login lockout (api._login, current mode)

    def dump(self):
        with self.lock:
            self.flush_usage()
            return {
                "mode": self.mode,
                "all_auth_methods": self.all_auth_methods,
                "latency": self.latency,
                "replica_lag": self.replica_lag,
                "rate_limit": self.rate_limit,
                "churn": self.churn,
                "usage_write_delay": self.usage_write_delay,
                "max_token_ttl": self.max_token_ttl,
                "legacy_enforced_at": self.legacy_enforced_at,
                "access_tokens": copy.deepcopy(self.access_tokens),
                "universal_auth": copy.deepcopy(self.universal_auth),
                "identities": copy.deepcopy(self.identities),
                "orgs": copy.deepcopy(self.orgs),
            }

    # -- helpers -------------------------------------------------------
    def legacy(self):
        return self.mode == "legacy"

    def bump_ms(self):
        """A timestamp later than every updatedAt held (so the row moves first)."""
        top = now_ms()
        for ident in self.identities.values():
            for t in ident["tokens"]:
                top = max(top, parse_ms(t.get("updatedAt")) + 1)
        return top

    def visible(self, record):
        if self.all_auth_methods:
            return True
        return record.get("authMethod", "token-auth") == "token-auth"

    @staticmethod
    def _order_key(record):
        tie = hashlib.sha1(str(record.get("id")).encode()).hexdigest()
        return (-parse_ms(record.get("updatedAt")), tie)

    def sorted_tokens(self, identity_id):
        ident = self.identities[identity_id]
        lag_cut = time.monotonic() - self.replica_lag
        rows = [t for t in ident["tokens"] if self.visible(t)
                and not (self.replica_lag > 0
                         and self._created_mono.get(t.get("id"), -1e18) > lag_cut)]
        rows.sort(key=self._order_key)
        return rows

    def find_token(self, token_id):
        for ident in self.identities.values():
            for t in ident["tokens"]:
                if t.get("id") == token_id:
                    return t
        return None

    def touch_oldest(self, identity_id):
        rows = self.sorted_tokens(identity_id)
        if rows:
            rows[-1]["updatedAt"] = fmt_ms(self.bump_ms())

    def next_serial(self):
        self._serial += 1
        return self._serial

    def next_id(self, *parts):
        self._serial += 1
        return uuid_from("api", self._serial, time.time_ns(), *parts)

    def issue(self, bearer, identity_id, ttl, max_ttl, record=None, **extra):
        """Register a new bearer (and its record, appended to its identity when known)."""
        now = time.time()
        info = {"state": "valid", "can_read": True, "can_write": True,
                "identity_id": identity_id, "uses": 0, "issued": now}
        if ttl:
            info["ttl"] = ttl
            info["expires_at"] = now + ttl
        if max_ttl:
            info["max_expires_at"] = now + max_ttl
        info.update(extra)
        if record is not None:
            info["token_id"] = record["id"]
            ident = self.identities.get(identity_id)
            if ident is not None:
                ident["tokens"].append(record)
                self._created_mono[record["id"]] = time.monotonic()
        self.access_tokens[bearer] = info
        self.signed.add(bearer)
        return info

    def ceiling(self):
        return self.max_token_ttl or DEFAULT_MAX_TOKEN_TTL

    def issued_ttl(self, requested, max_ttl, created_s, now_s):
        """computeIssuedTtl (identity-access-token-fns.ts @0b118066c4a2): the least of the
        requested TTL (0: none), what is left of the max TTL budget and the ceiling."""
        cap = requested if requested > 0 else math.inf
        budget = created_s + max_ttl - now_s if max_ttl > 0 else math.inf
        return min(cap, budget, self.ceiling())

    def create_token(self, identity_id, name):
        tid = self.next_id(identity_id)
        ident = self.identities.get(identity_id) or {}
        ttl = int(ident.get("token_ttl", DEFAULT_TTL))
        max_ttl = int(ident.get("token_max_ttl", DEFAULT_TTL))
        period = int(ident.get("token_period", 0))
        if self.legacy():
            rec = new_record(identity_id, tid, name, self.bump_ms(), accessTokenTTL=ttl,
                             accessTokenMaxTTL=max_ttl, accessTokenPeriod=period)
            bearer_ttl, bearer_max = ttl, max_ttl
        else:
            # issueIdentityAccessToken: periodic tokens use the period as TTL, no max TTL;
            # the row holds the computed TTL (never 0), the JWT's exp is that far away.
            req, req_max = (period, 0) if period > 0 else (ttl, max_ttl)
            now_s = int(time.time())
            issued = int(self.issued_ttl(req, req_max, now_s, now_s))
            rec = new_record(identity_id, tid, name, self.bump_ms(), accessTokenTTL=issued,
                             accessTokenMaxTTL=req_max, accessTokenPeriod=period)
            bearer_ttl, bearer_max = issued, 0
        bearer = "fake-at-" + hashlib.sha256(("bearer:" + tid).encode()).hexdigest()[:40]
        info = self.issue(bearer, identity_id, bearer_ttl, bearer_max, rec)
        if not self.legacy():
            info["requested_ttl"], info["requested_max_ttl"] = req, req_max
            info["created_s"] = now_s
        return rec, bearer

    def revoke_token(self, token_id):
        rec = self.find_token(token_id)
        if rec is None or rec.get("isAccessTokenRevoked"):
            return None
        rec["isAccessTokenRevoked"] = True
        rec["updatedAt"] = fmt_ms(self.bump_ms())
        for info in self.access_tokens.values():
            if info.get("token_id") == token_id:
                info["state"] = "revoked"
        return rec

    # -- access tokens as the server sees them ---------------------------
    def delete_bearer(self, bearer):
        """Delete a token's row, as the server does for TTL-expired and used-up ones."""
        info = self.access_tokens[bearer]
        info["state"] = "deleted"
        self._pending_usage.pop(bearer, None)
        tid = info.get("token_id")
        if tid is not None:
            for ident in self.identities.values():
                ident["tokens"] = [t for t in ident["tokens"] if t.get("id") != tid]

    def uses_limit(self, info):
        rec = self.find_token(info["token_id"]) if info.get("token_id") else None
        if rec is not None:
            return int(rec.get("accessTokenNumUsesLimit") or 0)
        return int(info.get("uses_limit") or 0)

    def count_use(self, bearer):
        """One use of a bearer: counted at once (the server's cache), written to the
        record usage_write_delay seconds after the first unwritten use."""
        info = self.access_tokens[bearer]
        info["uses"] = int(info.get("uses") or 0) + 1
        info["last_used_ms"] = now_ms()
        if not self.legacy():
            return   # the 2026 server counts in its key store and never writes the row
        if info.get("token_id") and bearer not in self._pending_usage:
            self._pending_usage[bearer] = time.monotonic() + self.usage_write_delay
        self.flush_usage()

    def flush_usage(self):
        """Write the use counts that are due: accessTokenNumUses, accessTokenLastUsedAt,
        and updatedAt (so the token moves to the front of the listing)."""
        now = time.monotonic()
        for bearer, due in list(self._pending_usage.items()):
            if due > now:
                continue
            del self._pending_usage[bearer]
            info = self.access_tokens.get(bearer)
            rec = self.find_token(info.get("token_id")) if info else None
            if rec is None:
                continue
            rec["accessTokenNumUses"] = int(info.get("uses") or 0)
            rec["accessTokenLastUsedAt"] = fmt_ms(info.get("last_used_ms") or now_ms())
            rec["updatedAt"] = fmt_ms(self.bump_ms())

    def select_bearer(self, sel):
        """Bearer named by a control selector: {bearer}, {client_id} (its latest login's
        token) or {token_id}."""
        if not isinstance(sel, dict):
            raise ValueError("token selector must be an object")
        if sel.get("bearer") is not None:
            b = sel["bearer"]
        elif sel.get("client_id") is not None:
            b = self.ua_current.get(sel["client_id"])
            if b is None:
                raise ValueError("universal auth client %r has not logged in" % sel["client_id"])
        elif sel.get("token_id") is not None:
            b = next((k for k, v in self.access_tokens.items()
                      if v.get("token_id") == sel["token_id"]), None)
            if b is None:
                raise ValueError("no access token with id %r" % sel["token_id"])
        else:
            raise ValueError("token selector needs bearer, client_id or token_id")
        if b not in self.access_tokens:
            raise ValueError("unknown bearer")
        return b

    def set_token(self, sel):
        """Control: change an access token (state, uses, uses_limit).  -> summary."""
        bearer = self.select_bearer(sel)
        info = self.access_tokens[bearer]
        state = sel.get("state")
        if state is not None:
            if state not in TOKEN_STATES:
                raise ValueError("state must be one of " + ", ".join(TOKEN_STATES))
            if state == "revoked" and info.get("token_id"):
                self.revoke_token(info["token_id"])
            if state == "deleted":
                self.delete_bearer(bearer)
            info["state"] = state
        if sel.get("uses_limit") is not None:
            info["uses_limit"] = int(sel["uses_limit"])
            rec = self.find_token(info["token_id"]) if info.get("token_id") else None
            if rec is not None:
                rec["accessTokenNumUsesLimit"] = int(sel["uses_limit"])
        if sel.get("uses") is not None:
            info["uses"] = int(sel["uses"])
        return {"token_id": info.get("token_id"), "state": info["state"],
                "uses": int(info.get("uses") or 0)}

    # -- rate limiting -------------------------------------------------
    def rate_check(self, client, route="read", kind="read", consume=True):
        """One request of `client` (its address) on `route`, of `kind` "read" or "write"
        -> (allowed, limit, remaining, reset_seconds) or None when off.

        A fixed window per counter, like @fastify/rate-limit's local store: the window
        starts at the first request and the count resets when it ends.  The late-2024
        server (per_route, the default) keeps one counter per route and client address,
        reads limited to `limit` and writes to `write_limit` (its 60 and 200);
        per_route = false keeps one read counter and one write counter per address (one
        budget for every read, as Infisical Cloud's published per-IP limits read)."""
        rl = self.rate_limit
        if not rl:
            return None
        limit = rl["write_limit"] if kind == "write" else rl["limit"]
        key = (client, route if rl["per_route"] else kind)
        now = time.monotonic()
        b = self._rl_buckets.get(key)
        if b is None or now >= b[0] + rl["window"]:
            b = [now, 0]
            self._rl_buckets[key] = b
        if consume:
            b[1] += 1
        reset = max(1, int(-(-(b[0] + rl["window"] - now) // 1)))
        allowed = b[1] <= limit
        return allowed, limit, max(0, limit - b[1]), reset

    # -- organisations ---------------------------------------------------
    def caller_org(self, info):
        """The org of a bearer's identity (or the org_id it was given), or None."""
        if info.get("org_id"):
            return info["org_id"]
        ident = self.identities.get(info.get("identity_id"))
        return ident.get("org_id") if ident else None

    def org_identities(self, org_id, search=None):
        """The org's identities as (id, identity) pairs, unordered; `search` as the
        server's ILIKE '%search%' on the name (so '%' and '_' are wildcards)."""
        rx = None
        if search:
            pat = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in search)
            rx = re.compile(pat, re.IGNORECASE | re.DOTALL)
        out = []
        for iid, ident in self.identities.items():
            if ident.get("org_id") != org_id:
                continue
            if rx is not None and not rx.search(ident.get("name") or ""):
                continue
            out.append((iid, ident))
        return out
