"""The Infisical API routes of the fake server (pure request -> Response)."""
import hashlib
import json
import math
import re
import secrets
import string
from urllib.parse import unquote

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
def authenticate(S, req):
    """-> (bearer info, None) or (None, error Response)."""
    h = req.headers.get("authorization")
    if h is None:
        return None, error(S, 401, "UnauthorizedError", "Token missing")
    parts = h.split(" ", 1)
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].strip():
        return None, error(S, 401, "UnauthorizedError", "Token missing")
    return check_token(S, parts[1].strip())


def check_token(S, bearer):
    info = S.access_tokens.get(bearer)
    if info is None or info.get("state") == "revoked":
        return None, error(S, 401, "UnauthorizedError", "No identity access token found")
    state = info.get("state", "valid")
    if state == "expired":
        return None, error(S, 403, "TokenError", "Your token has expired. Please re-authenticate.")
    if state == "malformed":
        return None, error(S, 403, "TokenError", "Invalid token. Please provide a valid token.")
    return info, None


def _ms_long(ms):
    """The `ms` npm package, long format (legacy rate-limit messages)."""
    for unit, name in ((86400000, "day"), (3600000, "hour"), (60000, "minute"), (1000, "second")):
        if ms >= unit:
            n = round(ms / unit)
            return "%d %s%s" % (n, name, "s" if ms >= unit * 1.5 else "")
    return "%d ms" % ms


def rate_limit(S, req, resp_headers):
    """Consume one read; -> 429 Response or None. Adds legacy headers."""
    r = S.rate_check(req.client)
    if r is None:
        return None
    allowed, limit, remaining, reset = r
    hdrs = [("x-ratelimit-limit", str(limit)), ("x-ratelimit-remaining", str(remaining)),
            ("x-ratelimit-reset", str(reset))]
    if S.legacy():
        resp_headers.extend(hdrs)
    if allowed:
        return None
    if S.legacy():
        msg = "Rate limit exceeded. Please try again in %s" % _ms_long(int(S.rate_limit["window"] * 1000))
    else:
        msg = "Rate limit exceeded. Please try again in %d seconds" % reset
    resp = error(S, 429, "RateLimitExceeded", msg)
    if not S.legacy():
        resp.headers.extend(hdrs)
    resp.headers.append(("retry-after", str(reset)))
    return resp


def parse_body(S, req):
    """-> (value or None when no body, error Response or None)."""
    ct = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if not req.body:
        if ct == "application/json":
            return None, error(S, 400, "FST_ERR_CTP_EMPTY_JSON_BODY",
                               "Body cannot be empty when content-type is set to 'application/json'")
        return None, None
    if ct != "application/json":
        return None, error(S, 415, "FST_ERR_CTP_INVALID_MEDIA_TYPE",
                           "Unsupported Media Type: %s" % (ct or "undefined"))
    try:
        return json.loads(req.body.decode("utf-8")), None
    except (ValueError, UnicodeDecodeError):
        return None, error(S, 400, "FST_ERR_CTP_INVALID_JSON_BODY",
                           "Body is not valid JSON but content-type is set to 'application/json'")


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


def _identity_errors(S, identity_id):
    if S.legacy() and not st.is_uuid(identity_id):
        return Response(500, {"statusCode": 500, "message": "Something went wrong", "error": "FindOne"})
    ident = S.identities.get(identity_id)
    if ident is None:
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
    resp = rate_limit(S, req, hdrs)
    if resp:
        return resp
    issues = []
    offset = validate_number(req.query, "offset", 0, 0, 100, issues)
    limit = validate_number(req.query, "limit", 20, 1, 100, issues)
    if issues:
        resp = validation_failure(S, issues)
    else:
        offset, limit = int(offset), int(limit)
        resp = _identity_errors(S, identity_id)
        if resp is None and not info.get("can_read", True):
            resp = error(S, 403, "PermissionDenied", "You are not allowed to read on identity",
                         details=[])
        if resp is None:
            rows = S.sorted_tokens(identity_id)[offset:offset + limit]
            resp = Response(200, {"tokens": [_token_view(S, r) for r in rows]})
            if S.churn:
                resp.after = lambda: S.touch_oldest(identity_id)
    resp.headers.extend(hdrs)
    return resp


