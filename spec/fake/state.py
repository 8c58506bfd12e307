"""State of the fake Infisical server: identities, token records, bearers.

All methods expect the caller to hold State.lock when mutating or reading
tokens from several threads (the HTTP layer does this).
"""
import copy
import datetime as _dt
import hashlib
import re
import threading
import time

DEFAULT_TTL = 2592000
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

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
            rl = {"limit": int(rl.get("limit", 60)), "window": float(rl.get("window", 60))}
        self.rate_limit = rl
        self.churn = bool(data.get("churn", False))
        self.access_tokens = {}
        for bearer, info in (data.get("access_tokens") or {}).items():
            info = dict(info or {})
            info.setdefault("state", "valid")
            info.setdefault("can_read", True)
            info.setdefault("can_write", True)
            self.access_tokens[bearer] = info
        self.universal_auth = data.get("universal_auth") or {}
        self.identities = {}
        for iid, ident in (data.get("identities") or {}).items():
            ident = dict(ident or {})
            tokens = list(ident.get("tokens") or [])
            for i in range(1, int(ident.pop("generate", 0) or 0) + 1):
                tokens.append(generated_record(iid, i))
            ident["tokens"] = tokens
            ident.setdefault("token_auth", True)
            self.identities[iid] = ident
        self._created_mono = {}   # token id -> monotonic time of creation via API
        self._rl_buckets = {}     # client -> [window_start, count]
        self._serial = 0

    def dump(self):
        with self.lock:
            return {
                "mode": self.mode,
                "all_auth_methods": self.all_auth_methods,
                "latency": self.latency,
                "replica_lag": self.replica_lag,
                "rate_limit": self.rate_limit,
                "churn": self.churn,
                "access_tokens": copy.deepcopy(self.access_tokens),
                "universal_auth": copy.deepcopy(self.universal_auth),
                "identities": copy.deepcopy(self.identities),
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

    def next_id(self, *parts):
        self._serial += 1
        return uuid_from("api", self._serial, time.time_ns(), *parts)

    def create_token(self, identity_id, name):
        tid = self.next_id(identity_id)
        rec = new_record(identity_id, tid, name, self.bump_ms())
        self.identities[identity_id]["tokens"].append(rec)
        self._created_mono[tid] = time.monotonic()
        bearer = "fake-at-" + hashlib.sha256(("bearer:" + tid).encode()).hexdigest()[:40]
        self.access_tokens[bearer] = {"state": "valid", "can_read": True, "can_write": True,
                                      "identity_id": identity_id, "token_id": tid}
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

    # -- rate limiting -------------------------------------------------
    def rate_check(self, client, consume=True):
        """-> (allowed, limit, remaining, reset_seconds) or None when off."""
        rl = self.rate_limit
        if not rl:
            return None
        now = time.monotonic()
        b = self._rl_buckets.get(client)
        if b is None or now >= b[0] + rl["window"]:
            b = [now, 0]
            self._rl_buckets[client] = b
        if consume:
            b[1] += 1
        reset = max(1, int(-(-(b[0] + rl["window"] - now) // 1)))
        allowed = b[1] <= rl["limit"]
        return allowed, rl["limit"], max(0, rl["limit"] - b[1]), reset
