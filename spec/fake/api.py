"""The Infisical API routes of the fake server (pure request -> Response)."""
import base64
import hashlib
import json
import math
import re
import secrets
import string
import time
from urllib.parse import parse_qsl, unquote

from . import state as st

JSON_CT = "application/json; charset=utf-8"


class Response:
    def __init__(self, status, body=None, headers=None, raw_body=None):
        self.status = status
        self.headers = list(headers or [])
        if raw_body is not None:
            self.body = raw_body
        elif body is None:
            self.body = b""
        else:
            self.body = json.dumps(body, separators=(",", ":")).encode()
            self.headers.append(("Content-Type", JSON_CT))
        self.after = None   # callable run under the state lock once the body is built

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class Request:
    def __init__(self, method, path, raw_query, query, headers, body, client):
        self.method = method
        self.path = path            # without query string, not percent-decoded
        self.raw_query = raw_query  # text after '?', or None
        self.query = query          # name -> [values]
        self.headers = headers      # lowercased name -> value
        self.body = body            # bytes
        self.client = client


def req_id():
    alphabet = string.ascii_letters + string.digits
    return "req-" + "".join(secrets.choice(alphabet) for _ in range(14))


def error(S, status, err, message, **extra):
    body = {}
    if not S.legacy():
        body["reqId"] = req_id()
    body["statusCode"] = status
    body["message"] = message
    body["error"] = err
    body.update(extra)
    return Response(status, body)


def not_found_route(req):
    url = req.path + ("?" + req.raw_query if req.raw_query is not None else "")
    return Response(404, {"message": "Route %s:%s not found" % (req.method, url),
                          "error": "Not Found", "statusCode": 404})


# -- JavaScript Number() and zod-like validation ------------------------
_JS_WS = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
         "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_DEC_RE = re.compile(r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\Z")


def js_number(value):
    """JavaScript Number(value) for a query value (str or list of str)."""
    if isinstance(value, list):
        if len(value) != 1:
            return math.nan if value else 0.0
        value = value[0]
    t = value.strip(_JS_WS)
    if t == "":
        return 0.0
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if t[:2].lower() == prefix:
            try:
                return float(int(t[2:], base)) if t[2:] and "_" not in t else math.nan
            except ValueError:
                return math.nan
    if not _DEC_RE.match(t):
        return math.nan
    if t.endswith("Infinity"):
        return -math.inf if t[0] == "-" else math.inf
    return float(t)


def _jsnum_json(v):
    return int(v) if v == int(v) else v


def validate_number(query, name, default, lo, hi, issues):
    if name not in query:
        return default
    v = js_number(query[name])
    if math.isnan(v):
        issues.append({"code": "invalid_type", "expected": "number", "received": "nan",
                       "path": [name], "message": "Expected number, received nan"})
        return None
    if v < lo:
        issues.append({"code": "too_small", "minimum": lo, "type": "number", "inclusive": True,
                       "exact": False, "message": "Number must be greater than or equal to %d" % lo,
                       "path": [name]})
    if v > hi:
        issues.append({"code": "too_big", "maximum": hi, "type": "number", "inclusive": True,
                       "exact": False, "message": "Number must be less than or equal to %d" % hi,
                       "path": [name]})
    return v


def validation_failure(S, issues):
    return error(S, 401 if S.legacy() else 422, "ValidationFailure", issues)


# -- authentication, rate limiting, bodies ------------------------------
MSG_NO_TOKEN = "No identity access token found"
MSG_EXPIRED = "Your token has expired. Please re-authenticate."
MSG_MALFORMED = ("The provided access token is malformed. Please use a valid token or "
                 "generate a new one and try again.")
MSG_TTL = "Failed to renew MI access token due to TTL expiration"
MSG_USES = "Unable to renew because access token number of uses limit reached"
# current mode (state.CURRENT_SOURCES["validate"])
MSG_REVOKED_NOW = "Failed to authorize: token has been revoked"
MSG_USES_NOW = "Failed to authorize: token usage limit reached"
MSG_MAX_AGE = "Identity access token exceeded max age, please re-authenticate"


def authenticate(S, req, required=True):
    """Check the Authorization header as the server's onRequest hook does, on EVERY
    route: a header that is there is checked even where none is needed (login).
    -> (bearer info or None, error Response or None)."""
    h = req.headers.get("authorization")
    if h is None:
        if not required:
            return None, None
        return None, error(S, 401, "UnauthorizedError", "Token missing")
    # The server takes everything after the first 7 characters ("Bearer "), whatever
    # the scheme, and verifies it as a JWT.
    return check_token(S, h[7:])


