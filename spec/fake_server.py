#!/usr/bin/env python3
"""Fake Infisical API server for the lua-infisical test suite.

Standard library only.  Usage:

    python3 spec/fake_server.py [--host 127.0.0.1] [--port 0] [--state FILE.json]
                                [--tls-cert CERT --tls-key KEY] [--quiet]
                                [--watch-pid PID]

Prints exactly one line "PORT <n>" on stdout once listening, then serves until
SIGTERM/SIGINT, POST /_fake/shutdown, or (with --watch-pid) until PID exits.
API behaviour lives in spec/fake/api.py, state in spec/fake/state.py; this file
holds the HTTP plumbing, the fault queue, statistics and the control API
(/_fake/...).  Bearer tokens are never logged: stats show sha256 prefixes.

Control API (JSON bodies):
  POST   /_fake/reset     state        replace the whole state (spec/fixtures/sample.json)
  POST   /_fake/faults    {faults:[]}  queue faults (see Handler._fault); a fault may also
                                       carry `after` (let N matching requests through
                                       first), `then_normal` (answer normally after it),
                                       and `token` (a /_fake/token body applied as the
                                       request arrives, e.g. revoke mid-walk)
  DELETE /_fake/faults                 clear the queue
  POST   /_fake/token     selector     change one access token: {bearer | client_id (the
                                       token of that Universal Auth client's latest login)
                                       | token_id, state (valid revoked deleted expired
                                       ttl_expired used_up malformed), uses, uses_limit}
  GET    /_fake/stats, GET /_fake/state, POST /_fake/shutdown
"""
import argparse
import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

sys.dont_write_bytecode = True  # keep spec/fake/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake import api  # noqa: E402
from fake.state import State  # noqa: E402
from fake import hostile  # noqa: E402

REDACT_BODY_KEYS = ("accessToken", "clientSecret")


def short_hash(secret):
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def redact_authorization(value):
    parts = value.split(" ", 1)
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return "Bearer " + short_hash(parts[1].strip())
    return "<redacted " + short_hash(value) + ">"


class ConnInfo:
    def __init__(self, serial):
        self.serial = serial
        self.kind = None      # None (no request yet), "api" or "control"
        self.open = True
        self.requests = 0


