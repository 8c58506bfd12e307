"""A scripted HTTP upstream for the OpenResty wire specs (spec/31-openresty_wire_spec.lua).

The fake Infisical server answers one request per fault and closes after a raw one; the
cosocket transport's pooling, replay and chunk-decoding cases need control over what
happens on one kept-alive connection over time. Here each accepted connection follows
a script of steps:

  {"read": true}        read one request (headers and Content-Length body), log it
  {"send": TEXT}        write TEXT (latin-1)
  {"sleep": S}          wait S seconds
  {"hold": S}           wait until the client closes, at most S seconds
  {"ones": {...}}       a chunked 200 whose body is prefix + count x fill + suffix, every
                        byte of it its own chunk ("1\\r\\nX\\r\\n"), then "0\\r\\n\\r\\n"
  {"close": true}       close now (also what happens after the last step)

usage: python3 upstream.py SCRIPT.json PORT_FILE LOG_FILE [PORT [WATCH_PID]]
SCRIPT.json: {"conns": [[step, ...], ...]}; connection i (in accept order) runs conns[i],
the last script again for any later connection. LOG_FILE gets one line per request read:
"<connection number> <method> <target> ua=<User-Agent>".
Optional keys: "host" (the address to listen on, "::1" for IPv6; default 127.0.0.1),
"tls": {"cert": PEM, "key": PEM} (every connection is TLS; the handshake happens when the
first step runs, so a script starting with "hold" never completes one), "udp": true (no TCP:
a UDP socket that reads datagrams and never answers, a DNS server that does not reply).
WATCH_PID: the process that started it (the spec's Lua process); the upstream exits by
itself once that process is gone, so a spec that dies or forgets to stop it leaves nothing
running.
"""
import json
import os
import socket
import sys
import threading
import time


def read_request(f):
    line = f.readline()
    if not line:
        return None
    length = 0
    ua = b"-"
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"user-agent":
            ua = value.strip()
    if length:
        f.read(length)
    return line.decode("latin-1").strip(), ua.decode("latin-1")


def ones(sock, spec):
    body = spec.get("prefix", "").encode("latin-1")
    fill = spec.get("fill", " ").encode("latin-1")
    count = int(spec["count"])
    suffix = spec.get("suffix", "").encode("latin-1")
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")

    def one(b):
        return b"1\r\n" + bytes([b]) + b"\r\n"
    sock.sendall(b"".join(one(b) for b in body))
    unit = b"".join(one(fill[i % len(fill)]) for i in range(4096))
    left = count
    while left > 0:
        n = min(left, 4096)
        sock.sendall(unit if n == 4096 else unit[:6 * n])
        left -= n
    sock.sendall(b"".join(one(b) for b in suffix) + b"0\r\n\r\n")


def run(conn, steps, serial, log, lock, tls):
    f = None
    try:
        for step in steps:
            if tls is not None and f is None and "hold" not in step:
                conn.settimeout(30)
                conn = tls.wrap_socket(conn, server_side=True)
                conn.settimeout(None)
            if f is None and "hold" not in step:
                f = conn.makefile("rb")
            if step.get("read"):
                got = read_request(f)
                if got is None:
                    return
                req, ua = got
                with lock:
                    log.write("%d %s ua=%s\n" % (serial, " ".join(req.split(" ")[:2]), ua))
                    log.flush()
            elif "send" in step:
                conn.sendall(step["send"].encode("latin-1"))
            elif "sleep" in step:
                time.sleep(float(step["sleep"]))
            elif "hold" in step:
                conn.settimeout(float(step["hold"]))
                try:
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass
            elif "ones" in step:
                ones(conn, step["ones"])
            elif step.get("close"):
                return
    except OSError:
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def watch(pid):
    """Exits the whole process once `pid` is gone (checked every half second)."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(0.5)


def main():
    with open(sys.argv[1]) as fh:
        script = json.load(fh)
    conns = script.get("conns", [[]])
    host = script.get("host", "127.0.0.1")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    udp = script.get("udp", False)
    srv = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else 0))
    tls = None
    if script.get("tls"):
        import ssl
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(script["tls"]["cert"], script["tls"]["key"])
    if not udp:
        srv.listen(64)
    with open(sys.argv[2] + ".tmp", "w") as fh:
        fh.write(str(srv.getsockname()[1]))
    if len(sys.argv) > 5 and sys.argv[5]:
        threading.Thread(target=watch, args=(int(sys.argv[5]),), daemon=True).start()
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    log = open(sys.argv[3], "a")
    lock = threading.Lock()
    serial = 0
    while True:
        if udp:
            srv.recvfrom(65536)
            with lock:
                log.write("%d UDP -\n" % serial)
                log.flush()
            serial += 1
            continue
        conn, _ = srv.accept()
        steps = conns[min(serial, len(conns) - 1)]
        threading.Thread(target=run, args=(conn, steps, serial, log, lock, tls),
                         daemon=True).start()
        serial += 1


if __name__ == "__main__":
    main()