def check_token(S, bearer, count_use=True):
    """The server's checks of an identity access token, in its order: the JWT (malformed,
    past max TTL: 403 TokenError), the row (revoked or deleted: 401), the use limit and
    the TTL (401, and the row is deleted), then one use is counted."""
    if bearer == "":
        return None, error(S, 403, "TokenError", "jwt must be provided")
    info = S.access_tokens.get(bearer)
    if info is None and bearer in S.signed:
        # a token this server issued before a reset: its row is gone
        return None, error(S, 401, "UnauthorizedError", MSG_NO_TOKEN)
    if info is None or info.get("state") == "malformed":
        # not a JWT this server signed
        return None, error(S, 403, "TokenError", MSG_MALFORMED)
    state = info.get("state", "valid")
    now = time.time()
    if not S.legacy():
        return check_token_current(S, bearer, info, state, now, count_use)
    if state == "expired" or (info.get("max_expires_at") and now > info["max_expires_at"]):
        return None, error(S, 403, "TokenError", MSG_EXPIRED)
    if state in ("revoked", "deleted"):
        return None, error(S, 401, "UnauthorizedError", MSG_NO_TOKEN)
    limit, uses = S.uses_limit(info), int(info.get("uses") or 0)
    if state == "used_up" or (limit > 0 and uses > 0 and uses >= limit):
        S.delete_bearer(bearer)
        return None, error(S, 401, "UnauthorizedError", MSG_USES)
    if state == "ttl_expired" or (info.get("expires_at") and now > info["expires_at"]):
        S.delete_bearer(bearer)
        return None, error(S, 401, "UnauthorizedError", MSG_TTL)
    if count_use:
        S.count_use(bearer)
    return info, None


def check_token_current(S, bearer, info, state, now, count_use):
    """The 2026 server's checks (state.CURRENT_SOURCES["validate"]): jwt.verify (malformed
    or past exp: 403 TokenError), a legacy JWT without exp past the enforcement date plus
    the ceiling (401), the revocation markers (401), the use counter (401); no row is read,
    written or deleted."""
    if state in ("expired", "ttl_expired") or (info.get("expires_at") and now > info["expires_at"]):
        return None, error(S, 403, "TokenError", MSG_EXPIRED)
    if state == "max_age" or (info.get("legacy") and not info.get("expires_at")
                              and now > S.legacy_enforced_at + S.ceiling()):
        return None, error(S, 401, "UnauthorizedError", MSG_MAX_AGE)
    if state == "revoked":
        return None, error(S, 401, "UnauthorizedError", MSG_REVOKED_NOW)
    if state == "deleted":
        return None, error(S, 401, "UnauthorizedError", MSG_NO_TOKEN)
    limit, uses = S.uses_limit(info), int(info.get("uses") or 0)
    if state == "used_up" or (limit > 0 and uses >= limit):
        return None, error(S, 401, "UnauthorizedError", MSG_USES_NOW)
    if count_use:
        S.count_use(bearer)
    return info, None


def _ms_long(ms):
    """The `ms` npm package, long format (legacy rate-limit messages)."""
    for unit, name in ((86400000, "day"), (3600000, "hour"), (60000, "minute"), (1000, "second")):
        if ms >= unit:
            n = round(ms / unit)
            return "%d %s%s" % (n, name, "s" if ms >= unit * 1.5 else "")
    return "%d ms" % ms


def rate_limit(S, req, resp_headers, route="read", kind="read"):
    """Count one request of the client's address on `route` (the server's preValidation
    hook: after authentication, before validation); -> 429 Response or None.  Every
    answer after it carries x-ratelimit-limit/-remaining/-reset (added to resp_headers);
    auth refusals come before it and carry none (recorded: notes/fake-ready, live)."""
    r = S.rate_check(req.client, route, kind)
    if r is None:
        return None
    allowed, limit, remaining, reset = r
    hdrs = [("x-ratelimit-limit", str(limit)), ("x-ratelimit-remaining", str(remaining)),
            ("x-ratelimit-reset", str(reset))]
    resp_headers.extend(hdrs)
    if allowed:
        return None
    if S.legacy():
        msg = "Rate limit exceeded. Please try again in %s" % _ms_long(int(S.rate_limit["window"] * 1000))
    else:
        msg = "Rate limit exceeded. Please try again in %d seconds" % reset
    resp = error(S, 429, "RateLimitExceeded", msg)
    resp.headers.extend(hdrs)   # recorded (real-429.txt): the 429 carries them too
    resp.headers.append(("retry-after", str(reset)))
    return resp


def internal_error(S):
    """What the server's error handler answers for an error it does not know (Fastify's
    own body-parsing errors included)."""
    return error(S, 500, "InternalServerError", "Something went wrong")


