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
"<connection number> <method> <target>".
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
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        f.read(length)
    return line.decode("latin-1").strip()


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


def run(conn, steps, serial, log, lock):
    f = conn.makefile("rb")
    try:
        for step in steps:
            if step.get("read"):
                req = read_request(f)
                if req is None:
                    return
                with lock:
                    log.write("%d %s\n" % (serial, " ".join(req.split(" ")[:2])))
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
    conns = script["conns"]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else 0))
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
        conn, _ = srv.accept()
        steps = conns[min(serial, len(conns) - 1)]
        threading.Thread(target=run, args=(conn, steps, serial, log, lock), daemon=True).start()
        serial += 1


if __name__ == "__main__":
    main()
