#!/usr/bin/env python3
"""Low-rate protocol-mix client for scripts/soak.

Runs until SIGTERM/SIGINT (or --duration seconds), from several threads, each looping over
scenarios that a load generator like wrk does not exercise:

  oneshot      a new connection per request: GET or HEAD with "Connection: close"
  keepalive    a new connection, 4-6 sequential requests (GET, HEAD, /alt/, chunked
               responses), closed by the client
  pipeline     a new connection, 3-6 GET/HEAD requests written in one send, the responses
               read in order
  http10       HTTP/1.0 GET without Host
  chunked_post POST /echo?... with a chunked body of 1-8 chunks; the echo must match
  post         POST with Content-Length to a non-echo path; the origin must report the size
  expect_post  POST /echo with "Expect: 100-continue": wait for 100, send the body
  malformed    a head ringproxy must refuse: 400, then the connection closed

Every request is classified as "idempotent" (GET/HEAD), "post" or "malformed" and its outcome
counted: the status code, or an error (connect, reset, eof, timeout, truncated, bad).
For idempotent and post requests anything but a correct 200 is a failure; for malformed ones
anything but 400 followed by a close. Failures are kept with their wall-clock time (for
matching against backend kills) up to --max-failures.

On exit writes a JSON object to --out:
  {"counts": {"idempotent": {"200": N, ...}, "post": {...}, "malformed": {...}},
   "failures": [{"t": unix_time, "class": ..., "scenario": ..., "outcome": ..., "detail": ...}],
   "failures_total": N, "scenarios": {...}}
"""
import argparse
import json
import os
import random
import signal
import socket
import sys
import threading
import time
from collections import Counter


class ProtoError(Exception):
    """outcome is a short code: reset, eof, timeout, truncated, bad."""

    def __init__(self, outcome, detail=""):
        super().__init__(f"{outcome}: {detail}")
        self.outcome = outcome
        self.detail = detail