def parse_body(S, req):
    """-> (value or None when no body, error Response or None).  JSON and form-encoded
    bodies are parsed; Fastify's errors for anything else (an empty or invalid JSON
    body, another media type) reach the server's error handler, which makes them 500."""
    ct = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if not req.body:
        if ct == "application/json":
            return None, internal_error(S)
        return None, None
    if ct == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(req.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return None, internal_error(S)
        out = {}
        for k, v in pairs:
            if k in out:
                out[k] = (out[k] if isinstance(out[k], list) else [out[k]]) + [v]
            else:
                out[k] = v
        return out, None
    if ct != "application/json":
        return None, internal_error(S)
    try:
        return json.loads(req.body.decode("utf-8")), None
    except (ValueError, UnicodeDecodeError):
        return None, internal_error(S)


def body_object_issues(body):
    """zod's issue when the body schema (an object) gets no body or not an object."""
    if isinstance(body, dict):
        return []
    received = "null" if body is None else _json_type(body)
    return [{"code": "invalid_type", "expected": "object", "received": received,
             "path": [], "message": "Expected object, received %s" % received}]


def _json_type(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _required_strings(obj, names):
    issues = []
    for n in names:
        v = obj.get(n) if isinstance(obj, dict) else None
        if not isinstance(v, str):
            received = "undefined" if v is None and (not isinstance(obj, dict) or n not in obj) \
                else type(v).__name__.replace("NoneType", "null").replace("int", "number") \
                .replace("float", "number").replace("bool", "boolean").replace("dict", "object") \
                .replace("list", "array")
            issues.append({"code": "invalid_type", "expected": "string", "received": received,
                           "path": [n], "message": "Required" if received == "undefined"
                           else "Expected string, received %s" % received})
    return issues


def permission_denied(S, action):
    """403 PermissionDenied; current servers add `details` (the caller's rules), the
    late-2024 server sent none."""
    extra = {} if S.legacy() else {"details": []}
    return error(S, 403, "PermissionDenied", "You are not allowed to %s on identity" % action,
                 **extra)


def _identity_errors(S, identity_id, info=None):
    if S.legacy() and not st.is_uuid(identity_id):
        return Response(500, {"statusCode": 500, "message": "Something went wrong", "error": "FindOne"})
    ident = S.identities.get(identity_id)
    # current mode: the identity is looked up in the caller's organisation
    # (membershipIdentityDAL.getIdentityById scoped to actorOrgId, CURRENT_SOURCES
    # "token_routes"), so another organisation's identity is not found
    other_org = (not S.legacy() and ident is not None and info is not None
                 and ident.get("org_id") and S.caller_org(info)
                 and ident.get("org_id") != S.caller_org(info))
    if ident is None or other_org:
        return error(S, 404, "NotFound", "Failed to find identity with ID %s" % identity_id)
    if not ident.get("token_auth", True):
        return error(S, 400, "BadRequest", "The identity does not have Token Auth")
    return None


def _token_view(S, rec):
    out = dict(rec)
    if S.legacy():
        out.pop("authMethod", None)
        out.pop("accessTokenPeriod", None)
    return out


# -- routes -----------------------------------------------------------
def list_tokens(S, req, identity_id):
    info, err = authenticate(S, req)
    if err:
        return err
    hdrs = []
    resp = rate_limit(S, req, hdrs, "list_tokens")
    if resp:
        return resp
    issues = []
    offset = validate_number(req.query, "offset", 0, 0, 100, issues)
    limit = validate_number(req.query, "limit", 20, 1, 100, issues)
    if issues:
        resp = validation_failure(S, issues)
    else:
        offset, limit = int(offset), int(limit)
        resp = _identity_errors(S, identity_id, info)
        if resp is None and not info.get("can_read", True):
            resp = permission_denied(S, "read")
        if resp is None:
            rows = S.sorted_tokens(identity_id)[offset:offset + limit]
            resp = Response(200, {"tokens": [_token_view(S, r) for r in rows]})
            if S.churn:
                resp.after = lambda: S.touch_oldest(identity_id)
    resp.headers.extend(hdrs)
    return resp


ORG_ORDER_BY = ("name",)
ORDER_DIRECTIONS = ("asc", "desc")
MSG_NOT_IN_ORG = "You are not allowed to access this resource"


def validate_enum(query, name, options, issues):
    """zod's nativeEnum on a query value; -> the value (None when absent or bad)."""
    if name not in query:
        return None
    v = query[name]
    v = v[0] if isinstance(v, list) and len(v) == 1 else v
    if isinstance(v, str) and v in options:
        return v
    received = v if isinstance(v, str) else "array"
    issues.append({"received": received, "code": "invalid_enum_value", "options": list(options),
                   "path": [name], "message": "Invalid enum value. Expected %s, received '%s'"
                   % (" | ".join("'%s'" % o for o in options), received)})
    return None


def _membership_view(S, org_id, iid, ident):
    methods = list(ident.get("auth_methods") or [])
    created = st.fmt_ms(int(ident.get("created_ms") or st.GEN_BASE_MS))
    m = {
        "id": st.uuid_from("membership", org_id, iid),
        "role": ident.get("role", "member"),
        "roleId": None,
        "orgId": org_id,
        "createdAt": created,
        "updatedAt": created,
        "identityId": iid,
    }
    name = ident.get("name") or "identity-" + iid[:8]
    if S.legacy():
        # one auth method per identity in that build, or none
        m["identity"] = {"name": name, "id": iid, "authMethod": methods[0] if methods else None}
    else:
        m["identity"] = {"name": name, "id": iid, "orgId": org_id, "authMethods": methods,
                         "hasDeleteProtection": False}
        # lastLoginAuthMethod/lastLoginTime are columns of the membership, but this route's
        # response schema does not name them, so the serializer drops them
        m["metadata"] = []
    return m


def list_identity_memberships(S, req, org_id):
    """GET /api/v2/organizations/{orgId}/identity-memberships (identity-org-router.ts):
    auth, read limiter, query validation (offset >= 0, limit 1..20000 default 100,
    orderBy name, orderDirection asc|desc, search trimmed, ILIKE on the name), then the
    caller's membership of the org (late-2024: a malformed org id is a 500 from the
    permission query, any other org a 403 ForbiddenRequestError named "Identity is not
    apart of this organization"; current mode answers the same, not confirmed), then
    `read` on identities (403 PermissionDenied)."""
    info, err = authenticate(S, req)
    if err:
        return err
    hdrs = []
    resp = rate_limit(S, req, hdrs, "list_identity_memberships")
    if resp:
        return resp
    issues = []
    offset = validate_number(req.query, "offset", 0, 0, math.inf, issues)
    limit = validate_number(req.query, "limit", 100, 1, 20000, issues)
    validate_enum(req.query, "orderBy", ORG_ORDER_BY, issues)
    direction = validate_enum(req.query, "orderDirection", ORDER_DIRECTIONS, issues) or "asc"
    search = req.query.get("search")
    if isinstance(search, list) and len(search) > 1:
        issues.append({"code": "invalid_type", "expected": "string", "received": "array",
                       "path": ["search"], "message": "Expected string, received array"})
    search = search[0].strip(_JS_WS) if isinstance(search, list) and len(search) == 1 else None
    if issues:
        resp = validation_failure(S, issues)
    elif S.legacy() and not st.is_uuid(org_id):
        resp = Response(500, {"statusCode": 500, "message": "Something went wrong",
                              "error": "GetOrgIdentityPermission"})
    elif S.caller_org(info) != org_id:
        resp = error(S, 403, "Identity is not apart of this organization", MSG_NOT_IN_ORG)
    elif not info.get("can_read", True):
        resp = permission_denied(S, "read")
    else:
        rows = S.org_identities(org_id, search)
        rows.sort(key=lambda r: (r[1].get("name") or "identity-" + r[0][:8], r[0]),
                  reverse=direction == "desc")
        offset = int(offset) if offset < len(rows) else len(rows)
        limit = int(limit)
        page = rows[offset:offset + limit]
        resp = Response(200, {"identityMemberships": [_membership_view(S, org_id, iid, ident)
                                                      for iid, ident in page],
                              "totalCount": len(rows)})
    resp.headers.extend(hdrs)
    return resp


def write_limited(S, req, route, handler):
    """Run a write route's handler behind the write limiter (its authentication has
    already passed: a refused bearer is not counted and gets no rate-limit headers).
    Fastify parses the body before the limiter's preValidation hook: a body that does not
    parse (an empty JSON body: 500) is not counted either and has no rate-limit headers;
    validation failures come after the limiter and keep them."""
    _, err = parse_body(S, req)
    if err:
        return err
    hdrs = []
    resp = rate_limit(S, req, hdrs, route, "write")
    if resp is None:
        resp = handler()
        resp.headers.extend(hdrs)
    return resp


def create_token(S, req, identity_id):
    info, err = authenticate(S, req)
    if err:
        return err
    return write_limited(S, req, "create_token", lambda: _create_token(S, req, info, identity_id))


def _create_token(S, req, info, identity_id):
    body, err = parse_body(S, req)
    if err:
        return err
    issues = body_object_issues(body)
    if issues:
        return validation_failure(S, issues)
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        return validation_failure(S, [{"code": "invalid_type", "expected": "string",
                                       "received": "number" if isinstance(name, (int, float)) else "object",
                                       "path": ["name"], "message": "Expected string"}])
    resp = _identity_errors(S, identity_id, info)
    if resp:
        return resp
    if not info.get("can_write", True):
        return permission_denied(S, "edit")
    rec, bearer = S.create_token(identity_id, name)
    out = {"accessToken": bearer, "expiresIn": rec["accessTokenTTL"],
           "accessTokenMaxTTL": rec["accessTokenMaxTTL"], "tokenType": "Bearer"}
    if not S.legacy():
        out["tokenData"] = _token_view(S, rec)
    return Response(200, out)


def revoke_token(S, req, token_id):
    info, err = authenticate(S, req)
    if err:
        return err
    return write_limited(S, req, "revoke_token", lambda: _revoke_token(S, req, info, token_id))


def _revoke_token(S, req, info, token_id):
    _, err = parse_body(S, req)
    if err:
        return err
    rec = S.find_token(token_id)
    if rec is not None and not info.get("can_write", True):
        return permission_denied(S, "edit")
    if S.revoke_token(token_id) is None:
        return error(S, 404, "NotFound", "Token with ID %s not found or already revoked" % token_id)
    return Response(200, {"message": "Successfully revoked access token"})


def login(S, req):
    # no Authorization needed, but one that is sent is checked (and a use counted)
    _, err = authenticate(S, req, required=False)
    if err:
        return err
    return write_limited(S, req, "login", lambda: _login(S, req))


LOCKED = "This identity auth method is temporarily locked, please try again later"


def _login_lockout(S, cid, cfg, secret):
    """Current mode: the checks before a login succeeds, as upstream's
    backend/src/services/identity-ua/identity-ua-service.ts (`login`, read at commit
    60887bd0ac17c50322814398262a83911dc4d506) makes them: an unknown client id and a
    wrong secret are both 401 "Invalid credentials"; a locked method is 401 LOCKED; a wrong
    secret takes the lockout lock (none acquired: 429 RateLimitError "Failed to acquire
    lock: rate limit exceeded", no rate-limit headers, no retry-after; knob
    `lock_contention`), counts one failure, and locks the method at `lockout_threshold`
    failures for `lockout_duration` s (the count itself expires `lockout_counter_reset` s
    after the last failure); a right secret clears the record.  Defaults (3, 300 s, 30 s,
    lockout on) from the attach schema of
    backend/src/server/routes/v1/identity-universal-auth-router.ts at commit
    e9ba9c0867655996cefe7b8fb607ed2a93bc917f.  -> an error Response or None."""
    if not cfg:
        return error(S, 401, "UnauthorizedError", "Invalid credentials")
    now = time.monotonic()
    lo = S.ua_lockouts.get(cid)
    if lo and lo["expires"] <= now:
        S.ua_lockouts.pop(cid)
        lo = None
    if lo and lo["locked"]:
        return error(S, 401, "UnauthorizedError", LOCKED)
    if cfg.get("secret") == secret:
        S.ua_lockouts.pop(cid, None)
        return None
    if cfg.get("lockout_enabled", True):
        if int(cfg.get("lock_contention", 0) or 0) > 0:
            cfg["lock_contention"] = int(cfg["lock_contention"]) - 1
            return error(S, 429, "RateLimitExceeded", "Failed to acquire lock: rate limit exceeded")
        lo = lo or {"locked": False, "failed": 0}
        lo["failed"] += 1
        if lo["failed"] >= int(cfg.get("lockout_threshold", 3)):
            lo["locked"] = True
            lo["expires"] = now + float(cfg.get("lockout_duration", 300))
        else:
            lo["expires"] = now + float(cfg.get("lockout_counter_reset", 30))
        S.ua_lockouts[cid] = lo
    return error(S, 401, "UnauthorizedError", "Invalid credentials")


def _login(S, req):
    body, err = parse_body(S, req)
    if err:
        return err
    issues = body_object_issues(body) or _required_strings(body, ("clientId", "clientSecret"))
    if issues:
        return validation_failure(S, issues)
    cid = body["clientId"]
    cfg = S.universal_auth.get(cid)
    if S.legacy():
        # late 2024 (recorded): an unknown client id is 404, a wrong secret 401, no lockout
        if not cfg:
            return error(S, 404, "NotFound", "No identity with specified client ID was found")
        if cfg.get("secret") != body["clientSecret"]:
            return error(S, 401, "UnauthorizedError", "Invalid credentials")
    else:
        resp = _login_lockout(S, cid, cfg, body["clientSecret"])
        if resp:
            return resp
    # every login issues a new access token; the first one is `access_token` when set
    bearer = cfg.get("access_token")
    if not bearer or bearer in S.access_tokens:
        bearer = "fake-ua-" + hashlib.sha256(
            ("%s:%d" % (cid, S.next_serial())).encode()).hexdigest()[:32]
    ttl = int(cfg.get("expires_in", 7200))
    max_ttl = int(cfg.get("max_ttl", st.DEFAULT_TTL))
    identity_id = cfg.get("identity_id")
    rec = None
    if identity_id in S.identities:
        rec = st.new_record(identity_id, S.next_id(identity_id, cid), None, S.bump_ms(),
                            accessTokenTTL=ttl, accessTokenMaxTTL=max_ttl,
                            authMethod="universal-auth")
    S.issue(bearer, identity_id, ttl, max_ttl, rec, client_id=cid, org_id=cfg.get("org_id"))
    S.ua_current[cid] = bearer
    return Response(200, {"accessToken": bearer, "expiresIn": ttl,
                          "accessTokenMaxTTL": max_ttl, "tokenType": "Bearer"})


def renew(S, req):
    _, err = authenticate(S, req, required=False)
    if err:
        return err
    return write_limited(S, req, "renew", lambda: _renew(S, req))


def _renew(S, req):
    body, err = parse_body(S, req)
    if err:
        return err
    issues = body_object_issues(body) or _required_strings(body, ("accessToken",))
    if issues:
        return validation_failure(S, issues)
    info, err = check_token(S, body["accessToken"], count_use=False)
    if err:
        return err
    if not S.legacy():
        return _renew_current(S, body["accessToken"], info)
    if info.get("ttl"):
        info["expires_at"] = time.time() + info["ttl"]
    ttl, max_ttl = st.DEFAULT_TTL, st.DEFAULT_TTL
    rec = S.find_token(info.get("token_id")) if info.get("token_id") else None
    if rec is not None:
        ms = S.bump_ms()
        rec["accessTokenLastRenewedAt"] = st.fmt_ms(ms)
        rec["updatedAt"] = st.fmt_ms(ms)
        ttl, max_ttl = rec.get("accessTokenTTL", ttl), rec.get("accessTokenMaxTTL", max_ttl)
    return Response(200, {"accessToken": body["accessToken"], "expiresIn": ttl,
                          "accessTokenMaxTTL": max_ttl, "tokenType": "Bearer"})


def _renew_current(S, bearer, info):
    """renewAccessTokenInner (CURRENT_SOURCES["renew"]): a new exp from computeIssuedTtl
    over the TTL and max TTL the JWT carries, anchored at its creation; nothing written."""
    now_s = int(time.time())
    req = int(info.get("requested_ttl", info.get("ttl") or 0))
    req_max = int(info.get("requested_max_ttl", 0))
    ttl = S.issued_ttl(req, req_max, int(info.get("created_s", info.get("issued", now_s))), now_s)
    if ttl <= 0:
        return error(S, 401, "UnauthorizedError",
                     "Cannot renew: identity access token has reached its max TTL")
    ttl = int(ttl)
    info["expires_at"] = time.time() + ttl
    return Response(200, {"accessToken": bearer, "expiresIn": ttl,
                          "accessTokenMaxTTL": req_max, "tokenType": "Bearer"})


def server_status(S, req):
    """GET /api/status: no credentials needed, but a header sent is checked (onRequest);
    counted by the read limiter (readLimit, routes/index.ts of c01ea048). Current mode adds
    maxIdentityAccessTokenTTL (CURRENT_SOURCES["status"])."""
    _, err = authenticate(S, req, required=False)
    if err:
        return err
    hdrs = []
    resp = rate_limit(S, req, hdrs, "status")
    if resp:
        return resp
    body = {"date": st.fmt_ms(st.now_ms()), "message": "Ok", "emailConfigured": False,
            "inviteOnlySignup": False, "redisConfigured": True, "secretScanningConfigured": False}
    if not S.legacy() and S.max_token_ttl is not None:
        body["auditLogStorageDisabled"] = False
        body["maxIdentityAccessTokenTTL"] = S.max_token_ttl
    resp = Response(200, body)
    resp.headers.extend(hdrs)
    return resp


def get_token(S, req, token_id):
    """GET /api/v1/auth/token-auth/tokens/{tokenId} (current mode; CURRENT_SOURCES
    "token_routes", getTokenAuthTokenById): the token by id, then its identity in the
    caller's organisation, Token Auth, then `read` on identities."""
    if S.legacy():
        _, resp = authenticate(S, req, required=False)
        return resp or not_found_route(req)
    info, err = authenticate(S, req)
    if err:
        return err
    hdrs = []
    resp = rate_limit(S, req, hdrs, "get_token")
    if resp:
        return resp
    rec = S.find_token(token_id)
    if rec is None or not S.visible(rec):
        resp = error(S, 404, "NotFound", "Token with ID %s not found" % token_id)
    else:
        resp = _identity_errors(S, rec["identityId"], info)
        if resp is None and not info.get("can_read", True):
            resp = permission_denied(S, "read")
        if resp is None:
            resp = Response(200, {"token": _token_view(S, rec)})
    resp.headers.extend(hdrs)
    return resp


# -- Universal Auth client secrets ---------------------------------------
# backend/src/services/identity-ua/identity-ua-service.ts, late 2024 (c01ea048, the live
# suite's server) and upstream (read at commit 022f858a83b9518c73d3fca5be02ebd6854e398a):
# getUniversalAuthClientSecrets, getUniversalAuthClientSecretById,
# revokeUniversalAuthClientSecret, createUniversalAuthClientSecret.  Both eras: an unknown
# identity is 404 "Failed to find identity with ID ...", one without Universal Auth 400
# BadRequest "The identity does not have universal auth" (the check comes before the
# permission check), the list holds only secrets not revoked (no paging, no order asked
# for: insertion order here), a revoke marks the secret revoked again when it already is
# (no error).  Current servers look the secret up among the identity's (an unknown one or
# another identity's: 404 "Failed to find identity with ID {identityId}"); the late-2024
# server updates whatever secret has that id, and an id it does not find leaves the answer
# without its fields: a 500 from the response schema.
UA_SECRET_FIELDS = ("id", "description", "clientSecretPrefix", "clientSecretNumUses",
                    "clientSecretNumUsesLimit", "clientSecretTTL", "isClientSecretRevoked",
                    "identityUAId", "createdAt", "updatedAt")
NO_UA = "The identity does not have universal auth"


def _ua_identity(S, identity_id, info):
    """-> (identity, None) or (None, error Response) for the client-secret routes."""
    if S.legacy() and not st.is_uuid(identity_id):
        return None, Response(500, {"statusCode": 500, "message": "Something went wrong",
                                    "error": "FindOne"})
    ident = S.identities.get(identity_id)
    other_org = (not S.legacy() and ident is not None and ident.get("org_id")
                 and S.caller_org(info) and ident.get("org_id") != S.caller_org(info))
    if ident is None or other_org:
        return None, error(S, 404, "NotFound", "Failed to find identity with ID %s" % identity_id)
    if "universal-auth" not in (ident.get("auth_methods") or []):
        return None, error(S, 400, "BadRequest", NO_UA)
    return ident, None


def _secret_view(rec):
    return {k: rec.get(k) for k in UA_SECRET_FIELDS}


def list_client_secrets(S, req, identity_id):
    info, err = authenticate(S, req)
    if err:
        return err
    hdrs = []
    resp = rate_limit(S, req, hdrs, "list_client_secrets")
    if resp:
        return resp
    ident, resp = _ua_identity(S, identity_id, info)
    if resp is None and not info.get("can_read", True):
        resp = permission_denied(S, "read")
    if resp is None:
        rows = [r for r in ident.get("client_secrets") or [] if not r.get("isClientSecretRevoked")]
        resp = Response(200, {"clientSecretData": [_secret_view(r) for r in rows]})
    resp.headers.extend(hdrs)
    return resp


def _find_secret(S, ident, secret_id):
    for r in (ident.get("client_secrets") or []) if ident else []:
        if r.get("id") == secret_id:
            return r
    return None


def get_client_secret(S, req, identity_id, secret_id):
    info, err = authenticate(S, req)
    if err:
        return err
    hdrs = []
    resp = rate_limit(S, req, hdrs, "get_client_secret")
    if resp:
        return resp
    ident, resp = _ua_identity(S, identity_id, info)
    if resp is None:
        rec = _find_secret(S, ident, secret_id)
        if rec is None:
            resp = error(S, 404, "NotFound", "Failed to find identity with ID %s" % identity_id)
        elif not info.get("can_read", True):
            resp = permission_denied(S, "read")
        else:
            resp = Response(200, {"clientSecretData": _secret_view(rec)})
    resp.headers.extend(hdrs)
    return resp


def revoke_client_secret(S, req, identity_id, secret_id):
    info, err = authenticate(S, req)
    if err:
        return err
    return write_limited(S, req, "revoke_client_secret",
                         lambda: _revoke_client_secret(S, info, identity_id, secret_id))


def _revoke_client_secret(S, info, identity_id, secret_id):
    ident, resp = _ua_identity(S, identity_id, info)
    if resp:
        return resp
    if S.legacy():
        rec = None
        for other in S.identities.values():   # whatever secret has that id
            rec = rec or _find_secret(S, other, secret_id)
        if not info.get("can_write", True):
            return permission_denied(S, "delete")
        if rec is None:
            return internal_error(S)
    else:
        rec = _find_secret(S, ident, secret_id)
        if rec is None:
            return error(S, 404, "NotFound", "Failed to find identity with ID %s" % identity_id)
        if not info.get("can_write", True):
            return permission_denied(S, "delete")
    rec["isClientSecretRevoked"] = True
    rec["updatedAt"] = st.fmt_ms(st.now_ms())
    return Response(200, {"clientSecretData": _secret_view(rec)})


def create_client_secret(S, req, identity_id):
    info, err = authenticate(S, req)
    if err:
        return err
    return write_limited(S, req, "create_client_secret",
                         lambda: _create_client_secret(S, req, info, identity_id))


def _create_client_secret(S, req, info, identity_id):
    body, err = parse_body(S, req)
    if err:
        return err
    body = body if isinstance(body, dict) else {}
    issues = []
    for name, hi in (("numUsesLimit", None), ("ttl", 315360000)):
        v = body.get(name, 0)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 or (hi and v > hi):
            issues.append({"code": "invalid_type" if not isinstance(v, (int, float)) else "too_big",
                           "path": [name], "message": "Invalid %s" % name})
    if issues:
        return validation_failure(S, issues)
    ident, resp = _ua_identity(S, identity_id, info)
    if resp:
        return resp
    if not info.get("can_write", True):
        return permission_denied(S, "create")
    secret = hashlib.sha256(("%s:%d" % (identity_id, S.next_serial())).encode()).hexdigest()
    rec = st.secret_record(identity_id, st.uuid_from("secret", identity_id, S.next_serial()),
                           st.now_ms(), description=str(body.get("description", "")).strip(),
                           prefix=secret[:4], uses_limit=int(body.get("numUsesLimit", 0)),
                           ttl=int(body.get("ttl", 0)))
    ident.setdefault("client_secrets", []).append(rec)
    return Response(200, {"clientSecret": secret, "clientSecretData": _secret_view(rec)})


_ROUTES = [
    ("GET", re.compile(r"/api/status\Z"), server_status),
    ("GET", re.compile(r"/api/v1/auth/token-auth/tokens/([^/]+)\Z"), get_token),
    ("GET", re.compile(r"/api/v1/auth/token-auth/identities/([^/]+)/tokens\Z"), list_tokens),
    ("POST", re.compile(r"/api/v1/auth/token-auth/identities/([^/]+)/tokens\Z"), create_token),
    ("POST", re.compile(r"/api/v1/auth/token-auth/tokens/([^/]+)/revoke\Z"), revoke_token),
    ("POST", re.compile(r"/api/v1/auth/universal-auth/login\Z"), login),
    ("GET", re.compile(r"/api/v1/auth/universal-auth/identities/([^/]+)/client-secrets\Z"),
     list_client_secrets),
    ("POST", re.compile(r"/api/v1/auth/universal-auth/identities/([^/]+)/client-secrets\Z"),
     create_client_secret),
    ("GET", re.compile(r"/api/v1/auth/universal-auth/identities/([^/]+)/client-secrets/([^/]+)\Z"),
     get_client_secret),
    ("POST", re.compile(r"/api/v1/auth/universal-auth/identities/([^/]+)/client-secrets/([^/]+)/revoke\Z"),
     revoke_client_secret),
    ("POST", re.compile(r"/api/v1/auth/token/renew\Z"), renew),
    ("GET", re.compile(r"/api/v2/organizations/([^/]+)/identity-memberships\Z"),
     list_identity_memberships),
]


def etag_of(body):
    """@fastify/etag's default: a strong tag of the body's SHA-1 in base64."""
    return '"%s"' % base64.b64encode(hashlib.sha1(body).digest()).decode()


def handle(S, req):
    """Dispatch one API request; the caller holds S.lock."""
    S.flush_usage()
    for method, rx, fn in _ROUTES:
        m = rx.match(req.path)
        if m and req.method == method:
            resp = fn(S, req, *[unquote(g) for g in m.groups()])
            break
    else:
        # the Authorization check is an onRequest hook: it runs before the 404 too
        _, resp = authenticate(S, req, required=False)
        if resp is None:
            resp = not_found_route(req)
    # @fastify/etag (registered by the late-2024 server and by current ones): every
    # answer carries a strong etag, and an If-None-Match equal to it gets a 304 with
    # an empty body (content-type kept).
    etag = etag_of(resp.body)
    resp.headers.append(("etag", etag))
    if req.headers.get("if-none-match") == etag:
        resp.status, resp.body = 304, b""
    return resp
