"""A bounded load of mixed requests against kvant serve (directly or through a
load balancer), for the replica and soak tests. Standard library only.

Usage: lb_load.py URL N CONCURRENCY [options]
  --models a,b          model names to spread over (default kjv)
  --timeout S           a request that takes longer is a hang (default 60)
  --kill-after K        after K requests finished, SIGKILL the replica (of
                        --replicas PORT:PID,...) with the most requests running
  --replicas LIST       PORT:PID pairs of the replicas (for --kill-after)
  --cancel-every M      every Mth request is a stream the client drops after
                        its first chunk (counted as "cancelled" when it did)
  --max-tokens A-B      generation lengths (default 8-48)
  --seed S

Request kinds rotate: Ollama generate and chat, OpenAI chat completions and
completions, each streaming and not. A reply is "ok" when its status is 200
and its body is whole (a JSON object, or a stream that ends with "done":true
or "data: [DONE]"). "retryable" is a clean failure a client can retry: status
502, 503 or 504, or a connection that closed before the reply was whole (a
stream cut short). A request over --timeout is a "hang"; anything else
(another status, a whole reply that does not parse, ...) is "other". Prints
one line of counts, "key=value ...", and the first few non-ok outcomes.
"""
import http.client
import json
import os
import random
import signal
import socket
import sys
import threading
import time
import urllib.parse

PROMPTS = [
    "In the beginning God created",
    "And the earth was without form",
    "Blessed are the meek",
    "The LORD is my shepherd",
    "Jesus wept",
    "And God said, Let there be light",
]


def parse_args(argv):
    opts = {"models": ["kjv"], "timeout": 60.0, "kill_after": 0, "replicas": [],
            "cancel_every": 0, "max_tokens": (8, 48), "seed": 1}
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            v = argv[i + 1]
            i += 2
            if a == "--models":
                opts["models"] = v.split(",")
            elif a == "--timeout":
                opts["timeout"] = float(v)
            elif a == "--kill-after":
                opts["kill_after"] = int(v)
            elif a == "--replicas":
                opts["replicas"] = [tuple(int(x) for x in p.split(":")) for p in v.split(",")]
            elif a == "--cancel-every":
                opts["cancel_every"] = int(v)
            elif a == "--max-tokens":
                lo, hi = v.split("-")
                opts["max_tokens"] = (int(lo), int(hi))
            elif a == "--seed":
                opts["seed"] = int(v)
            else:
                sys.exit("lb_load.py: unknown option " + a)
        else:
            pos.append(a)
            i += 1
    if len(pos) != 3:
        sys.exit(__doc__)
    return pos[0], int(pos[1]), int(pos[2]), opts