class Faults:
    """FIFO of faults; a request takes the first one whose `match` fits."""

    def __init__(self):
        self.lock = threading.Lock()
        self.queue = []

    def clear(self):
        with self.lock:
            self.queue = []

    def add(self, faults):
        with self.lock:
            for f in faults:
                if not isinstance(f, dict):
                    raise ValueError("each fault must be an object")
                f = dict(f)
                f["_left"] = int(f.get("repeat", 1) or 1)
                self.queue.append(f)

    def take(self, path):
        with self.lock:
            for i, f in enumerate(self.queue):
                if f.get("match") is None or f["match"] in path:
                    if f.get("after", 0) > 0:
                        # let this many matching requests through before it fires
                        f["after"] -= 1
                        continue
                    f["_left"] -= 1
                    if f["_left"] <= 0:
                        del self.queue[i]
                    return f
        return None

    def pending(self):
        with self.lock:
            return sum(f["_left"] for f in self.queue)


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of connections
    # (list_many at concurrency 64), which then arrive a 1 s retransmit later.
    request_queue_size = 128

    def __init__(self, addr, handler, state, ssl_ctx=None, quiet=False):
        self.state = state
        self.ssl_ctx = ssl_ctx
        self.quiet = quiet
        self.faults = Faults()
        self.stats_lock = threading.Lock()
        self.serial = 0
        self.reset_stats()
        super().__init__(addr, handler)

    def reset_stats(self):
        with self.stats_lock:
            self.conns = []          # ConnInfo accepted since the last reset
            self.requests = []
            self.api_requests = 0

    def process_request(self, request, client_address):
        with self.stats_lock:
            self.serial += 1
            conn = ConnInfo(self.serial)
            self.conns.append(conn)
        t = threading.Thread(target=self._conn_thread, args=(request, client_address, conn),
                             daemon=True)
        t.start()

    def _conn_thread(self, request, client_address, conn):
        try:
            # Headers and body go out in two writes: without this, Nagle holds the body
            # back until the client's delayed ACK (40 ms) on every answer.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_ctx is not None:
                request.settimeout(10)
                request = self.ssl_ctx.wrap_socket(request, server_side=True)
                request.settimeout(None)
            self.RequestHandlerClass(request, client_address, self, conn)
        except Exception as e:  # noqa: BLE001 - client went away, TLS failure...
            if not self.quiet:
                print("fake_server: connection %d: %s" % (conn.serial, e), file=sys.stderr)
        finally:
            conn.open = False
            self.shutdown_request(request)

    def stop_soon(self):
        threading.Thread(target=self.shutdown, daemon=True).start()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-infisical/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version
    timeout = 120  # idle keep-alive connections are closed after this

    def __init__(self, request, client_address, server, conn):
        self.conn = conn
        super().__init__(request, client_address, server)

    # -- plumbing ------------------------------------------------------
    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("fake_server: %s\n" % (fmt % args))

    def log_request(self, code="-", size="-"):
        if not self.server.quiet:
            # the request line holds no bearer token (those live in headers)
            super().log_request(code, size)

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _write(self, data, trickle=0.0):
        if trickle and data:
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(trickle)
        else:
            self.wfile.write(data)
        self.wfile.flush()

    def _send(self, status, headers, body, trickle=0.0, send_length=True):
        self.send_response(status)
        names = set()
        for k, v in headers:
            self.send_header(k, v)
            names.add(k.lower())
        if send_length and "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304 and self.command != "HEAD":
            self._write(body, trickle)

    def _send_json(self, status, value):
        self._send(status, [("Content-Type", api.JSON_CT)],
                   json.dumps(value, separators=(",", ":")).encode())

    # -- dispatch ------------------------------------------------------
    def _dispatch(self):
        path, _, raw_query = self.path.partition("?")
        body = self._read_body()
        if path.startswith("/_fake/") or path == "/_fake":
            if self.conn.kind is None:
                self.conn.kind = "control"
            return self._control(path, body)
        if self.conn.kind in (None, "control"):
            self.conn.kind = "api"
        self._api(path, raw_query if "?" in self.path else None, body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _api(self, path, raw_query, body):
        S, srv = self.server.state, self.server
        self.conn.requests += 1
        headers = {}
        for k, v in self.headers.items():
            headers[k.lower()] = v
        query = {}
        for k, v in parse_qsl(raw_query or "", keep_blank_values=True):
            query.setdefault(k, []).append(v)
        rec = {"method": self.command, "path": path,
               "query": {k: (v[0] if len(v) == 1 else v) for k, v in query.items()},
               "headers": {k: (redact_authorization(v) if k == "authorization" else v)
                           for k, v in headers.items()},
               "connection": self.conn.serial, "time": time.time(), "status": None,
               "fault": False}
        if body:
            rec["body"] = self._redacted_body(body)
        with srv.stats_lock:
            srv.requests.append(rec)
            srv.api_requests += 1

        fault = srv.faults.take(path)
        if fault is not None:
            rec["fault"] = True
            if fault.get("token") is not None:
                # change an access token as this request arrives (before its delay)
                with S.lock:
                    S.set_token(fault["token"])
            if fault.get("delay"):
                time.sleep(float(fault["delay"]))
            if fault.get("carry_out"):
                # the request takes effect, then its answer is lost: the fault answers
                # instead (a 502 from a proxy, a dropped connection)
                req = api.Request(self.command, path, raw_query, query, headers, body,
                                  self.client_address[0])
                with S.lock:
                    api.handle(S, req)
            if not fault.get("then_normal"):
                rec["status"] = self._fault(fault)
                return
        if S.latency:
            time.sleep(S.latency)
        req = api.Request(self.command, path, raw_query, query, headers, body,
                          self.client_address[0])
        with S.lock:
            resp = api.handle(S, req)
            if resp.after is not None:   # e.g. churn: the body is already built
                resp.after()
        rec["status"] = resp.status
        self._send(resp.status, resp.headers, resp.body)

    @staticmethod
    def _redacted_body(body):
        try:
            value = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return "<%d bytes>" % len(body)
        if isinstance(value, dict):
            for k in REDACT_BODY_KEYS:
                if isinstance(value.get(k), str):
                    value[k] = "<sha256 " + short_hash(value[k]) + ">"
        return value

    def _fault(self, f):
        """Answer (or not) as the fault says; -> status recorded in stats."""
        if f.get("hostile"):
            return hostile.serve(self, f)
        trickle = float(f.get("trickle") or 0)
        if f.get("close"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        if f.get("raw") is not None or f.get("raw_b64") is not None:
            data = base64.b64decode(f["raw_b64"]) if f.get("raw_b64") is not None \
                else f["raw"].encode("utf-8")
            self._write(data, trickle)
            self.close_connection = True
            return None
        status = int(f.get("status", 500))
        headers = list((f.get("headers") or {}).items())
        names = {k.lower() for k, _ in headers}
        b = f.get("body")
        if b is None:
            data = b""
        elif isinstance(b, str):
            data = b.encode("utf-8")
            if "content-type" not in names:
                headers.append(("Content-Type", "text/plain; charset=utf-8"))
        else:
            data = json.dumps(b, separators=(",", ":")).encode()
            if "content-type" not in names:
                headers.append(("Content-Type", api.JSON_CT))
        if "content-length" in names:
            # a lying Content-Length: send what we have, then close
            self.close_connection = True
        if "connection" in names and dict((k.lower(), v) for k, v in headers)["connection"].lower() == "close":
            self.close_connection = True
        self._send(status, headers, data, trickle)
        return status

    # -- control API ---------------------------------------------------
    def _control(self, path, body):
        srv = self.server
        try:
            value = json.loads(body.decode("utf-8")) if body else {}
        except (ValueError, UnicodeDecodeError) as e:
            return self._send_json(400, {"error": "invalid JSON: %s" % e})
        try:
            if path == "/_fake/reset" and self.command == "POST":
                fresh = State(value)        # validate fully before replacing
                with srv.state.lock:
                    srv.state.load(value)
                del fresh
                srv.faults.clear()
                srv.reset_stats()
                return self._send_json(200, {"ok": True})
            if path == "/_fake/faults" and self.command == "POST":
                faults = value.get("faults") if isinstance(value, dict) else value
                srv.faults.add(faults or [])
                return self._send_json(200, {"ok": True, "pending": srv.faults.pending()})
            if path == "/_fake/faults" and self.command == "DELETE":
                srv.faults.clear()
                return self._send_json(200, {"ok": True})
            if path == "/_fake/token" and self.command == "POST":
                with srv.state.lock:
                    out = srv.state.set_token(value)
                out["ok"] = True
                return self._send_json(200, out)
            if path == "/_fake/stats" and self.command == "GET":
                with srv.stats_lock:
                    conns = [c for c in srv.conns if c.kind != "control"]
                    out = {"requests": list(srv.requests),
                           "connections": len(conns),
                           "open_connections": sum(1 for c in conns if c.open),
                           "connections_all": len(srv.conns),
                           "api_requests": srv.api_requests,
                           "faults_pending": srv.faults.pending()}
                return self._send_json(200, out)
            if path == "/_fake/state" and self.command == "GET":
                return self._send_json(200, srv.state.dump())
            if path == "/_fake/shutdown" and self.command == "POST":
                self.close_connection = True
                self._send_json(200, {"ok": True})
                srv.stop_soon()
                return None
        except (ValueError, TypeError, AttributeError) as e:
            return self._send_json(400, {"error": str(e)})
        return self._send_json(404, {"error": "no control route %s %s" % (self.command, path)})


def watch_pid(server, pid):
    while True:
        time.sleep(0.5)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            server.stop_soon()
            return
        except PermissionError:
            pass


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--state")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--watch-pid", type=int)
    p.add_argument("--mode", choices=("current", "legacy"),
                   help="the server's era (over the state file's): current = 2026, legacy = late 2024")
    a = p.parse_args(argv)
    if a.host not in ("127.0.0.1", "localhost"):
        p.error("the fake server binds 127.0.0.1 only")
    data = {}
    if a.state:
        with open(a.state, encoding="utf-8") as fh:
            data = json.load(fh)
    if a.mode:
        data["mode"] = a.mode
    ctx = None
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
    srv = FakeServer(("127.0.0.1", a.port), Handler, State(data), ctx, a.quiet)

    def on_signal(*_):
        srv.stop_soon()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if a.watch_pid:
        threading.Thread(target=watch_pid, args=(srv, a.watch_pid), daemon=True).start()
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
