"""Hostile answers for the fake server's fault queue: {"hostile": KIND, ...}.

The plain fault options (status/body/headers/raw/raw_b64/trickle/close) cover what
fits in a control request.  These kinds are generated here instead, because they are
endless, huge, or need compression:

  endless      200 headers, then `chunk` (default "x") every `interval` seconds
               (default 0) forever, close-delimited, until the client goes away or
               `seconds` (default 60) pass.
  hold         `raw` bytes (optional), then keep the connection open, silent, for
               `seconds` (default 60) or until the client goes away.
  gzip_bomb    a 200 whose gzip body inflates to `size` bytes (default 256 MiB) of
               spaces, with Content-Encoding: gzip and a truthful Content-Length.
  many_headers `count` (default 5000) headers "X-Junk-<i>: <value>" and a valid body.
  huge_header  one header of `size` (default 1 MiB) bytes and a valid body.
  tokens       a 200 whose body is {"tokens":[E,E,...]} with `count` copies of the
               JSON text `element` (default {"id":"t"} with ids made unique).
  deep         a 200 whose body is `depth` (default 100000) nested `open` ("[" by
               default) and matching closers.
"""
import gzip
import io
import select
import time

_bomb_cache = {}


def _client_gone(sock):
    """True when the peer closed (readable with no data) or errored."""
    try:
        r, _, x = select.select([sock], [], [sock], 0)
        if x:
            return True
        if r:
            return sock.recv(1, 0x40) == b""  # MSG_DONTWAIT
    except (OSError, ValueError):
        return True
    return False


def _head(h, status, headers, length=None):
    h.send_response(status)
    for k, v in headers:
        h.send_header(k, v)
    if length is not None:
        h.send_header("Content-Length", str(length))
    h.end_headers()
    h.wfile.flush()


def _bomb(size):
    if size not in _bomb_cache:
        buf = io.BytesIO()
        block = b" " * (1 << 20)
        with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
            left = size
            while left > 0:
                gz.write(block[:min(left, len(block))])
                left -= len(block)
        _bomb_cache[size] = buf.getvalue()
    return _bomb_cache[size]


def serve(h, f):
    """Writes the hostile answer described by fault f; returns the status for the stats."""
    kind = f["hostile"]
    h.close_connection = True
    json_ct = ("Content-Type", "application/json; charset=utf-8")
    if kind == "endless":
        chunk = str(f.get("chunk", "x")).encode()
        interval = float(f.get("interval", 0))
        end = time.time() + float(f.get("seconds", 60))
        _head(h, 200, [json_ct, ("Connection", "close")])
        try:
            h.wfile.write(b'{"tokens":[')
            while time.time() < end:
                h.wfile.write(chunk)
                h.wfile.flush()
                if interval:
                    time.sleep(interval)
                    if _client_gone(h.connection):
                        break
        except OSError:
            pass
        return 200
    if kind == "hold":
        if f.get("raw"):
            h.wfile.write(f["raw"].encode())
            h.wfile.flush()
        end = time.time() + float(f.get("seconds", 60))
        while time.time() < end and not _client_gone(h.connection):
            time.sleep(0.05)
        return None
    if kind == "gzip_bomb":
        data = _bomb(int(f.get("size", 256 << 20)))
        _head(h, 200, [json_ct, ("Content-Encoding", "gzip")], len(data))
        try:
            h.wfile.write(data)
            h.wfile.flush()
        except OSError:
            pass
        return 200
    body = b'{"tokens":[]}'
    if kind == "many_headers":
        value = str(f.get("value", "v"))
        headers = [("X-Junk-%d" % i, value) for i in range(int(f.get("count", 5000)))]
        _head(h, 200, [json_ct] + headers, len(body))
    elif kind == "huge_header":
        _head(h, 200, [json_ct, ("X-Huge", "h" * int(f.get("size", 1 << 20)))], len(body))
    elif kind == "tokens":
        n = int(f.get("count", 300000))
        if f.get("element") is not None:
            items = [f["element"].encode()] * n
        else:
            items = [b'{"id":"t%d"}' % i for i in range(n)]
        body = b'{"tokens":[' + b",".join(items) + b"]}"
        _head(h, 200, [json_ct], len(body))
    elif kind == "deep":
        depth = int(f.get("depth", 100000))
        opener = str(f.get("open", "[")).encode()
        closer = {b"[": b"]", b'{"a":': b"}"}.get(opener, b"]")
        body = opener * depth + b"1" + closer * depth
        _head(h, 200, [json_ct], len(body))
    else:
        raise ValueError("unknown hostile kind %r" % kind)
    try:
        h.wfile.write(body)
        h.wfile.flush()
    except OSError:
        pass
    return 200