def request_for(i, rng, opts):
    kind = i % 8
    model = opts["models"][(i // 8) % len(opts["models"])]
    prompt = PROMPTS[rng.randrange(len(PROMPTS))]
    n = rng.randint(*opts["max_tokens"])
    stream = kind % 2 == 1
    if kind < 2:
        path, body = "/api/generate", {"model": model, "prompt": prompt, "stream": stream,
                                       "options": {"num_predict": n}}
    elif kind < 4:
        path, body = "/api/chat", {"model": model, "stream": stream, "options": {"num_predict": n},
                                   "messages": [{"role": "user", "content": prompt}]}
    elif kind < 6:
        path, body = "/v1/chat/completions", {"model": model, "stream": stream, "max_tokens": n,
                                              "messages": [{"role": "user", "content": prompt}]}
    else:
        path, body = "/v1/completions", {"model": model, "stream": stream, "max_tokens": n,
                                         "prompt": prompt}
    return path, body


def whole(path, body, data):
    """Whether a 200 reply's body is complete and well formed."""
    text = data.decode("utf-8")
    openai = path.startswith("/v1/")
    if not body["stream"]:
        r = json.loads(text)
        if openai:
            return r["choices"][0]["finish_reason"] in ("stop", "length")
        return r["done"] is True
    if openai:
        events = [ln[5:].strip() for ln in text.splitlines() if ln.startswith("data:")]
        if not events or events[-1] != "[DONE]":
            return None  # cut short
        for e in events[:-1]:
            json.loads(e)
        return True
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return None
    objs = [json.loads(ln) for ln in lines[:-1]]
    try:
        last = json.loads(lines[-1])
    except ValueError:
        return None  # the last line was cut
    if "error" in last:
        return None  # the server ended the stream with an error line (it was stopping)
    return all(isinstance(o, dict) for o in objs) and last.get("done") is True or None


class Result:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {"ok": 0, "retryable": 0, "other": 0, "hangs": 0, "cancelled": 0}
        self.notes = []
        self.max_latency = 0.0
        self.done = 0


def one(url, i, rng, opts, res):
    path, body = request_for(i, rng, opts)
    cancel = opts["cancel_every"] and i % opts["cancel_every"] == opts["cancel_every"] - 1
    if cancel:
        body["stream"] = True
        if "options" in body:
            body["options"]["num_predict"] = 100000
        else:
            body["max_tokens"] = 100000
    u = urllib.parse.urlsplit(url)
    t0 = time.monotonic()
    deadline = t0 + opts["timeout"]
    outcome, note = "other", ""
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=opts["timeout"])
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = conn.getresponse()
        if cancel and r.status == 200:
            r.read1(1) if hasattr(r, "read1") else r.read(1)
            outcome = "cancelled"
        else:
            chunks = []
            while True:
                b = r.read1(65536) if hasattr(r, "read1") else r.read(65536)
                if not b:
                    break
                chunks.append(b)
                if time.monotonic() > deadline:
                    raise socket.timeout("over the request's time")
            data = b"".join(chunks)
            if r.status == 200:
                w = whole(path, body, data)
                outcome = "ok" if w else "retryable" if w is None else "other"
                if outcome != "ok":
                    note = "%s stream cut: %r" % (path, data[-120:])
            elif r.status in (502, 503, 504):
                outcome, note = "retryable", "%s %d %r" % (path, r.status, data[:120])
            else:
                outcome, note = "other", "%s %d %r" % (path, r.status, data[:200])
    except socket.timeout as e:
        outcome, note = "hangs", "%s: %r" % (path, e)
    except (http.client.IncompleteRead, ConnectionError, http.client.RemoteDisconnected) as e:
        outcome, note = "retryable", "%s: %r" % (path, e)
    except (ValueError, KeyError, IndexError, TypeError) as e:
        outcome, note = "other", "%s: bad reply %r" % (path, e)
    except OSError as e:
        outcome, note = "other", "%s: %r" % (path, e)
    finally:
        conn.close()
    dt = time.monotonic() - t0
    with res.lock:
        res.counts[outcome] += 1
        res.done += 1
        res.max_latency = max(res.max_latency, dt)
        if note and len(res.notes) < 12:
            res.notes.append("%s: %s" % (outcome, note))


def running(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/metrics", headers={"Host": "localhost"})
        text = c.getresponse().read().decode()
        c.close()
        for ln in text.splitlines():
            if ln.startswith("kvant_requests_running "):
                return float(ln.split()[1])
    except (OSError, http.client.HTTPException):
        pass
    return -1


def main():
    url, n, conc, opts = parse_args(sys.argv[1:])
    res = Result()
    next_i = [0]
    killed = []
    lock = threading.Lock()

    def worker(w):
        rng = random.Random(opts["seed"] * 1000 + w)
        while True:
            with lock:
                i = next_i[0]
                if i >= n:
                    return
                next_i[0] += 1
            one(url, i, rng, opts, res)

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(conc)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    if opts["kill_after"]:
        while res.done < opts["kill_after"] and any(t.is_alive() for t in threads):
            time.sleep(0.005)
        port, pid = max(opts["replicas"], key=lambda r: running(r[0]))
        with res.lock:
            in_flight = next_i[0] - res.done
        os.kill(pid, signal.SIGKILL)
        killed.append("%d:%d" % (port, pid))
        print("killed replica on port %d (pid %d) after %d requests, %d in flight" %
              (port, pid, opts["kill_after"], in_flight), flush=True)
    for t in threads:
        t.join(opts["timeout"] * (n / conc + 2))
    wall = time.monotonic() - t0
    c = res.counts
    print("requests=%d ok=%d retryable=%d other=%d hangs=%d cancelled=%d "
          "max_latency=%.2f wall=%.1f killed=%s" %
          (n, c["ok"], c["retryable"], c["other"], c["hangs"], c["cancelled"],
           res.max_latency, wall, ",".join(killed) or "none"))
    for note in res.notes:
        print("  " + note)
    if sum(c.values()) != n:
        print("  %d requests never finished" % (n - sum(c.values())))


main()