def create_token(S, req, identity_id):
    info, err = authenticate(S, req)
    if err:
        return err
    body, err = parse_body(S, req)
    if err:
        return err
    if body is not None and not isinstance(body, dict):
        return validation_failure(S, [{"code": "invalid_type", "expected": "object",
                                       "received": type(body).__name__, "path": [],
                                       "message": "Expected object, received %s" % type(body).__name__}])
    name = (body or {}).get("name")
    if name is not None and not isinstance(name, str):
        return validation_failure(S, [{"code": "invalid_type", "expected": "string",
                                       "received": "number" if isinstance(name, (int, float)) else "object",
                                       "path": ["name"], "message": "Expected string"}])
    resp = _identity_errors(S, identity_id)
    if resp:
        return resp
    if not info.get("can_write", True):
        return error(S, 403, "PermissionDenied", "You are not allowed to edit on identity", details=[])
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
    _, err = parse_body(S, req)
    if err:
        return err
    rec = S.find_token(token_id)
    if rec is not None and not info.get("can_write", True):
        return error(S, 403, "PermissionDenied", "You are not allowed to edit on identity", details=[])
    if S.revoke_token(token_id) is None:
        return error(S, 404, "NotFound", "Token with ID %s not found or already revoked" % token_id)
    return Response(200, {"message": "Successfully revoked access token"})


def login(S, req):
    body, err = parse_body(S, req)
    if err:
        return err
    issues = _required_strings(body, ("clientId", "clientSecret"))
    if issues:
        return validation_failure(S, issues)
    cfg = S.universal_auth.get(body["clientId"])
    if not cfg or cfg.get("secret") != body["clientSecret"]:
        return error(S, 401, "UnauthorizedError", "Invalid credentials")
    bearer = cfg.get("access_token") or ("fake-ua-" + hashlib.sha256(
        body["clientId"].encode()).hexdigest()[:32])
    S.access_tokens.setdefault(bearer, {"state": "valid", "can_read": True, "can_write": True,
                                        "identity_id": cfg.get("identity_id")})
    S.access_tokens[bearer]["state"] = "valid"
    return Response(200, {"accessToken": bearer, "expiresIn": cfg.get("expires_in", 7200),
                          "accessTokenMaxTTL": cfg.get("max_ttl", st.DEFAULT_TTL),
                          "tokenType": "Bearer"})


def renew(S, req):
    body, err = parse_body(S, req)
    if err:
        return err
    issues = _required_strings(body, ("accessToken",))
    if issues:
        return validation_failure(S, issues)
    info, err = check_token(S, body["accessToken"])
    if err:
        return err
    ttl, max_ttl = st.DEFAULT_TTL, st.DEFAULT_TTL
    rec = S.find_token(info.get("token_id")) if info.get("token_id") else None
    if rec is not None:
        ms = S.bump_ms()
        rec["accessTokenLastRenewedAt"] = st.fmt_ms(ms)
        rec["updatedAt"] = st.fmt_ms(ms)
        ttl, max_ttl = rec.get("accessTokenTTL", ttl), rec.get("accessTokenMaxTTL", max_ttl)
    return Response(200, {"accessToken": body["accessToken"], "expiresIn": ttl,
                          "accessTokenMaxTTL": max_ttl, "tokenType": "Bearer"})


_ROUTES = [
    ("GET", re.compile(r"/api/v1/auth/token-auth/identities/([^/]+)/tokens\Z"), list_tokens),
    ("POST", re.compile(r"/api/v1/auth/token-auth/identities/([^/]+)/tokens\Z"), create_token),
    ("POST", re.compile(r"/api/v1/auth/token-auth/tokens/([^/]+)/revoke\Z"), revoke_token),
    ("POST", re.compile(r"/api/v1/auth/universal-auth/login\Z"), login),
    ("POST", re.compile(r"/api/v1/auth/token/renew\Z"), renew),
]


def handle(S, req):
    """Dispatch one API request; the caller holds S.lock."""
    for method, rx, fn in _ROUTES:
        m = rx.match(req.path)
        if m and req.method == method:
            resp = fn(S, req, *[unquote(g) for g in m.groups()])
            break
    else:
        return not_found_route(req)
    if S.legacy() and resp.status == 200:
        etag = 'W/"%s"' % hashlib.sha1(resp.body).hexdigest()[:27]
        resp.headers.append(("etag", etag))
        inm = req.headers.get("if-none-match")
        if req.method == "GET" and inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            if "*" in tags or etag in tags or etag[2:] in tags:
                resp.status, resp.body = 304, b""
                resp.headers = [(k, v) for k, v in resp.headers if k.lower() != "content-type"]
    return resp