class Conn:
    def __init__(self, host, port, timeout):
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except socket.timeout as e:
            raise ProtoError("connect", f"timeout: {e}")
        except OSError as e:
            raise ProtoError("connect", str(e))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise ProtoError("timeout", "send")
        except OSError as e:
            raise ProtoError("reset", f"send: {e}")

    def _fill(self):
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise ProtoError("timeout", "recv")
        except OSError as e:
            raise ProtoError("reset", f"recv: {e}")
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_until(self, marker, limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = self.buf[: i + len(marker)]
                self.buf = self.buf[i + len(marker):]
                return out
            if len(self.buf) > limit:
                raise ProtoError("bad", "line/head too long")
            if not self._fill():
                return None

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise ProtoError("truncated", f"wanted {n} bytes, got {len(self.buf)}")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self):
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def closed_by_peer(self, wait=2.0):
        """True when the peer closes the connection (EOF or reset) within `wait` seconds with
        no further bytes."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(1)
        except socket.timeout:
            return False
        except OSError:
            return True
        return chunk == b""

    def read_head(self):
        head = self.read_until(b"\r\n\r\n", limit=64 * 1024)
        if head is None:
            if self.buf:
                raise ProtoError("truncated", f"head cut short: {self.buf[:80]!r}")
            raise ProtoError("eof", "connection closed before a response")
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtoError("bad", f"status line {lines[0][:80]!r}")
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise ProtoError("bad", f"header line {line[:80]!r}")
            key = name.strip().lower().decode("latin-1")
            val = value.strip().decode("latin-1")
            headers[key] = headers[key] + ", " + val if key in headers else val
        return parts[0].decode(), status, headers

    def read_response(self, method, allow_interim=False):
        """Returns (status, headers, body, must_close). Skips 1xx unless allow_interim, in which
        case a 1xx is returned as is (body b"")."""
        while True:
            version, status, headers = self.read_head()
            if 100 <= status < 200:
                if allow_interim:
                    return status, headers, b"", False
                continue
            break
        conn_tokens = [t.strip().lower() for t in headers.get("connection", "").split(",")]
        must_close = "close" in conn_tokens or (version == "HTTP/1.0" and "keep-alive" not in conn_tokens)
        if method == "HEAD" or status in (204, 304):
            return status, headers, b"", must_close
        te = headers.get("transfer-encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise ProtoError("bad", f"transfer-encoding {te!r}")
            body = bytearray()
            while True:
                line = self.read_until(b"\r\n", limit=1024)
                if line is None:
                    raise ProtoError("truncated", "chunked body cut short")
                size_text = line[:-2].split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise ProtoError("bad", f"chunk size {line[:40]!r}")
                if size == 0:
                    while True:  # trailers up to the empty line
                        t = self.read_until(b"\r\n", limit=16 * 1024)
                        if t is None:
                            raise ProtoError("truncated", "trailers cut short")
                        if t == b"\r\n":
                            break
                    break
                body += self.read_exact(size)
                if self.read_exact(2) != b"\r\n":
                    raise ProtoError("bad", "chunk not followed by CRLF")
            return status, headers, bytes(body), must_close
        cl = headers.get("content-length")
        if cl is not None:
            if not cl.isdigit():
                raise ProtoError("bad", f"content-length {cl!r}")
            return status, headers, self.read_exact(int(cl)), must_close
        return status, headers, self.read_to_eof(), True


def pattern(n):
    return bytes((97 + i % 26) for i in range(n))


def echo_size(body):
    for line in body.split(b"\n"):
        if line.startswith(b"body-bytes: "):
            return int(line[len(b"body-bytes: "):])
    return None


MALFORMED = [
    ("bare_lf", b"GET /bad/1 HTTP/1.1\nHost: x\n\n"),
    ("space_before_colon", b"GET /bad/2 HTTP/1.1\r\nHost : x\r\n\r\n"),
    ("dup_content_length", b"POST /bad/3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    ("cl_and_te", b"POST /bad/4 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("obs_fold", b"GET /bad/5 HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n"),
    ("no_host", b"GET /bad/6 HTTP/1.1\r\nUser-Agent: soak\r\n\r\n"),
    ("two_hosts", b"GET /bad/7 HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
    ("ctl_in_value", b"GET /bad/8 HTTP/1.1\r\nHost: x\r\nX-Ctl: a\x01b\r\n\r\n"),
    ("signed_length", b"POST /bad/9 HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"),
    ("garbage_line", b"HELLO\r\n\r\n"),
    ("two_spaces", b"GET  /bad/11 HTTP/1.1\r\nHost: x\r\n\r\n"),
]


class Client:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.counts = {"idempotent": Counter(), "post": Counter(), "malformed": Counter()}
        self.scenarios = Counter()
        self.failures = []
        self.failures_total = 0
        self.stop = threading.Event()
        self.seq = 0

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def record(self, cls, scenario, outcome, ok, detail=""):
        with self.lock:
            self.counts[cls][str(outcome)] += 1
            if not ok:
                self.failures_total += 1
                if len(self.failures) < self.args.max_failures:
                    self.failures.append({"t": round(time.time(), 3), "class": cls, "scenario": scenario,
                                          "outcome": str(outcome), "detail": detail[:300]})

    def connect(self):
        return Conn(self.args.host, self.args.port, self.args.timeout)

    # -- checks ------------------------------------------------------------------------------

    def check_get(self, scenario, method, path, nbytes, resp):
        """resp = (status, headers, body, close). Records and returns True when fine."""
        status, headers, body, _ = resp
        if status != 200:
            self.record("idempotent", scenario, status, False, f"{method} {path}: status {status} body {body[:120]!r}")
            return False
        if "x-origin" not in headers:
            self.record("idempotent", scenario, "no-origin", False, f"{method} {path}: 200 without X-Origin")
            return False
        if method == "GET" and nbytes is not None and body != pattern(nbytes):
            self.record("idempotent", scenario, "bad-body", False,
                        f"{method} {path}: body {len(body)} bytes, want {nbytes} pattern bytes")
            return False
        self.record("idempotent", scenario, status, True)
        return True

    def get_target(self, prefix="/py"):
        n = self.next_seq()
        nbytes = random.choice([0, 10, 100, 1000, 5000, 40000])
        k = n % 3000
        extra = "&chunked=1" if n % 5 == 0 else ""
        return f"{prefix}/{k}?bytes={nbytes}{extra}", nbytes

    # -- scenarios ---------------------------------------------------------------------------

    def oneshot(self):
        method = random.choice(["GET", "GET", "HEAD"])
        path, nbytes = self.get_target()
        c = self.connect()
        try:
            c.send(f"{method} {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n".encode())
            self.check_get("oneshot", method, path, nbytes, c.read_response(method))
        finally:
            c.close()

    def keepalive(self):
        c = self.connect()
        try:
            for i in range(random.randint(4, 6)):
                method = "HEAD" if i % 3 == 2 else "GET"
                path, nbytes = self.get_target("/alt" if i == 1 else "/py")
                c.send(f"{method} {path} HTTP/1.1\r\nHost: soak\r\n\r\n".encode())
                resp = c.read_response(method)
                if not self.check_get("keepalive", method, path, nbytes, resp) or resp[3]:
                    break
        finally:
            c.close()

    def pipeline(self):
        reqs = []
        for i in range(random.randint(3, 6)):
            method = "HEAD" if i == 2 else "GET"
            path, nbytes = self.get_target()
            reqs.append((method, path, nbytes))
        c = self.connect()
        try:
            c.send(b"".join(f"{m} {p} HTTP/1.1\r\nHost: soak\r\n\r\n".encode() for m, p, _ in reqs))
            for idx, (m, p, nbytes) in enumerate(reqs):
                try:
                    resp = c.read_response(m)
                except ProtoError as e:
                    # This and every later pipelined request are lost.
                    for m2, p2, _ in reqs[idx:]:
                        self.record("idempotent", "pipeline", e.outcome, False, f"{m2} {p2}: {e.detail}")
                    return
                if not self.check_get("pipeline", m, p, nbytes, resp):
                    # A bad answer desynchronises nothing (framing was fine): keep reading.
                    pass
                if resp[3] and idx + 1 < len(reqs):
                    for m2, p2, _ in reqs[idx + 1:]:
                        self.record("idempotent", "pipeline", "closed-early", False,
                                    f"{m2} {p2}: connection closed after an earlier pipelined response")
                    return
        finally:
            c.close()

    def http10(self):
        path, nbytes = self.get_target()
        c = self.connect()
        try:
            c.send(f"GET {path} HTTP/1.0\r\n\r\n".encode())
            self.check_get("http10", "GET", path, nbytes, c.read_response("GET"))
        finally:
            c.close()

    def chunked_post(self):
        n = self.next_seq()
        chunks = [os.urandom(random.randint(1, 3000)) for _ in range(random.randint(1, 8))]
        data = b"".join(chunks)
        path = f"/echo?py={n}"
        c = self.connect()
        try:
            c.send(f"POST {path} HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n"
                   f"Content-Type: application/octet-stream\r\n\r\n".encode())
            for ch in chunks:
                c.send(b"%x\r\n" % len(ch) + ch + b"\r\n")
                if random.random() < 0.3:
                    time.sleep(0.002)
            c.send(b"0\r\n\r\n")
            status, headers, body, _ = c.read_response("POST")
            if status != 200:
                self.record("post", "chunked_post", status, False, f"POST {path}: status {status} body {body[:120]!r}")
            elif body != data:
                self.record("post", "chunked_post", "bad-body", False,
                            f"POST {path}: echo of {len(body)} bytes != {len(data)} sent")
            else:
                self.record("post", "chunked_post", status, True)
        finally:
            c.close()

    def post(self):
        n = self.next_seq()
        size = random.randint(0, 2000)
        path = f"/py-post/{n % 3000}"
        c = self.connect()
        try:
            for _ in range(random.randint(1, 3)):  # keep-alive: a few POSTs on one connection
                c.send(f"POST {path} HTTP/1.1\r\nHost: soak\r\nContent-Length: {size}\r\n\r\n".encode()
                       + os.urandom(size))
                status, headers, body, must_close = c.read_response("POST")
                if status != 200:
                    self.record("post", "post", status, False, f"POST {path}: status {status} body {body[:120]!r}")
                    return
                if echo_size(body) != size:
                    self.record("post", "post", "bad-body", False, f"POST {path}: origin saw {echo_size(body)} bytes, sent {size}")
                    return
                self.record("post", "post", status, True)
                if must_close:
                    return
        finally:
            c.close()

    def expect_post(self):
        n = self.next_seq()
        data = os.urandom(random.randint(1, 20000))
        path = f"/echo?expect={n}"
        c = self.connect()
        try:
            c.send(f"POST {path} HTTP/1.1\r\nHost: soak\r\nContent-Length: {len(data)}\r\n"
                   f"Expect: 100-continue\r\n\r\n".encode())
            status, headers, body, _ = c.read_response("POST", allow_interim=True)
            if status == 100:
                c.send(data)
                status, headers, body, _ = c.read_response("POST")
            if status != 200:
                self.record("post", "expect_post", status, False, f"POST {path}: status {status} body {body[:120]!r}")
            elif body != data:
                self.record("post", "expect_post", "bad-body", False,
                            f"POST {path}: echo of {len(body)} bytes != {len(data)} sent")
            else:
                self.record("post", "expect_post", status, True)
        finally:
            c.close()

    def malformed(self):
        name, raw = random.choice(MALFORMED)
        c = self.connect()
        try:
            c.send(raw)
            try:
                status, headers, body, _ = c.read_response("GET")
            except ProtoError as e:
                self.record("malformed", "malformed", e.outcome, False, f"{name}: {e.detail}")
                return
            if status != 400:
                self.record("malformed", "malformed", status, False, f"{name}: status {status}, want 400")
            elif not c.closed_by_peer():
                self.record("malformed", "malformed", "400-not-closed", False,
                            f"{name}: 400 but the connection stayed open")
            else:
                self.record("malformed", "malformed", 400, True)
        finally:
            c.close()

    SCENARIOS = [  # (name, weight, class of the requests it sends)
        ("oneshot", 4, "idempotent"),
        ("keepalive", 3, "idempotent"),
        ("pipeline", 2, "idempotent"),
        ("http10", 1, "idempotent"),
        ("chunked_post", 2, "post"),
        ("post", 2, "post"),
        ("expect_post", 1, "post"),
        ("malformed", 1, "malformed"),
    ]

    def run_thread(self, seed):
        random.seed(seed)
        names = [s[0] for s in self.SCENARIOS]
        weights = [s[1] for s in self.SCENARIOS]
        classes = {s[0]: s[2] for s in self.SCENARIOS}
        while not self.stop.is_set():
            name = random.choices(names, weights)[0]
            with self.lock:
                self.scenarios[name] += 1
            try:
                getattr(self, name)()
            except ProtoError as e:
                # Errors outside the per-request checks (connect, send, read of a single
                # response): the scenario's current request is lost.
                self.record(classes[name], name, e.outcome, False, e.detail)
            except Exception as e:  # a bug in this client: count it, never hide it
                self.record(classes[name], name, "client-exception", False, repr(e))
            self.stop.wait(random.uniform(0.5, 1.5) * self.args.pause)

    def result(self):
        with self.lock:
            return {
                "counts": {k: dict(v) for k, v in self.counts.items()},
                "scenarios": dict(self.scenarios),
                "failures_total": self.failures_total,
                "failures": list(self.failures),
            }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--duration", type=float, default=0, help="seconds; 0 = until SIGTERM/SIGINT")
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--pause", type=float, default=0.02, help="mean pause between scenarios per thread (s)")
    ap.add_argument("--timeout", type=float, default=10.0, help="socket timeout (s)")
    ap.add_argument("--max-failures", type=int, default=500)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    client = Client(args)
    signal.signal(signal.SIGTERM, lambda *_: client.stop.set())
    signal.signal(signal.SIGINT, lambda *_: client.stop.set())
    threads = [threading.Thread(target=client.run_thread, args=(i + 1,), daemon=True) for i in range(args.threads)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    while not client.stop.is_set():
        if deadline and time.monotonic() >= deadline:
            client.stop.set()
        client.stop.wait(0.2)
    for t in threads:
        t.join(args.timeout + 5)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(client.result(), f, indent=1)
    os.replace(tmp, args.out)
    r = client.result()
    total = {k: sum(v.values()) for k, v in r["counts"].items()}
    print(f"soak_client: {total}, failures {r['failures_total']}", file=sys.stderr)


if __name__ == "__main__":
    main()
