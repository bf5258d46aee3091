#!/usr/bin/env python3
"""Raw-socket HTTP clients for the server's guard tests (loopback only, bounded).

  http_raw.py send PORT REQUEST
      Sends REQUEST (Python escapes: \\r\\n) on one connection, prints what comes
      back until the server closes or 10 s pass, then "[closed]" when the server
      closed the connection (or "[open]").
  http_raw.py slow PORT --conns N --sources 127.0.0.2-9 [--drip S] [--seconds S]
               [--header-timeout S] [--reopen 0|1] [--body N]
      A slow-client attack: N connections spread over the source addresses,
      each sending request headers one byte at a time (one byte every --drip
      seconds), reopened when the server closes them (unless --reopen 0), for at
      most --seconds. With --body N, each sends complete headers of a POST with
      Content-Length N at once and then the body a byte at a time. Once
      all are open (or tried), a normal GET /api/version from 127.0.0.1 is timed.
      Prints one JSON object: conns_open (at the normal request), normal_s (its
      time, null when it got no answer before the attack ended), closed_by_server,
      refused_at_once (closed within 1 s of opening, i.e. over a limit),
      held_max_s (the longest a connection stayed open before the server
      closed it) and outlived (with --header-timeout S: connections that stayed
      open more than S + 3 s).
"""
import json
import socket
import sys
import time

HEAD = b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100000


def send(port, text):
    req = text.encode().decode("unicode_escape").encode("latin-1")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(req)
    out = b""
    closed = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not b:
            closed = True
            break
        out += b
        # a complete reply with Content-Length: stop waiting unless it closes at once
        head, sep, body = out.partition(b"\r\n\r\n")
        if sep:
            n = None
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    n = int(v.strip())
            if n is not None and len(body) >= n:
                s.settimeout(0.5)
    sys.stdout.write(out.decode("latin-1"))
    print("\n[closed]" if closed else "\n[open]")


def parse_sources(spec):
    # "127.0.0.2-9" or "127.0.0.2,127.0.0.3"
    out = []
    for part in spec.split(","):
        if "-" in part:
            base, hi = part.rsplit("-", 1)
            prefix, lo = base.rsplit(".", 1)
            out += ["%s.%d" % (prefix, i) for i in range(int(lo), int(hi) + 1)]
        else:
            out.append(part)
    return out


class Slow:
    def __init__(self, port, src):
        self.port, self.src = port, src
        self.sock = None
        self.sent = 0
        self.t_open = 0.0

    def open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((self.src, 0))
        s.connect_ex(("127.0.0.1", self.port))
        self.sock, self.sent, self.t_open = s, 0, time.monotonic()

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None


def slow(port, conns, sources, drip, seconds, header_timeout, reopen, body):
    head = HEAD
    if body:
        head = (b"POST /api/show HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % body)
        first = len(head)
        head += b" " * body
    else:
        first = 1
    t0 = time.monotonic()
    end = t0 + seconds
    slows = [Slow(port, sources[i % len(sources)]) for i in range(conns)]
    for c in slows:
        c.open()
    stats = {"conns": conns, "sources": len(sources), "closed_by_server": 0,
             "refused_at_once": 0, "held_max_s": 0.0, "outlived": 0}

    def server_closed(c):
        now = time.monotonic()
        held = now - c.t_open
        stats["closed_by_server"] += 1
        if held < 1.0:
            stats["refused_at_once"] += 1
        stats["held_max_s"] = max(stats["held_max_s"], round(held, 2))
        if header_timeout and held > header_timeout + 3:
            stats["outlived"] += 1
        c.close()
        if reopen and now < end:
            c.open()

    def tick():
        for c in slows:
            if not c.sock:
                continue
            try:
                b = c.sock.recv(4096)
                if not b:
                    server_closed(c)
                    continue
                # an answer (400, 408...) before the end of the headers: closed soon
            except BlockingIOError:
                pass
            except OSError:
                server_closed(c)
                continue
            try:
                k = first if c.sent == 0 else 1
                c.sent += c.sock.send(head[c.sent:c.sent + k])
            except BlockingIOError:
                pass
            except OSError:
                server_closed(c)

    # let every connection get through the handshake and a first byte
    tick()
    time.sleep(min(drip, 1.0))
    tick()
    stats["conns_open"] = sum(1 for c in slows if c.sock)
    # the normal request, polled between drips
    n = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    n.setblocking(False)
    n.bind(("127.0.0.1", 0))
    t_normal = time.monotonic()
    n.connect_ex(("127.0.0.1", port))
    req = b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    sent = False
    reply = b""
    stats["normal_s"] = None
    next_drip = time.monotonic() + drip
    while time.monotonic() < end:
        if not sent:
            try:
                n.send(req)
                sent = True
            except (BlockingIOError, OSError):
                pass
        if sent:
            try:
                b = n.recv(4096)
                if b:
                    reply += b
                else:
                    break
                if b'"version"' in reply:
                    stats["normal_s"] = round(time.monotonic() - t_normal, 3)
                    break
            except BlockingIOError:
                pass
            except OSError:
                break
        if time.monotonic() >= next_drip:
            tick()
            next_drip += drip
        time.sleep(0.01)
    stats["normal_reply"] = reply.split(b"\r\n", 1)[0].decode("latin-1")
    # with a header timeout: keep dripping until it has had its chance to act
    if header_timeout:
        stop = min(end, time.monotonic() + header_timeout + 4)
        while time.monotonic() < stop:
            tick()
            time.sleep(drip)
        for c in slows:
            if c.sock and time.monotonic() - c.t_open > header_timeout + 3:
                stats["outlived"] += 1
    stats["attack_s"] = round(time.monotonic() - t0, 2)
    for c in slows:
        c.close()
    n.close()
    print(json.dumps(stats))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "send":
        send(int(sys.argv[2]), sys.argv[3])
        return
    if len(sys.argv) >= 3 and sys.argv[1] == "slow":
        port = int(sys.argv[2])
        opts = {"--conns": "2000", "--sources": "127.0.0.2-9", "--drip": "1",
                "--seconds": "60", "--header-timeout": "0", "--reopen": "1", "--body": "0"}
        args = sys.argv[3:]
        for i in range(0, len(args) - 1, 2):
            opts[args[i]] = args[i + 1]
        slow(port, int(opts["--conns"]), parse_sources(opts["--sources"]),
             float(opts["--drip"]), float(opts["--seconds"]), float(opts["--header-timeout"]),
             opts["--reopen"] != "0", int(opts["--body"]))
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
